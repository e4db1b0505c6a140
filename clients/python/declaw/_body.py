"""Request bodies for the transport: bytes, binary or text file objects, or iterables of chunks,
sent in chunks of CHUNK_BYTES, with a Content-Length when the size can be known up front and
chunked transfer encoding when it cannot."""
import io
import os
import stat
from typing import Any, Iterator, Optional

from .exceptions import InvalidArgumentException

CHUNK_BYTES = 1 << 20


class RequestBody:
    """A request body: its length when known (else it is sent chunked), whether it can be sent
    again on a retry, and its chunks."""

    def __init__(self, data: Any):
        self.length: Optional[int] = None
        self.replayable = False
        self._data = data
        if data is None:
            self.replayable = True
            self.length = 0
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self._data = memoryview(data).cast("B")
            self.length = self._data.nbytes
            self.replayable = True
        elif hasattr(data, "read"):
            self.length = _remaining_size(data)
        elif isinstance(data, str):
            raise TypeError("a request body must be bytes, a binary file or an iterable of bytes")
        else:
            self._data = iter(data)

    def chunks(self) -> Iterator[Any]:
        data = self._data
        if data is None:
            return
        if isinstance(data, memoryview):
            for start in range(0, data.nbytes, CHUNK_BYTES):
                yield data[start:start + CHUNK_BYTES]
        elif hasattr(data, "read"):
            yield from self._file_chunks(data)
        else:
            for chunk in data:
                yield _as_bytes(chunk)

    def _file_chunks(self, f: Any) -> Iterator[bytes]:
        left = self.length
        while left is None or left > 0:
            chunk = f.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
            if not chunk:
                break
            chunk = _as_bytes(chunk)
            if left is not None:
                left -= len(chunk)
            yield chunk
        if left:
            raise InvalidArgumentException(
                f"the file ended {left} bytes before its size said it would (did it shrink "
                "while being uploaded?)")


def _as_bytes(chunk: Any) -> Any:
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return chunk
    raise TypeError(f"upload chunks must be bytes or str, not {type(chunk).__name__}")


def _remaining_size(f: Any) -> Optional[int]:
    """Bytes left in a binary file object from its position, or None when unknown (text-mode
    files, pipes, sockets, objects that cannot seek)."""
    if isinstance(f, io.TextIOBase):
        return None  # its size in UTF-8 bytes is not known before reading it
    try:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode):
            return max(0, st.st_size - f.tell())
        return None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        if not f.seekable():
            return None
        here = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(here)
        return max(0, end - here)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
