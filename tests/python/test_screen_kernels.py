"""The batched identification kernels (eigen, avx2, avx512 where the CPU has it): the same firing sets as the
reference scan, and estimators trained with each are bit-identical."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hsrnet import HalfSpaceIndex, HSRClassifier, _core
from sklearn.exceptions import ConvergenceWarning

KERNELS = ["eigen", "avx2", "avx512"]


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    _core._set_screen_kernel("auto")


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="unknown screen kernel"):
        _core._set_screen_kernel("sse2")


@pytest.mark.parametrize("d", [3, 65, 130])
def test_batched_gemm_queries_match_the_scan(d):
    rng = np.random.default_rng(d)
    rows = rng.standard_normal((777, d)).astype(np.float32)
    X = (rng.standard_normal((131, d)) / np.sqrt(d)).astype(np.float32)
    index = HalfSpaceIndex(rows, backend="scan")
    ref = index.query_batch(X, 0.3, backend="scan")
    for kernel in KERNELS:
        _core._set_screen_kernel(kernel)
        got = index.query_batch(X, 0.3, backend="gemm")
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1]), kernel


def test_training_is_identical_with_every_kernel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 40)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1).astype(int)
    runs = {}
    for kernel in KERNELS:
        _core._set_screen_kernel(kernel)
        assert _core._screen_kernel() in ("eigen", "avx2", "avx512")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = HSRClassifier(random_state=0, max_iter=2, n_jobs=1, n_neurons=1024, batch_size=64).fit(X, y)
        runs[kernel] = (est.network_.hidden_weights(), est.network_.output_weights())
    for kernel in KERNELS[1:]:
        assert np.array_equal(runs[kernel][0], runs["eigen"][0]), kernel
        assert np.array_equal(runs[kernel][1], runs["eigen"][1]), kernel
