"""sbx.commands.run() with every parameter, its results and its errors, through a real daemon."""
import time
import unittest

from support import SdkTestCase

import declaw
from declaw import CommandResult


class RunningCommands(SdkTestCase):
    shared_sandbox = {"template": "python"}

    def run_cmd(self, cmd, **kwargs):
        return self.shared.commands.run(cmd, **kwargs)

    def test_stdout_stderr_and_exit_code_come_back_separately(self):
        result = self.run_cmd("echo out; echo err >&2; exit 3")
        self.assertIsInstance(result, CommandResult)
        self.assertEqual((result.stdout, result.stderr, result.exit_code), ("out\n", "err\n", 3))
        self.assertIsNone(result.error)
        self.assertIsNone(result.signal)
        self.assertIsInstance(result.pid, int)

    def test_a_non_zero_exit_is_returned_and_check_raises_it(self):
        result = self.run_cmd("echo partial; echo why >&2; exit 42")
        self.assertEqual(result.exit_code, 42)
        with self.assertRaises(declaw.CommandExitException) as caught:
            result.check()
        error = caught.exception
        self.assertEqual((error.exit_code, error.stdout, error.stderr),
                         (42, "partial\n", "why\n"))
        self.assertIn("42", str(error))
        self.assertIs(self.run_cmd("true").check().exit_code, 0)

    def test_envs_are_set_for_the_command(self):
        result = self.run_cmd('printf "%s|%s" "$A" "$B"', envs={"A": "1", "B": "two words"})
        self.assertEqual(result.stdout, "1|two words")

    def test_user_defaults_to_user_and_root_is_namespace_root(self):
        self.assertEqual(self.run_cmd("id -u; whoami").stdout, "1000\nuser\n")
        self.assertEqual(self.run_cmd("id -u; whoami", user="root").stdout, "0\nroot\n")
        with self.assertRaises(declaw.InvalidArgumentException):
            self.run_cmd("true", user="nobody")

    def test_cwd_defaults_to_home_and_can_be_set(self):
        self.assertEqual(self.run_cmd("pwd").stdout, "/home/user\n")
        self.assertEqual(self.run_cmd("pwd", cwd="/tmp").stdout, "/tmp\n")
        self.assertEqual(self.run_cmd("pwd", user="root").stdout, "/root\n")

    def test_stdin_text_and_utf8_bytes_reach_the_command_then_it_is_closed(self):
        self.assertEqual(self.run_cmd("cat", stdin="line 1\nlíne 2\n").stdout, "line 1\nlíne 2\n")
        self.assertEqual(self.run_cmd("wc -c", stdin="é".encode()).stdout.strip(), "2")
        self.assertEqual(self.run_cmd("cat; echo end", stdin=None).stdout, "end\n")
        self.assertEqual(self.run_cmd("cat; echo end", stdin=True).stdout, "end\n")

    def test_stdin_bytes_that_are_not_utf8_are_refused_before_sending(self):
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            self.run_cmd("cat", stdin=b"\xff\xfe")
        self.assertIn("files.write", str(caught.exception))
        with self.assertRaises(TypeError):
            self.run_cmd("cat", stdin=12)

    def test_a_command_over_its_timeout_is_killed_and_raises_with_its_output(self):
        seen = []
        start = time.monotonic()
        with self.assertRaises(declaw.TimeoutException) as caught:
            self.run_cmd("echo started; sleep 30", timeout=1, on_stdout=seen.append)
        self.assertLess(time.monotonic() - start, 10)
        error = caught.exception
        self.assertEqual(error.stdout, "started\n")
        self.assertEqual(error.exit_code, 124)
        self.assertEqual(error.sandbox_id, self.shared.sandbox_id)
        self.assertEqual(seen, ["started\n"], "callbacks get the output produced before the kill")
        self.assertIn("timed out", str(error))

    def test_a_fractional_timeout_is_rounded_up_not_dropped(self):
        with self.assertRaises(declaw.TimeoutException):
            self.run_cmd("sleep 5", timeout=0.2)
        self.assertEqual(self.run_cmd("sleep 0.1; echo ok", timeout=0.5).stdout, "ok\n")

    def test_timeout_zero_or_none_means_no_command_limit(self):
        self.assertEqual(self.run_cmd("sleep 1.2; echo done", timeout=0).stdout, "done\n")
        self.assertEqual(self.run_cmd("sleep 1.2; echo done", timeout=None).stdout, "done\n")
        with self.assertRaises(declaw.InvalidArgumentException):
            self.run_cmd("true", timeout=-1)

    def test_a_request_timeout_shorter_than_the_command_raises_timeout(self):
        with self.assertRaises(declaw.TimeoutException) as caught:
            self.run_cmd("sleep 3", timeout=10, request_timeout=0.5)
        self.assertIn("did not answer", str(caught.exception))
        self.assertEqual(self.run_cmd("echo still usable").stdout, "still usable\n")

    def test_callbacks_get_the_output_line_by_line(self):
        out, err = [], []
        result = self.run_cmd("printf 'a\\nb\\r\\nno newline'; printf 'e1\\ne2\\n' >&2",
                              on_stdout=out.append, on_stderr=err.append)
        self.assertEqual(out, ["a\n", "b\r\n", "no newline"])
        self.assertEqual(err, ["e1\n", "e2\n"])
        self.assertEqual("".join(out), result.stdout)
        silent = []
        self.run_cmd("true", on_stdout=silent.append, on_stderr=silent.append)
        self.assertEqual(silent, [])

    def test_non_ascii_commands_and_output_round_trip(self):
        text = "héllo wörld ✓ 日本語 🚀"
        result = self.run_cmd(f"echo '{text}'; echo '{text}' >&2")
        self.assertEqual(result.stdout, text + "\n")
        self.assertEqual(result.stderr, text + "\n")
        self.assertEqual(result.stdout_bytes, (text + "\n").encode())

    def test_output_that_is_not_utf8_is_replaced_in_text_and_exact_in_bytes(self):
        result = self.run_cmd("printf 'ok\\xff\\xfe\\x00end'; printf '\\x80' >&2")
        self.assertEqual(result.stdout, "ok\ufffd\ufffd\x00end")
        self.assertEqual(result.stdout_bytes, b"ok\xff\xfe\x00end")
        self.assertEqual(result.stderr, "\ufffd")
        self.assertEqual(result.stderr_bytes, b"\x80")

    def test_a_command_killed_by_a_signal_reports_it(self):
        result = self.run_cmd("kill -9 $$")
        self.assertEqual((result.exit_code, result.signal), (137, 9))
        self.assertEqual(result.error, "killed by signal 9")

    def test_output_over_the_daemon_limit_is_truncated_and_flagged(self):
        result = self.run_cmd("yes | head -c 9000000")
        self.assertTrue(result.stdout_truncated)
        self.assertFalse(result.stderr_truncated)
        self.assertEqual(len(result.stdout), 8 * 1024 * 1024)

    def test_an_empty_command_is_an_invalid_argument(self):
        with self.assertRaises(declaw.InvalidArgumentException):
            self.run_cmd("")


class ArgvCommands(SdkTestCase):
    """commands.run(["prog", "arg"]): the program itself, no shell; the rest as for a str."""
    shared_sandbox = {"template": "python"}

    def test_a_list_runs_the_program_with_its_arguments_as_they_are(self):
        words = ["a b", "$HOME", "*", "", "it's"]
        result = self.shared.commands.run(["printf", "[%s]"] + words)
        self.assertEqual(result.stdout, "".join(f"[{w}]" for w in words))
        self.assertEqual(self.shared.commands.run(("id", "-u"), user="root").stdout, "0\n")

    def test_a_missing_program_exits_127_like_a_shell(self):
        result = self.shared.commands.run(["no-such-program-declaw"])
        self.assertEqual(result.exit_code, 127)
        self.assertIn("command not found", result.stderr)
        with self.assertRaises(declaw.CommandExitException):
            result.check()

    def test_callbacks_timeouts_and_background_work_with_an_argv(self):
        seen = []
        result = self.shared.commands.run(["echo", "streamed"], on_stdout=seen.append)
        self.assertEqual((result.stdout, seen), ("streamed\n", ["streamed\n"]))
        with self.assertRaises(declaw.TimeoutException) as caught:
            self.shared.commands.run(["sleep", "30"], timeout=1)
        self.assertIn("'sleep 30'", str(caught.exception))
        handle = self.shared.commands.run(["sleep", "30"], background=True)
        try:
            info = self.shared.commands.get(handle.pid)
            self.assertEqual((info.argv, info.cmd), (["sleep", "30"], "sleep 30"))
        finally:
            handle.kill()

    def test_a_bad_argv_is_refused_before_sending(self):
        with self.assertRaises(declaw.InvalidArgumentException):
            self.shared.commands.run([])
        with self.assertRaises(declaw.InvalidArgumentException):
            self.shared.commands.run(["echo", 3])
        with self.assertRaises(TypeError):
            self.shared.commands.run(42)


if __name__ == "__main__":
    unittest.main()
