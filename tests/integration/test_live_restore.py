"""Live restore: sandboxes outlive declawd (SIGKILL or SIGTERM) and the next declawd on the same
state dir adopts them, verified, with their files, processes (and the output those wrote while no
daemon ran), pause state, deadline, owner and metadata; the blocked-exfiltration scenario stays
blocked. A sandbox that cannot be verified (its init died, its record names another protocol
version) is killed and cleaned up; one whose deadline passed meanwhile is killed on adoption.
SIGINT, or live_restore: false, ends every sandbox with the daemon."""
import json
import os
import signal
import subprocess
import time
import unittest

from harness import DECLAWD, Daemon, require_root
from netns import Netns
from support import put_file, put_python_probe, run_python_probe, json_lines, wait_for
from test_processes import EventStream, output_of
from test_resources import processes_of, sandbox_cgroup_dirs

LIVE = {"live_restore": True}
SECRET = b"api-key: sk-live-restore-0123456789\n"
# A background command that keeps writing, one numbered line every 50 ms, for a minute.
# The timeout of a sandbox whose deadline passes while no daemon runs.
EXPIRING_S = 3
WRITER = "for i in $(seq 1 1200); do echo line $i; sleep 0.05; done"


def lines_of(output):
    return [int(line.split()[1]) for line in output.decode().splitlines() if line.startswith("line ")]


class LiveRestore(unittest.TestCase):
    def setUp(self):
        require_root()
        # The daemons share one network namespace (a restart finds its table there); the
        # sandboxes without internet access have empty ones of their own.
        self.netns = Netns()
        self.addCleanup(self.netns.close)
        self.daemons = []
        self.ids = []

    def tearDown(self):
        # Whatever a failed test left: SIGINT to the last daemon kills every sandbox.
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGINT)
                try:
                    daemon.proc.wait(timeout=30)
                except Exception:
                    daemon.proc.kill()
                    daemon.proc.wait()
        for pid in processes_of(self.ids):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass

    def start(self, config=LIVE, workdir=None):
        daemon = Daemon(config, workdir=workdir, netns=self.netns)
        self.daemons.append(daemon)
        return daemon

    def create(self, api, **spec):
        sbx = api.create(**spec)
        self.ids.append(sbx)
        return sbx

    def info(self, api, sbx):
        r = api.request("GET", f"/v1/sandboxes/{sbx}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def background(self, api, sbx, cmd):
        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"cmd": cmd, "background": True})
        self.assertEqual(r.status, 200, r)
        return r.json()["pid"]

    def output(self, daemon, sbx, pid, stream="stdout"):
        """What the process wrote, as far as the daemon's buffers hold it (follow=false)."""
        s = EventStream(daemon.socket, "GET", f"/v1/sandboxes/{sbx}/commands/{pid}/stream"
                        "?follow=false")
        try:
            self.assertEqual(s.status, 200)
            events = []
            while (event := s.next()) is not None:
                events.append(event)
            return output_of(events, stream)
        finally:
            s.close()

    def record_path(self, daemon, sbx):
        return os.path.join(daemon.state, "sandboxes", f"{sbx}.json")

    def assert_exfiltration_blocked(self, api, sbx):
        """The scenario: the secret is in a file; code inside tries TCP and DNS out and fails;
        the file is still readable through the API."""
        probe = put_python_probe(api, sbx, "egress_probe.py")
        tcp = json_lines(run_python_probe(api, sbx, probe, "tcp", "8.8.8.8", "53",
                                          SECRET.hex()))
        self.assertEqual([r["ok"] for r in tcp], [False], tcp)
        dns = json_lines(run_python_probe(api, sbx, probe, "resolve", "example.com"))
        self.assertEqual([r["ok"] for r in dns], [False], dns)
        self.assertEqual(api.read_bytes(sbx, "/home/user/secret.txt").body, SECRET)

    def test_a_crashed_daemon_s_sandboxes_are_adopted_by_the_next(self):
        first = self.start()
        api = first.client
        # Running, with a file, a process that keeps writing and one that waits.
        running = self.create(api, timeout=600, metadata={"owner": "agent-7"})
        put_file(api, running, "/home/user/secret.txt", SECRET)
        writer = self.background(api, running, WRITER)
        sleeper = self.background(api, running, "sleep 600")
        # Paused, with a file.
        paused = self.create(api, timeout=600)
        put_file(api, paused, "/home/user/note.txt", b"paused\n")
        self.assertEqual(api.request("POST", f"/v1/sandboxes/{paused}/pause").status, 200)
        # One whose init dies while no daemon runs.
        orphan = self.create(api, timeout=600)
        # One whose record names a protocol version this daemon does not speak.
        foreign = self.create(api, timeout=600)
        before = {sbx: self.info(api, sbx) for sbx in (running, paused)}
        self.assertTrue(wait_for(lambda: lines_of(self.output(first, running, writer))))
        # One whose deadline passes while no daemon runs.
        expiring = self.create(api, timeout=EXPIRING_S)
        expiring_end = time.monotonic() + EXPIRING_S

        first.crash()
        crashed_at = time.monotonic()
        # Everything still runs without a daemon.
        for sbx in (running, paused, expiring, orphan, foreign):
            self.assertNotEqual(processes_of([sbx]), [], f"{sbx} died with its daemon")
        for pid in processes_of([orphan]):
            os.kill(int(pid), signal.SIGKILL)
        self.assertTrue(wait_for(lambda: not processes_of([orphan])))
        with open(self.record_path(first, foreign)) as f:
            record = json.load(f)
        self.assertIn("protocol", record["sandbox"], record)
        record["sandbox"]["protocol"] = 999
        with open(self.record_path(first, foreign), "w") as f:
            json.dump(record, f)
        # The writer goes on writing into its pipe; the expiring sandbox's deadline passes.
        time.sleep(max(1.0 - (time.monotonic() - crashed_at), expiring_end + 0.5 - time.monotonic(),
                       0.0))

        second = self.start(workdir=first.dir)
        api = second.client
        health = api.request("GET", "/v1/health").json()
        log = second.read_log()
        health["log"] = [line for line in log.splitlines() if "adopt" in line]
        self.assertTrue(health["features"]["live_restore"], health)
        self.assertEqual(health["sandboxes_restored"], 3, health)  # running, paused, expiring
        self.assertEqual(health["restore_failures"], 2, health)  # orphan, foreign
        self.assertIn(f"[{orphan}] cannot adopt", log)
        self.assertRegex(log, rf"\[{foreign}\] cannot adopt.*protocol version 999")

        # The running one: the same sandbox, served as before.
        after = self.info(api, running)
        for key in ("sandbox_id", "end_at", "started_at", "metadata", "template_id", "state"):
            self.assertEqual(after.get(key), before[running].get(key), key)
        self.assertEqual(after["state"], "running")
        self.assertEqual(api.read_bytes(running, "/home/user/secret.txt").body, SECRET)
        processes = {p["pid"]: p for p in api.request(
            "GET", f"/v1/sandboxes/{running}/commands").json()["processes"]}
        self.assertIn(writer, processes)
        self.assertEqual(processes[writer]["cmd"], WRITER)
        self.assertTrue(processes[writer]["background"])
        self.assertTrue(processes[sleeper]["running"], processes[sleeper])
        # Output written while no daemon ran is there, and output goes on arriving.
        seen = lines_of(self.output(second, running, writer))
        self.assertGreaterEqual(len(seen), 40, "the writer's output during the outage is lost")
        self.assertEqual(seen, list(range(seen[0], seen[0] + len(seen))), "lines lost between")
        self.assertTrue(wait_for(lambda: len(lines_of(self.output(second, running, writer)))
                                 > len(seen)), "no output after the adoption")
        self.assertEqual(api.run(running, "echo adopted")["stdout"], "adopted\n")
        self.assertEqual(api.request("DELETE",
                                     f"/v1/sandboxes/{running}/commands/{sleeper}").status, 204)
        waited = api.request("GET", f"/v1/sandboxes/{running}/commands/{sleeper}/wait",
                             query={"timeout": 20})
        self.assertEqual(waited.status, 200, waited)
        self.assertFalse(waited.json()["running"])
        self.assert_exfiltration_blocked(api, running)

        # The paused one stays paused until resumed.
        self.assertEqual(self.info(api, paused)["state"], "paused")
        self.assertEqual(api.request("POST", f"/v1/sandboxes/{paused}/resume").status, 200)
        self.assertEqual(api.read_bytes(paused, "/home/user/note.txt").body, b"paused\n")
        self.assertEqual(api.run(paused, "echo resumed")["stdout"], "resumed\n")

        # The expired one is killed; the two that failed verification are gone without a trace.
        self.assertTrue(wait_for(lambda: not processes_of([expiring])), "expired one runs")
        for sbx in (expiring, orphan, foreign):
            self.assertTrue(wait_for(lambda: not processes_of([sbx])), sbx)
            self.assertNotIn(sbx, [s["sandbox_id"] for s in api.request(
                "GET", "/v1/sandboxes").json()["sandboxes"]])
        for sbx in (orphan, foreign):
            self.assertFalse(os.path.exists(self.record_path(second, sbx)))
            self.assertFalse(os.path.exists(os.path.join(second.state, "init", f"{sbx}.sock")))
            self.assertEqual(sandbox_cgroup_dirs([sbx]), [])
        listed = [s["sandbox_id"] for s in api.request("GET", "/v1/sandboxes").json()["sandboxes"]]
        self.assertEqual(sorted(listed), sorted([running, paused]))
        # A fresh sandbox next to the adopted ones gets another uid range and works.
        fresh = self.create(api)
        self.assertEqual(api.run(fresh, "echo fresh")["stdout"], "fresh\n")

        second.stop(signal.SIGINT)  # kills all; asserts no record, socket or mount left
        self.assertEqual(processes_of(self.ids), [])
        self.assertEqual(sandbox_cgroup_dirs(self.ids), [])

    def test_a_crashed_daemon_s_warm_pool_is_cleaned_up_not_adopted(self):
        # Pooled sandboxes are nobody's until a create claims one: a restart must not adopt
        # them (as root's, with the pool's settings), but end them as leftovers.
        first = self.start({**LIVE, "pool": {"base": 2}})
        api = first.client
        self.assertTrue(wait_for(
            lambda: 'declaw_pool_ready{template="base"} 2' in
            api.request("GET", "/metrics").body.decode(), timeout=60), "the pool did not fill")
        # Every record is a pooled sandbox's or an init launched ahead's: no create ran.
        ids = [name[:-len(".json")] for name in
               os.listdir(os.path.join(first.state, "sandboxes")) if name.endswith(".json")]
        self.ids.extend(ids)
        self.assertGreaterEqual(len(ids), 2, ids)
        first.crash()

        second = self.start(workdir=first.dir)
        api = second.client
        health = api.request("GET", "/v1/health").json()
        self.assertEqual(health["sandboxes_restored"], 0, health)
        self.assertEqual(api.request("GET", "/v1/sandboxes").json()["sandboxes"], [])
        self.assertTrue(wait_for(lambda: not processes_of(ids)), processes_of(ids))
        left = os.listdir(os.path.join(first.state, "sandboxes"))
        self.assertEqual([name for name in left if name[:-len(".json")] in ids], [], left)
        second.stop(signal.SIGINT)  # asserts no record, socket or mount left
        self.assertEqual(sandbox_cgroup_dirs(ids), [])

    def test_sigterm_leaves_sandboxes_running_and_sigint_stops_them(self):
        first = self.start()
        sbx = self.create(first.client, timeout=600)
        put_file(first.client, sbx, "/home/user/secret.txt", SECRET)
        sleeper = self.background(first.client, sbx, "sleep 600")
        # A background command keeps stdin open (as the code interpreter's bridge does).
        reader = self.background(first.client, sbx, "cat")
        r = first.client.request("POST", f"/v1/sandboxes/{sbx}/commands/{reader}/stdin",
                                 {"data": "before\n"})
        self.assertEqual(r.status, 204, r)
        r = first.client.request("POST", f"/v1/sandboxes/{sbx}/pty",
                                 {"size": {"rows": 24, "cols": 80}})
        self.assertEqual(r.status, 200, r)
        pty = r.json()["pid"]
        first.terminate()
        self.assertIn("1 sandboxes left running for the next daemon", first.read_log())
        self.assertNotEqual(processes_of([sbx]), [])
        self.assertTrue(os.path.exists(self.record_path(first, sbx)))

        second = self.start(workdir=first.dir)
        api = second.client
        self.assertEqual(api.request("GET", "/v1/health").json()["sandboxes_restored"], 1)
        self.assertTrue(api.request("GET", f"/v1/sandboxes/{sbx}/commands/{sleeper}")
                        .json()["running"])
        self.assertEqual(api.run(sbx, "cat /home/user/secret.txt")["stdout"], SECRET.decode())
        self.assert_exfiltration_blocked(api, sbx)
        # Stdin outlived the daemon too: the reader did not see EOF, and takes input again;
        # closing it now ends the reader as before.
        info = api.request("GET", f"/v1/sandboxes/{sbx}/commands/{reader}").json()
        self.assertTrue(info["running"] and info["stdin_open"], info)
        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands/{reader}/stdin",
                        {"data": "after\n"})
        self.assertEqual(r.status, 204, r)
        # (Its "before" was read off the pipe by the first daemon: only what the pipe still held
        # at the restart comes to the next one.)
        self.assertTrue(wait_for(lambda: b"after\n" in self.output(second, sbx, reader)),
                        self.output(second, sbx, reader))
        r = api.request("DELETE", f"/v1/sandboxes/{sbx}/commands/{reader}/stdin")
        self.assertEqual(r.status, 204, r)
        waited = api.request("GET", f"/v1/sandboxes/{sbx}/commands/{reader}/wait",
                             query={"timeout": 20}).json()
        self.assertEqual(waited.get("exit_code"), 0, waited)
        # Its terminal is the same shell, and takes input and a resize again.
        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands/{pty}/stdin",
                        {"data": "echo pty-$((40 + 2)) $COLUMNS\n"})
        self.assertEqual(r.status, 204, r)
        self.assertTrue(wait_for(lambda: b"pty-42" in self.output(second, sbx, pty, "pty")),
                        self.output(second, sbx, pty, "pty"))
        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands/{pty}/resize",
                        {"rows": 30, "cols": 100})
        self.assertEqual(r.status, 204, r)
        api.request("POST", f"/v1/sandboxes/{sbx}/commands/{pty}/stdin",
                    {"data": "echo cols-$COLUMNS\n"})
        self.assertTrue(wait_for(lambda: b"cols-100" in self.output(second, sbx, pty, "pty")),
                        self.output(second, sbx, pty, "pty"))
        # And again: an adopted sandbox survives the next restart too.
        second.terminate()
        third = self.start(workdir=first.dir)
        self.assertEqual(third.client.run(sbx, "echo third")["stdout"], "third\n")
        third.stop(signal.SIGINT)  # asserts no record or init socket left
        self.assertEqual(processes_of([sbx]), [])
        self.assertEqual(sandbox_cgroup_dirs([sbx]), [])

    def test_a_second_daemon_on_the_same_state_dir_is_refused(self):
        first = self.start()
        sbx = self.create(first.client)
        second = subprocess.run(
            ["nsenter", f"--net={self.netns.path}", "--", DECLAWD, "--socket",
             os.path.join(first.dir, "second.sock"), "--state-dir", first.state, "--data-dir",
             first.data, "--config", os.path.join(first.dir, "config.json")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 1, second)
        self.assertIn("another declawd uses this state dir", second.stdout + second.stderr)
        self.assertFalse(os.path.exists(os.path.join(first.dir, "second.sock")))
        # The first one's sandbox was neither cleaned nor adopted by it.
        self.assertEqual(first.client.run(sbx, "echo still")["stdout"], "still\n")
        first.client.kill(sbx)
        first.stop()

    def test_with_live_restore_off_sigterm_kills_every_sandbox(self):
        daemon = self.start({"live_restore": False})
        sbx = self.create(daemon.client)
        self.background(daemon.client, sbx, "sleep 600")
        health = daemon.client.request("GET", "/v1/health").json()
        self.assertFalse(health["features"]["live_restore"], health)
        daemon.stop()  # SIGTERM; asserts no record or init socket left
        self.assertTrue(wait_for(lambda: not processes_of([sbx])))
        self.assertEqual(sandbox_cgroup_dirs([sbx]), [])


if __name__ == "__main__":
    unittest.main()
