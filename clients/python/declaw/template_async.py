"""AsyncTemplate: Template for asyncio, every class method a coroutine with the same parameters,
results and exceptions. The requests are Template's (template.py); a build runs its steps in an
AsyncSandbox. Needs httpx."""
import asyncio
import os
from typing import Any, Callable, Dict, Optional, Sequence, Union

from ._transport_async import get_async_transport
from .exceptions import (NotFoundException, SandboxException, TemplateNotFoundException,
                         TimeoutException)
from .models import SandboxResources, TemplateInfo
from .sandbox_async import AsyncSandbox
from .template import (DEFAULT_BUILD_TIMEOUT_S, PathOrFile, _long_timeout, _not_found, _timeout,
                       check_build_name, check_step_result, check_steps, delete_call, get_call,
                       import_call, list_call, step_timed_out, template_route)


class AsyncTemplate:
    """Templates on the local declawd, for asyncio: `await AsyncTemplate.list()`, ... as
    Template (docs/python.md, "Templates"). Archives are read and written in worker threads,
    so the event loop never waits on the disk."""

    @staticmethod
    async def import_archive(path: PathOrFile, name: str, replace: bool = False,
                             request_timeout: Optional[float] = None,
                             socket_path: Optional[str] = None) -> TemplateInfo:
        transport = get_async_transport(socket_path)
        timeout = _long_timeout(transport, request_timeout)  # type: ignore[arg-type]
        if hasattr(path, "read"):
            return await transport.call(import_call(name, path, replace, timeout))
        f = await asyncio.to_thread(open, path, "rb")
        try:
            return await transport.call(import_call(name, f, replace, timeout))
        finally:
            f.close()

    @staticmethod
    async def list(request_timeout: Optional[float] = None,
                   socket_path: Optional[str] = None) -> Any:
        return await get_async_transport(socket_path).call(list_call(request_timeout))

    @staticmethod
    async def get(name: str, request_timeout: Optional[float] = None,
                  socket_path: Optional[str] = None) -> TemplateInfo:
        return await get_async_transport(socket_path).call(get_call(name, request_timeout))

    @staticmethod
    async def exists(name: str, request_timeout: Optional[float] = None,
                     socket_path: Optional[str] = None) -> bool:
        try:
            await AsyncTemplate.get(name, request_timeout=request_timeout,
                                    socket_path=socket_path)
        except TemplateNotFoundException:
            return False
        return True

    @staticmethod
    async def delete(name: str, request_timeout: Optional[float] = None,
                     socket_path: Optional[str] = None) -> bool:
        return await get_async_transport(socket_path).call(delete_call(name, request_timeout))

    @staticmethod
    async def export(name: str, path: PathOrFile, request_timeout: Optional[float] = None,
                     socket_path: Optional[str] = None) -> int:
        """As Template.export(): the bytes written; a path is created only once the daemon
        answers, and removed if the transfer breaks off."""
        transport = get_async_transport(socket_path)
        route = template_route(name) + "/archive"
        try:
            response = await transport.send("GET", route, timeout=_timeout(request_timeout))
        except NotFoundException as e:
            raise _not_found(e) from None
        async with transport.body(response, f"GET {route}", None) as body:
            if hasattr(path, "write"):
                return await _copy_chunks(body, path)
            f = await asyncio.to_thread(open, path, "wb")
            try:
                with f:
                    return await _copy_chunks(body, f)
            except BaseException:
                try:
                    os.unlink(path)
                except OSError:
                    pass
                raise

    @staticmethod
    async def build(name: str, from_template: str = "base", steps: Sequence[str] = (),
                    envs: Optional[Dict[str, str]] = None, replace: bool = False,
                    timeout: int = DEFAULT_BUILD_TIMEOUT_S, step_timeout: Optional[float] = None,
                    allow_internet_access: bool = True, network: Optional[Any] = None,
                    resources: Optional[Union[SandboxResources, Dict[str, Any]]] = None,
                    on_stdout: Optional[Callable[[str], Any]] = None,
                    on_stderr: Optional[Callable[[str], Any]] = None,
                    request_timeout: Optional[float] = None,
                    socket_path: Optional[str] = None) -> TemplateInfo:
        """As Template.build(); `on_stdout`/`on_stderr` may be plain or coroutine
        functions."""
        steps = check_steps(steps)
        try:
            existing: Optional[TemplateInfo] = await AsyncTemplate.get(
                name, request_timeout=request_timeout, socket_path=socket_path)
        except TemplateNotFoundException:
            existing = None
        check_build_name(existing, name, replace)
        sbx = await AsyncSandbox.create(template=from_template, timeout=timeout, envs=envs,
                                        allow_internet_access=allow_internet_access,
                                        network=network, resources=resources,
                                        request_timeout=request_timeout, socket_path=socket_path)
        try:
            for n, cmd in enumerate(steps):
                try:
                    result = await sbx.commands.run(cmd, user="root", timeout=step_timeout or 0,
                                                    on_stdout=on_stdout, on_stderr=on_stderr)
                except TimeoutException as e:
                    raise step_timed_out(sbx, n, steps, step_timeout, e) from None
                check_step_result(sbx, n, steps, result)
            return await sbx.create_snapshot(name, replace=replace,
                                             request_timeout=request_timeout)
        finally:
            try:
                await sbx.kill()
            except SandboxException:
                pass  # its timeout reaps it; the build's own outcome matters more


async def _copy_chunks(body: Any, f: Any) -> int:
    written = 0
    async for chunk in body:
        await asyncio.to_thread(f.write, chunk)
        written += len(chunk)
    return written
