"""The warm pool (config "pool"): a create of a pooled template takes a sandbox started ahead of
time. Checked here against the real daemon: a pooled sandbox is fresh (nothing of another
create's files or processes), the create's settings apply to it (timeout, envs, metadata,
resources, on_timeout), the pool refills after takes and kills, pooled sandboxes are never
listed and never count against max_sandboxes, /metrics counts hits and misses, and a daemon
without a pool configured has none. Daemon.stop() asserts that stopping a daemon with a full
pool leaves no state record or mount behind; test_zz_leaks checks cgroups and processes."""
import datetime
import re
import threading
import time
import unittest

from harness import Daemon, DaemonTestCase, run_output
from support import put_file, wait_for

POOL_SIZE = 2
REFILL_WITHIN_S = 60  # a build takes tens of ms; generous for sanitizer builds on a busy host


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def pool_metrics(api, template="base"):
    """{metric: value} of the declaw_pool_* samples for one template, from GET /metrics."""
    r = api.request("GET", "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        m = re.match(r'^(declaw_pool_\w+)\{template="([^"]+)"\} (\d+)$', line)
        if m and m.group(2) == template:
            out[m.group(1)] = int(m.group(3))
    return out


class PoolCase(DaemonTestCase):
    daemon_config = {"pool": {"base": POOL_SIZE}}

    def wait_full(self):
        full = wait_for(
            lambda: pool_metrics(self.api).get("declaw_pool_ready") == POOL_SIZE,
            timeout=REFILL_WITHIN_S)
        self.assertTrue(full, f"the pool did not refill: {pool_metrics(self.api)}")

    def hits(self):
        return pool_metrics(self.api).get("declaw_pool_hits_total", 0)

    def pooled_sandbox(self, **spec):
        """A create served by the pool (asserted through the hit counter)."""
        self.wait_full()
        before = self.hits()
        sbx = self.sandbox(**spec)
        self.assertEqual(self.hits(), before + 1, "the create was not served from the pool")
        return sbx


class PoolTest(PoolCase):

    def test_metrics_show_the_pool(self):
        self.wait_full()
        m = pool_metrics(self.api)
        self.assertEqual(m["declaw_pool_target"], POOL_SIZE)
        body = self.api.request("GET", "/metrics").body.decode()
        self.assertIn("declaw_pool_refill_seconds_count", body)
        self.assertIn('declaw_create_phase_seconds_count{phase="pool_take"}', body)

    def test_pooled_sandbox_works_and_is_its_own(self):
        sbx = self.pooled_sandbox()
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}").json()
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["template_id"], "base")
        out = self.api.run(sbx, "hostname; id -un; echo ok")
        self.assertEqual(out["exit_code"], 0, out)
        self.assertEqual(run_output(out).decode().split(), [sbx, "user", "ok"])

    def test_pooled_sandbox_is_fresh(self):
        # A first user leaves files and a running process behind ...
        first = self.pooled_sandbox()
        put_file(self.api, first, "/home/user/left-behind", b"secret of the first user")
        put_file(self.api, first, "/tmp/left-behind", b"secret of the first user")
        r = self.api.request("POST", f"/v1/sandboxes/{first}/commands",
                             {"cmd": "sleep 1000", "background": True})
        self.assertEqual(r.status, 200, r)
        # ... the next pooled sandbox has none of it, whether the first still runs or not.
        for kill_first in (False, True):
            if kill_first:
                self.api.kill(first)
            second = self.pooled_sandbox()
            self.assertNotEqual(second, first)
            out = self.api.run(second, "ls -A /home/user /tmp; ps -eo comm=")
            text = run_output(out).decode()
            self.assertNotIn("left-behind", text)
            self.assertNotIn("sleep", text)
            r = self.api.request("GET", f"/v1/sandboxes/{second}/commands")
            self.assertEqual(r.status, 200, r)
            # The only process it ever ran is the one above, and it was the first after init.
            self.assertEqual([(p["pid"], p["cmd"]) for p in r.json()["processes"]],
                             [(2, "ls -A /home/user /tmp; ps -eo comm=")])

    def test_the_creates_settings_apply(self):
        spec = {
            "timeout": 77,
            "envs": {"POOL_TEST": "from-the-create"},
            "metadata": {"who": "pool-test"},
            "resources": {"cpu": 0.5, "memory_mb": 300, "pids": 77, "disk_mb": 40},
            "lifecycle": {"on_timeout": "pause"},
        }
        sbx = self.pooled_sandbox(**spec)
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}").json()
        self.assertEqual(info["metadata"], {"who": "pool-test"})
        self.assertEqual(info["envs"], {"POOL_TEST": "from-the-create"})
        self.assertEqual(info["lifecycle"], {"on_timeout": "pause"})
        # The timeout counts from the create, not from when the pool built the sandbox.
        lifetime = parse_time(info["end_at"]) - parse_time(info["started_at"])
        self.assertAlmostEqual(lifetime.total_seconds(), 77, delta=2)
        self.assertEqual(info["resources"]["memory_mb"], 300)
        out = self.api.run(sbx, "echo $POOL_TEST; stat -f -c '%b %S' /home/user")
        lines = run_output(out).decode().split("\n")
        self.assertEqual(lines[0], "from-the-create")
        blocks, block_size = map(int, lines[1].split())
        self.assertEqual(blocks * block_size, 40 << 20, "the disk was not resized")
        m = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics").json()
        self.assertEqual(m["mem_total"], 300 << 20)
        self.assertEqual(m["pids_limit"], 77)
        self.assertAlmostEqual(m["cpu_count"], 0.5)
        # The sandbox's limits are the kernel's: a file larger than the disk does not fit.
        out = self.api.run(sbx, "head -c 50M /dev/zero > /home/user/big; echo $?")
        self.assertNotEqual(run_output(out).decode().strip(), "0")

    def test_the_metrics_history_starts_at_the_create(self):
        # The pool built the sandbox (and took a sample of it) a while before this create.
        self.wait_full()
        time.sleep(1.2)
        sbx = self.pooled_sandbox()
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}").json()
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics/history")
        self.assertEqual(r.status, 200, r)
        samples = r.json()["metrics"]
        self.assertGreaterEqual(len(samples), 1, "the history starts at the create")
        for sample in samples:
            self.assertGreaterEqual(parse_time(sample["timestamp"]),
                                    parse_time(info["started_at"]), samples)

    def test_pool_refills_after_takes_and_kills(self):
        self.wait_full()
        taken = [self.sandbox() for _ in range(POOL_SIZE)]
        self.wait_full()
        for sbx in taken:
            self.api.kill(sbx)
        self.wait_full()

    def test_pooled_sandboxes_are_not_listed(self):
        self.wait_full()
        listed = self.api.request("GET", "/v1/sandboxes").json()["sandboxes"]
        self.assertEqual([s for s in listed if s["state"] != "killed"], [])
        health = self.api.request("GET", "/v1/health").json()
        self.assertEqual(health["sandboxes_running"], 0)

    def test_a_create_the_pool_cannot_keep_up_with_is_a_miss(self):
        # Creates back to back: the pool refills only after a quiet moment, so one of them
        # finds it empty and is built fresh; it works all the same.
        self.wait_full()
        before = pool_metrics(self.api)
        made = [self.sandbox() for _ in range(POOL_SIZE + 2)]
        after = pool_metrics(self.api)
        hits = after["declaw_pool_hits_total"] - before["declaw_pool_hits_total"]
        misses = after["declaw_pool_misses_total"] - before["declaw_pool_misses_total"]
        self.assertEqual(hits + misses, len(made))
        self.assertGreaterEqual(misses, 1)
        for sbx in made:
            self.assertEqual(run_output(self.api.run(sbx, "echo ok")).strip(), b"ok")

    def test_concurrent_creates_each_get_their_own(self):
        self.wait_full()
        ids, errors = [], []

        def create():
            r = self.api.request("POST", "/v1/sandboxes", {})
            (ids if r.status == 201 else errors).append(r)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in ids:
            self.addCleanup(self.api.kill, r.json()["sandbox_id"])
        self.assertEqual(errors, [])
        self.assertEqual(len({r.json()["sandbox_id"] for r in ids}), 6)


class PoolQuotaTest(PoolCase):
    daemon_config = {"pool": {"base": POOL_SIZE}, "max_sandboxes": 1}

    def test_pooled_sandboxes_do_not_count_against_the_limit(self):
        sbx = self.pooled_sandbox()
        self.assertTrue(sbx)
        r = self.api.request("POST", "/v1/sandboxes", {})
        self.assertEqual(r.status, 429, r)


class NoPoolTest(DaemonTestCase):

    def test_without_a_pool_there_is_none(self):
        body = self.api.request("GET", "/metrics").body.decode()
        self.assertNotIn("declaw_pool_", body)
        sbx = self.sandbox()
        self.assertEqual(run_output(self.api.run(sbx, "echo ok")).strip(), b"ok")


class PoolConfigTest(unittest.TestCase):

    def test_a_pool_of_an_unknown_template_refuses_to_start(self):
        with self.assertRaises(RuntimeError) as e:
            Daemon({"pool": {"no-such-template": 1}})
        self.assertIn("no-such-template", str(e.exception))

    def test_a_pool_too_large_is_refused(self):
        with self.assertRaises(RuntimeError) as e:
            Daemon({"pool": {"base": 1000}})
        self.assertIn("pool", str(e.exception))


if __name__ == "__main__":
    unittest.main()
