"""A ReLU MLP d-h-K in PyTorch as a practitioner writes it: StandardScaler inputs, torch's default
initialisation (seeded), Adam(lr=1e-3), batch 128, a reshuffle every epoch; cross-entropy, or MSELoss on
standardised targets for regression (predictions mapped back before scoring).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from .loop import Trained, run_epochs

DEFAULTS = {"hidden": 256, "lr": 1e-3, "batch_size": 128, "seed": 0}


def run(ds, params, threads, max_epochs, time_budget_s):
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown torch-mlp parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **params}
    classify = ds.task == "classification"
    st = {}

    def setup():  # on the clock
        torch.manual_seed(cfg["seed"])
        st["scaler"] = StandardScaler().fit(ds.X_train)
        st["X"] = torch.from_numpy(st["scaler"].transform(ds.X_train).astype(np.float32))
        if classify:
            st["classes"], labels = np.unique(ds.y_train, return_inverse=True)
            st["T"] = torch.from_numpy(labels.astype(np.int64))
            k = len(st["classes"])
        else:
            y = np.asarray(ds.y_train, dtype=np.float64)
            st["y_mean"], st["y_std"] = y.mean(), y.std()
            st["T"] = torch.from_numpy(((y - st["y_mean"]) / st["y_std"]).astype(np.float32)).reshape(-1, 1)
            k = 1
        st["model"] = torch.nn.Sequential(
            torch.nn.Linear(st["X"].shape[1], cfg["hidden"]), torch.nn.ReLU(), torch.nn.Linear(cfg["hidden"], k)
        )
        st["opt"] = torch.optim.Adam(st["model"].parameters(), lr=cfg["lr"])
        st["gen"] = torch.Generator().manual_seed(cfg["seed"])

    loss_fn = torch.nn.functional.cross_entropy if classify else torch.nn.functional.mse_loss

    def train_epoch():
        model, X, T, opt, B = st["model"], st["X"], st["T"], st["opt"], cfg["batch_size"]
        order = torch.randperm(len(X), generator=st["gen"])
        total = 0.0
        for i in range(0, len(X), B):
            idx = order[i : i + B]
            loss = loss_fn(model(X[idx]), T[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return Trained(total / len(X))

    def evaluate():
        with torch.no_grad():
            out = st["model"](torch.from_numpy(st["scaler"].transform(ds.X_test).astype(np.float32))).numpy()
        if classify:
            return float(np.mean(st["classes"][out.argmax(axis=1)] == ds.y_test))
        return r2_score(ds.y_test, out.ravel() * st["y_std"] + st["y_mean"])

    config = {
        **cfg,
        "optimizer": "torch.optim.Adam",
        "inputs": "StandardScaler",
        "loss": "cross_entropy" if classify else "mse_loss on standardised targets",
    }
    return config, run_epochs(setup, train_epoch, evaluate, max_epochs, time_budget_s)
