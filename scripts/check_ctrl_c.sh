#!/usr/bin/env bash
# Issue 12, item 1: Ctrl-C during `hsrnet train`, N times (default 20). Each run must exit 130 with one line on
# stderr and leave an existing output file byte for byte as it was.
#   HSRNET_VENV=/path/to/venv bash scripts/check_ctrl_c.sh [N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HSRNET_VENV:-$ROOT/.venv}
N=${1:-20}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$VENV/bin/python" - <<'PY'
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 20))
y = np.argmax(X[:, :5], axis=1)
np.save("multi.npy", np.c_[X, y])
PY
echo "an existing model file" > o.hsr
cp o.hsr o.before
fail=0
for i in $(seq 1 "$N"); do
  set +e
  timeout --preserve-status -s INT 4 "$VENV/bin/hsrnet" train multi.npy --target 20 --task classify -o o.hsr \
    --neurons 4096 --epochs 200 --quiet >out.txt 2>err.txt
  rc=$?
  set -e
  lines=$(wc -l <err.txt)
  if [ "$rc" != 130 ] || [ "$lines" != 1 ] || ! cmp -s o.hsr o.before; then
    echo "run $i: exit $rc, $lines line(s) on stderr:"; cat err.txt; fail=$((fail + 1))
  fi
done
echo "ctrl-c check: $((N - fail)) of $N runs exited 130 with one line on stderr and the output file untouched"
[ "$fail" = 0 ]
