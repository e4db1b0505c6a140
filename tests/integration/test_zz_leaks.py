"""Runs last (ctest orders it after the other integration tests): after the whole suite, nothing
of ours may remain on the host: no sandbox processes, no processes in the sandbox uid pool, no
mounts (overlay or idmapped ones included), no cgroups, no test state directories or template
workspaces, and nothing of declaw's networking in the host's
own network namespace (test daemons run in namespaces of their own, which must be gone too)."""
import glob
import os
import unittest

from harness import require_root
from netns import LINK_PREFIX, TABLE, holders_alive, links, nft_tables

POOL_BASE = 1 << 28
LEDGER = os.environ.get("DECLAW_TEST_CGROUP_LEDGER")
LEDGER_VARIABLE = b"DECLAW_TEST_CGROUP_LEDGER="


def ledger_names():
    """The temp dir (and cgroup subtree) names of this build's test daemons."""
    if not LEDGER or not os.path.exists(LEDGER):
        return set()
    with open(LEDGER) as f:
        return {line.strip() for line in f if line.strip()}


def run_of(pid):
    """The ledger of the test run a process belongs to: that of the nearest ancestor (itself
    included) whose environment names one. Sandbox processes have a clean environment, but their
    declaw-init's parent is the test's declawd. None when no ancestor says."""
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                for var in f.read().split(b"\0"):
                    if var.startswith(LEDGER_VARIABLE):
                        return var[len(LEDGER_VARIABLE):].decode()
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if pid <= 1:
            return None
    return None


def ours(pid):
    """Whether a process is this run's to answer for: other runs on this machine (people's
    tests, CI of another clone) are not; a process whose run is unknown is."""
    run = run_of(pid)
    return run is None or run == LEDGER


def processes():
    """Every live process. Zombies are left out: they run nothing and hold nothing but a pid,
    and one whose parent died is reaped by PID 1, which on some machines (a VM's own init)
    never reaps."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            if status.get("State", "").startswith("Z"):
                continue
            yield int(pid), status
        except (OSError, ValueError):
            continue


def own_cgroups():
    """This machine's own cgroup directories that are not a hierarchy's root."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if path == "/":
                continue
            for mount in (controllers.replace("name=", ""), "unified", ""):
                candidate = os.path.join("/sys/fs/cgroup", mount, path.lstrip("/"))
                if os.path.isdir(candidate):
                    yield candidate
                    break


class NothingLeftBehind(unittest.TestCase):
    def setUp(self):
        require_root()

    def test_no_sandbox_processes_remain(self):
        inits = [pid for pid, s in processes()
                 if s.get("Name") in ("declaw-init", "declaw-zygote") and ours(pid)]
        self.assertEqual(inits, [], "declaw-init (or init zygote) processes still running")

    def test_no_process_runs_with_a_sandbox_uid(self):
        strays = [(pid, s.get("Name"), s.get("Uid")) for pid, s in processes()
                  if int(s.get("Uid", "0").split()[0]) >= POOL_BASE and ours(pid)]
        self.assertEqual(strays, [], "processes with sandbox uids still running")

    def test_no_declawd_started_by_the_tests_remains(self):
        daemons = [pid for pid, s in processes() if s.get("Name") == "declawd" and ours(pid)]
        self.assertEqual(daemons, [])

    def test_no_mounts_mention_declaw(self):
        with open("/proc/self/mountinfo") as f:
            self.assertEqual([l for l in f if "declaw" in l], [])

    def test_no_overlay_or_idmapped_mount_of_a_sandbox_root_remains(self):
        # declawd builds roots in a mount namespace of its own, so none should ever be here;
        # an overlay whose layers are named /proc/self/fd/N is runtime/rootfs's signature.
        with open("/proc/self/mountinfo") as f:
            lines = f.readlines()
        self.assertEqual([l for l in lines if " overlay " in l and "/proc/self/fd/" in l], [])
        self.assertEqual([l for l in lines if "idmapped" in l and "declaw" in l], [])

    def test_no_template_store_workspace_or_scratch_dir_remains(self):
        # Test daemons keep their data dir in their own /tmp/declaw-test-* dir (checked below);
        # none may have used the default data dir, and the image and init tests clean up after
        # themselves.
        left = glob.glob("/tmp/declaw-init-test-mnt.*") + glob.glob("/tmp/declaw-image-test.*")
        left += glob.glob("/tmp/declaw-bait-*") + glob.glob("/tmp/declaw-export-*")
        if os.path.isdir("/var/lib/declaw/tmp"):
            left += [os.path.join("/var/lib/declaw/tmp", n) for n in os.listdir("/var/lib/declaw/tmp")]
        self.assertEqual(left, [])

    def test_no_cgroups_of_ours_remain(self):
        # Every subtree the tests' daemons used (the ledger), wherever it was made; and anything
        # named like ours inside this machine's own cgroups. The root cgroups of v1 controllers
        # are shared by every container on the host, so a bare "declaw" there may be another's.
        names = ledger_names()
        ours = []
        for root, dirs, _ in os.walk("/sys/fs/cgroup"):
            ours += [os.path.join(root, d) for d in dirs if d in names]
            dirs[:] = [d for d in dirs if d not in names]
        for own in own_cgroups():
            for root, dirs, _ in os.walk(own):
                # Another run's test daemon (named, but not in our ledger) is not ours.
                dirs[:] = [d for d in dirs
                           if not d.startswith("declaw-test-") or d in names or not LEDGER]
                ours += [os.path.join(root, d) for d in dirs
                         if d.startswith("declaw") or d.startswith("sbx-")]
        self.assertEqual(sorted(set(ours)), [])

    def test_no_test_state_directories_remain(self):
        # This run's, by the ledger; every one when there is no ledger (a run by hand).
        names = ledger_names()
        left = [d for d in glob.glob("/tmp/declaw-test-*")
                if not LEDGER or os.path.basename(d) in names]
        self.assertEqual(left, [])

    def test_the_hosts_network_namespace_has_no_dcw_links(self):
        self.assertEqual([name for name in links() if name.startswith(LINK_PREFIX)], [])

    def test_the_hosts_network_namespace_has_no_declaw_table(self):
        self.assertNotIn(TABLE, nft_tables())

    def test_no_test_network_namespace_outlived_its_test(self):
        # Holders of this build's run only (others may be running theirs on this machine).
        self.assertEqual(holders_alive(LEDGER), [])


if __name__ == "__main__":
    unittest.main()
