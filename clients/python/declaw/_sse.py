"""Server-Sent Events from declawd (docs/api.md, "Live output"), read as they arrive.

A stream has a connection of its own (Transport.open_stream), never one of the keep-alive pool:
it stays busy for as long as the process runs. Events are `event: NAME` plus `data: JSON` lines
and a blank line; `:` lines are comments (the daemon's keep-alive every 15 s of silence).
"""
import collections
import http.client
import json
import socket
import threading
from typing import Any, Deque, Dict, List, Optional, Tuple

from ._transport import Transport, _UnixConnection
from .exceptions import ConnectionException, SandboxException

READ_BYTES = 64 * 1024
# A guard against a broken peer, far above any event the daemon sends (one ring buffer's worth
# of output, as text plus base64).
MAX_EVENT_BYTES = 64 << 20
# The daemon sends a keep-alive comment after 15 s of silence: a stream read waits at least
# three of those before it decides the daemon is gone.
MIN_READ_TIMEOUT_S = 45.0

Event = Tuple[str, Dict[str, Any]]


class SseDecoder:
    """Server-Sent Events from the bytes of a stream, fed as they arrive, in any pieces: the
    parsing both the blocking EventStream and the asyncio client use."""

    def __init__(self, what: str, sandbox_id: Optional[str] = None):
        self._what = what
        self._sandbox_id = sandbox_id
        self._buffer = bytearray()
        self._name = "message"
        self._data_lines: List[str] = []

    def feed(self, chunk: bytes) -> List[Event]:
        """The events CHUNK completes."""
        self._buffer += chunk
        events: List[Event] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            self._line(line.rstrip(b"\r").decode("utf-8", errors="replace"), events)
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise SandboxException(
                f"the event stream of {self._what} sent a line over {MAX_EVENT_BYTES} "
                "bytes: is the socket really declawd's?", sandbox_id=self._sandbox_id)
        return events

    def finish(self) -> List[Event]:
        """At the end of the stream: a last line without a newline is still a line (an event
        it leaves unterminated by a blank line is dropped, as before)."""
        events: List[Event] = []
        if self._buffer:
            line = bytes(self._buffer).rstrip(b"\r")
            self._buffer.clear()
            self._line(line.decode("utf-8", errors="replace"), events)
        return events

    def _line(self, line: str, events: List[Event]) -> None:
        if not line:
            if self._data_lines:
                events.append((self._name, _decode("\n".join(self._data_lines))))
            self._name, self._data_lines = "message", []
            return
        if line.startswith(":"):
            return  # a comment: the daemon's keep-alive
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._name = value
        elif field == "data":
            self._data_lines.append(value)
        # "id" and "retry" mean nothing here.


class EventStream:
    """The events of one answer. next_event() blocks for the next one; shutdown() may be called
    from another thread to make a blocked next_event() return None (end of stream)."""

    def __init__(self, transport: Transport, conn: _UnixConnection,
                 resp: http.client.HTTPResponse, what: str, sandbox_id: Optional[str] = None):
        self._transport = transport
        self._conn: Optional[_UnixConnection] = conn
        self._sock = conn.unix_sock
        self._resp = resp
        self._what = what
        self._sandbox_id = sandbox_id
        self._decoder = SseDecoder(what, sandbox_id)
        self._pending: Deque[Event] = collections.deque()
        self._eof = False
        self._shut = threading.Event()

    @classmethod
    def open(cls, transport: Transport, method: str, path: str, *,
             query: Optional[Dict[str, Any]] = None, payload: Any = None,
             timeout: Optional[float] = None, sandbox_id: Optional[str] = None) -> "EventStream":
        """Sends the request on a new connection; an error answer raises its exception.
        `timeout`: how long one read may wait (None: forever); raised to MIN_READ_TIMEOUT_S."""
        if timeout is not None:
            timeout = max(timeout, MIN_READ_TIMEOUT_S)
        conn, resp = transport.open_stream(method, path, query=query, payload=payload,
                                           timeout=timeout, sandbox_id=sandbox_id)
        return cls(transport, conn, resp, f"{method} {path}", sandbox_id)

    def set_read_timeout(self, timeout: Optional[float]) -> None:
        """Per-read timeout in seconds, exactly (None: wait forever)."""
        if self._sock is not None and self._conn is not None:
            self._sock.settimeout(timeout)

    def next_event(self) -> Optional[Event]:
        """The next (name, data) event; None at the end of the stream or after shutdown().
        A data line that is not a JSON object becomes {"data": the text}."""
        while not self._pending:
            if self._eof:
                return None
            chunk = self._read()
            if not chunk:
                self._eof = True
                self.close()
                self._pending.extend(self._decoder.finish())
                continue
            try:
                self._pending.extend(self._decoder.feed(chunk))
            except SandboxException:
                self.close()
                raise
        return self._pending.popleft()

    def _read(self) -> bytes:
        if self._conn is None or self._shut.is_set():
            return b""
        try:
            with self._transport.io_errors(self._what):
                return self._resp.read1(READ_BYTES)
        except ConnectionException:
            if self._shut.is_set():
                return b""  # shutdown() cut the connection under the read: that is the end
            raise
        except (ValueError, AttributeError):
            # http.client after the socket was shut down and closed under it.
            if self._shut.is_set():
                return b""
            raise

    def shutdown(self) -> None:
        """Ends the stream from any thread: a read blocked in next_event() returns None. The
        connection is closed by close() (the reading thread's, or this one's when none reads)."""
        self._shut.set()
        if self._sock is not None and self._conn is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                self._resp.close()
            finally:
                conn.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _decode(text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"data": text}
    return value if isinstance(value, dict) else {"data": value}
