#!/usr/bin/env bash
# Configures and builds declaw into build/ (Ninja, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache share hits between clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j"$(nproc)"
# The TypeScript SDK (clients/js/dist, and examples/*.ts into dist/examples): tsc, with the
# devDependencies scripts/install-deps.sh installed (npm ci needs the registry; this step does not).
if [ -d clients/js/node_modules/typescript ]; then
  (cd clients/js && npm run --silent build)
else
  echo "build.sh: clients/js has no node_modules: run scripts/install-deps.sh to build the TypeScript SDK" >&2
fi
