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
(io_uring, i386), it also runs on the host, unfiltered, to show that the attack is real.
"""
import errno
import json
import os
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


def host_io_uring_enabled():
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return f.read().strip() == "0"
    except FileNotFoundError:
        return True  # kernels before 6.6 have no such switch


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

    def test_control_the_io_uring_probe_makes_a_socket_on_the_host(self):
        if not host_io_uring_enabled():
            self.skipTest("io_uring is disabled on this host: the control has nothing to show")
        attempts = {a["attempt"]: a for a in probe_attempts(run_on_host("probe_io_uring"))}
        self.assertGreaterEqual(attempts["IORING_OP_SOCKET"]["ret"], 0, attempts)


class ForeignAbis(SecurityTestCase):
    def test_i386_and_x32_system_calls_fail_with_enosys(self):
        probe = self.put_probe("abi")
        program = self.put_probe("i386")
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, probe, program, user=user))
                calls = [a for a in attempts if "ret" in a]
                self.assertEqual({a["attempt"] for a in calls}, {
                    "int80 socketcall", "int80 socket", "x32 socket", "x32 getpid",
                    "i386 socketcall", "i386 socket", "i386 getpid", "i386 write",
                    "i386 exit_group"})
                self.assertRefused(calls, errno.ENOSYS, f"foreign ABIs as {user}")
                # Not even exit_group worked: the 32-bit program ended on its ud2 (SIGILL).
                self.assertEqual(attempts[-1], {"attempt": "i386 program ended", "exited": -1,
                                                "signal": 4})

    def test_control_the_i386_program_makes_sockets_on_the_host(self):
        attempts = probe_attempts(run_on_host("probe_abi",
                                              os.path.join(PROBE_BIN_DIR, "probe_i386")))
        by_name = {a["attempt"]: a for a in attempts}
        for name in ("int80 socketcall", "i386 socketcall", "i386 socket"):
            self.assertGreaterEqual(by_name[name]["ret"], 0, by_name)
        self.assertEqual(by_name["i386 program ended"]["exited"], 0)


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
