"""Input checks shared by the public API: clear exceptions instead of crashes or silent misreads."""

from __future__ import annotations

import numbers

import numpy as np


def as_float32_array(a, name: str, ndim: int, check_finite: bool = True) -> np.ndarray:
    """Returns `a` itself when it is a C-contiguous float32 ndarray of `ndim` dimensions with finite values.

    Nothing is converted silently: float64, integers and strided views are rejected, so the caller always
    knows the array crosses into C++ without a copy.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of dtype float32, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(
            f"{name} must have dtype float32, got {a.dtype}; convert once with np.asarray({name}, dtype=np.float32)"
        )
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    # The C++ core checks queries itself while copying them (cheaper for single small queries).
    if check_finite and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return a


def as_threshold(b, name: str = "b") -> float:
    if isinstance(b, (bool, np.bool_)) or not isinstance(b, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(b).__name__}")
    try:
        fb = float(b)
    except OverflowError:
        raise ValueError(f"{name} = {b} is too large in magnitude to be a float threshold") from None
    if not np.isfinite(fb):
        raise ValueError(f"{name} must be finite, got {fb}")
    return fb


def as_positive_real(v, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    fv = float(v)
    if not (fv > 0 and np.isfinite(fv)):
        raise ValueError(f"{name} must be a positive finite number, got {fv}")
    return fv


def as_int(v, name: str, low: int, high: int | None = None) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    iv = int(v)
    if iv < low or (high is not None and iv > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rng}, got {iv}")
    return iv


def as_row_ids(ids, m: int, name: str = "ids") -> np.ndarray:
    """Integer row ids in [0, m) as C-contiguous int32 (the one conversion allowed: ids are small)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= m:
        bad = lo if lo < 0 else hi
        raise IndexError(f"{name} contains {bad}, out of range [0, {m})")
    return np.ascontiguousarray(arr, dtype=np.int32)
