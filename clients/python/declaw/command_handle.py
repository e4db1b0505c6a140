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
import base64
import codecs
import queue
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import _processes
from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .exceptions import (CommandExitException, ConnectionException, SandboxException,
                         SandboxNotRunningException, TimeoutException)
from .models import CommandResult, ProcessInfo, PtySize, exit_error

# A handle keeps at most this much of each stream (the daemon's max_output_bytes default), so a
# server watched for days does not fill the client's memory. Callbacks still get everything.
MAX_CAPTURED_BYTES = 8 << 20

OutputCallback = Callable[[str], Any]
PtyCallback = Callable[[bytes], Any]
Chunk = Tuple[Optional[str], Optional[str], Optional[bytes]]

_END = object()   # the stream is over: the handle has its result or its error
_WAKE = object()  # the reading consumer left: someone else should read


def _lines(text: str) -> List[str]:
    """TEXT cut after each "\\n" (the last piece may lack one). Only "\\n" separates lines:
    "\\r" and the other characters str.splitlines() knows stay in the text."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def deliver(callback: Optional[OutputCallback], text: str) -> None:
    """Calls CALLBACK once per line of TEXT (a piece without "\\n" is delivered as it is)."""
    if callback is None:
        return
    for line in _lines(text):
        callback(line)


def _event_bytes(data: Dict[str, Any]) -> bytes:
    encoded = data.get("data_base64")
    if encoded is not None:
        return base64.b64decode(encoded)
    return str(data.get("data") or "").encode("utf-8")


class _Capture:
    """One stream's bytes, kept up to a cap, and the decoder that turns live chunks into text
    without splitting a UTF-8 character across chunks."""

    def __init__(self, limit: int):
        self.data = bytearray()
        self.limit = limit
        self.truncated = False
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, chunk: bytes) -> str:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk_kept = chunk[:max(room, 0)]
        else:
            chunk_kept = chunk
        self.data += chunk_kept
        return self.decoder.decode(chunk)

    def flush(self) -> str:
        """What an incomplete character left in the decoder becomes (U+FFFD), at a gap or
        at the end."""
        return self.decoder.decode(b"", final=True)

    def text(self) -> str:
        """The captured text, less the bytes of a character still incomplete."""
        pending = len(self.decoder.getstate()[0])
        end = len(self.data) if self.truncated else len(self.data) - pending
        return self.data[:end].decode("utf-8", errors="replace")


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
        self._pid = pid
        self._what = what or (f"process {pid}" if pid is not None else "command")
        self._stream = stream
        self._lock = threading.RLock()       # state, captures and consumer queues
        self._read_lock = threading.Lock()   # held by the one consumer reading the stream
        self._queues: List[Any] = []
        self._stdout = _Capture(MAX_CAPTURED_BYTES)
        self._stderr = _Capture(MAX_CAPTURED_BYTES)
        self._lost: Dict[str, int] = {}
        self._exit: Optional[Dict[str, Any]] = None
        self._finished = False
        self._error: Optional[BaseException] = None
        self._disconnected = False
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pid={self._pid}, sandbox_id={self._sandbox.sandbox_id!r})"

    # -- what is known so far ----------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The process id inside the sandbox."""
        return self._pid

    @property
    def stdout(self) -> str:
        """The stdout received so far (for a PTY: the terminal's output)."""
        with self._lock:
            return self._stdout.text()

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._stderr.text()

    @property
    def exit_code(self) -> Optional[int]:
        """The exit code once the end was received, else None."""
        exit_info = self._exit
        return None if exit_info is None else exit_info.get("exit_code")

    @property
    def error(self) -> Optional[str]:
        """Why the process did not exit normally, once known ("killed by signal 9")."""
        exit_info = self._exit
        if exit_info is None:
            return None
        if exit_info.get("error"):
            return str(exit_info["error"])
        return f"killed by signal {exit_info['signal']}" if exit_info.get("signal") else None

    @property
    def lost_bytes(self) -> int:
        """Output the daemon dropped because this handle read slower than the process wrote
        (beyond its ring buffer, `output_buffer_bytes`): the stream's `lost` events, summed."""
        with self._lock:
            return sum(self._lost.values())

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
        result = self._result()
        if result.exit_code != 0:
            raise CommandExitException(
                f"{self._what} exited with code {result.exit_code}"
                + (f" ({result.error})" if result.error else "")
                + (f": {result.stderr.strip()[-500:]}" if result.stderr.strip() else ""),
                exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr,
                error=result.error, sandbox_id=self._sandbox.sandbox_id)
        return result

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
            for kind, capture in (("stdout", self._stdout), ("stderr", self._stderr)):
                if not capture.data:
                    continue
                if kind == "stdout" and self._is_pty():
                    own.put(("pty", bytes(capture.data)))
                else:
                    text = capture.text()
                    if text:
                        own.put((kind, text))
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
        if name in ("stdout", "stderr", "pty"):
            chunk = _event_bytes(data)
            with self._lock:
                capture = self._stderr if name == "stderr" else self._stdout
                text = capture.add(chunk)
                if name == "pty":
                    self._broadcast(("pty", chunk))
                elif text:
                    self._broadcast((name, text))
        elif name == "lost":
            stream_name = str(data.get("stream") or "stdout")
            with self._lock:
                self._lost[stream_name] = (self._lost.get(stream_name, 0)
                                           + int(data.get("bytes") or 0))
                capture = self._stderr if stream_name == "stderr" else self._stdout
                tail = capture.flush()  # the gap cuts any character in progress
                if tail and stream_name in ("stdout", "stderr"):
                    self._broadcast((stream_name, tail))
        elif name == "start":
            if self._pid is None and data.get("pid") is not None:
                self._pid = int(data["pid"])
                self._what = f"process {self._pid}"
        elif name == "exit":
            self._exit = data
            self._end()
        # Other events are newer than this SDK: ignored.

    def _broadcast(self, item: Any) -> None:
        for own in self._queues:
            own.put(item)

    def _end(self, error: Optional[BaseException] = None) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if error is None and self._exit is None and not self._disconnected:
                error = ConnectionException(
                    f"the output stream of {self._what} ended before the process did: is "
                    "declawd still running? (commands.connect(pid) attaches again)",
                    sandbox_id=self._sandbox.sandbox_id)
            self._error = error
            for kind, capture in (("stdout", self._stdout), ("stderr", self._stderr)):
                tail = capture.flush()
                if tail and not self._is_pty():
                    self._broadcast((kind, tail))
            self._broadcast(_END)
            stream = self._stream
        if stream is not None:
            stream.close()

    # -- the result --------------------------------------------------------------------------

    def _result(self) -> CommandResult:
        """The CommandResult of the exit event; raises what kept it from coming, or
        TimeoutException/SandboxNotRunningException for a command timeout or a dead sandbox.
        A non-zero exit is returned."""
        sandbox_id = self._sandbox.sandbox_id
        if self._error is not None:
            raise self._error
        exit_info = self._exit
        if exit_info is None:
            raise SandboxException(
                f"disconnected from {self._what} before it ended: it keeps running; "
                f"commands.connect({self._pid}) attaches again", sandbox_id=sandbox_id)
        with self._lock:
            out, err = bytes(self._stdout.data), bytes(self._stderr.data)
            stdout_truncated, stderr_truncated = self._stdout.truncated, self._stderr.truncated
            lost = sum(self._lost.values())
        stdout = out.decode("utf-8", errors="replace")
        stderr = err.decode("utf-8", errors="replace")
        if exit_info.get("exit_code") is None:
            raise SandboxNotRunningException(
                f"{self._what} did not finish: {exit_info.get('error') or 'the sandbox ended'}",
                sandbox_id=sandbox_id, code="conflict")
        exit_code = int(exit_info["exit_code"])
        sig = exit_info.get("signal")
        oom_killed = bool(exit_info.get("oom_killed", False))  # if the daemon ever sends it
        if exit_info.get("timed_out"):
            raise TimeoutException(
                f"{self._what} ran past its timeout and was killed (give it a larger timeout, "
                "or timeout=0 for none)", stdout=stdout, stderr=stderr, exit_code=exit_code,
                sandbox_id=sandbox_id, code="timeout")
        return CommandResult(
            stdout=stdout, stderr=stderr, exit_code=exit_code,
            error=exit_error(sig, oom_killed), pid=self._pid, signal=sig,
            stdout_truncated=stdout_truncated, stderr_truncated=stderr_truncated,
            stdout_bytes=out, stderr_bytes=err, lost_bytes=lost, oom_killed=oom_killed)


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
