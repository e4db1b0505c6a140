"""Exceptions of the declaw SDK, and the table that turns a daemon error into one of them.

Every exception is a SandboxException. The names are the hosted SDK's; a few declaw-specific
subclasses (PermissionDeniedException, SandboxNotRunningException, ...) narrow them so callers can
tell, say, "the sandbox died" from "the file is missing". Some also derive from the matching
built-in (PermissionError, ConnectionError, NotImplementedError), so `except PermissionError`
works as a Python programmer expects.
"""
import json
import re
from typing import Any, Dict, Optional


class SandboxException(Exception):
    """Base class of every declaw error.

    Attributes: `sandbox_id` (when the request named one), `code` (the daemon's machine-readable
    error code, e.g. "not_found", or "" for client-side errors) and `status` (the HTTP status, or
    None when no answer came).
    """

    code: str = ""

    def __init__(self, message: str = "", *, sandbox_id: Optional[str] = None, code: str = "",
                 status: Optional[int] = None):
        self.sandbox_id = sandbox_id
        self.code = code
        self.status = status
        super().__init__(message)


class TimeoutException(SandboxException):
    """An operation ran out of time: a command's `timeout`, a `request_timeout`, or the daemon
    giving up on a slow request (408). After a command timeout, `stdout`, `stderr` and
    `exit_code` hold what the command produced before it was killed."""

    def __init__(self, message: str = "", *, stdout: str = "", stderr: str = "",
                 exit_code: Optional[int] = None, **kwargs: Any):
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        super().__init__(message, **kwargs)


class NotFoundException(SandboxException):
    """The sandbox, file, process or route does not exist (404). The hosted SDK's name; catch
    it for any of them, or a subclass for one."""


class FileNotFoundException(NotFoundException, FileNotFoundError):
    """A path that files.* was given does not exist in the sandbox (the hosted SDK's name and
    base). Also a FileNotFoundError."""


class SandboxNotFoundException(NotFoundException):
    """No sandbox of that id: it never existed, or the daemon no longer remembers it (the
    hosted SDK's name and base). A sandbox that was killed but is still remembered is
    SandboxNotRunningException instead."""


class AuthenticationException(SandboxException):
    """The caller may not do this (403). declaw has no API keys: the daemon identifies callers by
    their uid, so this means "not yours" or "not allowed"; see PermissionDeniedException."""


class PermissionDeniedException(AuthenticationException, PermissionError):
    """403 forbidden: the sandbox belongs to another user, or the sandbox user lacks permission
    on a path (try `user="root"`). Also a PermissionError."""


class InvalidArgumentException(SandboxException):
    """The request was refused as invalid (400, 405): a bad value, path or type."""


class TooLargeException(InvalidArgumentException):
    """A body, header or file is over one of the daemon's limits (413)."""


class NotEnoughSpaceException(SandboxException):
    """The sandbox's disk is full (507)."""


class RateLimitException(SandboxException):
    """Over a configured limit of the daemon, such as max_sandboxes or max_connections (429)."""

    def __init__(self, message: str = "", retry_after: Optional[float] = None,
                 limit: Optional[int] = None, remaining: Optional[int] = None, **kwargs: Any):
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        super().__init__(message, **kwargs)


class ConflictException(SandboxException):
    """The request conflicts with the current state (409): make_dir() where a file is, a
    finished process, or a command or file call on a paused sandbox (resume() it first)."""


class SandboxNotRunningException(ConflictException):
    """The sandbox exists but is not running any more: it was killed, or its timeout passed."""


class NotImplementedException(SandboxException, NotImplementedError):
    """A valid request for a feature this declawd does not have yet (501)."""


class ConnectionException(SandboxException, ConnectionError):
    """declawd could not be reached, or closed the connection before answering."""


class CommandExitException(SandboxException):
    """A command exited with a non-zero code. `commands.run()` returns such results instead of
    raising (as the hosted SDK does); this class exists for command handles and callers that
    want to raise one themselves (CommandResult.check())."""

    def __init__(self, message: str = "", *, exit_code: int = 1, stdout: str = "",
                 stderr: str = "", error: Optional[str] = None, **kwargs: Any):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.error = error
        super().__init__(message, **kwargs)


class TemplateException(SandboxException):
    """A template operation failed for a reason of its own (the hosted SDK's name): a template
    that does not exist, or a build that failed. Other errors of template calls are the usual
    ones: a bad name is InvalidArgumentException, an existing name, a template in use or a
    built-in is ConflictException, a bad archive InvalidArgumentException (413:
    TooLargeException)."""


class TemplateNotFoundException(NotFoundException, TemplateException):
    """No template of that name (404 from a template route)."""


class BuildException(TemplateException, CommandExitException):
    """Template.build(): a step failed (a non-zero exit, or its step_timeout passed). `step`
    is its index in `steps` (0-based), `cmd` the command; `exit_code`, `stdout` and `stderr`
    are what it left (124 after a timeout). The build's sandbox was killed and nothing was
    published."""

    def __init__(self, message: str = "", *, step: int = 0, cmd: str = "", **kwargs: Any):
        self.step = step
        self.cmd = cmd
        super().__init__(message, **kwargs)


# The hosted SDK's other spelling of the base class.
SandboxError = SandboxException

# docs/api.md, "Errors": the daemon's codes. The status is the fallback for unknown codes.
_CLASS_BY_CODE = {
    "invalid_argument": InvalidArgumentException,
    "method_not_allowed": InvalidArgumentException,
    "forbidden": PermissionDeniedException,
    "not_found": NotFoundException,
    "timeout": TimeoutException,
    "conflict": ConflictException,
    "too_large": TooLargeException,
    "rate_limited": RateLimitException,
    "internal": SandboxException,
    "not_implemented": NotImplementedException,
    "not_enough_space": NotEnoughSpaceException,
}
_CODE_BY_STATUS = {
    400: "invalid_argument", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    408: "timeout", 409: "conflict", 413: "too_large", 429: "rate_limited", 431: "too_large",
    500: "internal", 501: "not_implemented", 507: "not_enough_space",
}

# What to do about it, appended to the daemon's message.
_HINTS = {
    "forbidden": "the sandbox's user may not do this; file operations and commands accept "
                 "user=\"root\" to act as the sandbox's root",
    "not_owner": "only the user who created a sandbox (or root) may use it",
    "too_large": "stay under the daemon's limits (GET /v1/health lists them; "
                 "docs/operations.md says how to raise them)",
    "rate_limited": "kill sandboxes you no longer need, or raise the daemon's limit "
                    "(docs/operations.md)",
    "not_enough_space": "the sandbox's disk is full: remove files in it",
    "internal": "this is a bug in declaw: please report it with the daemon's log",
    "not_running": "create a new sandbox; a sandbox stops when kill() is called or its timeout "
                   "passes (set_timeout() extends it)",
    "paused": "call sbx.resume() (or Sandbox.connect(sandbox_id), which resumes it); its "
              "processes and files are as they were",
    "no_link": "a sandbox created without internet access has no network link and cannot get "
               "one: create a new sandbox with allow_internet_access=True",
}

# How the daemon says a sandbox id is unknown (api/router.cc: the id quoted, any text in it;
# some routes append the errno's text).
_SANDBOX_NOT_FOUND = re.compile(r"sandbox ('.*'|\S+) not found\b")

# A conflict about one of the sandbox's processes, not the sandbox (api/process_handlers).
_PROCESS_MESSAGE = re.compile(r"(stdin of )?process \d+ ")


def exception_from_response(status: int, body: bytes,
                            sandbox_id: Optional[str] = None) -> SandboxException:
    """The exception for a daemon error answer: `{"error": {"code", "message", "sandbox_id"}}`."""
    error: Dict[str, Any] = {}
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace"))
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            error = parsed["error"]
    except ValueError:
        pass
    code = str(error.get("code") or _CODE_BY_STATUS.get(status, "internal"))
    message = str(error.get("message") or body[:300].decode("utf-8", errors="replace")
                  or f"HTTP {status}")
    sandbox_id = error.get("sandbox_id") or sandbox_id
    cls = _CLASS_BY_CODE.get(code) or _CLASS_BY_CODE.get(_CODE_BY_STATUS.get(status, ""),
                                                          SandboxException)
    hint = _HINTS.get(code)
    if code == "forbidden" and "belongs to another user" in message:
        hint = _HINTS["not_owner"]
    # ESRCH ("No such process") is how the daemon says the sandbox is not running (any more),
    # and also that one of its processes has finished or closed its stdin ("process 12 has
    # finished: No such process"): only the first is SandboxNotRunningException. Other
    # conflicts (EEXIST) are about paths.
    if cls is ConflictException and _PROCESS_MESSAGE.match(message):
        pass
    elif cls is ConflictException and "is paused" in message:
        hint = _HINTS["paused"]
    elif (cls is ConflictException and "without internet" in message
          and "create a new sandbox" not in message):
        hint = _HINTS["no_link"]
    elif cls is ConflictException and ("is not running" in message
                                       or message.endswith("No such process")):
        cls, hint = SandboxNotRunningException, _HINTS["not_running"]
    if cls is NotFoundException and _SANDBOX_NOT_FOUND.match(message):
        cls = SandboxNotFoundException
    if cls is NotImplementedException:
        message = _explain_not_implemented(message)
    text = f"{message}: {hint}" if hint else message
    return cls(text, sandbox_id=sandbox_id, code=code, status=status)


def _explain_not_implemented(message: str) -> str:
    if "internet" in message or "network" in message:
        return ("internet access is off in this declawd: pass allow_internet_access=False, or "
                "have its networking turned on (\"network\" in its config, "
                "docs/operations.md) (" + message + ")")
    if "pause needs cgroups" in message:
        return ("pause and resume need cgroups, and this declawd runs without them "
                "(\"cgroups\": \"off\" in its config, docs/operations.md) (" + message + ")")
    if "'background'" in message:
        return ("background commands are not available in this declawd yet: run the command "
                "in the foreground, or detach it inside one: "
                "'nohup CMD >/dev/null 2>&1 &' (" + message + ")")
    return message + ": this declawd does not support it yet"
