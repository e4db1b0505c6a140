"""Helpers shared by the integration tests, on top of harness.py: putting probes into a sandbox and
running them, snapshots of host files (to prove an attack changed nothing), host marker files
that clean themselves up, and a test case class with one sandbox shared by its tests.

Environment: DECLAW_PROBE_BIN_DIR = where CMake put the compiled C probes (default: the build's
bin/ directory, DECLAW_BIN_DIR).
"""
import hashlib
import json
import os
import secrets
import shlex
import shutil

from harness import BIN_DIR, PROBES_DIR, DaemonTestCase, run_output

PROBE_BIN_DIR = os.environ.get("DECLAW_PROBE_BIN_DIR") or BIN_DIR
# Inside the sandbox: in /tmp (sticky, world-writable) so both `user` and `root` can run them.
SANDBOX_PROBE_DIR = "/tmp/declaw-probes"


def random_suffix():
    return secrets.token_hex(8)


def put_file(api, sbx, path, data, user=None):
    r = api.write_bytes(sbx, path, data, user=user)
    if r.status != 200:
        raise AssertionError(f"upload of {path} failed: {r}")
    return r.json()


def put_python_probe(api, sbx, name):
    """Uploads tests/probes/NAME into the sandbox; returns its path inside."""
    with open(os.path.join(PROBES_DIR, name), "rb") as f:
        data = f.read()
    dest = f"{SANDBOX_PROBE_DIR}/{name}"
    put_file(api, sbx, dest, data)
    return dest


def put_binary_probe(api, sbx, name):
    """Uploads the compiled probe NAME (built by tests/integration/CMakeLists.txt) and makes it
    executable; returns its path inside. A missing probe is an error, never a skip."""
    src = os.path.join(PROBE_BIN_DIR, name)
    if not os.path.isfile(src):
        raise RuntimeError(f"probe {src} is missing: build it (cmake --build) or set "
                           f"DECLAW_PROBE_BIN_DIR")
    with open(src, "rb") as f:
        data = f.read()
    dest = f"{SANDBOX_PROBE_DIR}/{name}"
    put_file(api, sbx, dest, data)
    res = api.run(sbx, f"chmod 0755 {shlex.quote(dest)}")
    if res["exit_code"] != 0:
        raise AssertionError(f"chmod of {dest} failed: {res}")
    return dest


def run_python_probe(api, sbx, probe_path, *args, user="user", timeout=60):
    cmd = " ".join(shlex.quote(a) for a in ["python3", probe_path, *args])
    return api.run(sbx, cmd, user=user, timeout=timeout)


def json_lines(result):
    """The JSON objects a probe printed, one per stdout line (other lines are skipped)."""
    out = []
    for line in run_output(result).decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def host_state(path):
    """What the host holds at PATH (not following a final symlink): None if nothing, else a
    tuple that changes if the entry is replaced, rewritten, renamed away or chmod'ed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    digest = None
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    listing = None
    if os.path.isdir(path) and not os.path.islink(path):
        listing = tuple(sorted(os.listdir(path)))
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_uid, digest, listing)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_host_file(test, path, content):
    """Creates a host file the test owns; removed at cleanup."""
    test.addCleanup(remove_host_path, path)
    with open(path, "wb") as f:
        f.write(content)
    return path


def make_host_dir(test, path):
    test.addCleanup(remove_host_path, path)
    os.mkdir(path)
    return path


def remove_host_path(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


class SharedSandboxTestCase(DaemonTestCase):
    """One daemon and one sandbox (cls.sbx, from cls.sandbox_spec) for the whole class, for tests
    that do not disturb each other."""

    sandbox_spec = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.sbx = cls.api.create(**cls.sandbox_spec)
            cls.prepareSandbox()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepareSandbox(cls):
        """Hook: upload probes, create fixtures."""

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "sbx", None):
                cls.api.kill(cls.sbx)
        finally:
            super().tearDownClass()
