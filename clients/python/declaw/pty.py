"""sbx.pty: processes on pseudo-terminals (POST /v1/sandboxes/{id}/pty; docs/api.md, "PTY").

A PTY process is an API process like any other: it is listed by commands.list() (is_pty), its
input goes through .../stdin, its output is the `pty` events of its stream.
"""
from typing import Any, Dict, Optional, Union

from . import _processes
from ._processes import Command, command_fields, terminal_size
from ._sandbox_ref import SandboxRef, whole_seconds
from .command_handle import PtyCallback, PtyHandle
from .commands import DEFAULT_USER
from .models import PtySize


def pty_body(size: Any, user: str, cwd: Optional[str], envs: Optional[Dict[str, str]],
             timeout: Optional[float], cmd: Optional[Command]) -> Dict[str, Any]:
    """The body of POST .../pty for pty.create()."""
    body: Dict[str, Any] = {"size": terminal_size(size), "user": user,
                            "timeout": whole_seconds(timeout)}
    if cmd is not None:
        body.update(command_fields(cmd))
    if cwd:
        body["cwd"] = cwd
    if envs:
        body["envs"] = dict(envs)
    return body


class Pty:
    """Pseudo-terminals inside one sandbox. Get it as `sbx.pty`."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    def create(self, size: PtySize, user: str = DEFAULT_USER, cwd: Optional[str] = None,
               envs: Optional[Dict[str, str]] = None, timeout: Optional[float] = 0,
               request_timeout: Optional[float] = None, *,
               on_data: Optional[PtyCallback] = None,
               cmd: Optional[Command] = None) -> PtyHandle:
        """Starts `/bin/bash -i -l` (or `/bin/bash -l -c CMD`, or CMD itself when it is a list
        of str: a program and its arguments) on a new terminal of SIZE
        (PtySize(rows, cols), 1..1000 each), as the leader of its own session, and returns
        its PtyHandle. TERM is xterm-256color unless `envs` says otherwise. `timeout`:
        seconds until it is killed (default 0: never; the sandbox's own timeout still
        applies). `on_data(bytes)` is called from a daemon thread as the terminal writes."""
        ref = self._sandbox
        pid = _processes.start(ref, "/pty", pty_body(size, user, cwd, envs, timeout, cmd),
                               ref.timeout(request_timeout))
        handle = PtyHandle(ref, pid)
        if on_data is not None:
            handle._start_callbacks(on_pty=on_data)
        return handle

    def connect(self, pid: int, on_data: Optional[PtyCallback] = None,
                request_timeout: Optional[float] = None) -> PtyHandle:
        """A PtyHandle attached to a running PTY process: what the daemon still buffers of its
        output, then live output (to `on_data`, from a daemon thread, when given)."""
        return _processes.attach(self._sandbox, PtyHandle, pid, request_timeout, on_pty=on_data)

    def send_stdin(self, pid: int, data: Union[str, bytes],
                   request_timeout: Optional[float] = None) -> None:
        """Bytes (or text, as UTF-8) to the terminal, as typed: b"\\x03" is Ctrl-C."""
        _processes.send_stdin(self._sandbox, pid, data, request_timeout)

    def resize(self, pid: int, size: PtySize, request_timeout: Optional[float] = None) -> None:
        """Sets the terminal's rows and cols; its process group gets SIGWINCH."""
        _processes.resize(self._sandbox, pid, size, request_timeout)

    def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        """SIGKILL to its process group: True, or False when the daemon does not know it."""
        return _processes.kill(self._sandbox, pid, request_timeout)
