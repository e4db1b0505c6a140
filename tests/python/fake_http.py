"""The HTTP/1.1-over-a-Unix-socket server that the SDK tests' fake daemons share: one thread
accepts, and each connection gets a thread of its own that reads its requests in turn and hands
each to the fake's `respond`. What a fake answers, and what it logs, is the fake's own."""
import socket
import threading
from dataclasses import dataclass
from typing import BinaryIO, Dict


@dataclass(eq=False)
class HttpRequest:
    """One request as read: METHOD, PATH (the request target as sent, query included), HEADERS
    (names in lower case) and BODY (bytes); CONN and READER are its connection, CONN_NO the
    connection's number in the order accepted and REQUEST_NO the request's on that connection."""

    conn: socket.socket
    reader: BinaryIO
    conn_no: int
    request_no: int
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


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
    the next one from the same connection; False hangs up."""

    request_class = HttpRequest

    def __init__(self, path, backlog):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(backlog)
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.listener.close()

    def respond(self, request):
        raise NotImplementedError

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
        reader = conn.makefile("rb")
        with conn, reader:
            request_no = 0
            while (parsed := read_head_and_body(reader)) is not None:
                request = self.request_class(conn, reader, conn_no, request_no, *parsed)
                if not self.respond(request):
                    return
                request_no += 1
