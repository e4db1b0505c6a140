#!/usr/bin/env bash
# README command 2: installs dependencies, checks the layout (scripts/lint.sh), builds, runs
# clang-tidy on what the last commits changed (scripts/tidy.sh), runs every test (unit +
# integration) as root,
# then the sanitized build (scripts/asan-build.sh, build-asan/): the fuzz targets for about a
# minute (scripts/fuzz.sh) and the tests again under ASan+UBSan (scripts/test-asan.sh).
# Prints how long each phase took.
#
# Arguments go to ctest (scripts/test.sh -R files); a run narrowed that way skips fuzzing and
# the sanitizer run, and so does DECLAW_SKIP_FUZZ_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test.sh: the integration tests create namespaces and uid maps: run as root" >&2
  exit 1
fi

timings=()
# phase NAME COMMAND...: runs it, records how long it took; returns its status.
phase() {
  local name=$1 start=$SECONDS status=0
  shift
  "$@" || status=$?
  timings+=("$name: $((SECONDS - start)) s$([ "$status" = 0 ] || echo " (FAILED)")")
  echo "test.sh: $name took $((SECONDS - start)) s"
  return "$status"
}
report() {
  printf 'test.sh: timings:\n' >&2
  printf '  %s\n' "${timings[@]}" >&2
}
trap report EXIT

phase install-deps ./scripts/install-deps.sh
phase lint ./scripts/lint.sh
phase build ./scripts/build.sh
# After the build: clang-tidy reads build/compile_commands.json. The files of the last commits
# (a clean clone has nothing else to compare against); why not all: docs/static-analysis.md.
phase tidy ./scripts/tidy.sh
phase test-images ./scripts/test-images.sh
phase tests bash -c 'cd build && ctest --output-on-failure --timeout 900 "$@"' ctest "$@"

if [ $# -gt 0 ] || [ "${DECLAW_SKIP_FUZZ_ASAN:-0}" = 1 ]; then
  exit 0
fi
mkdir -p build-asan
phase asan-build bash -c \
  './scripts/asan-build.sh >build-asan/build.log 2>&1 || { tail -n 60 build-asan/build.log; exit 1; }'
# Both run even if one fails, so one CI run shows every finding.
status=0
phase fuzz ./scripts/fuzz.sh || status=1
phase asan-tests ./scripts/test-asan.sh || status=1
exit "$status"
