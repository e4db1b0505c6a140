"""Helpers of test_network_on.py and test_network_on_neighbours.py: attacks from sandboxes WITH internet access, against the world of
tests/integration/network_support.py (the daemon in a namespace D the test made, a fake internet
I behind it):

    sandbox eth0 --veth-- D (declawd: dcw* links, inet declaw, DNS stub, proxy) --veth-- I

Here: a base test case that runs tests/probes/inet_probe.py in its sandboxes and watches the host
(HostWatch) and D (DaemonNamespaceWatch), and recorders that say what reached a namespace.
"""
import contextlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time

from fake_internet import UPLINK, A
from harness import PROBES_DIR
from netns import links
from network_support import NetworkTestCase, host, set_up_world, tear_down_world
from security_support import HostWatch, ProbeAssertions, probe_attempts, sandbox_init_pid
from support import SANDBOX_PROBE_DIR, put_python_probe, random_suffix, wait_for

PROBE = f"{SANDBOX_PROBE_DIR}/inet_probe.py"
HOST_PROBE = f"{PROBES_DIR}/inet_probe.py"
# How long the probe waits for an answer that should come, and for one that should not.
ANSWER_WAIT_S = 10
REFUSAL_WAIT_S = 2
# How long a packet that should have been dropped gets to turn up anyway.
STRAGGLER_WAIT_S = 1
IN = 1  # DNS class
# In the pool, given to no sandbox (the pool hands out slots from its start).
UNUSED_POOL_ADDRESS = "198.18.255.254"


def set_up_module():
    """network_support's world, once D's uplink has settled: it gets its IPv6 link-local address
    (and the route to it) when duplicate address detection is done, and a DaemonNamespaceWatch
    taken before would see that as a change."""
    set_up_world()
    if not wait_for(uplink_settled, timeout=20):
        tear_down_world()
        raise RuntimeError(f"D's {UPLINK} has no settled link-local address: {links(host())}")


def tear_down_module():
    tear_down_world()


def uplink_settled():
    return any(a["family"] == "inet6" and a["scope"] == "link" and not a.get("tentative")
               for a in links(host())[UPLINK]["addr_info"])


def dns_message(name, qtype=A, qclass=IN, more=(), qid=0x4242):
    """A query with one question, or more: `more` is further (name, type) questions."""
    questions = [(name, qtype, qclass)] + [(n, t, IN) for n, t in more]
    body = b""
    for qname, t, c in questions:
        for label in qname.rstrip(".").split("."):
            body += bytes([len(label)]) + label.encode()
        body += b"\0" + struct.pack("!HH", t, c)
    return struct.pack("!HHHHHH", qid, 0x0100, len(questions), 0, 0, 0) + body


def run_in_netns(netns_path, *cmd, check=True):
    """CMD in the network namespace at NETNS_PATH (a sandbox's, seen from the host)."""
    return subprocess.run(["nsenter", f"--net={netns_path}", "--", *cmd], check=check,
                          capture_output=True, text=True, timeout=60)


def ip_json(netns, *args):
    """`ip -j ARGS` in a netns.Netns, parsed ([] when it prints nothing or fails)."""
    out = netns.run("ip", "-j", *args, check=False).stdout
    return json.loads(out) if out.strip() else []


class DaemonNamespaceWatch:
    """What sandbox code must not change in the daemon's namespace D: routes (every table, and
    the exceptions a redirect or a PMTU message leaves), routing rules, the route to each of
    `destinations`, links with their addresses, every IPv4 and IPv6 sysctl of every link and
    forwarding, and the rules and sets of the inet declaw table (its counters and the sets the
    DNS stub fills excepted)."""

    # Lifetimes count down and `ip route get` names the asking uid; neither is a change.
    VOLATILE_ROUTE_KEYS = ("expires", "uid")

    def __init__(self, netns, destinations=()):
        self.netns = netns
        self.destinations = tuple(destinations)
        self.before = self.state()

    def routes(self, *args):
        return sorted(json.dumps({k: v for k, v in r.items() if k not in self.VOLATILE_ROUTE_KEYS},
                                 sort_keys=True) for r in ip_json(self.netns, *args))

    def state(self):
        by_link = {link["ifname"]: [link.get("address"), link["mtu"], sorted(link["flags"]),
                                  sorted((a["family"], a["local"], a["prefixlen"])
                                         for a in link.get("addr_info", []))]
                 for link in ip_json(self.netns, "addr")}
        sysctls = self.netns.run("grep", "-rs", ".", "/proc/sys/net/ipv4/ip_forward",
                                 "/proc/sys/net/ipv4/conf", "/proc/sys/net/ipv6/conf",
                                 check=False).stdout.splitlines()
        return {
            "routes": self.routes("route", "show", "table", "all"),
            "routes6": self.routes("-6", "route", "show", "table", "all"),
            "route exceptions": self.routes("route", "show", "cache"),
            "route exceptions6": self.routes("-6", "route", "show", "cache"),
            "rules": self.routes("rule"),
            "rules6": self.routes("-6", "rule"),
            "route to": {d: self.routes("route", "get", d) for d in self.destinations},
            "links": by_link,
            "sysctls": sorted(sysctls),
            "firewall": self.firewall(),
        }

    def firewall(self):
        res = self.netns.run("nft", "-j", "list", "table", "inet", "declaw", check=False)
        if res.returncode != 0:
            return None
        kept = []
        for obj in json.loads(res.stdout)["nftables"]:
            if "metainfo" in obj or "counter" in obj:
                continue
            if "set" in obj and "resolved" in obj["set"]["name"]:
                obj = {"set": {k: v for k, v in obj["set"].items() if k != "elem"}}
            kept.append(json.dumps(obj, sort_keys=True))
        return sorted(kept)

    def check(self, test):
        after = self.state()
        for part, before in self.before.items():
            if after[part] == before:
                continue
            if isinstance(before, list) and isinstance(after[part], list):
                gone = [x for x in before if x not in after[part]]
                new = [x for x in after[part] if x not in before]
                test.fail(f"the daemon's namespace changed: {part}\n  gone: {gone}\n"
                          f"  new: {new}")
            test.assertEqual(after[part], before, f"the daemon's namespace changed: {part}")


class Recorder:
    """A socket in a namespace and a thread that reads it until close(). close() shuts the
    socket down first: a plain close() does not wake a thread blocked in recv or accept, which
    keeps the socket (and its port) alive. An error that ends the thread before close() is kept
    in `failure`, for the message of a test that waited for `got` in vain."""

    def __init__(self, netns, family, kind, proto=0, bind=None):
        self.sock = netns.call(socket.socket, family, kind, proto)
        self.closed = False
        self.got = []
        self.failure = None
        if bind:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(bind)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                self.take()
            except OSError as e:
                if not self.closed:
                    self.failure = e
                return

    def __repr__(self):
        failed = f", stopped by {self.failure!r}" if self.failure else ""
        return f"{type(self).__name__}(got={self.got}{failed})"

    def take(self):
        raise NotImplementedError

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class UdpRecorder(Recorder):
    """got: (source, payload) of every datagram to address:port."""

    def __init__(self, netns, address, port, family=socket.AF_INET):
        super().__init__(netns, family, socket.SOCK_DGRAM, bind=(address, port))

    def take(self):
        data, peer = self.sock.recvfrom(65536)
        if not self.closed:
            self.got.append((peer[0], data.decode(errors="replace")))


class EchoRequestRecorder(Recorder):
    """got: (source, payload) of every echo request that reaches the namespace carrying `token`
    (the kernel answers them; this only watches)."""

    def __init__(self, netns, token):
        self.token = token.encode()
        super().__init__(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

    def take(self):
        packet, peer = self.sock.recvfrom(65536)
        icmp = packet[(packet[0] & 0x0F) * 4:] if packet else b""
        if icmp[:1] == b"\x08" and self.token in icmp[8:]:
            self.got.append((peer[0], icmp[8:].decode(errors="replace")))


class TcpRecorder(Recorder):
    """got: the source of every connection to address:port (closed at once)."""

    def __init__(self, netns, address, port, family=socket.AF_INET):
        super().__init__(netns, family, socket.SOCK_STREAM, bind=(address, port))

    def take(self):
        conn, peer = self.sock.accept()
        self.got.append(peer[0])
        conn.close()


def run_unfiltered_in(netns_path, *args):
    """inet_probe.py run by the host's python in a network namespace, without any filter: the
    controls, and the layers tested alone."""
    res = run_in_netns(netns_path, sys.executable, HOST_PROBE, *args, check=False)
    return probe_attempts({"stdout": res.stdout, "stderr": res.stderr})


class InternetOnTestCase(NetworkTestCase, ProbeAssertions):
    """A declawd with networking in D; sandboxes with internet access and inet_probe.py. Every test
    ends with a HostWatch check; `daemon_namespace_unchanged()` wraps an attack in a
    DaemonNamespaceWatch."""

    def setUp(self):
        self.token = random_suffix()
        self.host_watch = HostWatch(self.daemon, markers=(self.token,))
        # Registered first, so it runs last, once the test's sandboxes are gone.
        self.addCleanup(self.host_watch.check, self)

    def sandbox(self, network=None, internet_access=True, **spec):
        sbx = super().sandbox(network=network, internet_access=internet_access, **spec)
        put_python_probe(self.api, sbx, "inet_probe.py")
        return sbx

    def net(self, sbx):
        """{address, gateway, interface, ...} of a sandbox."""
        return self.info(sbx)["network"]

    def attack(self, sbx, *args, user="root", wait=REFUSAL_WAIT_S):
        """inet_probe.py ARGS in SBX: its attempts."""
        cmd = " ".join(["python3", PROBE, "--wait", str(wait), *args])
        return probe_attempts(self.api.run(sbx, cmd, user=user, timeout=120))

    def serve(self, sbx, op, port, log, user="user"):
        """inet_probe.py serve-udp | serve-tcp in the background of SBX."""
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {
            "cmd": f"python3 {PROBE} {op} {port} {log} > /dev/null", "user": user,
            "background": True})
        self.assertEqual(r.status, 200, r)

    def sandbox_log(self, sbx, path):
        return self.api.run(sbx, f"cat {path} 2>/dev/null")["stdout"].splitlines()

    def sandbox_netns(self, sbx):
        """The path of SBX's network namespace, seen from the host."""
        return f"/proc/{sandbox_init_pid(self.daemon.proc.pid, sbx)}/ns/net"

    @contextlib.contextmanager
    def daemon_namespace_unchanged(self, destinations=()):
        watch = DaemonNamespaceWatch(host(), destinations)
        yield watch
        watch.check(self)

    def assertArrivedOnly(self, recorder, expected, what):
        """RECORDER got the payloads EXPECTED (waiting for them), then nothing else."""
        wait_for(lambda: len(recorder.got) >= len(expected), ANSWER_WAIT_S)
        time.sleep(STRAGGLER_WAIT_S)  # proves that nothing more comes: a wait on no event
        self.assertEqual(sorted(payload for _, payload in recorder.got), sorted(expected),
                         f"{what}: what reached the listener ({recorder!r})")

    # What the firewall's refusal looks like to the sandbox: its own TCP reset (ECONNREFUSED),
    # ICMP admin-prohibited (EHOSTUNREACH, EACCES over IPv6), or silence where it drops.
    FIREWALL_REFUSALS = ("ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "EACCES")

    def assertUnanswered(self, attempts, what):
        """Every exchange failed as the firewall makes it fail; sockets were made. The targets
        listen on those ports, so a reset or an ICMP error cannot be theirs: the callers also
        check that nothing reached them."""
        got = [("ok" if a["ok"] else a["error"]) for a in attempts]
        self.assertTrue(attempts, f"{what}: no attempt")
        for attempt, outcome in zip(attempts, got):
            if attempt["attempt"] == "socket":
                self.assertEqual(outcome, "ok", f"{what}: {json.dumps(attempts, indent=1)}")
            else:
                self.assertIn(outcome, self.FIREWALL_REFUSALS,
                              f"{what}: {json.dumps(attempts, indent=1)}")

    def assertAttempts(self, attempts, expected, what):
        """Each attempt's outcome: expected maps an attempt to "ok" or an errno name."""
        got = [("ok" if a["ok"] else a["error"]) for a in attempts]
        want = [expected(a) for a in attempts]
        self.assertTrue(attempts, f"{what}: no attempt")
        self.assertEqual(got, want, f"{what}: {json.dumps(attempts, indent=1)}")
