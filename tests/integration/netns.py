"""Network namespaces that a test makes and that vanish with it: each is held by a sleeping child
process (never mounted under /run/netns), which the kernel kills when the test process dies
(PR_SET_PDEATHSIG), so a crashed or interrupted test leaves no namespace behind.

Threads of the test enter a namespace with setns(2) (per thread), so sockets on either side of a
test's links are plain Python sockets; programs run there through nsenter(1).
"""
import ctypes
import json
import os
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
SIGKILL = 9
_libc = ctypes.CDLL(None, use_errno=True)
# The holder's command line, so a leak check can find holders that outlived their test.
HOLDER_TAG = "declaw-test-netns"


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, SIGKILL)


class Netns:
    """A fresh network namespace with lo up, alive while its holder process lives.

    Make it from the main thread: PR_SET_PDEATHSIG fires when the thread that forked the holder
    ends, not the process."""

    def __init__(self):
        own = os.readlink("/proc/self/ns/net")
        # exec -a names the holder in ps and /proc/PID/cmdline; it must not hold this process's
        # stdout either.
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--", "bash", "-c", f'exec -a {HOLDER_TAG} sleep infinity'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        self.path = f"/proc/{self.pid}/ns/net"
        try:
            self._wait_until_unshared(own)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _wait_until_unshared(self, own):
        deadline = time.monotonic() + 10
        while True:
            try:
                if os.readlink(self.path) != own:
                    return
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("unshare --net did not make a namespace")
            time.sleep(0.01)

    def run(self, *cmd, check=True, input=None):
        """Runs cmd in this namespace (only the network namespace changes)."""
        return subprocess.run(["nsenter", f"--net={self.path}", "--", *cmd], check=check,
                              capture_output=True, text=True, input=input)

    def enter(self):
        """Moves the calling thread into this namespace."""
        if _libc.setns(self.fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), "setns")

    def call(self, fn, *args, **kwargs):
        """Runs fn in a new thread inside this namespace and returns what it returns."""
        out = {}

        def body():
            try:
                self.enter()
                out["value"] = fn(*args, **kwargs)
            except BaseException as e:  # handed to the caller
                out["error"] = e

        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        return self.call(socket.socket, family, kind)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.fd)


def close_all(namespaces):
    for netns in namespaces:
        netns.close()


def holders_alive(run=None):
    """Pids of namespace holders still running; with run, only those whose environment has
    DECLAW_TEST_CGROUP_LEDGER=run (the ledger names one build's test run: holders of other
    people's runs on this machine are theirs)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if argv0 != HOLDER_TAG.encode():
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if run is None or f"DECLAW_TEST_CGROUP_LEDGER={run}".encode() in environ:
            pids.append(int(pid))
    return pids


# --- What the daemon leaves in a namespace (None: the caller's own, i.e. the host's) ---

LINK_PREFIX = "dcw"
TABLE = ("inet", "declaw")


def run_in(netns, *cmd, check=True):
    if netns is None:
        return subprocess.run(cmd, check=check, capture_output=True, text=True)
    return netns.run(*cmd, check=check)


def links(netns=None):
    """{name: `ip -j addr` entry} of every link."""
    return {link["ifname"]: link for link in json.loads(run_in(netns, "ip", "-j", "addr").stdout)}


def nft_tables(netns=None):
    out = json.loads(run_in(netns, "nft", "-j", "list", "tables").stdout)["nftables"]
    return [(t["table"]["family"], t["table"]["name"]) for t in out if "table" in t]


def nft_table(netns=None, family=TABLE[0], name=TABLE[1]):
    """The objects of one table as `nft -j` lists them ([{"chain": {...}}, {"set": {...}}, ...]),
    or None when there is no such table."""
    res = run_in(netns, "nft", "-j", "list", "table", family, name, check=False)
    if res.returncode != 0:
        return None
    return [o for o in json.loads(res.stdout)["nftables"] if "metainfo" not in o]


def ip_forward(netns=None):
    return run_in(netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()


def declaw_leftovers(netns=None):
    """What of declawd's networking is in the namespace: dcw* links and the inet declaw table."""
    found = [f"link {name}" for name in links(netns) if name.startswith(LINK_PREFIX)]
    if TABLE in nft_tables(netns):
        found.append("table inet declaw")
    return found
