"""A small world for tests of the DNS stub and the egress proxy, made of network namespaces that
the test creates and that vanish with it (each is held by a sleeping child process, never
mounted under /run/netns):

    S "sandbox"  eth0 198.18.0.2/30, 2001:db8:18::2/126, default via the gateway
       |  veth
    H "host"     dcwtest 198.18.0.1 (the gateway), inet0 198.19.0.1; netsvc_harness runs here,
       |  veth   and nftables redirects TCP 80/443 arriving on dcwtest to the proxy port
    I "internet" eth0 198.19.0.10, .11 (HTTP, TLS), .53 (DNS), 2001:db8:19::10

No packet leaves these namespaces (the test network rule in DESIGN.md). Threads of this process
enter a namespace with setns(2) (per thread), so sockets for the sandbox side and the fake
servers are plain Python sockets.
"""
import ctypes
import os
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
SIGKILL = 9
_libc = ctypes.CDLL(None, use_errno=True)

A, AAAA, TXT, ANY = 1, 28, 16, 255
TTL = 60
PROXY_PORT = 3128


class Netns:
    """A fresh network namespace, alive while its sleeping holder process lives."""

    def __init__(self):
        own = os.readlink("/proc/self/ns/net")
        # The holder dies with this process (PR_SET_PDEATHSIG), so a crashed test leaves no
        # namespace behind; it must not hold this process's stdout either.
        self.proc = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: _libc.prctl(PR_SET_PDEATHSIG, SIGKILL))
        self.path = f"/proc/{self.proc.pid}/ns/net"
        deadline = time.monotonic() + 10
        while True:
            try:
                if os.readlink(self.path) != own:
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("unshare --net did not make a namespace")
            time.sleep(0.01)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.pid = self.proc.pid

    def run(self, *cmd, check=True):
        return subprocess.run(["nsenter", f"--net={self.path}", "--", *cmd], check=check,
                              capture_output=True, text=True)

    def enter(self):
        """Moves the calling thread into this namespace."""
        if _libc.setns(self.fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), "setns")

    def call(self, fn, *args, **kwargs):
        """Runs fn in a new thread inside this namespace and returns what it returns."""
        out = {}

        def body():
            try:
                self.enter()
                out["value"] = fn(*args, **kwargs)
            except BaseException as e:  # handed to the caller
                out["error"] = e

        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        return self.call(socket.socket, family, kind)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.fd)


def make_world():
    """The three namespaces, wired; on failure none is left behind."""
    made = []
    try:
        for _ in range(3):
            made.append(Netns())
        _wire(*made)
    except BaseException:
        for netns in made:
            netns.close()
        raise
    return tuple(made)


def _wire(host, sandbox, internet):
    h, s, i = host.run, sandbox.run, internet.run
    for ns in (h, s, i):
        ns("ip", "link", "set", "lo", "up")
    h("ip", "link", "add", "dcwtest", "type", "veth", "peer", "name", "eth0", "netns",
      str(sandbox.pid))
    h("ip", "link", "add", "inet0", "type", "veth", "peer", "name", "eth0", "netns",
      str(internet.pid))
    h("ip", "addr", "add", "198.18.0.1/30", "dev", "dcwtest")
    h("ip", "-6", "addr", "add", "2001:db8:18::1/126", "dev", "dcwtest", "nodad")
    h("ip", "addr", "add", "198.19.0.1/24", "dev", "inet0")
    h("ip", "-6", "addr", "add", "2001:db8:19::1/64", "dev", "inet0", "nodad")
    for dev in ("dcwtest", "inet0"):
        h("ip", "link", "set", dev, "up")
    h("ip", "route", "add", "198.18.0.4/30", "dev", "dcwtest")  # a stranger's address
    s("ip", "addr", "add", "198.18.0.2/30", "dev", "eth0")
    s("ip", "addr", "add", "198.18.0.6/32", "dev", "eth0")
    s("ip", "-6", "addr", "add", "2001:db8:18::2/126", "dev", "eth0", "nodad")
    s("ip", "link", "set", "eth0", "up")
    s("ip", "route", "add", "default", "via", "198.18.0.1")
    s("ip", "-6", "route", "add", "default", "via", "2001:db8:18::1")
    for addr in ("198.19.0.10/24", "198.19.0.11/24", "198.19.0.53/24"):
        i("ip", "addr", "add", addr, "dev", "eth0")
    i("ip", "-6", "addr", "add", "2001:db8:19::10/64", "dev", "eth0", "nodad")
    i("ip", "link", "set", "eth0", "up")
    i("ip", "route", "add", "default", "via", "198.19.0.1")
    i("ip", "-6", "route", "add", "default", "via", "2001:db8:19::1")
    # What declawd's nat chain does for a sandbox with name rules.
    rules = ("table inet dcwtest {\n chain pre {\n  type nat hook prerouting priority dstnat;\n"
             f'  iifname "dcwtest" tcp dport {{ 80, 443 }} redirect to :{PROXY_PORT}\n }}\n}}\n')
    subprocess.run(["nsenter", f"--net={host.path}", "--", "nft", "-f", "-"], input=rules,
                   text=True, check=True)


# --- DNS on the wire ---

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(name, qtype, qid=0x4242):
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


class FakeDns:
    """An upstream resolver in the internet namespace that answers a fixed zone and remembers
    every question it was asked. big.test does not fit in UDP: truncated there, whole over TCP."""

    ZONE = {
        ("allowed.test", A): ["198.19.0.10"],
        ("allowed.test", AAAA): ["2001:db8:19::10"],
        ("blocked.test", A): ["198.19.0.10"],
        ("a.example.test", A): ["198.19.0.10"],
        ("example.test", A): ["198.19.0.10"],
        ("private.test", A): ["10.1.2.3"],
        ("meta.test", A): ["169.254.169.254"],
        ("mixed.test", A): ["198.19.0.11", "10.0.0.1"],
        ("big.test", A): [f"198.19.1.{n}" for n in range(1, 41)],
    }
    ADDRESS = ("198.19.0.53", 53)

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
        rcode = 0 if known else 3
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
                    size = struct.unpack("!H", _recv_exact(conn, 2))[0]
                    reply = self.answer(_recv_exact(conn, size), True)
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except (OSError, struct.error):
                    pass

    def close(self):
        self.udp.close()
        self.tcp.close()


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("short read")
        data += chunk
    return data


# --- HTTP and TLS servers of the fake internet ---

BIG_BODY_BYTES = 8 * 1024 * 1024


class _HttpHandler(socketserver.BaseRequestHandler):
    """HTTP/1.1 keep-alive, just enough: / answers who it is and the Host it saw, /big sends
    BIG_BODY_BYTES, /upload reads until the client half-closes and says how much came."""

    def handle(self):
        conn = self.request
        local = conn.getsockname()[0]
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            host = next((l.split(":", 1)[1].strip() for l in lines[1:]
                         if l.lower().startswith("host:")), "")
            if path == "/upload":
                got = len(buf)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                body = f"got {got} bytes\n".encode()
            elif path == "/big":
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {BIG_BODY_BYTES}\r\n\r\n"
                             .encode())
                chunk = b"x" * 65536
                for _ in range(BIG_BODY_BYTES // len(chunk)):
                    conn.sendall(chunk)
                continue
            else:
                body = f"hello from {local} host={host}\n".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            if path == "/upload":
                return


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class _Server6(_ThreadingServer):
    address_family = socket.AF_INET6


_tls_sni = threading.local()


class _TlsHandler(socketserver.BaseRequestHandler):
    context = None

    def handle(self):
        _tls_sni.name = None
        try:
            with self.context.wrap_socket(self.request, server_side=True) as tls:
                tls.sendall(f"tls hello sni={_tls_sni.name}\n".encode())
        except (OSError, ssl.SSLError):
            pass


def _serve_in(netns, server_class, address, handler):
    server = netns.call(server_class, address, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_internet(netns, workdir):
    """HTTP on 198.19.0.10:80, 198.19.0.11:80 and [2001:db8:19::10]:80; TLS on 198.19.0.10:443
    with a self-signed certificate made now."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=allowed.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(_sslobj, name, _ctx):
        _tls_sni.name = name

    context.sni_callback = remember_sni
    _TlsHandler.context = context
    servers = [
        _serve_in(netns, _ThreadingServer, ("198.19.0.10", 80), _HttpHandler),
        _serve_in(netns, _ThreadingServer, ("198.19.0.11", 80), _HttpHandler),
        _serve_in(netns, _Server6, ("2001:db8:19::10", 80), _HttpHandler),
        _serve_in(netns, _ThreadingServer, ("198.19.0.10", 443), _TlsHandler),
    ]
    return servers
