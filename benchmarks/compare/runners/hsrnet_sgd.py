"""hsrnet's low-level SgdTrainer on the sphere (the paper's setting): inputs already on the unit sphere,
squared error, the output layer fixed at random signs (as in the paper), one trainer for the whole run.

Network and trainer construction (the k-d tree build included) run on the clock, before the first epoch.
Test metric: mean squared error (f(x) - y)^2 over the test set (no factor 1/2; the training loss has it).
"""

from __future__ import annotations

import hsrnet
import numpy as np

from .loop import Trained, run_epochs

DEFAULTS = {
    "n_neurons": 2**14,
    "batch_size": 1,
    "learning_rate": 1.0,
    "strategy": "auto",
    "train_output_layer": False,
    "threshold": "auto",
    "seed": 0,
    "shuffle_seed": 1,
}


def sphere_config(params: dict) -> dict:
    """DEFAULTS overridden by params; unknown keys are an error (a typo must not run silently)."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown sphere parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **params}


def initial_network(ds, cfg, threads) -> hsrnet.ShiftedReLUNet:
    """The seeded paper initialisation (w_r ~ N(0, I), a_r = +-1); torch_same copies it for the same start."""
    return hsrnet.ShiftedReLUNet(
        ds.X_train.shape[1], cfg["n_neurons"], 1, threshold=cfg["threshold"], seed=cfg["seed"], n_threads=threads
    )


def sphere_mse(pred, y) -> float:
    return float(np.mean((np.asarray(pred, dtype=np.float64).ravel() - y.astype(np.float64)) ** 2))


def run(ds, params, threads, max_epochs, time_budget_s):
    cfg = sphere_config(params)
    state = {}

    def setup():
        state["net"] = initial_network(ds, cfg, threads)
        state["trainer"] = hsrnet.SgdTrainer(
            batch_size=cfg["batch_size"],
            learning_rate=cfg["learning_rate"],
            strategy=cfg["strategy"],
            train_output_layer=cfg["train_output_layer"],
            loss="squared_error",
            seed=cfg["shuffle_seed"],
            n_threads=threads,
        )

    def train_epoch():
        st = state["trainer"].fit_epoch(state["net"], ds.X_train, ds.y_train)
        used = st["strategy"] if st["strategy"] != "auto" else f"index/{st['index_backend']}"
        return Trained(
            st["mean_loss"],
            {"firing_fraction": st["firing_fraction"], "strategy_used": used, "identify_seconds": st["identify_s"]},
        )

    def evaluate():
        return sphere_mse(state["net"].predict(ds.X_test), ds.y_test)

    return cfg, run_epochs(setup, train_epoch, evaluate, max_epochs, time_budget_s)
