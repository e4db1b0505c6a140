"""Escapes through the file API: `..` past the root (plain and percent-encoded), absolute
symlinks, chains of relative symlinks, /proc magic links (/proc/self/root and friends), dangling
symlinks to host paths, and a symlink swapped in while the API resolves a path.

Each attack targets host files this test made under /tmp with unique content (the sandbox has its
own /tmp, so inside those paths do not exist), plus the host's /etc/passwd. Every test asserts that
no host content came back and that nothing on the host changed, was created, moved or removed.
"""
import os
import threading
import time
import unittest

from support import (SharedSandboxTestCase, host_state, json_lines, make_host_dir,
                     make_host_file, put_python_probe, random_suffix, remove_host_path,
                     run_python_probe)

USERS = ("user", "root")
# The size of the copies in and out during the swap race.
BIG_COPY = 4 << 20


class EscapeCase(SharedSandboxTestCase):
    """Per test: host targets with unique content, and the sandbox-side links that point at
    them, in /home/user/<test name>."""

    @classmethod
    def prepareSandbox(cls):
        with open("/etc/passwd", "rb") as f:
            cls.host_passwd = f.read()
        res = cls.api.run(cls.sbx, "cat /etc/passwd")
        cls.sandbox_passwd = res["stdout"].encode()
        if res["exit_code"] != 0 or cls.sandbox_passwd == cls.host_passwd:
            raise AssertionError("precondition: the sandbox's /etc/passwd must be its own: "
                                 f"{res}")

    def setUp(self):
        self.server_errors = []
        self.addCleanup(self.assertNoServerErrors)
        token = random_suffix()
        self.token = token
        self.secret = f"HOST-SECRET-{token}".encode()
        self.victim_name = f"victim-{token}.txt"
        # Host side.
        self.host_target = make_host_file(self, f"/tmp/declaw-escape-target-{token}",
                                          self.secret + b"\n")
        self.host_dir = make_host_dir(self, f"/tmp/declaw-escape-dir-{token}")
        self.host_victim = make_host_file(self, f"{self.host_dir}/{self.victim_name}",
                                          self.secret + b" victim\n")
        # Host paths that must never come into existence.
        self.host_new_file = f"/tmp/declaw-escape-newfile-{token}"
        self.host_new_dir = f"/tmp/declaw-escape-newdir-{token}"
        for path in (self.host_new_file, self.host_new_dir):
            self.addCleanup(remove_host_path, path)
        self.watched = [self.host_target, self.host_dir, self.host_victim, self.host_new_file,
                        self.host_new_dir, "/etc/passwd", "/etc/shadow", "/etc/hostname"]
        self.before = {path: host_state(path) for path in self.watched}
        # Sandbox side.
        self.inside = f"/home/user/{self._testMethodName}"
        up = "../" * 12
        pid = self.daemon.proc.pid
        links = {
            "abs_link": self.host_target,
            "abs_dir_link": self.host_dir,
            "passwd_link": "/etc/passwd",
            "dangling_file": self.host_new_file,
            "dangling_dir": self.host_new_dir,
            "chain1": "sub/chain2", "sub/chain2": "deeper/chain3",
            "sub/deeper/chain3": up + self.host_target[1:],
            "dchain1": "sub/dchain2", "sub/dchain2": "deeper/dchain3",
            "sub/deeper/dchain3": up + self.host_dir[1:],
            "pchain1": "sub/pchain2", "sub/pchain2": up + "etc/passwd",
            "proc_self": "/proc/self/root" + self.host_target,
            "proc_thread_self": "/proc/thread-self/root" + self.host_target,
            "proc_init": "/proc/1/root" + self.host_target,
            "proc_daemon": f"/proc/{pid}/root" + self.host_target,
            "proc_cwd": "/proc/self/cwd/" + up + self.host_target[1:],
            "proc_dir": "/proc/self/root" + self.host_dir,
            "proc_daemon_dir": f"/proc/{pid}/root" + self.host_dir,
            "proc_passwd": "/proc/self/root/etc/passwd",
            "proc_daemon_passwd": f"/proc/{pid}/root/etc/passwd",
        }
        script = [f"mkdir -p {self.inside}/sub/deeper {self.inside}/holder",
                  f"ln -s {self.host_dir} {self.inside}/holder/to_host_dir",
                  f"echo mine > {self.inside}/mine.txt"]
        script += [f"ln -s '{target}' {self.inside}/{name}" for name, target in links.items()]
        res = self.api.run(self.sbx, " && ".join(script))
        self.assertEqual(res["exit_code"], 0, f"fixture: {res}")

    # --- helpers --------------------------------------------------------------------------

    def file_targets(self):
        """Paths that lead, one way or another, to the host's target file."""
        i, pid, t = self.inside, self.daemon.proc.pid, self.host_target
        return [f"{i}/abs_link", f"{i}/chain1", f"{i}/proc_self", f"{i}/proc_thread_self",
                f"{i}/proc_init", f"{i}/proc_daemon", f"{i}/proc_cwd",
                "/../../.." + t, f"{i}/../../../../../..{t}", "../../../../.." + t,
                "~/../../../.." + t, "/proc/self/root" + t, "/proc/1/root" + t,
                f"/proc/{pid}/root{t}", "/proc/self/cwd/../../../.." + t]

    def dir_targets(self):
        """Paths that lead to the host's target directory."""
        i, pid, d = self.inside, self.daemon.proc.pid, self.host_dir
        return [f"{i}/abs_dir_link", f"{i}/dchain1", f"{i}/proc_dir", f"{i}/proc_daemon_dir",
                f"{i}/holder/to_host_dir", "/../../.." + d, "/proc/self/root" + d,
                "/proc/1/root" + d, f"/proc/{pid}/root{d}"]

    def passwd_targets(self):
        i, pid = self.inside, self.daemon.proc.pid
        return [f"{i}/passwd_link", f"{i}/pchain1", f"{i}/proc_passwd", f"{i}/proc_daemon_passwd",
                "/../../etc/passwd", "../../../../etc/passwd", "/home/user/../../../etc/passwd",
                "/proc/self/root/etc/passwd", "/proc/1/root/etc/passwd",
                f"/proc/{pid}/root/etc/passwd"]

    def files(self, method, path, sub="", body=None, user="user"):
        return self.api.request(method, f"/v1/sandboxes/{self.sbx}/files{sub}", body,
                                query={"path": path, "user": user})

    def assertNoHostContent(self, response, listing=False):
        """No host content in the answer. A 5xx is noted and fails the test at its end (after
        the host checks, which matter more)."""
        if response.status >= 500:
            self.server_errors.append(response)
        self.assertNotIn(self.secret, response.body, "host file content came back")
        if self.host_passwd in response.body:
            self.fail("the host's /etc/passwd came back")
        if listing:
            self.assertNotIn(self.victim_name.encode(), response.body, "host directory leaked")

    def assertNoServerErrors(self):
        self.assertEqual(self.server_errors, [], "requests answered with a 5xx")

    def assertHostUnchanged(self):
        after = {path: host_state(path) for path in self.watched}
        for path in self.watched:
            self.assertEqual(after[path], self.before[path], f"host path {path} changed")

    # --- read -----------------------------------------------------------------------------

    def test_reads_that_lead_to_a_host_file_find_nothing(self):
        for user in USERS:
            for path in self.file_targets() + [f"{self.inside}/dangling_file"]:
                with self.subTest(user=user, path=path):
                    for sub in ("/raw", ""):
                        r = self.files("GET", path, sub, user=user)
                        self.assertNoHostContent(r)
                        self.assertNotEqual(r.status, 200, r)
        self.assertHostUnchanged()

    def test_metadata_of_a_host_file_does_not_leak_through_info_exists_or_list(self):
        for user in USERS:
            for path in self.file_targets() + self.dir_targets():
                with self.subTest(user=user, path=path):
                    info = self.files("GET", path, "/info", user=user)
                    self.assertNoHostContent(info)
                    if info.status == 200:
                        # Only the link itself may be described, never what it points to.
                        self.assertEqual(info.json()["type"], "symlink", info)
                        self.assertTrue(path.startswith(self.inside), info)
                    exists = self.files("GET", path, "/exists", user=user)
                    self.assertNoHostContent(exists)
                    if exists.status == 200 and not path.startswith(self.inside):
                        self.assertEqual(exists.json(), {"exists": False}, exists)
        for user in USERS:
            for path in self.dir_targets():
                with self.subTest(op="list", user=user, path=path):
                    r = self.files("GET", path, "/list", user=user)
                    self.assertNoHostContent(r, listing=True)
        self.assertHostUnchanged()

    def test_a_symlink_to_etc_passwd_reads_the_sandboxes_own_passwd(self):
        for user in USERS:
            for path in self.passwd_targets():
                with self.subTest(user=user, path=path):
                    for sub in ("/raw", ""):
                        r = self.files("GET", path, sub, user=user)
                        self.assertNoHostContent(r)
                        if r.status != 200:
                            continue
                        body = r.body if sub == "/raw" else r.json()["content"].encode()
                        self.assertEqual(body, self.sandbox_passwd)
        self.assertHostUnchanged()

    def test_percent_encoded_dot_dot_stays_inside(self):
        sbx, t = self.sbx, self.host_target
        queries = [
            "path=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "path=/%2E%2E/%2E%2E/etc/passwd",
            "path=..%2f..%2f..%2f..%2fetc%2fpasswd",
            "path=%2fhome%2fuser%2f..%2f..%2f..%2fetc%2fpasswd",
            "path=%252e%252e%252f%252e%252e%252fetc%252fpasswd",  # double-encoded: a plain name
            "path=..%5c..%5c..%5cetc%5cpasswd",  # backslashes are ordinary characters
            "path=%2e%2e%2f%2e%2e%2f%2e%2e" + t.replace("/", "%2f"),
            "path=/%2e%2e/%2e%2e" + t,
            "path=..%252f..%252f..%252f" + t[1:],
        ]
        for query in queries:
            for sub in ("/raw", ""):
                with self.subTest(query=query, sub=sub):
                    r = self.api.request("GET", f"/v1/sandboxes/{sbx}/files{sub}?{query}")
                    self.assertNoHostContent(r)
                    if r.status == 200:
                        body = r.body if sub == "/raw" else r.json()["content"].encode()
                        self.assertEqual(body, self.sandbox_passwd)
        self.assertHostUnchanged()

    def test_dot_dot_in_the_request_path_matches_no_route(self):
        for target in (f"/v1/sandboxes/{self.sbx}/files/raw/../../../../../etc/passwd",
                       f"/v1/sandboxes/{self.sbx}/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                       f"/v1/sandboxes/{self.sbx}/../../../etc/passwd",
                       "/v1/sandboxes/..%2f..%2f..%2fetc%2fpasswd/files/raw?path=/etc/passwd"):
            with self.subTest(target=target):
                r = self.api.request("GET", target)
                self.assertNoHostContent(r)
                self.assertIn(r.status, (400, 404), r)

    def test_a_nul_byte_in_the_path_is_refused(self):
        r = self.api.request("GET", f"/v1/sandboxes/{self.sbx}/files/raw?path=/etc/passwd%00.txt")
        self.assertEqual(r.status, 400, r)

    # --- write ----------------------------------------------------------------------------

    def test_writes_that_lead_to_a_host_file_do_not_touch_it(self):
        payload = b"ESCAPED-" + self.token.encode()
        paths = self.file_targets() + [f"{self.inside}/dangling_file",
                                       f"{self.inside}/dangling_dir/new.txt",
                                       f"{self.inside}/abs_dir_link/{self.victim_name}",
                                       f"{self.inside}/dchain1/{self.victim_name}",
                                       f"{self.inside}/proc_dir/{self.victim_name}",
                                       f"{self.inside}/abs_dir_link/new-{self.token}.txt"]
        for user in USERS:
            for path in paths:
                with self.subTest(user=user, path=path):
                    raw = self.api.write_bytes(self.sbx, path, payload, user=user)
                    text = self.files("POST", path, body={"content": payload.decode()}, user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(raw)
                    self.assertNoHostContent(text)
        self.assertFalse(os.path.lexists(f"{self.host_dir}/new-{self.token}.txt"))

    def test_root_writing_through_a_symlink_to_etc_passwd_leaves_the_hosts_alone(self):
        # A sandbox of its own: root may legitimately rewrite the sandbox's /etc/passwd.
        sbx = self.sandbox()
        res = self.api.run(sbx, "ln -s /etc/passwd /home/user/link && "
                                "ln -s /proc/self/root/etc/passwd /home/user/plink && "
                                "ln -s ../../../../../../etc/passwd /home/user/rlink")
        self.assertEqual(res["exit_code"], 0, res)
        for path in ("/home/user/link", "/home/user/plink", "/home/user/rlink",
                     "/../../../etc/passwd", "/proc/self/root/etc/passwd",
                     f"/proc/{self.daemon.proc.pid}/root/etc/passwd"):
            for user in USERS:
                with self.subTest(user=user, path=path):
                    r = self.api.write_bytes(sbx, path, b"hacker::0:0::/:/bin/sh\n", user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(r)

    # --- mkdir ----------------------------------------------------------------------------

    def test_mkdir_that_leads_to_a_host_directory_creates_nothing_there(self):
        paths = [p + f"/made-{self.token}" for p in self.dir_targets()]
        paths += [f"{self.inside}/dangling_dir", f"{self.inside}/dangling_dir/made",
                  f"{self.inside}/dangling_file", f"/../../..{self.host_new_dir}",
                  f"/proc/self/root{self.host_new_dir}"]
        for user in USERS:
            for path in paths:
                with self.subTest(user=user, path=path):
                    r = self.files("POST", path, "/mkdir", user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(r)

    # --- remove ---------------------------------------------------------------------------

    def test_remove_that_leads_to_a_host_file_removes_nothing_there(self):
        v = self.victim_name
        paths = [p + f"/{v}" for p in self.dir_targets()] + self.file_targets()
        for user in USERS:
            for path in paths:
                with self.subTest(user=user, path=path):
                    r = self.files("DELETE", path, user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(r)

    def test_removing_a_symlink_or_a_directory_holding_one_does_not_follow_it(self):
        for path in (f"{self.inside}/abs_link", f"{self.inside}/abs_dir_link",
                     f"{self.inside}/proc_dir", f"{self.inside}/dchain1", f"{self.inside}/holder",
                     f"{self.inside}/sub"):
            with self.subTest(path=path):
                r = self.files("DELETE", path)
                self.assertEqual(r.status, 204, r)
                self.assertHostUnchanged()
        r = self.files("DELETE", self.inside)
        self.assertEqual(r.status, 204, r)
        self.assertHostUnchanged()

    # --- rename ---------------------------------------------------------------------------

    def test_rename_cannot_move_a_host_file_in(self):
        v = self.victim_name
        for user in USERS:
            for source in [p + f"/{v}" for p in self.dir_targets()] + self.file_targets():
                with self.subTest(user=user, source=source):
                    r = self.files("PATCH", source, body={"new_path": f"{self.inside}/stolen"},
                                   user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(r)
                    got = self.api.read_bytes(self.sbx, f"{self.inside}/stolen", user="root")
                    self.assertNotIn(self.secret, got.body)

    def test_rename_cannot_move_a_file_onto_or_into_the_host(self):
        v = self.victim_name
        destinations = ([p + f"/{v}" for p in self.dir_targets()] + self.file_targets() +
                        [p + f"/moved-{self.token}" for p in self.dir_targets()] +
                        [f"{self.inside}/dangling_dir/moved", f"/../..{self.host_new_file}",
                         f"/proc/self/root{self.host_new_file}"])
        for user in USERS:
            for dest in destinations:
                with self.subTest(user=user, dest=dest):
                    src = f"/home/user/{self._testMethodName}-{user}.txt"
                    r = self.api.write_bytes(self.sbx, src, b"ESCAPED", user=user)
                    self.assertEqual(r.status, 200, r)
                    r = self.files("PATCH", src, body={"new_path": dest}, user=user)
                    self.assertHostUnchanged()
                    self.assertNoHostContent(r)
        self.assertFalse(os.path.lexists(f"{self.host_dir}/moved-{self.token}"))

    # --- kernel settings ------------------------------------------------------------------

    def test_host_kernel_settings_cannot_be_written(self):
        # core_pattern is global: whoever sets it runs a program as host root on the next crash.
        # The attempt writes back the host's current value, so even a success changes nothing.
        path = "/proc/sys/kernel/core_pattern"
        with open(path, "rb") as f:
            current = f.read()
        for user in USERS:
            with self.subTest(user=user):
                raw = self.api.write_bytes(self.sbx, path, current, user=user)
                text = self.files("POST", path, body={"content": current.decode()}, user=user)
                res = self.api.run(self.sbx, f"printf %s '{current.decode().strip()}' > {path}",
                                   user=user)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), current)
                self.assertIn(raw.status, (400, 403), raw)
                self.assertIn(text.status, (400, 403), text)
                self.assertNotEqual(res["exit_code"], 0, f"{user} wrote core_pattern: {res}")

    # --- a swap race ----------------------------------------------------------------------

    def test_a_symlink_swapped_in_during_resolution_does_not_lead_out(self):
        # d alternates between a real directory (holding f, g, h and a big file) and a symlink
        # to the host directory (holding the same names with host content) while the API works
        # on them: small reads and writes, and copies of several MiB each way, which keep the
        # API busy while the swaps go on.
        race = f"{self.inside}/race"
        for name in ("f", "g", "h"):
            make_host_file(self, f"{self.host_dir}/{name}", self.secret + b" race\n")
            self.watched.append(f"{self.host_dir}/{name}")
        make_host_file(self, f"{self.host_dir}/big", self.secret * (BIG_COPY // len(self.secret)))
        self.watched.append(f"{self.host_dir}/big")
        self.before = {path: host_state(path) for path in self.watched}
        setup = self.api.run(self.sbx, f"mkdir -p {race}/d && cd {race} && "
                                       f"for n in f g h; do echo inside > d/$n; done && "
                                       f"head -c {BIG_COPY} /dev/zero > d/big && "
                                       f"ln -s {self.host_dir} other")
        self.assertEqual(setup["exit_code"], 0, setup)
        probe = put_python_probe(self.api, self.sbx, "swap_probe.py")
        swapper = {}

        def swap():
            swapper["result"] = run_python_probe(self.api, self.sbx, probe, race, "4")

        upload = b"ESCAPED" * (BIG_COPY // 7)
        thread = threading.Thread(target=swap)
        thread.start()
        statuses = {}
        try:
            time.sleep(0.3)
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:
                for r in (self.files("GET", f"{race}/d/f", "/raw"),
                          self.files("GET", f"{race}/d/f"),
                          self.api.write_bytes(self.sbx, f"{race}/d/g", b"ESCAPED"),
                          self.files("DELETE", f"{race}/d/h"),
                          self.files("POST", f"{race}/d/made", "/mkdir"),
                          self.files("GET", f"{race}/d", "/list"),
                          self.files("GET", f"{race}/d/big", "/raw"),
                          self.api.write_bytes(self.sbx, f"{race}/d/upload", upload)):
                    self.assertNoHostContent(r, listing=r.status == 200 and b"entries" in r.body)
                    statuses[r.status] = statuses.get(r.status, 0) + 1
        finally:
            thread.join()
        self.assertHostUnchanged()
        verdict = json_lines(swapper["result"]) if "result" in swapper else []
        self.assertTrue(verdict and verdict[-1]["swaps"] > 1000,
                        f"the swapper did not run: {swapper.get('result')}")
        self.assertFalse(os.path.lexists(f"{self.host_dir}/made"))
        self.assertFalse(os.path.lexists(f"{self.host_dir}/upload"))
        self.assertIn(200, statuses, f"no request ever succeeded: {statuses}")


if __name__ == "__main__":
    unittest.main()
