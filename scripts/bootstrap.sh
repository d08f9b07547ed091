#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: brings a fresh Debian/Ubuntu machine to a virtual environment with hsrnet
# installed. Debian packages come from apt (a C++ compiler, Python's venv, GoogleTest for the C++ tests);
# everything else from PyPI (the build pulls scikit-build-core, nanobind and cmeel-eigen by itself).
# Variables: HSRNET_VENV (default .venv in the repository), HSRNET_EXTRAS (e.g. "test").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HSRNET_VENV:-$ROOT/.venv}

need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-dev)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
if [ "${HSRNET_NEED_GTEST:-0}" = 1 ] && [ ! -f /usr/include/gtest/gtest.h ]; then need+=(libgtest-dev); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
spec="$ROOT"
[ -n "${HSRNET_EXTRAS:-}" ] && spec="$ROOT[$HSRNET_EXTRAS]"
echo "bootstrap: building and installing hsrnet into $VENV"
"$PY" -m pip install -q "$spec"
