"""declaw: Python client of the local declawd sandbox daemon, shaped like the hosted Declaw SDK.

    from declaw import Sandbox
    with Sandbox.create(template="python", allow_internet_access=False) as sbx:
        print(sbx.commands.run("python3 -c 'print(6*7)'").stdout)

Standard library only. The daemon's socket: the `socket_path` argument, else $DECLAW_SOCKET,
else /run/declaw/declaw.sock. Reference: docs/python.md.
"""
from ._hosted import HostedOptionWarning
from ._transport import DEFAULT_SOCKET_PATH, reset_transports, resolve_socket_path
from .command_handle import CommandHandle, PtyHandle
from .commands import Commands
from .exceptions import (AuthenticationException, BuildException, CommandExitException,
                         ConflictException, ConnectionException, FileNotFoundException,
                         InvalidArgumentException, NotEnoughSpaceException, NotFoundException,
                         NotImplementedException, PermissionDeniedException, RateLimitException,
                         SandboxError, SandboxException, SandboxNotFoundException,
                         SandboxNotRunningException, TemplateException,
                         TemplateNotFoundException, TimeoutException, TooLargeException)
from .filesystem import Filesystem
from .models import (ALL_TRAFFIC, CommandResult, EntryInfo, FileType, ProcessInfo, PtySize,
                     SandboxInfo, SandboxMetrics, SandboxNetworkOpts, SandboxQuery,
                     SandboxResources, SandboxState, TemplateConfig, TemplateInfo,
                     TemplateLayer, TemplateSource, WriteEntry, WriteInfo)
from .pty import Pty
from .sandbox import Sandbox
from .template import Template

__version__ = "0.1.0"

__all__ = [
    "Sandbox", "Template", "Commands", "Filesystem", "Pty",
    "CommandHandle", "PtyHandle", "ProcessInfo", "PtySize",
    "CommandResult", "EntryInfo", "FileType", "SandboxInfo", "SandboxQuery", "SandboxState",
    "SandboxResources", "SandboxMetrics", "SandboxNetworkOpts", "ALL_TRAFFIC",
    "WriteEntry", "WriteInfo",
    "TemplateInfo", "TemplateLayer", "TemplateConfig", "TemplateSource",
    "SandboxException", "SandboxError", "TimeoutException", "NotFoundException",
    "FileNotFoundException", "SandboxNotFoundException", "HostedOptionWarning",
    "AuthenticationException", "PermissionDeniedException", "InvalidArgumentException",
    "TooLargeException", "NotEnoughSpaceException", "RateLimitException", "ConflictException",
    "SandboxNotRunningException", "NotImplementedException", "ConnectionException",
    "CommandExitException", "TemplateException", "TemplateNotFoundException", "BuildException",
    "DEFAULT_SOCKET_PATH", "resolve_socket_path", "reset_transports",
]
