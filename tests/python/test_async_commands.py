"""AsyncSandbox's commands and terminals against a real daemon: foreground runs with plain and
coroutine callbacks, background handles, many commands at once on one sandbox
(asyncio.gather), the process calls (list, get, connect, wait, kill, send_stdin, signal), and
sbx.pty."""
import asyncio
import time
import unittest

from async_support import AsyncSdkTestCase

import declaw
from declaw import AsyncCommandHandle, AsyncPtyHandle, PtySize


class AsyncRun(AsyncSdkTestCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.sbx = await self.create(template="python")

    async def test_a_foreground_run_returns_its_result_and_a_non_zero_exit_is_returned(self):
        result = await self.sbx.commands.run("echo out; echo err >&2; exit 3")
        self.assertIsInstance(result, declaw.CommandResult)
        self.assertEqual((result.stdout, result.stderr, result.exit_code), ("out\n", "err\n", 3))
        with self.assertRaises(declaw.CommandExitException):
            result.check()
        argv = await self.sbx.commands.run(["python3", "-c", "import sys; print(sys.argv[1:])",
                                            "a b", "$HOME"])
        self.assertEqual(argv.stdout, "['a b', '$HOME']\n")
        fed = await self.sbx.commands.run("tr a-z A-Z", stdin="quiet\n", envs={"X": "1"},
                                          cwd="/tmp", user="root")
        self.assertEqual(fed.stdout, "QUIET\n")

    async def test_plain_callbacks_get_each_line_as_it_arrives(self):
        out, err = [], []
        result = await self.sbx.commands.run(
            "for i in 1 2 3; do echo line$i; echo warn$i >&2; done",
            on_stdout=out.append, on_stderr=err.append)
        self.assertEqual(out, ["line1\n", "line2\n", "line3\n"])
        self.assertEqual(err, ["warn1\n", "warn2\n", "warn3\n"])
        self.assertEqual(result.stdout, "line1\nline2\nline3\n")

    async def test_coroutine_callbacks_are_awaited_in_order_while_the_command_runs(self):
        seen = []

        async def on_stdout(line):
            await asyncio.sleep(0.01)
            seen.append((line, time.monotonic()))

        started = time.monotonic()
        result = await self.sbx.commands.run("echo first; sleep 1; echo second",
                                             on_stdout=on_stdout)
        self.assertEqual([line for line, _ in seen], ["first\n", "second\n"])
        self.assertLess(seen[0][1] - started, 0.9, "the first line came only at the end")
        self.assertEqual(result.exit_code, 0)

    async def test_a_callback_that_raises_stops_the_run_with_its_exception(self):
        async def fail(line):
            raise ValueError(f"refused {line.strip()}")

        with self.assertRaisesRegex(ValueError, "refused hello"):
            await self.sbx.commands.run("echo hello; sleep 30", on_stdout=fail)

    async def test_a_command_timeout_raises_with_the_output_so_far(self):
        for callbacks in ({}, {"on_stdout": lambda line: None}):
            with self.subTest(streamed=bool(callbacks)):
                with self.assertRaises(declaw.TimeoutException) as caught:
                    await self.sbx.commands.run("echo before; sleep 30", timeout=1, **callbacks)
                self.assertEqual(caught.exception.stdout, "before\n")
                self.assertIn("timed out after 1 s", str(caught.exception))

    async def test_a_cancelled_run_stops_waiting_and_the_command_runs_on(self):
        for callbacks in ({}, {"on_stdout": lambda line: None}):
            with self.subTest(streamed=bool(callbacks)):
                marker = f"/tmp/cancelled-{len(callbacks)}"
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(self.sbx.commands.run(
                        f"sleep 1; touch {marker}", **callbacks), 0.3)
                deadline = time.monotonic() + 15
                while (not await self.sbx.files.exists(marker)
                       and time.monotonic() < deadline):
                    await asyncio.sleep(0.1)
                self.assertTrue(await self.sbx.files.exists(marker))
        self.assertEqual((await self.sbx.commands.run("echo still fine")).stdout, "still fine\n")

    async def test_ten_commands_run_at_once_on_one_sandbox(self):
        started = time.monotonic()
        results = await asyncio.gather(*(
            self.sbx.commands.run(f"sleep 1; echo {n}") for n in range(10)))
        elapsed = time.monotonic() - started
        self.assertEqual([r.stdout for r in results], [f"{n}\n" for n in range(10)])
        self.assertLess(elapsed, 6, "the commands ran one after the other")

    async def test_ten_streamed_and_background_commands_at_once(self):
        lines = {n: [] for n in range(5)}
        streamed = [self.sbx.commands.run(f"sleep 0.5; echo s{n}", on_stdout=lines[n].append)
                    for n in range(5)]
        handles = await asyncio.gather(*(
            self.sbx.commands.run(f"sleep 0.5; echo b{n}", background=True) for n in range(5)))
        results = await asyncio.gather(*streamed, *(h.wait() for h in handles))
        self.assertEqual([r.stdout for r in results],
                         [f"s{n}\n" for n in range(5)] + [f"b{n}\n" for n in range(5)])
        self.assertEqual(lines, {n: [f"s{n}\n"] for n in range(5)})


class AsyncBackground(AsyncSdkTestCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.sbx = await self.create()

    async def test_a_background_handle_takes_stdin_and_waits_for_the_end(self):
        handle = await self.sbx.commands.run("cat; echo done >&2", background=True)
        self.assertIsInstance(handle, AsyncCommandHandle)
        self.assertIsInstance(handle.pid, int)
        await handle.send_stdin("one\n")
        await self.sbx.commands.send_stdin(handle.pid, b"two\n")
        await handle.close_stdin()
        result = await handle.wait()
        self.assertEqual((result.stdout, result.stderr, result.exit_code),
                         ("one\ntwo\n", "done\n", 0))
        self.assertEqual((handle.stdout, handle.exit_code), ("one\ntwo\n", 0))
        info = await handle.info()
        self.assertFalse(info.running)

    async def test_background_callbacks_may_be_coroutines(self):
        got = asyncio.Queue()

        async def on_stdout(line):
            await got.put(line)

        handle = await self.sbx.commands.run("echo ready; sleep 30", background=True,
                                             on_stdout=on_stdout)
        self.assertEqual(await asyncio.wait_for(got.get(), 15), "ready\n")
        self.assertTrue(await handle.kill())
        with self.assertRaises(declaw.CommandExitException) as caught:
            await handle.wait()
        self.assertEqual(caught.exception.exit_code, 137)

    async def test_a_loop_over_the_handle_gets_the_output_as_it_comes(self):
        handle = await self.sbx.commands.run("echo a; echo b >&2; echo c", background=True)
        out, err = "", ""
        async for stdout, stderr, pty in handle:
            self.assertIsNone(pty)
            out += stdout or ""
            err += stderr or ""
        self.assertEqual((out, err), ("a\nc\n", "b\n"))
        self.assertEqual((await handle.wait()).stdout, "a\nc\n")

    async def test_wait_callbacks_get_the_output_from_the_start(self):
        handle = await self.sbx.commands.run("echo one; sleep 0.3; echo two >&2",
                                             background=True)
        await asyncio.sleep(0.1)  # "one" is out before wait() is called
        out, err = [], []

        async def on_stderr(line):
            err.append(line)

        result = await handle.wait(on_stdout=out.append, on_stderr=on_stderr)
        self.assertEqual((out, err, result.exit_code), (["one\n"], ["two\n"], 0))

    async def test_list_get_connect_wait_signal_and_kill_by_pid(self):
        commands = self.sbx.commands
        handle = await commands.run("echo started; sleep 60", background=True)
        listed = {p.pid: p for p in await commands.list()}
        self.assertTrue(listed[handle.pid].running)
        self.assertEqual((await commands.get(handle.pid)).cmd, "echo started; sleep 60")
        lines = []
        attached = await commands.connect(handle.pid, on_stdout=lines.append)
        with self.assertRaises(declaw.TimeoutException):
            await commands.wait(handle.pid, timeout=1)
        await commands.signal(handle.pid, "TERM")
        info = await commands.wait(handle.pid, timeout=15)
        self.assertEqual((info.running, info.signal), (False, 15))
        with self.assertRaises(declaw.CommandExitException):
            await attached.wait()
        self.assertEqual(lines, ["started\n"])
        self.assertTrue(await commands.kill(handle.pid))
        self.assertFalse(await commands.kill(99999))
        with self.assertRaises(declaw.NotFoundException):
            await commands.connect(99999)
        with self.assertRaises(declaw.NotFoundException):
            await commands.get(99999)

    async def test_disconnect_leaves_the_process_running(self):
        handle = await self.sbx.commands.run("sleep 60", background=True)
        attached = await self.sbx.commands.connect(handle.pid)
        await attached.disconnect()
        with self.assertRaisesRegex(declaw.SandboxException, "disconnected"):
            await attached.wait()
        self.assertTrue((await handle.info()).running)
        await handle.kill()


class AsyncTerminal(AsyncSdkTestCase):
    async def test_a_terminal_echoes_what_is_typed_to_a_coroutine_callback(self):
        sbx = await self.create()
        output = bytearray()
        prompt_seen = asyncio.Event()

        async def on_data(data):
            output.extend(data)
            if b"size=" in output:
                prompt_seen.set()

        term = await sbx.pty.create(PtySize(rows=24, cols=80), on_data=on_data)
        self.assertIsInstance(term, AsyncPtyHandle)
        await term.resize(PtySize(rows=40, cols=120))
        await term.send_stdin(b"echo size=$(stty size)\n")
        await asyncio.wait_for(prompt_seen.wait(), 15)
        await sbx.pty.send_stdin(term.pid, "exit 0\n")
        result = await term.wait()
        self.assertEqual(result.exit_code, 0)
        self.assertIn("size=40 120", output.decode(errors="replace"))
        self.assertIn("size=40 120", term.stdout)
        self.assertTrue(any(p.is_pty for p in await sbx.commands.list()))

    async def test_connect_and_kill_a_terminal(self):
        sbx = await self.create()
        term = await sbx.pty.create(PtySize(rows=10, cols=40), cmd="echo hi; sleep 60")
        attached = await sbx.pty.connect(term.pid)
        deadline = time.monotonic() + 15
        while "hi" not in attached.stdout and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.assertTrue(await sbx.pty.kill(term.pid))
        with self.assertRaises(declaw.CommandExitException):
            await attached.wait()
        self.assertIn("hi", attached.stdout)


if __name__ == "__main__":
    unittest.main()
