"""hsrnet beyond one machine, on Dask distributed (docs/dask.md).

* Model selection on a cluster: scikit-learn's ``GridSearchCV`` / ``cross_validate`` over hsrnet estimators
  inside ``joblib.parallel_backend("dask")`` need nothing from this package (the estimators pickle with
  their weights and optimizer state; in a Dask task ``n_jobs=-1`` shares the process's cores among its
  worker threads).
* Data larger than memory: :func:`fit_input_map` (the input map from one streamed pass) and
  :func:`partial_fit_blocks` (one ``partial_fit`` per block of a numpy memmap, a dask array or any iterable
  of blocks); dask-ml's ``Incremental`` works too.
* A network wider than one machine: :class:`ShardedHSRClassifier`, :class:`ShardedHSRRegressor` (the
  neurons split across Dask workers).

Dask is imported only when something here needs it: ``import hsrnet.dask`` works without the extra
(``pip install hsrnet[dask]``), and the streaming helpers work on numpy arrays and memmaps without Dask.
"""

from __future__ import annotations

from ._stream import DEFAULT_BLOCK_ROWS, fit_input_map, iter_blocks, partial_fit_blocks

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "ShardedHSRClassifier",
    "ShardedHSRRegressor",
    "fit_input_map",
    "iter_blocks",
    "load_sharded",
    "partial_fit_blocks",
]

from .._module_attrs import module_getattr  # noqa: E402

_LAZY = {
    "ShardedHSRClassifier": ("_sharded", "ShardedHSRClassifier"),
    "ShardedHSRRegressor": ("_sharded", "ShardedHSRRegressor"),
    "load_sharded": ("_sharded", "load_sharded"),
}


def __getattr__(name):
    return module_getattr(__name__, globals(), name, lazy=_LAZY)


def __dir__():
    return sorted(set(globals()) | set(__all__))
