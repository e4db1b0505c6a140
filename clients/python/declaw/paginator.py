"""Sandbox.list() and AsyncSandbox.list(): a page of sandboxes at a time, as the hosted SDKs do.

    paginator = Sandbox.list(limit=100)
    while paginator.has_next:
        for info in paginator.next_items():
            print(info.sandbox_id)

Both are also iterable over every sandbox of the pages left (`for info in Sandbox.list()`,
`async for info in AsyncSandbox.list()`), and `await AsyncSandbox.list()` is the list of them:
what Sandbox.list() and AsyncSandbox.list() returned before they paged (docs/python.md).
"""
from typing import Any, AsyncIterator, Dict, Generator, Iterator, List, Optional, Union

from . import _sandbox_calls as calls
from .exceptions import SandboxException
from .models import SandboxInfo, SandboxQuery

_NO_MORE = "No more items to fetch: check has_next before calling next_items()"


class _PaginatorState:
    def __init__(self, query: Optional[Union[SandboxQuery, Dict[str, Any]]],
                 limit: Optional[int], next_token: Optional[str],
                 request_timeout: Optional[float]):
        self.query = query
        self.limit = limit
        self._request_timeout = request_timeout
        self._next_token = next_token
        self._has_next = True

    @property
    def has_next(self) -> bool:
        """True until a page came back without a next_token."""
        return self._has_next

    @property
    def next_token(self) -> Optional[str]:
        """The token of the next page (None before the first page or after the last): pass
        it as Sandbox.list(next_token=...) to go on later."""
        return self._next_token

    def _call(self) -> Any:
        if not self._has_next:
            raise SandboxException(_NO_MORE, code="invalid_argument")
        return calls.list_call(self.query, self.limit, self._next_token, self._request_timeout)

    def _turn(self, page: Any) -> List[SandboxInfo]:
        infos, self._next_token = page
        self._has_next = bool(self._next_token)
        return infos


class SandboxPaginator(_PaginatorState):
    """Your sandboxes (all of them for root), newest first, `limit` (1 to 1000, default 1000)
    a page. Made by Sandbox.list()."""

    def __init__(self, transport: Any, query: Optional[Union[SandboxQuery, Dict[str, Any]]] = None,
                 limit: Optional[int] = None, next_token: Optional[str] = None,
                 request_timeout: Optional[float] = None):
        super().__init__(query, limit, next_token, request_timeout)
        self._transport = transport

    def next_items(self) -> List[SandboxInfo]:
        """The next page. SandboxException when there is none (has_next is False)."""
        return self._turn(self._transport.call(self._call()))

    def __iter__(self) -> Iterator[SandboxInfo]:
        while self.has_next:
            yield from self.next_items()


class AsyncSandboxPaginator(_PaginatorState):
    """AsyncSandbox.list()'s paginator: `await paginator.next_items()`."""

    def __init__(self, transport: Any, query: Optional[Union[SandboxQuery, Dict[str, Any]]] = None,
                 limit: Optional[int] = None, next_token: Optional[str] = None,
                 request_timeout: Optional[float] = None):
        super().__init__(query, limit, next_token, request_timeout)
        self._transport = transport

    async def next_items(self) -> List[SandboxInfo]:
        """The next page. SandboxException when there is none (has_next is False)."""
        return self._turn(await self._transport.call(self._call()))

    async def __aiter__(self) -> AsyncIterator[SandboxInfo]:
        while self.has_next:
            for info in await self.next_items():
                yield info

    async def _all(self) -> List[SandboxInfo]:
        return [info async for info in self]

    def __await__(self) -> Generator[Any, None, List[SandboxInfo]]:
        """`await AsyncSandbox.list()`: every sandbox of the pages left, as one list."""
        return self._all().__await__()
