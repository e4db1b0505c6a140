"""Template: the templates of the local declawd (/v1/templates...): the built-ins, imported OCI
and docker-save image archives, and snapshots of sandboxes; and templates built from steps.

    from declaw import Sandbox, Template
    Template.import_archive("busybox.tar", "busybox")       # skopeo copy ... oci-archive:...
    Template.build("tools", from_template="base", steps=["pip install requests"])
    with Sandbox.create(template="tools") as sbx: ...
"""
import os
import urllib.parse
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Union

from ._calls import Call, not_found_is_false
from ._transport import DEFAULT_TIMEOUT, Transport, get_transport
from .exceptions import (BuildException, ConflictException, InvalidArgumentException,
                         NotFoundException, SandboxException, TemplateNotFoundException,
                         TimeoutException)
from .models import SandboxResources, TemplateInfo, TemplateSource
from .sandbox import Sandbox

# Socket timeout of calls that make the daemon work for long before it answers: an import
# (checking and unpacking every layer after the upload) and a snapshot (copying the changes).
LONG_OPERATION_TIMEOUT_S = 900.0
# The build's sandbox is killed after this many seconds unless `timeout` says otherwise.
DEFAULT_BUILD_TIMEOUT_S = 3600
# How much of a failed step's output its BuildException message quotes (all of it is in the
# exception's stdout and stderr).
_MESSAGE_OUTPUT_CHARS = 500

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def template_route(name: str) -> str:
    """/templates/NAME, the name quoted so that no name can address another route."""
    if not isinstance(name, str):
        raise TypeError(f"a template name is a str, not {type(name).__name__}")
    return "/templates/" + urllib.parse.quote(name, safe="")


def _long_timeout(transport: Transport, request_timeout: Optional[float]) -> Any:
    if request_timeout is not None:
        return request_timeout
    return max(transport.request_timeout, LONG_OPERATION_TIMEOUT_S)


def _timeout(request_timeout: Optional[float]) -> Any:
    return DEFAULT_TIMEOUT if request_timeout is None else request_timeout


def _not_found(error: NotFoundException) -> TemplateNotFoundException:
    return TemplateNotFoundException(str(error), code=error.code, status=error.status)


def _step_failure(index: int, count: int, cmd: str, how: str, stdout: str, stderr: str) -> str:
    output = (stderr.strip() or stdout.strip())[-_MESSAGE_OUTPUT_CHARS:]
    text = f"build failed: step {index + 1}/{count} ({cmd}) {how}; nothing was published"
    return f"{text}: {output}" if output else text


# The calls and checks of Template, shared with AsyncTemplate (template_async.py).

def _template_not_found(error: NotFoundException) -> Any:
    raise _not_found(error) from None


def import_call(name: str, body: Any, replace: bool, timeout: Any) -> Call:
    """PUT /templates/NAME with the archive BODY (a binary file object); its TemplateInfo."""
    return Call("PUT", template_route(name), query={"replace": "true"} if replace else None,
                body=body, headers={"Content-Type": "application/x-tar"}, timeout=timeout,
                parse=TemplateInfo.from_dict)


def list_call(request_timeout: Optional[float]) -> Call:
    return Call("GET", "/templates", timeout=_timeout(request_timeout),
                parse=lambda data: [TemplateInfo.from_dict(item)
                                    for item in data.get("templates", [])])


def get_call(name: str, request_timeout: Optional[float]) -> Call:
    return Call("GET", template_route(name), timeout=_timeout(request_timeout),
                parse=TemplateInfo.from_dict, on_not_found=_template_not_found)


def delete_call(name: str, request_timeout: Optional[float]) -> Call:
    return Call("DELETE", template_route(name), timeout=_timeout(request_timeout),
                parse=lambda _: True, on_not_found=not_found_is_false)


def check_steps(steps: Sequence[str]) -> List[str]:
    steps = list(steps)
    if not steps:
        raise InvalidArgumentException("steps: give at least one command to run")
    for n, cmd in enumerate(steps):
        if not isinstance(cmd, str) or not cmd:
            raise InvalidArgumentException(f"steps[{n}] must be a non-empty str, not {cmd!r}")
    return steps


def check_build_name(existing: Optional[TemplateInfo], name: str, replace: bool) -> None:
    """A build that could not be published fails before it starts."""
    if existing is None:
        return
    if existing.source == TemplateSource.BUILTIN:
        raise ConflictException(f"template {name} is a built-in and cannot be replaced",
                                code="conflict")
    if not replace:
        raise ConflictException(f"template {name} already exists: pass replace=True to "
                                "replace it", code="conflict")


def step_timed_out(sbx: Any, n: int, steps: List[str], step_timeout: Optional[float],
                   error: TimeoutException) -> BuildException:
    cmd = steps[n]
    return BuildException(
        _step_failure(n, len(steps), cmd, f"timed out after {step_timeout} s", error.stdout,
                      error.stderr),
        step=n, cmd=cmd, exit_code=124, stdout=error.stdout, stderr=error.stderr,
        sandbox_id=sbx.sandbox_id)


def check_step_result(sbx: Any, n: int, steps: List[str], result: Any) -> None:
    """BuildException for a step that exited non-zero."""
    if result.exit_code == 0:
        return
    cmd = steps[n]
    how = f"exited with code {result.exit_code}"
    if result.error:
        how += f" ({result.error})"
    raise BuildException(
        _step_failure(n, len(steps), cmd, how, result.stdout, result.stderr),
        step=n, cmd=cmd, exit_code=result.exit_code, stdout=result.stdout,
        stderr=result.stderr, error=result.error, sandbox_id=sbx.sandbox_id)


class Template:
    """Templates on the local declawd. Every method is a class method; each takes
    `request_timeout` (seconds to wait on the socket) and `socket_path` (default:
    $DECLAW_SOCKET, else /run/declaw/declaw.sock). Names are 1..128 letters, digits, ".", "_"
    and "-", starting with a letter or digit (else InvalidArgumentException)."""

    @staticmethod
    def import_archive(path: PathOrFile, name: str, replace: bool = False,
                       request_timeout: Optional[float] = None,
                       socket_path: Optional[str] = None) -> TemplateInfo:
        """Imports an image archive as template NAME and returns it: an OCI image layout in a tar
        (`skopeo copy docker://... oci-archive:f.tar`, `podman save --format oci-archive`) or a
        `docker save` archive, its layers plain, gzip or zstd. `path` is a file path or a binary
        file object; it is streamed (with its length when it has one, else chunked), never
        read into memory. An existing name is ConflictException unless `replace` (sandboxes
        made from the old one keep running on it); so is a built-in's name. A bad archive is
        InvalidArgumentException saying what is wrong; past the daemon's limits
        TooLargeException. `request_timeout` defaults to 900 s: after the upload the daemon
        checks and unpacks every layer before it answers."""
        transport = get_transport(socket_path)
        timeout = _long_timeout(transport, request_timeout)
        if hasattr(path, "read"):
            return transport.call(import_call(name, path, replace, timeout))
        with open(path, "rb") as f:
            return transport.call(import_call(name, f, replace, timeout))

    @staticmethod
    def list(request_timeout: Optional[float] = None,
             socket_path: Optional[str] = None) -> List[TemplateInfo]:
        """Every template, the built-ins (base, python, node) first."""
        return get_transport(socket_path).call(list_call(request_timeout))

    @staticmethod
    def get(name: str, request_timeout: Optional[float] = None,
            socket_path: Optional[str] = None) -> TemplateInfo:
        """One template; TemplateNotFoundException (a NotFoundException) when there is none."""
        return get_transport(socket_path).call(get_call(name, request_timeout))

    @staticmethod
    def exists(name: str, request_timeout: Optional[float] = None,
               socket_path: Optional[str] = None) -> bool:
        """True when there is a template of that name."""
        try:
            Template.get(name, request_timeout=request_timeout, socket_path=socket_path)
        except TemplateNotFoundException:
            return False
        return True

    @staticmethod
    def delete(name: str, request_timeout: Optional[float] = None,
               socket_path: Optional[str] = None) -> bool:
        """Deletes a template, and the layers no other template uses: True, or False when there
        was no such template (as Sandbox.kill). ConflictException while a live sandbox uses it,
        and for a built-in; PermissionDeniedException for another user's template."""
        return get_transport(socket_path).call(delete_call(name, request_timeout))

    @staticmethod
    def export(name: str, path: PathOrFile, request_timeout: Optional[float] = None,
               socket_path: Optional[str] = None) -> int:
        """Writes the template as an OCI image layout tar to `path` (a file path, created or
        truncated, or a binary file object) and returns its size in bytes. Streamed: any size
        works. Importing it again gives the same digests; `skopeo inspect oci-archive:` and
        `umoci unpack` read it. ConflictException for a built-in or a snapshot of one (it holds
        only changes over the host's /usr). A path is created only once the daemon answers,
        and removed if the transfer breaks off."""
        transport = get_transport(socket_path)
        try:
            answer = transport.request("GET", template_route(name) + "/archive", stream=True,
                                       timeout=_timeout(request_timeout))
        except NotFoundException as e:
            raise _not_found(e) from None
        with answer:
            if hasattr(path, "write"):
                return _copy_chunks(answer, path)
            try:
                with open(path, "wb") as f:
                    return _copy_chunks(answer, f)
            except BaseException:
                try:
                    os.unlink(path)
                except OSError:
                    pass
                raise

    @staticmethod
    def build(name: str, from_template: str = "base", steps: Sequence[str] = (),
              envs: Optional[Dict[str, str]] = None, replace: bool = False,
              timeout: int = DEFAULT_BUILD_TIMEOUT_S, step_timeout: Optional[float] = None,
              allow_internet_access: bool = True, network: Optional[Any] = None,
              resources: Optional[Union[SandboxResources, Dict[str, Any]]] = None,
              on_stdout: Optional[Callable[[str], None]] = None,
              on_stderr: Optional[Callable[[str], None]] = None,
              request_timeout: Optional[float] = None,
              socket_path: Optional[str] = None) -> TemplateInfo:
        """Builds template NAME: creates a sandbox from `from_template` (with `envs` as its
        environment, and `allow_internet_access`, `network` and `resources` as
        Sandbox.create() takes them), runs each of `steps` in order as root, then snapshots
        it as NAME and kills it. Returns the new template.

        A step that exits non-zero, or outlives `step_timeout` seconds (default: no limit but
        the sandbox's `timeout`, 3600 s), raises BuildException with its output and exit
        code; the sandbox is killed and nothing is published. The name is checked first, so a
        build that could not be published fails before it starts: a bad name is
        InvalidArgumentException, an existing one ConflictException unless `replace`, a
        built-in's always. `on_stdout`/`on_stderr` get the steps' output as it comes.
        The steps run under the sandbox's network policy: `allow_internet_access` defaults
        to True, as in Sandbox.create()."""
        steps = check_steps(steps)
        try:
            existing: Optional[TemplateInfo] = Template.get(
                name, request_timeout=request_timeout, socket_path=socket_path)
        except TemplateNotFoundException:
            existing = None
        check_build_name(existing, name, replace)
        sbx = Sandbox.create(template=from_template, timeout=timeout, envs=envs,
                             allow_internet_access=allow_internet_access, network=network,
                             resources=resources, request_timeout=request_timeout,
                             socket_path=socket_path)
        try:
            for n, cmd in enumerate(steps):
                _run_step(sbx, n, steps, step_timeout, on_stdout, on_stderr)
            return sbx.create_snapshot(name, replace=replace, request_timeout=request_timeout)
        finally:
            try:
                sbx.kill()
            except SandboxException:
                pass  # its timeout reaps it; the build's own outcome matters more


def _copy_chunks(answer: Any, f: Any) -> int:
    written = 0
    for chunk in answer:
        f.write(chunk)
        written += len(chunk)
    return written


def _run_step(sbx: Sandbox, n: int, steps: List[str], step_timeout: Optional[float],
              on_stdout: Optional[Callable[[str], None]],
              on_stderr: Optional[Callable[[str], None]]) -> None:
    try:
        result = sbx.commands.run(steps[n], user="root", timeout=step_timeout or 0,
                                  on_stdout=on_stdout, on_stderr=on_stderr)
    except TimeoutException as e:
        raise step_timed_out(sbx, n, steps, step_timeout, e) from None
    check_step_result(sbx, n, steps, result)
