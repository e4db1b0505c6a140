"""Attacks on the kernel and on declaw-init from code inside a sandbox, each a probe that makes
the real system calls (tests/probes), as `user` and as `root`:

- declaw-init: ptrace, process_vm_readv, /proc/1/{mem,exe,environ,fd} (CVE-2019-5736 family),
  and the same against init's short-lived forks (file-API helpers, commands before exec);
- terminal injection with TIOCSTI / TIOCLINUX, also with high bits in the request;
- io_uring, and IORING_OP_SOCKET through it; the i386 and x32 ABIs;
- new namespaces (unshare, clone, clone3, setns), and the system calls behind known escapes
  (mount API, keyrings, bpf, perf, userfaultfd, kexec, modules, file handles).

Each test asserts the exact refusal, and the host is checked afterwards (HostWatch: the declaw
binaries, declaw-init included, are unchanged). Where a probe bypasses the filter if it can
(io_uring, i386), it also runs on the host, unfiltered, to show that the attack is real, or that
this kernel refuses it by itself (the test then asserts the same refusal inside, and says so).
"""
import errno
import gzip
import json
import os
import signal
import subprocess
import threading
import time
import unittest

from support import PROBE_BIN_DIR, put_python_probe, random_suffix
from security_support import USERS, SecurityTestCase, probe_attempts, run_on_a_terminal

# What the kernel answers when a non-dumpable declaw-init is the target (ptrace(2),
# proc(5): access mode PTRACE_MODE_READ / ATTACH fails for a process that is not dumpable, and
# namespace root lacks CAP_SYS_PTRACE).
INIT_REFUSALS = {
    "PTRACE_ATTACH": errno.EPERM, "PTRACE_SEIZE": errno.EPERM,
    "process_vm_readv": errno.EPERM, "open mem": errno.EACCES, "open exe": errno.EACCES,
    "open exe for writing": errno.EACCES, "open exe O_PATH": errno.EACCES,
    "open environ": errno.EACCES, "open fd/3": errno.EACCES, "readlink exe": errno.EACCES,
}
# A fork of init that ended (or exec'd) between being found and being attacked.
VANISHED = (errno.ESRCH, errno.ENOENT)
HOST_PROBE_USER = 65534  # the host-side controls run as nobody


def run_on_host(name, *args):
    """A probe run on the host, unfiltered, as nobody: the control that shows the attack works
    where nothing stops it."""
    res = subprocess.run([os.path.join(PROBE_BIN_DIR, name), *args], capture_output=True,
                         text=True, timeout=60, user=HOST_PROBE_USER)
    return {"stdout": res.stdout, "stderr": res.stderr, "exit_code": res.returncode}


def host_io_uring_setting():
    """kernel.io_uring_disabled: 0 all may use io_uring, 1 only root and io_uring_group, 2 none
    (io_uring(7)); kernels before 6.6 have no such switch and behave as 0."""
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return int(f.read().strip())
    except FileNotFoundError:
        return 0


class DeclawInit(SecurityTestCase):
    """declaw-init is non-dumpable and root inside lacks CAP_SYS_PTRACE: nothing of init can be
    read, traced or written from inside, not even through its forks."""

    def test_init_cannot_be_traced_read_or_have_its_binary_opened(self):
        probe = self.put_probe("ptrace_init")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, "init", user=user))
                self.assertEqual({a["attempt"] for a in attempts}, set(INIT_REFUSALS))
                self.assertRefused(attempts, lambda a: INIT_REFUSALS[a["attempt"]],
                                   f"attacks on PID 1 as {user}")

    def test_inits_forks_cannot_be_traced_while_they_work_for_the_api(self):
        # The probe stops each fork it finds (SIGSTOP works on a file helper running as `user`)
        # and attacks it while stopped. Meanwhile the API makes forks that live for a while,
        # as user and as root: listings of /usr/share, mkdir of a path 1000 directories deep,
        # and commands.
        probe = self.put_probe("ptrace_init")
        result = {}
        seconds = 6
        thread = threading.Thread(target=lambda: result.update(
            res=self.run_probe(self.sbx, probe, "helpers", str(seconds), timeout=60)))
        thread.start()
        files = f"/v1/sandboxes/{self.sbx}/files"
        deep = "/tmp/" + "d/" * 1000 + "end"
        answers = {}
        try:
            deadline = time.monotonic() + seconds - 0.5
            while time.monotonic() < deadline:
                for user in USERS:
                    for r in (self.api.request("GET", f"{files}/list", timeout=30,
                                               query={"path": "/usr/share", "depth": 2,
                                                      "user": user}),
                              self.api.request("POST", f"{files}/mkdir", timeout=30,
                                               query={"path": deep, "user": user})):
                        answers[r.status] = answers.get(r.status, 0) + 1
                r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands",
                                     {"cmd": "true", "timeout": 10}, timeout=30)
                answers[f"command {r.status}"] = answers.get(f"command {r.status}", 0) + 1
        finally:
            thread.join()
        lines = probe_attempts(result["res"])
        summary = lines[-1]
        print(f"\nforks seen {summary['seen']}, stopped {summary['stopped']}; API: {answers}")
        on_init = [a for a in lines[:-1]
                   if a["target"] == "declaw-init" and a["attempt"] != "SIGSTOP"]
        # The race happened: forks were attacked while they still were declaw-init.
        refused = sum(a["count"] for a in on_init
                      if a["attempt"] == "PTRACE_ATTACH" and a.get("errno") == errno.EPERM)
        self.assertGreaterEqual(refused, 3, f"the race caught too few forks: {lines}")

        def expected(a):
            return a["errno"] if a.get("errno") in VANISHED else INIT_REFUSALS[a["attempt"]]
        self.assertRefused(on_init, expected, "attacks on declaw-init's forks")
        self.assertEqual(self.api.run(self.sbx, "echo alive")["stdout"], "alive\n")


class TerminalInjection(SecurityTestCase):
    def test_tiocsti_and_tioclinux_fail_with_eperm_also_with_high_bits(self):
        # On a real terminal of the sandbox: without the filter TIOCSTI would type the bytes
        # into the shell reading the terminal (dev.tty.legacy_tiocsti permitting).
        probe = put_python_probe(self.api, self.sbx, "tty_inject_probe.py")
        for user in USERS:
            with self.subTest(user=user):
                marker = f"/tmp/injected-{random_suffix()}"
                shown = run_on_a_terminal(self.api, self.daemon.socket, self.sbx,
                                          f"python3 {probe} {marker}; sleep 1", user=user)
                attempts = [json.loads(line) for line in shown.decode().splitlines()
                            if line.startswith("{")]
                self.assertEqual(len(attempts), 6, shown)
                for attempt in attempts:
                    self.assertEqual((attempt["succeeded"], attempt["errno"]), (0, errno.EPERM),
                                     attempt)
                exists = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files/exists",
                                          query={"path": marker}).json()
                self.assertFalse(exists["exists"], "injected input ran")


class IoUring(SecurityTestCase):
    def test_io_uring_and_its_socket_operation_are_out_of_reach(self):
        probe = self.put_probe("io_uring")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, user=user))
                by_name = {a["attempt"]: a for a in attempts}
                self.assertEqual(by_name["IORING_OP_SOCKET"], {"attempt": "IORING_OP_SOCKET",
                                                               "attempted": False})
                self.assertRefused([a for a in attempts if "ret" in a], errno.EPERM,
                                   f"io_uring as {user}")

    def test_control_the_io_uring_probe_makes_a_socket_on_the_host_where_the_kernel_allows(self):
        # As nobody: io_uring_disabled=0 lets it make a ring and a socket through it (the attack
        # the sandbox test refuses is real); 1 or 2 make io_uring_setup fail with EPERM for an
        # unprivileged caller, the kernel's own refusal, and then the sandbox is refused anyway.
        setting = host_io_uring_setting()
        attempts = {a["attempt"]: a for a in probe_attempts(run_on_host("probe_io_uring"))}
        print(f"\nio_uring on this kernel: io_uring_disabled={setting}")
        if setting == 0:
            self.assertGreaterEqual(attempts["IORING_OP_SOCKET"]["ret"], 0, attempts)
        else:
            self.assertEqual((attempts["io_uring_setup"]["ret"],
                              attempts["io_uring_setup"]["errno"]), (-1, errno.EPERM), attempts)
            self.assertEqual(attempts["IORING_OP_SOCKET"], {"attempt": "IORING_OP_SOCKET",
                                                            "attempted": False})


def signal_name(number):
    return signal.Signals(number).name


def kernel_config():
    """CONFIG_* lines of the running kernel (/proc/config.gz), or None where it is not offered."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return {k: v for k, _, v in (line.strip().partition("=") for line in f
                                         if line.startswith("CONFIG_"))}
    except OSError:
        return None


class KernelAbis:
    """What this kernel does with each non-native ABI, learnt by running the ABI probe on the
    host, unfiltered: per ABI either None (the kernel runs it: the attack is real, so only the
    filter stops it) or the kernel's own refusal, ("errno", E) or ("signal", S)."""

    INT80 = ("int80 socketcall", "int80 socket")
    X32 = ("x32 socket", "x32 getpid")
    I386_EXEC = "exec i386 program"
    I386_CALLS = ("i386 socketcall", "i386 socket", "i386 getpid", "i386 write", "i386 exit_group")

    def __init__(self, host_attempts):
        self.host = {a["attempt"]: a for a in host_attempts}
        self.int80 = self._refusal(self.INT80)
        self.x32 = self._refusal(self.X32)
        self.i386 = self._refusal((self.I386_EXEC,))

    def _refusal(self, names):
        outcomes = set()
        for name in names:
            a = self.host.get(name)
            if a is None:
                raise AssertionError(f"the host run of the ABI probe has no {name!r}: {self.host}")
            if "signal" in a:
                outcomes.add(("signal", a["signal"]))
            elif a["ret"] >= 0:
                outcomes.add(None)
            else:
                outcomes.add(("errno", a["errno"]))
        if len(outcomes) != 1:
            raise AssertionError(f"the kernel treats {names} differently: {outcomes}")
        return outcomes.pop()

    @staticmethod
    def describe(refusal, available="available"):
        if refusal is None:
            return available
        kind, value = refusal
        return signal_name(value) if kind == "signal" else errno.errorcode[value]

    def summary(self):
        i386 = ("loadable" if self.i386 is None else
                f"not loadable on this kernel ({self.describe(self.i386)})")
        return (f"i386 programs: {i386}; int80 from 64-bit: {self.describe(self.int80)}; "
                f"x32: {self.describe(self.x32)}")

    def expected_in_sandbox(self, attempt):
        """What the sandbox must see for ATTEMPT: the filter's ENOSYS where the kernel runs the
        ABI, else the kernel's own refusal, the same as on the host."""
        name = attempt["attempt"]
        refusal = (self.int80 if name in self.INT80 else self.x32 if name in self.X32 else
                   self.i386 if name == self.I386_EXEC else None)
        if name == self.I386_EXEC and refusal is None:
            return ("ret", 0)  # the program runs; its every call must then be refused
        return refusal or ("errno", errno.ENOSYS)


_kernel_abis = None


def kernel_abis():
    global _kernel_abis
    if _kernel_abis is None:
        res = run_on_host("probe_abi", os.path.join(PROBE_BIN_DIR, "probe_i386"))
        _kernel_abis = KernelAbis(probe_attempts(res))
        print(f"\n{_kernel_abis.summary()}")
    return _kernel_abis


def outcome(attempt):
    if "signal" in attempt:
        return ("signal", attempt["signal"])
    return ("ret", attempt["ret"]) if attempt["ret"] >= 0 else ("errno", attempt["errno"])


class ForeignAbis(SecurityTestCase):
    """i386 and x32 system calls never reach the kernel from a sandbox. Where this kernel runs an
    ABI, the filter refuses it (ENOSYS); where the kernel does not, its own refusal (ENOEXEC for
    the i386 program, a fault or ENOSYS for int $0x80 and x32) must be what the sandbox sees too.
    Either way no socket is made. tests/unit/seccomp_policy_test.cc checks the filter's refusal
    of AUDIT_ARCH_I386 and the x32 bit on every machine, whatever its kernel."""

    def test_i386_and_x32_system_calls_fail_in_the_sandbox(self):
        abis = kernel_abis()
        probe = self.put_probe("abi")
        program = self.put_probe("i386")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, program, user=user))
                made = [a for a in attempts
                        if "socket" in a["attempt"] and a.get("ret", -1) >= 0]
                self.assertEqual(made, [], f"a foreign-ABI socket was made as {user}")
                by_name = {a["attempt"]: a for a in attempts}
                expected_names = {*KernelAbis.INT80, *KernelAbis.X32, KernelAbis.I386_EXEC}
                if abis.i386 is None:
                    expected_names |= {*KernelAbis.I386_CALLS, "i386 program ended"}
                self.assertEqual(set(by_name), expected_names, attempts)
                wrong = {name: (outcome(a), abis.expected_in_sandbox(a))
                         for name, a in by_name.items() if name != "i386 program ended"
                         and outcome(a) != abis.expected_in_sandbox(a)}
                self.assertEqual(wrong, {}, f"as {user}: attempt -> (got, expected); "
                                            f"this kernel: {abis.summary()}")
                if abis.i386 is None:
                    # Not even exit_group worked: the 32-bit program ended on its ud2 (SIGILL).
                    self.assertEqual(attempts[-1], {"attempt": "i386 program ended",
                                                    "exited": -1, "signal": signal.SIGILL})

    def test_control_the_kernel_runs_each_abi_or_refuses_it_itself(self):
        """On the host, unfiltered: an ABI either works (a socket is made: the sandbox test's
        attack is real) or the kernel refuses it in the way a kernel without it does."""
        abis = kernel_abis()
        if abis.i386 is None:
            by_name = abis.host
            for name in ("i386 socketcall", "i386 socket"):
                self.assertGreaterEqual(by_name[name]["ret"], 0, by_name)
            self.assertEqual(by_name["i386 program ended"]["exited"], 0)
        else:
            self.assertEqual(abis.i386, ("errno", errno.ENOEXEC), abis.summary())
            # Both need IA32 emulation: a kernel that will not exec i386 faults int $0x80 too
            # (or, built without it, has no int80 entry at all and answers ENOSYS).
            self.assertIn(abis.int80, (("signal", signal.SIGSEGV), ("errno", errno.ENOSYS)),
                          abis.summary())
        if abis.int80 is None:
            self.assertIsNone(abis.i386, f"int80 works but i386 programs do not: {abis.summary()}")
        self.assertIn(abis.x32, (None, ("errno", errno.ENOSYS)), abis.summary())
        config = kernel_config()
        if config is not None:
            if config.get("CONFIG_IA32_EMULATION") != "y":
                self.assertIsNotNone(abis.i386, "i386 runs on a kernel built without it")
            if config.get("CONFIG_X86_X32_ABI") != "y":
                self.assertIsNotNone(abis.x32, "x32 runs on a kernel built without it")


class Namespaces(SecurityTestCase):
    def test_no_new_namespace_can_be_made_or_joined(self):
        probe = self.put_probe("namespaces")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, user=user))

                def expected(a):
                    if a["attempt"].startswith("clone3"):
                        return errno.ENOSYS  # so that glibc falls back to clone(), checked
                    if a["attempt"] in ("pidfd_open 1", "namespaces unchanged"):
                        return 0
                    return errno.EPERM
                self.assertRefused(attempts, expected, f"namespaces as {user}")
                self.assertEqual(attempts[-1]["ret"], 0, "the probe's namespaces changed")
                self.assertEqual(len(attempts), 8 + 7 * 2 + 3 + 1 + 2 + 8 + 1, attempts)

    def test_unshare_of_a_user_or_mount_namespace_fails(self):
        for user in USERS:
            for flag in ("-U", "-m", "-Ur"):
                with self.subTest(user=user, flag=flag):
                    res = self.api.run(self.sbx, f"unshare {flag} true", user=user)
                    self.assertEqual(res["exit_code"], 1, res)
                    self.assertIn("unshare failed: Operation not permitted", res["stderr"])


class EscapeSyscalls(SecurityTestCase):
    def test_the_system_calls_of_known_escapes_fail_with_eperm(self):
        probe = self.put_probe("kernel_calls")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, user=user))
                self.assertEqual(len(attempts), 25, attempts)
                self.assertRefused(attempts, errno.EPERM, f"escape system calls as {user}")


if __name__ == "__main__":
    unittest.main()
