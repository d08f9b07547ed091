"""hsrnet: train wide two-layer networks at a cost that follows the neurons that fire.

The core is an exact half-space reporting index over weight rows (:class:`HalfSpaceIndex`).
"""

from __future__ import annotations

import os as _os

from . import _cpu

_missing = (
    "" if _os.environ.get("HSRNET_TEST_PRETEND_CPU_LACKS") is None else _os.environ["HSRNET_TEST_PRETEND_CPU_LACKS"]
)
_missing = (_missing + " " + _cpu.missing_features()).strip()
if _missing:
    raise ImportError(
        "hsrnet needs a CPU with AVX2 and FMA (Intel Haswell / AMD Excavator or newer); "
        f"this CPU lacks: {_missing}. The compiled core was not loaded."
    )

# OpenMP threads that wait at the end of a parallel region spin by default (libgomp: up to ~300,000 rounds),
# which makes n_jobs >= 2 many times slower when another process keeps a core busy. Passive waiting costs
# little on an idle machine (docs/threads.md has the measurements). Set before the OpenMP runtime starts (it
# reads its environment once, when _core first loads it); a value the user chose is kept.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "passive"

from . import _core  # noqa: E402
from ._core import max_threads as _max_threads  # noqa: E402, F401  (hsrnet._max_threads: the OpenMP pool size)

#: True in a process created by os.fork() from one that had imported hsrnet: OpenMP runs on one thread there.
forked_child = False


def _after_fork_in_child():
    # libgomp's worker threads do not survive fork(); a parallel region with 2+ threads in the child waits for
    # them forever (multiprocessing's default "fork" start method, os.fork). One thread per region avoids that.
    global forked_child
    forked_child = True
    _core._single_threaded_after_fork()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)

from .index import BACKENDS, HalfSpaceIndex, reference_dot  # noqa: E402
from .network import STRATEGIES, SgdTrainer, ShiftedReLUNet, default_threshold, loss_gradient  # noqa: E402

__version__: str = _core.__version__  # written once, in include/hsrnet/config.hpp
__all__ = [
    "BACKENDS",
    "STRATEGIES",
    "HSRClassifier",
    "HSRRegressor",
    "HalfSpaceIndex",
    "SgdTrainer",
    "ShiftedReLUNet",
    "default_threshold",
    "load",
    "loss_gradient",
    "reference_dot",
    "__version__",
]

# The scikit-learn estimators load on first use, so `import hsrnet` does not import scikit-learn.
_LAZY = {
    "HSRClassifier": ("estimators", "HSRClassifier"),
    "HSRRegressor": ("estimators", "HSRRegressor"),
    "load": ("estimators", "load"),  # via estimators: importing them registers the model-file kinds
}


from ._module_attrs import module_getattr  # noqa: E402
from .network import _RENAMED  # noqa: E402  (old Python names of the network and the trainer)


def __getattr__(name):
    return module_getattr(__name__, globals(), name, lazy=_LAZY, renamed=_RENAMED)


def __dir__():
    return sorted(set(globals()) | set(__all__))
