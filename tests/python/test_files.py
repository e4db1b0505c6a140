"""sbx.files: every method and parameter, text and binary contents, every kind of data write()
takes, the `user` parameter, and the errors."""
import datetime
import io
import os
import tempfile
import unittest

from support import MIB, SdkTestCase

import declaw
from declaw import EntryInfo, FileType, WriteEntry, WriteInfo

ALL_BYTES = bytes(range(256)) * 3


class Files(SdkTestCase):
    shared_sandbox = {"template": "base"}

    @property
    def files(self):
        return self.shared.files

    def test_text_round_trips_including_non_ascii(self):
        text = "API_KEY=sk-secret\nhéllo wörld ✓ 日本語 🚀\n"
        info = self.files.write("/tmp/text.txt", text)
        self.assertEqual(info.size, len(text.encode()))
        self.assertEqual(self.files.read("/tmp/text.txt"), text)
        self.assertEqual(self.files.read("/tmp/text.txt", format="text"), text)

    def test_binary_round_trips_in_every_format(self):
        self.files.write("/tmp/all.bin", ALL_BYTES)
        data = self.files.read("/tmp/all.bin", format="bytes")
        self.assertIsInstance(data, bytearray)
        self.assertEqual(data, ALL_BYTES)
        stream = self.files.read("/tmp/all.bin", format="stream")
        self.assertEqual(b"".join(stream), ALL_BYTES)
        text = self.files.read("/tmp/all.bin")
        self.assertEqual(text, ALL_BYTES.decode("utf-8", errors="replace"))
        self.assertEqual(self.shared.commands.run("sha256sum /tmp/all.bin").stdout.split()[0],
                         __import__("hashlib").sha256(ALL_BYTES).hexdigest())

    def test_empty_files_round_trip(self):
        self.assertEqual(self.files.write("/tmp/empty", b"").size, 0)
        self.assertEqual(self.files.read("/tmp/empty", format="bytes"), b"")
        self.assertEqual(list(self.files.read("/tmp/empty", format="stream")), [])

    def test_write_takes_bytearray_and_memoryview(self):
        self.files.write("/tmp/ba", bytearray(b"bytearray"))
        self.files.write("/tmp/mv", memoryview(b"xxmemoryviewxx")[2:-2])
        self.assertEqual(self.files.read("/tmp/ba"), "bytearray")
        self.assertEqual(self.files.read("/tmp/mv"), "memoryview")

    def test_write_streams_file_objects_of_every_kind(self):
        with tempfile.TemporaryFile() as real:  # anonymous: nothing is left on the host
            real.write(b"skipped|" + ALL_BYTES)
            real.seek(len(b"skipped|"))  # from the current position, as a read would
            self.assertEqual(self.files.write("/tmp/real", real).size, len(ALL_BYTES))
        self.assertEqual(self.files.read("/tmp/real", format="bytes"), ALL_BYTES)

        self.files.write("/tmp/bytesio", io.BytesIO(ALL_BYTES))
        self.assertEqual(self.files.read("/tmp/bytesio", format="bytes"), ALL_BYTES)

        self.files.write("/tmp/stringio", io.StringIO("text file ✓"))
        self.assertEqual(self.files.read("/tmp/stringio"), "text file ✓")

        read_end, write_end = os.pipe()  # not seekable: sent chunked
        os.write(write_end, ALL_BYTES)
        os.close(write_end)
        with open(read_end, "rb", buffering=0) as pipe:
            self.assertEqual(self.files.write("/tmp/pipe", pipe).size, len(ALL_BYTES))
        self.assertEqual(self.files.read("/tmp/pipe", format="bytes"), ALL_BYTES)

    def test_write_takes_an_iterable_of_chunks(self):
        chunks = (part for part in [b"one,", b"", "two,", bytearray(b"three")])
        self.assertEqual(self.files.write("/tmp/chunks", chunks).size, len("one,two,three"))
        self.assertEqual(self.files.read("/tmp/chunks"), "one,two,three")

    def test_write_creates_parents_truncates_and_describes_the_file(self):
        self.files.write("/tmp/deep/er/file.txt", "a long first version")
        info = self.files.write("/tmp/deep/er/file.txt", "short")
        self.assertIsInstance(info, EntryInfo)
        self.assertIs(WriteInfo, EntryInfo)
        self.assertEqual((info.name, info.path, info.type, info.size),
                         ("file.txt", "/tmp/deep/er/file.txt", FileType.FILE, 5))
        self.assertEqual(self.files.read("/tmp/deep/er/file.txt"), "short")

    def test_write_files_writes_each_entry_in_order(self):
        infos = self.files.write_files([
            {"path": "/tmp/batch/a.txt", "data": "alpha"},
            WriteEntry(path="/tmp/batch/b.bin", data=b"\x00\x01"),
            WriteEntry(path="/tmp/batch/c.txt", data=io.BytesIO(b"gamma")),
        ])
        self.assertEqual([i.path for i in infos],
                         ["/tmp/batch/a.txt", "/tmp/batch/b.bin", "/tmp/batch/c.txt"])
        self.assertEqual(self.files.read("/tmp/batch/b.bin", format="bytes"), b"\x00\x01")
        self.assertEqual(self.files.read("/tmp/batch/c.txt"), "gamma")
        self.assertEqual(self.files.write_files([]), [])
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.write_files([{"path": "/tmp/batch/no-data"}])

    def test_list_describes_entries_and_descends_to_depth(self):
        self.files.write("/tmp/tree/top.txt", "1234")
        self.files.write("/tmp/tree/sub/inner.txt", "x")
        self.shared.commands.run("ln -s top.txt /tmp/tree/link")
        shallow = {e.name: e for e in self.files.list("/tmp/tree")}
        self.assertEqual(set(shallow), {"top.txt", "sub", "link"})
        top = shallow["top.txt"]
        self.assertEqual((top.path, top.type, top.size, top.mode, top.permissions),
                         ("/tmp/tree/top.txt", FileType.FILE, 4, 0o644, "rw-r--r--"))
        self.assertEqual((top.owner, top.group), ("user", "user"))
        self.assertIsInstance(top.modified_time, datetime.datetime)
        self.assertIsNone(top.symlink_target)
        self.assertEqual(shallow["sub"].type, FileType.DIR)
        self.assertEqual(shallow["sub"].type, "dir")
        self.assertEqual((shallow["link"].type, shallow["link"].symlink_target),
                         (FileType.SYMLINK, "top.txt"))
        deep = {e.path for e in self.files.list("/tmp/tree", depth=2)}
        self.assertIn("/tmp/tree/sub/inner.txt", deep)
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.list("/tmp/tree", depth=0)

    def test_exists(self):
        self.files.write("/tmp/here", "x")
        self.assertTrue(self.files.exists("/tmp/here"))
        self.assertTrue(self.files.exists("/tmp"))
        self.assertFalse(self.files.exists("/tmp/not-here"))
        self.assertFalse(self.files.exists("/tmp/here/below-a-file"))

    def test_get_info_describes_a_symlink_without_following_it(self):
        self.shared.commands.run("ln -sf /etc/hostname /tmp/host-link")
        info = self.files.get_info("/tmp/host-link")
        self.assertEqual((info.type, info.symlink_target), (FileType.SYMLINK, "/etc/hostname"))
        self.assertEqual(self.files.get_info("/tmp").type, FileType.DIR)

    def test_remove_deletes_files_and_whole_directories(self):
        self.files.write("/tmp/gone/a/b.txt", "x")
        self.files.write("/tmp/gone.txt", "x")
        self.assertIsNone(self.files.remove("/tmp/gone.txt"))
        self.files.remove("/tmp/gone")
        self.assertFalse(self.files.exists("/tmp/gone"))
        self.assertFalse(self.files.exists("/tmp/gone.txt"))
        with self.assertRaises(declaw.NotFoundException):
            self.files.remove("/tmp/gone")

    def test_rename_moves_and_describes_the_new_path(self):
        self.files.write("/tmp/old-name.txt", "content")
        info = self.files.rename("/tmp/old-name.txt", "/tmp/new-name.txt")
        self.assertEqual((info.path, info.name, info.size),
                         ("/tmp/new-name.txt", "new-name.txt", 7))
        self.assertFalse(self.files.exists("/tmp/old-name.txt"))
        self.assertEqual(self.files.read("/tmp/new-name.txt"), "content")
        with self.assertRaises(declaw.NotFoundException):
            self.files.rename("/tmp/old-name.txt", "/tmp/x")

    def test_make_dir_says_whether_it_created_and_refuses_a_file(self):
        self.assertTrue(self.files.make_dir("/tmp/made/with/parents"))
        self.assertFalse(self.files.make_dir("/tmp/made/with/parents"))
        self.assertEqual(self.files.get_info("/tmp/made/with").type, FileType.DIR)
        self.files.write("/tmp/a-file", "x")
        with self.assertRaises(declaw.ConflictException) as caught:
            self.files.make_dir("/tmp/a-file")
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)

    def test_user_root_reaches_what_user_cannot(self):
        info = self.files.write("/root/secret.txt", "root only", user="root")
        self.assertEqual((info.owner, info.group), ("root", "root"))
        self.assertEqual(self.files.read("/root/secret.txt", user="root"), "root only")
        self.shared.commands.run("chmod 600 /root/secret.txt", user="root")
        self.assertTrue(self.files.exists("/root/secret.txt", user="root"))
        self.assertEqual(self.files.get_info("/root/secret.txt", user="root").mode, 0o600)
        self.assertEqual([e.name for e in self.files.list("/root", user="root")
                          if e.name == "secret.txt"], ["secret.txt"])
        self.assertTrue(self.files.make_dir("/root/d", user="root"))
        self.files.rename("/root/d", "/root/e", user="root")
        self.files.remove("/root/e", user="root")
        with self.assertRaises(declaw.PermissionDeniedException) as caught:
            self.files.read("/root/secret.txt")
        error = caught.exception
        self.assertIsInstance(error, declaw.AuthenticationException)
        self.assertIsInstance(error, PermissionError)
        self.assertEqual((error.code, error.status), ("forbidden", 403))
        self.assertIn('user="root"', str(error))
        with self.assertRaises(declaw.PermissionDeniedException):
            self.files.write("/etc/not-mine", "x")
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.read("/tmp", user="nobody")

    def test_every_file_method_takes_user_and_request_timeout(self):
        kw = {"user": "root", "request_timeout": 30}
        self.assertTrue(self.files.make_dir("/root/kw", **kw))
        self.files.write_files([{"path": "/root/kw/a", "data": "1"}], **kw)
        self.assertEqual(self.files.write("/root/kw/b", "2", **kw).owner, "root")
        self.assertEqual(self.files.read("/root/kw/a", **kw), "1")
        self.assertEqual(self.files.read("/root/kw/a", format="bytes", **kw), b"1")
        self.assertEqual(b"".join(self.files.read("/root/kw/b", format="stream", **kw)), b"2")
        self.assertEqual(len(self.files.list("/root/kw", depth=1, **kw)), 2)
        self.assertTrue(self.files.exists("/root/kw/a", **kw))
        self.assertEqual(self.files.get_info("/root/kw/a", **kw).group, "root")
        self.assertEqual(self.files.rename("/root/kw/a", "/root/kw/c", **kw).name, "c")
        self.files.remove("/root/kw", **kw)
        self.assertFalse(self.files.exists("/root/kw", **kw))

    def test_a_large_upload_refused_up_front_raises_the_daemons_error(self):
        # The daemon answers before reading the body and closes; the SDK still reports the
        # answer (not a broken pipe) and the next request works.
        with self.assertRaises(declaw.PermissionDeniedException):
            self.files.write("/etc/refused.bin", bytes(32 * MIB))
        self.assertTrue(self.files.exists("/etc"))

    def test_awkward_path_characters_round_trip(self):
        path = "/tmp/odd dir/a+b&c=d%20e#f?g;h 日本.txt"
        self.files.write(path, "odd")
        self.assertEqual(self.files.read(path), "odd")
        self.assertEqual([e.path for e in self.files.list("/tmp/odd dir")], [path])

    def test_relative_and_home_paths_resolve_against_home_user(self):
        self.assertEqual(self.files.write("relative.txt", "r").path, "/home/user/relative.txt")
        self.assertEqual(self.files.read("~/relative.txt"), "r")

    def test_errors_name_the_problem_and_the_sandbox(self):
        with self.assertRaises(declaw.NotFoundException) as caught:
            self.files.read("/tmp/missing.txt")
        error = caught.exception
        self.assertEqual((error.code, error.status, error.sandbox_id),
                         ("not_found", 404, self.shared.sandbox_id))
        self.assertIn("/tmp/missing.txt", str(error))
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.read("/tmp")  # a directory
        with self.assertRaises(declaw.InvalidArgumentException):
            self.files.read("/tmp/x", format="json")

    def test_a_stream_closed_early_does_not_break_later_requests(self):
        self.files.write("/tmp/three-mib", bytes(3 * MIB))
        stream = self.files.read("/tmp/three-mib", format="stream")
        self.assertEqual(len(next(iter(stream))), MIB)
        stream.close()
        unread = self.files.read("/tmp/three-mib", format="stream")
        del unread  # dropped without reading: its connection is closed, not reused
        self.assertEqual(len(self.files.read("/tmp/three-mib", format="bytes")), 3 * MIB)
        with self.files.read("/tmp/three-mib", format="stream") as stream:
            self.assertEqual(sum(len(c) for c in stream), 3 * MIB)


if __name__ == "__main__":
    unittest.main()
