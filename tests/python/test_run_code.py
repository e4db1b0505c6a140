"""sbx.run_code() against a real daemon: an IPython kernel inside a sandbox WITHOUT internet
access (the ipc transport, no TCP), reached through the bridge (declaw/_kernel_bridge.py).
State persists, output and display data come back in E2B's shapes, errors and timeouts behave
as E2B's code interpreter, contexts are separate kernels, AsyncSandbox runs contexts at once,
and the kernel cannot reach the outside."""
import asyncio
import base64
import hashlib
import re
import signal
import time
import unittest

from async_support import AsyncSdkTestCase
from support import Daemon, SdkTestCase, declaw, eventually

# A PNG built by hand in the kernel (matplotlib is not installed): one red pixel, then a
# large comment chunk when asked, so the image's size can be chosen.
MAKE_PNG = """
import hashlib, struct, zlib
def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
def make_png(padding=0):
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\\x00\\xff\\x00\\x00")
    extra = _chunk(b"tEXt", b"c\\x00" + bytes(i % 251 for i in range(padding))) if padding else b""
    return (b"\\x89PNG\\r\\n\\x1a\\n" + _chunk(b"IHDR", header) + extra
            + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))
"""


class BridgeProcesses(unittest.TestCase):
    """Which processes are bridges, so list_code_contexts (and declawctl) find kernels again:
    also one at the /tmp fallback path of a sandbox that refuses root."""

    def test_a_bridge_names_its_context_wherever_it_was_installed(self):
        from declaw import _run_code
        for path in (_run_code.FALLBACK_BRIDGE_PATH, "/opt/declaw/kernel_bridge-abc.py"):
            with self.subTest(path=path):
                argv = ["/usr/bin/python3", path, "--context", "c1", "--language", "python"]
                self.assertEqual(_run_code.context_of_process(argv, "").id, "c1")
        self.assertIsNone(_run_code.context_of_process(
            ["/usr/bin/python3", "/tmp/other.py", "--context", "x"], ""))
        self.assertIsNone(_run_code.context_of_process(["sleep", "1"], ""))


class AcrossARestart(unittest.TestCase):
    """Live restore: a restart of declawd keeps the kernel and its state. The bridge reads its
    requests on stdin, which init holds open while no daemon runs (docs/architecture.md)."""

    def test_a_kernel_keeps_its_state_across_a_daemon_restart(self):
        first = Daemon({"live_restore": True})
        last = first
        try:
            sbx = declaw.Sandbox.create(socket_path=first.socket, template="python",
                                        allow_internet_access=False)
            self.assertIsNone(sbx.run_code("counter = 41").error)
            first.terminate()  # SIGTERM: the sandbox, its bridge and kernel keep running
            declaw.reset_transports()
            last = Daemon({"live_restore": True}, workdir=first.dir)
            again = declaw.Sandbox.connect(sbx.sandbox_id, socket_path=last.socket)
            execution = again.run_code("counter += 1\ncounter")
            self.assertIsNone(execution.error)
            self.assertEqual(execution.text, "42")
            self.assertEqual(len(again.list_code_contexts()), 1)
        finally:
            declaw.reset_transports()
            if last.proc.poll() is not None:  # terminated and not restarted: restart to clean
                last = Daemon({"live_restore": True}, workdir=first.dir)
            last.stop(signal.SIGINT)  # kills the sandbox; asserts nothing is left


class RunCode(SdkTestCase):
    shared_sandbox = {"template": "python", "allow_internet_access": False}

    def test_state_persists_across_calls(self):
        first = self.shared.run_code("counter = 41\nimport math")
        second = self.shared.run_code("counter += 1\ncounter, math.pi > 3")
        self.assertIsNone(second.error)
        self.assertEqual(second.text, "(42, True)")
        self.assertGreater(second.execution_count, first.execution_count)

    def test_the_last_expression_is_the_main_result(self):
        execution = self.shared.run_code("'abc' * 2")
        self.assertEqual(execution.text, "abcabc")  # repr's quotes removed, as E2B does
        [result] = execution.results
        self.assertTrue(result.is_main_result)
        self.assertEqual(list(result.formats()), ["text"])
        self.assertIsNone(self.shared.run_code("x_unused = 1").text)

    def test_stdout_and_stderr_reach_the_callbacks_and_the_logs(self):
        out, err = [], []
        execution = self.shared.run_code(
            "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)",
            on_stdout=out.append, on_stderr=err.append)
        self.assertEqual("".join(execution.logs.stdout), "to stdout\n")
        self.assertEqual("".join(execution.logs.stderr), "to stderr\n")
        self.assertEqual("".join(m.line for m in out), "to stdout\n")
        self.assertIsInstance(out[0], declaw.OutputMessage)
        self.assertFalse(out[0].error)
        self.assertTrue(err[0].error)
        self.assertGreater(out[0].timestamp, (time.time() - 600) * 1e9)  # nanoseconds

    def test_display_data_carries_png_and_html(self):
        seen = []
        execution = self.shared.run_code(
            MAKE_PNG + "from IPython.display import HTML, Image, display\n"
            "png = make_png()\n"
            "display(Image(data=png, format='png'))\n"
            "display(HTML('<b>bold</b>'))\n"
            "hashlib.sha256(png).hexdigest()", on_result=seen.append)
        self.assertIsNone(execution.error)
        image, html, main = execution.results
        self.assertEqual(seen, execution.results)
        png = base64.b64decode(image.png)
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertEqual(hashlib.sha256(png).hexdigest(), main.text)
        self.assertIn("png", image.formats())
        self.assertFalse(image.is_main_result)
        self.assertEqual(html.html, "<b>bold</b>")
        self.assertTrue(main.is_main_result)

    def test_a_display_larger_than_the_output_buffer_arrives_whole(self):
        # 3 MiB of PNG is 4 MiB of base64 in one message: more than the daemon keeps of a
        # background command's output (1 MiB), so the bridge hands it over in a file.
        execution = self.shared.run_code(
            MAKE_PNG + "from IPython.display import Image, display\n"
            "big = make_png(3 << 20)\ndisplay(Image(data=big, format='png'))\n"
            "print(hashlib.sha256(big).hexdigest())", timeout=120)
        self.assertIsNone(execution.error)
        png = base64.b64decode(execution.results[0].png)
        self.assertGreater(len(png), 3 << 20)
        self.assertEqual(hashlib.sha256(png).hexdigest() + "\n", "".join(execution.logs.stdout))
        self.assertEqual(self.shared.run_code("len(big) > 3 << 20").text, "True")

    def test_an_exception_is_the_executions_error(self):
        errors = []
        execution = self.shared.run_code("def f():\n    raise ValueError('bad value')\nf()",
                                         on_error=errors.append)
        self.assertEqual(execution.error.name, "ValueError")
        self.assertEqual(execution.error.value, "bad value")
        self.assertIn("bad value", execution.error.traceback)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", execution.error.traceback)  # IPython colours it
        self.assertIn("----> 3 f()", plain)
        self.assertEqual(errors, [execution.error])
        self.assertEqual(execution.results, [])
        self.assertEqual(self.shared.run_code("1 + 1").text, "2")  # the kernel goes on

    def test_a_timeout_interrupts_the_code_and_the_kernel_keeps_its_state(self):
        self.shared.run_code("kept = 'still here'")
        started = time.monotonic()
        with self.assertRaises(declaw.TimeoutException) as caught:
            self.shared.run_code("import time\nwhile True: time.sleep(0.1)", timeout=2)
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn("timed out", str(caught.exception))
        self.assertEqual(self.shared.run_code("kept").text, "still here")

    def test_envs_apply_to_one_execution(self):
        code = "import os\nos.environ.get('RUN_CODE_VAR', 'unset')"
        self.assertEqual(self.shared.run_code(code, envs={"RUN_CODE_VAR": "set"}).text, "set")
        self.assertEqual(self.shared.run_code(code).text, "unset")

    def test_a_kernel_in_a_sandbox_without_internet_cannot_open_a_tcp_connection(self):
        self.assertIsNone(self.shared.get_network().get("address"))
        execution = self.shared.run_code(
            "import socket\n"
            "try:\n"
            "    socket.create_connection(('1.1.1.1', 443), timeout=3)\n"
            "    print('connected')\n"
            "except OSError as e:\n"
            "    print('refused', type(e).__name__)\n")
        self.assertIsNone(execution.error)
        self.assertTrue("".join(execution.logs.stdout).startswith("refused"),
                        execution.logs.stdout)

    def test_a_connected_sandbox_object_shares_the_kernels(self):
        self.shared.run_code("shared_value = 'seen'")
        other = declaw.Sandbox.connect(self.shared.sandbox_id, socket_path=self.socket)
        self.assertEqual(other.run_code("shared_value").text, "seen")

    def test_language_and_context_together_are_refused(self):
        with self.assertRaises(declaw.InvalidArgumentException):
            self.shared.run_code("1", language="python", context=declaw.Context("x", "python",
                                                                                "/"))
        with self.assertRaises(declaw.NotImplementedException):
            self.shared.run_code("1", language="r")


class CodeContexts(SdkTestCase):
    shared_sandbox = {"template": "python", "allow_internet_access": False}

    def test_two_contexts_are_separate_kernels(self):
        first = self.shared.create_code_context()
        second = self.shared.create_code_context(cwd="/tmp")
        self.shared.run_code("only_here = 1", context=first)
        missing = self.shared.run_code("only_here", context=second)
        self.assertEqual(missing.error.name, "NameError")
        self.assertEqual(self.shared.run_code("only_here", context=first).text, "1")
        self.assertEqual(self.shared.run_code("import os; os.getcwd()", context=second).text,
                         "/tmp")
        listed = {c.id: c for c in self.shared.list_code_contexts()}
        self.assertEqual(listed[second.id].cwd, "/tmp")
        self.assertIn(first.id, listed)
        self.shared.remove_code_context(first)
        self.assertNotIn(first.id, {c.id for c in self.shared.list_code_contexts()})
        found = self.shared.commands.run(f"pgrep -f '[{first.id[0]}]{first.id[1:]}' || true")
        self.assertEqual(found.stdout, "")  # neither its bridge nor its kernel
        self.shared.remove_code_context(first)  # an unknown context: nothing to do

    def test_restarting_a_context_clears_its_variables(self):
        context = self.shared.create_code_context()
        self.shared.run_code("gone_soon = 1", context=context)
        self.shared.restart_code_context(context)
        self.assertEqual(self.shared.run_code("gone_soon", context=context).error.name,
                         "NameError")

    def test_a_crashed_kernel_is_reported_and_the_next_call_gets_a_new_one(self):
        context = self.shared.create_code_context()
        self.shared.run_code("before_crash = 1", context=context)
        crashed = self.shared.run_code("import os\nos._exit(3)", context=context)
        self.assertEqual(crashed.error.name, "KernelDied")
        after = self.shared.run_code("'before_crash' in globals()", context=context)
        self.assertEqual(after.text, "False")

    def test_a_killed_bridge_is_replaced_on_the_next_call(self):
        context = self.shared.create_code_context()
        self.shared.run_code("1", context=context)
        [bridge] = [p for p in self.shared.commands.list()
                    if p.running and context.id in (p.argv or [])]
        self.shared.commands.kill(bridge.pid)
        self.shared.commands.wait(bridge.pid)
        # Its kernel notices that its parent is gone and exits (ipykernel's parent poller).
        eventually(lambda: self.kernels(context) == 0, what="the orphaned kernel's exit")
        self.assertEqual(self.shared.run_code("2 + 2", context=context).text, "4")
        self.assertEqual(self.kernels(context), 1)

    def kernels(self, context):
        """How many kernel processes of CONTEXT run in the sandbox."""
        # "kerne[l]" matches the kernel's command line, not that of the shell running pgrep.
        found = self.shared.commands.run(f"pgrep -f -c '{context.id}/kerne[l].json' || true")
        return int(found.stdout.strip() or 0)

    def test_a_template_without_jupyter_gives_a_clear_error(self):
        sbx = self.create(template="python", envs={"PYTHONPATH": "/tmp/no-jupyter"})
        sbx.files.write("/tmp/no-jupyter/jupyter_client/__init__.py",
                        "raise ImportError(\"No module named 'jupyter_client'\")\n")
        with self.assertRaises(declaw.NotImplementedException) as caught:
            sbx.run_code("1")
        self.assertIn("python3-ipykernel", str(caught.exception))


class AsyncRunCode(AsyncSdkTestCase):
    async def test_executions_on_different_contexts_run_at_once(self):
        sbx = await self.create(template="python")
        contexts = await asyncio.gather(*(sbx.create_code_context() for _ in range(3)))
        seen = []

        async def on_stdout(message):
            seen.append(message.line)

        started = time.monotonic()
        executions = await asyncio.gather(*(
            sbx.run_code(f"import time\ntime.sleep(3)\nprint('ctx{i}')\n{i} * 10",
                         context=context, on_stdout=on_stdout)
            for i, context in enumerate(contexts)))
        self.assertLess(time.monotonic() - started, 8)  # not 3 x 3 s
        self.assertEqual([e.text for e in executions], ["0", "10", "20"])
        self.assertEqual(sorted(seen), ["ctx0\n", "ctx1\n", "ctx2\n"])

    async def test_state_errors_and_timeouts_as_the_blocking_client(self):
        sbx = await self.create(template="python", allow_internet_access=False)
        await sbx.run_code("value = 7")
        self.assertEqual((await sbx.run_code("value * 6")).text, "42")
        errors = []
        failed = await sbx.run_code("1 / 0", on_error=errors.append)
        self.assertEqual(failed.error.name, "ZeroDivisionError")
        self.assertEqual(errors, [failed.error])
        with self.assertRaises(declaw.TimeoutException):
            await sbx.run_code("import time\ntime.sleep(60)", timeout=2)
        self.assertEqual((await sbx.run_code("value")).text, "7")
        # Calls on one context queue up behind each other.
        first, second = await asyncio.gather(sbx.run_code("import time; time.sleep(1); 1"),
                                             sbx.run_code("2"))
        self.assertEqual((first.text, second.text), ("1", "2"))


if __name__ == "__main__":
    unittest.main()
