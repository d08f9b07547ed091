"""SgdTrainer from Python: every strategy trains exactly as dense SGD, the step is the documented gradient step,
runs reproduce bit for bit, statistics make sense, and bad input or diverging training raise clear exceptions.

Sizes are small (m <= 8192, n <= 256): the whole module runs in a few seconds on two cores.
"""

from __future__ import annotations

import functools
import math

import hsrnet
import numpy as np
import pytest
from conftest import assert_same_ids, brute_force
from hsrnet import SgdTrainer, ShiftedReLUNet, reference_dot

STRATEGIES = hsrnet.STRATEGIES
SPARSE = tuple(s for s in STRATEGIES if s != "dense")
# (loss, K): squared error with one and three outputs, softmax cross-entropy with four classes.
LOSSES = [("squared_error", 1), ("squared_error", 3), ("softmax_cross_entropy", 4)]
STAT_KEYS = {
    "epoch",
    "steps",
    "samples",
    "mean_loss",
    "firing_fraction",
    "candidate_fraction",
    "identify_s",
    "forward_s",
    "backward_s",
    "update_s",
    "index_s",
    "total_s",
    "learning_rate",
    "strategy",
    "index_backend",
    "cache_fallback",
    "cache_builds",
    "cache_delta",
    "cache_bytes",
    "tree_builds",
    "rows_updated",
    "candidates",
}
TIME_KEYS = ("identify_s", "forward_s", "backward_s", "update_s", "index_s", "total_s")


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X, dtype=np.float32)


@functools.cache
def data(n: int, d: int, loss: str, K: int, seed: int = 0):
    """(X, y): unit-sphere inputs; float32 (n, K) targets or int32 labels in [0, K). Read-only (shared)."""
    rng = np.random.default_rng(seed * 1000 + d * 10 + K)
    X = unit_rows(rng, n, d)
    if loss == "squared_error":
        y = rng.standard_normal((n, K)).astype(np.float32)
    else:
        y = rng.integers(0, K, n).astype(np.int32)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def paper_data(n: int, d: int, seed: int = 0):
    """The paper's setting: x uniform on the unit sphere, target (<u, x>)^2 for a fixed unit vector u."""
    rng = np.random.default_rng(seed)
    X = unit_rows(rng, n, d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    return X, ((X.astype(np.float64) @ u) ** 2).astype(np.float32)


def Trainer(**args):
    """SgdTrainer with one thread unless told otherwise: the suite shares two (busy) cores, where OpenMP
    barriers of tiny steps cost far more than they save. Thread counts are tested on their own."""
    args.setdefault("n_threads", 1)
    return SgdTrainer(**args)


def train(d, m, K, X, y, *, epochs=1, net_seed=7, **trainer_args):
    """A fresh network trained for `epochs` epochs: (W, A, [stats per epoch], network, trainer)."""
    net = ShiftedReLUNet(d, m, K, seed=net_seed)
    trainer = Trainer(**trainer_args)
    stats = [trainer.fit_epoch(net, X, y) for _ in range(epochs)]
    return net.hidden_weights(), net.output_weights(), stats, net, trainer


def assert_bit_identical(got, expected, context=""):
    """np.array_equal on the bits, and max relative difference <= 1e-5 (reported when they differ)."""
    rel = np.max(np.abs(got.astype(np.float64) - expected) / np.maximum(np.abs(expected.astype(np.float64)), 1e-30))
    assert rel <= 1e-5, f"{context}: max relative difference {rel:.3g}"
    if not np.array_equal(got.view(np.uint32), expected.view(np.uint32)):
        bad = np.argwhere(got.view(np.uint32) != expected.view(np.uint32))
        pytest.fail(
            f"{context}: {len(bad)} entries differ in their bits (first at {bad[0].tolist()}), "
            f"max relative difference {rel:.3g}"
        )


def firing_sets(net, X):
    return [net.firing(x) for x in X]


# ---------------------------------------------------------------------------------------------- exactness

SIZES = {3: (512, 96), 32: (1024, 96), 784: (256, 96)}  # d -> (m, n)


@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
@pytest.mark.parametrize("train_output_layer", [False, True], ids=["W", "W+A"])
@pytest.mark.parametrize("loss,K", LOSSES, ids=[f"{l}-K{k}" for l, k in LOSSES])
@pytest.mark.parametrize("batch_size", [1, 64])
@pytest.mark.parametrize("d", [3, 32, 784])
def test_every_strategy_trains_exactly_as_dense(d, batch_size, loss, K, train_output_layer, schedule):
    m, n = SIZES[d]
    X, y = data(n, d, loss, K)
    args = dict(
        batch_size=batch_size,
        learning_rate=1.0 if loss == "squared_error" else 2.0,
        schedule=schedule,
        train_output_layer=train_output_layer,
        loss=loss,
        seed=5,
    )
    W_ref, A_ref, st_ref, net_ref, _ = train(d, m, K, X, y, epochs=2, strategy="dense", **args)
    init = ShiftedReLUNet(d, m, K, seed=7)
    # Training did something, so the comparison below is not vacuous: W moved, A moved iff trained, and
    # the firing sets changed (neurons entered or left them).
    assert not np.array_equal(W_ref, init.hidden_weights())
    assert np.array_equal(A_ref, init.output_weights()) != train_output_layer
    assert any(not np.array_equal(a, b) for a, b in zip(firing_sets(init, X), firing_sets(net_ref, X)))
    assert st_ref[0]["strategy"] == "dense" and st_ref[0]["steps"] == math.ceil(n / batch_size)
    for strategy in SPARSE:
        W, A, st, _, _ = train(d, m, K, X, y, epochs=2, strategy=strategy, **args)
        context = f"strategy={strategy}"
        assert_bit_identical(W, W_ref, context + " W")
        assert_bit_identical(A, A_ref, context + " A")
        if strategy != "auto":
            assert st[0]["strategy"] == strategy, st[0]
        for e in range(2):
            for key in ("mean_loss", "firing_fraction", "rows_updated", "steps", "learning_rate"):
                assert st[e][key] == st_ref[e][key], f"{context} epoch {e} {key}: {st[e][key]} vs {st_ref[e][key]}"


@pytest.mark.parametrize("schedule", ["sklearn_invscaling"])
@pytest.mark.parametrize("batch_size", [1, 7, 200])
def test_sklearn_schedule_and_odd_batches_exact(batch_size, schedule):
    d, m, n, K = 5, 2048, 150, 2
    X, y = data(n, d, "squared_error", K)
    args = dict(batch_size=batch_size, learning_rate=3.0, schedule=schedule, power=0.25, train_output_layer=True)
    W_ref, A_ref, st_ref, _, _ = train(d, m, K, X, y, epochs=3, strategy="dense", **args)
    assert st_ref[0]["steps"] == math.ceil(n / batch_size)
    for strategy in SPARSE:
        W, A, _, _, _ = train(d, m, K, X, y, epochs=3, strategy=strategy, **args)
        assert_bit_identical(W, W_ref, f"{strategy} W")
        assert_bit_identical(A, A_ref, f"{strategy} A")


def test_exact_with_ties_at_the_threshold():
    """Dyadic weights and inputs with a given threshold: many pre-activations equal b exactly at the start
    (those neurons must not fire), and every strategy must decide them as dense does."""
    rng = np.random.default_rng(4)
    d, m, n, b = 6, 3000, 64, 0.5
    W0 = (rng.integers(-8, 9, (m, d)) / 8).astype(np.float32)
    X = (rng.integers(-8, 9, (n, d)) / 8).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    ties = int(np.sum(W0.astype(np.float64) @ X.T.astype(np.float64) == b))
    assert ties > 100
    results = {}
    for strategy in STRATEGIES:
        net = ShiftedReLUNet(d, m, threshold=b, W=W0, seed=1)
        tr = Trainer(batch_size=8, learning_rate=0.5, strategy=strategy, shuffle=False)
        tr.fit_epoch(net, X, y)
        results[strategy] = net.hidden_weights()
    for strategy in SPARSE:
        assert_bit_identical(results[strategy], results["dense"], strategy)


def test_cache_fallback_over_budget_is_exact():
    d, m, n = 32, 2048, 96
    X, y = data(n, d, "squared_error", 1)
    W_ref, _, _, _, _ = train(d, m, 1, X, y, epochs=2, strategy="dense", batch_size=4, learning_rate=1.0)
    W, _, st, _, _ = train(
        d, m, 1, X, y, epochs=2, strategy="cache", batch_size=4, learning_rate=1.0, cache_budget_bytes=0
    )
    assert st[0]["cache_fallback"] is True
    assert st[0]["index_backend"] in ("scan", "gemm", "tree")
    assert_bit_identical(W, W_ref, "cache over budget")


def test_cache_stays_exact_when_network_or_data_change_between_epochs():
    """The cache is tied to (network, X): another trainer moving the weights, X changed in place (same
    buffer), or a prefix view of X (same pointer, fewer rows) must not reuse stale candidates."""
    d, m, n = 16, 4096, 128
    X0, y0 = data(n, d, "squared_error", 1)
    X2, _ = data(n, d, "squared_error", 1, seed=1)
    nets, trainers = {}, {}
    for strategy in ("dense", "cache"):
        X = X0.copy()
        net = ShiftedReLUNet(d, m, seed=3)
        tr = Trainer(batch_size=4, learning_rate=2.0, strategy=strategy, seed=1)
        other = Trainer(batch_size=16, learning_rate=2.0, strategy="dense", seed=9)
        stats = [tr.fit_epoch(net, X, y0)]
        other.fit_epoch(net, X, y0)  # the weights move behind the cache's back
        stats.append(tr.fit_epoch(net, X, y0))
        X[:] = X2  # same buffer, new data
        stats.append(tr.fit_epoch(net, X, y0))
        stats.append(tr.fit_epoch(net, X[: n // 2], y0[: n // 2]))  # same pointer, fewer rows
        nets[strategy], trainers[strategy] = net, stats
    assert all(s["strategy"] == "cache" for s in trainers["cache"])
    for e, (a, b) in enumerate(zip(trainers["cache"], trainers["dense"])):
        assert a["mean_loss"] == b["mean_loss"], f"epoch {e}"
    assert_bit_identical(nets["cache"].hidden_weights(), nets["dense"].hidden_weights(), "cache after changes")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_network_stays_consistent_after_training(strategy):
    """After training, firing() and predict() answer for the trained weights (the index followed the moves)."""
    d, m, n, K = 4, 2048, 128, 2
    X, y = data(n, d, "squared_error", K)
    _, _, _, net, _ = train(d, m, K, X, y, epochs=2, strategy=strategy, batch_size=8, learning_rate=2.0)
    W, A = net.hidden_weights(), net.output_weights()
    b = net.threshold
    for x in X[:20]:
        assert_same_ids(net.firing(x), brute_force(W, x, b), strategy)
    f = net.predict(X[:20])
    for q, x in enumerate(X[:20]):
        ids = brute_force(W, x, b)
        acc = np.zeros(K)
        for r in ids:
            acc = acc + A[r].astype(np.float64) * float(np.float32(reference_dot(W[r], x)) - np.float32(b))
        np.testing.assert_array_equal(f[q], (acc / math.sqrt(m)).astype(np.float32))


def test_cache_handles_a_finite_row_whose_norm_overflows_float():
    """A row of finite floats whose Euclidean norm exceeds FLT_MAX is legal (the index accepts it, and every
    other strategy trains with it). The cache must then be exact too (or fall back to index queries), not
    fail: every strategy gives the weights of dense."""
    rng = np.random.default_rng(0)
    d, m, n = 2, 256, 40
    angles = rng.uniform(-0.5, 2.0, n)  # x . (1, 1) > 0: the huge row below never fires
    X = np.ascontiguousarray(np.stack([np.cos(angles), np.sin(angles)], axis=1), dtype=np.float32)
    assert np.all(X.sum(axis=1) > 0.2)
    y = rng.standard_normal(n).astype(np.float32)
    W0 = rng.standard_normal((m, d)).astype(np.float32)
    W0[5] = [-3e38, -3e38]  # finite; norm 4.2e38 > FLT_MAX
    results = {}
    for strategy in STRATEGIES:
        net = ShiftedReLUNet(d, m, W=W0, seed=1)
        Trainer(learning_rate=0.05, strategy=strategy).fit_epoch(net, X, y)
        results[strategy] = net.hidden_weights()
    for strategy in SPARSE:
        assert_bit_identical(results[strategy], results["dense"], strategy)


# ---------------------------------------------------------------------------------------------- the step itself


def expected_step(W, A, b, X, y, loss, lr):
    """One full-batch SGD step in float64 from the public weights: (W', A', mean loss)."""
    m, K = A.shape
    n = X.shape[0]
    net = ShiftedReLUNet(W.shape[1], m, K, threshold=float(b), W=W, A=A)
    f = net.predict(X).astype(np.float64)
    if loss == "squared_error":
        g = f - y.reshape(n, K)
        losses = 0.5 * np.sum(g**2, axis=1)
    else:
        mx = f.max(axis=1, keepdims=True)
        e = np.exp(f - mx)
        p = e / e.sum(axis=1, keepdims=True)
        losses = np.log(e.sum(axis=1)) - (f[np.arange(n), y] - mx[:, 0])
        g = p.copy()
        g[np.arange(n), y] -= 1.0
    W64, A64 = W.astype(np.float64), A.astype(np.float64)
    dW, dA = np.zeros_like(W64), np.zeros_like(A64)
    fired = np.zeros(m, bool)
    s = -lr / n / math.sqrt(m)
    for q in range(n):
        x = X[q].astype(np.float64)
        ids = brute_force(W, X[q], b)
        fired[ids] = True
        h = W64[ids] @ x - float(b)
        dW[ids] += s * (A64[ids] @ g[q])[:, None] * x[None, :]  # old a_r
        dA[ids] += s * h[:, None] * g[q][None, :]
    return W64 + dW, A64 + dA, losses.mean(), dW, dA, fired


@pytest.mark.parametrize("loss,K", LOSSES, ids=[f"{l}-K{k}" for l, k in LOSSES])
@pytest.mark.parametrize("n", [1, 24])
@pytest.mark.parametrize("strategy", ["dense", "auto", "cache"])
def test_one_step_is_the_gradient_step(strategy, n, loss, K):
    """batch_size = n: one step with the mean gradient of the documented loss, W and A from the old weights."""
    d, m, lr = 8, 1024, 3.0
    X, y = data(n, d, loss, K, seed=2)
    net = ShiftedReLUNet(d, m, K, seed=12)
    W0, A0 = net.hidden_weights(), net.output_weights()
    st = Trainer(
        batch_size=n, learning_rate=lr, strategy=strategy, train_output_layer=True, loss=loss, shuffle=False
    ).fit_epoch(net, X, y)
    assert st["steps"] == 1 and st["samples"] == n
    W_exp, A_exp, loss_exp, dW, dA, fired = expected_step(W0, A0, net.threshold, X, y, loss, lr)
    assert np.abs(dW).max() > 1e-3 and np.abs(dA).max() > 1e-3, "the step must move the weights"
    W1, A1 = net.hidden_weights().astype(np.float64), net.output_weights().astype(np.float64)
    # float32 storage of w and a (half an ulp each) plus float32 rounding inside the step.
    tol_W = 2e-7 * np.abs(W_exp) + 1e-5 * np.abs(dW).max()
    tol_A = 2e-7 * np.abs(A_exp) + 1e-5 * np.abs(dA).max()
    assert np.all(np.abs(W1 - W_exp) <= tol_W), np.max(np.abs(W1 - W_exp) - tol_W)
    assert np.all(np.abs(A1 - A_exp) <= tol_A), np.max(np.abs(A1 - A_exp) - tol_A)
    # Rows that did not fire on any sample are untouched, bit for bit.
    untouched = ~fired
    assert untouched.sum() > m / 5
    np.testing.assert_array_equal(net.hidden_weights()[untouched], W0[untouched])
    np.testing.assert_array_equal(net.output_weights()[untouched], A0[untouched])
    # mean_loss: at the weights before the step.
    assert st["mean_loss"] == pytest.approx(loss_exp, rel=1e-9)


def test_output_layer_is_fixed_unless_trained():
    d, m, n = 8, 1024, 64
    X, y = data(n, d, "squared_error", 3)
    net = ShiftedReLUNet(d, m, 3, seed=1)
    A0 = net.output_weights()
    Trainer(batch_size=4, learning_rate=1.0).fit_epoch(net, X, y)
    np.testing.assert_array_equal(net.output_weights(), A0)
    Trainer(batch_size=4, learning_rate=1.0, train_output_layer=True).fit_epoch(net, X, y)
    assert not np.array_equal(net.output_weights(), A0)


# ---------------------------------------------------------------------------------------------- training works


def test_training_reduces_the_loss_in_the_paper_setting():
    d, m, n, epochs = 10, 4096, 256, 6
    X, y = paper_data(n, d, seed=0)
    curves, weights = {}, {}
    for strategy in ("dense", "tree", "cache", "auto"):
        _, _, stats, net, _ = train(
            d, m, 1, X, y, epochs=epochs, net_seed=1, strategy=strategy, learning_rate=4.0, seed=2
        )
        curves[strategy] = [s["mean_loss"] for s in stats]
        weights[strategy] = net.hidden_weights()
        final = 0.5 * np.mean((net.predict(X)[:, 0].astype(np.float64) - y) ** 2)
        curves[strategy].append(final)
    loss = curves["dense"]
    assert all(b < a for a, b in zip(loss, loss[1:])), loss
    assert loss[-1] < 0.25 * loss[0], loss
    # Better than the best constant predictor E[y] = 1/d (loss 0.5 Var(y)).
    assert loss[-1] < 0.5 * 0.5 * np.var(y.astype(np.float64))
    for strategy in ("tree", "cache", "auto"):
        assert curves[strategy] == loss, strategy
        assert_bit_identical(weights[strategy], weights["dense"], strategy)


def test_classification_training_reduces_the_loss():
    d, m, n, K = 8, 2048, 200, 3
    rng = np.random.default_rng(3)
    X = unit_rows(rng, n, d)
    labels = np.argmax(X[:, :K], axis=1).astype(np.int32)  # a learnable rule
    f0 = ShiftedReLUNet(d, m, K, seed=7).predict(X).astype(np.float64)
    loss0 = np.mean(np.log(np.exp(f0).sum(axis=1)) - f0[np.arange(n), labels])
    assert loss0 == pytest.approx(math.log(K), rel=0.1)  # near-zero outputs at the start
    _, _, stats, net, _ = train(
        d,
        m,
        K,
        X,
        labels,
        epochs=5,
        strategy="auto",
        learning_rate=20.0,
        loss="softmax_cross_entropy",
        train_output_layer=True,
        batch_size=4,
    )
    losses = [s["mean_loss"] for s in stats]
    assert losses[0] < loss0
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.7 * loss0
    assert np.mean(np.argmax(net.predict(X), axis=1) == labels) > 0.6


# ---------------------------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("strategy", ["auto", "cache", "tree"])
def test_identical_runs_are_bit_identical(strategy):
    d, m, n = 12, 4096, 128
    X, y = data(n, d, "squared_error", 2)
    args = dict(
        epochs=3,
        strategy=strategy,
        batch_size=8,
        learning_rate=2.0,
        schedule="invscaling",
        seed=4,
        train_output_layer=True,
    )
    W1, A1, st1, _, _ = train(d, m, 2, X, y, **args)
    W2, A2, st2, _, _ = train(d, m, 2, X, y, **args)
    assert_bit_identical(W1, W2, "W")
    assert_bit_identical(A1, A2, "A")
    assert [s["mean_loss"] for s in st1] == [s["mean_loss"] for s in st2]
    # The shuffling seed matters (so the comparison above could fail)...
    W3, _, _, _, _ = train(d, m, 2, X, y, **dict(args, seed=5))
    assert not np.array_equal(W1, W3)
    # ...unless nothing is shuffled.
    Wa, _, _, _, _ = train(d, m, 2, X, y, **dict(args, shuffle=False))
    Wb, _, _, _, _ = train(d, m, 2, X, y, **dict(args, shuffle=False, seed=5))
    assert_bit_identical(Wa, Wb, "shuffle=False")
    assert not np.array_equal(Wa, W1)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_and_two_threads_are_bit_identical(strategy):
    # m and the batch are large enough for the parallel loops (> 2^16 operations per phase) to engage.
    d, m, n, K = 32, 8192, 256, 2
    X, y = data(n, d, "squared_error", K)
    results = {}
    for threads in (1, 2):
        results[threads] = train(
            d,
            m,
            K,
            X,
            y,
            epochs=2,
            strategy=strategy,
            batch_size=64,
            learning_rate=2.0,
            train_output_layer=True,
            n_threads=threads,
        )
    W1, A1, st1, _, _ = results[1]
    W2, A2, st2, _, _ = results[2]
    assert st1[0]["firing_fraction"] * m * 64 * (d + 16) > 2**16
    assert_bit_identical(W2, W1, "W")
    assert_bit_identical(A2, A1, "A")
    assert [s["mean_loss"] for s in st1] == [s["mean_loss"] for s in st2]


@pytest.mark.parametrize("strategy", ["auto", "dense", "cache"])
def test_reset_then_refit_reproduces_a_fresh_first_epoch(strategy):
    d, m, n = 6, 2048, 100
    X, y = data(n, d, "squared_error", 1)
    args = dict(strategy=strategy, batch_size=3, learning_rate=2.0, schedule="invscaling", seed=8)
    _, _, fresh_stats, fresh_net, _ = train(d, m, 1, X, y, **args)
    trainer = Trainer(**args)
    used = ShiftedReLUNet(d, m, seed=7)
    for _ in range(2):
        trainer.fit_epoch(used, X, y)
    assert (trainer.steps_done, trainer.epochs_done) == (2 * 34, 2)
    # Without reset, a further epoch on a fresh network differs (schedule position and shuffle moved on).
    other = ShiftedReLUNet(d, m, seed=7)
    trainer.fit_epoch(other, X, y)
    assert not np.array_equal(other.hidden_weights(), fresh_net.hidden_weights())
    trainer.reset()
    assert (trainer.steps_done, trainer.epochs_done) == (0, 0)
    net = ShiftedReLUNet(d, m, seed=7)
    st = trainer.fit_epoch(net, X, y)
    assert_bit_identical(net.hidden_weights(), fresh_net.hidden_weights(), "after reset")
    for key in ("mean_loss", "learning_rate", "epoch", "steps", "firing_fraction"):
        assert st[key] == fresh_stats[0][key], key


def test_schedules_differ_and_power_zero_is_constant():
    d, m, n = 6, 2048, 100
    X, y = data(n, d, "squared_error", 1)
    runs = {}
    for name, args in {
        "constant": dict(schedule="constant"),
        "inv": dict(schedule="invscaling"),
        "sk": dict(schedule="sklearn_invscaling"),
        "inv0": dict(schedule="invscaling", power=0),
        "sk0": dict(schedule="sklearn_invscaling", power=0.0),
    }.items():
        runs[name] = train(d, m, 1, X, y, epochs=2, batch_size=4, learning_rate=1.0, **args)[0]
    assert_bit_identical(runs["inv0"], runs["constant"], "invscaling power 0")
    assert_bit_identical(runs["sk0"], runs["constant"], "sklearn_invscaling power 0")
    for a, b in (("constant", "inv"), ("constant", "sk"), ("inv", "sk")):
        assert not np.array_equal(runs[a], runs[b]), (a, b)


def test_int64_labels_train_as_int32():
    d, m, n, K = 8, 1024, 60, 4
    X, labels = data(n, d, "softmax_cross_entropy", K)
    args = dict(loss="softmax_cross_entropy", batch_size=5, learning_rate=2.0)
    W32, _, _, _, _ = train(d, m, K, X, labels, **args)
    W64, _, _, _, _ = train(d, m, K, X, labels.astype(np.int64), **args)
    Wu8, _, _, _, _ = train(d, m, K, X, labels.astype(np.uint8), **args)
    np.testing.assert_array_equal(W64, W32)
    np.testing.assert_array_equal(Wu8, W32)


def test_regression_targets_one_dimensional_for_one_output():
    d, m, n = 8, 1024, 60
    X, y = data(n, d, "squared_error", 1)
    W2, _, _, _, _ = train(d, m, 1, X, y, batch_size=5)
    W1, _, _, _, _ = train(d, m, 1, X, np.ascontiguousarray(y[:, 0]), batch_size=5)
    np.testing.assert_array_equal(W1, W2)


# ---------------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_epoch_statistics(strategy):
    d, m, n, B, lr0, power = 32, 2048, 100, 8, 0.5, 0.5
    X, y = data(n, d, "squared_error", 1)
    net = ShiftedReLUNet(d, m, seed=2)
    trainer = Trainer(batch_size=B, learning_rate=lr0, schedule="invscaling", power=power, strategy=strategy)
    steps = math.ceil(n / B)
    p = 0.5 * math.erfc(net.threshold / math.sqrt(2))
    for epoch in (1, 2):
        st = trainer.fit_epoch(net, X, y)
        assert STAT_KEYS <= set(st), STAT_KEYS - set(st)
        assert st["epoch"] == epoch and st["steps"] == steps and st["samples"] == n
        assert trainer.steps_done == epoch * steps and trainer.epochs_done == epoch
        assert 0.0 < st["firing_fraction"] < 1.0
        assert abs(st["firing_fraction"] - p) < 0.5 * p  # near P(N(0,1) > b) while weights move little
        assert st["candidate_fraction"] >= st["firing_fraction"]
        if st["strategy"] != "cache":  # only the cache evaluates candidates that do not fire
            assert st["candidate_fraction"] == st["firing_fraction"]
        assert st["candidates"] == pytest.approx(st["candidate_fraction"] * n * m, rel=1e-9)
        assert 0 < st["rows_updated"] <= steps * m
        assert math.isfinite(st["mean_loss"]) and st["mean_loss"] > 0
        for key in TIME_KEYS:
            assert st[key] >= 0.0 and math.isfinite(st[key]), key
        assert st["total_s"] >= max(st[k] for k in TIME_KEYS[:-1])
        # invscaling: lr0 / (1 + t)^power for the last step t of the epoch.
        assert st["learning_rate"] == pytest.approx(lr0 / (1 + epoch * steps - 1) ** power, rel=1e-12)
        # The strategy in use is reported resolved: the one requested, or for auto a concrete one ("auto"
        # here only means "index queries with the index's own backend choice", then index_backend is concrete).
        if strategy == "auto":
            assert st["strategy"] in STRATEGIES
        else:
            assert st["strategy"] == strategy
        if st["strategy"] in ("auto", "scan", "gemm", "tree"):
            assert st["index_backend"] in ("scan", "gemm", "tree")
        assert st["cache_fallback"] is False
        if st["strategy"] == "cache":
            assert st["cache_bytes"] > 0 and st["cache_delta"] > 0
        else:
            assert st["cache_bytes"] == 0


def test_auto_strategy_in_low_dimension_is_a_tree():
    X, y = data(50, 3, "squared_error", 1)
    st = Trainer(strategy="auto").fit_epoch(ShiftedReLUNet(3, 512), X, y)
    assert st["strategy"] == "tree" and st["index_backend"] == "tree"


@pytest.mark.parametrize("schedule", ["constant", "sklearn_invscaling"])
def test_learning_rate_in_statistics(schedule):
    n, B, lr0, power = 30, 4, 0.3, 0.75
    X, y = data(n, 4, "squared_error", 1)
    net = ShiftedReLUNet(4, 256)
    trainer = Trainer(batch_size=B, learning_rate=lr0, schedule=schedule, power=power)
    for epoch in range(3):
        st = trainer.fit_epoch(net, X, y)
        expected = lr0 if schedule == "constant" else lr0 / (1 + epoch * n) ** power
        assert st["learning_rate"] == pytest.approx(expected, rel=1e-12)


def test_batch_larger_than_data_is_one_step():
    X, y = data(30, 4, "squared_error", 1)
    st = Trainer(batch_size=2**31 - 1).fit_epoch(ShiftedReLUNet(4, 256), X, y)
    assert st["steps"] == 1 and st["samples"] == 30


# ---------------------------------------------------------------------------------------------- bad input

D, M, K = 4, 64, 3


@pytest.fixture
def reg():
    """(network, trainer, X, Y) for squared error with K outputs."""
    rng = np.random.default_rng(0)
    return (
        ShiftedReLUNet(D, M, K, seed=1),
        SgdTrainer(),
        unit_rows(rng, 10, D),
        rng.standard_normal((10, K)).astype(np.float32),
    )


@pytest.fixture
def cls():
    """(network, trainer, X, labels) for softmax cross-entropy with K classes."""
    rng = np.random.default_rng(1)
    return (
        ShiftedReLUNet(D, M, K, seed=1),
        SgdTrainer(loss="softmax_cross_entropy"),
        unit_rows(rng, 10, D),
        rng.integers(0, K, 10).astype(np.int32),
    )


def with_value(a, pos, value):
    a = a.copy()
    a[pos] = value
    return a


def expect_error_and_nothing_changed(net, trainer, X, y, exc, message):
    W0, A0 = net.hidden_weights(), net.output_weights()
    with pytest.raises(exc, match=message):
        trainer.fit_epoch(net, X, y)
    np.testing.assert_array_equal(net.hidden_weights(), W0)
    np.testing.assert_array_equal(net.output_weights(), A0)
    assert (trainer.steps_done, trainer.epochs_done) == (0, 0)


BAD_TRAINER = [
    (dict(batch_size=0), ValueError, r"batch_size must be in \[1, 2147483647\], got 0"),
    (dict(batch_size=-4), ValueError, r"batch_size must be in \[1, "),
    (dict(batch_size=1.5), TypeError, r"batch_size must be an integer, got float"),
    (dict(batch_size=True), TypeError, r"batch_size must be an integer, got bool"),
    (dict(learning_rate=0), ValueError, r"learning_rate must be a positive finite number, got 0"),
    (dict(learning_rate=-0.1), ValueError, r"learning_rate must be a positive finite number, got -0.1"),
    (dict(learning_rate=float("nan")), ValueError, r"learning_rate must be a positive finite number, got nan"),
    (dict(learning_rate=float("inf")), ValueError, r"learning_rate must be a positive finite number, got inf"),
    (dict(learning_rate=np.float32(np.nan)), ValueError, r"learning_rate must be a positive finite number"),
    (dict(learning_rate="0.1"), TypeError, r"learning_rate must be a real number, got str"),
    (dict(learning_rate=None), TypeError, r"learning_rate must be a real number, got NoneType"),
    (
        dict(schedule="bogus"),
        ValueError,
        r"schedule must be one of \('constant', 'invscaling', 'sklearn_invscaling'\), got 'bogus'",
    ),
    (dict(schedule=None), ValueError, r"schedule must be one of .*got None"),
    (dict(schedule="Constant"), ValueError, r"schedule must be one of .*got 'Constant'"),
    (dict(power=-0.5), ValueError, r"power must be a finite number >= 0, got -0.5"),
    (dict(power=float("nan")), ValueError, r"power must be a finite number >= 0, got nan"),
    (dict(power=float("inf")), ValueError, r"power must be a finite number >= 0, got inf"),
    (dict(power="0.5"), TypeError, r"power must be a real number, got str"),
    (
        dict(strategy="fast"),
        ValueError,
        r"strategy must be one of \('auto', 'dense', 'scan', 'gemm', 'tree', 'cache'\), got 'fast'",
    ),
    (dict(strategy=None), ValueError, r"strategy must be one of .*got None"),
    (dict(strategy="DENSE"), ValueError, r"strategy must be one of .*got 'DENSE'"),
    (dict(loss="bogus"), ValueError, r"loss must be one of \('squared_error', 'softmax_cross_entropy'\), got 'bogus'"),
    (dict(loss=None), ValueError, r"loss must be one of .*got None"),
    (dict(seed=-1), ValueError, r"seed must be in \[0, 18446744073709551615\], got -1"),
    (dict(seed=2**64), ValueError, r"seed must be in \[0, 18446744073709551615\]"),
    (dict(seed=1.0), TypeError, r"seed must be an integer, got float"),
    (dict(n_threads=0), ValueError, r"n_threads must be in \[1, 4096\], got 0"),
    (dict(n_threads=2.0), TypeError, r"n_threads must be an integer, got float"),
    (dict(cache_budget_bytes=-1), ValueError, r"cache_budget_bytes must be >= 0, got -1"),
    (dict(cache_budget_bytes=1e9), TypeError, r"cache_budget_bytes must be an integer, got float"),
]


@pytest.mark.parametrize(
    "kwargs,exc,message", BAD_TRAINER, ids=[f"{i}-{'-'.join(k)}" for i, (k, _, _) in enumerate(BAD_TRAINER)]
)
def test_bad_trainer_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        SgdTrainer(**kwargs)


def test_valid_trainer_edges():
    X, y = data(20, 4, "squared_error", 1)
    for kwargs in (
        dict(learning_rate=1e-300),
        dict(learning_rate=np.float32(0.1)),
        dict(learning_rate=1),
        dict(power=0),
        dict(seed=2**64 - 1),
        dict(cache_budget_bytes=0, strategy="cache"),
        dict(n_threads=np.int64(1)),
        dict(batch_size=np.int32(3)),
    ):
        st = SgdTrainer(**kwargs).fit_epoch(ShiftedReLUNet(4, 128), X, y)
        assert st["samples"] == 20


N = 10
BAD_X = [
    (np.ones((N, D)), TypeError, r"X must have dtype float32, got float64"),
    (np.ones((N, D), np.int32), TypeError, r"X must have dtype float32, got int32"),
    (np.ones((N, D), np.int64), TypeError, r"X must have dtype float32, got int64"),
    (np.ones((N, 2 * D), np.float32)[:, ::2], ValueError, r"X must be C-contiguous"),
    (np.ones((D, N), np.float32).T, ValueError, r"X must be C-contiguous"),
    (np.ones((N, D + 1), np.float32), ValueError, rf"X has {D + 1} columns, the network has d = {D}"),
    (np.ones(D, np.float32), ValueError, r"X must be 2-dimensional"),
    (np.ones((0, D), np.float32), ValueError, r"X is empty"),
    (with_value(np.ones((N, D), np.float32), (4, 1), np.nan), ValueError, r"X contains NaN or infinity"),
    (with_value(np.ones((N, D), np.float32), (0, 3), np.inf), ValueError, r"X contains NaN or infinity"),
    (with_value(np.ones((N, D), np.float32), (9, 0), -np.inf), ValueError, r"X contains NaN or infinity"),
    (np.ones((N, D)).tolist(), TypeError, r"X must be a numpy.ndarray"),
    (None, TypeError, r"X must be a numpy.ndarray"),
]


@pytest.mark.parametrize("X,exc,message", BAD_X, ids=[str(i) for i in range(len(BAD_X))])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_bad_X(reg, cls, task, X, exc, message):
    net, trainer, _, y = reg if task == "regression" else cls
    if X is not None and np.ndim(X) == 2 and np.shape(X)[0] == 0:
        y = y[:0]
    expect_error_and_nothing_changed(net, trainer, X, y, exc, message)


BAD_Y = [
    (lambda Y: Y.astype(np.float64), TypeError, r"y must have dtype float32, got float64"),
    (lambda Y: Y.astype(np.int64), TypeError, r"y must have dtype float32, got int64"),
    (lambda Y: with_value(Y, (3, 1), np.nan), ValueError, r"y contains NaN or infinity"),
    (lambda Y: with_value(Y, (0, 0), np.inf), ValueError, r"y contains NaN or infinity"),
    (lambda Y: with_value(Y, (9, 2), -np.inf), ValueError, r"y contains NaN or infinity"),
    (lambda Y: np.ascontiguousarray(Y[:-1]), ValueError, rf"y must have shape \({N}, {K}\), got \({N - 1}, {K}\)"),
    (lambda Y: np.ones((N + 1, K), np.float32), ValueError, rf"y must have shape \({N}, {K}\)"),
    (lambda Y: np.ones((N, K + 1), np.float32), ValueError, rf"y must have shape \({N}, {K}\), got \({N}, {K + 1}\)"),
    (lambda Y: np.ones((N, 1), np.float32), ValueError, rf"y must have shape \({N}, {K}\), got \({N}, 1\)"),
    (lambda Y: np.ones(N, np.float32), ValueError, rf"y must have shape \({N}, {K}\)"),
    (lambda Y: np.ones((1, N, K), np.float32), ValueError, r"\by\b"),
    (lambda Y: np.ones((N, 2 * K), np.float32)[:, ::2], ValueError, r"y must be C-contiguous"),
    (lambda Y: np.asfortranarray(Y), ValueError, r"y must be C-contiguous"),
    (lambda Y: np.ones((0, K), np.float32), ValueError, r"\by\b"),
    (lambda Y: Y.tolist(), TypeError, r"y must be a numpy.ndarray"),
    (lambda Y: None, TypeError, r"y must be a numpy.ndarray"),
]


@pytest.mark.parametrize("make,exc,message", BAD_Y, ids=[str(i) for i in range(len(BAD_Y))])
def test_bad_regression_targets(reg, make, exc, message):
    net, trainer, X, Y = reg
    expect_error_and_nothing_changed(net, trainer, X, make(Y), exc, message)


@pytest.mark.parametrize("length", [N - 1, N + 1, 2 * N + 1])
def test_one_dimensional_targets_of_the_wrong_length(length):
    """K = 1 accepts y of shape (n,); a length other than n must be a clear error naming y (not numpy's
    "cannot reshape array of size ...")."""
    net, trainer = ShiftedReLUNet(D, M, 1), SgdTrainer()
    X = unit_rows(np.random.default_rng(0), N, D)
    expect_error_and_nothing_changed(net, trainer, X, np.ones(length, np.float32), ValueError, r"\by\b")


def test_flat_targets_are_not_reshaped_for_several_outputs(reg):
    """y for K = 3 outputs must be (n, 3): a flat array of 3n floats is a shape mismatch, not silently read as
    (n, 3) (the row-major reading is a guess; the documented shape is (n, K))."""
    net, trainer, X, Y = reg
    expect_error_and_nothing_changed(
        net, trainer, X, np.ascontiguousarray(Y.ravel()), ValueError, rf"y must have shape \({N}, {K}\)"
    )


BAD_LABELS = [
    (lambda t: with_value(t, 2, K), ValueError, rf"class labels must lie in \[0, {K}\), got \[0, {K}\]"),
    (lambda t: with_value(t, 7, 1000), ValueError, rf"class labels must lie in \[0, {K}\)"),
    (lambda t: with_value(t, 0, -1), ValueError, rf"class labels must lie in \[0, {K}\), got \[-1, "),
    (lambda t: with_value(t.astype(np.int64), 0, 2**40), ValueError, rf"class labels must lie in \[0, {K}\)"),
    (lambda t: with_value(t.astype(np.int64), 0, -(2**40)), ValueError, rf"class labels must lie in \[0, {K}\)"),
    (lambda t: t.astype(np.float32), ValueError, rf"y must be {N} integer class labels, got .*dtype float32"),
    (lambda t: t.astype(np.float64), ValueError, rf"y must be {N} integer class labels, got .*dtype float64"),
    (lambda t: t.astype(bool), ValueError, rf"y must be {N} integer class labels"),
    (lambda t: t.astype(str), ValueError, rf"y must be {N} integer class labels"),
    (lambda t: t[:-1], ValueError, rf"y must be {N} integer class labels, got shape \({N - 1},\)"),
    (lambda t: np.append(t, 0), ValueError, rf"y must be {N} integer class labels, got shape \({N + 1},\)"),
    (lambda t: t[:, None], ValueError, rf"y must be {N} integer class labels, got shape \({N}, 1\)"),
    (lambda t: np.zeros((N, K), np.int32), ValueError, rf"y must be {N} integer class labels"),
    (lambda t: None, ValueError, rf"y must be {N} integer class labels"),
]


@pytest.mark.parametrize("make,exc,message", BAD_LABELS, ids=[str(i) for i in range(len(BAD_LABELS))])
def test_bad_class_labels(cls, make, exc, message):
    net, trainer, X, labels = cls
    expect_error_and_nothing_changed(net, trainer, X, make(labels), exc, message)


def test_softmax_needs_two_outputs():
    net, trainer = ShiftedReLUNet(D, M, 1), SgdTrainer(loss="softmax_cross_entropy")
    X = unit_rows(np.random.default_rng(0), N, D)
    expect_error_and_nothing_changed(
        net, trainer, X, np.zeros(N, np.int32), ValueError, r"softmax_cross_entropy needs a network with n_outputs >= 2"
    )


def test_softmax_with_one_output_and_binary_labels_names_the_real_problem():
    """The common mistake -- binary labels {0, 1} with a one-output network -- must be reported as the network
    having too few outputs, not as labels outside [0, 1) (which sends the user to fix correct labels)."""
    net, trainer = ShiftedReLUNet(D, M, 1), SgdTrainer(loss="softmax_cross_entropy")
    X = unit_rows(np.random.default_rng(0), N, D)
    labels = (np.arange(N) % 2).astype(np.int32)
    expect_error_and_nothing_changed(net, trainer, X, labels, ValueError, r"n_outputs >= 2")


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_targets_of_the_other_loss(reg, cls, task):
    if task == "regression":  # labels given to a squared-error trainer
        net, trainer, X, _ = reg
        expect_error_and_nothing_changed(
            net, trainer, X, np.zeros((N, K), np.int32), TypeError, r"y must have dtype float32, got int32"
        )
    else:  # float targets given to a softmax trainer
        net, trainer, X, _ = cls
        expect_error_and_nothing_changed(
            net, trainer, X, np.zeros((N, K), np.float32), ValueError, rf"y must be {N} integer class labels"
        )


@pytest.mark.parametrize("bad_net", [None, "net", 3, "core", "index"])
def test_net_must_be_a_network(reg, bad_net):
    net, trainer, X, Y = reg
    value = {"core": net._net, "index": hsrnet.HalfSpaceIndex(net.hidden_weights())}.get(bad_net, bad_net)
    with pytest.raises(TypeError, match=r"net must be a ShiftedReLUNet, got "):
        trainer.fit_epoch(value, X, Y)
    assert trainer.steps_done == 0


def test_read_only_inputs_are_accepted_and_not_modified():
    X, y = data(40, 4, "squared_error", 2)  # read-only arrays
    X0, y0 = X.copy(), y.copy()
    SgdTrainer(batch_size=3, learning_rate=1.0).fit_epoch(ShiftedReLUNet(4, 512, 2), X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# ---------------------------------------------------------------------------------------------- divergence


@pytest.mark.parametrize(
    "loss,K,lr", [("squared_error", 1, 1e10), ("squared_error", 3, 1e30), ("softmax_cross_entropy", 4, 1e300)]
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_diverging_training_raises(strategy, loss, K, lr):
    """A learning rate that blows the weights up raises ValueError naming the non-finite weights (never a
    crash, never an epoch that returns with NaN weights), at the same step for every strategy; afterwards
    reset() gives a clean trainer."""
    d, m, n = 3, 256, 50
    X, y = data(n, d, loss, K)
    if loss == "squared_error":
        y = y * np.float32(1000)
    net = ShiftedReLUNet(d, m, K, seed=1)
    trainer = Trainer(learning_rate=lr, strategy=strategy, loss=loss, seed=3)
    with pytest.raises(ValueError, match=r"row \d+ contains NaN or infinity") as info:
        trainer.fit_epoch(net, X, y)
    # Every strategy fails at the same step, on the same row, as dense does.
    ref_net = ShiftedReLUNet(d, m, K, seed=1)
    ref = Trainer(learning_rate=lr, strategy="dense", loss=loss, seed=3)
    with pytest.raises(ValueError) as ref_info:
        ref.fit_epoch(ref_net, X, y)
    assert str(info.value) == str(ref_info.value)
    assert trainer.steps_done == ref.steps_done and trainer.epochs_done == 0
    assert not np.isfinite(net.hidden_weights()).all()  # documented: the weights of the failed step
    # reset(): a fresh network then trains as with a fresh trainer (here: until the same failure).
    trainer.reset()
    fresh = ShiftedReLUNet(d, m, K, seed=1)
    with pytest.raises(ValueError, match=r"row \d+ contains NaN or infinity") as again:
        trainer.fit_epoch(fresh, X, y)
    assert str(again.value) == str(info.value) and trainer.steps_done == ref.steps_done


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_training_a_diverged_network_again_names_the_non_finite_weights(strategy):
    """A network left with NaN/inf weights by a failed epoch: a further epoch must fail with a message about
    the non-finite weights, whichever strategy (not with a message about something the user did not do)."""
    d, m, n = 3, 256, 50
    X, y = data(n, d, "squared_error", 1)
    net = ShiftedReLUNet(d, m, seed=1)
    with pytest.raises(ValueError):
        Trainer(learning_rate=1e10, strategy="dense").fit_epoch(net, X, y * np.float32(1000))
    with pytest.raises(ValueError, match=r"NaN or infinity"):
        Trainer(learning_rate=0.01, strategy=strategy).fit_epoch(net, X, y)


def test_large_but_stable_learning_rate_keeps_weights_finite():
    """Softmax gradients are bounded: a large learning rate moves weights far but they stay finite."""
    d, m, n, K = 3, 256, 50, 4
    X, y = data(n, d, "softmax_cross_entropy", K)
    net = ShiftedReLUNet(d, m, K, seed=1)
    st = Trainer(learning_rate=1e10, loss="softmax_cross_entropy").fit_epoch(net, X, y)
    assert np.isfinite(net.hidden_weights()).all()
    assert math.isfinite(st["mean_loss"])
    assert np.abs(net.hidden_weights()).max() > 1e6
