"""Sandboxes WITH internet access attacking the link they are given: a veth to the daemon's
namespace D, a default route, the inet seccomp variant (AF_INET and AF_INET6 allowed) and, for
namespace root, Docker's capability set, CAP_NET_RAW included. Here the attacks on the link and
the sandbox's own network stack: forged sources, link-layer sockets, its own addresses, routes
and sysctls, IPv6, forged redirects and router advertisements. test_network_on_neighbours.py has
what lies beyond (other sandboxes, D's addresses, the DNS stub).

Every attack is performed for real by tests/probes/inet_probe.py inside a sandbox of a real
declawd (network_support's world: D and a fake internet I), each with a control that shows the
probe works where nothing stops it, and each checked at the far end (what reached a listener)
and in D (DaemonNamespaceWatch: routes, links, sysctls and the firewall unchanged), besides the
host (HostWatch). Packets stay inside namespaces the test or the daemon made, with addresses in
198.18.0.0/15 (and documentation IPv6).
"""
import errno
import os
import socket
import unittest

from fake_internet import (DNS_ADDRESS, HOST_ADDRESS, HTTP_ADDRESS, HTTP_ADDRESS6,
                           OTHER_ADDRESS)
from netns import Netns, links
from network_on_support import (ANSWER_WAIT_S, UNUSED_POOL_ADDRESS, DaemonNamespaceWatch,
                                EchoRequestRecorder, InternetOnTestCase, TcpRecorder,
                                UdpRecorder, ip_json, run_in_netns, run_unfiltered_in,
                                set_up_module, tear_down_module)
from network_support import host, internet
from security_support import USERS, inet_filter_socket_errno, probe_attempts
from support import put_binary_probe, wait_for

SPOOF_PORT = 9901
V6_PORT = 8096
# A destination D routes through its default gateway in I (198.19.0.10), for the redirects.
ROUTED_TARGET = "198.19.5.5"
D_DEFAULT_GATEWAY = HTTP_ADDRESS
RA_PREFIX = "2001:db8:66"
SOCK_PACKET = 10


def setUpModule():
    set_up_module()


def tearDownModule():
    tear_down_module()


class SourceSpoofing(InternetOnTestCase):
    """Namespace root has CAP_NET_RAW: it can write whole IPv4 headers (IP_HDRINCL) and bind to
    addresses it does not have (IP_TRANSPARENT). Packets with any source but the sandbox's own
    must die in D."""

    def forged_sources(self, a, b):
        """Another sandbox, the own gateway and D's uplink address (D's own), a fake-internet
        host (the DNS server: a reflection victim), an unused pool address."""
        return [b["address"], a["gateway"], HOST_ADDRESS, DNS_ADDRESS, UNUSED_POOL_ADDRESS]

    def spoof(self, sbx, a, sources, recorders, label):
        """Forged and honest UDP (raw and transparent) and ICMP echo from SBX; the payloads that
        should arrive: the honest ones."""
        udp, icmp = recorders
        honest = a["address"]
        attempts = self.attack(sbx, "spoof-udp", OTHER_ADDRESS, str(SPOOF_PORT),
                               f"{label}-raw", honest, *sources)
        attempts += self.attack(sbx, "spoof-icmp", OTHER_ADDRESS, f"{label}-icmp", honest,
                                *sources)
        attempts += self.attack(sbx, "transparent", OTHER_ADDRESS, str(SPOOF_PORT),
                                f"{label}-transparent", honest, *sources)
        # The sandbox's sockets take every packet: CAP_NET_RAW is there, the refusal is D's.
        self.assertAttempts(attempts, lambda _: "ok", "sending as root")
        self.assertArrivedOnly(udp, [f"{label}-raw {honest}", f"{label}-transparent {honest}"],
                               "udp")
        self.assertArrivedOnly(icmp, [f"{label}-icmp {honest}"], "icmp")
        # Masqueraded: the internet sees D's address, never the sandbox's or a forged one.
        self.assertEqual({peer for peer, _ in udp.got + icmp.got}, {HOST_ADDRESS})

    def recorders(self):
        udp = UdpRecorder(internet().netns, OTHER_ADDRESS, SPOOF_PORT)
        self.addCleanup(udp.close)
        icmp = EchoRequestRecorder(internet().netns, self.token)
        self.addCleanup(icmp.close)
        return udp, icmp

    def test_forged_sources_never_reach_the_internet_and_the_honest_one_does(self):
        sbx, other = self.sandbox(), self.sandbox()
        a, b = self.net(sbx), self.net(other)
        recorders = self.recorders()
        with self.daemon_namespace_unchanged():
            self.spoof(sbx, a, self.forged_sources(a, b), recorders, self.token)
        # `user` has no CAP_NET_RAW: neither trick is open to it.
        attempts = self.attack(sbx, "spoof-udp", OTHER_ADDRESS, str(SPOOF_PORT), self.token,
                               b["address"], user="user")
        attempts += self.attack(sbx, "transparent", OTHER_ADDRESS, str(SPOOF_PORT), self.token,
                                b["address"], user="user")
        self.assertRefused(attempts, errno.EPERM, "spoofing as user")

    def test_without_reverse_path_filtering_the_firewall_still_drops_forged_sources(self):
        # The host end's strict rp_filter drops most forged sources before nftables sees them; a
        # host whose conf.all.rp_filter is 2 gets loose filtering (docs/network.md), which lets
        # through any source D has a route for. Here rp_filter is off on the host end: the
        # sandbox's anti-spoofing rule alone must drop them, and count them.
        sbx, other = self.sandbox(), self.sandbox()
        a, b = self.net(sbx), self.net(other)
        knob = f"net.ipv4.conf.{a['interface']}.rp_filter"
        self.assertEqual(host().run("sysctl", "-n", knob).stdout.strip(), "1")
        host().run("sysctl", "-qw", f"{knob}=0")
        self.addCleanup(host().run, "sysctl", "-qw", f"{knob}=1")
        self.assertEqual(host().run("sysctl", "-n", "net.ipv4.conf.all.rp_filter").stdout.strip(),
                         "0")
        recorders = self.recorders()
        # D's own addresses are martians whatever rp_filter says: the kernel drops them
        # uncounted. The rest reach the sandbox's forward chain.
        routable = [b["address"], DNS_ADDRESS, UNUSED_POOL_ADDRESS]
        before = self.refused(sbx)["firewall_packets"]
        with self.daemon_namespace_unchanged():
            self.spoof(sbx, a, self.forged_sources(a, b), recorders, self.token)
        self.assertGreaterEqual(self.refused(sbx)["firewall_packets"] - before,
                                3 * len(routable))


class SocketFamilies(InternetOnTestCase):
    """The inet seccomp variant adds AF_INET and AF_INET6 to AF_UNIX and NETLINK_ROUTE, nothing
    else: no link-layer access, whatever the capabilities."""

    expected_socket_errno = staticmethod(inet_filter_socket_errno)

    def test_only_unix_netlink_route_inet_and_inet6_sockets_can_be_made(self):
        sbx = self.sandbox()
        probe = put_binary_probe(self.api, sbx, "probe_sockets")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.api.run(sbx, probe, user=user, timeout=120))
                self.assertEqual(len(attempts), 46 * 4 * 3 + 32 * 3 + 46 * 3)
                self.assertRefused(attempts, self.expected_socket_errno, f"sockets as {user}")
                # The control: the families let through do make sockets.
                made = {(a["attempt"], a["family"], a["type"]) for a in attempts if a["ret"] >= 0}
                self.assertLessEqual({("socket", socket.AF_INET, socket.SOCK_STREAM),
                                      ("socket", socket.AF_INET6, socket.SOCK_DGRAM),
                                      ("socket", socket.AF_NETLINK, socket.SOCK_RAW)}, made)

    @staticmethod
    def expected_packet_errno(attempt):
        # AF_INET6 has no SOCK_PACKET (the kernel's EINVAL, never a packet socket); the rest are
        # ways to a packet socket, which the filter refuses. A "send frame" attempt exists only
        # when a socket was made, and is then reported as what should not have happened.
        if attempt["attempt"] == "socket" and attempt["family"] == socket.AF_INET6:
            return errno.EINVAL
        return errno.EACCES

    def test_control_the_packet_probe_makes_sockets_and_sends_frames_unfiltered(self):
        # The same probe, run by the host in a namespace it made with an eth0, without a filter.
        scratch = Netns()
        self.addCleanup(scratch.close)
        scratch.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
        scratch.run("ip", "link", "set", "eth0", "up")
        scratch.run("ip", "link", "set", "peer0", "up")
        attempts = run_unfiltered_in(scratch.path, "packet-sockets")
        made = {(a["name"], a["type"]) for a in attempts if a["attempt"] == "send frame"
                and a["ok"]}
        self.assertEqual(made, {("AF_PACKET", socket.SOCK_RAW), ("AF_PACKET", socket.SOCK_DGRAM),
                                ("AF_PACKET", SOCK_PACKET), ("AF_INET", SOCK_PACKET)}, attempts)

    def test_no_packet_socket_can_be_made_not_even_as_af_inet_sock_packet(self):
        # socket(AF_INET, SOCK_PACKET, ...) is turned into AF_PACKET by the kernel
        # (net/socket.c, __sock_create): a filter that looks at the family alone lets it through
        # to packet_create(), which needs only CAP_NET_RAW, and root has it. `user` would get
        # EPERM from that capability check; the filter must refuse it before, for both.
        sbx = self.sandbox()
        for user in USERS:
            with self.subTest(user=user):
                attempts = self.attack(sbx, "packet-sockets", user=user)
                self.assertRefused(attempts, self.expected_packet_errno,
                                   f"packet sockets as {user}")


class OwnNetworkConfig(InternetOnTestCase):
    """Namespace root has no CAP_NET_ADMIN over its network namespace and /proc/sys is
    read-only: its address, routes, link and sysctls stay as the daemon made them. An address
    added anyway (here by the host, as if root could) would not help: D drops its packets."""

    def own_view(self, sbx):
        out = self.api.run(sbx, "ip -j addr; echo; ip -j route; echo; ip -j -6 route")["stdout"]
        return [line for line in out.splitlines() if line.strip()]

    @staticmethod
    def changes(a, b):
        """Shell commands that change a sandbox's network, each with the error text expected
        inside: ip(8) gets EPERM from rtnetlink, writes to /proc/sys get EROFS. In an order
        that works where they are allowed (the control)."""
        eperm, erofs = os.strerror(errno.EPERM), os.strerror(errno.EROFS)
        return [
            (f"ip addr add {b['address']}/30 dev eth0", eperm),
            (f"ip addr add {UNUSED_POOL_ADDRESS}/32 dev eth0", eperm),
            ("ip -6 addr add 2001:db8:19::99/64 dev eth0 nodad", eperm),
            ("ip route add 198.19.0.0/24 dev eth0", eperm),
            (f"ip route change default via {a['gateway']} dev eth0 mtu 1280", eperm),
            (f"ip neigh replace {a['gateway']} lladdr 02:00:00:00:00:42 dev eth0", eperm),
            ("ip link set eth0 address 02:00:00:00:00:43", eperm),
            ("ip link set eth0 mtu 1280", eperm),
            ("ip link add veth-x type veth peer name veth-y", eperm),
            ("ip route del default", eperm),
            (f"ip addr del {a['address']}/30 dev eth0", eperm),
            ("ip link set eth0 down", eperm),
            ("echo 1 > /proc/sys/net/ipv4/ip_forward", erofs),
            ("echo 0 > /proc/sys/net/ipv4/conf/eth0/rp_filter", erofs),
            ("echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6", erofs),
            ("echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range", erofs),
        ]

    def test_control_the_changes_work_where_they_are_allowed(self):
        # A namespace made here with an eth0 set up as a sandbox's is; the host's root, with
        # CAP_NET_ADMIN and its own writable /proc/sys, runs the same commands there.
        a = {"address": "198.18.0.2", "gateway": "198.18.0.1"}
        scratch = Netns()
        self.addCleanup(scratch.close)
        scratch.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
        scratch.run("ip", "addr", "add", f"{a['address']}/30", "dev", "eth0")
        scratch.run("ip", "link", "set", "peer0", "up")
        scratch.run("ip", "link", "set", "eth0", "up")
        scratch.run("ip", "route", "add", "default", "via", a["gateway"])
        for cmd, _ in self.changes(a, {"address": "198.18.0.6"}):
            with self.subTest(cmd=cmd):
                res = run_in_netns(scratch.path, "bash", "-c", cmd, check=False)
                self.assertEqual(res.returncode, 0, res)

    def test_root_cannot_change_its_addresses_routes_link_or_sysctls(self):
        sbx, other = self.sandbox(), self.sandbox()
        a, b = self.net(sbx), self.net(other)
        before = self.own_view(sbx)
        self.assertIn(f'"local":"{a["address"]}"', "".join(before))
        with self.daemon_namespace_unchanged():
            for cmd, why in self.changes(a, b):
                with self.subTest(cmd=cmd):
                    res = self.api.run(sbx, cmd, user="root")
                    self.assertNotEqual(res["exit_code"], 0, res)
                    self.assertIn(why, res["stderr"], res)
        self.assertEqual(self.own_view(sbx), before)

    def test_packets_from_an_address_added_anyway_are_dropped(self):
        sbx, other = self.sandbox(), self.sandbox()
        a, b = self.net(sbx), self.net(other)
        added = [b["address"], UNUSED_POOL_ADDRESS]
        for address in added:
            run_in_netns(self.sandbox_netns(sbx), "ip", "addr", "add", f"{address}/32", "dev",
                         "eth0")
        udp = UdpRecorder(internet().netns, OTHER_ADDRESS, SPOOF_PORT)
        self.addCleanup(udp.close)
        with self.daemon_namespace_unchanged():
            # A plain bound socket: `user` can do this with an address its namespace has.
            attempts = self.attack(sbx, "bound-udp", OTHER_ADDRESS, str(SPOOF_PORT), self.token,
                                   a["address"], *added, user="user")
            self.assertAttempts(attempts, lambda _: "ok", "sending from added addresses")
            self.assertArrivedOnly(udp, [f"{self.token} {a['address']}"], "udp")


class Ipv6WithoutPool(InternetOnTestCase):
    """The pool has no IPv6 prefix: AF_INET6 sockets can be made (seccomp allows the family),
    but IPv6 is off on both ends of the veth, so nothing leaves, not even to a link-local
    address of the host end."""

    def test_inet6_sockets_are_made_but_no_ipv6_packet_leaves(self):
        listener = TcpRecorder(internet().netns, HTTP_ADDRESS6, V6_PORT, socket.AF_INET6)
        self.addCleanup(listener.close)
        # The control: the probe reaches the listener over IPv6 from D, which has an IPv6 route.
        control = run_unfiltered_in(host().path, "tcp", HTTP_ADDRESS6, str(V6_PORT))
        self.assertTrue(control[-1]["ok"], control)
        self.assertTrue(wait_for(lambda: listener.got, timeout=ANSWER_WAIT_S),
                        f"the control's connection never reached the listener: {listener!r}")
        sbx = self.sandbox()
        interface = self.net(sbx)["interface"]
        self.assertEqual([a for a in links(host())[interface]["addr_info"]
                          if a["family"] == "inet6"], [], "the host end has an IPv6 address")
        with self.daemon_namespace_unchanged():
            for user in USERS:
                with self.subTest(user=user):
                    # Inside, too, an AF_INET6 socket works: a v4-mapped address is IPv4.
                    self.assertTrue(self.attack(sbx, "tcp", f"::ffff:{HTTP_ADDRESS}", "80",
                                                user=user)[-1]["ok"])
                    attempts = self.attack(sbx, "tcp", HTTP_ADDRESS6, str(V6_PORT), user=user)
                    attempts += self.attack(sbx, "tcp", "fe80::1%eth0", str(V6_PORT), user=user)
                    attempts += self.attack(sbx, "udp", HTTP_ADDRESS6, "7", b"v6".hex(),
                                            user=user)
                    self.assertAttempts(attempts, lambda a: "ok" if a["attempt"] == "socket"
                                        else "ENETUNREACH", f"IPv6 as {user}")
        self.assertEqual(len(listener.got), 1, listener.got)
        inside = self.api.run(sbx, "cat /proc/net/if_inet6")["stdout"]
        self.assertEqual([line.split()[-1] for line in inside.splitlines()], ["lo"])


class RouteForgery(InternetOnTestCase):
    """ICMP redirects and IPv6 router advertisements forged by namespace root (CAP_NET_RAW) do
    not change D's routes: the input chain drops whatever is not DNS to the own gateway,
    rp_filter drops forged sources, accept_redirects is 0 on the host end (and D forwards, so it
    takes no redirects anyway), and IPv6 is off on both ends."""

    def test_control_the_forged_redirect_and_advertisement_change_a_willing_hosts_routes(self):
        # A receiver R that takes redirects and advertisements (not forwarding, accept_*=1) and a
        # sender S on one link, both made here; the probe runs in S without any filter.
        receiver, sender = Netns(), Netns()
        self.addCleanup(receiver.close)
        self.addCleanup(sender.close)
        receiver.run("ip", "link", "add", "vr", "type", "veth", "peer", "name", "vs", "netns",
                     str(sender.pid))
        for netns, link in ((receiver, "vr"), (sender, "vs")):
            netns.run("sysctl", "-qw", f"net.ipv6.conf.{link}.accept_dad=0")
        receiver.run("sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=1",
                     "net.ipv4.conf.vr.accept_redirects=1", "net.ipv6.conf.vr.accept_ra=1")
        receiver.run("ip", "addr", "add", "198.18.250.1/24", "dev", "vr")
        sender.run("ip", "addr", "add", "198.18.250.2/24", "dev", "vs")
        sender.run("ip", "addr", "add", "198.18.250.3/24", "dev", "vs")
        receiver.run("ip", "link", "set", "vr", "up")
        sender.run("ip", "link", "set", "vs", "up")
        receiver.run("ip", "route", "add", "198.19.250.0/24", "via", "198.18.250.3")
        # A redirect is taken only towards a gateway whose neighbour entry is valid.
        mac = links(sender)["vs"]["address"]
        receiver.run("ip", "neigh", "replace", "198.18.250.2", "lladdr", mac, "dev", "vr",
                     "nud", "permanent")
        self.assertTrue(wait_for(lambda: any(a["family"] == "inet6" for a in
                                             links(sender)["vs"]["addr_info"])))
        watch = DaemonNamespaceWatch(receiver, destinations=("198.19.250.9",))
        attempts = run_unfiltered_in(sender.path, "redirect", "198.18.250.3", "198.18.250.1",
                                     "198.19.250.9", "198.18.250.2")
        attempts += run_unfiltered_in(sender.path, "ra", "vs", RA_PREFIX)
        self.assertAttempts(attempts, lambda _: "ok", "the forgeries sent")
        self.assertTrue(wait_for(lambda: '"gateway":"198.18.250.2"' in
                                 receiver.run("ip", "-j", "route", "get", "198.19.250.9").stdout),
                        "the redirect was not taken")
        self.assertTrue(wait_for(lambda: "default" in str(ip_json(receiver, "-6", "route"))),
                        "the advertisement gave no default route")
        self.assertIn(f"{RA_PREFIX}::/64", str(ip_json(receiver, "-6", "route")))
        # And the watch that guards D sees both.
        with self.assertRaisesRegex(AssertionError, "the daemon's namespace changed"):
            watch.check(self)
        after = watch.state()
        self.assertNotEqual(after["routes6"], watch.before["routes6"])
        self.assertNotEqual(after["route to"], watch.before["route to"])

    def test_forged_redirects_and_advertisements_leave_the_daemons_routes_alone(self):
        sbx = self.sandbox()
        a = self.net(sbx)
        # Traffic first, so D holds valid neighbour entries for the new gateways offered.
        self.assertTrue(self.attack(sbx, "ping", OTHER_ADDRESS, wait=ANSWER_WAIT_S)[0]["ok"])
        before = self.refused(sbx)["firewall_packets"]
        with self.daemon_namespace_unchanged(destinations=(ROUTED_TARGET, OTHER_ADDRESS)):
            attempts = []
            for source in (D_DEFAULT_GATEWAY, a["address"]):
                for dest in (a["gateway"], HOST_ADDRESS):
                    for gateway in (a["address"], OTHER_ADDRESS):
                        attempts += self.attack(sbx, "redirect", source, dest, ROUTED_TARGET,
                                                gateway)
            self.assertAttempts(attempts, lambda _: "ok", "redirects sent")
            (ra,) = self.attack(sbx, "ra", "eth0", RA_PREFIX)
            self.assertEqual(ra["error"], "ENETUNREACH", ra)
            # The layers in D alone: IPv6 turned on inside by the host, and the advertisement
            # sent without the filter. The host end has IPv6 off: nothing listens.
            netns = self.sandbox_netns(sbx)
            run_in_netns(netns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0",
                         "net.ipv6.conf.eth0.disable_ipv6=0")
            self.assertTrue(wait_for(lambda: "eth0" in run_in_netns(
                netns, "cat", "/proc/net/if_inet6").stdout))
            attempts = run_unfiltered_in(netns, "ra", "eth0", RA_PREFIX)
            self.assertAttempts(attempts, lambda _: "ok", "advertisement sent unfiltered")
        # Honest-source redirects reach D's input chain, which refuses them.
        self.assertGreater(self.refused(sbx)["firewall_packets"], before)


if __name__ == "__main__":
    unittest.main()
