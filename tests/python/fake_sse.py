"""A scripted declawd stand-in for the SDK's event-stream client: an HTTP/1.1 server on a Unix
socket that hands each request to a script, which answers with JSON or with Server-Sent Events
written chunk by chunk, at the pace the test chooses. Lets the tests prove what a real daemon
cannot show deterministically: events split at any byte, comments, `lost`, a stream cut off."""
import base64
import json
import os
import shutil
import socket
import tempfile

from fake_http import HttpRequest, UnixHttpServer


class Request(HttpRequest):
    """A request, and the ways a script answers it."""

    def json_body(self):
        return json.loads(self.body) if self.body else None

    # -- answers --------------------------------------------------------------------------

    def answer(self, status, payload=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        reason = {200: "OK", 204: "No Content"}.get(status, "Error")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        self.conn.sendall(head.encode() + b"\r\n" + body)

    def error(self, status, code, message):
        self.answer(status, {"error": {"code": code, "message": message}})

    def start_stream(self):
        self.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")

    def raw(self, data):
        """DATA as one chunk of the chunked body."""
        if isinstance(data, str):
            data = data.encode()
        if data:
            self.conn.sendall(b"%X\r\n%s\r\n" % (len(data), data))

    def event_bytes(self, name, payload):
        return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

    def event(self, name, payload):
        self.raw(self.event_bytes(name, payload))

    def output(self, stream, data):
        """A stdout/stderr/pty event for DATA (bytes: base64 when not UTF-8)."""
        if isinstance(data, bytes):
            try:
                payload = {"data": data.decode("utf-8")}
            except UnicodeDecodeError:
                payload = {"data": data.decode("utf-8", errors="replace"),
                           "data_base64": base64.b64encode(data).decode()}
        else:
            payload = {"data": data}
        self.event(stream, payload)

    def end_stream(self):
        """The chunk that ends the body; whether it was written. A client that has had the
        `exit` event has what it came for and may hang up before this arrives (the SDK does):
        that is no failure, so this is the one write that tolerates a client gone."""
        try:
            self.conn.sendall(b"0\r\n\r\n")
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def client_gone(self, timeout=10):
        """Waits until the client closes its end; True if it did within TIMEOUT."""
        self.conn.settimeout(timeout)
        try:
            while True:
                if not self.conn.recv(4096):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True


class FakeSse(UnixHttpServer):
    """SCRIPT(request) answers each request; requests are logged in `requests`. What a script
    raises, a write to a client that hung up included, is kept in `failures` (fake_http.py)."""

    request_class = Request

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix="declaw-test-sse-")
        self.script = script
        self.requests = []
        super().__init__(os.path.join(self.dir, "fake.sock"), backlog=16)

    def close(self):
        super().close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def respond(self, request):
        self.requests.append(request)
        return self.script(request)
