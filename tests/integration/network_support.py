"""What test_network needs around a real declawd with networking: the daemon runs in a network
namespace D the test makes (its "host"), joined to a fake internet I (fake_internet.py); sandboxes
made through the API reach I, or fail to, with tests/probes/egress_probe.py.

    sandbox eth0 --veth-- D (declawd: dcw* links, inet declaw, DNS stub, proxy) --veth-- I

The daemon's pool is 198.18.0.0/16 and its DNS upstream I's fake server; nothing here touches the
host's namespace (the test network rule in DESIGN.md).
"""
import json
import shutil
import socket
import tempfile
import threading

from fake_internet import (A, DNS_ADDRESS, FakeInternet, dns_query, parse_dns,
                           require_tools)
from harness import DaemonTestCase, require_root
from netns import Netns
from support import SANDBOX_PROBE_DIR, json_lines, put_file, put_python_probe

POOL = "198.18.0.0/16"
DAEMON_CONFIG = {"network": "auto", "net_pool": POOL, "dns_upstream": [DNS_ADDRESS]}
CERT = f"{SANDBOX_PROBE_DIR}/cert.pem"
PROBE = f"{SANDBOX_PROBE_DIR}/egress_probe.py"
# How long a probe waits at each step: for what should work (generous, for a loaded machine),
# and for what should be refused (a dropped packet has no answer; nothing here is slower).
WAIT_S = 15
REFUSAL_WAIT_S = 2
# Errors of an exchange the firewall stopped: dropped (no answer) or rejected.
UNREACHABLE = {"ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EPERM", "EACCES"}

world = {}


def set_up_world():
    require_root()
    require_tools()
    world["tmp"] = tempfile.mkdtemp(prefix="declaw-nettest-")
    try:
        world["host"] = Netns()
        world["internet"] = FakeInternet(world["host"], world["tmp"])
    except BaseException:
        tear_down_world()
        raise


def tear_down_world():
    try:
        if "internet" in world:
            world.pop("internet").close()
    finally:
        if "host" in world:
            world.pop("host").close()
        shutil.rmtree(world.pop("tmp", "/nonexistent"), ignore_errors=True)


def host():
    """D, the daemon's namespace."""
    return world["host"]


def internet():
    return world["internet"]


def key_of(sbx):
    """The part of a sandbox id that names its link and nft objects (docs/network.md)."""
    return sbx[len("sbx-"):]


class Listener:
    """A TCP server in a namespace that greets each connection; counts who connected."""

    def __init__(self, netns, address, port, greeting=b"hello from the host\n"):
        self.sock = netns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.greeting = greeting
        self.peers = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    def _greet(self, conn):
        # Reads until the client closes, so the close is a FIN and not a reset that could take
        # the greeting with it.
        with conn:
            conn.settimeout(5)
            try:
                conn.sendall(self.greeting)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self):
        self.sock.close()


def greeting_from(netns, address, port):
    """What a server at address:port says first, connecting from netns (None if unreachable)."""
    def fetch():
        try:
            with socket.create_connection((address, port), timeout=REFUSAL_WAIT_S) as s:
                return s.recv(100)
        except OSError:
            return None

    return netns.call(fetch)


class NetworkTestCase(DaemonTestCase):
    """A declawd in D with DAEMON_CONFIG for the class; sandboxes come with the probe and the fake
    internet's certificate."""

    daemon_config = DAEMON_CONFIG

    @classmethod
    def daemonNetns(cls):
        return host()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        health = cls.api.request("GET", "/v1/health").json()
        if not health["features"].get("internet_access"):
            log = cls.daemon.read_log()
            cls.daemon.stop()
            raise AssertionError(f"declawd runs without networking: {health}\n{log[-3000:]}")

    def sandbox(self, network=None, internet_access=True, **spec):
        if network is not None:
            spec["network"] = network
        spec.setdefault("allow_internet_access", internet_access)
        sbx = super().sandbox(**spec)
        put_python_probe(self.api, sbx, "egress_probe.py")
        with open(internet().cert, "rb") as f:
            put_file(self.api, sbx, CERT, f.read())
        return sbx

    def sandbox_asking_for(self, network):
        """A sandbox whose policy asks for an always-denied range; None when the daemon refuses
        such a policy outright (a 400 naming the entry), which is as good as denying it later."""
        r = self.api.request("POST", "/v1/sandboxes", {"allow_internet_access": True,
                                                       "network": network})
        if r.status == 400:
            self.assertIn("allow_out[", r.json()["error"]["message"], r)
            return None
        self.assertEqual(r.status, 201, r)
        sbx = r.json()["sandbox_id"]
        self.addCleanup(self.api.kill, sbx)
        put_python_probe(self.api, sbx, "egress_probe.py")
        return sbx

    # --- the API ---

    def info(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def network(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/network")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def patch_network(self, sbx, **body):
        return self.api.request("PATCH", f"/v1/sandboxes/{sbx}/network", body)

    def set_network(self, sbx, **body):
        r = self.patch_network(sbx, **body)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def refused(self, sbx):
        return self.info(sbx)["network"]["refused"]

    def metrics(self, sbx):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics")
        self.assertEqual(r.status, 200, r)
        return r.json()

    # --- exchanges from inside a sandbox ---

    def probe(self, sbx, *args, user="user", wait=WAIT_S):
        cmd = " ".join(["python3", PROBE, "--timeout", str(wait), *args])
        res = self.api.run(sbx, cmd, user=user, timeout=60)
        lines = json_lines(res)
        if res["exit_code"] != 0 or len(lines) != 1:
            raise AssertionError(f"the probe failed: {res}")
        return lines[0]

    def start_probe(self, sbx, *args, stdout="/dev/null"):
        """Runs the probe in the background, where it outlives the request; its lines go to the
        file stdout."""
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {
            "cmd": " ".join(["python3", PROBE, "--timeout", str(WAIT_S), *args, ">", stdout]),
            "background": True})
        self.assertEqual(r.status, 200, r)

    def http(self, sbx, target, host=None, path="/", port=80, **kw):
        return self.probe(sbx, "http", target, str(port), host or target, path, **kw)

    def https(self, sbx, target, sni=None, port=443, verify=True, **kw):
        args = ["tls", target, str(port), sni or target] + ([CERT] if verify else [])
        return self.probe(sbx, *args, **kw)

    def udp(self, sbx, target, port, payload=b"ping", **kw):
        return self.probe(sbx, "udp", target, str(port), payload.hex(), **kw)

    def tcp(self, sbx, target, port, payload=b"ping", **kw):
        return self.probe(sbx, "tcp", target, str(port), payload.hex(), **kw)

    def resolve(self, sbx, name, **kw):
        return self.probe(sbx, "resolve", name, **kw)

    def dns(self, sbx, server, name, qtype=A, over_tcp=False, **kw):
        """A query from the sandbox straight to server:53: the parsed answer, or None when none
        came."""
        query = dns_query(name, qtype)
        if over_tcp:
            result = self.tcp(sbx, server, 53, len(query).to_bytes(2, "big") + query, **kw)
            reply = bytes.fromhex(result["reply"])[2:] if result["ok"] else b""
        else:
            result = self.udp(sbx, server, 53, query, **kw)
            reply = bytes.fromhex(result["reply"]) if result["ok"] else b""
        return parse_dns(reply) if reply else None

    # --- what came back ---

    def assertServed(self, result, body=None):
        self.assertTrue(result["ok"], result)
        self.assertEqual(result["status"], 200, result)
        if body is not None:
            self.assertEqual(result["body"], body, result)

    def assertRefusedByProxy(self, result, name):
        """HTTP: a 403 naming the host; TLS: an access_denied alert."""
        if result["op"] == "tls":
            self.assertFalse(result["ok"], result)
            self.assertIn("ACCESS_DENIED", (result.get("reason") or "").upper(), result)
        else:
            self.assertTrue(result["ok"], result)
            self.assertEqual(result["status"], 403, result)
            self.assertIn(name, result["body"], result)

    def assertUnreachable(self, exchange, *args, **kwargs):
        """exchange(*args, **kwargs) (self.tcp, self.udp, ...) fails as the firewall fails it:
        no answer within REFUSAL_WAIT_S, or a rejection."""
        result = exchange(*args, wait=REFUSAL_WAIT_S, **kwargs)
        self.assertFalse(result["ok"], result)
        self.assertIn(result["error"], UNREACHABLE, result)

    def assertEchoed(self, result, payload=b"ping"):
        self.assertTrue(result["ok"], result)
        self.assertEqual(bytes.fromhex(result["reply"]), payload, result)

    def assertNameUnknown(self, result):
        """getaddrinfo said the name does not exist (the stub's NXDOMAIN or NODATA)."""
        self.assertFalse(result["ok"], result)
        self.assertIn(result["error"], {"EAI_NONAME", "EAI_NODATA"}, result)


def sandbox_objects(table, sbx):
    """The objects of the inet declaw table (nft -j) that mention the sandbox's key."""
    key = key_of(sbx)
    return [o for o in table or [] if key in json.dumps(o)]
