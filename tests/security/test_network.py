"""Network denial: a sandbox without internet access cannot reach anything, cannot create the
sockets that would let it try, and cannot get around the socket() filter.

Under the test network rule, public addresses are tried only from here, where the sandbox's
network namespace holds nothing but lo: no packet can leave.
"""
import errno
import socket
import time
import unittest

from support import SharedSandboxTestCase, json_lines, put_binary_probe, put_python_probe, \
    run_python_probe

USERS = ("user", "root")
NETLINK_ROUTE = 0
NETLINK_AUDIT = 9
ETH_P_ALL = 0x0003
SIGSYS = 31

DENIED_SOCKETS = {
    # name: (family, type, protocol)
    "AF_INET": (socket.AF_INET, socket.SOCK_STREAM, 0),
    "AF_INET/UDP": (socket.AF_INET, socket.SOCK_DGRAM, 0),
    "AF_INET6": (socket.AF_INET6, socket.SOCK_STREAM, 0),
    "AF_PACKET": (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
    "AF_VSOCK": (40, socket.SOCK_STREAM, 0),
    "AF_ALG": (38, socket.SOCK_SEQPACKET, 0),
    "AF_NETLINK/NETLINK_AUDIT": (socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT),
    "AF_XDP": (44, socket.SOCK_RAW, 0),
    "AF_KEY": (15, socket.SOCK_RAW, 2),
    "AF_BLUETOOTH": (31, socket.SOCK_RAW, 0),
    "AF_TIPC": (30, socket.SOCK_RDM, 0),
    # The kernel reads the family as an int: a filter comparing all 64 bits would let these by.
    "0x100000002 (AF_INET in the low 32 bits)": (0x100000002, socket.SOCK_STREAM, 0),
    "0xffffffff0000000a (AF_INET6 in the low 32 bits)": (0xffffffff0000000a, socket.SOCK_STREAM,
                                                         0),
}

ALLOWED_SOCKETS = {
    "AF_UNIX": (socket.AF_UNIX, socket.SOCK_STREAM, 0),
    "AF_NETLINK/NETLINK_ROUTE": (socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE),
}


class NetworkDenial(SharedSandboxTestCase):

    @classmethod
    def prepareSandbox(cls):
        cls.probe = put_python_probe(cls.api, cls.sbx, "net_probe.py")

    def probe_verdict(self, *args, user="user"):
        """Runs the probe; returns its verdict, or None if seccomp killed it mid-attempt."""
        res = run_python_probe(self.api, self.sbx, self.probe, *args, user=user)
        self.assertIn("attempting", res["stdout"], f"probe did not get to the attempt: {res}")
        verdicts = json_lines(res)
        if not verdicts:
            self.assertEqual(res.get("signal"), SIGSYS, f"probe died without a verdict: {res}")
            return None
        return verdicts[-1]

    def test_tcp_to_a_public_ipv4_address_fails(self):
        for user in USERS:
            with self.subTest(user=user):
                verdict = self.probe_verdict("connect", "93.184.216.34", "80", user=user)
                self.assertIsNotNone(verdict)
                self.assertFalse(verdict["ok"], "connected to 93.184.216.34:80")

    def test_tcp_to_a_public_ipv6_address_fails(self):
        for user in USERS:
            with self.subTest(user=user):
                verdict = self.probe_verdict("connect", "2606:4700::1111", "443", user=user)
                self.assertIsNotNone(verdict)
                self.assertFalse(verdict["ok"], "connected to [2606:4700::1111]:443")

    def test_denied_socket_families_fail_with_eperm_or_eacces(self):
        for user in USERS:
            for name, (family, kind, proto) in DENIED_SOCKETS.items():
                with self.subTest(user=user, socket=name):
                    verdict = self.probe_verdict("socket", hex(family), str(kind), str(proto),
                                                 user=user)
                    self.assertIsNotNone(verdict, "seccomp killed instead of refusing")
                    self.assertFalse(verdict["ok"], f"socket({name}) succeeded")
                    self.assertIn(verdict["errno"], (errno.EPERM, errno.EACCES), verdict)

    def test_unix_and_netlink_route_sockets_still_work(self):
        # The control for the test above: the probe can create the sockets the policy allows.
        for name, (family, kind, proto) in ALLOWED_SOCKETS.items():
            with self.subTest(socket=name):
                verdict = self.probe_verdict("socket", hex(family), str(kind), str(proto))
                self.assertEqual(verdict, {"ok": True, "ret": verdict.get("ret")})

    def test_io_uring_setup_fails(self):
        for user in USERS:
            with self.subTest(user=user):
                verdict = self.probe_verdict("io_uring", user=user)
                if verdict is not None:
                    self.assertFalse(verdict["ok"], "io_uring_setup returned a ring")

    def test_the_x32_abi_cannot_create_a_socket(self):
        verdict = self.probe_verdict("x32_socket")
        if verdict is not None:
            self.assertFalse(verdict["ok"], "socket() through the x32 ABI succeeded")

    def test_the_i386_abi_cannot_create_a_socket(self):
        probe = put_binary_probe(self.api, self.sbx, "probe_socketcall32")
        for user in USERS:
            with self.subTest(user=user):
                res = self.api.run(self.sbx, probe, user=user)
                self.assertIn("attempting", res["stdout"], f"probe did not run: {res}")
                verdicts = json_lines(res)
                if verdicts:
                    self.assertEqual(res["exit_code"], 0, f"an i386 call made a socket: {verdicts}")
                    self.assertLess(verdicts[0]["socketcall"], 0)
                    self.assertLess(verdicts[0]["socket"], 0)
                else:
                    self.assertEqual(res.get("signal"), SIGSYS, f"probe died oddly: {res}")

    def test_name_resolution_of_a_public_name_fails(self):
        for user in USERS:
            with self.subTest(user=user):
                started = time.monotonic()
                res = self.api.run(self.sbx, "getent hosts example.com", user=user, timeout=60)
                self.assertNotEqual(res["exit_code"], 0, f"example.com resolved: {res}")
                self.assertFalse(res.get("timed_out"), res)
                self.assertEqual(res["stdout"], "")
                self.assertLess(time.monotonic() - started, 30)


if __name__ == "__main__":
    unittest.main()
