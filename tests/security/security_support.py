"""Helpers of the security suite, on top of tests/integration's harness.py and support.py (found
through PYTHONPATH): running a probe and reading its attempts, asserting the exact refusal of
each, finding a sandbox's processes from the host, and a watch over the host that every test
checks at its end (nothing changed, nothing mounted, nothing escaped its namespaces).
"""
import errno
import glob
import hashlib
import os
import socket

from harness import BIN_DIR
from support import SharedSandboxTestCase, json_lines, put_binary_probe, random_suffix

USERS = ("user", "root")


def inet_filter_socket_errno(attempt):
    """What the inet seccomp variant (internet access, or loopback_inet) lets through (the kernel
    then decides: 0) and what it refuses: it adds AF_INET and AF_INET6 to AF_UNIX and
    NETLINK_ROUTE, nothing else."""
    family = attempt["family"]
    if family == socket.AF_UNIX:
        return 0
    if attempt["attempt"] == "socketpair":
        return errno.EACCES
    if family in (socket.AF_INET, socket.AF_INET6):
        return 0
    if family == socket.AF_NETLINK:
        return 0 if attempt["protocol"] == 0 else errno.EACCES
    return errno.EACCES
IDS_PER_SANDBOX = 65536


def errno_name(number):
    return errno.errorcode.get(number, str(number)) if number else "OK"


def probe_attempts(result):
    """The attempts a probe reported (tests/probes/probe.h), after checking that it ran."""
    if "attempting" not in result["stdout"]:
        raise AssertionError(f"the probe did not get to its attempts: {result}")
    return [line for line in json_lines(result) if "attempt" in line]


def failed(attempt):
    """C probes say "ret", Python probes "ok"."""
    return attempt["ret"] < 0 if "ret" in attempt else not attempt["ok"]


def attempt_table(attempts, expected):
    """A readable table: attempt, what came back, what was expected."""
    rows = []
    for a in attempts:
        name = a.get("attempt", a.get("op", "?")) + "".join(f" {k}={a[k]}" for k in ("family", "type", "protocol",
                                                               "high", "pid", "path", "name",
                                                               "source", "dest") if k in a)
        got = errno_name(a.get("errno", 0)) if failed(a) else f"succeeded ({a.get('ret', '')})"
        rows.append(f"  {name:<60} {got:<18} expected {expected(a)}")
    return "\n".join(rows)


class ProbeAssertions:
    """Mixed into test cases: run a probe as a user, and compare every attempt with the refusal
    expected of it."""

    def run_probe(self, sbx, path, *args, user="user", timeout=120, **kw):
        cmd = " ".join([path, *args])
        return self.api.run(sbx, cmd, user=user, timeout=timeout, **kw)

    def assertRefused(self, attempts, expected, what=""):
        """expected: an errno, or a function attempt -> errno (0 for "may succeed")."""
        expect = expected if callable(expected) else (lambda a: expected)
        self.assertTrue(attempts, f"{what}: the probe reported no attempt")
        wrong = [a for a in attempts
                 if (expect(a) == 0 and failed(a) and a.get("errno") in (errno.EPERM,
                                                                         errno.EACCES))
                 or (expect(a) != 0 and (not failed(a) or a.get("errno") != expect(a)))]
        if wrong:
            self.fail(f"{what}: {len(wrong)} of {len(attempts)} attempts did not fail as "
                      f"expected:\n" + attempt_table(wrong, lambda a: errno_name(expect(a))))


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_text(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def sandbox_init_pid(daemon_pid, sbx):
    """The host pid of SBX's declaw-init: the daemon's child whose root holds /etc/hostname =
    the sandbox id (the host's root can look into a sandbox's root through /proc).

    A child of the daemon by PPid (the parent's thread group), not by a thread's `children`
    list: init's parent is the connection thread that cloned it, and when that thread ends the
    kernel moves init to another thread, so a walk over the threads' lists can miss it."""
    for status in glob.glob("/proc/[0-9]*/status"):
        fields = dict(line.split(":\t", 1) for line in (read_text(status, "") or "").splitlines()
                      if ":\t" in line)
        if fields.get("Name", "").strip() != "declaw-init":
            continue
        if fields.get("PPid", "").strip() != str(daemon_pid):
            continue
        pid = status.split("/")[2]
        if read_text(f"/proc/{pid}/root/etc/hostname", "").strip() == sbx:
            return int(pid)
    raise AssertionError(f"no declaw-init of {sbx} among the children of declawd {daemon_pid}")


def host_uid_base(pid):
    """The first host uid of the sandbox that PID belongs to (from the host side)."""
    inside, base, count = (int(x) for x in read_text(f"/proc/{pid}/uid_map").split())
    assert (inside, count) == (0, IDS_PER_SANDBOX), (inside, base, count)
    return base


def host_pids_in_uid_range(base):
    """Host pids whose real, effective, saved or fs uid lies in [base, base + 65536)."""
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        for line in (read_text(status, "") or "").splitlines():
            if line.startswith("Uid:"):
                if any(base <= int(u) < base + IDS_PER_SANDBOX for u in line.split()[1:]):
                    found.append(int(status.split("/")[2]))
                break
    return found


def namespace_of(pid, kind):
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def host_mount_lines():
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


class HostWatch:
    """What must not change on the host while sandbox code attacks it: the declaw binaries, host
    files an escape would aim at, the host's mounts, and which processes run with a sandbox's
    host ids outside that sandbox's pid namespace."""

    WATCHED_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/hostname",
                     "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                     "/proc/sys/kernel/hostname", "/proc/sys/fs/suid_dumpable")

    def __init__(self, daemon, markers=()):
        """markers: strings that must never appear in the host's mountinfo (the tokens and
        names a probe uses for its mounts)."""
        self.daemon = daemon
        self.markers = tuple(markers) + ("declaw-probe", "declaw-root", "declaw-dev",
                                         "declaw-shm", "declaw-mask")
        self.files = self._files()
        self.mounts = set(host_mount_lines())

    def _files(self):
        paths = [os.path.join(BIN_DIR, b) for b in ("declawd", "declaw-init")]
        paths += self.WATCHED_FILES
        return {p: sha256_of(p) if os.path.exists(p) else None for p in paths}

    def check(self, test, sandboxes=()):
        """Fails TEST if the host changed. sandboxes: ids whose processes must all be inside
        their own pid namespace."""
        after = self._files()
        for path, digest in self.files.items():
            test.assertEqual(after[path], digest, f"host file {path} changed")
        test.assertIsNone(self.daemon.proc.poll(), "declawd died")
        new_mounts = set(host_mount_lines()) - self.mounts
        leaked = [m for m in new_mounts if any(marker in m for marker in self.markers)]
        leaked += [m for m in new_mounts if m.split()[4].startswith("/usr")]
        test.assertEqual(leaked, [], "a sandbox mount showed up on the host")
        for sbx in sandboxes:
            self.assertContained(test, sbx)

    def assertContained(self, test, sbx):
        """No process with SBX's host ids runs outside its pid namespace, in its user namespace
        or in the host's. (Other daemons on the host, such as other test runs, may hand out the
        same ids to their own sandboxes, in user namespaces of their own.)"""
        init = sandbox_init_pid(self.daemon.proc.pid, sbx)
        pid_ns = namespace_of(init, "pid")
        user_namespaces = (namespace_of(init, "user"), namespace_of(os.getpid(), "user"))
        base = host_uid_base(init)
        outside = [p for p in host_pids_in_uid_range(base)
                   if namespace_of(p, "pid") not in (pid_ns, None)
                   and namespace_of(p, "user") in user_namespaces]
        test.assertEqual(outside, [], f"processes with {sbx}'s host ids outside its pid namespace")


class SecurityTestCase(SharedSandboxTestCase, ProbeAssertions):
    """One daemon and one sandbox for the class (cls.sbx); per test a token for unique names and a
    HostWatch checked when the test ends, after its own cleanups."""

    def setUp(self):
        self.token = random_suffix()
        self.host = HostWatch(self.daemon, markers=(self.token,))
        self.addCleanup(self.host.check, self, (self.sbx,))

    @classmethod
    def put_probe(cls, name, sbx=None):
        return put_binary_probe(cls.api, sbx or cls.sbx, f"probe_{name}")


def run_on_a_terminal(api, socket_path, sbx, cmd, user="user", timeout=60):
    """Runs CMD on a new PTY of SBX (POST /pty) and returns everything the terminal showed."""
    from test_processes import EventStream, output_of  # tests/integration, via PYTHONPATH
    r = api.request("POST", f"/v1/sandboxes/{sbx}/pty",
                    {"size": {"rows": 24, "cols": 200}, "cmd": cmd, "user": user})
    if r.status != 200:
        raise AssertionError(f"no terminal: {r}")
    pid = r.json()["pid"]
    r = api.request("GET", f"/v1/sandboxes/{sbx}/commands/{pid}/wait", query={"timeout": timeout})
    if r.status != 200:
        raise AssertionError(f"the terminal command did not end: {r}")
    stream = EventStream(socket_path, "GET", f"/v1/sandboxes/{sbx}/commands/{pid}/stream"
                                             "?follow=false")
    try:
        return output_of(stream.until(lambda name, data: name == "exit"), "pty")
    finally:
        stream.close()
