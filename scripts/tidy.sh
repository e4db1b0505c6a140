#!/usr/bin/env bash
# clang-tidy (Debian 12: clang-tidy 14) over declaw's C++ with .clang-tidy, using the compile
# commands of build/ (scripts/build.sh writes build/compile_commands.json). Every finding is an
# error. What is checked, what is not and why: docs/static-analysis.md.
#
#   scripts/tidy.sh            what a change touches: the files that differ between the work tree
#                              and the merge-base of HEAD with DECLAW_TIDY_BASE (default origin/main,
#                              else main), committed or not, untracked included. With no such change
#                              (a clean clone of main, as in CI): the files of the last
#                              DECLAW_TIDY_COMMITS commits (default 10; merges count as one).
#   scripts/tidy.sh --all      every translation unit (17 to 20 minutes on 2 busy cores: see the doc)
#   scripts/tidy.sh FILE...    these files
#   scripts/tidy.sh --list ... only print the translation units it would check
#
# A changed header is checked through one translation unit that includes it (its own .cc when it
# has one): its findings show through any of them. Left out: tests/probes/ (the attacker's C
# programs, see the doc) and fuzz/ (built only by scripts/asan-build.sh). TIDY_JOBS (default 2)
# clang-tidy processes run at once; each takes 3-20 s and up to 500 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build
jobs=${TIDY_JOBS:-2}

tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$tidy" ]; then
  echo "tidy.sh: needs clang-tidy (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy.sh: no $build/compile_commands.json: run scripts/build.sh first" >&2
  exit 1
fi

# Every translation unit the build compiles, relative to the repository, less the excluded.
mapfile -t units < <(python3 -c '
import json, os, sys
root = sys.argv[2]
for entry in json.load(open(sys.argv[1])):
    path = os.path.relpath(os.path.join(entry["directory"], entry["file"]), root)
    if not path.startswith("tests/probes/"):
        print(path)
' "$build/compile_commands.json" "$root" | sort -u)
declare -A is_unit=()
for u in "${units[@]}"; do is_unit[$u]=1; done

# unitFor HEADER: a translation unit that includes it: its own .cc, else the first the build's
# dependency records (ninja -t deps, paths relative to build/) name.
deps=
unitFor() {
  local header=$1
  if [ -n "${is_unit[${header%.h}.cc]:-}" ]; then
    echo "${header%.h}.cc"
    return
  fi
  awk -v want="$header" -v root="$root/" '
    /^[^ ]/ { source = ""; next }
    {
      path = $1
      sub(/^\.\.\//, "", path)
      if (index(path, root) == 1) path = substr(path, length(root) + 1)
      if (source == "") source = path
      if (path == want) { print source; exit }
    }' <<<"$deps"
}

list_only=0
if [ "${1:-}" = --list ]; then
  list_only=1
  shift
fi

# The files to look at.
files=()
if [ "${1:-}" = --all ]; then
  files=("${units[@]}")
elif [ $# -gt 0 ]; then
  files=("$@")
else
  base_ref=${DECLAW_TIDY_BASE:-}
  if [ -z "$base_ref" ]; then
    for ref in origin/main main; do
      if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
        base_ref=$ref
        break
      fi
    done
  fi
  base=$(git merge-base HEAD "${base_ref:-HEAD}" 2>/dev/null || git rev-parse HEAD)
  changed() {
    git diff --name-only --diff-filter=d "$1" -- '*.cc' '*.h'
    git ls-files --others --exclude-standard -- '*.cc' '*.h'
  }
  mapfile -t files < <(changed "$base")
  if [ ${#files[@]} -eq 0 ]; then
    commits=${DECLAW_TIDY_COMMITS:-10}
    base=$(git rev-list --first-parent --max-count="$((commits + 1))" HEAD | tail -n 1)
    echo "tidy.sh: nothing changed against ${base_ref:-HEAD}: the last $commits commits' files"
    mapfile -t files < <(changed "$base")
  fi
fi

# The translation units for those files.
declare -A selected=()
for f in "${files[@]}"; do
  f=${f#./}
  if [ -n "${is_unit[$f]:-}" ]; then
    selected[$f]=1
  elif [[ $f == *.h ]]; then
    [ -n "$deps" ] || deps=$(ninja -C "$build" -t deps)
    u=$(unitFor "$f")
    if [ -n "$u" ] && [ -n "${is_unit[$u]:-}" ]; then
      selected[$u]=1
    elif [ -z "$deps" ]; then
      echo "tidy.sh: $f: $build/ has no dependency records yet: run scripts/build.sh" >&2
      exit 1
    else
      echo "tidy.sh: $f: no checked translation unit includes it; skipped"
    fi
  elif [[ $f != tests/probes/* && $f != fuzz/* ]]; then
    echo "tidy.sh: $f: not in $build/compile_commands.json (a new file? rerun scripts/build.sh)"
  fi
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "tidy.sh: no translation unit to check"
  exit 0
fi
mapfile -t todo < <(printf '%s\n' "${!selected[@]}" | sort)
if [ "$list_only" = 1 ]; then
  printf '%s\n' "${todo[@]}"
  exit 0
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export tidy build logs
checkOne() {
  local unit=$1 start=$SECONDS log
  log="$logs/${unit//\//_}.log"
  if "$tidy" -p "$build" --quiet "$unit" >"$log" 2>&1; then
    echo "tidy.sh: $unit: clean ($((SECONDS - start)) s)"
  else
    echo "$unit" >>"$logs/failed"
    echo "tidy.sh: $unit: FINDINGS ($((SECONDS - start)) s)"
  fi
}
export -f checkOne

echo "tidy.sh: ${#todo[@]} translation units, $jobs at a time"
start=$SECONDS
printf '%s\n' "${todo[@]}" | xargs -d '\n' -P "$jobs" -I{} bash -c 'checkOne "$1"' _ {}

if [ ! -f "$logs/failed" ]; then
  echo "tidy.sh: ${#todo[@]} translation units clean in $((SECONDS - start)) s"
  exit 0
fi
mapfile -t failed < <(sort "$logs/failed")
for unit in "${failed[@]}"; do
  echo "=== $unit"
  grep -v -E '^[0-9]+ (warning|error)s? generated\.$' "$logs/${unit//\//_}.log" || true
done
# A header's finding shows once per translation unit that includes it: list each once.
echo "tidy.sh: findings (fix them; a NOLINT needs a reason, see docs/static-analysis.md):"
cat "$logs"/*.log | grep -E '^[^ ].*: (warning|error): ' | sed "s|^$root/||" | sort -u
exit 1
