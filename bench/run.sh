#!/usr/bin/env bash
# Runs the latency benchmark against build/bin (build first with scripts/build.sh). As root.
set -euo pipefail
cd "$(dirname "$0")/.."
DECLAW_BIN_DIR="$PWD/build/bin" exec python3 bench/bench.py "$@"
