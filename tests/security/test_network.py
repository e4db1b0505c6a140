"""Network denial: a sandbox without internet access reaches nothing, cannot create the sockets
that would let it try, cannot get around the socket() filter, and cannot reach the host's Unix
sockets (abstract or the declaw API's).

Two layers: seccomp refuses every socket family but AF_UNIX and NETLINK_ROUTE (compared on the
low 32 bits of the argument, as the kernel reads it), and the network namespace holds only lo.
The second layer is tested on its own from the host, by running a probe in the sandbox's network
namespace without the filter. Under the test network rule, public addresses are tried only where
the namespace holds nothing but lo: no packet can leave.
"""
import errno
import os
import socket
import subprocess
import sys
import time
import unittest

from harness import PROBES_DIR
from support import json_lines, put_python_probe, run_python_probe
from security_support import (USERS, SecurityTestCase, probe_attempts, read_text,
                              sandbox_init_pid)

NETLINK_ROUTE = 0
PUBLIC_V4 = ("93.184.216.34", "80")
PUBLIC_V6 = ("2606:4700::1111", "443")
PUBLIC_DNS = ("8.8.8.8", "53")


def expected_socket_errno(attempt):
    """What the filter lets through (the kernel then decides: 0) and what it refuses (EACCES)."""
    family = attempt["family"]
    if family == socket.AF_UNIX:
        return 0
    if attempt["attempt"] == "socket" and family == socket.AF_NETLINK:
        return 0 if attempt["protocol"] == NETLINK_ROUTE else errno.EACCES
    return errno.EACCES


class SocketFilter(SecurityTestCase):
    def test_every_socket_family_but_unix_and_netlink_route_fails_with_eacces(self):
        # socket() for families 0..45 x four types x high bits, netlink protocols 0..31, and
        # socketpair() for families 0..45: the table of tests/unit/seccomp_policy_test.cc, tried
        # on the real kernel.
        probe = self.put_probe("sockets")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, user=user))
                self.assertEqual(len(attempts), 46 * 4 * 3 + 32 * 3 + 46 * 3)
                self.assertRefused(attempts, expected_socket_errno, f"sockets as {user}")
                # The control: the families the filter lets through really work.
                made = {(a["attempt"], a["family"], a["type"]) for a in attempts if a["ret"] >= 0}
                self.assertLessEqual({("socket", socket.AF_UNIX, socket.SOCK_STREAM),
                                      ("socket", socket.AF_NETLINK, socket.SOCK_RAW),
                                      ("socketpair", socket.AF_UNIX, socket.SOCK_STREAM)}, made)


class NoNetwork(SecurityTestCase):
    @classmethod
    def prepareSandbox(cls):
        cls.net_probe = put_python_probe(cls.api, cls.sbx, "net_probe.py")

    def attempts(self, *args, user="user"):
        return probe_attempts(run_python_probe(self.api, self.sbx, self.net_probe, *args,
                                               user=user))

    def test_tcp_over_ipv4_and_ipv6_and_udp_fail_at_socket_with_eacces(self):
        for user in USERS:
            for op, (host, port) in (("connect", PUBLIC_V4), ("connect", PUBLIC_V6),
                                     ("connect", ("127.0.0.1", "1")), ("udp", PUBLIC_DNS)):
                with self.subTest(user=user, op=op, host=host):
                    attempts = self.attempts(op, host, port, user=user)
                    self.assertEqual([a["attempt"] for a in attempts], ["socket"], attempts)
                    self.assertRefused(attempts, errno.EACCES, f"{op} {host} as {user}")

    def test_ping_sockets_raw_or_datagram_fail_with_eacces(self):
        for user in USERS:
            with self.subTest(user=user):
                attempts = self.attempts("ping", user=user)
                self.assertEqual(len(attempts), 5, attempts)
                self.assertRefused(attempts, errno.EACCES, f"ping as {user}")

    def test_name_resolution_fails_at_once(self):
        for user in USERS:
            with self.subTest(user=user):
                started = time.monotonic()
                (attempt,) = self.attempts("resolve", "example.com", user=user)
                # The resolver cannot make its UDP socket, so it gives up without waiting.
                self.assertEqual(attempt["gai_error"], "EAI_AGAIN", attempt)
                res = self.api.run(self.sbx, "getent hosts example.com", user=user)
                self.assertEqual((res["exit_code"], res["stdout"]), (2, ""), res)
                self.assertLess(time.monotonic() - started, 10)

    def test_without_the_filter_the_network_namespace_still_has_no_route(self):
        # The second layer alone: the same probe, run by the host in the sandbox's network
        # namespace (nsenter(1)), where no seccomp filter stops socket().
        init = sandbox_init_pid(self.daemon.proc.pid, self.sbx)
        probe = os.path.join(PROBES_DIR, "net_probe.py")
        for op, (host, port) in (("connect", PUBLIC_V4), ("connect", PUBLIC_V6),
                                 ("udp", PUBLIC_DNS)):
            with self.subTest(op=op, host=host):
                res = subprocess.run(["nsenter", f"--net=/proc/{init}/ns/net", sys.executable,
                                      probe, op, host, port], capture_output=True, text=True,
                                     timeout=30)
                attempts = json_lines({"stdout": res.stdout})
                self.assertEqual(attempts[-1]["attempt"], "sendto" if op == "udp" else "connect")
                self.assertRefused(attempts[-1:], errno.ENETUNREACH, f"{op} {host} in the netns")
        interfaces = subprocess.run(["nsenter", f"--net=/proc/{init}/ns/net", "cat",
                                     "/proc/net/dev"], capture_output=True, text=True).stdout
        names = sorted(line.split(":")[0].strip() for line in interfaces.splitlines()[2:])
        self.assertEqual(names, ["lo"])


class HostUnixSockets(SecurityTestCase):
    """The abstract Unix namespace belongs to the network namespace, and the sandbox's fs holds
    no host socket: no host listener, the declaw API's included, is reachable."""

    @classmethod
    def prepareSandbox(cls):
        cls.unix_probe = put_python_probe(cls.api, cls.sbx, "unix_connect_probe.py")

    def test_an_abstract_socket_of_a_host_listener_is_unreachable(self):
        name = f"declaw-test-{self.token}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind("\0" + name)
        listener.listen()
        listener.setblocking(False)
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind("\0" + name + "-dgram")
        receiver.setblocking(False)
        self.addCleanup(listener.close)
        self.addCleanup(receiver.close)
        # And every abstract name the host has (systemd, D-Bus, X11, ...), up to a bound.
        listed = [line.split() for line in read_text("/proc/net/unix").splitlines()[1:]]
        host_names = sorted({f[-1] for f in listed if len(f) > 7 and f[-1].startswith("@")})[:50]
        names = ["@" + name, "@" + name + "-dgram"] + host_names
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(run_python_probe(self.api, self.sbx, self.unix_probe,
                                                           *names, user=user))
                self.assertRefused(attempts, errno.ECONNREFUSED, f"abstract sockets as {user}")
        with self.assertRaises(BlockingIOError):
            listener.accept()
        with self.assertRaises(BlockingIOError):
            receiver.recv(64)

    def test_the_api_socket_is_unreachable_from_inside(self):
        sock = self.daemon.socket
        paths = [sock, "/run/declaw/declaw.sock", "/var/run/declaw/declaw.sock",
                 f"/proc/{self.daemon.proc.pid}/root{sock}", f"/proc/1/root{sock}",
                 "/proc/1/fd/3"]
        # The daemon's namespace's sockets (the harness runs it in a network namespace of its own).
        before = read_text(f"/proc/{self.daemon.proc.pid}/net/unix")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(run_python_probe(self.api, self.sbx, self.unix_probe,
                                                           *paths, user=user))

                def expected(a):
                    # init's root and fds (its control socket) are closed to a non-dumpable
                    # process's neighbours; declawd's pid means nothing here.
                    return errno.EACCES if a["name"].startswith("/proc/1/") else errno.ENOENT
                self.assertRefused(attempts, expected, f"the API socket as {user}")
        # The daemon's listening socket is not among the sandbox's (/proc/net/unix lists the
        # sockets of the reader's network namespace).
        inode = self.daemon_socket_inode(before, sock)
        listed = self.api.run(self.sbx, "cat /proc/net/unix")["stdout"]
        self.assertNotIn(inode, [line.split()[6] for line in listed.splitlines()[1:]])

    @staticmethod
    def daemon_socket_inode(proc_net_unix, path):
        for line in proc_net_unix.splitlines()[1:]:
            fields = line.split()
            if fields[-1] == path:
                return fields[6]
        raise AssertionError(f"{path} is not in the daemon's /proc/net/unix")


if __name__ == "__main__":
    unittest.main()
