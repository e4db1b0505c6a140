"""Runs last (ctest orders it after the other integration tests): after the whole suite, nothing
of ours may remain on the host: no sandbox processes, no processes in the sandbox uid pool, no
mounts, no cgroups, no test state directories."""
import glob
import os
import unittest

from harness import require_root

POOL_BASE = 1 << 28


def processes():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            yield int(pid), status
        except (OSError, ValueError):
            continue


class NothingLeftBehind(unittest.TestCase):
    def setUp(self):
        require_root()

    def test_no_sandbox_processes_remain(self):
        inits = [pid for pid, s in processes() if s.get("Name") == "declaw-init"]
        self.assertEqual(inits, [], "declaw-init processes still running")

    def test_no_process_runs_with_a_sandbox_uid(self):
        strays = [(pid, s.get("Name"), s.get("Uid")) for pid, s in processes()
                  if int(s.get("Uid", "0").split()[0]) >= POOL_BASE]
        self.assertEqual(strays, [], "processes with sandbox uids still running")

    def test_no_declawd_started_by_the_tests_remains(self):
        daemons = [pid for pid, s in processes() if s.get("Name") == "declawd"]
        self.assertEqual(daemons, [])

    def test_no_mounts_mention_declaw(self):
        with open("/proc/self/mountinfo") as f:
            self.assertEqual([l for l in f if "declaw" in l], [])

    def test_no_cgroups_of_ours_remain(self):
        # The daemon's subtree ("declaw", or a cgroup test's "declaw-test-*") and sandbox leaves.
        ours = []
        for root, dirs, _ in os.walk("/sys/fs/cgroup"):
            for d in dirs:
                if d.startswith("declaw") or d.startswith("sbx-"):
                    ours.append(os.path.join(root, d))
            dirs[:] = [d for d in dirs if not d.startswith("declaw")]
        self.assertEqual(ours, [])

    def test_no_test_state_directories_remain(self):
        self.assertEqual(glob.glob("/tmp/declaw-test-*"), [])


if __name__ == "__main__":
    unittest.main()
