"""sbx.commands: running commands in a sandbox (POST /v1/sandboxes/{id}/commands)."""
import math
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from .exceptions import InvalidArgumentException, NotImplementedException, TimeoutException
from .models import CommandResult

if TYPE_CHECKING:
    from .sandbox import Sandbox

DEFAULT_USER = "user"
# How much longer than a command's own timeout the SDK waits for the daemon's answer.
ANSWER_MARGIN_S = 30.0

OutputCallback = Callable[[str], Any]


def _lines(text: str) -> List[str]:
    """TEXT cut after each "\\n" (the last piece may lack one). Only "\\n" separates lines:
    "\\r" and the other characters str.splitlines() knows stay in the text."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def _deliver(callback: Optional[OutputCallback], text: str) -> None:
    if callback is None:
        return
    for line in _lines(text):
        callback(line)


def _stdin_text(stdin: Any) -> Optional[str]:
    """The text to write to the command's stdin. The hosted SDK's `stdin` is a bool (keep a
    pipe open for send_stdin()); declaw takes the data itself. A bool sends nothing."""
    if stdin is None or isinstance(stdin, bool):
        return None
    if isinstance(stdin, str):
        return stdin
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        try:
            return bytes(stdin).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentException(
                "stdin must be UTF-8 text: the daemon's JSON API cannot carry other bytes yet "
                "(write them to a file with files.write() and redirect it: 'cmd < file')"
            ) from None
    raise TypeError(f"stdin must be str or bytes, not {type(stdin).__name__}")


def _whole_seconds(timeout: Optional[float]) -> int:
    """The API takes whole seconds; 0 = no limit. 0.5 s becomes 1 s, not "no limit"."""
    if timeout is None:
        return 0
    if timeout < 0:
        raise InvalidArgumentException(f"timeout must be >= 0 seconds, not {timeout}")
    return int(math.ceil(timeout))


class Commands:
    """Runs commands inside one sandbox. Get it as `sbx.commands`."""

    def __init__(self, sandbox: "Sandbox"):
        self._sandbox = sandbox

    def run(self, cmd: str, background: bool = False, envs: Optional[Dict[str, str]] = None,
            user: str = DEFAULT_USER, cwd: Optional[str] = None,
            on_stdout: Optional[OutputCallback] = None,
            on_stderr: Optional[OutputCallback] = None,
            stdin: Union[str, bytes, bool, None] = None, timeout: Optional[float] = 60,
            request_timeout: Optional[float] = None) -> CommandResult:
        """Runs CMD with `/bin/bash -l -c CMD` and waits for it to end.

        Returns a CommandResult; a non-zero exit code is returned, not raised (call
        `result.check()` to raise CommandExitException). `timeout` is in seconds (0 or None: no
        limit but the sandbox's own); when it passes the command is killed and
        TimeoutException is raised, carrying the output so far. `on_stdout`/`on_stderr` get the
        output line by line once the command has finished (declawd does not stream yet; they
        will fire as output arrives when it does). `stdin` (str or UTF-8 bytes) is written to
        the command's stdin, which is then closed. `background=True` is not available yet
        (NotImplementedException).
        """
        sbx = self._sandbox
        seconds = _whole_seconds(timeout)
        body: Dict[str, Any] = {"cmd": cmd, "background": bool(background), "user": user,
                                "timeout": seconds}
        if envs:
            body["envs"] = dict(envs)
        if cwd:
            body["cwd"] = cwd
        text = _stdin_text(stdin)
        if text is not None:
            body["stdin"] = text
        if request_timeout is None:
            request_timeout = None if seconds == 0 else max(sbx.request_timeout,
                                                             seconds + ANSWER_MARGIN_S)
        data = sbx._transport.json("POST", sbx._route + "/commands", body,
                                   timeout=request_timeout, sandbox_id=sbx.sandbox_id)
        if background:
            raise NotImplementedException(
                "background commands are not supported by this SDK version yet",
                sandbox_id=sbx.sandbox_id)
        result = CommandResult.from_dict(data)
        _deliver(on_stdout, result.stdout)
        _deliver(on_stderr, result.stderr)
        if data.get("timed_out"):
            raise TimeoutException(
                f"command timed out after {seconds} s and was killed: {cmd[:80]!r} (pass a "
                "larger timeout, or timeout=0 for none)", stdout=result.stdout,
                stderr=result.stderr, exit_code=result.exit_code, sandbox_id=sbx.sandbox_id,
                code="timeout")
        return result

    def list(self, request_timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """The sandbox's running commands. Not available in declawd yet
        (NotImplementedException)."""
        sbx = self._sandbox
        return sbx._transport.json("GET", sbx._route + "/commands",
                                   timeout=sbx._timeout(request_timeout),
                                   sandbox_id=sbx.sandbox_id)

    def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        """Kills a background command. Not available in declawd yet (NotImplementedException)."""
        sbx = self._sandbox
        sbx._transport.request("DELETE", f"{sbx._route}/commands/{int(pid)}",
                               timeout=sbx._timeout(request_timeout), sandbox_id=sbx.sandbox_id)
        return True

    def send_stdin(self, pid: int, data: str, request_timeout: Optional[float] = None) -> None:
        """Writes to a background command's stdin. Not available in declawd yet
        (NotImplementedException)."""
        sbx = self._sandbox
        sbx._transport.json("POST", f"{sbx._route}/commands/{int(pid)}/stdin",
                            {"data": data}, timeout=sbx._timeout(request_timeout),
                            sandbox_id=sbx.sandbox_id)
