#!/usr/bin/env bash
# The README's first command: install hsrnet on a fresh machine and run its demonstration.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
"$VENV/bin/hsrnet" index-demo "$@"
