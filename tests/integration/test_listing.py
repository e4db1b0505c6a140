"""Listing and metrics history against a real daemon: GET /v1/sandboxes pages with limit and
next_token through more sandboxes than a page while others are created and killed, refuses a
token it did not make, lists live sandboxes unless asked for all (declawctl ls and ls -a too),
and GET .../metrics/history answers the samples the daemon took, bounded."""
import json
import subprocess
import time
import unittest

from harness import DECLAWCTL, DaemonTestCase
from support import random_suffix

# A sample every second, three kept: the history fills and wraps within seconds.
HISTORY = {"interval_s": 1, "keep_s": 3}


class Listing(DaemonTestCase):
    daemon_config = {"max_sandboxes": 16, "metrics_history": HISTORY}

    def page(self, **query):
        r = self.api.request("GET", "/v1/sandboxes", query=query)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        return [s["sandbox_id"] for s in body["sandboxes"]], body["next_token"]

    def test_paging_through_more_sandboxes_than_a_page_while_some_are_killed_and_made(self):
        tag = random_suffix()
        made = [self.sandbox(metadata={"t": tag}) for _ in range(5)]  # oldest first
        meta = f"t={tag}"
        first, token = self.page(metadata=meta, limit=2)
        self.assertEqual(first, [made[4], made[3]], "newest first")
        self.assertIsInstance(token, str)
        # Between pages: the last one listed and the next one die, a new one is made.
        self.api.kill(made[3])
        self.api.kill(made[2])
        newer = self.sandbox(metadata={"t": tag})
        second, token = self.page(metadata=meta, limit=2, next_token=token)
        self.assertEqual(second, [made[1], made[0]], "no repeat, no skip, nothing new")
        self.assertIsNone(token, "exactly a page was left: no token for an empty page")
        everything, _ = self.page(metadata=meta)
        self.assertEqual(everything, [newer, made[4], made[1], made[0]])
        with_killed, _ = self.page(metadata=meta, all="true")
        self.assertEqual(with_killed, [newer, *reversed(made)])

    def test_the_last_page_says_so_with_a_null_token(self):
        tag = random_suffix()
        made = [self.sandbox(metadata={"t": tag}) for _ in range(3)]
        ids, token = self.page(metadata=f"t={tag}", limit=3)
        self.assertEqual(ids, made[::-1])
        self.assertIsNone(token)

    def test_a_token_the_daemon_did_not_make_is_400_and_says_so(self):
        self.sandbox()
        self.sandbox()
        _, token = self.page(limit=1)
        self.assertIsNotNone(token)
        for bad in ["nonsense", "MTo0MjpzYngtMDEy", token + "x", token[:-2], token + "&"]:
            with self.subTest(token=bad):
                r = self.api.request("GET", "/v1/sandboxes", query={"next_token": bad})
                self.assertEqual(r.status, 400, r)
                self.assertIn("'next_token' is malformed", r.json()["error"]["message"])
        for limit in ("0", "1001", "x"):
            with self.subTest(limit=limit):
                r = self.api.request("GET", "/v1/sandboxes", query={"limit": limit})
                self.assertEqual(r.status, 400, r)
                self.assertIn("'limit' must be an integer between 1 and 1000",
                              r.json()["error"]["message"])

    def test_killed_sandboxes_are_listed_only_when_asked_for(self):
        tag = random_suffix()
        alive = self.sandbox(metadata={"t": tag})
        dead = self.sandbox(metadata={"t": tag})
        self.api.kill(dead)
        meta = f"t={tag}"
        self.assertEqual(self.page(metadata=meta)[0], [alive])
        self.assertEqual(self.page(metadata=meta, all="true")[0], [dead, alive])
        self.assertEqual(self.page(metadata=meta, state="killed")[0], [dead])
        self.assertEqual(self.page(metadata=meta, all="false")[0], [alive])

    def ctl_ids(self, *args):
        out = subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, "--json", "ls", *args],
                             capture_output=True, check=True, timeout=60).stdout
        return [s["sandbox_id"] for s in json.loads(out)]

    def test_declawctl_ls_shows_live_sandboxes_and_ls_a_killed_ones_too(self):
        tag = random_suffix()
        alive = self.sandbox(metadata={"t": tag})
        dead = self.sandbox(metadata={"t": tag})
        self.api.kill(dead)
        self.assertEqual(self.ctl_ids("--meta", f"t={tag}"), [alive])
        self.assertEqual(self.ctl_ids("-a", "--meta", f"t={tag}"), [dead, alive])
        table = subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, "ls", "--all"],
                               capture_output=True, check=True, timeout=60).stdout.decode()
        self.assertIn(dead, table)
        self.assertNotIn(dead, subprocess.run(
            [DECLAWCTL, "--socket", self.daemon.socket, "ls"], capture_output=True, check=True,
            timeout=60).stdout.decode())

    def test_declawctl_ls_follows_every_page(self):
        # More sandboxes than one page of the client's would be 1,001; the daemon's own
        # paging is tested above, this checks that ls asks with a limit and reads next_token.
        tag = random_suffix()
        made = [self.sandbox(metadata={"t": tag}) for _ in range(3)]
        self.assertEqual(self.ctl_ids("--meta", f"t={tag}"), made[::-1])

    # --- metrics history --------------------------------------------------------------------

    def history(self, sbx, **query):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics/history", query=query)
        self.assertEqual(r.status, 200, r)
        return r.json()["metrics"]

    def test_samples_appear_every_interval_and_only_the_last_keep_s_are_kept(self):
        sbx = self.sandbox()
        first = self.history(sbx)
        self.assertGreaterEqual(len(first), 1, "the history starts at the create")
        self.api.run(sbx, "head -c 8M /dev/zero > /home/user/8mib.bin")
        time.sleep(HISTORY["keep_s"] + 2.5)
        samples = self.history(sbx)
        self.assertEqual(len(samples), HISTORY["keep_s"] // HISTORY["interval_s"], samples)
        times = [s["timestamp"] for s in samples]
        self.assertEqual(times, sorted(times))
        self.assertGreater(times[0], first[0]["timestamp"], "the oldest were dropped")
        for sample in samples:
            self.assertGreaterEqual(sample["disk_used"], 8 << 20)
            self.assertEqual(set(sample), set(self.api.request(
                "GET", f"/v1/sandboxes/{sbx}/metrics").json()), "the same fields as /metrics")

    def test_start_and_end_select_samples_and_bad_times_are_400(self):
        sbx = self.sandbox()
        time.sleep(2.5)
        samples = self.history(sbx)
        self.assertGreaterEqual(len(samples), 2)
        last = samples[-1]["timestamp"]
        self.assertEqual([s["timestamp"] for s in self.history(sbx, start=last)],
                         [s["timestamp"] for s in samples if s["timestamp"] >= last])
        self.assertEqual(self.history(sbx, end="1970-01-01T00:00:00Z"), [])
        self.assertEqual(self.history(sbx, start=str(int(time.time()) + 3600)), [])
        for query in ({"start": "yesterday"}, {"start": "20", "end": "10"}):
            with self.subTest(query=query):
                r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics/history", query=query)
                self.assertEqual(r.status, 400, r)

    def test_the_history_of_a_killed_sandbox_is_409_and_an_unknown_one_404(self):
        sbx = self.sandbox()
        self.api.kill(sbx)
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics/history")
        self.assertEqual(r.status, 409, r)
        r = self.api.request("GET", "/v1/sandboxes/sbx-000000000000/metrics/history")
        self.assertEqual(r.status, 404, r)


class WithoutHistory(DaemonTestCase):
    daemon_config = {"metrics_history": {"interval_s": 0}}

    def test_interval_0_keeps_no_history(self):
        sbx = self.sandbox()
        time.sleep(1.5)
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics/history")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["metrics"], [])


if __name__ == "__main__":
    unittest.main()
