"""AsyncSandbox: Sandbox for asyncio, method for method, every call awaitable.

    from declaw import AsyncSandbox
    async with await AsyncSandbox.create(allow_internet_access=False) as sbx:
        results = await asyncio.gather(*(sbx.commands.run(f"echo {n}") for n in range(10)))

The requests and their results are Sandbox's (_sandbox_calls.py and the modules it shares);
the transport is httpx over the daemon's socket (_transport_async.py). Needs httpx.
"""
from typing import Any, Dict, List, Optional, Union

from . import _sandbox_calls as calls
from ._hosted import check_hosted_options
from ._sandbox_ref import SandboxRef
from ._transport_async import AsyncTransport, get_async_transport
from .code_interpreter_async import AsyncCodeInterpreter
from .code_models import Context, Execution
from .commands_async import AsyncCommands, AsyncPty
from .exceptions import NotFoundException
from .filesystem_async import AsyncFilesystem
from .models import (PortForward, SandboxInfo, SandboxMetricsList, SandboxQuery,
                     SandboxResources, SandboxState, TemplateInfo)
from .paginator import AsyncSandboxPaginator
from .sandbox import _by_id, _InstanceOrClassMethod, _metrics_by_id


class AsyncSandbox:
    """A sandbox on the local declawd, for asyncio: `await AsyncSandbox.create()` or
    `await AsyncSandbox.connect(sandbox_id)`. The same methods, arguments and results as
    Sandbox (docs/python.md), each a coroutine; `sbx.commands`, `sbx.files` and `sbx.pty`
    likewise. `async with` kills the sandbox when the block ends."""

    default_template = "base"
    default_sandbox_timeout = 300

    def __init__(self, sandbox_id: str, *, socket_path: Optional[str] = None,
                 request_timeout: Optional[float] = None,
                 transport: Optional[AsyncTransport] = None):
        self._ref = SandboxRef(transport or get_async_transport(socket_path),  # type: ignore
                               sandbox_id, request_timeout)
        self._sandbox_id = sandbox_id
        self._transport = self._ref.transport
        self._commands = AsyncCommands(self._ref)
        self._files = AsyncFilesystem(self._ref)
        self._pty = AsyncPty(self._ref)
        self._code = AsyncCodeInterpreter(self._ref, self._commands, self._files)

    @property
    def request_timeout(self) -> Optional[float]:
        return self._ref.request_timeout

    @request_timeout.setter
    def request_timeout(self, value: Optional[float]) -> None:
        self._ref.request_timeout = value

    @property
    def sandbox_id(self) -> str:
        return self._sandbox_id

    @property
    def socket_path(self) -> str:
        return self._transport.socket_path

    @property
    def commands(self) -> AsyncCommands:
        return self._commands

    @property
    def files(self) -> AsyncFilesystem:
        return self._files

    @property
    def pty(self) -> AsyncPty:
        return self._pty

    def __repr__(self) -> str:
        return f"AsyncSandbox({self._sandbox_id!r}, socket_path={self.socket_path!r})"

    # -- creating and finding sandboxes ------------------------------------------------------

    @classmethod
    async def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
                     metadata: Optional[Dict[str, str]] = None,
                     envs: Optional[Dict[str, str]] = None, allow_internet_access: bool = True,
                     network: Optional[Any] = None, lifecycle: Optional[Dict[str, Any]] = None,
                     resources: Optional[Union[SandboxResources, Dict[str, Any]]] = None,
                     secure: bool = True, api_key: Optional[str] = None,
                     domain: Optional[str] = None, request_timeout: Optional[float] = None,
                     socket_path: Optional[str] = None,
                     **hosted_options: Any) -> "AsyncSandbox":
        """Creates a sandbox and returns it, running; the parameters are Sandbox.create()'s."""
        check_hosted_options("AsyncSandbox.create", hosted_options)
        transport = get_async_transport(socket_path)
        sandbox_id = await transport.call(calls.create_call(
            template, timeout, metadata, envs, allow_internet_access, network, lifecycle,
            resources, request_timeout))
        return cls(sandbox_id, request_timeout=request_timeout, transport=transport)

    @classmethod
    async def connect(cls, sandbox_id: str, timeout: Optional[int] = None,
                      api_key: Optional[str] = None, domain: Optional[str] = None,
                      request_timeout: Optional[float] = None,
                      socket_path: Optional[str] = None,
                      **hosted_options: Any) -> "AsyncSandbox":
        """An AsyncSandbox for an existing sandbox, running (a paused one is resumed), as
        Sandbox.connect(). SandboxNotFoundException for an unknown id."""
        check_hosted_options("AsyncSandbox.connect", hosted_options)
        sbx = cls(sandbox_id, socket_path=socket_path, request_timeout=request_timeout)
        if calls.connect_step(await sbx.get_info(), sandbox_id) == "resume":
            await sbx.resume(timeout)
        elif timeout is not None:
            await sbx.set_timeout(timeout)
        return sbx

    @staticmethod
    def list(query: Optional[Union[SandboxQuery, Dict[str, Any]]] = None,
             limit: Optional[int] = None, next_token: Optional[str] = None,
             api_key: Optional[str] = None, domain: Optional[str] = None,
             request_timeout: Optional[float] = None,
             socket_path: Optional[str] = None) -> AsyncSandboxPaginator:
        """A paginator, as Sandbox.list() and the hosted SDK's AsyncSandbox.list() (not a
        coroutine): `await paginator.next_items()`, `async for info in paginator`.
        `await AsyncSandbox.list()` is the list of every sandbox of the pages left, as it was
        before list() paged."""
        return AsyncSandboxPaginator(get_async_transport(socket_path), query, limit, next_token,
                                     request_timeout)

    # -- this sandbox ------------------------------------------------------------------------

    async def _call(self, call: Any) -> Any:
        return await self._transport.call(call)

    async def _get_info(self, request_timeout: Optional[float] = None) -> SandboxInfo:
        return await self._call(calls.info_call(self._ref, request_timeout))

    async def _get_metrics(self, start: Any = None, end: Any = None,
                           request_timeout: Optional[float] = None) -> SandboxMetricsList:
        samples = await self._call(calls.metrics_history_call(self._ref, start, end,
                                                              request_timeout))
        if end is None:
            samples.append(await self._call(calls.metrics_call(self._ref, request_timeout)))
        return SandboxMetricsList(samples)

    async def _pause(self, request_timeout: Optional[float] = None) -> SandboxInfo:
        return await self._call(calls.pause_call(self._ref, request_timeout))

    async def _get_network(self, request_timeout: Optional[float] = None) -> Dict[str, Any]:
        return await self._call(calls.get_network_call(self._ref, request_timeout))

    # `await sbx.get_info()` or `await AsyncSandbox.get_info(sandbox_id)`; likewise below.
    get_info = _InstanceOrClassMethod(_get_info, _by_id(_get_info))
    get_metrics = _InstanceOrClassMethod(_get_metrics, _metrics_by_id(_get_metrics))
    pause = _InstanceOrClassMethod(_pause, _by_id(_pause))
    get_network = _InstanceOrClassMethod(_get_network, _by_id(_get_network))

    async def resume(self, timeout: Optional[int] = None,
                     request_timeout: Optional[float] = None) -> SandboxInfo:
        """Thaws a paused sandbox, as Sandbox.resume()."""
        if timeout is not None:
            await self.set_timeout(timeout, request_timeout)
        return await self._call(calls.resume_call(self._ref, request_timeout))

    async def update_network(self, allow_out: Optional[List[str]] = None,
                             deny_out: Optional[List[str]] = None,
                             allow_internet_access: Optional[bool] = None,
                             request_timeout: Optional[float] = None) -> Dict[str, Any]:
        return await self._call(calls.update_network_call(
            self._ref, allow_out, deny_out, allow_internet_access, request_timeout))

    async def create_snapshot(self, name: str, replace: bool = False,
                              request_timeout: Optional[float] = None) -> TemplateInfo:
        return await self._call(calls.snapshot_call(self._ref, name, replace, request_timeout))

    # -- ports: as Sandbox's ---------------------------------------------------------------

    async def get_host(self, port: int, request_timeout: Optional[float] = None) -> str:
        """"127.0.0.1:N" on the host's loopback, forwarded to 127.0.0.1:PORT inside, as
        Sandbox.get_host() (not E2B's public hostname: see there)."""
        return await self._call(calls.port_host_call(self._ref, port, request_timeout))

    async def get_port_socket(self, port: int, request_timeout: Optional[float] = None) -> str:
        """The unix socket (mode 0600) forwarded to 127.0.0.1:PORT inside, as
        Sandbox.get_port_socket()."""
        return await self._call(calls.port_socket_call(self._ref, port, request_timeout))

    async def close_port(self, port: int, request_timeout: Optional[float] = None) -> bool:
        """Ends PORT's forward: True, or False when it was not forwarded."""
        return await self._call(calls.close_port_call(self._ref, port, request_timeout))

    async def list_ports(self, request_timeout: Optional[float] = None) -> List[PortForward]:
        return await self._call(calls.list_ports_call(self._ref, request_timeout))

    # -- running code: as Sandbox's; callbacks may be plain or coroutine functions -----------

    async def run_code(self, code: str, language: Optional[str] = None,
                       context: Optional[Context] = None, on_stdout: Optional[Any] = None,
                       on_stderr: Optional[Any] = None, on_result: Optional[Any] = None,
                       on_error: Optional[Any] = None, envs: Optional[Dict[str, str]] = None,
                       timeout: Optional[float] = None,
                       request_timeout: Optional[float] = None) -> Execution:
        """Runs Python CODE in the context's IPython kernel, as Sandbox.run_code(). Calls on
        different contexts run at once (asyncio.gather); on one context, one after another."""
        return await self._code.run_code(code, language, context, on_stdout, on_stderr,
                                         on_result, on_error, envs, timeout, request_timeout)

    async def create_code_context(self, cwd: Optional[str] = None,
                                  language: Optional[str] = None,
                                  request_timeout: Optional[float] = None) -> Context:
        return await self._code.create_code_context(cwd, language, request_timeout)

    async def list_code_contexts(self, request_timeout: Optional[float] = None
                                 ) -> List[Context]:
        return await self._code.list_code_contexts(request_timeout)

    async def restart_code_context(self, context: Union[Context, str, None] = None,
                                   request_timeout: Optional[float] = None) -> None:
        await self._code.restart_code_context(context, request_timeout)

    async def remove_code_context(self, context: Union[Context, str],
                                  request_timeout: Optional[float] = None) -> None:
        await self._code.remove_code_context(context, request_timeout)

    async def is_running(self, request_timeout: Optional[float] = None) -> bool:
        try:
            return (await self.get_info(request_timeout)).state == SandboxState.RUNNING
        except NotFoundException:
            return False

    async def set_timeout(self, timeout: int, request_timeout: Optional[float] = None) -> None:
        await self._call(calls.set_timeout_call(self._ref, timeout, request_timeout))

    async def _kill_this(self, request_timeout: Optional[float] = None) -> bool:
        killed = await self._call(calls.kill_call(self._sandbox_id,
                                                  self._ref.timeout(request_timeout)))
        await self._code.close()
        return killed

    async def _kill_by_id(cls, sandbox_id: str, request_timeout: Optional[float] = None,
                          api_key: Optional[str] = None, domain: Optional[str] = None,
                          socket_path: Optional[str] = None) -> bool:
        return await get_async_transport(socket_path).call(
            calls.kill_call(sandbox_id, calls.class_timeout(request_timeout)))

    # `await sbx.kill()` or `await AsyncSandbox.kill(sandbox_id)`: True when killed (also if
    # it already was), False when unknown.
    kill = _InstanceOrClassMethod(_kill_this, _kill_by_id)
    kill_by_id = classmethod(_kill_by_id)

    async def __aenter__(self) -> "AsyncSandbox":
        return self

    async def __aexit__(self, kind: Any, error: Any, tb: Any) -> None:
        try:
            await self.kill()
        except Exception:
            if error is None:
                raise  # do not hide the block's own exception behind a failed kill
