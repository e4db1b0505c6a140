"""The HTTP/1.1-over-a-Unix-socket server that the SDK tests' fake daemons share: one thread
accepts, and each connection gets a thread of its own that reads its requests in turn and hands
each to the fake's `respond`. What a fake answers, and what it logs, is the fake's own.

Those threads are not the test's, so nothing they raise reaches it by itself: the server keeps
what a `respond` raised in `failures` (a test checks them with assert_no_failures), marks each
request `finished` once `respond` has returned or raised, and each connection once it is closed,
so that a test waits on those events (wait_finished, wait_closed) and never on a clock."""
import socket
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Dict

# How long a test waits for the fake to do something that takes it milliseconds.
PATIENCE_S = 15


@dataclass(eq=False)
class HttpRequest:
    """One request as read: METHOD, PATH (the request target as sent, query included), HEADERS
    (names in lower case) and BODY (bytes); CONN and READER are its connection, CONN_NO the
    connection's number in the order accepted and REQUEST_NO the request's on that connection.
    FINISHED is set once the fake's respond() has returned or raised."""

    conn: socket.socket
    reader: BinaryIO
    conn_no: int
    request_no: int
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def __str__(self):
        return f"{self.method} {self.path} (connection {self.conn_no}, request {self.request_no})"


def read_head_and_body(reader):
    """The next request on READER as (method, path, headers, body); None once the client has
    closed the connection."""
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers = {}
    while True:
        header = reader.readline().decode().strip()
        if not header:
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return method, path, headers, body


class UnixHttpServer:
    """Listens on the Unix socket PATH from construction until close(). A subclass defines
    respond(request), which answers one request (a `request_class`) and returns whether to read
    the next one from the same connection; False hangs up, and so does an exception, which is
    kept in `failures` as (request, exception)."""

    request_class = HttpRequest

    def __init__(self, path, backlog):
        self.path = path
        self.failures = []
        self._closed = set()  # numbers of the connections closed so far
        self._changed = threading.Condition()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(backlog)
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.listener.close()

    def respond(self, request):
        raise NotImplementedError

    # -- for the tests ---------------------------------------------------------------------

    def wait_finished(self, request, timeout=PATIENCE_S):
        """Waits until respond() is done with REQUEST; fails if it raised or took too long."""
        if not request.finished.wait(timeout):
            raise AssertionError(f"the fake was still answering {request} after {timeout} s")
        for failed, error in self.failures:
            if failed is request:
                raise AssertionError(f"the fake's answer to {request} failed: {error!r}")

    def wait_closed(self, conn_no, timeout=PATIENCE_S):
        """Waits until the fake has closed its end of connection CONN_NO."""
        with self._changed:
            if not self._changed.wait_for(lambda: conn_no in self._closed, timeout):
                raise AssertionError(f"the fake had not closed connection {conn_no} "
                                     f"after {timeout} s")

    def assert_no_failures(self):
        """Fails with every exception respond() raised (a client that hung up in the middle of an
        answer, a bug in the fake)."""
        if self.failures:
            raise AssertionError("the fake's answers failed: " + "; ".join(
                f"{request}: {error!r}" for request, error in self.failures))

    # -- serving ---------------------------------------------------------------------------

    def _serve(self):
        conn_no = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn, conn_no), daemon=True).start()
            conn_no += 1

    def _connection(self, conn, conn_no):
        try:
            with conn, conn.makefile("rb") as reader:
                request_no = 0
                while (parsed := self._next_request(reader)) is not None:
                    request = self.request_class(conn, reader, conn_no, request_no, *parsed)
                    if not self._respond(request):
                        return
                    request_no += 1
        finally:
            with self._changed:
                self._closed.add(conn_no)
                self._changed.notify_all()

    @staticmethod
    def _next_request(reader):
        try:
            return read_head_and_body(reader)
        except ConnectionResetError:
            # The client closed a kept-alive connection with an answer it had not read: it may.
            return None

    def _respond(self, request):
        try:
            return self.respond(request)
        except Exception as e:
            self.failures.append((request, e))
            return False
        finally:
            request.finished.set()
