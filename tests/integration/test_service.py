"""declawd under systemd. Type=notify: the test plays systemd, binds the datagram socket, starts
the real daemon with NOTIFY_SOCKET and WATCHDOG_USEC in its environment, and reads what arrives:
READY=1 only once the API socket answers, STATUS= with the live count, WATCHDOG=1 pings at half
the watchdog interval, and STOPPING=1 at SIGTERM. Without NOTIFY_SOCKET the daemon sends nothing
(every other test). Socket activation: under systemd-socket-activate (what declawd.socket does)
declawd serves on the socket it is given, and refuses a wrong set of fds. The units themselves:
systemd-analyze verifies both and scores the service's exposure."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import DECLAWD, Client, Daemon
from support import wait_for

UNITS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                         "systemd")
# `systemd-analyze security --offline=yes declawd.service` (systemd 252): 9.6 before the unit's
# hardening, 6.1 after. Much of what remains is what sandboxes need (root, user namespaces,
# CAP_SYS_ADMIN, the host's network): see docs/operations.md, "The unit's hardening".
MAX_EXPOSURE = 6.1

WATCHDOG_USEC = 400_000  # pings every 200 ms


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="declaw-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class SystemdNotifyTest(unittest.TestCase):

    def test_ready_status_watchdog_and_stopping(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        stopped = False
        try:
            # READY=1 came, and only after the socket answered: the harness's first successful
            # GET /v1/health is what Daemon() waits for, and READY is sent after accepting
            # starts, so a client that waits for READY never finds the socket missing.
            self.assertTrue(wait_for(lambda: any("READY=1" in m for m in notify.drain()), 10),
                            notify.messages)
            ready = next(m for m in notify.messages if "READY=1" in m)
            self.assertIn("STATUS=0 sandboxes running", ready)
            self.assertEqual(Client(d.socket).request("GET", "/v1/health").status, 200)

            sbx = d.client.create(timeout=60)
            self.assertTrue(wait_for(lambda: any("STATUS=1 sandbox running" in m
                                                 for m in notify.drain()), 10), notify.messages)
            d.client.kill(sbx)

            # Watchdog pings, several within a second (every 200 ms).
            notify.messages.clear()
            time.sleep(1.2)
            pings = [m for m in notify.drain() if "WATCHDOG=1" in m]
            self.assertGreaterEqual(len(pings), 3, notify.messages)
            self.assertLessEqual(len(pings), 12, notify.messages)

            d.stop()
            stopped = True
            self.assertTrue(any("STOPPING=1" in m for m in notify.drain()), notify.messages)
        finally:
            if not stopped:
                d.stop()

    def test_without_a_watchdog_only_status_updates(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(env={"NOTIFY_SOCKET": notify.path})
        try:
            self.assertTrue(wait_for(lambda: any("READY=1" in m for m in notify.drain()), 10))
            self.assertFalse(any("WATCHDOG=1" in m for m in notify.messages))
        finally:
            d.stop()
        self.assertTrue(any("STOPPING=1" in m for m in notify.drain()), notify.messages)


class SocketActivationTest(unittest.TestCase):

    def test_serves_on_the_socket_it_was_given(self):
        d = Daemon(activated=True)
        try:
            log = d.read_log()
            self.assertIn(f"declawd listening on fd 3 from systemd ({d.socket})", log)
            # systemd-socket-activate made the socket with its own mode; declawd, which makes
            # its own 0660, left it alone.
            self.assertNotEqual(os.stat(d.socket).st_mode & 0o777, 0o660)
            sbx = d.client.create(timeout=60)
            self.assertEqual(d.client.run(sbx, "echo hello")["stdout"], "hello\n")
            self.assertEqual(d.client.kill(sbx).status, 204)
            self.assertEqual(d.client.request("GET", f"/v1/sandboxes/{sbx}").json()["state"],
                             "killed")
        finally:
            d.stop()  # asserts the socket file is still there, and nothing else is

    def refused(self, *listen_args):
        """declawd started by systemd-socket-activate with listen_args: its exit code and output,
        once a client's connection made the activator exec it."""
        tmp = tempfile.mkdtemp(prefix="declaw-activation-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        paths = [os.path.join(tmp, f"s{i}") for i in range(2)]
        args = [a.format(*paths) for a in listen_args]
        proc = subprocess.Popen(["systemd-socket-activate", *args, DECLAWD, "--socket",
                                 os.path.join(tmp, "unused.sock"), "--state-dir",
                                 os.path.join(tmp, "state"), "--data-dir",
                                 os.path.join(tmp, "data")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(paths[0]), 10))
            datagram = "-d" in args
            c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM)
            with c:
                if datagram:
                    c.sendto(b"x", paths[0])
                else:
                    c.connect(paths[0])
                out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertFalse(os.path.exists(os.path.join(tmp, "unused.sock")))
        self.assertFalse(os.path.exists(os.path.join(tmp, "state")))
        return proc.returncode, out

    def test_two_sockets_are_refused_with_a_reason(self):
        code, out = self.refused("-l", "{0}", "-l", "{1}")
        self.assertNotEqual(code, 0, out)
        self.assertIn("socket activation: 2 fds were passed", out)
        self.assertIn("exactly one listening AF_UNIX SOCK_STREAM socket", out)

    def test_a_datagram_socket_is_refused_with_a_reason(self):
        code, out = self.refused("-d", "-l", "{0}")
        self.assertNotEqual(code, 0, out)
        self.assertIn("socket activation: fd 3 is AF_UNIX SOCK_DGRAM socket", out)


def unit_settings(path):
    """Key=value lines of a unit file (the last one wins; no sections, no continuations)."""
    settings = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith(("#", "[")):
                key, value = line.rstrip("\n").split("=", 1)
                settings[key] = value
    return settings


class SystemdUnitsTest(unittest.TestCase):
    """The shipped units, with ExecStart pointing at the built declawd (verify wants it to
    exist)."""

    def setUp(self):
        if not shutil.which("systemd-analyze"):
            raise AssertionError("systemd-analyze is missing (Debian: the systemd package)")
        self.dir = tempfile.mkdtemp(prefix="declaw-units-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        for unit in ("declawd.service", "declawd.socket"):
            with open(os.path.join(UNITS_DIR, unit)) as f:
                text = f.read()
            with open(os.path.join(self.dir, unit), "w") as f:
                f.write(text.replace("/usr/local/sbin/declawd", os.path.abspath(DECLAWD)))

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], cwd=self.dir, capture_output=True,
                              text=True, timeout=60)

    def test_both_units_verify_cleanly(self):
        r = self.analyze("verify", "declawd.service", "declawd.socket")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "")

    def test_the_service_exposure_stays_at_most_the_measured_score(self):
        r = self.analyze("security", "--offline=yes", "declawd.service")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        score = re.search(r"Overall exposure level for declawd.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(score, r.stdout)
        self.assertLessEqual(float(score.group(1)), MAX_EXPOSURE, r.stdout)

    def test_sandboxes_work_under_the_units_no_new_privs_and_bounding_set(self):
        # Both are inherited by every sandbox; setpriv applies them as systemd would (the
        # unit's seccomp-based options need systemd itself, which tests do not run under).
        settings = unit_settings(os.path.join(UNITS_DIR, "declawd.service"))
        self.assertEqual(settings["NoNewPrivileges"], "yes")
        dropped = settings["CapabilityBoundingSet"]
        self.assertTrue(dropped.startswith("~"), dropped)
        bounding = ",".join("-" + cap.removeprefix("CAP_").lower() for cap in dropped[1:].split())
        d = Daemon(wrapper=["setpriv", "--no-new-privs", "--bounding-set", bounding])
        try:
            with open(f"/proc/{d.proc.pid}/status") as f:
                self.assertIn("NoNewPrivs:\t1", f.read())
            sbx = d.client.create(timeout=60)
            self.assertEqual(d.client.run(sbx, "id -u")["stdout"], "1000\n")
            # Root in a sandbox still gets Docker's default set: the bounding set stops at the
            # sandbox's user namespace, which starts with a full one.
            root = d.client.run(sbx, "id -u; grep CapEff /proc/self/status", user="root")
            self.assertEqual(root["exit_code"], 0, root)
            self.assertEqual(root["stdout"], "0\nCapEff:\t00000000a80425fb\n")
            self.assertEqual(d.client.kill(sbx).status, 204)
        finally:
            d.stop()

    def test_exec_start_is_one_line_the_packaging_rewrite_understands(self):
        # Packaging rewrites /usr/local to /usr in the units: ExecStart must stay one line
        # starting with the binary.
        with open(os.path.join(UNITS_DIR, "declawd.service")) as f:
            lines = [line for line in f if line.startswith("ExecStart")]
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("ExecStart=/usr/local/sbin/declawd "), lines[0])
        self.assertFalse(lines[0].rstrip().endswith("\\"))


if __name__ == "__main__":
    unittest.main()
