"""AsyncTemplate against a real daemon: list, get, exists, delete, a build from steps (its
output to a coroutine callback), export and import of what was built, and the errors: an
unknown template, a failing step."""
import io
import os
import shutil
import tempfile
import unittest
import uuid

from async_support import AsyncSdkTestCase

from images import Image, busybox_layer  # noqa: E402  (async_support put it on the path)

import declaw
from declaw import AsyncSandbox, AsyncTemplate, TemplateSource


class AsyncTemplates(AsyncSdkTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="declaw-sdk-async-templates-")
        cls.archive = Image([busybox_layer()], env=["PATH=/bin:/usr/bin"]).oci_archive()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    async def test_list_get_exists_and_an_unknown_template(self):
        names = [t.name for t in await AsyncTemplate.list(socket_path=self.socket)]
        self.assertEqual(names[:3], ["base", "python", "node"])
        base = await AsyncTemplate.get("base", socket_path=self.socket)
        self.assertEqual(base.source, TemplateSource.BUILTIN)
        self.assertTrue(await AsyncTemplate.exists("python", socket_path=self.socket))
        self.assertFalse(await AsyncTemplate.exists("no-such", socket_path=self.socket))
        with self.assertRaises(declaw.TemplateNotFoundException) as caught:
            await AsyncTemplate.get("no-such", socket_path=self.socket)
        self.assertIsInstance(caught.exception, declaw.NotFoundException)
        self.assertFalse(await AsyncTemplate.delete("no-such", socket_path=self.socket))

    async def test_import_build_export_import_again_and_delete(self):
        image, name, copy = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("i", "t", "c"))
        imported = await AsyncTemplate.import_archive(io.BytesIO(self.archive), image,
                                                      socket_path=self.socket)
        self.assertEqual((imported.name, imported.source), (image, TemplateSource.IMPORT))
        lines = []

        async def on_stdout(line):
            lines.append(line)

        built = await AsyncTemplate.build(
            name, from_template=image, allow_internet_access=False, on_stdout=on_stdout,
            steps=["echo built > /etc/built.txt", "echo step two"], socket_path=self.socket)
        self.assertEqual((built.name, built.source, built.parent),
                         (name, TemplateSource.SNAPSHOT, image))
        self.assertEqual(lines, ["step two\n"])
        sbx = await self.create(template=name)
        self.assertEqual(await sbx.files.read("/etc/built.txt"), "built\n")
        await sbx.kill()

        archive = os.path.join(self.work, "built.tar")
        with self.assertRaises(declaw.ConflictException):
            await AsyncTemplate.export("base", archive, socket_path=self.socket)
        self.assertFalse(os.path.exists(archive), "a failed export left a file")
        size = await AsyncTemplate.export(name, archive, socket_path=self.socket)
        self.assertEqual(size, os.path.getsize(archive))
        again = await AsyncTemplate.import_archive(archive, copy, socket_path=self.socket)
        self.assertEqual(again.digest, (await AsyncTemplate.get(name,
                                                                socket_path=self.socket)).digest)
        for template in (copy, name, image):
            self.assertTrue(await AsyncTemplate.delete(template, socket_path=self.socket))
        self.assertFalse(await AsyncTemplate.exists(name, socket_path=self.socket))

    async def test_a_failing_step_publishes_nothing_and_leaves_no_sandbox(self):
        name = f"t-{uuid.uuid4().hex[:8]}"
        with self.assertRaises(declaw.BuildException) as caught:
            await AsyncTemplate.build(name, steps=["true", "echo oops >&2; exit 4"],
                                      allow_internet_access=False, socket_path=self.socket)
        self.assertEqual((caught.exception.step, caught.exception.exit_code), (1, 4))
        self.assertIn("oops", caught.exception.stderr)
        self.assertFalse(await AsyncTemplate.exists(name, socket_path=self.socket))
        self.assertEqual(await AsyncSandbox.list(socket_path=self.socket), [])


if __name__ == "__main__":
    unittest.main()
