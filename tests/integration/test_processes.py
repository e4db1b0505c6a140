"""Processes in depth: background commands that outlive their request, live output as
Server-Sent Events, attaching again to earlier and live output, stdin, PTYs, signals, and what a
flood of output does (nothing) to the daemon and its other sandboxes."""
import base64
import json
import threading
import time
import unittest

from harness import MEMORY_SLACK_KIB, UnixHTTPConnection, run_output
from support import DaemonTestCase, random_suffix, wait_for

# How long a test waits for something that should take milliseconds, before it calls it lost.
PATIENCE = 20


class EventStream:
    """A live SSE response: events as (name, data) in the order they arrive."""

    def __init__(self, socket_path, method, path, body=None, timeout=PATIENCE):
        self.conn = UnixHTTPConnection(socket_path, timeout=timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        if self.status != 200:
            self.error = self.response.read()
        else:
            assert self.response.getheader("Content-Type") == "text/event-stream"

    def next(self):
        """The next event, skipping comments; None at the end of the stream."""
        name, data = None, None
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: "):])
            elif line == "" and name is not None:
                return name, data

    def until(self, predicate):
        """Events up to and including the first for which predicate(name, data) holds."""
        seen = []
        while True:
            event = self.next()
            if event is None:
                raise AssertionError(f"stream ended before the expected event; saw {seen}")
            seen.append(event)
            if predicate(*event):
                return seen

    def close(self):
        self.conn.close()


def event_bytes(data):
    if "data_base64" in data:
        return base64.b64decode(data["data_base64"])
    return data["data"].encode()


def output_of(events, stream="stdout"):
    return b"".join(event_bytes(d) for name, d in events if name == stream)


class ProcessTestCase(DaemonTestCase):
    def setUp(self):
        self.sbx = self.sandbox()
        self.base = f"/v1/sandboxes/{self.sbx}"

    def start(self, cmd, sbx=None, may_have_ended=False, **kw):
        body = {"cmd": cmd, "background": True}
        body.update(kw)
        r = self.api.request("POST", f"/v1/sandboxes/{sbx or self.sbx}/commands", body)
        self.assertEqual(r.status, 200, r)
        info = r.json()
        # A quick command may be over by the time the answer is written.
        self.assertTrue(info["running"] or may_have_ended, info)
        self.assertTrue(info["background"])
        return info["pid"]

    def stream(self, method, path, body=None):
        s = EventStream(self.daemon.socket, method, path, body)
        self.addCleanup(s.close)
        return s

    def attach(self, pid, follow=True, sbx=None):
        path = f"/v1/sandboxes/{sbx or self.sbx}/commands/{pid}/stream"
        if not follow:
            path += "?follow=false"
        s = self.stream("GET", path)
        self.assertEqual(s.status, 200)
        return s

    def wait(self, pid, timeout=PATIENCE, sbx=None):
        r = self.api.request("GET", f"/v1/sandboxes/{sbx or self.sbx}/commands/{pid}/wait",
                             query={"timeout": timeout})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def touch(self, path):
        r = self.api.write_bytes(self.sbx, path, b"")
        self.assertEqual(r.status, 200, r)


class BackgroundCommands(ProcessTestCase):
    def test_a_background_server_outlives_its_request_and_answers_a_later_command(self):
        server = ("import socket,os\n"
                  "s=socket.socket(socket.AF_UNIX); s.bind('/tmp/srv.sock'); s.listen()\n"
                  "while True:\n"
                  "  c,_=s.accept(); c.sendall(b'pong from '+str(os.getpid()).encode()); c.close()\n")
        self.api.write_bytes(self.sbx, "/tmp/server.py", server.encode())
        pid = self.start("exec python3 /tmp/server.py")
        # The request and its connection are gone; the server is not.
        # The client waits for the server to listen, for as long as the test's patience.
        client = ("import socket,sys,time\n"
                  f"deadline=time.monotonic()+{PATIENCE}\n"
                  "while True:\n"
                  "  c=socket.socket(socket.AF_UNIX)\n"
                  "  try: c.connect('/tmp/srv.sock'); break\n"
                  "  except OSError as e:\n"
                  "    c.close()\n"
                  "    if time.monotonic()>deadline: sys.exit(f'the server never listened: {e}')\n"
                  "    time.sleep(0.05)\n"
                  "print(c.recv(100).decode())\n")
        self.api.write_bytes(self.sbx, "/tmp/client.py", client.encode())
        res = self.api.run(self.sbx, "python3 /tmp/client.py")
        self.assertEqual(res["exit_code"], 0, res)
        self.assertEqual(res["stdout"].strip(), f"pong from {pid}")
        info = self.api.request("GET", f"{self.base}/commands/{pid}").json()
        self.assertTrue(info["running"])
        self.assertEqual(info["cmd"], "exec python3 /tmp/server.py")
        self.assertEqual(info["user"], "user")
        self.assertEqual(info["cwd"], "/home/user")
        self.assertFalse(info["is_pty"])

    def test_the_list_reports_running_and_finished_processes(self):
        running = self.start("sleep 600")
        done = self.start("exit 7", may_have_ended=True)
        self.assertEqual(self.wait(done)["exit_code"], 7)
        listed = {p["pid"]: p for p in self.api.request("GET", f"{self.base}/commands").json()[
            "processes"]}
        self.assertTrue(listed[running]["running"])
        self.assertIsNone(listed[running]["exit_code"])
        self.assertFalse(listed[done]["running"])
        self.assertEqual(listed[done]["exit_code"], 7)
        self.assertIn("ended_at", listed[done])

    def test_killing_a_process_kills_its_whole_group_and_leaves_no_strays(self):
        tag = str(int(random_suffix()[:6], 16))  # digits, for sleep
        pid = self.start(f"sleep 1{tag}1 & sleep 1{tag}2 & bash -c 'sleep 1{tag}3; true' & wait")

        def sleeps():
            listing = run_output(self.api.run(self.sbx, "ps -eo args")).decode()
            return [line for line in listing.splitlines() if line.startswith(f"sleep 1{tag}")]

        self.assertTrue(wait_for(lambda: len(sleeps()) == 3, timeout=PATIENCE),
                        f"the group's three sleeps never all ran: {sleeps()}")
        r = self.api.request("DELETE", f"{self.base}/commands/{pid}")
        self.assertEqual(r.status, 204, r)
        info = self.wait(pid)
        self.assertEqual(info["signal"], 9)
        self.assertEqual(info["exit_code"], 137)
        after = run_output(self.api.run(self.sbx, "ps -eo args")).decode()
        self.assertNotIn(f"sleep 1{tag}", after)
        # Killing it again is fine; an unknown pid is not.
        self.assertEqual(self.api.request("DELETE", f"{self.base}/commands/{pid}").status, 204)
        self.assertEqual(self.api.request("DELETE", f"{self.base}/commands/99999").status, 404)

    def test_a_signal_by_name_reaches_the_process(self):
        pid = self.start("trap 'echo got-term; exit 3' TERM; echo trap-set; "
                         "while true; do sleep 0.1; done")
        self.attach(pid).until(lambda n, d: n == "stdout" and b"trap-set" in event_bytes(d))
        r = self.api.request("POST", f"{self.base}/commands/{pid}/signal", {"signal": "SIGTERM"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.wait(pid)["exit_code"], 3)
        events = self.attach(pid, follow=False).until(lambda n, d: n == "exit")
        self.assertIn(b"got-term", output_of(events))
        r = self.api.request("POST", f"{self.base}/commands/{pid}/signal", {"signal": "TERM"})
        self.assertEqual(r.status, 409, r)

    def test_a_background_command_timeout_kills_it_and_says_so(self):
        pid = self.start("sleep 600", timeout=1)
        info = self.wait(pid)
        self.assertTrue(info["timed_out"])
        self.assertEqual(info["exit_code"], 124)

    def test_wait_is_a_408_while_the_process_runs(self):
        pid = self.start("sleep 600")
        r = self.api.request("GET", f"{self.base}/commands/{pid}/wait", query={"timeout": 1})
        self.assertEqual(r.status, 408, r)

    def test_fifty_background_processes_across_five_sandboxes_are_all_reported(self):
        sandboxes = [self.sbx] + [self.sandbox() for _ in range(4)]
        started = {}
        errors = []

        def start_ten(sbx):
            try:
                for i in range(10):
                    pid = self.start(f"sleep 0.$((RANDOM % 9)); echo out-{i}; exit {i + 10}",
                                     sbx=sbx, may_have_ended=True)
                    started[(sbx, pid)] = i
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=start_ten, args=(s,)) for s in sandboxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(started), 50)
        for (sbx, pid), i in started.items():
            info = self.wait(pid, sbx=sbx)
            self.assertEqual(info["exit_code"], i + 10, (sbx, pid, info))
            events = self.attach(pid, follow=False, sbx=sbx).until(lambda n, d: n == "exit")
            self.assertEqual(output_of(events), f"out-{i}\n".encode())
        for sbx in sandboxes:
            listed = self.api.request("GET", f"/v1/sandboxes/{sbx}/commands").json()["processes"]
            self.assertEqual(len(listed), 10)
            self.assertTrue(all(not p["running"] for p in listed))


class LiveOutput(ProcessTestCase):
    def test_output_arrives_line_by_line_before_the_process_ends(self):
        # The command prints its first line, then waits for a file that the test creates only
        # after it has received that line: if output came only at the end, this would never end.
        gate = f"/tmp/gate-{random_suffix()}"
        s = self.stream("POST", f"{self.base}/commands/stream",
                        {"cmd": f"echo first; for i in $(seq 200); do [ -e {gate} ] && break; "
                                f"sleep 0.05; done; [ -e {gate} ] && echo second"})
        self.assertEqual(s.status, 200)
        start = s.next()
        self.assertEqual(start[0], "start")
        events = s.until(lambda n, d: n == "stdout")
        self.assertEqual(output_of(events), b"first\n")
        self.touch(gate)
        rest = s.until(lambda n, d: n == "exit")
        self.assertEqual(output_of(rest), b"second\n")
        self.assertEqual(rest[-1][1]["exit_code"], 0)
        self.assertIsNone(s.next())

    def test_a_streamed_command_reports_stderr_exit_code_and_timeout(self):
        s = self.stream("POST", f"{self.base}/commands/stream",
                        {"cmd": "echo oops >&2; exit 5"})
        events = s.until(lambda n, d: n == "exit")
        self.assertEqual(output_of(events, "stderr"), b"oops\n")
        self.assertEqual(events[-1][1]["exit_code"], 5)
        s = self.stream("POST", f"{self.base}/commands/stream", {"cmd": "sleep 60", "timeout": 1})
        exit_event = s.until(lambda n, d: n == "exit")[-1][1]
        self.assertTrue(exit_event["timed_out"])
        self.assertEqual(exit_event["exit_code"], 124)

    def test_a_command_that_cannot_start_is_a_json_error(self):
        s = self.stream("POST", f"{self.base}/commands/stream", {"cmd": "true", "cwd": "/nope"})
        self.assertEqual(s.status, 400)
        self.assertIn(b"cwd /nope", s.error)

    def test_reattaching_gives_earlier_output_then_live_output(self):
        gate = f"/tmp/gate-{random_suffix()}"
        pid = self.start(f"echo early; for i in $(seq 400); do [ -e {gate} ] && break; "
                         f"sleep 0.05; done; echo late")
        first = self.attach(pid)
        first.next()
        self.assertEqual(output_of(first.until(lambda n, d: n == "stdout")), b"early\n")
        first.close()  # the client goes away; the process does not
        second = self.attach(pid)
        self.assertEqual(second.next(), ("start", {"pid": pid}))
        self.assertEqual(output_of(second.until(lambda n, d: n == "stdout")), b"early\n")
        self.touch(gate)
        rest = second.until(lambda n, d: n == "exit")
        self.assertEqual(output_of(rest), b"late\n")

    def test_a_closed_stream_does_not_stop_its_process(self):
        gate = f"/tmp/gate-{random_suffix()}"
        s = self.stream("POST", f"{self.base}/commands/stream",
                        {"cmd": f"echo up; for i in $(seq 400); do [ -e {gate} ] && break; "
                                f"sleep 0.05; done; echo done-after-close", "timeout": 0})
        pid = s.next()[1]["pid"]
        s.until(lambda n, d: n == "stdout")
        s.close()
        self.touch(gate)
        self.assertEqual(self.wait(pid)["exit_code"], 0)
        events = self.attach(pid, follow=False).until(lambda n, d: n == "exit")
        self.assertEqual(output_of(events), b"up\ndone-after-close\n")

    def test_a_flood_of_output_bounds_daemon_memory_and_other_sandboxes_keep_answering(self):
        other = self.sandbox()
        daemon_pid = self.daemon.proc.pid

        def rss_kib():
            with open(f"/proc/{daemon_pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            raise AssertionError("no VmRSS")

        before = rss_kib()
        pid = self.start("yes")
        # A reader that reads a little and then stops reading (its socket buffers fill).
        slow = self.attach(pid)
        slow.next()
        deadline = time.time() + 5
        answers = 0
        while time.time() < deadline:
            res = self.api.run(other, "echo alive")
            self.assertEqual(res["stdout"], "alive\n")
            answers += 1
        after = rss_kib()
        # The output went somewhere: gigabytes, not megabytes, were read from the pipe.
        fast = self.attach(pid)
        fast.next()
        lost = fast.next()
        self.assertEqual(lost[0], "lost")
        self.assertGreater(lost[1]["bytes"], 64 << 20)
        self.assertGreater(answers, 0)
        # Two 1 MiB rings and their readers; allow generous slack for allocator noise.
        self.assertLess(after - before, 64 * 1024 + MEMORY_SLACK_KIB,
                        f"RSS grew from {before} to {after} KiB")
        self.assertEqual(self.api.request("DELETE", f"{self.base}/commands/{pid}").status, 204)
        self.assertEqual(self.wait(pid)["signal"], 9)


class Stdin(ProcessTestCase):
    def write(self, pid, **body):
        return self.api.request("POST", f"{self.base}/commands/{pid}/stdin", body)

    def test_cat_echoes_what_is_written_and_ends_when_stdin_closes(self):
        pid = self.start("cat")
        s = self.attach(pid)
        s.next()
        self.assertEqual(self.write(pid, data="hello\n").status, 204)
        self.assertEqual(output_of(s.until(lambda n, d: n == "stdout")), b"hello\n")
        self.assertEqual(self.write(pid, data_base64=base64.b64encode(b"\x00\xff\n").decode())
                         .status, 204)
        self.assertEqual(output_of(s.until(lambda n, d: n == "stdout")), b"\x00\xff\n")
        self.assertEqual(self.api.request("DELETE", f"{self.base}/commands/{pid}/stdin").status,
                         204)
        self.assertEqual(s.until(lambda n, d: n == "exit")[-1][1]["exit_code"], 0)
        self.assertEqual(self.write(pid, data="late").status, 409)

    def test_python_interactive_round_trip(self):
        pid = self.start("python3 -i -q")
        s = self.attach(pid)
        s.next()
        self.assertEqual(self.write(pid, data="print(6*7)\n").status, 204)
        events = s.until(lambda n, d: n == "stdout")
        self.assertEqual(output_of(events), b"42\n")
        self.api.request("DELETE", f"{self.base}/commands/{pid}/stdin")
        self.assertEqual(s.until(lambda n, d: n == "exit")[-1][1]["exit_code"], 0)

    def test_a_foreground_stream_can_keep_stdin_open(self):
        s = self.stream("POST", f"{self.base}/commands/stream",
                        {"cmd": "read line; echo got:$line", "stdin_open": True})
        pid = s.next()[1]["pid"]
        self.assertEqual(self.write(pid, data="abc\n").status, 204)
        events = s.until(lambda n, d: n == "exit")
        self.assertEqual(output_of(events), b"got:abc\n")

    def test_stdin_a_process_does_not_read_is_bounded(self):
        pid = self.start("sleep 600")
        chunk = "x" * (256 * 1024)
        statuses = [self.write(pid, data=chunk).status for _ in range(8)]
        self.assertIn(429, statuses)
        self.assertEqual(statuses[0], 204)


class Terminals(ProcessTestCase):
    def pty(self, rows=24, cols=80, **kw):
        body = {"size": {"rows": rows, "cols": cols}}
        body.update(kw)
        r = self.api.request("POST", f"{self.base}/pty", body)
        self.assertEqual(r.status, 200, r)
        info = r.json()
        self.assertTrue(info["is_pty"])
        return info["pid"]

    def type(self, pid, text):
        r = self.api.request("POST", f"{self.base}/commands/{pid}/stdin", {"data": text})
        self.assertEqual(r.status, 204, r)

    def screen_until(self, stream, needle):
        seen = b""
        while needle not in seen:
            event = stream.next()
            if event is None or event[0] == "exit":
                raise AssertionError(f"{needle!r} never appeared; terminal showed {seen!r}")
            if event[0] == "pty":
                seen += event_bytes(event[1])
        return seen

    def test_a_pty_is_a_real_terminal_of_the_sandbox_with_its_size(self):
        pid = self.pty(rows=30, cols=100)
        s = self.attach(pid)
        s.next()
        self.type(pid, "tty; stty size; echo marker-$((6*7))\n")
        screen = self.screen_until(s, b"marker-42")
        self.assertRegex(screen.decode(errors="replace"), r"/dev/pts/\d+")
        self.assertIn(b"30 100", screen)
        r = self.api.request("POST", f"{self.base}/commands/{pid}/resize", {"rows": 50, "cols": 60})
        self.assertEqual(r.status, 204, r)
        self.type(pid, "stty size; echo marker-$((7*7))\n")
        self.assertIn(b"50 60", self.screen_until(s, b"marker-49"))
        self.type(pid, "exit 3\n")
        self.assertEqual(s.until(lambda n, d: n == "exit")[-1][1]["exit_code"], 3)

    def test_ctrl_c_interrupts_the_foreground_job_not_the_shell(self):
        pid = self.pty()
        s = self.attach(pid)
        s.next()
        # The foreground job prints the marker, then becomes sleep: once the marker shows, a
        # Ctrl-C can only reach that job, never the shell between two commands.
        self.type(pid, "sh -c 'echo started-$((4+4)); exec sleep 600'\n")
        self.screen_until(s, b"started-8")
        self.type(pid, "\x03")
        self.type(pid, "echo still-here-$((2+3))\n")
        self.screen_until(s, b"still-here-5")
        self.assertTrue(self.api.request("GET", f"{self.base}/commands/{pid}").json()["running"])
        self.assertEqual(self.api.request("DELETE", f"{self.base}/commands/{pid}").status, 204)
        self.assertIsNotNone(self.wait(pid)["signal"])

    def test_each_pty_is_its_own_session_with_its_own_controlling_terminal(self):
        a = self.pty(cmd="ps -o sid=,tty= -p $$; sleep 1")
        b = self.pty(cmd="ps -o sid=,tty= -p $$; sleep 1")
        outs = []
        for pid in (a, b):
            self.wait(pid)
            events = self.attach(pid, follow=False).until(lambda n, d: n == "exit")
            outs.append(output_of(events, "pty").decode().split())
        (sid_a, tty_a), (sid_b, tty_b) = outs
        self.assertEqual(sid_a, str(a))
        self.assertEqual(sid_b, str(b))
        self.assertNotEqual(tty_a, tty_b)
        self.assertTrue(tty_a.startswith("pts/"))

    def test_closing_stdin_of_a_terminal_is_refused(self):
        pid = self.pty()
        r = self.api.request("DELETE", f"{self.base}/commands/{pid}/stdin")
        self.assertEqual(r.status, 400, r)
        r = self.api.request("POST", f"{self.base}/commands/{pid}/resize", {"rows": 0, "cols": 1})
        self.assertEqual(r.status, 400, r)
        plain = self.start("sleep 600")
        r = self.api.request("POST", f"{self.base}/commands/{plain}/resize",
                             {"rows": 10, "cols": 10})
        self.assertEqual(r.status, 400, r)


class Lifecycle(ProcessTestCase):
    def test_killing_the_sandbox_ends_every_stream_with_an_error(self):
        s = self.stream("POST", f"{self.base}/commands/stream", {"cmd": "sleep 600", "timeout": 0})
        s.next()
        self.assertEqual(self.api.kill(self.sbx).status, 204)
        exit_event = s.until(lambda n, d: n == "exit")[-1][1]
        self.assertIsNone(exit_event["exit_code"])
        self.assertIn("sandbox ended", exit_event["error"])
        r = self.api.request("GET", f"{self.base}/commands")
        self.assertEqual(r.status, 409, r)

    def test_max_processes_is_a_429(self):
        # The class daemon allows 128; this sandbox's limit is reached with many sleeps.
        pids = [self.start("sleep 600") for _ in range(128)]
        r = self.api.request("POST", f"{self.base}/commands",
                             {"cmd": "sleep 600", "background": True})
        self.assertEqual(r.status, 429, r)
        self.api.request("DELETE", f"{self.base}/commands/{pids[0]}")
        self.wait(pids[0])
        self.start("true", may_have_ended=True)


if __name__ == "__main__":
    unittest.main()
