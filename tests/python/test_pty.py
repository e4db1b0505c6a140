"""sbx.pty against a real declawd: a terminal of the sandbox's own devpts, its size and resizing,
typed input including Ctrl-C, and the controls shared with other processes."""
import time
import unittest

from support import Collector, SdkTestCase

import declaw
from declaw import PtyHandle, PtySize


class Terminals(SdkTestCase):
    shared_sandbox = {"template": "python"}

    def shell(self, size=PtySize(rows=24, cols=80), **kwargs):
        """An interactive bash on a new terminal, its output collected."""
        out = Collector()
        handle = self.shared.pty.create(size, on_data=out, **kwargs)
        self.addCleanup(handle.kill)
        return handle, out

    def test_the_terminal_is_a_pts_of_the_sandbox(self):
        handle = self.shared.pty.create(PtySize(24, 80), cmd="tty; test -t 0 && echo is-a-tty")
        self.assertIsInstance(handle, PtyHandle)
        result = handle.wait()
        self.assertRegex(result.stdout, r"(^|\n)/dev/pts/\d+\r\nis-a-tty\r\n$")

    def test_the_size_is_seen_by_stty_and_a_resize_too(self):
        handle, out = self.shell(PtySize(rows=24, cols=80))
        handle.send_stdin("stty size\n")
        out.wait_for("24 80")
        handle.resize(PtySize(rows=40, cols=120))
        handle.send_stdin(b"stty size\n")
        out.wait_for("40 120")
        self.shared.pty.resize(handle.pid, PtySize(rows=10, cols=33))
        self.shared.pty.send_stdin(handle.pid, b"stty size\n")
        out.wait_for("10 33")

    def test_ctrl_c_interrupts_the_foreground_program(self):
        handle, out = self.shell()
        # The marker is computed, so the terminal's echo of the typed line does not hold it. It
        # is printed by the foreground job itself, which then becomes sleep: once it shows, a
        # Ctrl-C can only reach that job, never bash between two commands.
        handle.send_stdin("sh -c 'echo sleeping-$((6*7)); exec sleep 100'\n")
        out.wait_for("sleeping-42")
        start = time.monotonic()
        handle.send_stdin(b"\x03")
        handle.send_stdin("echo status-$?\n")
        out.wait_for("status-130")
        self.assertLess(time.monotonic() - start, 10)
        handle.send_stdin("exit 0\n")
        result = handle.wait()
        self.assertEqual(result.exit_code, 0)
        self.assertIn("status-130", result.stdout)

    def test_envs_cwd_user_and_term(self):
        handle = self.shared.pty.create(
            PtySize(24, 80), cmd='echo "$TERM|$GREETING|$(pwd)|$(id -u)"',
            envs={"GREETING": "hi"}, cwd="/tmp", user="root")
        self.assertEqual(handle.wait().stdout, "xterm-256color|hi|/tmp|0\r\n")

    def test_a_pty_is_listed_and_killed_like_any_process(self):
        handle, out = self.shell()
        handle.send_stdin("echo ready-$((1+1))\n")
        out.wait_for("ready-2")
        (info,) = [p for p in self.shared.commands.list() if p.pid == handle.pid]
        self.assertTrue(info.is_pty)
        self.assertTrue(info.running)
        with self.assertRaises(declaw.InvalidArgumentException):
            handle.close_stdin()  # a terminal has no EOF to send but Ctrl-D
        self.assertTrue(self.shared.pty.kill(handle.pid))
        with self.assertRaises(declaw.CommandExitException) as caught:
            handle.wait()
        self.assertEqual(caught.exception.exit_code, 137)
        self.assertFalse(self.shared.pty.kill(99999))

    def test_connect_to_a_terminal_replays_its_output_then_follows_it(self):
        handle, out = self.shell()
        handle.send_stdin("echo before-$((2+3))\n")
        out.wait_for("before-5")
        handle.disconnect()
        again = Collector()
        follower = self.shared.pty.connect(handle.pid, on_data=again)
        again.wait_for("before-5")
        follower.send_stdin("echo after-$((3+4)); exit 0\n")
        again.wait_for("after-7")
        self.assertEqual(follower.wait().exit_code, 0)

    def test_wait_gets_pty_bytes_and_iteration_too(self):
        handle = self.shared.pty.create(PtySize(24, 80), cmd="printf 'a\\xffb'")
        chunks = []
        result = handle.wait(on_pty=chunks.append)
        self.assertEqual(b"".join(chunks), b"a\xffb")
        self.assertEqual(result.stdout, "a\ufffdb")
        handle = self.shared.pty.create(PtySize(24, 80), cmd="echo hi")
        chunks = list(handle)
        self.assertTrue(all(out is None and err is None for out, err, _ in chunks))
        self.assertEqual(b"".join(pty for _, _, pty in chunks), b"hi\r\n")

    def test_a_size_out_of_range_is_refused(self):
        for size in (PtySize(0, 80), PtySize(24, 1001)):
            with self.subTest(size=size):
                with self.assertRaises(declaw.InvalidArgumentException):
                    self.shared.pty.create(size)


if __name__ == "__main__":
    unittest.main()
