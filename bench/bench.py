#!/usr/bin/env python3
"""Side-by-side latency benchmark: declaw vs bubblewrap, in the same run.

Measures
  create+first: POST /v1/sandboxes then POST .../commands `true` (create-to-first-command),
                from the built-in `base` (an overlay over the host's /usr) and from an imported
                busybox image (an overlay over its idmapped layers)
  ... internet: the same with allow_internet_access and an allow_out list (veth, nft chains,
                DNS stub and proxy listeners; the daemon runs in a network namespace of its own)
  exec true:    POST .../commands `true` in a live sandbox (API round trip), as a shell command
                line (`bash -l -c true`) and as an argv (`["true"]`, no shell)
  bwrap true:   bwrap --unshare-all ... /usr/bin/true (a fresh sandbox per run, from a shell)
  import:       PUT /v1/templates/{name} of a 100 MiB image (busybox + 100 MiB of random files)
  snapshot:     POST .../snapshots of a sandbox that wrote 50 MiB (50 files of 1 MiB)
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
from images import Image, Layer, busybox_layer, import_archive  # noqa: E402
from netns import Netns  # noqa: E402

IMPORT_MIB = 100
SNAPSHOT_MIB = 50

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
    ap.add_argument("--heavy-runs", type=int, default=5, help="imports and snapshots")
    args = ap.parse_args()

    d = Daemon()
    api = d.client
    try:
        def run_argv(sbx, argv):
            r = api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"argv": argv})
            assert r.status == 200 and r.json()["exit_code"] == 0, r

        def create_first(argv=False, **spec):
            sbx = api.create(timeout=60, **spec)
            if argv:
                run_argv(sbx, ["true"])
            else:
                assert api.run(sbx, "true")["exit_code"] == 0
            api.kill(sbx)

        created = []
        for _ in range(args.runs):
            t = time.perf_counter()
            create_first()
            created.append((time.perf_counter() - t) * 1000)

        sbx = api.create(timeout=600)
        api.run(sbx, "true")  # warm
        exec_true = timed(lambda: api.run(sbx, "true"), args.runs)
        run_argv(sbx, ["true"])  # warm
        exec_argv = timed(lambda: run_argv(sbx, ["true"]), args.runs)
        api.kill(sbx)
        created_argv = timed(lambda: create_first(argv=True), args.runs)

        # From an imported image: a busybox root of two layers.
        r = import_archive(api, "bench-busybox",
                           Image([busybox_layer(), Layer().file("hello", "hi")]).oci_archive())
        assert r.status == 201, r
        create_first(template="bench-busybox")  # warm
        from_image = timed(lambda: create_first(template="bench-busybox"), args.runs)

        # Import of a 100 MiB image, and a snapshot of 50 MiB of changes.
        big = Layer()
        for i in range(IMPORT_MIB):
            big.file(f"data/{i}", os.urandom(1 << 20))
        archive = Image([busybox_layer(), big]).oci_archive()
        imports = []
        for i in range(args.heavy_runs):
            t = time.perf_counter()
            r = import_archive(api, f"bench-big-{i}", archive)
            imports.append((time.perf_counter() - t) * 1000)
            assert r.status == 201, r
            api.request("DELETE", f"/v1/templates/bench-big-{i}")
        snapshots = []
        for i in range(args.heavy_runs):
            sbx = api.create(timeout=600, resources={"disk_mb": 4 * SNAPSHOT_MIB})
            api.run(sbx, f"mkdir /tmp/w && for i in $(seq {SNAPSHOT_MIB}); do "
                         f"head -c 1048576 /dev/urandom > /tmp/w/$i; done", timeout=120)
            t = time.perf_counter()
            r = api.request("POST", f"/v1/sandboxes/{sbx}/snapshots", {"name": f"bench-snap-{i}"})
            snapshots.append((time.perf_counter() - t) * 1000)
            assert r.status == 201, r
            api.kill(sbx)
            api.request("DELETE", f"/v1/templates/bench-snap-{i}")
        api.request("DELETE", "/v1/templates/bench-busybox")
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

    rows = [("declaw create+first command", created),
            ("declaw create+first, argv", created_argv),
            ("declaw create+first, busybox image", from_image),
            ("declaw exec `true` (live)", exec_true),
            ("declaw exec argv [true] (live)", exec_argv),
            ("declaw create+first, internet", networked)]
    declaw_rows = len(rows)
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
        for name, v in rows[:declaw_rows]:
            print(f"  {name:32} {pct(v, 50) / pct(bw, 50):6.2f}x   p99 {pct(v, 99) / pct(bw, 99):6.2f}x")


    print(f"\nthe login shell costs {pct(exec_true, 50) - pct(exec_argv, 50):.2f} ms of an exec "
          f"(p50 shell minus p50 argv)")
    print(f"\ninternet access costs {pct(networked, 50) / pct(created, 50):.2f}x the create+first "
          "command of a sandbox without (p50)")
    print(f"\n{'heavy':34} {'min ms':>9} {'p50 ms':>9} {'max ms':>9}   (n={args.heavy_runs})")
    for name, v in ((f"import of a {IMPORT_MIB} MiB image", imports),
                    (f"snapshot of {SNAPSHOT_MIB} MiB of changes", snapshots)):
        print(f"{name:34} {min(v):9.0f} {pct(v, 50):9.0f} {max(v):9.0f}")
    print(f"  import: {IMPORT_MIB / (pct(imports, 50) / 1000):.0f} MiB/s; snapshot: "
          f"{SNAPSHOT_MIB / (pct(snapshots, 50) / 1000):.0f} MiB/s (p50)")


if __name__ == "__main__":
    main()
