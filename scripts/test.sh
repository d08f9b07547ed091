#!/usr/bin/env bash
# The README's second command: the whole test suite on a fresh machine.
#   1. C++: configure with GoogleTest, build, run ctest;
#   2. install the headers + CMake package and build examples/cpp against the installed copy, then run it;
#   3. Python: pytest against the installed package.
set -euo pipefail
# The bench extra brings the competitors (torch, the local CPU wheel) so their runners are tested too; the dask
# extra brings Dask distributed and dask-ml for tests/python/test_dask_*.py.
export HSRNET_NEED_GTEST=1 HSRNET_EXTRAS=${HSRNET_EXTRAS:-test,bench,dask}
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
JOBS=${JOBS:-$(nproc)}
"$PY" -m pip install -q cmake ninja cmeel-eigen
BIN="$VENV/bin"
EIGEN_PREFIX=$("$PY" -m cmeel cmake)

echo "== C++ unit tests (ctest)"
"$BIN/cmake" -S . -B build/cpp -G Ninja -DHSRNET_BUILD_TESTS=ON -DCMAKE_PREFIX_PATH="$EIGEN_PREFIX" >/dev/null
"$BIN/cmake" --build build/cpp -j "$JOBS"
OMP_NUM_THREADS=2 "$BIN/ctest" --test-dir build/cpp --output-on-failure -j 1

echo "== C++ consumer of the installed package (find_package(hsrnet))"
rm -rf build/install build/example
"$BIN/cmake" --install build/cpp --prefix build/install >/dev/null
"$BIN/cmake" -S examples/cpp -B build/example -G Ninja -DCMAKE_PREFIX_PATH="$ROOT/build/install;$EIGEN_PREFIX" >/dev/null
"$BIN/cmake" --build build/example -j "$JOBS"
OMP_NUM_THREADS=2 build/example/hsrnet_example

echo "== Python tests (pytest)"
OMP_NUM_THREADS=2 "$PY" -m pytest -q
