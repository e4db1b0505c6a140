"""A fake "internet" for network tests: a network namespace I of its own, joined by a veth to a
namespace the test already made (the daemon's "host" namespace, D), with servers that remember
what they were asked.

    D   uplink0 198.19.0.1/24, 2001:db8:19::1/64; default route via 198.19.0.10 (everything not
     |  veth    local goes to I, so a packet the firewall should have dropped would be answered)
    I   eth0 198.19.0.10 .11 .12 .53 .100 .120 /24, 169.254.169.254/32, 2001:db8:19::10/64
        HTTP  :80 on every address (answers with the address reached, the Host and the path)
        TLS   :443 on every IPv4 address, self-signed certificate made at test time, remembers
              the SNI and answers a small HTTP response
        DNS   198.19.0.53:53 UDP and TCP (FakeDns: a fixed zone, every question recorded)
        echo  UDP :7 on .10 .11 .12, TCP :7007 on every IPv4 address (198.19.0.12 has nothing
              else; .100 and .120 are for ranges a test configures as private or denied)

Addresses are in 198.18.0.0/15 (and documentation IPv6), except 169.254.169.254, the cloud
metadata address, which is there so that a test can prove it stays unreachable: no packet leaves
these namespaces (the test network rule in DESIGN.md).
"""
import os
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import threading

from netns import Netns

A, AAAA, TXT, ANY = 1, 28, 16, 255
TTL = 60
NOERROR, FORMERR, NXDOMAIN, REFUSED = 0, 1, 3, 5

UPLINK = "uplink0"
HOST_ADDRESS = "198.19.0.1"
HTTP_ADDRESS, OTHER_ADDRESS, ECHO_ADDRESS = "198.19.0.10", "198.19.0.11", "198.19.0.12"
DNS_ADDRESS = "198.19.0.53"
SPARE_ADDRESSES = ("198.19.0.100", "198.19.0.120")
METADATA_ADDRESS = "169.254.169.254"
HTTP_ADDRESS6 = "2001:db8:19::10"
UDP_ECHO_PORT, TCP_ECHO_PORT = 7, 7007
BIG_BODY_BYTES = 8 * 1024 * 1024
CERT_NAMES = ("allowed.test", "*.example.test", "example.test", "blocked.test")


def require_tools():
    for tool in ("unshare", "nsenter", "ip", "nft", "openssl"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is needed (scripts/install-deps.sh)")


# --- DNS on the wire ---

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(name, qtype=A, qid=0x4242):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", qtype, 1)


def _skip_name(msg, pos):
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            return pos + 2
        if n == 0:
            return pos + 1
        pos += 1 + n


def _read_name(msg, pos):
    labels = []
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        if n == 0:
            return ".".join(labels)
        labels.append(msg[pos + 1:pos + 1 + n].decode())
        pos += 1 + n


def parse_dns(msg):
    """-> dict(id, flags, rcode, tc, qname, qtype, answers=[(type, ttl, address)])"""
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    qname, qtype = None, None
    for _ in range(qd):
        qname = _read_name(msg, pos)
        pos = _skip_name(msg, pos)
        qtype = struct.unpack("!H", msg[pos:pos + 2])[0]
        pos += 4
    answers = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        rtype, _, ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        pos += rdlen
        family = socket.AF_INET if rtype == A else socket.AF_INET6
        answers.append((rtype, ttl, socket.inet_ntop(family, rdata)))
    return {"id": qid, "flags": flags, "rcode": flags & 0xF, "tc": bool(flags & 0x200),
            "qname": qname, "qtype": qtype, "answers": answers}


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


class FakeDns:
    """An upstream resolver that answers a fixed zone and remembers every question it was asked.
    big.test does not fit in UDP: truncated there, whole over TCP."""

    ZONE = {
        ("allowed.test", A): [HTTP_ADDRESS],
        ("allowed.test", AAAA): [HTTP_ADDRESS6],
        ("blocked.test", A): [HTTP_ADDRESS],
        ("a.example.test", A): [HTTP_ADDRESS],
        ("example.test", A): [HTTP_ADDRESS],
        ("echo.test", A): [ECHO_ADDRESS],
        ("private.test", A): ["10.1.2.3"],
        ("meta.test", A): [METADATA_ADDRESS],
        ("mixed.test", A): [OTHER_ADDRESS, "10.0.0.1"],
        ("big.test", A): [f"198.19.1.{n}" for n in range(1, 41)],
    }
    ADDRESS = (DNS_ADDRESS, 53)

    def __init__(self, netns):
        self.asked = []
        self.lock = threading.Lock()
        self.udp = netns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(self.ADDRESS)
        self.tcp = netns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(self.ADDRESS)
        self.tcp.listen(16)
        threading.Thread(target=self._serve_udp, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()

    def questions(self):
        """(name, type, "udp" | "tcp") of every question so far, oldest first."""
        with self.lock:
            return list(self.asked)

    def answer(self, query, over_tcp):
        qid, flags = struct.unpack("!HH", query[:4])
        end = _skip_name(query, 12) + 4
        question = query[12:end]
        name = _read_name(query, 12).lower()
        qtype = struct.unpack("!H", query[end - 4:end - 2])[0]
        with self.lock:
            self.asked.append((name, qtype, "tcp" if over_tcp else "udp"))
        known = any(n == name for n, _ in self.ZONE)
        addresses = self.ZONE.get((name, qtype), [])
        rcode = NOERROR if known else NXDOMAIN
        rflags = 0x8180 | rcode
        if name == "big.test" and not over_tcp:
            rflags |= 0x200
            addresses = []
        records = b""
        for a in addresses:
            family, rtype = (socket.AF_INET, A) if ":" not in a else (socket.AF_INET6, AAAA)
            rdata = socket.inet_pton(family, a)
            records += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, TTL, len(rdata)) + rdata
        return struct.pack("!HHHHHH", qid, rflags, 1, len(addresses), 0, 0) + question + records

    def _serve_udp(self):
        while True:
            try:
                query, peer = self.udp.recvfrom(4096)
                self.udp.sendto(self.answer(query, False), peer)
            except OSError:
                return

    def _serve_tcp(self):
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                try:
                    size = struct.unpack("!H", recv_exact(conn, 2))[0]
                    reply = self.answer(recv_exact(conn, size), True)
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except (OSError, struct.error):
                    pass

    def close(self):
        self.udp.close()
        self.tcp.close()


# --- HTTP, TLS and echo servers ---

def read_head(conn, buf=b""):
    """(head, what came after it) of the next HTTP message on conn, after what is already in buf;
    (None, everything read) when conn ends first."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    return tuple(buf.split(b"\r\n\r\n", 1))


def read_request_head(conn, buf=b""):
    """(request line, Host, rest of buf) of the next request on conn, or None at EOF."""
    head, buf = read_head(conn, buf)
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    host = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("host:")),
                "")
    return lines[0], host, buf


def http_answer(body, close=False):
    extra = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body


class _HttpHandler(socketserver.BaseRequestHandler):
    """HTTP/1.1 keep-alive, just enough: / (and any other path) answers who it is and the Host it
    saw, /big sends BIG_BODY_BYTES, /upload reads until the client half-closes and says how much
    came."""

    def handle(self):
        conn = self.request
        local = conn.getsockname()[0]
        buf = b""
        while True:
            request = read_request_head(conn, buf)
            if request is None:
                return
            line, host, buf = request
            path = line.split(" ")[1]
            if path == "/upload":
                got = len(buf)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                conn.sendall(http_answer(f"got {got} bytes\n".encode()))
                return
            if path == "/big":
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {BIG_BODY_BYTES}\r\n\r\n"
                             .encode())
                chunk = b"x" * 65536
                for _ in range(BIG_BODY_BYTES // len(chunk)):
                    conn.sendall(chunk)
                continue
            suffix = "" if path == "/" else f" path={path}"
            conn.sendall(http_answer(f"hello from {local} host={host}{suffix}\n".encode()))


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class _Server6(_ThreadingServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


_tls_sni = threading.local()


class _TlsHandler(socketserver.BaseRequestHandler):
    """After the handshake, answers one HTTP request with the SNI the client sent."""

    def handle(self):
        _tls_sni.name = None
        try:
            with self.server.context.wrap_socket(self.request, server_side=True) as tls:
                tls.settimeout(10)
                if read_request_head(tls) is not None:
                    tls.sendall(http_answer(f"tls hello sni={_tls_sni.name}\n".encode(),
                                            close=True))
        except (OSError, ssl.SSLError):
            pass


class _UdpEchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class _TcpEchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                self.request.sendall(chunk)
            except OSError:
                return


class _UdpServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True


def make_certificate(workdir, names=CERT_NAMES):
    """A self-signed certificate for names (the first is the CN), made now: (cert, key) paths."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    f"/CN={names[0]}", "-addext", f"subjectAltName={san}", "-keyout", key,
                    "-out", cert], check=True, capture_output=True)
    return cert, key


def _tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(_sslobj, name, _ctx):
        _tls_sni.name = name

    context.sni_callback = remember_sni
    return context


def serve_in(netns, server_class, address, handler, **attributes):
    """A socketserver bound inside netns, given attributes (read by its handler as
    self.server.NAME), serving from a thread of its own."""
    server = netns.call(server_class, address, handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeInternet:
    """I, wired to `host` (a Netns the caller owns), with its servers; close() ends them all."""

    def __init__(self, host, workdir):
        self.host = host
        self.netns = Netns()
        self.servers = []
        self.dns = None
        try:
            self._wire()
            self.cert, key = make_certificate(workdir)
            self.dns = FakeDns(self.netns)
            context = _tls_context(self.cert, key)
            self.servers = [
                serve_in(self.netns, _ThreadingServer, ("0.0.0.0", 80), _HttpHandler),
                serve_in(self.netns, _Server6, ("::", 80), _HttpHandler),
                serve_in(self.netns, _ThreadingServer, ("0.0.0.0", 443), _TlsHandler,
                         context=context),
                serve_in(self.netns, _ThreadingServer, ("0.0.0.0", TCP_ECHO_PORT),
                         _TcpEchoHandler),
            ]
            # UDP bound to each address: a reply must come from the address asked, or NAT on
            # the daemon's side does not match it to the sandbox's flow.
            self.servers += [serve_in(self.netns, _UdpServer, (address, UDP_ECHO_PORT),
                                      _UdpEchoHandler)
                             for address in (HTTP_ADDRESS, OTHER_ADDRESS, ECHO_ADDRESS)]
        except BaseException:
            self.close()
            raise

    def _wire(self):
        h, i = self.host.run, self.netns.run
        h("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", "eth0", "netns",
          str(self.netns.pid))
        h("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", UPLINK)
        h("ip", "-6", "addr", "add", "2001:db8:19::1/64", "dev", UPLINK, "nodad")
        h("ip", "link", "set", UPLINK, "up")
        h("ip", "route", "add", "default", "via", HTTP_ADDRESS)
        for address in (HTTP_ADDRESS, OTHER_ADDRESS, ECHO_ADDRESS, DNS_ADDRESS, *SPARE_ADDRESSES):
            i("ip", "addr", "add", f"{address}/24", "dev", "eth0")
        i("ip", "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "eth0")
        i("ip", "-6", "addr", "add", f"{HTTP_ADDRESS6}/64", "dev", "eth0", "nodad")
        i("ip", "link", "set", "eth0", "up")
        i("ip", "route", "add", "default", "via", HOST_ADDRESS)
        i("ip", "-6", "route", "add", "default", "via", "2001:db8:19::1")

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()
        if self.dns:
            self.dns.close()
        self.netns.close()  # its end of the veth goes with it, and so does uplink0
