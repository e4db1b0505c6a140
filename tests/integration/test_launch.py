"""How sandbox inits start.

The init zygote (runtime/launcher.h, docs/architecture.md "The init zygote"): one declaw-init
that forks every sandbox's init. Each init it forks must be what an exec'd one is (declawd's
child, PID 1 of its sandbox, holding none of the zygote's fds), the zygote must keep nothing of
the inits it made, a dead zygote must cost speed and never a create, and `init_zygote: false`
must exec every init.

Inits launched ahead (daemon/launch_ahead.h, docs/architecture.md "Inits launched ahead"): a
create takes one and gives it its own resources; they are nobody's sandboxes (not listed, not
counted against max_sandboxes, not a leftover after a crash) and are gone after a stop."""
import os
import re
import signal
import sys
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


def metric(api, name, labels=""):
    body = api.request("GET", "/metrics").body.decode()
    found = re.search(rf"^{re.escape(name + labels)} (\d+)$", body, re.M)
    return int(found.group(1)) if found else None


def wait_ready(api, n, timeout=10):
    deadline = time.monotonic() + timeout
    while metric(api, "declaw_launch_ahead_ready") != n and time.monotonic() < deadline:
        time.sleep(0.02)
    return metric(api, "declaw_launch_ahead_ready")


def launches(api):
    body = api.request("GET", "/metrics").body.decode()
    found = dict(re.findall(r'^declaw_init_launches_total\{how="(\w+)"\} (\d+)$', body, re.M))
    return int(found.get("zygote", -1)), int(found.get("exec", -1))


def assert_every_init_execed(test):
    """No zygote: a create's init, and the two launched ahead, were all exec'd."""
    test.assertEqual(children(test.daemon.proc.pid, "declaw-zygote"), [])
    wait_ready(test.api, 2)
    sbx = test.api.create()
    test.assertEqual(test.api.run(sbx, "cat /proc/1/comm")["stdout"].strip(), "declaw-init")
    test.api.kill(sbx)
    wait_ready(test.api, 2)
    test.assertEqual(launches(test.api), (0, 3))


# Builds with sanitizers run no zygote: their runtimes expect every process to start by exec
# (daemon/main.cc). There the Zygote tests check that instead, and say so.
SANITIZED = bool(os.environ.get("DECLAW_SANITIZE"))


class Zygote(unittest.TestCase):
    def setUp(self):
        require_root()
        self.daemon = Daemon()
        self.api = self.daemon.client
        if SANITIZED:
            print(f"\n{self.id()}: a sanitized build (DECLAW_SANITIZE="
                  f"{os.environ['DECLAW_SANITIZE']}) runs no init zygote: checking that every "
                  "init is exec'd instead", file=sys.stderr)

    def run(self, result=None):
        if not SANITIZED:
            return super().run(result)
        # The test body is about a zygote there is none of: what is true instead is checked.
        original = getattr(self, self._testMethodName)
        setattr(self, self._testMethodName, self.every_init_is_execed)
        try:
            return super().run(result)
        finally:
            setattr(self, self._testMethodName, original)

    def every_init_is_execed(self):
        assert_every_init_execed(self)

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
        wait_ready(self.api, 2)
        sandboxes = [self.api.create() for _ in range(3)]
        wait_ready(self.api, 2)
        forked, execed = launches(self.api)
        self.assertEqual((forked, execed), (5, 0), "3 creates and 2 launched ahead: all forked")
        for sbx in sandboxes:
            init = self.init_of(sbx)
            self.assertEqual(status(init)["PPid"], str(self.daemon.proc.pid))
            r = self.api.run(sbx, "echo $$; cat /proc/1/comm; id -u")
            self.assertEqual(r["exit_code"], 0, r)
            self.assertEqual(r["stdout"].split()[1:], ["declaw-init", "1000"])
        for sbx in sandboxes:
            self.api.kill(sbx)

    def test_an_init_holds_none_of_the_zygotes_fds_and_the_zygote_keeps_none_of_its(self):
        wait_ready(self.api, 2)
        zygote = self.zygote()
        zygote_fds = fd_targets(zygote)
        # /dev/null on 0-2 and the socket to declawd on 3, nothing else: what a launch passes
        # it (the new init's control socket and sync pipe) it closes once the child has them.
        self.assertEqual(sorted(zygote_fds), [0, 1, 2, 3], zygote_fds)
        sbx = self.api.create()
        init = self.init_of(sbx)
        wait_ready(self.api, 2)  # and the one launched to replace the one it took
        self.assertEqual(fd_targets(zygote), zygote_fds, "the zygote kept fds of a launch")
        init_fds = fd_targets(init)
        self.assertNotIn(zygote_fds[3], init_fds.values(),
                         "a sandbox's init holds the zygote's socket: it could ask for inits")
        # From inside, as root of the sandbox: PID 1's fds are not even readable (non-dumpable).
        r = self.api.run(sbx, "ls /proc/1/fd 2>&1; echo rc=$?", user="root")
        self.assertIn("rc=2", r["stdout"], r)
        self.api.kill(sbx)

    def test_a_killed_zygote_costs_speed_not_creates(self):
        wait_ready(self.api, 2)
        before = launches(self.api)
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
        wait_ready(self.api, 2)
        forked, execed = launches(self.api)
        self.assertEqual(forked, before[0], "nothing was forked after the zygote died")
        # Two creates took the two launched ahead; the launches since (their replacements, at
        # least) exec'd init.
        self.assertGreaterEqual(execed, 2)

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
        assert_every_init_execed(self)


class LaunchAhead(unittest.TestCase):
    def start(self, config=None):
        self.daemon = Daemon(config)
        self.addCleanup(lambda: self.daemon.stop())
        return self.daemon.client

    def setUp(self):
        require_root()

    def inits(self):
        return children(self.daemon.proc.pid, "declaw-init")

    def test_a_create_takes_one_and_another_is_launched_in_its_place(self):
        api = self.start()
        self.assertEqual(wait_ready(api, 2), 2)
        self.assertEqual(len(self.inits()), 2, "two inits wait, and nothing else")
        sbx = api.create()
        self.assertEqual(metric(api, "declaw_launch_ahead_total", '{result="hit"}'), 1)
        self.assertEqual(api.run(sbx, "id -u; cat /proc/1/comm")["stdout"], "1000\ndeclaw-init\n")
        self.assertEqual(wait_ready(api, 2), 2)
        self.assertEqual(len(self.inits()), 3)
        # Nobody's sandboxes: a listing shows the create's alone.
        listed = [s["sandbox_id"] for s in api.request("GET", "/v1/sandboxes").json()["sandboxes"]]
        self.assertEqual(listed, [sbx])
        api.kill(sbx)

    def test_they_wait_at_a_low_priority_and_the_create_runs_at_the_normal_one(self):
        # An init launched ahead (and its skeleton) gives way to whatever runs now; the create
        # that takes it gives it the normal priority back before any of its code runs.
        api = self.start()
        wait_ready(api, 2)
        waiting = self.inits()
        self.assertEqual(len(waiting), 2)
        for pid in waiting:
            self.assertEqual(os.getpriority(os.PRIO_PROCESS, pid), 10, pid)
        sbx = api.create()
        res = api.run(sbx, "cut -d' ' -f19 /proc/1/stat /proc/self/stat; sh -c 'cut -d\" \" -f19 "
                      "/proc/self/stat'")
        self.assertEqual(res["stdout"], "0\n0\n0\n", res)
        # The zygote too is back at the normal priority between launches (the refill done).
        self.assertEqual(wait_ready(api, 2), 2)
        for zygote in children(self.daemon.proc.pid, "declaw-zygote"):
            self.assertEqual(os.getpriority(os.PRIO_PROCESS, zygote), 0)
        api.kill(sbx)

    def test_the_create_gets_its_own_resources_not_the_defaults(self):
        api = self.start()
        wait_ready(api, 2)
        sbx = api.create(resources={"memory_mb": 300, "disk_mb": 64})
        self.assertEqual(metric(api, "declaw_launch_ahead_total", '{result="hit"}'), 1)
        r = api.request("GET", f"/v1/sandboxes/{sbx}/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["mem_total"], 300 << 20, r.json())
        out = api.run(sbx, "df -k / | tail -1")["stdout"].split()
        self.assertLessEqual(int(out[1]), 64 * 1024, out)
        api.kill(sbx)

    def test_inits_launched_ahead_are_not_counted_against_max_sandboxes(self):
        api = self.start({"max_sandboxes": 1})
        wait_ready(api, 2)
        sbx = api.create()
        self.assertEqual(api.request("POST", "/v1/sandboxes", {}).status, 429)
        self.assertEqual(wait_ready(api, 2), 2)
        api.kill(sbx)

    def test_after_a_crash_the_next_start_removes_them_without_calling_them_leftovers(self):
        first = Daemon()
        wait_ready(first.client, 2)
        records = os.path.join(first.state, "sandboxes")
        ahead = sorted(name[:-5] for name in os.listdir(records))
        self.assertEqual(len(ahead), 2, ahead)
        inits = children(first.proc.pid, "declaw-init")
        first.crash()
        # They wait for a config on a socket that just closed: they end on their own.
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{pid}/status") and status(pid).get("State", "")[:1] != "Z"
                  for pid in inits) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.daemon = Daemon(workdir=first.dir)
        self.addCleanup(lambda: self.daemon.stop())
        health = self.daemon.client.request("GET", "/v1/health").json()
        self.assertEqual(health["leftovers_cleaned"], 0, health)
        left = os.listdir(os.path.join(self.daemon.state, "sandboxes"))
        self.assertFalse(set(ahead) & {name[:-5] for name in left}, left)

    def test_a_plain_built_in_takes_the_skeleton_its_init_wrote_ahead(self):
        # Where root builds are detached (6.15+), an init launched ahead writes the built-ins'
        # skeleton into a disk of its own while it waits (daemon/skeleton.h).
        api = self.start()
        wait_ready(api, 2)
        sbx = api.create()
        used = metric(api, "declaw_skeleton_total", '{result="used"}')
        detached = used == 1
        print(f"\nskeleton written ahead: {'yes' if detached else 'no (attached builds)'}")
        self.assertIn(used, (0, 1))
        with open("/etc/debian_version") as f:
            host_version = f.read()
        probe = ("cat /etc/debian_version; stat -c '%a %U %G' /home/user /tmp /root /etc/profile; "
                 "grep -q 'EUID:-' /etc/profile && echo rewritten; ls -ld /bin | awk '{print $NF}'; "
                 "touch /etc/z && echo etc-ok")
        res = api.run(sbx, probe, user="root")
        self.assertEqual(res["exit_code"], 0, res)
        self.assertEqual(res["stdout"], host_version + "755 user user\n1777 root root\n"
                         "700 root root\n644 root root\nrewritten\nusr/bin\netc-ok\n")
        # The same root as a create that built its own (launch_ahead 0 below checks nothing
        # else): python is a built-in too, and takes the next one.
        other = api.create(template="python")
        self.assertEqual(api.run(other, "python3 -c 'print(1)'")["stdout"], "1\n")
        if detached:
            self.assertEqual(metric(api, "declaw_skeleton_total", '{result="used"}'), 2)
        api.kill(other)
        api.kill(sbx)

    def test_an_image_does_not_get_the_skeleton(self):
        from images import Image, busybox_layer, import_archive
        api = self.start()
        r = import_archive(api, "skel-busybox", Image([busybox_layer()]).oci_archive())
        if r.status == 501:
            print("\nimage templates are off on this host: nothing to check")
            return
        self.assertEqual(r.status, 201, r)
        self.addCleanup(lambda: api.request("DELETE", "/v1/templates/skel-busybox"))
        wait_ready(api, 2)
        sbx = api.create(template="skel-busybox")
        self.assertEqual(metric(api, "declaw_launch_ahead_total", '{result="hit"}'), 1)
        used = metric(api, "declaw_skeleton_total", '{result="used"}')
        unused = metric(api, "declaw_skeleton_total", '{result="unused"}')
        self.assertEqual(used, 0)
        # The image's /etc is its own: none of the host's copies a built-in gets.
        res = api.run(sbx, "ls /etc/debian_version /etc/mime.types 2>&1")
        self.assertIn("/etc/debian_version: No such file", res["stdout"], res)
        self.assertIn("/etc/mime.types: No such file", res["stdout"], res)
        print(f"\nskeletons unused by the image's create: {unused}")
        api.kill(sbx)

    def test_off_every_create_launches_its_own(self):
        api = self.start({"launch_ahead": 0})
        self.assertEqual(metric(api, "declaw_launch_ahead_ready"), 0)
        sbx = api.create()
        self.assertEqual(api.run(sbx, "true")["exit_code"], 0)
        self.assertEqual(self.inits(), [self.inits()[0]])
        self.assertEqual(metric(api, "declaw_launch_ahead_total", '{result="hit"}'), 0)
        api.kill(sbx)


if __name__ == "__main__":
    unittest.main()
