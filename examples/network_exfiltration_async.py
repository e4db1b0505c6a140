#!/usr/bin/env python3
"""examples/network_exfiltration.py with AsyncSandbox: a sandbox without internet access holds
secrets in a file; code inside tries to send them out over TCP and over DNS (a real UDP query
to 8.8.8.8:53, and getaddrinfo), both attempts at once, and is blocked; the file is still
readable through the API and inside the sandbox. Prints a [PASS] or [FAIL] line per check and
exits non-zero if any fails.

Needs a running declawd (DECLAW_SOCKET, else /run/declaw/declaw.sock) and httpx
(Debian: python3-httpx):
    PYTHONPATH=clients/python python3 examples/network_exfiltration_async.py
"""
import asyncio
import os
import sys

try:
    from declaw import AsyncSandbox, SandboxException, reset_async_transports
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                    "python"))
    from declaw import AsyncSandbox, SandboxException, reset_async_transports

# The attack scripts and the report are the blocking example's, so both show the same thing.
from network_exfiltration import DNS_EXFIL_SCRIPT, EXFIL_SCRIPT, SECRETS, Report, show


async def write_secrets(sbx, report):
    info = await sbx.files.write("/tmp/secrets.txt", SECRETS)
    report.check(info.size == len(SECRETS), "wrote /tmp/secrets.txt with simulated credentials",
                 f"{info.size} bytes written")


async def exfiltrate(sbx, report):
    """Both attacks at once; each prints its lines as they come (an async callback)."""
    await sbx.files.write_files([{"path": "/tmp/exfil_test.py", "data": EXFIL_SCRIPT},
                                 {"path": "/tmp/dns_exfil.py", "data": DNS_EXFIL_SCRIPT}])
    lines = []

    async def on_stdout(line):
        lines.append(line)

    http, dns = await asyncio.gather(
        sbx.commands.run("python3 /tmp/exfil_test.py", timeout=15, on_stdout=on_stdout),
        sbx.commands.run("python3 /tmp/dns_exfil.py", timeout=30, on_stdout=on_stdout))
    show(http.stdout + http.stderr + dns.stdout + dns.stderr)
    report.check("BLOCKED" in http.stdout and "EXFILTRATED" not in http.stdout,
                 "HTTP exfiltration was blocked", "the connection was not refused")
    blocked = dns.stdout.count("BLOCKED")
    report.check(blocked == 2 and "EXFILTRATED" not in dns.stdout,
                 "DNS exfiltration was blocked (UDP query and getaddrinfo)",
                 f"{blocked} of 2 attempts blocked")
    report.check(len(lines) == 3, "the attempts' output arrived line by line as it came",
                 f"{len(lines)} lines")


async def read_locally(sbx, report):
    content, inside = await asyncio.gather(sbx.files.read("/tmp/secrets.txt"),
                                           sbx.commands.run("cat /tmp/secrets.txt"))
    report.check(content == SECRETS, "secrets.txt read back intact through the API",
                 f"got {content!r}")
    report.check(inside.stdout == SECRETS, "secrets.txt readable by code inside the sandbox",
                 f"got {inside.stdout!r}")


async def main():
    report = Report()
    print("=" * 64)
    print("Network exfiltration prevention: declaw sandbox, Python SDK (asyncio)")
    print("=" * 64)

    report.banner("1. Sandbox creation (allow_internet_access=False)")
    try:
        sbx = await AsyncSandbox.create(template="python", timeout=300,
                                        allow_internet_access=False,
                                        metadata={"demo": "network-exfiltration-async"})
    except SandboxException as e:
        report.failed(f"could not create a sandbox: {e}")
        return 1
    report.passed(f"sandbox {sbx.sandbox_id} created without internet access")

    steps = [
        ("2. Writing secrets into the sandbox", write_secrets),
        ("3. HTTP (TCP to 93.184.216.34:80) and DNS (UDP to 8.8.8.8:53, getaddrinfo) "
         "exfiltration, at once", exfiltrate),
        ("4. Local read still works", read_locally),
    ]
    try:
        for title, step in steps:
            report.banner(title)
            try:
                await step(sbx, report)
            except SandboxException as e:
                report.failed(f"{type(e).__name__}: {e}")
    finally:
        report.banner("5. Cleanup")
        try:
            report.check(await sbx.kill(), "sandbox killed")
            report.check(not await sbx.is_running(), "sandbox is no longer running")
            live = [i.sandbox_id for i in await AsyncSandbox.list()]
            report.check(sbx.sandbox_id not in live, "sandbox no longer listed as running")
        except SandboxException as e:
            report.failed(f"cleanup: {type(e).__name__}: {e}")
        await reset_async_transports()  # close the connections before the loop ends

    print()
    if report.failures:
        print(f"{report.failures} CHECK(S) FAILED")
        return 1
    print("ALL CHECKS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
