#!/usr/bin/env bash
# Fuzzes the model-file reader (tests/fuzz/fuzz_model_file.py, atheris/libFuzzer) for a while, keeping the
# corpus in build/fuzz-corpus so later runs start where this one stopped. Findings: build/fuzz/crash-*.
#   HSRNET_VENV=/path/to/venv bash scripts/fuzz.sh [seconds, default 600] [more libFuzzer flags]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HSRNET_VENV:-$ROOT/.venv}
SECONDS_TO_RUN=${1:-600}
shift || true
"$VENV/bin/python" -c "import atheris" 2>/dev/null || "$VENV/bin/python" -m pip install -q atheris
mkdir -p "$ROOT/build/fuzz-corpus" "$ROOT/build/fuzz"
exec "$VENV/bin/python" "$ROOT/tests/fuzz/fuzz_model_file.py" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$ROOT/build/fuzz/" "$@" "$ROOT/build/fuzz-corpus"
