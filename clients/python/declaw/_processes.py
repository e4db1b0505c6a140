"""The calls on one process of a sandbox (/v1/sandboxes/{id}/commands/{pid}...), by pid: what
sbx.commands, sbx.pty and the process handles all do, in one place that needs neither the
Sandbox nor the handle classes. Internal."""
import base64
import json
import shlex
from typing import Any, Dict, Optional, Sequence, Union

from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .exceptions import InvalidArgumentException, NotFoundException
from .models import ProcessInfo

_JSON = {"Content-Type": "application/json"}


Command = Union[str, Sequence[str]]


def command_fields(cmd: Command) -> Dict[str, Any]:
    """The request's command: a str is a shell command line ("cmd", run by bash), a list or
    tuple of str is a program and its arguments ("argv", run directly, found in PATH)."""
    if isinstance(cmd, str):
        return {"cmd": cmd}
    if isinstance(cmd, (list, tuple)):
        argv = list(cmd)
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise InvalidArgumentException(
                "an argv command is a non-empty list of str, the program first")
        return {"argv": argv}
    raise TypeError(f"cmd must be a str (a shell command line) or a list of str (an argv), "
                    f"not {type(cmd).__name__}")


def describe_command(fields: Dict[str, Any], limit: int = 80) -> str:
    """The command of a request body, as a shell would read it, cut to `limit` characters."""
    text = fields["cmd"] if "cmd" in fields else shlex.join(fields["argv"])
    return text[:limit]


def process_route(ref: SandboxRef, pid: Any, tail: str = "") -> str:
    return f"{ref.route}/commands/{int(pid)}{tail}"


def stdin_payload(data: Union[str, bytes, bytearray, memoryview]) -> Dict[str, str]:
    """The body of POST .../stdin: text as it is, bytes base64-encoded (exact)."""
    if isinstance(data, str):
        return {"data": data}
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"data_base64": base64.b64encode(bytes(data)).decode("ascii")}
    raise TypeError(f"stdin data must be str or bytes, not {type(data).__name__}")


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


def attach(ref: SandboxRef, handle_class: Any, pid: int, request_timeout: Optional[float],
           **callbacks: Any) -> Any:
    """A HANDLE_CLASS (CommandHandle or PtyHandle) on the process's output stream, from what
    the daemon still buffers; with callbacks, a daemon thread calls them as output arrives."""
    stream = EventStream.open(ref.transport, "GET", process_route(ref, pid, "/stream"),
                              query={"follow": "true"}, timeout=ref.timeout(request_timeout),
                              sandbox_id=ref.sandbox_id)
    handle = handle_class(ref, int(pid), stream=stream)
    if any(callback is not None for callback in callbacks.values()):
        handle._start_callbacks(**callbacks)
    return handle


def get(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> ProcessInfo:
    data = ref.transport.json("GET", process_route(ref, pid),
                              timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
    return ProcessInfo.from_dict(data)


def kill(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> bool:
    """SIGKILL to the process's group: False when the daemon does not know the pid."""
    try:
        ref.transport.request("DELETE", process_route(ref, pid),
                              timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
    except NotFoundException:
        return False
    return True


def signal(ref: SandboxRef, pid: int, signal: Union[int, str],
           request_timeout: Optional[float]) -> None:
    if isinstance(signal, bool) or not isinstance(signal, (int, str)):
        raise TypeError(f"signal must be an int or a name, not {type(signal).__name__}")
    value: Union[int, str] = int(signal) if isinstance(signal, int) else signal
    ref.transport.request("POST", process_route(ref, pid, "/signal"),
                          body=_json_bytes({"signal": value}), headers=_JSON,
                          timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)


def send_stdin(ref: SandboxRef, pid: int, data: Union[str, bytes],
               request_timeout: Optional[float]) -> None:
    ref.transport.request("POST", process_route(ref, pid, "/stdin"),
                          body=_json_bytes(stdin_payload(data)), headers=_JSON,
                          timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)


def close_stdin(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> None:
    ref.transport.request("DELETE", process_route(ref, pid, "/stdin"),
                          timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)


def terminal_size(size: Any) -> Dict[str, int]:
    """{"rows", "cols"} of a PtySize or a (rows, cols) pair."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        rows, cols = size
    else:
        rows, cols = size.rows, size.cols
    return {"rows": int(rows), "cols": int(cols)}


def resize(ref: SandboxRef, pid: int, size: Any, request_timeout: Optional[float]) -> None:
    ref.transport.json("POST", process_route(ref, pid, "/resize"), terminal_size(size),
                       timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
