"""hsrnet: train wide two-layer networks at a cost that follows the neurons that fire.

The core is an exact half-space reporting index over weight rows (:class:`HalfSpaceIndex`).
"""
from __future__ import annotations

import os as _os

from . import _cpu

_missing = "" if _os.environ.get("HSRNET_TEST_PRETEND_CPU_LACKS") is None else _os.environ["HSRNET_TEST_PRETEND_CPU_LACKS"]
_missing = (_missing + " " + _cpu.missing_features()).strip()
if _missing:
    raise ImportError(
        "hsrnet needs a CPU with AVX2 and FMA (Intel Haswell / AMD Excavator or newer); "
        f"this CPU lacks: {_missing}. The compiled core was not loaded."
    )

from ._core import max_threads as _max_threads  # noqa: E402
from .index import BACKENDS, HalfSpaceIndex, reference_dot  # noqa: E402
from .network import STRATEGIES, SGDTrainer, ShiftedReLUNetwork, default_threshold  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BACKENDS", "STRATEGIES", "HSRClassifier", "HSRRegressor", "HalfSpaceIndex", "SGDTrainer",
           "ShiftedReLUNetwork", "default_threshold", "load", "reference_dot", "__version__"]

# The scikit-learn estimators load on first use, so `import hsrnet` does not import scikit-learn.
_LAZY = {"HSRClassifier": ("estimators", "HSRClassifier"), "HSRRegressor": ("estimators", "HSRRegressor"),
         "load": ("model_io", "load")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
