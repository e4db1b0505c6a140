"""sbx.run_code() and the code contexts of an AsyncSandbox: code_interpreter.py for asyncio.
The bridge, its protocol and the Execution are _run_code.py's; only the waiting differs. Each
context has an asyncio.Lock (one execution at a time), so run_code() calls on different
contexts run at once under asyncio.gather. Callbacks may be plain or coroutine functions."""
import asyncio
import json
import time
from typing import Any, Callable, Dict, List, Optional, Union

from . import _processes
from . import _run_code as rc
from ._sandbox_ref import SandboxRef
from .code_models import Context, Execution
from .command_handle_async import call_back
from .commands_async import AsyncCommands
from .exceptions import ConflictException, SandboxException, TimeoutException
from .filesystem_async import AsyncFilesystem

Handler = Optional[Callable[[Any], Any]]


class _Session:
    def __init__(self, context: Context):
        self.context = context
        self.lock = asyncio.Lock()
        self.pid: Optional[int] = None
        self.stream: Any = None
        self.reader: Optional[rc.LineReader] = None
        self.pending: List[Dict[str, Any]] = []

    async def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                await asyncio.shield(stream.aclose())
            except Exception:
                pass


class AsyncCodeInterpreter:
    """The run_code() side of one AsyncSandbox. Internal: AsyncSandbox's methods call it."""

    def __init__(self, ref: SandboxRef, commands: AsyncCommands, files: AsyncFilesystem):
        self._ref = ref
        self._commands = commands
        self._files = files
        self._sessions: Dict[str, _Session] = {}
        self._bridge_path: Optional[str] = None
        self._install_lock: Optional[asyncio.Lock] = None

    async def run_code(self, code: str, language: Optional[str] = None,
                       context: Optional[Context] = None, on_stdout: Handler = None,
                       on_stderr: Handler = None, on_result: Handler = None,
                       on_error: Handler = None, envs: Optional[Dict[str, str]] = None,
                       timeout: Optional[float] = None,
                       request_timeout: Optional[float] = None) -> Execution:
        context_id, lang = rc.normalize_language(language, context)
        seconds = rc.execution_timeout(timeout)
        session = self._session(context_id, lang, context)
        request_id = rc.new_context_id()
        async with session.lock:
            line = rc.execute_line(request_id, code, seconds, envs)
            if not await self._ensure_started(session, request_timeout):
                try:
                    await self._send(session, line, request_timeout)
                    line = ""
                except ConflictException:
                    await self._ensure_started(session, request_timeout)  # as the sync one
            if line:
                await self._send(session, line, request_timeout)
            builder = rc.ExecutionBuilder(request_id)
            handlers = {"stdout": on_stdout, "stderr": on_stderr, "result": on_result,
                        "error": on_error}
            try:
                await self._follow(session, builder, rc.wait_limit(seconds), handlers)
            except asyncio.CancelledError:
                await asyncio.shield(self._interrupt(session))
                raise
        if builder.timed_out is not None:
            raise rc.execution_timed_out(builder.timed_out, self._ref.sandbox_id)
        return builder.execution

    async def create_code_context(self, cwd: Optional[str] = None,
                                  language: Optional[str] = None,
                                  request_timeout: Optional[float] = None) -> Context:
        context = Context(id=rc.new_context_id(), language=rc.check_language(language),
                          cwd=cwd or rc.DEFAULT_CWD)
        session = self._session(context.id, context.language, context)
        async with session.lock:
            await self._ensure_started(session, request_timeout)
        return context

    async def list_code_contexts(self, request_timeout: Optional[float] = None
                                 ) -> List[Context]:
        found = []
        for info in await self._commands.list(request_timeout=request_timeout):
            context = rc.context_of_process(info.argv, info.cmd) if info.running else None
            if context is not None:
                found.append(context)
        return found

    async def restart_code_context(self, context: Union[Context, str, None] = None,
                                   request_timeout: Optional[float] = None) -> None:
        context_id, lang = rc.normalize_language(None, context)
        session = self._session(context_id, lang, context)
        request_id = rc.new_context_id()
        async with session.lock:
            if await self._ensure_started(session, request_timeout):
                return
            await self._send(session, rc.restart_line(request_id), request_timeout)
            await self._follow(session, rc.ExecutionBuilder(request_id), rc.START_TIMEOUT_S,
                               {})

    async def remove_code_context(self, context: Union[Context, str],
                                  request_timeout: Optional[float] = None) -> None:
        context_id = context.id if isinstance(context, Context) else str(context)
        session = self._sessions.pop(context_id, None)
        pid = (session.pid if session is not None
               else await self._find_pid(context_id, request_timeout))
        if session is not None:
            await session.close()
        if pid is None:
            return
        try:
            await self._commands.close_stdin(pid, request_timeout=request_timeout)
            await self._commands.wait(pid, timeout=15, request_timeout=request_timeout)
        except SandboxException:
            await self._commands.kill(pid, request_timeout=request_timeout)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, context_id: str, language: str, context: Any) -> _Session:
        session = self._sessions.get(context_id)
        if session is None:
            cwd = getattr(context, "cwd", None) or rc.DEFAULT_CWD
            session = _Session(Context(id=context_id, language=language, cwd=cwd))
            self._sessions[context_id] = session
        return session

    async def _find_pid(self, context_id: str,
                        request_timeout: Optional[float]) -> Optional[int]:
        for info in await self._commands.list(request_timeout=request_timeout):
            context = rc.context_of_process(info.argv, info.cmd) if info.running else None
            if context is not None and context.id == context_id:
                return info.pid
        return None

    async def _ensure_started(self, session: _Session,
                              request_timeout: Optional[float]) -> bool:
        if session.stream is not None:
            return False
        ref = self._ref
        pid = await self._find_pid(session.context.id, request_timeout)
        started = pid is None
        if started:
            argv = rc.bridge_argv(await self._bridge(request_timeout), session.context)
            handle = await self._commands.run(argv, background=True, user=rc.KERNEL_USER,
                                              cwd=session.context.cwd, timeout=0,
                                              request_timeout=request_timeout)
            pid = handle.pid
        session.pid = pid
        session.reader = rc.LineReader(session.context.id, ref.sandbox_id)
        session.pending = []
        session.stream = await ref.transport.open_stream(
            "GET", _processes.process_route(ref, pid, "/stream"), query={"follow": "true"},
            timeout=rc.STREAM_SILENCE_S, sandbox_id=ref.sandbox_id)
        if started:
            await self._wait_ready(session)
        return started

    async def _wait_ready(self, session: _Session) -> None:
        deadline = time.monotonic() + rc.START_TIMEOUT_S
        try:
            while True:
                message = await self._next_message(session, deadline)
                if message.get("type") == "ready":
                    return
                if message.get("type") == "fatal":
                    raise rc.start_error(message, session.context.id, self._ref.sandbox_id)
        except rc.BridgeEnded as ended:
            await self._drop(session)
            raise rc.ended_error(ended, session.context.id, self._ref.sandbox_id,
                                 starting=True) from None
        except BaseException:
            await asyncio.shield(self._drop(session, kill=True))
            raise

    async def _bridge(self, request_timeout: Optional[float]) -> str:
        if self._install_lock is None:
            self._install_lock = asyncio.Lock()
        async with self._install_lock:  # one writer: no bridge starts from a half-written file
            if self._bridge_path is None:
                self._bridge_path = await self._install_bridge(request_timeout)
            return self._bridge_path

    async def _install_bridge(self, request_timeout: Optional[float]) -> str:
        try:
            if not await self._files.exists(rc.BRIDGE_PATH, user="root",
                                            request_timeout=request_timeout):
                await self._files.write(rc.BRIDGE_PATH, rc.BRIDGE_SOURCE, user="root",
                                        request_timeout=request_timeout)
            path = rc.BRIDGE_PATH
        except SandboxException:
            await self._files.write(rc.FALLBACK_BRIDGE_PATH, rc.BRIDGE_SOURCE,
                                    user=rc.KERNEL_USER, request_timeout=request_timeout)
            path = rc.FALLBACK_BRIDGE_PATH
        return path

    # -- requests ----------------------------------------------------------------------------

    async def _send(self, session: _Session, line: str,
                    request_timeout: Optional[float]) -> None:
        try:
            await self._commands.send_stdin(session.pid, line, request_timeout=request_timeout)
        except SandboxException:
            await self._drop(session)
            raise

    async def _interrupt(self, session: _Session) -> None:
        try:
            await self._commands.send_stdin(session.pid, rc.INTERRUPT_LINE)
        except SandboxException:
            pass

    async def _follow(self, session: _Session, builder: rc.ExecutionBuilder,
                      limit: Optional[float], handlers: Dict[str, Handler]) -> None:
        deadline = None if limit is None else time.monotonic() + limit
        sandbox_id = self._ref.sandbox_id
        try:
            while not builder.finished:
                message = await self._next_message(session, deadline)
                if message.get("type") == "spill" and message.get("id") == builder.request_id:
                    message = json.loads(await self._files.read(message["path"],
                                                                user=rc.KERNEL_USER))
                outcome = builder.apply(message)
                if outcome is not None:
                    await call_back(handlers.get(outcome[0]), outcome[1])
        except rc.BridgeEnded as ended:
            await self._drop(session)
            raise rc.ended_error(ended, session.context.id, sandbox_id, starting=False) from None
        except SandboxException:
            await self._drop(session, kill=True)
            raise

    async def _next_message(self, session: _Session,
                            deadline: Optional[float]) -> Dict[str, Any]:
        while not session.pending:
            # The stream's read timeout (STREAM_SILENCE_S, reset by each keep-alive) notices a
            # silent daemon; this bounds the whole wait.
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            assert session.stream is not None and session.reader is not None
            try:
                event = await asyncio.wait_for(session.stream.next_event(), left)
            except (asyncio.TimeoutError, TimeoutException):
                raise rc.silent_error(deadline, session.context.id,
                                      self._ref.sandbox_id) from None
            session.pending.extend(session.reader.feed(event))
        return session.pending.pop(0)

    async def _drop(self, session: _Session, kill: bool = False) -> None:
        pid = session.pid
        await session.close()
        session.pid = None
        if kill and pid is not None:
            try:
                await self._commands.kill(pid)
            except SandboxException:
                pass
