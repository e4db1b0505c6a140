"""sbx.run_code() and the code contexts of a Sandbox: a stateful IPython kernel per context,
inside the sandbox, driven through the bridge program (_kernel_bridge.py; docs/python.md,
"Running code: run_code").

Each context is one bridge, a background command of the sandbox with its stdin open: requests
go in with commands.send_stdin(), its JSON lines come back on the process's output stream,
which this object follows for the context's whole life (so the daemon's ring buffer never
holds more than a few lines). One request at a time per context (a lock); contexts run in
parallel. The protocol and the Execution are _run_code.py's, shared with AsyncSandbox.
"""
import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Union

from . import _processes
from . import _run_code as rc
from ._sandbox_ref import SandboxRef
from ._sse import EventStream
from .code_models import Context, Execution, ExecutionError, OutputMessage, Result
from .commands import Commands
from .exceptions import ConflictException, SandboxException, TimeoutException
from .filesystem import Filesystem

Handler = Optional[Callable[[Any], Any]]


class _Session:
    """One context's bridge: its process, its output stream and the line reader over it."""

    def __init__(self, context: Context):
        self.context = context
        self.lock = threading.Lock()  # one request at a time; held while starting too
        self.pid: Optional[int] = None
        self.stream: Optional[EventStream] = None
        self.reader: Optional[rc.LineReader] = None
        self.pending: List[Dict[str, Any]] = []

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.shutdown()
            stream.close()


class CodeInterpreter:
    """The run_code() side of one Sandbox. Internal: Sandbox's methods call it."""

    def __init__(self, ref: SandboxRef, commands: Commands, files: Filesystem):
        self._ref = ref
        self._commands = commands
        self._files = files
        self._sessions: Dict[str, _Session] = {}
        self._lock = threading.Lock()  # _sessions
        self._install_lock = threading.Lock()  # one writer of the bridge: no half-written file
        self._bridge_path: Optional[str] = None

    # -- the public calls --------------------------------------------------------------------

    def run_code(self, code: str, language: Optional[str] = None,
                 context: Optional[Context] = None, on_stdout: Handler = None,
                 on_stderr: Handler = None, on_result: Handler = None, on_error: Handler = None,
                 envs: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
                 request_timeout: Optional[float] = None) -> Execution:
        context_id, lang = rc.normalize_language(language, context)
        seconds = rc.execution_timeout(timeout)
        session = self._session(context_id, lang, context)
        request_id = rc.new_context_id()
        with session.lock:
            line = rc.execute_line(request_id, code, seconds, envs)
            if not self._ensure_started(session, request_timeout):
                try:
                    self._send(session, line, request_timeout)
                    line = ""
                except ConflictException:
                    # Its bridge ended since the last call (killed, or its sandbox paused and
                    # resumed without it): a new kernel, as after a crash.
                    self._ensure_started(session, request_timeout)
            if line:
                self._send(session, line, request_timeout)
            builder = rc.ExecutionBuilder(request_id)
            handlers = {"stdout": on_stdout, "stderr": on_stderr, "result": on_result,
                        "error": on_error}
            try:
                self._follow(session, builder, rc.wait_limit(seconds), handlers)
            except KeyboardInterrupt:
                self._interrupt(session)  # stop the code too; its end is skipped next time
                raise
        if builder.timed_out is not None:
            raise rc.execution_timed_out(builder.timed_out, self._ref.sandbox_id)
        return builder.execution

    def create_code_context(self, cwd: Optional[str] = None, language: Optional[str] = None,
                            request_timeout: Optional[float] = None) -> Context:
        context = Context(id=rc.new_context_id(), language=rc.check_language(language),
                          cwd=cwd or rc.DEFAULT_CWD)
        session = self._session(context.id, context.language, context)
        with session.lock:
            self._ensure_started(session, request_timeout)
        return context

    def list_code_contexts(self, request_timeout: Optional[float] = None) -> List[Context]:
        found = []
        for info in self._commands.list(request_timeout=request_timeout):
            context = rc.context_of_process(info.argv, info.cmd) if info.running else None
            if context is not None:
                found.append(context)
        return found

    def restart_code_context(self, context: Union[Context, str, None] = None,
                             request_timeout: Optional[float] = None) -> None:
        context_id, lang = rc.normalize_language(None, context)
        session = self._session(context_id, lang, context)
        request_id = rc.new_context_id()
        with session.lock:
            if self._ensure_started(session, request_timeout):
                return  # a new kernel already
            self._send(session, rc.restart_line(request_id), request_timeout)
            self._follow(session, rc.ExecutionBuilder(request_id), rc.START_TIMEOUT_S, {})

    def remove_code_context(self, context: Union[Context, str],
                            request_timeout: Optional[float] = None) -> None:
        context_id = context.id if isinstance(context, Context) else str(context)
        with self._lock:
            session = self._sessions.pop(context_id, None)
        pid = session.pid if session is not None else self._find_pid(context_id, request_timeout)
        if session is not None:
            session.close()
        if pid is None:
            return
        try:
            # EOF: the bridge shuts its kernel down and exits; killed if it does not.
            self._commands.close_stdin(pid, request_timeout=request_timeout)
            self._commands.wait(pid, timeout=15, request_timeout=request_timeout)
        except SandboxException:
            self._commands.kill(pid, request_timeout=request_timeout)

    def close(self) -> None:
        """Closes the output streams (the bridges run on until the sandbox ends)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, context_id: str, language: str, context: Any) -> _Session:
        with self._lock:
            session = self._sessions.get(context_id)
            if session is None:
                cwd = getattr(context, "cwd", None) or rc.DEFAULT_CWD
                session = _Session(Context(id=context_id, language=language, cwd=cwd))
                self._sessions[context_id] = session
            return session

    def _find_pid(self, context_id: str, request_timeout: Optional[float]) -> Optional[int]:
        for info in self._commands.list(request_timeout=request_timeout):
            context = rc.context_of_process(info.argv, info.cmd) if info.running else None
            if context is not None and context.id == context_id:
                return info.pid
        return None

    def _ensure_started(self, session: _Session, request_timeout: Optional[float]) -> bool:
        """Attaches to the context's bridge (a running one, maybe started by another Sandbox
        object), or starts one and waits until its kernel answers. True when it started one.
        With session.lock held."""
        if session.stream is not None:
            return False
        ref = self._ref
        pid = self._find_pid(session.context.id, request_timeout)
        started = pid is None
        if started:
            argv = rc.bridge_argv(self._bridge(request_timeout), session.context)
            handle = self._commands.run(argv, background=True, user=rc.KERNEL_USER,
                                        cwd=session.context.cwd, timeout=0,
                                        request_timeout=request_timeout)
            pid = handle.pid
        session.pid = pid
        session.reader = rc.LineReader(session.context.id, ref.sandbox_id)
        session.pending = []
        session.stream = EventStream.open(
            ref.transport, "GET", _processes.process_route(ref, pid, "/stream"),
            query={"follow": "true"}, timeout=rc.STREAM_SILENCE_S, sandbox_id=ref.sandbox_id)
        if started:
            self._wait_ready(session)
        return started

    def _wait_ready(self, session: _Session) -> None:
        deadline = time.monotonic() + rc.START_TIMEOUT_S
        try:
            while True:
                message = self._next_message(session, deadline)
                if message.get("type") == "ready":
                    return
                if message.get("type") == "fatal":
                    raise rc.start_error(message, session.context.id, self._ref.sandbox_id)
        except rc.BridgeEnded as ended:
            self._drop(session)
            raise rc.ended_error(ended, session.context.id, self._ref.sandbox_id,
                                 starting=True) from None
        except BaseException:
            self._drop(session, kill=True)
            raise

    def _bridge(self, request_timeout: Optional[float]) -> str:
        """Writes the bridge into the sandbox (once per Sandbox object) and returns its path."""
        with self._install_lock:
            if self._bridge_path is None:
                self._bridge_path = self._install_bridge(request_timeout)
            return self._bridge_path

    def _install_bridge(self, request_timeout: Optional[float]) -> str:
        try:
            if not self._files.exists(rc.BRIDGE_PATH, user="root",
                                      request_timeout=request_timeout):
                self._files.write(rc.BRIDGE_PATH, rc.BRIDGE_SOURCE, user="root",
                                  request_timeout=request_timeout)
            path = rc.BRIDGE_PATH
        except SandboxException:
            self._files.write(rc.FALLBACK_BRIDGE_PATH, rc.BRIDGE_SOURCE,
                              user=rc.KERNEL_USER, request_timeout=request_timeout)
            path = rc.FALLBACK_BRIDGE_PATH
        return path

    # -- requests ----------------------------------------------------------------------------

    def _send(self, session: _Session, line: str, request_timeout: Optional[float]) -> None:
        try:
            self._commands.send_stdin(session.pid, line, request_timeout=request_timeout)
        except SandboxException:
            self._drop(session)  # it has exited: the next call starts a new one
            raise

    def _interrupt(self, session: _Session) -> None:
        try:
            self._commands.send_stdin(session.pid, rc.INTERRUPT_LINE)
        except SandboxException:
            pass

    def _follow(self, session: _Session, builder: rc.ExecutionBuilder,
                limit: Optional[float], handlers: Dict[str, Handler]) -> None:
        deadline = None if limit is None else time.monotonic() + limit
        sandbox_id = self._ref.sandbox_id
        try:
            while not builder.finished:
                message = self._next_message(session, deadline)
                if message.get("type") == "spill" and message.get("id") == builder.request_id:
                    message = json.loads(self._files.read(message["path"],
                                                          user=rc.KERNEL_USER))
                outcome = builder.apply(message)
                if outcome is not None and handlers.get(outcome[0]) is not None:
                    handlers[outcome[0]](outcome[1])
        except rc.BridgeEnded as ended:
            self._drop(session)
            raise rc.ended_error(ended, session.context.id, sandbox_id, starting=False) from None
        except SandboxException:
            # No verdict long after the timeout (the bridge is stuck), lost output, a cut
            # stream: a new bridge next time.
            self._drop(session, kill=True)
            raise

    def _next_message(self, session: _Session, deadline: Optional[float]) -> Dict[str, Any]:
        """The bridge's next message. TimeoutException past DEADLINE; ConnectionException
        when the stream stays silent longer than the daemon's keep-alive allows."""
        while not session.pending:
            silence = rc.STREAM_SILENCE_S
            if deadline is not None:
                silence = min(silence, max(deadline - time.monotonic(), 0.001))
            assert session.stream is not None and session.reader is not None
            session.stream.set_read_timeout(silence)
            try:
                event = session.stream.next_event()
            except TimeoutException:
                raise rc.silent_error(deadline, session.context.id,
                                      self._ref.sandbox_id) from None
            session.pending.extend(session.reader.feed(event))
        return session.pending.pop(0)

    def _drop(self, session: _Session, kill: bool = False) -> None:
        """Forgets the session's bridge (killing it when asked): the next call starts anew."""
        pid = session.pid
        session.close()
        session.pid = None
        if kill and pid is not None:
            try:
                self._commands.kill(pid)
            except SandboxException:
                pass


__all__ = ["CodeInterpreter", "Context", "Execution", "ExecutionError", "OutputMessage", "Result"]
