"""declawctl's template verbs and `snapshot` against a real daemon: an image archive imported from
a file and from a pipe (chunked) is what `template ls` and `inspect` show; export writes it back
(to -o FILE or a redirected stdout, never to a terminal) and it imports again to the same
digests; rm is refused while a sandbox uses a template; snapshot and build publish templates
that new sandboxes start from; a failing build step prints its output and exit code, publishes
nothing and leaves no sandbox; a big import draws a progress bar on a terminal and nothing
elsewhere.

The images are built here from Debian's busybox-static (images.py)."""
import json
import os
import pty
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import unittest

from harness import DECLAWCTL, DaemonTestCase
from images import Image, Layer, busybox_layer, unique

ALL_STATES = "creating,running,paused,killed"


def image(*extra_layers):
    return Image([busybox_layer(), *extra_layers], env=["PATH=/bin:/usr/bin", "FROM_IMAGE=yes"],
                 workdir="/tmp")


def read_all(fd, into):
    """Reads a pty master until the other side is closed (EIO) into a bytearray."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        into.extend(data)


class CtlTemplateCase(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="declaw-ctl-templates-")
        cls.archive_path = os.path.join(cls.work, "busybox.tar")
        with open(cls.archive_path, "wb") as f:
            f.write(image().oci_archive())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def ctl(self, *args, timeout=300, **kw):
        kw.setdefault("capture_output", True)
        return subprocess.run([DECLAWCTL, "--socket", self.daemon.socket, *args],
                              timeout=timeout, **kw)

    def ok(self, *args, **kw):
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout.decode()

    def fails(self, code, *args, **kw):
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, code, r)
        self.assertEqual(r.stdout, b"", r)
        return r.stderr.decode()

    def template(self, name):
        """GET /v1/templates/{name}: the TemplateInfo, or None."""
        r = self.api.request("GET", f"/v1/templates/{name}")
        return r.json() if r.status == 200 else None

    def forget(self, name):
        self.addCleanup(self.api.request, "DELETE", f"/v1/templates/{name}")
        return name

    def imported(self, archive_path=None):
        name = self.forget(unique("ctl"))
        self.assertEqual(self.ok("template", "import", archive_path or self.archive_path, name),
                         name + "\n")
        return name

    def sandbox_count(self):
        r = self.api.request("GET", "/v1/sandboxes", query={"state": ALL_STATES})
        return len(r.json()["sandboxes"])

    def live_sandboxes(self):
        r = self.api.request("GET", "/v1/sandboxes", query={"state": "creating,running,paused"})
        return [s["sandbox_id"] for s in r.json()["sandboxes"]]

    def run_ok(self, sbx, cmd, **kw):
        res = self.api.run(sbx, cmd, **kw)
        self.assertEqual(res["exit_code"], 0, res)
        return res["stdout"]


class ImportListInspect(CtlTemplateCase):

    def test_an_imported_archive_is_listed_and_inspected(self):
        name = self.imported()
        info = self.template(name)
        rows = {line.split()[0]: line.split() for line in
                self.ok("template", "ls").splitlines()[1:]}
        self.assertEqual(self.ok("template", "ls").splitlines()[0].split(),
                         ["NAME", "SOURCE", "DIGEST", "LAYERS", "SIZE", "SANDBOXES", "CREATED",
                          "FROM"])
        self.assertEqual(rows[name][:4], [name, "import", info["digest"][7:19], "1"])
        self.assertEqual(rows["base"][:4], ["base", "builtin", "-", "0"])
        listed = json.loads(self.ok("--json", "template", "ls"))
        self.assertEqual(listed, self.api.request("GET", "/v1/templates").json()["templates"])
        view = self.ok("template", "inspect", name)
        self.assertIn(f"digest:        {info['digest']}\n", view)
        self.assertIn("env:           PATH=/bin:/usr/bin\n", view)
        self.assertIn("env:           FROM_IMAGE=yes\n", view)
        self.assertIn("working_dir:   /tmp\n", view)
        self.assertIn(f"layer 1:       {info['layers'][0]['digest']}  ", view)
        self.assertEqual(json.loads(self.ok("template", "inspect", name, "--json")), info)

    def test_an_archive_piped_to_stdin_imports_to_the_same_template(self):
        name = self.imported()
        piped = self.forget(unique("ctl-pipe"))
        with open(self.archive_path, "rb") as f:
            data = f.read()
        # A pipe has no length: declawctl sends it chunked instead of spooling it.
        proc = subprocess.run(f"cat | {DECLAWCTL} --socket {self.daemon.socket} --json "
                              f"template import - {piped}", shell=True, input=data,
                              capture_output=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc)
        info = json.loads(proc.stdout)
        self.assertEqual(info["name"], piped)
        self.assertEqual(info["digest"], self.template(name)["digest"])

    def test_a_file_redirected_to_stdin_imports_too(self):
        name = self.forget(unique("ctl-redirect"))
        with open(self.archive_path, "rb") as f:
            self.assertEqual(self.ok("template", "import", "-", name, stdin=f), name + "\n")
        self.assertEqual(self.template(name)["layer_count"], 1)

    def test_an_existing_name_is_a_conflict_unless_replaced(self):
        name = self.imported()
        before = self.template(name)["digest"]
        other = os.path.join(self.work, "other.tar")
        with open(other, "wb") as f:
            f.write(image(Layer().file("extra", "x")).oci_archive())
        err = self.fails(1, "template", "import", other, name)
        self.assertTrue(err.startswith("declawctl: ") and err.endswith("(conflict)\n"), err)
        self.assertEqual(self.template(name)["digest"], before)
        self.ok("template", "import", other, name, "--replace")
        self.assertEqual(self.template(name)["layer_count"], 2)

    def test_bad_names_bad_archives_and_missing_files_are_errors_that_import_nothing(self):
        before = self.api.request("GET", "/v1/templates").json()
        err = self.fails(1, "template", "import", self.archive_path, "a b")
        self.assertTrue(err.endswith("(invalid_argument)\n"), err)
        junk = os.path.join(self.work, "junk.tar")
        with open(junk, "wb") as f:
            f.write(b"not an image archive\n" * 100)
        err = self.fails(1, "template", "import", junk, unique("ctl-junk"))
        self.assertTrue(err.endswith("(invalid_argument)\n"), err)
        err = self.fails(1, "template", "import", os.path.join(self.work, "missing.tar"), "x")
        self.assertIn("No such file or directory", err)
        self.assertEqual(self.api.request("GET", "/v1/templates").json(), before)
        self.assertEqual(self.ctl("template", "import", self.archive_path).returncode, 2)

    def test_rm_is_refused_while_a_sandbox_uses_the_template_and_for_built_ins(self):
        name = self.imported()
        sbx = self.api.create(template=name)
        try:
            err = self.fails(1, "template", "rm", name)
            self.assertTrue(err.endswith("(conflict)\n"), err)
            self.assertIsNotNone(self.template(name))
        finally:
            self.api.kill(sbx)
        self.assertEqual(self.ok("template", "rm", name), "")
        self.assertIsNone(self.template(name))
        self.assertIn("(not_found)", self.fails(1, "template", "rm", name))
        self.assertIn("(conflict)", self.fails(1, "template", "rm", "base"))
        self.assertIn("(not_found)", self.fails(1, "template", "inspect", name))

    def test_a_big_import_draws_a_progress_bar_on_a_terminal_only(self):
        big = os.path.join(self.work, "big.tar")
        with open(big, "wb") as f:
            f.write(image(Layer().file("blob", os.urandom(24 << 20))).oci_archive())
        # stderr a pipe: nothing but the name on stdout.
        name = self.forget(unique("ctl-big"))
        r = self.ctl("template", "import", big, name)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, (name + "\n").encode(), b""))
        # stderr a terminal: the bar, redrawn in place, and wiped before declawctl exits.
        name = self.forget(unique("ctl-big"))
        master, slave = pty.openpty()
        drawn = bytearray()
        reader = threading.Thread(target=read_all, args=(master, drawn))
        reader.start()
        try:
            r = self.ctl("template", "import", big, name, stderr=slave, stdout=subprocess.PIPE,
                         capture_output=False)
        finally:
            os.close(slave)
            reader.join(30)
            os.close(master)
        self.assertEqual((r.returncode, r.stdout), (0, (name + "\n").encode()), bytes(drawn))
        text = drawn.decode("utf-8", errors="replace")
        self.assertIn(name, text)
        self.assertIn("100%", text)
        self.assertIn("[#", text)
        self.assertTrue(text.endswith("\r\x1b[K"), repr(text[-200:]))


class Export(CtlTemplateCase):

    def test_export_to_a_file_or_stdout_imports_again_to_the_same_digests(self):
        name = self.imported()
        info = self.template(name)
        path = os.path.join(self.work, "out.tar")
        written = json.loads(self.ok("--json", "template", "export", name, "-o", path))
        self.assertEqual(written, {"name": name, "file": path, "bytes": os.path.getsize(path)})
        with tarfile.open(path) as tar:
            self.assertIn("index.json", tar.getnames())
        with open(path, "rb") as f:
            from_file = f.read()
        self.assertEqual(self.ctl("template", "export", name).stdout, from_file)
        again = self.forget(unique("ctl-again"))
        self.ok("template", "import", path, again)
        self.assertEqual(self.template(again)["digest"], info["digest"])
        self.assertEqual([l["digest"] for l in self.template(again)["layers"]],
                         [l["digest"] for l in info["layers"]])

    def test_export_never_writes_a_tar_to_a_terminal(self):
        name = self.imported()
        master, slave = pty.openpty()
        try:
            r = self.ctl("template", "export", name, stdout=slave, stderr=subprocess.PIPE,
                         capture_output=False)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        try:
            shown = os.read(master, 4096)
        except OSError:
            shown = b""
        os.close(master)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"refusing to write a tar archive to a terminal", r.stderr)
        self.assertEqual(shown, b"")

    def test_what_cannot_be_exported_leaves_no_file(self):
        path = os.path.join(self.work, "never.tar")
        self.assertIn("(conflict)", self.fails(1, "template", "export", "base", "-o", path))
        self.assertIn("(not_found)", self.fails(1, "template", "export", "no-such", "-o", path))
        self.assertFalse(os.path.exists(path))
        self.assertEqual(self.ctl("--json", "template", "export", "base").returncode, 2)


class SnapshotAndBuild(CtlTemplateCase):

    def test_snapshot_publishes_what_the_sandbox_changed(self):
        base = self.imported()
        sbx = self.sandbox(template=base)
        self.run_ok(sbx, "echo snap > /etc/snap", user="root")
        name = self.forget(unique("ctl-snap"))
        self.assertEqual(self.ok("snapshot", sbx, name), name + "\n")
        child = self.sandbox(template=name)
        self.assertEqual(self.run_ok(child, "cat /etc/snap"), "snap\n")
        self.assertIn("(conflict)", self.fails(1, "snapshot", sbx, name))
        info = json.loads(self.ok("--json", "snapshot", sbx, name, "--replace"))
        self.assertEqual((info["name"], info["source"], info["parent"]), (name, "snapshot", base))
        self.assertIn("(not_found)", self.fails(1, "snapshot", "sbx-000000000000", unique("x")))

    def test_build_runs_the_steps_in_order_as_root_and_publishes_the_result(self):
        base = self.imported()
        name = self.forget(unique("ctl-build"))
        before = self.sandbox_count()
        r = self.ctl("template", "build", name, "--from", base, "--env", "K=from-env",
                     "--run", "echo one > /etc/steps", "--run", 'echo "$K" >> /etc/steps',
                     "--run", "id -u >> /etc/steps")
        self.assertEqual((r.returncode, r.stdout), (0, (name + "\n").encode()), r)
        err = r.stderr.decode()
        self.assertIn("[1/3] echo one > /etc/steps\n", err)
        self.assertIn("[3/3] id -u >> /etc/steps\n", err)
        self.assertEqual(self.sandbox_count(), before + 1)
        self.assertEqual(self.live_sandboxes(), [])
        info = self.template(name)
        self.assertEqual((info["source"], info["parent"], info["layer_count"]),
                         ("snapshot", base, 2))
        sbx = self.sandbox(template=name)
        self.assertEqual(self.run_ok(sbx, "cat /etc/steps"), "one\nfrom-env\n0\n")

    def test_build_json_prints_the_template_and_replace_rebuilds(self):
        name = self.forget(unique("ctl-build"))
        info = json.loads(self.ok("--json", "template", "build", name, "--run", "true"))
        self.assertEqual((info["name"], info["base"]), (name, "base"))
        self.assertIn("(conflict)", self.fails(1, "template", "build", name, "--run", "true"))
        self.ok("template", "build", name, "--run", "touch /etc/again", "--replace")
        self.assertEqual(self.run_ok(self.sandbox(template=name), "ls /etc/again"), "/etc/again\n")

    def test_a_failing_step_prints_its_output_and_publishes_nothing(self):
        name = unique("ctl-build")
        before = self.sandbox_count()
        r = self.ctl("template", "build", name, "--run", "echo first",
                     "--run", "echo out; echo err >&2; exit 3", "--run", "touch /never")
        self.assertEqual((r.returncode, r.stdout), (1, b""), r)
        err = r.stderr.decode()
        self.assertIn("out\nerr\n", err)
        self.assertTrue(err.endswith(
            "declawctl: build failed: step 2/3 (echo out; echo err >&2; exit 3) exited with "
            "code 3; nothing was published\n"), err)
        self.assertNotIn("[3/3]", err)
        self.assertIsNone(self.template(name))
        self.assertEqual(self.sandbox_count(), before + 1)
        self.assertEqual(self.live_sandboxes(), [])

    def test_a_step_past_its_timeout_fails_the_build(self):
        name = unique("ctl-build")
        err = self.fails(1, "template", "build", name, "--step-timeout", "1",
                         "--run", "sleep 60")
        self.assertIn("step 1/1 (sleep 60) timed out after 1 s; nothing was published", err)
        self.assertIsNone(self.template(name))
        self.assertEqual(self.live_sandboxes(), [])

    def test_ctrl_c_kills_the_builds_sandbox_and_publishes_nothing(self):
        name = unique("ctl-build")
        proc = subprocess.Popen([DECLAWCTL, "--socket", self.daemon.socket, "template", "build",
                                 name, "--run", "sleep 60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            lines = []
            while not lines or not lines[-1].startswith(b"[1/1]"):
                line = proc.stderr.readline()
                self.assertTrue(line, f"declawctl ended before its step: {lines}")
                lines.append(line)
            self.assertEqual(len(self.live_sandboxes()), 1)
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=30), 128 + signal.SIGINT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(self.live_sandboxes(), [])
        self.assertIsNone(self.template(name))

    def test_a_name_that_could_not_be_published_fails_before_a_sandbox_is_made(self):
        taken = self.imported()
        before = self.sandbox_count()
        err = self.fails(1, "template", "build", taken, "--run", "true")
        self.assertIn("already exists: pass --replace", err)
        self.assertIn("(conflict)", self.fails(1, "template", "build", "base", "--run", "true",
                                               "--replace"))
        self.assertIn("(invalid_argument)",
                      self.fails(1, "template", "build", "a b", "--run", "true"))
        self.assertEqual(self.sandbox_count(), before)
        # Internet access asked of a daemon whose networking is off: refused, nothing made.
        self.assertIn("(not_implemented)", self.fails(1, "template", "build", unique("ctl-net"),
                                                      "--internet", "--run", "true"))
        self.assertEqual(self.live_sandboxes(), [])


if __name__ == "__main__":
    unittest.main()
