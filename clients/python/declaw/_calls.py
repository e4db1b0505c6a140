"""One request to declawd as a plain value: what to send and how to read the answer, with no
I/O. Sandbox and AsyncSandbox (and their commands, files and terminals) build the same Call
and hand it to their transport: Transport.call() returns the value, AsyncTransport.call()
returns a coroutine of it. So request building and answer parsing are written once and only
the transport differs. Internal."""
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from .exceptions import (FileNotFoundException, NotFoundException, SandboxException,
                         SandboxNotFoundException)

# `timeout` not given: the transport's request_timeout (None means "no timeout").
DEFAULT_TIMEOUT: Any = object()

_JSON_HEADERS = {"Content-Type": "application/json"}


def _identity(value: Any) -> Any:
    return value


def _raise(error: NotFoundException) -> Any:
    raise error


@dataclass
class Call:
    """METHOD /v1PATH. `payload` is sent as JSON when not None; otherwise `body` (bytes, a file
    object or an iterable of chunks) as it is. `parse` turns the decoded JSON answer (None for
    an empty one) into the caller's value. `on_not_found` gets the NotFoundException of a 404
    and returns a value instead (kill: False) or raises a narrower one."""

    method: str
    path: str
    query: Optional[Dict[str, Any]] = None
    payload: Any = None
    body: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    timeout: Any = DEFAULT_TIMEOUT
    sandbox_id: Optional[str] = None
    parse: Callable[[Any], Any] = _identity
    on_not_found: Callable[[NotFoundException], Any] = _raise

    def content(self) -> Any:
        """The body to send: the JSON payload encoded, else `body`."""
        if self.payload is not None:
            return json.dumps(self.payload).encode("utf-8")
        return self.body

    def all_headers(self) -> Dict[str, str]:
        if self.payload is not None:
            return {**_JSON_HEADERS, **self.headers}
        return dict(self.headers)


def narrowed(cls: type, error: SandboxException) -> SandboxException:
    """ERROR as an instance of CLS (a subclass of its class), message and fields kept."""
    return cls(str(error), sandbox_id=error.sandbox_id, code=error.code, status=error.status)


def sandbox_not_found(error: NotFoundException) -> Any:
    """on_not_found of a call on the sandbox itself: the only thing missing is the sandbox."""
    if isinstance(error, SandboxNotFoundException):
        raise error
    raise narrowed(SandboxNotFoundException, error) from None


def file_not_found(error: NotFoundException) -> Any:
    """on_not_found of a files call: a missing path, unless the sandbox itself is unknown."""
    if isinstance(error, SandboxNotFoundException):
        raise error
    raise narrowed(FileNotFoundException, error) from None


def not_found_is_false(error: NotFoundException) -> bool:
    """on_not_found of the kill calls: an unknown sandbox or pid is False, not an error."""
    return False
