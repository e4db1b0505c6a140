"""Commands: POST /v1/sandboxes/{id}/commands runs `bash -l -c CMD` in the foreground and answers
with its exit code, its stdout and stderr kept apart and byte-exact, after applying envs, cwd,
user, stdin and a timeout that kills the whole process group."""
import base64
import hashlib
import json
import threading
import time
import unittest

from harness import run_output
from support import SharedSandboxTestCase

SIGKILL = 9
SIGTERM = 15


class RunningCommands(SharedSandboxTestCase):
    sandbox_spec = {"envs": {"DECLAW_T_SANDBOX": "from-sandbox", "DECLAW_T_BOTH": "from-sandbox"}}

    def run_cmd(self, cmd, **kw):
        return self.api.run(self.sbx, cmd, **kw)

    # --- exit status ----------------------------------------------------------------------

    def test_exit_codes_come_back_as_they_are(self):
        for code in (0, 1, 3, 42, 255):
            with self.subTest(code=code):
                res = self.run_cmd(f"exit {code}")
                self.assertEqual(res["exit_code"], code)
                self.assertFalse(res["timed_out"])
                self.assertNotIn("signal", res)

    def test_a_command_killed_by_a_signal_reports_128_plus_the_signal(self):
        res = self.run_cmd("kill -TERM $$")
        self.assertEqual(res["exit_code"], 128 + SIGTERM)
        self.assertEqual(res["signal"], SIGTERM)
        self.assertFalse(res["timed_out"])

    def test_a_missing_program_is_exit_127_not_an_error(self):
        res = self.run_cmd("no-such-program-declaw")
        self.assertEqual(res["exit_code"], 127)
        self.assertIn("not found", res["stderr"])

    def test_the_answer_names_the_pid_of_the_command(self):
        res = self.run_cmd("echo $$")
        self.assertIsInstance(res["pid"], int)
        self.assertGreater(res["pid"], 1)

    # --- output ---------------------------------------------------------------------------

    def test_stdout_and_stderr_are_kept_apart(self):
        res = self.run_cmd("echo to-out; echo to-err >&2; echo more-out; echo more-err >&2")
        self.assertEqual(res["stdout"], "to-out\nmore-out\n")
        self.assertEqual(res["stderr"], "to-err\nmore-err\n")
        self.assertFalse(res["stdout_truncated"])
        self.assertFalse(res["stderr_truncated"])

    def test_utf8_output_comes_back_as_a_string(self):
        res = self.run_cmd("printf 'h\\303\\251llo \\342\\202\\254\\n'")
        self.assertEqual(res["stdout"], "héllo €\n")
        self.assertNotIn("stdout_base64", res)

    def test_non_utf8_output_comes_back_exactly_in_base64(self):
        script = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4); " \
                 "sys.stderr.buffer.write(b'\\xff\\xfeerr\\x80')"
        res = self.run_cmd(f'python3 -c "{script}"')
        self.assertEqual(res["exit_code"], 0, res)
        self.assertEqual(base64.b64decode(res["stdout_base64"]), bytes(range(256)) * 4)
        self.assertEqual(base64.b64decode(res["stderr_base64"]), b"\xff\xfeerr\x80")
        self.assertIn("\ufffd", res["stdout"])
        self.assertIn("err", res["stderr"])

    def test_a_large_output_below_the_cap_is_complete(self):
        res = self.run_cmd("head -c 3000000 /dev/zero | tr '\\0' x")
        self.assertEqual(res["stdout"], "x" * 3000000)
        self.assertFalse(res["stdout_truncated"])

    def test_large_output_on_both_streams_does_not_deadlock(self):
        # stderr fills first: a reader that drains stdout only would hang here.
        res = self.run_cmd("head -c 2000000 /dev/zero | tr '\\0' e >&2; "
                           "head -c 2000000 /dev/zero | tr '\\0' o", timeout=30)
        self.assertFalse(res["timed_out"], "the command hung on a full pipe")
        self.assertEqual(len(res["stderr"]), 2000000)
        self.assertEqual(len(res["stdout"]), 2000000)

    # --- environment, directory, user -----------------------------------------------------

    def test_sandbox_envs_apply_and_command_envs_override_them(self):
        res = self.run_cmd('echo "$DECLAW_T_SANDBOX|$DECLAW_T_BOTH|$DECLAW_T_CMD"',
                           envs={"DECLAW_T_BOTH": "from-command", "DECLAW_T_CMD": "only-command"})
        self.assertEqual(res["stdout"], "from-sandbox|from-command|only-command\n")

    def test_command_envs_do_not_stick_to_later_commands(self):
        self.run_cmd("true", envs={"DECLAW_T_ONCE": "x"})
        res = self.run_cmd('echo "[${DECLAW_T_ONCE-unset}|$DECLAW_T_BOTH]"')
        self.assertEqual(res["stdout"], "[unset|from-sandbox]\n")

    def test_envs_with_odd_values_arrive_intact(self):
        value = "spaces and 'quotes' \"double\" $NOT_EXPANDED; newline\nend é"
        res = self.run_cmd('printf %s "$DECLAW_T_ODD"', envs={"DECLAW_T_ODD": value})
        self.assertEqual(res["stdout"], value)

    def test_cwd_defaults_to_the_users_home(self):
        self.assertEqual(self.run_cmd("pwd")["stdout"], "/home/user\n")
        self.assertEqual(self.run_cmd("pwd", user="root")["stdout"], "/root\n")

    def test_cwd_is_honoured(self):
        self.assertEqual(self.run_cmd("pwd", cwd="/tmp")["stdout"], "/tmp\n")
        self.assertEqual(self.run_cmd("pwd", cwd="/usr/bin")["stdout"], "/usr/bin\n")

    def test_a_missing_cwd_is_an_error_not_a_silent_fallback(self):
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands",
                             {"cmd": "pwd", "cwd": "/no/such/dir"})
        if r.status == 200:
            self.assertNotEqual(r.json()["exit_code"], 0, r)
            self.assertNotEqual(r.json()["stdout"], "/home/user\n")
        else:
            self.assertIn(r.status, (400, 404), r)

    def test_user_is_uid_1000_and_root_is_uid_0(self):
        self.assertEqual(self.run_cmd("id -u; id -g; id -un")["stdout"], "1000\n1000\nuser\n")
        self.assertEqual(self.run_cmd("id -u; id -g; id -un", user="root")["stdout"],
                         "0\n0\nroot\n")
        self.assertEqual(self.run_cmd("id -u")["stdout"], "1000\n", "user is the default")

    def test_the_login_shells_path_is_the_profiles_without_running_id(self):
        """The sandbox's /etc/profile is the host's with Debian's `$(id -u)` answered from bash's
        $EUID (etc_files.h): a bash login shell picks the same PATH as a shell without EUID,
        which still runs id, and only the latter runs it."""
        with open("/etc/profile") as f:
            host_has_the_test = '"$(id -u)"' in f.read()
        profile = self.run_cmd("cat /etc/profile")["stdout"]
        self.assertEqual('"${EUID:-$(id -u)}"' in profile, host_has_the_test)
        self.assertNotIn('"$(id -u)"', profile)
        for user in ("user", "root"):
            with self.subTest(user=user):
                by_bash = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands", {
                    "argv": ["bash", "-l", "-x", "-c", 'echo "$PATH"'], "user": user}).json()
                by_sh = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands", {
                    "argv": ["sh", "-l", "-x", "-c", 'echo "$PATH"'], "user": user}).json()
                self.assertEqual(by_bash["stdout"], by_sh["stdout"], (by_bash, by_sh))
                self.assertIn("/usr/bin", by_bash["stdout"])
                if host_has_the_test:
                    self.assertNotIn("id -u", by_bash["stderr"], "bash ran id")
                    self.assertIn("id -u", by_sh["stderr"], "sh has no EUID: it runs id")
        root = self.run_cmd('echo "$PATH"', user="root")["stdout"]
        user = self.run_cmd('echo "$PATH"')["stdout"]
        if host_has_the_test:
            self.assertNotEqual(root, user, "root's PATH is root's (sbin), the user's the user's")

    def test_home_matches_the_user(self):
        self.assertEqual(self.run_cmd('echo "$HOME"')["stdout"], "/home/user\n")
        self.assertEqual(self.run_cmd('echo "$HOME"', user="root")["stdout"], "/root\n")

    # --- stdin ----------------------------------------------------------------------------

    def test_stdin_round_trips(self):
        data = "line one\nline two é\n\nlast without newline"
        res = self.run_cmd("cat", stdin=data)
        self.assertEqual(res["stdout"], data)

    def test_without_stdin_the_command_reads_end_of_file(self):
        res = self.run_cmd("cat; echo done", timeout=10)
        self.assertFalse(res["timed_out"], "cat waited for input that never comes")
        self.assertEqual(res["stdout"], "done\n")

    def test_a_large_stdin_round_trips(self):
        data = "0123456789abcdef" * 65536  # 1 MiB: more than a pipe buffer
        res = self.run_cmd("sha256sum", stdin=data)
        self.assertEqual(res["stdout"].split()[0], hashlib.sha256(data.encode()).hexdigest())

    # --- timeouts -------------------------------------------------------------------------

    def test_a_timeout_kills_the_whole_process_group(self):
        started = time.monotonic()
        res = self.run_cmd("sleep 300 & echo $! > /tmp/sleeper; echo started; wait", timeout=2)
        elapsed = time.monotonic() - started
        self.assertTrue(res["timed_out"], res)
        self.assertEqual(res["exit_code"], 124)
        self.assertEqual(res["signal"], SIGKILL)
        self.assertEqual(res["stdout"], "started\n", "the output so far is kept")
        self.assertLess(elapsed, 20, "the timeout did not fire on time")
        pid = self.run_cmd("cat /tmp/sleeper")["stdout"].strip()
        self.assertTrue(pid.isdigit(), pid)
        check = self.run_cmd(f"kill -0 {pid}", user="root")
        self.assertNotEqual(check["exit_code"], 0, f"the sleep child {pid} survived the timeout")

    def test_a_command_that_closes_its_output_and_keeps_running_still_times_out(self):
        started = time.monotonic()
        res = self.run_cmd("exec >/dev/null 2>&1; sleep 300", timeout=2)
        self.assertTrue(res["timed_out"], res)
        self.assertLess(time.monotonic() - started, 20)

    def test_a_background_child_holding_stdout_does_not_hang_the_command(self):
        # bash exits at once; its child keeps the output pipe open. The command is over when
        # bash is, or at the latest when the timeout kills the group; either way it returns.
        started = time.monotonic()
        res = self.run_cmd("sleep 300 & echo parent-done", timeout=3)
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn("parent-done", res["stdout"])

    def test_a_child_left_behind_may_still_write_after_the_answer(self):
        # The command's answer comes once bash has exited (and its output drained); a child
        # that writes later still finds a reader (the pump goes on, on a thread of its own), so
        # it is not killed by SIGPIPE.
        self.run_cmd("rm -f /tmp/late-status")
        res = self.run_cmd("(sleep 1; echo late; echo $? > /tmp/late-status) & echo parent-done",
                           timeout=10)
        self.assertEqual(res["stdout"], "parent-done\n", res)
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            r = self.api.read_bytes(self.sbx, "/tmp/late-status")
            if r.status == 200:
                status = r.body
                break
            time.sleep(0.1)
        self.assertEqual(status, b"0\n", "the child's late write failed")

    def test_commands_run_concurrently_in_one_sandbox(self):
        results = []

        def worker():
            results.append(self.run_cmd("sleep 2; echo ok"))

        threads = [threading.Thread(target=worker) for _ in range(3)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r["stdout"] for r in results], ["ok\n"] * 3)
        self.assertLess(time.monotonic() - started, 5.5, "commands ran one after another")


class ArgvCommands(SharedSandboxTestCase):
    """{"argv": [...]} runs the program itself: no shell reads the words, PATH finds the program
    as execvp would, and envs, cwd, user, stdin and timeout apply as they do to a cmd."""

    def argv(self, argv, expect=200, **kw):
        body = {"argv": argv}
        body.update(kw)
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands", body)
        self.assertEqual(r.status, expect, r)
        return r.json()

    def test_every_argument_arrives_as_it_was_given(self):
        words = ["", "a b", "$HOME", "*", "'q'", "\"d\"", "x;y", "é"]
        res = self.argv(["python3", "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]
                        + words)
        self.assertEqual(res["exit_code"], 0, res)
        self.assertEqual(json.loads(res["stdout"]), words)

    def test_no_shell_stands_between_init_and_the_program(self):
        res = self.argv(["python3", "-c", "import os; print(os.getppid())"])
        self.assertEqual(res["stdout"], "1\n", "the program is init's child")
        self.assertNotIn("bash", self.argv(["cat", "/proc/self/cmdline"])["stdout"])

    def test_the_program_starts_with_no_signal_blocked_or_ignored(self):
        # Straight from init's spawn, no shell in between to tidy up: what init blocks
        # (SIGCHLD) or ignores (SIGPIPE) must not reach the command.
        res = self.argv(["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        self.assertEqual(res["stdout"], "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")

    def test_the_program_is_found_in_the_commands_path(self):
        self.assertEqual(self.argv(["id", "-u"])["stdout"], "1000\n")
        self.api.run(self.sbx, "mkdir -p ~/bin && printf '#!/bin/sh\\necho mine \"$@\"\\n' > ~/bin/hello"
                     " && chmod 755 ~/bin/hello")
        res = self.argv(["hello", "there"], envs={"PATH": "/home/user/bin:/usr/bin:/bin"})
        self.assertEqual((res["exit_code"], res["stdout"]), (0, "mine there\n"), res)
        res = self.argv(["./bin/hello"], cwd="/home/user")
        self.assertEqual(res["stdout"], "mine\n", "a name with a slash is a path from the cwd")

    def test_user_cwd_env_and_stdin_apply(self):
        self.assertEqual(self.argv(["id", "-u"], user="root")["stdout"], "0\n")
        self.assertEqual(self.argv(["pwd"])["stdout"], "/home/user\n")
        self.assertEqual(self.argv(["pwd"], cwd="/tmp")["stdout"], "/tmp\n")
        self.assertEqual(self.argv(["printenv", "K"], envs={"K": "v w"})["stdout"], "v w\n")
        self.assertEqual(self.argv(["cat"], stdin="in\n")["stdout"], "in\n")

    def test_a_timeout_ends_an_argv_command(self):
        res = self.argv(["sleep", "60"], timeout=1)
        self.assertTrue(res["timed_out"], res)
        self.assertEqual(res["exit_code"], 124)

    def test_a_missing_program_exits_127_and_says_so_as_a_shell_would(self):
        res = self.argv(["no-such-program-declaw", "x"])
        self.assertEqual(res["exit_code"], 127, res)
        self.assertEqual(res["stderr"], "declaw: no-such-program-declaw: command not found\n")
        res = self.argv(["/no/such/path"])
        self.assertEqual(res["exit_code"], 127, res)
        self.assertIn("No such file or directory", res["stderr"])

    def test_a_program_that_cannot_be_executed_exits_126(self):
        self.api.run(self.sbx, "printf 'echo hi\\n' > ~/plain && chmod 644 ~/plain")
        for target in ("/home/user/plain", "/tmp"):
            with self.subTest(target=target):
                res = self.argv([target])
                self.assertEqual(res["exit_code"], 126, res)
                self.assertIn("Permission denied", res["stderr"])

    def test_a_background_argv_is_listed_with_its_argv(self):
        started = self.argv(["sleep", "30"], background=True)
        pid = started["pid"]
        try:
            listed = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/commands").json()
            mine = [p for p in listed["processes"] if p["pid"] == pid]
            self.assertEqual(len(mine), 1, listed)
            self.assertEqual(mine[0]["argv"], ["sleep", "30"])
            self.assertEqual(mine[0]["cmd"], "sleep 30")
        finally:
            self.api.request("DELETE", f"/v1/sandboxes/{self.sbx}/commands/{pid}")

    def test_cmd_and_argv_together_are_refused(self):
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands",
                             {"cmd": "true", "argv": ["true"]})
        self.assertEqual(r.status, 400, r)
        self.assertIn("not both", r.json()["error"]["message"])


class UnreadStdin(SharedSandboxTestCase):
    """A daemon of its own: if writing stdin to a command that is gone takes declawd down, the
    other classes' tests are not dragged along."""

    def test_a_command_that_ignores_a_large_stdin_still_completes(self):
        started = time.monotonic()
        res = self.api.run(self.sbx, "echo ignored", stdin="z" * (4 << 20), timeout=30)
        self.assertFalse(res["timed_out"], res)
        self.assertEqual((res["exit_code"], res["stdout"]), (0, "ignored\n"))
        self.assertLess(time.monotonic() - started, 20)
        self.assertIsNone(self.daemon.proc.poll(), "declawd died")


class OutputCap(SharedSandboxTestCase):
    daemon_config = {"max_output_bytes": 1024}

    def test_stdout_over_the_cap_is_truncated_and_flagged(self):
        res = self.api.run(self.sbx, "head -c 10000000 /dev/zero | tr '\\0' a; echo tail >&2")
        self.assertEqual(res["exit_code"], 0, "the writer must not block on a full pipe")
        self.assertEqual(res["stdout"], "a" * 1024)
        self.assertTrue(res["stdout_truncated"])
        self.assertEqual(res["stderr"], "tail\n")
        self.assertFalse(res["stderr_truncated"])

    def test_stderr_over_the_cap_is_truncated_and_flagged(self):
        res = self.api.run(self.sbx, "seq 1 100000 >&2; echo fine")
        self.assertEqual(res["exit_code"], 0)
        expected = "".join(f"{i}\n" for i in range(1, 100001)).encode()[:1024]
        self.assertEqual(res["stderr"].encode(), expected)
        self.assertTrue(res["stderr_truncated"])
        self.assertEqual(res["stdout"], "fine\n")
        self.assertFalse(res["stdout_truncated"])

    def test_output_exactly_at_the_cap_is_not_flagged(self):
        res = self.api.run(self.sbx, "head -c 1024 /dev/zero | tr '\\0' b")
        self.assertEqual(res["stdout"], "b" * 1024)
        self.assertFalse(res["stdout_truncated"])

    def test_truncated_binary_output_keeps_its_first_bytes_exactly(self):
        script = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 100)"
        res = self.api.run(self.sbx, f'python3 -c "{script}"')
        self.assertTrue(res["stdout_truncated"])
        self.assertEqual(run_output(res), (bytes(range(256)) * 4))


if __name__ == "__main__":
    unittest.main()
