"""Templates from image archives, writable roots and snapshots, against a real declawd: images
built here from Debian's busybox-static (tests/integration/images.py) are imported, run,
changed, snapshotted, exported and imported again, and each step is checked inside the sandbox,
in the daemon's data dir and on the host."""
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import unittest
import urllib.parse

from harness import DaemonTestCase
from images import (Image, Layer, busybox_layer, delete_all_templates, import_archive,
                    import_in_setup, unique)


def tree_digest(root):
    """A digest of every path, type, owner, mode and content under root (no symlink followed)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{os.path.relpath(path, root)} {st.st_mode} {st.st_uid} {st.st_gid}".encode())
            if os.path.islink(path):
                h.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def app_layer():
    """A second layer: a user's file, root's file, a whiteout, an opaque dir, env-visible bits."""
    layer = Layer()
    layer.dir("home", mode=0o755)
    layer.dir("home/user", mode=0o755, uid=1000, gid=1000)
    layer.file("home/user/mine.txt", "user's\n", mode=0o600, uid=1000, gid=1000)
    layer.dir("app", mode=0o755)
    layer.file("app/root-only.txt", "root's\n", mode=0o600)
    layer.file("app/run.sh", "#!/bin/sh\necho app ran\n", mode=0o755)
    layer.whiteout("etc/motd")           # hides the base layer's /etc/motd
    layer.dir("data", mode=0o755)
    layer.opaque("data")                  # hides the base layer's /data/*
    layer.file("data/new.txt", "new\n")
    layer.hardlink("app/run-link.sh", "app/run.sh")
    return layer


def base_with_extras():
    layer = busybox_layer()
    layer.file("etc/motd", "welcome\n")
    layer.dir("data")
    layer.file("data/old.txt", "old\n")
    layer.file("data/older.txt", "older\n")
    return layer


def two_layer_image(compression=None):
    return Image([base_with_extras(), app_layer()], compression=compression,
                 env=["PATH=/bin:/usr/bin", "FROM_IMAGE=yes", "GREETING=image"], workdir="/app")


def images_supported(api):
    """What this host allows, as the daemon found at start: (image templates, writable /usr)."""
    features = api.request("GET", "/v1/health").json()["features"]
    return features["image_templates"], features["writable_usr"]


class Features(DaemonTestCase):
    """Image templates need idmapped mounts of the data dir's filesystem and overlayfs over
    idmapped lowers; a writable /usr for the built-ins needs the host's /usr idmappable. The
    daemon probes both at start. Either way what it says must hold, and this test says which
    case this machine is."""

    def test_the_daemon_says_what_this_kernel_allows_and_behaves_so(self):
        images, usr = images_supported(self.api)
        print(f"\nimage templates: {'on' if images else 'off'}; writable /usr of built-ins: "
              f"{'on' if usr else 'off (read-only bind)'}")
        r = import_archive(self.api, unique("probe"), Image([busybox_layer()]).oci_archive())
        if images:
            self.assertEqual(r.status, 201, r)
            self.api.request("DELETE", f"/v1/templates/{r.json()['name']}")
        else:
            self.assertEqual(r.status, 501, r)
            self.assertIn("idmapped", r.json()["error"]["message"])
        sbx = self.sandbox()
        res = self.api.run(sbx, "touch /usr/declaw-probe", user="root")
        if usr:
            self.assertEqual(res["exit_code"], 0, res)
        else:
            self.assertIn("Read-only file system", res["stderr"])
        self.assertFalse(os.path.exists("/usr/declaw-probe"))


class TemplateTestCase(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not images_supported(cls.api)[0]:
            cls.daemon.stop()
            raise unittest.SkipTest("this kernel or data dir cannot idmap layers: image "
                                    "templates are off (Features asserts the 501 instead)")


    def import_ok(self, archive, name=None, **kw):
        name = name or unique("tpl")
        r = import_archive(self.api, name, archive, **kw)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.delete_quietly, name)
        return name, r.json()

    def delete_quietly(self, name):
        self.api.request("DELETE", f"/v1/templates/{name}")

    def layer_dirs(self):
        path = os.path.join(self.daemon.data, "layers", "sha256")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def run_ok(self, sbx, cmd, **kw):
        res = self.api.run(sbx, cmd, **kw)
        self.assertEqual(res["exit_code"], 0, res)
        return res["stdout"]


class Import(TemplateTestCase):
    def test_an_oci_archive_is_imported_listed_and_described(self):
        name, info = self.import_ok(two_layer_image().oci_archive())
        self.assertEqual(info["source"], "import")
        self.assertEqual(info["layer_count"], 2)
        self.assertTrue(info["digest"].startswith("sha256:"))
        self.assertGreater(info["size"], 500_000)  # busybox itself
        self.assertIsNotNone(info["created_at"])
        self.assertEqual(info["config"]["env"], ["PATH=/bin:/usr/bin", "FROM_IMAGE=yes",
                                                 "GREETING=image"])
        self.assertEqual(info["config"]["working_dir"], "/app")
        listed = {t["name"]: t for t in self.api.request("GET", "/v1/templates").json()["templates"]}
        self.assertEqual(listed[name]["digest"], info["digest"])
        for builtin in ("base", "python", "node"):
            self.assertEqual(listed[builtin]["source"], "builtin")
        got = self.api.request("GET", f"/v1/templates/{name}").json()
        self.assertEqual([l["diff_id"] for l in got["layers"]],
                         [l["diff_id"] for l in info["layers"]])

    def test_gzip_zstd_and_docker_save_archives_import_to_the_same_layers(self):
        image = two_layer_image()
        _, plain = self.import_ok(image.oci_archive())
        _, packed = self.import_ok(two_layer_image(compression=["gzip", "zstd"]).oci_archive())
        _, docker = self.import_ok(image.docker_archive())
        diff_ids = [l["diff_id"] for l in plain["layers"]]
        self.assertEqual([l["diff_id"] for l in packed["layers"]], diff_ids)
        self.assertEqual([l["diff_id"] for l in docker["layers"]], diff_ids)
        self.assertEqual([l["media_type"] for l in packed["layers"]],
                         ["application/vnd.oci.image.layer.v1.tar+gzip",
                          "application/vnd.oci.image.layer.v1.tar+zstd"])
        # One unpacked copy per diff_id, whatever the compression.
        for layer in plain["layers"]:
            self.assertIn(layer["diff_id"][7:], self.layer_dirs())

    def test_two_templates_share_a_base_layer_which_goes_with_the_last_of_them(self):
        base = busybox_layer()
        before = self.layer_dirs()
        a, info_a = self.import_ok(Image([base, Layer().file("a.txt", "a")]).oci_archive())
        b, info_b = self.import_ok(Image([base, Layer().file("b.txt", "b")]).oci_archive())
        shared = info_a["layers"][0]["diff_id"][7:]
        self.assertEqual(shared, info_b["layers"][0]["diff_id"][7:])
        self.assertEqual(len(self.layer_dirs()), len(set(before) | {shared}) + 2)
        self.assertEqual(self.api.request("DELETE", f"/v1/templates/{a}").status, 204)
        self.assertIn(shared, self.layer_dirs())
        self.assertNotIn(info_a["layers"][1]["diff_id"][7:], self.layer_dirs())
        self.assertEqual(self.api.request("DELETE", f"/v1/templates/{b}").status, 204)
        self.assertEqual(self.layer_dirs(), sorted(set(before) - {shared}) if shared not in before
                         else before)

    def test_an_existing_name_is_a_409_unless_replaced(self):
        name, first = self.import_ok(Image([busybox_layer()]).oci_archive())
        again = import_archive(self.api, name, Image([busybox_layer(), Layer().file("x", "")])
                               .oci_archive())
        self.assertEqual(again.status, 409, again)
        replaced = import_archive(self.api, name, Image([busybox_layer(), Layer().file("x", "")])
                                  .oci_archive(), replace=True)
        self.assertEqual(replaced.status, 201, replaced)
        self.assertEqual(replaced.json()["layer_count"], 2)
        self.assertNotEqual(replaced.json()["digest"], first["digest"])

    def test_concurrent_imports_of_one_name_one_wins_the_other_gets_409(self):
        name = unique("race")
        self.addCleanup(self.delete_quietly, name)
        archive = two_layer_image(compression=["gzip", None]).oci_archive()
        statuses = []
        threads = [threading.Thread(target=lambda: statuses.append(
            import_archive(self.api, name, archive).status)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(statuses), [201, 409])

    def test_names_and_built_ins_are_checked(self):
        archive = Image([busybox_layer()]).oci_archive()
        for bad in ("-x", "a b", "a/b", "x" * 129, ".hidden"):
            with self.subTest(name=bad):
                r = self.api.request("GET", "/v1/templates/" + urllib.parse.quote(bad, safe=""))
                self.assertIn(r.status, (400, 404), r)
        r = import_archive(self.api, "a%20b", archive)
        self.assertEqual(r.status, 400, r)
        self.assertIn("template name", r.json()["error"]["message"])
        for builtin in ("base", "python"):
            self.assertEqual(import_archive(self.api, builtin, archive).status, 409)
            self.assertEqual(self.api.request("DELETE", f"/v1/templates/{builtin}").status, 409)
            self.assertEqual(
                self.api.request("GET", f"/v1/templates/{builtin}/archive").status, 409)
        self.assertEqual(self.api.request("GET", "/v1/templates/no-such").status, 404)
        r = self.api.request("POST", "/v1/sandboxes", {"template": "no-such"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("no-such", r.json()["error"]["message"])


class Running(TemplateTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.name = unique("run")
        import_in_setup(cls, cls.name, two_layer_image().oci_archive())

    @classmethod
    def tearDownClass(cls):
        cls.api.request("DELETE", f"/v1/templates/{cls.name}")
        super().tearDownClass()

    def test_owners_modes_links_whiteouts_and_opaque_dirs_are_as_in_docker(self):
        sbx = self.sandbox(template=self.name)
        out = self.run_ok(sbx, "stat -c '%n %U %G %a' /home/user/mine.txt /app/root-only.txt "
                               "/bin/busybox; ls /etc/motd 2>&1; ls /data; "
                               "stat -c '%h' /app/run.sh; readlink /bin/sh", user="root")
        self.assertEqual(out.splitlines(), [
            "/home/user/mine.txt user user 600",
            "/app/root-only.txt root root 600",
            "/bin/busybox root root 755",
            "ls: /etc/motd: No such file or directory",
            "new.txt",
            "2",
            "busybox"])
        self.assertEqual(self.run_ok(sbx, "cat /home/user/mine.txt"), "user's\n")
        res = self.api.run(sbx, "cat /app/root-only.txt")
        self.assertNotEqual(res["exit_code"], 0)
        self.assertIn("Permission denied", res["stderr"])

    def test_the_image_env_and_workdir_apply_and_the_request_overrides_them(self):
        sbx = self.sandbox(template=self.name, envs={"GREETING": "sandbox"})
        out = self.run_ok(sbx, 'echo "$FROM_IMAGE $GREETING $PATH"; pwd; ./run.sh')
        self.assertEqual(out, "yes sandbox /bin:/usr/bin\n/app\napp ran\n")
        out = self.run_ok(sbx, 'echo "$GREETING"; pwd', envs={"GREETING": "command"}, cwd="/tmp")
        self.assertEqual(out, "command\n/tmp\n")

    def test_an_image_without_bash_runs_commands_with_sh_and_gets_declaws_accounts(self):
        sbx = self.sandbox(template=self.name)
        self.assertEqual(self.run_ok(sbx, "ls /bin/bash 2>/dev/null || echo no-bash; id"),
                         "no-bash\nuid=1000(user) gid=1000(user) groups=1000(user)\n")
        passwd = self.run_ok(sbx, "cat /etc/passwd")
        self.assertTrue(passwd.startswith("root:x:0:0:root:/root:/bin/sh\n"), passwd)
        self.assertIn("\nuser:x:1000:1000:", passwd)
        self.assertEqual(self.run_ok(sbx, "hostname; cat /etc/hostname"), f"{sbx}\n{sbx}\n")
        self.assertEqual(self.run_ok(sbx, "id -un", user="root"), "root\n")

    def test_root_writes_etc_and_usr_local_and_neither_neighbour_nor_store_changes(self):
        layers_before = tree_digest(os.path.join(self.daemon.data, "layers"))
        a = self.sandbox(template=self.name)
        b = self.sandbox(template=self.name)
        self.run_ok(a, "echo changed > /etc/motd2 && mkdir -p /usr/local/bin && "
                       "echo tool > /usr/local/bin/tool && rm /bin/sed && "
                       "chown user /app/root-only.txt", user="root")
        self.assertEqual(self.run_ok(a, "cat /etc/motd2 /usr/local/bin/tool /app/root-only.txt; "
                                        "ls /bin/sed 2>&1 || true"),
                         "changed\ntool\nroot's\nls: /bin/sed: No such file or directory\n")
        self.assertEqual(self.run_ok(b, "ls /etc/motd2 /usr/local/bin/tool 2>&1; ls /bin/sed; "
                                        "stat -c %U /app/root-only.txt", user="root"),
                         "ls: /etc/motd2: No such file or directory\n"
                         "ls: /usr/local/bin/tool: No such file or directory\n/bin/sed\nroot\n")
        self.assertEqual(tree_digest(os.path.join(self.daemon.data, "layers")), layers_before)

    def test_the_file_api_sees_the_same_root_as_commands(self):
        sbx = self.sandbox(template=self.name)
        r = self.api.request("GET", f"/v1/sandboxes/{sbx}/files",
                             query={"path": "/home/user/mine.txt"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["content"], "user's\n")
        self.assertEqual(self.api.write_bytes(sbx, "/app/from-api", b"x", user="root").status, 200)
        self.assertEqual(self.run_ok(sbx, "cat /app/from-api"), "x")
        listed = self.api.request("GET", f"/v1/sandboxes/{sbx}/files/list",
                                  query={"path": "/data"}).json()["entries"]
        self.assertEqual([e["name"] for e in listed], ["new.txt"])

    def test_disk_mb_bounds_what_the_sandbox_writes_and_metrics_count_it(self):
        sbx = self.sandbox(template=self.name, resources={"disk_mb": 8})
        res = self.api.run(sbx, "dd if=/dev/zero of=/app/big bs=1M count=20", user="root")
        self.assertNotEqual(res["exit_code"], 0)
        self.assertIn("No space left", res["stderr"])
        m = self.api.request("GET", f"/v1/sandboxes/{sbx}/metrics").json()
        self.assertEqual(m["disk_total"], 8 << 20)
        self.assertGreater(m["disk_used"], 6 << 20)

    def test_delete_is_refused_while_a_sandbox_uses_the_template(self):
        sbx = self.sandbox(template=self.name)
        r = self.api.request("DELETE", f"/v1/templates/{self.name}")
        self.assertEqual(r.status, 409, r)
        info = self.api.request("GET", f"/v1/templates/{self.name}").json()
        self.assertGreaterEqual(info["sandboxes"], 1)
        self.api.kill(sbx)
        # Still there for the other tests; deletion itself is tested in Import.
        self.assertEqual(self.api.request("GET", f"/v1/templates/{self.name}").status, 200)


def as_uid(socket_path, uid, calls):
    """Runs CALLS (a function of a harness Client, returning JSON-able data) in a child that has
    become UID, against the daemon's socket; returns what it returned."""
    from harness import Client
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(write_end, json.dumps(calls(Client(socket_path))).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


class Ownership(TemplateTestCase):
    """A non-root caller sees its own templates and root's (the machine's shared ones), never
    another user's; only a template's owner or root changes it."""

    ALICE, BOB = 4242, 4343

    def test_another_users_template_is_invisible_and_only_its_owner_changes_it(self):
        os.chmod(self.daemon.socket, 0o666)
        archive = Image([busybox_layer(), Layer().file("who", "alice")]).oci_archive()
        mine, shared = unique("alices"), unique("roots")
        self.addCleanup(self.delete_quietly, mine)
        self.import_ok(Image([busybox_layer()]).oci_archive(), name=shared)

        def alice(api):
            r = import_archive(api, mine, archive)
            return [r.status, api.request("DELETE", f"/v1/templates/{shared}").status]
        self.assertEqual(as_uid(self.daemon.socket, self.ALICE, alice), [201, 403])

        def bob(api):
            names = [t["name"] for t in api.request("GET", "/v1/templates").json()["templates"]]
            return {
                "lists_mine": mine in names, "lists_shared": shared in names,
                "get": api.request("GET", f"/v1/templates/{mine}").status,
                "export": api.request("GET", f"/v1/templates/{mine}/archive").status,
                "create": api.request("POST", "/v1/sandboxes", {"template": mine}).status,
                "replace": import_archive(api, mine, archive, replace=True).status,
                "delete": api.request("DELETE", f"/v1/templates/{mine}").status,
            }
        self.assertEqual(as_uid(self.daemon.socket, self.BOB, bob), {
            "lists_mine": False, "lists_shared": True, "get": 404, "export": 404, "create": 400,
            "replace": 409, "delete": 404})
        info = self.api.request("GET", f"/v1/templates/{mine}").json()
        self.assertEqual(info["owner_uid"], self.ALICE)  # root sees all, and it is unchanged
        sbx = self.sandbox(template=mine)
        self.assertEqual(self.run_ok(sbx, "cat /who"), "alice")


class Limits(TemplateTestCase):
    def test_a_sandbox_using_a_replaced_template_can_still_be_snapshotted_and_exported(self):
        name, _ = self.import_ok(Image([busybox_layer(), Layer().file("v", "1")]).oci_archive())
        sbx = self.sandbox(template=name)
        r = import_archive(self.api, name, Image([busybox_layer(), Layer().file("v", "2")])
                           .oci_archive(), replace=True)
        self.assertEqual(r.status, 201, r)
        snap = unique("after-replace")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": snap})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.delete_quietly, snap)
        self.assertEqual(self.api.request("GET", f"/v1/templates/{snap}/archive").status, 200)
        self.assertEqual(self.run_ok(self.sandbox(template=snap), "cat /v"), "1")

    def test_sparse_files_past_the_disk_and_whiteout_names_are_refused_and_the_sandbox_runs_on(self):
        sbx = self.sandbox(template="base", resources={"disk_mb": 16})
        self.run_ok(sbx, "truncate -s 1T ~/sparse")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": unique("sparse")})
        self.assertEqual(r.status, 413, r)
        self.assertIn("sparse", r.json()["error"]["message"])
        self.run_ok(sbx, "rm ~/sparse && touch ~/.wh.trick")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": unique("wh")})
        self.assertEqual(r.status, 400, r)
        self.assertIn(".wh.trick", r.json()["error"]["message"])
        self.assertEqual(self.run_ok(sbx, "echo still running"), "still running\n")
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{sbx}").json()["state"], "running")

    def test_an_image_config_too_big_for_a_record_is_refused(self):
        image = Image([busybox_layer()], env=["BIG=" + "x" * (2 << 20)])
        r = import_archive(self.api, unique("big-env"), image.oci_archive())
        self.assertEqual(r.status, 400, r)
        self.assertIn("Env", r.json()["error"]["message"])


class BuiltinRoots(TemplateTestCase):
    def test_root_installs_into_usr_of_a_built_in_and_the_host_is_untouched(self):
        sbx = self.sandbox(template="base")
        marker = unique("declaw-usr-marker")
        self.run_ok(sbx, f"echo hi > /usr/local/bin/{marker} && chmod +x /usr/local/bin/{marker} "
                         f"&& echo x >> /usr/bin/env.{marker}", user="root")
        self.assertFalse(os.path.exists(f"/usr/local/bin/{marker}"))
        self.assertFalse(os.path.exists(f"/usr/bin/env.{marker}"))
        res = self.api.run(sbx, f"touch /usr/local/bin/{marker}-user")
        self.assertNotEqual(res["exit_code"], 0)
        self.assertEqual(self.run_ok(sbx, "stat -c %U /usr/bin/env /usr"), "root\nroot\n")
        other = self.sandbox(template="base")
        self.assertNotEqual(self.api.run(other, f"ls /usr/local/bin/{marker}")["exit_code"], 0)


class Snapshots(TemplateTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.name = unique("snapbase")
        import_in_setup(cls, cls.name, two_layer_image().oci_archive())

    @classmethod
    def tearDownClass(cls):
        delete_all_templates(cls.api)
        super().tearDownClass()

    def snapshot(self, sbx, name=None, **kw):
        name = name or unique("snap")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": name, **kw})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.delete_quietly, name)
        return name, r.json()

    def test_a_snapshot_captures_changes_and_deletions_and_the_sandbox_runs_on(self):
        sbx = self.sandbox(template=self.name)
        self.run_ok(sbx, "echo made > /app/made.txt && rm /app/run.sh && mkdir -p /opt/x && "
                         "echo deep > /opt/x/deep && rm -r /data && mkdir /data && "
                         "echo fresh > /data/fresh && chown user /opt/x/deep", user="root")
        self.run_ok(sbx, "echo note > /home/user/note")
        name, info = self.snapshot(sbx)
        self.assertEqual(info["source"], "snapshot")
        self.assertEqual(info["parent"], self.name)
        self.assertEqual(info["layer_count"], 3)
        # The snapshotted sandbox keeps running, unchanged and writable.
        self.assertEqual(self.run_ok(sbx, "cat /app/made.txt; echo more > /tmp/after"), "made\n")
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{sbx}").json()["state"],
                         "running")
        child = self.sandbox(template=name)
        out = self.run_ok(child, "cat /app/made.txt /opt/x/deep /home/user/note; "
                                 "ls /app/run.sh 2>&1; ls /data; stat -c %U /opt/x/deep; "
                                 "ls /tmp/after 2>&1; echo $FROM_IMAGE; pwd")
        self.assertEqual(out.splitlines(), [
            "made", "deep", "note", "ls: /app/run.sh: No such file or directory", "fresh",
            "user", "ls: /tmp/after: No such file or directory", "yes", "/app"])

    def test_a_snapshot_of_a_snapshot_stacks_layers(self):
        first = self.sandbox(template=self.name)
        self.run_ok(first, "echo one > /tmp/one", user="root")
        one, _ = self.snapshot(first)
        second = self.sandbox(template=one)
        self.run_ok(second, "echo two > /tmp/two && rm /tmp/one", user="root")
        two, info = self.snapshot(second)
        self.assertEqual(info["layer_count"], 4)
        third = self.sandbox(template=two)
        self.assertEqual(self.run_ok(third, "cat /tmp/two; ls /tmp/one 2>&1 || true"),
                         "two\nls: /tmp/one: No such file or directory\n")

    def test_a_paused_sandbox_is_snapshotted_and_stays_paused(self):
        sbx = self.sandbox(template=self.name)
        self.run_ok(sbx, "echo paused > /tmp/p")
        self.assertEqual(self.api.request("POST", f"/v1/sandboxes/{sbx}/pause").status, 200)
        name, _ = self.snapshot(sbx)
        self.assertEqual(self.api.request("GET", f"/v1/sandboxes/{sbx}").json()["state"], "paused")
        self.assertEqual(self.run_ok(self.sandbox(template=name), "cat /tmp/p"), "paused\n")

    def test_a_snapshot_of_a_built_in_sandbox_keeps_its_usr_and_home_changes(self):
        sbx = self.sandbox(template="base")
        self.run_ok(sbx, "mkdir -p /usr/local/lib/tool && echo lib > /usr/local/lib/tool/x && "
                         "echo cfg > /etc/tool.conf", user="root")
        self.run_ok(sbx, "echo mine > ~/mine")
        name, info = self.snapshot(sbx)
        self.assertEqual(info["base"], "base")
        self.assertEqual(info["layer_count"], 1)
        child = self.sandbox(template=name)
        self.assertEqual(self.run_ok(child, "cat /usr/local/lib/tool/x /etc/tool.conf ~/mine; "
                                            "python3 -c 'print(6*7)'; hostname"),
                         f"lib\ncfg\nmine\n42\n{child}\n")
        r = self.api.request("GET", f"/v1/templates/{name}/archive")
        self.assertEqual(r.status, 409, r)  # nothing of its own to export: it is the host's /usr

    def test_snapshot_names_are_checked_and_an_existing_one_is_a_409(self):
        sbx = self.sandbox(template=self.name)
        for body, status in (({}, 400), ({"name": "a b"}, 400), ({"name": "base"}, 409),
                             ({"name": self.name}, 409)):
            with self.subTest(body=body):
                r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", body)
                self.assertEqual(r.status, status, r)


class Export(TemplateTestCase):
    def test_export_round_trips_through_skopeo_umoci_and_a_second_import(self):
        name, info = self.import_ok(two_layer_image(compression=["gzip", None]).oci_archive())
        r = self.api.request("GET", f"/v1/templates/{name}/archive", timeout=300)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("Content-Type"), "application/x-tar")
        work = tempfile.mkdtemp(prefix="declaw-export-")
        self.addCleanup(shutil.rmtree, work, True)
        archive = os.path.join(work, "image.tar")
        with open(archive, "wb") as f:
            f.write(r.body)
        inspected = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}"],
                                              capture_output=True, text=True, check=True).stdout)
        self.assertEqual(inspected["Digest"], info["digest"])
        self.assertEqual(inspected["Layers"], [l["digest"] for l in info["layers"]])
        layout = os.path.join(work, "layout")
        os.mkdir(layout)
        with tarfile.open(archive) as tar:
            tar.extractall(layout)
        bundle = os.path.join(work, "bundle")
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:{name}", bundle],
                       capture_output=True, text=True, check=True)
        rootfs = os.path.join(bundle, "rootfs")
        with open(os.path.join(rootfs, "home/user/mine.txt")) as f:
            self.assertEqual(f.read(), "user's\n")
        self.assertEqual(os.stat(os.path.join(rootfs, "home/user/mine.txt")).st_uid, 1000)
        self.assertFalse(os.path.exists(os.path.join(rootfs, "etc/motd")))
        self.assertEqual(sorted(os.listdir(os.path.join(rootfs, "data"))), ["new.txt"])
        _, again = self.import_ok(r.body)
        self.assertEqual([l["digest"] for l in again["layers"]],
                         [l["digest"] for l in info["layers"]])
        self.assertEqual(again["digest"], info["digest"])


if __name__ == "__main__":
    unittest.main()
