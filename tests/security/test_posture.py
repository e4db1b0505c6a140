"""Posture: what code inside a sandbox sees of itself and of the host, from probes run inside.

PID 1, hostname, uid map, no_new_privs, capabilities, seccomp, network interfaces, inherited fds,
access to declaw-init through /proc, and host paths that must not exist inside.
"""
import errno
import os
import unittest

from harness import run_output
from support import (SharedSandboxTestCase, host_state, json_lines, make_host_file,
                     put_binary_probe, put_python_probe, random_suffix, remove_host_path,
                     run_python_probe)

USERS = ("user", "root")

# Docker's default capability set (moby/oci/caps/defaults.go): what namespace root may hold.
DOCKER_DEFAULT_CAPS = {
    0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 3: "CAP_FOWNER", 4: "CAP_FSETID", 5: "CAP_KILL",
    6: "CAP_SETGID", 7: "CAP_SETUID", 8: "CAP_SETPCAP", 10: "CAP_NET_BIND_SERVICE",
    13: "CAP_NET_RAW", 18: "CAP_SYS_CHROOT", 27: "CAP_MKNOD", 29: "CAP_AUDIT_WRITE",
    31: "CAP_SETFCAP",
}
CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21


def cap_names(mask):
    return sorted(DOCKER_DEFAULT_CAPS.get(bit, f"cap#{bit}") for bit in range(64)
                  if mask >> bit & 1)


class SandboxPosture(SharedSandboxTestCase):

    @classmethod
    def prepareSandbox(cls):
        cls.open_probe = put_python_probe(cls.api, cls.sbx, "open_probe.py")
        cls.fds_probe = put_binary_probe(cls.api, cls.sbx, "probe_fds")

    def run_ok(self, cmd, user="user", **kw):
        res = self.api.run(self.sbx, cmd, user=user, **kw)
        self.assertEqual(res["exit_code"], 0, f"{cmd!r} as {user} failed: {res}")
        return res["stdout"]

    def proc_status(self, user):
        fields = {}
        for line in self.run_ok("cat /proc/self/status", user=user).splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return fields

    def probe_open(self, op, paths, user):
        res = run_python_probe(self.api, self.sbx, self.open_probe, op, *paths, user=user)
        verdicts = json_lines(res)
        self.assertEqual([v["path"] for v in verdicts], list(paths), f"probe output: {res}")
        return verdicts

    # --- identity -------------------------------------------------------------------------

    def test_pid_1_is_declaw_init(self):
        self.assertEqual(self.run_ok("cat /proc/1/comm").strip(), "declaw-init")

    def test_host_processes_are_not_visible(self):
        comms = self.run_ok("cat /proc/[0-9]*/comm 2>/dev/null; true").split()
        self.assertIn("declaw-init", comms)
        self.assertNotIn("declawd", comms)
        self.assertNotIn("systemd", comms)
        pids = [int(p) for p in self.run_ok("ls /proc").split() if p.isdigit()]
        self.assertNotIn(self.daemon.proc.pid, pids)
        self.assertLess(len(pids), 20, f"too many processes visible: {pids}")

    def test_the_hostname_is_the_sandbox_id(self):
        self.assertEqual(self.run_ok("uname -n").strip(), self.sbx)
        self.assertEqual(self.run_ok("cat /proc/sys/kernel/hostname").strip(), self.sbx)
        self.assertNotEqual(self.sbx, os.uname().nodename)

    def uid_map(self, sbx, which="uid_map"):
        res = self.api.run(sbx, f"cat /proc/self/{which}")
        self.assertEqual(res["exit_code"], 0, res)
        return [tuple(int(x) for x in line.split()) for line in res["stdout"].splitlines()]

    def test_the_uid_map_maps_65536_ids_from_a_non_zero_host_base(self):
        for which in ("uid_map", "gid_map"):
            with self.subTest(which=which):
                lines = self.uid_map(self.sbx, which)
                self.assertEqual(len(lines), 1, lines)
                inside, base, count = lines[0]
                self.assertEqual((inside, count), (0, 65536))
                self.assertNotEqual(base, 0, "sandbox root is host root")
                self.assertGreaterEqual(base, 65536, "the range overlaps host system ids")

    def test_two_live_sandboxes_have_disjoint_uid_ranges(self):
        other = self.sandbox()
        (_, base_a, _), = self.uid_map(self.sbx)
        (_, base_b, _), = self.uid_map(other)
        self.assertNotEqual(base_a, base_b)
        self.assertGreaterEqual(abs(base_a - base_b), 65536, "the ranges overlap")

    def test_the_cgroup_namespace_hides_the_host_hierarchy(self):
        # cgroup v2 shows "0::/"; on a hybrid host the v1 hierarchies show "/" too.
        lines = self.run_ok("cat /proc/self/cgroup").splitlines()
        self.assertIn("0::/", lines)
        self.assertEqual([l for l in lines if l.split(":", 2)[2] != "/"], [])

    # --- privileges -----------------------------------------------------------------------

    def test_no_new_privs_is_set_for_user_and_root(self):
        for user in USERS:
            with self.subTest(user=user):
                self.assertEqual(self.proc_status(user)["NoNewPrivs"], "1")

    def test_seccomp_is_in_filter_mode_for_user_and_root(self):
        for user in USERS:
            with self.subTest(user=user):
                self.assertEqual(self.proc_status(user)["Seccomp"], "2")

    def test_user_has_no_capabilities(self):
        status = self.proc_status("user")
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            with self.subTest(field=field):
                self.assertEqual(int(status[field], 16), 0, cap_names(int(status[field], 16)))

    def test_root_has_capabilities_but_not_sys_admin_or_sys_ptrace(self):
        eff = int(self.proc_status("root")["CapEff"], 16)
        self.assertNotEqual(eff, 0, "namespace root should hold Docker's default set")
        self.assertFalse(eff >> CAP_SYS_ADMIN & 1, "root holds CAP_SYS_ADMIN")
        self.assertFalse(eff >> CAP_SYS_PTRACE & 1, "root holds CAP_SYS_PTRACE")

    def test_root_capabilities_stay_within_dockers_default_set(self):
        status = self.proc_status("root")
        allowed = sum(1 << bit for bit in DOCKER_DEFAULT_CAPS)
        for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"):
            with self.subTest(field=field):
                extra = int(status[field], 16) & ~allowed
                self.assertEqual(extra, 0, f"{field} holds {cap_names(extra)}")

    def test_a_nested_user_namespace_cannot_be_created(self):
        for user in USERS:
            with self.subTest(user=user):
                res = self.api.run(self.sbx, "unshare -U -r true", user=user)
                self.assertNotEqual(res["exit_code"], 0, res)
                self.assertIn("unshare", res["stderr"])  # it ran and was refused

    def test_root_cannot_mount(self):
        res = self.api.run(self.sbx, "mkdir -p /tmp/mnt && mount -t tmpfs none /tmp/mnt; "
                                     "r=$?; grep -c ' /tmp/mnt ' /proc/self/mounts; exit $r",
                           user="root")
        self.assertNotEqual(res["exit_code"], 0, res)
        self.assertEqual(res["stdout"].strip(), "0", "a tmpfs got mounted")

    # --- network --------------------------------------------------------------------------

    def test_only_the_loopback_interface_exists(self):
        lines = self.run_ok("cat /proc/net/dev").splitlines()[2:]
        names = sorted(line.split(":")[0].strip() for line in lines)
        self.assertEqual(names, ["lo"])

    def test_the_loopback_interface_is_up(self):
        out = self.run_ok("/usr/sbin/ip -o link show lo")
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",")
        self.assertIn("UP", flags, out)

    # --- inherited file descriptors -------------------------------------------------------

    def test_no_file_descriptors_beyond_stdio_reach_a_command(self):
        for user in USERS:
            for stdin in (None, "some input\n"):
                with self.subTest(user=user, stdin=stdin is not None):
                    kw = {"stdin": stdin} if stdin is not None else {}
                    res = self.api.run(self.sbx, f"exec {self.fds_probe}", user=user, **kw)
                    self.assertIn("extra_fds", res["stdout"], f"probe did not run: {res}")
                    self.assertEqual(res["exit_code"], 0, f"leaked fds:\n{res['stdout']}")

    # --- declaw-init through /proc --------------------------------------------------------

    def test_init_exe_and_mem_cannot_be_opened(self):
        for user in USERS:
            with self.subTest(user=user):
                attempts = (self.probe_open("open", ["/proc/1/exe", "/proc/1/mem"], user)
                            + self.probe_open("openw", ["/proc/1/mem"], user))
                opened = [v for v in attempts if v["ok"]]
                self.assertEqual(opened, [], "declaw-init is reachable through /proc")

    def test_init_fds_environ_and_exe_link_are_hidden(self):
        # Listing /proc/1/fd may work for root (the directory belongs to namespace root); what
        # matters is that no fd of init (its control socket) can be opened or resolved.
        fd_paths = [f"/proc/1/fd/{n}" for n in range(10)]
        for user in USERS:
            with self.subTest(user=user):
                attempts = (self.probe_open("open", fd_paths, user)
                            + self.probe_open("readlink", fd_paths, user)
                            + self.probe_open("list", ["/proc/1/map_files"], user)
                            + self.probe_open("read", ["/proc/1/environ"], user)
                            + self.probe_open("readlink", ["/proc/1/exe", "/proc/1/cwd",
                                                           "/proc/1/root"], user))
                self.assertEqual([v for v in attempts if v["ok"]], [])

    # --- host paths -----------------------------------------------------------------------

    def test_host_private_paths_are_absent(self):
        token = random_suffix()
        markers = []
        for directory in ("/root", "/home", "/run", "/var/tmp", "/srv", "/opt"):
            if os.path.isdir(directory):
                path = os.path.join(directory, f"declaw-test-marker-{token}")
                markers.append(make_host_file(self, path, b"host marker " + token.encode()))
        self.assertIn("/root/declaw-test-marker-" + token, markers)
        absent = markers + ["/etc/shadow", "/etc/gshadow", "/run/declaw", self.daemon.socket,
                            self.daemon.dir, self.daemon.state, "/var/run/docker.sock"]
        for user in USERS:
            with self.subTest(user=user):
                verdicts = self.probe_open("open", absent, user)
                self.assertEqual([v["path"] for v in verdicts if v["ok"]], [])
                if user == "root":
                    # Root inside is not stopped by permissions: a refusal other than ENOENT
                    # would mean the path exists.
                    present = [v for v in verdicts if v.get("errno") != errno.ENOENT]
                    self.assertEqual(present, [], "these exist inside the sandbox")

    def test_the_host_home_directories_are_not_visible(self):
        host_homes = set(os.listdir("/home"))
        res = self.api.run(self.sbx, "ls -A /home", user="root")
        inside = set(res["stdout"].split())
        self.assertEqual(inside & host_homes - {"user"}, set(), "host home directories leaked")
        self.assertTrue(inside <= {"user"}, inside)

    def test_the_host_usr_is_read_only_even_for_root(self):
        # A host file of our own in /usr stands in for the system's binaries, which a broken
        # sandbox must not get a chance to damage.
        token = random_suffix()
        existing = make_host_file(self, f"/usr/declaw-test-marker-{token}", b"host content\n")
        os.chmod(existing, 0o644)
        created = f"/usr/declaw-test-marker-{token}-new"
        self.addCleanup(remove_host_path, created)
        before = host_state(existing)
        res = self.api.run(self.sbx, f"touch {created}; echo x >> {existing}; "
                                     f"chmod 0777 {existing}; rm -f {existing}", user="root")
        self.assertNotEqual(res["exit_code"], 0, res)
        self.assertIn("Read-only file system", res["stderr"])
        self.assertFalse(os.path.lexists(created), "a file appeared in the host's /usr")
        self.assertEqual(host_state(existing), before, "the host file in /usr changed")

    def test_the_synthesized_etc_passwd_is_not_the_hosts(self):
        with open("/etc/passwd", "rb") as f:
            host = f.read()
        inside = run_output(self.api.run(self.sbx, "cat /etc/passwd"))
        self.assertNotEqual(inside, host)
        names = {line.split(b":")[0] for line in inside.splitlines()}
        self.assertIn(b"user", names)
        self.assertIn(b"root", names)


if __name__ == "__main__":
    unittest.main()
