"""sbx.commands: running commands in a sandbox and controlling its processes
(/v1/sandboxes/{id}/commands...; docs/api.md, "Commands")."""
import math
import time
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _processes
from ._processes import Command, command_fields, describe_command
from ._sandbox_ref import SandboxRef, whole_seconds
from ._sse import EventStream
from .command_handle import CommandHandle, OutputCallback, deliver
from .exceptions import InvalidArgumentException, TimeoutException
from .models import CommandResult, ProcessInfo

DEFAULT_USER = "user"
# How much longer than a command's own timeout the SDK waits for the daemon's answer.
ANSWER_MARGIN_S = 30.0
# The longest wait the daemon accepts in one GET .../commands/{pid}/wait.
MAX_WAIT_S = 3600


class _DefaultSeconds(int):
    """The `timeout` a caller did not give: 60 for a foreground command, "none" for a
    background one (run() tells them apart by identity)."""

    def __repr__(self) -> str:
        return str(int(self))


DEFAULT_COMMAND_TIMEOUT = _DefaultSeconds(60)


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


def run_body(cmd: Command, background: bool, envs: Optional[Dict[str, str]], user: str,
             cwd: Optional[str], stdin: Any, timeout: Optional[float]) -> Dict[str, Any]:
    """The body of POST .../commands (and .../commands/stream) for commands.run()."""
    body: Dict[str, Any] = command_fields(cmd)
    body.update({"background": bool(background), "user": user})
    if envs:
        body["envs"] = dict(envs)
    if cwd:
        body["cwd"] = cwd
    text = _stdin_text(stdin)
    if text is not None:
        body["stdin"] = text
    # A server must not die after the foreground default of 60 s: unless the caller gave a
    # timeout, a background command gets the daemon's background default (none).
    if not background or timeout is not DEFAULT_COMMAND_TIMEOUT:
        body["timeout"] = whole_seconds(timeout)
    return body


def foreground_socket_timeout(ref: SandboxRef, body: Dict[str, Any],
                              request_timeout: Optional[float]) -> Any:
    """How long a foreground run() waits for its answer: the command's timeout and a margin,
    or none for a command without one, unless request_timeout says otherwise."""
    if request_timeout is not None:
        return request_timeout
    seconds = body["timeout"]
    return None if seconds == 0 else max(ref.request_timeout, seconds + ANSWER_MARGIN_S)


def timed_out(ref: SandboxRef, body: Dict[str, Any], stdout: str, stderr: str,
              exit_code: Optional[int]) -> TimeoutException:
    """The TimeoutException of a foreground command its `timeout` killed."""
    return TimeoutException(
        f"command timed out after {body['timeout']} s and was killed: "
        f"{describe_command(body)!r} (pass a larger timeout, or timeout=0 for none)",
        stdout=stdout, stderr=stderr, exit_code=exit_code, sandbox_id=ref.sandbox_id,
        code="timeout")


def is_command_timeout(error: TimeoutException) -> bool:
    """A handle's TimeoutException for the command's own timeout (not the socket's)."""
    return error.code == "timeout" and error.status is None


def foreground_result(ref: SandboxRef, body: Dict[str, Any],
                      data: Dict[str, Any]) -> CommandResult:
    """The CommandResult of a foreground POST .../commands answer; TimeoutException when the
    command's timeout killed it."""
    result = CommandResult.from_dict(data)
    if data.get("timed_out"):
        raise timed_out(ref, body, result.stdout, result.stderr, result.exit_code)
    return result


def wait_deadline(timeout: Optional[float]) -> Optional[float]:
    return None if not timeout else time.monotonic() + timeout


def wait_step_timeouts(ref: SandboxRef, deadline: Optional[float],
                       request_timeout: Optional[float]) -> Tuple[int, Any]:
    """commands.wait(): the seconds of the next GET .../wait and its socket timeout."""
    step = MAX_WAIT_S
    if deadline is not None:
        step = min(MAX_WAIT_S, max(1, int(math.ceil(deadline - time.monotonic()))))
    socket_timeout = (request_timeout if request_timeout is not None
                      else max(ref.request_timeout, step + ANSWER_MARGIN_S))
    return step, socket_timeout


def wait_goes_on(error: TimeoutException, deadline: Optional[float]) -> bool:
    """After a GET .../wait timed out: whether to ask again (the daemon's 408, time left)."""
    return error.status == 408 and (deadline is None or time.monotonic() < deadline)


class Commands:
    """Runs commands inside one sandbox and controls its processes. Get it as `sbx.commands`."""

    def __init__(self, sandbox: SandboxRef):
        self._sandbox = sandbox

    def run(self, cmd: Command, background: bool = False, envs: Optional[Dict[str, str]] = None,
            user: str = DEFAULT_USER, cwd: Optional[str] = None,
            on_stdout: Optional[OutputCallback] = None,
            on_stderr: Optional[OutputCallback] = None,
            stdin: Union[str, bytes, bool, None] = None,
            timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
            request_timeout: Optional[float] = None) -> Union[CommandResult, CommandHandle]:
        """Runs CMD: a str with `/bin/bash -l -c CMD`; a list of str (`["prog", "arg"]`)
        as that program and its arguments, without a shell, the program found in PATH (a
        missing one exits 127, as in a shell).

        Foreground (the default): waits for the end and returns a CommandResult; a non-zero
        exit code is returned, not raised (`result.check()` raises CommandExitException).
        `on_stdout`/`on_stderr` are called as the output arrives, line by line (the command
        then runs over POST .../commands/stream). `timeout` in seconds (default 60; 0 or None:
        no limit but the sandbox's own): past it the command is killed and TimeoutException
        is raised, carrying the output so far.

        `background=True`: returns a CommandHandle as soon as the process runs; it outlives
        this call and the connection. Its timeout is none unless `timeout` is given. With
        `on_stdout`/`on_stderr`, a daemon thread calls them as output arrives.

        `stdin` (str or UTF-8 bytes) is written to the command's stdin. A foreground
        command's stdin is then closed; a background one's stays open for send_stdin().
        """
        body = run_body(cmd, background, envs, user, cwd, stdin, timeout)
        if background:
            return self._start_background(body, on_stdout, on_stderr, request_timeout)
        if on_stdout is not None or on_stderr is not None:
            return self._run_streamed(body, on_stdout, on_stderr, request_timeout)
        ref = self._sandbox
        data = _processes.start(ref, "/commands", body,
                                foreground_socket_timeout(ref, body, request_timeout))
        return foreground_result(ref, body, data)

    def _run_streamed(self, body: Dict[str, Any],
                      on_stdout: Optional[OutputCallback], on_stderr: Optional[OutputCallback],
                      request_timeout: Optional[float]) -> CommandResult:
        """A foreground command over POST .../commands/stream, its callbacks called in this
        thread as the events arrive."""
        sbx = self._sandbox
        stream = EventStream.open(sbx.transport, "POST", sbx.route + "/commands/stream",
                                  payload=body, timeout=sbx.timeout(request_timeout),
                                  sandbox_id=sbx.sandbox_id)
        if request_timeout is not None:
            stream.set_read_timeout(request_timeout)
        handle = CommandHandle(sbx, None, stream=stream, what=f"command {describe_command(body)!r}")
        try:
            for kind, value in handle._consume():
                deliver(on_stdout if kind == "stdout" else on_stderr, value)
        except BaseException:
            handle.disconnect()  # a callback raised, or Ctrl-C: the command runs on
            raise
        try:
            return handle._result()
        except TimeoutException as e:
            if not is_command_timeout(e):
                raise  # the socket, not the command, timed out
            raise timed_out(sbx, body, e.stdout, e.stderr, e.exit_code) from None

    def _start_background(self, body: Dict[str, Any], on_stdout: Optional[OutputCallback],
                          on_stderr: Optional[OutputCallback],
                          request_timeout: Optional[float]) -> CommandHandle:
        ref = self._sandbox
        pid = _processes.start(ref, "/commands", body, ref.timeout(request_timeout))
        handle = CommandHandle(ref, pid)
        if on_stdout is not None or on_stderr is not None:
            handle._start_callbacks(on_stdout=on_stdout, on_stderr=on_stderr)
        return handle

    # -- processes ---------------------------------------------------------------------------

    def list(self, request_timeout: Optional[float] = None) -> List[ProcessInfo]:
        """The sandbox's API processes: the running ones and the most recent finished ones
        (see `running`), oldest first."""
        return _processes.list_processes(self._sandbox, request_timeout)

    def get(self, pid: int, request_timeout: Optional[float] = None) -> ProcessInfo:
        """One process's ProcessInfo; NotFoundException for an unknown pid."""
        return _processes.get(self._sandbox, pid, request_timeout)

    def wait(self, pid: int, timeout: Optional[float] = 60,
             request_timeout: Optional[float] = None) -> ProcessInfo:
        """Waits until the process has finished and returns its ProcessInfo (a non-zero exit
        is not raised; no output is read). TimeoutException if it still runs after `timeout`
        seconds (0 or None: wait as long as it takes)."""
        ref = self._sandbox
        deadline = wait_deadline(timeout)
        while True:
            step, socket_timeout = wait_step_timeouts(ref, deadline, request_timeout)
            try:
                return _processes.wait_step(ref, pid, step, socket_timeout)
            except TimeoutException as e:
                if not wait_goes_on(e, deadline):
                    raise

    def connect(self, pid: int, on_stdout: Optional[OutputCallback] = None,
                on_stderr: Optional[OutputCallback] = None, timeout: Optional[float] = None,
                request_timeout: Optional[float] = None) -> CommandHandle:
        """A CommandHandle attached to a running (or recently finished) process: it receives
        what the daemon still buffers of its output, then live output. With callbacks, a
        daemon thread calls them as output arrives. NotFoundException for an unknown pid.
        `timeout` is accepted for the hosted SDK's signature and ignored: the stream lasts
        until the process ends or disconnect()."""
        return _processes.attach(self._sandbox, CommandHandle, pid, request_timeout,
                                 on_stdout=on_stdout, on_stderr=on_stderr)

    def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        """SIGKILL to the process's group: True (also when it had already finished), False
        when the daemon does not know the pid."""
        return _processes.kill(self._sandbox, pid, request_timeout)

    def signal(self, pid: int, signal: Union[int, str],
               request_timeout: Optional[float] = None) -> None:
        """Sends SIGNAL to the process's group: a number, a signal.Signals, or a name with or
        without "SIG" ("TERM", "SIGINT"). ConflictException when it has finished."""
        _processes.signal(self._sandbox, pid, signal, request_timeout)

    def send_stdin(self, pid: int, data: Union[str, bytes],
                   request_timeout: Optional[float] = None) -> None:
        """Writes DATA (str, or bytes sent exactly) to the process's stdin. ConflictException
        when its stdin is closed or it has finished; RateLimitException when more than the
        daemon's max_stdin_buffer_bytes is waiting unread."""
        _processes.send_stdin(self._sandbox, pid, data, request_timeout)

    def close_stdin(self, pid: int, request_timeout: Optional[float] = None) -> None:
        """Closes the process's stdin: it reads EOF once what was sent has been read."""
        _processes.close_stdin(self._sandbox, pid, request_timeout)
