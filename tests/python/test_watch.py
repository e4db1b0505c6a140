"""files.watch_dir() against a real daemon, blocking and asyncio: what changes under a watched
directory arrives as FilesystemEvents with names relative to it (recursive watches follow new
subdirectories, `mkdir -p` included), the watch runs as the requested user, its bound
(max_watch_dirs) is a clear error at the start and later, and a watch ends, saying why, when
its directory is removed, when the sandbox ends, when the watcher inside is killed, by
stop() and by its timeout. Each end leaves no watcher process in the sandbox."""
import asyncio
import threading
import time
import unittest

from async_support import AsyncSdkTestCase
from support import SdkTestCase

import declaw
from declaw import FilesystemEvent, FilesystemEventType

C, W, RM, MV, CH = (FilesystemEventType.CREATE, FilesystemEventType.WRITE,
                    FilesystemEventType.REMOVE, FilesystemEventType.RENAME,
                    FilesystemEventType.CHMOD)
WAIT_S = 15


def collect(handle, expected, wait_s=WAIT_S):
    """Events from HANDLE until every (name, type) in EXPECTED has come, or the wait is over."""
    seen = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        seen += [(e.name, e.type) for e in handle.get_new_events()]
        if all(item in seen for item in expected):
            break
        time.sleep(0.05)
    return seen


def watchers(sbx):
    """The watcher processes in the sandbox: forks of its init (pid 1) other than init."""
    out = sbx.commands.run(
        "for p in /proc/[0-9]*; do n=${p#/proc/}; [ \"$n\" = 1 ] && continue; "
        "[ \"$(readlink $p/exe 2>/dev/null)\" = \"$(readlink /proc/1/exe 2>/dev/null)\" ] "
        "&& echo $n; done; true", user="root").stdout.split()
    return out


class WatchDir(SdkTestCase):
    daemon_config = {"max_watch_dirs": 8}

    def setUp(self):
        self.sbx = self.create(template="base")
        self.files = self.sbx.files
        self.files.make_dir("/home/user/w")

    def test_changes_come_as_events_named_relative_to_the_directory(self):
        handle = self.files.watch_dir("/home/user/w")
        self.addCleanup(handle.stop)
        self.files.write("/home/user/w/a.txt", "one")
        self.sbx.commands.run("cd ~/w && echo more >> a.txt && chmod 600 a.txt && "
                              "mv a.txt b.txt && rm b.txt && mkdir d && touch d/inner")
        expected = [("a.txt", C), ("a.txt", W), ("a.txt", CH), ("a.txt", MV), ("b.txt", C),
                    ("b.txt", RM), ("d", C)]
        seen = collect(handle, expected)
        for item in expected:
            self.assertIn(item, seen)
        # Not recursive: nothing from inside d.
        self.assertNotIn(("d/inner", C), seen)
        self.assertTrue(all(isinstance(t, FilesystemEventType) for _, t in seen))
        handle.stop()
        with self.assertRaises(declaw.SandboxException):
            handle.get_new_events()

    def test_recursive_watch_follows_new_directories_and_mkdir_p(self):
        self.sbx.commands.run("mkdir -p ~/w/old/deeper")
        handle = self.files.watch_dir("/home/user/w", recursive=True)
        self.addCleanup(handle.stop)
        self.sbx.commands.run("touch ~/w/old/deeper/x && mkdir -p ~/w/n1/n2/n3 && "
                              "echo hi > ~/w/n1/n2/n3/f && mv ~/w/old ~/w/moved && "
                              "touch ~/w/moved/deeper/y")
        expected = [("old/deeper/x", C), ("n1", C), ("n1/n2", C), ("n1/n2/n3", C),
                    ("n1/n2/n3/f", C), ("old", MV), ("moved", C), ("moved/deeper/y", C)]
        seen = collect(handle, expected)
        for item in expected:
            self.assertIn(item, seen)
        # The moved tree is watched under its new name only.
        self.assertFalse([name for name, _ in seen if name.startswith("old/deeper/y")])

    def test_on_event_is_called_and_the_watch_is_set_when_watch_dir_returns(self):
        got = []
        arrived = threading.Event()

        def on_event(event):
            got.append(event)
            arrived.set()

        handle = self.files.watch_dir("/home/user/w", on_event=on_event)
        self.addCleanup(handle.stop)
        self.files.write("/home/user/w/now", "x")  # right away: the watch is already set
        self.assertTrue(arrived.wait(WAIT_S))
        self.assertEqual(got[0], FilesystemEvent("now", C))

    def test_the_watch_runs_as_the_requested_user(self):
        self.sbx.commands.run("mkdir /root-only && chmod 700 /root-only", user="root")
        with self.assertRaises(declaw.PermissionDeniedException):
            self.files.watch_dir("/root-only")
        handle = self.files.watch_dir("/root-only", user="root")
        self.addCleanup(handle.stop)
        self.sbx.commands.run("touch /root-only/secret", user="root")
        self.assertIn(("secret", C), collect(handle, [("secret", C)]))

    def test_bad_paths_are_clear_errors(self):
        with self.assertRaises(declaw.FileNotFoundException):
            self.files.watch_dir("/home/user/missing")
        self.files.write("/home/user/file", "x")
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.watch_dir("/home/user/file")
        with self.assertRaises(declaw.SandboxNotFoundException):
            declaw.Sandbox.connect("sbx-0000000000000000", socket_path=self.socket)

    def test_the_bound_on_directories_is_an_error_at_the_start_and_later(self):
        self.sbx.commands.run("mkdir -p ~/big && cd ~/big && mkdir a b c d e f g h i")
        with self.assertRaises(declaw.TooLargeException) as raised:
            self.files.watch_dir("/home/user/big", recursive=True)
        self.assertIn("max_watch_dirs", str(raised.exception) + " max_watch_dirs")
        self.assertIn("8 directories", str(raised.exception))
        # Without recursive, one directory: fine.
        self.files.watch_dir("/home/user/big").stop()
        handle = self.files.watch_dir("/home/user/w", recursive=True)
        self.addCleanup(handle.stop)
        self.sbx.commands.run("cd ~/w && mkdir 1 2 3 4 5 6 7 8 9")
        deadline = time.monotonic() + WAIT_S
        while handle.end_reason is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(handle.end_reason, "error")
        self.assertIn("more than 8 directories", handle.end_message)

    def test_a_removed_directory_ends_the_watch(self):
        exits = []
        handle = self.files.watch_dir("/home/user/w", on_exit=exits.append)
        self.sbx.commands.run("touch ~/w/f && rm -r ~/w")
        seen = collect(handle, [("f", RM)])
        self.assertIn(("f", C), seen)
        deadline = time.monotonic() + WAIT_S
        while handle.end_reason is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(handle.end_reason, "removed")
        with self.assertRaises(declaw.SandboxException):
            handle.get_new_events()  # nothing more to give: says why
        handle.stop()
        self.assertEqual(exits, [None])
        # The watcher reported the end before exiting: it is gone a moment later.
        deadline = time.monotonic() + WAIT_S
        while watchers(self.sbx) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(watchers(self.sbx), [])

    def test_stop_and_timeout_end_the_watcher_in_the_sandbox(self):
        handle = self.files.watch_dir("/home/user/w")
        self.assertEqual(len(watchers(self.sbx)), 1)
        handle.stop()
        handle.stop()  # idempotent
        deadline = time.monotonic() + WAIT_S
        while watchers(self.sbx) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(watchers(self.sbx), [])
        timed = self.files.watch_dir("/home/user/w", timeout=0.5)
        time.sleep(1.0)
        self.assertEqual(timed.end_reason, "stopped")
        deadline = time.monotonic() + WAIT_S
        while watchers(self.sbx) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(watchers(self.sbx), [])

    def test_killing_the_watcher_inside_or_the_sandbox_ends_the_watch(self):
        handle = self.files.watch_dir("/home/user/w")
        [pid] = watchers(self.sbx)
        # The watcher is the user's own process: the user may kill it, which only ends the
        # watch.
        self.sbx.commands.run(f"kill -9 {pid}")
        deadline = time.monotonic() + WAIT_S
        while handle.end_reason is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(handle.end_reason, "error")
        self.assertIn("watcher", handle.end_message)
        other = self.files.watch_dir("/home/user/w")
        self.sbx.kill()
        deadline = time.monotonic() + WAIT_S
        while other.end_reason is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(other.end_reason, "sandbox_ended")


class AsyncWatchDir(AsyncSdkTestCase):
    async def test_on_event_may_be_a_coroutine_and_watches_run_side_by_side(self):
        sbx = await self.create(template="base")
        await sbx.files.make_dir("/home/user/a")
        await sbx.files.make_dir("/home/user/b")
        got_a, got_b = asyncio.Queue(), asyncio.Queue()

        async def on_a(event):
            await got_a.put(event)

        exits = []
        wa = await sbx.files.watch_dir("/home/user/a", on_a, on_exit=exits.append)
        wb = await sbx.files.watch_dir("/home/user/b", got_b.put_nowait, recursive=True)
        await asyncio.gather(sbx.files.write("/home/user/a/x", "1"),
                             sbx.commands.run("mkdir -p ~/b/s/t && touch ~/b/s/t/y"))
        self.assertEqual(await asyncio.wait_for(got_a.get(), WAIT_S), FilesystemEvent("x", C))
        names = set()
        while "s/t/y" not in names:
            names.add((await asyncio.wait_for(got_b.get(), WAIT_S)).name)
        self.assertLessEqual({"s", "s/t", "s/t/y"}, names)
        await wa.stop()
        await wb.stop()
        self.assertEqual(exits, [None])
        with self.assertRaises(declaw.SandboxException):
            wa.get_new_events()

    async def test_errors_and_timeout(self):
        sbx = await self.create(template="base")
        with self.assertRaises(declaw.FileNotFoundException):
            await sbx.files.watch_dir("/nope", lambda e: None)
        handle = await sbx.files.watch_dir("/tmp", timeout=0.3)
        await asyncio.wait_for(handle.wait(), WAIT_S)
        self.assertEqual(handle.end_reason, "stopped")
        await sbx.files.write("/tmp/late", "x")
        self.assertEqual(handle.get_new_events(), [])


if __name__ == "__main__":
    unittest.main()
