"""declawctl's process verbs against a real daemon: the built binary drives real sandboxes.
`exec` prints output as it comes and keeps its exit code, `exec -i` streams stdin, `exec -d`
starts what `ps`, `logs`, `signal` and `kill --pid` then see and control, and `exec -it` runs a
terminal session under a pseudo-terminal made here, restoring the local terminal on the way out.
"""
import fcntl
import hashlib
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
import unittest

from harness import DECLAWCTL
from support import SharedSandboxTestCase, random_suffix

SIGTERM = 15
SIGKILL = 9


def set_window_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def take_controlling_terminal():
    # Runs in the child after Popen made stdin the pty's slave and called setsid().
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A pseudo-terminal with a process on its slave side as the session leader, as a terminal
    emulator starts a shell; the test types on the master side and reads the screen."""

    def __init__(self, argv, rows=24, cols=80):
        self.master, slave = os.openpty()
        set_window_size(slave, rows, cols)
        self.initial_modes = termios.tcgetattr(self.master)
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True,
                                         preexec_fn=take_controlling_terminal)
        finally:
            os.close(slave)
        self.screen = b""

    def type(self, data):
        os.write(self.master, data)

    def read_until(self, pattern, timeout=20):
        """Reads until the screen so far matches the regex pattern (bytes); returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.screen)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} never appeared; screen: {self.screen[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the slave side is closed
                    data = b""
                if not data and self.proc.poll() is not None:
                    raise AssertionError(f"{pattern!r} never appeared before exit "
                                         f"{self.proc.returncode}; screen: {self.screen[-2000:]!r}")
                self.screen += data

    def modes(self):
        return termios.tcgetattr(self.master)

    def echo_is_on(self):
        return bool(self.modes()[3] & termios.ECHO)

    def wait_for_raw_mode(self, timeout=20):
        deadline = time.monotonic() + timeout
        while self.echo_is_on():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("declawctl never put the terminal in raw mode")
            time.sleep(0.05)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.drain()

    def drain(self):
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.screen += data

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


class CtlProcesses(SharedSandboxTestCase):

    def ctl(self, *args, input=None, timeout=60):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args], input=input,
                              capture_output=True, timeout=timeout)

    def ctl_argv(self, *args):
        return [DECLAWCTL, "--socket", self.daemon.socket, *args]

    def start_background(self, cmd):
        r = self.ctl("exec", "-d", self.sbx, "--", cmd)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stderr, b"")
        return int(r.stdout)

    def processes(self):
        r = self.ctl("ps", "--json", self.sbx)
        self.assertEqual(r.returncode, 0, r)
        return json.loads(r.stdout)

    def process(self, pid):
        matches = [p for p in self.processes() if p["pid"] == pid]
        self.assertEqual(len(matches), 1, f"pid {pid} in ps --json")
        return matches[0]

    def wait_process(self, pid, timeout=30):
        r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/commands/{pid}/wait",
                             query={"timeout": timeout}, timeout=timeout + 30)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_for_logs(self, pid, expected, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            r = self.ctl("logs", self.sbx, str(pid))
            self.assertEqual(r.returncode, 0, r)
            if expected in r.stdout or time.monotonic() > deadline:
                return r
            time.sleep(0.1)

    def pty_process_with_cmd(self, cmd, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            found = [p for p in self.processes() if p["cmd"] == cmd and p["is_pty"]]
            if found or time.monotonic() > deadline:
                self.assertEqual(len(found), 1, f"one pty process running {cmd!r}")
                return found[0]
            time.sleep(0.1)

    # --- exec: live output, exit codes ----------------------------------------------------

    def test_exec_keeps_stdout_and_stderr_apart_and_exits_with_the_commands_code(self):
        r = self.ctl("exec", self.sbx, "--", "echo out; echo err >&2; exit 3")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (3, b"out\n", b"err\n"))

    def test_exec_with_several_words_runs_them_as_an_argv_without_a_shell(self):
        r = self.ctl("exec", self.sbx, "--", "printf", "[%s]", "a b", "$HOME", "*")
        self.assertEqual((r.returncode, r.stdout), (0, b"[a b][$HOME][*]"))
        r = self.ctl("exec", self.sbx, "--", "no-such-program-declaw", "x")
        self.assertEqual(r.returncode, 127, r)
        self.assertIn(b"command not found", r.stderr)

    def test_exec_output_that_is_not_utf8_arrives_byte_for_byte(self):
        r = self.ctl("exec", self.sbx, "--", "printf 'a\\377\\000b\\n'")
        self.assertEqual((r.returncode, r.stdout), (0, b"a\xff\x00b\n"))

    def test_exec_prints_the_first_line_before_the_command_has_written_the_second(self):
        proc = subprocess.Popen(self.ctl_argv("exec", self.sbx, "--", "echo a; sleep 1; echo b"),
                                stdout=subprocess.PIPE)
        try:
            first = proc.stdout.readline()
            first_at = time.monotonic()
            second = proc.stdout.readline()
            second_at = time.monotonic()
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            proc.kill()
            proc.stdout.close()
        self.assertEqual((first, second), (b"a\n", b"b\n"))
        self.assertGreater(second_at - first_at, 0.5,
                           "the first line only arrived with the second, at the end")

    def test_exec_buffered_delivers_a_burst_larger_than_the_live_buffer_complete(self):
        expected = "".join(f"{i}\n" for i in range(1, 1000001)).encode()  # 6.9 MB at once
        r = self.ctl("exec", "--buffered", self.sbx, "--", "seq 1 1000000; exit 4", timeout=120)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stderr, b"")
        self.assertEqual(r.stdout, expected)

    def test_exec_timeout_exits_124_and_says_so(self):
        r = self.ctl("exec", "--timeout", "1", self.sbx, "--", "sleep 30")
        self.assertEqual(r.returncode, 124, r)
        self.assertIn(b"declawctl: command timed out after 1 s", r.stderr)

    def test_interrupting_exec_kills_the_command(self):
        marker = f"sleep 97 # {random_suffix()}"
        proc = subprocess.Popen(self.ctl_argv("exec", self.sbx, "--", marker),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not [p for p in self.processes() if p["cmd"] == marker and p["running"]]:
                self.assertLess(time.monotonic(), deadline, "the command never started")
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=20), 128 + signal.SIGINT)
        finally:
            proc.kill()
            proc.communicate()
        (entry,) = [p for p in self.processes() if p["cmd"] == marker]
        info = self.wait_process(entry["pid"])
        self.assertFalse(info["running"])
        self.assertEqual(info["signal"], SIGKILL)

    # --- exec -i --------------------------------------------------------------------------

    def test_exec_i_round_trips_any_bytes_through_cat(self):
        data = bytes(range(256)) * 64 + b"end without newline"
        r = self.ctl("exec", "-i", self.sbx, "--", "cat", input=data)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, data)

    def test_exec_i_streams_megabytes_and_closes_stdin_at_eof(self):
        data = os.urandom(3 * 1024 * 1024)
        r = self.ctl("exec", "-i", self.sbx, "--", "sha256sum; exit 7", input=data, timeout=120)
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertEqual(r.stdout.split()[0].decode(), hashlib.sha256(data).hexdigest())

    def test_exec_i_delivers_each_line_before_stdin_ends(self):
        proc = subprocess.Popen(self.ctl_argv("exec", "-i", self.sbx, "--", "cat"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            for line in (b"ping 1\n", b"ping 2\n", b"ping 3\n"):
                proc.stdin.write(line)
                proc.stdin.flush()
                self.assertEqual(proc.stdout.readline(), line, "the echo waited for EOF")
            proc.stdin.close()
            self.assertEqual(proc.stdout.read(), b"")
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            proc.kill()
            proc.stdout.close()

    # --- exec -d, ps, logs, signal, kill --pid --------------------------------------------

    def test_a_detached_command_is_listed_by_ps_while_it_runs(self):
        pid = self.start_background("sleep 60")
        table = self.ctl("ps", self.sbx)
        self.assertEqual(table.returncode, 0, table)
        lines = table.stdout.decode().splitlines()
        self.assertEqual(lines[0].split(), ["PID", "USER", "STATE", "PTY", "STARTED", "CMD"])
        row = [line.split(None, 5) for line in lines[1:] if line.split()[0] == str(pid)]
        self.assertEqual(len(row), 1, table.stdout)
        self.assertEqual(row[0][1:4], ["user", "running", "no"])
        self.assertEqual(row[0][5], "sleep 60")
        info = self.process(pid)
        self.assertTrue(info["running"])
        self.assertTrue(info["background"])
        self.ctl("kill", self.sbx, "--pid", str(pid))

    def test_logs_shows_what_a_detached_command_wrote(self):
        pid = self.start_background("echo out-$((6*7)); echo err-line >&2; sleep 60")
        r = self.wait_for_logs(pid, b"out-42\n")
        self.assertEqual(r.stdout, b"out-42\n")
        self.assertEqual(r.stderr, b"err-line\n")
        self.ctl("kill", self.sbx, "--pid", str(pid))

    def test_logs_follow_prints_live_output_until_the_process_exits(self):
        pid = self.start_background("echo one; sleep 2; echo two")
        started = time.monotonic()
        r = self.ctl("logs", "-f", self.sbx, str(pid), timeout=60)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, b"one\ntwo\n")
        self.assertGreater(time.monotonic() - started, 1.0, "logs -f did not wait for the end")
        self.assertFalse(self.process(pid)["running"])

    def test_logs_reports_output_that_no_longer_fits_the_buffer(self):
        total = 5 * 1024 * 1024
        pid = self.start_background(f"head -c {total} /dev/zero | tr '\\0' x")
        self.assertEqual(self.wait_process(pid)["exit_code"], 0)
        r = self.ctl("logs", self.sbx, str(pid), timeout=60)
        self.assertEqual(r.returncode, 0, r)
        m = re.search(rb"declawctl: (\d+) bytes of stdout were dropped", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(int(m.group(1)) + len(r.stdout), total)
        self.assertEqual(r.stdout, b"x" * len(r.stdout))

    def test_signal_term_ends_a_detached_command(self):
        pid = self.start_background("sleep 60")
        r = self.ctl("signal", self.sbx, str(pid), "TERM")
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        info = self.wait_process(pid)
        self.assertEqual((info["exit_code"], info["signal"]), (128 + SIGTERM, SIGTERM))
        row = [line for line in self.ctl("ps", self.sbx).stdout.decode().splitlines()
               if line.split()[0] == str(pid)]
        self.assertIn("killed(TERM)", row[0])

    def test_signal_to_a_finished_process_is_an_error(self):
        pid = self.start_background("true")
        self.wait_process(pid)
        r = self.ctl("signal", self.sbx, str(pid), "SIGTERM")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"(conflict)", r.stderr)

    def test_kill_pid_kills_the_process_and_spares_the_sandbox(self):
        pid = self.start_background("sleep 60")
        r = self.ctl("kill", self.sbx, "--pid", str(pid))
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(self.wait_process(pid)["signal"], SIGKILL)
        self.assertEqual(self.ctl("kill", self.sbx, "--pid", str(pid)).returncode, 0,
                         "killing a dead process is not an error")
        self.assertEqual(self.ctl("exec", self.sbx, "--", "echo alive").stdout, b"alive\n")

    def test_a_bare_number_for_kill_is_a_usage_error_and_kills_nothing(self):
        pid = self.start_background("sleep 60")
        r = self.ctl("kill", self.sbx, str(pid))
        self.assertEqual(r.returncode, 2, r)
        self.assertTrue(self.process(pid)["running"])
        self.assertEqual(self.ctl("exec", self.sbx, "--", "echo alive").stdout, b"alive\n")
        self.ctl("kill", self.sbx, "--pid", str(pid))

    def test_a_detached_command_reads_end_of_file(self):
        pid = self.start_background("cat; echo cat-done")
        self.assertEqual(self.wait_process(pid, timeout=20)["exit_code"], 0,
                         "the background command waited for stdin")
        self.assertEqual(self.ctl("logs", self.sbx, str(pid)).stdout, b"cat-done\n")

    # --- exec -it -------------------------------------------------------------------------

    def test_exec_it_runs_a_shell_on_a_sandbox_terminal(self):
        term = Terminal(self.ctl_argv("exec", "-it", self.sbx), rows=30, cols=100)
        try:
            term.wait_for_raw_mode()
            term.type(b"tty\r")
            term.read_until(rb"/dev/pts/\d+\r\n")
            term.type(b"stty size\r")
            term.read_until(rb"30 100\r\n")
            term.type(b"exit 3\r")
            self.assertEqual(term.wait(), 3, term.screen[-2000:])
        finally:
            term.close()

    def test_exec_it_follows_window_size_changes(self):
        term = Terminal(self.ctl_argv("exec", "-it", self.sbx), rows=24, cols=80)
        try:
            term.wait_for_raw_mode()
            term.type(b"stty size\r")
            term.read_until(rb"24 80\r\n")
            set_window_size(term.master, 40, 132)  # the kernel sends declawctl SIGWINCH
            deadline = time.monotonic() + 20
            while not re.search(rb"40 132\r\n", term.screen):
                self.assertLess(time.monotonic(), deadline, term.screen[-2000:])
                term.type(b"stty size\r")
                try:
                    term.read_until(rb"40 132\r\n", timeout=1)
                except AssertionError:
                    pass
            term.type(b"exit\r")
            self.assertEqual(term.wait(), 0)
        finally:
            term.close()

    def test_exec_it_restores_the_local_terminal_when_the_session_ends(self):
        term = Terminal(self.ctl_argv("exec", "-it", self.sbx, "--", "read line; exit 5"))
        try:
            # As the terminal was before declawctl started (it may be in raw mode already).
            self.assertTrue(term.initial_modes[3] & termios.ECHO)
            term.wait_for_raw_mode()
            term.type(b"anything\r")
            self.assertEqual(term.wait(), 5)
            self.assertEqual(term.modes(), term.initial_modes)
        finally:
            term.close()

    def test_sigterm_restores_the_terminal_and_hangs_up_the_remote_session(self):
        cmd = f"sleep 98 # {random_suffix()}"
        term = Terminal(self.ctl_argv("exec", "-it", self.sbx, "--", cmd))
        try:
            term.wait_for_raw_mode()
            remote = self.pty_process_with_cmd(cmd)
            term.proc.send_signal(signal.SIGTERM)
            self.assertEqual(term.wait(), 128 + signal.SIGTERM)
            self.assertEqual(term.modes(), term.initial_modes)
            self.assertFalse(self.wait_process(remote["pid"])["running"])
        finally:
            term.close()

    def test_exec_it_without_a_local_terminal_reads_stdin_and_ends_at_eof(self):
        r = self.ctl("exec", "-it", self.sbx, input=b"echo hi-$((1+1))\nexit 4\n", timeout=60)
        self.assertEqual(r.returncode, 4, r)
        self.assertIn(b"hi-2\r\n", r.stdout)
        r = self.ctl("exec", "-it", self.sbx, input=b"", timeout=60)
        self.assertEqual(r.returncode, 0, "the shell did not see ^D at the end of input")

    def test_ctrl_c_in_exec_it_goes_to_the_remote_program(self):
        term = Terminal(self.ctl_argv("exec", "-it", self.sbx, "--",
                                      "trap 'echo got-sigint; exit 9' INT; echo ready; "
                                      "while :; do sleep 0.1; done"))
        try:
            term.wait_for_raw_mode()
            term.read_until(rb"ready")
            term.type(b"\x03")
            term.read_until(rb"got-sigint")
            self.assertEqual(term.wait(), 9)
        finally:
            term.close()


if __name__ == "__main__":
    unittest.main()
