"""Property tests: every backend reports exactly {r : reference_dot(rows[r], x) > b}."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    BACKENDS,
    D_CHOICES,
    above,
    assert_same_ids,
    below,
    brute_force,
    brute_force_reference_only,
    check_csr,
    check_ids,
    dyadic,
    exact_answer,
    examples,
)
from hsrnet import HalfSpaceIndex, reference_dot
from hypothesis import given
from hypothesis import strategies as st

MAX_ELEMENTS = 200_000  # m * d per example: keeps the suite fast
M_MAX = 3000
EXACT_KINDS = ("dyadic", "int")
KINDS = ("gaussian", "dyadic", "int", "tiny", "large", "mixed")


def make_matrix(rng: np.random.Generator, kind: str, shape) -> np.ndarray:
    if kind == "gaussian":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "dyadic":
        return dyadic(rng, shape)
    if kind == "int":
        return rng.integers(-3, 4, size=shape).astype(np.float32)
    if kind == "tiny":  # products ~1e-40: subnormal float32 products and sums
        return (rng.standard_normal(shape) * 1e-20).astype(np.float32)
    if kind == "large":  # products ~1e30, still far from overflow
        return (rng.standard_normal(shape) * 1e15).astype(np.float32)
    if kind == "mixed":  # magnitudes spread over many binades: cancellation
        mags = 2.0 ** rng.integers(-20, 21, size=shape)
        return (rng.standard_normal(shape) * mags).astype(np.float32)
    raise AssertionError(kind)


def add_special_rows(rng: np.random.Generator, W: np.ndarray, zero_frac: float, dup_frac: float) -> np.ndarray:
    m = W.shape[0]
    W = W.copy()
    if m > 1 and dup_frac > 0:
        k = max(1, int(dup_frac * m))
        src = rng.integers(0, m, size=k)
        dst = rng.integers(0, m, size=k)
        W[dst] = W[src]
    if zero_frac > 0:
        k = max(1, int(zero_frac * m))
        W[rng.integers(0, m, size=k)] = 0.0
    return W


def pick_threshold(rng: np.random.Generator, how: str, W: np.ndarray, x: np.ndarray) -> float:
    """A threshold (a Python float; float32 values and doubles between them) chosen to make the answer
    interesting."""
    m = W.shape[0]
    if how == "zero":
        return 0.0
    if how == "neg_zero":
        return -0.0
    if how == "row":  # exactly some row's reference value: that row sits on the threshold
        return reference_dot(W[rng.integers(m)], x)
    if how == "below_row":
        return float(below(reference_dot(W[rng.integers(m)], x)))
    if how == "quantile":
        dots = W.astype(np.float64) @ x.astype(np.float64)
        return float(np.float32(np.quantile(dots, rng.uniform(0, 1))))
    if how == "quantile64":  # a double that is (almost surely) not a float32
        dots = W.astype(np.float64) @ x.astype(np.float64)
        return float(np.quantile(dots, rng.uniform(0, 1))) * (1 + 1e-12)
    if how == "half_ulp_below_row":  # between a row's value v and the float below: v > b, so v is reported
        v = reference_dot(W[rng.integers(m)], x)
        return (v + float(below(v))) / 2
    if how == "half_ulp_above_row":  # between v and the float above: v is not reported
        v = reference_dot(W[rng.integers(m)], x)
        return (v + float(above(v))) / 2
    if how == "beyond_float32":
        return float(rng.choice([-1e39, 1e39, -1e300]))
    if how == "very_negative":
        return -1e30
    if how == "very_positive":
        return 1e30
    if how == "small_negative":
        return float(np.float32(-1e-6))
    if how == "small_positive":
        return float(np.float32(1e-6))
    raise AssertionError(how)


THRESHOLDS = (
    "zero",
    "neg_zero",
    "row",
    "below_row",
    "quantile",
    "very_negative",
    "very_positive",
    "small_negative",
    "small_positive",
    "quantile64",
    "half_ulp_below_row",
    "half_ulp_above_row",
    "beyond_float32",
)


@st.composite
def problems(draw):
    d = draw(st.sampled_from(D_CHOICES))
    m_max = max(1, min(M_MAX, MAX_ELEMENTS // d))
    m = draw(
        st.one_of(
            st.integers(1, min(m_max, 40)),
            st.sampled_from(range(1, m_max + 1)),
            st.sampled_from([v for v in (1, 7, 8, 9, 63, 64, 65, 511, 512, 513, m_max) if v <= m_max]),
        )
    )
    kind = draw(st.sampled_from(KINDS))
    query_kind = kind if kind in EXACT_KINDS else draw(st.sampled_from(("gaussian", "mixed", "zero", "onehot", kind)))
    zero_frac = draw(st.sampled_from([0.0, 0.0, 0.1, 1.0]))
    dup_frac = draw(st.sampled_from([0.0, 0.0, 0.2, 0.9]))
    n_queries = draw(st.integers(1, 4))
    threshold = draw(st.sampled_from(THRESHOLDS))
    options = dict(
        backend=draw(st.sampled_from(BACKENDS)),
        leaf_size=draw(st.sampled_from([8, 13, 64, 4096])),
        tree_max_dim=draw(st.sampled_from([0, 16, 1000])),
    )
    seed = draw(st.integers(0, 2**32 - 1))
    return d, m, kind, query_kind, zero_frac, dup_frac, n_queries, threshold, options, seed


def build_problem(d, m, kind, query_kind, zero_frac, dup_frac, n_queries, threshold, seed):
    rng = np.random.default_rng(seed)
    W = add_special_rows(rng, make_matrix(rng, kind, (m, d)), zero_frac, dup_frac)
    if query_kind == "zero":
        X = np.zeros((n_queries, d), np.float32)
    elif query_kind == "onehot":
        X = np.zeros((n_queries, d), np.float32)
        X[np.arange(n_queries), rng.integers(0, d, size=n_queries)] = rng.choice([-1.5, 1.0, 3.0], size=n_queries)
    else:
        X = make_matrix(rng, query_kind, (n_queries, d))
    b = pick_threshold(rng, threshold, W, X[0])
    return W, X, b


@examples(300)
@given(problems())
def test_every_backend_matches_brute_force(problem):
    d, m, kind, query_kind, zero_frac, dup_frac, n_queries, threshold, options, seed = problem
    W, X, b = build_problem(d, m, kind, query_kind, zero_frac, dup_frac, n_queries, threshold, seed)
    index = HalfSpaceIndex(W, **options)
    assert (index.m, index.d, len(index)) == (m, d, m)
    exact = kind in EXACT_KINDS
    expected = []
    for x in X:
        e = brute_force(W, x, b)
        if exact:  # two independent oracles must agree where both are exact
            assert_same_ids(e, exact_answer(W, x, b), "brute_force vs exact numpy")
        expected.append(e)
    for backend in BACKENDS:
        for q, x in enumerate(X):
            got = index.query(x, b, backend)
            check_ids(got, m)
            assert_same_ids(got, expected[q], f"query backend={backend} q={q} b={b!r}")
            if backend != "auto":
                assert index.stats()["last_backend"] == backend
        lists = check_csr(index.query_batch(X, b, backend), n_queries, m)
        for q in range(n_queries):
            assert_same_ids(lists[q], expected[q], f"query_batch backend={backend} q={q} b={b!r}")
        if backend != "auto":
            assert index.stats()["last_backend"] == backend
    # The constructor's default backend answers calls that name none.
    assert_same_ids(index.query(X[0], b), expected[0], "default backend")
    # Rows are stored unchanged (the tree permutes its storage internally, never the ids).
    np.testing.assert_array_equal(index.get_rows(), W)


@examples(120)
@given(
    d=st.sampled_from(D_CHOICES),
    m=st.one_of(st.integers(1, 40), st.sampled_from(range(1, 2001))),
    seed=st.integers(0, 2**32 - 1),
    leaf_size=st.sampled_from([8, 64]),
    dup_frac=st.sampled_from([0.0, 0.5]),
)
def test_rows_exactly_on_the_threshold(d, m, seed, leaf_size, dup_frac):
    """Dyadic data: b equal to a row's exact dot must not report it; the next float32 below b must."""
    m = min(m, max(1, MAX_ELEMENTS // d))
    rng = np.random.default_rng(seed)
    W = add_special_rows(rng, dyadic(rng, (m, d)), 0.1, dup_frac)
    x = dyadic(rng, d)
    dots = W.astype(np.float64) @ x.astype(np.float64)
    r = int(rng.integers(m))
    b = float(dots[r])
    assert float(np.float32(b)) == b  # dyadic data: the exact dot is a float32
    assert reference_dot(W[r], x) == b  # ... and the reference kernel computes it exactly
    on = np.flatnonzero(dots == b)
    index = HalfSpaceIndex(W, leaf_size=leaf_size)
    for backend in BACKENDS:
        checks_before = index.stats()["rounding_checks"]
        at = index.query(x, b, backend)
        assert np.intersect1d(at, on).size == 0, f"{backend}: rows with dot == b reported"
        assert_same_ids(at, exact_answer(W, x, b), f"{backend} at b")
        if backend == "gemm":  # the row on the threshold lies inside GEMM's rounding band: verified exactly
            assert index.stats()["rounding_checks"] > checks_before
        lo = below(b)
        under = index.query(x, lo, backend)
        assert np.isin(on, under).all(), f"{backend}: rows with dot == b missing at nextafter(b, -inf)"
        assert_same_ids(under, exact_answer(W, x, lo), f"{backend} below b")
        hi = above(b)
        assert_same_ids(index.query(x, hi, backend), exact_answer(W, x, hi), f"{backend} above b")
        # Doubles strictly between b and its float32 neighbours: compared as real numbers.
        mid_lo, mid_hi = (b + float(lo)) / 2, (b + float(hi)) / 2
        assert float(lo) < mid_lo < b < mid_hi < float(hi)
        assert np.isin(on, index.query(x, mid_lo, backend)).all(), f"{backend}: dot == b > b - half ulp missing"
        assert_same_ids(index.query(x, mid_lo, backend), exact_answer(W, x, mid_lo), f"{backend} b - half ulp")
        assert_same_ids(index.query(x, mid_hi, backend), exact_answer(W, x, mid_hi), f"{backend} b + half ulp")
        off, idx = index.query_batch(np.stack([x, x]), b, backend)
        assert_same_ids(idx[off[0] : off[1]], at, f"{backend} batch")
        assert_same_ids(idx[off[1] : off[2]], at, f"{backend} batch")


@examples(80)
@given(
    d=st.sampled_from(D_CHOICES),
    m=st.one_of(st.integers(1, 40), st.sampled_from(range(1, 3001))),
    n=st.integers(1, 40),
    kind=st.sampled_from(("gaussian", "dyadic")),
    seed=st.integers(0, 2**32 - 1),
)
def test_query_batch_agrees_with_query(d, m, n, kind, seed):
    m = min(m, max(1, MAX_ELEMENTS // d))
    rng = np.random.default_rng(seed)
    W = make_matrix(rng, kind, (m, d))
    X = make_matrix(rng, kind, (n, d))
    b = float(np.float32(rng.choice([0.0, 0.5, -0.5, 2.0])))
    index = HalfSpaceIndex(W, leaf_size=8)
    answers = {}
    for backend in BACKENDS:
        lists = check_csr(index.query_batch(X, b, backend), n, m)
        for q in range(n):
            single = index.query(X[q], b, backend)
            assert_same_ids(lists[q], single, f"{backend} q={q}")
        answers[backend] = lists
    for backend in BACKENDS:
        for q in range(n):
            assert_same_ids(answers[backend][q], answers["scan"][q], f"{backend} vs scan q={q}")


def test_brute_force_helper_matches_the_literal_contract():
    """The float64-with-band oracle agrees with calling reference_dot row by row, boundary cases included."""
    rng = np.random.default_rng(7)
    for d in D_CHOICES:
        m = 60
        W = make_matrix(rng, "mixed", (m, d))
        W[::7] = 0.0
        x = make_matrix(rng, "gaussian", d)
        for r in range(0, m, 5):
            b = reference_dot(W[r], x)
            for bb in (b, float(below(b)), float(above(b)), 0.0):
                assert_same_ids(brute_force(W, x, bb), brute_force_reference_only(W, x, bb), f"d={d}")


def test_large_dimension_and_many_rows():
    rng = np.random.default_rng(1)
    m, d = 3000, 784
    W = rng.standard_normal((m, d)).astype(np.float32)
    X = rng.standard_normal((3, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    index = HalfSpaceIndex(W)
    for b in (0.0, 2.0, float(np.float32(-1.5))):
        expected = [brute_force(W, x, b) for x in X]
        for backend in BACKENDS:
            lists = check_csr(index.query_batch(X, b, backend), 3, m)
            for q in range(3):
                assert_same_ids(index.query(X[q], b, backend), expected[q], f"{backend} b={b}")
                assert_same_ids(lists[q], expected[q], f"{backend} batch b={b}")


def test_gemm_tiles_and_query_blocks():
    """More rows than one GEMM tile (512) and more queries than one query block (256), m not a multiple of 8."""
    rng = np.random.default_rng(2)
    m, d, n = 1501, 9, 300
    W = rng.standard_normal((m, d)).astype(np.float32)
    X = rng.standard_normal((n, d)).astype(np.float32)
    b = 1.5
    for backend in BACKENDS:
        index = HalfSpaceIndex(W, backend=backend, leaf_size=8)
        lists = check_csr(index.query_batch(X, b), n, m)
        for q in range(0, n, 7):
            assert_same_ids(lists[q], brute_force(W, X[q], b), f"{backend} q={q}")


def test_all_rows_reported_and_none_reported():
    rng = np.random.default_rng(3)
    for d in (1, 2, 3, 4, 8, 31):
        W = rng.standard_normal((777, d)).astype(np.float32)
        x = rng.standard_normal(d).astype(np.float32)
        index = HalfSpaceIndex(W, leaf_size=8)
        for backend in BACKENDS:
            np.testing.assert_array_equal(index.query(x, -1e30, backend), np.arange(777, dtype=np.int32))
            assert index.query(x, 1e30, backend).size == 0
            off, idx = index.query_batch(np.stack([x, -x]), -1e30, backend)
            np.testing.assert_array_equal(off, [0, 777, 1554])


def test_zero_rows_and_zero_query():
    W = np.zeros((50, 5), np.float32)
    W[10] = 1.0
    index = HalfSpaceIndex(W, leaf_size=8)
    x = np.ones(5, np.float32)
    for backend in BACKENDS:
        # 0 > 0 is false; 0 > -0.0 is false; 0 > the negative subnormal below zero is true.
        np.testing.assert_array_equal(index.query(x, 0.0, backend), [10])
        np.testing.assert_array_equal(index.query(x, -0.0, backend), [10])
        np.testing.assert_array_equal(index.query(x, below(0.0), backend), np.arange(50))
        assert index.query(np.zeros(5, np.float32), 0.0, backend).size == 0
        np.testing.assert_array_equal(index.query(np.zeros(5, np.float32), below(0.0), backend), np.arange(50))


def test_threshold_types_accepted():
    """b may be a Python int/float or a numpy scalar; all mean the same threshold."""
    W = np.arange(-10, 10, dtype=np.float32).reshape(20, 1)
    index = HalfSpaceIndex(W)
    x = np.ones(1, np.float32)
    expected = np.arange(14, 20, dtype=np.int32)  # values 4..9 > 3
    for b in (3, 3.0, np.float32(3), np.float64(3), np.int64(3), np.int8(3)):
        for backend in BACKENDS:
            assert_same_ids(index.query(x, b, backend), expected, f"b={b!r} {backend}")


def test_threshold_not_representable_in_float32():
    """b is a real number: a row whose reference value lies strictly above b is reported even when b itself
    is not a float32 (0.1 here; the reference value float32(0.1) = 0.10000000149... > 0.1)."""
    W = np.array([[1.0], [0.5], [0.25]], np.float32)
    x = np.array([np.float32(0.1)], np.float32)
    value = reference_dot(W[0], x)
    assert value > 0.1  # the contract: row 0 must be reported for b = 0.1
    index = HalfSpaceIndex(W)
    for backend in BACKENDS:
        assert_same_ids(index.query(x, 0.1, backend), brute_force_reference_only(W, x, 0.1), f"{backend} b=0.1")
        off, idx = index.query_batch(x[None, :], 0.1, backend)
        assert_same_ids(idx, [0], f"{backend} batch b=0.1")
    # And from the other side: b just below a float32 value v rounds up to v, but v > b must still report.
    b = float(np.nextafter((value + float(below(value))) / 2, np.inf))  # between the two floats, nearer to value
    assert float(below(value)) < b < value
    for backend in BACKENDS:
        assert_same_ids(index.query(x, b, backend), [0], f"{backend} b just below the row's value")


def test_products_that_overflow_float32_follow_reference_dot():
    """Finite rows and queries whose float32 products overflow: the reference kernel gives +-inf or NaN, and
    every backend must still report exactly {r : reference_dot > b} (NaN > b is false, inf > b is true)."""
    rng = np.random.default_rng(4)
    for d in (2, 3, 8, 16):
        W = (rng.standard_normal((600, d)) * 3e19).astype(np.float32)
        X = (rng.standard_normal((4, d)) * 3e19).astype(np.float32)
        index = HalfSpaceIndex(W, leaf_size=8)
        for q, x in enumerate(X):
            expected = brute_force(W, x, 0.0)
            for backend in BACKENDS:
                assert_same_ids(index.query(x, 0.0, backend), expected, f"d={d} q={q} {backend}")


def test_index_owns_a_copy_of_the_rows():
    rng = np.random.default_rng(5)
    W = dyadic(rng, (100, 3))
    keep = W.copy()
    index = HalfSpaceIndex(W, leaf_size=8)
    W[:] = 0.0  # the caller's array changes; the index must not
    x = dyadic(rng, 3)
    for backend in BACKENDS:
        assert_same_ids(index.query(x, 0.0, backend), exact_answer(keep, x, 0.0), backend)
    np.testing.assert_array_equal(index.get_rows(), keep)
    rows = index.get_rows([1, 2])
    rows[:] = 100.0  # get_rows hands out a copy
    np.testing.assert_array_equal(index.get_rows([1, 2]), keep[1:3])


def test_read_only_inputs_are_accepted():
    rng = np.random.default_rng(6)
    W = dyadic(rng, (64, 5))
    X = dyadic(rng, (3, 5))
    W.flags.writeable = False
    X.flags.writeable = False
    index = HalfSpaceIndex(W)
    for backend in BACKENDS:
        assert_same_ids(index.query(X[0], 0.25, backend), exact_answer(W, X[0], 0.25), backend)
        lists = check_csr(index.query_batch(X, 0.25, backend), 3, 64)
        assert_same_ids(lists[2], exact_answer(W, X[2], 0.25), backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constructor_backend_and_chosen_backend(backend):
    rng = np.random.default_rng(8)
    W = rng.standard_normal((300, 4)).astype(np.float32)
    index = HalfSpaceIndex(W, backend=backend)
    assert index.backend == backend
    chosen = index.chosen_backend(1)
    assert chosen in ("scan", "gemm", "tree")
    if backend != "auto":
        assert chosen == backend
        assert index.chosen_backend(10, backend="scan") == "scan"
    x = rng.standard_normal(4).astype(np.float32)
    assert_same_ids(index.query(x, 0.5), brute_force(W, x, 0.5), backend)
    assert index.stats()["queries"] == 1
    assert index.memory_bytes >= W.nbytes
    assert "HalfSpaceIndex(m=300, d=4" in repr(index)
