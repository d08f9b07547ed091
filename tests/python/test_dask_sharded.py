"""A network wider than one machine: neurons sharded across Dask workers (hsrnet.dask.ShardedHSRClassifier /
ShardedHSRRegressor). Sharded training on 2 worker processes equals a single-process reference that sums the
same shards' partial outputs in the same order, bit for bit, for every strategy and optimizer; one shard equals
the ordinary estimator; to_local, save and load keep the model."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (the dask extra: pip install 'hsrnet[dask]')"
)

from hsrnet import HSRClassifier, HSRRegressor  # noqa: E402
from hsrnet.dask import ShardedHSRClassifier, ShardedHSRRegressor, load_sharded  # noqa: E402
from sklearn.base import clone  # noqa: E402

STRATEGIES = ("dense", "scan", "gemm", "tree", "cache", "auto")
SOLVERS = (("sgd", 0.0), ("sgd", 0.9), ("adagrad", 0.0), ("rowwise_adagrad", 0.0), ("adam", 0.0))


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 2
    y = rng.integers(0, 3, size=96)
    X = (centres[y] + rng.normal(size=(96, 6))).astype(np.float32)
    return X, y


def _in_process(est):
    ref = clone(est)
    ref._in_process = True
    return ref


def _shard_weights(est):
    from hsrnet.dask._sharded import _call

    return _call(est.shards_, "weights")


def _assert_same_shards(a, b):
    wa, wb = _shard_weights(a), _shard_weights(b)
    assert len(wa) == len(wb)
    for (Wa, Aa), (Wb, Ab) in zip(wa, wb):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(Aa, Ab)


@pytest.mark.parametrize("solver,momentum", SOLVERS)
def test_two_workers_equal_the_single_process_reference_for_every_strategy(dask_client, blobs, solver, momentum):
    X, y = blobs
    base = ShardedHSRClassifier(
        n_neurons=48,
        n_shards=2,
        max_iter=2,
        batch_size=16,
        solver=solver,
        momentum=momentum,
        n_components=4,
        random_state=7,
    )
    ref = _in_process(base.set_params(strategy="dense")).fit(X, y)
    assert ref.shard_sizes_ == [24, 24] and ref.shard_workers_ == ["in-process"] * 2
    for strategy in STRATEGIES:
        est = clone(base).set_params(strategy=strategy).fit(X, y)
        assert est.shard_sizes_ == [24, 24] and len(set(est.shard_workers_)) == 2, "one shard per worker"
        _assert_same_shards(ref, est)
        assert est.loss_curve_ == ref.loss_curve_, strategy
        np.testing.assert_array_equal(est.decision_function(X), ref.decision_function(X))


def test_one_shard_trains_as_the_ordinary_estimator(blobs):
    X, y = blobs
    params = dict(n_neurons=40, max_iter=3, batch_size=8, solver="adam", shuffle=False, random_state=3)
    local = HSRClassifier(**params).fit(X, y)
    sharded = _in_process(ShardedHSRClassifier(n_shards=1, **params)).fit(X, y)
    ((W, A),) = _shard_weights(sharded)
    np.testing.assert_array_equal(W, local.network_.hidden_weights())
    np.testing.assert_array_equal(A, local.network_.output_weights())
    assert sharded.loss_curve_ == local.loss_curve_


def test_regressor_shards_to_local_save_and_load(dask_client, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 5))
    y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]
    est = ShardedHSRRegressor(
        n_neurons=50, max_iter=2, batch_size=16, solver="adagrad", n_shards=3, input_map="standardize", random_state=1
    )
    ref = _in_process(est).fit(X, y)
    est.fit(X, y)
    assert est.shard_sizes_ == [17, 17, 16]
    _assert_same_shards(ref, est)
    # to_local: one network with the shards' neurons in order, predictions equal up to the sum's rounding
    local = est.to_local()
    assert isinstance(local, HSRRegressor) and local.network_.m == 50
    np.testing.assert_array_equal(local.network_.hidden_weights(), np.concatenate([w for w, _ in _shard_weights(est)]))
    np.testing.assert_allclose(local.predict(X), est.predict(X), rtol=1e-5, atol=1e-5)
    local.partial_fit(X, y)  # the gathered model trains on alone, its optimizer's state included
    assert local.n_iter_ == 3
    # save writes a shard file per worker and a manifest; load puts the shards back on the workers
    est.save(tmp_path / "model")
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert names == ["driver.hsrnet", "manifest.json", "shard-0000.hsrnet", "shard-0001.hsrnet", "shard-0002.hsrnet"]
    loaded = load_sharded(tmp_path / "model")
    _assert_same_shards(est, loaded)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.get_params() == est.get_params() and loaded.n_iter_ == est.n_iter_
    # training goes on from the file exactly as from the live model (the optimizer's state was saved)
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    _assert_same_shards(est, loaded)


def test_classifier_save_load_and_warm_start(dask_client, blobs, tmp_path):
    X, y = blobs
    labels = np.array(["x", "y", "z"])[y]
    est = ShardedHSRClassifier(n_neurons=30, max_iter=1, batch_size=32, random_state=4, n_components=3)
    est.fit(X, labels)
    est.save(tmp_path / "m")
    loaded = load_sharded(tmp_path / "m")
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    # warm starts; a changed strategy rebuilds the shards' trainers and keeps Adagrad's state (same weights)
    est.set_params(warm_start=True, max_iter=2, strategy="scan").fit(X, labels)
    loaded.set_params(warm_start=True, max_iter=2).fit(X, labels)
    _assert_same_shards(est, loaded)
    assert est.n_iter_ == loaded.n_iter_ == 3


def test_fitted_sharded_models_are_not_pickled_and_need_a_client(blobs):
    X, y = blobs
    est = _in_process(ShardedHSRClassifier(n_neurons=16, max_iter=1, random_state=0)).fit(X, y)
    with pytest.raises(TypeError, match="save\\(directory\\)"):
        pickle.dumps(est)
    pickle.loads(pickle.dumps(clone(est)))  # unfitted: parameters only
    with pytest.raises(ValueError, match="early_stopping"):
        ShardedHSRClassifier(early_stopping=True).fit(X, y)


def test_sharded_training_streamed_in_blocks(dask_client, blobs):
    """Data larger than memory and a network wider than one worker together: partial_fit per block."""
    from hsrnet.dask import fit_input_map, partial_fit_blocks

    X, y = blobs
    est = ShardedHSRClassifier(n_neurons=32, n_shards=2, batch_size=8, solver="adam", n_components=4, random_state=6)
    fit_input_map(est, X, block_rows=40)
    ref = partial_fit_blocks(_in_process(est), X, y, classes=[0, 1, 2], epochs=2, block_rows=40)
    partial_fit_blocks(est, X, y, classes=[0, 1, 2], epochs=2, block_rows=40)
    assert est.n_iter_ == ref.n_iter_ == 6
    _assert_same_shards(ref, est)
