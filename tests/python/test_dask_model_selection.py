"""Model selection on Dask distributed: GridSearchCV / cross_validate under joblib's dask backend give the
numbers of the same search run locally with n_jobs=1, bit for bit; estimators travel between processes intact."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (the dask extra: pip install 'hsrnet[dask]')"
)

import joblib  # noqa: E402
from distributed import get_task_stream  # noqa: E402
from hsrnet import HSRClassifier, HSRRegressor  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(
        n_samples=300, n_features=12, n_informative=6, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    return X.astype(np.float32), np.array(["a", "b", "c"])[y]


def _weights(est):
    return est.network_.hidden_weights(), est.network_.output_weights()


def _assert_same_model(a, b):
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)


def test_grid_search_on_the_cluster_equals_the_local_search(dask_client, classification):
    X, y = classification
    est = HSRClassifier(n_neurons=128, max_iter=3, batch_size=32, random_state=0)
    grid = {"solver": ["sgd", "adam"], "n_neurons": [64, 128]}
    local = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(dask_client) as tasks, joblib.parallel_backend("dask"):
        remote = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)
    workers = {t["worker"] for t in tasks.data}
    assert len(tasks.data) > 0 and len(workers) == 2, "the fits did not run on both Dask workers"

    assert local.best_params_ == remote.best_params_ and local.best_index_ == remote.best_index_
    assert set(local.cv_results_) == set(remote.cv_results_)
    for key, value in local.cv_results_.items():
        if key.endswith("_time"):
            continue
        if key == "params":
            assert value == remote.cv_results_[key]
        elif np.asarray(value).dtype == object:
            assert list(value) == list(remote.cv_results_[key]), key
        else:
            np.testing.assert_array_equal(value, remote.cv_results_[key], err_msg=key)
    np.testing.assert_array_equal(local.decision_function(X), remote.decision_function(X))
    np.testing.assert_array_equal(local.predict(X), remote.predict(X))
    _assert_same_model(local.best_estimator_, remote.best_estimator_)


@pytest.mark.parametrize("solver", ["adagrad", "adam"])
def test_cross_validate_returns_the_models_of_a_local_run(dask_client, solver):
    X, y = make_regression(n_samples=240, n_features=8, n_targets=2, noise=0.1, random_state=1)
    est = HSRRegressor(n_neurons=96, max_iter=2, batch_size=16, solver=solver, random_state=3)
    local = cross_validate(est, X, y, cv=3, n_jobs=1, return_estimator=True, return_train_score=True)
    with joblib.parallel_backend("dask"):
        remote = cross_validate(est, X, y, cv=3, n_jobs=-1, return_estimator=True, return_train_score=True)
    for key in ("test_score", "train_score"):
        np.testing.assert_array_equal(local[key], remote[key])
    for a, b in zip(local["estimator"], remote["estimator"]):
        _assert_same_model(a, b)
        np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _fit_remote(est, X, y):
    return est.fit(X, y)


def _continue(est, X, y):
    return est.partial_fit(X, y)


def _predict(est, X):
    return est.decision_function(X)


def test_models_travel_between_processes_intact(dask_client, classification):
    """Fitted on a worker, predicted on another, trained on (optimizer state included): as if all were local."""
    X, y = classification
    est = HSRClassifier(n_neurons=64, max_iter=2, batch_size=16, solver="adam", random_state=5)
    local = est.__class__(**est.get_params()).fit(X, y)
    a, b = (w for w in dask_client.scheduler_info()["workers"])
    remote = dask_client.submit(_fit_remote, est, X, y, workers=[a], pure=False).result()
    _assert_same_model(local, remote)
    scores = dask_client.submit(_predict, local, X, workers=[b], pure=False).result()
    np.testing.assert_array_equal(scores, local.decision_function(X))
    # one more epoch on the other worker continues Adam's moments exactly as locally
    remote = dask_client.submit(_continue, remote, X, y, workers=[b], pure=False).result()
    local.partial_fit(X, y)
    _assert_same_model(local, remote)
    assert remote.n_iter_ == local.n_iter_ == 3


def _threads_in_task(n_jobs):
    return HSRClassifier(n_jobs=n_jobs)._n_threads()


def test_n_jobs_minus_one_takes_a_fair_share_of_the_host_in_a_dask_task(dask_client):
    """n_jobs=-1 in a Dask task: at most the host's cores divided by the Dask worker threads on it (OpenMP's
    maximum in every task oversubscribed the cores: docs/dask.md); an explicit count is the user's choice."""
    import os

    import hsrnet
    from distributed import Client, LocalCluster

    cores = len(os.sched_getaffinity(0))
    # the session's cluster: 2 worker processes with 1 thread each
    for worker in dask_client.scheduler_info()["workers"]:
        got = dask_client.submit(_threads_in_task, -1, workers=[worker], pure=False).result()
        assert got == max(1, cores // 2)
        assert dask_client.submit(_threads_in_task, 3, workers=[worker], pure=False).result() == 3
    assert _threads_in_task(-1) == hsrnet._max_threads()  # outside Dask: OpenMP's maximum
    cluster = LocalCluster(n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None)
    with cluster, Client(cluster) as client:
        got = client.submit(_threads_in_task, -1, pure=False).result()
    assert got == max(1, min(hsrnet._max_threads(), cores // 3))
