"""Posture probe, run inside a sandbox with python3: prints, as one JSON object, what this
process is: the /proc/self/status fields that carry privileges (ids, groups, capability sets,
no_new_privs, seccomp mode and filter count), its uid and gid maps, the links of /proc/self/ns/*,
its resource limits (/proc/self/limits, as {name: [soft, hard]}) and its /proc/self/cgroup lines.
The test compares it with its table of expected values.
"""
import json
import os

STATUS_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                 "NoNewPrivs", "Seccomp", "Seccomp_filters", "SigBlk")


def read(path):
    with open(path) as f:
        return f.read()


def status():
    fields = {}
    for line in read("/proc/self/status").splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_FIELDS:
            fields[key] = " ".join(value.split())
    return fields


def limits(path="/proc/self/limits"):
    """{name: [soft, hard]}; the test reads declawd's limits with it too."""
    out = {}
    lines = read(path).splitlines()
    soft_at = lines[0].index("Soft Limit")
    hard_at = lines[0].index("Hard Limit")
    units_at = lines[0].index("Units")
    for line in lines[1:]:
        out[line[:soft_at].strip()] = [line[soft_at:hard_at].strip(),
                                       line[hard_at:units_at].strip()]
    return out


def main():
    print(json.dumps({
        "status": status(),
        "uid_map": " ".join(read("/proc/self/uid_map").split()),
        "gid_map": " ".join(read("/proc/self/gid_map").split()),
        "ns": {name: os.readlink(f"/proc/self/ns/{name}")
               for name in sorted(os.listdir("/proc/self/ns"))},
        "limits": limits(),
        "cgroup": read("/proc/self/cgroup").splitlines(),
    }))


if __name__ == "__main__":
    main()
