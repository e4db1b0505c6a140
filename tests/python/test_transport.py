"""The SDK's transport: which socket it uses, kept-alive connections the daemon closed while idle,
when a failed request is sent again (and when never), and what a caller sees when the daemon
is not running, refuses the socket, or stops in the middle of a request."""
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import unittest
from unittest import mock

from fake_http import UnixHttpServer
from support import Daemon, SdkTestCase, eventually

from harness import require_root

import declaw
from declaw import Sandbox
from declaw._sse import SseDecoder
from declaw._transport import DEFAULT_SOCKET_PATH, Transport, _UnixConnection, resolve_socket_path


def temp_dir(test):
    path = tempfile.mkdtemp(prefix="declaw-test-sdk-")
    test.addCleanup(shutil.rmtree, path, True)
    os.chmod(path, 0o755)
    return path


class FakeDaemon(UnixHttpServer):
    """A scripted HTTP/1.1 server on a Unix socket. decide(conn_no, request_no, method) says
    "answer" (200, keep-alive), "answer-then-close" (200, then hang up without saying so), or
    "close" (hang up after reading the request). Every request received is logged as
    (conn_no, method, path)."""

    def __init__(self, path, decide):
        self.decide = decide
        self.log = []
        super().__init__(path, backlog=8)

    def respond(self, request):
        conn_no, request_no, method = request.conn_no, request.request_no, request.method
        self.log.append((conn_no, method, request.path))
        if self.decide(conn_no, request_no, method) == "close":
            return False
        body = json.dumps({"ok": True, "conn": conn_no}).encode()
        request.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return self.decide(conn_no, request_no, method) != "answer-then-close"


class EventDecoding(unittest.TestCase):
    """SseDecoder, the Server-Sent Events parsing both clients share."""

    STREAM = (b": keep-alive\n\nevent: start\ndata: {\"pid\": 7}\n\n"
              b"event: stdout\r\ndata: {\"data\": \"h\u00e9\"}\r\n\r\n"
              b"data: not json\n\nevent: exit\ndata: {\"exit_code\": 0}\n\n")
    EVENTS = [("start", {"pid": 7}), ("stdout", {"data": "h\u00e9"}),
              ("message", {"data": "not json"}), ("exit", {"exit_code": 0})]

    def test_events_come_out_the_same_whatever_the_pieces(self):
        for size in (1, 2, 7, 64, len(self.STREAM)):
            with self.subTest(piece=size):
                decoder = SseDecoder("GET /x")
                events = []
                for start in range(0, len(self.STREAM), size):
                    events += decoder.feed(self.STREAM[start:start + size])
                events += decoder.finish()
                self.assertEqual(events, self.EVENTS)

    def test_a_line_past_the_limit_is_refused(self):
        decoder = SseDecoder("GET /x", "sbx-1")
        with mock.patch("declaw._sse.MAX_EVENT_BYTES", 100):
            with self.assertRaisesRegex(declaw.SandboxException, "over 100 bytes"):
                decoder.feed(b"data: " + b"x" * 200)


class SocketChoice(unittest.TestCase):
    def test_argument_then_DECLAW_SOCKET_then_the_default(self):
        with mock.patch.dict(os.environ, {"DECLAW_SOCKET": "/from/env.sock"}):
            self.assertEqual(resolve_socket_path("/from/arg.sock"), "/from/arg.sock")
            self.assertEqual(resolve_socket_path(None), "/from/env.sock")
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertEqual(resolve_socket_path(None), "/run/declaw/declaw.sock")
        self.assertEqual(DEFAULT_SOCKET_PATH, "/run/declaw/declaw.sock")


class RetryRules(unittest.TestCase):
    """Against a scripted server: a kept-alive connection that breaks under a request."""

    def serve(self, decide):
        fake = FakeDaemon(os.path.join(temp_dir(self), "fake.sock"), decide)
        self.addCleanup(fake.close)
        self.addCleanup(fake.assert_no_failures)
        transport = Transport(fake.path, request_timeout=10)
        self.addCleanup(transport.close)
        return fake, transport

    @staticmethod
    def second_request_on_first_connection_hangs_up(conn_no, request_no, method):
        return "close" if (conn_no, request_no) == (0, 1) else "answer"

    def test_a_safe_request_is_sent_again_on_a_new_connection(self):
        fake, transport = self.serve(self.second_request_on_first_connection_hangs_up)
        self.assertEqual(transport.json("GET", "/health")["conn"], 0)
        self.assertEqual(transport.json("GET", "/health")["conn"], 1)
        self.assertEqual([(c, m) for c, m, _ in fake.log], [(0, "GET"), (0, "GET"), (1, "GET")])

    def test_a_request_that_may_have_run_is_never_sent_twice(self):
        fake, transport = self.serve(self.second_request_on_first_connection_hangs_up)
        transport.json("GET", "/health")
        with self.assertRaises(declaw.ConnectionException) as caught:
            transport.json("POST", "/sandboxes/sbx-x/commands", {"cmd": "rm -rf /x"})
        self.assertIn("closed the connection during POST", str(caught.exception))
        self.assertEqual([m for _, m, _ in fake.log].count("POST"), 1)

    def test_a_request_of_which_nothing_was_sent_is_sent_again(self):
        # The daemon closed the idle connection; the SDK's check before reuse is bypassed here,
        # so the first write fails before a byte went out.
        fake, transport = self.serve(lambda c, r, m: "answer-then-close" if c == 0 else "answer")
        transport.json("GET", "/health")
        fake.wait_closed(0)  # the server has hung up the idle connection
        with mock.patch.object(_UnixConnection, "closed_by_peer", return_value=False):
            answer = transport.json("POST", "/sandboxes/sbx-x/commands", {"cmd": "true"})
        self.assertEqual(answer["conn"], 1)
        self.assertEqual([(c, m) for c, m, _ in fake.log if m == "POST"], [(1, "POST")])

    def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(self):
        fake, transport = self.serve(lambda c, r, m: "answer-then-close" if c == 0 else "answer")
        transport.json("GET", "/health")
        fake.wait_closed(0)
        self.assertEqual(transport.json("POST", "/x", {"a": 1})["conn"], 1)
        self.assertEqual(transport.connections_opened, 2)
        self.assertEqual([(c, m) for c, m, _ in fake.log], [(0, "GET"), (1, "POST")])


class KeptAliveConnections(SdkTestCase):
    daemon_config = {"idle_timeout_s": 1}
    shared_sandbox = {}

    def test_a_connection_the_daemon_closed_for_idleness_is_replaced_transparently(self):
        transport = self.shared._transport
        self.shared.files.write("/tmp/a", "1")
        opened = transport.connections_opened
        idle = list(transport._idle)
        self.assertTrue(idle, "no kept-alive connection to test with")
        eventually(lambda: all(conn.closed_by_peer() for conn in idle),
                   what="the daemon closing the idle connection (idle_timeout_s 1)")
        self.assertEqual(self.shared.commands.run("cat /tmp/a").stdout, "1")
        self.assertEqual(transport.connections_opened, opened + 1)


class DaemonNotRunning(unittest.TestCase):
    def test_a_missing_socket_says_the_service_is_not_running(self):
        path = os.path.join(temp_dir(self), "absent.sock")
        for call in (lambda: Sandbox.create(allow_internet_access=False, socket_path=path),
                     lambda: Sandbox.list(socket_path=path).next_items(),
                     lambda: Sandbox.connect("sbx-000000000000", socket_path=path),
                     lambda: Sandbox.kill("sbx-000000000000", socket_path=path)):
            with self.assertRaises(declaw.ConnectionException) as caught:
                call()
            self.assertEqual(str(caught.exception).split(" (")[0],
                             f"cannot reach declawd at {path}: is the service running?")
            self.assertIsInstance(caught.exception, ConnectionError)
            self.assertIsInstance(caught.exception, declaw.SandboxException)

    def test_DECLAW_SOCKET_is_named_in_the_error(self):
        path = os.path.join(temp_dir(self), "env.sock")
        with mock.patch.dict(os.environ, {"DECLAW_SOCKET": path}):
            with self.assertRaises(declaw.ConnectionException) as caught:
                Sandbox.list().next_items()
        self.assertIn(path, str(caught.exception))

    def test_a_stale_socket_file_with_nobody_listening_says_the_same(self):
        path = os.path.join(temp_dir(self), "stale.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # the file stays; connecting is refused
        with self.assertRaises(declaw.ConnectionException) as caught:
            Sandbox.list(socket_path=path).next_items()
        self.assertIn("is the service running?", str(caught.exception))

    def test_a_socket_the_caller_may_not_open_says_how_to_get_access(self):
        require_root()
        path = os.path.join(temp_dir(self), "private.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        self.addCleanup(listener.close)
        os.chmod(path, 0o600)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: an unprivileged caller
            try:
                os.close(read_end)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                try:
                    Sandbox.list(socket_path=path).next_items()
                    outcome = "no error"
                except declaw.SandboxException as e:
                    outcome = f"{type(e).__name__}|{isinstance(e, PermissionError)}|{e}"
                os.write(write_end, outcome.encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            outcome = pipe.read().decode()
        os.waitpid(pid, 0)
        kind, is_permission_error, message = outcome.split("|", 2)
        self.assertEqual((kind, is_permission_error), ("PermissionDeniedException", "True"))
        self.assertIn("declaw' group", message)


class DaemonStopsDuringUse(unittest.TestCase):
    def test_the_daemon_stopping_during_a_command_then_being_gone(self):
        daemon = Daemon()
        stopped = False
        try:
            sbx = Sandbox.create(allow_internet_access=False, socket_path=daemon.socket)
            outcome = {}

            def slow_command():
                try:
                    outcome["result"] = sbx.commands.run("sleep 20", timeout=30)
                except declaw.SandboxException as e:
                    outcome["error"] = e

            worker = threading.Thread(target=slow_command)
            worker.start()
            eventually(lambda: [p for p in sbx.commands.list() if p.cmd == "sleep 20" and p.running],
                       what="the command to be running")
            daemon.proc.send_signal(signal.SIGTERM)  # declawd kills its sandboxes and exits
            worker.join(timeout=30)
            self.assertFalse(worker.is_alive())
            self.assertNotIn("result", outcome)
            # declawd answers that the sandbox ended, unless it hangs up first.
            self.assertIsInstance(outcome["error"], (declaw.SandboxNotRunningException,
                                                     declaw.ConnectionException))
            daemon.proc.wait(timeout=30)
            with self.assertRaises(declaw.ConnectionException) as caught:
                sbx.files.read("/tmp/anything")
            self.assertIn("is the service running?", str(caught.exception))
            daemon.stop()
            stopped = True
        finally:
            if not stopped:
                daemon.stop()
            declaw.reset_transports()


if __name__ == "__main__":
    unittest.main()
