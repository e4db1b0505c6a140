#!/usr/bin/env bash
# Runs the tests under ASan+UBSan, in the sanitized build (scripts/asan-build.sh: clang,
# build-asan/), as root. Any sanitizer report fails the test that hit it: reports abort the
# process (-fno-sanitize-recover, halt_on_error, abort_on_error), and the integration harness
# fails a daemon that does not exit 0, printing the end of its log (where the report is).
#
#   scripts/test-asan.sh             what CI runs: every unit and integration test but ASAN_EXCLUDE
#   scripts/test-asan.sh --all       every unit and integration test (about 1.5 min more)
#   scripts/test-asan.sh -R files    extra arguments go to ctest
#   ASAN_INTEGRATION=0 scripts/test-asan.sh   unit tests only (no root needed)
#
# Left out by default (ASAN_EXCLUDE, a ctest -E regex), to keep CI short: the Python SDK tests,
# whose daemon side the integration tests drive too (the SDK itself is Python, which no
# sanitizer sees), and the resource tests, which mostly wait for the kernel to throttle or
# OOM-kill (the cgroup code runs in integration.cgroup), and packaging.deb, which tests the
# packaging, not the code: debhelper's dwz cannot read clang's DWARF 5, and a package of
# sanitized binaries is nothing anyone installs. Everything else runs: the security
# suite, the daemon's request, process, file, lifecycle, network and hostile-input tests,
# declaw-init driven directly, the cgroup and network plumbing, zz_leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${ASAN_BUILD_DIR:-$root/build-asan}
integration=${ASAN_INTEGRATION:-1}
exclude=${ASAN_EXCLUDE-'^python\.|^integration\.(ctl_)?resources$|^packaging\.deb$'}
if [ "${1:-}" = --all ]; then
  exclude=
  shift
fi

if [ "$integration" != 0 ] && [ "$(id -u)" != 0 ]; then
  echo "test-asan.sh: the integration tests need root (or ASAN_INTEGRATION=0)" >&2
  exit 1
fi

ASAN_BUILD_DIR=$build ./scripts/asan-build.sh

# detect_leaks: a leak is a finding too. abort_on_error: a report ends the process with SIGABRT,
# which every test notices. halt_on_error: stop at the first report instead of going on.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -z "$symbolizer" ] || export ASAN_SYMBOLIZER_PATH="$symbolizer"

cd "$build"
status=0
ctest --output-on-failure --timeout 900 -L unit "$@" || status=1
if [ "$integration" != 0 ]; then
  ctest --output-on-failure --timeout 900 -L integration ${exclude:+-E "$exclude"} "$@" ||
    status=1
fi
if [ "$status" != 0 ]; then
  echo "test-asan.sh: failures under ASan+UBSan (reports are in the test output above)" >&2
fi
exit "$status"
