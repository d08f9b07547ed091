"""The competitors: name -> runner, the tasks it applies to, and its fixed parameters.

A runner is named "module:function" inside compare.runners, so the parent process never imports torch; the
child imports only the runner it runs. hsrnet-best takes its parameters from the command line
(--hsrnet-best JSON), so options added to the estimators later (solvers, ...) need no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REAL = ("classification", "regression")
SPHERE = ("sphere",)

# docs/defaults.md: 1024 neurons come within 0.1-0.5 points of 4096 at a third of the time.
DEFAULT_HSRNET_BEST = {"n_neurons": 1024}


@dataclass(frozen=True)
class Competitor:
    name: str
    family: str  # hsrnet | torch | sklearn
    runner: str  # "module:function" in compare.runners
    tasks: tuple
    params: dict = field(default_factory=dict)
    description: str = ""


COMPETITORS = {
    c.name: c
    for c in (
        Competitor(
            "hsrnet-default",
            "hsrnet",
            "hsrnet_estimator:run",
            REAL,
            {},
            "HSRClassifier / HSRRegressor, every parameter at its default",
        ),
        Competitor(
            "hsrnet-dense",
            "hsrnet",
            "hsrnet_estimator:run",
            REAL,
            {"strategy": "dense"},
            "the defaults with strategy='dense' (the same weights, every pre-activation computed)",
        ),
        Competitor(
            "hsrnet-best",
            "hsrnet",
            "hsrnet_estimator:run",
            REAL,
            DEFAULT_HSRNET_BEST,
            "the estimator with the parameters of --hsrnet-best",
        ),
        Competitor(
            "torch-same",
            "torch",
            "torch_same:run",
            REAL,
            {},
            "hsrnet's model, init and training recipe (its solver: SGD or Adagrad), dense in PyTorch",
        ),
        Competitor(
            "torch-mlp-256",
            "torch",
            "torch_mlp:run",
            REAL,
            {"hidden": 256},
            "PyTorch ReLU MLP d-256-K, Adam 1e-3, batch 128, standardised inputs",
        ),
        Competitor(
            "torch-mlp-1024",
            "torch",
            "torch_mlp:run",
            REAL,
            {"hidden": 1024},
            "PyTorch ReLU MLP d-1024-K, Adam 1e-3, batch 128, standardised inputs",
        ),
        Competitor(
            "sklearn-mlp",
            "sklearn",
            "sklearn_mlp:run",
            REAL,
            {},
            "scikit-learn MLP defaults (100 hidden, Adam) behind StandardScaler",
        ),
        Competitor(
            "sklearn-mlp-1024",
            "sklearn",
            "sklearn_mlp:run",
            REAL,
            {"hidden_layer_sizes": [1024]},
            "scikit-learn MLP with 1024 hidden behind StandardScaler",
        ),
        Competitor(
            "hsrnet-sgd-tree",
            "hsrnet",
            "hsrnet_sgd:run",
            SPHERE,
            {"strategy": "tree"},
            "hsrnet SgdTrainer, strategy 'tree' (paper setting)",
        ),
        Competitor(
            "hsrnet-sgd-auto",
            "hsrnet",
            "hsrnet_sgd:run",
            SPHERE,
            {"strategy": "auto"},
            "hsrnet SgdTrainer, strategy 'auto' (paper setting)",
        ),
        Competitor(
            "torch-same-sphere",
            "torch",
            "torch_same:run_sphere",
            SPHERE,
            {},
            "the same network and SGD, dense in PyTorch (paper setting)",
        ),
    )
}

# The hsrnet run every ratio is taken against: per task, the first present of these.
REFERENCE = {
    "classification": ("hsrnet-default",),
    "regression": ("hsrnet-default",),
    "sphere": ("hsrnet-sgd-auto", "hsrnet-sgd-tree"),
}


def applicable(names, task):
    """The competitors of `names` (in order) that run on data of `task`."""
    return [COMPETITORS[n] for n in names if task in COMPETITORS[n].tasks]


def reference_name(task, present):
    return next((n for n in REFERENCE[task] if n in present), None)
