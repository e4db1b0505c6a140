"""The calls on one process of a sandbox (/v1/sandboxes/{id}/commands/{pid}...), by pid: what
sbx.commands, sbx.pty and the process handles all do, in one place that needs neither the
Sandbox nor the handle classes, for Sandbox and AsyncSandbox alike. Internal."""
import base64
import shlex
from typing import Any, Dict, Optional, Sequence, Union

from ._calls import Call, not_found_is_false
from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .exceptions import InvalidArgumentException
from .models import ProcessInfo


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


# Each call below returns ref.transport.call(...): the value itself on a Sandbox's transport, a
# coroutine of it on an AsyncSandbox's, so both clients share them.

def get(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> Any:
    return ref.transport.call(Call("GET", process_route(ref, pid),
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=ProcessInfo.from_dict))


def kill(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> Any:
    """SIGKILL to the process's group: False when the daemon does not know the pid."""
    return ref.transport.call(Call("DELETE", process_route(ref, pid),
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=lambda _: True,
                                   on_not_found=not_found_is_false))


def signal(ref: SandboxRef, pid: int, signal: Union[int, str],
           request_timeout: Optional[float]) -> Any:
    if isinstance(signal, bool) or not isinstance(signal, (int, str)):
        raise TypeError(f"signal must be an int or a name, not {type(signal).__name__}")
    value: Union[int, str] = int(signal) if isinstance(signal, int) else signal
    return ref.transport.call(Call("POST", process_route(ref, pid, "/signal"),
                                   payload={"signal": value},
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=_nothing))


def send_stdin(ref: SandboxRef, pid: int, data: Union[str, bytes],
               request_timeout: Optional[float]) -> Any:
    return ref.transport.call(Call("POST", process_route(ref, pid, "/stdin"),
                                   payload=stdin_payload(data),
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=_nothing))


def close_stdin(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> Any:
    return ref.transport.call(Call("DELETE", process_route(ref, pid, "/stdin"),
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=_nothing))


def list_processes(ref: SandboxRef, request_timeout: Optional[float]) -> Any:
    return ref.transport.call(Call(
        "GET", ref.route + "/commands", timeout=ref.timeout(request_timeout),
        sandbox_id=ref.sandbox_id,
        parse=lambda data: [ProcessInfo.from_dict(item)
                            for item in (data or {}).get("processes", [])]))


def start(ref: SandboxRef, route: str, body: Dict[str, Any], timeout: Any) -> Any:
    """POST .../commands or .../pty: starts a process; the answer's pid (an int), or for a
    foreground command the whole answer (a dict)."""
    parse = _pid if body.get("background", True) else _identity
    return ref.transport.call(Call("POST", ref.route + route, payload=body, timeout=timeout,
                                   sandbox_id=ref.sandbox_id, parse=parse))


def wait_step(ref: SandboxRef, pid: int, step: int, socket_timeout: Any) -> Any:
    """One GET .../wait of at most STEP seconds: the ProcessInfo once it has finished;
    TimeoutException (408) while it runs on."""
    return ref.transport.call(Call("GET", process_route(ref, pid, "/wait"),
                                   query={"timeout": step}, timeout=socket_timeout,
                                   sandbox_id=ref.sandbox_id, parse=ProcessInfo.from_dict))


def _nothing(_: Any) -> None:
    return None


def _identity(data: Any) -> Any:
    return data


def _pid(data: Any) -> int:
    return int(data["pid"])


def terminal_size(size: Any) -> Dict[str, int]:
    """{"rows", "cols"} of a PtySize or a (rows, cols) pair."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        rows, cols = size
    else:
        rows, cols = size.rows, size.cols
    return {"rows": int(rows), "cols": int(cols)}


def resize(ref: SandboxRef, pid: int, size: Any, request_timeout: Optional[float]) -> Any:
    return ref.transport.call(Call("POST", process_route(ref, pid, "/resize"),
                                   payload=terminal_size(size),
                                   timeout=ref.timeout(request_timeout),
                                   sandbox_id=ref.sandbox_id, parse=_nothing))
