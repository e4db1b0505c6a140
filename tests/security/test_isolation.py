"""Isolation: what a sandbox holds of the daemon's (file descriptors), whom it can signal, what
it can see of another sandbox, and where its processes live on the host (its cgroup and pid
namespace). Each attack runs as `user` and as `root` inside; the host side checks with its own
eyes (/proc of the host).
"""
import errno
import os
import socket
import subprocess
import time
import unittest

from support import json_lines, put_python_probe, run_python_probe
from security_support import (USERS, SecurityTestCase, host_uid_base, namespace_of,
                              probe_attempts, read_text, run_on_a_terminal, sandbox_init_pid)

# What declaw-init holds (runtime/init/main.cc): /dev/null on 0-2, the control socket, the
# signalfd. Nothing else, whatever the daemon had open when it started the sandbox.
INIT_FDS = {"0": "/dev/null", "1": "/dev/null", "2": "/dev/null", "3": "socket:",
            "4": "anon_inode:[signalfd]"}


class InheritedFds(SecurityTestCase):
    """No fd of declawd or declaw-init reaches sandbox code (CVE-2024-21626 family): a host
    directory fd would be a way out of the mount namespace, through /proc/self/fd/N."""

    @classmethod
    def prepareSandbox(cls):
        cls.fds = cls.put_probe("fds")

    def verdict(self, output):
        lines = json_lines({"stdout": output})
        self.assertTrue(lines and "extra_fds" in lines[-1], f"the probe did not run: {output}")
        return lines

    def assertNoExtraFds(self, output, how):
        lines = self.verdict(output)
        self.assertEqual(lines[-1], {"extra_fds": 0, "dir_fds": 0, "standard_fds": 3},
                         f"{how}: {lines}")

    def test_no_fd_beyond_stdio_reaches_a_command_however_it_is_started(self):
        base = f"/v1/sandboxes/{self.sbx}/commands"
        for user in USERS:
            with self.subTest(user=user, how="foreground"):
                self.assertNoExtraFds(self.api.run(self.sbx, f"exec {self.fds}",
                                                   user=user)["stdout"], "foreground")
            with self.subTest(user=user, how="foreground with stdin"):
                self.assertNoExtraFds(self.api.run(self.sbx, f"exec {self.fds}", user=user,
                                                   stdin="input\n")["stdout"], "with stdin")
            with self.subTest(user=user, how="background"):
                r = self.api.request("POST", base, {"cmd": f"exec {self.fds}", "user": user,
                                                    "background": True})
                pid = r.json()["pid"]
                self.api.request("GET", f"{base}/{pid}/wait")
                from test_processes import EventStream, output_of
                stream = EventStream(self.daemon.socket, "GET", f"{base}/{pid}/stream"
                                                                "?follow=false")
                self.addCleanup(stream.close)
                events = stream.until(lambda name, data: name == "exit")
                self.assertNoExtraFds(output_of(events).decode(), "background")
            with self.subTest(user=user, how="terminal"):
                shown = run_on_a_terminal(self.api, self.daemon.socket, self.sbx,
                                          f"{self.fds}", user=user)
                self.assertNoExtraFds(shown.decode().replace("\r", ""), "terminal")

    def test_a_cwd_through_proc_self_fd_or_inits_links_leads_nowhere(self):
        # runc's CVE-2024-21626: a leaked host directory fd as the working directory of a new
        # process. The API takes the cwd from the caller; init's fds are closed before chdir.
        base = f"/v1/sandboxes/{self.sbx}/commands"
        # No such fd, or the child's close-on-exec error pipe: never a directory. init's links
        # are closed to its neighbours.
        cases = [(f"/proc/self/fd/{n}", ("No such file or directory", "Not a directory"))
                 for n in range(3, 16)]
        cases += [(cwd, ("Permission denied",))
                  for cwd in ("/proc/1/cwd", "/proc/1/root", "/proc/1/fd/3")]
        for user in USERS:
            for cwd, reasons in cases:
                with self.subTest(user=user, cwd=cwd):
                    r = self.api.request("POST", base, {"cmd": "pwd -P", "cwd": cwd, "user": user})
                    self.assertIn(r.status, (400, 403, 404), r)
                    message = r.json()["error"]["message"]
                    self.assertTrue(any(reason in message for reason in reasons), r)

    def test_init_holds_no_fd_of_the_daemon_even_with_clients_connected(self):
        # Idle client connections open while the sandbox starts: none may reach init.
        idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(4)]
        for s in idle:
            s.connect(self.daemon.socket)
            self.addCleanup(s.close)
        sbx = self.sandbox()
        init = sandbox_init_pid(self.daemon.proc.pid, sbx)
        fds = {fd: os.readlink(f"/proc/{init}/fd/{fd}") for fd in os.listdir(f"/proc/{init}/fd")}
        self.assertEqual(sorted(fds), sorted(INIT_FDS), fds)
        for fd, target in INIT_FDS.items():
            self.assertTrue(fds[fd].startswith(target), f"fd {fd} of init is {fds[fd]}")


class Signals(SecurityTestCase):
    """The sandbox's pid namespace names only its own processes: host pids (declawd, another
    sandbox's processes, a host process running with this sandbox's own host uid) cannot be
    signalled or otherwise named."""

    def setUp(self):
        super().setUp()
        self.probe = self.put_probe("signals")
        # A host process with the same host uid as the sandbox's `user`.
        base = host_uid_base(sandbox_init_pid(self.daemon.proc.pid, self.sbx))
        self.same_uid = subprocess.Popen(["sleep", "600"], user=base + 1000, group=base + 1000)
        self.addCleanup(self.same_uid.wait)
        self.addCleanup(self.same_uid.kill)
        # Another sandbox with a background process.
        self.other = self.sandbox()
        self.api.request("POST", f"/v1/sandboxes/{self.other}/commands",
                         {"cmd": "exec sleep 600", "background": True})
        other_init = sandbox_init_pid(self.daemon.proc.pid, self.other)
        deadline = time.monotonic() + 30  # the login shell takes a moment before it execs
        while True:
            sleeps = [int(p) for p in os.listdir("/proc") if p.isdigit()
                      and namespace_of(p, "pid") == namespace_of(other_init, "pid")
                      and read_text(f"/proc/{p}/comm", "").strip() == "sleep"]
            if sleeps or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(sleeps), 1, "the other sandbox's sleep never ran (30 s)")
        self.other_pids = [other_init] + sleeps

    def assertOthersAlive(self):
        self.assertIsNone(self.same_uid.poll(), "the host process with the same uid died")
        for pid in self.other_pids:
            self.assertTrue(os.path.exists(f"/proc/{pid}"), f"the other sandbox lost pid {pid}")
        self.assertEqual(self.api.run(self.other, "echo alive")["stdout"], "alive\n")

    def test_host_pids_cannot_be_signalled_or_named(self):
        targets = [self.daemon.proc.pid, self.same_uid.pid] + self.other_pids
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(self.run_probe(self.sbx, self.probe, "targets",
                                                         *map(str, targets), user=user))
                tried = [a for a in attempts if not a.get("inside")]
                self.assertGreaterEqual({a["pid"] for a in tried}, {self.daemon.proc.pid})
                owners = [a for a in tried if a["attempt"] == "F_GETOWN after F_SETOWN"]
                self.assertEqual({a["ret"] for a in owners}, {0}, "an owner was set")
                self.assertRefused([a for a in tried if a not in owners], errno.ESRCH,
                                   f"signals to host pids as {user}")
        self.assertOthersAlive()

    def test_a_sweep_of_every_pid_finds_only_the_sandboxes_own(self):
        for user in USERS:
            with self.subTest(user=user):
                (sweep,) = probe_attempts(self.run_probe(self.sbx, self.probe, "sweep",
                                                         user=user))
                own = set(sweep["listed"]) | set(sweep["listed_after"])
                self.assertIn(1, sweep["alive"])
                self.assertLessEqual(set(sweep["alive"]), own, sweep)

    def test_kill_minus_one_as_root_reaches_only_the_sandbox_and_spares_init(self):
        for user in USERS:
            with self.subTest(user=user):
                res = self.run_probe(self.sbx, self.probe, "broadcast", user=user)
                # kill(-1) took the probe's own shell with it; its lines came before.
                attempts = probe_attempts(res)
                self.assertEqual(len(attempts), 3, res)
                self.assertOthersAlive()
                self.assertEqual(self.api.run(self.sbx, "echo alive")["stdout"], "alive\n",
                                 "the sandbox's init died")


class Neighbours(SecurityTestCase):
    """Another sandbox is invisible: its files, processes, IPC objects and Unix sockets."""

    KEY = 0x6465636c  # "decl"

    def setUp(self):
        super().setUp()
        self.probe_name = "neighbour_probe.py"
        self.neighbour = self.sandbox()
        tok = self.token
        script = (f"for d in /tmp /home/user /var/tmp /dev/shm /run /root; do "
                  f"echo CONTENT-{tok} > $d/{tok}; done && "
                  f"python3 -c \"import ctypes; c = ctypes.CDLL(None); "
                  f"assert c.shmget({self.KEY}, 4096, 0o1666) >= 0; "
                  f"assert c.msgget({self.KEY}, 0o1666) >= 0; "
                  f"assert c.semget({self.KEY}, 1, 0o1666) >= 0\"")
        res = self.api.run(self.neighbour, script, user="root")
        self.assertEqual(res["exit_code"], 0, res)
        server = (f"import socket, time; a = socket.socket(socket.AF_UNIX); a.bind(chr(0) + '{tok}'); "
                  f"a.listen(); p = socket.socket(socket.AF_UNIX); "
                  f"p.bind('/tmp/{tok}.sock'); p.listen(); time.sleep(600)")
        r = self.api.request("POST", f"/v1/sandboxes/{self.neighbour}/commands",
                             {"cmd": f"exec python3 -c \"{server}\" {tok}", "background": True,
                              "envs": {"NEIGHBOUR_TOKEN": tok}})
        self.assertEqual(r.status, 200, r)
        # The control: from inside the neighbour, the probe finds it all.
        probe = put_python_probe(self.api, self.neighbour, self.probe_name)
        for _ in range(50):
            found = probe_attempts(run_python_probe(self.api, self.neighbour, probe, tok,
                                                    hex(self.KEY), user="root"))
            if all(a["ok"] for a in found):
                break
        self.assertTrue(all(a["ok"] for a in found), f"the control found too little: {found}")

    def test_another_sandboxes_files_processes_ipc_and_sockets_are_invisible(self):
        probe = put_python_probe(self.api, self.sbx, self.probe_name)
        for user in USERS:
            with self.subTest(user=user):
                attempts = probe_attempts(run_python_probe(self.api, self.sbx, probe,
                                                           self.token, hex(self.KEY), user=user))
                self.assertEqual(len(attempts), 7, attempts)
                found = [a for a in attempts if a["ok"]]
                self.assertEqual(found, [], "the neighbour is visible")
                refusals = {a.get("name", a["attempt"]): a["errno"] for a in attempts
                            if "errno" in a}
                self.assertEqual(refusals, {
                    "shmget": errno.ENOENT, "msgget": errno.ENOENT, "semget": errno.ENOENT,
                    "@" + self.token: errno.ECONNREFUSED,
                    f"/tmp/{self.token}.sock": errno.ENOENT})

    def test_the_file_api_of_one_sandbox_cannot_reach_anothers_root(self):
        init = sandbox_init_pid(self.daemon.proc.pid, self.neighbour)
        for user in USERS:
            for path in (f"/proc/{init}/root/tmp/{self.token}", f"/proc/1/root/tmp/{self.token}",
                         f"/tmp/{self.token}"):
                with self.subTest(user=user, path=path):
                    r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files/raw",
                                         query={"path": path, "user": user})
                    self.assertIn(r.status, (403, 404), r)
                    self.assertNotIn(f"CONTENT-{self.token}".encode(), r.body)


class Cgroups(SecurityTestCase):
    def test_every_process_of_a_sandbox_lives_in_its_cgroup_and_pid_namespace(self):
        self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands",
                         {"cmd": "sleep 600 & sleep 600", "background": True})
        self.api.run(self.sbx, "nohup sleep 600 >/dev/null 2>&1 &")
        init = sandbox_init_pid(self.daemon.proc.pid, self.sbx)
        cgroups = read_text(f"/proc/{init}/cgroup")
        self.assertIn(self.sbx, cgroups)
        base = host_uid_base(init)
        members = [p for p in os.listdir("/proc") if p.isdigit()
                   and namespace_of(p, "pid") == namespace_of(init, "pid")]
        self.assertGreaterEqual(len(members), 4, members)
        for pid in members:
            self.assertEqual(read_text(f"/proc/{pid}/cgroup"), cgroups, f"pid {pid}")
            uid = int(read_text(f"/proc/{pid}/status").split("Uid:")[1].split()[0])
            self.assertTrue(base <= uid < base + 65536, f"pid {pid} runs as host uid {uid}")


if __name__ == "__main__":
    unittest.main()
