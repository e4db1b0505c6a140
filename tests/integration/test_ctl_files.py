"""declawctl's file verbs against a real daemon: `watch` prints each change under a directory as
it happens, one aligned line each and flushed at once (a pipe reader sees it while declawctl runs
on), or one JSON line per event with --json; it exits 0 when the directory is removed, reports
the daemon's error for a path it cannot watch, and Ctrl-C ends it with 130.
"""
import json
import os
import re
import select
import signal
import subprocess
import time
import unittest

from harness import DECLAWCTL
from support import SharedSandboxTestCase, random_suffix

API_ERROR = rb"^declawctl: .+ \((\w+)\)\n$"


class LineReader:
    """declawctl running in the background, its stdout read line by line with a deadline."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffer = b""
        self.lines = []

    def read_until(self, predicate, timeout=20):
        """Reads lines until predicate(line) holds for one; returns that line."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the expected line never came; lines: {self.lines[-50:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.2))
            if not ready:
                continue
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                raise AssertionError(f"declawctl exited ({self.proc.wait()}) before the expected "
                                     f"line; lines: {self.lines[-50:]}; "
                                     f"stderr: {self.proc.stderr.read()!r}")
            self.buffer += data
            *complete, self.buffer = self.buffer.split(b"\n")
            self.lines.extend(line.decode() for line in complete)

    def wait(self, timeout=30):
        """The exit code, the rest of stdout (whole lines) and stderr."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            self.close()
        rest = (self.buffer + out).decode().splitlines()
        self.lines.extend(rest)
        return self.proc.returncode, rest, err

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()


class CtlFiles(SharedSandboxTestCase):

    def ctl(self, *args, timeout=60):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args],
                              capture_output=True, timeout=timeout)

    def watch(self, *args):
        reader = LineReader([DECLAWCTL, "--socket", self.daemon.socket, *args])
        self.addCleanup(reader.close)
        return reader

    def sh(self, cmd, user="user"):
        result = self.api.run(self.sbx, cmd, user=user)
        self.assertEqual(result.get("exit_code"), 0, result)

    def fresh_dir(self):
        path = f"/home/user/w-{random_suffix()}"
        self.sh(f"mkdir -p {path}")
        return path

    def wait_until_watching(self, reader, path):
        """The text output has no start line: touches marker files until one is reported."""
        for attempt in range(40):
            self.sh(f"touch {path}/.ready-{attempt}")
            try:
                reader.read_until(lambda line: line.startswith("create  .ready-"), timeout=0.5)
                return
            except AssertionError:
                if reader.proc.poll() is not None:
                    raise
        self.fail(f"the watch never reported a change; lines: {reader.lines}")

    # --- text output -----------------------------------------------------------------------

    def test_watch_prints_each_change_live_and_exits_0_when_the_directory_is_removed(self):
        path = self.fresh_dir()
        reader = self.watch("watch", "-r", self.sbx, path)
        self.wait_until_watching(reader, path)

        self.sh(f"mkdir {path}/sub")
        reader.read_until(lambda line: line == "create  sub")
        r = self.api.write_bytes(self.sbx, f"{path}/sub/a.txt", b"hello")
        self.assertEqual(r.status, 200, r)
        reader.read_until(lambda line: line == "create  sub/a.txt")
        reader.read_until(lambda line: line == "write   sub/a.txt")
        self.sh(f"chmod 600 {path}/sub/a.txt")
        reader.read_until(lambda line: line == "chmod   sub/a.txt")
        self.sh(f"mv {path}/sub/a.txt {path}/b.txt")
        reader.read_until(lambda line: line == "rename  sub/a.txt")
        reader.read_until(lambda line: line == "create  b.txt")
        self.sh(f"rm {path}/b.txt")
        reader.read_until(lambda line: line == "remove  b.txt")
        for line in reader.lines:
            self.assertRegex(line, r"^(create|write |remove|rename|chmod )  \S")

        self.sh(f"rm -r {path}")
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)
        self.assertEqual(err, b"declawctl: the watched directory was removed\n")

    def test_without_r_only_the_directory_itself_is_watched(self):
        path = self.fresh_dir()
        self.sh(f"mkdir {path}/sub")
        reader = self.watch("watch", self.sbx, path)
        self.wait_until_watching(reader, path)
        self.sh(f"touch {path}/sub/deep.txt {path}/top.txt")
        reader.read_until(lambda line: line == "create  top.txt")
        self.sh(f"rm -r {path}")
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)
        self.assertNotIn("create  sub/deep.txt", reader.lines)

    # --- errors before the start ---------------------------------------------------------

    def test_a_path_that_cannot_be_watched_exits_1_with_the_daemons_error(self):
        missing = self.ctl("watch", self.sbx, "/home/user/no-such-dir")
        self.assertEqual(missing.returncode, 1, missing)
        self.assertEqual(missing.stdout, b"")
        self.assertEqual(re.match(API_ERROR, missing.stderr).group(1), b"not_found",
                         missing.stderr)

        self.sh("touch /home/user/plain-file")
        a_file = self.ctl("watch", self.sbx, "/home/user/plain-file")
        self.assertEqual(a_file.returncode, 1, a_file)
        self.assertRegex(a_file.stderr, API_ERROR)
        self.assertNotEqual(re.match(API_ERROR, a_file.stderr).group(1), b"not_found")

        self.sh("mkdir -p /tmp/closed && chmod 700 /tmp/closed", user="root")
        closed = self.ctl("watch", self.sbx, "/tmp/closed")
        self.assertEqual(closed.returncode, 1, closed)
        self.assertEqual(re.match(API_ERROR, closed.stderr).group(1), b"forbidden", closed.stderr)

        unknown = self.ctl("watch", "sbx-doesnotexist", "/home/user")
        self.assertEqual(unknown.returncode, 1, unknown)
        self.assertEqual(re.match(API_ERROR, unknown.stderr).group(1), b"not_found")

    def test_user_root_watches_what_only_root_may_read(self):
        self.sh("mkdir -p /tmp/rootonly && chmod 700 /tmp/rootonly", user="root")
        reader = self.watch("--json", "watch", "--user", "root", self.sbx, "/tmp/rootonly")
        start = json.loads(reader.read_until(lambda line: True))
        self.assertEqual(start, {"event": "start", "data": {"path": "/tmp/rootonly"}})
        self.sh("touch /tmp/rootonly/secret", user="root")
        reader.read_until(lambda line: json.loads(line)["event"] == "fs")
        self.sh("rm -r /tmp/rootonly", user="root")
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)

    # --- --json and Ctrl-C ---------------------------------------------------------------

    def test_json_prints_one_event_per_line_from_start_to_end(self):
        path = self.fresh_dir()
        reader = self.watch("--json", "watch", self.sbx, path)
        first = json.loads(reader.read_until(lambda line: True))
        self.assertEqual(first, {"event": "start", "data": {"path": path}})
        self.sh(f"touch {path}/f.txt")
        change = reader.read_until(lambda line: json.loads(line)["event"] == "fs")
        self.assertEqual(json.loads(change),
                         {"event": "fs", "data": {"type": "create", "name": "f.txt"}})
        self.sh(f"rm -r {path}")
        code, _, err = reader.wait()
        self.assertEqual(code, 0, err)
        events = [json.loads(line) for line in reader.lines]
        self.assertEqual(events[-1]["event"], "end")
        self.assertEqual(events[-1]["data"]["reason"], "removed")

    def test_ctrl_c_ends_the_watch_with_130_and_the_directory_can_be_watched_again(self):
        path = self.fresh_dir()
        reader = self.watch("--json", "watch", self.sbx, path)
        reader.read_until(lambda line: json.loads(line)["event"] == "start")
        reader.proc.send_signal(signal.SIGINT)
        code, _, err = reader.wait()
        self.assertEqual(code, 130, err)
        self.assertEqual(err, b"")

        again = self.watch("--json", "watch", self.sbx, path)
        again.read_until(lambda line: json.loads(line)["event"] == "start")
        self.sh(f"rm -r {path}")
        code, _, err = again.wait()
        self.assertEqual(code, 0, err)

    def test_killing_the_sandbox_ends_the_watch_with_1_and_says_so(self):
        sbx = self.api.create()
        self.addCleanup(self.api.kill, sbx)
        reader = self.watch("--json", "watch", sbx, "/home/user")
        reader.read_until(lambda line: json.loads(line)["event"] == "start")
        self.api.kill(sbx)
        code, _, err = reader.wait()
        self.assertEqual(code, 1, err)
        self.assertRegex(err, rb"^declawctl: .+ \((sandbox_ended|error)\)\n$")


if __name__ == "__main__":
    unittest.main()
