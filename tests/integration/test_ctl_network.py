"""declawctl's network flags and verb against a real daemon: rules given to `create` and changed
with `network` are what declawd keeps and `info` shows, each change touches only the list it
names, a bad entry is declawd's error naming it, internet access cannot be added to a sandbox
made without it, and ALL_TRAFFIC round-trips.

Nothing here needs a fake internet. Every test daemon runs in a network namespace of its own
(harness.Daemon), so the class with networking on touches nothing of the host's; the other runs
with networking off, where sandboxes get no link but keep their rules (made through the API,
since declawctl refuses rules with --no-internet).
"""
import ipaddress
import json
import subprocess
import unittest

from harness import DECLAWCTL
from support import DaemonTestCase

POOL = "198.18.0.0/16"
NOT_FOUND = rb"^declawctl: sandbox sbx-doesnotexist not found.*\(not_found\)\n$"


class CtlCase(DaemonTestCase):

    def ctl(self, *args, timeout=60):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args],
                              capture_output=True, timeout=timeout)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout.decode()

    def fails(self, code, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, code, r)
        self.assertEqual(r.stdout, b"", r)
        return r.stderr.decode()

    def create(self, *flags):
        sbx = self.ok("create", *flags).strip()
        self.addCleanup(self.api.kill, sbx)
        return sbx

    def network_json(self, sbx):
        return json.loads(self.ok("--json", "network", sbx))

    def fields(self, text):
        """The "field: value" lines of a view as a dict."""
        out = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
        return out

    def live_sandboxes(self):
        return [s["sandbox_id"] for s in self.api.request("GET", "/v1/sandboxes").json()
                ["sandboxes"] if s["state"] != "killed"]


class CtlNetworkWithoutALink(CtlCase):
    """A daemon with networking off: sandboxes get no link, their rules are kept and changed."""

    daemon_config = {"network": "off", "net_pool": POOL}

    def sandbox_with_rules(self, allow_out=(), deny_out=()):
        return self.sandbox(allow_internet_access=False,
                            network={"allow_out": list(allow_out), "deny_out": list(deny_out)})

    # --- create and run ----------------------------------------------------------------------

    def test_internet_and_rules_are_refused_by_a_daemon_without_networking(self):
        before = self.live_sandboxes()
        for flags in (["--internet"], ["--allow-out", "example.com"], ["--deny-out", "1.2.3.4"]):
            with self.subTest(flags=flags):
                err = self.fails(1, "create", *flags)
                self.assertIn("no networking", err)
                self.assertTrue(err.endswith("(not_implemented)\n"), err)
        err = self.fails(1, "run", "--allow-out", "example.com", "--", "true")
        self.assertIn("(not_implemented)", err)
        self.assertEqual(self.live_sandboxes(), before, "a refused create left a sandbox")

    def test_rules_with_no_internet_are_a_usage_error_before_any_request(self):
        before = self.live_sandboxes()
        r = self.ctl("create", "--no-internet", "--allow-out", "example.com")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"drop --no-internet", r.stderr)
        self.assertEqual(self.live_sandboxes(), before)

    def test_a_sandbox_without_internet_has_no_link_and_says_so(self):
        sbx = self.create("--no-internet")
        view = self.fields(self.ok("network", sbx))
        self.assertEqual(view["allow_internet_access"], "false")
        self.assertEqual(view["egress"], "none (no internet access)")
        for field in ("allow_out", "deny_out", "address", "gateway", "address6", "interface"):
            self.assertEqual(view[field], "-", field)
        self.assertEqual(view["refused"], "dns=0 proxy=0 firewall_packets=0")
        info = self.fields(self.ok("info", sbx))
        self.assertEqual(info["address"], "-")
        self.assertEqual(info["refused"], "dns=0 proxy=0 firewall_packets=0")
        stats = self.ok("stats", "--no-stream", sbx).splitlines()
        net_column = stats[0].index("NET RX / TX")
        self.assertEqual(stats[1][net_column:].split()[0], "-")

    def test_network_shows_the_rules_as_declawd_keeps_them(self):
        sbx = self.sandbox_with_rules(allow_out=["Example.COM.", "1.1.1.1"],
                                      deny_out=["ALL_TRAFFIC"])
        view = self.fields(self.ok("network", sbx))
        self.assertEqual(view["allow_out"], "example.com 1.1.1.1")
        self.assertEqual(view["deny_out"], "0.0.0.0/0")
        data = self.network_json(sbx)
        self.assertEqual(data, self.api.request("GET", f"/v1/sandboxes/{sbx}/network").json())
        self.assertEqual(data["allow_out"], ["example.com", "1.1.1.1"])
        info = self.fields(self.ok("info", sbx))
        self.assertEqual((info["allow_out"], info["deny_out"]),
                         ("example.com 1.1.1.1", "0.0.0.0/0"))

    def test_each_change_replaces_only_the_list_it_names(self):
        sbx = self.sandbox_with_rules(allow_out=["a.example"], deny_out=["192.0.2.0/24"])
        view = self.fields(self.ok("network", sbx, "--allow-out", "b.example",
                                   "--allow-out", "*.c.example"))
        self.assertEqual(view["allow_out"], "b.example *.c.example")
        self.assertEqual(view["deny_out"], "192.0.2.0/24")
        data = self.network_json(sbx)
        self.assertEqual((data["allow_out"], data["deny_out"]),
                         (["b.example", "*.c.example"], ["192.0.2.0/24"]))
        self.ok("network", sbx, "--clear-allow", "--deny-out", "ALL_TRAFFIC")
        data = self.network_json(sbx)
        self.assertEqual((data["allow_out"], data["deny_out"]), ([], ["0.0.0.0/0"]))
        self.ok("network", sbx, "--clear-deny")
        self.assertEqual(self.network_json(sbx)["deny_out"], [])

    def test_json_of_a_change_is_the_network_after_it(self):
        sbx = self.sandbox_with_rules()
        data = json.loads(self.ok("--json", "network", sbx, "--deny-out", "ALL_TRAFFIC"))
        self.assertEqual(data["deny_out"], ["0.0.0.0/0"])
        self.assertIs(data["allow_internet_access"], False)
        self.assertEqual(data, self.network_json(sbx))

    def test_a_bad_entry_is_declawds_error_naming_it_and_changes_nothing(self):
        sbx = self.sandbox_with_rules(allow_out=["a.example"])
        err = self.fails(1, "network", sbx, "--allow-out", "b.example",
                         "--allow-out", "10.0.0.0/33")
        self.assertIn("allow_out[1] '10.0.0.0/33': prefix length must be 0..32", err)
        self.assertTrue(err.endswith("(invalid_argument)\n"), err)
        self.assertEqual(self.network_json(sbx)["allow_out"], ["a.example"])

    def test_internet_access_cannot_be_added_to_a_sandbox_created_without_it(self):
        sbx = self.sandbox_with_rules(allow_out=["a.example"])
        err = self.fails(1, "network", sbx, "--internet")
        self.assertIn("created without internet access", err)
        self.assertTrue(err.endswith("(conflict)\n"), err)
        self.assertIs(self.network_json(sbx)["allow_internet_access"], False)
        # Saying no internet again is no conflict.
        self.assertEqual(self.fields(self.ok("network", sbx, "--no-internet"))["egress"],
                         "none (no internet access)")

    def test_a_paused_sandbox_takes_new_rules(self):
        sbx = self.sandbox_with_rules()
        self.ok("pause", sbx)
        self.assertEqual(self.fields(self.ok("network", sbx, "--deny-out", "x.example"))
                         ["deny_out"], "x.example")
        self.ok("resume", sbx)

    def test_unknown_and_killed_sandboxes(self):
        r = self.ctl("network", "sbx-doesnotexist")
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stderr, NOT_FOUND)
        sbx = self.sandbox_with_rules()
        self.ok("kill", sbx)
        self.assertIn("(conflict)", self.fails(1, "network", sbx, "--clear-deny"))


class CtlNetworkWithALink(CtlCase):
    """A daemon with networking on, in a network namespace of its own."""

    daemon_config = {"network": "auto", "net_pool": POOL, "dns_upstream": ["198.19.0.53:53"]}

    def assert_linked(self, view):
        pool = ipaddress.ip_network(POOL)
        self.assertIn(ipaddress.ip_address(view["address"]), pool)
        self.assertIn(ipaddress.ip_address(view["gateway"]), pool)
        self.assertRegex(view["interface"], r"^dcw[a-z0-9]{12}$")

    def test_rules_given_to_create_imply_internet_and_are_what_network_shows(self):
        sbx = self.create("--allow-out", "allowed.test", "--allow-out", "198.19.0.0/16",
                          "--deny-out", "ALL_TRAFFIC")
        view = self.fields(self.ok("network", sbx))
        self.assertEqual(view["allow_internet_access"], "true")
        self.assertEqual(view["egress"], "only what allow_out names")
        self.assertEqual(view["allow_out"], "allowed.test 198.19.0.0/16")
        self.assertEqual(view["deny_out"], "0.0.0.0/0")
        self.assert_linked(view)
        self.assertEqual(self.fields(self.ok("info", sbx))["address"], view["address"])

    def test_stats_shows_the_bytes_over_the_link(self):
        sbx = self.create("--internet")
        header, row = self.ok("stats", "--no-stream", sbx).splitlines()
        net = row[header.index("NET RX / TX"):].split("  ")[0]
        self.assertRegex(net, r"^\d[\d.]*[KMG]?i?B / \d[\d.]*[KMG]?i?B$")

    def test_internet_access_can_be_cut_and_given_back(self):
        sbx = self.create("--internet")
        self.assertEqual(self.fields(self.ok("network", sbx, "--no-internet"))["egress"],
                         "none (no internet access)")
        view = self.fields(self.ok("network", sbx, "--internet"))
        self.assertEqual(view["egress"], "every public destination")
        self.assert_linked(view)


if __name__ == "__main__":
    unittest.main()
