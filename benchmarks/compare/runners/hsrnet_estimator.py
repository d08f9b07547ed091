"""hsrnet's scikit-learn estimators (HSRClassifier / HSRRegressor), driven one epoch at a time.

Driver: ``warm_start=True, max_iter=1`` and one ``fit`` per epoch (the estimator's public API; every other
parameter is the caller's). Trajectory: the first epoch is bit-identical to ``fit(max_iter=k)``'s, later ones
are not: one ``fit`` shuffles its whole run of epochs from one seeded stream, while every call of ``fit`` or
``partial_fit`` reseeds the trainer's shuffling from (seed, epochs done) (estimators.py: the model's future
depends on its pickled state only). The solver's state (Adagrad's sums, momentum, Adam's moments) lives in
the estimator's one trainer and carries over, so with shuffle=False epoch-by-epoch equals one ``fit``
exactly. Driving by ``partial_fit`` gives exactly the same weights as this driver. All three facts are
checked in tests/python/test_compare_runners.py; curves agree with one ``fit`` statistically, not bit for
bit. Each call also re-validates and re-maps X (the input map), an overhead a single ``fit`` pays once:
``extra.trainer_seconds`` is the trainer's own time, so the gap is visible.
"""

from __future__ import annotations

import warnings

import hsrnet
from sklearn.exceptions import ConvergenceWarning

from .loop import Diverged, Trained, run_epochs

DRIVER_OWNED = ("warm_start", "max_iter", "n_jobs", "verbose")


def estimator_class(task: str):
    return hsrnet.HSRClassifier if task == "classification" else hsrnet.HSRRegressor


def check_params(task: str, params: dict) -> None:
    """Raises ValueError for parameters the estimator does not know (or that the driver sets itself)."""
    Est = estimator_class(task)
    known = set(Est().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown {Est.__name__} parameter(s) {unknown}; it accepts {sorted(known)}")
    owned = sorted(set(params) & set(DRIVER_OWNED))
    if owned:
        raise ValueError(f"{owned} are set by the benchmark driver (warm_start=True, max_iter=1, n_jobs=threads)")


def run(ds, params, threads, max_epochs, time_budget_s):
    check_params(ds.task, params)
    Est = estimator_class(ds.task)
    est = Est(**{"random_state": 0, **params, "warm_start": True, "max_iter": 1, "n_jobs": threads})

    def train_epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                est.fit(ds.X_train, ds.y_train)
            except ValueError as e:
                if "diverged" in str(e):
                    raise Diverged(str(e)) from e
                raise
        return Trained(
            est.loss_curve_[-1],
            {
                "firing_fraction": est.firing_fraction_[-1],
                "trainer_seconds": est.timings_["total"][-1],
                "identify_seconds": est.timings_["identify"][-1],
            },
        )

    config = {**est.get_params(), "estimator": Est.__name__, "driver": "fit per epoch with warm_start=True, max_iter=1"}
    return config, run_epochs(
        lambda: None, train_epoch, lambda: est.score(ds.X_test, ds.y_test), max_epochs, time_budget_s
    )
