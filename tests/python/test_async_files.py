"""AsyncSandbox's files against a real daemon: write and read (text, bytes, stream), list,
exists, get_info, remove, rename, make_dir, write_files, and FileNotFoundException (also a
NotFoundException and a FileNotFoundError) for a missing path."""
import asyncio
import io
import unittest

from async_support import AsyncSdkTestCase

import declaw
from declaw import FileType


class AsyncFiles(AsyncSdkTestCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.sbx = await self.create()
        self.files = self.sbx.files

    async def test_write_and_read_back_as_text_bytes_and_a_stream(self):
        info = await self.files.write("/home/user/dir/note.txt", "héllo\n")
        self.assertEqual((info.path, info.size, info.type), ("/home/user/dir/note.txt", 7,
                                                             FileType.FILE))
        self.assertEqual(await self.files.read("dir/note.txt"), "héllo\n")
        self.assertEqual(await self.files.read("~/dir/note.txt", format="bytes"),
                         bytearray("héllo\n".encode()))
        payload = bytes(range(256)) * 8192  # 2 MiB, more than one chunk
        await self.files.write("/tmp/blob", payload)
        chunks = [chunk async for chunk in await self.files.read("/tmp/blob", format="stream")]
        self.assertEqual(b"".join(chunks), payload)
        async with await self.files.read("/tmp/blob", format="stream") as body:
            first = await body.__anext__()  # then left early: its connection is closed
        self.assertEqual(first, payload[:len(first)])
        self.assertEqual(await self.files.read("dir/note.txt"), "héllo\n")
        with self.assertRaises(declaw.InvalidArgumentException):
            await self.files.read("/tmp/blob", format="json")

    async def test_write_takes_file_objects_and_chunk_iterables(self):
        await self.files.write("/tmp/from-file", io.BytesIO(b"x" * 100000))
        self.assertEqual((await self.files.get_info("/tmp/from-file")).size, 100000)
        await self.files.write("/tmp/from-chunks", (part for part in (b"ab", "cd", b"ef")))
        self.assertEqual(await self.files.read("/tmp/from-chunks"), "abcdef")

        async def produce():
            for n in range(3):
                await asyncio.sleep(0)
                yield f"{n};".encode()

        await self.files.write("/tmp/from-async", produce())
        self.assertEqual(await self.files.read("/tmp/from-async"), "0;1;2;")
        written = await self.files.write_files([
            declaw.WriteEntry(path="/tmp/w/a", data="A"), {"path": "/tmp/w/b", "data": b"B"}])
        self.assertEqual([w.path for w in written], ["/tmp/w/a", "/tmp/w/b"])

    async def test_list_exists_info_rename_make_dir_and_remove(self):
        self.assertTrue(await self.files.make_dir("/tmp/tree/sub"))
        self.assertFalse(await self.files.make_dir("/tmp/tree/sub"))
        await self.files.write("/tmp/tree/sub/f.txt", "f")
        names = sorted(e.path for e in await self.files.list("/tmp/tree", depth=2))
        self.assertEqual(names, ["/tmp/tree/sub", "/tmp/tree/sub/f.txt"])
        self.assertEqual((await self.files.get_info("/tmp/tree/sub")).type, FileType.DIR)
        moved = await self.files.rename("/tmp/tree/sub/f.txt", "/tmp/tree/g.txt")
        self.assertEqual(moved.path, "/tmp/tree/g.txt")
        self.assertTrue(await self.files.exists("/tmp/tree/g.txt"))
        self.assertFalse(await self.files.exists("/tmp/tree/sub/f.txt"))
        self.assertIsNone(await self.files.remove("/tmp/tree"))
        self.assertFalse(await self.files.exists("/tmp/tree"))
        with self.assertRaises(declaw.ConflictException):
            await self.files.write("/tmp/plain", "x")
            await self.files.make_dir("/tmp/plain")
        with self.assertRaises(declaw.PermissionDeniedException):
            await self.files.write("/root/secret", "x")

    async def test_a_missing_path_is_FileNotFoundException_in_every_call(self):
        missing = "/tmp/no/such/file"
        for name, call in (("read", lambda: self.files.read(missing)),
                           ("read stream", lambda: self.files.read(missing, format="stream")),
                           ("list", lambda: self.files.list(missing)),
                           ("get_info", lambda: self.files.get_info(missing)),
                           ("remove", lambda: self.files.remove(missing)),
                           ("rename", lambda: self.files.rename(missing, "/tmp/elsewhere"))):
            with self.subTest(call=name):
                with self.assertRaises(declaw.FileNotFoundException) as caught:
                    await call()
                error = caught.exception
                self.assertIsInstance(error, declaw.NotFoundException)
                self.assertIsInstance(error, FileNotFoundError)
                self.assertNotIsInstance(error, declaw.SandboxNotFoundException)
                self.assertEqual((error.status, error.code, error.sandbox_id),
                                 (404, "not_found", self.sbx.sandbox_id))

    async def test_the_blocking_client_raises_the_same(self):
        blocking = declaw.Sandbox(self.sbx.sandbox_id, socket_path=self.socket)
        with self.assertRaises(declaw.FileNotFoundException):
            blocking.files.read("/tmp/no-such-file")
        with self.assertRaises(declaw.FileNotFoundException):
            blocking.files.remove("/tmp/no-such-file")

    async def test_many_files_at_once(self):
        await asyncio.gather(*(self.files.write(f"/tmp/many/{n}", str(n)) for n in range(20)))
        contents = await asyncio.gather(*(self.files.read(f"/tmp/many/{n}") for n in range(20)))
        self.assertEqual(contents, [str(n) for n in range(20)])


if __name__ == "__main__":
    unittest.main()
