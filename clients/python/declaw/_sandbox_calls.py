"""The calls on sandboxes (/v1/sandboxes...) as Call values (_calls.py), shared by Sandbox and
AsyncSandbox: request bodies, query parameters and answer parsing, without I/O. Internal."""
import datetime
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple, Union

from ._calls import DEFAULT_TIMEOUT, Call, not_found_is_false, sandbox_not_found
from ._sandbox_ref import SandboxRef, sandbox_route, whole_seconds
from .exceptions import (InvalidArgumentException, NotFoundException, NotImplementedException,
                         SandboxNotFoundException, SandboxNotRunningException)
from .models import (PortForward, SandboxInfo, SandboxMetrics, SandboxQuery, SandboxResources, SandboxState,
                     TemplateInfo, network_body, network_list)

# Socket timeout of a snapshot unless request_timeout says otherwise: the daemon copies every
# change of the sandbox before it answers.
SNAPSHOT_TIMEOUT_S = 900.0


def class_timeout(request_timeout: Optional[float]) -> Any:
    """The socket timeout of a class-level call: its own, else the transport's default."""
    return DEFAULT_TIMEOUT if request_timeout is None else request_timeout


def lifecycle_body(lifecycle: Any) -> Dict[str, Any]:
    """The create request's "lifecycle". The hosted SDK's `auto_resume` (resume a paused
    sandbox when a request reaches it) is not built here: False is dropped, True refused."""
    body = dict(lifecycle.to_dict() if hasattr(lifecycle, "to_dict") else lifecycle)
    if body.get("auto_resume"):
        raise NotImplementedException(
            "lifecycle auto_resume is not available in declaw: a paused sandbox answers "
            "commands and file calls with ConflictException until sbx.resume() or "
            "Sandbox.connect() resumes it", code="not_implemented")
    body.pop("auto_resume", None)
    return body


def create_call(template: Optional[str], timeout: Optional[int],
                metadata: Optional[Dict[str, str]], envs: Optional[Dict[str, str]],
                allow_internet_access: bool, network: Any, lifecycle: Any,
                resources: Optional[Union[SandboxResources, Dict[str, Any]]],
                request_timeout: Optional[float]) -> Call:
    """POST /sandboxes; parses to the new sandbox's id."""
    body: Dict[str, Any] = {"allow_internet_access": bool(allow_internet_access)}
    if template is not None:
        body["template"] = template
    if timeout is not None:
        body["timeout"] = whole_seconds(timeout)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if envs is not None:
        body["envs"] = dict(envs)
    if network is not None:
        body["network"] = network_body(network)
    if lifecycle is not None:
        body["lifecycle"] = lifecycle_body(lifecycle)
    if resources is not None:
        body["resources"] = (resources.to_dict() if hasattr(resources, "to_dict")
                             else dict(resources))
    return Call("POST", "/sandboxes", payload=body, timeout=class_timeout(request_timeout),
                parse=lambda data: data["sandbox_id"])


def list_call(query: Optional[Union[SandboxQuery, Dict[str, Any]]], limit: Optional[int],
              next_token: Optional[str], request_timeout: Optional[float]) -> Call:
    """GET /sandboxes, one page; parses to ([SandboxInfo] newest first, next_token or None).
    Without a state the daemon lists live sandboxes (creating, running, paused) only."""
    if isinstance(query, dict):
        query = SandboxQuery(**query)
    query = query or SandboxQuery()
    params: Dict[str, Any] = {}
    if query.state:
        params["state"] = [getattr(s, "value", s) for s in query.state]
    if query.metadata:
        params["metadata"] = urllib.parse.urlencode(query.metadata)
    if limit is not None:
        params["limit"] = limit
    if next_token:
        params["next_token"] = next_token

    def parse(data: Any) -> Tuple[List[SandboxInfo], Optional[str]]:
        infos = [SandboxInfo.from_dict(item) for item in data.get("sandboxes", [])]
        return infos, data.get("next_token") or None

    return Call("GET", "/sandboxes", query=params, timeout=class_timeout(request_timeout),
                parse=parse)


def _on_sandbox(ref: SandboxRef, method: str, tail: str, request_timeout: Optional[float],
                parse: Any, **fields: Any) -> Call:
    """A call on the sandbox itself: a 404 can only mean an unknown sandbox."""
    return Call(method, ref.route + tail, timeout=ref.timeout(request_timeout),
                sandbox_id=ref.sandbox_id, parse=parse, on_not_found=sandbox_not_found,
                **fields)


def info_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    return _on_sandbox(ref, "GET", "", request_timeout, SandboxInfo.from_dict)


def metrics_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    """GET .../metrics: one reading, now."""
    return _on_sandbox(ref, "GET", "/metrics", request_timeout, SandboxMetrics.from_dict)


def time_param(value: Any, name: str) -> str:
    """A datetime (naive ones are local time, as datetime.timestamp() reads them) or unix
    seconds, as the daemon's start/end parameters: RFC 3339 UTC to the microsecond."""
    if isinstance(value, datetime.datetime):
        moment = value.astimezone(datetime.timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    else:
        raise InvalidArgumentException(
            f"{name} must be a datetime or unix seconds, not {value!r}", code="invalid_argument")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def metrics_history_call(ref: SandboxRef, start: Any, end: Any,
                         request_timeout: Optional[float]) -> Call:
    """GET .../metrics/history: the samples the daemon kept from START to END (None: open),
    oldest first."""
    params: Dict[str, Any] = {}
    if start is not None:
        params["start"] = time_param(start, "start")
    if end is not None:
        params["end"] = time_param(end, "end")
    return _on_sandbox(ref, "GET", "/metrics/history", request_timeout,
                       lambda data: [SandboxMetrics.from_dict(m) for m in data["metrics"]],
                       query=params)


def pause_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    return _on_sandbox(ref, "POST", "/pause", request_timeout, SandboxInfo.from_dict)


def resume_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    return _on_sandbox(ref, "POST", "/resume", request_timeout, SandboxInfo.from_dict)


def get_network_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    return _on_sandbox(ref, "GET", "/network", request_timeout, _identity)


def update_network_call(ref: SandboxRef, allow_out: Optional[List[str]],
                        deny_out: Optional[List[str]], allow_internet_access: Optional[bool],
                        request_timeout: Optional[float]) -> Call:
    """PATCH .../network with the parts given; with none, GET .../network (the daemon refuses
    an empty change)."""
    body: Dict[str, Any] = {}
    if allow_out is not None:
        body["allow_out"] = network_list(allow_out, "allow_out")
    if deny_out is not None:
        body["deny_out"] = network_list(deny_out, "deny_out")
    if allow_internet_access is not None:
        body["allow_internet_access"] = bool(allow_internet_access)
    if not body:
        return get_network_call(ref, request_timeout)
    return _on_sandbox(ref, "PATCH", "/network", request_timeout, _identity, payload=body)


# get_host()'s listener: the host's loopback, any free port (the daemon's default).
DEFAULT_PORT_LISTEN = "127.0.0.1:0"


def port_number(port: Any) -> int:
    """PORT as the daemon's path takes it: an int 1..65535 (a bool is not a port)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgumentException(f"port must be an int 1..65535, not {port!r}",
                                       code="invalid_argument")
    return port


def port_socket_call(ref: SandboxRef, port: Any, request_timeout: Optional[float]) -> Call:
    """GET .../ports/PORT: forwards it from a unix socket on the host (made on the first call,
    the same one after); parses to the socket's path."""
    return _on_sandbox(ref, "GET", f"/ports/{port_number(port)}", request_timeout,
                       lambda data: PortForward.from_dict(data).unix_socket)


def port_host_call(ref: SandboxRef, port: Any, request_timeout: Optional[float]) -> Call:
    """POST .../ports/PORT {"listen"}: a TCP listener on the host's loopback too; parses to
    its "127.0.0.1:N"."""
    return _on_sandbox(ref, "POST", f"/ports/{port_number(port)}", request_timeout,
                       lambda data: PortForward.from_dict(data).host,
                       payload={"listen": DEFAULT_PORT_LISTEN})


def _port_not_forwarded(error: NotFoundException) -> bool:
    """on_not_found of close_port: an unforwarded port is False; an unknown sandbox raises."""
    if isinstance(error, SandboxNotFoundException):
        raise error
    return False


def close_port_call(ref: SandboxRef, port: Any, request_timeout: Optional[float]) -> Call:
    """DELETE .../ports/PORT: True when a forward ended, False when there was none."""
    return Call("DELETE", f"{ref.route}/ports/{port_number(port)}",
                timeout=ref.timeout(request_timeout), sandbox_id=ref.sandbox_id,
                parse=lambda _: True, on_not_found=_port_not_forwarded)


def list_ports_call(ref: SandboxRef, request_timeout: Optional[float]) -> Call:
    """GET .../ports: [PortForward], one per forwarded port."""
    return _on_sandbox(ref, "GET", "/ports", request_timeout,
                       lambda data: [PortForward.from_dict(p) for p in data.get("ports", [])])


def set_timeout_call(ref: SandboxRef, timeout: int, request_timeout: Optional[float]) -> Call:
    return _on_sandbox(ref, "PATCH", "/timeout", request_timeout, _nothing,
                       payload={"timeout": whole_seconds(timeout)})


def snapshot_call(ref: SandboxRef, name: str, replace: bool,
                  request_timeout: Optional[float]) -> Call:
    timeout = request_timeout
    if timeout is None:
        timeout = max(ref.request_timeout, SNAPSHOT_TIMEOUT_S)
    return Call("POST", ref.route + "/snapshots", payload={"name": name, "replace": bool(replace)},
                timeout=timeout, sandbox_id=ref.sandbox_id, parse=TemplateInfo.from_dict,
                on_not_found=sandbox_not_found)


def kill_call(sandbox_id: str, timeout: Any) -> Call:
    """DELETE /sandboxes/ID: True when killed (also if it already was), False if unknown."""
    return Call("DELETE", sandbox_route(sandbox_id), timeout=timeout, sandbox_id=sandbox_id,
                parse=lambda _: True, on_not_found=not_found_is_false)


def connect_step(info: SandboxInfo, sandbox_id: str) -> str:
    """What connect() does after get_info(): "resume" a paused sandbox, go on with a
    "running" one; a killed one raises SandboxNotRunningException."""
    if info.state == SandboxState.PAUSED:
        return "resume"
    if info.state != SandboxState.RUNNING:
        raise SandboxNotRunningException(
            f"sandbox {sandbox_id} is {getattr(info.state, 'value', info.state)}, not "
            "running: create a new sandbox", sandbox_id=sandbox_id, code="conflict")
    return "running"


def _identity(data: Any) -> Any:
    return data


def _nothing(_: Any) -> None:
    return None
