"""Resources, metrics, pause and resume through the SDK, on a real declawd with cgroups: limits
asked at create show in get_info(), a command over memory_mb is OOM-killed and says so while the
sandbox lives on, metrics move with load, a paused sandbox refuses commands and files with a
conflict that says so, uses no CPU, and keeps its processes and files across resume, and a
timeout with lifecycle on_timeout "pause" pauses instead of killing."""
import datetime
import time
import unittest

from support import MIB, Collector, SdkTestCase, eventually

import declaw
from declaw import Sandbox, SandboxQuery, SandboxResources, SandboxState

# A busy loop gets about one core; an idle or frozen sandbox next to nothing. Generous bounds:
# the host runs other tests too.
BUSY_CORES = 0.2
IDLE_CORES = 0.1
SAMPLE_S = 1.5
ALLOCATE_256_MIB = "python3 -c 'data = b\"x\" * (256 << 20); print(len(data))'"
BUSY_LOOP = "while :; do :; done"


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def cores_over(sbx, seconds=SAMPLE_S):
    """The sandbox's average CPU use over the next SECONDS. The daemon averages since the
    previous sample, so the first call starts the window."""
    sbx.get_metrics()
    time.sleep(seconds)
    return sbx.get_metrics().cpu_cores_used


class ResourcesAtCreate(SdkTestCase):
    shared_sandbox = {}

    def default_resources(self):
        health = self.daemon.client.request("GET", "/v1/health").json()
        return SandboxResources(**health["limits"]["default_resources"])

    def test_limits_asked_at_create_show_in_the_info_and_the_metrics(self):
        asked = SandboxResources(cpu=0.5, memory_mb=256, pids=128, disk_mb=64)
        sbx = self.create(resources=asked, lifecycle={"on_timeout": "pause"})
        info = sbx.get_info()
        self.assertEqual(info.resources, asked)
        self.assertEqual(info.lifecycle, {"on_timeout": "pause"})
        listed = {i.sandbox_id: i for i in Sandbox.list(socket_path=self.socket)}
        self.assertEqual(listed[sbx.sandbox_id].resources, asked)
        metrics = sbx.get_metrics()
        self.assertEqual(metrics.cpu_count, 0.5)
        self.assertEqual(metrics.mem_total, 256 * MIB)
        self.assertEqual(metrics.pids_limit, 128)
        self.assertEqual(metrics.disk_total, 64 * MIB)

    def test_resources_not_asked_take_the_daemons_defaults(self):
        defaults = self.default_resources()
        sbx = self.create(resources={"memory_mb": 512})
        info = sbx.get_info()
        self.assertEqual(info.resources.memory_mb, 512)
        self.assertEqual((info.resources.cpu, info.resources.pids, info.resources.disk_mb),
                         (defaults.cpu, defaults.pids, defaults.disk_mb))
        self.assertEqual(info.lifecycle, {"on_timeout": "kill"})
        self.assertEqual(self.shared.get_info().resources, defaults)

    def test_a_limit_out_of_range_or_unknown_is_an_invalid_argument_naming_it(self):
        before = self.running_ids()
        for spec, named in (({"resources": {"memory_mb": 1}}, "memory_mb"),
                            ({"resources": SandboxResources(cpu=10 ** 6)}, "cpu"),
                            ({"resources": {"gpus": 1}}, "gpus"),
                            ({"lifecycle": {"on_timeout": "hibernate"}}, "on_timeout")):
            with self.subTest(spec=spec):
                with self.assertRaises(declaw.InvalidArgumentException) as caught:
                    self.create(**spec)
                self.assertIn(named, str(caught.exception))
        self.assertEqual(self.running_ids(), before, "a refused create left a sandbox")

    def test_the_hosted_auto_resume_is_refused_unless_false(self):
        with self.assertRaises(declaw.NotImplementedException) as caught:
            self.create(lifecycle={"on_timeout": "pause", "auto_resume": True})
        self.assertIn("resume", str(caught.exception))
        sbx = self.create(lifecycle={"on_timeout": "pause", "auto_resume": False})
        self.assertEqual(sbx.get_info().lifecycle, {"on_timeout": "pause"})

    def test_an_allocation_over_memory_mb_is_oom_killed_and_the_sandbox_keeps_working(self):
        sbx = self.create(resources={"memory_mb": 64})
        result = sbx.commands.run(ALLOCATE_256_MIB)
        self.assertTrue(result.oom_killed, result)
        self.assertEqual((result.exit_code, result.signal), (137, 9))
        self.assertIn("out of memory", result.error)
        with self.assertRaises(declaw.CommandExitException) as caught:
            result.check()
        self.assertIn("out of memory", str(caught.exception))
        self.assertGreaterEqual(sbx.get_metrics().oom_kills, 1)
        after = sbx.commands.run("echo still here")
        self.assertEqual((after.stdout, after.exit_code, after.oom_killed),
                         ("still here\n", 0, False))
        sbx.files.write("/home/user/after.txt", "fine")
        self.assertEqual(sbx.files.read("/home/user/after.txt"), "fine")
        self.assertEqual(self.shared.commands.run("echo unaffected").stdout, "unaffected\n")
        self.assertEqual(self.shared.get_metrics().oom_kills, 0)

    def test_an_allocation_under_memory_mb_is_not_oom_killed(self):
        sbx = self.create(resources={"memory_mb": 512})
        result = sbx.commands.run(ALLOCATE_256_MIB)
        self.assertEqual((result.stdout, result.exit_code, result.oom_killed),
                         (f"{256 * MIB}\n", 0, False))


class Metrics(SdkTestCase):
    def test_cpu_use_rises_with_a_busy_loop_and_falls_when_it_is_killed(self):
        sbx = self.create(resources={"cpu": 1})
        loop = sbx.commands.run(BUSY_LOOP, background=True)
        busy = cores_over(sbx)
        sample = sbx.get_metrics()
        self.assertGreater(busy, BUSY_CORES)
        self.assertEqual(sample.cpu_count, 1.0)
        self.assertAlmostEqual(sample.cpu_used_pct, 100 * sample.cpu_cores_used, delta=0.01)
        self.assertGreaterEqual(sample.pids, 2)  # init and the loop
        self.assertTrue(loop.kill())
        sbx.commands.wait(loop.pid)
        idle = cores_over(sbx, 1.0)
        self.assertLess(idle, min(IDLE_CORES, busy / 2))

    def test_samples_are_timestamped_and_cpu_time_only_grows(self):
        sbx = self.create()
        first = sbx.get_metrics()
        sbx.commands.run("python3 -c 'sum(range(3000000))'")
        second = sbx.get_metrics()
        self.assertEqual(first.timestamp.tzinfo, datetime.timezone.utc)
        self.assertLessEqual(first.timestamp, second.timestamp)
        self.assertGreater(second.cpu_usage_ns, first.cpu_usage_ns)
        self.assertIsNone(second.net_rx_bytes)  # no network interface without internet access

    def test_disk_and_memory_use_grow_with_a_file_written_inside(self):
        sbx = self.create(resources={"disk_mb": 256, "memory_mb": 512})
        before = sbx.get_metrics()
        sbx.commands.run("head -c 16M /dev/zero > /home/user/16mib.bin").check()
        after = sbx.get_metrics()
        self.assertGreaterEqual(after.disk_used - before.disk_used, 16 * MIB)
        self.assertLessEqual(after.disk_used, after.disk_total)
        # The sandbox's disk is a tmpfs: its files count against its memory too.
        self.assertGreaterEqual(after.mem_used - before.mem_used, 15 * MIB)

    def test_disk_use_grows_with_a_file_written_through_the_api(self):
        sbx = self.create(resources={"disk_mb": 256})
        before = sbx.get_metrics()
        sbx.files.write("/home/user/16mib.bin", b"\xa5" * (16 * MIB))
        self.assertGreaterEqual(sbx.get_metrics().disk_used - before.disk_used, 16 * MIB)

    @unittest.expectedFailure
    def test_a_file_written_through_the_api_counts_against_the_sandboxs_memory(self):
        # Known daemon gap: declawd writes uploads itself, so their tmpfs pages are charged to
        # declawd's memory cgroup, not the sandbox's; memory_mb does not bound them.
        sbx = self.create(resources={"disk_mb": 256, "memory_mb": 512})
        before = sbx.get_metrics()
        sbx.files.write("/home/user/16mib.bin", b"\xa5" * (16 * MIB))
        self.assertGreaterEqual(sbx.get_metrics().mem_used - before.mem_used, 15 * MIB)

    def test_metrics_by_sandbox_id(self):
        sbx = self.create(resources={"pids": 99})
        metrics = Sandbox.get_metrics(sbx.sandbox_id, socket_path=self.socket)
        self.assertIsInstance(metrics, list)
        self.assertTrue(all(isinstance(m, declaw.SandboxMetrics) for m in metrics))
        self.assertEqual(metrics[-1].pids_limit, 99)


class PauseAndResume(SdkTestCase):
    def assert_refused_as_paused(self, call):
        with self.assertRaises(declaw.ConflictException) as caught:
            call()
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)
        self.assertIn("paused", str(caught.exception))
        self.assertIn("resume()", str(caught.exception))
        self.assertEqual(caught.exception.status, 409)

    def test_a_paused_sandbox_refuses_commands_and_files_with_a_conflict_that_says_so(self):
        sbx = self.create()
        sbx.files.write("/home/user/kept.txt", "kept")
        info = sbx.pause()
        self.assertEqual(info.state, SandboxState.PAUSED)
        self.assertEqual(sbx.get_info().state, "paused")
        self.assertFalse(sbx.is_running())
        calls = {
            "run": lambda: sbx.commands.run("true"),
            "run streamed": lambda: sbx.commands.run("true", on_stdout=print),
            "run in the background": lambda: sbx.commands.run("sleep 1", background=True),
            "list processes": sbx.commands.list,
            "open a terminal": lambda: sbx.pty.create(declaw.PtySize(24, 80)),
            "read": lambda: sbx.files.read("/home/user/kept.txt"),
            "write": lambda: sbx.files.write("/home/user/new.txt", "x"),
            "list": lambda: sbx.files.list("/home/user"),
            "exists": lambda: sbx.files.exists("/home/user/kept.txt"),
        }
        for name, call in calls.items():
            with self.subTest(call=name):
                self.assert_refused_as_paused(call)
        self.assertEqual(sbx.pause().state, SandboxState.PAUSED, "pausing twice is fine")
        self.assertEqual(sbx.resume().state, SandboxState.RUNNING)
        self.assertEqual(sbx.files.read("/home/user/kept.txt"), "kept")
        self.assertFalse(sbx.files.exists("/home/user/new.txt"))
        self.assertEqual(sbx.resume().state, SandboxState.RUNNING, "resuming twice is fine")

    def test_resume_keeps_running_processes_their_output_streams_and_files(self):
        sbx = self.create()
        sbx.files.write("/home/user/before.bin", bytes(range(256)) * 4096)
        output = Collector()
        cat = sbx.commands.run("cat", background=True, on_stdout=output)
        cat.send_stdin("before pause\n")
        output.wait_for("before pause\n")
        sbx.pause()
        time.sleep(0.5)
        sbx.resume()
        self.assertTrue(sbx.commands.get(cat.pid).running)
        cat.send_stdin("after resume\n")
        output.wait_for("after resume\n")
        self.assertEqual(sbx.files.read("/home/user/before.bin", format="bytes"),
                         bytes(range(256)) * 4096)
        cat.close_stdin()
        self.assertEqual(cat.wait().stdout, "before pause\nafter resume\n")

    def test_a_paused_sandbox_uses_no_cpu_and_its_busy_loop_runs_on_after_resume(self):
        sbx = self.create()
        loop = sbx.commands.run(BUSY_LOOP, background=True)
        self.assertGreater(cores_over(sbx), BUSY_CORES)
        sbx.pause()
        self.assertLess(cores_over(sbx, 1.0), 0.02)
        sbx.resume()
        self.assertGreater(cores_over(sbx), BUSY_CORES)
        self.assertTrue(sbx.commands.get(loop.pid).running)

    def test_the_timeout_clock_stops_while_paused(self):
        sbx = self.create(timeout=3)
        sbx.pause()
        time.sleep(4)
        self.assertEqual(sbx.get_info().state, SandboxState.PAUSED)
        info = sbx.resume()
        self.assertEqual(info.state, SandboxState.RUNNING)
        self.assertGreater((info.end_at - now()).total_seconds(), 1)
        self.assertEqual(sbx.commands.run("echo awake").stdout, "awake\n")

    def test_a_timeout_with_on_timeout_pause_pauses_instead_of_killing(self):
        sbx = self.create(timeout=2, lifecycle={"on_timeout": "pause"})
        sbx.files.write("/home/user/work.txt", "unsaved work")
        started = time.monotonic()
        eventually(lambda: sbx.get_info().state == SandboxState.PAUSED, timeout=15,
                   what="the timeout pausing the sandbox")
        self.assertGreater(time.monotonic() - started, 1)
        time.sleep(1)
        self.assertEqual(sbx.get_info().state, SandboxState.PAUSED, "paused, not killed")
        paused = Sandbox.list(query=SandboxQuery(state=[SandboxState.PAUSED]),
                              socket_path=self.socket)
        self.assertIn(sbx.sandbox_id, {i.sandbox_id for i in paused})
        info = sbx.resume(timeout=60)
        self.assertEqual(info.state, SandboxState.RUNNING)
        self.assertAlmostEqual((info.end_at - now()).total_seconds(), 60, delta=3)
        self.assertEqual(sbx.files.read("/home/user/work.txt"), "unsaved work")
        self.assertEqual(sbx.commands.run("echo back").stdout, "back\n")

    def test_connect_resumes_a_paused_sandbox_and_get_info_by_id_does_not(self):
        sbx = self.create(timeout=600)
        Sandbox.pause(sbx.sandbox_id, socket_path=self.socket)
        info = Sandbox.get_info(sbx.sandbox_id, socket_path=self.socket)
        self.assertEqual(info.state, SandboxState.PAUSED)
        self.assertEqual(sbx.get_info().state, SandboxState.PAUSED)
        listed = {i.sandbox_id for i in Sandbox.list(socket_path=self.socket)}
        self.assertIn(sbx.sandbox_id, listed, "a paused sandbox is listed as live")
        running = Sandbox.list(query={"state": [SandboxState.RUNNING]}, socket_path=self.socket)
        self.assertNotIn(sbx.sandbox_id, {i.sandbox_id for i in running})
        other = Sandbox.connect(sbx.sandbox_id, timeout=30, socket_path=self.socket)
        self.assertEqual(other.get_info().state, SandboxState.RUNNING)
        self.assertAlmostEqual((other.get_info().end_at - now()).total_seconds(), 30, delta=3)
        self.assertEqual(other.commands.run("echo connected").stdout, "connected\n")

    def test_a_paused_sandbox_can_be_killed_and_then_neither_paused_nor_resumed(self):
        sbx = self.create()
        sbx.commands.run(BUSY_LOOP, background=True)
        sbx.pause()
        self.assertTrue(sbx.kill())
        self.assertEqual(sbx.get_info().state, SandboxState.KILLED)
        for name, call in (("pause", sbx.pause), ("resume", sbx.resume),
                           ("metrics", sbx.get_metrics)):
            with self.subTest(call=name), self.assertRaises(
                    declaw.SandboxNotRunningException):
                call()


class WithoutCgroups(SdkTestCase):
    daemon_config = {"cgroups": "off"}

    def test_pause_is_not_implemented_and_says_why(self):
        sbx = self.create()
        with self.assertRaises(declaw.NotImplementedException) as caught:
            sbx.pause()
        self.assertIn("cgroups", str(caught.exception))
        self.assertEqual(sbx.get_info().state, SandboxState.RUNNING)
        self.assertEqual(sbx.commands.run("echo running").stdout, "running\n")
        self.assertEqual(sbx.resume().state, SandboxState.RUNNING)

    def test_metrics_still_report_the_disk(self):
        sbx = self.create(resources={"disk_mb": 32})
        metrics = sbx.get_metrics()
        self.assertEqual(metrics.disk_total, 32 * MIB)
        self.assertGreater(metrics.disk_used, 0)


if __name__ == "__main__":
    unittest.main()
