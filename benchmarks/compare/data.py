"""The data sets of the comparison, with fixed splits, read from ../shared/data (or HSRNET_DATA); nothing is
downloaded.

  mnist       official 60000 / 10000 split (quick: the first 20000 training images, the full test set)
  letter      first 16000 / last 4000 rows (the usual split)
  california  a random 80 / 20 split with seed 0 (the split docs/defaults.md used)
  sphere      the paper's setting: x uniform on the unit sphere in R^d, y = <u, x>^2 - 1/d (an even polynomial
              of mean zero, u a fixed unit vector); train and test drawn from one seeded generator

Every loader returns a Dataset; competitors map the raw features themselves (hsrnet's input map, or a
StandardScaler), fitting only on the training part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPHERE_SEED = 0
TASKS = {"mnist": "classification", "letter": "classification", "california": "regression", "sphere": "sphere"}


@dataclass
class Dataset:
    name: str
    task: str  # "classification" | "regression" | "sphere" (regression on unit-sphere inputs)
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return {"classification": "accuracy", "regression": "r2", "sphere": "mse"}[self.task]

    @property
    def n_classes(self) -> int:
        return len(np.unique(self.y_train)) if self.task == "classification" else 0

    def summary(self) -> dict:
        return {
            "n_train": int(len(self.X_train)),
            "n_test": int(len(self.X_test)),
            "n_features": int(self.X_train.shape[1]),
            "task": self.task,
            **self.info,
        }


def _subset(ds: Dataset, n_train, n_test) -> Dataset:
    if n_train:
        ds.X_train, ds.y_train = ds.X_train[:n_train], ds.y_train[:n_train]
    if n_test:
        ds.X_test, ds.y_test = ds.X_test[:n_test], ds.y_test[:n_test]
    return ds


def load_mnist(root=None, n_train=None, n_test=None) -> Dataset:
    from hsrnet.datasets import load_mnist as read

    Xtr, ytr, Xte, yte = read(root)
    return _subset(Dataset("mnist", TASKS["mnist"], Xtr, ytr, Xte, yte), n_train, n_test)


def load_letter(root=None, n_train=None, n_test=None) -> Dataset:
    from hsrnet.datasets import load_letter as read

    Xtr, ytr, Xte, yte = read(root)
    return _subset(Dataset("letter", TASKS["letter"], Xtr, ytr, Xte, yte), n_train, n_test)


def load_california(root=None, n_train=None, n_test=None) -> Dataset:
    from hsrnet.datasets import load_california_housing
    from sklearn.model_selection import train_test_split

    X, y = load_california_housing(root)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
    return _subset(Dataset("california", TASKS["california"], Xtr, ytr, Xte, yte), n_train, n_test)


def sphere_name(d: int, m: int, batch: int) -> str:
    """The data set id of one sphere setting (width and batch are part of it: each gets its own table)."""
    return f"sphere-d{d}-m{m}-b{batch}"


def load_sphere(d: int, n_train: int, n_test: int, seed: int = SPHERE_SEED, name=None) -> Dataset:
    """Unit-sphere inputs (float32) and the even target; info carries Var(y_test), the zero predictor's MSE."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)

    def draw(n):
        X = rng.standard_normal((n, d))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return np.ascontiguousarray(X, dtype=np.float32), np.asarray((X @ u) ** 2 - 1.0 / d, dtype=np.float32)

    Xtr, ytr = draw(n_train)
    Xte, yte = draw(n_test)
    return Dataset(
        name or f"sphere-d{d}",
        TASKS["sphere"],
        Xtr,
        ytr,
        Xte,
        yte,
        info={"d": d, "target": "<u,x>^2 - 1/d", "var_y_test": float(np.var(yte.astype(np.float64)))},
    )


def load(spec: dict, root=None) -> Dataset:
    """A data set from its job spec: {"name", "n_train", "n_test"} (+ "d" for the sphere)."""
    kind = spec["kind"]
    if kind == "sphere":
        return load_sphere(spec["d"], spec["n_train"], spec["n_test"], name=spec["name"])
    loader = {"mnist": load_mnist, "letter": load_letter, "california": load_california}[kind]
    ds = loader(root, spec.get("n_train"), spec.get("n_test"))
    ds.name = spec["name"]
    return ds
