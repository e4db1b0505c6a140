"""Hostile and broken image archives against a real declawd: each is built here, one thing wrong
at a time, imported, and must be refused with a 4xx that names the problem, with nothing written
outside the import's workspace (which is gone afterwards): no template, no layer, no blob, and
nothing at the host paths the archive aims at. Then hostile images that import fine but put
symlinks where declaw mounts or writes (/proc, /dev, /etc/hosts, /tmp, the home dir): sandboxes
from them get their own directories and files, and the host is untouched."""
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DaemonTestCase
from images import Image, Layer, busybox_layer, import_archive, sha256, tar_of, unique


class HostileArchives(DaemonTestCase):
    # Small limits, so a bomb is cheap to build and quick to refuse.
    daemon_config = {"max_template_bytes": 32 << 20, "max_template_unpacked_bytes": 64 << 20}

    def setUp(self):
        self.bait = tempfile.mkdtemp(prefix="declaw-bait-")
        os.chmod(self.bait, 0o777)
        self.addCleanup(shutil.rmtree, self.bait, True)

    def store_state(self):
        data = self.daemon.data
        state = {}
        for sub in ("blobs/sha256", "layers/sha256", "templates", "tmp"):
            path = os.path.join(data, sub)
            state[sub] = sorted(os.listdir(path)) if os.path.isdir(path) else []
        return state

    def assertRefused(self, archive, status, *words):
        """The import of ARCHIVE answers STATUS with a message holding each of WORDS; the store
        and the bait directory are as before."""
        before = self.store_state()
        name = unique("hostile")
        r = import_archive(self.api, name, archive)
        self.assertEqual(r.status, status, r)
        message = r.json()["error"]["message"]
        for word in words:
            self.assertIn(word, message)
        self.assertEqual(self.store_state(), before, "the refused import left something")
        self.assertEqual(os.listdir(self.bait), [], "the archive wrote outside its workspace")
        self.assertEqual(self.api.request("GET", f"/v1/templates/{name}").status, 404)
        return message

    def layer_image(self, layer, compression=None):
        return Image([busybox_layer(), layer],
                     compression=[None, compression]).oci_archive()

    def test_member_names_with_dotdot_or_absolute_are_refused(self):
        self.assertRefused(self.layer_image(Layer().file("../../escape", "x")), 400, "..")
        self.assertRefused(self.layer_image(Layer().file("a/../../b", "x")), 400, "'..'")
        self.assertRefused(self.layer_image(Layer().file(self.bait + "/abs", "x")), 400, "absolute")

    def test_a_member_written_through_a_symlink_of_the_archive_is_refused(self):
        for target in (self.bait, "../../../../../../" + self.bait, "/"):
            with self.subTest(target=target):
                layer = Layer().symlink("link", target).file("link/planted", "x")
                self.assertRefused(self.layer_image(layer), 400, "link/planted", "symlink")
        # Also one level down, and through a symlinked directory made by an earlier layer.
        deep = Layer().dir("d").symlink("d/up", self.bait).file("d/up/x", "x")
        self.assertRefused(self.layer_image(deep), 400, "symlink")
        opaque = Layer().symlink("o", self.bait).opaque("o")
        self.assertRefused(self.layer_image(opaque), 400, "symlink")

    def test_hard_links_outside_the_layer_or_forward_are_refused(self):
        self.assertRefused(self.layer_image(Layer().hardlink("l", "../../etc/shadow")), 400, "..")
        self.assertRefused(self.layer_image(Layer().hardlink("l", "/etc/shadow")), 400,
                           "absolute")
        self.assertRefused(self.layer_image(Layer().hardlink("l", "later").file("later", "x")),
                           400, "not in the layer")
        through = Layer().symlink("s", self.bait).hardlink("l", "s/x")
        self.assertRefused(self.layer_image(through), 400, "l")
        self.assertRefused(self.layer_image(Layer().dir("d").hardlink("l", "d")), 400,
                           "directory")

    def test_device_nodes_are_refused_but_a_0_0_whiteout_is_one(self):
        self.assertRefused(self.layer_image(Layer().device("dev/mem", 1, 1)), 400, "device")
        self.assertRefused(self.layer_image(Layer().device("sda", 8, 0, char=False)), 400,
                           "block device")
        name = unique("whiteout-dev")
        archive = Image([busybox_layer(), Layer().device("bin/sed", 0, 0)]).oci_archive()
        r = import_archive(self.api, name, archive)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.request, "DELETE", f"/v1/templates/{name}")
        sbx = self.api.create(template=name)
        self.addCleanup(self.api.kill, sbx)
        self.assertNotEqual(self.api.run(sbx, "ls /bin/sed")["exit_code"], 0)

    def test_names_that_are_too_long_are_refused(self):
        self.assertRefused(self.layer_image(Layer().file("a" * 256, "x")), 400, "256 bytes")
        deep = "/".join(["d" * 200] * 21)
        self.assertRefused(self.layer_image(Layer().file(deep, "x")), 400, "at most 4095")

    def test_duplicates_that_change_type_are_refused_and_same_type_ones_win_in_order(self):
        self.assertRefused(self.layer_image(Layer().file("x", "a").dir("x")), 400, "twice")
        self.assertRefused(self.layer_image(Layer().dir("y").symlink("y", "/")), 400, "twice")
        name = unique("dup")
        r = import_archive(self.api, name, self.layer_image(Layer().file("x", "a").file("x", "b")))
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.request, "DELETE", f"/v1/templates/{name}")
        sbx = self.api.create(template=name)
        self.addCleanup(self.api.kill, sbx)
        self.assertEqual(self.api.run(sbx, "cat /x")["stdout"], "b")

    def test_digests_sizes_and_diff_ids_that_do_not_match_are_refused(self):
        image = Image([busybox_layer(), Layer().file("x", "x")])

        def swap_layer_bytes(parts):
            parts["layers"][1] = Layer().file("x", "evil").data()  # descriptor keeps the old digest
        archive = image.oci_archive(tamper=swap_layer_bytes)
        # The blob is stored under its true name, so the descriptor's digest names nothing.
        self.assertRefused(archive, 400, "sha256")

        def lie_about_size(parts):
            parts["layer_descs"][1]["size"] += 1
        self.assertRefused(image.oci_archive(tamper=lie_about_size), 400, "bytes")

        def wrong_diff_id(parts):
            config = json.loads(parts["config"])
            config["rootfs"]["diff_ids"][1] = sha256(b"something else")
            parts["config"] = json.dumps(config).encode()
        self.assertRefused(image.oci_archive(tamper=wrong_diff_id), 400, "diff_id")

        def misnamed_blob(parts):
            blob = parts["layers"][1]
            parts["extra_files"] = {"blobs/sha256/" + sha256(b"x")[7:]: blob}
            parts["layer_descs"][1] = {"mediaType": parts["layer_descs"][1]["mediaType"],
                                       "digest": sha256(b"x"), "size": len(blob)}
        self.assertRefused(image.oci_archive(tamper=misnamed_blob), 400, "does not match")

    def test_truncated_streams_are_refused(self):
        archive = Image([busybox_layer()]).oci_archive()
        self.assertRefused(archive[:len(archive) // 2], 400)
        packed = Image([busybox_layer(), Layer().file("x", os.urandom(4096))],
                       compression=[None, "gzip"])

        def cut_gzip(parts):
            parts["layers"][1] = parts["layers"][1][:-200]
            parts["layer_descs"][1]["digest"] = sha256(parts["layers"][1])
            parts["layer_descs"][1]["size"] = len(parts["layers"][1])
        self.assertRefused(packed.oci_archive(tamper=cut_gzip), 400, "layer 1")

    def test_a_decompression_bomb_is_refused_past_the_unpacked_limit(self):
        bomb = Layer().file("zeros", b"\0" * (100 << 20))
        archive = self.layer_image(bomb, compression="gzip")
        self.assertLess(len(archive), 8 << 20)  # small on the wire: busybox and 100 KiB of gzip
        self.assertRefused(archive, 413, "limit")

    def test_a_compressed_archive_that_unpacks_past_the_limit_is_a_413(self):
        zeros = tar_of({"zeros": bytes(48 << 20)})  # more than max_template_bytes (32 MiB)
        packed = subprocess.run(["zstd", "-q", "-19", "-c"], input=zeros, capture_output=True,
                                check=True).stdout
        self.assertLess(len(packed), 1 << 20)
        self.assertRefused(packed, 413, "max_template_bytes")

    def test_compressions_libarchive_would_run_a_program_for_are_not_decompressed(self):
        # lzop, lrzip and grzip magic: libarchive would exec lzop/lrzip/grzip as root for these;
        # declaw registers only its built-in gzip and zstd, so the bytes are no tar.
        for magic in (b"\x89LZO\x00\r\n\x1a\n", b"LRZI\x00\x06", b"GRZipII\x00\x02\x04"):
            with self.subTest(magic=magic):
                image = Image([busybox_layer(), Layer().file("x", "y")])

                def fake_compressed(parts, magic=magic):
                    parts["layers"][1] = magic + parts["layers"][1]
                    parts["layer_descs"][1]["digest"] = sha256(parts["layers"][1])
                    parts["layer_descs"][1]["size"] = len(parts["layers"][1])
                self.assertRefused(image.oci_archive(tamper=fake_compressed), 400, "layer 1")

    def test_members_nested_too_deep_are_refused(self):
        deep = "/".join(["d"] * 257) + "/f"
        self.assertRefused(self.layer_image(Layer().file(deep, "x")), 400, "256 directories")

    def test_an_archive_over_the_size_limit_is_a_413(self):
        big = Layer().file("noise", os.urandom(40 << 20))
        r = import_archive(self.api, unique("big"), self.layer_image(big))
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.store_state()["tmp"], [])

    def test_things_that_are_not_image_archives_are_refused(self):
        self.assertRefused(os.urandom(10000), 400, "not")
        self.assertRefused(b"", 400)
        self.assertRefused(json.dumps({"manifests": []}).encode(), 400)
        self.assertRefused(tar_of({"hello.txt": b"hi"}), 400, "index.json")
        self.assertRefused(tar_of({"index.json": b"{not json"}), 400, "JSON")
        self.assertRefused(tar_of({"index.json": json.dumps({"manifests": []}).encode()}), 400,
                           "no image")
        self.assertRefused(tar_of({"manifest.json": b"[]"}), 400, "0 images")
        gz = gzip.compress(tar_of({"x": b"y"}))
        self.assertRefused(gz, 400, "index.json")


class HostileImages(DaemonTestCase):
    """Images that import fine but aim declaw's own mounts and files at the host."""

    def setUp(self):
        self.bait = tempfile.mkdtemp(prefix="declaw-bait-")
        os.chmod(self.bait, 0o777)
        self.addCleanup(shutil.rmtree, self.bait, True)
        with open(os.path.join(self.bait, "secret"), "w") as f:
            f.write("host secret\n")

    def image_with(self, layer):
        name = unique("aimed")
        r = import_archive(self.api, name, Image([busybox_layer(), layer]).oci_archive())
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.api.request, "DELETE", f"/v1/templates/{name}")
        return name

    def test_symlinks_where_declaw_mounts_and_writes_are_replaced_not_followed(self):
        layer = (Layer()
                 .symlink("proc", self.bait)
                 .symlink("dev", "/")
                 .symlink("tmp", self.bait)
                 .symlink("root", self.bait)
                 .dir("home").symlink("home/user", self.bait)
                 .symlink("etc/hosts", self.bait + "/secret")
                 .symlink("etc/hostname", "../../../../../" + self.bait + "/hostname")
                 .symlink("etc/resolv.conf", "/proc/self/root/" + self.bait + "/resolv")
                 .symlink("etc/passwd", self.bait + "/secret"))
        name = self.image_with(layer)
        sbx = self.api.create(template=name)
        self.addCleanup(self.api.kill, sbx)
        out = self.api.run(sbx, "cat /proc/1/comm; stat -c '%F' /proc /dev /tmp /home/user "
                                "/etc/hosts /etc/passwd; cat /etc/hostname; ls /dev/null; "
                                "echo x > /tmp/written; grep -c user /etc/passwd", user="root")
        self.assertEqual(out["exit_code"], 0, out)
        self.assertEqual(out["stdout"].splitlines(), [
            "declaw-init", "directory", "directory", "directory", "directory",
            "regular file", "regular file", sbx, "/dev/null", "1"])
        self.assertEqual(sorted(os.listdir(self.bait)), ["secret"])
        with open(os.path.join(self.bait, "secret")) as f:
            self.assertEqual(f.read(), "host secret\n")

    def test_a_symlinked_etc_or_var_becomes_a_directory_of_the_sandbox_and_touches_nothing(self):
        name = self.image_with(Layer().symlink("etc", self.bait).symlink("var", self.bait))
        sbx = self.api.create(template=name)
        self.addCleanup(self.api.kill, sbx)
        out = self.api.run(sbx, "stat -c %F /etc /var /var/tmp; cat /etc/hostname; "
                                "grep -c '^user:' /etc/passwd", user="root")
        self.assertEqual(out["stdout"], f"directory\ndirectory\ndirectory\n{sbx}\n1\n", out)
        self.assertEqual(sorted(os.listdir(self.bait)), ["secret"])

    def test_setuid_and_device_tricks_of_an_image_give_nothing(self):
        with open("/bin/busybox", "rb") as f:
            busybox = f.read()
        layer = (Layer()
                 .file("bin/busybox-suid", busybox, mode=0o4755)
                 .file("etc/sudoers", "user ALL=(ALL) NOPASSWD: ALL\n"))
        name = self.image_with(layer)
        sbx = self.api.create(template=name)
        self.addCleanup(self.api.kill, sbx)
        out = self.api.run(sbx, "stat -c '%a %U' /bin/busybox-suid; /bin/busybox-suid id -u")
        self.assertEqual(out["stdout"], "4755 root\n1000\n", out)  # nosuid: still user
        # The store keeps the setuid bit, where no host user can reach it.
        self.assertEqual(os.stat(self.daemon.data).st_mode & 0o777, 0o700)


if __name__ == "__main__":
    unittest.main()
