#!/usr/bin/env bash
# The style CI enforces beyond the compiler's -Werror (DECLAW_WERROR, on by default): every C and
# C++ file as .clang-format lays it out (clang-format --dry-run -Werror; fix with
# `scripts/lint.sh --fix`), and pyflakes on the Python SDK, the tests and bench/ (unused imports,
# undefined names).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(git ls-files '*.c' '*.cc' '*.h')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi
status=0
if ! clang-format --dry-run -Werror "${sources[@]}"; then
  echo "lint.sh: the files above are not laid out as .clang-format says: scripts/lint.sh --fix" >&2
  status=1
fi
mapfile -t python < <(git ls-files 'clients/python/*.py' 'tests/*.py' 'bench/*.py')
if ! pyflakes3 "${python[@]}"; then
  echo "lint.sh: pyflakes found the problems above" >&2
  status=1
fi
exit "$status"
