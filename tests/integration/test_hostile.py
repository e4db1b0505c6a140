"""Attacks on the daemon itself, from a sandbox and from a client: each found by a review, each
must leave the daemon serving everybody else."""
import socket
import threading
import time
import unittest

from harness import MEMORY_SLACK_KIB, DaemonTestCase, UnixHTTPConnection


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class HostileSandbox(DaemonTestCase):
    def test_a_sandbox_stopping_its_own_processes_cannot_lock_others_out_of_the_api(self):
        attacker = self.sandbox()
        bystander = self.sandbox()
        # Stop every process of the sandbox user, over and over: spawns and file helpers of
        # this sandbox freeze before they exec.
        self.api.run(attacker, "nohup bash -c 'while :; do kill -STOP -1; done' "
                               ">/dev/null 2>&1 &", timeout=5)
        statuses = []

        def hammer():
            r = self.api.request("POST", f"/v1/sandboxes/{attacker}/commands",
                                 {"cmd": "true", "timeout": 3})
            statuses.append(r.status)

        threads = [threading.Thread(target=hammer) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertTrue(all(not t.is_alive() for t in threads), "requests hung")
        self.assertTrue(set(statuses) <= {200, 408}, statuses)
        # Everybody else is still served, promptly.
        started = time.monotonic()
        self.assertEqual(self.api.run(bystander, "echo alive")["stdout"], "alive\n")
        self.assertEqual(self.api.request("GET", "/v1/health").status, 200)
        self.assertLess(time.monotonic() - started, 10)
        # And the attacker's sandbox can still be killed.
        self.assertEqual(self.api.kill(attacker).status, 204)

    def test_a_fork_bomb_stops_at_the_sandbox_process_limit_and_others_keep_answering(self):
        bomb = self.sandbox()
        bystander = self.sandbox()
        r = self.api.run(bomb, "ulimit -Hu")
        self.assertEqual(r["stdout"].strip(), "4096")
        r = self.api.run(bomb, "f(){ f | f & }; f 2>/dev/null; sleep 3; "
                               "ls /proc | grep -c '^[0-9]'", timeout=8)
        self.assertTrue(r["timed_out"] or r["exit_code"] == 0, r)
        self.assertEqual(self.api.run(bystander, "echo alive")["stdout"], "alive\n")
        self.assertEqual(self.api.request("GET", "/v1/health").status, 200)
        self.assertEqual(self.api.kill(bomb).status, 204)

    def test_a_file_growing_while_it_is_downloaded_cannot_forge_the_next_response(self):
        sbx = self.sandbox()
        forged = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nFORGED!"
        self.api.run(sbx, "printf 'start' > /tmp/grow; nohup bash -c 'while :; do "
                          f"printf %s \"{forged}\" >> /tmp/grow; done' >/dev/null 2>&1 &",
                     timeout=5)
        conn = UnixHTTPConnection(self.daemon.socket)
        try:
            for _ in range(30):
                conn.request("GET", f"/v1/sandboxes/{sbx}/files/raw?path=/tmp/grow")
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200)
                self.assertEqual(len(body), int(r.getheader("Content-Length")))
                # The next request on the same connection gets the daemon's own answer.
                conn.request("GET", "/v1/health")
                health = conn.getresponse()
                data = health.read()
                self.assertEqual(health.status, 200)
                self.assertNotIn(b"FORGED", data)
                self.assertIn(b'"version"', data)
        finally:
            conn.close()


class HostileClient(DaemonTestCase):
    def test_an_endless_chunk_size_line_does_not_grow_the_daemon(self):
        sbx = self.sandbox()
        before = rss_kib(self.daemon.proc.pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.daemon.socket)
        s.settimeout(10)
        s.sendall(f"PUT /v1/sandboxes/{sbx}/files/raw?path=/tmp/x HTTP/1.1\r\nHost: d\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n1;a=".encode())
        sent = 0
        chunk = b"b" * 65536
        try:
            while sent < (256 << 20):
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the daemon gave up on us: good
        finally:
            s.close()
        grown_mib = (rss_kib(self.daemon.proc.pid) - before) / 1024
        self.assertLess(grown_mib, 64 + MEMORY_SLACK_KIB / 1024,
                        f"daemon grew by {grown_mib:.0f} MiB")
        self.assertEqual(self.api.request("GET", "/v1/health").status, 200)


if __name__ == "__main__":
    unittest.main()
