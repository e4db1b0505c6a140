"""Egress probe, run inside a sandbox with network access: one exchange with a server outside,
printed as one JSON line: {"op": ..., "ok": true, ...what came back} when the exchange completed,
{"op": ..., "ok": false, "error": "ETIMEDOUT" | "ECONNREFUSED" | "EAI_NONAME" | "ssl", ...} when it
did not. Names are resolved with getaddrinfo, as any program would (/etc/hosts, then the name
server in /etc/resolv.conf).

usage (TIMEOUT, seconds for each step, from --timeout, default 3):
  egress_probe.py http TARGET PORT HOST [PATH]   GET PATH (default /) with Host: HOST; status,
                                                 body length and its first 4 KiB
  egress_probe.py tls TARGET PORT SNI [CAFILE]   TLS with SNI (verified against CAFILE if given,
                                                 else not), then GET / with Host: SNI
  egress_probe.py udp TARGET PORT HEX            one datagram; the reply, hex
  egress_probe.py tcp TARGET PORT HEX            connect, send, half-close; all that came back, hex
  egress_probe.py hold TARGET PORT TRIGGER       on one TCP connection to an echo server: "first"
                                                 (a line when echoed), then once the file TRIGGER
                                                 exists (30 s at most) "second" (another line)
  egress_probe.py resolve NAME                   getaddrinfo(NAME): the addresses
  egress_probe.py serve PORT                     a TCP server on every address: "hello from
                                                 sandbox" to each connection (run it in background)
"""
import errno
import json
import os
import socket
import ssl
import sys
import time

MAX_BODY_SHOWN = 4096
GAI_ERRORS = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}


def report(op, **fields):
    print(json.dumps({"op": op, **fields}), flush=True)


def failure(op, e, **fields):
    if isinstance(e, ssl.SSLError):
        return report(op, ok=False, error="ssl", reason=e.reason, detail=str(e), **fields)
    if isinstance(e, socket.gaierror):
        return report(op, ok=False, error=GAI_ERRORS.get(e.errno, str(e.errno)), **fields)
    if isinstance(e, socket.timeout):
        return report(op, ok=False, error="ETIMEDOUT", **fields)
    code = errno.errorcode.get(e.errno, str(e)) if e.errno else str(e)
    return report(op, ok=False, error=code, **fields)


def address_of(target, port, kind):
    family, _, _, _, address = socket.getaddrinfo(target, port, type=kind)[0]
    return family, address


def connect(target, port, timeout):
    family, address = address_of(target, port, socket.SOCK_STREAM)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
    except BaseException:
        s.close()
        raise
    return s


def recv_all(s):
    with s.makefile("rb") as f:
        return f.read()


def read_response(s):
    """(head, body) of one response: the body by its Content-Length, else up to EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
               if line.lower().startswith(b"content-length:")]
    if not lengths:
        return head, body + recv_all(s)
    while len(body) < lengths[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def http_exchange(s, host, path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    head, body = read_response(s)
    status_line = head.split(b"\r\n")[0].decode(errors="replace")
    status = int(status_line.split()[1]) if status_line.startswith("HTTP/") else None
    return {"status": status, "status_line": status_line, "length": len(body),
            "body": body[:MAX_BODY_SHOWN].decode(errors="replace")}


def http(target, port, host, path="/", timeout=3):
    try:
        with connect(target, int(port), timeout) as s:
            peer = s.getpeername()[0]
            report("http", ok=True, peer=peer, **http_exchange(s, host, path))
    except OSError as e:
        failure("http", e)


def tls(target, port, sni, cafile=None, timeout=3):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        context.load_verify_locations(cafile)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with connect(target, int(port), timeout) as s:
            with context.wrap_socket(s, server_hostname=sni) as t:
                report("tls", ok=True, **http_exchange(t, sni, "/"))
    except OSError as e:
        failure("tls", e)


def udp(target, port, payload, timeout=3):
    try:
        family, address = address_of(target, int(port), socket.SOCK_DGRAM)
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(bytes.fromhex(payload), address)
            reply, peer = s.recvfrom(65536)
            report("udp", ok=True, reply=reply.hex(), peer=peer[0])
    except OSError as e:
        failure("udp", e)


def tcp(target, port, payload, timeout=3):
    try:
        with connect(target, int(port), timeout) as s:
            s.sendall(bytes.fromhex(payload))
            s.shutdown(socket.SHUT_WR)
            report("tcp", ok=True, reply=recv_all(s).hex())
    except OSError as e:
        failure("tcp", e)


def hold(target, port, trigger, timeout=3):
    try:
        with connect(target, int(port), timeout) as s:
            s.sendall(b"first")
            report("hold", ok=True, step="first", reply=recv_exact(s, 5).decode())
            deadline = time.monotonic() + 30
            while not os.path.exists(trigger) and time.monotonic() < deadline:
                time.sleep(0.05)
            s.sendall(b"second")
            report("hold", ok=True, step="second", reply=recv_exact(s, 6).decode())
    except OSError as e:
        failure("hold", e)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(errno.ECONNRESET, "closed early")
        data += chunk
    return data


def resolve(name, timeout=3):
    try:
        addresses = sorted({a[4][0] for a in socket.getaddrinfo(name, None)})
        report("resolve", ok=True, addresses=addresses)
    except OSError as e:
        failure("resolve", e)


def serve(port, timeout=3):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(16)
        report("serve", ok=True, port=int(port))
        while True:
            conn, _ = s.accept()
            with conn:
                greet_and_close(conn, b"hello from sandbox\n")


def greet_and_close(conn, greeting):
    """Sends greeting and reads what the client sends until it closes, so the close is a FIN and
    not a reset (a close with unread bytes resets, and the client may lose the greeting)."""
    conn.settimeout(5)
    try:
        conn.sendall(greeting)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError:
        pass


OPS = {"http": http, "tls": tls, "udp": udp, "tcp": tcp, "hold": hold, "resolve": resolve,
       "serve": serve}


def main(argv):
    timeout = 3.0
    if len(argv) > 2 and argv[1] == "--timeout":
        timeout = float(argv[2])
        argv = argv[:1] + argv[3:]
    OPS[argv[1]](*argv[2:], timeout=timeout)


if __name__ == "__main__":
    main(sys.argv)
