#!/usr/bin/env bash
# Configures and builds declaw into build/ (Ninja, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache share hits between clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j"$(nproc)"
