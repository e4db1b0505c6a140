"""Shared by the Python SDK tests: a real declawd started by tests/integration/harness.py, and the
`declaw` package from clients/python (ctest sets PYTHONPATH; run by hand, it is found from here).

Environment (set by ctest): DECLAW_BIN_DIR = the build's bin/ directory.
"""
import hashlib
import io
import os
import random
import re
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
# Appended, not prepended: tests/integration has its own support.py and test_*.py.
sys.path.append(os.path.join(REPO, "tests", "integration"))
try:
    import declaw  # PYTHONPATH=clients/python, as ctest sets it
except ImportError:
    sys.path.insert(0, os.path.join(REPO, "clients", "python"))
    import declaw

from harness import Daemon  # noqa: E402

MIB = 1 << 20

# The seed scenario's examples (examples/network_exfiltration.py, its async twin and the
# TypeScript one) print these steps, in this order, as "  [PASS] ...".
EXFILTRATION_PASSES = [
    r"sandbox sbx-[a-z0-9]+ created without internet access",
    r"wrote /tmp/secrets\.txt with simulated credentials",
    r"HTTP exfiltration was blocked",
    r"DNS exfiltration was blocked \(UDP query and getaddrinfo\)",
    r"secrets\.txt read back intact through the API",
    r"secrets\.txt readable by code inside the sandbox",
    r"sandbox killed",
    r"sandbox is no longer running",
    r"sandbox no longer listed as running",
]


def assert_exfiltration_blocked(test, done, steps=EXFILTRATION_PASSES):
    """An exfiltration example's run DONE (a CompletedProcess with text output): it exited 0,
    passed every one of STEPS in order, failed none, and saw TCP and DNS blocked, nothing sent
    out."""
    output = done.stdout + done.stderr
    test.assertEqual(done.returncode, 0, output)
    passes = re.findall(r"^  \[PASS\] (.*)$", done.stdout, re.M)
    test.assertEqual(len(passes), len(steps), output)
    for pattern, line in zip(steps, passes):
        test.assertRegex(line, f"^{pattern}$")
    test.assertNotIn("[FAIL]", output)
    test.assertIn("ALL CHECKS PASSED", done.stdout)
    test.assertIn("BLOCKED: ", done.stdout)
    test.assertIn("BLOCKED udp 8.8.8.8:53", done.stdout)
    test.assertIn("BLOCKED getaddrinfo", done.stdout)
    test.assertNotIn("EXFILTRATED", done.stdout)


def kill_quietly(sbx):
    try:
        sbx.kill()
    except declaw.SandboxException:
        pass


class SdkTestCase(unittest.TestCase):
    """One daemon for the class, reached through the SDK with an explicit socket_path.
    Sandboxes made with self.create() are killed after the test; self.shared is one sandbox
    for the whole class (made when `shared_sandbox` is set)."""

    daemon_config = None
    shared_sandbox = None  # e.g. {"template": "python"}

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(cls.daemon_config)
        cls.socket = cls.daemon.socket
        cls.shared = None
        try:
            if cls.shared_sandbox is not None:
                spec = dict(cls.shared_sandbox)
                spec.setdefault("allow_internet_access", False)
                cls.shared = declaw.Sandbox.create(socket_path=cls.socket, **spec)
        except BaseException:
            cls.daemon.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.shared is not None:
                kill_quietly(cls.shared)
        finally:
            declaw.reset_transports()
            cls.daemon.stop()

    def create(self, **spec):
        spec.setdefault("allow_internet_access", False)
        spec.setdefault("socket_path", self.socket)
        sbx = declaw.Sandbox.create(**spec)
        self.addCleanup(kill_quietly, sbx)
        return sbx

    def running_ids(self):
        return {info.sandbox_id for info in declaw.Sandbox.list(socket_path=self.socket)}


class PseudoRandomFile(io.RawIOBase):
    """SIZE reproducible pseudo-random bytes as a binary file that knows its size (it can be
    asked with seek(0, SEEK_END) before reading), without holding them in memory. `sha256` is
    the digest of what has been read so far."""

    def __init__(self, size, seed=1):
        super().__init__()
        self._size = size
        self._rng = random.Random(seed)
        self._pos = 0
        self._generated = 0
        self.hasher = hashlib.sha256()

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer):
        if self._pos != self._generated:
            raise io.UnsupportedOperation("only sequential reads (size queries are fine)")
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._rng.randbytes(n)
        buffer[:n] = data
        self.hasher.update(data)
        self._pos += n
        self._generated += n
        return n


def pseudo_random_chunks(size, seed=2, chunk=3 * MIB + 17):
    """The same kind of bytes as an iterator of odd-sized chunks (no size known up front).
    Returns (iterator, hasher); the hasher is complete once the iterator is exhausted."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()

    def chunks():
        left = size
        while left:
            n = min(chunk, left)
            data = rng.randbytes(n)
            hasher.update(data)
            left -= n
            yield data

    return chunks(), hasher


class Collector:
    """A callback that keeps what it gets and lets a test wait for a piece of it."""

    def __init__(self):
        self.items = []
        self._cond = threading.Condition()

    def __call__(self, item):
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def text(self):
        with self._cond:
            if self.items and isinstance(self.items[0], bytes):
                return b"".join(self.items).decode("utf-8", errors="replace")
            return "".join(self.items)

    def wait_for(self, piece, timeout=15):
        deadline = time.monotonic() + timeout
        with self._cond:
            while piece not in self.text():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{piece!r} did not arrive within {timeout} s; got "
                                         f"{self.text()[-500:]!r}")
                self._cond.wait(left)


def eventually(predicate, timeout=15, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {timeout} s")
