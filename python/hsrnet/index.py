"""The exact half-space reporting index: ids of the rows w with <w, x> > b."""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_float32_array, as_int, as_positive_real, as_row_ids, as_threshold

BACKENDS = _core.BACKENDS  # the names the C++ core accepts


def _as_backend(backend, name="backend") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"{name} must be one of {BACKENDS}, got {backend!r}")
    return backend


def reference_dot(w, x) -> float:
    """The library's reference float32 inner product, the one the index is exact against."""
    w = as_float32_array(w, "w", 1)
    x = as_float32_array(x, "x", 1)
    if w.shape != x.shape:
        raise ValueError(f"w and x must have the same length, got {w.shape[0]} and {x.shape[0]}")
    return _core.reference_dot(w, x)


class HalfSpaceIndex:
    """Exact half-space reporting over m rows of dimension d.

    ``query(x, b)`` returns, ascending, every row id r with ``reference_dot(rows[r], x) > b``: strictly
    greater, the same set whichever backend answers. The index copies the rows once into its own storage
    (rows of d > 4 padded to a multiple of 8 floats; a tree reorders it); ``update`` replaces rows in place.

    Parameters
    ----------
    rows : ndarray of float32, shape (m, d), C-contiguous, finite
    backend : {"auto", "scan", "gemm", "tree"}
        Default backend of calls that do not name one. ``auto`` picks per call with a cost model.
    leaf_size : int, rows per tree leaf (8..4096)
    tree_max_dim : int, ``auto`` builds a tree only when d <= tree_max_dim
    rebuild_after : float > 0, rebuild the tree after this many row updates, as a fraction of m
    n_threads : int or None, OpenMP threads per call (None: OpenMP's default)
    """

    def __init__(
        self, rows, backend="auto", *, leaf_size=64, tree_max_dim=_core.TREE_MAX_DIM, rebuild_after=1.0, n_threads=None
    ):
        rows = as_float32_array(rows, "rows", 2)
        _as_backend(backend)
        leaf_size = as_int(leaf_size, "leaf_size", 8, 4096)
        tree_max_dim = as_int(tree_max_dim, "tree_max_dim", 0, 2**31 - 1)
        rebuild_after = as_positive_real(rebuild_after, "rebuild_after")
        threads = 0 if n_threads is None else as_int(n_threads, "n_threads", 1, 4096)
        if rows.shape[0] >= 2**31 - 1:
            raise ValueError("at most 2**31 - 2 rows are supported")
        self._index = _core.HalfSpaceIndex(rows, backend, leaf_size, tree_max_dim, rebuild_after, threads)
        self.backend = backend

    @property
    def m(self) -> int:
        """Number of rows."""
        return self._index.m

    @property
    def d(self) -> int:
        """Row dimension."""
        return self._index.d

    @property
    def n_threads(self):
        t = self._index.n_threads
        return None if t == 0 else t

    @n_threads.setter
    def n_threads(self, value):
        self._index.n_threads = 0 if value is None else as_int(value, "n_threads", 1, 4096)

    @property
    def has_tree(self) -> bool:
        return self._index.has_tree

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the index (rows, norms, id maps, tree)."""
        return self._index.memory_bytes

    def __len__(self) -> int:
        return self.m

    def __repr__(self) -> str:
        return f"HalfSpaceIndex(m={self.m}, d={self.d}, backend={self.backend!r}, has_tree={self.has_tree})"

    def _check_query(self, x, ndim, name):
        x = as_float32_array(x, name, ndim, check_finite=False)  # the core rejects NaN/inf queries
        if x.shape[-1] != self.d:
            raise ValueError(f"{name} has dimension {x.shape[-1]}, the index has d = {self.d}")
        return x

    def query(self, x, b, backend=None) -> np.ndarray:
        """Ids (int32, ascending) of the rows w with <w, x> > b. ``x``: float32 vector of length d."""
        x = self._check_query(x, 1, "x")
        return self._index.query(x, as_threshold(b), _as_backend(self.backend if backend is None else backend))

    def query_batch(self, X, b, backend=None):
        """Answers every row of ``X`` (float32, shape (n, d)) at once.

        Returns ``(offsets, indices)`` in CSR form: the ids for query q are
        ``indices[offsets[q]:offsets[q + 1]]``, ascending (offsets int64, indices int32).
        """
        X = self._check_query(X, 2, "X")
        return self._index.query_batch(X, as_threshold(b), _as_backend(self.backend if backend is None else backend))

    def update(self, ids, values) -> None:
        """Replaces rows ``ids`` by the rows of ``values`` (float32, shape (len(ids), d)).

        Every later query stays exact. A repeated id takes its last value.
        """
        ids = as_row_ids(ids, self.m)
        values = as_float32_array(values, "values", 2)
        if values.shape != (ids.shape[0], self.d):
            raise ValueError(f"values must have shape ({ids.shape[0]}, {self.d}), got {values.shape}")
        self._index.update(ids, values)

    def get_rows(self, ids=None) -> np.ndarray:
        """A copy of the rows ``ids`` (all rows when None), shape (len(ids), d)."""
        ids = np.arange(self.m, dtype=np.int32) if ids is None else as_row_ids(ids, self.m)
        return self._index.get_rows(ids).reshape(ids.shape[0], self.d)

    def rebuild(self) -> None:
        """Rebuilds the tree now (builds one if there is none)."""
        self._index.rebuild()

    def chosen_backend(self, n_queries: int = 1, backend=None) -> str:
        """The backend a call with ``n_queries`` queries would use now."""
        return self._index.choose(
            _as_backend(self.backend if backend is None else backend), as_int(n_queries, "n_queries", 1)
        )

    def stats(self) -> dict:
        """Counters: queries, calls per backend, rows updated, tree builds, rounding-band checks."""
        return self._index.stats()
