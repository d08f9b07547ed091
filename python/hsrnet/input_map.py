"""Maps real data onto the unit sphere, where the shifted-ReLU network and its threshold rule live.

The theory (PAPER.md) assumes ||x|| = 1: then <w_r, x> ~ N(0, 1) at initialisation and b = sqrt(0.4 ln m)
fires a known fraction of neurons. Real features have arbitrary offsets and scales, so the default map
("standardize") learns per-feature mean and standard deviation in fit, then for every sample
  1. standardises the features (constant features are centred only),
  2. appends a constant coordinate c (so the network keeps a bias: without it, unit-norm inputs would lose
     the information carried by the overall magnitude and every neuron would pass through the origin),
  3. scales the vector to unit norm.
c = sqrt(d) by default, the typical norm of a standardised d-vector, so the constant weighs like the data.
"none" trusts the caller: inputs are used as given (they should already have unit norm).
"""
from __future__ import annotations

import numpy as np

INPUT_MAPS = ("standardize", "none")


class InputMap:
    def __init__(self, kind: str = "standardize"):
        if kind not in INPUT_MAPS:
            raise ValueError(f"input_map must be one of {INPUT_MAPS}, got {kind!r}")
        self.kind = kind
        self.mean_ = None
        self.scale_ = None
        self.constant_ = None

    def fit(self, X: np.ndarray) -> "InputMap":
        X = np.asarray(X, dtype=np.float64)
        if self.kind == "standardize":
            self.mean_ = X.mean(axis=0)
            std = X.std(axis=0)
            self.scale_ = np.where(std > 1e-12 * np.maximum(1.0, np.abs(self.mean_)), std, 1.0)
            self.constant_ = float(np.sqrt(X.shape[1]))
        return self

    @property
    def output_dim_offset(self) -> int:
        """Coordinates added by the map (the constant)."""
        return 1 if self.kind == "standardize" else 0

    def transform(self, X: np.ndarray) -> np.ndarray:
        """float32, C-contiguous rows of unit norm (standardize), or X as float32 (none)."""
        if self.kind == "none":
            return np.ascontiguousarray(X, dtype=np.float32)
        Z = np.empty((X.shape[0], X.shape[1] + 1), dtype=np.float64)
        np.subtract(X, self.mean_, out=Z[:, :-1])
        Z[:, :-1] /= self.scale_
        Z[:, -1] = self.constant_
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        return np.ascontiguousarray(Z, dtype=np.float32)

    def to_tensors(self) -> dict:
        out = {"input_map/kind": np.frombuffer(self.kind.encode(), dtype=np.uint8)}
        if self.kind == "standardize":
            out["input_map/mean"] = self.mean_.astype(np.float64)
            out["input_map/scale"] = self.scale_.astype(np.float64)
            out["input_map/constant"] = np.array(self.constant_, dtype=np.float64)
        return out

    @classmethod
    def from_tensors(cls, t: dict) -> "InputMap":
        m = cls(bytes(t["input_map/kind"]).decode())
        if m.kind == "standardize":
            m.mean_ = t["input_map/mean"]
            m.scale_ = t["input_map/scale"]
            m.constant_ = float(t["input_map/constant"])
        return m
