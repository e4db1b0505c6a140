"""A process's output as its event stream reports it (docs/api.md, "Live output"): the captured
stdout and stderr, lost bytes, the exit event, and the CommandResult or exception they make.
No I/O and no locking: CommandHandle (threads) and AsyncCommandHandle (a task) feed it events
and hold their own locks. Internal."""
import base64
import codecs
from typing import Any, Callable, Dict, List, Optional, Tuple

from .exceptions import (CommandExitException, ConnectionException, SandboxException,
                         SandboxNotRunningException, TimeoutException)
from .models import CommandResult, exit_error

# A handle keeps at most this much of each stream (the daemon's max_output_bytes default), so a
# server watched for days does not fill the client's memory. Callbacks still get everything.
MAX_CAPTURED_BYTES = 8 << 20

OutputCallback = Callable[[str], Any]
PtyCallback = Callable[[bytes], Any]
Chunk = Tuple[Optional[str], Optional[str], Optional[bytes]]


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


Item = Tuple[str, Any]  # ("stdout"|"stderr", str) or ("pty", bytes)


class OutputState:
    """What one handle has received of a process's output."""

    def __init__(self, pid: Optional[int], what: str, is_pty: bool):
        self.pid = pid
        self.what = what or (f"process {pid}" if pid is not None else "command")
        self.is_pty = is_pty
        self.stdout = _Capture(MAX_CAPTURED_BYTES)
        self.stderr = _Capture(MAX_CAPTURED_BYTES)
        self.lost: Dict[str, int] = {}
        self.exit: Optional[Dict[str, Any]] = None

    def replay(self) -> List[Item]:
        """What a consumer that joins now gets first: everything captured so far."""
        items: List[Item] = []
        for kind, capture in (("stdout", self.stdout), ("stderr", self.stderr)):
            if not capture.data:
                continue
            if kind == "stdout" and self.is_pty:
                items.append(("pty", bytes(capture.data)))
            else:
                text = capture.text()
                if text:
                    items.append((kind, text))
        return items

    def apply(self, name: str, data: Dict[str, Any]) -> List[Item]:
        """Takes one event in; returns the items it gives consumers. After "exit", `exit` is
        set and the stream is over."""
        if name in ("stdout", "stderr", "pty"):
            chunk = _event_bytes(data)
            capture = self.stderr if name == "stderr" else self.stdout
            text = capture.add(chunk)
            if name == "pty":
                return [("pty", chunk)]
            return [(name, text)] if text else []
        if name == "lost":
            stream_name = str(data.get("stream") or "stdout")
            self.lost[stream_name] = self.lost.get(stream_name, 0) + int(data.get("bytes") or 0)
            capture = self.stderr if stream_name == "stderr" else self.stdout
            tail = capture.flush()  # the gap cuts any character in progress
            if tail and stream_name in ("stdout", "stderr"):
                return [(stream_name, tail)]
        elif name == "start":
            if self.pid is None and data.get("pid") is not None:
                self.pid = int(data["pid"])
                self.what = f"process {self.pid}"
        elif name == "exit":
            self.exit = data
        # Other events are newer than this SDK: ignored.
        return []

    def tails(self) -> List[Item]:
        """At the end: what incomplete characters left in the decoders become."""
        items: List[Item] = []
        for kind, capture in (("stdout", self.stdout), ("stderr", self.stderr)):
            tail = capture.flush()
            if tail and not self.is_pty:
                items.append((kind, tail))
        return items

    @property
    def exit_code(self) -> Optional[int]:
        return None if self.exit is None else self.exit.get("exit_code")

    @property
    def error(self) -> Optional[str]:
        exit_info = self.exit
        if exit_info is None:
            return None
        if exit_info.get("error"):
            return str(exit_info["error"])
        return f"killed by signal {exit_info['signal']}" if exit_info.get("signal") else None

    @property
    def lost_bytes(self) -> int:
        return sum(self.lost.values())

    def ended_early(self, sandbox_id: str) -> SandboxException:
        """The error of a stream that ended without an exit event (not by disconnect())."""
        return ConnectionException(
            f"the output stream of {self.what} ended before the process did: is declawd "
            "still running? (commands.connect(pid) attaches again)", sandbox_id=sandbox_id)

    def result(self, sandbox_id: str) -> CommandResult:
        """The CommandResult of the exit event; raises SandboxException after a disconnect,
        TimeoutException/SandboxNotRunningException for a command timeout or a dead sandbox.
        A non-zero exit is returned."""
        exit_info = self.exit
        if exit_info is None:
            raise SandboxException(
                f"disconnected from {self.what} before it ended: it keeps running; "
                f"commands.connect({self.pid}) attaches again", sandbox_id=sandbox_id)
        out, err = bytes(self.stdout.data), bytes(self.stderr.data)
        stdout = out.decode("utf-8", errors="replace")
        stderr = err.decode("utf-8", errors="replace")
        if exit_info.get("exit_code") is None:
            raise SandboxNotRunningException(
                f"{self.what} did not finish: {exit_info.get('error') or 'the sandbox ended'}",
                sandbox_id=sandbox_id, code="conflict")
        exit_code = int(exit_info["exit_code"])
        sig = exit_info.get("signal")
        oom_killed = bool(exit_info.get("oom_killed", False))  # if the daemon ever sends it
        if exit_info.get("timed_out"):
            raise TimeoutException(
                f"{self.what} ran past its timeout and was killed (give it a larger timeout, "
                "or timeout=0 for none)", stdout=stdout, stderr=stderr, exit_code=exit_code,
                sandbox_id=sandbox_id, code="timeout")
        return CommandResult(
            stdout=stdout, stderr=stderr, exit_code=exit_code,
            error=exit_error(sig, oom_killed), pid=self.pid, signal=sig,
            stdout_truncated=self.stdout.truncated, stderr_truncated=self.stderr.truncated,
            stdout_bytes=out, stderr_bytes=err, lost_bytes=self.lost_bytes,
            oom_killed=oom_killed)

    def checked(self, result: CommandResult, sandbox_id: str) -> CommandResult:
        """RESULT, or CommandExitException for a non-zero exit (as a handle's wait() does)."""
        if result.exit_code != 0:
            raise CommandExitException(
                f"{self.what} exited with code {result.exit_code}"
                + (f" ({result.error})" if result.error else "")
                + (f": {result.stderr.strip()[-500:]}" if result.stderr.strip() else ""),
                exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr,
                error=result.error, sandbox_id=sandbox_id)
        return result
