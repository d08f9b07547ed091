#!/usr/bin/env bash
# Builds the C++ tests with sanitizers and runs them:
#   bash scripts/sanitize.sh            # ASan + UBSan over every test, then TSan over the multi-threaded ones
#   bash scripts/sanitize.sh address    # only ASan + UBSan;   bash scripts/sanitize.sh thread: only TSan
# Slow (an unoptimised-ish instrumented build of every test: ~10+ minutes on 2 cores); not part of CI.
#
# TSan and OpenMP: GCC's libgomp is not instrumented, so TSan cannot see the synchronization at the end of a
# parallel region, and reports races between a region's threads and the code after it that are no races
# (false positives). The TSan run therefore covers the tests that compare 1 and 2 threads with
# OMP_NUM_THREADS=2, suppresses reports inside libgomp (tests/sanitize/tsan.supp), and prints what is left
# for reading; it fails on TSan reports outside libgomp only with HSRNET_TSAN_STRICT=1. A TSan-clean
# OpenMP build needs an instrumented runtime (LLVM's libomp built with -DLIBOMP_TSAN_SUPPORT=ON, with clang).
# Under TSan the 1-vs-2-thread comparisons are very slow: each test binary gets HSRNET_TSAN_TIMEOUT seconds
# (default 1200).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export HSRNET_NEED_GTEST=1
source scripts/bootstrap.sh >/dev/null
"$PY" -m pip install -q cmake ninja cmeel-eigen
BIN="$VENV/bin"
EIGEN_PREFIX=$("$PY" -m cmeel cmake)
JOBS=${JOBS:-$(nproc)}
WHAT=${1:-all}
status=0

if [ "$WHAT" = all ] || [ "$WHAT" = address ]; then
  echo "== ASan + UBSan: every C++ test"
  "$BIN/cmake" -S . -B build/asan -G Ninja -DHSRNET_BUILD_TESTS=ON -DHSRNET_SANITIZE=address,undefined \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$EIGEN_PREFIX" >/dev/null
  "$BIN/cmake" --build build/asan -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    OMP_NUM_THREADS=2 "$BIN/ctest" --test-dir build/asan --output-on-failure -j 1 || status=1
fi

if [ "$WHAT" = all ] || [ "$WHAT" = thread ]; then
  echo "== TSan: the multi-threaded tests (OMP_NUM_THREADS=2; libgomp reports suppressed, see above)"
  "$BIN/cmake" -S . -B build/tsan -G Ninja -DHSRNET_BUILD_TESTS=ON -DHSRNET_SANITIZE=thread \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$EIGEN_PREFIX" >/dev/null
  "$BIN/cmake" --build build/tsan -j "$JOBS" --target test_index test_trainer test_network
  log=build/tsan/tsan.log
  : >"$log"
  for t in "test_index --gtest_filter=*Thread*:*Batch*" "test_trainer --gtest_filter=*Thread*" "test_network"; do
    set -- $t
    echo "-- $*"
    TSAN_OPTIONS="suppressions=$ROOT/tests/sanitize/tsan.supp halt_on_error=0 report_signal_unsafe=0" \
      OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive timeout "${HSRNET_TSAN_TIMEOUT:-1200}" "build/tsan/tests/cpp/$1" "${@:2}" 2>>"$log" | tail -3 || status=1
  done
  reports=$(grep -c "WARNING: ThreadSanitizer" "$log" || true)
  echo "TSan: $reports report(s) outside the suppressions (full text: $log)"
  if [ "$reports" != 0 ]; then
    grep -A12 "WARNING: ThreadSanitizer" "$log" | head -80
    [ "${HSRNET_TSAN_STRICT:-0}" = 1 ] && status=1
  fi
fi
exit $status
