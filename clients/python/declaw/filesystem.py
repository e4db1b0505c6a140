"""sbx.files: the sandbox's filesystem (/v1/sandboxes/{id}/files...).

Every operation runs inside the sandbox as `user` ("user", the default, or "root"), so the
sandbox's own permissions apply and paths cannot leave it. Relative paths and "~" are resolved
against /home/user by the daemon. Contents travel as raw bytes (GET/PUT .../files/raw), streamed
in chunks, so any file size works without holding extra copies.
"""
import json
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

from ._sandbox_ref import SandboxRef
from .exceptions import InvalidArgumentException
from .models import EntryInfo, WriteEntry

DEFAULT_USER = "user"
_FORMATS = ("text", "bytes", "stream")
_OCTET_STREAM = {"Content-Type": "application/octet-stream"}


class Filesystem:
    """Files inside one sandbox. Get it as `sbx.files`."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    def _call(self, method: str, route: str, path: str, user: str,
              request_timeout: Optional[float], **kwargs: Any) -> Any:
        sbx = self._sandbox
        query = {"path": path, "user": user}
        query.update(kwargs.pop("query", {}))
        return sbx.transport.request(method, f"{sbx.route}/{route}", query=query,
                                     timeout=sbx.timeout(request_timeout),
                                     sandbox_id=sbx.sandbox_id, **kwargs)

    def _json(self, method: str, route: str, path: str, user: str,
              request_timeout: Optional[float], payload: Any = None, **kwargs: Any) -> Any:
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json"}
        return self._call(method, route, path, user, request_timeout, body=body, **kwargs).json()

    def read(self, path: str, format: str = "text", user: str = DEFAULT_USER,
             request_timeout: Optional[float] = None) -> Union[str, bytearray, Iterator[bytes]]:
        """The file's content: `format="text"` a str (bytes that are not UTF-8 become U+FFFD),
        "bytes" a bytearray, "stream" an iterator of bytes chunks (read it to the end, or
        close() it, to free its connection)."""
        if format not in _FORMATS:
            raise InvalidArgumentException(
                f"format must be one of {', '.join(_FORMATS)}, not {format!r}")
        answer = self._call("GET", "files/raw", path, user, request_timeout, stream=True)
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
        if isinstance(data, str):
            data = data.encode("utf-8")
        answer = self._call("PUT", "files/raw", path, user, request_timeout, body=data,
                            headers=dict(_OCTET_STREAM))
        return EntryInfo.from_dict(answer.json())

    def write_files(self, files: Iterable[Union[WriteEntry, Dict[str, Any]]],
                    user: str = DEFAULT_USER,
                    request_timeout: Optional[float] = None) -> List[EntryInfo]:
        """Writes several files, one after the other (not atomically: a failure leaves the
        files before it written). Each entry is a WriteEntry or a {"path": ..., "data": ...}
        dict; data as for write()."""
        entries = []
        for entry in files:
            if isinstance(entry, dict):
                if "path" not in entry or "data" not in entry:
                    raise InvalidArgumentException(
                        "each write_files() entry needs 'path' and 'data'")
                entry = WriteEntry(path=entry["path"], data=entry["data"])
            entries.append(entry)
        return [self.write(e.path, e.data, user=user, request_timeout=request_timeout)
                for e in entries]

    def list(self, path: str, depth: Optional[int] = 1, user: str = DEFAULT_USER,
             request_timeout: Optional[float] = None) -> List[EntryInfo]:
        """The entries of a directory, descending `depth` levels (1 .. 16) into
        subdirectories; symlinks are listed, not followed."""
        query = {} if depth is None else {"depth": int(depth)}
        answer = self._json("GET", "files/list", path, user, request_timeout, query=query)
        return [EntryInfo.from_dict(entry) for entry in answer.get("entries", [])]

    def exists(self, path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> bool:
        answer = self._json("GET", "files/exists", path, user, request_timeout)
        return bool(answer.get("exists", False))

    def get_info(self, path: str, user: str = DEFAULT_USER,
                 request_timeout: Optional[float] = None) -> EntryInfo:
        """Describes PATH (a symlink itself, not its target)."""
        return EntryInfo.from_dict(self._json("GET", "files/info", path, user, request_timeout))

    def remove(self, path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> None:
        """Removes a file, or a directory with everything in it; a symlink is removed, not
        followed. A missing path raises NotFoundException."""
        self._call("DELETE", "files", path, user, request_timeout)

    def rename(self, old_path: str, new_path: str, user: str = DEFAULT_USER,
               request_timeout: Optional[float] = None) -> EntryInfo:
        """Moves OLD_PATH to NEW_PATH (replacing a file there) and describes the result."""
        answer = self._json("PATCH", "files", old_path, user, request_timeout,
                            payload={"new_path": new_path})
        return EntryInfo.from_dict(answer)

    def make_dir(self, path: str, user: str = DEFAULT_USER,
                 request_timeout: Optional[float] = None) -> bool:
        """Creates the directory and its parents. True if it was created, False if it already
        was a directory; a file there raises ConflictException."""
        answer = self._json("POST", "files/mkdir", path, user, request_timeout)
        return bool(answer.get("created", False))
