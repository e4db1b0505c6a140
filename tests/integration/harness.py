"""Test harness: starts a real declawd on a temporary socket and state dir, and talks to it with
plain HTTP/1.1 over the Unix socket (http.client, standard library only).

Environment (set by ctest): DECLAW_BIN_DIR = the build's bin/ directory.
"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from netns import Netns, declaw_leftovers, ip_forward

BIN_DIR = os.environ.get("DECLAW_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
DECLAWD = os.path.join(BIN_DIR, "declawd")
DECLAWCTL = os.path.join(BIN_DIR, "declawctl")
PROBES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "probes")
# Under AddressSanitizer (DECLAW_SANITIZE, scripts/test-asan.sh) the daemon's RSS also holds up to
# 256 MiB of freed memory in ASan's quarantine (quarantine_size_mb) plus shadow memory: tests that
# bound the daemon's growth allow this much more, so an unbounded leak still fails them.
MEMORY_SLACK_KIB = 320 * 1024 if "address" in os.environ.get("DECLAW_SANITIZE", "") else 0


def record_cgroup_subtree(name):
    """Adds name to the ledger of cgroup subtrees integration.zz_leaks checks are gone."""
    ledger = os.environ.get("DECLAW_TEST_CGROUP_LEDGER")
    if ledger:
        with open(ledger, "a") as f:
            f.write(name + "\n")


def sandbox_records(state_dir):
    """The state records in state_dir of sandboxes, as "<id>.json", sorted: not those of inits
    launched ahead ("ahead": true), which belong to no sandbox yet (daemon/launch_ahead.h)."""
    records = os.path.join(state_dir, "sandboxes")
    out = []
    for name in sorted(os.listdir(records)) if os.path.isdir(records) else []:
        if not name.endswith(".json"):
            continue  # a record being written (<id>.json.tmp, renamed when whole)
        try:
            with open(os.path.join(records, name)) as f:
                if json.load(f).get("ahead"):
                    continue
        except (OSError, ValueError):
            pass
        out.append(name)
    return out


def require_root():
    if os.geteuid() != 0:
        raise RuntimeError("integration tests need root (namespaces, uid maps): run them as root")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("declaw", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Client:
    """A small client over the daemon's socket: one connection per request (simple, robust)."""

    def __init__(self, socket_path):
        self.socket_path = socket_path

    def request(self, method, path, body=None, query=None, headers=None, raw=False, timeout=120,
                on_status=None):
        """on_status: called once the status line and headers are in, before the body is read
        (for a stream that ends only once something happens)."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            data = body
            if body is not None and not raw:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            if on_status is not None:
                on_status(r.status)
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    # Convenience wrappers that assert success.
    def create(self, **spec):
        r = self.request("POST", "/v1/sandboxes", spec)
        if r.status != 201:
            raise AssertionError(f"create failed: {r}")
        return r.json()["sandbox_id"]

    def kill(self, sbx):
        return self.request("DELETE", f"/v1/sandboxes/{sbx}")

    def run(self, sbx, cmd, **kw):
        body = {"cmd": cmd}
        body.update(kw)
        r = self.request("POST", f"/v1/sandboxes/{sbx}/commands", body)
        if r.status != 200:
            raise AssertionError(f"run {cmd!r} failed: {r}")
        return r.json()

    def write_bytes(self, sbx, path, data, user=None):
        q = {"path": path}
        if user:
            q["user"] = user
        return self.request("PUT", f"/v1/sandboxes/{sbx}/files/raw", data, query=q, raw=True,
                            headers={"Content-Type": "application/octet-stream"})

    def read_bytes(self, sbx, path, user=None):
        q = {"path": path}
        if user:
            q["user"] = user
        return self.request("GET", f"/v1/sandboxes/{sbx}/files/raw", query=q)


def run_output(result):
    """stdout of a command result, exact bytes."""
    if "stdout_base64" in result:
        return base64.b64decode(result["stdout_base64"])
    return result["stdout"].encode()


# The first line of a sanitizer report (scripts/test-asan.sh): ASan/LSan's "==pid==ERROR: ..." or
# UBSan's "file:line:col: runtime error: ...".
SANITIZER_REPORT = re.compile(r"^(==\d+==ERROR: |.*: runtime error: )", re.MULTILINE)


def log_excerpt(log):
    """The end of a daemon log; or, if a sanitizer reported, the report from its first line (its
    shadow-byte map and allocation stacks would push the faulting stack out of a plain tail)."""
    report = SANITIZER_REPORT.search(log)
    if report:
        return log[report.start():report.start() + 12000]
    return log[-4000:]


class Daemon:
    """A declawd on a temp socket and state dir, in a network namespace the test made; stop()
    asserts a clean exit that left nothing behind.

    Everything declawd does to networking (its nftables table, the dcw* veth ends, ip_forward, the
    DNS stub and proxy listeners) happens in that namespace, never in the host's, so daemons of
    several test runs on one machine cannot meet there."""

    def __init__(self, config=None, workdir=None, netns=None, env=None, activated=False,
                 wrapper=()):
        """workdir: reuse the socket and state dir of an earlier Daemon (one that crashed).
        netns: a netns.Netns to run in, which the caller keeps (and may inspect after stop());
        by default the daemon gets one of its own, closed when it stops or crashes.
        env: variables added to declawd's environment (e.g. NOTIFY_SOCKET).
        activated: socket activation, as declawd.socket does it: systemd-socket-activate makes
        the socket and execs declawd with it at the first connection; stop() then expects the
        socket file to be left where it was (declawd removes only what it created).
        wrapper: a command that execs its arguments (declawd's command line) in place, e.g.
        setpriv with some of a systemd unit's restrictions."""
        require_root()
        self.activated = activated
        self.wrapper = list(wrapper)
        self.own_netns = netns is None
        self.netns = netns or Netns()
        try:
            self._start(config, workdir, env)
        except BaseException:
            if self.own_netns:
                self.netns.close()
            if getattr(self, "log", None):
                self.log.close()
            if workdir is None and getattr(self, "dir", None):
                shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(self, config, workdir, env=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="declaw-test-")
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "declaw.sock")
        self.state = os.path.join(self.dir, "state")
        self.data = os.path.join(self.dir, "data")  # templates: kept across a restart on workdir
        self.log_path = os.path.join(self.dir, f"declawd-{time.monotonic_ns()}.log")
        args = [DECLAWD, "--socket", self.socket, "--state-dir", self.state, "--data-dir",
                self.data, "--log-level", "debug"]
        # A cgroup subtree of its own, named after the dir (so a restart on workdir finds it).
        config = dict(config or {})
        config.setdefault("cgroup_subtree", os.path.basename(self.dir))
        # Networking (an nft table and forwarding in the daemon's namespace) only where a test
        # asks for it.
        config.setdefault("network", "off")
        # Live restore (on by default) leaves sandboxes running when declawd stops; the tests
        # expect a stop to end them (stop() checks nothing is left) unless they ask for it
        # (test_live_restore.py).
        config.setdefault("live_restore", False)
        record_cgroup_subtree(config["cgroup_subtree"])
        cfg = os.path.join(self.dir, "config.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        args += ["--config", cfg]
        self.ip_forward_before = ip_forward(self.netns)
        self.log = open(self.log_path, "w")
        args = [*self.wrapper, *args]
        if self.activated:
            # It execs declawd in place (no --accept): proc.pid stays declawd's. It passes on only
            # the variables named with -E.
            passed = [k for k in (env or {})] + [k for k in os.environ if k.endswith("SAN_OPTIONS")]
            args = ["systemd-socket-activate", "-l", self.socket,
                    *[f"-E{k}" for k in passed], *args]
        # nsenter execs declawd (it forks only to enter a pid namespace): proc.pid is declawd's.
        self.proc = subprocess.Popen(["nsenter", f"--net={self.netns.path}", "--", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        self.client = Client(self.socket)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"declawd exited early: {self.read_log()}")
            if os.path.exists(self.socket):
                try:
                    if self.client.request("GET", "/v1/health").status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"declawd did not come up: {self.read_log()}")

    def crash(self):
        """SIGKILL, as a crash would: nothing of the daemon's own cleanup runs. A namespace of
        its own goes with it; pass netns= to look at what a crash left there."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        if self.own_netns:
            self.netns.close()

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def mounts_of_ours(self):
        """The mounts in declawd's own mount namespace (it makes one at start) that lie in this
        daemon's dir: the attach points of root builds, which each build detaches again. The
        tmpfs they are made in (state/mnt, there while declawd runs) is not one of them."""
        workspace = os.path.join(self.state, "mnt")
        try:
            with open(f"/proc/{self.proc.pid}/mountinfo") as f:
                return [line for line in f
                        if f" {self.dir}/" in line and line.split()[4] != workspace]
        except OSError:
            return []

    def mounts_left(self, settle_s=5):
        """mounts_of_ours() that stay: a root being built (by a create, or the warm pool's filler)
        has its attach points for a few ms, so only mounts still there after settle_s count."""
        deadline = time.monotonic() + settle_s
        first = None
        while self.proc.poll() is None:
            mounts = self.mounts_of_ours()
            first = mounts if first is None else first
            if not mounts:
                return []
            if time.monotonic() >= deadline:
                return [m for m in mounts if m in first]  # there all along
            time.sleep(0.05)
        return []

    def terminate(self):
        """SIGTERM and expect exit 0, nothing more: with live restore the sandboxes stay, for a
        Daemon(workdir=self.dir) to adopt. A namespace of its own goes with it."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            if self.own_netns:
                self.netns.close()
        if code != 0:
            raise AssertionError(f"declawd exited with {code}\n{log_excerpt(self.read_log())}")

    def stop(self, signo=signal.SIGTERM):
        """SIGNO (SIGTERM; SIGINT stops sandboxes that live restore would leave), expect exit 0,
        and nothing of ours left: no state record, no mount of a root build in declawd's
        namespace, no import workspace in the data dir, nothing in the network namespace (no dcw*
        link, no inet declaw table, ip_forward as before)."""
        mounts_left = self.mounts_left()
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if self.own_netns:
                    self.netns.close()
                raise AssertionError("declawd did not stop within 30 s of SIGTERM")
        else:
            code = self.proc.returncode
        self.log.close()
        leftovers = []
        records = os.path.join(self.state, "sandboxes")
        if os.path.isdir(records):
            leftovers = os.listdir(records)
        init_sockets = os.path.join(self.state, "init")  # live restore's, one per sandbox
        if os.path.isdir(init_sockets):
            leftovers += os.listdir(init_sockets)
        socket_left = os.path.exists(self.socket)
        tmp = os.path.join(self.data, "tmp")
        workspaces_left = os.listdir(tmp) if os.path.isdir(tmp) else []
        log = self.read_log()
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            net_left = declaw_leftovers(self.netns)
            forward = ip_forward(self.netns)
        finally:
            if self.own_netns:
                self.netns.close()
        if code != 0:
            raise AssertionError(f"declawd exited with {code}\n{log_excerpt(log)}")
        if self.activated:
            # Not declawd's socket: whoever made it removes it.
            if not socket_left:
                raise AssertionError("declawd removed the socket it was given by socket "
                                     f"activation\n{log_excerpt(log)}")
            socket_left = False
        if leftovers or socket_left or mounts_left or workspaces_left:
            raise AssertionError(f"declawd left state behind: {leftovers} socket={socket_left} "
                                 f"mounts={mounts_left} workspaces={workspaces_left}")
        if net_left or forward != self.ip_forward_before:
            raise AssertionError(f"declawd left networking behind: {net_left}, ip_forward "
                                 f"{self.ip_forward_before} -> {forward}\n{log[-4000:]}")


class DaemonTestCase(unittest.TestCase):
    """One daemon for the whole class; sandboxes made through self.sandbox() are killed after."""

    daemon_config = None

    @classmethod
    def daemonNetns(cls):
        """Hook: the netns.Netns the class's daemon runs in (None: one of its own)."""
        return None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(cls.daemon_config, netns=cls.daemonNetns())
        cls.api = cls.daemon.client

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def sandbox(self, **spec):
        sbx = self.api.create(**spec)
        self.addCleanup(self.api.kill, sbx)
        return sbx
