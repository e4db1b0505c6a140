"""Ports: GET/POST/DELETE /v1/sandboxes/{id}/ports/{port}. A sandbox with loopback TCP serves
on 127.0.0.1 inside; the host reaches it through a unix socket the daemon makes (the owner's,
mode 0600: another uid is refused) and, when asked, a TCP listener on the host's loopback only.
Forwards end with the sandbox (its connections close, its sockets go), a sandbox that cannot
have inet sockets is refused clearly, and bad ports and addresses are 400s."""
import os
import socket
import stat
import subprocess
import time
import unittest

from harness import DaemonTestCase

# Inside the sandbox: an upper-casing echo server on 127.0.0.1:PORT, one thread per client,
# that prints "ready" once it listens.
ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(64)
print("ready", flush=True)
def serve(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data.upper())
    conn.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def unix_connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def echo(sock, payload):
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


class Ports(DaemonTestCase):
    def serving(self, port=8000, **spec):
        spec.setdefault("network", {"loopback_inet": True})
        sbx = self.sandbox(template="python", **spec)
        self.api.write_bytes(sbx, "/tmp/echo.py", ECHO_SERVER.encode())
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                             {"cmd": f"python3 /tmp/echo.py {port}", "background": True})
        self.assertEqual(r.status, 200, r)
        pid = r.json()["pid"]
        deadline = time.time() + 20
        while time.time() < deadline:
            out = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{pid}/stream",
                                   query={"follow": "false"}).body
            if b"ready" in out:
                return sbx
            time.sleep(0.05)
        self.fail("the echo server did not start")

    def port(self, sbx, port, method="GET", body=None):
        return self.api.request(method, f"/v1/sandboxes/{sbx}/ports/{port}", body)

    def test_the_unix_socket_reaches_the_sandboxs_loopback_and_is_the_owners(self):
        sbx = self.serving()
        r = self.port(sbx, 8000)
        self.assertEqual(r.status, 200, r)
        info = r.json()
        self.assertEqual(info["port"], 8000)
        self.assertIsNone(info["host"])
        path = info["unix_socket"]
        self.assertTrue(path.startswith(self.daemon.state + "/ports/" + sbx + "/"), path)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.getuid())
        parent = os.lstat(os.path.dirname(path))
        self.assertEqual((parent.st_uid, stat.S_IMODE(parent.st_mode)), (0, 0o711))
        # Asking again is the same forward.
        self.assertEqual(self.port(sbx, 8000).json(), info)
        # Many connections at once, each its own stream, with more than one buffer's worth.
        socks = [unix_connect(path) for _ in range(8)]
        big = os.urandom(300000).hex().encode()
        for n, s in enumerate(socks):
            self.assertEqual(echo(s, b"hello %d" % n), b"HELLO %d" % n)
        self.assertEqual(echo(socks[0], big), big.upper())
        for s in socks:
            s.close()
        # Another uid cannot connect: the socket is 0600.
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n s.connect(sys.argv[1]); print('connected')\n"
                 "except PermissionError: print('refused')\n")
        done = subprocess.run(["/usr/bin/python3", "-c", probe, path], capture_output=True,
                              text=True, user=65534, group=65534, timeout=30)
        self.assertEqual(done.stdout.strip(), "refused", done)
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{sbx}/ports").json(),
                         {"ports": [info]})

    def test_a_tcp_forward_listens_only_on_the_hosts_loopback(self):
        sbx = self.serving(port=9000)
        r = self.port(sbx, 9000, "POST", {"listen": "127.0.0.1:0"})
        self.assertEqual(r.status, 200, r)
        host = r.json()["host"]
        address, port = host.rsplit(":", 1)
        self.assertEqual(address, "127.0.0.1")
        # The daemon runs in a network namespace of the test's: its loopback is there.
        s = self.daemon.netns.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", int(port)))
        self.assertEqual(echo(s, b"over tcp"), b"OVER TCP")
        s.close()
        # Asking again (port 0 or the same address) answers the same listener; another is 409.
        self.assertEqual(self.port(sbx, 9000, "POST", {}).json()["host"], host)
        self.assertEqual(self.port(sbx, 9000, "POST", {"listen": "127.0.0.1:1"}).status, 409)
        for bad in ("0.0.0.0:0", "198.18.0.1:80", "[::]:0", "example.com:80", "127.0.0.1",
                    "127.0.0.1:70000", "127.0.0.1:x"):
            with self.subTest(listen=bad):
                r = self.port(sbx, 9001, "POST", {"listen": bad})
                self.assertEqual(r.status, 400, r)

    def test_forwards_end_with_the_sandbox_and_by_delete(self):
        sbx = self.serving()
        path = self.port(sbx, 8000).json()["unix_socket"]
        conn = unix_connect(path)
        self.assertEqual(echo(conn, b"x"), b"X")
        # DELETE ends the forward: its socket goes and its connections close.
        self.assertEqual(self.port(sbx, 8000, "DELETE").status, 204)
        self.assertFalse(os.path.exists(path))
        self.assertEqual(conn.recv(10), b"")
        conn.close()
        self.assertEqual(self.port(sbx, 8000, "DELETE").status, 404)
        path = self.port(sbx, 8000).json()["unix_socket"]
        conn = unix_connect(path)
        self.assertEqual(echo(conn, b"y"), b"Y")
        self.api.kill(sbx)
        self.assertEqual(conn.recv(10), b"")
        conn.close()
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(os.path.dirname(path)))
        self.assertEqual(self.port(sbx, 8000).status, 409)

    def test_nothing_listening_closes_the_connection(self):
        sbx = self.sandbox(network={"loopback_inet": True})
        path = self.port(sbx, 8123).json()["unix_socket"]
        conn = unix_connect(path)
        self.assertEqual(conn.recv(10), b"")
        conn.close()

    def test_refusals_are_clear(self):
        plain = self.sandbox()
        r = self.port(plain, 8000)
        self.assertEqual(r.status, 409, r)
        self.assertIn("loopback_inet", r.json()["error"]["message"])
        sbx = self.sandbox(network={"loopback_inet": True})
        for bad in ("0", "65536", "http", "-1", "123456"):
            with self.subTest(port=bad):
                self.assertEqual(self.port(sbx, bad).status, 400)
        self.assertEqual(self.port("sbx-000000000000", 8000).status, 404)


if __name__ == "__main__":
    unittest.main()
