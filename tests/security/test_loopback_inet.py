"""Loopback TCP without internet (`"network": {"loopback_inet": true}`): the sandbox may make
AF_INET/AF_INET6 sockets, and they reach only its own lo.

Two layers, each tested: the network namespace holds nothing but lo (and the sandbox's root has
no CAP_NET_ADMIN to change that), and an nftables table the daemon puts in that namespace drops
every packet not on lo. The second layer is tested on its own: the host adds a link to the
namespace (as if root could), and a connection over it is dropped until the host deletes the
table (the control). Packets go only to loopback, to a namespace this test made (198.18.0.0/15),
or towards public addresses from a namespace holding only lo.
"""
import errno
import socket
import threading
import time
import unittest

from netns import Netns
from network_on_support import run_in_netns
from security_support import (USERS, SecurityTestCase, inet_filter_socket_errno,
                              probe_attempts, sandbox_init_pid)
from support import put_binary_probe, put_python_probe, run_python_probe, wait_for

PUBLIC_V4 = ("93.184.216.34", "80")
PUBLIC_V6 = ("2606:4700::1111", "443")
PUBLIC_DNS = ("8.8.8.8", "53")
TEST_HOST = ("198.18.7.1", "80")  # nothing there: the namespace has no route to it

# Inside the sandbox: a TCP echo over 127.0.0.1 and over ::1, server and client in one process.
ECHO_BOTH = r"""
import socket, threading
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen()
    port = srv.getsockname()[1]
    def serve():
        conn, _ = srv.accept()
        conn.sendall(conn.recv(64).upper())
        conn.close()
    t = threading.Thread(target=serve)
    t.start()
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(b"ping")
    print(host, c.recv(64).decode())
    t.join()
"""


class LoopbackInet(SecurityTestCase):
    sandbox_spec = {"network": {"loopback_inet": True}}

    @classmethod
    def prepareSandbox(cls):
        cls.net_probe = put_python_probe(cls.api, cls.sbx, "net_probe.py")

    def attempts(self, *args, user="user"):
        return probe_attempts(run_python_probe(self.api, self.sbx, self.net_probe, *args,
                                               user=user))

    def test_info_shows_loopback_inet_without_internet_access(self):
        info = self.api.request("GET", f"/v1/sandboxes/{self.sbx}").json()
        self.assertFalse(info["allow_internet_access"])
        self.assertTrue(info["network"]["loopback_inet"])
        view = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/network").json()
        self.assertTrue(view["loopback_inet"])
        self.assertIsNone(view["address"])

    def test_tcp_over_its_own_loopback_works_for_both_users(self):
        for user in USERS:
            with self.subTest(user=user):
                res = self.api.run(self.sbx, f"python3 -c '{ECHO_BOTH}'", user=user)
                self.assertEqual(res["exit_code"], 0, res)
                self.assertEqual(res["stdout"].split("\n")[:2], ["127.0.0.1 PING", "::1 PING"])

    def test_a_web_server_inside_answers_inside(self):
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands", {
            "cmd": "cd /tmp && echo served > index.html && "
                   "exec python3 -m http.server 8000 --bind 127.0.0.1",
            "background": True})
        self.assertEqual(r.status, 200, r)
        pid = r.json()["pid"]
        self.addCleanup(self.api.request, "POST",
                        f"/v1/sandboxes/{self.sbx}/commands/{pid}/signal", {"signal": "SIGKILL"})
        fetch = ("python3 -c \"import urllib.request; "
                 "print(urllib.request.urlopen('http://127.0.0.1:8000/').read().decode())\"")
        self.assertTrue(wait_for(lambda: self.api.run(self.sbx, fetch)["exit_code"] == 0, 20))
        self.assertEqual(self.api.run(self.sbx, fetch)["stdout"].strip(), "served")

    def test_nothing_leaves_not_to_the_hosts_loopback_nor_anywhere(self):
        # A listener on the host's (the test's) 127.0.0.1: the sandbox's 127.0.0.1 is its own.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        self.addCleanup(listener.close)
        port = str(listener.getsockname()[1])
        for user in USERS:
            with self.subTest(user=user):
                (attempt,) = [a for a in self.attempts("connect", "127.0.0.1", port, user=user)]
                self.assertRefused([attempt], errno.ECONNREFUSED, f"host loopback as {user}")
                for op, (host, p) in (("connect", PUBLIC_V4), ("connect", PUBLIC_V6),
                                      ("connect", TEST_HOST), ("udp", PUBLIC_DNS)):
                    attempts = self.attempts(op, host, p, user=user)
                    self.assertRefused(attempts[-1:], errno.ENETUNREACH, f"{op} {host} as {user}")
        with self.assertRaises(BlockingIOError):
            listener.accept()

    def test_name_resolution_still_fails(self):
        (attempt,) = self.attempts("resolve", "example.com")
        self.assertIn(attempt["gai_error"], ("EAI_AGAIN", "EAI_NONAME"), attempt)

    def test_only_the_inet_families_are_added_to_the_filter(self):
        probe = put_binary_probe(self.api, self.sbx, "probe_sockets")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.api.run(self.sbx, probe, user=user, timeout=120))
                self.assertEqual(len(attempts), 46 * 4 * 3 + 32 * 3 + 46 * 3)
                self.assertRefused(attempts, inet_filter_socket_errno, f"sockets as {user}")

    def test_root_cannot_add_a_link_or_take_lo_down(self):
        for cmd in ("ip link add declaw0 type dummy", "ip link set lo down",
                    "ip addr add 198.18.7.2/30 dev lo"):
            with self.subTest(cmd=cmd):
                res = self.api.run(self.sbx, cmd, user="root")
                self.assertNotEqual(res["exit_code"], 0, res)
                self.assertIn("Operation not permitted", res["stderr"], res)
        links = self.api.run(self.sbx, "cat /proc/net/dev")["stdout"].splitlines()[2:]
        self.assertEqual(sorted(line.split(":")[0].strip() for line in links), ["lo"])


class LoopbackFilterAlone(SecurityTestCase):
    """The second layer without the first: the host gives the sandbox's namespace a link to a
    namespace this test made, with a listener there. The loopback table drops the connection;
    once the host deletes the table (the control), the same connection goes through."""

    sandbox_spec = {"network": {"loopback_inet": True}}

    @classmethod
    def prepareSandbox(cls):
        cls.net_probe = put_python_probe(cls.api, cls.sbx, "net_probe.py")

    def test_a_link_added_anyway_carries_nothing_until_the_table_goes(self):
        init = sandbox_init_pid(self.daemon.proc.pid, self.sbx)
        sandbox_netns = f"/proc/{init}/ns/net"
        table = run_in_netns(sandbox_netns, "nft", "list", "table", "inet", "declaw_loopback")
        self.assertIn('oifname "lo" accept', table.stdout)
        peer = Netns()
        self.addCleanup(peer.close)
        peer.run("ip", "link", "add", "lbpeer", "type", "veth", "peer", "name", "lbsbx")
        peer.run("ip", "link", "set", "lbsbx", "netns", str(init))
        peer.run("ip", "addr", "add", "198.18.7.1/30", "dev", "lbpeer")
        peer.run("ip", "link", "set", "lbpeer", "up")
        run_in_netns(sandbox_netns, "ip", "addr", "add", "198.18.7.2/30", "dev", "lbsbx")
        run_in_netns(sandbox_netns, "ip", "link", "set", "lbsbx", "up")

        accepted, servers = [], []

        def serve():
            # A socket belongs to the namespace it is made in: make it after entering.
            peer.enter()
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.bind(("198.18.7.1", 0))
            server.listen()
            servers.append(server)
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                accepted.append(conn)

        listening = threading.Thread(target=serve, daemon=True)
        listening.start()
        self.assertTrue(wait_for(lambda: servers, 5))
        server = servers[0]
        self.addCleanup(listening.join, 5)
        self.addCleanup(server.close)
        self.addCleanup(server.shutdown, socket.SHUT_RDWR)
        port = str(server.getsockname()[1])

        def connect():
            return probe_attempts(run_python_probe(self.api, self.sbx, self.net_probe,
                                                   "connect", "198.18.7.1", port, user="root"))

        # nftables drops the SYN in the output hook, each retransmission too: the connect
        # times out (the probe's 5 s), and nothing reaches the listener.
        attempts = connect()
        self.assertEqual((attempts[-1]["attempt"], attempts[-1]["ok"], attempts[-1]["error"]),
                         ("connect", False, "timed out"), attempts)
        # A datagram is refused at once: the output hook's drop is sendto()'s EPERM.
        udp = probe_attempts(run_python_probe(self.api, self.sbx, self.net_probe, "udp",
                                              "198.18.7.1", port, user="root"))
        self.assertRefused(udp[-1:], errno.EPERM, "a datagram over the added link")
        time.sleep(0.2)
        self.assertEqual(accepted, [])
        # The control: without the table, the same connection is made.
        run_in_netns(sandbox_netns, "nft", "delete", "table", "inet", "declaw_loopback")
        attempts = connect()
        self.assertEqual(attempts[-1]["attempt"], "connect")
        self.assertTrue(attempts[-1]["ok"], attempts)
        self.assertTrue(wait_for(lambda: len(accepted) == 1, 5))
        for conn in accepted:
            conn.close()


class CreateValidation(SecurityTestCase):
    def test_loopback_inet_alone_means_no_internet_and_must_be_a_boolean(self):
        r = self.api.request("POST", "/v1/sandboxes", {"network": {"loopback_inet": "yes"}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("loopback_inet", r.json()["error"]["message"])
        r = self.api.request("PATCH", f"/v1/sandboxes/{self.sbx}/network",
                             {"loopback_inet": True})
        self.assertEqual(r.status, 400, r)
        self.assertIn("fixed", r.json()["error"]["message"])
        # The class's sandbox has no loopback_inet: its inet sockets are refused as ever.
        info = self.api.request("GET", f"/v1/sandboxes/{self.sbx}").json()
        self.assertFalse(info["network"]["loopback_inet"])
        res = self.api.run(self.sbx, "python3 -c 'import socket; socket.socket()'")
        self.assertNotEqual(res["exit_code"], 0)
        self.assertIn("Permission denied", res["stderr"])


if __name__ == "__main__":
    unittest.main()
