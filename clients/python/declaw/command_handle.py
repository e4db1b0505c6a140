"""CommandHandle and PtyHandle: a process started through the API, its live output and its
controls (docs/api.md, "Processes").

Output comes from the process's event stream (GET .../commands/{pid}/stream), opened when first
needed, on a connection of its own. One thread at a time reads it. Every consumer (wait(), a
`for` loop over the handle, the thread behind on_stdout/on_stderr callbacks) gets each chunk
through a queue of its own, after a replay of what the handle captured before it joined, so
each sees the output from the start. The reader is whichever consumer finds its queue empty
and the read lock free; one that stops early (its callback raised, its loop was left) wakes
the others so that one of them reads on. Consumers never poll.
"""
import queue
import threading
from typing import Any, Iterator, List, Optional, Tuple, Union

from . import _processes
from ._output import Chunk, OutputCallback, OutputState, PtyCallback, deliver
from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .models import CommandResult, ProcessInfo, PtySize

_END = object()   # the stream is over: the handle has its result or its error
_WAKE = object()  # the reading consumer left: someone else should read


class CommandHandle:
    """A command running in the sandbox: from `commands.run(..., background=True)` or
    `commands.connect(pid)`.

    `wait()` follows its output until it ends; `for stdout, stderr, pty in handle:` yields the
    chunks as they come (one of the three is set). Both start from the beginning of what the
    daemon still buffers for the process. `stdout`, `stderr`, `exit_code` and `lost_bytes`
    reflect what this handle has received so far. `kill()`, `send_stdin()`, `close_stdin()`,
    `signal()` act on the process; `disconnect()` stops receiving and leaves it running.
    """

    def __init__(self, sandbox: SandboxRef, pid: Optional[int], *,
                 stream: Optional[EventStream] = None, what: str = ""):
        self._sandbox = sandbox
        self._out = OutputState(pid, what, self._is_pty())
        self._stream = stream
        self._lock = threading.RLock()       # state, captures and consumer queues
        self._read_lock = threading.Lock()   # held by the one consumer reading the stream
        self._queues: List[Any] = []
        self._finished = False
        self._error: Optional[BaseException] = None
        self._disconnected = False
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pid={self.pid}, sandbox_id={self._sandbox.sandbox_id!r})"

    # -- what is known so far ----------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The process id inside the sandbox."""
        return self._out.pid

    @property
    def _pid(self) -> Optional[int]:
        return self._out.pid

    @property
    def stdout(self) -> str:
        """The stdout received so far (for a PTY: the terminal's output)."""
        with self._lock:
            return self._out.stdout.text()

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._out.stderr.text()

    @property
    def exit_code(self) -> Optional[int]:
        """The exit code once the end was received, else None."""
        return self._out.exit_code

    @property
    def error(self) -> Optional[str]:
        """Why the process did not exit normally, once known ("killed by signal 9")."""
        return self._out.error

    @property
    def lost_bytes(self) -> int:
        """Output the daemon dropped because this handle read slower than the process wrote
        (beyond its ring buffer, `output_buffer_bytes`): the stream's `lost` events, summed."""
        with self._lock:
            return self._out.lost_bytes

    # -- controls ----------------------------------------------------------------------------

    def kill(self, request_timeout: Optional[float] = None) -> bool:
        """SIGKILL to the process group. True, also when it had already finished; False when
        the daemon does not know the pid."""
        return _processes.kill(self._sandbox, self._pid, request_timeout)

    def send_stdin(self, data: Union[str, bytes],
                   request_timeout: Optional[float] = None) -> None:
        _processes.send_stdin(self._sandbox, self._pid, data, request_timeout)

    def close_stdin(self, request_timeout: Optional[float] = None) -> None:
        """The process reads EOF once what was sent has been read."""
        _processes.close_stdin(self._sandbox, self._pid, request_timeout)

    def signal(self, signal: Union[int, str],
               request_timeout: Optional[float] = None) -> None:
        """Sends a signal (number, signal.Signals, or name such as "TERM") to its group."""
        _processes.signal(self._sandbox, self._pid, signal, request_timeout)

    def info(self, request_timeout: Optional[float] = None) -> ProcessInfo:
        """The daemon's ProcessInfo of the process (running, exit code, ...)."""
        return _processes.get(self._sandbox, self._pid, request_timeout)

    def disconnect(self) -> None:
        """Stops receiving output and closes the stream's connection. The process runs on;
        `commands.connect(pid)` attaches again. wait() then raises, loops end."""
        with self._lock:
            self._disconnected = True
            stream = self._stream
        if stream is not None:
            stream.shutdown()
        if self._read_lock.acquire(blocking=False):
            try:
                self._end()
            finally:
                self._read_lock.release()
        # else the reading consumer sees the end of its stream and ends the handle.

    # -- following the output ----------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        """(stdout, stderr, pty) chunks as they arrive, one of them set: text for stdout and
        stderr, bytes for a PTY. Ends when the process ends or disconnect() is called; raises
        the error that cut the stream."""
        for kind, value in self._consume():
            if kind == "stdout":
                yield value, None, None
            elif kind == "stderr":
                yield None, value, None
            else:
                yield None, None, value
        if self._error is not None:
            raise self._error

    def wait(self, on_pty: Optional[PtyCallback] = None,
             on_stdout: Optional[OutputCallback] = None,
             on_stderr: Optional[OutputCallback] = None) -> CommandResult:
        """Follows the output until the process ends and returns its CommandResult. The
        callbacks get the output from the start as it arrives (stdout/stderr line by line,
        PTY output as bytes). Raises CommandExitException for a non-zero exit,
        TimeoutException when its timeout killed it, SandboxNotRunningException when the
        sandbox ended under it, and SandboxException after disconnect()."""
        for kind, value in self._consume():
            if kind == "stdout":
                deliver(on_stdout, value)
            elif kind == "stderr":
                deliver(on_stderr, value)
            elif on_pty is not None:
                on_pty(value)
        return self._out.checked(self._result(), self._sandbox.sandbox_id)

    def _start_callbacks(self, on_stdout: Optional[OutputCallback] = None,
                         on_stderr: Optional[OutputCallback] = None,
                         on_pty: Optional[PtyCallback] = None) -> None:
        """Calls the callbacks from a daemon thread as output arrives, until the end or
        disconnect(). An exception in a callback ends that thread (with a traceback on
        stderr); wait() and loops keep working."""

        def follow() -> None:
            for kind, value in self._consume():
                if kind == "stdout":
                    deliver(on_stdout, value)
                elif kind == "stderr":
                    deliver(on_stderr, value)
                elif on_pty is not None:
                    on_pty(value)

        self._thread = threading.Thread(target=follow, daemon=True,
                                        name=f"declaw-output-{self._pid}")
        self._thread.start()

    def _consume(self) -> Iterator[Tuple[str, Any]]:
        """("stdout"|"stderr", str) and ("pty", bytes) items: the replay, then live ones."""
        own: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        with self._lock:
            for item in self._out.replay():
                own.put(item)
            if self._finished:
                own.put(_END)
            self._queues.append(own)
        try:
            while True:
                try:
                    item = own.get_nowait()
                except queue.Empty:
                    if self._read_lock.acquire(blocking=False):
                        try:
                            if own.empty():
                                self._read_one()
                        finally:
                            self._read_lock.release()
                        continue
                    item = own.get()  # another consumer reads; it wakes us if it stops
                if item is _WAKE:
                    continue
                if item is _END:
                    return
                yield item
        finally:
            with self._lock:
                self._queues.remove(own)
                others = list(self._queues)
            for other in others:
                other.put(_WAKE)

    def _is_pty(self) -> bool:
        return False

    # -- reading the stream (with _read_lock held) --------------------------------------------

    def _open_stream(self) -> EventStream:
        if self._stream is None:
            sbx = self._sandbox
            stream = EventStream.open(
                sbx.transport, "GET", _processes.process_route(sbx, self._pid, "/stream"),
                query={"follow": "true"}, timeout=sbx.request_timeout,
                sandbox_id=sbx.sandbox_id)
            with self._lock:
                self._stream = stream
                if self._disconnected:
                    stream.shutdown()
        return self._stream

    def _read_one(self) -> None:
        if self._finished:
            return
        try:
            event = self._open_stream().next_event()
        except Exception as e:  # the stream broke, or could not be opened (404, ...)
            if not self._disconnected:
                self._end(e)
                return
            event = None
        if event is None:
            self._end()
            return
        name, data = event
        with self._lock:
            for item in self._out.apply(name, data):
                self._broadcast(item)
        if name == "exit":
            self._end()

    def _broadcast(self, item: Any) -> None:
        for own in self._queues:
            own.put(item)

    def _end(self, error: Optional[BaseException] = None) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if error is None and self._out.exit is None and not self._disconnected:
                error = self._out.ended_early(self._sandbox.sandbox_id)
            self._error = error
            for item in self._out.tails():
                self._broadcast(item)
            self._broadcast(_END)
            stream = self._stream
        if stream is not None:
            stream.close()

    # -- the result --------------------------------------------------------------------------

    def _result(self) -> CommandResult:
        """The CommandResult of the exit event; raises what kept it from coming, or
        TimeoutException/SandboxNotRunningException for a command timeout or a dead sandbox.
        A non-zero exit is returned."""
        if self._error is not None:
            raise self._error
        with self._lock:
            return self._out.result(self._sandbox.sandbox_id)


class PtyHandle(CommandHandle):
    """A process on a pseudo-terminal, from `sbx.pty.create()` or `sbx.pty.connect()`. Its
    output is a byte stream (a terminal merges stdout and stderr): `on_data`, wait(on_pty=...)
    and loops get bytes; `stdout` and the result's `stdout` hold it as text."""

    def _is_pty(self) -> bool:
        return True

    def send_stdin(self, data: Union[str, bytes],
                   request_timeout: Optional[float] = None) -> None:
        """Bytes to the terminal, as typed: b"\\x03" is Ctrl-C, b"\\x04" Ctrl-D (EOF)."""
        _processes.send_stdin(self._sandbox, self._pid, data, request_timeout)

    def resize(self, size: PtySize, request_timeout: Optional[float] = None) -> None:
        """New rows and cols; the process group gets SIGWINCH."""
        _processes.resize(self._sandbox, self._pid, size, request_timeout)
