"""Attacks on the filesystem from code inside a sandbox: hard links to host files, host Unix
sockets, setuid and file-capability binaries, the kernel's tunables in /proc/sys and /sys, and
mounts (including the chroot breakout). Each runs as `user` and as `root`, asserts the exact
refusal, and checks the host afterwards (security_support.HostWatch, plus the host files each
test names).
"""
import errno
import os
import struct
import unittest

from support import (host_state, json_lines, make_host_file, put_python_probe, remove_host_path,
                     run_python_probe)
from security_support import USERS, SecurityTestCase, probe_attempts

# struct vfs_cap_data, revision 2, effective bit set: the format setcap(8) writes.
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_FLAGS_EFFECTIVE = 0x1
ALL_CAPS_LOW, ALL_CAPS_HIGH = 0xffffffff, 0x1ff


class HardLinks(SecurityTestCase):
    """A link on the sandbox's writable root to a host inode would be a name the sandbox owns for
    a file it must not have. The host's files reach the sandbox as the lower layer of its /usr
    overlay and as bind mounts (/dev nodes, /etc directories): the kernel refuses links across
    mounts (EXDEV), and a link inside /usr (root only: user may not write there) is made on the
    sandbox's own copy, which overlayfs copies up first; the host's inode never changes."""

    def test_hard_links_to_host_files_fail_across_mounts_and_copy_up_inside_usr(self):
        # A host file of our own in /usr, visible inside through the /usr overlay.
        marker = make_host_file(self, f"/usr/declaw-test-link-{self.token}", b"host content\n")
        os.chmod(marker, 0o666)  # even world-writable it must stay out of reach
        before = host_state(marker)
        sbx = self.api.create()  # made after the marker exists, so its /usr shows it
        self.addCleanup(self.api.kill, sbx)
        probe = put_python_probe(self.api, sbx, "link_probe.py")
        writable = ["/tmp", "/home/user", "/dev/shm", "/var/tmp"]
        sources = [marker, "/usr/bin/bash", "/dev/null", "/etc/ssl/openssl.cnf"]
        pairs = [(src, f"{d}/link-{n}") for n, src in enumerate(sources) for d in writable]
        in_usr = f"/usr/declaw-test-link-{self.token}-2"
        pairs.append((marker, in_usr))
        self.addCleanup(remove_host_path, in_usr)
        for user in USERS:
            with self.subTest(user=user):
                res = run_python_probe(self.api, sbx, probe,
                                       *[p for pair in pairs for p in pair], user=user)
                attempts = json_lines(res)
                self.assertEqual(len(attempts), 3 * len(pairs), res)

                def expected(a, user=user):
                    if not a["dest"].startswith("/usr/"):
                        return errno.EXDEV
                    return 0 if user == "root" else errno.EACCES
                self.assertRefused(attempts, expected, f"hard links as {user}")
        # Root's link in /usr is a name for the sandbox's copy: writing through it changes
        # nothing of the host's.
        # (The probe removes its links; this one stays for the write.)
        res = self.api.run(sbx, f"ln {marker} {in_usr} && echo ESCAPED >> {in_usr} && "
                                f"cat {marker}", user="root")
        self.assertEqual(res["stdout"], "host content\nESCAPED\n", res)
        self.assertEqual(host_state(marker), before, "the host file changed")
        self.assertFalse(os.path.lexists(in_usr), "a link appeared in the host's /usr")

    def test_the_file_api_writes_only_the_sandboxs_copy_of_a_host_file_in_usr(self):
        marker = make_host_file(self, f"/usr/declaw-test-api-{self.token}", b"host content\n")
        os.chmod(marker, 0o666)
        before = host_state(marker)
        sbx = self.api.create()
        self.addCleanup(self.api.kill, sbx)
        for user in USERS:
            with self.subTest(user=user):
                r = self.api.write_bytes(sbx, marker, b"ESCAPED-" + user.encode(), user=user)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.api.read_bytes(sbx, marker).body, b"ESCAPED-" + user.encode())
                self.assertEqual(host_state(marker), before, "the host file changed")


class HostSockets(SecurityTestCase):
    def test_no_unix_socket_of_the_host_is_anywhere_in_the_sandbox(self):
        # The control: a socket the sandbox makes itself must be found by the walk.
        own = f"/tmp/own-{self.token}.sock"
        res = self.api.run(self.sbx, f"python3 -c \"import socket; "
                                     f"socket.socket(socket.AF_UNIX).bind('{own}')\"")
        self.assertEqual(res["exit_code"], 0, res)
        probe = put_python_probe(self.api, self.sbx, "fs_sockets_probe.py")
        res = run_python_probe(self.api, self.sbx, probe, user="root", timeout=300)
        lines = json_lines(res)
        summary = lines[-1]
        self.assertGreater(summary["walked"], 1000, f"the walk saw too little: {res}")
        found = [line["socket"] for line in lines if "socket" in line]
        self.assertEqual(found, [own], "sockets other than the sandbox's own")


class SetuidBinaries(SecurityTestCase):
    """no_new_privs and nosuid on every mount: an exec by `user` grants nothing, whoever owns the
    file and whatever bits or file capabilities it carries."""

    def test_setuid_root_and_file_capability_copies_grant_user_nothing(self):
        probe = self.put_probe("setuid")
        caps = struct.pack("<IIIII", VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, ALL_CAPS_LOW,
                           0, ALL_CAPS_HIGH, 0)
        copies = [f"{d}/suid-{self.token}" for d in ("/tmp", "/home/user", "/var/tmp")]
        fcap = f"/tmp/fcap-{self.token}"
        script = [f"cp {probe} {c} && chown root:root {c} && chmod 4755 {c}" for c in copies]
        script.append(f"cp {probe} {fcap} && chmod 0755 {fcap} && python3 -c \"import os; "
                      f"os.setxattr('{fcap}', 'security.capability', {caps!r})\"")
        res = self.api.run(self.sbx, " && ".join(script), user="root")
        self.assertEqual(res["exit_code"], 0, res)
        for binary in copies + [fcap]:
            with self.subTest(binary=binary):
                res = self.run_probe(self.sbx, binary)
                attempts = probe_attempts(res)
                creds = attempts[0]
                self.assertEqual((creds["ruid"], creds["euid"], creds["suid"], creds["egid"]),
                                 (1000, 1000, 1000, 1000), creds)
                self.assertEqual((creds["cap_effective"], creds["cap_permitted"]),
                                 ("0x0", "0x0"), creds)
                self.assertRefused(attempts[1:], errno.EPERM, f"becoming root from {binary}")

    def test_a_setuid_root_copy_of_bash_stays_uid_1000(self):
        copy = f"/tmp/bash-{self.token}"
        res = self.api.run(self.sbx, f"cp /bin/bash {copy} && chmod 4755 {copy}", user="root")
        self.assertEqual(res["exit_code"], 0, res)
        res = self.api.run(self.sbx, f"{copy} -p -c 'id -u; id -g; grep -E \"^(Uid|CapEff)\" "
                                     "/proc/self/status'")
        self.assertEqual(res["exit_code"], 0, res)
        lines = res["stdout"].splitlines()
        self.assertEqual(lines[:2], ["1000", "1000"], res)
        self.assertEqual(lines[2].split(), ["Uid:", "1000", "1000", "1000", "1000"])
        self.assertEqual(lines[3].split(), ["CapEff:", "0" * 16])

    def test_device_nodes_cannot_be_made_anywhere(self):
        # Only the initial user namespace may create device nodes (mknod(2)); /dev/null's
        # numbers would give raw access to nothing, /dev/sda's (8, 0) to a host disk.
        for user in USERS:
            for directory in ("/tmp", "/home/user", "/dev/shm", "/var/tmp", "/dev"):
                with self.subTest(user=user, directory=directory):
                    node = f"{directory}/sda-{self.token}"
                    res = self.api.run(self.sbx, f"python3 -c \"import os; "
                                                 f"os.mknod('{node}', 0o20666, os.makedev(8, 0))\"",
                                       user=user)
                    # /dev is root's: user is refused by its permissions first.
                    expected = errno.EACCES if (user, directory) == ("user", "/dev") else \
                        errno.EPERM
                    self.assertEqual(res["exit_code"], 1, res)
                    self.assertIn(f"PermissionError: [Errno {expected}]", res["stderr"])

    def test_nothing_runs_from_dev_shm(self):
        copy = f"/dev/shm/suid-{self.token}"
        res = self.api.run(self.sbx, f"cp /bin/true {copy} && chmod 4755 {copy}", user="root")
        self.assertEqual(res["exit_code"], 0, res)
        for user in USERS:
            with self.subTest(user=user):
                res = self.api.run(self.sbx, copy, user=user)
                self.assertEqual(res["exit_code"], 126, res)
                self.assertIn("Permission denied", res["stderr"])


class KernelTunables(SecurityTestCase):
    """/proc/sys holds the host kernel's settings (core_pattern runs a program as host root on
    every crash; modprobe likewise): nothing in it may be written. /sys is absent, /proc/kcore and
    the other Docker-masked files unreadable, /proc/sysrq-trigger read-only."""

    def test_proc_sys_sysrq_trigger_and_sys_are_not_writable(self):
        probe = put_python_probe(self.api, self.sbx, "open_probe.py")
        rewrite = ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                   "/proc/sys/kernel/hostname", "/proc/sys/vm/overcommit_memory",
                   "/proc/sys/net/ipv4/ip_forward", "/proc/sys/fs/suid_dumpable"]
        # Opened for writing only (a write would act).
        openw = ["/proc/sys/vm/drop_caches", "/proc/sysrq-trigger",
                 "/sys/kernel/uevent_helper", "/sys/fs/cgroup/cgroup.procs"]
        # What the host kernel lacks (a kernel without modules has no modprobe, one without
        # magic SysRq no sysrq-trigger) is absent inside too; /sys is absent whatever the host.
        host_has = {p: os.path.exists(p) and not p.startswith("/sys/") for p in rewrite + openw}
        for user in USERS:
            with self.subTest(user=user):
                attempts = (json_lines(run_python_probe(self.api, self.sbx, probe, "rewrite",
                                                        *rewrite, user=user))
                            + json_lines(run_python_probe(self.api, self.sbx, probe, "openw",
                                                          *openw, user=user)))
                self.assertEqual(len(attempts), len(rewrite) + len(openw))
                self.assertRefused(
                    attempts,
                    lambda a: errno.EACCES if host_has[a["path"]] else errno.ENOENT,
                    f"writes to kernel settings as {user}")

    def test_kcore_and_the_masked_proc_files_cannot_be_read(self):
        probe = put_python_probe(self.api, self.sbx, "open_probe.py")
        masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"]
        # A file the host kernel has is masked by /dev/null on a nodev mount: EACCES. One it
        # lacks is absent inside too.
        expected = {p: errno.EACCES if os.path.exists(p) else errno.ENOENT for p in masked}
        for user in USERS:
            with self.subTest(user=user):
                attempts = json_lines(run_python_probe(self.api, self.sbx, probe, "read",
                                                       *masked, user=user))
                self.assertRefused(attempts, lambda a: expected[a["path"]],
                                   f"reads of masked /proc files as {user}")

    def test_sys_does_not_exist(self):
        for user in USERS:
            with self.subTest(user=user):
                res = self.api.run(self.sbx, "ls /sys", user=user)
                self.assertEqual(res["exit_code"], 2, res)
                self.assertIn("No such file or directory", res["stderr"])


class Mounts(SecurityTestCase):
    """No mount can be made, moved or removed inside (seccomp refuses mount(2) and the mount
    API; root lacks CAP_SYS_ADMIN anyway), and nothing inside is shared with the host's mounts,
    so even a mount made by init could not propagate out."""

    def test_a_mount_made_inside_never_shows_on_the_host(self):
        probe = self.put_probe("mounts")
        for user in USERS:
            with self.subTest(user=user):
                target = f"/tmp/declaw-mnt-{self.token}-{user}"
                res = self.run_probe(self.sbx, f"mkdir -p {target} && {probe}", target, user=user)
                attempts = probe_attempts(res)
                mounts = [a for a in attempts if not a["attempt"].startswith(("chroot", "root"))]
                self.assertEqual(len(mounts), 12, res)
                self.assertRefused(mounts, errno.EPERM, f"mounts as {user}")
                breakout = attempts[-1]
                self.assertEqual(breakout["hostname"], self.sbx,
                                 "the chroot breakout left the sandbox's root")
                inside = self.api.run(self.sbx, f"grep -c ' {target} ' /proc/self/mountinfo")
                self.assertEqual(inside["stdout"].strip(), "0", "a mount was made inside")
        # The host side: HostWatch (at the end of the test) fails on any new host mount that
        # names the token, the probe's tmpfs or lies under /usr.

    def test_the_chroot_breakout_of_root_ends_in_the_sandboxes_root(self):
        probe = self.put_probe("mounts")
        target = f"/tmp/declaw-chroot-{self.token}"
        res = self.run_probe(self.sbx, f"mkdir -p {target} && {probe}", target, user="root")
        attempts = {a["attempt"]: a for a in probe_attempts(res)}
        # root holds CAP_SYS_CHROOT: the chroots work, and lead nowhere.
        self.assertEqual(attempts["chroot into a subdirectory"]["ret"], 0)
        self.assertEqual(attempts["chroot . after chdir .. x64"]["ret"], 0)
        self.assertEqual(attempts["root after chroot breakout"]["hostname"], self.sbx)

    def test_no_mount_inside_is_shared_with_a_peer_outside(self):
        res = self.api.run(self.sbx, "cat /proc/self/mountinfo")
        shared = [line for line in res["stdout"].splitlines() if " shared:" in line]
        self.assertEqual(shared, [], "mounts that propagate to a peer group")


if __name__ == "__main__":
    unittest.main()
