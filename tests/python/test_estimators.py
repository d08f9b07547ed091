"""HSRClassifier and HSRRegressor: the scikit-learn contract, every parameter and method, bad input."""

from __future__ import annotations

import pickle
import re
import warnings

import joblib
import numpy as np
import pytest

pytest.importorskip("sklearn")

import hsrnet  # noqa: E402
from hsrnet import HSRClassifier, HSRRegressor  # noqa: E402
from hsrnet.network import TIMING_KEYS  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

# Small and quick: the common checks fit dozens of times.
# Plain SGD at the rates these tests were written for (the solvers have tests of their own: test_optimizers.py).
FAST = dict(n_neurons=256, max_iter=30, batch_size=8, learning_rate_init=1.0, solver="sgd", input_map="standardize")
SMALL = dict(
    n_neurons=256,
    max_iter=8,
    batch_size=16,
    learning_rate_init=30.0,
    random_state=0,
    solver="sgd",
    input_map="standardize",
)


def expected_failed_checks(estimator):
    """Common checks this estimator is known to fail, with the reason. None today: every check passes.

    (scikit-learn itself skips check_array_api_input unless SCIPY_ARRAY_API=1; hsrnet does not support the
    array API anyway: the core is C++ over float32 numpy arrays.)
    """
    return {}


# The defaults as well: what a user who changes nothing gets must pass too (about 15 s more).
@parametrize_with_checks(
    [HSRClassifier(**FAST), HSRRegressor(**FAST), HSRClassifier(), HSRRegressor()],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_common_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=240, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=240, n_features=6, n_informative=4, n_targets=2, noise=1.0, random_state=0)
    return X, y


def weights(est):
    return est.network_.hidden_weights(), est.network_.output_weights()


def assert_same_weights(a, b):
    (Wa, Aa), (Wb, Ab) = weights(a), weights(b)
    np.testing.assert_array_equal(Wa, Wb)
    np.testing.assert_array_equal(Aa, Ab)


def fit_quiet(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kw)


# ---------------------------------------------------------------------------------------------- basics
def test_exports_and_defaults():
    assert hsrnet.HSRClassifier is HSRClassifier and hsrnet.HSRRegressor is HSRRegressor
    assert callable(hsrnet.load)
    for name in ("HSRClassifier", "HSRRegressor", "load"):
        assert name in hsrnet.__all__
    p = HSRClassifier().get_params()
    assert p["threshold"] == "auto" and p["learning_rate"] == "constant" and p["strategy"] == "auto"
    assert p["input_map"] == "pca" and p["n_jobs"] is None and p["cache_memory_budget"] == 2**30
    assert p["solver"] == "adagrad" and p["learning_rate_init"] == "auto" and p["batch_size"] == 128
    assert set(p) == set(HSRRegressor().get_params())


def test_classifier_fitted_attributes(clf_data):
    X, y = clf_data
    clf = fit_quiet(HSRClassifier(**SMALL), X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 8
    assert clf.network_.d == 9 and clf.network_.m == 256 and clf.network_.n_outputs == 3
    assert clf.n_iter_ == 8 and clf.t_ == 8 * len(X)
    assert len(clf.loss_curve_) == len(clf.firing_fraction_) == 8
    assert set(clf.timings_) == set(TIMING_KEYS)
    assert all(len(v) == 8 and min(v) >= 0 for v in clf.timings_.values())
    assert all(0 < f < 1 for f in clf.firing_fraction_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.score(X, y) > 0.8
    assert isinstance(clf.input_map_, hsrnet.input_map.InputMap)


def test_classifier_outputs(clf_data):
    X, y = clf_data
    clf = fit_quiet(HSRClassifier(**SMALL), X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    dec = clf.decision_function(X)
    assert dec.shape == (len(X), 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[dec.argmax(axis=1)])
    np.testing.assert_array_equal(proba.argmax(axis=1), dec.argmax(axis=1))


def test_binary_string_labels(clf_data):
    X, y = clf_data
    labels = np.where(y == 0, "cat", "dog")
    clf = fit_quiet(HSRClassifier(**SMALL), X, labels)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog"])
    assert clf.network_.n_outputs == 2  # binary: softmax over K = 2 outputs
    dec = clf.decision_function(X)
    assert dec.shape == (len(X),)
    np.testing.assert_array_equal(clf.predict(X), np.where(dec > 0, "dog", "cat"))
    assert set(clf.predict(X)) <= {"cat", "dog"}
    assert clf.score(X, labels) > 0.8


def test_object_labels_and_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=1)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = np.array(["no", "yes"], dtype=object)[y]
    clf = fit_quiet(HSRClassifier(**SMALL), df, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    assert clf.predict(df).dtype == object
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)  # fitted with names, predicting without


def test_regressor_shapes_and_scaling(reg_data):
    X, Y = reg_data
    reg = fit_quiet(HSRRegressor(**SMALL), X, Y)
    assert reg.n_outputs_ == 2 and reg.network_.n_outputs == 2
    np.testing.assert_allclose(reg.y_mean_, Y.mean(axis=0))
    np.testing.assert_allclose(reg.y_scale_, Y.std(axis=0))
    pred = reg.predict(X)
    assert pred.shape == (len(X), 2) and pred.dtype == np.float64
    assert reg.score(X, Y) > 0.8
    reg1 = fit_quiet(HSRRegressor(**SMALL), X, Y[:, 0])
    assert reg1.predict(X).shape == (len(X),) and reg1.n_outputs_ == 1
    reg2 = fit_quiet(HSRRegressor(**SMALL), X, Y[:, :1])
    assert reg2.predict(X).shape == (len(X), 1)
    np.testing.assert_array_equal(reg2.predict(X)[:, 0], reg1.predict(X))
    # targets far from unit scale are learnt as well as unit ones (standardised internally)
    big = fit_quiet(HSRRegressor(**SMALL), X, 1e6 * Y[:, 0] + 5e7)
    np.testing.assert_allclose(big.predict(X), 1e6 * reg1.predict(X) + 5e7, rtol=1e-5)
    assert reg1.loss_curve_[-1] < reg1.loss_curve_[0]


def test_regressor_constant_target(reg_data):
    X, _ = reg_data
    reg = fit_quiet(HSRRegressor(**SMALL), X, np.full(len(X), 3.0))
    assert reg.y_scale_[0] == 1.0
    np.testing.assert_allclose(reg.predict(X), 3.0, atol=0.5)


# ------------------------------------------------------------------------------------ sklearn tooling
def test_pipeline_and_cross_val_score(clf_data):
    X, y = clf_data
    pipe = make_pipeline(StandardScaler(), HSRClassifier(**SMALL))
    fit_quiet(pipe, X, y)
    assert pipe.score(X, y) > 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(HSRClassifier(**SMALL), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_grid_search_with_processes(clf_data):
    X, y = clf_data
    grid = GridSearchCV(
        HSRClassifier(**SMALL), {"learning_rate_init": [1.0, 10.0], "n_neurons": [128, 256]}, cv=2, n_jobs=2
    )  # loky: worker processes unpickle the estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert set(grid.best_params_) == {"learning_rate_init", "n_neurons"}
    assert grid.best_estimator_.n_iter_ == 8 and grid.score(X, y) > 0.7
    serial = fit_quiet(clone(grid.best_estimator_), X, y)
    assert_same_weights(serial, grid.best_estimator_)


def test_clone_is_unfitted(clf_data):
    X, y = clf_data
    clf = fit_quiet(HSRClassifier(**SMALL), X, y)
    c = clone(clf)
    assert c.get_params() == clf.get_params()
    assert not hasattr(c, "network_") and not hasattr(c, "classes_")
    with pytest.raises(NotFittedError):
        c.predict(X)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_round_trip(tmp_path, clf_data, reg_data, dump):
    X, y = clf_data
    Xr, Yr = reg_data
    for est, data in (
        (fit_quiet(HSRClassifier(**SMALL), X, np.array(list("abc"))[y]), X),
        (fit_quiet(HSRRegressor(**SMALL), Xr, Yr), Xr),
    ):
        if dump == "pickle":
            back = pickle.loads(pickle.dumps(est))
        else:
            joblib.dump(est, tmp_path / "m.joblib")
            back = joblib.load(tmp_path / "m.joblib")
        assert_same_weights(back, est)
        assert back.network_.threshold == est.network_.threshold
        np.testing.assert_array_equal(back.predict(data), est.predict(data))
        if isinstance(est, HSRClassifier):
            np.testing.assert_array_equal(back.predict_proba(data), est.predict_proba(data))
        assert back.loss_curve_ == est.loss_curve_ and back.get_params() == est.get_params()
        assert back.timings_ == est.timings_ and back.n_iter_ == est.n_iter_


def test_pickle_unfitted():
    back = pickle.loads(pickle.dumps(HSRClassifier(n_neurons=7)))
    assert back.n_neurons == 7 and not hasattr(back, "network_")


def test_training_continues_identically_after_pickle(clf_data):
    X, y = clf_data
    a = fit_quiet(HSRClassifier(**SMALL, warm_start=True), X, y)
    b = pickle.loads(pickle.dumps(a))
    fit_quiet(a, X, y)
    fit_quiet(b, X, y)
    assert_same_weights(a, b)
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    assert_same_weights(a, b)
    assert a.n_iter_ == b.n_iter_ == 17


# ----------------------------------------------------------------------------------------- parameters
def test_random_state_reproducible(clf_data):
    X, y = clf_data
    a = fit_quiet(HSRClassifier(**SMALL), X, y)
    b = fit_quiet(HSRClassifier(**SMALL), X, y)
    assert_same_weights(a, b)
    c = fit_quiet(HSRClassifier(**{**SMALL, "random_state": 1}), X, y)
    assert not np.array_equal(weights(a)[0], weights(c)[0])
    rs = np.random.RandomState(0)
    d = HSRClassifier(**{**SMALL, "random_state": rs})
    w1 = weights(fit_quiet(d, X, y))[0]
    w2 = weights(fit_quiet(d, X, y))[0]  # the RandomState advanced: another model, as in scikit-learn
    assert not np.array_equal(w1, w2)


def test_all_strategies_give_identical_models(clf_data):
    X, y = clf_data
    ref = fit_quiet(HSRClassifier(**{**SMALL, "strategy": "dense"}), X, y)
    for strategy in hsrnet.STRATEGIES:
        est = fit_quiet(HSRClassifier(**{**SMALL, "strategy": strategy}), X, y)
        assert_same_weights(est, ref)
        assert est.loss_curve_ == ref.loss_curve_


def test_cache_budget_zero_still_identical(reg_data):
    X, Y = reg_data
    a = fit_quiet(HSRRegressor(**{**SMALL, "strategy": "cache", "cache_memory_budget": 0}), X, Y)
    b = fit_quiet(HSRRegressor(**{**SMALL, "strategy": "dense"}), X, Y)
    assert_same_weights(a, b)


def test_n_jobs_gives_identical_models(reg_data):
    X, Y = reg_data
    models = [fit_quiet(HSRRegressor(**{**SMALL, "n_jobs": n}), X, Y) for n in (None, 1, 2, -1)]
    for m in models[1:]:
        assert_same_weights(m, models[0])
        np.testing.assert_array_equal(m.predict(X), models[0].predict(X))
    assert models[0]._n_threads() == 1 and models[2]._n_threads() == 2
    assert models[3]._n_threads() == hsrnet._max_threads()


def test_warm_start_continues(clf_data):
    X, y = clf_data
    est = fit_quiet(HSRClassifier(**{**SMALL, "max_iter": 2, "warm_start": True}), X, y)
    w_before = weights(est)[0]
    fit_quiet(est, X, y)
    assert est.n_iter_ == 4 and len(est.loss_curve_) == 4 and est.t_ == 4 * len(X)
    assert not np.array_equal(weights(est)[0], w_before)
    # without warm_start, fit starts over
    est.set_params(warm_start=False)
    fit_quiet(est, X, y)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    fresh = fit_quiet(HSRClassifier(**{**SMALL, "max_iter": 2}), X, y)
    assert_same_weights(est, fresh)


def test_warm_start_rejects_new_labels(clf_data):
    X, y = clf_data
    est = fit_quiet(HSRClassifier(**{**SMALL, "warm_start": True}), X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="not in classes_"):
        est.fit(X, y)


def test_partial_fit_classifier(clf_data):
    X, y = clf_data
    est = HSRClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:100], y[:100], classes=[0, 1, 2, 3])  # a class never seen in the data
    assert est.n_iter_ == 1 and est.network_.n_outputs == 4
    for _ in range(4):
        est.partial_fit(X, y)
    assert est.n_iter_ == 5 and est.t_ == 100 + 4 * len(X)
    assert est.score(X, y) > 0.7
    with pytest.raises(ValueError, match="differs"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X, y + 10)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


def test_partial_fit_regressor_and_after_fit(reg_data):
    X, Y = reg_data
    est = HSRRegressor(**SMALL)
    est.partial_fit(X, Y)
    np.testing.assert_allclose(est.y_mean_, Y.mean(axis=0))
    est.partial_fit(X, Y)
    assert est.n_iter_ == 2
    with pytest.raises(ValueError, match="outputs"):
        est.partial_fit(X, Y[:, 0])
    fit_quiet(est, X, Y)  # fit starts over...
    assert est.n_iter_ == 8
    est.partial_fit(X, Y)  # ...and partial_fit continues from it
    assert est.n_iter_ == 9


def test_early_stopping(clf_data, reg_data):
    X, y = clf_data
    est = fit_quiet(
        HSRClassifier(
            **{**SMALL, "early_stopping": True, "max_iter": 12, "n_iter_no_change": 2, "validation_fraction": 0.25}
        ),
        X,
        y,
    )
    assert len(est.validation_scores_) == est.n_iter_ <= 12
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert all(0 <= s <= 1 for s in est.validation_scores_)
    assert est.best_loss_ is None
    assert est.t_ == est.n_iter_ * (len(X) - 60)  # trained on the other 75 %
    Xr, Yr = reg_data
    reg = fit_quiet(HSRRegressor(**{**SMALL, "early_stopping": True}), Xr, Yr)
    assert len(reg.validation_scores_) == reg.n_iter_ and reg.best_validation_score_ > 0.5
    with pytest.raises(ValueError, match="validation set is too small"):
        HSRRegressor(**{**SMALL, "early_stopping": True}).fit(Xr[:5], Yr[:5])


def test_early_stopping_keeps_the_best_epoch():
    X, y = make_classification(n_samples=200, n_features=6, random_state=3, flip_y=0.3)
    # a learning rate high enough that the validation score jumps around
    est = fit_quiet(
        HSRClassifier(
            **{**SMALL, "early_stopping": True, "max_iter": 8, "n_iter_no_change": 50, "learning_rate_init": 300.0}
        ),
        X,
        y,
    )
    best = int(np.argmax(est.validation_scores_))
    replay = fit_quiet(
        HSRClassifier(
            **{
                **SMALL,
                "early_stopping": True,
                "max_iter": best + 1,
                "n_iter_no_change": 50,
                "learning_rate_init": 300.0,
            }
        ),
        X,
        y,
    )
    assert_same_weights(est, replay)


def test_convergence_warning_and_stopping(clf_data):
    X, y = clf_data
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        HSRClassifier(**{**SMALL, "max_iter": 2}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = HSRClassifier(**{**SMALL, "max_iter": 100, "tol": 10.0, "n_iter_no_change": 3}).fit(X, y)
    # the first epoch improves on +inf; then n_iter_no_change + 1 epochs without improvement (as MLPClassifier)
    assert est.n_iter_ == 5


def test_learning_rate_schedules(reg_data, capsys):
    X, Y = reg_data
    inv = HSRRegressor(**{**SMALL, "learning_rate": "invscaling", "power_t": 0.5, "verbose": True})
    fit_quiet(inv, X, Y)
    # each epoch's rate: learning_rate_init / (1 + samples seen before it) ** power_t (the trainer's schedule)
    rates = [float(v) for v in re.findall(r"lr = ([0-9.e+-]+),", capsys.readouterr().out)]
    expected = [SMALL["learning_rate_init"] / (1 + e * len(X)) ** 0.5 for e in range(inv.n_iter_)]
    assert rates == pytest.approx(expected, rel=1e-3)
    assert inv._trainer.next_learning_rate == pytest.approx(SMALL["learning_rate_init"] / (1 + inv.t_) ** 0.5)
    const = fit_quiet(HSRRegressor(**SMALL), X, Y)
    assert not np.array_equal(weights(inv)[0], weights(const)[0])
    ada = HSRRegressor(
        **{**SMALL, "learning_rate": "adaptive", "tol": 10.0, "n_iter_no_change": 1, "max_iter": 6, "verbose": True}
    )
    fit_quiet(ada, X, Y)
    assert ada._learning_rate == pytest.approx(SMALL["learning_rate_init"] / 25)
    assert "Setting learning rate to" in capsys.readouterr().out


def test_invscaling_continues_after_pickle_and_model_file(reg_data, tmp_path):
    # The schedule lives in the trainer; a model rebuilt from a pickle or a file must go on from its own t_,
    # not from a fresh trainer's zero.
    X, Y = reg_data
    params = {**SMALL, "learning_rate": "invscaling", "power_t": 0.5, "max_iter": 2, "warm_start": True}
    straight = fit_quiet(HSRRegressor(**params), X, Y)
    fit_quiet(straight, X, Y)
    first = fit_quiet(HSRRegressor(**params), X, Y)
    first.save(tmp_path / "m.hsr")
    for resumed in (pickle.loads(pickle.dumps(first)), hsrnet.load(tmp_path / "m.hsr")):
        fit_quiet(resumed, X, Y)
        for a, b in zip(weights(resumed), weights(straight)):
            np.testing.assert_array_equal(a, b)


def test_verbose_prints(clf_data, capsys):
    X, y = clf_data
    fit_quiet(HSRClassifier(**{**SMALL, "verbose": True, "early_stopping": True}), X, y)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 8 and "loss = " in out and "firing" in out and "Validation score" in out
    fit_quiet(HSRClassifier(**SMALL), X, y)
    assert capsys.readouterr().out == ""


def test_threshold_and_train_output_layer(clf_data):
    X, y = clf_data
    est = fit_quiet(HSRClassifier(**{**SMALL, "threshold": 0.5}), X, y)
    assert est.network_.threshold == pytest.approx(0.5)
    auto = fit_quiet(HSRClassifier(**SMALL), X, y)
    assert auto.network_.threshold == pytest.approx(hsrnet.default_threshold(256), rel=1e-6)
    assert est.firing_fraction_[0] > auto.firing_fraction_[0]  # a lower threshold fires more neurons
    fixed = fit_quiet(HSRClassifier(**{**SMALL, "train_output_layer": False}), X, y)
    assert set(np.unique(fixed.network_.output_weights())) <= {-1.0, 1.0}  # the paper's fixed +-1 layer
    assert len(np.unique(auto.network_.output_weights())) > 2


def test_input_map_none():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] > 0).astype(int)
    est = fit_quiet(HSRClassifier(**{**SMALL, "input_map": "none"}), X, y)
    assert est.network_.d == 5 and est.input_map_.kind == "none"
    assert est.score(X, y) > 0.8
    out = est.network_.predict(X.astype(np.float32)).astype(np.float64)
    np.testing.assert_array_equal(est.decision_function(X), out[:, 1] - out[:, 0])
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.predict(bad)


def test_float32_input_needs_no_float64(clf_data):
    X, y = clf_data
    a = fit_quiet(HSRClassifier(**SMALL), X.astype(np.float32), y)
    assert a.predict(X.astype(np.float32)).shape == (len(X),)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"strategy": "magic"}, "strategy"),
        ({"learning_rate": "optimal"}, "learning_rate"),
        ({"input_map": "minmax"}, "input_map"),
        ({"n_neurons": 0}, "n_neurons"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"threshold": "high"}, "threshold"),
        ({"threshold": float("inf")}, "threshold"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"n_jobs": 1.5}, "n_jobs"),
        ({"max_iter": 0}, "max_iter"),
        ({"cache_memory_budget": -1}, "cache_memory_budget"),
    ],
)
def test_bad_parameters(clf_data, params, match):
    X, y = clf_data
    est = HSRClassifier(**{**SMALL, **params})  # stored untouched...
    with pytest.raises(ValueError, match=match):  # ...rejected by fit (InvalidParameterError is a ValueError)
        est.fit(X, y)
    with pytest.raises(ValueError, match=match):
        HSRRegressor(**{**SMALL, **params}).partial_fit(X, y.astype(float))


def test_bad_data(clf_data):
    X, y = clf_data
    est = HSRClassifier(**SMALL)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(Xn, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="2 classes"):
        est.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    fit_quiet(est, X, y)
    with pytest.raises(ValueError, match="X has 5 features, but HSRClassifier is expecting 8 features"):
        est.predict(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        est.predict_proba(Xn)
    with pytest.raises(ValueError, match="2D array"):
        est.predict(X[0])
    reg = HSRRegressor(**SMALL)
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X, np.where(np.arange(len(X)) == 3, np.nan, 1.0))


def test_divergence_is_reported_and_leaves_no_model(reg_data):
    X, Y = reg_data
    est = HSRRegressor(**{**SMALL, "learning_rate_init": 1e9})
    with pytest.raises(ValueError, match="diverged.*lower learning_rate_init"):
        est.fit(X, Y)
    assert not hasattr(est, "network_")
    with pytest.raises(NotFittedError):
        est.predict(X)
