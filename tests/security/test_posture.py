"""Posture: what a process inside a sandbox is, and what it sees of itself and of the host.

PostureTable is the posture in one table, in the spirit of gVisor's: ids, groups, capability
sets, no_new_privs, seccomp, uid/gid maps, namespaces (compared with declawd's), resource limits
(compared with declawd's), open fds and cgroup, for `user` and for `root`; it prints the table
and fails on any difference. SandboxPosture checks PID 1, the hostname, disjoint id ranges, the
network interfaces and the host paths that must not exist inside.
"""
import errno
import importlib
import os
import sys
import unittest

from harness import PROBES_DIR, run_output
from support import (SharedSandboxTestCase, host_state, json_lines, make_host_file,
                     put_binary_probe, put_python_probe, random_suffix, remove_host_path,
                     run_python_probe)
from security_support import IDS_PER_SANDBOX, USERS, host_uid_base, sandbox_init_pid

sys.path.insert(0, PROBES_DIR)
posture_probe = importlib.import_module("posture_probe")

# Docker's default capability set (moby/oci/caps/defaults.go): what namespace root holds.
DOCKER_DEFAULT_CAPS = {
    0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 3: "CAP_FOWNER", 4: "CAP_FSETID", 5: "CAP_KILL",
    6: "CAP_SETGID", 7: "CAP_SETUID", 8: "CAP_SETPCAP", 10: "CAP_NET_BIND_SERVICE",
    13: "CAP_NET_RAW", 18: "CAP_SYS_CHROOT", 27: "CAP_MKNOD", 29: "CAP_AUDIT_WRITE",
    31: "CAP_SETFCAP",
}
DOCKER_CAPS_HEX = f"{sum(1 << bit for bit in DOCKER_DEFAULT_CAPS):016x}"
NO_CAPS_HEX = "0" * 16
NO_SIGNALS_HEX = "0" * 16  # /proc/PID/status SigBlk and SigIgn: a 64-bit mask
# The namespaces clone() makes for a sandbox; declaw makes no time namespace.
OWN_NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "user", "uts")
SHARED_NAMESPACES = ("time", "time_for_children")
# The one limit init sets (runtime/init/caps.cc); the others are inherited from declawd.
SANDBOX_LIMITS = {"Max processes": ["4096", "4096"]}


class Expect:
    """An expected value: what the table prints, and the check."""

    def __init__(self, text, check):
        self.text = text
        self.check = check


def equals(value):
    return Expect(str(value), lambda actual: actual == value)


def differs_from(value, why):
    return Expect(f"not {value} ({why})", lambda actual: actual != value)


class PostureTable(SharedSandboxTestCase):

    @classmethod
    def prepareSandbox(cls):
        cls.posture_probe = put_python_probe(cls.api, cls.sbx, "posture_probe.py")
        cls.fds_probe = put_binary_probe(cls.api, cls.sbx, "probe_fds")

    def observe(self, user):
        """What a command running as USER is, flattened to {item: text}."""
        res = run_python_probe(self.api, self.sbx, self.posture_probe, user=user)
        self.assertEqual(res["exit_code"], 0, res)
        seen = json_lines(res)[0]
        out = {f"status {k}": v for k, v in seen["status"].items()}
        out["uid_map"] = seen["uid_map"]
        out["gid_map"] = seen["gid_map"]
        out.update({f"ns {k}": v for k, v in seen["ns"].items()})
        out.update({f"limit {k}": " / ".join(v) for k, v in seen["limits"].items()})
        out["cgroup paths"] = " ".join(sorted({line.split(":", 2)[2] for line in seen["cgroup"]}))
        fds = self.api.run(self.sbx, f"exec {self.fds_probe}", user=user)
        lines = json_lines(fds)
        extra = [str(line["fd"]) for line in lines if "fd" in line]
        summary = lines[-1]
        out["open fds"] = " ".join(["0", "1", "2"][:summary["standard_fds"]] + extra)
        return out

    def expected(self, user):
        daemon = self.daemon.proc.pid
        base = host_uid_base(sandbox_init_pid(daemon, self.sbx))
        ident = "1000" if user == "user" else "0"
        caps = NO_CAPS_HEX if user == "user" else DOCKER_CAPS_HEX
        table = {
            "status Uid": equals(" ".join([ident] * 4)),
            "status Gid": equals(" ".join([ident] * 4)),
            "status Groups": equals(ident),
            # Empty for root too, as Docker since CVE-2022-24769: an inheritable set survives a
            # change to a non-zero uid and meets file-inheritable bits at the next execve.
            "status CapInh": equals(NO_CAPS_HEX),
            "status CapPrm": equals(caps),
            "status CapEff": equals(caps),
            "status CapBnd": equals(caps),
            "status CapAmb": equals(NO_CAPS_HEX),
            "status NoNewPrivs": equals("1"),
            "status Seccomp": equals("2"),
            "status Seccomp_filters": equals("1"),
            # Nothing of init's signal mask reaches a command. (Its ignored signals are checked
            # in integration.commands: this probe is Python, which ignores SIGPIPE and SIGXFSZ
            # itself.)
            "status SigBlk": equals(NO_SIGNALS_HEX),
            "uid_map": equals(f"0 {base} {IDS_PER_SANDBOX}"),
            "gid_map": equals(f"0 {base} {IDS_PER_SANDBOX}"),
            "open fds": equals("0 1 2"),
            "cgroup paths": equals("/"),
        }
        for ns in OWN_NAMESPACES:
            table[f"ns {ns}"] = differs_from(os.readlink(f"/proc/{daemon}/ns/{ns}"), "declawd's")
        for ns in SHARED_NAMESPACES:
            table[f"ns {ns}"] = equals(os.readlink(f"/proc/{daemon}/ns/{ns}"))
        limits = posture_probe.limits(f"/proc/{daemon}/limits")
        limits.update(SANDBOX_LIMITS)
        table.update({f"limit {k}": equals(" / ".join(v)) for k, v in limits.items()})
        return table

    def test_the_posture_of_user_and_root_matches_the_table(self):
        self.assertGreaterEqual(host_uid_base(sandbox_init_pid(self.daemon.proc.pid, self.sbx)),
                                IDS_PER_SANDBOX, "the id range overlaps host system ids")
        expected = {user: self.expected(user) for user in USERS}
        actual = {user: self.observe(user) for user in USERS}
        items = list(expected["user"]) + sorted(set(actual["user"]) - set(expected["user"]))
        rows, wrong = [], []
        for item in items:
            wants = [expected[u].get(item, Expect("(no expectation)", lambda a: False))
                     for u in USERS]
            gots = [actual[u].get(item, "(missing)") for u in USERS]
            marks = []
            for user, want, got in zip(USERS, wants, gots):
                marks.append("" if want.check(got) else " <-- WRONG")
                if marks[-1]:
                    wrong.append(f"{item} ({user}): {got}, expected {want.text}")
            want_text = " | ".join(dict.fromkeys(w.text for w in wants))
            rows.append(f"{item:<28} {gots[0] + marks[0]:<30} {gots[1] + marks[1]:<30} "
                        f"{want_text}")
        print(f"\nposture of {self.sbx}\n{'item':<28} {'user':<30} {'root':<30} expected "
              "(user | root)\n" + "\n".join(rows))
        self.assertEqual(wrong, [], "the posture differs from the table (printed above)")


class SandboxPosture(SharedSandboxTestCase):

    @classmethod
    def prepareSandbox(cls):
        cls.open_probe = put_python_probe(cls.api, cls.sbx, "open_probe.py")

    def run_ok(self, cmd, user="user", **kw):
        res = self.api.run(self.sbx, cmd, user=user, **kw)
        self.assertEqual(res["exit_code"], 0, f"{cmd!r} as {user} failed: {res}")
        return res["stdout"]

    def probe_open(self, op, paths, user):
        res = run_python_probe(self.api, self.sbx, self.open_probe, op, *paths, user=user)
        verdicts = json_lines(res)
        self.assertEqual([v["path"] for v in verdicts], list(paths), f"probe output: {res}")
        return verdicts

    # --- identity -------------------------------------------------------------------------

    def test_pid_1_is_declaw_init(self):
        self.assertEqual(self.run_ok("cat /proc/1/comm").strip(), "declaw-init")

    def test_init_itself_can_grant_no_more_than_dockers_set(self):
        # init keeps what setup needs, but its bounding set, which every process of the sandbox
        # inherits, is cut to Docker's: no execve in the sandbox can gain a capability beyond.
        status = self.api.run(self.sbx, "grep -E '^Cap(Bnd|Amb|Inh):' /proc/1/status",
                              user="root")["stdout"]
        self.assertEqual(status, f"CapInh:\t{NO_CAPS_HEX}\nCapBnd:\t{DOCKER_CAPS_HEX}\n"
                                 f"CapAmb:\t{NO_CAPS_HEX}\n")

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

    def test_two_live_sandboxes_have_disjoint_uid_ranges(self):
        other = self.sandbox()
        (_, base_a, _), = self.uid_map(self.sbx)
        (_, base_b, _), = self.uid_map(other)
        self.assertNotEqual(base_a, base_b)
        self.assertGreaterEqual(abs(base_a - base_b), 65536, "the ranges overlap")

    # --- network --------------------------------------------------------------------------

    def test_only_the_loopback_interface_exists(self):
        lines = self.run_ok("cat /proc/net/dev").splitlines()[2:]
        names = sorted(line.split(":")[0].strip() for line in lines)
        self.assertEqual(names, ["lo"])

    def test_the_loopback_interface_is_up(self):
        out = self.run_ok("/usr/sbin/ip -o link show lo")
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",")
        self.assertIn("UP", flags, out)

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

    def test_root_changes_only_its_own_copy_of_usr_never_the_hosts(self):
        # A host file of our own in /usr stands in for the system's binaries, which a broken
        # sandbox must not get a chance to damage. Root inside may change /usr (an overlay over
        # the host's, docs/architecture.md): its writes land in its own upper layer.
        token = random_suffix()
        existing = make_host_file(self, f"/usr/declaw-test-marker-{token}", b"host content\n")
        os.chmod(existing, 0o644)
        created = f"/usr/declaw-test-marker-{token}-new"
        self.addCleanup(remove_host_path, created)
        before = host_state(existing)
        sbx = self.api.create()  # a fresh one: the marker is in the host's /usr from its start
        self.addCleanup(self.api.kill, sbx)
        res = self.api.run(sbx, f"touch {created} && echo x >> {existing} && "
                                f"chmod 0777 {existing} && cat {existing} && rm -f {existing} "
                                f"&& ls {existing}", user="root")
        self.assertEqual(res["exit_code"], 2, res)  # ls: the file is gone in the sandbox
        self.assertEqual(res["stdout"], "host content\nx\n")
        self.assertFalse(os.path.lexists(created), "a file appeared in the host's /usr")
        self.assertEqual(host_state(existing), before, "the host file in /usr changed")
        # And user may not change /usr at all.
        res = self.api.run(sbx, f"touch /usr/declaw-{token}-user")
        self.assertNotEqual(res["exit_code"], 0, res)
        self.assertIn("Permission denied", res["stderr"])
        self.assertFalse(os.path.lexists(f"/usr/declaw-{token}-user"))

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
