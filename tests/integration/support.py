"""Helpers shared by the integration tests, on top of harness.py: putting probes into a sandbox and
running them, snapshots of host files (to prove an attack changed nothing), host marker files
that clean themselves up, raw HTTP exchanges (for requests http.client will not send, or answers
that come before the body is sent), and a test case class with one sandbox shared by its tests.

Environment: DECLAW_PROBE_BIN_DIR = where CMake put the compiled C probes (default: the build's
bin/ directory, DECLAW_BIN_DIR).
"""
import hashlib
import json
import os
import secrets
import shlex
import shutil
import socket
import time
import urllib.parse

from harness import BIN_DIR, PROBES_DIR, Client, DaemonTestCase, Response, run_output

PROBE_BIN_DIR = os.environ.get("DECLAW_PROBE_BIN_DIR") or BIN_DIR
# Inside the sandbox: in /tmp (sticky, world-writable) so both `user` and `root` can run them.
SANDBOX_PROBE_DIR = "/tmp/declaw-probes"


def wait_for(predicate, timeout=10):
    """Polls predicate until it is true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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


class RawReply:
    def __init__(self, data, closed):
        self.data = data
        self.closed = closed  # the daemon closed the connection
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = None
        if lines[0].startswith(b"HTTP/1."):
            self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower().decode()] = value.strip().decode()

    def __repr__(self):
        return f"<RawReply status={self.status} closed={self.closed} {self.data[:300]!r}>"


def raw_exchange(socket_path, data, read_timeout=10):
    """Sends DATA on a fresh connection, then reads until the daemon closes or READ_TIMEOUT."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(read_timeout)
    s.connect(socket_path)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may answer and close before it read everything
        return read_reply(s)
    finally:
        s.close()


def read_reply(s):
    data, closed = b"", False
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return RawReply(data, closed)


class UploadClient(Client):
    """The harness client, but raw uploads go over a plain socket: when the daemon refuses an
    upload (403, 404, 413, 507) it may answer and close before the body is all sent, and
    http.client then fails on the send instead of reading the answer."""

    def write_bytes(self, sbx, path, data, user=None):
        query = {"path": path}
        if user:
            query["user"] = user
        head = (f"PUT /v1/sandboxes/{sbx}/files/raw?{urllib.parse.urlencode(query)} HTTP/1.1\r\n"
                f"Host: declaw\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
        reply = raw_exchange(self.socket_path, head + data, read_timeout=120)
        if reply.status is None:
            raise ConnectionError(f"no answer to the upload of {path}: {reply}")
        headers = {name.title(): value for name, value in reply.headers.items()}
        return Response(reply.status, headers, reply.body)


class SharedSandboxTestCase(DaemonTestCase):
    """One daemon and one sandbox (cls.sbx, from cls.sandbox_spec) for the whole class, for tests
    that do not disturb each other."""

    sandbox_spec = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = UploadClient(cls.daemon.socket)
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
