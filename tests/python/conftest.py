"""Shared helpers for the hsrnet Python tests: brute-force answers and result checks.

Two kinds of expected answers:

* ``brute_force(W, x, b)``: for any finite float32 data. numpy's float32 dot sums in another order than
  hsrnet's reference kernel, so the decision is made in float64 (each float32 product is exact there) and only
  the rows whose float64 dot lies within a proven rounding band of ``b`` are handed to
  ``hsrnet.reference_dot`` -- the function the index is specified against.
* ``exact_answer(W, x, b)``: for "dyadic" data (small multiples of 1/8) where every float32 partial sum is
  exact in any order, so plain numpy in float64 is the exact answer and no reference kernel is consulted.

Hypothesis runs derandomized with a moderate number of examples by default (the suite runs in CI on two
cores); ``HYPOTHESIS_PROFILE=thorough`` runs many more random examples locally.
"""

from __future__ import annotations

import os

import hsrnet
import numpy as np
import pytest
from hsrnet import _core
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(n: int) -> settings:
    """Per-test example count: n in CI, ten times more with the thorough profile."""
    return settings(max_examples=n if PROFILE == "ci" else 10 * n)


BACKENDS = hsrnet.BACKENDS
FLT_MAX = float(np.finfo(np.float32).max)
D_CHOICES = (1, 2, 3, 4, 5, 8, 9, 16, 31, 64, 128, 784)


def brute_force(W: np.ndarray, x: np.ndarray, b) -> np.ndarray:
    """int32 ids, ascending, of the rows r with reference_dot(W[r], x) > b (the index's contract)."""
    W = np.asarray(W, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    b = float(b)
    products = W.astype(np.float64) * x.astype(np.float64)  # exact: 24-bit x 24-bit mantissas
    dot = products.sum(axis=1)
    absdot = np.abs(products).sum(axis=1)
    band = 2.0 * _core.dot_error_coefficient(W.shape[1]) * absdot + 1e-30
    decided = np.abs(dot - b) > band
    # Where float32 partial sums may overflow, the reference kernel returns inf/NaN: ask it directly.
    decided &= absdot < FLT_MAX / 2
    result = dot > b
    for r in np.flatnonzero(~decided):
        result[r] = hsrnet.reference_dot(W[r], x) > b
    return np.flatnonzero(result).astype(np.int32)


def brute_force_reference_only(W: np.ndarray, x: np.ndarray, b) -> np.ndarray:
    """The contract evaluated literally, row by row (slow; small inputs only)."""
    return np.array([r for r in range(W.shape[0]) if hsrnet.reference_dot(W[r], x) > b], dtype=np.int32)


def exact_answer(W: np.ndarray, x: np.ndarray, b) -> np.ndarray:
    """Plain numpy answer; exact only for data whose every partial sum is exact in float32 (dyadic data)."""
    return np.flatnonzero(W.astype(np.float64) @ x.astype(np.float64) > float(b)).astype(np.int32)


def dyadic(rng: np.random.Generator, shape, max_abs: float = 4.0) -> np.ndarray:
    """Multiples of 1/8 in [-max_abs, max_abs]: for d <= 784 every float32 partial sum of a dot is exact."""
    steps = int(max_abs * 8)
    return (rng.integers(-steps, steps + 1, size=shape) / 8.0).astype(np.float32)


def check_ids(ids, m: int) -> None:
    """A query answer: int32, 1-D, strictly ascending, within [0, m)."""
    assert isinstance(ids, np.ndarray)
    assert ids.dtype == np.int32, ids.dtype
    assert ids.ndim == 1
    if ids.size:
        assert ids[0] >= 0 and ids[-1] < m
        assert np.all(np.diff(ids) > 0), "ids not strictly ascending"


def check_csr(result, n: int, m: int):
    """A query_batch answer: (offsets int64 (n+1,), indices int32); returns the n id lists."""
    assert isinstance(result, tuple) and len(result) == 2
    offsets, indices = result
    assert offsets.dtype == np.int64, offsets.dtype
    assert indices.dtype == np.int32, indices.dtype
    assert offsets.shape == (n + 1,)
    assert indices.ndim == 1
    assert offsets[0] == 0
    assert np.all(np.diff(offsets) >= 0)
    assert offsets[-1] == indices.shape[0]
    lists = [indices[offsets[q] : offsets[q + 1]] for q in range(n)]
    for ids in lists:
        check_ids(np.ascontiguousarray(ids), m)
    return lists


def assert_same_ids(got, expected, context="") -> None:
    got = np.asarray(got)
    expected = np.asarray(expected)
    if not np.array_equal(got, expected):
        missing = np.setdiff1d(expected, got)[:10]
        extra = np.setdiff1d(got, expected)[:10]
        pytest.fail(
            f"{context}: got {got.size} ids, expected {expected.size}; "
            f"missing (first 10) {missing.tolist()}, extra (first 10) {extra.tolist()}"
        )


def below(b) -> np.float32:
    """The largest float32 strictly below float32(b)."""
    return np.nextafter(np.float32(b), np.float32(-np.inf))


def above(b) -> np.float32:
    """The smallest float32 strictly above float32(b)."""
    return np.nextafter(np.float32(b), np.float32(np.inf))


@pytest.fixture(scope="session")
def dask_client():
    """A Dask distributed Client on a LocalCluster of 2 worker processes (spawned), 1 thread each, shared by
    the tests/python/test_dask_*.py files; skipped when the dask extra is not installed."""
    distributed = pytest.importorskip(
        "distributed", reason="Dask distributed is not installed (the dask extra: pip install 'hsrnet[dask]')"
    )
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB"
    )
    with cluster, distributed.Client(cluster) as client:
        yield client
