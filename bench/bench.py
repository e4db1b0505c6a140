#!/usr/bin/env python3
"""Side-by-side latency benchmark: declaw vs bubblewrap, in the same run.

Measures
  create+first: POST /v1/sandboxes then POST .../commands `true` (create-to-first-command;
                the kill after it is not timed), from the built-in `base` (an overlay over the
                host's /usr) and from an imported busybox image (an overlay over its idmapped
                layers); `pooled`: from a daemon with a warm pool of `base` (each sample waits,
                untimed, until the pool is full again); `after idle`: the same as argv, each
                sample after the daemon has refilled its inits launched ahead (untimed), as an
                agent's create finds it between tasks; the other rows run back to back, each
                create beside the refill and the teardown of the one before
  ... internet: the same with allow_internet_access and an allow_out list (veth, nft chains,
                DNS stub and proxy listeners; the daemon runs in a network namespace of its own),
                with the first command through the shell and as an argv
  exec true:    POST .../commands `true` in a live sandbox (API round trip), as a shell command
                line (`bash -l -c true`) and as an argv (`["true"]`, no shell)
  bwrap true:   bwrap --unshare-all ... /usr/bin/true (a fresh sandbox per run, from a shell)
  floors:       posix_spawn of /usr/bin/true from this process, no sandbox (what a command
                costs at least: glibc's start-up is most of it on a VM, where CPUID traps), and
                GET /v1/health (a request's round trip); a pooled create + first command is two
                requests and a spawn at least
  import:       PUT /v1/templates/{name} of a 100 MiB image (busybox + 100 MiB of random files)
  snapshot:     POST .../snapshots of a sandbox that wrote 50 MiB (50 files of 1 MiB)
  concurrency:  8 clients creating (and killing) sandboxes at once: creates per second
  1,000 live:   that many sandboxes at once: declawd's RSS, GET /v1/sandboxes, killing them all
Requests go over one keep-alive connection per client thread, as the declaw SDK's transport
sends them (KeepAliveClient); each costs about 0.1-0.2 ms less than a connection of its own.
Prints p50/p99 and the ratios. With --out DIR, writes DIR/results.json (every sample and the
machine) for bench/plot.py, which draws DIR/latency.png. Not a test: numbers vary with the
machine's load.
"""
import argparse
import http.client
import json
import os
import platform
import re
import threading
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from harness import Client, Daemon as TestDaemon, Response, UnixHTTPConnection  # noqa: E402
from images import Image, Layer, busybox_layer, import_archive  # noqa: E402
from netns import Netns  # noqa: E402


class KeepAliveClient(Client):
    """The harness's client over one keep-alive connection per thread, as the declaw SDK's
    transport (and E2B's httpx client) keeps them: what an SDK user's requests cost. A
    connection the daemon closed meanwhile is replaced once."""

    def __init__(self, socket_path):
        super().__init__(socket_path)
        self._local = threading.local()

    def request(self, method, path, body=None, query=None, headers=None, raw=False, timeout=120,
                on_status=None):
        assert on_status is None, "not for streams"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        hdrs = dict(headers or {})
        data = body
        if body is not None and not raw:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
            try:
                conn.request(method, path, body=data, headers=hdrs)
                r = conn.getresponse()
                answer = Response(r.status, dict(r.getheaders()), r.read())
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 1 and reused:
                    continue
                raise
            if r.will_close:
                conn.close()
                self._local.conn = None
            return answer


class Daemon(TestDaemon):
    """A daemon as a user runs it: live restore on (the default), which the test harness turns
    off, and its state dir on a tmpfs, as the default --state-dir /run/declaw is on a Debian
    host (the harness's is on /tmp's disk, where each state record costs 0.1-0.3 ms); driven
    over keep-alive connections, as the SDK drives it; stopped with SIGINT, which kills
    whatever is left."""

    def __init__(self, config=None, **kw):
        self.bench_dir = tempfile.mkdtemp(prefix="declaw-bench-")
        self.bench_state = os.path.join(self.bench_dir, "state")
        os.mkdir(self.bench_state)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "declaw-bench-state",
                        self.bench_state], check=True)
        try:
            super().__init__({"live_restore": True, **(config or {})}, workdir=self.bench_dir,
                             **kw)
        except BaseException:
            self._unmount()
            raise
        self.client = KeepAliveClient(self.socket)

    def mounts_of_ours(self):
        """The harness's leftover check, less the state tmpfs, which is the bench's own."""
        return [m for m in super().mounts_of_ours() if m.split()[4] != self.bench_state]

    def _unmount(self):
        subprocess.run(["umount", "-l", self.bench_state], check=False)
        shutil.rmtree(self.bench_dir, ignore_errors=True)

    def stop(self, signo=signal.SIGINT):
        try:
            super().stop(signo)
        finally:
            self._unmount()


IMPORT_MIB = 100
SNAPSHOT_MIB = 50
POOL_SIZE = 4
LAUNCH_AHEAD = 2  # declawd's default launch_ahead
CLIENTS = 8

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


def argv_runner(api):
    """run(sbx, argv): POST .../commands with an argv, which must exit 0."""
    def run(sbx, argv):
        r = api.request("POST", f"/v1/sandboxes/{sbx}/commands", {"argv": argv})
        assert r.status == 200 and r.json()["exit_code"] == 0, r
    return run


def timed_create_first(api, run_argv=None, **spec):
    """ms from POST /v1/sandboxes to the first command's answer (`true`: argv when run_argv is
    given, else the shell); the kill after it is not timed."""
    t = time.perf_counter()
    sbx = api.create(timeout=60, **spec)
    if run_argv:
        run_argv(sbx, ["true"])
    else:
        assert api.run(sbx, "true")["exit_code"] == 0
    took = (time.perf_counter() - t) * 1000
    api.kill(sbx)
    return took


def pool_counter(api, name, template="base"):
    body = api.request("GET", "/metrics").body.decode()
    m = re.search(rf'^{name}{{template="{template}"}} (\d+)$', body, re.MULTILINE)
    return int(m.group(1)) if m else None


def wait_ahead_ready(api, want, timeout=30):
    """Until the daemon's inits launched ahead are all there again (launch_ahead's default)."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.request("GET", "/metrics").body.decode()
        m = re.search(r"^declaw_launch_ahead_ready (\d+)$", body, re.MULTILINE)
        if m and int(m.group(1)) >= want:
            return
        assert time.monotonic() < deadline, "the inits launched ahead were not refilled"
        time.sleep(0.005)


def wait_pool_full(api, timeout=30):
    deadline = time.monotonic() + timeout
    while pool_counter(api, "declaw_pool_ready") != POOL_SIZE:
        assert time.monotonic() < deadline, "the pool did not refill"
        time.sleep(0.005)


def in_parallel(n, fn):
    """Runs fn(i) for i in range(n) on CLIENTS threads; the wall time in seconds."""
    next_i = iter(range(n))
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            try:
                fn(i)
            except Exception as e:  # a failed create is a result to report, not a crash
                errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t


def creates_per_second(api, n):
    """CLIENTS clients each creating a sandbox and killing it, n creates in all."""
    hits = pool_counter(api, "declaw_pool_hits_total") or 0

    def one(_):
        api.kill(api.create(timeout=60))

    wall = in_parallel(n, one)
    return {"creates": n, "seconds": wall, "per_s": n / wall,
            "hits": (pool_counter(api, "declaw_pool_hits_total") or 0) - hits}


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        kib = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.MULTILINE).group(1))
    return kib / 1024


def thousand_live(n):
    """n sandboxes at once: declawd's RSS with them, listing them, killing them all."""
    d = Daemon({"max_sandboxes": n + 1, "id_pool_slots": n + 24})
    api = d.client
    try:
        ids = [None] * n

        def make(i):
            ids[i] = api.create(timeout=3600)

        create_s = in_parallel(n, make)
        rss = rss_mib(d.proc.pid)
        list_ms, size = [], 0
        for _ in range(20):
            t = time.perf_counter()
            r = api.request("GET", "/v1/sandboxes")
            list_ms.append((time.perf_counter() - t) * 1000)
            assert r.status == 200
            size = len(r.body)
        assert len(json.loads(r.body)["sandboxes"]) >= n
        kill_s = in_parallel(n, lambda i: api.kill(ids[i]))
        return {"n": n, "create_s": create_s, "rss_mib": rss, "list_ms": list_ms,
                "list_bytes": size, "kill_s": kill_s}
    finally:
        d.stop(signal.SIGINT)


def machine():
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kib / (1 << 20), 1),
            "kernel": platform.release(), "python": platform.python_version()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--heavy-runs", type=int, default=5, help="imports and snapshots")
    ap.add_argument("--concurrent-creates", type=int, default=200,
                    help=f"creates in all across the {CLIENTS} clients")
    ap.add_argument("--live", type=int, default=1000, help="sandboxes at once (0: skip)")
    ap.add_argument("--out", help="directory for results.json")
    args = ap.parse_args()

    # The baseline at the start and again at the end of the declaw rows: the machine drifts.
    have_bwrap = shutil.which("bwrap") is not None
    bw_start = []
    if have_bwrap:
        subprocess.run(BWRAP, check=True)  # warm
        bw_start = timed(lambda: subprocess.run(BWRAP, check=True), args.runs // 2)
    else:
        print("bwrap not found: apt-get install bubblewrap for the baseline", file=sys.stderr)

    # Floors, no sandbox: what spawning `true` costs here (glibc's start-up included), measured
    # from this process as the daemon's init spawns it; and a request's round trip to declawd.
    def spawn_true():
        pid = os.posix_spawn("/usr/bin/true", ["true"], os.environ)
        _, status = os.waitpid(pid, 0)
        assert status == 0

    spawn_true()  # warm
    spawns = timed(spawn_true, args.runs)

    d = Daemon()
    api = d.client
    try:
        api.request("GET", "/v1/health")  # warm
        round_trips = timed(lambda: api.request("GET", "/v1/health"), args.runs)
        run_argv = argv_runner(api)

        def create_first(argv=False, **spec):
            return timed_create_first(api, run_argv if argv else None, **spec)

        created = [create_first() for _ in range(args.runs)]
        kills = []
        for _ in range(args.runs):
            sbx = api.create(timeout=60)
            t = time.perf_counter()
            api.kill(sbx)
            kills.append((time.perf_counter() - t) * 1000)

        sbx = api.create(timeout=600)
        api.run(sbx, "true")  # warm
        exec_true = timed(lambda: api.run(sbx, "true"), args.runs)
        run_argv(sbx, ["true"])  # warm
        exec_argv = timed(lambda: run_argv(sbx, ["true"]), args.runs)
        api.kill(sbx)
        created_argv = [create_first(argv=True) for _ in range(args.runs)]
        after_idle = []
        for _ in range(args.runs):
            wait_ahead_ready(api, LAUNCH_AHEAD)
            time.sleep(0.002)  # the last refill's own work done, as between an agent's tasks
            after_idle.append(create_first(argv=True))

        # From an imported image: a busybox root of two layers.
        r = import_archive(api, "bench-busybox",
                           Image([busybox_layer(), Layer().file("hello", "hi")]).oci_archive())
        assert r.status == 201, r
        create_first(template="bench-busybox")  # warm
        from_image = [create_first(template="bench-busybox") for _ in range(args.runs)]
        concurrent = creates_per_second(api, args.concurrent_creates)

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
        d.stop(signal.SIGINT)

    # A warm pool of the built-in: each create takes a ready sandbox.
    d = Daemon({"pool": {"base": POOL_SIZE}})
    api = d.client
    try:
        run_argv_pooled = argv_runner(api)

        pooled = []
        for _ in range(args.runs):
            wait_pool_full(api)
            pooled.append(timed_create_first(api, run_argv_pooled))
        hits = pool_counter(api, "declaw_pool_hits_total")
        assert hits == args.runs, f"only {hits} of {args.runs} pooled creates were hits"
        concurrent_pooled = creates_per_second(api, args.concurrent_creates)
    finally:
        d.stop(signal.SIGINT)

    # With a network: everything the daemon does to it stays in a namespace made here.
    netns = Netns()
    d = Daemon({"network": "auto", "net_pool": "198.18.0.0/16", "dns_upstream": ["198.19.0.53"]},
               netns=netns)
    api = d.client
    try:
        internet = {"allow_internet_access": True,
                    "network": {"allow_out": ["pypi.org", "198.19.0.0/24"]}}

        run_argv_networked = argv_runner(api)

        networked = [timed_create_first(api, None, **internet) for _ in range(args.runs)]
        networked_argv = [timed_create_first(api, run_argv_networked, **internet)
                          for _ in range(args.runs)]
    finally:
        d.stop(signal.SIGINT)
        netns.close()

    rows = [("declaw create+first command", created),
            ("declaw create+first, argv", created_argv),
            ("declaw create+first, argv, after idle", after_idle),
            ("declaw create+first, busybox image", from_image),
            ("declaw create+first, argv, pooled", pooled),
            ("declaw exec `true` (live)", exec_true),
            ("declaw exec argv [true] (live)", exec_argv),
            ("declaw create+first, internet", networked),
            ("declaw create+first, internet, argv", networked_argv),
            ("declaw kill", kills)]
    declaw_rows = len(rows)
    bw = None
    if have_bwrap:
        bw_end = timed(lambda: subprocess.run(BWRAP, check=True), args.runs - args.runs // 2)
        bw = bw_start + bw_end
        rows.append(("bwrap --unshare-all true", bw))
    rows.append(("floor: spawn `true`, no sandbox", spawns))
    rows.append(("floor: a request's round trip", round_trips))
    # Last: a thousand sandboxes' teardown (network namespaces go asynchronously) must not slow
    # the rows above.
    live = thousand_live(args.live) if args.live else None

    print(f"\n{'what':34} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}   (n={args.runs})")
    for name, v in rows:
        print(f"{name:34} {pct(v, 50):9.2f} {pct(v, 99):9.2f} {statistics.mean(v):9.2f}")
    if bw:
        print(f"\nbwrap p50 at the start {pct(bw_start, 50):.2f} ms, at the end "
              f"{pct(bw_end, 50):.2f} ms")
        print("ratios to bwrap (p50 of both; < 1 means declaw is faster):")
        for name, v in rows[:declaw_rows]:
            print(f"  {name:32} {pct(v, 50) / pct(bw, 50):6.2f}x   p99 {pct(v, 99) / pct(bw, 99):6.2f}x")


    pooled_floor = pct(spawns, 50) + 2 * pct(round_trips, 50)
    print(f"\na pooled create + first command is two requests and a spawn at least: "
          f"{pooled_floor:.2f} ms" + (f", {pooled_floor / pct(bw, 50):.2f}x bwrap" if bw else "")
          + f" (spawn p50 {pct(spawns, 50):.2f} ms, round trip p50 "
          f"{pct(round_trips, 50):.2f} ms; the pooled row: {pct(pooled, 50):.2f} ms)")
    print(f"\nthe login shell costs {pct(exec_true, 50) - pct(exec_argv, 50):.2f} ms of an exec "
          f"(p50 shell minus p50 argv)")
    print(f"\ninternet access costs {pct(networked, 50) / pct(created, 50):.2f}x the create+first "
          "command of a sandbox without (p50)")
    print(f"\n{CLIENTS} clients creating and killing at once: {concurrent['per_s']:.0f} creates/s "
          f"without a pool, {concurrent_pooled['per_s']:.0f} with a pool of {POOL_SIZE} "
          f"({concurrent_pooled['hits']} of {concurrent_pooled['creates']} from it)")
    if live:
        print(f"\n{live['n']} live sandboxes: made in {live['create_s']:.1f} s "
              f"({live['n'] / live['create_s']:.0f}/s, {CLIENTS} clients); declawd RSS "
              f"{live['rss_mib']:.1f} MiB; GET /v1/sandboxes p50 {pct(live['list_ms'], 50):.1f} ms "
              f"({live['list_bytes']} bytes); killing all took {live['kill_s']:.1f} s")
    print(f"\n{'heavy':34} {'min ms':>9} {'p50 ms':>9} {'max ms':>9}   (n={args.heavy_runs})")
    for name, v in ((f"import of a {IMPORT_MIB} MiB image", imports),
                    (f"snapshot of {SNAPSHOT_MIB} MiB of changes", snapshots)):
        print(f"{name:34} {min(v):9.0f} {pct(v, 50):9.0f} {max(v):9.0f}")
    print(f"  import: {IMPORT_MIB / (pct(imports, 50) / 1000):.0f} MiB/s; snapshot: "
          f"{SNAPSHOT_MIB / (pct(snapshots, 50) / 1000):.0f} MiB/s (p50)")

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        results = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "runs": args.runs,
            "latency_ms": {name: v for name, v in rows},
            "baseline": "bwrap --unshare-all true" if bw else None,
            "baseline_p50_start_end_ms": [pct(bw_start, 50), pct(bw_end, 50)] if bw else None,
            "concurrency": {"clients": CLIENTS, "no_pool": concurrent,
                            "pool": concurrent_pooled},
            "live": live,
            "heavy_ms": {"import": imports, "snapshot": snapshots},
        }
        path = os.path.join(args.out, "results.json")
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"\nresults in {path} (plot: /usr/bin/python3 bench/plot.py {args.out})")


if __name__ == "__main__":
    main()
