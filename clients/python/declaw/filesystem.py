"""sbx.files: the sandbox's filesystem (/v1/sandboxes/{id}/files...).

Every operation runs inside the sandbox as `user` ("user", the default, or "root"), so the
sandbox's own permissions apply and paths cannot leave it. Relative paths and "~" are resolved
against /home/user by the daemon. Contents travel as raw bytes (GET/PUT .../files/raw), streamed
in chunks, so any file size works without holding extra copies.
"""
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

from ._calls import Call, file_not_found
from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .exceptions import InvalidArgumentException, NotFoundException
from .models import EntryInfo, WriteEntry
from .watch_handle import WatchCallback, WatchHandle, watch_query

DEFAULT_USER = "user"
_FORMATS = ("text", "bytes", "stream")
_OCTET_STREAM = {"Content-Type": "application/octet-stream"}


# The calls of sbx.files, shared with AsyncSandbox's files. A missing path is
# FileNotFoundException (an unknown sandbox stays SandboxNotFoundException).

def path_query(path: str, user: str) -> Dict[str, Any]:
    return {"path": path, "user": user}


def check_read_format(format: str) -> None:
    if format not in _FORMATS:
        raise InvalidArgumentException(
            f"format must be one of {', '.join(_FORMATS)}, not {format!r}")


def _files_call(ref: SandboxRef, method: str, route: str, path: str, user: str,
                request_timeout: Optional[float], parse: Any, **fields: Any) -> Call:
    query = path_query(path, user)
    query.update(fields.pop("query", {}))
    return Call(method, f"{ref.route}/{route}", query=query,
                timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id, parse=parse,
                on_not_found=file_not_found, **fields)


def write_call(ref: SandboxRef, path: str, data: Any, user: str,
               request_timeout: Optional[float]) -> Call:
    """PUT .../files/raw: DATA as bytes (a str as UTF-8), a file object or chunks."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _files_call(ref, "PUT", "files/raw", path, user, request_timeout, EntryInfo.from_dict,
                       body=data, headers=dict(_OCTET_STREAM))


def write_entries(files: Iterable[Any]) -> List[WriteEntry]:
    entries = []
    for entry in files:
        if isinstance(entry, dict):
            if "path" not in entry or "data" not in entry:
                raise InvalidArgumentException("each write_files() entry needs 'path' and 'data'")
            entry = WriteEntry(path=entry["path"], data=entry["data"])
        entries.append(entry)
    return entries


def list_call(ref: SandboxRef, path: str, depth: Optional[int], user: str,
              request_timeout: Optional[float]) -> Call:
    query = {} if depth is None else {"depth": int(depth)}
    return _files_call(ref, "GET", "files/list", path, user, request_timeout,
                       lambda answer: [EntryInfo.from_dict(entry)
                                       for entry in answer.get("entries", [])], query=query)


def exists_call(ref: SandboxRef, path: str, user: str, request_timeout: Optional[float]) -> Call:
    return _files_call(ref, "GET", "files/exists", path, user, request_timeout,
                       lambda answer: bool(answer.get("exists", False)))


def info_call(ref: SandboxRef, path: str, user: str, request_timeout: Optional[float]) -> Call:
    return _files_call(ref, "GET", "files/info", path, user, request_timeout,
                       EntryInfo.from_dict)


def remove_call(ref: SandboxRef, path: str, user: str, request_timeout: Optional[float]) -> Call:
    return _files_call(ref, "DELETE", "files", path, user, request_timeout, lambda _: None)


def rename_call(ref: SandboxRef, old_path: str, new_path: str, user: str,
                request_timeout: Optional[float]) -> Call:
    return _files_call(ref, "PATCH", "files", old_path, user, request_timeout,
                       EntryInfo.from_dict, payload={"new_path": new_path})


def make_dir_call(ref: SandboxRef, path: str, user: str, request_timeout: Optional[float]) -> Call:
    return _files_call(ref, "POST", "files/mkdir", path, user, request_timeout,
                       lambda answer: bool(answer.get("created", False)))


class Filesystem:
    """Files inside one sandbox. Get it as `sbx.files`."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    def _call(self, call: Call) -> Any:
        return self._sandbox.transport.call(call)

    def read(self, path: str, format: str = "text", user: str = DEFAULT_USER,
             request_timeout: Optional[float] = None) -> Union[str, bytearray, Iterator[bytes]]:
        """The file's content: `format="text"` a str (bytes that are not UTF-8 become U+FFFD),
        "bytes" a bytearray, "stream" an iterator of bytes chunks (read it to the end, or
        close() it, to free its connection)."""
        check_read_format(format)
        ref = self._sandbox
        try:
            answer = ref.transport.request(
                "GET", f"{ref.route}/files/raw", query=path_query(path, user),
                timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id, stream=True)
        except NotFoundException as e:
            file_not_found(e)
        if format == "stream":
            return answer
        data = answer.read_all()
        if format == "bytes":
            return data
        return data.decode("utf-8", errors="replace")

    def write(self, path: str, data: Union[str, bytes, bytearray, memoryview, Any],
              user: str = DEFAULT_USER, request_timeout: Optional[float] = None) -> EntryInfo:
        """Creates or truncates the file (and its parent directories) and writes DATA: a str
        (written as UTF-8), bytes, a file object opened for reading (streamed in chunks; sent
        with its length when it has a size), or an iterable of bytes chunks. Returns the
        file's EntryInfo."""
        return self._call(write_call(self._sandbox, path, data, user, request_timeout))

    def write_files(self, files: Iterable[Union[WriteEntry, Dict[str, Any]]],
                    user: str = DEFAULT_USER,
                    request_timeout: Optional[float] = None) -> List[EntryInfo]:
        """Writes several files, one after the other (not atomically: a failure leaves the
        files before it written). Each entry is a WriteEntry or a {"path": ..., "data": ...}
        dict; data as for write()."""
        entries = write_entries(files)
        return [self.write(e.path, e.data, user=user, request_timeout=request_timeout)
                for e in entries]

    def list(self, path: str, depth: Optional[int] = 1, user: str = DEFAULT_USER,
             request_timeout: Optional[float] = None) -> List[EntryInfo]:
        """The entries of a directory, descending `depth` levels (1 .. 16) into
        subdirectories; symlinks are listed, not followed."""
        return self._call(list_call(self._sandbox, path, depth, user, request_timeout))

    def exists(self, path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> bool:
        return self._call(exists_call(self._sandbox, path, user, request_timeout))

    def get_info(self, path: str, user: str = DEFAULT_USER,
                 request_timeout: Optional[float] = None) -> EntryInfo:
        """Describes PATH (a symlink itself, not its target)."""
        return self._call(info_call(self._sandbox, path, user, request_timeout))

    def remove(self, path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> None:
        """Removes a file, or a directory with everything in it; a symlink is removed, not
        followed. A missing path raises NotFoundException."""
        self._call(remove_call(self._sandbox, path, user, request_timeout))

    def rename(self, old_path: str, new_path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> EntryInfo:
        """Moves OLD_PATH to NEW_PATH (replacing a file there) and describes the result."""
        return self._call(rename_call(self._sandbox, old_path, new_path, user, request_timeout))

    def make_dir(self, path: str, user: str = DEFAULT_USER,
                 request_timeout: Optional[float] = None) -> bool:
        """Creates the directory and its parents. True if it was created, False if it already
        was a directory; a file there raises ConflictException."""
        return self._call(make_dir_call(self._sandbox, path, user, request_timeout))

    def watch_dir(self, path: str, user: str = DEFAULT_USER,
                  request_timeout: Optional[float] = None, recursive: bool = False,
                  on_event: Optional[WatchCallback] = None,
                  on_exit: Optional[Callable[[Optional[Exception]], Any]] = None,
                  timeout: Optional[float] = None) -> WatchHandle:
        """Watches the directory PATH (and with `recursive`, every directory below it, as
        they appear) and returns a WatchHandle: get_new_events() gives the FilesystemEvents
        (name relative to PATH, type create/write/remove/rename/chmod) since the last call,
        stop() ends the watch. `on_event` is called with each event as it comes (on the
        handle's thread), `on_exit` with None or the error once the watch ends; `timeout`
        (seconds) stops the watch by itself. The watch is set when this returns. A missing
        PATH raises FileNotFoundException, a file InvalidArgumentException, a tree over the
        daemon's bound (max_watch_dirs) TooLargeException."""
        ref = self._sandbox
        route = f"{ref.route}/files/watch"
        try:
            stream = EventStream.open(ref.transport, "GET", route,
                                      query=watch_query(path, recursive, user),
                                      timeout=ref.timeout(request_timeout),
                                      sandbox_id=ref.sandbox_id)
        except NotFoundException as e:
            file_not_found(e)
        return WatchHandle(stream, path, ref.sandbox_id, on_event=on_event, on_exit=on_exit,
                           timeout=timeout)
