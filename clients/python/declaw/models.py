"""The values the SDK returns: sandboxes, command results and file entries, built from the
daemon's JSON (docs/api.md). Field names follow the hosted SDK; declaw-only fields come last."""
import base64
import datetime
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Union

from .exceptions import CommandExitException, InvalidArgumentException


def parse_time(text: Optional[str]) -> Optional[datetime.datetime]:
    """RFC 3339 UTC ("2026-11-27T02:41:01Z") as an aware datetime; None stays None."""
    if not text:
        return None
    # datetime.fromisoformat() learnt "Z" only in 3.11.
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class SandboxState(str, Enum):
    """A sandbox's state. A str, so `info.state == "running"` holds too."""

    CREATING = "creating"
    RUNNING = "running"
    # Frozen by pause() or by its timeout with lifecycle on_timeout "pause": its processes
    # and files are kept, commands and file calls are refused until resume().
    PAUSED = "paused"
    KILLED = "killed"


@dataclass
class SandboxResources:
    """What a sandbox may use, for Sandbox.create(resources=...) and in SandboxInfo. Fields
    left None take the daemon's defaults (`default_resources` in GET /v1/health)."""

    cpu: Optional[float] = None  # cores (a CFS quota): 0.5 is half a core
    memory_mb: Optional[int] = None  # its processes and its files (the disk is memory too)
    pids: Optional[int] = None  # processes and threads
    disk_mb: Optional[int] = None  # everything it can write: /, /home/user and /tmp

    def to_dict(self) -> Dict[str, Any]:
        return {name: value for name, value in (("cpu", self.cpu), ("memory_mb", self.memory_mb),
                                                ("pids", self.pids), ("disk_mb", self.disk_mb))
                if value is not None}

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "SandboxResources":
        data = data or {}
        return cls(cpu=data.get("cpu"), memory_mb=data.get("memory_mb"), pids=data.get("pids"),
                   disk_mb=data.get("disk_mb"))


# The hosted SDK's constant for "every destination", in allow_out or deny_out. The daemon reads
# it (and the string "ALL_TRAFFIC") as every IPv4 and IPv6 address and every name.
ALL_TRAFFIC = "0.0.0.0/0"

# Keys of the hosted SDK's network options that mean nothing here: declaw sandboxes have no
# public URLs to open or close, so Sandbox.create() leaves this out of the request.
_HOSTED_ONLY_NETWORK_KEYS = ("allow_public_traffic",)


class SandboxNetworkOpts(dict):
    """Egress rules for Sandbox.create(network=...): destinations the sandbox may reach
    (`allow_out`) and may not (`deny_out`). Entries are IP addresses, CIDRs ("10.1.0.0/16"),
    domains ("example.com") and wildcards ("*.example.com": subdomains, not the apex);
    ALL_TRAFFIC is every destination. With allow_out, everything not allowed is denied; allow
    wins over deny.

    A dict, as the hosted SDK's TypedDict of the same name (`opts["allow_out"]` works), with
    the lists as attributes too. A list left None is not sent."""

    def __init__(self, allow_out: Optional[List[str]] = None,
                 deny_out: Optional[List[str]] = None, **other: Any):
        super().__init__(**other)
        if allow_out is not None:
            self["allow_out"] = allow_out
        if deny_out is not None:
            self["deny_out"] = deny_out

    @property
    def allow_out(self) -> Optional[List[str]]:
        return self.get("allow_out")

    @property
    def deny_out(self) -> Optional[List[str]]:
        return self.get("deny_out")

    def to_dict(self) -> Dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        return f"SandboxNetworkOpts({dict.__repr__(self)})"


def network_list(value: Any, where: str) -> List[str]:
    """A list of rule entries as the daemon takes it. A lone string is refused rather than
    sent: `allow_out="example.com"` is almost always meant as ["example.com"]."""
    if isinstance(value, str):
        raise InvalidArgumentException(
            f"{where} must be a list of strings, not a str: write [{value!r}]")
    if not isinstance(value, (list, tuple)):
        raise InvalidArgumentException(
            f"{where} must be a list of strings, not {type(value).__name__}")
    for n, entry in enumerate(value):
        if not isinstance(entry, str):
            raise InvalidArgumentException(
                f"{where}[{n}] must be a string, not {type(entry).__name__}: {entry!r}")
    return list(value)


def network_body(network: Any) -> Dict[str, Any]:
    """The create request's "network" from a SandboxNetworkOpts, a dict or an object with
    to_dict(). The lists are checked to be lists of strings; what each entry may be is the
    daemon's to say (InvalidArgumentException naming the entry). Other keys are sent as they
    are, for the daemon to refuse, except the hosted SDK's allow_public_traffic, dropped."""
    if hasattr(network, "to_dict"):
        network = network.to_dict()
    if not isinstance(network, dict):
        raise InvalidArgumentException(
            "network must be a dict or SandboxNetworkOpts(allow_out=[...], deny_out=[...]), "
            f"not {type(network).__name__}")
    body: Dict[str, Any] = {}
    for key, value in network.items():
        if key in _HOSTED_ONLY_NETWORK_KEYS:
            continue
        if key in ("allow_out", "deny_out") and value is not None:
            value = network_list(value, f"network.{key}")
        body[key] = value
    return body


@dataclass
class SandboxInfo:
    sandbox_id: str
    template_id: str
    metadata: Dict[str, str] = field(default_factory=dict)
    started_at: Optional[datetime.datetime] = None
    end_at: Optional[datetime.datetime] = None
    state: Union[SandboxState, str] = SandboxState.RUNNING
    # The hosted SDK's human-readable name; declaw sandboxes are named after their template.
    name: str = ""
    envs: Dict[str, str] = field(default_factory=dict)
    allow_internet_access: bool = False
    owner_uid: Optional[int] = None
    # The limits it was created with (the daemon's defaults for those not asked).
    resources: SandboxResources = field(default_factory=SandboxResources)
    # {"on_timeout": "kill" | "pause"}: what its timeout does.
    lifecycle: Dict[str, Any] = field(default_factory=lambda: {"on_timeout": "kill"})
    # Its egress rules and link, as sbx.get_network() returns them without
    # allow_internet_access: {"allow_out": [...], "deny_out": [...], "address": "198.18.0.6"
    # or None, "gateway", "address6", "interface", "refused": {"dns": N, "proxy": N,
    # "firewall_packets": N}}. The lists hold the daemon's canonical form of each entry.
    network: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "SandboxInfo":
        state = data.get("state", "running")
        try:
            state = SandboxState(state)
        except ValueError:
            pass  # a state this SDK does not know yet: keep the string
        return cls(
            sandbox_id=data["sandbox_id"],
            template_id=data.get("template_id", ""),
            metadata=dict(data.get("metadata") or {}),
            started_at=parse_time(data.get("started_at")),
            end_at=parse_time(data.get("end_at")),
            state=state,
            name=data.get("template_id", ""),
            envs=dict(data.get("envs") or {}),
            allow_internet_access=bool(data.get("allow_internet_access", False)),
            owner_uid=data.get("owner_uid"),
            resources=SandboxResources.from_dict(data.get("resources")),
            lifecycle=dict(data.get("lifecycle") or {"on_timeout": "kill"}),
            network=dict(data.get("network") or {}),
        )


@dataclass
class SandboxMetrics:
    """What a sandbox uses now (GET .../metrics). The first fields are the hosted SDK's
    SandboxMetrics; sizes are bytes."""

    timestamp: Optional[datetime.datetime] = None
    # cpu_cores_used as a percentage of cpu_count (0 when the sandbox has no CPU limit).
    cpu_used_pct: float = 0.0
    # The sandbox's CPU limit in cores (resources.cpu; may be fractional; 0 = none).
    cpu_count: float = 0.0
    mem_used: int = 0
    mem_total: int = 0  # its memory limit
    disk_used: int = 0
    disk_total: int = 0  # its disk limit
    # Cores busy on average since the previous sample of this sandbox (anyone's, also
    # declawctl stats), or since it started.
    cpu_cores_used: float = 0.0
    cpu_usage_ns: int = 0  # CPU time used since it started
    pids: int = 0
    pids_limit: int = 0
    oom_kills: int = 0  # processes the OOM killer ended in it
    # Bytes through its network interface; None without one (no internet access).
    net_rx_bytes: Optional[int] = None
    net_tx_bytes: Optional[int] = None

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "SandboxMetrics":
        return cls(
            timestamp=parse_time(data.get("timestamp")),
            cpu_used_pct=float(data.get("cpu_used_pct") or 0),
            cpu_count=float(data.get("cpu_count") or 0),
            mem_used=int(data.get("mem_used") or 0),
            mem_total=int(data.get("mem_total") or 0),
            disk_used=int(data.get("disk_used") or 0),
            disk_total=int(data.get("disk_total") or 0),
            cpu_cores_used=float(data.get("cpu_cores_used") or 0),
            cpu_usage_ns=int(data.get("cpu_usage_ns") or 0),
            pids=int(data.get("pids") or 0),
            pids_limit=int(data.get("pids_limit") or 0),
            oom_kills=int(data.get("oom_kills") or 0),
            net_rx_bytes=data.get("net_rx_bytes"),
            net_tx_bytes=data.get("net_tx_bytes"),
        )


class SandboxMetricsList(list):
    """sbx.get_metrics(): a list of SandboxMetrics, oldest first, as the hosted SDKs return.

    For code written when get_metrics() returned one SandboxMetrics, the list also answers
    that one's fields from its newest sample (`sbx.get_metrics().mem_used`): without `end`
    that is a reading taken at the call. New code should index: `sbx.get_metrics()[-1]`."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in SandboxMetrics.__dataclass_fields__:
            raise AttributeError(name)
        if not self:
            raise AttributeError(f"{name}: no metrics samples in the range asked")
        return getattr(self[-1], name)


@dataclass
class PortForward:
    """A port of the sandbox's 127.0.0.1 forwarded to the host (sbx.list_ports()): connect to
    `unix_socket` (the sandbox owner's, mode 0600) or, when one was asked for with get_host(),
    to `host` ("127.0.0.1:N" on the host's loopback; None without one)."""

    port: int
    unix_socket: str
    host: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "PortForward":
        return cls(port=int(data["port"]), unix_socket=str(data["unix_socket"]),
                   host=data.get("host") or None)


@dataclass
class SandboxQuery:
    """Filters for Sandbox.list(): sandboxes whose metadata has all these pairs, in one of these
    states (default: the live ones, creating, running and paused, as the hosted API hides
    killed sandboxes; list SandboxState.KILLED to see those the daemon remembers)."""

    metadata: Optional[Dict[str, str]] = None
    state: Optional[List[Union[SandboxState, str]]] = None


def _decode_output(data: Dict[str, Any], name: str) -> bytes:
    encoded = data.get(name + "_base64")
    if encoded is not None:
        return base64.b64decode(encoded)
    return str(data.get(name) or "").encode("utf-8")


def exit_error(signal: Optional[int], oom_killed: bool = False) -> Optional[str]:
    """CommandResult.error: why a command did not exit by itself, or None."""
    if not signal:
        return None
    return f"killed by signal {signal}" + (" (out of memory)" if oom_killed else "")


@dataclass
class CommandResult:
    """What a finished command produced. `stdout`/`stderr` are text (bytes that are not UTF-8
    become U+FFFD); `stdout_bytes`/`stderr_bytes` are the exact bytes."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    # Why the command did not exit normally ("killed by signal 9"), else None.
    error: Optional[str] = None
    pid: Optional[int] = None
    signal: Optional[int] = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    # Output a live stream dropped because the reader fell behind the daemon's ring buffer.
    lost_bytes: int = 0
    # The OOM killer struck in the sandbox while the command ran (it went over the sandbox's
    # memory_mb): most likely the command itself was killed. Set by a foreground run()
    # without callbacks; the daemon does not report it for streamed or background processes.
    oom_killed: bool = False

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CommandResult":
        out = _decode_output(data, "stdout")
        err = _decode_output(data, "stderr")
        sig = data.get("signal")
        oom_killed = bool(data.get("oom_killed", False))
        return cls(
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            exit_code=int(data.get("exit_code", 0)),
            error=exit_error(sig, oom_killed),
            pid=data.get("pid"),
            signal=sig,
            stdout_truncated=bool(data.get("stdout_truncated", False)),
            stderr_truncated=bool(data.get("stderr_truncated", False)),
            stdout_bytes=out,
            stderr_bytes=err,
            oom_killed=oom_killed,
        )

    def check(self) -> "CommandResult":
        """Raises CommandExitException if the exit code is not 0; else returns self."""
        if self.exit_code != 0:
            raise CommandExitException(
                f"command exited with code {self.exit_code}"
                + (f" ({self.error})" if self.error else "")
                + (f": {self.stderr.strip()[-500:]}" if self.stderr.strip() else ""),
                exit_code=self.exit_code, stdout=self.stdout, stderr=self.stderr,
                error=self.error)
        return self


@dataclass
class ProcessInfo:
    """A process the daemon started through the API (GET .../commands): running, or recently
    finished. `cmd` is the command as given (it runs as `/bin/bash -l -c cmd`); for a command
    given as an argv, `argv` is that list and `cmd` its shell-quoted form."""

    pid: int
    cmd: str = ""
    user: str = ""
    cwd: str = ""
    started_at: Optional[datetime.datetime] = None
    running: bool = False
    # When finished: the exit code (128+N and `signal` N if a signal ended it, 124 and
    # `timed_out` after its timeout). None while it runs, or when the sandbox ended under it
    # (then `error` says so).
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    timed_out: bool = False
    is_pty: bool = False
    background: bool = False
    stdin_open: bool = False
    ended_at: Optional[datetime.datetime] = None
    error: Optional[str] = None
    argv: Optional[List[str]] = None

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ProcessInfo":
        return cls(
            pid=int(data["pid"]),
            cmd=data.get("cmd") or "",
            user=data.get("user") or "",
            cwd=data.get("cwd") or "",
            started_at=parse_time(data.get("started_at")),
            running=bool(data.get("running", False)),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            timed_out=bool(data.get("timed_out", False)),
            is_pty=bool(data.get("is_pty", False)),
            background=bool(data.get("background", False)),
            stdin_open=bool(data.get("stdin_open", False)),
            ended_at=parse_time(data.get("ended_at")),
            error=data.get("error"),
            argv=list(data["argv"]) if data.get("argv") else None,
        )


@dataclass
class PtySize:
    """A terminal's size in character cells."""

    rows: int
    cols: int


class FileType(str, Enum):
    """An entry's type. A str, so `entry.type == "file"` holds too."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass
class EntryInfo:
    """A file, directory or symlink inside the sandbox (a symlink is described, not followed)."""

    name: str
    path: str
    type: Union[FileType, str]
    size: int = 0
    mode: int = 0
    permissions: str = ""
    owner: str = ""
    group: str = ""
    modified_time: Optional[datetime.datetime] = None
    symlink_target: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "EntryInfo":
        kind = data.get("type", "file")
        try:
            kind = FileType(kind)
        except ValueError:
            pass
        return cls(
            name=data.get("name", ""),
            path=data.get("path", ""),
            type=kind,
            size=int(data.get("size", 0)),
            mode=int(data.get("mode", 0)),
            permissions=data.get("permissions", ""),
            owner=data.get("owner", ""),
            group=data.get("group", ""),
            modified_time=parse_time(data.get("modified_time")),
            symlink_target=data.get("symlink_target"),
        )


class FilesystemEventType(str, Enum):
    """What happened to an entry of a watched directory (files.watch_dir)."""

    CHMOD = "chmod"
    CREATE = "create"
    REMOVE = "remove"
    RENAME = "rename"
    WRITE = "write"


@dataclass
class FilesystemEvent:
    """One change under a watched directory: `name` is relative to it ("sub/file.txt")."""

    name: str
    type: Union[FilesystemEventType, str]

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "FilesystemEvent":
        kind = data.get("type", "")
        try:
            kind = FilesystemEventType(kind)
        except ValueError:
            pass
        return cls(name=data.get("name", ""), type=kind)


# files.write() answers with an EntryInfo: it has the hosted WriteInfo's path and size (and
# E2B's name and type).
WriteInfo = EntryInfo


@dataclass
class WriteEntry:
    """One file for files.write_files(): `data` is str, bytes or a binary file object."""

    path: str
    data: Any


class TemplateSource(str, Enum):
    """Where a template came from. A str, so `info.source == "import"` holds too."""

    BUILTIN = "builtin"  # base, python, node: the host's /usr under an overlay
    IMPORT = "import"  # an OCI or docker-save image archive (Template.import_archive())
    SNAPSHOT = "snapshot"  # a sandbox's root (sbx.create_snapshot(), Template.build())


@dataclass
class TemplateLayer:
    """One layer of a template, as stored: `digest` of the blob as imported (compressed or
    not), `diff_id` of its uncompressed tar, `size` of the blob and `unpacked_bytes` of its
    files."""

    digest: str
    diff_id: str = ""
    media_type: str = ""
    size: int = 0
    unpacked_bytes: int = 0

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TemplateLayer":
        return cls(digest=data.get("digest") or "", diff_id=data.get("diff_id") or "",
                   media_type=data.get("media_type") or "", size=int(data.get("size") or 0),
                   unpacked_bytes=int(data.get("unpacked_bytes") or 0))


@dataclass
class TemplateConfig:
    """What applies of the image config: `env` ("K=V" strings) for every command (the sandbox's
    and the command's envs override it), `working_dir` as the default cwd, `user` as the
    image gives it, and `default_user`, who commands run as when they name none ("root" or
    "user")."""

    env: List[str] = field(default_factory=list)
    working_dir: Optional[str] = None
    user: Optional[str] = None
    default_user: str = "user"

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "TemplateConfig":
        data = data or {}
        return cls(env=list(data.get("env") or []), working_dir=data.get("working_dir"),
                   user=data.get("user"), default_user=data.get("default_user") or "user")


@dataclass
class TemplateInfo:
    """A template as the daemon describes it (docs/api.md, "Templates"). `digest` is the image
    manifest's (None for a built-in), `size` the bytes of its layers unpacked, `sandboxes` the
    live sandboxes made from it, `base` the built-in a snapshot of one sits on, `parent` the
    template a snapshot was taken from."""

    name: str
    source: Union[TemplateSource, str] = TemplateSource.IMPORT
    digest: Optional[str] = None
    size: int = 0
    layer_count: int = 0
    layers: List[TemplateLayer] = field(default_factory=list)
    created_at: Optional[datetime.datetime] = None
    sandboxes: int = 0
    base: Optional[str] = None
    parent: Optional[str] = None
    owner_uid: Optional[int] = None
    config: TemplateConfig = field(default_factory=TemplateConfig)
    repo_tags: List[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TemplateInfo":
        source = data.get("source", "import")
        try:
            source = TemplateSource(source)
        except ValueError:
            pass  # a kind this SDK does not know yet: keep the string
        layers = [TemplateLayer.from_dict(layer) for layer in data.get("layers") or []]
        return cls(
            name=data["name"],
            source=source,
            digest=data.get("digest"),
            size=int(data.get("size") or 0),
            layer_count=int(data.get("layer_count", len(layers)) or 0),
            layers=layers,
            created_at=parse_time(data.get("created_at")),
            sandboxes=int(data.get("sandboxes") or 0),
            base=data.get("base"),
            parent=data.get("parent"),
            owner_uid=data.get("owner_uid"),
            config=TemplateConfig.from_dict(data.get("config")),
            repo_tags=list(data.get("repo_tags") or []),
        )
