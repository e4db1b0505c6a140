#!/usr/bin/env python3
"""Side-by-side latency benchmark: declaw vs bubblewrap, in the same run.

Measures
  create+first: POST /v1/sandboxes then POST .../commands `true` (create-to-first-command)
  ... internet: the same with allow_internet_access and an allow_out list (veth, nft chains,
                DNS stub and proxy listeners; the daemon runs in a network namespace of its own)
  exec true:    POST .../commands `true` in a live sandbox (API round trip)
  bwrap true:   bwrap --unshare-all ... /usr/bin/true (a fresh sandbox per run, from a shell)
and prints p50/p99 and the ratios. Not a test: numbers vary with the machine's load.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from harness import Daemon  # noqa: E402
from netns import Netns  # noqa: E402

BWRAP = ["bwrap", "--unshare-all", "--die-with-parent",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", "/tmp", "/usr/bin/true"]


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()

    d = Daemon()
    api = d.client
    try:
        created = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sbx = api.create(timeout=60)
            assert api.run(sbx, "true")["exit_code"] == 0
            created.append((time.perf_counter() - t) * 1000)
            api.kill(sbx)

        sbx = api.create(timeout=600)
        api.run(sbx, "true")  # warm
        exec_true = timed(lambda: api.run(sbx, "true"), args.runs)
        api.kill(sbx)
    finally:
        d.stop()

    # With a network: everything the daemon does to it stays in a namespace made here.
    netns = Netns()
    d = Daemon({"network": "auto", "net_pool": "198.18.0.0/16", "dns_upstream": ["198.19.0.53"]},
               netns=netns)
    api = d.client
    try:
        networked = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sbx = api.create(timeout=60, allow_internet_access=True,
                             network={"allow_out": ["pypi.org", "198.19.0.0/24"]})
            assert api.run(sbx, "true")["exit_code"] == 0
            networked.append((time.perf_counter() - t) * 1000)
            api.kill(sbx)
    finally:
        d.stop()
        netns.close()

    rows = [("declaw create+first command", created), ("declaw exec `true` (live)", exec_true),
            ("declaw create+first, internet", networked)]
    if shutil.which("bwrap"):
        subprocess.run(BWRAP, check=True)  # warm
        bw = timed(lambda: subprocess.run(BWRAP, check=True), args.runs)
        rows.append(("bwrap --unshare-all true", bw))
    else:
        bw = None
        print("bwrap not found: apt-get install bubblewrap for the baseline", file=sys.stderr)

    print(f"\n{'what':34} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}   (n={args.runs})")
    for name, v in rows:
        print(f"{name:34} {pct(v, 50):9.2f} {pct(v, 99):9.2f} {statistics.mean(v):9.2f}")
    if bw:
        print("\nratios to bwrap (p50; < 1 means declaw is faster):")
        for name, v in rows[:3]:
            print(f"  {name:32} {pct(v, 50) / pct(bw, 50):6.2f}x   p99 {pct(v, 99) / pct(bw, 99):6.2f}x")


    print(f"\ninternet access costs {pct(networked, 50) / pct(created, 50):.2f}x the create+first "
          "command of a sandbox without (p50)")


if __name__ == "__main__":
    main()
