"""Sandboxes WITH internet access reaching for what lies beyond their link but outside the
internet: another sandbox, the daemon's namespace D (its own addresses and listeners), another
sandbox's DNS stub and proxy, and the DNS stub as a data channel. test_network_on.py has the
attacks on the link itself; both share its world and watches (network_on_support.py).

Layers (docs/network.md): the input chain that lets a sandbox reach only its own gateway's DNS
stub (and proxy, with name rules), the pool in the always-denied set of the forward chain,
"nothing starts a connection into a sandbox", and the stub that answers only A and AAAA for
allowed names and asks the upstream for nothing else.
"""
import os
import socket
import unittest

from fake_internet import (AAAA, ANY, DNS_ADDRESS, FORMERR, HOST_ADDRESS, HTTP_ADDRESS,
                           NXDOMAIN, REFUSED, TXT, A)
from network_on_support import (ANSWER_WAIT_S, IN, InternetOnTestCase, UdpRecorder,
                                dns_message, set_up_module, tear_down_module)
from network_support import Listener, greeting_from, host, internet
from security_support import USERS
from support import wait_for

SERVFAIL = 2


def control_query(test, sbx, gateway, hex_message, transport="udp", tries=3):
    """A control query to the stub, asked again while it answers SERVFAIL: on a loaded machine
    (sanitizer builds running beside) the fake upstream, a Python thread, can miss the stub's
    attempt timeouts, and that is not what these tests are about."""
    for _ in range(tries):
        (reply,) = test.attack(sbx, "dns", gateway, transport, hex_message, wait=ANSWER_WAIT_S)
        if reply.get("rcode") != SERVFAIL:
            break
    return reply

DAEMON_PORT = 8090  # a listener of D's on every address: not the DNS stub's 53 or the proxy's
NEIGHBOUR_UDP_PORT, NEIGHBOUR_TCP_PORT = 9000, 9001
CH = 3  # DNS class CHAOS
MX, NULL, CNAME, SRV, PTR, SVCB, HTTPS, CAA = 15, 10, 5, 33, 12, 64, 65, 257


def setUpModule():
    set_up_module()


def tearDownModule():
    tear_down_module()


def random_name():
    return os.urandom(6).hex()


def upstream_names():
    """Every name the fake upstream has been asked, oldest first."""
    return [q[0] for q in internet().dns.questions()]


class Reachability(InternetOnTestCase):
    """Internet access opens the internet, not the neighbours: other sandboxes, D's own addresses
    and another sandbox's DNS stub and proxy stay out of reach, over TCP, UDP and ICMP."""

    def test_another_sandbox_answers_no_tcp_udp_or_ping(self):
        target = self.sandbox()
        address = self.net(target)["address"]
        self.serve(target, "serve-udp", NEIGHBOUR_UDP_PORT, "/tmp/udp.log")
        self.serve(target, "serve-tcp", NEIGHBOUR_TCP_PORT, "/tmp/tcp.log")
        # The controls: both servers answer inside their own sandbox, ...
        self.assertTrue(wait_for(lambda: self.attack(
            target, "udp", address, str(NEIGHBOUR_UDP_PORT), b"control".hex(), user="user")[0]
            ["ok"]))
        self.assertTrue(wait_for(lambda: self.attack(
            target, "tcp", address, str(NEIGHBOUR_TCP_PORT), user="user")[-1]["ok"]))
        logs = (self.sandbox_log(target, "/tmp/udp.log"), self.sandbox_log(target, "/tmp/tcp.log"))
        self.assertEqual(logs, ([f"{address} {b'control'.hex()}"], [address]))
        sbx = self.sandbox()
        # ... and the probe's ping is answered by a host of the internet.
        self.assertTrue(self.attack(sbx, "ping", HTTP_ADDRESS, wait=ANSWER_WAIT_S)[0]["ok"])
        with self.daemon_namespace_unchanged():
            for user in USERS:
                with self.subTest(user=user):
                    attempts = self.attack(sbx, "udp", address, str(NEIGHBOUR_UDP_PORT),
                                           b"attack".hex(), user=user)
                    attempts += self.attack(sbx, "tcp", address, str(NEIGHBOUR_TCP_PORT),
                                            user=user)
                    if user == "root":
                        attempts += self.attack(sbx, "ping", address)
                    self.assertUnanswered(attempts, f"to another sandbox as {user}")
        self.assertEqual((self.sandbox_log(target, "/tmp/udp.log"),
                          self.sandbox_log(target, "/tmp/tcp.log")), logs)

    def test_the_daemons_namespace_answers_nothing_but_the_own_dns_stub(self):
        tcp = Listener(host(), "0.0.0.0", DAEMON_PORT)
        self.addCleanup(tcp.close)
        udp = UdpRecorder(host(), "0.0.0.0", DAEMON_PORT)
        self.addCleanup(udp.close)
        # The controls: from the internet side both listeners answer.
        self.assertIsNotNone(greeting_from(internet().netns, HOST_ADDRESS, DAEMON_PORT))
        with internet().netns.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"control", (HOST_ADDRESS, DAEMON_PORT))
        self.assertTrue(wait_for(lambda: udp.got, timeout=ANSWER_WAIT_S),
                        f"the control datagram never reached the listener: {udp!r}")
        controls = (list(tcp.peers), list(udp.got))
        sbx, other = self.sandbox(), self.sandbox()
        a, b = self.net(sbx), self.net(other)
        # ... and the sandbox's own stub answers on its gateway.
        self.assertEqual(self.dns(sbx, a["gateway"], "allowed.test")["rcode"], 0)
        before = self.refused(sbx)["firewall_packets"]
        with self.daemon_namespace_unchanged():
            for target in (a["gateway"], HOST_ADDRESS, b["gateway"]):
                for user in USERS:
                    with self.subTest(target=target, user=user):
                        attempts = self.attack(sbx, "tcp", target, str(DAEMON_PORT), user=user)
                        attempts += self.attack(sbx, "udp", target, str(DAEMON_PORT),
                                                b"attack".hex(), user=user)
                        if user == "root":
                            attempts += self.attack(sbx, "ping", target)
                        self.assertUnanswered(attempts, f"to D's {target} as {user}")
        self.assertEqual((tcp.peers, udp.got), controls)
        self.assertGreater(self.refused(sbx)["firewall_packets"], before)

    def test_another_sandboxs_dns_stub_and_proxy_are_out_of_reach(self):
        policy = {"allow_out": ["allowed.test", "*.ok.test"]}  # name rules: the proxy is on
        sbx, other = self.sandbox(network=policy), self.sandbox(network=policy)
        a, b = self.net(sbx), self.net(other)
        proxy_port = str(self.daemon_config.get("proxy_port", 3128))

        def query(name, over_tcp=False):
            return dns_message(name).hex(), "tcp" if over_tcp else "udp"

        # The controls: each sandbox's own stub answers and asks the upstream; the other
        # sandbox's proxy port takes a connection from its own sandbox.
        for who, net in ((sbx, a), (other, b)):
            for over_tcp in (False, True):
                name = f"control-{random_name()}.ok.test"
                hexq, transport = query(name, over_tcp)
                reply = control_query(self, who, net["gateway"], hexq, transport)
                self.assertTrue(reply["ok"], reply)
                self.assertIn(name, upstream_names(), reply)
        proxy_refusals = self.refused(other)["proxy"]
        self.assertEqual(self.attack(other, "tcp", b["gateway"], proxy_port)[-1]["ok"], True)
        # (The proxy refuses a connection that was not redirected to it, and counts it.)
        self.assertTrue(wait_for(lambda: self.refused(other)["proxy"] == proxy_refusals + 1))
        before = (self.refused(sbx), self.refused(other))
        names = []
        with self.daemon_namespace_unchanged():
            for user in USERS:
                for over_tcp in (False, True):
                    with self.subTest(user=user, over_tcp=over_tcp):
                        name = f"attack-{random_name()}.ok.test"
                        names.append(name)
                        hexq, transport = query(name, over_tcp)
                        attempts = self.attack(sbx, "dns", b["gateway"], transport, hexq,
                                               user=user)
                        attempts += self.attack(sbx, "tcp", b["gateway"], proxy_port, user=user)
                        self.assertUnanswered(attempts, f"to {b['gateway']} as {user}")
        self.assertEqual([n for n in names if n in upstream_names()], [])
        after = (self.refused(sbx), self.refused(other))
        self.assertGreater(after[0]["firewall_packets"], before[0]["firewall_packets"])
        self.assertEqual((after[0]["dns"], after[0]["proxy"]), (before[0]["dns"],
                                                                before[0]["proxy"]))
        self.assertEqual(after[1], before[1], "the other sandbox's services saw the attempts")

class DnsChannel(InternetOnTestCase):
    """The DNS stub cannot carry data out: names a policy does not allow are answered NXDOMAIN
    without asking the upstream, whatever the type, class, case or transport; types other than A
    and AAAA are REFUSED for every name; only allowed names ever reach the upstream."""

    POLICIES = ({"allow_out": ["allowed.test", "*.ok.test"]},
                {"deny_out": ["blocked.test", "*.blocked.test"]})

    @staticmethod
    def data_names(count, policy):
        """COUNT names that carry 15 bytes of data each under blocked.test, one in capitals;
        under an allow list, one under allowed.test (allowed at its apex only)."""
        chunks = [os.urandom(15).hex() for _ in range(count)]
        names = [f"{c}.{i}.blocked.test" for i, c in enumerate(chunks)]
        names[1] = names[1].upper()
        if "allow_out" in policy:
            names[2] = f"{chunks[2]}.x.allowed.test"
        return chunks, names

    def test_names_not_allowed_never_reach_the_upstream_however_many(self):
        for policy in self.POLICIES:
            with self.subTest(policy=policy):
                sbx = self.sandbox(network=policy)
                gateway = self.net(sbx)["gateway"]
                chunks, names = self.data_names(64, policy)
                # Every third name asked as A, AAAA and ANY; the rest as A.
                udp = [dns_message(n, qtype).hex() for i, n in enumerate(names[:48])
                       for qtype in ((A, AAAA, ANY) if i % 3 == 0 else (A,))]
                tcp = [dns_message(n).hex() for n in names[48:]]
                before = self.refused(sbx)["dns"]
                with self.daemon_namespace_unchanged():
                    replies = self.attack(sbx, "dns", gateway, "udp", *udp, wait=ANSWER_WAIT_S)
                    replies += self.attack(sbx, "dns", gateway, "tcp", *tcp, wait=ANSWER_WAIT_S)
                self.assertEqual(len(replies), len(udp) + len(tcp))
                self.assertAttempts(replies, lambda _: "ok", "every query is answered")
                self.assertEqual({(r["rcode"], r["answers"]) for r in replies}, {(NXDOMAIN, 0)})
                asked = " ".join(upstream_names())
                self.assertEqual([c for c in chunks if c in asked], [],
                                 "data reached the upstream")
                self.assertEqual(self.refused(sbx)["dns"] - before, len(replies))
                # The control: a name the policy allows does reach the upstream.
                allowed = f"control-{random_name()}.ok.test"
                reply = control_query(self, sbx, gateway, dns_message(allowed).hex())
                self.assertTrue(reply["ok"], reply)
                self.assertIn(allowed, upstream_names(), reply)

    def test_other_types_classes_and_shapes_are_refused_and_never_forwarded(self):
        sbx = self.sandbox(network=self.POLICIES[0])
        gateway = self.net(sbx)["gateway"]
        data = f"{os.urandom(15).hex()}.blocked.test"
        queries = [(name, qtype, IN, REFUSED) for name in ("allowed.test", data)
                   for qtype in (TXT, MX, NULL, CNAME, SRV, PTR, SVCB, HTTPS, CAA)]
        queries += [("version.bind", TXT, CH, REFUSED), ("allowed.test", A, CH, REFUSED),
                    (data, ANY, IN, NXDOMAIN)]
        messages = [dns_message(name, qtype, qclass).hex() for name, qtype, qclass, _ in queries]
        # Two questions, the second one carrying data: not a query the stub reads.
        messages.append(dns_message("allowed.test", more=[(data, A)]).hex())
        expected = [rcode for *_, rcode in queries] + [FORMERR]
        asked_before = len(internet().dns.questions())
        for transport in ("udp", "tcp"):
            with self.subTest(transport=transport):
                replies = self.attack(sbx, "dns", gateway, transport, *messages,
                                      wait=ANSWER_WAIT_S)
                self.assertAttempts(replies, lambda _: "ok", "every query is answered")
                self.assertEqual([(r["rcode"], r["answers"]) for r in replies],
                                 [(rcode, 0) for rcode in expected])
        new = internet().dns.questions()[asked_before:]
        self.assertEqual([q for q in new if q[1] not in (A, AAAA) or "blocked" in q[0]], [],
                         "a refused question reached the upstream")
        # The controls: ANY for an allowed name carries addresses only; and the same messages,
        # sent straight to the fake upstream by a sandbox allowed to reach it, are questions it
        # reads (so the stub refused real queries, not garbage).
        reply = control_query(self, sbx, gateway, dns_message("allowed.test", ANY).hex())
        self.assertEqual((reply["rcode"], reply["answers"] > 0), (0, True), reply)
        direct = self.sandbox(network={"allow_out": [f"{DNS_ADDRESS}/32"]})
        replies = self.attack(direct, "dns", DNS_ADDRESS, "udp", *messages[:-1],
                              wait=ANSWER_WAIT_S)
        self.assertAttempts(replies, lambda _: "ok", "straight to the upstream")
        types = {(q[0], q[1]) for q in internet().dns.questions()}
        self.assertLessEqual({(name.lower(), qtype) for name, qtype, *_ in queries}, types)



if __name__ == "__main__":
    unittest.main()
