"""run_code's logic shared by Sandbox and AsyncSandbox (code_interpreter.py and
code_interpreter_async.py do the I/O): the bridge program and where it goes in the sandbox,
its command line, the JSON lines of its protocol (_kernel_bridge.py's docstring), and the
Execution its messages build. No I/O here. Internal."""
import codecs
import hashlib
import json
import os
import shlex
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

from ._output import _event_bytes
from .code_models import Context, Execution, ExecutionError, OutputMessage, Result
from .exceptions import (ConnectionException, InvalidArgumentException, NotImplementedException,
                         SandboxException, SandboxNotRunningException, TimeoutException)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernel_bridge.py"),
          encoding="utf-8") as _source:
    BRIDGE_SOURCE = _source.read()
_BRIDGE_DIGEST = hashlib.sha256(BRIDGE_SOURCE.encode("utf-8")).hexdigest()[:16]
# Root-owned and named by content, so a sandbox's code cannot swap it under a later start, and
# SDK versions with different bridges do not overwrite each other's.
BRIDGE_PATH = f"/opt/declaw/kernel_bridge-{_BRIDGE_DIGEST}.py"
# Where it goes when the sandbox refuses root (written as the sandbox user).
FALLBACK_BRIDGE_PATH = f"/tmp/.declaw-kernel_bridge-{_BRIDGE_DIGEST}.py"
PYTHON = "/usr/bin/python3"
# The bridges' private directories (ipc sockets, spilled messages, the kernel's log).
KERNELS_DIR = "/tmp/.declaw-kernels"
KERNEL_USER = "user"
DEFAULT_CWD = "/home/user"
# E2B's default execution timeout, in seconds (timeout=0 or None: none).
DEFAULT_TIMEOUT = 300.0
# How long a new kernel may take to answer (IPython's start, a cold page cache).
START_TIMEOUT_S = 90.0
# How much longer than the execution's timeout the SDK waits for the bridge's verdict: the
# bridge's interrupt grace (5 s) and a restart.
TIMEOUT_MARGIN_S = 75.0
# The daemon sends a keep-alive every 15 s: a stream silent for longer has lost the daemon.
STREAM_SILENCE_S = 60.0
LANGUAGES = {"python": "python", "python3": "python", "py": "python", "ipython": "python"}
PACKAGES = "python3-ipykernel python3-jupyter-client"


def normalize_language(language: Optional[str], context: Any) -> Tuple[str, str]:
    """(context id, language) of a run_code() call: CONTEXT's, or the default context of
    LANGUAGE (Python when neither is given)."""
    if language and context is not None:
        raise InvalidArgumentException(
            "You can provide context or language, but not both at the same time.")
    if context is not None:
        context_id = context.id if isinstance(context, Context) else str(context)
        return context_id, getattr(context, "language", "python")
    lang = check_language(language)
    return f"default-{lang}", lang


def check_language(language: Optional[str]) -> str:
    key = (language or "python").strip().lower()
    if key not in LANGUAGES:
        raise NotImplementedException(
            f"run_code runs Python only (an IPython kernel inside the sandbox), not "
            f"{language!r}: run other languages with sbx.commands.run()")
    return LANGUAGES[key]


def new_context_id() -> str:
    return str(uuid.uuid4())


def context_dir(context_id: str) -> str:
    return f"{KERNELS_DIR}/{context_id}"


def bridge_argv(bridge_path: str, context: Context) -> List[str]:
    return [PYTHON, bridge_path, "--context", context.id, "--language", context.language,
            "--cwd", context.cwd, "--dir", context_dir(context.id)]


def context_of_process(argv: Optional[List[str]], cmd: str) -> Optional[Context]:
    """The Context of a running process when it is a bridge (for list_code_contexts), else
    None."""
    args = list(argv) if argv else _split(cmd)
    # kernel_bridge-<digest>.py, or at the /tmp fallback .declaw-kernel_bridge-<digest>.py.
    name = os.path.basename(args[1]) if len(args) >= 2 else ""
    if not name.startswith(("kernel_bridge-", ".declaw-kernel_bridge-")):
        return None
    values = dict(zip(args[2::2], args[3::2]))
    if "--context" not in values:
        return None
    return Context(id=values["--context"], language=values.get("--language", "python"),
                   cwd=values.get("--cwd", DEFAULT_CWD))


def _split(cmd: str) -> List[str]:
    try:
        return shlex.split(cmd)
    except ValueError:
        return []


def execute_line(request_id: str, code: str, timeout: Optional[float],
                 envs: Optional[Dict[str, str]]) -> str:
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    request: Dict[str, Any] = {"op": "execute", "id": request_id, "code": code,
                               "timeout": timeout}
    if envs:
        request["envs"] = {str(k): str(v) for k, v in envs.items()}
    return json.dumps(request) + "\n"


INTERRUPT_LINE = json.dumps({"op": "interrupt"}) + "\n"


def restart_line(request_id: str) -> str:
    return json.dumps({"op": "restart", "id": request_id}) + "\n"


def execution_timeout(timeout: Optional[float]) -> Optional[float]:
    """E2B's rule: None means the default (300 s), 0 means none."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if timeout < 0:
        raise InvalidArgumentException(f"timeout must be >= 0 seconds, not {timeout}")
    return float(timeout) or None


def wait_limit(timeout: Optional[float]) -> Optional[float]:
    """How long the SDK waits for a request's end before it gives up on the bridge."""
    return None if timeout is None else timeout + TIMEOUT_MARGIN_S


class BridgeEnded(Exception):
    """The bridge's output ended: `exit` is the daemon's exit event (None: the stream broke)."""

    def __init__(self, exit_event: Optional[Dict[str, Any]]):
        super().__init__("the code interpreter ended")
        self.exit_event = exit_event


class LineReader:
    """Turns the bridge's output events (the daemon's stream of the process) into its JSON
    messages. Raises BridgeEnded at its exit, SandboxException when output was lost."""

    def __init__(self, context_id: str, sandbox_id: str):
        self._context_id = context_id
        self._sandbox_id = sandbox_id
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, event: Optional[Tuple[str, Dict[str, Any]]]) -> List[Dict[str, Any]]:
        if event is None:
            raise BridgeEnded(None)
        name, data = event
        if name == "exit":
            raise BridgeEnded(data)
        if name == "lost":
            raise SandboxException(
                f"the daemon dropped {data.get('bytes')} bytes of the code interpreter's "
                f"output (context {self._context_id}); its kernel is restarted on the next "
                "call", sandbox_id=self._sandbox_id)
        if name != "stdout":
            return []  # its stderr is the kernel's diagnostics, kept in the daemon's buffer
        text = self._partial + self._decoder.decode(_event_bytes(data))
        *lines, self._partial = text.split("\n")
        messages = []
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not the protocol's: nothing else should write there
            if isinstance(message, dict):
                messages.append(message)
        return messages


def start_error(message: Optional[Dict[str, Any]], context_id: str,
                sandbox_id: str) -> SandboxException:
    """Why a bridge did not become ready: its "fatal" message, or its exit (BridgeEnded)."""
    if message is not None and message.get("missing"):
        return NotImplementedException(
            f"run_code needs Jupyter's kernel inside the sandbox: {message.get('message')}",
            sandbox_id=sandbox_id)
    if message is not None:
        return SandboxException(
            f"the code interpreter of context {context_id} could not start: "
            f"{message.get('message')}", sandbox_id=sandbox_id)
    return SandboxException(
        f"the code interpreter of context {context_id} did not start", sandbox_id=sandbox_id)


def ended_error(ended: BridgeEnded, context_id: str, sandbox_id: str,
                starting: bool) -> SandboxException:
    exit_event = ended.exit_event
    if exit_event is None:
        return SandboxException(
            f"the output of the code interpreter (context {context_id}) was cut: is declawd "
            "still running?", sandbox_id=sandbox_id)
    if exit_event.get("exit_code") is None:
        return SandboxNotRunningException(
            f"the sandbox ended while the code interpreter ran: "
            f"{exit_event.get('error') or 'killed'}", sandbox_id=sandbox_id, code="conflict")
    code = exit_event.get("exit_code")
    if starting and code == 127:
        return NotImplementedException(
            f"run_code needs {PYTHON} in the sandbox's template (with {PACKAGES})",
            sandbox_id=sandbox_id)
    return SandboxException(
        f"the code interpreter of context {context_id} exited (exit code {code}"
        + (f", signal {exit_event['signal']}" if exit_event.get("signal") else "")
        + "); the next call starts a new kernel", sandbox_id=sandbox_id)


def silent_error(deadline: Optional[float], context_id: str,
                 sandbox_id: str) -> SandboxException:
    """A read of the bridge's stream timed out: past the request's DEADLINE (the bridge gave
    no verdict: it is stuck), or the daemon stopped sending keep-alives."""
    if deadline is not None and time.monotonic() >= deadline:
        return TimeoutException(
            f"the code interpreter of context {context_id} did not end the execution after "
            "its timeout: it is killed and the next call starts a new kernel",
            sandbox_id=sandbox_id, code="timeout")
    return ConnectionException(
        f"the output of the code interpreter (context {context_id}) went silent: is declawd "
        "still running?", sandbox_id=sandbox_id)


def execution_timed_out(restarted: bool, sandbox_id: str) -> TimeoutException:
    return TimeoutException(
        "Execution timed out — the 'timeout' option can be used to increase this timeout"
        + (" (the code ignored the interrupt: its kernel was restarted, its variables are gone)"
           if restarted else " (the code was interrupted; the context keeps its variables)"),
        sandbox_id=sandbox_id, code="timeout")


class ExecutionBuilder:
    """Builds the Execution of one request from the bridge's messages. apply() returns the
    callback to call, as ("stdout"|"stderr"|"result"|"error", value), or None; `finished`
    once the request is over; `timed_out` (None, or whether the kernel was restarted)."""

    def __init__(self, request_id: str):
        self.request_id = request_id
        self.execution = Execution()
        self.finished = False
        self.timed_out: Optional[bool] = None

    def apply(self, message: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        if message.get("id") != self.request_id:
            return None  # an earlier request's (one given up on), or an unsolicited line
        kind = message.get("type")
        execution = self.execution
        if kind in ("stdout", "stderr"):
            text = str(message.get("text", ""))
            (execution.logs.stdout if kind == "stdout" else execution.logs.stderr).append(text)
            return kind, OutputMessage(text, int(message.get("timestamp") or 0),
                                       kind == "stderr")
        if kind == "result":
            result = Result.from_bundle(message.get("data") or {},
                                        bool(message.get("is_main_result")))
            execution.results.append(result)
            return "result", result
        if kind == "error":
            execution.error = ExecutionError(str(message.get("name", "")),
                                             str(message.get("value", "")),
                                             str(message.get("traceback", "")))
            return "error", execution.error
        if kind == "execution_count":
            execution.execution_count = message.get("execution_count")
        elif kind == "died":
            self.finished = True
            execution.error = ExecutionError("KernelDied", str(message.get("message", "")), "")
            return "error", execution.error
        elif kind == "timeout":
            self.finished = True
            self.timed_out = bool(message.get("restarted"))
        elif kind in ("done", "restarted"):
            self.finished = True
        return None
