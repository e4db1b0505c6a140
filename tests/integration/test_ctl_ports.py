"""declawctl port-forward against a real daemon: it prints kubectl's "Forwarding from" lines for
the TCP listener and the unix socket, both reach the HTTP server on the sandbox's 127.0.0.1,
Ctrl-C (or SIGTERM) removes the forward and exits 0, a sandbox that ends under it ends it with 1,
and a sandbox without loopback TCP or a listen address off the host's loopback is the daemon's
error, exit 1.
"""
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import DECLAWCTL
from support import SharedSandboxTestCase
from test_ctl_files import LineReader

API_ERROR = rb"^declawctl: .+ \((\w+)\)\n$"
FORWARDING = re.compile(r"^Forwarding from (\S+) -> (\d+)$")
SERVED = b"served through the forward\n"


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the forward's unix socket."""

    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def get_until_served(connect, timeout=20):
    """GET /page.txt through a fresh connection each time until the server inside answers (it
    may still be starting: the forward then closes the connection at once)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = connect()
        try:
            conn.request("GET", "/page.txt")
            response = conn.getresponse()
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            conn.close()


class CtlPorts(SharedSandboxTestCase):
    sandbox_spec = {"template": "python", "network": {"loopback_inet": True}}

    @classmethod
    def prepareSandbox(cls):
        cls.api.run(cls.sbx, "mkdir -p /tmp/www")
        r = cls.api.write_bytes(cls.sbx, "/tmp/www/page.txt", SERVED)
        assert r.status == 200, r
        r = cls.api.request("POST", f"/v1/sandboxes/{cls.sbx}/commands",
                            {"cmd": "python3 -m http.server 8000 --bind 127.0.0.1 "
                                    "--directory /tmp/www", "background": True})
        assert r.status == 200, r

    def ctl(self, *args, timeout=60):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args],
                              capture_output=True, timeout=timeout)

    def forward(self, *args):
        reader = LineReader([DECLAWCTL, "--socket", self.daemon.socket, "port-forward", *args])
        self.addCleanup(reader.close)
        return reader

    def forwarding_lines(self, reader, count):
        """The first count "Forwarding from" lines, as (from, port) pairs."""
        found = []
        reader.read_until(lambda line: bool(FORWARDING.match(line)) and
                          len([l for l in reader.lines if FORWARDING.match(l)]) >= count)
        for line in reader.lines:
            m = FORWARDING.match(line)
            if m:
                found.append((m.group(1), int(m.group(2))))
        return found[:count]

    def tcp_connect(self, address):
        host, port = address.rsplit(":", 1)
        sock = self.daemon.netns.socket()
        sock.settimeout(10)
        sock.connect((host, int(port)))
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.sock = sock
        return conn

    def listed_ports(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/ports")
        self.assertEqual(r.status, 200, r)
        return [p["port"] for p in r.json()["ports"]]

    def test_forward_serves_http_through_both_listeners_and_ctrl_c_removes_it_with_0(self):
        reader = self.forward(self.sbx, "8000")
        (tcp, tcp_port), (sock_path, sock_port) = self.forwarding_lines(reader, 2)
        self.assertRegex(tcp, r"^127\.0\.0\.1:\d+$")
        self.assertNotEqual(tcp, "127.0.0.1:0")
        self.assertTrue(sock_path.endswith(f"/{self.sbx}/8000.sock"), sock_path)
        self.assertEqual((tcp_port, sock_port), (8000, 8000))

        self.assertEqual(get_until_served(lambda: UnixHTTPConnection(sock_path)), (200, SERVED))
        # The daemon runs in its own network namespace: its loopback listener is reached there.
        self.assertEqual(get_until_served(lambda: self.tcp_connect(tcp)), (200, SERVED))

        reader.proc.send_signal(signal.SIGINT)
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)
        self.assertFalse(os.path.exists(sock_path))
        self.assertNotIn(8000, self.listed_ports(self.sbx))

    def test_sigterm_removes_the_forward_too(self):
        reader = self.forward(self.sbx, "8000")
        (sock_path, _), = self.forwarding_lines(reader, 2)[1:]
        self.assertTrue(os.path.exists(sock_path))
        reader.proc.send_signal(signal.SIGTERM)
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)
        self.assertFalse(os.path.exists(sock_path))

    def test_a_bare_listen_port_listens_on_127_0_0_1_there(self):
        port = random.randint(20000, 30000)
        reader = self.forward(self.sbx, "8000", str(port))
        (tcp, _), _ = self.forwarding_lines(reader, 2)
        self.assertEqual(tcp, f"127.0.0.1:{port}")
        self.assertEqual(get_until_served(lambda: self.tcp_connect(tcp)), (200, SERVED))
        reader.proc.send_signal(signal.SIGINT)
        self.assertEqual(reader.wait()[0], 0)

    def test_json_prints_the_port_forward_once(self):
        reader = self.forward("--json", self.sbx, "8000")
        line = reader.read_until(lambda line: line.startswith("{"))
        forward = json.loads(line)
        self.assertEqual(forward["port"], 8000)
        self.assertRegex(forward["host"], r"^127\.0\.0\.1:\d+$")
        self.assertTrue(forward["unix_socket"].endswith("/8000.sock"))
        reader.proc.send_signal(signal.SIGINT)
        code, rest, err = reader.wait()
        self.assertEqual((code, rest), (0, []), err)

    def test_a_listen_address_off_the_hosts_loopback_is_the_daemons_400(self):
        r = self.ctl("port-forward", self.sbx, "8000", "0.0.0.0:18000")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout, b"")
        self.assertRegex(r.stderr, API_ERROR)
        self.assertNotIn(8000, self.listed_ports(self.sbx))

    def test_a_malformed_listen_is_a_usage_error(self):
        r = self.ctl("port-forward", self.sbx, "8000", "localhost")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"LISTEN", r.stderr)

    def test_a_sandbox_without_loopback_tcp_is_refused_with_the_daemons_reason(self):
        sbx = self.api.create()
        self.addCleanup(self.api.kill, sbx)
        r = self.ctl("port-forward", sbx, "8000")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout, b"")
        self.assertRegex(r.stderr, API_ERROR)
        self.assertIn(b"loopback_inet", r.stderr)

    def test_an_unknown_sandbox_is_not_found(self):
        r = self.ctl("port-forward", "sbx-nosuchthing", "8000")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"(not_found)", r.stderr)

    def test_a_sandbox_that_ends_under_the_forward_ends_it_with_1(self):
        sbx = self.api.create(template="python", network={"loopback_inet": True})
        self.addCleanup(self.api.kill, sbx)
        reader = self.forward(sbx, "8000")
        (sock_path, _), = self.forwarding_lines(reader, 2)[1:]
        self.api.kill(sbx)
        code, _, err = reader.wait(timeout=20)
        self.assertEqual(code, 1, err)
        self.assertRegex(err, rb"^declawctl: ")
        self.assertFalse(os.path.exists(sock_path))


if __name__ == "__main__":
    unittest.main()
