#!/usr/bin/env bash
# README command 2: installs dependencies, builds, runs every test (unit + integration) as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test.sh: the integration tests create namespaces and uid maps: run as root" >&2
  exit 1
fi
./scripts/install-deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
