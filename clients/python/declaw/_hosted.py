"""Keyword arguments the hosted SDKs (Declaw, E2B) take in Sandbox.create()/connect() and
declaw does not implement. A ported program that passes one must not die of a bare
TypeError: where ignoring it would change what the program gets (its sandbox would lack a
security policy, a secret, a volume), it is NotImplementedException; where it only concerns
the hosted service's connection (keys, proxies, logging), a warning. docs/python.md lists them.
Shared by Sandbox and AsyncSandbox. Internal."""
import warnings
from typing import Any, Dict

from .exceptions import NotImplementedException

# name -> what declaw would have to do, for the message.
REFUSED = {
    "security": "security policies (PII redaction, prompt-injection and content checks, audit "
                "logs) are the hosted service's; declaw enforces only the network rules: "
                "pass network=SandboxNetworkOpts(...) or allow_internet_access=False",
    "vault_refs": "vault secrets are the hosted service's: pass the values in envs={...}",
    "volumes": "declaw has no volumes: copy files in with sbx.files.write()",
    "mcp": "declaw has no MCP gateway",
    "auto_pause": "declaw pauses at the timeout with lifecycle={'on_timeout': 'pause'}",
}
# Options of the hosted connection; nothing here uses them.
IGNORED = {
    "access_token": "declawd knows callers by their uid",
    "debug": "there is only the local daemon",
    "headers": "declawd needs no extra headers",
    "proxy": "declawd is reached on its Unix socket",
    "sandbox_url": "declawd is reached on its Unix socket",
    "envd_version": "declaw has no envd",
}


class HostedOptionWarning(UserWarning):
    """A hosted SDK option that declaw accepts and ignores."""


def check_hosted_options(where: str, options: Dict[str, Any]) -> None:
    """Refuses or warns about each hosted option given to WHERE ("Sandbox.create"); an option
    no hosted SDK has is a TypeError, as Python would raise."""
    for name, value in options.items():
        if name in REFUSED:
            if value is None or value is False or value == {} or value == []:
                continue  # asking for nothing is fine
            raise NotImplementedException(
                f"{where}({name}=...) is not available in declaw: {REFUSED[name]}",
                code="not_implemented")
        if name in IGNORED:
            if value is not None:
                warnings.warn(f"{where}({name}=...) is ignored: {IGNORED[name]}",
                              HostedOptionWarning, stacklevel=3)
            continue
        raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")
