"""scikit-learn's MLPClassifier / MLPRegressor behind a StandardScaler, driven one epoch at a time.

Driver: ``partial_fit`` with ``random_state`` a RandomState instance. Why not ``warm_start=True,
max_iter=1``: every ``fit`` call builds a new Adam optimizer (``_fit_stochastic``: ``if not incremental``),
so its moment estimates and step count restart each epoch (measured: after 3 such calls the optimizer has
taken only the last epoch's steps). ``partial_fit`` keeps the optimizer. Why an instance: ``_fit`` calls
check_random_state(random_state) on every call, so an int seed replays the same shuffle every epoch; an
instance continues its stream. The trajectory is still not ``fit(max_iter=k)``'s bit for bit (``fit``
reshuffles the previous permutation, ``partial_fit`` a fresh arange), only statistically the same.
"""

from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from .loop import Trained, run_epochs

SEED = 0


def run(ds, params, threads, max_epochs, time_budget_s):
    classify = ds.task == "classification"
    Est = MLPClassifier if classify else MLPRegressor
    known = set(Est().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown {Est.__name__} parameter(s) {unknown}")
    if "random_state" in params:
        raise ValueError("random_state is set by the driver (a RandomState instance, see sklearn_mlp.py)")
    params = {k: tuple(v) if k == "hidden_layer_sizes" else v for k, v in params.items()}
    est = Est(**params, random_state=np.random.RandomState(SEED))
    st = {}

    def setup():  # on the clock
        st["scaler"] = StandardScaler().fit(ds.X_train)
        st["X"] = st["scaler"].transform(ds.X_train)
        st["classes"] = np.unique(ds.y_train) if classify else None

    def train_epoch():
        if classify:
            est.partial_fit(st["X"], ds.y_train, classes=st["classes"])
        else:
            est.partial_fit(st["X"], ds.y_train)
        return Trained(float(est.loss_))

    config = {
        **est.get_params(),
        "random_state": f"RandomState({SEED})",
        "estimator": Est.__name__,
        "inputs": "StandardScaler",
        "driver": "partial_fit per epoch",
    }
    return config, run_epochs(
        setup, train_epoch, lambda: est.score(st["scaler"].transform(ds.X_test), ds.y_test), max_epochs, time_budget_s
    )
