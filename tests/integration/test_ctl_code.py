"""declawctl run-code against a real daemon: Python on the sandbox's stateful kernel through the
Python SDK's bridge. Output comes as it is printed, results as their text, state persists
between calls, contexts are apart, an exception's traceback goes to stderr with exit 1, --json
is the Execution, big output comes through the bridge's spill file, and a context started by
declawctl is the one the SDK finds in the process list.
"""
import json
import signal
import subprocess
import unittest

from harness import DECLAWCTL
from support import SharedSandboxTestCase
from test_ctl_files import LineReader


class CtlCode(SharedSandboxTestCase):
    sandbox_spec = {"template": "python"}

    def ctl(self, *args, input=None, timeout=120):
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args], input=input,
                              capture_output=True, timeout=timeout)

    def run_code(self, *args, input=None):
        return self.ctl("run-code", self.sbx, *args, input=input)

    def test_output_and_the_last_value_are_printed_and_state_persists(self):
        r = self.run_code("import sys\nprint('out')\nprint('err', file=sys.stderr)\nx = 41\nx")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, b"out\n41\n")
        self.assertEqual(r.stderr, b"err\n")
        r = self.run_code("x + 1")
        self.assertEqual((r.returncode, r.stdout), (0, b"42\n"), r)

    def test_code_from_stdin(self):
        r = self.run_code("-", input=b"print(6 * 7)\n")
        self.assertEqual((r.returncode, r.stdout), (0, b"42\n"), r)
        r = self.run_code(input=b"'no dash'\n")
        self.assertEqual((r.returncode, r.stdout), (0, b"'no dash'\n"), r)

    def test_an_exception_prints_its_traceback_and_exits_1(self):
        r = self.run_code("1 / 0")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"ZeroDivisionError", r.stderr)

    def test_contexts_have_their_own_variables(self):
        self.assertEqual(self.run_code("--context", "ctl-a", "v = 'a'").returncode, 0)
        self.assertEqual(self.run_code("v = 'default'").returncode, 0)
        self.assertEqual(self.run_code("--context", "ctl-a", "v").stdout, b"'a'\n")
        self.assertEqual(self.run_code("v").stdout, b"'default'\n")
        procs = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/commands").json()["processes"]
        bridges = [p["argv"] for p in procs if p["running"] and len(p.get("argv") or []) > 1
                   and "kernel_bridge-" in p["argv"][1]]
        self.assertIn("ctl-a", [a[a.index("--context") + 1] for a in bridges])

    def test_json_is_the_execution(self):
        r = self.run_code("--json", "print('hi')\n1 + 1")
        self.assertEqual(r.returncode, 0, r)
        execution = json.loads(r.stdout)
        self.assertEqual(execution["logs"]["stdout"], ["hi\n"])
        self.assertEqual(execution["results"][0]["text/plain"], "2")
        self.assertTrue(execution["results"][0]["is_main_result"])
        self.assertIsNone(execution["error"])
        r = self.run_code("--json", "raise ValueError('bad')")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(json.loads(r.stdout)["error"]["name"], "ValueError")

    def test_big_output_comes_through_the_spill_file(self):
        r = self.run_code("print('y' * 300000)")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, b"y" * 300000 + b"\n")

    def test_the_timeout_interrupts_the_code_and_keeps_the_context(self):
        self.run_code("--context", "ctl-t", "kept = 1")
        r = self.run_code("--context", "ctl-t", "--timeout", "1", "import time\ntime.sleep(30)")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"timed out", r.stderr)
        self.assertEqual(self.run_code("--context", "ctl-t", "kept").stdout, b"1\n")

    def test_ctrl_c_interrupts_the_code_exits_130_and_the_context_keeps_its_state(self):
        self.run_code("--context", "ctl-c", "kept = 'yes'")
        reader = LineReader([DECLAWCTL, "--socket", self.daemon.socket, "run-code", self.sbx,
                             "--context", "ctl-c",
                             "import time\nprint('started', flush=True)\ntime.sleep(60)"])
        self.addCleanup(reader.close)
        reader.read_until(lambda line: line == "started")
        reader.proc.send_signal(signal.SIGINT)
        code, _, err = reader.wait()
        self.assertEqual(code, 130, err)
        # The kernel was interrupted, not restarted: the next call comes at once and sees kept.
        r = self.run_code("--context", "ctl-c", "kept")
        self.assertEqual((r.returncode, r.stdout), (0, b"'yes'\n"), r)

    def test_an_unknown_sandbox_is_not_found(self):
        r = self.ctl("run-code", "sbx-nosuchthing", "1")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"(not_found)", r.stderr)


if __name__ == "__main__":
    unittest.main()
