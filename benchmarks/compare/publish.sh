#!/usr/bin/env bash
# The run behind docs/benchmarks.md, as one command (about 50 minutes on a quiet 2-core machine):
#   bash benchmarks/compare/publish.sh
# Shorter budgets than run.py's full mode (300 s per run, hours in all) so that it fits a working session:
# MNIST 60 s at 1 thread and 40 s at 2 threads (at most 20 epochs), Letter and California 30 s / 20 s (at most
# 200 epochs, scikit-learn's default max_iter), the sphere 15 s / 10 s. Every run records its stop rule.
# hsrnet-best: the fastest settings per data set found by benchmarks/tune_defaults.py --stage solvers.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
BEST='{"mnist": {"threshold": 2.6}, "letter": {"learning_rate_init": 1.0, "batch_size": 64}, "california": {"n_neurons": 2048}}'
run() { "$PY" benchmarks/compare/run.py --hsrnet-best "$BEST" --load-wait 20 "$@"; }
run --threads 1 --datasets mnist --time-budget 60 --max-epochs 20
run --keep-records --threads 1 --datasets letter,california --time-budget 30 --max-epochs 200
run --keep-records --threads 2 --datasets mnist --time-budget 40 --max-epochs 20
run --keep-records --threads 2 --datasets letter,california --time-budget 20 --max-epochs 200
run --keep-records --threads 1 --datasets sphere --time-budget 15 --max-epochs 20
run --keep-records --threads 2 --datasets sphere --time-budget 10 --max-epochs 20 --load-wait 5
