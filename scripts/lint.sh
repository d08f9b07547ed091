#!/usr/bin/env bash
# Formatting and lint, checked in CI: clang-format (C++, .clang-format) and ruff (Python, pyproject.toml).
# Both are pinned here (PyPI wheels) so every machine formats alike. `--fix` rewrites instead.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-${HSRNET_VENV:-$ROOT/.venv}/bin/python}
"$PY" -m pip install -q "clang-format==23.1.5" "ruff==0.17.6"
BIN=$(dirname "$PY")
mapfile -t cxx < <(git ls-files '*.hpp' '*.cpp' '*.h')
if [ "${1:-}" = "--fix" ]; then
  "$BIN/clang-format" -i "${cxx[@]}"
  "$BIN/ruff" format -q . && "$BIN/ruff" check -q --fix .
  exit 0
fi
echo "== clang-format (${#cxx[@]} files)"
"$BIN/clang-format" --dry-run --Werror "${cxx[@]}"
echo "== ruff"
"$BIN/ruff" format --check -q .
"$BIN/ruff" check -q .
echo "lint: clean"
