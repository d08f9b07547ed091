"""Maps real data onto the unit sphere, where the shifted-ReLU network and its threshold rule live.

The theory (docs/method.md) assumes ||x|| = 1: then <w_r, x> ~ N(0, 1) at initialisation and b = sqrt(0.4 ln m)
fires a known fraction of neurons. Real features have arbitrary offsets and scales, so the maps learn them in
fit, then for every sample
  1. "standardize": standardise each feature (constant features are centred only);
     "pca": centre, project onto the top k principal directions and scale each to unit variance (whitening).
     Fewer inputs make every dot product of training cheaper (identification is a d-column GEMM), and on
     MNIST 64 whitened components train to a higher accuracy per epoch than the 784 pixels
     (docs/benchmarks.md);
  2. append a constant coordinate c (so the network keeps a bias: without it, unit-norm inputs would lose
     the information carried by the overall magnitude and every neuron would pass through the origin);
  3. scale the vector to unit norm.
c = sqrt(number of mapped features), the typical norm of a standardised vector, so the constant weighs like
the data. "none" trusts the caller: inputs are used as given (they should already have unit norm).
"""

from __future__ import annotations

import numpy as np

INPUT_MAPS = ("standardize", "pca", "none")
# "pca" estimates the principal directions from at most this many evenly spaced rows: the covariance then
# costs O(rows d^2) whatever n is, and directions from 10^4 MNIST rows train as well as from all 60000.
PCA_FIT_ROWS = 10_000
TRANSFORM_CHUNK_ROWS = 8192  # rows converted to float64 at a time by the "pca" transform


class InputMap:
    """kind: "standardize", "pca" or "none"; n_components: directions kept by "pca" (at most the features)."""

    def __init__(self, kind: str = "standardize", n_components: int = 64):
        if kind not in INPUT_MAPS:
            raise ValueError(f"input_map must be one of {INPUT_MAPS}, got {kind!r}")
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
        self.kind = kind
        self.n_components = int(n_components)
        self.mean_ = None
        self.scale_ = None
        self.components_ = None  # "pca": (n_features, k) orthonormal columns
        self.constant_ = None

    def fit(self, X: np.ndarray) -> InputMap:
        if self.kind == "pca":
            self._fit_pca(np.asarray(X))
            return self
        X = np.asarray(X, dtype=np.float64)
        if self.kind == "standardize":
            self.mean_ = X.mean(axis=0)
            self.scale_ = _safe_scale(X.std(axis=0), self.mean_)
            self.constant_ = float(np.sqrt(X.shape[1]))
        return self

    def _fit_pca(self, X: np.ndarray) -> None:
        n = X.shape[0]
        # no float64 copy of X
        self._pca_from(X.mean(axis=0, dtype=np.float64), X[:: max(1, -(-n // PCA_FIT_ROWS))])

    def _pca_from(self, mean: np.ndarray, sample: np.ndarray) -> None:
        """Principal directions of `sample` (rows) about `mean` (the mean of all rows)."""
        d = mean.shape[0]
        k = min(self.n_components, d)
        self.mean_ = mean
        # The covariance of the centred sample in float32 (half the work of float64; the directions only
        # need to be good, not exact: the map is whatever was fitted, applied identically ever after).
        rows = np.asarray(sample - self.mean_, dtype=np.float32)
        cov = (rows.T @ rows).astype(np.float64) / max(1, rows.shape[0])
        values, vectors = np.linalg.eigh(cov)  # ascending
        order = np.argsort(values)[::-1][:k]
        vectors = vectors[:, order]
        # A deterministic sign per direction (the largest coordinate positive), as scikit-learn's svd_flip.
        signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(k)])
        # C order, as a loaded file has it: the product's bits depend on the operands' layout.
        self.components_ = np.ascontiguousarray(vectors * np.where(signs == 0, 1.0, signs))
        std = np.sqrt(np.maximum(values[order], 0.0))
        self.scale_ = np.where(std > 1e-12 * max(1.0, float(std[0]) if k else 1.0), std, 1.0)
        self.constant_ = float(np.sqrt(k))

    def fit_chunks(self, chunks, n_rows: int | None = None, seed: int = 0) -> InputMap:
        """Fits the map in one pass over `chunks`, an iterable of 2-D row blocks (numpy arrays, or anything
        np.asarray takes), holding one block and the sample at a time: for data that does not fit in memory.

        "standardize": exact mean and standard deviation of all rows (merged per block in float64).
        "pca": the mean of all rows and the directions of a sample of at most PCA_FIT_ROWS rows: with
        `n_rows` (the total, known for arrays and dask arrays) the evenly spaced rows that :meth:`fit` on
        the whole array would take, so the map equals fit's up to the rounding of the mean; without it a
        uniform reservoir sample drawn with `seed`.
        """
        if self.kind == "none":
            return self
        count, mean, m2, d = 0, None, None, None
        stride = None if n_rows is None else max(1, -(-int(n_rows) // PCA_FIT_ROWS))
        sample, filled = None, 0  # pca: sampled rows (float64), rows in the reservoir
        rng = np.random.default_rng(seed)
        for block in chunks:
            block = np.asarray(block)
            if block.ndim != 2 or (d is not None and block.shape[1] != d):
                raise ValueError(f"every chunk must be 2-D with the same number of columns, got shape {block.shape}")
            if d is None:
                d = block.shape[1]
                mean, m2 = np.zeros(d), np.zeros(d)
                sample = np.empty((0, d)) if stride is not None else np.empty((PCA_FIT_ROWS, d))
            nb = block.shape[0]
            if nb == 0:
                continue
            # Chan et al.'s merge of (count, mean, sum of squared deviations)
            b_mean = block.mean(axis=0, dtype=np.float64)
            total = count + nb
            delta = b_mean - mean
            if self.kind == "standardize":
                b_m2 = ((np.asarray(block, dtype=np.float64) - b_mean) ** 2).sum(axis=0)
                m2 += b_m2 + delta**2 * (count * nb / total)
            mean = mean + delta * (nb / total)
            if self.kind == "pca":
                if stride is not None:
                    first = (-count) % stride  # the block's first row whose global index is a multiple of stride
                    sample = np.concatenate([sample, np.asarray(block[first::stride], dtype=np.float64)])
                else:
                    sample, filled = _reservoir(sample, filled, count, block, rng)
            count = total
        if count == 0:
            raise ValueError("fit_chunks needs at least one row")
        if self.kind == "standardize":
            self.mean_ = mean
            self.scale_ = _safe_scale(np.sqrt(m2 / count), mean)
            self.constant_ = float(np.sqrt(d))
        else:
            self._pca_from(mean, sample if stride is not None else sample[:filled])
        return self

    def output_dim(self, n_features: int) -> int:
        """Network inputs for n_features user features."""
        if self.kind == "none":
            return n_features
        if self.kind == "pca":
            return min(self.n_components, n_features) + 1
        return n_features + 1

    def transform(self, X: np.ndarray) -> np.ndarray:
        """float32, C-contiguous rows of unit norm (standardize, pca), or X as float32 (none)."""
        if self.kind == "none":
            return np.ascontiguousarray(X, dtype=np.float32)
        if self.kind == "pca":
            # (x - mu) P = x P - mu P, in float64 chunks of rows: no float64 copy of the whole X, and each
            # row's value does not depend on the rows beside it (a float32 GEMM's edge handling would).
            P = np.ascontiguousarray(self.components_ / self.scale_)
            shift = self.mean_ @ P
            mapped = np.empty((X.shape[0], P.shape[1]), dtype=np.float64)
            for i in range(0, X.shape[0], TRANSFORM_CHUNK_ROWS):
                rows = np.asarray(X[i : i + TRANSFORM_CHUNK_ROWS], dtype=np.float64)
                np.matmul(rows, P, out=mapped[i : i + TRANSFORM_CHUNK_ROWS])
            mapped -= shift
        else:
            X = np.asarray(X, dtype=np.float64)
            mapped = (X - self.mean_) / self.scale_
        Z = np.empty((X.shape[0], mapped.shape[1] + 1), dtype=np.float64)
        Z[:, :-1] = mapped
        Z[:, -1] = self.constant_
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        return np.ascontiguousarray(Z, dtype=np.float32)

    def check(self, n_features: int) -> None:
        """Raises ValueError unless the fitted arrays fit n_features features (for maps read from files)."""
        if self.kind == "none":
            return
        if self.mean_ is None or np.shape(self.mean_) != (n_features,):
            raise ValueError(f"input_map/mean must have shape ({n_features},)")
        k = n_features if self.kind == "standardize" else min(self.n_components, n_features)
        if np.shape(self.scale_) != (k,):
            raise ValueError(f"input_map/scale must have shape ({k},)")
        if self.kind == "pca" and np.shape(self.components_) != (n_features, k):
            raise ValueError(f"input_map/components must have shape ({n_features}, {k})")
        arrays = {"mean": self.mean_, "scale": self.scale_, "constant": np.asarray(self.constant_)}
        if self.kind == "pca":
            arrays["components"] = self.components_
        for name, a in arrays.items():
            if not np.isfinite(a).all():
                raise ValueError(f"input_map/{name} holds NaN or infinite values")
        for name in ("scale", "constant"):
            if not (np.asarray(arrays[name]) > 0).all():
                raise ValueError(f"input_map/{name} must be positive")

    def to_tensors(self) -> dict:
        out = {"input_map/kind": np.frombuffer(self.kind.encode(), dtype=np.uint8)}
        if self.kind != "none":
            out["input_map/mean"] = self.mean_.astype(np.float64)
            out["input_map/scale"] = self.scale_.astype(np.float64)
            out["input_map/constant"] = np.array(self.constant_, dtype=np.float64)
        if self.kind == "pca":
            out["input_map/components"] = np.ascontiguousarray(self.components_, dtype=np.float64)
        return out

    @classmethod
    def from_tensors(cls, t: dict) -> InputMap:
        kind = bytes(t["input_map/kind"]).decode()
        m = cls(kind, n_components=t["input_map/components"].shape[1] if kind == "pca" else 64)
        if m.kind != "none":
            m.mean_ = t["input_map/mean"]
            m.scale_ = t["input_map/scale"]
            m.constant_ = float(t["input_map/constant"])
        if m.kind == "pca":
            m.components_ = t["input_map/components"]
        return m


def _reservoir(sample, filled, seen, block, rng):
    """Algorithm R over one block: `sample` holds a uniform sample of the `seen` rows before it (`filled` rows)."""
    k = sample.shape[0]
    take = min(k - filled, block.shape[0])
    sample[filled : filled + take] = block[:take]
    filled += take
    rest = block.shape[0] - take
    if rest > 0:
        # row i (global index g) replaces a random slot with probability k / (g + 1)
        g = seen + take + np.arange(rest)
        slots = rng.integers(0, g + 1)
        for i in np.flatnonzero(slots < k):
            sample[slots[i]] = block[take + i]
    return sample, filled


def _safe_scale(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Standard deviations, with 1 for (numerically) constant features: those are centred only."""
    return np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
