"""Two-phase steps for neuron-sharded training (SgdTrainer.begin_step / loss_gradient / finish_step): one shard
trains exactly as fit_epoch, two shards (output_scale 1/sqrt(m_total)) train identically under every strategy and
optimizer; the output scale travels through pickles and model files; bad calls raise clear errors."""

from __future__ import annotations

import math
import pickle

import hsrnet
import numpy as np
import pytest
from hsrnet import SgdTrainer, ShiftedReLUNet, loss_gradient

OPTIMIZERS = [
    ("sgd", 0.0, 4.0),
    ("sgd", 0.9, 0.5),
    ("adagrad", 0.0, 0.05),
    ("rowwise_adagrad", 0.0, 0.05),
    ("adam", 0.0, 0.01),
]
D, M, N, B = 12, 512, 64, 8
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def problem(loss):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, D))
    X = np.ascontiguousarray(X / np.linalg.norm(X, axis=1, keepdims=True), dtype=np.float32)
    K = 2 if loss == "squared_error" else 3
    y = rng.standard_normal((N, K)).astype(np.float32) if loss == "squared_error" else rng.integers(0, K, N)
    net = ShiftedReLUNet(D, M, K, seed=3)
    return X, y, K, net.hidden_weights(), net.output_weights(), float(net.threshold)


def trainer(loss, strategy, optimizer, momentum, lr):
    return SgdTrainer(
        batch_size=B,
        learning_rate=lr,
        strategy=strategy,
        loss=loss,
        shuffle=False,
        train_output_layer=True,
        optimizer=optimizer,
        momentum=momentum,
    )


def train_whole(X, y, K, W, A, b, make, epochs=2):
    net = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A)
    t = make()
    losses = [t.fit_epoch(net, X, y)["mean_loss"] for _ in range(epochs)]
    return net.hidden_weights(), net.output_weights(), losses


def train_sharded(X, y, K, W, A, b, make, loss, P, epochs=2):
    parts = np.array_split(np.arange(M), P)
    nets = [ShiftedReLUNet(D, len(r), K, threshold=b, W=W[r], A=A[r], output_scale=1 / math.sqrt(M)) for r in parts]
    trainers = [make() for _ in range(P)]
    mean_losses = []
    for _ in range(epochs):
        for net, t in zip(nets, trainers):
            t.begin_epoch(net, X)
        for i0 in range(0, N, B):
            idx = np.arange(i0, min(N, i0 + B))
            F = None
            for net, t in zip(nets, trainers):
                part = t.begin_step(net, X, idx)
                F = part.copy() if F is None else F + part
            losses, G = loss_gradient(F, y[idx], loss)
            for net, t in zip(nets, trainers):
                t.finish_step(net, G, losses)
        mean_losses.append([t.end_epoch(net) for net, t in zip(nets, trainers)][0]["mean_loss"])
    W2 = np.concatenate([n.hidden_weights() for n in nets])
    A2 = np.concatenate([n.output_weights() for n in nets])
    return W2, A2, mean_losses


@pytest.mark.parametrize("loss", ["squared_error", "softmax_cross_entropy"])
@pytest.mark.parametrize("optimizer,momentum,lr", OPTIMIZERS)
def test_one_shard_is_fit_epoch_and_two_shards_agree(loss, optimizer, momentum, lr):
    X, y, K, W, A, b = problem(loss)
    ref = None
    for strategy in hsrnet.STRATEGIES:

        def make(strategy=strategy):
            return trainer(loss, strategy, optimizer, momentum, lr)

        whole = train_whole(X, y, K, W, A, b, make)
        one = train_sharded(X, y, K, W, A, b, make, loss, 1)
        assert np.array_equal(one[0], whole[0]) and np.array_equal(one[1], whole[1]), strategy
        assert one[2] == whole[2], strategy
        two = train_sharded(X, y, K, W, A, b, make, loss, 2)
        if ref is None:
            ref = two
            assert not np.array_equal(ref[0], W), "training must move the rows"
        assert np.array_equal(two[0], ref[0]) and np.array_equal(two[1], ref[1]), strategy
        np.testing.assert_allclose(two[0], whole[0], rtol=0, atol=1e-3)


def test_begin_step_on_a_batch_array_is_a_step_of_fit_epoch():
    X, y, K, W, A, b = problem("squared_error")
    whole = train_whole(X, y, K, W, A, b, lambda: trainer("squared_error", "gemm", "sgd", 0.0, 4.0), epochs=1)
    net = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A)
    t = trainer("squared_error", "gemm", "sgd", 0.0, 4.0)
    for i0 in range(0, N, B):
        Xb, yb = X[i0 : i0 + B], y[i0 : i0 + B]  # a new array per step: bound as its own epoch
        _, G = loss_gradient(t.begin_step(net, Xb), yb, "squared_error")
        t.finish_step(net, G)
    assert np.array_equal(net.hidden_weights(), whole[0])
    assert t.steps_done == N // B


def test_partial_outputs_are_the_network_output():
    X, y, K, W, A, b = problem("squared_error")
    net = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A)
    t = trainer("squared_error", "scan", "sgd", 0.0, 1.0)
    part = t.begin_step(net, X, np.arange(5))
    assert part.dtype == np.float64 and part.shape == (5, K)
    assert np.array_equal(part.astype(np.float32), net.predict(X[:5]))
    t.finish_step(net, np.zeros((5, K)))


def test_loss_gradient_matches_the_formulas():
    F = np.array([[0.5, -1.0], [2.0, 0.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    losses, G = loss_gradient(F, y, "squared_error")
    np.testing.assert_array_equal(G, F - y)
    np.testing.assert_allclose(losses, 0.5 * ((F - y) ** 2).sum(axis=1))
    labels = np.array([1, 0])
    losses, G = loss_gradient(F, labels, "softmax_cross_entropy")
    p = np.exp(F) / np.exp(F).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(G, p - np.eye(2)[labels], rtol=1e-6)
    np.testing.assert_allclose(losses, -np.log(p[[0, 1], labels]), rtol=1e-6)


def test_bad_calls_are_rejected():
    X, y, K, W, A, b = problem("squared_error")
    net = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A)
    t = trainer("squared_error", "scan", "sgd", 0.0, 1.0)
    with pytest.raises(RuntimeError, match="without begin_step"):
        t.finish_step(net, np.zeros((2, K)))
    with pytest.raises(RuntimeError, match="without begin_epoch"):
        t.end_epoch(net)
    with pytest.raises(ValueError, match="indices"):
        t.begin_step(net, X, np.array([0, N]))
    with pytest.raises(ValueError, match="indices"):
        t.begin_step(net, X, np.array([0.5]))
    t.begin_step(net, X, np.array([0, 1]))
    with pytest.raises(ValueError, match="G must be float64 of shape"):
        t.finish_step(net, np.zeros((3, K)))
    with pytest.raises(ValueError, match="NaN"):
        t.finish_step(net, np.full((2, K), np.nan))
    with pytest.raises(RuntimeError, match="finish_step first"):
        t.end_epoch(net)
    t.finish_step(net, np.zeros((2, K)))
    stats = t.end_epoch(net)
    assert stats["steps"] == 1 and stats["samples"] == 2 and math.isnan(stats["mean_loss"])
    with pytest.raises(ValueError, match="outputs"):
        loss_gradient(np.zeros((2, K), dtype=np.float32), y[:2])
    with pytest.raises(ValueError, match="shape"):
        loss_gradient(np.zeros((2, K)), y[:3])
    with pytest.raises(ValueError, match="class labels"):
        loss_gradient(np.zeros((2, 3)), np.array([0, 3]), "softmax_cross_entropy")


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_output_scale_is_validated(bad):
    with pytest.raises(ValueError):
        ShiftedReLUNet(4, 16, output_scale=bad)


def test_output_scale_scales_the_output():
    X, _, K, W, A, b = problem("squared_error")
    plain = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A)
    assert plain.output_scale == 1 / math.sqrt(M)
    scaled = ShiftedReLUNet(D, M, K, threshold=b, W=W, A=A, output_scale=0.5)
    assert scaled.output_scale == 0.5
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X) * 0.5 * math.sqrt(M), rtol=1e-5, atol=1e-6)


def test_estimator_files_carry_the_output_scale(tmp_path):
    from hsrnet import HSRRegressor

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
    est = HSRRegressor(n_neurons=64, max_iter=2, random_state=0).fit(X, y)
    # A shard's scale (as if its 64 neurons were part of 256): kept by pickles and model files.
    net = est.network_
    est.network_ = est._rebuild_network(net.hidden_weights(), net.output_weights(), net.threshold, 1 / 16)
    expected = est.predict(X)
    assert pickle.loads(pickle.dumps(est)).network_.output_scale == 1 / 16
    path = tmp_path / "m.hsrnet"
    est.save(path)
    back = hsrnet.load(path)
    assert back.network_.output_scale == 1 / 16
    np.testing.assert_array_equal(back.predict(X), expected)


def test_model_files_without_an_output_scale_load_with_the_default(tmp_path):
    from hsrnet import HSRRegressor, model_io

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
    est = HSRRegressor(n_neurons=64, max_iter=2, random_state=0).fit(X, y)
    t = model_io.to_tensors(est)
    del t["network/output_scale"]  # as written before the scale was stored
    back = model_io.from_tensors(t)
    assert back.network_.output_scale == 1 / 8
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
