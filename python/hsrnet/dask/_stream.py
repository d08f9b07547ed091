"""Training on data larger than memory: row blocks streamed through ``partial_fit``.

Works without Dask for numpy arrays, memory-mapped ``.npy`` files and iterables of blocks; a dask array is
read one block at a time (``block.compute()``, with the current ``distributed.Client`` when there is one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np

from ..input_map import InputMap

__all__ = ["fit_input_map", "iter_blocks", "partial_fit_blocks"]

#: Rows per block when a numpy array or memmap is cut into blocks (a dask array keeps its own chunks).
DEFAULT_BLOCK_ROWS = 16384


def _is_dask_collection(x) -> bool:
    return hasattr(x, "__dask_graph__") and hasattr(x, "blocks")


def _n_rows(X):
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) == 0 or shape[0] is None:
        return None
    n = shape[0]
    return None if isinstance(n, float) and np.isnan(n) else int(n)  # dask: nan for unknown chunk sizes


def _row_blocks(X, block_rows) -> Iterator:
    """Lazy row blocks of an array-like: a dask array's own blocks along axis 0, else slices of block_rows."""
    if _is_dask_collection(X):
        if X.ndim == 2 and X.numblocks[1] != 1:
            X = X.rechunk({1: -1})  # whole rows per block
        for i in range(X.numblocks[0]):
            yield X.blocks[i]
        return
    n = X.shape[0]
    for start in range(0, n, block_rows):
        yield X[start : start + block_rows]


def _materialise(block) -> np.ndarray:
    if _is_dask_collection(block):
        block = block.compute()
    return np.asarray(block)


def iter_blocks(X, y=None, block_rows: int = DEFAULT_BLOCK_ROWS, prefetch: bool = True) -> Iterator:
    """Yields numpy row blocks of X (or (X_block, y_block) pairs when y is given), one in memory at a time.

    X and y: numpy arrays, memory-mapped arrays (``np.load(path, mmap_mode="r")``), dask arrays (their
    chunks along the rows are the blocks; y is re-chunked to match X), or, for X only, any iterable of
    blocks or of (X_block, y_block) pairs. With `prefetch` the next block is read by a helper thread while
    the caller works on the current one (two blocks in memory at most).
    """
    if y is not None:
        if not hasattr(X, "shape") or not hasattr(y, "shape"):
            raise TypeError("with y, X and y must be arrays (numpy, memmap or dask); else pass (X, y) pairs as X")
        if _n_rows(X) is not None and _n_rows(y) is not None and _n_rows(X) != _n_rows(y):
            raise ValueError(f"X has {_n_rows(X)} rows, y has {_n_rows(y)}")
        if _is_dask_collection(X):
            if not _is_dask_collection(y):
                import dask.array as da

                y = da.from_array(np.asarray(y), chunks=(X.chunks[0],) + tuple((s,) for s in np.shape(y)[1:]))
            else:
                y = y.rechunk({0: X.chunks[0]})
        elif _is_dask_collection(y):
            y = y.compute()  # labels are small beside X; cut as X is
        pairs = zip(_row_blocks(X, block_rows), _row_blocks(y, block_rows))
        source = ((_materialise(a), _materialise(b)) for a, b in pairs)
    elif hasattr(X, "shape"):
        source = (_materialise(a) for a in _row_blocks(X, block_rows))
    elif isinstance(X, Iterable):
        source = (tuple(_materialise(p) for p in item) if isinstance(item, tuple) else _materialise(item) for item in X)
    else:
        raise TypeError(f"X must be an array, a dask array or an iterable of blocks, got {type(X).__name__}")
    return _prefetched(source) if prefetch else source


def _prefetched(source: Iterator) -> Iterator:
    """source's items, the next one produced by a helper thread while the caller holds the current one."""
    it = iter(source)
    result: dict = {}

    def fetch():
        try:
            result["item"] = next(it)
        except StopIteration:
            result["done"] = True
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    while True:
        thread.join()
        if "error" in result:
            raise result["error"]
        if result.get("done"):
            return
        item = result.pop("item")
        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        yield item


def fit_input_map(est_or_kind, X, n_components: int = 64, block_rows: int = DEFAULT_BLOCK_ROWS, seed: int = 0):
    """Fits an input map in one streamed pass over X (array, memmap, dask array or iterable of blocks).

    With an estimator (HSRClassifier / HSRRegressor) the map's kind and n_components are the estimator's; it
    is set as the estimator's ``input_map`` parameter (a fitted InputMap is used as given by fit and by the
    first partial_fit instead of a map fitted on the first batch) and the estimator is returned. With a kind
    ("pca", "standardize", "none") the fitted :class:`hsrnet.input_map.InputMap` is returned.

    "pca" keeps the mean of all rows and the principal directions of at most 10,000 rows: the evenly spaced
    rows InputMap.fit would take on the whole array when the row count is known (arrays, dask arrays), a
    seeded reservoir sample for other iterables. "standardize": the exact per-feature mean and deviation.
    """
    if isinstance(est_or_kind, (str, InputMap)):
        kind = est_or_kind if isinstance(est_or_kind, str) else est_or_kind.kind
        est = None
    else:
        est = est_or_kind
        kind = est.input_map if isinstance(est.input_map, str) else est.input_map.kind
        n_components = est.n_components if isinstance(est.input_map, str) else est.input_map.n_components
    imap = InputMap(kind, int(n_components))
    blocks = iter_blocks(X, block_rows=block_rows)
    if not hasattr(X, "shape"):
        blocks = (b[0] if isinstance(b, tuple) else b for b in blocks)  # (X, y) pairs: the X part
    imap.fit_chunks(blocks, n_rows=_n_rows(X), seed=seed)
    if est is None:
        return imap
    est.set_params(input_map=imap)
    return est


def partial_fit_blocks(est, X, y=None, classes=None, epochs: int = 1, block_rows: int = DEFAULT_BLOCK_ROWS):
    """Trains `est` by one ``partial_fit`` call per row block of (X, y), `epochs` passes in block order.

    X, y as :func:`iter_blocks` takes them (numpy, memmap, dask arrays, or an iterable of (X, y) pairs
    for X with y=None; an iterable is read once, so epochs > 1 needs arrays). `classes` (all labels) is
    needed by a classifier's first call. The weights equal those of calling ``est.partial_fit`` on the same
    blocks held in memory, in the same order: only the reading differs (one block, plus the next one being
    read, in memory). Fit the input map first (:func:`fit_input_map`), or the first block fits it alone.
    """
    is_classifier = hasattr(est, "predict_proba")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if epochs > 1 and not hasattr(X, "shape"):
        raise ValueError("epochs > 1 needs X and y as arrays (an iterable of blocks is read once)")
    for _ in range(epochs):
        for item in iter_blocks(X, y, block_rows=block_rows):
            Xb, yb = item
            if is_classifier:
                est.partial_fit(Xb, yb, classes=classes)
            else:
                est.partial_fit(Xb, yb)
    return est
