#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ in the sanitized build (scripts/asan-build.sh: clang,
# ASan+UBSan, build-asan/) and runs each for a bounded time, together about FUZZ_SECONDS
# (default 60), seeded from fuzz/corpus/<target>/. Any crash, leak, timeout or broken invariant
# fails the script and prints the finding and the input that caused it (base64, up to 64 KiB).
#
#   scripts/fuzz.sh                            every target
#   scripts/fuzz.sh fuzz_router                some targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh           longer
#   build-asan/fuzz/fuzz_router CRASH          replay a reproducer
#
# New inputs the fuzzers find go to build-asan/fuzz-work/corpus/<target>/ (kept between local
# runs); the seeds are only read. To keep a finding as a seed, copy it to fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${ASAN_BUILD_DIR:-$root/build-asan}
total_seconds=${FUZZ_SECONDS:-60}
work_dir=$build/fuzz-work

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_router fuzz_ctl_http fuzz_wire_json fuzz_paths fuzz_policy fuzz_sniff fuzz_netsvc
           fuzz_protocol fuzz_image_manifest fuzz_layer_unpack)
fi

mkdir -p "$build"
ASAN_BUILD_DIR=$build ./scripts/asan-build.sh "${targets[@]}" >"$build/fuzz-build.log" 2>&1 || {
  tail -n 40 "$build/fuzz-build.log" >&2
  echo "fuzz.sh: building the fuzz targets failed (log: $build/fuzz-build.log)" >&2
  exit 1
}
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -z "$symbolizer" ] || export ASAN_SYMBOLIZER_PATH="$symbolizer"

per_target=$(( total_seconds / ${#targets[@]} ))
[ "$per_target" -ge 1 ] || per_target=1
mkdir -p "$work_dir/corpus" "$work_dir/crashes" "$work_dir/logs"
failed=()
for target in "${targets[@]}"; do
  work="$work_dir/corpus/$target"
  seeds="$root/fuzz/corpus/$target"
  log="$work_dir/logs/$target.log"
  mkdir -p "$work"
  # -timeout: one input may take 5 s; -rss_limit_mb: a 2 GiB peak is a bug (an allocation sized
  # by hostile input), not a slow run.
  if "$build/fuzz/$target" "$work" "$seeds" \
      -max_total_time="$per_target" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work_dir/crashes/$target-" >"$log" 2>&1; then
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
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      # The input itself, so that a finding in CI (whose build dir is gone) can be replayed.
      echo "fuzz.sh: reproducer: $artifact ($(stat -c %s "$artifact") bytes), base64:" >&2
      head -c 65536 "$artifact" | base64 -w 100 >&2
      [ "$(stat -c %s "$artifact")" -le 65536 ] || echo "fuzz.sh: (first 64 KiB only)" >&2
      echo "fuzz.sh: to replay, base64 -d the lines above into a file (say crash), then:" \
        "scripts/asan-build.sh $target && build-asan/fuzz/$target crash" >&2
    else
      echo "fuzz.sh: no reproducer was written; the whole log: $log" >&2
      tail -n 20 "$log" >&2
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${per_target}s each without a finding"
