"""What the parts of a Sandbox (sbx.commands, sbx.files, sbx.pty and the process handles) need to
call the daemon about it: its transport, its id and route, and its default request timeout.
They hold this rather than the Sandbox, so none of them depends on sandbox.py, which builds
them all. Internal."""
import math
import urllib.parse
from typing import Any, Optional

from ._transport import Transport
from .exceptions import InvalidArgumentException


def sandbox_route(sandbox_id: str) -> str:
    """/sandboxes/ID, the id quoted so that no id can address another route."""
    return "/sandboxes/" + urllib.parse.quote(sandbox_id, safe="")


def whole_seconds(timeout: Optional[float]) -> int:
    """A timeout as the API takes it: whole seconds, rounded up (0.5 s becomes 1 s, not
    "no limit"); None is 0. A negative timeout is InvalidArgumentException."""
    if timeout is None:
        return 0
    if timeout < 0:
        raise InvalidArgumentException(f"timeout must be >= 0 seconds, not {timeout}")
    return int(math.ceil(timeout))


class SandboxRef:
    """One sandbox on one daemon. `request_timeout` is shared with the Sandbox: setting
    `sbx.request_timeout` changes it for every part of that sandbox."""

    __slots__ = ("transport", "sandbox_id", "route", "request_timeout")

    def __init__(self, transport: Transport, sandbox_id: str,
                 request_timeout: Optional[float] = None):
        self.transport = transport
        self.sandbox_id = sandbox_id
        self.route = sandbox_route(sandbox_id)
        self.request_timeout = (transport.request_timeout if request_timeout is None
                                else request_timeout)

    def timeout(self, request_timeout: Optional[float]) -> Any:
        """The socket timeout of one call: its own `request_timeout`, else the default."""
        return self.request_timeout if request_timeout is None else request_timeout
