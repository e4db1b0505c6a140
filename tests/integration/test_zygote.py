"""The init zygote (runtime/launcher.h, docs/architecture.md "The init zygote"): one declaw-init
that forks every sandbox's init. Each init it forks must be what an exec'd one is (declawd's
child, PID 1 of its sandbox, holding none of the zygote's fds), the zygote must keep nothing of
the inits it made, a dead zygote must cost speed and never a create, and `init_zygote: false`
must exec every init."""
import os
import re
import signal
import time
import unittest

from harness import Daemon, require_root


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def children(pid, name):
    """The live child processes of `pid` named `name`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            s = status(entry)
        except OSError:
            continue
        if s.get("PPid") == str(pid) and s.get("Name") == name and s.get("State", "")[:1] != "Z":
            out.append(int(entry))
    return out


def fd_targets(pid):
    """What each fd of `pid` is (readlink of /proc/PID/fd/N), by number."""
    fds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return fds


def launches(api):
    body = api.request("GET", "/metrics").body.decode()
    found = dict(re.findall(r'^declaw_init_launches_total\{how="(\w+)"\} (\d+)$', body, re.M))
    return int(found.get("zygote", -1)), int(found.get("exec", -1))


class Zygote(unittest.TestCase):
    def setUp(self):
        require_root()
        self.daemon = Daemon()
        self.api = self.daemon.client

    def tearDown(self):
        self.daemon.stop()

    def zygote(self):
        found = children(self.daemon.proc.pid, "declaw-zygote")
        self.assertEqual(len(found), 1, "declawd has one init zygote")
        return found[0]

    def init_of(self, sbx):
        """The host pid of a sandbox's init: the declawd child in the sandbox's uts namespace."""
        inside = self.api.run(sbx, "readlink /proc/self/ns/uts")["stdout"].strip()
        for pid in children(self.daemon.proc.pid, "declaw-init"):
            try:
                if os.readlink(f"/proc/{pid}/ns/uts") == inside:
                    return pid
            except OSError:
                continue
        self.fail(f"no init of {sbx} among declawd's children")

    def test_inits_are_forked_by_the_zygote_and_are_declawds_children(self):
        sandboxes = [self.api.create() for _ in range(3)]
        forked, execed = launches(self.api)
        self.assertEqual((forked, execed), (3, 0))
        for sbx in sandboxes:
            init = self.init_of(sbx)
            self.assertEqual(status(init)["PPid"], str(self.daemon.proc.pid))
            r = self.api.run(sbx, "echo $$; cat /proc/1/comm; id -u")
            self.assertEqual(r["exit_code"], 0, r)
            self.assertEqual(r["stdout"].split()[1:], ["declaw-init", "1000"])
        for sbx in sandboxes:
            self.api.kill(sbx)

    def test_an_init_holds_none_of_the_zygotes_fds_and_the_zygote_keeps_none_of_its(self):
        zygote = self.zygote()
        zygote_fds = fd_targets(zygote)
        # /dev/null on 0-2 and the socket to declawd on 3, nothing else: what a launch passes
        # it (the new init's control socket and sync pipe) it closes once the child has them.
        self.assertEqual(sorted(zygote_fds), [0, 1, 2, 3], zygote_fds)
        sbx = self.api.create()
        init = self.init_of(sbx)
        self.assertEqual(fd_targets(zygote), zygote_fds, "the zygote kept fds of a launch")
        init_fds = fd_targets(init)
        self.assertNotIn(zygote_fds[3], init_fds.values(),
                         "a sandbox's init holds the zygote's socket: it could ask for inits")
        # From inside, as root of the sandbox: PID 1's fds are not even readable (non-dumpable).
        r = self.api.run(sbx, "ls /proc/1/fd 2>&1; echo rc=$?", user="root")
        self.assertIn("rc=2", r["stdout"], r)
        self.api.kill(sbx)

    def test_a_killed_zygote_costs_speed_not_creates(self):
        zygote = self.zygote()
        os.kill(zygote, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while children(self.daemon.proc.pid, "declaw-zygote") and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(2):
            sbx = self.api.create()
            r = self.api.run(sbx, "cat /proc/1/comm")
            self.assertEqual(r["stdout"].strip(), "declaw-init", r)
            self.api.kill(sbx)
        forked, execed = launches(self.api)
        self.assertEqual((forked, execed), (0, 2), "creates after the zygote died exec init")

    def test_the_zygote_ends_with_declawd(self):
        zygote = self.zygote()
        self.daemon.stop()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{zygote}") and time.monotonic() < deadline:
            try:
                if status(zygote).get("State", "")[:1] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        try:
            state = status(zygote).get("State", "")
        except OSError:
            state = "gone"
        self.assertIn(state[:1], ("g", "Z"), f"the zygote outlived declawd: {state}")
        self.daemon = Daemon()  # for tearDown
        self.api = self.daemon.client


class WithoutZygote(unittest.TestCase):
    def setUp(self):
        require_root()
        self.daemon = Daemon({"init_zygote": False})
        self.api = self.daemon.client

    def tearDown(self):
        self.daemon.stop()

    def test_every_init_is_execed(self):
        self.assertEqual(children(self.daemon.proc.pid, "declaw-zygote"), [])
        sbx = self.api.create()
        self.assertEqual(self.api.run(sbx, "cat /proc/1/comm")["stdout"].strip(), "declaw-init")
        self.api.kill(sbx)
        self.assertEqual(launches(self.api), (0, 1))


if __name__ == "__main__":
    unittest.main()
