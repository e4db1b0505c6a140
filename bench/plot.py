#!/usr/bin/python3
"""Draws DIR/latency.png from DIR/results.json (written by bench/bench.py --out DIR): the latency
distribution of each row as a box plot on a log scale, the bwrap one-shot's median as a line
across, and each row's median as a ratio to it. Uses Debian's matplotlib (python3-matplotlib),
hence /usr/bin/python3 rather than whatever python3 is first on PATH.

Usage: /usr/bin/python3 bench/plot.py DIR
"""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the file only
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench/out"
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    rows = results["latency_ms"]
    baseline = results.get("baseline")
    names = list(rows)
    data = [rows[n] for n in names]
    base_p50 = statistics.median(rows[baseline]) if baseline in rows else None

    fig, ax = plt.subplots(figsize=(10, 0.55 * len(names) + 2))
    ax.boxplot(data, vert=False, labels=names, showfliers=False, whis=(1, 99))
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale); box: p25-p75, whiskers: p1-p99")
    if base_p50:
        ax.axvline(base_p50, color="tab:red", linestyle="--", linewidth=1)
        for i, v in enumerate(data, start=1):
            ax.annotate(f"{statistics.median(v) / base_p50:.2f}x", (max(v), i),
                        xytext=(6, -4), textcoords="offset points", fontsize=8)
    m = results.get("machine", {})
    ax.set_title(f"declaw vs a bwrap one-shot (dashed: its median), {results.get('when', '')}, "
                 f"{m.get('cpus', '?')} cores, kernel {m.get('kernel', '?')}, "
                 f"n={results.get('runs', '?')}", fontsize=9)
    ax.invert_yaxis()
    fig.tight_layout()
    path = os.path.join(out, "latency.png")
    fig.savefig(path, dpi=110)
    print(path)


if __name__ == "__main__":
    main()
