#!/usr/bin/env bash
# README command 2: installs dependencies, builds, runs every test (unit + integration) as root,
# then the fuzz targets for about a minute (scripts/fuzz.sh, build-fuzz/) and the tests again
# under ASan+UBSan (scripts/test-asan.sh, build-asan/).
#
# Arguments go to ctest (scripts/test.sh -R files); a run narrowed that way skips fuzzing and
# the sanitizer run, and so does DECLAW_SKIP_FUZZ_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test.sh: the integration tests create namespaces and uid maps: run as root" >&2
  exit 1
fi
./scripts/install-deps.sh
./scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 "$@")

if [ $# -gt 0 ] || [ "${DECLAW_SKIP_FUZZ_ASAN:-0}" = 1 ]; then
  exit 0
fi
start=$SECONDS
./scripts/fuzz.sh
echo "test.sh: fuzzing took $((SECONDS - start)) s"
start=$SECONDS
./scripts/test-asan.sh
echo "test.sh: the ASan+UBSan run took $((SECONDS - start)) s"
