#!/usr/bin/env bash
# The README's first command: install hsrnet on a fresh machine and run its demonstration: exact sparse SGD
# against dense SGD on the same trajectory (about a minute on 2 cores; writes hsrnet-demo.png here).
# Options are passed on to `hsrnet demo` (--quick, --quiet, --plot PATH, --threads N, --seed S).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
"$VENV/bin/hsrnet" demo "$@"
