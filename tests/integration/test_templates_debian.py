"""A real Debian image as a template: bookworm's minbase rootfs from mmdebstrap, made an OCI image
by umoci and copied to an oci-archive and a docker-save archive by skopeo (scripts/test-images.sh,
run by scripts/test.sh before the tests; nothing here touches the network). Root installs a
package with dpkg into the sandbox, which a snapshot keeps; the image's own users, Env and
WorkingDir apply."""
import os
import unittest

from harness import DaemonTestCase
from images import delete_all_templates, import_archive, import_in_setup, unique

IMAGE_DIR = os.environ.get("DECLAW_TEST_IMAGE_DIR", "/var/cache/declaw-test")


def image_file(name):
    path = os.path.join(IMAGE_DIR, name)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise AssertionError(f"{path} is missing: scripts/test-images.sh builds it (the README's "
                             f"test command runs it before the tests)")
    return path


class DebianTemplate(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.name = unique("debian")
        try:
            archive = image_file("debian-oci.tar")
        except AssertionError:
            cls.daemon.stop()
            raise
        with open(archive, "rb") as f:
            cls.info = import_in_setup(cls, cls.name, f.read())

    @classmethod
    def tearDownClass(cls):
        delete_all_templates(cls.api)
        super().tearDownClass()

    def run_ok(self, sbx, cmd, **kw):
        res = self.api.run(sbx, cmd, **kw)
        self.assertEqual(res["exit_code"], 0, res)
        return res["stdout"]

    def test_the_image_runs_as_debian_with_its_env_workdir_and_users(self):
        self.assertEqual(self.info["config"]["working_dir"], "/root")
        sbx = self.sandbox(template=self.name)
        out = self.run_ok(sbx, "cat /etc/debian_version; echo $LANG; pwd; "
                               "getent passwd root user | cut -d: -f1,3; id -un; ls -ld /root",
                          user="root")
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("12."), out)
        self.assertEqual(lines[1:5], ["C.UTF-8", "/root", "root:0", "user:1000"])
        self.assertEqual(lines[5], "root")
        # Not a login shell: the image's PATH, not /etc/profile's.
        self.assertEqual(self.run_ok(sbx, "echo $PATH"),
                         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
        # WorkingDir /root is closed to user: its commands start in its home instead.
        self.assertEqual(self.run_ok(sbx, "id -un; echo $HOME; pwd"),
                         "user\n/home/user\n/home/user\n")
        # Asked for, a cwd must work or fail.
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"cmd": "pwd", "cwd": "/root"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("cwd /root: Permission denied", r.json()["error"]["message"])

    def test_root_installs_a_package_with_dpkg_and_a_snapshot_keeps_it(self):
        sbx = self.sandbox(template=self.name)
        with open(image_file("hello.deb"), "rb") as f:
            r = self.api.write_bytes(sbx, "/tmp/hello.deb", f.read(), user="root")
        self.assertEqual(r.status, 200, r)
        self.run_ok(sbx, "dpkg -i /tmp/hello.deb && rm /tmp/hello.deb", user="root")
        self.assertEqual(self.run_ok(sbx, "hello"), "Hello, world!\n")
        self.assertIn("ii  hello", self.run_ok(sbx, "dpkg -l hello"))
        self.assertNotEqual(self.api.run(self.sandbox(template=self.name), "command -v hello")
                            ["exit_code"], 0, "the neighbour got the package")
        snap = unique("debian-hello")
        r = self.api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": snap})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["layer_count"], self.info["layer_count"] + 1)
        child = self.sandbox(template=snap)
        self.assertEqual(self.run_ok(child, "hello; ls /tmp/hello.deb 2>&1 || true"),
                         "Hello, world!\nls: cannot access '/tmp/hello.deb': "
                         "No such file or directory\n")
        self.assertIn("ii  hello", self.run_ok(child, "dpkg -l hello"))

    def test_the_docker_save_archive_of_the_same_image_has_the_same_layers(self):
        with open(image_file("debian-docker.tar"), "rb") as f:
            r = import_archive(self.api, unique("debian-docker"), f.read())
        self.assertEqual(r.status, 201, r)
        self.assertEqual([l["diff_id"] for l in r.json()["layers"]],
                         [l["diff_id"] for l in self.info["layers"]])
        self.assertEqual(r.json()["config"]["env"], self.info["config"]["env"])


if __name__ == "__main__":
    unittest.main()
