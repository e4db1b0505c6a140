"""declawctl's resource verbs against a real daemon: limits given to `create` are what `info` and
`stats` show, `pause` makes commands fail with a clear message until `resume`, a sandbox created
with `--on-timeout pause` is paused rather than killed, and a command the OOM killer ends exits
137 with a note that names the memory limit.
"""
import json
import os
import select
import signal
import subprocess
import time
import unittest

from harness import DECLAWCTL
from support import DaemonTestCase

MIB = 1 << 20
OOM_NOTE = b"declawctl: the command was killed for lack of memory (memory_mb=64)"
NOT_FOUND = rb"^declawctl: sandbox sbx-doesnotexist not found.*\(not_found\)\n$"


class CtlResources(DaemonTestCase):

    def ctl(self, *args, input=None, timeout=60):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args], input=input,
                              capture_output=True, timeout=timeout)

    def create(self, *flags):
        r = self.ctl("create", *flags)
        self.assertEqual(r.returncode, 0, r)
        sbx = r.stdout.decode().strip()
        self.addCleanup(self.api.kill, sbx)
        return sbx

    def info(self, sbx):
        r = self.ctl("--json", "info", sbx)
        self.assertEqual(r.returncode, 0, r)
        return json.loads(r.stdout)

    # --- create, info, ls --------------------------------------------------------------------

    def test_limits_given_to_create_are_what_info_shows(self):
        sbx = self.create("--cpu", "1.5", "--memory", "256", "--pids", "64", "--disk", "32",
                          "--on-timeout", "pause")
        r = self.ctl("info", sbx)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, rb"\nresources: +cpu=1.5 memory_mb=256 pids=64 disk_mb=32\n")
        self.assertRegex(r.stdout, rb"\nlifecycle: +on_timeout=pause\n")
        info = self.info(sbx)
        self.assertEqual(info["resources"], {"cpu": 1.5, "memory_mb": 256, "pids": 64,
                                             "disk_mb": 32})
        self.assertEqual(info["lifecycle"], {"on_timeout": "pause"})

    def test_a_limit_that_is_not_a_number_is_a_usage_error_before_any_sandbox_exists(self):
        before = self.api.request("GET", "/v1/sandboxes").json()["sandboxes"]
        r = self.ctl("create", "--memory", "1g")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"'1g' is not a number of MiB", r.stderr)
        self.assertEqual(self.api.request("GET", "/v1/sandboxes").json()["sandboxes"], before)

    def test_a_limit_over_the_daemons_maximum_is_its_error(self):
        r = self.ctl("create", "--memory", str(1 << 40))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"memory_mb", r.stderr)
        self.assertIn(b"(invalid_argument)", r.stderr)

    # --- stats ----------------------------------------------------------------------------

    def test_stats_no_stream_shows_the_sandbox_its_usage_and_its_limits(self):
        sbx = self.create("--cpu", "0.5", "--memory", "128", "--pids", "50", "--disk", "16")
        r = self.ctl("stats", "--no-stream", sbx)
        self.assertEqual(r.returncode, 0, r)
        header, row, *rest = r.stdout.decode().splitlines()
        self.assertEqual(rest, [])
        self.assertEqual(header.split("  ")[0], "ID")
        for column in ("CPU %", "CORES", "MEM USAGE / LIMIT", "MEM %", "PIDS",
                       "DISK USAGE / LIMIT", "OOM"):
            self.assertIn(column, header)
        self.assertTrue(row.startswith(sbx + "  "), row)
        self.assertRegex(row, r" / 0\.5 ")                  # cores used / limit
        self.assertRegex(row, r"[0-9.]+[KMG]?i?B / 128MiB")  # memory used / limit
        self.assertRegex(row, r" [0-9]+ / 50 ")             # pids / limit
        self.assertRegex(row, r"[0-9.]+[KMG]?i?B / 16MiB")  # disk used / limit

    def test_stats_cpu_is_what_the_sandbox_uses_now_not_its_average_so_far(self):
        sbx = self.create("--cpu", "1")
        r = self.ctl("exec", sbx, "--", "timeout 3 sh -c 'while :; do :; done'; true")
        self.assertEqual(r.returncode, 0, r)
        r = self.ctl("--json", "stats", "--no-stream", sbx)
        self.assertEqual(r.returncode, 0, r)
        (sample,) = [json.loads(line) for line in r.stdout.decode().splitlines()]
        # Its average since it started is well over half a core; the last second is idle.
        self.assertLess(sample["cpu_used_pct"], 10, sample)

    def test_stats_without_ids_shows_every_live_sandbox_paused_ones_too(self):
        running = self.create()
        paused = self.create()
        self.assertEqual(self.ctl("pause", paused).returncode, 0)
        r = self.ctl("stats", "--no-stream")
        self.assertEqual(r.returncode, 0, r)
        ids = [line.split()[0] for line in r.stdout.decode().splitlines()[1:]]
        self.assertIn(running, ids)
        self.assertIn(paused, ids)

    def test_stats_json_is_one_line_per_sandbox_with_the_daemons_numbers(self):
        a = self.create("--memory", "96")
        b = self.create("--pids", "40")
        r = self.ctl("--json", "stats", "--no-stream", a, b)
        self.assertEqual(r.returncode, 0, r)
        lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
        self.assertEqual([line["sandbox_id"] for line in lines], [a, b])
        self.assertEqual(lines[0]["mem_total"], 96 * MIB)
        self.assertEqual(lines[1]["pids_limit"], 40)
        self.assertGreater(lines[0]["mem_used"], 0)

    def test_stats_of_an_unknown_sandbox_says_so_and_exits_1(self):
        r = self.ctl("stats", "--no-stream", "sbx-doesnotexist")
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stderr, NOT_FOUND)

    def test_stats_ends_when_the_last_sandbox_it_watches_is_killed_and_says_so(self):
        sbx = self.create()
        proc = subprocess.Popen([DECLAWCTL, "--socket", self.daemon.socket, "--json", "stats", sbx],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = json.loads(proc.stdout.readline())
            self.assertEqual(first["sandbox_id"], sbx)
            self.assertEqual(self.ctl("kill", sbx).returncode, 0)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn(f"declawctl: sandbox {sbx} is not running".encode(), err)
        for line in out.decode().splitlines():
            self.assertEqual(json.loads(line)["sandbox_id"], sbx)

    def test_stats_on_a_terminal_redraws_every_second_and_restores_the_cursor_on_ctrl_c(self):
        sbx = self.create()
        master, slave = os.openpty()
        proc = subprocess.Popen([DECLAWCTL, "--socket", self.daemon.socket, "stats", sbx],
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        screen = b""
        try:
            deadline = time.monotonic() + 30
            while screen.count(b"\x1b[H") < 3 and time.monotonic() < deadline:
                if select.select([master], [], [], 0.2)[0]:
                    screen += os.read(master, 65536)
            self.assertGreaterEqual(screen.count(b"\x1b[H"), 3, screen[-2000:])
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=20), 0)
            while select.select([master], [], [], 0.2)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the slave side is closed
                    break
                if not data:
                    break
                screen += data
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        self.assertTrue(screen.startswith(b"\x1b[?25l"), screen[:100])  # cursor hidden first
        self.assertTrue(screen.endswith(b"\x1b[?25h"), screen[-100:])   # and shown at the end
        self.assertIn(sbx.encode(), screen)

    # --- pause, resume ----------------------------------------------------------------------

    def test_a_paused_sandbox_refuses_commands_clearly_until_resumed_and_keeps_its_files(self):
        sbx = self.create()
        r = self.ctl("exec", sbx, "--", "echo kept > /tmp/f")
        self.assertEqual(r.returncode, 0, r)

        r = self.ctl("pause", sbx)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        self.assertEqual(self.info(sbx)["state"], "paused")
        ls = self.ctl("ls", "--state", "paused")
        self.assertEqual(ls.returncode, 0, ls)
        self.assertRegex(ls.stdout, rf"\n{sbx} +base +paused ".encode())
        self.assertNotIn(sbx.encode(), self.ctl("ls", "--state", "running").stdout)

        r = self.ctl("exec", sbx, "--", "cat /tmp/f")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout, b"")
        self.assertIn(f"declawctl: sandbox {sbx} is paused: resume it first (conflict)".encode(),
                      r.stderr)

        r = self.ctl("resume", sbx)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(self.info(sbx)["state"], "running")
        r = self.ctl("exec", sbx, "--", "cat /tmp/f")
        self.assertEqual((r.returncode, r.stdout), (0, b"kept\n"), r)

    def test_pause_and_resume_json_print_the_sandbox(self):
        sbx = self.create()
        r = self.ctl("--json", "pause", sbx)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(json.loads(r.stdout)["state"], "paused")
        r = self.ctl("--json", "resume", sbx)
        self.assertEqual(json.loads(r.stdout)["state"], "running")

    def test_pause_of_an_unknown_sandbox_fails(self):
        r = self.ctl("pause", "sbx-doesnotexist")
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stderr, NOT_FOUND)

    def test_on_timeout_pause_pauses_the_sandbox_instead_of_killing_it(self):
        sbx = self.create("--timeout", "1", "--on-timeout", "pause")
        deadline = time.monotonic() + 30
        while self.info(sbx)["state"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.info(sbx)["state"], "paused")
        self.assertEqual(self.ctl("resume", sbx).returncode, 0)
        r = self.ctl("exec", sbx, "--", "echo alive")
        self.assertEqual((r.returncode, r.stdout), (0, b"alive\n"), r)

    # --- the OOM killer ---------------------------------------------------------------------

    def test_run_over_its_memory_limit_exits_137_and_says_why(self):
        r = self.ctl("run", "--memory", "64", "--", "python3", "-c", "bytearray(512<<20)",
                     timeout=120)
        self.assertEqual(r.returncode, 137, r)
        self.assertIn(OOM_NOTE, r.stderr)

    def test_exec_buffered_over_the_memory_limit_says_why_too(self):
        sbx = self.create("--memory", "64")
        r = self.ctl("exec", "--buffered", sbx, "--", "python3", "-c", "bytearray(512<<20)",
                     timeout=120)
        self.assertEqual(r.returncode, 137, r)
        self.assertIn(OOM_NOTE, r.stderr)

    def test_a_sigkill_that_is_not_the_oom_killer_gets_no_note(self):
        sbx = self.create("--memory", "64")
        r = self.ctl("exec", sbx, "--", "kill -9 $$")
        self.assertEqual(r.returncode, 137, r)
        self.assertNotIn(b"lack of memory", r.stderr)
        # Also after an earlier OOM kill in the same sandbox.
        r = self.ctl("exec", sbx, "--", "python3", "-c", "bytearray(512<<20)", timeout=120)
        self.assertEqual(r.returncode, 137, r)
        self.assertIn(OOM_NOTE, r.stderr)
        r = self.ctl("exec", sbx, "--", "kill -9 $$")
        self.assertEqual(r.returncode, 137, r)
        self.assertNotIn(b"lack of memory", r.stderr)


if __name__ == "__main__":
    unittest.main()
