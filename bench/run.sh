#!/usr/bin/env bash
# Runs the latency benchmark against build/bin (build first with scripts/build.sh), as root, and
# writes bench/out/results.json and, with Debian's python3-matplotlib, bench/out/latency.png.
# Arguments go to bench/bench.py (e.g. --runs 50 --live 0).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${DECLAW_BENCH_OUT:-bench/out}"
DECLAW_BIN_DIR="$PWD/build/bin" python3 bench/bench.py --out "$out" "$@"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 bench/plot.py "$out"
else
  echo "no plot: apt-get install python3-matplotlib" >&2
fi
