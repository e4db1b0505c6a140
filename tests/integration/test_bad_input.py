"""Bad input: malformed JSON, wrong types, unknown and malformed ids, oversized bodies, header
floods, silent, slow and garbage-sending clients, unknown routes and wrong methods. Each gets a
4xx JSON error or a closed connection, and after each the daemon is alive and serves the next
request."""
import json
import os
import socket
import threading
import time
import unittest

from support import SharedSandboxTestCase, raw_exchange, read_reply, wait_for

# How long a test waits for what should take the daemon a moment, before it calls it lost.
PATIENCE_S = 30
IDLE_TIMEOUT_S = 2
MAX_JSON_BODY = 4096
MAX_UPLOAD = 65536
MAX_HEADER = 8192
MAX_TEXT_READ = 4096
UNKNOWN_ID = "sbx-000000000000"


class BadInput(SharedSandboxTestCase):
    daemon_config = {"idle_timeout_s": IDLE_TIMEOUT_S, "max_json_body_bytes": MAX_JSON_BODY,
                     "max_upload_bytes": MAX_UPLOAD, "max_header_bytes": MAX_HEADER,
                     "max_text_read_bytes": MAX_TEXT_READ, "max_connections": 16,
                     "request_timeout_s": 3}

    def tearDown(self):
        self.assertServing()

    def assertServing(self):
        self.assertIsNone(self.daemon.proc.poll(),
                          "declawd died:\n" + self.daemon.read_log()[-3000:])
        r = self.api.request("GET", "/v1/health", timeout=10)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "ok")

    def assertJsonError(self, r, status, code=None, mentions=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), r)
        error = r.json()["error"]
        if code:
            self.assertEqual(error["code"], code, r)
        self.assertIsInstance(error["message"], str)
        if mentions:
            self.assertIn(mentions, error["message"], r)
        return error

    def assertRefused(self, reply, statuses):
        """A 4xx answer from STATUSES, or the connection closed without one."""
        if reply.status is None:
            self.assertTrue(reply.closed, f"neither an answer nor a close: {reply}")
            self.assertEqual(reply.data, b"", reply)
        else:
            self.assertIn(reply.status, statuses, reply)
            if reply.body:
                self.assertIn("error", json.loads(reply.body), reply)

    def running_sandboxes(self):
        r = self.api.request("GET", "/v1/sandboxes", query={"state": "running"})
        return [sbx["sandbox_id"] for sbx in r.json()["sandboxes"]]

    def post(self, path, raw_body, content_type="application/json"):
        return self.api.request("POST", path, raw_body, raw=True,
                                headers={"Content-Type": content_type})

    # --- JSON -----------------------------------------------------------------------------

    def test_malformed_json_is_400(self):
        bodies = [b"{not json", b'{"timeout": 1', b"[1, 2]", b"null", b'"string"', b"\xff\xfe\x00",
                  b'{"a": 1}{"b": 2}', b'{"timeout": 1,}', b"{'single': 'quotes'}",
                  b'{"metadata": {"k": "\\ud800"}}', b"{" * 1000 + b"}" * 1000,
                  b"[" * 2000 + b"]" * 2000]
        for body in bodies:
            with self.subTest(body=body[:40]):
                r = self.post("/v1/sandboxes", body)
                if r.status == 201:
                    self.api.kill(r.json()["sandbox_id"])
                self.assertJsonError(r, 400, "invalid_argument")
        for body in (b"", b"{not json"):
            with self.subTest(route="commands", body=body):
                r = self.post(f"/v1/sandboxes/{self.sbx}/commands", body)
                self.assertJsonError(r, 400, "invalid_argument")

    def test_wrong_types_are_400_naming_the_field(self):
        sbx = f"/v1/sandboxes/{self.sbx}"
        cases = [
            ("POST", "/v1/sandboxes", {"timeout": "ten"}, "timeout"),
            ("POST", "/v1/sandboxes", {"timeout": -1}, "timeout"),
            ("POST", "/v1/sandboxes", {"timeout": 0}, "timeout"),
            ("POST", "/v1/sandboxes", {"timeout": 86401}, "timeout"),
            ("POST", "/v1/sandboxes", {"timeout": 10 ** 20}, "timeout"),
            ("POST", "/v1/sandboxes", {"template": 5}, "template"),
            ("POST", "/v1/sandboxes", {"envs": ["A=1"]}, "envs"),
            ("POST", "/v1/sandboxes", {"envs": {"A": 1}}, "envs"),
            ("POST", "/v1/sandboxes", {"metadata": "k=v"}, "metadata"),
            ("POST", "/v1/sandboxes", {"metadata": {"k": None}}, "metadata"),
            ("POST", "/v1/sandboxes", {"allow_internet_access": "yes"}, "allow_internet_access"),
            ("POST", f"{sbx}/commands", {}, "cmd"),
            ("POST", f"{sbx}/commands", {"cmd": 5}, "cmd"),
            ("POST", f"{sbx}/commands", {"cmd": ["ls"]}, "cmd"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "user": "admin"}, "user"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "user": 0}, "user"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "timeout": "x"}, "timeout"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "envs": []}, "envs"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "cwd": 5}, "cwd"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "stdin": 5}, "stdin"),
            ("POST", f"{sbx}/commands", {"cmd": "true", "background": "no"}, "background"),
            ("PATCH", f"{sbx}/timeout", {}, "timeout"),
            ("PATCH", f"{sbx}/timeout", {"timeout": "x"}, "timeout"),
            ("PATCH", f"{sbx}/timeout", {"timeout": 0}, "timeout"),
            ("PATCH", f"{sbx}/timeout", {"timeout": 86401}, "timeout"),
            ("POST", f"{sbx}/files?path=/tmp/x", {"content": 5}, "content"),
            ("POST", f"{sbx}/files?path=/tmp/x", {"content_base64": "!!not base64!!"},
             "content_base64"),
            ("PATCH", f"{sbx}/files?path=/tmp/x", {"new_path": 5}, "new_path"),
            ("PATCH", f"{sbx}/files?path=/tmp/x", {}, "new_path"),
        ]
        for method, path, body, field in cases:
            with self.subTest(method=method, path=path, body=body):
                r = self.api.request(method, path, body)
                if r.status == 201 and path == "/v1/sandboxes":
                    self.api.kill(r.json()["sandbox_id"])
                self.assertJsonError(r, 400, "invalid_argument", mentions=field)
        self.assertEqual(self.api.request("GET", sbx).json()["state"], "running")

    def test_unknown_json_fields_are_ignored(self):
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/commands",
                             {"cmd": "echo ok", "no_such_field": [1, {"x": None}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["stdout"], "ok\n")

    # --- ids and routes -------------------------------------------------------------------

    def test_an_unknown_sandbox_is_404_naming_it(self):
        base = f"/v1/sandboxes/{UNKNOWN_ID}"
        for method, path, body in [("GET", base, None), ("DELETE", base, None),
                                   ("PATCH", f"{base}/timeout", {"timeout": 5}),
                                   ("POST", f"{base}/commands", {"cmd": "true"}),
                                   ("GET", f"{base}/files/raw?path=/etc/passwd", None),
                                   ("GET", f"{base}/files/list?path=/", None)]:
            with self.subTest(method=method, path=path):
                error = self.assertJsonError(self.api.request(method, path, body), 404,
                                             "not_found")
                self.assertEqual(error.get("sandbox_id"), UNKNOWN_ID)

    def test_a_malformed_sandbox_id_is_404(self):
        for bad in ("not-an-id", "sbx-", "sbx-ABCDEFGHIJKL", "sbx-00000000000", "sbx-0000000000000",
                    "sbx-" + "a" * 5000, "sbx-00000000000%00", "%2e%2e", "sbx-000000000000%2f..",
                    self.sbx.upper(), self.sbx + "x"):
            with self.subTest(id=bad[:40]):
                for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/files/raw?path=/")):
                    r = self.api.request(method, f"/v1/sandboxes/{bad}{suffix}")
                    self.assertIn(r.status, (400, 404), r)
                    self.assertIn("error", r.json())
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{self.sbx}").json()["state"],
                         "running")

    def test_an_unknown_route_is_404(self):
        for method, path in (("GET", "/"), ("GET", "/v1"), ("GET", "/v1/nothing"),
                             ("GET", "/v2/sandboxes"), ("GET", "/v1/health/extra"),
                             ("POST", f"/v1/sandboxes/{self.sbx}/nothing"),
                             ("GET", "/v1/sandboxes/" + "x/" * 1000)):
            with self.subTest(method=method, path=path[:40]):
                self.assertJsonError(self.api.request(method, path), 404, "not_found")

    def test_a_wrong_method_is_405_with_allow(self):
        for method, path, allowed in (("PUT", "/v1/health", {"GET"}),
                                      ("DELETE", "/v1/sandboxes", {"GET", "POST"}),
                                      ("POST", f"/v1/sandboxes/{self.sbx}", {"GET", "DELETE"}),
                                      ("GET", f"/v1/sandboxes/{self.sbx}/timeout", {"PATCH"}),
                                      ("BREW", "/v1/health", {"GET"})):
            with self.subTest(method=method, path=path):
                r = self.api.request(method, path)
                self.assertJsonError(r, 405, "method_not_allowed")
                self.assertEqual({m.strip() for m in r.headers["Allow"].split(",")}, allowed)

    def test_a_bad_query_string_is_400(self):
        for query in ("path=%zz", "path=%", "path=/tmp/a&path=/tmp/b", "path=/tmp%00/x"):
            with self.subTest(query=query):
                r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files/raw?{query}")
                self.assertJsonError(r, 400, "invalid_argument")

    def test_health_reports_the_configured_limits(self):
        health = self.api.request("GET", "/v1/health").json()
        self.assertIsInstance(health["version"], str)
        self.assertEqual(health["sandboxes_running"], 1)
        self.assertIs(health["features"]["user_namespaces"], True)
        self.assertIs(health["features"]["seccomp"], True)
        limits = health["limits"]
        for key, value in self.daemon_config.items():
            if key != "idle_timeout_s" or key in limits:
                with self.subTest(limit=key):
                    self.assertEqual(limits.get(key), value)

    # --- sizes ----------------------------------------------------------------------------

    def test_an_oversized_json_body_is_413(self):
        body = json.dumps({"metadata": {"k": "x" * (2 * MAX_JSON_BODY)}}).encode()
        reply = raw_exchange(self.daemon.socket,
                             b"POST /v1/sandboxes HTTP/1.1\r\nHost: d\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(reply.status, 413, reply)
        self.assertEqual(json.loads(reply.body)["error"]["code"], "too_large")
        self.assertEqual(self.running_sandboxes(), [self.sbx], "a sandbox was created anyway")

    def test_a_huge_declared_content_length_is_413_without_waiting_for_the_body(self):
        started = time.monotonic()
        reply = raw_exchange(self.daemon.socket,
                             b"POST /v1/sandboxes HTTP/1.1\r\nHost: d\r\n"
                             b"Content-Length: 1000000000000\r\n\r\n{}", read_timeout=20)
        self.assertEqual(reply.status, 413, reply)
        self.assertLess(time.monotonic() - started, 10)

    def test_an_oversized_chunked_body_is_413(self):
        chunk = b"x" * 1024
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
        reply = raw_exchange(self.daemon.socket,
                             b"POST /v1/sandboxes HTTP/1.1\r\nHost: d\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + body)
        self.assertEqual(reply.status, 413, reply)

    def upload_request(self, path, headers, body):
        return (b"PUT /v1/sandboxes/%s/files/raw?path=%s HTTP/1.1\r\nHost: d\r\n"
                % (self.sbx.encode(), path.encode()) + headers + b"\r\n" + body)

    def test_an_oversized_upload_is_413(self):
        # Raw, not http.client: the daemon may answer before it has read the whole body.
        body = os.urandom(MAX_UPLOAD + 1)
        reply = raw_exchange(self.daemon.socket, self.upload_request(
            "/tmp/too-big", b"Content-Length: %d\r\n" % len(body), body))
        self.assertEqual(reply.status, 413, reply)
        self.assertEqual(json.loads(reply.body)["error"]["code"], "too_large")
        r = self.api.write_bytes(self.sbx, "/tmp/just-fits", os.urandom(MAX_UPLOAD))
        self.assertEqual(r.status, 200, r)

    def test_an_oversized_chunked_upload_is_413(self):
        chunk = b"u" * 4096
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(MAX_UPLOAD // len(chunk) + 2)) + b"0\r\n\r\n"
        reply = raw_exchange(self.daemon.socket, self.upload_request(
            "/tmp/too-big-chunked", b"Transfer-Encoding: chunked\r\n", body))
        self.assertEqual(reply.status, 413, reply)

    def test_a_text_read_over_the_limit_is_413_and_raw_still_works(self):
        data = b"t" * (MAX_TEXT_READ + 1)
        self.assertEqual(self.api.write_bytes(self.sbx, "/tmp/long.txt", data).status, 200)
        r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files",
                             query={"path": "/tmp/long.txt"})
        self.assertJsonError(r, 413, "too_large")
        self.assertEqual(self.api.read_bytes(self.sbx, "/tmp/long.txt").body, data)

    def test_a_header_flood_is_431_or_closed(self):
        floods = {
            "many headers": b"".join(b"X-Flood-%d: %s\r\n" % (i, b"a" * 64) for i in range(2000)),
            "one huge header": b"X-Huge: " + b"a" * (8 * MAX_HEADER) + b"\r\n",
            "endless header line": b"X-Endless: " + b"a" * (64 * MAX_HEADER),
        }
        for name, headers in floods.items():
            with self.subTest(flood=name):
                reply = raw_exchange(self.daemon.socket,
                                     b"GET /v1/health HTTP/1.1\r\nHost: d\r\n" + headers + b"\r\n")
                self.assertRefused(reply, (400, 413, 431))
        with self.subTest(flood="huge request line"):
            line = b"GET /v1/health?" + b"q" * (8 * MAX_HEADER) + b" HTTP/1.1\r\n\r\n"
            reply = raw_exchange(self.daemon.socket, line)
            self.assertRefused(reply, (400, 413, 414, 431))

    # --- slow, silent and broken clients --------------------------------------------------

    def test_a_silent_client_is_disconnected_after_the_idle_timeout(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(15)
        s.connect(self.daemon.socket)
        try:
            started = time.monotonic()
            self.assertServing()  # a silent client does not hold others up
            reply = read_reply(s)
            elapsed = time.monotonic() - started
        finally:
            s.close()
        self.assertTrue(reply.closed, f"still open after {elapsed:.1f} s")
        self.assertLess(elapsed, IDLE_TIMEOUT_S + 5, "closed, but long after the idle timeout")
        self.assertIn(reply.status, (None, 408), reply)

    def test_a_slow_but_steady_client_is_served(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(15)
        s.connect(self.daemon.socket)
        try:
            for byte in b"GET /v1/health HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n":
                s.sendall(bytes([byte]))
                time.sleep(0.01)
            reply = read_reply(s)
        finally:
            s.close()
        self.assertEqual(reply.status, 200, reply)

    def test_a_slow_trickle_does_not_block_others_and_is_cut_off(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.2)
        s.connect(self.daemon.socket)
        cut_off = threading.Event()
        trickling = threading.Event()
        reply = {}

        def trickle():
            # A header that never ends, one byte every 0.2 s (a slowloris).
            data = b"GET /v1/health HTTP/1.1\r\nX-Slow: "
            deadline = time.monotonic() + 60
            i = 0
            while time.monotonic() < deadline and not cut_off.is_set():
                try:
                    s.sendall(data[i:i + 1] if i < len(data) else b"a")
                except OSError:
                    break
                i += 1
                if i == 5:
                    trickling.set()  # the daemon is in the middle of its request line
                try:
                    got = s.recv(4096)
                    reply["data"] = reply.get("data", b"") + got
                    if not got:
                        break
                except socket.timeout:
                    pass
                except OSError:
                    break
            reply["elapsed"] = time.monotonic() - started
            cut_off.set()

        started = time.monotonic()
        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            wait_for(lambda: trickling.is_set() or cut_off.is_set(), timeout=PATIENCE_S)
            self.assertTrue(trickling.is_set(), f"the trickle ended at once: {reply}")
            for _ in range(3):
                self.assertServing()
            thread.join(timeout=70)
        finally:
            cut_off.set()
            thread.join()
            s.close()
        self.assertLess(reply["elapsed"], 20, "a slowloris kept its connection past the "
                        "request timeout (3 s)")
        if reply.get("data"):
            self.assertTrue(reply["data"].startswith(b"HTTP/1.1 408"), reply)

    def test_a_client_that_hangs_up_mid_body_does_no_harm(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.daemon.socket)
        s.sendall(b"POST /v1/sandboxes HTTP/1.1\r\nHost: d\r\nContent-Length: 1000\r\n\r\n{\"ti")
        s.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.daemon.socket)
        s.sendall(b"PUT /v1/sandboxes/%s/files/raw?path=/tmp/half HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Length: 60000\r\n\r\n" % self.sbx.encode() + b"x" * 1000)
        s.close()
        time.sleep(0.5)
        self.assertEqual(self.running_sandboxes(), [self.sbx])

    def test_a_client_that_hangs_up_while_its_command_runs_does_no_harm(self):
        cmd = "sleep 1; head -c 1000000 /dev/zero"
        body = json.dumps({"cmd": cmd}).encode()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.daemon.socket)
        s.sendall(b"POST /v1/sandboxes/%s/commands HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Length: %d\r\n\r\n" % (self.sbx.encode(), len(body)) + body)
        s.close()

        def finished():
            r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/commands")
            return [p for p in r.json()["processes"] if p["cmd"] == cmd and not p["running"]]

        # Then the daemon writes its answer to nobody; tearDown checks that it still serves.
        self.assertTrue(wait_for(finished, timeout=PATIENCE_S),
                        "the command of the client that hung up never finished")

    def test_a_client_that_does_not_read_its_response_does_no_harm(self):
        res = self.api.run(self.sbx, "head -c 50000000 /dev/zero > /tmp/big")
        self.assertEqual(res["exit_code"], 0, res)
        sockets = []
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.daemon.socket)
            s.sendall(b"GET /v1/sandboxes/%s/files/raw?path=/tmp/big HTTP/1.1\r\nHost: d\r\n\r\n"
                      % self.sbx.encode())
            sockets.append(s)
        self.assertServing()
        for s in sockets:
            s.close()
        self.api.run(self.sbx, "rm /tmp/big")

    def test_garbage_bytes_are_refused(self):
        garbage = {
            "random": os.urandom(4096),
            "nul bytes": b"\x00" * 1024,
            "no version": b"GET /v1/health\r\n\r\n",
            "bad version": b"GET /v1/health HTTP/9.9\r\n\r\n",
            "words": b"HELLO WORLD\r\n\r\n",
            "tls client hello": bytes.fromhex("160301020001000001fc0303") + os.urandom(500),
            "negative length": b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}",
            "two lengths": b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 2\r\n"
                           b"Content-Length: 40\r\n\r\n{}",
            "bad chunk": b"POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"ZZZ\r\nabc\r\n0\r\n\r\n",
            "length and chunked": b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 4\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/health "
                                  b"HTTP/1.1\r\n\r\n",
            "bare newlines": b"GET /v1/health HTTP/1.1\nHost: d\n\n",
            "header without colon": b"GET /v1/health HTTP/1.1\r\nNoColonHere\r\n\r\n",
            "control chars in target": b"GET /v1/he\x01alth HTTP/1.1\r\n\r\n",
        }
        for name, data in garbage.items():
            with self.subTest(garbage=name):
                reply = raw_exchange(self.daemon.socket, data, read_timeout=IDLE_TIMEOUT_S + 5)
                if reply.status is not None and reply.status < 400:
                    # Lenient parsing is acceptable only where the bytes form a valid request.
                    self.assertIn(name, ("bare newlines", "bad version", "length and chunked"),
                                  reply)
                    self.assertNotEqual(reply.status, 201, "garbage created a sandbox")
                else:
                    self.assertRefused(reply, (400, 404, 405, 408, 411, 413, 431, 501, 505))
                self.assertServing()
        self.assertEqual(self.running_sandboxes(), [self.sbx], "garbage created a sandbox")

    def test_pipelined_requests_on_one_connection_are_all_answered(self):
        reply = raw_exchange(self.daemon.socket,
                             b"GET /v1/health HTTP/1.1\r\nHost: d\r\n\r\n" * 2 +
                             b"GET /v1/health HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        self.assertEqual(reply.data.count(b"HTTP/1.1 200"), 3, reply)

    def test_more_connections_than_allowed_do_not_break_the_daemon(self):
        sockets = []
        try:
            for _ in range(40):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                try:
                    s.connect(self.daemon.socket)
                except OSError:
                    s.close()
                    continue
                sockets.append(s)
            over = raw_exchange(self.daemon.socket, b"GET /v1/health HTTP/1.1\r\nHost: d\r\n\r\n",
                                read_timeout=IDLE_TIMEOUT_S + 5)
            self.assertIn(over.status, (None, 200, 429), over)
        finally:
            for s in sockets:
                s.close()
        # The slots free up once the daemon sees the hang-ups.
        def healthy():
            try:
                return self.api.request("GET", "/v1/health", timeout=10).status == 200
            except OSError:
                return False

        self.assertTrue(wait_for(healthy, timeout=PATIENCE_S),
                        "the daemon did not serve again once the extra connections were closed")


if __name__ == "__main__":
    unittest.main()
