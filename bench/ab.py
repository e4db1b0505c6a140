#!/usr/bin/env python3
"""A/B of create + first command between builds or configs, fairly: every daemon runs at once and
their creates are interleaved, so the machine's load drifts over all of them alike (separate runs
of bench.py on a shared machine differ by more than a small change costs).

  bench/ab.py --runs 100 before=/tmp/old/build/bin now=build/bin \\
      'ro=build/bin:{"builtin_usr": "read-only"}'

With --rounds N the daemons take turns instead: each in turn starts, makes --runs creates (each
followed by an argv `true` and a kill) and stops, N times over. Use it for changes to what a
daemon does between requests (refills, teardown): side by side, that work of one daemon runs
beside the other's samples, and the comparison measures neither.

Each argument is NAME=BIN_DIR[:CONFIG_JSON]. Prints the p50/p99 of create + `bash -l -c true` per
daemon, and of create + argv `true` for the daemons that take argv commands (with --rounds: of
the create alone, the first command alone, and both). As root.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))]


def daemon_exe(bin_dir, scratch):
    """BIN_DIR's declawd; for a build older than --data-dir (templates), a wrapper that leaves
    the flag out, so the harness of this tree can start it."""
    exe = os.path.join(os.path.abspath(bin_dir), "declawd")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    if "--data-dir" in help_text:
        return exe
    wrapper = os.path.join(scratch, f"declawd-{len(os.listdir(scratch))}")
    with open(wrapper, "w") as f:
        f.write("#!/usr/bin/env python3\nimport os, sys\nargs = sys.argv[1:]\n"
                "if '--data-dir' in args:\n    i = args.index('--data-dir')\n    del args[i:i + 2]\n"
                f"os.execv({exe!r}, [{exe!r}] + args)\n")
    os.chmod(wrapper, 0o755)
    return wrapper


def parse_daemons(specs):
    """[(name, bin_dir, config)] from NAME=BIN_DIR[:CONFIG_JSON] arguments."""
    out = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        bin_dir, _, config = rest.partition(":")
        out.append((name, bin_dir, json.loads(config) if config else {}))
    return out


def in_turns(args):
    """--rounds: each daemon alone in turn, so that what one does between requests (a refill,
    a teardown) lands on its own samples."""
    daemons = parse_daemons(args.daemons)
    parts = ("create", "first", "both")
    times = {name: {part: [] for part in parts} for name, _, _ in daemons}
    scratch = tempfile.mkdtemp(prefix="declaw-ab-")
    try:
        for _ in range(args.rounds):
            for name, bin_dir, config in daemons:
                harness.DECLAWD = daemon_exe(bin_dir, scratch)
                d = harness.Daemon(config)
                try:
                    api = d.client
                    for i in range(args.runs + 5):
                        t = time.perf_counter()
                        sbx = api.create(timeout=60)
                        t1 = time.perf_counter()
                        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"argv": ["true"]})
                        t2 = time.perf_counter()
                        assert r.status == 200 and r.json()["exit_code"] == 0, r
                        api.kill(sbx)
                        if i < 5:
                            continue  # warm-up
                        times[name]["create"].append((t1 - t) * 1000)
                        times[name]["first"].append((t2 - t1) * 1000)
                        times[name]["both"].append((t2 - t) * 1000)
                finally:
                    d.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n = args.runs * args.rounds
    print(f"\n{'create + first argv true':24} " +
          " ".join(f"{part + ' p50':>11} {'p99':>7}" for part in parts) +
          f"   (n={n}, {args.rounds} rounds in turn)")
    for name, values in times.items():
        print(f"{name:24} " + " ".join(f"{pct(values[p], 50):11.2f} {pct(values[p], 99):7.2f}"
                                       for p in parts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=0,
                    help="take turns, this many rounds (0: all daemons at once, interleaved)")
    ap.add_argument("daemons", nargs="+", help="NAME=BIN_DIR[:CONFIG_JSON]")
    args = ap.parse_args()
    if args.rounds > 0:
        in_turns(args)
        return
    daemons = {}
    scratch = tempfile.mkdtemp(prefix="declaw-ab-")
    try:
        for name, bin_dir, config in parse_daemons(args.daemons):
            harness.DECLAWD = daemon_exe(bin_dir, scratch)
            daemons[name] = harness.Daemon(config)
        shell = {name: [] for name in daemons}
        argv = {}
        for i in range(args.runs + 5):
            for name, d in daemons.items():
                api = d.client
                t = time.perf_counter()
                sbx = api.create(timeout=60)
                assert api.run(sbx, "true")["exit_code"] == 0
                took = (time.perf_counter() - t) * 1000
                api.kill(sbx)
                t = time.perf_counter()
                sbx = api.create(timeout=60)
                r = api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"argv": ["true"]})
                argv_took = (time.perf_counter() - t) * 1000
                api.kill(sbx)
                if i < 5:
                    continue  # warm-up
                shell[name].append(took)
                if r.status == 200:
                    argv.setdefault(name, []).append(argv_took)
    finally:
        for d in daemons.values():
            d.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'create + first command':32} {'p50 ms':>8} {'p99 ms':>8}   (n={args.runs}, interleaved)")
    for name, values in shell.items():
        print(f"{name + ', bash -l -c true':32} {pct(values, 50):8.2f} {pct(values, 99):8.2f}")
    for name, values in argv.items():
        print(f"{name + ', argv [true]':32} {pct(values, 50):8.2f} {pct(values, 99):8.2f}")
    first = next(iter(shell))
    for name, values in shell.items():
        if name != first:
            print(f"{name} / {first} (p50, shell): {pct(values, 50) / pct(shell[first], 50):.3f}x")


if __name__ == "__main__":
    main()
