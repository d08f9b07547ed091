"""Bad inputs raise a clear exception (right type, a message naming the problem) and never crash or mutate."""

from __future__ import annotations

import re

import hsrnet
import numpy as np
import pytest
from conftest import BACKENDS, dyadic, exact_answer
from hsrnet import HalfSpaceIndex, reference_dot

M, D = 10, 4


def good_rows():
    return dyadic(np.random.default_rng(0), (M, D))


@pytest.fixture
def index():
    return HalfSpaceIndex(good_rows(), leaf_size=8)


@pytest.fixture
def x():
    return np.ones(D, np.float32)


def with_value(a, pos, value):
    a = a.copy()
    a[pos] = value
    return a


# ---------------------------------------------------------------------------------------------- constructor

BAD_ROWS = {
    "nan": (with_value(good_rows(), (3, 1), np.nan), ValueError, r"rows contains NaN or infinity"),
    "inf": (with_value(good_rows(), (0, 0), np.inf), ValueError, r"rows contains NaN or infinity"),
    "-inf": (with_value(good_rows(), (9, 3), -np.inf), ValueError, r"rows contains NaN or infinity"),
    "1-d": (np.ones(D, np.float32), ValueError, r"rows must be 2-dimensional"),
    "3-d": (np.ones((2, M, D), np.float32), ValueError, r"rows must be 2-dimensional"),
    "0-d": (np.array(1.0, dtype=np.float32), ValueError, r"rows must be 2-dimensional"),
    "no rows": (np.ones((0, D), np.float32), ValueError, r"rows is empty"),
    "no columns": (np.ones((M, 0), np.float32), ValueError, r"rows is empty"),
    "strided columns": (np.ones((M, 2 * D), np.float32)[:, ::2], ValueError, r"rows must be C-contiguous"),
    "strided rows": (np.ones((2 * M, D), np.float32)[::2], ValueError, r"rows must be C-contiguous"),
    "transposed": (np.ones((D, M), np.float32).T, ValueError, r"rows must be C-contiguous"),
    "float64": (good_rows().astype(np.float64), TypeError, r"rows must have dtype float32, got float64"),
    "float16": (good_rows().astype(np.float16), TypeError, r"rows must have dtype float32, got float16"),
    "int32": (np.ones((M, D), np.int32), TypeError, r"rows must have dtype float32, got int32"),
    "int64": (np.ones((M, D), np.int64), TypeError, r"rows must have dtype float32, got int64"),
    "bool": (np.ones((M, D), bool), TypeError, r"rows must have dtype float32, got bool"),
    "list": (good_rows().tolist(), TypeError, r"rows must be a numpy.ndarray of dtype float32, got list"),
    "None": (None, TypeError, r"rows must be a numpy.ndarray"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows(case):
    rows, exc, message = BAD_ROWS[case]
    with pytest.raises(exc, match=message):
        HalfSpaceIndex(rows)


BAD_OPTIONS = [
    (dict(backend="fast"), ValueError, r"backend must be one of \('auto', 'scan', 'gemm', 'tree'\), got 'fast'"),
    (dict(backend="SCAN"), ValueError, r"backend must be one of .*got 'SCAN'"),
    (dict(backend=None), ValueError, r"backend must be one of .*got None"),
    (dict(leaf_size=7), ValueError, r"leaf_size must be in \[8, 4096\], got 7"),
    (dict(leaf_size=4097), ValueError, r"leaf_size must be in \[8, 4096\], got 4097"),
    (dict(leaf_size=0), ValueError, r"leaf_size must be in \[8, 4096\], got 0"),
    (dict(leaf_size=-64), ValueError, r"leaf_size must be in \[8, 4096\], got -64"),
    (dict(leaf_size=64.0), TypeError, r"leaf_size must be an integer, got float"),
    (dict(leaf_size="64"), TypeError, r"leaf_size must be an integer, got str"),
    (dict(leaf_size=True), TypeError, r"leaf_size must be an integer, got bool"),
    (dict(n_threads=0), ValueError, r"n_threads must be in \[1, 4096\], got 0"),
    (dict(n_threads=-1), ValueError, r"n_threads must be in \[1, 4096\], got -1"),
    (dict(n_threads=4097), ValueError, r"n_threads must be in \[1, 4096\], got 4097"),
    (dict(n_threads=1.5), TypeError, r"n_threads must be an integer, got float"),
    (dict(rebuild_after=0), ValueError, r"rebuild_after must be a positive finite number, got 0"),
    (dict(rebuild_after=-0.5), ValueError, r"rebuild_after must be a positive finite number, got -0.5"),
    (dict(rebuild_after=float("inf")), ValueError, r"rebuild_after must be a positive finite number, got inf"),
    (dict(rebuild_after=float("nan")), ValueError, r"rebuild_after must be a positive finite number, got nan"),
    (dict(tree_max_dim=-1), ValueError, r"tree_max_dim must be in \[0, 2147483647\], got -1"),
    (dict(tree_max_dim=2.0), TypeError, r"tree_max_dim must be an integer, got float"),
]


@pytest.mark.parametrize("options,exc,message", BAD_OPTIONS, ids=[repr(o) for o, _, _ in BAD_OPTIONS])
def test_bad_constructor_options(options, exc, message):
    with pytest.raises(exc, match=message):
        HalfSpaceIndex(good_rows(), **options)


@pytest.mark.parametrize("value", [None, "0.5", True])
def test_rebuild_after_must_be_a_number(value):
    """rebuild_after is "a float > 0": a non-number must be rejected with a message that names rebuild_after,
    like every other option (leaf_size="64" and leaf_size=True are)."""
    with pytest.raises(TypeError, match=r"rebuild_after"):
        HalfSpaceIndex(good_rows(), rebuild_after=value)


def test_tree_max_dim_beyond_int_range_is_a_clear_error():
    with pytest.raises(ValueError, match=r"tree_max_dim"):
        HalfSpaceIndex(good_rows(), tree_max_dim=2**40)


def test_valid_option_edges_are_accepted():
    for options in (
        dict(leaf_size=8),
        dict(leaf_size=4096),
        dict(n_threads=1),
        dict(n_threads=None),
        dict(rebuild_after=1e-9),
        dict(rebuild_after=1e9),
        dict(tree_max_dim=0),
        dict(leaf_size=np.int64(16)),
        dict(n_threads=np.int32(2)),
    ):
        index = HalfSpaceIndex(good_rows(), **options)
        xx = np.ones(D, np.float32)
        np.testing.assert_array_equal(index.query(xx, 0.0, "scan"), exact_answer(good_rows(), xx, 0.0))


def test_n_threads_setter_validates(index):
    index.n_threads = 2
    assert index.n_threads == 2
    index.n_threads = None
    assert index.n_threads is None
    with pytest.raises(ValueError, match=r"n_threads must be in \[1, 4096\], got 0"):
        index.n_threads = 0
    with pytest.raises(TypeError, match=r"n_threads must be an integer, got str"):
        index.n_threads = "2"
    assert index.n_threads is None


# ---------------------------------------------------------------------------------------------- queries

BAD_X = {
    # The core checks query values while copying them: its message names the query, not the argument.
    "nan": (with_value(np.ones(D, np.float32), 2, np.nan), ValueError, r"\b(x|query 0) contains NaN or infinity"),
    "inf": (with_value(np.ones(D, np.float32), 0, np.inf), ValueError, r"\b(x|query 0) contains NaN or infinity"),
    "short": (np.ones(D - 1, np.float32), ValueError, rf"x has dimension {D - 1}, the index has d = {D}"),
    "long": (np.ones(D + 1, np.float32), ValueError, rf"x has dimension {D + 1}, the index has d = {D}"),
    "2-d": (np.ones((1, D), np.float32), ValueError, r"x must be 1-dimensional"),
    "0-d": (np.ones((), np.float32), ValueError, r"x must be 1-dimensional"),
    "empty": (np.ones(0, np.float32), ValueError, r"x is empty"),
    "strided": (np.ones(2 * D, np.float32)[::2], ValueError, r"x must be C-contiguous"),
    "float64": (np.ones(D), TypeError, r"x must have dtype float32, got float64"),
    "int64": (np.ones(D, np.int64), TypeError, r"x must have dtype float32, got int64"),
    "list": ([1.0] * D, TypeError, r"x must be a numpy.ndarray"),
}


@pytest.mark.parametrize("case", list(BAD_X))
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_query_vector(index, case, backend):
    xx, exc, message = BAD_X[case]
    with pytest.raises(exc, match=message):
        index.query(xx, 0.0, backend)


BAD_BATCH = {
    "nan": (
        with_value(np.ones((3, D), np.float32), (2, 1), np.nan),
        ValueError,
        r"\b(X|query 2) contains NaN or infinity",
    ),
    "-inf": (
        with_value(np.ones((3, D), np.float32), (0, 0), -np.inf),
        ValueError,
        r"\b(X|query 0) contains NaN or infinity",
    ),
    "wrong d": (np.ones((3, D + 2), np.float32), ValueError, rf"X has dimension {D + 2}, the index has d = {D}"),
    "1-d": (np.ones(D, np.float32), ValueError, r"X must be 2-dimensional"),
    "3-d": (np.ones((1, 3, D), np.float32), ValueError, r"X must be 2-dimensional"),
    "no queries": (np.ones((0, D), np.float32), ValueError, r"X is empty"),
    "strided": (np.ones((3, 2 * D), np.float32)[:, ::2], ValueError, r"X must be C-contiguous"),
    "transposed": (np.ones((D, 3), np.float32).T, ValueError, r"X must be C-contiguous"),
    "float64": (np.ones((3, D)), TypeError, r"X must have dtype float32, got float64"),
    "int32": (np.ones((3, D), np.int32), TypeError, r"X must have dtype float32, got int32"),
}


@pytest.mark.parametrize("case", list(BAD_BATCH))
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_query_batch(index, case, backend):
    X, exc, message = BAD_BATCH[case]
    with pytest.raises(exc, match=message):
        index.query_batch(X, 0.0, backend)


BAD_B = [
    (float("nan"), ValueError, r"b must be finite, got nan"),
    (float("inf"), ValueError, r"b must be finite, got inf"),
    (-float("inf"), ValueError, r"b must be finite, got -inf"),
    (np.float32(np.nan), ValueError, r"b must be finite"),
    ("0.5", TypeError, r"b must be a real number, got str"),
    (None, TypeError, r"b must be a real number, got NoneType"),
    (True, TypeError, r"b must be a real number, got bool"),
    (np.bool_(False), TypeError, r"b must be a real number, got bool"),
    (1 + 0j, TypeError, r"b must be a real number, got complex"),
    (np.array([0.5]), TypeError, r"b must be a real number, got ndarray"),
    ([0.5], TypeError, r"b must be a real number, got list"),
]


@pytest.mark.parametrize("b,exc,message", BAD_B, ids=[repr(b) for b, _, _ in BAD_B])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_threshold(index, x, b, exc, message, backend):
    with pytest.raises(exc, match=message):
        index.query(x, b, backend)
    with pytest.raises(exc, match=message):
        index.query_batch(x[None, :], b, backend)


def test_thresholds_beyond_float32_range_are_real_numbers(index, x):
    """b is compared as a real number: beyond float32's range it is still a valid threshold."""
    W = good_rows()
    everything = np.arange(M, dtype=np.int32)
    for backend in BACKENDS:
        for b in (1e39, 1e300, float(np.finfo(np.float32).max)):
            assert index.query(x, b, backend).size == 0, (backend, b)
        for b in (-1e39, -1e300, -float(np.finfo(np.float32).max)):
            np.testing.assert_array_equal(index.query(x, b, backend), everything)
            off, idx = index.query_batch(np.stack([x, x]), b, backend)
            np.testing.assert_array_equal(off, [0, M, 2 * M])
    assert exact_answer(W, x, 1e39).size == 0


def test_huge_integer_threshold(index, x):
    """b = 10**400 is a real number larger than every float: either answered like one (no finite row value
    exceeds it) or rejected with a message that names b -- not an OverflowError about an anonymous int."""
    for b, expected in ((10**400, []), (-(10**400), list(range(M)))):
        try:
            got = index.query(x, b)
        except (ValueError, TypeError, OverflowError) as e:
            assert re.search(r"\bb\b", str(e)), f"message does not name b: {type(e).__name__}: {e}"
        else:
            assert got.tolist() == expected


@pytest.mark.parametrize("backend", ["fast", "SCAN", "Scan ", "brute", 3, b"scan"])
def test_unknown_backend_name(index, x, backend):
    message = r"backend must be one of \('auto', 'scan', 'gemm', 'tree'\)"
    with pytest.raises(ValueError, match=message):
        index.query(x, 0.0, backend)
    with pytest.raises(ValueError, match=message):
        index.query_batch(x[None, :], 0.0, backend)
    with pytest.raises(ValueError, match=message):
        index.chosen_backend(1, backend)


@pytest.mark.parametrize("backend", ["", 0, False])
def test_falsy_backend_is_not_silently_the_default(index, x, backend):
    """backend=None means "the index's default"; any other value must be a backend name. An empty string
    (or 0 / False) is not one of BACKENDS and must be rejected, not silently replaced by the default."""
    with pytest.raises(ValueError, match=r"backend must be one of"):
        index.query(x, 0.0, backend)


def test_chosen_backend_bad_count(index):
    with pytest.raises(ValueError, match=r"n_queries must be >= 1, got 0"):
        index.chosen_backend(0)
    with pytest.raises(TypeError, match=r"n_queries must be an integer"):
        index.chosen_backend(1.0)


# ---------------------------------------------------------------------------------------------- updates


def snapshot(index):
    rows = index.get_rows()
    xs = dyadic(np.random.default_rng(99), (4, D))
    answers = [[index.query(xx, b, be).tolist() for be in BACKENDS] for xx in xs for b in (0.0, 1.0)]
    return rows, answers


BAD_UPDATES = {
    "id = m": ([0, M], np.ones((2, D), np.float32), IndexError, rf"ids contains {M}, out of range \[0, {M}\)"),
    "id far out": ([2**40], np.ones((1, D), np.float32), IndexError, r"ids contains 1099511627776, out of range"),
    "negative id": ([1, -1], np.ones((2, D), np.float32), IndexError, rf"ids contains -1, out of range \[0, {M}\)"),
    "float ids": (
        np.array([1.0, 2.0]),
        np.ones((2, D), np.float32),
        TypeError,
        r"ids must hold integers, got dtype float64",
    ),
    "bool ids": (np.array([True]), np.ones((1, D), np.float32), TypeError, r"ids must hold integers, got dtype bool"),
    "str ids": (["a"], np.ones((1, D), np.float32), TypeError, r"ids must hold integers"),
    "2-d ids": (
        np.array([[1, 2]]),
        np.ones((2, D), np.float32),
        ValueError,
        r"ids must be 1-dimensional, got shape \(1, 2\)",
    ),
    "scalar id": (3, np.ones((1, D), np.float32), ValueError, r"ids must be 1-dimensional, got shape \(\)"),
    "no ids": ([], np.ones((0, D), np.float32), ValueError, r"ids is empty"),
    "nan value": (
        [1, 2],
        with_value(np.ones((2, D), np.float32), (1, 3), np.nan),
        ValueError,
        r"values contains NaN or infinity",
    ),
    "inf value": (
        [1],
        with_value(np.ones((1, D), np.float32), (0, 0), np.inf),
        ValueError,
        r"values contains NaN or infinity",
    ),
    "values wrong d": (
        [1, 2],
        np.ones((2, D + 1), np.float32),
        ValueError,
        rf"values must have shape \(2, {D}\), got \(2, {D + 1}\)",
    ),
    "fewer values": (
        [1, 2, 3],
        np.ones((2, D), np.float32),
        ValueError,
        rf"values must have shape \(3, {D}\), got \(2, {D}\)",
    ),
    "more values": (
        [1],
        np.ones((2, D), np.float32),
        ValueError,
        rf"values must have shape \(1, {D}\), got \(2, {D}\)",
    ),
    "1-d values": ([1], np.ones(D, np.float32), ValueError, r"values must be 2-dimensional"),
    "strided values": ([1, 2], np.ones((2, 2 * D), np.float32)[:, ::2], ValueError, r"values must be C-contiguous"),
    "float64 values": ([1], np.ones((1, D)), TypeError, r"values must have dtype float32, got float64"),
    "int values": ([1], np.ones((1, D), np.int64), TypeError, r"values must have dtype float32, got int64"),
    "list values": ([1], [[1.0] * D], TypeError, r"values must be a numpy.ndarray"),
}


@pytest.mark.parametrize("case", list(BAD_UPDATES))
@pytest.mark.parametrize("backend", ["scan", "tree"])
def test_bad_update_is_rejected_and_changes_nothing(case, backend):
    index = HalfSpaceIndex(good_rows(), backend=backend, leaf_size=8, rebuild_after=0.05)
    before = snapshot(index)
    stats_before = index.stats()["rows_updated"]
    ids, values, exc, message = BAD_UPDATES[case]
    with pytest.raises(exc, match=message):
        index.update(ids, values)
    after = snapshot(index)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1] == before[1]
    assert index.stats()["rows_updated"] == stats_before


BAD_GET = {
    "id = m": ([M], IndexError, rf"ids contains {M}, out of range \[0, {M}\)"),
    "negative": ([-1], IndexError, rf"ids contains -1, out of range \[0, {M}\)"),
    "very negative": (np.array([0, -(2**40)]), IndexError, r"ids contains -1099511627776, out of range"),
    "empty": ([], ValueError, r"ids is empty"),
    "floats": ([0.0], TypeError, r"ids must hold integers, got dtype float64"),
    "2-d": (np.zeros((1, 1), np.int32), ValueError, r"ids must be 1-dimensional"),
}


@pytest.mark.parametrize("case", list(BAD_GET))
def test_bad_get_rows(index, case):
    ids, exc, message = BAD_GET[case]
    with pytest.raises(exc, match=message):
        index.get_rows(ids)


def test_reference_dot_errors():
    w = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"w and x must have the same length, got 5 and 4"):
        reference_dot(w, np.ones(4, np.float32))
    with pytest.raises(TypeError, match=r"x must have dtype float32, got float64"):
        reference_dot(w, np.ones(5))
    with pytest.raises(ValueError, match=r"w contains NaN or infinity"):
        reference_dot(with_value(w, 0, np.nan), w)
    with pytest.raises(ValueError, match=r"w must be 1-dimensional"):
        reference_dot(w[None, :], w)
    with pytest.raises(ValueError, match=r"x is empty"):
        reference_dot(w, np.ones(0, np.float32))


def test_index_still_works_after_every_kind_of_error(index, x):
    """A burst of rejected calls leaves the index exact."""
    W = good_rows()
    for bad in (
        lambda: index.query(x, float("nan")),
        lambda: index.update([M], np.ones((1, D), np.float32)),
        lambda: index.query_batch(np.ones((2, D + 1), np.float32), 0.0),
        lambda: index.get_rows([-1]),
        lambda: index.query(x, 0.0, "nope"),
    ):
        with pytest.raises((ValueError, TypeError, IndexError)):
            bad()
    for be in BACKENDS:
        np.testing.assert_array_equal(index.query(x, 0.0, be), exact_answer(W, x, 0.0))
    assert hsrnet.HalfSpaceIndex  # the module is still importable and usable
