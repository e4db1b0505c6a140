"""Files: raw bytes and text in and out of a sandbox, listing and metadata, mkdir, remove and
rename, all done inside the sandbox as the requested user with the sandbox's own permissions."""
import base64
import hashlib
import os
import re
import stat
import time
import unittest

from harness import run_output
from support import SharedSandboxTestCase

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ENTRY_FIELDS = {"name", "path", "type", "size", "mode", "permissions", "owner", "group",
                "modified_time", "symlink_target"}


def permissions_string(mode):
    return stat.filemode(mode | stat.S_IFREG)[1:]


class FilesApi(SharedSandboxTestCase):

    def setUp(self):
        # Every test works in a directory of its own.
        self.dir = f"/home/user/{self._testMethodName}"

    def files(self, method, path, sub="", body=None, user=None, **query):
        q = {"path": path, **{k: str(v) for k, v in query.items()}}
        if user:
            q["user"] = user
        return self.api.request(method, f"/v1/sandboxes/{self.sbx}/files{sub}", body, query=q)

    def expect(self, response, status):
        self.assertEqual(response.status, status, response)
        return response.json() if response.body else None

    def put(self, path, data, user=None, status=200):
        return self.expect(self.api.write_bytes(self.sbx, path, data, user=user), status)

    def get(self, path, user=None):
        r = self.api.read_bytes(self.sbx, path, user=user)
        self.assertEqual(r.status, 200, r)
        return r.body

    def sh(self, cmd, user="user"):
        res = self.api.run(self.sbx, cmd, user=user)
        self.assertEqual(res["exit_code"], 0, f"{cmd!r}: {res}")
        return res["stdout"]

    def assertError(self, response, status, code):
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.json()["error"]["code"], code, response)
        self.assertEqual(response.json()["error"]["sandbox_id"], self.sbx)

    # --- raw bytes ------------------------------------------------------------------------

    def test_all_256_byte_values_round_trip(self):
        data = bytes(range(256))
        entry = self.put(f"{self.dir}/bytes.bin", data)
        self.assertEqual((entry["type"], entry["size"]), ("file", 256))
        r = self.api.read_bytes(self.sbx, f"{self.dir}/bytes.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")
        self.assertEqual(r.body, data)
        inside = self.sh(f"sha256sum {self.dir}/bytes.bin").split()[0]
        self.assertEqual(inside, hashlib.sha256(data).hexdigest())

    def test_an_empty_file_round_trips(self):
        entry = self.put(f"{self.dir}/empty", b"")
        self.assertEqual((entry["type"], entry["size"]), ("file", 0))
        self.assertEqual(self.get(f"{self.dir}/empty"), b"")
        self.assertEqual(self.sh(f"stat -c %s {self.dir}/empty"), "0\n")

    def test_a_64_mib_file_round_trips(self):
        data = os.urandom(64 << 20)
        entry = self.put(f"{self.dir}/big.bin", data)
        self.assertEqual(entry["size"], len(data))
        got = self.get(f"{self.dir}/big.bin")
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "the 64 MiB file came back different")
        inside = self.sh(f"sha256sum {self.dir}/big.bin; rm {self.dir}/big.bin").split()[0]
        self.assertEqual(inside, hashlib.sha256(data).hexdigest())

    def test_an_upload_replaces_an_existing_file(self):
        self.put(f"{self.dir}/f", b"a long first version\n")
        entry = self.put(f"{self.dir}/f", b"short")
        self.assertEqual(entry["size"], 5)
        self.assertEqual(self.get(f"{self.dir}/f"), b"short")

    def test_an_upload_creates_missing_parents(self):
        self.put(f"{self.dir}/one/two/three/f.txt", b"deep")
        self.assertEqual(self.sh(f"cat {self.dir}/one/two/three/f.txt"), "deep")
        info = self.expect(self.files("GET", f"{self.dir}/one/two", "/info"), 200)
        self.assertEqual(info["type"], "dir")

    def test_reading_a_missing_file_is_404(self):
        self.assertError(self.api.read_bytes(self.sbx, f"{self.dir}/nothing"), 404, "not_found")
        self.assertError(self.files("GET", f"{self.dir}/nothing"), 404, "not_found")

    def test_reading_a_directory_as_a_file_is_400(self):
        self.sh(f"mkdir -p {self.dir}/d")
        self.assertError(self.api.read_bytes(self.sbx, f"{self.dir}/d"), 400, "invalid_argument")

    def test_relative_and_tilde_paths_resolve_against_the_home(self):
        self.put(f"{self._testMethodName}/rel.txt", b"relative")
        self.put(f"~/{self._testMethodName}/tilde.txt", b"tilde")
        self.assertEqual(self.sh(f"cat {self.dir}/rel.txt {self.dir}/tilde.txt"), "relativetilde")

    # --- text -----------------------------------------------------------------------------

    def test_text_written_is_read_back_and_seen_inside(self):
        text = "héllo\nwörld ✓\n"
        entry = self.expect(self.files("POST", f"{self.dir}/t.txt", body={"content": text}), 200)
        self.assertEqual(entry["path"], f"{self.dir}/t.txt")
        self.assertEqual(entry["size"], len(text.encode()))
        got = self.expect(self.files("GET", f"{self.dir}/t.txt"), 200)
        self.assertEqual(got["path"], f"{self.dir}/t.txt")
        self.assertEqual(got["content"], text)
        self.assertNotIn("content_base64", got)
        self.assertEqual(run_output(self.api.run(self.sbx, f"cat {self.dir}/t.txt")),
                         text.encode())

    def test_binary_content_is_written_and_read_as_base64(self):
        data = b"\xff\x00\xfe binary \x80"
        self.expect(self.files("POST", f"{self.dir}/b.bin",
                               body={"content_base64": base64.b64encode(data).decode()}), 200)
        self.assertEqual(self.get(f"{self.dir}/b.bin"), data)
        got = self.expect(self.files("GET", f"{self.dir}/b.bin"), 200)
        self.assertEqual(base64.b64decode(got["content_base64"]), data)
        self.assertIn("\ufffd", got["content"])

    def test_a_text_write_creates_missing_parents(self):
        self.expect(self.files("POST", f"{self.dir}/p/q/r.txt", body={"content": "x"}), 200)
        self.assertEqual(self.sh(f"cat {self.dir}/p/q/r.txt"), "x")

    # --- listing and metadata -------------------------------------------------------------

    def make_tree(self):
        t = f"{self.dir}/tree"
        self.put(f"{t}/x.txt", b"x")
        self.put(f"{t}/a/y.txt", b"yy")
        self.put(f"{t}/a/b/z.txt", b"zzz")
        self.sh(f"ln -s / {t}/link")
        return t

    def listing(self, path, depth):
        body = self.expect(self.files("GET", path, "/list", depth=depth), 200)
        return {e["path"]: e for e in body["entries"]}

    def test_list_at_depth_1_shows_only_the_directory_itself(self):
        t = self.make_tree()
        entries = self.listing(t, 1)
        self.assertEqual(set(entries), {f"{t}/x.txt", f"{t}/a", f"{t}/link"})
        self.assertEqual(entries[f"{t}/a"]["type"], "dir")
        self.assertEqual(entries[f"{t}/x.txt"]["type"], "file")
        self.assertEqual(entries[f"{t}/x.txt"]["name"], "x.txt")
        self.assertEqual(entries[f"{t}/link"]["type"], "symlink")

    def test_list_at_depth_2_descends_one_level_and_never_into_symlinks(self):
        t = self.make_tree()
        entries = self.listing(t, 2)
        self.assertEqual(set(entries), {f"{t}/x.txt", f"{t}/a", f"{t}/link", f"{t}/a/y.txt",
                                        f"{t}/a/b"})
        self.assertEqual(entries[f"{t}/a/y.txt"]["size"], 2)
        self.assertEqual(entries[f"{t}/a/b"]["type"], "dir")

    def test_list_depth_out_of_range_is_400(self):
        t = self.make_tree()
        for depth in ("0", "17", "-1", "two"):
            with self.subTest(depth=depth):
                self.assertError(self.files("GET", t, "/list", depth=depth), 400,
                                 "invalid_argument")

    def test_info_describes_a_file(self):
        self.put(f"{self.dir}/info.txt", b"12345")
        info = self.expect(self.files("GET", f"{self.dir}/info.txt", "/info"), 200)
        self.assertTrue(ENTRY_FIELDS <= set(info), info)
        self.assertEqual(info["name"], "info.txt")
        self.assertEqual(info["path"], f"{self.dir}/info.txt")
        self.assertEqual((info["type"], info["size"]), ("file", 5))
        self.assertEqual((info["owner"], info["group"]), ("user", "user"))
        self.assertEqual(info["mode"], int(self.sh(f"stat -c %a {self.dir}/info.txt"), 8))
        self.assertEqual(info["permissions"], permissions_string(info["mode"]))
        self.assertRegex(info["modified_time"], RFC3339_UTC)
        self.assertIsNone(info["symlink_target"])

    def test_file_times_beyond_the_year_2262_are_clamped(self):
        # The sandbox sets any time it likes (tmpfs keeps it); the daemon's clock counts 64-bit
        # nanoseconds. Found by UBSan: the conversion overflowed.
        self.sh(f"mkdir -p {self.dir} && touch -d @99999999999999 {self.dir}/late"
                f" && touch -d @-99999999999999 {self.dir}/early")
        late = self.expect(self.files("GET", f"{self.dir}/late", "/info"), 200)
        self.assertEqual(late["modified_time"], "2262-04-11T23:47:16Z")
        early = self.expect(self.files("GET", f"{self.dir}/early", "/info"), 200)
        self.assertEqual(early["modified_time"], "1677-09-21T00:12:44Z")
        listing = self.expect(self.files("GET", self.dir, "/list"), 200)["entries"]
        self.assertEqual({e["name"]: e["modified_time"] for e in listing},
                         {"late": "2262-04-11T23:47:16Z", "early": "1677-09-21T00:12:44Z"})

    def test_info_describes_a_symlink_without_following_it(self):
        self.sh(f"mkdir -p {self.dir} && ln -s /etc/hostname {self.dir}/ln")
        info = self.expect(self.files("GET", f"{self.dir}/ln", "/info"), 200)
        self.assertEqual(info["type"], "symlink")
        self.assertEqual(info["symlink_target"], "/etc/hostname")

    def test_info_of_a_missing_path_is_404(self):
        self.assertError(self.files("GET", f"{self.dir}/missing", "/info"), 404, "not_found")

    def test_exists_tells_files_and_directories_from_missing_paths(self):
        self.put(f"{self.dir}/e.txt", b"e")
        cases = {f"{self.dir}/e.txt": True, self.dir: True, "/": True,
                 f"{self.dir}/missing": False, f"{self.dir}/e.txt/under-a-file": False}
        for path, expected in cases.items():
            with self.subTest(path=path):
                self.assertEqual(self.expect(self.files("GET", path, "/exists"), 200),
                                 {"exists": expected})

    # --- mkdir, remove, rename ------------------------------------------------------------

    def test_mkdir_creates_parents_and_reports_whether_it_created(self):
        path = f"{self.dir}/m/n/o"
        self.assertEqual(self.expect(self.files("POST", path, "/mkdir"), 201), {"created": True})
        self.assertEqual(self.expect(self.files("POST", path, "/mkdir"), 200), {"created": False})
        self.sh(f"test -d {path}")

    def test_mkdir_over_a_file_is_409(self):
        self.put(f"{self.dir}/file", b"f")
        self.assertError(self.files("POST", f"{self.dir}/file", "/mkdir"), 409, "conflict")
        self.assertEqual(self.get(f"{self.dir}/file"), b"f")

    def test_remove_is_recursive(self):
        self.put(f"{self.dir}/r/s/t.txt", b"t")
        self.put(f"{self.dir}/r/u.txt", b"u")
        self.expect(self.files("DELETE", f"{self.dir}/r"), 204)
        self.assertEqual(self.expect(self.files("GET", f"{self.dir}/r", "/exists"), 200),
                         {"exists": False})
        self.sh(f"test ! -e {self.dir}/r")

    def test_remove_of_a_missing_path_is_404(self):
        self.assertError(self.files("DELETE", f"{self.dir}/missing"), 404, "not_found")

    def test_the_root_cannot_be_removed(self):
        for path in ("/", "/home/..", "//"):
            with self.subTest(path=path):
                self.assertError(self.files("DELETE", path, user="root"), 400, "invalid_argument")
        self.sh("test -d /home/user && test -e /etc/passwd")

    def test_remove_of_a_symlink_removes_the_link_not_the_target(self):
        self.put(f"{self.dir}/target/keep.txt", b"keep")
        self.sh(f"ln -s {self.dir}/target {self.dir}/dirlink && "
                f"ln -s {self.dir}/target/keep.txt {self.dir}/filelink")
        self.expect(self.files("DELETE", f"{self.dir}/dirlink"), 204)
        self.expect(self.files("DELETE", f"{self.dir}/filelink"), 204)
        self.assertEqual(self.get(f"{self.dir}/target/keep.txt"), b"keep")
        self.sh(f"test ! -L {self.dir}/dirlink && test ! -L {self.dir}/filelink")

    def test_rename_moves_a_file_and_describes_the_new_path(self):
        self.put(f"{self.dir}/old.txt", b"content")
        entry = self.expect(self.files("PATCH", f"{self.dir}/old.txt",
                                       body={"new_path": f"{self.dir}/new.txt"}), 200)
        self.assertEqual(entry["path"], f"{self.dir}/new.txt")
        self.assertEqual(entry["name"], "new.txt")
        self.assertEqual(self.get(f"{self.dir}/new.txt"), b"content")
        self.assertError(self.api.read_bytes(self.sbx, f"{self.dir}/old.txt"), 404, "not_found")

    def test_rename_moves_a_directory_with_its_contents(self):
        self.put(f"{self.dir}/d1/inner.txt", b"inner")
        self.expect(self.files("PATCH", f"{self.dir}/d1", body={"new_path": f"{self.dir}/d2"}), 200)
        self.assertEqual(self.get(f"{self.dir}/d2/inner.txt"), b"inner")
        self.sh(f"test ! -e {self.dir}/d1")

    def test_rename_of_a_missing_path_is_404(self):
        self.assertError(self.files("PATCH", f"{self.dir}/missing",
                                    body={"new_path": f"{self.dir}/x"}), 404, "not_found")

    # --- ownership and permissions --------------------------------------------------------

    def test_files_written_through_the_api_belong_to_user(self):
        self.put(f"{self.dir}/raw/raw.bin", b"r")
        self.files("POST", f"{self.dir}/text.txt", body={"content": "t"})
        self.files("POST", f"{self.dir}/made/dir", "/mkdir")
        owners = self.sh(f"stat -c '%n %U:%G %u' {self.dir} {self.dir}/raw {self.dir}/raw/raw.bin "
                         f"{self.dir}/text.txt {self.dir}/made {self.dir}/made/dir")
        for line in owners.splitlines():
            with self.subTest(line=line):
                self.assertTrue(line.endswith(" user:user 1000"), line)

    def test_files_written_as_root_belong_to_root(self):
        self.put(f"/srv-{self._testMethodName}.txt", b"r", user="root")
        self.assertEqual(self.sh(f"stat -c %U:%G /srv-{self._testMethodName}.txt"), "root:root\n")

    def make_root_file(self, path, content=b"root's\n"):
        self.put(path, content, user="root")
        self.sh(f"chmod 0644 {path}", user="root")
        return path

    def test_user_cannot_overwrite_the_sandboxes_etc_passwd(self):
        before = self.get("/etc/passwd")
        self.assertError(self.api.write_bytes(self.sbx, "/etc/passwd", b"user::0:0::/:/bin/sh\n"),
                         403, "forbidden")
        self.assertError(self.files("POST", "/etc/passwd", body={"content": "x::0:0::/:/bin/sh\n"}),
                         403, "forbidden")
        self.assertEqual(self.get("/etc/passwd"), before)

    def test_user_cannot_overwrite_remove_or_rename_a_root_file(self):
        path = self.make_root_file(f"/rootfile-{self._testMethodName}")
        self.put(f"{self.dir}/decoy", b"decoy")
        attempts = {
            "raw write": self.api.write_bytes(self.sbx, path, b"user was here"),
            "text write": self.files("POST", path, body={"content": "user was here"}),
            "remove": self.files("DELETE", path),
            "rename away": self.files("PATCH", path, body={"new_path": f"{self.dir}/stolen"}),
            "rename onto": self.files("PATCH", f"{self.dir}/decoy", body={"new_path": path}),
        }
        for what, r in attempts.items():
            with self.subTest(attempt=what):
                self.assertError(r, 403, "forbidden")
        self.assertEqual(self.sh(f"cat {path}; stat -c %U {path}"), "root's\nroot\n")

    def test_user_cannot_read_a_root_only_file_but_root_can(self):
        path = self.make_root_file(f"/secret-{self._testMethodName}", b"secret\n")
        self.sh(f"chmod 0600 {path}", user="root")
        self.assertError(self.api.read_bytes(self.sbx, path), 403, "forbidden")
        self.assertError(self.files("GET", path), 403, "forbidden")
        self.assertEqual(self.get(path, user="root"), b"secret\n")

    def test_root_can_overwrite_a_root_file(self):
        path = self.make_root_file(f"/rootfile-{self._testMethodName}")
        self.put(path, b"rewritten by root", user="root")
        self.assertEqual(self.sh(f"cat {path}"), "rewritten by root")
        self.expect(self.files("POST", path, body={"content": "again"}, user="root"), 200)
        self.assertEqual(self.get(path), b"again")

    def test_user_cannot_create_files_in_root_owned_directories(self):
        self.assertError(self.api.write_bytes(self.sbx, "/etc/declaw-new", b"x"), 403,
                         "forbidden")
        self.assertError(self.files("POST", "/etc/new-dir", "/mkdir"), 403, "forbidden")
        self.sh("test ! -e /etc/declaw-new && test ! -e /etc/new-dir")

    # --- special files ----------------------------------------------------------------------

    def test_reading_a_fifo_or_a_device_is_400_without_hanging(self):
        self.sh(f"mkdir -p {self.dir} && mkfifo {self.dir}/fifo")
        for path in (f"{self.dir}/fifo", "/dev/zero", "/dev/urandom", "/dev/tty"):
            for sub in ("/raw", ""):
                with self.subTest(path=path, sub=sub):
                    started = time.monotonic()
                    r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files{sub}",
                                         query={"path": path}, timeout=20)
                    self.assertError(r, 400, "invalid_argument")
                    self.assertLess(time.monotonic() - started, 5)

    def test_writing_to_a_fifo_or_a_device_is_400_without_hanging(self):
        self.sh(f"mkdir -p {self.dir} && mkfifo {self.dir}/fifo")
        for path in (f"{self.dir}/fifo", "/dev/null", "/dev/full"):
            with self.subTest(path=path, how="raw"):
                self.assertError(self.api.write_bytes(self.sbx, path, b"x"), 400,
                                 "invalid_argument")
            with self.subTest(path=path, how="text"):
                self.assertError(self.files("POST", path, body={"content": "x"}), 400,
                                 "invalid_argument")

    def test_a_symlink_loop_is_400(self):
        self.sh(f"mkdir -p {self.dir} && ln -s loop {self.dir}/loop && "
                f"ln -s b {self.dir}/a && ln -s a {self.dir}/b")
        for path in (f"{self.dir}/loop", f"{self.dir}/a", f"{self.dir}/a/under"):
            with self.subTest(path=path):
                self.assertError(self.api.read_bytes(self.sbx, path), 400, "invalid_argument")

    # --- bad parameters -------------------------------------------------------------------

    def test_a_missing_path_parameter_is_400(self):
        r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files/raw")
        self.assertError(r, 400, "invalid_argument")
        self.assertIn("path", r.json()["error"]["message"])

    def test_an_unknown_user_is_400(self):
        r = self.files("GET", "/etc/hostname", user="admin")
        self.assertError(r, 400, "invalid_argument")
        self.assertIn("user", r.json()["error"]["message"])


class SmallDisk(SharedSandboxTestCase):
    daemon_config = {"default_disk_mb": 4}

    def assertNoSpace(self, r):
        self.assertEqual(r.status, 507, r)
        error = r.json()["error"]
        self.assertEqual(error["code"], "not_enough_space")
        self.assertEqual(error.get("sandbox_id"), self.sbx, "the error should name the sandbox")

    def test_a_write_beyond_the_sandbox_disk_is_507(self):
        for path, size in (("/home/user/too-big.bin", 8 << 20), ("/tmp/too-big.bin", 8 << 20)):
            with self.subTest(path=path):
                r = self.api.write_bytes(self.sbx, path, b"x" * size)
                self.api.request("DELETE", f"/v1/sandboxes/{self.sbx}/files", query={"path": path})
                self.assertNoSpace(r)
        self.addCleanup(self.api.request, "DELETE", f"/v1/sandboxes/{self.sbx}/files",
                        query={"path": "/home/user/t.txt"})
        r = self.api.request("POST", f"/v1/sandboxes/{self.sbx}/files",
                             {"content": "y" * (6 << 20)}, query={"path": "/home/user/t.txt"})
        self.assertNoSpace(r)

    def test_space_comes_back_after_a_remove(self):
        res = self.api.run(self.sbx, "head -c 10000000 /dev/zero > /home/user/fill; echo $?")
        self.assertIn("No space left", res["stderr"])
        self.assertEqual(self.api.request("DELETE", f"/v1/sandboxes/{self.sbx}/files",
                                          query={"path": "/home/user/fill"}).status, 204)
        r = self.api.write_bytes(self.sbx, "/home/user/fits.bin", b"f" * (1 << 20))
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
