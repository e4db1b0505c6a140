#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan) into build-fuzz/ and runs each for a
# bounded time, together about FUZZ_SECONDS (default 60). Any crash, leak, timeout or broken
# invariant fails the script and prints the reproducer.
#
#   scripts/fuzz.sh                      every target
#   scripts/fuzz.sh fuzz_router          some targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh     longer
#   build-fuzz/fuzz/fuzz_router CRASH    replay a reproducer
#
# New inputs the fuzzers find go to build-fuzz/corpus/<target>/ (kept between local runs); the
# seeds in fuzz/corpus/<target>/ are only read. To keep a finding as a seed, copy it there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
total_seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_router fuzz_ctl_http fuzz_wire_json fuzz_paths fuzz_policy fuzz_sniff fuzz_netsvc
           fuzz_protocol)
fi

clang_cc=$(command -v clang || command -v clang-14 || true)
clang_cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$clang_cc" ] || [ -z "$clang_cxx" ]; then
  echo "fuzz.sh: needs clang and libclang-rt-dev (scripts/install-deps.sh installs them)" >&2
  exit 1
fi

# Share ccache hits between clones in different folders, as build.sh does.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$clang_cc" -DCMAKE_CXX_COMPILER="$clang_cxx" \
    -DDECLAW_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
fi
cmake --build "$build" --target "${targets[@]}" -j"$jobs" >"$build/build.log" 2>&1 || {
  tail -n 40 "$build/build.log" >&2
  echo "fuzz.sh: building the fuzz targets failed (log: $build/build.log)" >&2
  exit 1
}

per_target=$(( total_seconds / ${#targets[@]} ))
[ "$per_target" -ge 1 ] || per_target=1
mkdir -p "$build/corpus" "$build/crashes" "$build/logs"
failed=()
for target in "${targets[@]}"; do
  work="$build/corpus/$target"
  seeds="$root/fuzz/corpus/$target"
  log="$build/logs/$target.log"
  mkdir -p "$work"
  # -timeout: one input may take 5 s; -rss_limit_mb: a 2 GiB peak is a bug (an allocation sized
  # by hostile input), not a slow run.
  if "$build/fuzz/$target" "$work" "$seeds" \
      -max_total_time="$per_target" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/crashes/$target-" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz.sh: $target ok: ${runs:-?} inputs in ${per_target}s, ${cov:-cov: ?}"
  else
    failed+=("$target")
    echo "fuzz.sh: $target FAILED; the end of $log:" >&2
    # The finding and the frames of our code (not libFuzzer's or libc's).
    grep -E 'invariant broken|ERROR: |SUMMARY: |^  [^ ]|^    #[0-9]+ .*(declaw|fuzz/|LLVMFuzzer)' \
      "$log" | grep -v 'fuzzer::' | head -n 30 >&2 || true
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ -n "$artifact" ]; then
      echo "fuzz.sh: reproducer: $artifact" >&2
      echo "fuzz.sh: replay with: $build/fuzz/$target $artifact" >&2
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${per_target}s each without a finding"
