"""examples/network_exfiltration_async.py against a test daemon (found through DECLAW_SOCKET):
the seed scenario through AsyncSandbox. Every step passes, the exit code says so, and no
sandbox is left running."""
import os
import subprocess
import sys
import unittest

from support import EXFILTRATION_PASSES, REPO, SdkTestCase, assert_exfiltration_blocked

from declaw import Sandbox, SandboxQuery, SandboxState

EXAMPLE = os.path.join(REPO, "examples", "network_exfiltration_async.py")
# The blocking example's steps, and one more: output streamed through an async callback.
STEPS = (EXFILTRATION_PASSES[:4] + [r"the attempts' output arrived line by line as it came"] +
         EXFILTRATION_PASSES[4:])


def run_example(socket_path):
    env = dict(os.environ, DECLAW_SOCKET=socket_path,
               PYTHONPATH=os.path.join(REPO, "clients", "python"))
    return subprocess.run([sys.executable, "-W", "error::ResourceWarning", EXAMPLE], env=env,
                          capture_output=True, text=True, timeout=300)


class AsyncNetworkExfiltrationExample(SdkTestCase):
    def test_every_step_passes_and_nothing_is_left_running(self):
        done = run_example(self.socket)
        assert_exfiltration_blocked(self, done, STEPS)
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
