"""Resources, metrics, pause/resume and crash safety: a sandbox cannot take the host or its
neighbours down, what it uses is measured, pausing freezes it without losing anything, and a
crashed daemon leaves nothing that the next start does not remove.

Every containment test also checks that a second sandbox keeps answering and the daemon stays up.
"""
import glob
import shutil
import subprocess
import time
import unittest

from harness import Daemon, sandbox_records
from support import DaemonTestCase, wait_for

MIB = 1 << 20
# How long a test waits for what should take a moment, before it calls it lost.
PATIENCE_S = 30


def sandbox_cgroup_dirs(sandbox_ids):
    found = []
    for sid in sandbox_ids:
        found += glob.glob(f"/sys/fs/cgroup/**/{sid}", recursive=True)
    return found


def mounts_mentioning(words):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(w in line for w in words)]


def processes_of(sandbox_ids):
    """Host pids in the cgroup of one of these sandboxes (read from the host's cgroup namespace,
    where the path names the sandbox). By cgroup rather than by uid: another declawd on the
    same machine hands out the same uid ranges to its own sandboxes."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cgroup"):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if any(f"/{sid}\n" in text for sid in sandbox_ids):
            found.append(path.split("/")[2])
    return found


class ResourceTestCase(DaemonTestCase):
    def setUp(self):
        self.neighbour = self.sandbox()

    def assertNeighbourAnswers(self):
        res = self.api.run(self.neighbour, "echo still-here")
        self.assertEqual(res["stdout"], "still-here\n", res)
        self.assertIsNone(self.daemon.proc.poll(), "declawd died")

    def metrics(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def info(self, sbx):
        return self.api.request("GET", f"/v1/sandboxes/{sbx}").json()


class Containment(ResourceTestCase):
    def test_health_says_which_cgroup_version_is_used(self):
        health = self.api.request("GET", "/v1/health").json()
        self.assertIn(health["cgroup"], ("v1", "v2"))
        self.assertTrue(health["features"]["pause"])

    def test_created_resources_are_reported_and_enforced_in_the_kernel(self):
        sbx = self.sandbox(resources={"cpu": 0.5, "memory_mb": 96, "pids": 40, "disk_mb": 8})
        self.assertEqual(self.info(sbx)["resources"],
                         {"cpu": 0.5, "memory_mb": 96, "pids": 40, "disk_mb": 8})
        m = self.metrics(sbx)
        self.assertEqual(m["mem_total"], 96 * MIB)
        self.assertEqual(m["pids_limit"], 40)
        self.assertEqual(m["disk_total"], 8 * MIB)
        self.assertEqual(m["cpu_count"], 0.5)

    def test_a_fork_bomb_stops_at_the_pids_limit(self):
        sbx = self.sandbox(resources={"pids": 64})
        res = self.api.run(sbx, "bomb() { bomb | bomb & }; bomb; sleep 3; "
                                "ls /proc | grep -c '^[0-9]'", timeout=20)
        self.assertNeighbourAnswers()
        # The kernel refused forks beyond the limit; init and the rest fit under it.
        m = self.metrics(sbx)
        self.assertLessEqual(m["pids"], 64)
        self.assertEqual(self.api.kill(sbx).status, 204)
        self.assertNeighbourAnswers()
        self.assertIn("exit_code", res)

    def test_a_big_allocation_is_oom_killed_inside_and_only_that_sandbox_is_affected(self):
        sbx = self.sandbox(resources={"memory_mb": 128})
        res = self.api.run(sbx, "python3 -c 'x = bytearray(2 << 30); print(\"allocated\")'")
        self.assertEqual(res["exit_code"], 137, res)
        self.assertEqual(res["signal"], 9)
        self.assertTrue(res.get("oom_killed"), res)
        self.assertNotIn("allocated", res["stdout"])
        self.assertGreaterEqual(self.metrics(sbx)["oom_kills"], 1)
        # The sandbox itself lives on, and so does its neighbour.
        self.assertEqual(self.api.run(sbx, "echo ok")["stdout"], "ok\n")
        self.assertNeighbourAnswers()

    def test_a_background_process_killed_for_memory_says_so(self):
        sbx = self.sandbox(resources={"memory_mb": 64})
        pid = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {
            "cmd": "python3 -c 'x = bytearray(1 << 30)'", "background": True}).json()["pid"]
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{pid}/wait").json()
        self.assertEqual(info["signal"], 9, info)
        self.assertTrue(info.get("oom_killed"), info)
        calm = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {
            "cmd": "true", "background": True}).json()["pid"]
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{calm}/wait").json()
        self.assertNotIn("oom_killed", info)
        self.assertNeighbourAnswers()

    def test_filling_the_disk_is_enospc_inside_and_the_host_is_untouched(self):
        sbx = self.sandbox(resources={"disk_mb": 16})
        host_free = {p: shutil.disk_usage(p).free for p in ("/", "/tmp", "/run")}
        for path in ("/home/user/fill", "/tmp/fill"):
            with self.subTest(path=path):
                res = self.api.run(sbx, f"head -c 200000000 /dev/zero > {path}; echo rc=$?")
                self.assertIn("No space left on device", res["stderr"])
                self.assertIn("rc=1", res["stdout"])
                self.api.run(sbx, f"rm -f {path}")
        for p, free in host_free.items():
            # 200 MB were written twice; the host lost none of it (slack for other activity).
            self.assertGreater(shutil.disk_usage(p).free, free - 64 * MIB, p)
        self.assertLessEqual(self.metrics(sbx)["disk_used"], 16 * MIB)
        self.assertNeighbourAnswers()

    def test_kill_minus_one_inside_kills_only_the_sandboxs_own_processes(self):
        sbx = self.sandbox()
        sentinel = subprocess.Popen(["sleep", "600"])
        self.addCleanup(sentinel.wait)
        self.addCleanup(sentinel.kill)
        neighbour_bg = self.api.request("POST", f"/v1/sandboxes/{self.neighbour}/commands",
                                        {"cmd": "sleep 600", "background": True}).json()["pid"]
        mine = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                                {"cmd": "sleep 600", "background": True}).json()["pid"]
        # kill(-1) reaches every process the caller may signal but itself (kill(2)).
        res = self.api.run(sbx, "kill -9 -1; echo the-killer-survives", user="root")
        self.assertEqual(res["stdout"], "the-killer-survives\n", res)
        self.assertIsNone(sentinel.poll(), "a host process was killed")
        neighbour_info = self.api.request(
            "GET", f"/v1/sandboxes/{self.neighbour}/commands/{neighbour_bg}").json()
        self.assertTrue(neighbour_info["running"])
        mine_info = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{mine}/wait").json()
        self.assertEqual(mine_info["signal"], 9)
        self.assertEqual(self.api.run(sbx, "echo alive")["stdout"], "alive\n")
        self.assertNeighbourAnswers()

    def test_half_a_core_gets_about_half_a_core(self):
        sbx = self.sandbox(resources={"cpu": 0.5})
        self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                         {"cmd": "while :; do :; done", "background": True})
        time.sleep(0.5)
        first = self.metrics(sbx)
        time.sleep(3)
        second = self.metrics(sbx)
        cores = (second["cpu_usage_ns"] - first["cpu_usage_ns"]) / 1e9 / 3
        # CFS quota: 50 ms per 100 ms. Generous bounds for a shared, noisy machine.
        self.assertGreater(cores, 0.25)
        self.assertLess(cores, 0.75)
        self.assertNeighbourAnswers()

    def test_metrics_move_when_load_starts_and_stops(self):
        sbx = self.sandbox(resources={"cpu": 1})
        self.metrics(sbx)
        time.sleep(1)
        idle = self.metrics(sbx)
        pid = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                               {"cmd": "x=$(head -c 50000000 /dev/zero | tr '\\0' x); "
                                       "while :; do :; done", "background": True}).json()["pid"]
        time.sleep(2)
        busy = self.metrics(sbx)
        self.api.request("DELETE", f"/v1/sandboxes/{sbx}/commands/{pid}")
        self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{pid}/wait")
        self.metrics(sbx)
        time.sleep(1)
        after = self.metrics(sbx)
        self.assertLess(idle["cpu_cores_used"], 0.2)
        self.assertGreater(busy["cpu_cores_used"], 0.25)
        self.assertLess(after["cpu_cores_used"], 0.2)
        self.assertGreater(busy["mem_used"], idle["mem_used"] + 40 * MIB)
        self.assertGreater(busy["pids"], idle["pids"])


class PauseResume(ResourceTestCase):
    def test_pause_freezes_everything_and_resume_keeps_files_and_processes(self):
        sbx = self.sandbox()
        self.api.write_bytes(sbx, "/home/user/kept.txt", b"before the pause")
        counter = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {
            "cmd": "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done",
            "background": True}).json()["pid"]

        def count():
            text = self.api.run(sbx, "cat /tmp/count 2>/dev/null")["stdout"].strip()
            return int(text) if text.isdigit() else None  # not there yet, or caught mid-write

        self.assertTrue(wait_for(lambda: count() is not None, timeout=PATIENCE_S),
                        "the counter never wrote /tmp/count")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/pause")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "paused")
        usage = self.metrics(sbx)["cpu_usage_ns"]
        time.sleep(1)
        self.assertLess(self.metrics(sbx)["cpu_usage_ns"] - usage, 5_000_000,
                        "a paused sandbox used CPU")
        for method, path, body in (("POST", "/commands", {"cmd": "true"}),
                                   ("GET", "/files?path=/home/user/kept.txt", None),
                                   ("GET", "/commands", None)):
            r = self.api.request(method, f"/v1/sandboxes/{sbx}{path}", body)
            self.assertEqual(r.status, 409, (path, r))
            self.assertIn("paused", r.json()["error"]["message"])
        self.assertNeighbourAnswers()
        self.assertEqual(self.api.request("POST", f"/v1/sandboxes/{sbx}/pause").status, 200)
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/resume")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "running")
        self.assertEqual(self.api.read_bytes(sbx, "/home/user/kept.txt").body, b"before the pause")
        counts = []

        def counts_on():
            n = count()
            if n is not None:
                counts.append(n)
            return len(counts) > 1 and counts[-1] > counts[0]

        self.assertTrue(wait_for(counts_on, timeout=PATIENCE_S),
                        f"the counter did not count on after resume: {counts}")
        info = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands/{counter}").json()
        self.assertTrue(info["running"])

    def test_the_timeout_clock_stops_while_paused(self):
        sbx = self.sandbox(timeout=3)
        self.api.request("POST", f"/v1/sandboxes/{sbx}/pause")
        time.sleep(4.5)
        self.assertEqual(self.info(sbx)["state"], "paused")
        self.api.request("POST", f"/v1/sandboxes/{sbx}/resume")
        self.assertEqual(self.api.run(sbx, "echo resumed")["stdout"], "resumed\n")

    def test_on_timeout_pause_pauses_instead_of_killing(self):
        sbx = self.sandbox(timeout=1, lifecycle={"on_timeout": "pause"})
        self.api.write_bytes(sbx, "/home/user/kept.txt", b"kept")
        deadline = time.time() + 10
        while self.info(sbx)["state"] != "paused" and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.info(sbx)["state"], "paused")
        self.assertEqual(self.api.request("POST", f"/v1/sandboxes/{sbx}/resume").status, 200)
        self.assertEqual(self.api.read_bytes(sbx, "/home/user/kept.txt").body, b"kept")

    def test_a_paused_sandbox_can_be_killed(self):
        sbx = self.sandbox()
        self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                         {"cmd": "sleep 600", "background": True})
        self.api.request("POST", f"/v1/sandboxes/{sbx}/pause")
        self.assertEqual(self.api.kill(sbx).status, 204)
        self.assertEqual(self.info(sbx)["state"], "killed")
        self.assertEqual(sandbox_cgroup_dirs([sbx]), [])


class CrashSafety(unittest.TestCase):
    def test_a_crashed_daemon_leaves_nothing_after_the_next_start(self):
        first = Daemon()
        api = first.client
        sandboxes = [api.create() for _ in range(5)]
        for sbx in sandboxes:
            api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                        {"cmd": "sleep 600", "background": True})
        # A command in flight when the daemon dies.
        in_flight = subprocess.Popen(
            ["curl", "-s", "--unix-socket", first.socket, "-XPOST",
             f"http://declaw/v1/sandboxes/{sandboxes[0]}/commands", "-d",
             '{"cmd": "sleep 600"}'], stdout=subprocess.DEVNULL)
        self.addCleanup(in_flight.wait)
        self.addCleanup(in_flight.kill)

        def in_flight_runs():
            r = api.request("GET", f"/v1/sandboxes/{sandboxes[0]}/commands")
            return [p for p in r.json()["processes"]
                    if p["cmd"] == "sleep 600" and not p["background"] and p["running"]]

        self.assertTrue(wait_for(in_flight_runs, timeout=PATIENCE_S),
                        "the command in flight never started")
        records = sandbox_records(first.state)
        self.assertEqual(sorted(r[:-5] for r in records), sorted(sandboxes))
        self.assertEqual(len(sandbox_cgroup_dirs(sandboxes)) > 0, True)
        self.assertGreaterEqual(len(processes_of(sandboxes)), 10)  # each init and its sleep

        first.crash()

        # The sandboxes die with the daemon: init sees its control socket close.
        deadline = time.time() + 10
        while processes_of(sandboxes) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(processes_of(sandboxes), [])
        second = Daemon(workdir=first.dir)
        try:
            health = second.client.request("GET", "/v1/health").json()
            self.assertEqual(health["leftovers_cleaned"], 5)
            self.assertIn("cleaned up 5 sandboxes left by a previous run", second.read_log())
            self.assertEqual(sandbox_records(second.state), [])
            self.assertEqual(sandbox_cgroup_dirs(sandboxes), [])
            self.assertEqual(mounts_mentioning(sandboxes), [])
            self.assertEqual(processes_of(sandboxes), [])
            # And the restarted daemon works.
            sbx = second.client.create()
            self.assertEqual(second.client.run(sbx, "echo fresh")["stdout"], "fresh\n")
            second.client.kill(sbx)
        finally:
            second.stop()


if __name__ == "__main__":
    unittest.main()
