"""sbx.files of an AsyncSandbox: Filesystem with awaitable methods, the same requests
(filesystem.py's calls) and results. A missing path is FileNotFoundException."""
from typing import Any, AsyncIterator, Callable, Dict, Iterable, List, Optional, Union

from ._calls import file_not_found
from ._sandbox_ref import SandboxRef
from .exceptions import NotFoundException
from .filesystem import (DEFAULT_USER, check_read_format, exists_call, info_call, list_call,
                         make_dir_call, path_query, remove_call, rename_call, write_call,
                         write_entries)
from .models import EntryInfo, FilesystemEvent, WriteEntry
from .watch_handle import watch_query
from .watch_handle_async import AsyncWatchHandle


class AsyncFilesystem:
    """Files inside one sandbox: `sbx.files` of an AsyncSandbox."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    async def read(self, path: str, format: str = "text", user: str = DEFAULT_USER,
                   request_timeout: Optional[float] = None
                   ) -> Union[str, bytearray, AsyncIterator[bytes]]:
        """`format="text"`: a str (U+FFFD for bytes that are not UTF-8); "bytes": a
        bytearray; "stream": an async iterator of bytes chunks (read it to the end, or
        aclose() it, or use it in `async with`, to free its connection)."""
        check_read_format(format)
        ref = self._sandbox
        route = f"{ref.route}/files/raw"
        try:
            response = await ref.transport.send("GET", route, query=path_query(path, user),
                                                timeout=ref.timeout(request_timeout),
                                                sandbox_id=ref.sandbox_id)
        except NotFoundException as e:
            file_not_found(e)
        if format == "stream":
            return ref.transport.body(response, f"GET {route}", ref.sandbox_id)
        try:
            data = bytearray(await response.aread())
        finally:
            await response.aclose()
        return data if format == "bytes" else data.decode("utf-8", errors="replace")

    async def write(self, path: str, data: Any, user: str = DEFAULT_USER,
                    request_timeout: Optional[float] = None) -> EntryInfo:
        """Creates or truncates the file (and its parents) with DATA: str (UTF-8), bytes, a
        file object, or an iterable (or async iterable) of bytes chunks."""
        return await self._sandbox.transport.call(
            write_call(self._sandbox, path, data, user, request_timeout))

    async def write_files(self, files: Iterable[Union[WriteEntry, Dict[str, Any]]],
                          user: str = DEFAULT_USER,
                          request_timeout: Optional[float] = None) -> List[EntryInfo]:
        """Writes each entry in order (not atomically)."""
        return [await self.write(e.path, e.data, user=user, request_timeout=request_timeout)
                for e in write_entries(files)]

    async def list(self, path: str, depth: Optional[int] = 1, user: str = DEFAULT_USER,
                   request_timeout: Optional[float] = None) -> List[EntryInfo]:
        return await self._sandbox.transport.call(
            list_call(self._sandbox, path, depth, user, request_timeout))

    async def exists(self, path: str, user: str = DEFAULT_USER,
                     request_timeout: Optional[float] = None) -> bool:
        return await self._sandbox.transport.call(
            exists_call(self._sandbox, path, user, request_timeout))

    async def get_info(self, path: str, user: str = DEFAULT_USER,
                       request_timeout: Optional[float] = None) -> EntryInfo:
        return await self._sandbox.transport.call(
            info_call(self._sandbox, path, user, request_timeout))

    async def remove(self, path: str, user: str = DEFAULT_USER,
                     request_timeout: Optional[float] = None) -> None:
        await self._sandbox.transport.call(
            remove_call(self._sandbox, path, user, request_timeout))

    async def rename(self, old_path: str, new_path: str, user: str = DEFAULT_USER,
                     request_timeout: Optional[float] = None) -> EntryInfo:
        return await self._sandbox.transport.call(
            rename_call(self._sandbox, old_path, new_path, user, request_timeout))

    async def make_dir(self, path: str, user: str = DEFAULT_USER,
                       request_timeout: Optional[float] = None) -> bool:
        return await self._sandbox.transport.call(
            make_dir_call(self._sandbox, path, user, request_timeout))

    async def watch_dir(self, path: str,
                        on_event: Optional[Callable[[FilesystemEvent], Any]] = None,
                        on_exit: Optional[Callable[[Optional[Exception]], Any]] = None,
                        user: str = DEFAULT_USER, request_timeout: Optional[float] = None,
                        timeout: Optional[float] = None,
                        recursive: bool = False) -> AsyncWatchHandle:
        """Watches the directory PATH (recursively with `recursive`): `on_event` (a plain or
        coroutine function) gets each FilesystemEvent, `on_exit` None or the error once the
        watch ends; `timeout` (seconds; None or 0: until stopped) ends it by itself. Returns
        once the watch is set. Errors as for the blocking Filesystem.watch_dir."""
        ref = self._sandbox
        try:
            stream = await ref.transport.open_stream(
                "GET", f"{ref.route}/files/watch", query=watch_query(path, recursive, user),
                timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
        except NotFoundException as e:
            file_not_found(e)
        return AsyncWatchHandle(stream, path, ref.sandbox_id, on_event=on_event,
                                on_exit=on_exit, timeout=timeout)
