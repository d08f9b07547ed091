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
__all__ = ["BACKENDS", "STRATEGIES", "HalfSpaceIndex", "SGDTrainer", "ShiftedReLUNetwork", "default_threshold",
           "reference_dot", "__version__"]
