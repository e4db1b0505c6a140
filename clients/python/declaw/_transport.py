"""HTTP/1.1 to declawd over its Unix socket (http.client on AF_UNIX).

Connections are kept alive and pooled; any thread takes an idle one or opens a new one, and
gives it back once the answer is read in full. A pooled connection the daemon closed while it sat
idle (the daemon's idle_timeout_s) is noticed before use (poll) and replaced. The rare race left
(the daemon closes just as we send) is retried once on a fresh connection, and only when that
cannot do anything twice: nothing of the request had been sent, or the request is safe to repeat
(GET, HEAD, DELETE, or a PUT whose body can be sent again).

Errors: an answer >= 400 becomes the exception of its code (exceptions.py); a socket that cannot
be reached or breaks becomes ConnectionException; a socket timeout becomes TimeoutException.
"""
import http.client
import json
import os
import select
import socket
import threading
import urllib.parse
from typing import Any, Dict, Optional, Tuple

from ._body import CHUNK_BYTES, RequestBody
from ._calls import DEFAULT_TIMEOUT, Call
from .exceptions import (ConnectionException, NotFoundException, PermissionDeniedException,
                         SandboxException, TimeoutException, exception_from_response)

DEFAULT_SOCKET_PATH = "/run/declaw/declaw.sock"
# How long to wait on the socket (per send or receive) unless a call says otherwise.
DEFAULT_REQUEST_TIMEOUT_S = 60.0
API_PREFIX = "/v1"
MAX_IDLE_CONNECTIONS = 16
_RETRY_SAFE_METHODS = ("GET", "HEAD", "DELETE", "PUT")
_BODY_METHODS = ("POST", "PUT", "PATCH")


def resolve_socket_path(socket_path: Optional[str] = None) -> str:
    """The socket to use: the argument, else $DECLAW_SOCKET, else /run/declaw/declaw.sock."""
    return socket_path or os.environ.get("DECLAW_SOCKET") or DEFAULT_SOCKET_PATH


class _UnixConnection(http.client.HTTPConnection):
    """An HTTPConnection on a Unix socket that counts the bytes it sent."""

    def __init__(self, path: str, timeout: Optional[float]):
        super().__init__("declaw", timeout=timeout)
        self.unix_path = path
        self.sent_bytes = 0
        # The socket, kept after http.client drops `sock` for an answer that closes the
        # connection (the answer still reads from it): an event stream shuts it down by this.
        self.unix_sock: Optional[socket.socket] = None

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = self.unix_sock = sock

    def send(self, data: Any) -> None:
        super().send(data)
        self.sent_bytes += memoryview(data).nbytes

    def set_timeout(self, timeout: Optional[float]) -> None:
        self.timeout = timeout
        if self.sock is not None:
            self.sock.settimeout(timeout)

    def closed_by_peer(self) -> bool:
        """An idle keep-alive connection that has something to read was closed by the daemon
        (EOF), or is out of step: either way it cannot carry a request."""
        if self.sock is None:
            return True
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(0))


class Response:
    """A fully read answer."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class StreamedResponse:
    """An answer whose body the caller reads: iterate it for chunks of bytes, or read_all().
    The connection goes back to the pool once the body has been read to its end; closing early
    (close(), leaving a `with` block, or dropping the object) closes the connection instead."""

    def __init__(self, transport: "Transport", conn: _UnixConnection,
                 resp: http.client.HTTPResponse, what: str, chunk_bytes: int = CHUNK_BYTES):
        self._transport = transport
        self._conn: Optional[_UnixConnection] = conn
        self._resp = resp
        self._what = what
        self._chunk_bytes = chunk_bytes
        self.status = resp.status
        length = resp.getheader("Content-Length")
        self.length = int(length) if length is not None and length.isdigit() else None

    def __iter__(self) -> "StreamedResponse":
        return self

    def __next__(self) -> bytes:
        if self._conn is None:
            raise StopIteration
        try:
            with self._transport.io_errors(self._what):
                chunk = self._resp.read(self._chunk_bytes)
        except BaseException:
            self._finish(False)
            raise
        if not chunk:
            self._finish(True)
            raise StopIteration
        return chunk

    def read_all(self) -> bytearray:
        """The whole body in one bytearray, allocated once when the length is known."""
        finished = False
        try:
            with self._transport.io_errors(self._what):
                if self.length is None:
                    data = bytearray(self._resp.read())
                else:
                    data = bytearray(self.length)
                    view = memoryview(data)
                    got = 0
                    while got < self.length:
                        n = self._resp.readinto(view[got:])
                        if not n:
                            raise http.client.IncompleteRead(bytes(), self.length - got)
                        got += n
            finished = True
            return data
        finally:
            self._finish(finished)

    def close(self) -> None:
        self._finish(False)

    def __enter__(self) -> "StreamedResponse":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._finish(False)
        except Exception:
            pass

    def _finish(self, finished: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if finished and self._resp.isclosed():
            self._transport.release(conn)
        else:
            self._resp.close()
            conn.close()


class Transport:
    """A pool of keep-alive connections to one daemon socket. Safe to share between threads."""

    def __init__(self, socket_path: str, request_timeout: Optional[float] = None):
        self.socket_path = socket_path
        self.request_timeout = (DEFAULT_REQUEST_TIMEOUT_S if request_timeout is None
                                else request_timeout)
        self._idle: list = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.connections_opened = 0  # for tests and curious callers

    # -- connections -------------------------------------------------------------------------

    def _acquire(self, timeout: Optional[float]) -> Tuple[_UnixConnection, bool]:
        """A connection and whether it was used before."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent owns these connections
                self._idle = []
                self._pid = os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if conn.closed_by_peer():
                    conn.close()
                    continue
                conn.set_timeout(timeout)
                return conn, True
        return self._connect(timeout), False

    def _connect(self, timeout: Optional[float]) -> _UnixConnection:
        """A new connection to the daemon; failures become the SDK's exceptions."""
        conn = _UnixConnection(self.socket_path, timeout)
        try:
            conn.connect()
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise ConnectionException(
                f"cannot reach declawd at {self.socket_path}: is the service running? "
                "(start it with 'systemctl start declawd', or point DECLAW_SOCKET at its socket)"
            ) from None
        except PermissionError:
            raise PermissionDeniedException(
                f"permission denied on {self.socket_path}: run as root or as a member of the "
                "'declaw' group") from None
        except socket.timeout:
            raise TimeoutException(
                f"declawd at {self.socket_path} did not accept the connection within "
                f"{timeout} s: is it overloaded?") from None
        except OSError as e:
            raise ConnectionException(
                f"cannot reach declawd at {self.socket_path} ({e.strerror or e}): is the service "
                "running?") from None
        with self._lock:
            self.connections_opened += 1
        return conn

    def release(self, conn: _UnixConnection) -> None:
        """Gives back a connection whose last answer was read in full."""
        if conn.sock is not None:
            with self._lock:
                if self._pid == os.getpid() and len(self._idle) < MAX_IDLE_CONNECTIONS:
                    self._idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        """Closes the idle connections (busy ones close when their request ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- requests ----------------------------------------------------------------------------

    def io_errors(self, what: str) -> "_IoErrors":
        return _IoErrors(self, what)

    def request(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None,
                body: Any = None, headers: Optional[Dict[str, str]] = None,
                timeout: Any = DEFAULT_TIMEOUT, sandbox_id: Optional[str] = None,
                stream: bool = False) -> Any:
        """Sends METHOD /v1PATH and returns a Response (or a StreamedResponse if `stream`).
        Raises the SandboxException of the daemon's error answer. `timeout` is the socket
        timeout in seconds, None for none."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.request_timeout
        target = _target(path, query)
        what = f"{method} {API_PREFIX}{path}"
        payload = RequestBody(body)
        retry_safe = method in _RETRY_SAFE_METHODS and payload.replayable
        for attempt in (1, 2):
            conn, reused = self._acquire(timeout)
            conn.sent_bytes = 0
            try:
                resp = self._exchange(conn, method, target, headers or {}, payload)
            except socket.timeout:
                conn.close()
                raise TimeoutException(
                    f"declawd did not answer {what} within {timeout} s (raise request_timeout "
                    "if the operation is expected to take longer)", sandbox_id=sandbox_id
                ) from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if attempt == 1 and reused and (conn.sent_bytes == 0 or retry_safe):
                    continue  # the daemon closed the idle connection under us
                raise ConnectionException(
                    f"declawd closed the connection during {what} ({_describe(e)}): is the "
                    f"service still running at {self.socket_path}?", sandbox_id=sandbox_id
                ) from None
            except BaseException:
                conn.close()  # half a request went out: the connection is unusable
                raise
            return self._answer(conn, resp, what, sandbox_id, stream)
        raise AssertionError("unreachable")

    def _exchange(self, conn: _UnixConnection, method: str, target: str,
                  headers: Dict[str, str], payload: RequestBody) -> http.client.HTTPResponse:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        chunked = payload.length is None
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif payload.length or method in _BODY_METHODS:
            conn.putheader("Content-Length", str(payload.length))
        conn.endheaders()
        try:
            for chunk in payload.chunks():
                size = memoryview(chunk).nbytes
                if not size:
                    continue  # an empty chunk would end a chunked body
                if chunked:
                    conn.send(b"%X\r\n" % size)
                conn.send(chunk)
                if chunked:
                    conn.send(b"\r\n")
            if chunked:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            # The daemon may have refused the body (a missing sandbox, a forbidden path, over a
            # limit) and closed without reading the rest: its answer is still there to read.
            if conn.sent_bytes == 0:
                raise
            try:
                return conn.getresponse()
            except (OSError, http.client.HTTPException):
                raise BrokenPipeError("the daemon stopped reading the request body") from None
        return conn.getresponse()

    def _answer(self, conn: _UnixConnection, resp: http.client.HTTPResponse, what: str,
                sandbox_id: Optional[str], stream: bool) -> Any:
        if resp.status >= 400 or not stream:
            with self.io_errors(what):
                try:
                    data = resp.read()
                except BaseException:
                    conn.close()
                    raise
            if resp.isclosed():
                self.release(conn)
            else:
                conn.close()
            if resp.status >= 400:
                raise exception_from_response(resp.status, data, sandbox_id)
            return Response(resp.status, dict(resp.getheaders()), data)
        return StreamedResponse(self, conn, resp, what)

    def call(self, call: Call) -> Any:
        """Sends CALL and returns what it makes of the answer (_calls.py)."""
        try:
            answer = self.request(call.method, call.path, query=call.query, body=call.content(),
                                  headers=call.all_headers(), timeout=call.timeout,
                                  sandbox_id=call.sandbox_id)
        except NotFoundException as e:
            return call.on_not_found(e)
        return call.parse(answer.json())

    def json(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Any:
        """A request with a JSON body (when payload is not None); returns the decoded answer."""
        body = None
        headers = {}
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return self.request(method, path, body=body, headers=headers, **kwargs).json()


    def open_stream(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None,
                    payload: Any = None, timeout: Any = DEFAULT_TIMEOUT,
                    sandbox_id: Optional[str] = None
                    ) -> Tuple[_UnixConnection, http.client.HTTPResponse]:
        """Sends METHOD /v1PATH (with a JSON body when payload is not None) on a connection of
        its own, which is never pooled, and returns it with the answer, whose body the caller
        reads as it arrives (Server-Sent Events) and then closes with the connection. An error
        answer raises its exception. Never retried: on a fresh connection there is no stale
        keep-alive to race with, and a POST here starts a process."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.request_timeout
        what = f"{method} {API_PREFIX}{path}"
        body = None
        headers = {"Accept": "text/event-stream"}
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn = self._connect(timeout)
        try:
            resp = self._exchange(conn, method, _target(path, query), headers, RequestBody(body))
            if resp.status >= 400:
                with self.io_errors(what):
                    data = resp.read()
                raise exception_from_response(resp.status, data, sandbox_id)
        except SandboxException:
            # The daemon's answer (some are OSErrors too, such as PermissionDeniedException).
            conn.close()
            raise
        except socket.timeout:
            conn.close()
            raise TimeoutException(f"declawd did not answer {what} within {timeout} s",
                                   sandbox_id=sandbox_id) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise ConnectionException(
                f"declawd closed the connection during {what} ({_describe(e)}): is the service "
                f"still running at {self.socket_path}?", sandbox_id=sandbox_id) from None
        except BaseException:
            conn.close()
            raise
        return conn, resp


def _target(path: str, query: Optional[Dict[str, Any]]) -> str:
    target = API_PREFIX + path
    if query:
        target += "?" + urllib.parse.urlencode(
            {k: v for k, v in query.items() if v is not None}, doseq=True, safe="/",
            quote_via=urllib.parse.quote)
    return target


class _IoErrors:
    """Turns socket errors while reading an answer into the SDK's exceptions."""

    def __init__(self, transport: Transport, what: str):
        self._transport = transport
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        if error is None or isinstance(error, SandboxException):
            return False
        if isinstance(error, socket.timeout):
            raise TimeoutException(
                f"declawd stopped sending the answer to {self._what} (no data for the "
                "request timeout)") from None
        if isinstance(error, (OSError, http.client.HTTPException)):
            raise ConnectionException(
                f"the answer to {self._what} was cut off ({_describe(error)}): is declawd "
                f"still running at {self._transport.socket_path}?") from None
        return False


def _describe(error: BaseException) -> str:
    if isinstance(error, http.client.IncompleteRead):
        return f"{error.expected} bytes missing"
    return str(error) or type(error).__name__


_transports: Dict[str, Transport] = {}
_transports_lock = threading.Lock()


def get_transport(socket_path: Optional[str] = None) -> Transport:
    """The process-wide Transport of a socket path (resolved as resolve_socket_path() does)."""
    path = resolve_socket_path(socket_path)
    with _transports_lock:
        transport = _transports.get(path)
        if transport is None:
            transport = _transports[path] = Transport(path)
        return transport


def reset_transports() -> None:
    """Closes and forgets every shared Transport (tests; long-running processes)."""
    with _transports_lock:
        transports = list(_transports.values())
        _transports.clear()
    for transport in transports:
        transport.close()


