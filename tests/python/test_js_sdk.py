"""The TypeScript SDK (clients/js) against a real declawd: its own tests (`npm test`, node's test
runner over clients/js/test/*.test.mjs) and examples/network_exfiltration.ts, each run by node
with DECLAW_SOCKET pointing at a test daemon.

Needs node and npm, and clients/js's devDependencies (scripts/install-deps.sh runs `npm ci`
there). It compiles the package first (`npm run build`, tsc, a few seconds), so it never runs a
stale dist/ after a change to the TypeScript sources."""
import os
import shutil
import subprocess
import unittest

from support import REPO, assert_exfiltration_blocked

from harness import Daemon

JS_DIR = os.path.join(REPO, "clients", "js")
EXAMPLE = os.path.join(JS_DIR, "dist", "examples", "network_exfiltration.js")
# node --test and the example each finish in well under a minute; this only stops a hang.
RUN_TIMEOUT_S = 300


def run(args, socket_path, timeout=RUN_TIMEOUT_S):
    env = dict(os.environ, DECLAW_SOCKET=socket_path, NO_COLOR="1")
    return subprocess.run(args, cwd=JS_DIR, env=env, capture_output=True, text=True,
                          timeout=timeout)


class TypeScriptSdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise RuntimeError("node and npm are needed: scripts/install-deps.sh installs them")
        if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "typescript")):
            raise RuntimeError("clients/js has no node_modules: run scripts/install-deps.sh "
                               "(npm ci in clients/js)")
        build = subprocess.run(["npm", "run", "--silent", "build"], cwd=JS_DIR,
                               capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if build.returncode != 0:
            raise RuntimeError(f"npm run build failed:\n{build.stdout}{build.stderr}")
        cls.daemon = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def running(self):
        return self.daemon.client.request("GET", "/v1/health").json()["sandboxes_running"]

    def test_npm_test_passes_against_the_daemon(self):
        done = run(["npm", "test", "--silent"], self.daemon.socket)
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, output)
        # node's test runner's summary: some tests ran, none failed.
        self.assertRegex(done.stdout, r"(?m)^# pass [1-9]\d*$", output)
        self.assertRegex(done.stdout, r"(?m)^# fail 0$", output)
        # Nothing is skipped: every test ran against this daemon.
        self.assertRegex(done.stdout, r"(?m)^# skipped 0$", output)
        self.assertEqual(self.running(), 0, "a test left a sandbox running\n" + output)

    def test_the_exfiltration_example_passes_every_step(self):
        done = run(["node", EXAMPLE], self.daemon.socket)
        assert_exfiltration_blocked(self, done)
        self.assertEqual(self.running(), 0, done.stdout + done.stderr)

    def test_the_example_without_a_daemon_fails_and_says_why(self):
        done = run(["node", EXAMPLE], os.path.join(self.daemon.dir, "no-such.sock"))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("[FAIL] could not create a sandbox: cannot reach declawd at", done.stdout)


if __name__ == "__main__":
    unittest.main()
