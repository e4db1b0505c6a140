"""Sandbox: create, connect to, list, inspect and kill sandboxes (/v1/sandboxes...)."""
import functools
from typing import Any, Callable, Dict, List, Optional, Union

from . import _sandbox_calls as calls
from ._hosted import check_hosted_options
from ._sandbox_ref import SandboxRef
from ._transport import Transport, get_transport
from .code_interpreter import CodeInterpreter
from .code_models import Context, Execution, ExecutionError, OutputMessage, Result
from .commands import Commands
from .exceptions import NotFoundException
from .filesystem import Filesystem
from .models import (PortForward, SandboxInfo, SandboxMetricsList, SandboxQuery,
                     SandboxResources, SandboxState, TemplateInfo)
from .paginator import SandboxPaginator
from .pty import Pty


class _InstanceOrClassMethod:
    """`sbx.kill()` on an instance, `Sandbox.kill(sandbox_id)` on the class (as E2B allows)."""

    def __init__(self, instance_method: Any, class_method: Any):
        self._instance_method = instance_method
        self._class_method = class_method
        functools.update_wrapper(self, instance_method)

    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return functools.partial(self._class_method, owner)
        return functools.partial(self._instance_method, obj)


def _by_id(method: Any) -> Any:
    """The class form, `Sandbox.METHOD(sandbox_id, ...)`, of an instance method that takes
    only request_timeout."""

    def by_id(cls: Any, sandbox_id: str, request_timeout: Optional[float] = None,
              api_key: Optional[str] = None, domain: Optional[str] = None,
              socket_path: Optional[str] = None) -> Any:
        return method(cls(sandbox_id, socket_path=socket_path, request_timeout=request_timeout))

    functools.update_wrapper(by_id, method)
    return by_id


def _metrics_by_id(method: Any) -> Any:
    """`Sandbox.get_metrics(sandbox_id, start=, end=)`: the class form of get_metrics."""

    def by_id(cls: Any, sandbox_id: str, start: Any = None, end: Any = None,
              request_timeout: Optional[float] = None, api_key: Optional[str] = None,
              domain: Optional[str] = None, socket_path: Optional[str] = None) -> Any:
        sbx = cls(sandbox_id, socket_path=socket_path, request_timeout=request_timeout)
        return method(sbx, start, end)

    functools.update_wrapper(by_id, method)
    return by_id


class Sandbox:
    """A sandbox on the local declawd. Make one with Sandbox.create() or Sandbox.connect().

    `sbx.commands` runs commands and controls processes, `sbx.pty` opens terminals,
    `sbx.files` works on its filesystem. Used as a context manager
    (`with Sandbox.create(...) as sbx:`), the sandbox is killed when the block ends.

    Every method accepts `request_timeout` (seconds to wait for the daemon; default 60, longer
    for commands). Class methods take `socket_path` (default: $DECLAW_SOCKET, else
    /run/declaw/declaw.sock); `api_key` and `domain` are accepted and ignored, so code written
    for the hosted service runs unchanged (the daemon identifies callers by their uid).
    """

    default_template = "base"
    default_sandbox_timeout = 300

    def __init__(self, sandbox_id: str, *, socket_path: Optional[str] = None,
                 request_timeout: Optional[float] = None,
                 transport: Optional[Transport] = None):
        # What sbx.commands, sbx.files, sbx.pty and the handles get, rather than the Sandbox.
        self._ref = SandboxRef(transport or get_transport(socket_path), sandbox_id,
                               request_timeout)
        self._sandbox_id = sandbox_id
        self._route = self._ref.route
        self._transport = self._ref.transport
        self._commands = Commands(self._ref)
        self._files = Filesystem(self._ref)
        self._pty = Pty(self._ref)
        self._code = CodeInterpreter(self._ref, self._commands, self._files)

    @property
    def request_timeout(self) -> Optional[float]:
        """The default socket timeout of this sandbox's calls; setting it changes it for
        commands, files, terminals and process handles too."""
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
    def commands(self) -> Commands:
        return self._commands

    @property
    def files(self) -> Filesystem:
        return self._files

    @property
    def pty(self) -> Pty:
        return self._pty

    def _timeout(self, request_timeout: Optional[float]) -> Any:
        return self._ref.timeout(request_timeout)

    def __repr__(self) -> str:
        return f"Sandbox({self._sandbox_id!r}, socket_path={self.socket_path!r})"

    # -- creating and finding sandboxes ------------------------------------------------------

    @classmethod
    def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
               metadata: Optional[Dict[str, str]] = None, envs: Optional[Dict[str, str]] = None,
               allow_internet_access: bool = True, network: Optional[Any] = None,
               lifecycle: Optional[Dict[str, Any]] = None,
               resources: Optional[Union[SandboxResources, Dict[str, Any]]] = None,
               secure: bool = True, api_key: Optional[str] = None,
               domain: Optional[str] = None, request_timeout: Optional[float] = None,
               socket_path: Optional[str] = None, **hosted_options: Any) -> "Sandbox":
        """Creates a sandbox and returns it, running.

        `template`: "base" (default), "python", "node", or any template of Template.list()
        (imported images, snapshots, built templates). `timeout`: seconds until the sandbox is
        killed (default 300; set_timeout() changes it). `metadata`: your labels, for
        Sandbox.list(). `envs`: environment of every command.
        `allow_internet_access` defaults to True as in the hosted SDK, and is always sent:
        False leaves the sandbox without any network link (and it cannot get one later);
        True is NotImplementedException from a daemon that runs without networking.
        `network`: egress rules, SandboxNetworkOpts(allow_out=[...], deny_out=[...]) or the
        same dict: IPs, CIDRs, domains, "*.domain" wildcards, ALL_TRAFFIC; with allow_out,
        everything else is denied; allow wins over deny. A bad entry is
        InvalidArgumentException naming it. sbx.update_network() changes them later.
        `resources`: a SandboxResources or a dict with cpu (cores), memory_mb, pids, disk_mb;
        those not given take the daemon's defaults; out of range is InvalidArgumentException.
        `lifecycle`: {"on_timeout": "pause"} pauses the sandbox at its timeout instead of
        killing it. `secure` (the hosted TLS proxy) is ignored.
        Other options of the hosted SDKs (`security`, `vault_refs`, `volumes`, ...) are
        NotImplementedException where ignoring them would change the sandbox, else ignored
        with a HostedOptionWarning (docs/python.md).
        """
        check_hosted_options("Sandbox.create", hosted_options)
        transport = get_transport(socket_path)
        sandbox_id = transport.call(calls.create_call(
            template, timeout, metadata, envs, allow_internet_access, network, lifecycle,
            resources, request_timeout))
        return cls(sandbox_id, request_timeout=request_timeout, transport=transport)

    @classmethod
    def connect(cls, sandbox_id: str, timeout: Optional[int] = None,
                api_key: Optional[str] = None, domain: Optional[str] = None,
                request_timeout: Optional[float] = None,
                socket_path: Optional[str] = None, **hosted_options: Any) -> "Sandbox":
        """A Sandbox for an existing sandbox (one you created, unless you are root), running:
        a paused sandbox is resumed, as the hosted SDK does. `timeout` (seconds), when given,
        resets its timeout as set_timeout() does. Raises NotFoundException for an unknown id
        (SandboxNotFoundException) and SandboxNotRunningException for a killed sandbox. To look at a paused sandbox
        without resuming it, use Sandbox.get_info(sandbox_id)."""
        check_hosted_options("Sandbox.connect", hosted_options)
        sbx = cls(sandbox_id, socket_path=socket_path, request_timeout=request_timeout)
        if calls.connect_step(sbx.get_info(), sandbox_id) == "resume":
            sbx.resume(timeout)
        elif timeout is not None:
            sbx.set_timeout(timeout)
        return sbx

    @staticmethod
    def list(query: Optional[Union[SandboxQuery, Dict[str, Any]]] = None,
             limit: Optional[int] = None, next_token: Optional[str] = None,
             api_key: Optional[str] = None, domain: Optional[str] = None,
             request_timeout: Optional[float] = None,
             socket_path: Optional[str] = None) -> SandboxPaginator:
        """Your sandboxes (all of them for root), newest first, a page at a time, as the hosted
        SDK: `while p.has_next: p.next_items()`. Nothing is asked before the first
        next_items(). `query` filters by metadata (all pairs must match) and state; without a
        state, only live (creating, running or paused) sandboxes are listed, as the hosted API
        hides killed ones. `limit`: sandboxes a page, 1 to 1000 (default 1000).
        `next_token`: go on from a paginator's next_token. Sandboxes created or killed while
        you page neither repeat nor hide others. Iterating the paginator
        (`for info in Sandbox.list()`, `list(Sandbox.list())`) yields every sandbox of the
        pages left, as list() did before it paged."""
        return SandboxPaginator(get_transport(socket_path), query, limit, next_token,
                                request_timeout)

    # -- this sandbox ------------------------------------------------------------------------

    def _call(self, call: Any) -> Any:
        return self._transport.call(call)

    def _get_info(self, request_timeout: Optional[float] = None) -> SandboxInfo:
        return self._call(calls.info_call(self._ref, request_timeout))

    def _get_metrics(self, start: Any = None, end: Any = None,
                     request_timeout: Optional[float] = None) -> SandboxMetricsList:
        samples = self._call(calls.metrics_history_call(self._ref, start, end, request_timeout))
        if end is None:
            samples.append(self._call(calls.metrics_call(self._ref, request_timeout)))
        return SandboxMetricsList(samples)

    def _pause(self, request_timeout: Optional[float] = None) -> SandboxInfo:
        return self._call(calls.pause_call(self._ref, request_timeout))

    # sbx.get_info() or Sandbox.get_info(sandbox_id): its SandboxInfo, whatever its state.
    get_info = _InstanceOrClassMethod(_get_info, _by_id(_get_info))
    # sbx.get_metrics(start=None, end=None) or Sandbox.get_metrics(sandbox_id, start, end):
    # what it used, a list of SandboxMetrics oldest first, as the hosted SDK: the samples the
    # daemon took from `start` to `end` (datetimes or unix seconds; None: open), every 5 s for
    # the last hour by default; without `end`, the list ends with a reading taken now. The list
    # also answers the newest sample's fields (`sbx.get_metrics().mem_used`), as get_metrics()
    # did when it returned one sample. Also while paused.
    get_metrics = _InstanceOrClassMethod(_get_metrics, _metrics_by_id(_get_metrics))
    # sbx.pause() or Sandbox.pause(sandbox_id): freezes every process of the sandbox and stops
    # its timeout clock; returns its SandboxInfo (state "paused"). Pausing a paused sandbox is
    # fine. Commands and file calls raise ConflictException until resume().
    # NotImplementedException when the daemon runs without cgroups.
    pause = _InstanceOrClassMethod(_pause, _by_id(_pause))

    def resume(self, timeout: Optional[int] = None,
               request_timeout: Optional[float] = None) -> SandboxInfo:
        """Thaws a paused sandbox: its processes run on where they stopped. Its timeout clock
        runs again with the time it had left when paused; after a timeout pause (lifecycle
        on_timeout "pause") with nothing left, its full timeout again. `timeout` (seconds),
        when given, is the time it gets from now instead. Resuming a running sandbox is fine
        (and with `timeout`, sets it). Returns its SandboxInfo."""
        if timeout is not None:
            # While paused this only sets the time left, so the clock starts with it.
            self.set_timeout(timeout, request_timeout)
        return self._call(calls.resume_call(self._ref, request_timeout))

    def _get_network(self, request_timeout: Optional[float] = None) -> Dict[str, Any]:
        return self._call(calls.get_network_call(self._ref, request_timeout))

    # sbx.get_network() or Sandbox.get_network(sandbox_id): its egress rules, link and refusal
    # counts as a dict: {"allow_internet_access": bool, "allow_out": [...], "deny_out": [...],
    # "address": "198.18.0.6" or None, "gateway", "address6", "interface",
    # "refused": {"dns": N, "proxy": N, "firewall_packets": N}}.
    get_network = _InstanceOrClassMethod(_get_network, _by_id(_get_network))

    def update_network(self, allow_out: Optional[List[str]] = None,
                       deny_out: Optional[List[str]] = None,
                       allow_internet_access: Optional[bool] = None,
                       request_timeout: Optional[float] = None) -> Dict[str, Any]:
        """Changes the sandbox's egress rules while it runs (or is paused): each argument
        given replaces that part, each one left None keeps it, so `allow_out=[]` clears the
        allow list and `update_network(deny_out=[ALL_TRAFFIC])` touches only deny_out.
        New connections and DNS queries follow the new rules at once; open connections go
        on. `allow_internet_access=False` cuts it off; True works only for a sandbox created
        with internet access (else ConflictException: create a new sandbox). A bad entry is
        InvalidArgumentException naming it. Returns what get_network() would (with no
        argument, it is get_network())."""
        return self._call(calls.update_network_call(self._ref, allow_out, deny_out,
                                                    allow_internet_access, request_timeout))

    def create_snapshot(self, name: str, replace: bool = False,
                        request_timeout: Optional[float] = None) -> TemplateInfo:
        """Saves the sandbox's root as template NAME and returns it: everything it changed
        (new and changed files, deletions, owners and modes) becomes one more layer over its
        template's. The sandbox is frozen for the copy and then runs on unchanged (a paused one
        stays paused). Sandbox.create(template=name) starts from it. An existing name is
        ConflictException unless `replace`; a template holds at most 100 layers (past that,
        InvalidArgumentException). NotImplementedException when the daemon runs without
        cgroups (the freezer). `request_timeout` defaults to 900 s: the copy takes a while for
        a sandbox that changed a lot."""
        return self._call(calls.snapshot_call(self._ref, name, replace, request_timeout))

    # -- ports: a server inside, reached from the host ----------------------------------------

    def get_host(self, port: int, request_timeout: Optional[float] = None) -> str:
        """"127.0.0.1:N": an address on the host's loopback whose connections the daemon
        forwards to 127.0.0.1:PORT inside the sandbox (e.g. `python3 -m http.server PORT
        --bind 127.0.0.1` there, then `http://` + get_host(PORT) here). Made on the first call,
        the same address after; it lasts until close_port(PORT) or the sandbox ends.

        E2B's get_host(port) computes a public hostname (f"{port}-{sandbox_id}.{domain}",
        without asking the service) behind its TLS proxy, reachable from anywhere, for HTTP and
        WebSocket. declaw has no proxy and nothing public: this asks the daemon for a plain TCP
        listener on this host's 127.0.0.1 (so use http://, not https://; any TCP protocol
        works), which anyone on this host can connect to (not only its owner, unlike
        get_port_socket()), and nothing off the host. The sandbox needs inet sockets for anything in it to listen:
        create it with `network={"loopback_inet": True}` (or internet access); otherwise
        ConflictException. A server that is not listening yet is not an error here: each
        connection is closed at once until it is."""
        return self._call(calls.port_host_call(self._ref, port, request_timeout))

    def get_port_socket(self, port: int, request_timeout: Optional[float] = None) -> str:
        """The path of a unix socket on the host forwarded to 127.0.0.1:PORT inside the sandbox
        (`<state_dir>/ports/<id>/<port>.sock`): only the sandbox's owner (and root) can
        connect, as its mode is 0600. Made on the first call (of this or get_host()), the same
        one after; it goes with close_port(PORT) or the sandbox. E.g. `curl --unix-socket PATH
        http://x/`. Same conditions as get_host() (ConflictException without loopback_inet)."""
        return self._call(calls.port_socket_call(self._ref, port, request_timeout))

    def close_port(self, port: int, request_timeout: Optional[float] = None) -> bool:
        """Ends PORT's forward: its socket and TCP listener go and their connections close.
        True when it ended, False when the port was not forwarded (as kill() answers for an
        unknown sandbox)."""
        return self._call(calls.close_port_call(self._ref, port, request_timeout))

    def list_ports(self, request_timeout: Optional[float] = None) -> List[PortForward]:
        """The sandbox's forwarded ports: PortForward(port, unix_socket, host or None)."""
        return self._call(calls.list_ports_call(self._ref, request_timeout))

    # -- running code (E2B's code interpreter) -----------------------------------------------

    def run_code(self, code: str, language: Optional[str] = None,
                 context: Optional[Context] = None,
                 on_stdout: Optional[Callable[[OutputMessage], Any]] = None,
                 on_stderr: Optional[Callable[[OutputMessage], Any]] = None,
                 on_result: Optional[Callable[[Result], Any]] = None,
                 on_error: Optional[Callable[[ExecutionError], Any]] = None,
                 envs: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
                 request_timeout: Optional[float] = None) -> Execution:
        """Runs Python CODE in a stateful IPython kernel inside the sandbox and returns its
        Execution: `results` (display() calls and the last expression's value, with text,
        html, png... representations), `logs.stdout`/`logs.stderr`, `error` (the exception
        it raised: name, value, traceback) and `.text`. Variables, imports and the working
        directory persist from call to call in the same context: `context` (from
        create_code_context()), else the language's default context, started on first use.
        The callbacks get each piece as it comes. `envs` are set for this execution only.
        `timeout` in seconds (default 300, 0: none): past it the code is interrupted (the
        context keeps its variables) and TimeoutException is raised. Works without internet
        access. One execution at a time per context; contexts run in parallel. Needs
        python3-ipykernel in the template (NotImplementedException otherwise).
        docs/python.md, "Running code: run_code"."""
        return self._code.run_code(code, language, context, on_stdout, on_stderr, on_result,
                                   on_error, envs, timeout, request_timeout)

    def create_code_context(self, cwd: Optional[str] = None, language: Optional[str] = None,
                            request_timeout: Optional[float] = None) -> Context:
        """A new context, a kernel of its own (started now) with its own variables, whose
        code runs in `cwd` (default /home/user). Pass it to run_code(context=...)."""
        return self._code.create_code_context(cwd, language, request_timeout)

    def list_code_contexts(self, request_timeout: Optional[float] = None) -> List[Context]:
        """The contexts whose kernels run in the sandbox (the default one once used)."""
        return self._code.list_code_contexts(request_timeout)

    def restart_code_context(self, context: Union[Context, str, None] = None,
                             request_timeout: Optional[float] = None) -> None:
        """A fresh kernel for the context (default: Python's default context): its
        variables are gone."""
        self._code.restart_code_context(context, request_timeout)

    def remove_code_context(self, context: Union[Context, str],
                            request_timeout: Optional[float] = None) -> None:
        """Shuts the context's kernel down. Removing an unknown context does nothing."""
        self._code.remove_code_context(context, request_timeout)

    def is_running(self, request_timeout: Optional[float] = None) -> bool:
        """True while the sandbox runs; False while paused, once killed, or if the daemon
        forgot it."""
        try:
            return self.get_info(request_timeout).state == SandboxState.RUNNING
        except NotFoundException:
            return False

    def set_timeout(self, timeout: int, request_timeout: Optional[float] = None) -> None:
        """The sandbox will now be killed (or paused, with lifecycle on_timeout "pause")
        TIMEOUT seconds from now, not from its creation. On a paused sandbox, it sets the time
        it will have once resumed."""
        self._call(calls.set_timeout_call(self._ref, timeout, request_timeout))

    def _kill_this(self, request_timeout: Optional[float] = None) -> bool:
        killed = self._call(calls.kill_call(self._sandbox_id, self._timeout(request_timeout)))
        self._code.close()
        return killed

    def _kill_by_id(cls, sandbox_id: str, request_timeout: Optional[float] = None,
                    api_key: Optional[str] = None, domain: Optional[str] = None,
                    socket_path: Optional[str] = None) -> bool:
        return get_transport(socket_path).call(
            calls.kill_call(sandbox_id, calls.class_timeout(request_timeout)))

    # sbx.kill() or Sandbox.kill(sandbox_id): kills the sandbox and everything in it. True when
    # killed (also if it already was), False when the daemon does not know the sandbox.
    kill = _InstanceOrClassMethod(_kill_this, _kill_by_id)
    # The hosted SDK's name for Sandbox.kill(sandbox_id).
    kill_by_id = classmethod(_kill_by_id)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        try:
            self.kill()
        except Exception:
            if error is None:
                raise  # do not hide the block's own exception behind a failed kill
