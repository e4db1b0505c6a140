"""sbx.commands and sbx.pty of an AsyncSandbox: Commands and Pty with awaitable methods. The
requests and results are the blocking client's (commands.py, pty.py, _processes.py); only
the waiting differs. Many commands may run at once on one sandbox (asyncio.gather): each
takes a connection of its own."""
import asyncio
from typing import Any, Dict, List, Optional, Union

from . import _processes
from ._processes import Command
from ._sandbox_ref import SandboxRef
from .command_handle_async import (AsyncCommandHandle, AsyncOutputCallback, AsyncPtyCallback,
                                   AsyncPtyHandle)
from .commands import (DEFAULT_COMMAND_TIMEOUT, DEFAULT_USER, foreground_result,
                       foreground_socket_timeout, is_command_timeout, run_body, timed_out,
                       wait_deadline, wait_goes_on, wait_step_timeouts)
from .exceptions import TimeoutException
from .models import CommandResult, ProcessInfo, PtySize
from .pty import pty_body


class AsyncCommands:
    """Runs commands inside one sandbox and controls its processes: `sbx.commands` of an
    AsyncSandbox. Every method is a coroutine; arguments and results are Commands'."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    async def run(self, cmd: Command, background: bool = False,
                  envs: Optional[Dict[str, str]] = None, user: str = DEFAULT_USER,
                  cwd: Optional[str] = None, on_stdout: Optional[AsyncOutputCallback] = None,
                  on_stderr: Optional[AsyncOutputCallback] = None,
                  stdin: Union[str, bytes, bool, None] = None,
                  timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
                  request_timeout: Optional[float] = None
                  ) -> Union[CommandResult, AsyncCommandHandle]:
        """As Commands.run(): a CommandResult in the foreground (a non-zero exit returned),
        an AsyncCommandHandle with background=True. `on_stdout`/`on_stderr` may be plain or
        coroutine functions; they get the output line by line as it arrives (in the
        foreground, before run() returns). A callback that raises ends the listening (the
        command runs on) and its exception propagates from run() or the handle's wait()."""
        ref = self._sandbox
        body = run_body(cmd, background, envs, user, cwd, stdin, timeout)
        if background:
            pid = await _processes.start(ref, "/commands", body, ref.timeout(request_timeout))
            return AsyncCommandHandle(ref, pid, on_stdout=on_stdout, on_stderr=on_stderr)
        if on_stdout is None and on_stderr is None:
            data = await _processes.start(ref, "/commands", body,
                                          foreground_socket_timeout(ref, body, request_timeout))
            return foreground_result(ref, body, data)
        stream = await ref.transport.open_stream(
            "POST", ref.route + "/commands/stream", payload=body,
            timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
        handle = AsyncCommandHandle(ref, None, stream=stream,
                                    what=f"command {_processes.describe_command(body)!r}",
                                    on_stdout=on_stdout, on_stderr=on_stderr)
        try:
            return await handle._result()
        except TimeoutException as e:
            if not is_command_timeout(e):
                raise  # the socket, not the command, timed out
            raise timed_out(ref, body, e.stdout, e.stderr, e.exit_code) from None
        except asyncio.CancelledError:
            await handle.disconnect()  # cancelled: stop listening, the command runs on
            raise

    async def list(self, request_timeout: Optional[float] = None) -> List[ProcessInfo]:
        """The sandbox's API processes, running and recently finished, oldest first."""
        return await _processes.list_processes(self._sandbox, request_timeout)

    async def get(self, pid: int, request_timeout: Optional[float] = None) -> ProcessInfo:
        return await _processes.get(self._sandbox, pid, request_timeout)

    async def wait(self, pid: int, timeout: Optional[float] = 60,
                   request_timeout: Optional[float] = None) -> ProcessInfo:
        """Waits until the process has finished; its ProcessInfo. TimeoutException if it
        still runs after `timeout` seconds (0 or None: as long as it takes)."""
        ref = self._sandbox
        deadline = wait_deadline(timeout)
        while True:
            step, socket_timeout = wait_step_timeouts(ref, deadline, request_timeout)
            try:
                return await _processes.wait_step(ref, pid, step, socket_timeout)
            except TimeoutException as e:
                if not wait_goes_on(e, deadline):
                    raise

    async def connect(self, pid: int, on_stdout: Optional[AsyncOutputCallback] = None,
                      on_stderr: Optional[AsyncOutputCallback] = None,
                      timeout: Optional[float] = None,
                      request_timeout: Optional[float] = None) -> AsyncCommandHandle:
        """An AsyncCommandHandle of a running or recently finished process: its buffered
        output, then live output. NotFoundException for an unknown pid. `timeout` is
        accepted for the hosted signature and ignored."""
        return AsyncCommandHandle(self._sandbox, int(pid),
                                  stream=await _attach(self._sandbox, pid, request_timeout),
                                  on_stdout=on_stdout, on_stderr=on_stderr)

    async def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        return await _processes.kill(self._sandbox, pid, request_timeout)

    async def signal(self, pid: int, signal: Union[int, str],
                     request_timeout: Optional[float] = None) -> None:
        await _processes.signal(self._sandbox, pid, signal, request_timeout)

    async def send_stdin(self, pid: int, data: Union[str, bytes],
                         request_timeout: Optional[float] = None) -> None:
        await _processes.send_stdin(self._sandbox, pid, data, request_timeout)

    async def close_stdin(self, pid: int, request_timeout: Optional[float] = None) -> None:
        await _processes.close_stdin(self._sandbox, pid, request_timeout)


class AsyncPty:
    """Pseudo-terminals inside one sandbox: `sbx.pty` of an AsyncSandbox."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    async def create(self, size: PtySize, user: str = DEFAULT_USER, cwd: Optional[str] = None,
                     envs: Optional[Dict[str, str]] = None, timeout: Optional[float] = 0,
                     request_timeout: Optional[float] = None, *,
                     on_data: Optional[AsyncPtyCallback] = None,
                     cmd: Optional[Command] = None) -> AsyncPtyHandle:
        """As Pty.create(); `on_data(bytes)` may be a plain or a coroutine function."""
        ref = self._sandbox
        pid = await _processes.start(ref, "/pty", pty_body(size, user, cwd, envs, timeout, cmd),
                                     ref.timeout(request_timeout))
        return AsyncPtyHandle(ref, pid, on_pty=on_data)

    async def connect(self, pid: int, on_data: Optional[AsyncPtyCallback] = None,
                      request_timeout: Optional[float] = None) -> AsyncPtyHandle:
        return AsyncPtyHandle(self._sandbox, int(pid),
                              stream=await _attach(self._sandbox, pid, request_timeout),
                              on_pty=on_data)

    async def send_stdin(self, pid: int, data: Union[str, bytes],
                         request_timeout: Optional[float] = None) -> None:
        await _processes.send_stdin(self._sandbox, pid, data, request_timeout)

    async def resize(self, pid: int, size: PtySize,
                     request_timeout: Optional[float] = None) -> None:
        await _processes.resize(self._sandbox, pid, size, request_timeout)

    async def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        return await _processes.kill(self._sandbox, pid, request_timeout)


async def _attach(ref: SandboxRef, pid: int, request_timeout: Optional[float]) -> Any:
    return await ref.transport.open_stream(
        "GET", _processes.process_route(ref, pid, "/stream"), query={"follow": "true"},
        timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id)
