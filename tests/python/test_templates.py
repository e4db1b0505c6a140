"""Templates through the SDK against a real declawd: Template.import_archive() from a path and
from a stream of unknown length, list/get/exists/delete, export and a second import of what was
exported, sbx.create_snapshot(), Template.build() from steps, and the errors: a bad name, an
existing one, a template in use, a built-in, a non-archive, an unknown template, and a failing
or hanging build step, which publishes nothing and leaves no sandbox behind.

The images are built here from Debian's busybox-static (tests/integration/images.py)."""
import io
import os
import shutil
import tarfile
import tempfile
import threading
import unittest

from support import SdkTestCase  # first: it puts tests/integration (images.py) on the path

from images import Image, Layer, busybox_layer, unique  # noqa: E402

import declaw
from declaw import (BuildException, CommandExitException, ConflictException,
                    InvalidArgumentException, NotFoundException, NotImplementedException,
                    Sandbox, Template, TemplateException, TemplateInfo, TemplateNotFoundException,
                    TemplateSource)

ALL_STATES = ["creating", "running", "paused", "killed"]


def image(*extra_layers, **config):
    config.setdefault("env", ["PATH=/bin:/usr/bin", "GREETING=image"])
    config.setdefault("workdir", "/tmp")
    return Image([busybox_layer(), *extra_layers], **config)


class PipeReader(io.RawIOBase):
    """The read end of a pipe a thread fills with data: a binary file of unknown length."""

    def __init__(self, data):
        super().__init__()
        read_fd, write_fd = os.pipe()
        self._file = os.fdopen(read_fd, "rb", buffering=0)
        self._writer = threading.Thread(target=self._write, args=(write_fd, data), daemon=True)
        self._writer.start()

    @staticmethod
    def _write(fd, data):
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BrokenPipeError:
            pass

    def readable(self):
        return True

    def fileno(self):
        return self._file.fileno()

    def readinto(self, buffer):
        return self._file.readinto(buffer)

    def close(self):
        self._file.close()
        self._writer.join(10)
        super().close()


class TemplateCase(SdkTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="declaw-sdk-templates-")
        cls.archive = image().oci_archive()
        cls.archive_path = os.path.join(cls.work, "busybox.tar")
        with open(cls.archive_path, "wb") as f:
            f.write(cls.archive)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def imported(self, archive=None, name=None, **kw):
        """A template imported from the class's archive file (or bytes), deleted after the
        test."""
        name = name or unique("sdk")
        source = self.archive_path if archive is None else io.BytesIO(archive)
        info = Template.import_archive(source, name, socket_path=self.socket, **kw)
        self.addCleanup(self.delete_quietly, name)
        return info

    def delete_quietly(self, name):
        try:
            Template.delete(name, socket_path=self.socket)
        except declaw.SandboxException:
            pass

    def exists(self, name):
        return Template.exists(name, socket_path=self.socket)

    def sandbox_count(self):
        """Every sandbox the daemon knows, killed ones included: a build that made one shows."""
        return len(list(Sandbox.list({"state": ALL_STATES}, socket_path=self.socket)))

    def run_ok(self, sbx, cmd, **kw):
        result = sbx.commands.run(cmd, **kw)
        self.assertEqual(result.exit_code, 0, result)
        return result.stdout


class ImportListGetDelete(TemplateCase):

    def test_an_archive_is_imported_from_a_path_and_described(self):
        info = self.imported()
        self.assertIsInstance(info, TemplateInfo)
        self.assertEqual(info.source, TemplateSource.IMPORT)
        self.assertEqual(info.source, "import")
        self.assertEqual(info.layer_count, 1)
        self.assertEqual(len(info.layers), 1)
        self.assertTrue(info.digest.startswith("sha256:"))
        self.assertTrue(info.layers[0].diff_id.startswith("sha256:"))
        self.assertGreater(info.size, 500_000)  # busybox itself
        self.assertIsNotNone(info.created_at.tzinfo)
        self.assertEqual(info.config.env, ["PATH=/bin:/usr/bin", "GREETING=image"])
        self.assertEqual(info.config.working_dir, "/tmp")
        self.assertEqual(info.sandboxes, 0)
        self.assertEqual(Template.get(info.name, socket_path=self.socket), info)
        self.assertTrue(self.exists(info.name))

    def test_list_has_the_built_ins_first_then_the_imports(self):
        info = self.imported()
        listed = Template.list(socket_path=self.socket)
        names = [t.name for t in listed]
        self.assertEqual(names[:3], ["base", "python", "node"])
        self.assertEqual({t.source for t in listed[:3]}, {TemplateSource.BUILTIN})
        self.assertIn(info.name, names)
        self.assertEqual(listed[names.index(info.name)].digest, info.digest)

    def test_an_archive_of_unknown_length_is_streamed_chunked_to_the_same_template(self):
        first = self.imported()
        second = Template.import_archive(PipeReader(self.archive), unique("sdk-pipe"),
                                         socket_path=self.socket)
        self.addCleanup(self.delete_quietly, second.name)
        self.assertEqual(second.digest, first.digest)
        self.assertEqual([l.diff_id for l in second.layers], [l.diff_id for l in first.layers])

    def test_a_sandbox_runs_on_an_imported_template(self):
        info = self.imported()
        sbx = self.create(template=info.name)
        self.assertEqual(sbx.get_info().template_id, info.name)
        self.assertEqual(self.run_ok(sbx, 'echo "$GREETING"; pwd; busybox | head -1 | cut -c1-7'),
                         "image\n/tmp\nBusyBox\n")
        self.assertEqual(Template.get(info.name, socket_path=self.socket).sandboxes, 1)

    def test_an_existing_name_is_a_conflict_unless_replaced(self):
        first = self.imported()
        changed = image(Layer().file("extra.txt", "x")).oci_archive()
        with self.assertRaises(ConflictException) as caught:
            Template.import_archive(io.BytesIO(changed), first.name, socket_path=self.socket)
        self.assertEqual(caught.exception.status, 409)
        self.assertEqual(Template.get(first.name, socket_path=self.socket).digest, first.digest)
        replaced = Template.import_archive(io.BytesIO(changed), first.name, replace=True,
                                           socket_path=self.socket)
        self.assertEqual(replaced.layer_count, 2)
        self.assertNotEqual(replaced.digest, first.digest)

    def test_a_built_in_name_cannot_be_imported_over(self):
        with self.assertRaises(ConflictException):
            Template.import_archive(self.archive_path, "base", replace=True,
                                    socket_path=self.socket)

    def test_a_bad_name_is_an_invalid_argument_and_nothing_is_imported(self):
        before = [t.name for t in Template.list(socket_path=self.socket)]
        for bad in ("a b", "-dash", ".hidden", "x" * 129):
            with self.subTest(name=bad):
                with self.assertRaises(InvalidArgumentException) as caught:
                    Template.import_archive(self.archive_path, bad, socket_path=self.socket)
                self.assertEqual(caught.exception.status, 400)
                with self.assertRaises(InvalidArgumentException):
                    Template.get(bad, socket_path=self.socket)
        self.assertEqual([t.name for t in Template.list(socket_path=self.socket)], before)

    def test_something_that_is_not_an_archive_is_refused_and_not_listed(self):
        name = unique("sdk-junk")
        with self.assertRaises(InvalidArgumentException) as caught:
            Template.import_archive(io.BytesIO(b"this is no tar" * 100), name,
                                    socket_path=self.socket)
        self.assertEqual(caught.exception.status, 400)
        self.assertFalse(self.exists(name))

    def test_an_unknown_template_is_not_found(self):
        with self.assertRaises(TemplateNotFoundException) as caught:
            Template.get("no-such-template", socket_path=self.socket)
        self.assertIsInstance(caught.exception, NotFoundException)
        self.assertIsInstance(caught.exception, TemplateException)
        self.assertEqual(caught.exception.status, 404)
        self.assertFalse(self.exists("no-such-template"))
        self.assertFalse(Template.delete("no-such-template", socket_path=self.socket))
        with self.assertRaises(InvalidArgumentException):
            self.create(template="no-such-template")

    def test_a_template_in_use_cannot_be_deleted_until_its_sandboxes_are_gone(self):
        info = self.imported()
        sbx = self.create(template=info.name)
        with self.assertRaises(ConflictException) as caught:
            Template.delete(info.name, socket_path=self.socket)
        self.assertEqual(caught.exception.status, 409)
        self.assertNotIsInstance(caught.exception, declaw.SandboxNotRunningException)
        self.assertTrue(self.exists(info.name))
        sbx.kill()
        self.assertTrue(Template.delete(info.name, socket_path=self.socket))
        self.assertFalse(self.exists(info.name))

    def test_a_built_in_cannot_be_deleted(self):
        for builtin in ("base", "python"):
            with self.subTest(template=builtin):
                with self.assertRaises(ConflictException):
                    Template.delete(builtin, socket_path=self.socket)


class Export(TemplateCase):

    def test_an_export_imports_again_to_the_same_digests(self):
        info = self.imported()
        path = os.path.join(self.work, "exported.tar")
        size = Template.export(info.name, path, socket_path=self.socket)
        self.assertEqual(size, os.path.getsize(path))
        with tarfile.open(path) as tar:
            names = tar.getnames()
        self.assertIn("index.json", names)
        self.assertIn("oci-layout", names)
        self.assertIn("blobs/sha256/" + info.digest[7:], names)
        again = Template.import_archive(path, unique("sdk-again"), socket_path=self.socket)
        self.addCleanup(self.delete_quietly, again.name)
        self.assertEqual(again.digest, info.digest)
        self.assertEqual([l.digest for l in again.layers], [l.digest for l in info.layers])

    def test_an_export_goes_to_a_file_object_too(self):
        info = self.imported()
        buf = io.BytesIO()
        size = Template.export(info.name, buf, socket_path=self.socket)
        self.assertEqual(size, len(buf.getvalue()))
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            self.assertIn("index.json", tar.getnames())

    def test_nothing_to_export_creates_no_file(self):
        path = os.path.join(self.work, "never.tar")
        with self.assertRaises(TemplateNotFoundException):
            Template.export("no-such-template", path, socket_path=self.socket)
        with self.assertRaises(ConflictException):
            Template.export("base", path, socket_path=self.socket)
        self.assertFalse(os.path.exists(path))


class Snapshots(TemplateCase):

    def test_a_snapshot_is_a_template_that_new_sandboxes_start_from(self):
        base = self.imported()
        sbx = self.create(template=base.name)
        self.run_ok(sbx, "echo changed > /etc/changed && rm /bin/sed", user="root")
        name = unique("sdk-snap")
        snap = sbx.create_snapshot(name)
        self.addCleanup(self.delete_quietly, name)
        self.assertIsInstance(snap, TemplateInfo)
        self.assertEqual(snap.source, TemplateSource.SNAPSHOT)
        self.assertEqual(snap.parent, base.name)
        self.assertEqual(snap.layer_count, 2)
        self.assertTrue(sbx.is_running())  # the snapshotted sandbox runs on
        child = self.create(template=name)
        self.assertEqual(self.run_ok(child, "cat /etc/changed; ls /bin/sed 2>&1 || true"),
                         "changed\nls: /bin/sed: No such file or directory\n")

    def test_a_snapshot_name_that_exists_is_a_conflict_unless_replaced(self):
        sbx = self.create()
        name = unique("sdk-snap")
        first = sbx.create_snapshot(name)
        self.addCleanup(self.delete_quietly, name)
        self.assertEqual(first.base, "base")
        with self.assertRaises(ConflictException):
            sbx.create_snapshot(name)
        self.run_ok(sbx, "echo later > /tmp/later")
        replaced = sbx.create_snapshot(name, replace=True)
        self.assertEqual(replaced.name, name)
        self.assertEqual(self.run_ok(self.create(template=name), "cat /tmp/later"), "later\n")
        with self.assertRaises(InvalidArgumentException):
            sbx.create_snapshot("no spaces allowed")
        with self.assertRaises(ConflictException):
            sbx.create_snapshot("base", replace=True)


class Build(TemplateCase):

    def test_steps_run_in_order_as_root_with_the_envs_and_the_result_is_published(self):
        base = self.imported()
        before = self.sandbox_count()
        name = unique("sdk-build")
        info = Template.build(name, from_template=base.name,
                              steps=["echo one > /etc/steps",
                                     "echo two >> /etc/steps && id -u >> /etc/steps",
                                     'mkdir -p /opt/app && echo "$GREETING" > /opt/app/greeting'],
                              envs={"GREETING": "from-build"}, allow_internet_access=False,
                              socket_path=self.socket)
        self.addCleanup(self.delete_quietly, name)
        self.assertEqual(info.name, name)
        self.assertEqual(info.source, TemplateSource.SNAPSHOT)
        self.assertEqual(info.parent, base.name)
        # The build's own sandbox is killed: one more sandbox known, and none of it still live.
        self.assertEqual(self.sandbox_count(), before + 1)
        self.assertEqual(self.running_ids(), set())
        sbx = self.create(template=name)
        self.assertEqual(self.run_ok(sbx, "cat /etc/steps /opt/app/greeting"),
                         "one\ntwo\n0\nfrom-build\n")

    def test_a_build_from_a_built_in_sits_on_it(self):
        name = unique("sdk-build")
        lines = []
        info = Template.build(name, steps=["echo tool > /usr/local/bin/tool-marker"],
                              allow_internet_access=False, on_stdout=lines.append,
                              socket_path=self.socket)
        self.addCleanup(self.delete_quietly, name)
        self.assertEqual(info.base, "base")
        sbx = self.create(template=name)
        self.assertEqual(self.run_ok(sbx, "cat /usr/local/bin/tool-marker"), "tool\n")
        self.assertFalse(os.path.exists("/usr/local/bin/tool-marker"))

    def test_a_failing_step_raises_with_its_output_and_publishes_nothing(self):
        before = self.sandbox_count()
        name = unique("sdk-build")
        with self.assertRaises(BuildException) as caught:
            Template.build(name, steps=["echo first", "echo out; echo err >&2; exit 3",
                                        "touch /never"],
                           allow_internet_access=False, socket_path=self.socket)
        e = caught.exception
        self.assertIsInstance(e, CommandExitException)
        self.assertIsInstance(e, TemplateException)
        self.assertEqual((e.step, e.cmd, e.exit_code), (1, "echo out; echo err >&2; exit 3", 3))
        self.assertEqual((e.stdout, e.stderr), ("out\n", "err\n"))
        self.assertIn("step 2/3", str(e))
        self.assertIn("err", str(e))
        self.assertFalse(self.exists(name))
        self.assertEqual(self.sandbox_count(), before + 1)
        self.assertEqual(self.running_ids(), set())

    def test_a_step_past_its_timeout_fails_the_build(self):
        name = unique("sdk-build")
        with self.assertRaises(BuildException) as caught:
            Template.build(name, steps=["echo started; sleep 60"], step_timeout=1,
                           allow_internet_access=False, socket_path=self.socket)
        self.assertEqual(caught.exception.exit_code, 124)
        self.assertIn("timed out", str(caught.exception))
        self.assertFalse(self.exists(name))
        self.assertEqual(self.running_ids(), set())

    def test_a_name_that_could_not_be_published_fails_before_any_sandbox_is_made(self):
        taken = self.imported()
        before = self.sandbox_count()
        with self.assertRaises(ConflictException):
            Template.build(taken.name, steps=["true"], allow_internet_access=False,
                           socket_path=self.socket)
        with self.assertRaises(ConflictException):
            Template.build("python", steps=["true"], replace=True, allow_internet_access=False,
                           socket_path=self.socket)
        with self.assertRaises(InvalidArgumentException):
            Template.build("bad name", steps=["true"], allow_internet_access=False,
                           socket_path=self.socket)
        with self.assertRaises(InvalidArgumentException):
            Template.build(unique("sdk-build"), steps=[], socket_path=self.socket)
        self.assertEqual(self.sandbox_count(), before)
        self.assertEqual(Template.get(taken.name, socket_path=self.socket).digest, taken.digest)

    def test_replace_builds_over_an_existing_template(self):
        taken = self.imported()
        info = Template.build(taken.name, from_template=taken.name, steps=["touch /etc/rebuilt"],
                              replace=True, allow_internet_access=False,
                              socket_path=self.socket)
        self.assertEqual(info.layer_count, 2)
        self.assertEqual(self.run_ok(self.create(template=taken.name), "ls /etc/rebuilt"),
                         "/etc/rebuilt\n")

    def test_internet_access_is_asked_by_default_as_sandbox_create_does(self):
        # Networking is off in this test daemon, so the default is refused and nothing is built.
        name = unique("sdk-build")
        with self.assertRaises(NotImplementedException):
            Template.build(name, steps=["true"], socket_path=self.socket)
        self.assertFalse(self.exists(name))


if __name__ == "__main__":
    unittest.main()
