"""declaw: Python client of the local declawd sandbox daemon, shaped like the hosted Declaw SDK.

    from declaw import Sandbox
    with Sandbox.create(template="python", allow_internet_access=False) as sbx:
        print(sbx.commands.run("python3 -c 'print(6*7)'").stdout)

Standard library only; AsyncSandbox (declaw.AsyncSandbox, imported on first use) needs httpx.
The daemon's socket: the `socket_path` argument, else $DECLAW_SOCKET,
else /run/declaw/declaw.sock. Reference: docs/python.md.
"""
import importlib
import importlib.util

from ._hosted import HostedOptionWarning
from ._transport import DEFAULT_SOCKET_PATH, reset_transports, resolve_socket_path
from .command_handle import CommandHandle, PtyHandle
from .code_models import Context, Execution, ExecutionError, Logs, OutputMessage, Result
from .commands import Commands
from .exceptions import (AuthenticationException, BuildException, CommandExitException,
                         ConflictException, ConnectionException, FileNotFoundException,
                         InvalidArgumentException, NotEnoughSpaceException, NotFoundException,
                         NotImplementedException, PermissionDeniedException, RateLimitException,
                         SandboxError, SandboxException, SandboxNotFoundException,
                         SandboxNotRunningException, TemplateException,
                         TemplateNotFoundException, TimeoutException, TooLargeException)
from .filesystem import Filesystem
from .models import (ALL_TRAFFIC, CommandResult, EntryInfo, FilesystemEvent,
                     FilesystemEventType, FileType, PortForward, ProcessInfo, PtySize,
                     SandboxInfo, SandboxMetrics, SandboxMetricsList, SandboxNetworkOpts,
                     SandboxQuery,
                     SandboxResources, SandboxState, TemplateConfig, TemplateInfo,
                     TemplateLayer, TemplateSource, WriteEntry, WriteInfo)
from .paginator import AsyncSandboxPaginator, SandboxPaginator
from .pty import Pty
from .sandbox import Sandbox
from .template import Template
from .watch_handle import WatchHandle

__version__ = "0.1.0"

__all__ = [
    "Sandbox", "Template", "Commands", "Filesystem", "Pty",
    "CommandHandle", "PtyHandle", "ProcessInfo", "PtySize", "PortForward",
    "CommandResult", "EntryInfo", "FileType", "FilesystemEvent", "FilesystemEventType",
    "WatchHandle", "SandboxInfo", "SandboxQuery", "SandboxState",
    "SandboxResources", "SandboxMetrics", "SandboxMetricsList", "SandboxNetworkOpts",
    "ALL_TRAFFIC", "SandboxPaginator", "AsyncSandboxPaginator",
    "WriteEntry", "WriteInfo",
    "Execution", "Result", "Logs", "ExecutionError", "OutputMessage", "Context",
    "TemplateInfo", "TemplateLayer", "TemplateConfig", "TemplateSource",
    "SandboxException", "SandboxError", "TimeoutException", "NotFoundException",
    "FileNotFoundException", "SandboxNotFoundException", "HostedOptionWarning",
    "AuthenticationException", "PermissionDeniedException", "InvalidArgumentException",
    "TooLargeException", "NotEnoughSpaceException", "RateLimitException", "ConflictException",
    "SandboxNotRunningException", "NotImplementedException", "ConnectionException",
    "CommandExitException", "TemplateException", "TemplateNotFoundException", "BuildException",
    "DEFAULT_SOCKET_PATH", "resolve_socket_path", "reset_transports",
]

# The asyncio client, imported when first asked for, so that `import declaw` (and Sandbox) work
# without httpx.
_ASYNC_NAMES = {
    "AsyncSandbox": "sandbox_async",
    "AsyncCommands": "commands_async",
    "AsyncPty": "commands_async",
    "AsyncFilesystem": "filesystem_async",
    "AsyncCommandHandle": "command_handle_async",
    "AsyncPtyHandle": "command_handle_async",
    "AsyncTemplate": "template_async",
    "AsyncWatchHandle": "watch_handle_async",
    "reset_async_transports": "_transport_async",
}


# `from declaw import *` takes the async names only where they import.
if importlib.util.find_spec("httpx") is not None:
    __all__ += list(_ASYNC_NAMES)


def __getattr__(name: str) -> object:
    module_name = _ASYNC_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'declaw' has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except ModuleNotFoundError as e:
        if e.name != "httpx":
            raise
        raise ImportError(
            f"declaw.{name} needs httpx: apt install python3-httpx, or pip install "
            "'declaw[async]'") from e
    value = getattr(module, name)
    globals()[name] = value
    return value
