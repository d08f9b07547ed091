"""hsrnet's model and recipe written in PyTorch (dense, CPU): what the same training costs without sparsity.

Model: f(x) = (1/sqrt(m)) * relu(x W^T - b) A, the hsrnet estimator's exactly:
  * inputs through hsrnet.input_map.InputMap with the estimator's input_map and n_components (identical
    floats to what the estimator trains on);
  * W and A copied from the network the estimator would build (same seed derivation, see
    ``estimator_initial_network``), b = that network's threshold; A trained iff train_output_layer;
  * loss as include/hsrnet/net/losses.hpp: softmax cross-entropy, or 0.5 * ||f - t||^2 on targets standardised
    like HSRRegressor (population std); the batch gradient is the mean over the batch
    (sgd_trainer.hpp: step -lr/B * sum), so a batch-mean loss gives the same update;
    the ReLU's derivative at z == b is 0 in both (a neuron fires iff z > b);
  * the estimator's solver where PyTorch has the same rule: "sgd" without momentum (torch.optim.SGD) and
    "adagrad" (torch.optim.Adagrad: h += g^2, w -= lr g / (sqrt(h) + eps), eps 1e-10 by default, as
    docs/optimizers.md); hsrnet's momentum, row-wise Adagrad and Adam are lazy (rows without a gradient keep
    their state), which dense PyTorch optimizers are not, so those are refused;
  * the estimator's batch size and rate ("auto" resolved as the estimator does), a reshuffle every epoch
    (torch's generator: another order than hsrnet's, so curves agree statistically; with shuffle=False they
    agree to float rounding, which tests/python/test_compare_runners.py checks).
The sphere variant (run_sphere) copies hsrnet_sgd's initial network instead and uses its plain-SGD recipe.
"""

from __future__ import annotations

import functools
import math

import hsrnet
import numpy as np
import torch
from hsrnet.estimators import DEFAULT_LEARNING_RATES
from hsrnet.input_map import InputMap
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state

from . import hsrnet_estimator, hsrnet_sgd
from .loop import Trained, run_epochs

RECIPE = (
    "n_neurons",
    "threshold",
    "batch_size",
    "learning_rate_init",
    "train_output_layer",
    "input_map",
    "n_components",
    "solver",
    "momentum",
    "epsilon",
    "shuffle",
    "random_state",
)
SOLVERS = {
    "sgd": lambda params, lr, eps: torch.optim.SGD(params, lr=lr),
    "adagrad": lambda params, lr, eps: torch.optim.Adagrad(params, lr=lr, eps=1e-10 if eps is None else eps),
}
EVAL_FLOATS = 1 << 24  # hidden activations held at once while evaluating (64 MB): m = 2^20 takes 16 rows


def estimator_initial_network(cfg, d, n_outputs) -> hsrnet.ShiftedReLUNet:
    """The network HSRClassifier/HSRRegressor.fit builds first: seed = the first of three int32 draws from
    check_random_state(random_state) (estimators.py, _fit). Mirrors that line; the shuffle=False test fails
    if the estimator's derivation changes."""
    rs = check_random_state(cfg["random_state"])
    net_seed = int(rs.randint(0, np.iinfo(np.int32).max, size=3)[0])
    return hsrnet.ShiftedReLUNet(
        d, int(cfg["n_neurons"]), n_outputs, threshold=cfg["threshold"], seed=net_seed, n_threads=1
    )


class SameModel(torch.nn.Module):
    def __init__(self, net: hsrnet.ShiftedReLUNet, train_output_layer: bool):
        super().__init__()
        self.W = torch.nn.Parameter(torch.from_numpy(net.hidden_weights()))
        self.A = torch.nn.Parameter(torch.from_numpy(net.output_weights()), requires_grad=train_output_layer)
        self.b = float(net.threshold)
        self.scale = 1.0 / math.sqrt(net.m)

    def forward(self, x):
        return torch.relu(x @ self.W.T - self.b) @ self.A * self.scale


def _predict(model, X) -> np.ndarray:
    rows = max(1, EVAL_FLOATS // model.W.shape[0])
    with torch.no_grad():
        return torch.cat([model(X[i : i + rows]) for i in range(0, len(X), rows)]).numpy()


def _train(setup, loss_fn, optimizer, batch_size, shuffle, seed, max_epochs, time_budget_s, evaluate):
    """setup() -> (model, X, T) runs on the clock; optimizer(parameters) -> torch optimizer;
    evaluate(model) -> test metric runs off the clock."""
    st = {}

    def timed_setup():
        st["model"], st["X"], st["T"] = setup()
        st["opt"] = optimizer([p for p in st["model"].parameters() if p.requires_grad])
        st["gen"] = torch.Generator().manual_seed(int(seed))

    def train_epoch():
        model, X, T, opt = st["model"], st["X"], st["T"], st["opt"]
        n = len(X)
        order = torch.randperm(n, generator=st["gen"]) if shuffle else torch.arange(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = loss_fn(model(X[idx]), T[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return Trained(total / n)

    return run_epochs(timed_setup, train_epoch, lambda: evaluate(st["model"]), max_epochs, time_budget_s)


def _half_squared(f, t):
    return 0.5 * ((f - t) ** 2).sum(dim=1).mean()


def run(ds, params, threads, max_epochs, time_budget_s):
    """The estimator's recipe on real data: params are estimator parameters (RECIPE only), defaults its own."""
    unknown = sorted(set(params) - set(RECIPE))
    if unknown:
        raise ValueError(f"torch-same takes the estimator's recipe parameters {list(RECIPE)}; got {unknown}")
    defaults = hsrnet_estimator.estimator_class(ds.task)().get_params()
    cfg = {**{k: v for k, v in defaults.items() if k in RECIPE}, "random_state": 0, **params}
    if cfg["solver"] not in SOLVERS or cfg["momentum"]:
        raise ValueError(
            f"torch-same has PyTorch's rule for solver sgd (no momentum) and adagrad only, got "
            f"solver={cfg['solver']!r}, momentum={cfg['momentum']!r}"
        )
    classify = ds.task == "classification"
    loss_name = "softmax_cross_entropy" if classify else "squared_error"
    lr = (
        DEFAULT_LEARNING_RATES[loss_name][cfg["solver"]]
        if isinstance(cfg["learning_rate_init"], str)
        else float(cfg["learning_rate_init"])
    )
    st = {}

    def setup():  # on the clock: the estimator fits its input map and target scaling inside fit, too
        st["imap"] = InputMap(cfg["input_map"], int(cfg["n_components"])).fit(ds.X_train)
        X = torch.from_numpy(st["imap"].transform(ds.X_train))
        if classify:
            st["classes"], labels = np.unique(ds.y_train, return_inverse=True)
            T = torch.from_numpy(labels.astype(np.int64))
        else:
            y = np.asarray(ds.y_train, dtype=np.float64).reshape(len(ds.y_train), -1)
            mean, std = y.mean(axis=0), y.std(axis=0)
            st["y_mean"], st["y_scale"] = mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
            T = torch.from_numpy(((y - mean) / st["y_scale"]).astype(np.float32))
        K = len(st["classes"]) if classify else T.shape[1]
        net = estimator_initial_network(cfg, X.shape[1], K)
        return SameModel(net, bool(cfg["train_output_layer"])), X, T

    def evaluate(model):
        out = _predict(model, torch.from_numpy(st["imap"].transform(ds.X_test)))
        if classify:
            return float(np.mean(st["classes"][out.argmax(axis=1)] == ds.y_test))
        return r2_score(ds.y_test, (out * st["y_scale"] + st["y_mean"]).ravel())

    loss_fn = torch.nn.functional.cross_entropy if classify else _half_squared
    optimizer = functools.partial(SOLVERS[cfg["solver"]], lr=lr, eps=cfg["epsilon"])
    outcome = _train(
        setup,
        loss_fn,
        optimizer,
        int(cfg["batch_size"]),
        bool(cfg["shuffle"]),
        cfg["random_state"],
        max_epochs,
        time_budget_s,
        evaluate,
    )
    return {
        **cfg,
        "learning_rate": lr,
        "optimizer": f"torch.optim.{'SGD' if cfg['solver'] == 'sgd' else 'Adagrad'}",
        "init": "hsrnet estimator's initial W, A",
    }, outcome


def run_sphere(ds, params, threads, max_epochs, time_budget_s):
    """hsrnet_sgd's setting (same parameters and defaults), dense in torch, from its initial network."""
    cfg = hsrnet_sgd.sphere_config(params)

    def setup():
        net = hsrnet_sgd.initial_network(ds, cfg, 1)
        T = torch.from_numpy(ds.y_train.reshape(-1, 1))
        return SameModel(net, cfg["train_output_layer"]), torch.from_numpy(ds.X_train), T

    def evaluate(model):
        return hsrnet_sgd.sphere_mse(_predict(model, torch.from_numpy(ds.X_test)), ds.y_test)

    optimizer = functools.partial(torch.optim.SGD, lr=cfg["learning_rate"])
    outcome = _train(
        setup,
        _half_squared,
        optimizer,
        cfg["batch_size"],
        True,
        cfg["shuffle_seed"],
        max_epochs,
        time_budget_s,
        evaluate,
    )
    return {**cfg, "strategy": "dense (torch)", "optimizer": "torch.optim.SGD (no momentum)"}, outcome
