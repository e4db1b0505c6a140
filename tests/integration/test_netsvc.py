"""The DNS stub and the egress proxy (netsvc/) against a fake internet: real sockets, a real
nftables redirect and conntrack, all inside network namespaces this test makes (netsvc_world).
netsvc_harness runs both services for one sandbox whose policy allows only some names.
"""
import json
import os
import queue
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN_DIR, require_root
from fake_internet import A, AAAA, ANY, TXT, BIG_BODY_BYTES, FORMERR, NXDOMAIN, REFUSED, \
    dns_query, parse_dns, read_head, recv_exact, require_tools
from netsvc_world import PROXY_PORT, World
from support import wait_for

HARNESS = os.path.join(BIN_DIR, "netsvc_harness")
GATEWAY, GATEWAY6 = "198.18.0.1", "2001:db8:18::1"
POLICY = {"allow_out": ["allowed.test", "*.example.test", "private.test", "meta.test",
                        "mixed.test", "big.test"]}
FIRST_BYTES_MS = 1500
IDLE_MS = 5000  # long enough that a slow machine finishes the 200-connection round first
MAX_PER_SANDBOX = 250

world = {}


def setUpModule():
    require_root()
    require_tools()
    world["tmp"] = tempfile.mkdtemp(prefix="declaw-netsvc-")
    try:
        made = World(world["tmp"])
        world["made"] = made
        world["host"], world["sandbox"], world["dns"] = made.host, made.sandbox, made.dns
        world["harness"] = Harness(world["host"])
    except BaseException:
        tearDownModule()  # unittest calls it only after a setUpModule that succeeded
        raise


def tearDownModule():
    if "harness" in world:
        world["harness"].stop()
    if "made" in world:
        world["made"].close()
    shutil.rmtree(world.get("tmp", "/nonexistent"), ignore_errors=True)


class Harness:
    """netsvc_harness in the host namespace, driven over its stdin and stdout."""

    def __init__(self, host):
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={host.path}", "--", HARNESS,
             "--gateway", GATEWAY, "--sandbox", "198.18.0.2",
             "--gateway", GATEWAY6, "--sandbox", "2001:db8:18::2",
             "--proxy-port", str(PROXY_PORT), "--dns-upstream", "198.19.0.53:53",
             "--network", json.dumps(POLICY), "--first-bytes-ms", str(FIRST_BYTES_MS),
             "--idle-ms", str(IDLE_MS), "--max-per-sandbox", str(MAX_PER_SANDBOX)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.replies = queue.Queue()
        self.answered = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.replies.get(timeout=30)
        assert ready["event"] == "ready", ready

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            if event["event"] == "answered":
                with self.lock:
                    self.answered.append(event)
            else:
                self.replies.put(event)

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.replies.get(timeout=30)

    def stats(self):
        return self.command("stats")

    def set_policy(self, policy):
        reply = self.command("policy " + json.dumps(policy))
        assert reply["event"] == "policy", reply

    def answers_for(self, name):
        with self.lock:
            return [a for a in self.answered if a["name"] == name]

    def fds(self):
        """The harness's open fds (nsenter execs it, so the pid is the harness's)."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def harness():
    return world["harness"]


def sandbox_socket(family=socket.AF_INET, kind=socket.SOCK_STREAM, timeout=10):
    s = world["sandbox"].socket(family, kind)
    s.settimeout(timeout)
    return s


def ask(name, qtype=A, over_tcp=False, qid=0x4242, source=None, raw=None):
    """A query from inside the sandbox to the stub on its gateway; the parsed answer."""
    query = raw if raw is not None else dns_query(name, qtype, qid)
    if over_tcp:
        with sandbox_socket() as s:
            s.connect((GATEWAY, 53))
            s.sendall(struct.pack("!H", len(query)) + query)
            size = struct.unpack("!H", recv_exact(s, 2))[0]
            return parse_dns(recv_exact(s, size))
    with sandbox_socket(kind=socket.SOCK_DGRAM, timeout=5) as s:
        if source:
            s.bind((source, 0))
        s.sendto(query, (GATEWAY, 53))
        return parse_dns(s.recv(4096))


def recv_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def http_get(address, host, path="/", family=socket.AF_INET):
    """One HTTP/1.1 request from the sandbox; (status line, body)."""
    with sandbox_socket(family) as s:
        s.connect((address, 80))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return split_response(read_response(s))


def read_response(s):
    """Reads one response with a Content-Length body."""
    head, body = read_head(s)
    if head is None:
        return body
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n")
                   if l.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body.decode(errors="replace")


def tls_hello(sni, address="198.19.0.10"):
    """A TLS handshake from the sandbox with `sni`, then one request; the body of the answer (the
    SNI the server saw), or the SSLError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the fake server's certificate is self-signed
    with sandbox_socket() as s:
        s.connect((address, 443))
        with context.wrap_socket(s, server_hostname=sni) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\n\r\n".encode())
            return split_response(recv_all(tls))[1]


class DnsStubTest(unittest.TestCase):

    def test_an_allowed_name_resolves_and_the_hook_sees_the_answer_first(self):
        answer = ask("allowed.test")
        self.assertEqual(answer["rcode"], 0)
        self.assertEqual(answer["id"], 0x4242)
        self.assertEqual([a[2] for a in answer["answers"]], ["198.19.0.10"])
        self.assertLessEqual(answer["answers"][0][1], 60)
        # The hook ran before the answer was sent; its line reaches us through a pipe.
        def recorded():
            return [a for a in harness().answers_for("allowed.test")
                    if a["addresses"] == ["198.19.0.10"]]

        self.assertTrue(wait_for(recorded), "the AnswerHook did not run")
        self.assertEqual(recorded()[-1]["sandbox"], "sbx-harness")
        self.assertLessEqual(recorded()[-1]["ttl"], 60)

    def test_aaaa_and_tcp_queries_are_answered_too(self):
        self.assertEqual([a[2] for a in ask("allowed.test", AAAA)["answers"]],
                         ["2001:db8:19::10"])
        self.assertEqual([a[2] for a in ask("allowed.test", over_tcp=True)["answers"]],
                         ["198.19.0.10"])
        both = sorted(a[2] for a in ask("allowed.test", ANY)["answers"])
        self.assertEqual(both, ["198.19.0.10", "2001:db8:19::10"])

    def test_a_blocked_name_gets_nxdomain_and_never_reaches_the_upstream(self):
        before = harness().stats()["dns_refused"]
        asked_before = len(world["dns"].questions())
        for name in ("blocked.test", "example.test", "c2VjcmV0LWRhdGE.exfil.test"):
            with self.subTest(name=name):
                answer = ask(name)
                self.assertEqual(answer["rcode"], NXDOMAIN)
                self.assertEqual(answer["answers"], [])
        asked = [q[0] for q in world["dns"].questions()[asked_before:]]
        for name in ("blocked.test", "example.test", "c2VjcmV0LWRhdGE.exfil.test"):
            self.assertNotIn(name, asked)
        self.assertEqual(harness().stats()["dns_refused"], before + 3)

    def test_txt_for_an_allowed_name_is_refused_without_asking_upstream(self):
        asked_before = len(world["dns"].questions())
        answer = ask("allowed.test", TXT)
        self.assertEqual(answer["rcode"], REFUSED)
        self.assertEqual(world["dns"].questions()[asked_before:], [])

    def test_a_name_resolving_to_private_or_link_local_addresses_gets_no_address(self):
        before = harness().stats()["dns_addresses_refused"]
        for name in ("private.test", "meta.test"):
            with self.subTest(name=name):
                answer = ask(name)
                self.assertEqual(answer["rcode"], 0)
                self.assertEqual(answer["answers"], [])
        self.assertEqual(harness().answers_for("private.test"), [])
        self.assertEqual(harness().stats()["dns_addresses_refused"], before + 2)

    def test_private_addresses_are_left_out_of_a_mixed_answer(self):
        self.assertEqual([a[2] for a in ask("mixed.test")["answers"]], ["198.19.0.11"])

    def test_a_truncated_upstream_answer_is_fetched_again_over_tcp(self):
        answer = ask("big.test")
        self.assertEqual(answer["rcode"], 0)
        self.assertGreater(len(answer["answers"]), 10)  # as many as fit in 512 bytes
        self.assertIn(("big.test", A, "tcp"), world["dns"].questions())

    def test_a_malformed_query_gets_formerr(self):
        query = bytearray(dns_query("allowed.test", A))
        query[5] = 2  # two questions
        self.assertEqual(ask(None, raw=bytes(query))["rcode"], FORMERR)

    def test_a_query_from_an_address_that_is_not_the_sandbox_gets_no_answer(self):
        with self.assertRaises(socket.timeout):
            ask("allowed.test", source="198.18.0.6")


class EgressProxyTest(unittest.TestCase):

    def test_http_to_an_allowed_name_is_proxied(self):
        status, body = http_get("198.19.0.10", "allowed.test")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, "hello from 198.19.0.10 host=allowed.test\n")

    def test_host_blocked_test_to_an_allowed_address_is_refused_with_a_403(self):
        before = harness().stats()["proxy_refused"]
        asked_before = len(world["dns"].questions())
        status, body = http_get("198.19.0.10", "blocked.test")
        self.assertEqual(status, "HTTP/1.1 403 Forbidden")
        self.assertIn("blocked.test", body)
        self.assertIn("not in allow_out", body)
        self.assertEqual(harness().stats()["proxy_refused"], before + 1)
        # A refused name is not even resolved.
        self.assertEqual(world["dns"].questions()[asked_before:], [])

    def test_the_apex_of_a_wildcard_is_refused_and_a_subdomain_allowed(self):
        self.assertEqual(http_get("198.19.0.10", "a.example.test")[0], "HTTP/1.1 200 OK")
        self.assertEqual(http_get("198.19.0.10", "example.test")[0], "HTTP/1.1 403 Forbidden")

    def test_tls_with_an_allowed_sni_is_spliced_untouched(self):
        self.assertEqual(tls_hello("allowed.test"), "tls hello sni=allowed.test\n")

    def test_tls_with_sni_blocked_test_is_refused_with_an_alert(self):
        with self.assertRaises(ssl.SSLError) as caught:
            tls_hello("blocked.test")
        self.assertIn("ACCESS_DENIED", str(caught.exception).upper())

    def test_the_proxy_resolves_the_name_itself_whatever_address_the_sandbox_used(self):
        # As if /etc/hosts inside mapped allowed.test to 198.19.0.11: the proxy goes where the
        # name really lives.
        status, body = http_get("198.19.0.11", "allowed.test")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, "hello from 198.19.0.10 host=allowed.test\n")

    def test_an_allowed_name_resolving_to_private_or_metadata_addresses_is_refused(self):
        for name in ("private.test", "meta.test"):
            with self.subTest(name=name):
                status, body = http_get("198.19.0.10", name)
                self.assertEqual(status, "HTTP/1.1 403 Forbidden")
                self.assertIn("refused addresses", body)

    def test_a_request_without_host_is_decided_by_the_destination_address(self):
        def no_host():
            with sandbox_socket() as s:
                s.connect(("198.19.0.10", 80))
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return split_response(read_response(s))[0]

        self.assertEqual(no_host(), "HTTP/1.1 403 Forbidden")
        harness().set_policy({"allow_out": POLICY["allow_out"] + ["198.19.0.0/24"]})
        try:
            self.assertEqual(no_host(), "HTTP/1.1 200 OK")
        finally:
            harness().set_policy(POLICY)

    def test_a_live_policy_change_applies_to_new_connections(self):
        self.assertEqual(http_get("198.19.0.10", "blocked.test")[0], "HTTP/1.1 403 Forbidden")
        harness().set_policy({"allow_out": POLICY["allow_out"] + ["blocked.test"]})
        try:
            self.assertEqual(http_get("198.19.0.10", "blocked.test")[0], "HTTP/1.1 200 OK")
            self.assertEqual(ask("blocked.test")["rcode"], 0)
        finally:
            harness().set_policy(POLICY)
        self.assertEqual(http_get("198.19.0.10", "blocked.test")[0], "HTTP/1.1 403 Forbidden")

    def test_ipv6_connections_are_proxied_by_their_original_destination_too(self):
        status, body = http_get("2001:db8:19::10", "allowed.test", family=socket.AF_INET6)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, "hello from 2001:db8:19::10 host=allowed.test\n")

    def test_a_half_closed_upload_still_gets_its_response(self):
        with sandbox_socket() as s:
            s.connect(("198.19.0.10", 80))
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: allowed.test\r\n\r\n" + b"u" * 100000)
            s.shutdown(socket.SHUT_WR)
            status, body = split_response(recv_all(s))
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, "got 100000 bytes\n")

    def test_a_large_download_arrives_whole(self):
        with sandbox_socket(timeout=30) as s:
            s.connect(("198.19.0.10", 80))
            s.sendall(b"GET /big HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
            data = read_response(s)
        self.assertEqual(len(data.split(b"\r\n\r\n", 1)[1]), BIG_BODY_BYTES)

    def test_a_connection_straight_to_the_proxy_port_is_closed(self):
        before = harness().stats()["proxy_refused"]
        with sandbox_socket() as s:
            s.connect((GATEWAY, PROXY_PORT))
            s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
            try:
                self.assertEqual(recv_all(s), b"")
            except ConnectionResetError:
                pass  # closed with the request unread: a reset, which is as good
        self.assertEqual(harness().stats()["proxy_refused"], before + 1)

    def test_a_slowloris_client_is_cut_off_by_the_first_bytes_deadline(self):
        before = harness().stats()["proxy_failed"]
        with sandbox_socket() as s:
            s.connect(("198.19.0.10", 80))
            start = time.monotonic()
            closed_after = None
            for byte in b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n":
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed_after = time.monotonic() - start
                    break
                time.sleep(0.2)
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        closed_after = time.monotonic() - start
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
        self.assertIsNotNone(closed_after, "the trickling client was never cut off")
        self.assertLess(closed_after, FIRST_BYTES_MS / 1000 + 1.5)
        self.assertEqual(harness().stats()["proxy_failed"], before + 1)

    def test_an_idle_connection_is_closed_after_the_idle_timeout(self):
        with sandbox_socket(timeout=IDLE_MS / 1000 + 5) as s:
            s.connect(("198.19.0.10", 80))
            s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
            self.assertIn(b"200 OK", read_response(s))
            start = time.monotonic()
            self.assertEqual(s.recv(1), b"")
            self.assertGreater(time.monotonic() - start, IDLE_MS / 1000 - 1)

    def test_200_concurrent_connections_are_all_served_and_all_released(self):
        self.assertTrue(wait_for(lambda: harness().stats()["proxy_active"] == 0))
        fds_before = harness().fds()
        sockets = []
        try:
            for _ in range(200):
                s = sandbox_socket(timeout=20)
                s.connect(("198.19.0.10", 80))
                s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
                sockets.append(s)
            bodies = [split_response(read_response(s))[1] for s in sockets]
            self.assertEqual(set(bodies), {"hello from 198.19.0.10 host=allowed.test\n"})
            self.assertEqual(harness().stats()["proxy_active"], 200)
        finally:
            for s in sockets:
                s.close()
        self.assertTrue(wait_for(lambda: harness().stats()["proxy_active"] == 0),
                        harness().stats())
        self.assertTrue(wait_for(lambda: harness().fds() <= fds_before + 2), harness().fds())
        self.assertEqual(http_get("198.19.0.10", "allowed.test")[0], "HTTP/1.1 200 OK")

    def test_connections_past_the_per_sandbox_limit_are_closed_at_once(self):
        self.assertTrue(wait_for(lambda: harness().stats()["proxy_active"] == 0))
        before = harness().stats()["proxy_failed"]
        sockets = []
        try:
            for _ in range(MAX_PER_SANDBOX):
                s = sandbox_socket()
                s.connect(("198.19.0.10", 80))
                s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
                sockets.append(s)
            self.assertTrue(wait_for(
                lambda: harness().stats()["proxy_active"] == MAX_PER_SANDBOX))
            with sandbox_socket() as extra:
                extra.connect(("198.19.0.10", 80))
                self.assertEqual(recv_all(extra), b"")
            self.assertEqual(harness().stats()["proxy_failed"], before + 1)
        finally:
            for s in sockets:
                s.close()
        self.assertTrue(wait_for(lambda: harness().stats()["proxy_active"] == 0))


if __name__ == "__main__":
    unittest.main()
