"""Data larger than memory: the input map from one streamed pass, and partial_fit over blocks streamed from a
memory-mapped .npy, a dask array on the cluster, or dask-ml's Incremental, giving the weights of partial_fit
on the same blocks held in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hsrnet import HSRClassifier, HSRRegressor
from hsrnet.dask import fit_input_map, iter_blocks, partial_fit_blocks
from hsrnet.input_map import PCA_FIT_ROWS, InputMap
from sklearn.base import clone

BLOCK = 96


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    n, d = 700, 20  # 8 blocks, the last one short
    centres = rng.normal(size=(4, d)) * 3
    y = rng.integers(0, 4, size=n)
    X = (centres[y] + rng.normal(size=(n, d)) + 5).astype(np.float32)
    path = tmp_path_factory.mktemp("stream") / "X.npy"
    np.save(path, X)
    labels = np.array([10, 20, 30, 40])[y]
    return np.load(path, mmap_mode="r"), labels, X


def _weights(est):
    return est.network_.hidden_weights(), est.network_.output_weights()


def _assert_same_weights(a, b):
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)


def _in_memory_reference(est, X, y, classes=None, epochs=1):
    ref = clone(est)
    for _ in range(epochs):
        for s in range(0, X.shape[0], BLOCK):
            if classes is None:
                ref.partial_fit(X[s : s + BLOCK], y[s : s + BLOCK])
            else:
                ref.partial_fit(X[s : s + BLOCK], y[s : s + BLOCK], classes=classes)
    return ref


@pytest.mark.parametrize("kind", ["pca", "standardize"])
def test_streamed_input_map_equals_the_in_memory_fit(data, kind):
    mm, _, X = data
    streamed = InputMap(kind, n_components=8).fit_chunks(iter_blocks(mm, block_rows=BLOCK), n_rows=mm.shape[0])
    whole = InputMap(kind, n_components=8).fit(X)
    for name in ("mean_", "scale_", "components_"):
        if getattr(whole, name) is not None:
            np.testing.assert_allclose(getattr(streamed, name), getattr(whole, name), rtol=1e-9, atol=1e-9)
    assert streamed.constant_ == whole.constant_
    np.testing.assert_allclose(streamed.transform(X[:50]), whole.transform(X[:50]), rtol=1e-5, atol=1e-6)


def test_pca_map_of_an_iterable_of_unknown_length_samples_uniformly():
    rng = np.random.default_rng(1)
    d = 6
    cov = np.diag([9.0, 4.0, 1.0, 0.25, 0.01, 0.01])
    X = rng.multivariate_normal(np.arange(d, dtype=float), cov, size=3 * PCA_FIT_ROWS)
    blocks = (X[s : s + 1000] for s in range(0, X.shape[0], 1000))  # a generator: no length
    imap = InputMap("pca", n_components=3).fit_chunks(blocks, seed=4)
    np.testing.assert_allclose(imap.mean_, X.mean(axis=0), rtol=1e-12, atol=1e-12)  # the mean of all rows
    # the reservoir's directions are the true principal axes (up to sampling error) and their sign rule
    np.testing.assert_allclose(np.abs(imap.components_), np.eye(d)[:, :3], atol=0.05)
    np.testing.assert_allclose(imap.scale_, [3.0, 2.0, 1.0], rtol=0.05)
    again = InputMap("pca", n_components=3).fit_chunks((X[s : s + 1000] for s in range(0, len(X), 1000)), seed=4)
    np.testing.assert_array_equal(again.components_, imap.components_)  # seeded: reproducible


def test_streamed_training_from_a_memmap_equals_partial_fit_in_memory(data):
    mm, y, X = data
    est = HSRClassifier(n_neurons=256, batch_size=16, solver="adam", random_state=0, n_components=8)
    fit_input_map(est, mm, block_rows=BLOCK)
    assert isinstance(est.input_map, InputMap) and est.input_map.components_.shape == (20, 8)
    ref = _in_memory_reference(est, X, y, classes=[10, 20, 30, 40], epochs=2)
    streamed = partial_fit_blocks(clone(est), mm, y, classes=[10, 20, 30, 40], epochs=2, block_rows=BLOCK)
    _assert_same_weights(ref, streamed)
    assert streamed.n_iter_ == ref.n_iter_ == 16 and streamed.t_ == 2 * len(y)
    # the map is the one fitted beforehand, not refitted on the first block
    np.testing.assert_array_equal(streamed.input_map_.components_, est.input_map.components_)
    assert streamed.score(X, y) > 0.9
    # a model whose input_map parameter is a fitted InputMap saves (the parameter as its kind) and loads
    import hsrnet

    path = Path(mm.filename).with_name("model.hsrnet")
    streamed.save(path)
    loaded = hsrnet.load(path)
    assert loaded.get_params()["input_map"] == "pca"
    np.testing.assert_array_equal(loaded.predict_proba(X), streamed.predict_proba(X))


def test_a_map_fitted_on_the_first_block_alone_differs(data):
    """Without fit_input_map the first partial_fit fits the map on its block only (the old behaviour)."""
    mm, y, X = data
    est = HSRClassifier(n_neurons=64, random_state=0, n_components=8)
    first_block_only = clone(est).partial_fit(X[:BLOCK], y[:BLOCK], classes=[10, 20, 30, 40])
    streamed = fit_input_map(clone(est), mm, block_rows=BLOCK).input_map
    assert not np.allclose(first_block_only.input_map_.mean_, streamed.mean_)


def test_streamed_regression_from_pairs_of_blocks(data):
    mm, _, X = data
    target = X[:, :3].astype(np.float64) @ np.array([[1.0, 0.5], [-1.0, 0.2], [0.3, 0.1]])
    est = HSRRegressor(n_neurons=128, batch_size=32, input_map="standardize", random_state=2)
    fit_input_map(est, ((X[s : s + BLOCK], None) for s in range(0, len(X), BLOCK)))
    ref = _in_memory_reference(est, X, target)
    pairs = ((mm[s : s + BLOCK], target[s : s + BLOCK]) for s in range(0, len(X), BLOCK))
    streamed = partial_fit_blocks(clone(est), pairs)
    _assert_same_weights(ref, streamed)


def test_streamed_training_from_a_dask_array_on_the_cluster(dask_client, data):
    da = pytest.importorskip("dask.array", reason="dask is not installed (the dask extra)")
    mm, y, X = data
    dX = da.from_array(mm, chunks=(BLOCK, -1))
    dy = da.from_array(y, chunks=BLOCK)
    est = HSRClassifier(n_neurons=192, batch_size=16, solver="rowwise_adagrad", random_state=1, n_components=8)
    fit_input_map(est, dX)
    np.testing.assert_allclose(est.input_map.mean_, X.mean(axis=0, dtype=np.float64), rtol=1e-12)
    ref = _in_memory_reference(est, X, y, classes=[10, 20, 30, 40])
    streamed = partial_fit_blocks(clone(est), dX, dy, classes=[10, 20, 30, 40])
    _assert_same_weights(ref, streamed)


def test_dask_ml_incremental_trains_the_same_weights(dask_client, data):
    da = pytest.importorskip("dask.array", reason="dask is not installed (the dask extra)")
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed (the dask extra)")
    mm, y, X = data
    dX = da.from_array(np.asarray(X), chunks=(BLOCK, -1))
    dy = da.from_array(y, chunks=BLOCK)
    est = HSRClassifier(n_neurons=128, batch_size=16, random_state=3, n_components=8)
    fit_input_map(est, dX)
    ref = _in_memory_reference(est, X, y, classes=[10, 20, 30, 40])
    inc = wrappers.Incremental(est, shuffle_blocks=False).fit(dX, dy, classes=[10, 20, 30, 40])
    _assert_same_weights(ref, inc.estimator_)
    np.testing.assert_array_equal(inc.predict(dX).compute(), ref.predict(X))


def test_hsrnet_dask_imports_dask_lazily():
    """import hsrnet.dask (and streaming from numpy) never imports Dask: the extra stays optional."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, hsrnet, hsrnet.dask\n"
        "from hsrnet.dask import fit_input_map\n"
        "fit_input_map('pca', np.random.default_rng(0).normal(size=(50, 4)), n_components=2)\n"
        "print(sorted(m for m in ('dask', 'distributed', 'dask_ml') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
