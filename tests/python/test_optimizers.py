"""Optimizers (solver=) and the PCA input map: the rules against a numpy reference, exactness across
strategies, state that survives pickling and warm starts, and bad settings."""

from __future__ import annotations

import pickle
import warnings

import hsrnet
import numpy as np
import pytest
from hsrnet import HSRClassifier, HSRRegressor
from hsrnet.input_map import InputMap
from hsrnet.network import OPTIMIZERS, SgdTrainer, ShiftedReLUNet
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

RATES = {"sgd": 5.0, "adagrad": 0.05, "rowwise_adagrad": 0.05, "adam": 0.01}
SOLVERS = [("sgd", 0.0), ("sgd", 0.9), ("adagrad", 0.0), ("rowwise_adagrad", 0.0), ("adam", 0.0)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def sphere_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 12)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int32) + (X[:, 2] > 0.3)
    return X, y.astype(np.int32)


def numpy_reference(W, A, X, y, b, lr, steps, solver, momentum=0.0, eps=None, betas=(0.9, 0.999)):
    """Full-batch training of f = (1/sqrt m) A^T relu_b(W x) with softmax cross-entropy, in float64,
    written from the formulas of docs/optimizers.md (independent of the C++ code)."""
    W, A = W.astype(np.float64), A.astype(np.float64)
    m, B = W.shape[0], X.shape[0]
    eps = (1e-8 if solver == "adam" else 1e-10) if eps is None else eps
    state = {k: np.zeros_like(v) for k, v in (("W1", W), ("W2", W), ("A1", A), ("A2", A))}
    row_acc = np.zeros(m)
    for t in range(1, steps + 1):
        Z = X @ W.T  # (B, m)
        fires = Z > b
        H = np.where(fires, Z - b, 0.0)
        F = H @ A / np.sqrt(m)
        P = np.exp(F - F.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        G = P.copy()
        G[np.arange(B), y] -= 1.0  # dL/df per sample
        C = np.where(fires, (G @ A.T) / np.sqrt(m), 0.0)  # dL/dz per (sample, neuron)
        gW = C.T @ X / B
        gA = H.T @ G / np.sqrt(m) / B
        for key, p, g in (("W", W, gW), ("A", A, gA)):
            s1, s2 = state[key + "1"], state[key + "2"]
            if solver == "sgd" and momentum == 0:
                p -= lr * g
            elif solver == "sgd":
                s1[:] = momentum * s1 + g
                p -= lr * s1
            elif solver == "adagrad" or (solver == "rowwise_adagrad" and key == "A"):
                s1 += g * g
                p -= lr * g / (np.sqrt(s1) + eps)
            elif solver == "rowwise_adagrad":
                row_acc += (g * g).sum(axis=1) / W.shape[1]
                p -= lr * g / (np.sqrt(row_acc)[:, None] + eps)
            else:  # adam, lazy: rows without a gradient keep their moments
                rows = np.abs(g).sum(axis=1) > 0
                b1, b2 = betas
                s1[rows] = b1 * s1[rows] + (1 - b1) * g[rows]
                s2[rows] = b2 * s2[rows] + (1 - b2) * g[rows] ** 2
                step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                p[rows] -= step * s1[rows] / (np.sqrt(s2[rows]) + eps)
    return W, A


@pytest.mark.parametrize("solver,momentum", SOLVERS)
def test_rules_match_a_numpy_reference(sphere_data, solver, momentum):
    X, y = sphere_data
    K, m = 3, 256
    rng = np.random.default_rng(4)
    # Gaussian output weights: with the default random signs a row a_r = (1, 1, 1) has a zero gradient
    # in exact arithmetic (softmax gradients sum to 0), which Adagrad would turn into a full step on rounding
    # noise, a different one in float32 and in float64.
    W0 = rng.standard_normal((m, X.shape[1])).astype(np.float32)
    A0 = rng.standard_normal((m, K)).astype(np.float32)
    net = ShiftedReLUNet(X.shape[1], m, K, W=W0, A=A0)
    lr = 0.5 if (solver == "sgd" and momentum) else RATES[solver]
    trainer = SgdTrainer(
        batch_size=X.shape[0],
        learning_rate=lr,
        strategy="dense",
        train_output_layer=True,
        loss="softmax_cross_entropy",
        shuffle=False,
        optimizer=solver,
        momentum=momentum,
    )
    for _ in range(4):
        trainer.fit_epoch(net, X, y)
    W, A = numpy_reference(W0, A0, X.astype(np.float64), y, float(net.threshold), lr, 4, solver, momentum)
    np.testing.assert_allclose(net.hidden_weights(), W, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(net.output_weights(), A, rtol=2e-4, atol=2e-5)
    assert not np.allclose(W, W0), "the reference must move the weights"


@pytest.mark.parametrize("solver,momentum", SOLVERS)
@pytest.mark.parametrize("batch_size", [1, 16])
def test_every_strategy_equals_dense(sphere_data, solver, momentum, batch_size):
    X, y = sphere_data
    lr = 0.5 if (solver == "sgd" and momentum) else RATES[solver]
    runs = {}
    for strategy in ("dense", "scan", "gemm", "tree", "cache", "auto"):
        est = HSRClassifier(
            n_neurons=512,
            max_iter=2,
            batch_size=batch_size,
            learning_rate_init=lr,
            solver=solver,
            momentum=momentum,
            strategy=strategy,
            random_state=0,
            input_map="none",
        )
        est.fit(X, y)
        runs[strategy] = (est.network_.hidden_weights(), est.network_.output_weights())
    W, A = runs["dense"]
    for strategy, (W2, A2) in runs.items():
        assert np.array_equal(W, W2) and np.array_equal(A, A2), strategy


@pytest.mark.parametrize("solver", ["adagrad", "rowwise_adagrad", "adam"])
def test_pickled_model_continues_as_if_never_saved(solver):
    X, y = make_classification(n_samples=200, n_features=10, n_informative=6, n_classes=3, random_state=1)
    params = dict(
        n_neurons=512,
        max_iter=1,
        batch_size=16,
        learning_rate_init=RATES[solver],
        solver=solver,
        warm_start=True,
        random_state=0,
    )
    straight = HSRClassifier(**params).fit(X, y).fit(X, y).fit(X, y)
    saved = pickle.loads(pickle.dumps(HSRClassifier(**params).fit(X, y)))
    saved.fit(X, y).fit(X, y)
    assert np.array_equal(straight.network_.hidden_weights(), saved.network_.hidden_weights())
    assert np.array_equal(straight.network_.output_weights(), saved.network_.output_weights())
    # Without the optimizer's state the continuation differs: the state is what makes them equal.
    forgetful = HSRClassifier(**params).fit(X, y)
    forgetful.__dict__.pop("_trainer")
    forgetful.fit(X, y).fit(X, y)
    assert not np.array_equal(straight.network_.hidden_weights(), forgetful.network_.hidden_weights())


def test_warm_start_keeps_one_trainer_and_a_new_solver_starts_afresh():
    X, y = make_classification(n_samples=120, n_features=6, random_state=2)
    est = HSRClassifier(
        n_neurons=256,
        max_iter=1,
        batch_size=16,
        learning_rate_init=0.05,
        solver="adagrad",
        warm_start=True,
        random_state=0,
    ).fit(X, y)
    trainer = est._trainer
    est.fit(X, y)
    assert est._trainer is trainer
    est.set_params(solver="adam", learning_rate_init=0.01)
    est.fit(X, y)
    assert est._trainer is not trainer and est._trainer.optimizer == "adam"
    state = est._trainer.optimizer_state(est.network_)
    assert state["steps"] == int(np.ceil(120 / 16))  # Adam's clock started with the new solver
    est.set_params(batch_size=32)  # other settings: a new trainer that keeps the same solver's state
    est.fit(X, y)
    assert est._trainer.optimizer_state(est.network_)["steps"] == state["steps"] + int(np.ceil(120 / 32))


def test_regressor_trains_with_every_solver():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 5))
    y = X[:, 0] ** 2 + X[:, 1]
    for solver, lr in (("sgd", 30.0), ("adagrad", 0.05), ("rowwise_adagrad", 0.05), ("adam", 0.005)):
        est = HSRRegressor(
            n_neurons=1024, max_iter=15, batch_size=16, solver=solver, learning_rate_init=lr, random_state=0
        ).fit(X, y)
        assert est.score(X, y) > 0.5, solver


def test_bad_solver_settings():
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="momentum"):
        HSRClassifier(solver="adam", momentum=0.5).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        HSRClassifier(solver="rmsprop").fit(X, y)
    for bad in (dict(beta_1=1.0), dict(beta_2=-0.1), dict(epsilon=0.0), dict(momentum=1.0)):
        with pytest.raises(ValueError):
            HSRClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="optimizer"):
        SgdTrainer(optimizer="lbfgs")
    with pytest.raises(ValueError, match="momentum"):
        SgdTrainer(optimizer="adagrad", momentum=0.9)


def test_trainer_state_round_trip_and_validation(sphere_data):
    X, y = sphere_data
    net = ShiftedReLUNet(X.shape[1], 128, 3, seed=1)
    tr = SgdTrainer(
        batch_size=8, learning_rate=0.05, loss="softmax_cross_entropy", train_output_layer=True, optimizer="adam"
    )
    assert tr.optimizer_state(net)["steps"] == 0
    tr.fit_epoch(net, X, y)
    state = tr.optimizer_state(net)
    assert set(state) == {"steps", "hidden1", "hidden2", "out1", "out2", "optimizer", "momentum"}
    assert state["hidden1"].shape == (128, X.shape[1]) and state["out2"].shape == (128, 3)
    assert state["steps"] == 12 and (state["hidden2"] >= 0).all()
    other = SgdTrainer(batch_size=8, learning_rate=0.05, loss="softmax_cross_entropy", optimizer="adam")
    other.restore_optimizer_state(net, state)
    again = other.optimizer_state(net)
    for k in ("hidden1", "hidden2", "out1", "out2"):
        assert np.array_equal(again[k], state[k])
    bad = dict(state, hidden2=-state["hidden2"] - 1)
    with pytest.raises(ValueError, match="negative"):
        other.restore_optimizer_state(net, bad)
    with pytest.raises(ValueError, match="shape"):
        other.restore_optimizer_state(net, dict(state, out1=state["out1"][:5]))
    with pytest.raises(ValueError, match="adagrad|adam"):
        SgdTrainer(optimizer="adagrad").restore_optimizer_state(net, state)
    with pytest.raises(ValueError, match="incomplete"):
        other.restore_optimizer_state(net, {k: v for k, v in state.items() if k != "out2"})


def test_optimizer_names_are_one_list():
    assert OPTIMIZERS == ("sgd", "adagrad", "rowwise_adagrad", "adam")
    assert set(HSRClassifier._parameter_constraints["solver"][0].options) == set(OPTIMIZERS)


# ---------------------------------------------------------------------------------------- the PCA input map


def test_pca_map_whitens_onto_the_sphere():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2000, 30)) @ rng.standard_normal((30, 30)) + 3.0
    imap = InputMap("pca", n_components=8).fit(X)
    Z = imap.transform(X)
    assert Z.shape == (2000, 9) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    mapped = (X - imap.mean_) @ (imap.components_ / imap.scale_)
    np.testing.assert_allclose(mapped.std(axis=0), 1.0, rtol=0.05)  # whitened
    np.testing.assert_allclose(imap.components_.T @ imap.components_, np.eye(8), atol=1e-10)
    # The top directions: the variance they keep beats any other 8 coordinates' share by construction.
    kept = ((X - X.mean(0)) @ imap.components_).var(axis=0).sum()
    assert kept >= np.sort(X.var(axis=0))[-8:].sum()
    again = InputMap("pca", n_components=8).fit(X)
    assert np.array_equal(again.components_, imap.components_)  # deterministic, signs included
    assert InputMap("pca", n_components=50).fit(X).output_dim(30) == 31
    restored = InputMap.from_tensors(imap.to_tensors())
    assert np.array_equal(restored.transform(X), Z)
    restored.check(30)
    with pytest.raises(ValueError):
        restored.check(29)


def test_estimator_with_pca_map_saves_and_loads(tmp_path):
    X, y = make_classification(n_samples=300, n_features=40, n_informative=10, n_classes=3, random_state=3)
    est = HSRClassifier(
        n_neurons=512,
        max_iter=5,
        batch_size=32,
        solver="adagrad",
        learning_rate_init=0.3,
        input_map="pca",
        n_components=12,
        random_state=0,
    ).fit(X, y)
    assert est.network_.d == 13
    assert est.score(X, y) > 0.8
    est.save(tmp_path / "m.hsr")
    back = hsrnet.load(tmp_path / "m.hsr")
    assert np.array_equal(back.predict_proba(X), est.predict_proba(X))
    with pytest.raises(ValueError):
        HSRClassifier(input_map="pca", n_components=0).fit(X, y)


@pytest.mark.parametrize("solver", ["adagrad", "adam"])
def test_model_file_carries_the_optimizer_state(tmp_path, solver):
    X, y = make_classification(n_samples=160, n_features=8, n_informative=5, n_classes=3, random_state=4)
    params = dict(n_neurons=256, max_iter=1, batch_size=16, solver=solver, warm_start=True, random_state=0)
    straight = HSRClassifier(**params).fit(X, y).fit(X, y)
    HSRClassifier(**params).fit(X, y).save(tmp_path / "m.hsr")
    loaded = hsrnet.load(tmp_path / "m.hsr")
    assert loaded._optimizer_state["steps"] == 10
    loaded.fit(X, y)
    assert np.array_equal(straight.network_.hidden_weights(), loaded.network_.hidden_weights())
    assert np.array_equal(straight.network_.output_weights(), loaded.network_.output_weights())
    loaded.save(tmp_path / "again.hsr")  # a loaded model saves its state again, before and after training
    assert hsrnet.load(tmp_path / "again.hsr")._optimizer_state["steps"] == 20
