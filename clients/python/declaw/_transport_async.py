"""HTTP/1.1 to declawd over its Unix socket for AsyncSandbox, with httpx (as the hosted SDKs'
async clients use): an httpx.AsyncHTTPTransport on the socket (_uds_async.py) keeps
connections alive and pools them.

An httpx.AsyncClient belongs to the event loop it was first used on, so an AsyncTransport keeps
one client per running loop (a program that calls asyncio.run() twice gets two). Requests are
the Call values the blocking client sends too (_calls.py); errors become the same exceptions:
an answer >= 400 the exception of its code, a socket that cannot be reached or breaks
ConnectionException, a timeout TimeoutException.

Needs httpx (Debian: python3-httpx; pip: declaw[async]); nothing else in declaw imports it.
"""
import asyncio
import json
import weakref
from typing import Any, AsyncIterator, Dict, List, Optional

import httpx

from ._body import RequestBody
from ._calls import DEFAULT_TIMEOUT, Call
from ._sse import MIN_READ_TIMEOUT_S, Event, SseDecoder
from ._transport import API_PREFIX, DEFAULT_REQUEST_TIMEOUT_S, _target, resolve_socket_path
from ._uds_async import unix_transport
from .exceptions import (ConnectionException, NotFoundException, PermissionDeniedException,
                         SandboxException, TimeoutException, exception_from_response)

# Idle connections kept per loop, and for how long: well under the daemon's idle_timeout_s
# (60 s), so the daemon seldom closes one under a request.
MAX_IDLE_CONNECTIONS = 16
KEEPALIVE_EXPIRY_S = 30.0
# Any host: the socket decides where a request goes.
_BASE = "http://declaw"


class AsyncTransport:
    """Connections to one daemon socket, for coroutines. Safe to share between tasks."""

    def __init__(self, socket_path: str, request_timeout: Optional[float] = None):
        self.socket_path = socket_path
        self.request_timeout = (DEFAULT_REQUEST_TIMEOUT_S if request_timeout is None
                                else request_timeout)
        self._clients: "weakref.WeakKeyDictionary[Any, httpx.AsyncClient]" = (
            weakref.WeakKeyDictionary())

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            # No limit on connections: streams hold theirs for as long as a process runs, and
            # the daemon's max_connections is the limit that matters (RateLimitException).
            limits = httpx.Limits(max_connections=None,
                                  max_keepalive_connections=MAX_IDLE_CONNECTIONS,
                                  keepalive_expiry=KEEPALIVE_EXPIRY_S)
            client = httpx.AsyncClient(transport=unix_transport(self.socket_path, limits),
                                       base_url=_BASE, trust_env=False)
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Closes this loop's connections."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def _timeout(self, timeout: Any, read_floor: Optional[float] = None) -> httpx.Timeout:
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.request_timeout
        read = timeout
        if read_floor is not None and read is not None:
            read = max(read, read_floor)
        return httpx.Timeout(timeout, read=read, pool=None)

    # -- requests ----------------------------------------------------------------------------

    async def call(self, call: Call) -> Any:
        """Sends CALL and returns what it makes of the answer."""
        try:
            response = await self.send(call.method, call.path, query=call.query,
                                       body=call.content(), headers=call.all_headers(),
                                       timeout=call.timeout, sandbox_id=call.sandbox_id)
        except NotFoundException as e:
            return call.on_not_found(e)
        try:
            data = await self._read(response, f"{call.method} {call.path}", call.sandbox_id)
        finally:
            await response.aclose()
        return call.parse(json.loads(data.decode("utf-8")) if data else None)

    async def send(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None,
                   body: Any = None, headers: Optional[Dict[str, str]] = None,
                   timeout: Any = DEFAULT_TIMEOUT, sandbox_id: Optional[str] = None,
                   read_floor: Optional[float] = None) -> httpx.Response:
        """Sends METHOD /v1PATH and returns the answer with its body still to read (aread(),
        aiter_raw(); aclose() it). An error answer raises its exception."""
        what = f"{method} {API_PREFIX}{path}"
        headers = dict(headers or {})
        content = _content(body, headers)
        client = self._client()
        request = client.build_request(method, _target(path, query), content=content,
                                       headers=headers,
                                       timeout=self._timeout(timeout, read_floor))
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as e:
            raise self._error(e, what, timeout, sandbox_id) from None
        if response.status_code >= 400:
            try:
                data = await self._read(response, what, sandbox_id)
            finally:
                await response.aclose()
            raise exception_from_response(response.status_code, data, sandbox_id)
        return response

    async def _read(self, response: httpx.Response, what: str,
                    sandbox_id: Optional[str]) -> bytes:
        try:
            return await response.aread()
        except httpx.HTTPError as e:
            raise self._error(e, what, None, sandbox_id) from None

    def body(self, response: httpx.Response, what: str,
             sandbox_id: Optional[str]) -> "AsyncBody":
        """The body of RESPONSE as it arrives, an async iterator of bytes."""
        return AsyncBody(self, response, what, sandbox_id)

    async def open_stream(self, method: str, path: str, *,
                          query: Optional[Dict[str, Any]] = None, payload: Any = None,
                          timeout: Any = DEFAULT_TIMEOUT,
                          sandbox_id: Optional[str] = None) -> "AsyncEventStream":
        """The Server-Sent Events of METHOD /v1PATH (a JSON body when payload is not None).
        A read waits at least MIN_READ_TIMEOUT_S (the daemon's keep-alive comes every 15 s)."""
        call = Call(method, path, query=query, payload=payload)
        headers = {"Accept": "text/event-stream", **call.all_headers()}
        response = await self.send(method, path, query=query, body=call.content(),
                                   headers=headers, timeout=timeout, sandbox_id=sandbox_id,
                                   read_floor=MIN_READ_TIMEOUT_S)
        what = f"{method} {API_PREFIX}{path}"
        return AsyncEventStream(self.body(response, what, sandbox_id),
                                SseDecoder(what, sandbox_id))

    def _error(self, error: Exception, what: str, timeout: Any,
               sandbox_id: Optional[str]) -> SandboxException:
        if isinstance(error, httpx.TimeoutException):
            return TimeoutException(
                f"declawd did not answer {what} in time (raise request_timeout if the "
                "operation is expected to take longer)", sandbox_id=sandbox_id)
        if isinstance(error, httpx.ConnectError):
            cause = _os_error(error)
            if isinstance(cause, PermissionError):
                return PermissionDeniedException(
                    f"permission denied on {self.socket_path}: run as root or as a member of "
                    "the 'declaw' group", sandbox_id=sandbox_id)
            return ConnectionException(
                f"cannot reach declawd at {self.socket_path}: is the service running? "
                "(start it with 'systemctl start declawd', or point DECLAW_SOCKET at its "
                f"socket) ({error})", sandbox_id=sandbox_id)
        return ConnectionException(
            f"declawd closed the connection during {what} ({error or type(error).__name__}): "
            f"is the service still running at {self.socket_path}?", sandbox_id=sandbox_id)


class AsyncBody:
    """An answer's body as it arrives: `async for chunk in body`. The connection goes back to
    the pool once the body has been read to its end; aclose() (or `async with`) before that
    closes it instead."""

    def __init__(self, transport: AsyncTransport, response: httpx.Response, what: str,
                 sandbox_id: Optional[str]):
        self._transport = transport
        self._response = response
        self._raw = response.aiter_raw()
        self._what = what
        self._sandbox_id = sandbox_id

    def __aiter__(self) -> "AsyncBody":
        return self

    async def __anext__(self) -> bytes:
        while True:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                await self.aclose()
                raise
            except httpx.HTTPError as e:
                await self.aclose()
                raise self._transport._error(e, self._what, None, self._sandbox_id) from None
            except BaseException:
                await self.aclose()
                raise
            if chunk:
                return chunk

    async def aclose(self) -> None:
        await self._response.aclose()

    async def __aenter__(self) -> "AsyncBody":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncEventStream:
    """The events of one answer: `async for name, data in stream`, or next_event(). aclose()
    ends it (the connection is closed, not pooled, when the body was not read to its end)."""

    def __init__(self, chunks: AsyncBody, decoder: SseDecoder):
        self._chunks = chunks
        self._decoder = decoder
        self._pending: List[Event] = []
        self._eof = False

    async def next_event(self) -> Optional[Event]:
        while not self._pending:
            if self._eof:
                return None
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._eof = True
                self._pending.extend(self._decoder.finish())
                continue
            self._pending.extend(self._decoder.feed(chunk))
        return self._pending.pop(0)

    def __aiter__(self) -> "AsyncEventStream":
        return self

    async def __anext__(self) -> Event:
        event = await self.next_event()
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._eof = True
        await self._chunks.aclose()


def _os_error(error: BaseException) -> Optional[OSError]:
    """The OSError under an httpx error (httpx wraps httpcore's, which wraps the socket's)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _content(body: Any, headers: Dict[str, str]) -> Any:
    """What httpx sends for BODY: bytes as they are; a file object or an iterable of chunks
    (sync or async) as an async stream, with its Content-Length when its size is known, else
    chunked. A file is read in a worker thread so the loop never waits on the disk."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "__aiter__"):
        return _encoded(body)
    payload = RequestBody(body)
    if payload.length is not None:
        headers["Content-Length"] = str(payload.length)
    return _chunks(payload, hasattr(body, "read"))


async def _chunks(payload: RequestBody, from_file: bool) -> AsyncIterator[bytes]:
    chunks = payload.chunks()
    end = object()
    while True:
        chunk = (await asyncio.to_thread(next, chunks, end)) if from_file else next(chunks, end)
        if chunk is end:
            return
        yield bytes(chunk)


async def _encoded(chunks: Any) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)


_transports: Dict[str, AsyncTransport] = {}


def get_async_transport(socket_path: Optional[str] = None) -> AsyncTransport:
    """The process-wide AsyncTransport of a socket path."""
    path = resolve_socket_path(socket_path)
    transport = _transports.get(path)
    if transport is None:
        transport = _transports[path] = AsyncTransport(path)
    return transport


async def reset_async_transports() -> None:
    """Closes the running loop's connections of every AsyncTransport (tests; before a loop
    ends, so that no connection is left for the garbage collector)."""
    for transport in list(_transports.values()):
        await transport.aclose()
