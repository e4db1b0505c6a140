"""Processes through the SDK: background commands, live output, reattaching, stdin, list, kill and
signals. EventStreamClient drives the SDK's event-stream client against a scripted server
(fake_sse.py), where chunk boundaries and timing are the test's to choose; the other classes run
against a real declawd."""
import base64
import signal
import subprocess
import sys
import threading
import time
import unittest

from fake_sse import FakeSse
from support import REPO, Collector, SdkTestCase, eventually

import declaw
from declaw import CommandHandle, CommandResult, ProcessInfo, Sandbox

FAKE_ID = "sbx-0123456789ab"
ROUTE = f"/v1/sandboxes/{FAKE_ID}"
# How long a test against the fake waits for what takes milliseconds, before it calls it lost.
PATIENCE_S = 15


class EventStreamClient(unittest.TestCase):
    """The SSE client and CommandHandle against a scripted server."""

    def serve(self, script):
        fake = FakeSse(script)
        self.addCleanup(fake.close)
        self.addCleanup(declaw.reset_transports)
        self.addCleanup(fake.assert_no_failures)
        return fake, Sandbox(FAKE_ID, socket_path=fake.path)

    def test_events_split_at_every_byte_with_comments_and_crlf_are_parsed(self):
        def script(req):
            req.start_stream()
            stream = (b": keep-alive\n\n"
                      b"event: start\r\ndata: {\"pid\": 7}\r\n\r\n"
                      + req.event_bytes("stdout", {"data": "h\u00e9llo\n"})
                      + b"event: a-future-event\ndata: {\"x\": 1}\n\n"
                      + req.event_bytes("stderr", {"data": "warn\n"})
                      + req.event_bytes("exit", {"pid": 7, "exit_code": 0, "signal": None,
                                                 "timed_out": False}))
            for i in range(len(stream)):
                req.raw(stream[i:i + 1])
            req.end_stream()

        fake, sbx = self.serve(script)
        out, err = Collector(), Collector()
        result = sbx.commands.run("x", on_stdout=out, on_stderr=err)
        self.assertEqual((result.stdout, result.stderr, result.exit_code, result.pid),
                         ("h\u00e9llo\n", "warn\n", 0, 7))
        self.assertEqual((out.items, err.items), (["h\u00e9llo\n"], ["warn\n"]))
        request = fake.requests[0]
        self.assertEqual((request.method, request.path), ("POST", ROUTE + "/commands/stream"))
        self.assertEqual(request.json_body()["timeout"], 60)

    def test_a_callback_runs_before_the_next_event_is_even_sent(self):
        released = threading.Event()
        seen = {}

        def script(req):
            req.start_stream()
            req.event("start", {"pid": 3})
            req.output("stdout", "first\n")
            seen["released"] = released.wait(10)  # the SDK must deliver without more data
            req.output("stdout", "second\n")
            req.event("exit", {"pid": 3, "exit_code": 0})
            req.end_stream()

        fake, sbx = self.serve(script)

        def on_stdout(line):
            if line == "first\n":
                released.set()

        start = time.monotonic()
        result = sbx.commands.run("x", on_stdout=on_stdout)
        self.assertTrue(seen["released"], "the first line was held until more output came")
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(result.stdout, "first\nsecond\n")

    def test_a_character_split_across_events_and_bytes_that_are_not_utf8(self):
        def script(req):
            req.start_stream()
            req.output("stdout", b"caf\xc3")
            req.output("stdout", b"\xa9\n\xff\n")
            req.output("stderr", b"\x80")
            req.event("exit", {"pid": 1, "exit_code": 0})
            req.end_stream()

        _, sbx = self.serve(script)
        out, err = Collector(), Collector()
        result = sbx.commands.run("x", on_stdout=out, on_stderr=err)
        self.assertEqual(out.text(), "caf\u00e9\n\ufffd\n")
        self.assertEqual(err.text(), "\ufffd")
        self.assertEqual(result.stdout_bytes, b"caf\xc3\xa9\n\xff\n")
        self.assertEqual(result.stdout, "caf\u00e9\n\ufffd\n")
        self.assertEqual(result.stderr_bytes, b"\x80")

    def test_lost_output_is_counted_and_never_raised(self):
        def script(req):
            req.start_stream()
            req.output("stdout", "a")
            req.event("lost", {"stream": "stdout", "bytes": 1000})
            req.output("stdout", "b\n")
            req.event("lost", {"stream": "stderr", "bytes": 24})
            req.event("exit", {"pid": 1, "exit_code": 0})
            req.end_stream()

        _, sbx = self.serve(script)
        result = sbx.commands.run("x", on_stdout=lambda line: None)
        self.assertEqual((result.stdout, result.lost_bytes), ("ab\n", 1024))

    def test_a_stream_that_ends_before_the_exit_event_is_a_connection_error(self):
        def script(req):
            req.start_stream()
            req.event("start", {"pid": 4})
            req.output("stdout", "partial\n")
            if req.json_body()["cmd"] == "clean end":
                req.end_stream()
            # else: hang up in the middle of the chunked body

        _, sbx = self.serve(script)
        for cmd in ("clean end", "cut off"):
            with self.subTest(cmd=cmd):
                out = Collector()
                with self.assertRaises(declaw.ConnectionException):
                    sbx.commands.run(cmd, on_stdout=out)
                self.assertEqual(out.items, ["partial\n"])

    def test_an_error_before_the_stream_starts_is_the_sdk_exception(self):
        def script(req):
            if "/stream?" in req.path and req.method == "GET":
                req.error(404, "not_found", "process 99 not found")
            else:
                req.error(400, "invalid_argument", "cwd /nope does not exist")
            return True

        _, sbx = self.serve(script)
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            sbx.commands.run("x", cwd="/nope", on_stdout=print)
        self.assertIn("/nope", str(caught.exception))
        self.assertEqual(caught.exception.sandbox_id, FAKE_ID)
        with self.assertRaises(declaw.NotFoundException):
            sbx.commands.connect(99)

    def test_the_stream_has_its_own_connection_and_hangs_it_up_when_done(self):
        hung_up = {}

        def script(req):
            if req.method == "GET" and req.path == ROUTE:
                req.answer(200, {"sandbox_id": FAKE_ID, "template_id": "base"})
                return True
            req.start_stream()
            req.event("exit", {"pid": 1, "exit_code": 0})
            req.end_stream()  # the client may be gone already: it has the exit event
            hung_up["stream"] = req.client_gone(10)

        fake, sbx = self.serve(script)
        sbx.get_info()  # one pooled connection, idle
        sbx.commands.run("x", on_stdout=print)
        sbx.get_info()  # reuses the pooled one
        (stream,) = [r for r in fake.requests if r.method == "POST"]
        fake.wait_finished(stream)
        self.assertTrue(hung_up["stream"], "the stream's connection was kept open after its end")
        connections = {id(r.conn) for r in fake.requests}
        self.assertEqual(len(connections), 2)
        self.assertIs(fake.requests[0].conn, fake.requests[2].conn)

    def test_background_commands_get_a_timeout_only_when_one_is_given(self):
        def script(req):
            req.answer(200, {"pid": 5, "cmd": "x", "running": True, "background": True})
            return True

        fake, sbx = self.serve(script)
        for kwargs, expected in (({}, None), ({"timeout": 5}, 5), ({"timeout": 60}, 60),
                                 ({"timeout": 0}, 0), ({"timeout": None}, 0)):
            with self.subTest(**kwargs):
                handle = sbx.commands.run("x", background=True, **kwargs)
                self.assertIsInstance(handle, CommandHandle)
                self.assertEqual(handle.pid, 5)
                body = fake.requests[-1].json_body()
                self.assertEqual(body.get("timeout"), expected)
                self.assertIs(body["background"], True)

    def test_disconnect_unblocks_the_reader_hangs_up_and_leaves_the_process_alone(self):
        gone = {}

        def script(req):
            if req.method == "POST":
                req.answer(200, {"pid": 9, "running": True, "background": True})
                return True
            req.start_stream()
            req.event("start", {"pid": 9})
            req.output("stdout", "x\n")
            gone["stream"] = req.client_gone(PATIENCE_S)

        fake, sbx = self.serve(script)
        out = Collector()
        handle = sbx.commands.run("x", background=True, on_stdout=out)
        out.wait_for("x\n")
        start = time.monotonic()
        handle.disconnect()
        (stream,) = [r for r in fake.requests if r.method == "GET"]
        fake.wait_finished(stream)
        self.assertTrue(gone["stream"], "disconnect() left the stream's connection open")
        # Far below the 45 s a read blocked on a silent stream would wait.
        took = time.monotonic() - start
        self.assertLess(took, 10, f"the hang-up came {took:.1f} s after disconnect()")
        handle._thread.join(PATIENCE_S)
        self.assertFalse(handle._thread.is_alive(), "the callback thread still reads")
        with self.assertRaises(declaw.SandboxException) as caught:
            handle.wait()
        self.assertIn("disconnected", str(caught.exception))
        self.assertNotIn("DELETE", [r.method for r in fake.requests])

    def test_wait_and_the_callback_thread_each_get_all_the_output(self):
        go_on = threading.Event()
        seen = {}

        def script(req):
            if req.method == "POST":
                req.answer(200, {"pid": 2, "running": True, "background": True})
                return True
            req.start_stream()
            req.output("stdout", "a\n")
            seen["wait() attached"] = go_on.wait(PATIENCE_S)
            req.output("stdout", "b\n")
            req.output("stderr", "e\n")
            req.output("stdout", "c\n")
            req.event("exit", {"pid": 2, "exit_code": 0})
            req.end_stream()

        fake, sbx = self.serve(script)
        in_thread = Collector()
        handle = sbx.commands.run("x", background=True, on_stdout=in_thread)
        in_thread.wait_for("a\n")
        in_wait, in_wait_err = Collector(), Collector()

        def wait_gets_stdout(text):
            in_wait(text)
            go_on.set()  # wait() has joined with the earlier output: the rest is live for both

        result = handle.wait(on_stdout=wait_gets_stdout, on_stderr=in_wait_err)
        handle._thread.join(PATIENCE_S)
        self.assertFalse(handle._thread.is_alive(), "the callback thread still reads")
        self.assertTrue(seen["wait() attached"], "wait() did not get the earlier output")
        self.assertEqual(in_wait.text(), "a\nb\nc\n")
        self.assertEqual(in_thread.text(), "a\nb\nc\n")
        self.assertEqual(in_wait_err.text(), "e\n")
        self.assertEqual((result.stdout, result.stderr, handle.exit_code), ("a\nb\nc\n", "e\n", 0))
        self.assertEqual(len([r for r in fake.requests if r.method == "GET"]), 1,
                         "one stream serves every consumer")
        self.assertEqual(handle.wait().stdout, "a\nb\nc\n", "a finished handle answers again")

    def test_wait_raises_for_a_failed_a_timed_out_and_an_orphaned_process(self):
        endings = {
            1: {"exit_code": 3, "signal": None, "timed_out": False},
            2: {"exit_code": 124, "signal": 9, "timed_out": True},
            3: {"exit_code": None, "signal": None, "timed_out": False,
                "error": "the sandbox ended"},
        }

        def script(req):
            pid = int(req.path.split("/")[-2])
            req.start_stream()
            req.output("stdout", "out\n")
            req.output("stderr", "err\n")
            req.event("exit", dict(endings[pid], pid=pid))
            req.end_stream()

        _, sbx = self.serve(script)
        with self.assertRaises(declaw.CommandExitException) as caught:
            sbx.commands.connect(1).wait()
        error = caught.exception
        self.assertEqual((error.exit_code, error.stdout, error.stderr), (3, "out\n", "err\n"))
        with self.assertRaises(declaw.TimeoutException) as caught:
            sbx.commands.connect(2).wait()
        self.assertEqual((caught.exception.exit_code, caught.exception.stdout), (124, "out\n"))
        with self.assertRaises(declaw.SandboxNotRunningException) as caught:
            sbx.commands.connect(3).wait()
        self.assertIn("the sandbox ended", str(caught.exception))

    def test_iterating_a_handle_yields_stdout_stderr_and_pty_chunks(self):
        def script(req):
            req.start_stream()
            req.output("stdout", "o")
            req.output("stderr", "e")
            req.output("pty", b"\x1b[1mp\xff")
            req.event("exit", {"pid": 1, "exit_code": 0})
            req.end_stream()

        _, sbx = self.serve(script)
        chunks = list(sbx.commands.connect(1))
        self.assertEqual(chunks, [("o", None, None), (None, "e", None),
                                  (None, None, b"\x1b[1mp\xff")])

    def test_process_controls_send_what_the_api_says(self):
        def script(req):
            if req.method == "DELETE" and req.path == ROUTE + "/commands/404":
                req.error(404, "not_found", "process 404 not found")
            elif req.method == "GET":
                req.answer(200, {"processes": [
                    {"pid": 12, "cmd": "sleep 9", "user": "user", "cwd": "/home/user",
                     "started_at": "2026-11-27T02:41:01Z", "running": True, "exit_code": None,
                     "signal": None, "timed_out": False, "is_pty": False, "background": True,
                     "stdin_open": True}]})
            else:
                req.answer(204)
            return True

        fake, sbx = self.serve(script)
        commands = sbx.commands
        self.assertTrue(commands.kill(12))
        self.assertFalse(commands.kill(404))
        commands.send_stdin(12, "t\u00e9xt")
        commands.send_stdin(12, b"\xff\x00")
        commands.close_stdin(12)
        commands.signal(12, "TERM")
        commands.signal(12, signal.SIGINT)
        commands.signal(12, 9)
        with self.assertRaises(TypeError):
            commands.signal(12, 1.5)
        (info,) = commands.list()
        self.assertIsInstance(info, ProcessInfo)
        self.assertEqual((info.pid, info.cmd, info.running, info.exit_code, info.background),
                         (12, "sleep 9", True, None, True))
        self.assertEqual(info.started_at.year, 2026)
        sent = [(r.method, r.path[len(ROUTE):], r.json_body()) for r in fake.requests]
        self.assertEqual(sent[:8], [
            ("DELETE", "/commands/12", None),
            ("DELETE", "/commands/404", None),
            ("POST", "/commands/12/stdin", {"data": "t\u00e9xt"}),
            ("POST", "/commands/12/stdin", {"data_base64": base64.b64encode(b"\xff\x00").decode()}),
            ("DELETE", "/commands/12/stdin", None),
            ("POST", "/commands/12/signal", {"signal": "TERM"}),
            ("POST", "/commands/12/signal", {"signal": 2}),
            ("POST", "/commands/12/signal", {"signal": 9}),
        ])


SERVER = r"""
import http.server, os, socketserver, sys

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

class Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "unix"

    def do_GET(self):
        body = ("served %s by %d\n" % (self.path, os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("listening", flush=True)
Server(sys.argv[1], Handler).serve_forever()
"""

CLIENT = r"""
import http.client, socket, sys

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])

conn = Conn("server")
conn.request("GET", "/hello")
print(conn.getresponse().read().decode(), end="")
"""


class BackgroundCommands(SdkTestCase):
    shared_sandbox = {"template": "python"}

    def test_a_background_server_outlives_its_client_and_answers_a_later_command(self):
        # Sandboxes without network have no AF_INET sockets (seccomp), so the server listens
        # on a Unix socket inside the sandbox.
        sbx = self.shared
        sbx.files.write("/home/user/server.py", SERVER)
        sbx.files.write("/home/user/client.py", CLIENT)
        starter = ("import declaw, sys\n"
                   "sbx = declaw.Sandbox.connect(sys.argv[1], socket_path=sys.argv[2])\n"
                   "handle = sbx.commands.run('python3 server.py /tmp/web.sock', "
                   "background=True)\n"
                   "print(handle.pid)\n")
        started = subprocess.run([sys.executable, "-c", starter, sbx.sandbox_id, self.socket],
                                 capture_output=True, text=True, timeout=60,
                                 env={"PYTHONPATH": f"{REPO}/clients/python"})
        self.assertEqual(started.returncode, 0, started.stderr)
        pid = int(started.stdout)  # the client process and its connection are gone now
        eventually(lambda: sbx.files.exists("/tmp/web.sock"), what="the server's socket")
        answer = sbx.commands.run("python3 client.py /tmp/web.sock")
        self.assertEqual(answer.stdout, f"served /hello by {pid}\n", answer.stderr)
        (info,) = [p for p in sbx.commands.list() if p.pid == pid]
        self.assertTrue(info.running)
        self.assertTrue(info.background)
        self.assertEqual(info.cmd, "python3 server.py /tmp/web.sock")
        self.assertTrue(sbx.commands.kill(pid))
        self.assertEqual(sbx.commands.wait(pid, timeout=10).signal, 9)

    def test_run_in_the_background_returns_at_once_and_wait_gets_the_result(self):
        start = time.monotonic()
        handle = self.shared.commands.run("sleep 1; echo done; echo note >&2", background=True)
        self.assertLess(time.monotonic() - start, 1)
        self.assertIsInstance(handle.pid, int)
        self.assertIsNone(handle.exit_code)
        result = handle.wait()
        self.assertIsInstance(result, CommandResult)
        self.assertEqual((result.stdout, result.stderr, result.exit_code, result.pid),
                         ("done\n", "note\n", 0, handle.pid))
        self.assertEqual((handle.stdout, handle.exit_code), ("done\n", 0))

    def test_wait_raises_command_exit_exception_for_a_non_zero_exit(self):
        handle = self.shared.commands.run("echo out; echo why >&2; exit 3", background=True)
        with self.assertRaises(declaw.CommandExitException) as caught:
            handle.wait()
        error = caught.exception
        self.assertEqual((error.exit_code, error.stdout, error.stderr), (3, "out\n", "why\n"))

    def test_a_timeout_given_to_a_background_command_kills_it(self):
        handle = self.shared.commands.run("echo up; sleep 30", background=True, timeout=1)
        start = time.monotonic()
        with self.assertRaises(declaw.TimeoutException) as caught:
            handle.wait()
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual((caught.exception.stdout, caught.exception.exit_code), ("up\n", 124))

    def test_stdin_round_trip_with_cat(self):
        handle = self.shared.commands.run("cat", background=True)
        out = Collector()
        follower = self.shared.commands.connect(handle.pid, on_stdout=out)
        handle.send_stdin("hello\n")
        out.wait_for("hello\n")
        handle.send_stdin(b"bytes \xff\n")
        handle.close_stdin()
        result = handle.wait()
        self.assertEqual(result.stdout_bytes, b"hello\nbytes \xff\n")
        self.assertEqual(result.exit_code, 0)
        follower.wait()
        self.assertEqual(follower.stdout, "hello\nbytes \ufffd\n")

    def test_stdin_round_trip_with_an_interactive_python(self):
        out = Collector()
        handle = self.shared.commands.run("python3 -i -q", background=True, on_stdout=out)
        handle.send_stdin("print(6*7)\n")
        out.wait_for("42\n")
        self.assertTrue(handle.info().running, "python ended before stdin was closed")
        handle.close_stdin()
        self.assertEqual(handle.wait().exit_code, 0)

    def test_stdin_given_up_front_to_a_background_command_leaves_it_open(self):
        handle = self.shared.commands.run("cat", background=True, stdin="first\n")
        handle.send_stdin("second\n")
        self.assertTrue(self.shared.commands.get(handle.pid).stdin_open)
        handle.close_stdin()
        self.assertEqual(handle.wait().stdout, "first\nsecond\n")

    def test_stdin_the_process_does_not_read_is_bounded(self):
        handle = self.shared.commands.run("sleep 100", background=True)
        self.addCleanup(handle.kill)
        chunk = "x" * (512 * 1024)
        with self.assertRaises(declaw.RateLimitException):
            for _ in range(4):  # 2 MiB: over max_stdin_buffer_bytes (1 MiB)
                handle.send_stdin(chunk)

    def test_a_process_whose_sandbox_ends_is_reported_not_hung(self):
        sbx = self.create(template="base")
        handle = sbx.commands.run("echo up; sleep 100", background=True)
        follower = sbx.commands.connect(handle.pid)
        self.assertTrue(sbx.kill())
        with self.assertRaises(declaw.SandboxNotRunningException):
            follower.wait()

    def test_stdin_of_a_finished_process_is_a_conflict(self):
        handle = self.shared.commands.run("true", background=True)
        handle.wait()
        with self.assertRaises(declaw.ConflictException) as caught:
            handle.send_stdin("late\n")
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)


class LiveOutput(SdkTestCase):
    shared_sandbox = {"template": "python"}

    def test_a_foreground_callback_fires_before_the_second_line_is_written(self):
        sbx = self.shared
        go = "/tmp/write-the-second-line"
        seen = []

        def on_stdout(line):
            seen.append(line)
            if line == "first\n":
                sbx.files.write(go, "")  # only now does the command write its second line

        # A first line held back until more output came would keep the command waiting until
        # its timeout killed it.
        try:
            result = sbx.commands.run(f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; "
                                      "echo second", on_stdout=on_stdout)
        except declaw.TimeoutException:
            self.fail(f"the callback did not get the first line while the command ran: {seen}")
        self.assertEqual(result.stdout, "first\nsecond\n")
        self.assertEqual(seen, ["first\n", "second\n"])

    def test_a_background_callback_fires_while_the_process_still_runs(self):
        go = "/tmp/write-the-second-background-line"
        out = Collector()
        handle = self.shared.commands.run(
            f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second",
            background=True, on_stdout=out)
        out.wait_for("first\n")  # the command writes nothing more until it is told to
        self.assertEqual(out.items, ["first\n"])
        self.assertTrue(handle.info().running)
        self.shared.files.write(go, "")
        out.wait_for("second\n")
        self.assertEqual(handle.wait().stdout, "first\nsecond\n")

    def test_connect_after_disconnect_gets_the_earlier_output_then_live_output(self):
        sbx = self.shared
        cmd = "echo one; echo two; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo three"
        first = Collector()
        handle = sbx.commands.run(cmd, background=True, on_stdout=first)
        first.wait_for("two\n")
        handle.disconnect()
        with self.assertRaises(declaw.SandboxException):
            handle.wait()
        self.assertTrue(sbx.commands.get(handle.pid).running, "disconnect stopped the process")

        second = Collector()
        again = sbx.commands.connect(handle.pid, on_stdout=second)
        second.wait_for("one\ntwo\n")
        self.assertIsNone(again.exit_code)
        sbx.files.write("/tmp/go", "")
        second.wait_for("three\n")
        self.assertEqual(again.wait().stdout, "one\ntwo\nthree\n")
        self.assertEqual(first.text(), "one\ntwo\n", "a disconnected handle got more output")

    def test_iterating_a_handle_yields_the_chunks_as_they_come(self):
        handle = self.shared.commands.run("echo a; echo b >&2; sleep 0.5; echo c",
                                          background=True)
        out, err = [], []
        for stdout, stderr, pty in handle:
            self.assertIsNone(pty)
            (out if stdout is not None else err).append(stdout or stderr)
        self.assertEqual(("".join(out), "".join(err)), ("a\nc\n", "b\n"))
        self.assertEqual(handle.exit_code, 0)

    def test_a_reader_that_attaches_late_is_told_how_much_was_lost(self):
        sbx = self.shared
        handle = sbx.commands.run("head -c 5000000 /dev/zero | tr '\\0' x; echo; echo end",
                                  background=True)
        sbx.commands.wait(handle.pid, timeout=30)
        result = sbx.commands.connect(handle.pid).wait()
        self.assertTrue(result.stdout.endswith("x\nend\n"))
        self.assertGreater(result.lost_bytes, 0)
        self.assertEqual(len(result.stdout_bytes) + result.lost_bytes, 5000005)

    def test_a_streamed_command_takes_stdin_and_refuses_a_bad_cwd_before_it_starts(self):
        out = Collector()
        result = self.shared.commands.run("cat", stdin="given\n", on_stdout=out)
        self.assertEqual((result.stdout, out.items), ("given\n", ["given\n"]))
        for callbacks in ({}, {"on_stdout": out}):  # the same error with and without a stream
            with self.assertRaises(declaw.InvalidArgumentException) as caught:
                self.shared.commands.run("true", cwd="/no/such/dir", **callbacks)
            self.assertIn("cwd /no/such/dir", str(caught.exception))

    def test_streamed_output_that_is_not_utf8_keeps_its_bytes(self):
        out = Collector()
        result = self.shared.commands.run("printf 'ok\\xff\\xfe\\n'", on_stdout=out)
        self.assertEqual(result.stdout_bytes, b"ok\xff\xfe\n")
        self.assertEqual(out.text(), "ok\ufffd\ufffd\n")


class ProcessControl(SdkTestCase):
    shared_sandbox = {"template": "base"}

    def test_list_shows_running_and_finished_processes(self):
        commands = self.shared.commands
        sleeper = commands.run("sleep 100", background=True)
        done = commands.run("exit 7", background=True)
        self.assertEqual(commands.wait(done.pid, timeout=10).exit_code, 7)
        by_pid = {p.pid: p for p in commands.list()}
        running, finished = by_pid[sleeper.pid], by_pid[done.pid]
        self.assertEqual((running.cmd, running.user, running.cwd, running.running,
                          running.exit_code, running.is_pty, running.background),
                         ("sleep 100", "user", "/home/user", True, None, False, True))
        self.assertIsNotNone(running.started_at)
        self.assertEqual((finished.running, finished.exit_code), (False, 7))
        self.assertIsNotNone(finished.ended_at)
        self.assertTrue(sleeper.kill())

    def test_kill_ends_a_process_and_an_unknown_pid_is_false(self):
        commands = self.shared.commands
        handle = commands.run("sleep 100", background=True)
        self.assertTrue(handle.kill())
        info = commands.wait(handle.pid, timeout=10)
        self.assertEqual((info.running, info.exit_code, info.signal), (False, 137, 9))
        self.assertTrue(commands.kill(handle.pid), "killing a finished process is fine")
        self.assertFalse(commands.kill(99999))
        with self.assertRaises(declaw.NotFoundException):
            commands.get(99999)

    def test_signals_by_name_and_number_reach_the_process_group(self):
        commands = self.shared.commands
        script = "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done"
        out = Collector()
        handle = commands.run(script, background=True, on_stdout=out)
        out.wait_for("ready\n")
        commands.signal(handle.pid, "SIGTERM")
        with self.assertRaises(declaw.CommandExitException) as caught:
            handle.wait()
        self.assertEqual((caught.exception.exit_code, caught.exception.stdout),
                         (3, "ready\ngot TERM\n"))
        other = commands.run("sleep 100", background=True)
        other.signal(signal.SIGINT)
        self.assertEqual(commands.wait(other.pid, timeout=10).signal, 2)
        with self.assertRaises(declaw.ConflictException) as caught:
            commands.signal(other.pid, "TERM")
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)

    def test_wait_for_a_pid_times_out_while_it_runs(self):
        handle = self.shared.commands.run("sleep 100", background=True)
        self.addCleanup(handle.kill)
        start = time.monotonic()
        with self.assertRaises(declaw.TimeoutException):
            self.shared.commands.wait(handle.pid, timeout=1)
        self.assertLess(time.monotonic() - start, 10)


if __name__ == "__main__":
    unittest.main()
