"""examples/network_exfiltration_async.py against a test daemon (found through DECLAW_SOCKET):
the seed scenario through AsyncSandbox. Every step passes, the exit code says so, and no
sandbox is left running."""
import os
import re
import subprocess
import sys
import unittest

from support import REPO, SdkTestCase

from declaw import Sandbox, SandboxQuery, SandboxState

EXAMPLE = os.path.join(REPO, "examples", "network_exfiltration_async.py")
EXPECTED_PASSES = [
    r"sandbox sbx-[a-z0-9]+ created without internet access",
    r"wrote /tmp/secrets\.txt with simulated credentials",
    r"HTTP exfiltration was blocked",
    r"DNS exfiltration was blocked \(UDP query and getaddrinfo\)",
    r"the attempts' output arrived line by line as it came",
    r"secrets\.txt read back intact through the API",
    r"secrets\.txt readable by code inside the sandbox",
    r"sandbox killed",
    r"sandbox is no longer running",
    r"sandbox no longer listed as running",
]


def run_example(socket_path):
    env = dict(os.environ, DECLAW_SOCKET=socket_path,
               PYTHONPATH=os.path.join(REPO, "clients", "python"))
    return subprocess.run([sys.executable, "-W", "error::ResourceWarning", EXAMPLE], env=env,
                          capture_output=True, text=True, timeout=300)


class AsyncNetworkExfiltrationExample(SdkTestCase):
    def test_every_step_passes_and_nothing_is_left_running(self):
        done = run_example(self.socket)
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, output)
        passes = re.findall(r"^  \[PASS\] (.*)$", done.stdout, re.M)
        self.assertEqual(len(passes), len(EXPECTED_PASSES), output)
        for pattern, line in zip(EXPECTED_PASSES, passes):
            self.assertRegex(line, f"^{pattern}$")
        self.assertNotIn("[FAIL]", output)
        self.assertIn("ALL CHECKS PASSED", done.stdout)
        self.assertIn("BLOCKED: ", done.stdout)
        self.assertIn("BLOCKED udp 8.8.8.8:53", done.stdout)
        self.assertIn("BLOCKED getaddrinfo", done.stdout)
        self.assertNotIn("EXFILTRATED", done.stdout)
        self.assertEqual(done.stderr, "", "warnings or errors on stderr")

        self.assertEqual(list(Sandbox.list(socket_path=self.socket)), [], "a sandbox is still live")
        everything = Sandbox.list(
            query=SandboxQuery(metadata={"demo": "network-exfiltration-async"},
                               state=[SandboxState.RUNNING, SandboxState.KILLED]),
            socket_path=self.socket)
        self.assertEqual([i.state for i in everything], [SandboxState.KILLED])

    def test_without_a_daemon_it_fails_and_says_why(self):
        done = run_example(os.path.join(self.daemon.dir, "no-such.sock"))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("[FAIL] could not create a sandbox: cannot reach declawd at", done.stdout)


if __name__ == "__main__":
    unittest.main()
