"""examples/network_exfiltration.py against a test daemon (found through DECLAW_SOCKET): every
step passes, the exit code says so, and no sandbox is left running."""
import os
import subprocess
import sys
import unittest

from support import REPO, SdkTestCase, assert_exfiltration_blocked

import declaw
from declaw import Sandbox, SandboxQuery, SandboxState

EXAMPLE = os.path.join(REPO, "examples", "network_exfiltration.py")


def run_example(socket_path):
    env = dict(os.environ, DECLAW_SOCKET=socket_path,
               PYTHONPATH=os.path.join(REPO, "clients", "python"))
    return subprocess.run([sys.executable, EXAMPLE], env=env, capture_output=True, text=True,
                          timeout=300)


class NetworkExfiltrationExample(SdkTestCase):
    def test_every_step_passes_and_nothing_is_left_running(self):
        done = run_example(self.socket)
        assert_exfiltration_blocked(self, done)
        for banner in ("1. Sandbox creation", "2. Writing secrets", "3. HTTP exfiltration",
                       "4. DNS exfiltration", "5. Local read", "6. Cleanup"):
            self.assertIn(f"--- {banner}", done.stdout)

        self.assertEqual(list(Sandbox.list(socket_path=self.socket)), [], "a sandbox is still live")
        everything = Sandbox.list(
            query=SandboxQuery(metadata={"demo": "network-exfiltration"},
                               state=[SandboxState.RUNNING, SandboxState.KILLED]),
            socket_path=self.socket)
        self.assertEqual([i.state for i in everything], [SandboxState.KILLED])
        self.assertEqual(self.daemon.client.request("GET", "/v1/health").json()
                         ["sandboxes_running"], 0)

    def test_without_a_daemon_it_fails_and_says_why(self):
        done = run_example(os.path.join(self.daemon.dir, "no-such.sock"))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("[FAIL] could not create a sandbox: cannot reach declawd at", done.stdout)
        self.assertIn("is the service running?", done.stdout)
        self.assertIsInstance(declaw.ConnectionException("x"), ConnectionError)


if __name__ == "__main__":
    unittest.main()
