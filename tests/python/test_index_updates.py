"""Interleaved updates and queries: after every operation every backend is still exact and get_rows is current."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKENDS, assert_same_ids, below, brute_force, check_csr, check_ids, dyadic, exact_answer, examples
from hsrnet import HalfSpaceIndex, reference_dot
from hypothesis import given
from hypothesis import strategies as st

UPDATE_DIMS = (1, 2, 3, 4, 5, 8, 9, 16, 31, 64)


def new_values(rng, kind, k, d):
    """Replacement rows, often far outside the old rows' range so tree boxes must grow."""
    scale = rng.choice([1.0, 1.0, 8.0, 0.0])
    shift = rng.choice([0.0, 0.0, 5.0, -5.0])
    if kind == "dyadic":
        return (dyadic(rng, (k, d)) * np.float32(scale) + np.float32(shift)).astype(np.float32)
    return (rng.standard_normal((k, d)) * scale + shift).astype(np.float32)


def expected_for(kind, W, x, b):
    return exact_answer(W, x, b) if kind == "dyadic" else brute_force(W, x, b)


def check_everything(index, model, kind, rng, context):
    m, d = model.shape
    np.testing.assert_array_equal(index.get_rows(), model, err_msg=f"{context}: get_rows")
    ids = rng.integers(0, m, size=min(m, 5))
    np.testing.assert_array_equal(index.get_rows(ids), model[ids], err_msg=f"{context}: get_rows(ids)")
    x = dyadic(rng, d) if kind == "dyadic" else rng.standard_normal(d).astype(np.float32)
    how = rng.integers(4)
    if how == 0:
        b = 0.0
    elif how == 1:  # a row exactly on the threshold
        b = reference_dot(model[rng.integers(m)], x)
    elif how == 2:
        b = float(below(reference_dot(model[rng.integers(m)], x)))
    else:
        b = float(np.float32(rng.standard_normal()))
    expected = expected_for(kind, model, x, b)
    X = np.stack([x, -x])
    expected_neg = expected_for(kind, model, -x, b)
    for backend in BACKENDS:
        got = index.query(x, b, backend)
        check_ids(got, m)
        assert_same_ids(got, expected, f"{context}: query {backend} b={b!r}")
        lists = check_csr(index.query_batch(X, b, backend), 2, m)
        assert_same_ids(lists[0], expected, f"{context}: query_batch {backend} q=0")
        assert_same_ids(lists[1], expected_neg, f"{context}: query_batch {backend} q=1")
    assert_same_ids(index.query(x, b), expected, f"{context}: default backend")


@examples(60)
@given(
    backend=st.sampled_from(BACKENDS),
    rebuild_after=st.sampled_from([0.05, 1e6]),
    d=st.sampled_from(UPDATE_DIMS),
    m=st.one_of(st.integers(1, 20), st.sampled_from(range(1, 601))),
    kind=st.sampled_from(("dyadic", "gaussian")),
    n_ops=st.integers(1, 25),
    seed=st.integers(0, 2**32 - 1),
)
def test_interleaved_updates_and_queries(backend, rebuild_after, d, m, kind, n_ops, seed):
    rng = np.random.default_rng(seed)
    model = dyadic(rng, (m, d)) if kind == "dyadic" else rng.standard_normal((m, d)).astype(np.float32)
    index = HalfSpaceIndex(model, backend=backend, leaf_size=8, rebuild_after=rebuild_after)
    model = model.copy()
    check_everything(index, model, kind, rng, "initial")
    updated = 0
    for op in range(n_ops):
        action = rng.integers(4)
        if action == 0:  # explicit rebuild now and then
            index.rebuild()
            assert index.has_tree
        else:
            k = int(rng.integers(1, max(2, m // 4) + 1))
            ids = rng.integers(0, m, size=k)  # repeats allowed: the last value wins
            values = new_values(rng, kind, k, d)
            index.update(ids, values)
            updated += k
            for i, r in enumerate(ids):
                model[r] = values[i]
        check_everything(index, model, kind, rng, f"op {op} (action {action})")
    assert index.stats()["rows_updated"] == updated


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rebuild_after", [0.05, 1e6])
def test_long_update_sequence(backend, rebuild_after):
    """Many small updates that drag rows outside their leaf boxes; checked after every step."""
    rng = np.random.default_rng(11)
    m, d = 400, 3
    model = dyadic(rng, (m, d))
    index = HalfSpaceIndex(model, backend=backend, leaf_size=8, rebuild_after=rebuild_after)
    model = model.copy()
    builds0 = index.stats()["tree_builds"]
    updated = 0
    for step in range(60):
        k = int(rng.integers(1, 6))
        ids = rng.integers(0, m, size=k)
        values = dyadic(rng, (k, d)) * np.float32(4.0)  # wider than the original rows
        index.update(ids, values)
        updated += k
        for i, r in enumerate(ids):
            model[r] = values[i]
        check_everything(index, model, "dyadic", rng, f"{backend} step {step}")
    stats = index.stats()
    assert stats["rows_updated"] == updated
    if index.has_tree and builds0 >= 1:
        builds = stats["tree_builds"] - builds0
        if rebuild_after == 0.05:  # 0.05 * 400 = 20 updates per rebuild
            assert builds >= 1, "the tree was never rebuilt although rebuild_after=0.05"
        else:
            assert builds == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_rebuild_counts(backend):
    rng = np.random.default_rng(12)
    m, d = 200, 2
    W = rng.standard_normal((m, d)).astype(np.float32)
    index = HalfSpaceIndex(W, backend=backend, leaf_size=8, rebuild_after=0.05)  # rebuild every 10 rows
    x = rng.standard_normal(d).astype(np.float32)
    index.query(x, 0.0, "tree")  # builds the tree if the index has none yet
    assert index.has_tree
    builds = index.stats()["tree_builds"]
    index.update(np.arange(9), rng.standard_normal((9, d)).astype(np.float32))
    assert index.stats()["tree_builds"] == builds  # 9 < 10 updates
    index.update([9], rng.standard_normal((1, d)).astype(np.float32))
    assert index.stats()["tree_builds"] == builds + 1  # 10 updates: rebuilt
    W = index.get_rows()
    for be in BACKENDS:
        assert_same_ids(index.query(x, 0.0, be), brute_force(W, x, 0.0), be)
    index.rebuild()
    assert index.stats()["tree_builds"] == builds + 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_ids_take_the_last_value(backend):
    W = np.zeros((20, 4), np.float32)
    index = HalfSpaceIndex(W, backend=backend, leaf_size=8)
    ids = np.array([3, 7, 3, 3, 7], dtype=np.int64)
    values = np.array([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3], [-4, -4, -4, -4], [5, 0, 0, 0]], np.float32)
    index.update(ids, values)
    np.testing.assert_array_equal(index.get_rows([3, 7]), [[-4, -4, -4, -4], [5, 0, 0, 0]])
    x = np.ones(4, np.float32)
    for be in BACKENDS:
        np.testing.assert_array_equal(index.query(x, 0.0, be), [7])
        np.testing.assert_array_equal(index.query(-x, 0.0, be), [3])
    assert index.stats()["rows_updated"] == 5


@pytest.mark.parametrize(
    "ids",
    [
        [4, 1],
        (4, 1),
        np.array([4, 1], np.int8),
        np.array([4, 1], np.uint16),
        np.array([4, 1], np.int64),
        np.array([4, 1], np.uint64),
    ],
)
def test_id_types_accepted(ids):
    W = np.zeros((6, 2), np.float32)
    index = HalfSpaceIndex(W)
    index.update(ids, np.array([[1, 2], [3, 4]], np.float32))
    np.testing.assert_array_equal(index.get_rows(ids), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(index.query(np.ones(2, np.float32), 0.0, "scan"), [1, 4])


def test_update_every_row_to_one_value_then_back():
    rng = np.random.default_rng(13)
    m, d = 300, 4
    W = dyadic(rng, (m, d))
    for backend in BACKENDS:
        index = HalfSpaceIndex(W, backend=backend, leaf_size=8, rebuild_after=1e6)
        same = np.tile(np.array([0.5, -0.25, 1.0, 0.0], np.float32), (m, 1))
        index.update(np.arange(m), same)
        x = dyadic(rng, d)
        v = float(same[0].astype(np.float64) @ x.astype(np.float64))
        for be in BACKENDS:
            assert index.query(x, v, be).size == 0
            np.testing.assert_array_equal(index.query(x, below(v), be), np.arange(m))
        index.update(np.arange(m)[::-1], W[::-1].copy())
        np.testing.assert_array_equal(index.get_rows(), W)
        for be in BACKENDS:
            assert_same_ids(index.query(x, 0.0, be), exact_answer(W, x, 0.0), f"{backend}/{be}")
