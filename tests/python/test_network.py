"""Network rules through the SDK: what Sandbox.create(network=...), get_network() and
update_network() send (against a recording fake daemon, no root needed), and what a real declawd
keeps and answers: the rules in their canonical form, partial updates, entries it refuses by name,
internet access that cannot be added to a sandbox made without it, and ALL_TRAFFIC.

Nothing here needs a fake internet. Every test daemon runs in a network namespace of its own
(harness.Daemon), so the classes with networking on touch nothing of the host's; the others
run with networking off, where sandboxes get no link but keep their rules.
"""
import ipaddress
import json
import os
import shutil
import tempfile
import unittest

from fake_http import UnixHttpServer
from support import SdkTestCase

import declaw
from declaw import ALL_TRAFFIC, Sandbox, SandboxNetworkOpts
from declaw._transport import Transport

POOL = "198.18.0.0/16"
NO_REFUSALS = {"dns": 0, "proxy": 0, "firewall_packets": 0}
LINK_FIELDS = ("address", "gateway", "address6", "interface")


def network_answer(**changes):
    """A GET .../network answer of a sandbox without a link."""
    answer = {"allow_internet_access": False, "allow_out": [], "deny_out": [], "address": None,
              "gateway": None, "address6": None, "interface": None,
              "refused": dict(NO_REFUSALS)}
    answer.update(changes)
    return answer


class RecordingDaemon(UnixHttpServer):
    """An HTTP/1.1 server on a Unix socket that records each request (method, path, JSON body)
    and answers from `answers`: {(method, path): (status, JSON body)}; anything else is a 404."""

    def __init__(self, path, answers):
        self.answers = answers
        self.requests = []
        super().__init__(path, backlog=8)

    def respond(self, request):
        path = request.path.split("?")[0].removeprefix("/v1")
        raw = request.body
        self.requests.append((request.method, path, json.loads(raw) if raw else None))
        status, answer = self.answers.get(
            (request.method, path), (404, {"error": {"code": "not_found", "message": path}}))
        body = json.dumps(answer).encode()
        request.conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))
        return True


class RequestsTheSdkSends(unittest.TestCase):
    """Against a recording fake daemon: the bodies of create, get_network and update_network,
    and the argument errors caught before anything is sent."""

    SBX = "sbx-000000000001"

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="declaw-test-sdk-")
        self.addCleanup(shutil.rmtree, directory, True)
        info = {"sandbox_id": self.SBX, "template_id": "base", "state": "running",
                "allow_internet_access": True,
                "network": {k: v for k, v in network_answer(
                    allow_internet_access=True, address="198.18.0.2").items()
                    if k != "allow_internet_access"}}
        self.fake = RecordingDaemon(os.path.join(directory, "fake.sock"), {
            ("POST", "/sandboxes"): (201, info),
            ("GET", f"/sandboxes/{self.SBX}"): (200, info),
            ("GET", f"/sandboxes/{self.SBX}/network"): (200, network_answer()),
            ("PATCH", f"/sandboxes/{self.SBX}/network"): (200, network_answer(
                allow_out=["example.com"])),
            ("PATCH", "/sandboxes/sbx-000000000bad/network"): (400, {"error": {
                "code": "invalid_argument", "sandbox_id": "sbx-000000000bad",
                "message": "allow_out[0] '10.0.0.0/33': prefix length must be 0..32"}}),
        })
        self.addCleanup(self.fake.close)
        self.addCleanup(self.fake.assert_no_failures)
        self.addCleanup(declaw.reset_transports)
        self.socket = self.fake.path

    def sent(self):
        return [(method, path, body) for method, path, body in self.fake.requests]

    def create_body(self, **kwargs):
        Sandbox.create(socket_path=self.socket, **kwargs)
        method, path, body = self.fake.requests[-1]
        self.assertEqual((method, path), ("POST", "/sandboxes"))
        return body

    def sandbox(self, sandbox_id=SBX):
        transport = Transport(self.socket)
        self.addCleanup(transport.close)
        return Sandbox(sandbox_id, transport=transport)

    def test_all_traffic_is_the_hosted_sdks_constant(self):
        self.assertEqual(ALL_TRAFFIC, "0.0.0.0/0")
        self.assertIn("ALL_TRAFFIC", declaw.__all__)
        self.assertIn("SandboxNetworkOpts", declaw.__all__)

    def test_network_opts_send_only_the_lists_given(self):
        body = self.create_body(network=SandboxNetworkOpts(allow_out=["example.com"],
                                                           deny_out=[ALL_TRAFFIC]))
        self.assertEqual(body["network"], {"allow_out": ["example.com"],
                                           "deny_out": ["0.0.0.0/0"]})
        self.assertIs(body["allow_internet_access"], True)
        body = self.create_body(network=SandboxNetworkOpts(deny_out=["169.254.0.0/16"]))
        self.assertEqual(body["network"], {"deny_out": ["169.254.0.0/16"]})

    def test_network_opts_are_a_dict_as_the_hosted_typeddict_is(self):
        opts = SandboxNetworkOpts(allow_out=("a.example",), deny_out=[ALL_TRAFFIC])
        self.assertIsInstance(opts, dict)
        self.assertEqual(opts["deny_out"], [ALL_TRAFFIC])
        self.assertEqual(opts.allow_out, ("a.example",))
        self.assertIsNone(SandboxNetworkOpts().deny_out)
        self.assertEqual(self.create_body(network=opts)["network"],
                         {"allow_out": ["a.example"], "deny_out": ["0.0.0.0/0"]})

    def test_a_dict_is_sent_as_it_is_and_without_network_nothing_is_sent(self):
        body = self.create_body(network={"allow_out": ["1.1.1.1"], "deny_out": None},
                                allow_internet_access=False)
        self.assertEqual(body["network"], {"allow_out": ["1.1.1.1"], "deny_out": None})
        self.assertIs(body["allow_internet_access"], False)
        self.assertNotIn("network", self.create_body())

    def test_the_hosted_allow_public_traffic_is_left_out_and_other_keys_go_to_the_daemon(self):
        body = self.create_body(network={"allow_out": ["a.example"],
                                         "allow_public_traffic": False,
                                         "mask_request_host": "x"})
        self.assertEqual(body["network"], {"allow_out": ["a.example"],
                                           "mask_request_host": "x"})

    def test_a_list_that_is_not_a_list_of_strings_is_refused_before_sending(self):
        cases = [
            ({"allow_out": "example.com"}, "network.allow_out must be a list of strings, not "
                                           "a str: write ['example.com']"),
            ({"deny_out": [ALL_TRAFFIC, 5]}, "network.deny_out[1] must be a string, not int"),
            ({"allow_out": {"a": 1}}, "network.allow_out must be a list of strings, not dict"),
            (["example.com"], "network must be a dict or SandboxNetworkOpts"),
        ]
        for network, message in cases:
            with self.subTest(network=network):
                with self.assertRaises(declaw.InvalidArgumentException) as caught:
                    Sandbox.create(socket_path=self.socket, network=network)
                self.assertIn(message, str(caught.exception))
        self.assertEqual(self.fake.requests, [])

    def test_info_carries_the_network_and_internet_access(self):
        info = self.sandbox().get_info()
        self.assertTrue(info.allow_internet_access)
        self.assertEqual(info.network["address"], "198.18.0.2")
        self.assertEqual(info.network["refused"], NO_REFUSALS)
        self.assertNotIn("allow_internet_access", info.network)
        self.assertEqual(declaw.SandboxInfo.from_dict({"sandbox_id": "x"}).network, {})

    def test_get_network_is_a_get_of_its_network_route(self):
        self.assertEqual(self.sandbox().get_network(), network_answer())
        self.assertEqual(Sandbox.get_network(self.SBX, socket_path=self.socket),
                         network_answer())
        self.assertEqual(self.sent(), [("GET", f"/sandboxes/{self.SBX}/network", None)] * 2)

    def test_update_network_patches_only_what_is_given(self):
        sbx = self.sandbox()
        answer = sbx.update_network(allow_out=["example.com"])
        self.assertEqual(answer["allow_out"], ["example.com"])
        sbx.update_network(deny_out=[ALL_TRAFFIC])
        sbx.update_network(allow_internet_access=False)
        sbx.update_network(allow_out=[], deny_out=(), allow_internet_access=True)
        route = f"/sandboxes/{self.SBX}/network"
        self.assertEqual(self.sent(), [
            ("PATCH", route, {"allow_out": ["example.com"]}),
            ("PATCH", route, {"deny_out": ["0.0.0.0/0"]}),
            ("PATCH", route, {"allow_internet_access": False}),
            ("PATCH", route, {"allow_out": [], "deny_out": [], "allow_internet_access": True}),
        ])

    def test_update_network_with_nothing_to_change_only_reads(self):
        # The daemon answers an empty PATCH with a 400; nothing to change is a GET.
        self.assertEqual(self.sandbox().update_network(), network_answer())
        self.assertEqual(self.sent(), [("GET", f"/sandboxes/{self.SBX}/network", None)])

    def test_update_network_refuses_a_bare_string_before_sending(self):
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            self.sandbox().update_network(deny_out=ALL_TRAFFIC)
        self.assertIn("deny_out must be a list of strings, not a str: write ['0.0.0.0/0']",
                      str(caught.exception))
        self.assertEqual(self.fake.requests, [])

    def test_the_daemons_400_is_an_invalid_argument_with_its_message(self):
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            self.sandbox("sbx-000000000bad").update_network(allow_out=["10.0.0.0/33"])
        self.assertIn("allow_out[0] '10.0.0.0/33': prefix length must be 0..32",
                      str(caught.exception))
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.sandbox_id, "sbx-000000000bad")


class NetworkRulesWithoutALink(SdkTestCase):
    """A real daemon with networking off: sandboxes get no link, but their rules are validated,
    kept and changed all the same."""

    daemon_config = {"network": "off", "net_pool": POOL}

    def test_rules_given_at_create_come_back_in_canonical_form(self):
        sbx = self.create(network=SandboxNetworkOpts(
            allow_out=["Example.COM.", "*.pypi.org", "1.1.1.1", "10.1.0.0/16", "2001:db8::/32"],
            deny_out=["ALL_TRAFFIC"]))
        expected_allow = ["example.com", "*.pypi.org", "1.1.1.1", "10.1.0.0/16", "2001:db8::/32"]
        info = sbx.get_info()
        self.assertFalse(info.allow_internet_access)
        self.assertEqual(info.network["allow_out"], expected_allow)
        self.assertEqual(info.network["deny_out"], [ALL_TRAFFIC])
        self.assertEqual(info.network["refused"], NO_REFUSALS)
        for field in LINK_FIELDS:
            self.assertIsNone(info.network[field], field)
        network = sbx.get_network()
        self.assertEqual(network, dict(info.network, allow_internet_access=False))

    def test_a_dict_works_as_network_opts_do_and_all_traffic_round_trips(self):
        sbx = self.create(network={"deny_out": [ALL_TRAFFIC]})
        self.assertEqual(sbx.get_network()["deny_out"], ["0.0.0.0/0"])
        self.assertEqual(sbx.get_network()["allow_out"], [])
        sbx.update_network(allow_out=[ALL_TRAFFIC], deny_out=[])
        self.assertEqual(sbx.get_info().network["allow_out"], [ALL_TRAFFIC])

    def test_without_network_the_lists_are_empty(self):
        network = self.create().get_network()
        self.assertEqual(network, {"allow_internet_access": False, "allow_out": [],
                                   "deny_out": [], "address": None, "gateway": None,
                                   "address6": None, "interface": None,
                                   "loopback_inet": False, "refused": NO_REFUSALS})

    def test_listed_sandboxes_carry_their_rules(self):
        sbx = self.create(network={"allow_out": ["example.com"]})
        listed = [i for i in Sandbox.list(socket_path=self.socket)
                  if i.sandbox_id == sbx.sandbox_id]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0].network["allow_out"], ["example.com"])

    def test_update_network_replaces_only_the_parts_given(self):
        sbx = self.create(network={"allow_out": ["a.example"], "deny_out": ["192.0.2.0/24"]})
        answer = sbx.update_network(allow_out=["b.example", "c.example"])
        self.assertEqual(answer["allow_out"], ["b.example", "c.example"])
        self.assertEqual(answer["deny_out"], ["192.0.2.0/24"])
        self.assertIs(answer["allow_internet_access"], False)
        self.assertEqual(sbx.get_network(), answer)
        sbx.update_network(deny_out=[])
        network = sbx.get_info().network
        self.assertEqual((network["allow_out"], network["deny_out"]),
                         (["b.example", "c.example"], []))
        self.assertEqual(sbx.update_network(), sbx.get_network())

    def test_a_paused_sandbox_takes_new_rules(self):
        sbx = self.create()
        sbx.pause()
        self.assertEqual(sbx.update_network(deny_out=["a.example"])["deny_out"], ["a.example"])
        sbx.resume()

    def test_a_bad_entry_is_an_invalid_argument_naming_it_and_makes_no_sandbox(self):
        before = self.running_ids()
        cases = [
            ({"allow_out": ["example.com", "10.0.0.0/33"]}, "allow_out[1] '10.0.0.0/33'"),
            ({"deny_out": ["bad..example"]}, "deny_out[0] 'bad..example'"),
            ({"allow_out": ["https://example.com"]}, "allow_out[0] 'https://example.com'"),
            ({"allow_out": ["example.com:443"]}, "allow_out[0] 'example.com:443'"),
            ({"allow_out": ["*.com"]}, "allow_out[0] '*.com'"),
            ({"allow_out": ["x.example"] * 257}, "allow_out"),
            ({"mask_request_host": "x"}, "mask_request_host"),
        ]
        for network, named in cases:
            with self.subTest(network=str(network)[:80]):
                with self.assertRaises(declaw.InvalidArgumentException) as caught:
                    self.create(network=network)
                self.assertIn(named, str(caught.exception))
                self.assertEqual(caught.exception.status, 400)
        self.assertEqual(self.running_ids(), before, "a refused create left a sandbox")

    def test_a_bad_entry_in_an_update_changes_nothing(self):
        sbx = self.create(network={"allow_out": ["a.example"]})
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            sbx.update_network(allow_out=["b.example", "300.1.2.3"], deny_out=[ALL_TRAFFIC])
        self.assertIn("allow_out[1] '300.1.2.3'", str(caught.exception))
        self.assertEqual(caught.exception.sandbox_id, sbx.sandbox_id)
        network = sbx.get_network()
        self.assertEqual((network["allow_out"], network["deny_out"]), (["a.example"], []))

    def test_internet_access_cannot_be_added_to_a_sandbox_created_without_it(self):
        sbx = self.create(network={"allow_out": ["a.example"]})
        with self.assertRaises(declaw.ConflictException) as caught:
            sbx.update_network(allow_internet_access=True)
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)
        self.assertEqual(caught.exception.status, 409)
        self.assertIn("create a new sandbox", str(caught.exception))
        self.assertFalse(sbx.get_network()["allow_internet_access"])
        self.assertTrue(sbx.is_running())
        # Turning it off again, which it already is, is no conflict.
        self.assertFalse(sbx.update_network(allow_internet_access=False)["allow_internet_access"])

    def test_internet_access_by_default_is_refused_with_advice_and_makes_no_sandbox(self):
        before = self.running_ids()
        for network in (None, {"allow_out": ["example.com"]}):
            with self.subTest(network=network):
                with self.assertRaises(declaw.NotImplementedException) as caught:
                    Sandbox.create(socket_path=self.socket, network=network)
                self.assertIn("pass allow_internet_access=False", str(caught.exception))
                self.assertEqual(caught.exception.status, 501)
        self.assertEqual(self.running_ids(), before, "a refused create left a sandbox")

    def test_unknown_and_killed_sandboxes(self):
        with self.assertRaises(declaw.NotFoundException):
            Sandbox.get_network("sbx-000000000000", socket_path=self.socket)
        sbx = self.create()
        sbx.kill()
        with self.assertRaises(declaw.SandboxNotRunningException):
            sbx.update_network(deny_out=[ALL_TRAFFIC])

    def test_health_says_networking_is_off(self):
        health = self.daemon.client.request("GET", "/v1/health").json()
        self.assertIs(health["features"]["internet_access"], False)
        self.assertIsNone(health["network"])

    def test_metrics_have_no_network_counters_without_a_link(self):
        metrics = self.create().get_metrics()
        self.assertIsNone(metrics.net_rx_bytes)
        self.assertIsNone(metrics.net_tx_bytes)


class NetworkRulesWithALink(SdkTestCase):
    """A real daemon with networking on, in a network namespace of its own: sandboxes with
    internet access get an address from the pool and a host-side interface."""

    # The upstream is in the tests' "internet" range; nothing here resolves a name through it.
    daemon_config = {"network": "auto", "net_pool": POOL, "dns_upstream": ["198.19.0.53:53"]}

    def assert_linked(self, network):
        pool = ipaddress.ip_network(POOL)
        self.assertIn(ipaddress.ip_address(network["address"]), pool)
        self.assertIn(ipaddress.ip_address(network["gateway"]), pool)
        self.assertNotEqual(network["address"], network["gateway"])
        self.assertRegex(network["interface"], r"^dcw[a-z0-9]{12}$")
        self.assertIsNone(network["address6"])  # no net_pool6 in the config
        self.assertEqual(network["refused"], NO_REFUSALS)

    def test_health_shows_the_configured_network(self):
        health = self.daemon.client.request("GET", "/v1/health").json()
        self.assertIs(health["features"]["internet_access"], True)
        self.assertEqual(health["network"], {"pool": POOL, "pool6": None,
                                             "dns_upstream": ["198.19.0.53:53"],
                                             "proxy_port": 3128})

    def test_a_sandbox_with_internet_access_gets_an_address_from_the_pool(self):
        sbx = self.create(allow_internet_access=True)
        info = sbx.get_info()
        self.assertTrue(info.allow_internet_access)
        self.assert_linked(info.network)
        self.assertEqual(sbx.get_network(), dict(info.network, allow_internet_access=True))
        metrics = sbx.get_metrics()
        self.assertIsInstance(metrics.net_rx_bytes, int)
        self.assertIsInstance(metrics.net_tx_bytes, int)

    def test_network_rules_imply_nothing_against_internet_access_and_round_trip(self):
        sbx = self.create(allow_internet_access=True, network=SandboxNetworkOpts(
            allow_out=["allowed.test", "198.19.0.0/16"], deny_out=[ALL_TRAFFIC]))
        network = sbx.get_network()
        self.assertTrue(network["allow_internet_access"])
        self.assert_linked(network)
        self.assertEqual(network["allow_out"], ["allowed.test", "198.19.0.0/16"])
        self.assertEqual(network["deny_out"], [ALL_TRAFFIC])

    def test_internet_access_can_be_cut_and_given_back(self):
        sbx = self.create(allow_internet_access=True)
        off = sbx.update_network(allow_internet_access=False)
        self.assertFalse(off["allow_internet_access"])
        self.assertFalse(sbx.get_info().allow_internet_access)
        on = sbx.update_network(allow_internet_access=True)
        self.assertTrue(on["allow_internet_access"])
        self.assert_linked(on)

    def test_addresses_are_not_shared_between_sandboxes(self):
        first = self.create(allow_internet_access=True).get_network()
        second = self.create(allow_internet_access=True).get_network()
        self.assertNotEqual(first["address"], second["address"])
        self.assertNotEqual(first["interface"], second["interface"])


if __name__ == "__main__":
    unittest.main()
