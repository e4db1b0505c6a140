"""AsyncCommandHandle and AsyncPtyHandle: CommandHandle and PtyHandle for AsyncSandbox.

One task per handle reads the process's event stream (GET .../commands/{pid}/stream, opened
when output is first wanted: callbacks given, wait(), or a loop), feeds the shared OutputState
and calls the callbacks, which may be plain functions or coroutine functions (awaited in
order, so a slow one slows the reading, never reorders it). wait() awaits that task; many
coroutines may wait on one handle.
"""
import asyncio
import inspect
from typing import Any, AsyncIterator, Callable, List, Optional, Union

from . import _processes
from ._output import Chunk, OutputState, _lines
from ._sandbox_ref import SandboxRef
from .models import CommandResult, ProcessInfo, PtySize

# A callback: a plain function or a coroutine function, of one str (a line) or bytes (PTY).
AsyncOutputCallback = Callable[[str], Any]
AsyncPtyCallback = Callable[[bytes], Any]


async def call_back(callback: Optional[Callable[[Any], Any]], value: Any) -> None:
    """Calls CALLBACK with VALUE and awaits what it returns when that is awaitable."""
    if callback is None:
        return
    outcome = callback(value)
    if inspect.isawaitable(outcome):
        await outcome


async def deliver_lines(callback: Optional[AsyncOutputCallback], text: str) -> None:
    """As the blocking client's deliver(): one call per line of TEXT."""
    if callback is None:
        return
    for line in _lines(text):
        await call_back(callback, line)


class AsyncCommandHandle:
    """A command running in the sandbox: from `await commands.run(..., background=True)` or
    `await commands.connect(pid)`. `await wait()` follows its output until it ends;
    `async for stdout, stderr, pty in handle` yields it as it comes. `stdout`, `stderr`,
    `exit_code` and `lost_bytes` reflect what it has received so far."""

    def __init__(self, sandbox: SandboxRef, pid: Optional[int], *, stream: Any = None,
                 what: str = "", on_stdout: Optional[AsyncOutputCallback] = None,
                 on_stderr: Optional[AsyncOutputCallback] = None,
                 on_pty: Optional[AsyncPtyCallback] = None):
        self._sandbox = sandbox
        self._out = OutputState(pid, what, self._is_pty())
        self._stream = stream
        self._callbacks = (on_stdout, on_stderr, on_pty)
        self._listeners: List["asyncio.Queue[Any]"] = []
        self._task: Optional["asyncio.Task[None]"] = None
        self._error: Optional[BaseException] = None
        self._disconnected = False
        if stream is not None or any(self._callbacks):
            self._start()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pid={self.pid}, sandbox_id={self._sandbox.sandbox_id!r})"

    def _is_pty(self) -> bool:
        return False

    # -- what is known so far ----------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        return self._out.pid

    @property
    def stdout(self) -> str:
        return self._out.stdout.text()

    @property
    def stderr(self) -> str:
        return self._out.stderr.text()

    @property
    def exit_code(self) -> Optional[int]:
        return self._out.exit_code

    @property
    def error(self) -> Optional[str]:
        return self._out.error

    @property
    def lost_bytes(self) -> int:
        return self._out.lost_bytes

    # -- controls ----------------------------------------------------------------------------

    async def kill(self, request_timeout: Optional[float] = None) -> bool:
        """SIGKILL to its process group: True (also if it had finished), False if unknown."""
        return await _processes.kill(self._sandbox, self.pid, request_timeout)

    async def send_stdin(self, data: Union[str, bytes],
                         request_timeout: Optional[float] = None) -> None:
        await _processes.send_stdin(self._sandbox, self.pid, data, request_timeout)

    async def close_stdin(self, request_timeout: Optional[float] = None) -> None:
        await _processes.close_stdin(self._sandbox, self.pid, request_timeout)

    async def signal(self, signal: Union[int, str],
                     request_timeout: Optional[float] = None) -> None:
        await _processes.signal(self._sandbox, self.pid, signal, request_timeout)

    async def info(self, request_timeout: Optional[float] = None) -> ProcessInfo:
        return await _processes.get(self._sandbox, self.pid, request_timeout)

    async def disconnect(self) -> None:
        """Stops receiving output and closes the stream; the process runs on. wait() then
        raises, loops end."""
        self._disconnected = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        elif task is None:
            self._finish()

    # -- following the output ----------------------------------------------------------------

    async def wait(self, on_pty: Optional[AsyncPtyCallback] = None,
                   on_stdout: Optional[AsyncOutputCallback] = None,
                   on_stderr: Optional[AsyncOutputCallback] = None) -> CommandResult:
        """Follows the output until the process ends and returns its CommandResult. The
        callbacks (plain or coroutine functions) get the output from its start as it
        arrives. Raises CommandExitException on a non-zero exit, TimeoutException when its
        timeout killed it, SandboxNotRunningException when the sandbox ended under it,
        SandboxException after disconnect(), and what a callback raised (the process runs
        on)."""
        if on_pty is not None or on_stdout is not None or on_stderr is not None:
            try:
                async for stdout, stderr, pty in self:
                    if stdout is not None:
                        await deliver_lines(on_stdout, stdout)
                    elif stderr is not None:
                        await deliver_lines(on_stderr, stderr)
                    else:
                        await call_back(on_pty, pty)
            except Exception as e:
                if e is not self._error:
                    raise  # a callback of this wait() raised
        result = await self._result()
        return self._out.checked(result, self._sandbox.sandbox_id)

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        """(stdout, stderr, pty) chunks as they arrive, from the start."""
        own: "asyncio.Queue[Any]" = asyncio.Queue()
        for item in self._out.replay():
            own.put_nowait(item)
        if self._task is not None and self._task.done():
            own.put_nowait(None)
        self._listeners.append(own)
        self._start()
        try:
            while True:
                item = await own.get()
                if item is None:
                    break
                kind, value = item
                yield ((value, None, None) if kind == "stdout" else
                       (None, value, None) if kind == "stderr" else (None, None, value))
        finally:
            self._listeners.remove(own)
        if self._error is not None:
            raise self._error

    async def _result(self) -> CommandResult:
        """The CommandResult (a non-zero exit returned), once the stream has ended."""
        self._start()
        task = self._task
        if task is not None:
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # this wait() was cancelled, not the reading
        if self._error is not None:
            raise self._error
        return self._out.result(self._sandbox.sandbox_id)

    def _start(self) -> None:
        if self._task is None and not self._disconnected:
            self._task = asyncio.get_running_loop().create_task(
                self._follow(), name=f"declaw-output-{self.pid}")

    async def _follow(self) -> None:
        on_stdout, on_stderr, on_pty = self._callbacks
        try:
            if self._stream is None:
                ref = self._sandbox
                self._stream = await ref.transport.open_stream(
                    "GET", _processes.process_route(ref, self.pid, "/stream"),
                    query={"follow": "true"}, timeout=ref.request_timeout,
                    sandbox_id=ref.sandbox_id)
            async for name, data in self._stream:
                for kind, value in self._out.apply(name, data):
                    await self._give(kind, value, on_stdout, on_stderr, on_pty)
                if name == "exit":
                    break
            if self._out.exit is None:
                self._error = self._out.ended_early(self._sandbox.sandbox_id)
            for kind, value in self._out.tails():
                await self._give(kind, value, on_stdout, on_stderr, on_pty)
        except asyncio.CancelledError:
            if not self._disconnected:
                raise
        except Exception as e:  # the stream broke, could not be opened, or a callback raised
            self._error = e
        finally:
            await self._close_stream()
            self._finish()

    async def _give(self, kind: str, value: Any, on_stdout: Any, on_stderr: Any,
                    on_pty: Any) -> None:
        for own in self._listeners:
            own.put_nowait((kind, value))
        if kind == "stdout":
            await deliver_lines(on_stdout, value)
        elif kind == "stderr":
            await deliver_lines(on_stderr, value)
        else:
            await call_back(on_pty, value)

    def _finish(self) -> None:
        for own in self._listeners:
            own.put_nowait(None)

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.shield(stream.aclose())


class AsyncPtyHandle(AsyncCommandHandle):
    """A process on a pseudo-terminal, from `await sbx.pty.create()` or `sbx.pty.connect()`:
    its output is bytes (`on_data`, the `pty` item of a loop); `stdout` holds it as text."""

    def _is_pty(self) -> bool:
        return True

    async def send_stdin(self, data: Union[str, bytes],
                         request_timeout: Optional[float] = None) -> None:
        """Bytes to the terminal, as typed: b"\\x03" is Ctrl-C, b"\\x04" Ctrl-D (EOF)."""
        await _processes.send_stdin(self._sandbox, self.pid, data, request_timeout)

    async def resize(self, size: PtySize, request_timeout: Optional[float] = None) -> None:
        await _processes.resize(self._sandbox, self.pid, size, request_timeout)
