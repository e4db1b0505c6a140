"""Sandbox networking end to end (issue 5): a real declawd, in a network namespace this test makes,
gives real sandboxes internet access through NAT and enforces their egress policy against a fake
internet (network_support.py): IPs and CIDRs in nftables, names in the DNS stub and the egress
proxy, the always-denied ranges whatever a sandbox asks, live policy changes, refusal counters,
and nothing left behind on kill or stop.
"""
import ipaddress
import os
import signal
import unittest

from fake_internet import (A, DNS_ADDRESS, ECHO_ADDRESS, HOST_ADDRESS, HTTP_ADDRESS,
                           METADATA_ADDRESS, NXDOMAIN, OTHER_ADDRESS, REFUSED, SPARE_ADDRESSES,
                           TCP_ECHO_PORT, TXT, UDP_ECHO_PORT)
from harness import Daemon
from netns import Netns, declaw_leftovers, links, nft_table
from network_support import (DAEMON_CONFIG, POOL, REFUSAL_WAIT_S, UNREACHABLE, Listener,
                             NetworkTestCase, greeting_from, host, internet, key_of,
                             sandbox_objects, set_up_world, tear_down_world)
from support import json_lines, wait_for

ALLOWED_BODY = f"hello from {HTTP_ADDRESS} host=allowed.test\n"


def setUpModule():
    set_up_world()


def tearDownModule():
    tear_down_world()


class InternetAccess(NetworkTestCase):
    """allow_internet_access=true without a policy: the whole (fake) internet, through NAT."""

    def test_health_says_networking_is_up_with_the_configured_pool_and_upstream(self):
        health = self.api.request("GET", "/v1/health").json()
        self.assertTrue(health["features"]["internet_access"], health)
        self.assertEqual(health["network"]["pool"], POOL)
        self.assertEqual(health["network"]["dns_upstream"], [f"{DNS_ADDRESS}:53"])

    def test_a_sandbox_reaches_the_fake_internet_by_address_and_by_name(self):
        sbx = self.sandbox()
        self.assertServed(self.http(sbx, HTTP_ADDRESS, "allowed.test"), ALLOWED_BODY)
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)
        # The certificate verifies: nothing between the sandbox and the server re-signs TLS.
        self.assertServed(self.https(sbx, "allowed.test"), "tls hello sni=allowed.test\n")
        self.assertEchoed(self.udp(sbx, ECHO_ADDRESS, UDP_ECHO_PORT))
        self.assertEchoed(self.tcp(sbx, "echo.test", TCP_ECHO_PORT))
        for user in ("user", "root"):
            with self.subTest(user=user):
                self.assertServed(self.http(sbx, "a.example.test", user=user))

    def test_the_server_sees_the_daemons_host_address_not_the_sandboxs(self):
        sbx = self.sandbox()
        listener = Listener(internet().netns, OTHER_ADDRESS, 8080)
        self.addCleanup(listener.close)
        self.assertTrue(self.tcp(sbx, OTHER_ADDRESS, 8080)["ok"])
        self.assertEqual(listener.peers, [HOST_ADDRESS])

    def test_the_sandbox_has_an_address_from_the_pool_and_a_default_route_via_its_gateway(self):
        sbx = self.sandbox()
        net = self.info(sbx)["network"]
        address, gateway = ipaddress.ip_address(net["address"]), ipaddress.ip_address(
            net["gateway"])
        slot = ipaddress.ip_network(f"{address}/30", strict=False)
        self.assertTrue(slot.subnet_of(ipaddress.ip_network(POOL)), net)
        self.assertIn(gateway, slot)
        self.assertNotEqual(address, gateway)
        self.assertIsNone(net["address6"])
        for user in ("user", "root"):
            with self.subTest(user=user):
                routes = self.api.run(sbx, "ip route show", user=user)
                self.assertIn(f"default via {gateway} dev eth0", routes["stdout"], routes)
        resolv = self.api.run(sbx, "cat /etc/resolv.conf")["stdout"]
        self.assertIn(f"nameserver {gateway}", resolv)
        # The pool has no IPv6 prefix: IPv6 is off inside (lo keeps ::1, eth0 has nothing).
        self.assertNotIn("eth0", self.api.run(sbx, "cat /proc/net/if_inet6")["stdout"])

    def test_sandboxes_get_distinct_addresses_and_links(self):
        nets = [self.info(self.sandbox())["network"] for _ in range(4)]
        self.assertEqual(len({n["address"] for n in nets}), 4, nets)
        self.assertEqual(len({n["interface"] for n in nets}), 4, nets)
        present = links(host())
        for net in nets:
            self.assertIn(net["interface"], present)

    def test_the_host_end_and_the_nft_objects_vanish_on_kill(self):
        sbx = self.sandbox()
        net = self.info(sbx)["network"]
        self.assertEqual(net["interface"], f"dcw{key_of(sbx)}")
        link = links(host()).get(net["interface"])
        self.assertIsNotNone(link, "the host end is missing")
        self.assertIn(net["gateway"], [a["local"] for a in link["addr_info"]])
        self.assertNotEqual(sandbox_objects(nft_table(host()), sbx), [])
        self.assertEqual(self.api.kill(sbx).status, 204)
        self.assertNotIn(net["interface"], links(host()))
        addresses = [a["local"] for l in links(host()).values() for a in l.get("addr_info", [])]
        self.assertNotIn(net["gateway"], addresses)
        self.assertEqual(sandbox_objects(nft_table(host()), sbx), [])

    def test_net_metrics_count_the_bytes_of_a_download(self):
        sbx = self.sandbox()
        before = self.metrics(sbx)
        result = self.http(sbx, "allowed.test", path="/big", wait=30)
        self.assertServed(result)
        self.assertEqual(result["length"], 8 * 1024 * 1024)
        after = self.metrics(sbx)
        self.assertGreaterEqual(after["net_rx_bytes"] - before["net_rx_bytes"], 8 * 1024 * 1024)
        self.assertGreater(after["net_tx_bytes"], before["net_tx_bytes"])

    def test_a_sandbox_without_internet_has_no_link_and_cannot_be_given_one(self):
        before = set(links(host()))
        sbx = self.sandbox(internet_access=False)
        net = self.network(sbx)
        self.assertFalse(net["allow_internet_access"])
        self.assertEqual((net["interface"], net["address"]), (None, None))
        self.assertEqual(set(links(host())), before)
        self.assertEqual((self.metrics(sbx)["net_rx_bytes"], self.metrics(sbx)["net_tx_bytes"]),
                         (None, None))
        r = self.patch_network(sbx, allow_internet_access=True)
        self.assertEqual(r.status, 409, r)
        self.assertFalse(self.network(sbx)["allow_internet_access"])

    def test_a_policy_with_internet_off_is_kept_but_denies_everything(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]}, internet_access=False)
        net = self.network(sbx)
        self.assertFalse(net["allow_internet_access"])
        self.assertEqual(net["allow_out"], ["allowed.test"])
        self.assertIsNone(net["interface"])
        self.assertFalse(self.http(sbx, HTTP_ADDRESS, "allowed.test", wait=REFUSAL_WAIT_S)["ok"])


class AlwaysDenied(NetworkTestCase):
    """The host's addresses, other sandboxes and cloud metadata, even for ALL_TRAFFIC or a CIDR
    that names them."""

    def test_a_listener_on_the_host_is_unreachable(self):
        on_uplink = Listener(host(), HOST_ADDRESS, 8088)
        self.addCleanup(on_uplink.close)
        everywhere = Listener(host(), "0.0.0.0", 8089)
        self.addCleanup(everywhere.close)
        # The control: from the internet side both answer.
        self.assertIsNotNone(greeting_from(internet().netns, HOST_ADDRESS, 8088))
        self.assertIsNotNone(greeting_from(internet().netns, HOST_ADDRESS, 8089))
        controls = len(on_uplink.peers + everywhere.peers)
        for policy in ({"allow_out": ["ALL_TRAFFIC"]},
                       {"allow_out": ["allowed.test", f"{HOST_ADDRESS}/32"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox_asking_for(policy)
                if sbx is None:
                    continue
                gateway = self.info(sbx)["network"]["gateway"]
                before = self.refused(sbx)["firewall_packets"]
                self.assertUnreachable(self.tcp, sbx, HOST_ADDRESS, 8088)
                self.assertUnreachable(self.tcp, sbx, HOST_ADDRESS, 8089)
                self.assertUnreachable(self.tcp, sbx, gateway, 8089)
                self.assertGreater(self.refused(sbx)["firewall_packets"], before)
                # ... but the DNS stub on the gateway answers.
                self.assertEqual(self.dns(sbx, gateway, "allowed.test")["rcode"], 0)
        self.assertEqual(len(on_uplink.peers + everywhere.peers), controls)

    def test_another_sandboxs_address_is_unreachable(self):
        target = self.sandbox()
        address = self.info(target)["network"]["address"]
        self.start_probe(target, "serve", "8000")
        # The control: the server answers inside its own sandbox.
        self.assertTrue(wait_for(lambda: self.tcp(target, address, 8000)["ok"]))
        for policy in ({"allow_out": ["ALL_TRAFFIC"]}, {"allow_out": [f"{address}/32"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox_asking_for(policy)
                if sbx is None:
                    continue
                self.assertUnreachable(self.tcp, sbx, address, 8000)

    def test_the_cloud_metadata_address_is_unreachable(self):
        # The control: the fake internet answers on 169.254.169.254, from the daemon's namespace.
        control = host().run("curl", "-sS", "--max-time", "5", f"http://{METADATA_ADDRESS}/")
        self.assertIn(f"hello from {METADATA_ADDRESS}", control.stdout)
        for policy in ({"allow_out": ["ALL_TRAFFIC"]}, {"allow_out": ["169.254.0.0/16"]},
                       {"allow_out": [METADATA_ADDRESS]}, {"allow_out": ["allowed.test"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox_asking_for(policy)
                if sbx is None:
                    continue
                for user in ("user", "root"):
                    result = self.http(sbx, METADATA_ADDRESS, user=user, wait=REFUSAL_WAIT_S)
                    if result["ok"]:  # redirected to the proxy, which refuses the address
                        self.assertEqual(result["status"], 403, result)
                    else:
                        self.assertIn(result["error"], UNREACHABLE, result)
                    self.assertUnreachable(self.tcp, sbx, METADATA_ADDRESS, 80, user=user)

    def test_a_name_that_resolves_to_the_metadata_address_gets_nothing(self):
        sbx = self.sandbox(network={"allow_out": ["meta.test"]})
        self.assertNameUnknown(self.resolve(sbx, "meta.test"))
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "meta.test"), "meta.test")


class DomainPolicy(NetworkTestCase):
    """allow_out with names: deny by default, the proxy judges Host and SNI, the stub answers only
    allowed names."""

    def test_http_and_https_to_an_allowed_name_work(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        for user in ("user", "root"):
            with self.subTest(user=user):
                self.assertServed(self.http(sbx, "allowed.test", user=user), ALLOWED_BODY)
                self.assertServed(self.https(sbx, "allowed.test", user=user),
                                  "tls hello sni=allowed.test\n")

    def test_a_name_not_allowed_does_not_resolve_and_is_not_reached(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        self.assertNameUnknown(self.resolve(sbx, "blocked.test"))
        self.assertNameUnknown(self.http(sbx, "blocked.test"))
        self.assertNameUnknown(self.https(sbx, "blocked.test"))

    def test_the_allowed_address_with_host_or_sni_blocked_test_is_refused(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        before = self.refused(sbx)["proxy"]
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "blocked.test"), "blocked.test")
        self.assertRefusedByProxy(self.https(sbx, HTTP_ADDRESS, "blocked.test", verify=False),
                                  "blocked.test")
        self.assertEqual(self.refused(sbx)["proxy"], before + 2)
        log = self.daemon.read_log()
        self.assertTrue(any(sbx in line and "blocked.test" in line for line in log.splitlines()),
                        "the refusal is not logged with the sandbox id")

    def test_an_etc_hosts_entry_for_blocked_test_does_not_help(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        res = self.api.run(sbx, f"echo '{HTTP_ADDRESS} blocked.test' >> /etc/hosts", user="root")
        self.assertEqual(res["exit_code"], 0, res)
        for user in ("user", "root"):
            with self.subTest(user=user):
                # The entry works inside...
                self.assertEqual(self.resolve(sbx, "blocked.test", user=user)["addresses"],
                                 [HTTP_ADDRESS])
                # ... and changes nothing outside.
                self.assertRefusedByProxy(self.http(sbx, "blocked.test", user=user),
                                          "blocked.test")
                self.assertRefusedByProxy(self.https(sbx, "blocked.test", verify=False,
                                                     user=user), "blocked.test")

    def test_an_etc_hosts_entry_for_an_allowed_name_does_not_redirect_it(self):
        # /etc/hosts sends allowed.test to another address; the proxy resolves the name itself.
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        res = self.api.run(sbx, f"echo '{OTHER_ADDRESS} allowed.test' >> /etc/hosts", user="root")
        self.assertEqual(res["exit_code"], 0, res)
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)

    def test_a_wildcard_allows_subdomains_but_not_the_apex(self):
        sbx = self.sandbox(network={"allow_out": ["*.example.test"]})
        self.assertServed(self.http(sbx, "a.example.test"))
        self.assertServed(self.https(sbx, "a.example.test"), "tls hello sni=a.example.test\n")
        self.assertNameUnknown(self.resolve(sbx, "example.test"))
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "example.test"), "example.test")
        self.assertRefusedByProxy(self.https(sbx, HTTP_ADDRESS, "example.test", verify=False),
                                  "example.test")

    def test_allow_wins_over_deny(self):
        sbx = self.sandbox(network={
            "allow_out": ["allowed.test", f"{ECHO_ADDRESS}/32"],
            "deny_out": ["allowed.test", f"{ECHO_ADDRESS}/32", "198.19.0.0/24"]})
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)
        self.assertEchoed(self.udp(sbx, ECHO_ADDRESS, UDP_ECHO_PORT))
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "blocked.test"), "blocked.test")

    def test_deny_out_alone_blocks_a_name_and_leaves_the_rest_open(self):
        sbx = self.sandbox(network={"deny_out": ["blocked.test"]})
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)
        self.assertNameUnknown(self.resolve(sbx, "blocked.test"))
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "blocked.test"), "blocked.test")
        self.assertEchoed(self.udp(sbx, ECHO_ADDRESS, UDP_ECHO_PORT))

    def test_a_cidr_allow_opens_ports_the_proxy_does_not_handle_and_only_there(self):
        sbx = self.sandbox(network={"allow_out": [f"{ECHO_ADDRESS}/32"]})
        self.assertEchoed(self.udp(sbx, ECHO_ADDRESS, UDP_ECHO_PORT))
        self.assertEchoed(self.tcp(sbx, ECHO_ADDRESS, TCP_ECHO_PORT))
        other = self.sandbox(network={"allow_out": ["198.19.0.10/31"]})  # .10 and .11
        before = self.refused(other)["firewall_packets"]
        self.assertUnreachable(self.udp, other, ECHO_ADDRESS, UDP_ECHO_PORT)
        self.assertUnreachable(self.tcp, other, ECHO_ADDRESS, TCP_ECHO_PORT)
        self.assertGreater(self.refused(other)["firewall_packets"], before)
        # A listing runs no nft command per sandbox: it shows the count as last read (by the
        # GET above, or the metrics sampler), never a fresher one than a GET after it.
        listing = self.api.request("GET", "/v1/sandboxes").json()["sandboxes"]
        [listed] = [s for s in listing if s["sandbox_id"] == other]
        self.assertGreater(listed["network"]["refused"]["firewall_packets"], before)
        self.assertLessEqual(listed["network"]["refused"]["firewall_packets"],
                             self.refused(other)["firewall_packets"])

    def test_other_ports_to_an_allowed_name_open_only_once_the_stub_answered_for_it(self):
        sbx = self.sandbox(network={"allow_out": ["echo.test"]})
        self.assertUnreachable(self.tcp, sbx, ECHO_ADDRESS, TCP_ECHO_PORT)
        self.assertEqual(self.resolve(sbx, "echo.test")["addresses"], [ECHO_ADDRESS])
        self.assertEchoed(self.tcp(sbx, ECHO_ADDRESS, TCP_ECHO_PORT))
        self.assertEchoed(self.udp(sbx, "echo.test", UDP_ECHO_PORT))
        # Another address on the same network stays closed.
        self.assertUnreachable(self.tcp, sbx, OTHER_ADDRESS, TCP_ECHO_PORT)


class Dns(NetworkTestCase):
    """The stub answers only allowed names; the upstream is not reachable around it."""

    def test_a_name_not_allowed_gets_no_data_and_never_reaches_the_upstream(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        gateway = self.info(sbx)["network"]["gateway"]
        asked_before = len(internet().dns.questions())
        refused_before = self.refused(sbx)["dns"]
        exfil = "c2VjcmV0LWRhdGE.exfil.test"
        for name, qtype, over_tcp in (("blocked.test", A, False), (exfil, A, False),
                                      (exfil, A, True), ("allowed.test", TXT, False)):
            with self.subTest(name=name, qtype=qtype, over_tcp=over_tcp):
                answer = self.dns(sbx, gateway, name, qtype, over_tcp=over_tcp)
                self.assertIn(answer["rcode"], (NXDOMAIN, REFUSED), answer)
                self.assertEqual(answer["answers"], [])
        asked = [q[0] for q in internet().dns.questions()[asked_before:]]
        self.assertNotIn("blocked.test", asked)
        self.assertNotIn(exfil, asked)
        self.assertNotIn(("allowed.test", TXT), [q[:2] for q in
                                                 internet().dns.questions()[asked_before:]])
        self.assertEqual(self.refused(sbx)["dns"], refused_before + 4)
        # The control: an allowed name is answered, by way of the upstream.
        answer = self.dns(sbx, gateway, "allowed.test")
        self.assertEqual([a[2] for a in answer["answers"]], [HTTP_ADDRESS])

    def test_a_direct_query_to_the_upstream_is_blocked_unless_its_address_is_allowed(self):
        closed = self.sandbox(network={"allow_out": ["allowed.test"]})
        everything = self.sandbox(network={"allow_out": ["allowed.test", "198.19.0.0/24"]})
        opened = self.sandbox(network={"allow_out": ["allowed.test", f"{DNS_ADDRESS}/32"]})
        for over_tcp in (False, True):
            with self.subTest(over_tcp=over_tcp):
                name = f"direct-{os.urandom(4).hex()}-{int(over_tcp)}.test"
                self.assertIsNone(self.dns(closed, DNS_ADDRESS, name, over_tcp=over_tcp,
                                           wait=REFUSAL_WAIT_S))
                self.assertNotIn(name, [q[0] for q in internet().dns.questions()])
                for sbx in (everything, opened):
                    answer = self.dns(sbx, DNS_ADDRESS, name, over_tcp=over_tcp)
                    self.assertEqual(answer["rcode"], NXDOMAIN, answer)  # the fake's own answer
                self.assertIn(name, [q[0] for q in internet().dns.questions()])


class LivePolicy(NetworkTestCase):
    """PATCH /v1/sandboxes/{id}/network applies to new connections and queries at once."""

    def test_a_patch_takes_effect_for_new_connections(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        self.assertNameUnknown(self.resolve(sbx, "blocked.test"))
        self.assertUnreachable(self.udp, sbx, ECHO_ADDRESS, UDP_ECHO_PORT)
        body = self.set_network(sbx, allow_out=["allowed.test", "blocked.test",
                                                f"{ECHO_ADDRESS}/32"])
        self.assertEqual(body, self.network(sbx))
        # Entries come back canonical: a /32 is its address.
        self.assertEqual(body["allow_out"], ["allowed.test", "blocked.test", ECHO_ADDRESS])
        self.assertEqual(self.resolve(sbx, "blocked.test")["addresses"], [HTTP_ADDRESS])
        self.assertServed(self.http(sbx, "blocked.test"))
        self.assertServed(self.http(sbx, HTTP_ADDRESS, "blocked.test"))
        self.assertEchoed(self.udp(sbx, ECHO_ADDRESS, UDP_ECHO_PORT))
        self.set_network(sbx, allow_out=["allowed.test"])
        self.assertRefusedByProxy(self.http(sbx, HTTP_ADDRESS, "blocked.test"), "blocked.test")
        self.assertUnreachable(self.udp, sbx, ECHO_ADDRESS, UDP_ECHO_PORT)
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)

    def test_removing_a_name_closes_the_addresses_the_stub_answered_for_it(self):
        sbx = self.sandbox(network={"allow_out": ["echo.test", "allowed.test"]})
        self.assertEqual(self.resolve(sbx, "echo.test")["addresses"], [ECHO_ADDRESS])
        self.assertEchoed(self.tcp(sbx, ECHO_ADDRESS, TCP_ECHO_PORT))
        self.set_network(sbx, allow_out=["allowed.test"])
        self.assertUnreachable(self.tcp, sbx, ECHO_ADDRESS, TCP_ECHO_PORT)
        self.assertNameUnknown(self.resolve(sbx, "echo.test"))

    def test_an_established_connection_keeps_going_when_its_address_is_removed(self):
        sbx = self.sandbox(network={"allow_out": [f"{ECHO_ADDRESS}/32"]})
        out, trigger = "/tmp/hold.json", "/tmp/hold.go"
        self.start_probe(sbx, "hold", ECHO_ADDRESS, str(TCP_ECHO_PORT), trigger, stdout=out)

        def steps():
            return json_lines(self.api.run(sbx, f"cat {out}"))

        self.assertTrue(wait_for(lambda: len(steps()) >= 1), steps())
        self.assertEqual(steps()[0], {"op": "hold", "ok": True, "step": "first",
                                      "reply": "first"})
        self.set_network(sbx, allow_out=["allowed.test"])
        self.assertUnreachable(self.tcp, sbx, ECHO_ADDRESS, TCP_ECHO_PORT)
        self.api.run(sbx, f"touch {trigger}")
        self.assertTrue(wait_for(lambda: len(steps()) >= 2), steps())
        self.assertEqual(steps()[1], {"op": "hold", "ok": True, "step": "second",
                                      "reply": "second"})

    def test_a_patch_keeps_the_parts_it_does_not_name(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"], "deny_out": ["blocked.test"]})
        body = self.set_network(sbx, deny_out=[])
        self.assertEqual((body["allow_out"], body["deny_out"]), (["allowed.test"], []))
        self.assertTrue(body["allow_internet_access"])

    def test_turning_internet_off_and_on_again_on_a_live_sandbox(self):
        sbx = self.sandbox()
        self.assertFalse(self.set_network(sbx, allow_internet_access=False)[
            "allow_internet_access"])
        self.assertFalse(self.info(sbx)["allow_internet_access"])
        self.assertFalse(self.http(sbx, HTTP_ADDRESS, "allowed.test", wait=REFUSAL_WAIT_S)["ok"])
        self.assertUnreachable(self.udp, sbx, ECHO_ADDRESS, UDP_ECHO_PORT)
        self.set_network(sbx, allow_internet_access=True)
        self.assertServed(self.http(sbx, HTTP_ADDRESS, "allowed.test"), ALLOWED_BODY)


class Validation(NetworkTestCase):
    """Bad entries are a 400 that names them, at create and at PATCH."""

    BAD = [("allow_out", ["allowed.test", "10.0.0.0/33"], "allow_out[1]", "10.0.0.0/33"),
           ("allow_out", ["2001:db8::/129"], "allow_out[0]", "2001:db8::/129"),
           ("deny_out", ["ok.test", "bad_name!.test"], "deny_out[1]", "bad_name!.test"),
           ("allow_out", ["*.*.example.test"], "allow_out[0]", "*.*.example.test"),
           ("allow_out", ["exa mple.test"], "allow_out[0]", "exa mple.test"),
           ("deny_out", [""], "deny_out[0]", "")]

    def assertBadEntry(self, r, where, entry):
        """A 400 whose message names the list, the index and the entry."""
        self.assertEqual(r.status, 400, r)
        message = r.json()["error"]["message"]
        self.assertIn(where, message)
        self.assertIn(f"'{entry}'", message)

    def test_a_bad_entry_at_create_is_a_400_naming_it(self):
        for key, entries, where, entry in self.BAD:
            with self.subTest(entries=entries):
                r = self.api.request("POST", "/v1/sandboxes", {
                    "allow_internet_access": True, "network": {key: entries}})
                self.assertBadEntry(r, f"network.{where}", entry)

    def test_a_bad_entry_at_patch_is_a_400_and_changes_nothing(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        before = self.network(sbx)
        for key, entries, where, entry in self.BAD:
            with self.subTest(entries=entries):
                self.assertBadEntry(self.patch_network(sbx, **{key: entries}), where, entry)
        self.assertEqual(self.network(sbx)["allow_out"], before["allow_out"])
        self.assertEqual(self.network(sbx)["deny_out"], before["deny_out"])

    def test_an_unknown_key_or_too_many_entries_is_a_400(self):
        before = self.api.request("GET", "/v1/sandboxes").json()["sandboxes"]
        for network in ({"allow_in": ["allowed.test"]},
                        {"allow_out": [f"n{i}.test" for i in range(257)]}):
            with self.subTest(keys=list(network)):
                r = self.api.request("POST", "/v1/sandboxes", {"network": network})
                self.assertEqual(r.status, 400, r)
        self.assertEqual(self.api.request("GET", "/v1/sandboxes").json()["sandboxes"], before)

    def test_the_patch_of_a_killed_or_unknown_sandbox_is_refused(self):
        sbx = self.api.create(allow_internet_access=True)
        self.api.kill(sbx)
        self.assertEqual(self.patch_network(sbx, allow_out=["allowed.test"]).status, 409)
        self.assertEqual(self.patch_network("sbx-000000000000", allow_out=[]).status, 404)


class ConfiguredRanges(NetworkTestCase):
    """private_ranges and always_denied from the config: a private range opens only to an
    allow_out CIDR inside it, an always-denied one never."""

    PRIVATE, DENIED = SPARE_ADDRESSES
    daemon_config = dict(DAEMON_CONFIG,
                         private_ranges=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                         "100.64.0.0/10", "fc00::/7", "198.19.0.96/28"],
                         always_denied=["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16",
                                        "224.0.0.0/4", "240.0.0.0/4", "::1/128", "fe80::/10",
                                        "ff00::/8", "198.19.0.112/28"])

    def test_a_private_range_opens_only_to_an_allow_out_cidr_inside_it(self):
        for policy in ({"allow_out": ["ALL_TRAFFIC"]}, {"allow_out": ["198.19.0.0/24"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox(network=policy)
                self.assertUnreachable(self.tcp, sbx, self.PRIVATE, TCP_ECHO_PORT)
                self.assertEchoed(self.tcp(sbx, ECHO_ADDRESS, TCP_ECHO_PORT))
        for policy in ({"allow_out": [f"{self.PRIVATE}/32"]}, {"allow_out": ["198.19.0.96/28"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox(network=policy)
                self.assertEchoed(self.tcp(sbx, self.PRIVATE, TCP_ECHO_PORT))

    def test_an_always_denied_range_stays_closed_whatever_the_policy_asks(self):
        for policy in ({"allow_out": ["ALL_TRAFFIC"]}, {"allow_out": [f"{self.DENIED}/32"]}):
            with self.subTest(policy=policy):
                sbx = self.sandbox_asking_for(policy)
                if sbx is not None:
                    self.assertUnreachable(self.tcp, sbx, self.DENIED, TCP_ECHO_PORT)


class CrashCleanup(unittest.TestCase):
    """A daemon killed with sandboxes online leaves its links and table; the next start in the
    same namespace removes them, and a clean stop leaves nothing."""

    def test_a_restarted_daemon_removes_what_a_crashed_one_left(self):
        netns = Netns()
        self.addCleanup(netns.close)
        first = Daemon(DAEMON_CONFIG, netns=netns)
        sbx = first.client.create(allow_internet_access=True, network={"allow_out": ["a.test"]})
        interface = first.client.request("GET", f"/v1/sandboxes/{sbx}").json()["network"][
            "interface"]
        self.assertIn(interface, links(netns))
        first.crash()
        self.assertIn("table inet declaw", declaw_leftovers(netns))
        second = Daemon(DAEMON_CONFIG, workdir=first.dir, netns=netns)
        # The crash left forwarding on; the next daemon's last stop restores the host's value.
        second.ip_forward_before = first.ip_forward_before
        try:
            self.assertTrue(wait_for(lambda: interface not in links(netns)),
                            declaw_leftovers(netns))
            self.assertEqual(sandbox_objects(nft_table(netns), sbx), [])
        finally:
            second.stop()
        self.assertEqual(declaw_leftovers(netns), [])


class LiveRestore(NetworkTestCase):
    """Sandboxes with internet access outlive declawd too: across a crash and a SIGTERM their
    link stays, the table goes on enforcing their policy, and the next daemon adopts the link,
    makes their chains and listeners anew and serves them with the same policy; at the last stop
    nothing is left and forwarding is as the host had it."""

    daemon_config = {**DAEMON_CONFIG, "live_restore": True}

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop(signal.SIGINT)  # kills whatever a failed test left

    def restart(self, how):
        """Ends the class's daemon (crash or terminate) and starts the next on its dir."""
        first = type(self).daemon
        getattr(first, how)()
        # What enforces the policies while no daemon runs: the table, kept.
        left = declaw_leftovers(host())
        nxt = Daemon(self.daemon_config, workdir=first.dir, netns=host())
        nxt.ip_forward_before = first.ip_forward_before  # as the host had it, not as left
        type(self).daemon = nxt  # its stop (tearDownClass) kills what a failure leaves
        type(self).api = nxt.client
        self.assertIn("table inet declaw", left)
        return nxt

    def assertPolicyHolds(self, sbx):
        self.assertServed(self.http(sbx, "allowed.test"), ALLOWED_BODY)
        self.assertServed(self.https(sbx, "allowed.test"), "tls hello sni=allowed.test\n")
        self.assertNameUnknown(self.resolve(sbx, "blocked.test"))
        self.assertUnreachable(self.tcp, sbx, OTHER_ADDRESS, TCP_ECHO_PORT)

    def test_a_sandbox_with_a_policy_keeps_link_and_policy_across_a_crash_and_a_sigterm(self):
        sbx = self.sandbox(network={"allow_out": ["allowed.test"]})
        offline = self.sandbox(internet_access=False)
        before = self.info(sbx)["network"]
        self.assertPolicyHolds(sbx)
        for how in ("crash", "terminate"):
            with self.subTest(how=how):
                daemon = self.restart(how)
                health = self.api.request("GET", "/v1/health").json()
                self.assertEqual(health["sandboxes_restored"], 2, health)
                self.assertEqual(health["restore_failures"], 0, health)
                after = self.info(sbx)["network"]
                for key in ("address", "gateway", "interface", "allow_out"):
                    self.assertEqual(after.get(key), before.get(key), key)
                self.assertIn(before["interface"], links(host()))
                self.assertPolicyHolds(sbx)
                # The sandbox without internet access still has nothing but its loopback.
                self.assertUnreachable(self.tcp, offline, OTHER_ADDRESS, TCP_ECHO_PORT)
                self.assertIsNone(daemon.proc.poll())
        # A live change after the adoption applies to the adopted chains.
        self.set_network(sbx, allow_out=["allowed.test", f"{OTHER_ADDRESS}/32"])
        self.assertTrue(self.tcp(sbx, OTHER_ADDRESS, TCP_ECHO_PORT)["ok"])
        # Killing it removes its link and objects as for any sandbox.
        self.assertEqual(self.api.kill(sbx).status, 204)
        self.assertTrue(wait_for(lambda: before["interface"] not in links(host())))
        self.assertEqual(sandbox_objects(nft_table(host()), sbx), [])


if __name__ == "__main__":
    unittest.main()
