"""Lifecycle: create, info, list with filters, timeouts that kill, set_timeout, idempotent kill,
the sandbox limit, and ownership: a non-root caller sees and touches only its own sandboxes."""
import datetime
import grp
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest

from harness import DECLAWD, Client, Daemon, DaemonTestCase, require_root, sandbox_records
from support import random_suffix

SANDBOX_ID = re.compile(r"^sbx-[0-9a-z]{12}$")
POLL_INTERVAL_S = 0.2
DEFAULT_POOL_BASE = 1 << 28
POOL_SPAN = 1 << 26  # 1024 slots of 65536 ids, the default pool size


def own_pool_config():
    """A uid pool apart from the default one, so that a declawd someone else runs on this host
    cannot own processes in the ranges these tests look at."""
    return {"id_pool_base": DEFAULT_POOL_BASE + random.randint(1, 58) * POOL_SPAN}


def wait_until_gone(base, within_s):
    deadline = time.monotonic() + within_s
    while host_processes_in_range(base) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
    return host_processes_in_range(base)


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def host_processes_in_range(base):
    """Host pids whose real uid lies in the sandbox's range [base, base + 65536)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
                        if base <= uid < base + 65536:
                            found.append(int(pid))
                        break
        except OSError:
            continue
    return found


class Lifecycle(DaemonTestCase):
    # These tests look for host processes in a sandbox's uid range: a pool of their own keeps a
    # declawd run by someone else on this host (default pool) out of the picture.
    daemon_config = own_pool_config()

    def info(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_for_state(self, sbx, state, within_s):
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.info(sbx)["state"] == state:
                return
            time.sleep(POLL_INTERVAL_S)
        self.fail(f"{sbx} not {state} within {within_s} s: {self.info(sbx)}")

    def uid_base(self, sbx):
        res = self.api.run(sbx, "cat /proc/self/uid_map")
        return int(res["stdout"].split()[1])

    def assertConflict(self, r):
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()["error"]["code"], "conflict")

    def assertNotUsable(self, sbx):
        self.assertConflict(self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                                             {"cmd": "true"}))
        self.assertConflict(self.api.request("GET", f"/v1/sandboxes/{sbx}/files/raw",
                                             query={"path": "/etc/hostname"}))

    def assertProcessesGone(self, base, within_s=5):
        self.assertEqual(wait_until_gone(base, within_s), [], "sandbox processes outlived it")

    # --- create and info ------------------------------------------------------------------

    def test_info_describes_a_new_sandbox(self):
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        r = self.api.request("POST", "/v1/sandboxes",
                             {"timeout": 120, "metadata": {"k": "v"}, "envs": {"E": "1"}})
        self.assertEqual(r.status, 201, r)
        created = r.json()
        self.addCleanup(self.api.kill, created["sandbox_id"])
        self.assertRegex(created["sandbox_id"], SANDBOX_ID)
        info = self.info(created["sandbox_id"])
        self.assertEqual(info["sandbox_id"], created["sandbox_id"])
        self.assertEqual(info["template_id"], "base")
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["metadata"], {"k": "v"})
        self.assertEqual(info["envs"], {"E": "1"})
        self.assertIs(info["allow_internet_access"], False)
        self.assertEqual(info["owner_uid"], 0)
        started, end = parse_time(info["started_at"]), parse_time(info["end_at"])
        self.assertGreaterEqual(started, before - datetime.timedelta(seconds=1))
        self.assertAlmostEqual((end - started).total_seconds(), 120, delta=2)

    def test_the_python_template_runs_python(self):
        sbx = self.sandbox(template="python")
        self.assertEqual(self.info(sbx)["template_id"], "python")
        self.assertEqual(self.api.run(sbx, "python3 -c 'print(6*7)'")["stdout"], "42\n")

    def test_an_unknown_template_is_400(self):
        r = self.api.request("POST", "/v1/sandboxes", {"template": "no-such-template"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("template", r.json()["error"]["message"])

    def test_internet_access_from_a_daemon_without_networking_is_501_saying_why(self):
        # The harness runs this daemon with "network": "off" (no host network state touched).
        self.assertFalse(self.api.request("GET", "/v1/health").json()["features"]["internet_access"])
        for body in ({"allow_internet_access": True}, {"network": {"allow_out": ["example.com"]}}):
            r = self.api.request("POST", "/v1/sandboxes", body)
            self.assertEqual(r.status, 501, r)
            self.assertIn("network", r.json()["error"]["message"])
        r = self.api.request("POST", "/v1/sandboxes",
                             {"allow_internet_access": False, "network": {"allow_out": ["a.test"]}})
        self.assertEqual(r.status, 201, r)
        sbx = r.json()["sandbox_id"]
        self.addCleanup(self.api.kill, sbx)
        self.assertEqual(r.json()["network"]["allow_out"], ["a.test"])
        self.assertIsNone(r.json()["network"]["address"])

    def test_sandboxes_created_in_parallel_all_start(self):
        results = []

        def create():
            r = self.api.request("POST", "/v1/sandboxes", {}, timeout=60)
            results.append(r)
            if r.status == 201:
                self.addCleanup(self.api.kill, r.json()["sandbox_id"])

        for _ in range(3):
            threads = [threading.Thread(target=create) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for r in results:
                if r.status == 201:
                    self.api.kill(r.json()["sandbox_id"])
        self.assertEqual([r.status for r in results if r.status != 201], [],
                         [r for r in results if r.status != 201][:2])

    def test_each_sandbox_gets_a_distinct_id(self):
        ids = {self.sandbox() for _ in range(3)}
        self.assertEqual(len(ids), 3)

    # --- timeouts -------------------------------------------------------------------------

    def test_a_sandbox_is_killed_when_its_timeout_expires(self):
        sbx = self.sandbox(timeout=2)
        base = self.uid_base(sbx)
        self.assertEqual(self.info(sbx)["state"], "running")
        self.wait_for_state(sbx, "killed", within_s=10)
        self.assertNotUsable(sbx)
        self.assertProcessesGone(base)

    def test_extending_the_timeout_keeps_the_sandbox_alive(self):
        sbx = self.sandbox(timeout=3)
        old_end = parse_time(self.info(sbx)["end_at"])
        r = self.api.request("PATCH", f"/v1/sandboxes/{sbx}/timeout", {"timeout": 60})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["sandbox_id"], sbx)
        new_end = parse_time(r.json()["end_at"])
        self.assertGreater((new_end - old_end).total_seconds(), 50)
        time.sleep(5)
        self.assertEqual(self.info(sbx)["state"], "running")
        self.assertEqual(self.api.run(sbx, "echo alive")["stdout"], "alive\n")

    def test_shortening_the_timeout_kills_sooner(self):
        sbx = self.sandbox()
        r = self.api.request("PATCH", f"/v1/sandboxes/{sbx}/timeout", {"timeout": 1})
        self.assertEqual(r.status, 200, r)
        self.wait_for_state(sbx, "killed", within_s=8)

    def test_a_running_command_dies_with_its_sandbox(self):
        sbx = self.sandbox(timeout=3)
        started = time.monotonic()
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands",
                             {"cmd": "sleep 120", "timeout": 0})
        self.assertLess(time.monotonic() - started, 30, "the command outlived its sandbox")
        if r.status == 200:
            self.assertNotEqual(r.json()["exit_code"], 0, r)
        else:
            self.assertIn(r.status, (408, 409), r)

    # --- kill -----------------------------------------------------------------------------

    def test_kill_is_idempotent(self):
        sbx = self.sandbox()
        base = self.uid_base(sbx)
        first = self.api.kill(sbx)
        second = self.api.kill(sbx)
        self.assertEqual((first.status, second.status), (204, 204), (first, second))
        self.assertEqual(first.body, b"")
        info = self.info(sbx)
        self.assertEqual(info["state"], "killed")
        self.assertLessEqual(parse_time(info["end_at"]),
                             datetime.datetime.now(datetime.timezone.utc)
                             + datetime.timedelta(seconds=1))
        self.assertNotUsable(sbx)
        self.assertProcessesGone(base)

    def test_a_killed_sandbox_is_retired_once(self):
        # Killing races with the daemon noticing that init died; either way the sandbox must be
        # retired once: listed once, its uid range released once.
        tag = random_suffix()
        for _ in range(80):
            self.api.kill(self.api.create(metadata={"t": tag}))
        killed = self.list_ids({"metadata": f"t={tag}", "state": "killed"})
        self.assertEqual(sorted(set(killed)), sorted(killed), "a sandbox is listed twice")

    def test_setting_the_timeout_of_a_killed_sandbox_is_409(self):
        sbx = self.sandbox()
        self.api.kill(sbx)
        self.assertConflict(self.api.request("PATCH", f"/v1/sandboxes/{sbx}/timeout",
                                             {"timeout": 60}))

    def test_live_sandboxes_never_share_a_uid_range_even_after_kills(self):
        a, b = self.sandbox(), self.sandbox()
        base_a = self.uid_base(a)
        self.api.kill(a)
        self.assertProcessesGone(base_a)
        c, d = self.sandbox(), self.sandbox()
        bases = [self.uid_base(x) for x in (b, c, d)]
        self.assertEqual(len(set(bases)), 3, bases)

    def daemon_fds(self):
        return len(os.listdir(f"/proc/{self.daemon.proc.pid}/fd"))

    def daemon_threads(self):
        return len(os.listdir(f"/proc/{self.daemon.proc.pid}/task"))

    def test_the_daemon_does_not_leak_fds_or_threads(self):
        def workload():
            for n in range(5):
                sbx = self.api.create()
                for i in range(5):
                    # (stdin that a command leaves unread has a test of its own in test_commands)
                    self.api.run(sbx, f"read line; echo $line {i}; echo err >&2", stdin="x\n")
                    self.api.write_bytes(sbx, f"/tmp/f{i}", b"x")
                    self.api.read_bytes(sbx, f"/tmp/f{i}")
                    self.api.request("GET", f"/v1/sandboxes/{sbx}/files/list",
                                     query={"path": "/tmp"})
                if n == 0:
                    self.api.run(sbx, "sleep 30", timeout=1)  # a timed-out command too
                self.api.kill(sbx)

        workload()  # warm up: pools, caches, lazily opened files
        time.sleep(0.5)
        fds, threads = self.daemon_fds(), self.daemon_threads()
        workload()
        # What the daemon closes after a kill it may close a moment later: a leak is what is
        # still open once it has had ample time.
        deadline = time.monotonic() + 30
        while ((self.daemon_fds() > fds + 2 or self.daemon_threads() > threads + 2)
               and time.monotonic() < deadline):
            time.sleep(POLL_INTERVAL_S)
        self.assertLessEqual(self.daemon_fds(), fds + 2, "declawd leaks file descriptors")
        self.assertLessEqual(self.daemon_threads(), threads + 2, "declawd leaks threads")

    # --- list -----------------------------------------------------------------------------

    def list_ids(self, query=None):
        r = self.api.request("GET", "/v1/sandboxes", query=query)
        self.assertEqual(r.status, 200, r)
        return [s["sandbox_id"] for s in r.json()["sandboxes"]]

    def test_list_filters_by_metadata(self):
        tag = random_suffix()
        a = self.sandbox(metadata={"suite": tag, "role": "a"})
        b = self.sandbox(metadata={"suite": tag, "role": "b"})
        other = self.sandbox(metadata={"suite": "other"})
        self.assertEqual(self.list_ids({"metadata": f"suite={tag}&role=a"}), [a])
        self.assertEqual(self.list_ids({"metadata": f"suite={tag}"}), [b, a], "newest first")
        self.assertEqual(self.list_ids({"metadata": f"suite={tag}&role=c"}), [])
        self.assertEqual(self.list_ids({"metadata": "suite=nothing-has-this"}), [])
        everything = self.list_ids()
        self.assertTrue({a, b, other} <= set(everything), everything)

    def test_list_filters_by_state(self):
        tag = random_suffix()
        alive = self.sandbox(metadata={"t": tag})
        dead = self.sandbox(metadata={"t": tag})
        self.api.kill(dead)
        meta = f"t={tag}"
        self.assertEqual(self.list_ids({"metadata": meta, "state": "running"}), [alive])
        self.assertEqual(self.list_ids({"metadata": meta, "state": "killed"}), [dead])
        self.assertEqual(self.list_ids({"metadata": meta, "state": "running,killed"}),
                         [dead, alive])
        r = self.api.request("GET", "/v1/sandboxes?state=running&state=killed&metadata=" + meta)
        self.assertEqual([s["sandbox_id"] for s in r.json()["sandboxes"]], [dead, alive])
        r = self.api.request("GET", "/v1/sandboxes", query={"state": "sleeping"})
        self.assertEqual(r.status, 400, r)


class SandboxLimit(DaemonTestCase):
    daemon_config = {"max_sandboxes": 2}

    def test_creating_beyond_max_sandboxes_is_429_until_one_is_killed(self):
        first = self.sandbox()
        self.sandbox()
        r = self.api.request("POST", "/v1/sandboxes", {})
        if r.status == 201:
            self.addCleanup(self.api.kill, r.json()["sandbox_id"])
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error"]["code"], "rate_limited")
        self.api.kill(first)
        self.sandbox()


class DaemonStops(unittest.TestCase):
    """Sandboxes never outlive declawd: SIGTERM kills them all; after a crash they die with their
    control sockets and the next start removes what the crashed daemon recorded."""

    def setUp(self):
        require_root()

    @staticmethod
    def uid_base(client, sbx):
        return int(client.run(sbx, "cat /proc/self/uid_map")["stdout"].split()[1])

    def test_sigterm_kills_every_sandbox_and_leaves_nothing_behind(self):
        daemon = Daemon(own_pool_config())
        try:
            sandboxes = [daemon.client.create() for _ in range(2)]
            bases = [self.uid_base(daemon.client, sbx) for sbx in sandboxes]
            for base in bases:
                self.assertNotEqual(host_processes_in_range(base), [], "no sandbox process seen")
        finally:
            daemon.stop()  # asserts exit status 0, no records and no socket left
        for base in bases:
            self.assertEqual(wait_until_gone(base, 5), [], "a sandbox outlived declawd")

    def test_after_a_crash_sandboxes_die_and_the_next_start_removes_their_records(self):
        daemon = Daemon(own_pool_config())
        records = os.path.join(daemon.state, "sandboxes")
        restarted = None
        try:
            sbx = daemon.client.create()
            base = self.uid_base(daemon.client, sbx)
            self.assertEqual(sandbox_records(daemon.state), [f"{sbx}.json"])
            daemon.proc.kill()
            daemon.proc.wait()
            self.assertEqual(wait_until_gone(base, 10), [], "sandboxes outlived a crashed declawd")
            self.assertEqual(sandbox_records(daemon.state), [f"{sbx}.json"],
                             "the record should remain")
            with open(daemon.log_path, "a") as log:
                restarted = subprocess.Popen(
                    [DECLAWD, "--socket", daemon.socket, "--state-dir", daemon.state,
                     "--data-dir", daemon.data,
                     "--config", os.path.join(daemon.dir, "config.json"), "--log-level", "debug"],
                    stdout=log, stderr=subprocess.STDOUT)
            client = Client(daemon.socket)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and restarted.poll() is None:
                try:
                    if client.request("GET", "/v1/health").status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            self.assertIsNone(restarted.poll(), daemon.read_log()[-3000:])
            self.assertEqual(sandbox_records(daemon.state), [], "the leftover record was not removed")
            self.assertNotIn(f"{sbx}.json", os.listdir(records))
            fresh = client.create()
            self.assertEqual(client.run(fresh, "echo ok")["stdout"], "ok\n")
        finally:
            if restarted is not None and restarted.poll() is None:
                restarted.send_signal(signal.SIGTERM)
                try:
                    restarted.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    restarted.kill()
                    restarted.wait()
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon.log.close()
            log_text = daemon.read_log()
            shutil.rmtree(daemon.dir, ignore_errors=True)
        self.assertEqual(restarted.returncode, 0, log_text[-3000:])


# The client a non-root caller runs: performs the requests given as JSON in argv[2] on the socket
# argv[1], prints [{"status": N, "body": ...}] (or {"connect_error": errno}). Stdlib only.
UNPRIVILEGED_CLIENT = r"""
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(sys.argv[1])
out = []
for method, path, body in json.loads(sys.argv[2]):
    c = Conn("declaw")
    try:
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        try:
            data = json.loads(data) if data else None
        except ValueError:
            data = data.decode(errors="replace")
        out.append({"status": r.status, "body": data})
    except OSError as e:
        out.append({"connect_error": e.errno})
    finally:
        c.close()
print(json.dumps(out))
"""


class OtherCallers(DaemonTestCase):
    """Callers other than root, through setpriv: uid 65534 (nobody) with the declaw group."""

    NOBODY = 65534
    STRANGER = 65533

    @classmethod
    def setUpClass(cls):
        require_root()
        cls.declaw_gid = grp.getgrnam("declaw").gr_gid  # install-deps creates the group
        super().setUpClass()
        st = os.stat(cls.daemon.socket)
        if st.st_gid != cls.declaw_gid or st.st_mode & 0o777 != 0o660:
            cls.tearDownClass()
            raise AssertionError(f"the API socket must be root:declaw 0660, is gid {st.st_gid} "
                                 f"mode {oct(st.st_mode & 0o777)}")

    def call_as(self, uid, requests, with_group=True):
        groups = ["--groups", str(self.declaw_gid)] if with_group else ["--clear-groups"]
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", *groups,
               "/usr/bin/python3", "-c", UNPRIVILEGED_CLIENT, self.daemon.socket,
               json.dumps(requests)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def create_as(self, uid):
        (r,) = self.call_as(uid, [("POST", "/v1/sandboxes", {})])
        self.assertEqual(r.get("status"), 201, r)
        sbx = r["body"]["sandbox_id"]
        self.addCleanup(self.api.kill, sbx)
        return sbx

    def assertDenied(self, r, what):
        self.assertIn(r.get("status"), (403, 404), f"{what}: {r}")
        self.assertIn(r["body"]["error"]["code"], ("forbidden", "not_found"), what)

    def test_a_caller_outside_the_declaw_group_cannot_connect(self):
        (r,) = self.call_as(self.NOBODY, [("GET", "/v1/health", None)], with_group=False)
        self.assertEqual(r, {"connect_error": 13}, "EACCES expected")

    def test_a_caller_in_the_declaw_group_reaches_the_daemon(self):
        (r,) = self.call_as(self.NOBODY, [("GET", "/v1/health", None)])
        self.assertEqual(r.get("status"), 200, r)

    def test_a_non_root_caller_cannot_see_or_touch_roots_sandbox(self):
        sbx = self.sandbox()
        base = f"/v1/sandboxes/{sbx}"
        attempts = {
            "info": ("GET", base, None),
            "kill": ("DELETE", base, None),
            "set timeout": ("PATCH", f"{base}/timeout", {"timeout": 1}),
            "run": ("POST", f"{base}/commands", {"cmd": "touch /tmp/owned-by-nobody"}),
            "read file": ("GET", f"{base}/files/raw?path=/etc/hostname", None),
            "write file": ("POST", f"{base}/files?path=/tmp/owned-by-nobody",
                           {"content": "x"}),
            "list dir": ("GET", f"{base}/files/list?path=/", None),
            "remove": ("DELETE", f"{base}/files?path=/home/user", None),
            "mkdir": ("POST", f"{base}/files/mkdir?path=/tmp/owned-by-nobody", None),
        }
        results = self.call_as(self.NOBODY, list(attempts.values()))
        for what, r in zip(attempts, results):
            with self.subTest(attempt=what):
                self.assertDenied(r, what)
                self.assertNotIn(sbx, json.dumps(r["body"].get("sandboxes", [])))
        (listing,) = self.call_as(self.NOBODY, [("GET", "/v1/sandboxes", None)])
        self.assertEqual(listing["status"], 200, listing)
        self.assertNotIn(sbx, [s["sandbox_id"] for s in listing["body"]["sandboxes"]])
        # Root's sandbox is untouched.
        info = self.api.request("GET", base).json()
        self.assertEqual(info["state"], "running")
        res = self.api.run(sbx, "test ! -e /tmp/owned-by-nobody && test -d /home/user")
        self.assertEqual(res["exit_code"], 0, res)

    def test_a_non_root_caller_owns_and_sees_only_its_own_sandboxes(self):
        root_sbx = self.sandbox()
        mine = self.create_as(self.NOBODY)
        listing, info, run = self.call_as(self.NOBODY, [
            ("GET", "/v1/sandboxes", None),
            ("GET", f"/v1/sandboxes/{mine}", None),
            ("POST", f"/v1/sandboxes/{mine}/commands", {"cmd": "id -u"}),
        ])
        self.assertEqual([s["sandbox_id"] for s in listing["body"]["sandboxes"]], [mine])
        self.assertEqual(info["body"]["owner_uid"], self.NOBODY)
        self.assertEqual(run["body"]["stdout"], "1000\n")
        # Root sees both.
        everything = [s["sandbox_id"] for s in self.api.request("GET", "/v1/sandboxes")
                      .json()["sandboxes"]]
        self.assertIn(mine, everything)
        self.assertIn(root_sbx, everything)
        (kill,) = self.call_as(self.NOBODY, [("DELETE", f"/v1/sandboxes/{mine}", None)])
        self.assertEqual(kill["status"], 204, kill)

    def test_non_root_callers_cannot_see_each_others_sandboxes(self):
        nobodys = self.create_as(self.NOBODY)
        listing, info, kill = self.call_as(self.STRANGER, [
            ("GET", "/v1/sandboxes", None),
            ("GET", f"/v1/sandboxes/{nobodys}", None),
            ("DELETE", f"/v1/sandboxes/{nobodys}", None),
        ])
        self.assertNotIn(nobodys, [s["sandbox_id"] for s in listing["body"]["sandboxes"]])
        self.assertDenied(info, "info")
        self.assertDenied(kill, "kill")
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{nobodys}").json()["state"],
                         "running")


if __name__ == "__main__":
    unittest.main()
