"""reference_dot is the documented evaluation order, and it is exactly the index's decision boundary."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import BACKENDS, D_CHOICES, above, below, examples
from hsrnet import HalfSpaceIndex, reference_dot
from hypothesis import given
from hypothesis import strategies as st


def round_to_float32(value: Fraction) -> np.float32:
    """Correct rounding (to nearest, ties to even) of an exact rational to float32."""
    guess = np.float32(float(value))  # within one float32 ulp of the answer (double rounding)
    best = None
    for c in (below(guess), guess, above(guess)):
        err = abs(Fraction(float(c)) - value)
        if best is None or err < best[0] or (err == best[0] and int(np.float32(c).view(np.uint32)) % 2 == 0):
            best = (err, np.float32(c))
    return best[1]


def fma32(a, b, c) -> np.float32:
    return round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def documented_reference_dot(w: np.ndarray, x: np.ndarray) -> float:
    """dot_kernel.hpp's order: lane j accumulates terms i = j (mod 8) with one fused multiply-add each, from +0;
    the result is ((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)) in float32."""
    p = [np.float32(0.0)] * 8
    for i in range(w.shape[0]):
        p[i % 8] = fma32(w[i], x[i], p[i % 8])
    return float(((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])))


def test_fma_emulation_itself():
    # 1 + 2^-12 squared is 1 + 2^-11 + 2^-24: a fused multiply-add keeps the 2^-24 that a multiply drops.
    a = np.float32(1 + 2.0**-12)
    assert fma32(a, a, np.float32(-1.0)) == np.float32(2.0**-11 + 2.0**-24)
    assert np.float32(a * a) - np.float32(1.0) == np.float32(2.0**-11)
    assert round_to_float32(Fraction(1) + Fraction(1, 2**24)) == np.float32(1.0)  # tie: to even
    assert round_to_float32(Fraction(1) + Fraction(3, 2**24)) == np.float32(1 + 2.0**-22)  # tie: to even


@pytest.mark.parametrize("d", D_CHOICES)
def test_reference_dot_follows_the_documented_order(d):
    rng = np.random.default_rng(100 + d)
    differs_from_sequential = 0
    for trial in range(6 if d < 500 else 2):
        scale = 2.0 ** rng.integers(-10, 11, size=d)  # wide magnitudes: rounding differences show up
        w = (rng.standard_normal(d) * scale).astype(np.float32)
        x = rng.standard_normal(d).astype(np.float32)
        got = reference_dot(w, x)
        assert isinstance(got, float)
        assert got == documented_reference_dot(w, x), f"d={d} trial={trial}"
        assert reference_dot(x, w) == got  # fma(w, x, p) == fma(x, w, p)
        seq = np.float32(0)
        for i in range(d):
            seq = np.float32(seq + np.float32(w[i] * x[i]))
        differs_from_sequential += seq != np.float32(got)
    if d >= 16:  # the data is hard enough that another order really does give other values
        assert differs_from_sequential > 0


def check_boundary(W, x, rows, index):
    for r in rows:
        b = reference_dot(W[r], x)
        lo = below(b)
        for backend in BACKENDS:
            at = index.query(x, b, backend)
            assert r not in set(at.tolist()), f"row {r} reported at b = reference_dot = {b!r} ({backend})"
            under = index.query(x, lo, backend)
            assert r in set(under.tolist()), f"row {r} missing at b = nextafter({b!r}, -inf) ({backend})"
            off, idx = index.query_batch(np.stack([x, x]), lo, backend)
            assert r in set(idx[off[1] : off[2]].tolist()), f"row {r} missing from query_batch ({backend})"


@pytest.mark.parametrize("d", D_CHOICES)
def test_reference_dot_is_the_decision_boundary(d):
    rng = np.random.default_rng(200 + d)
    m = 300 if d < 200 else 60
    W = rng.standard_normal((m, d)).astype(np.float32)
    W[5] = 0.0
    x = rng.standard_normal(d).astype(np.float32)
    index = HalfSpaceIndex(W, leaf_size=8)
    check_boundary(W, x, [5] + list(rng.choice(m, size=15, replace=False)), index)


@examples(60)
@given(
    d=st.sampled_from(D_CHOICES),
    m=st.integers(1, 200),
    log_scale=st.integers(-30, 30),
    seed=st.integers(0, 2**32 - 1),
    leaf_size=st.sampled_from([8, 32]),
)
def test_decision_boundary_property(d, m, log_scale, seed, leaf_size):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((m, d)) * 2.0**log_scale).astype(np.float32)
    x = rng.standard_normal(d).astype(np.float32)
    index = HalfSpaceIndex(W, leaf_size=leaf_size)
    check_boundary(W, x, rng.choice(m, size=min(m, 4), replace=False), index)


def rounding_sensitive_cases(d, rng, count=12):
    """Rows whose reference value lies on the other side of a float32 threshold b than their exact dot.

    "up": reference_dot(w, x) > b >= exact dot (the kernel rounded up by at least one ulp): must be reported.
    "down": exact dot > b == reference_dot(w, x): must not be reported.
    A bound that ignores the kernel's rounding (a tree box bound, a GEMM value) gets these wrong."""
    W = rng.standard_normal((4000, d)) * 2.0 ** rng.integers(-12, 13, size=(4000, d))
    W = W.astype(np.float32)
    x = (rng.standard_normal(d) * 2.0 ** rng.integers(-4, 5, size=d)).astype(np.float32)
    up, down = [], []
    for r in range(W.shape[0]):
        ref = reference_dot(W[r], x)
        exact = math.fsum((W[r].astype(np.float64) * x.astype(np.float64)).tolist())  # products are exact
        if ref > exact and float(below(ref)) >= exact and len(up) < count:
            up.append((r, float(below(ref))))
        elif ref < exact and len(down) < count:
            down.append((r, ref))
    return W, x, up, down


@pytest.mark.parametrize("d", [2, 3, 4, 5, 8, 9, 16, 31, 64])
def test_rows_whose_reference_value_rounds_across_b(d):
    rng = np.random.default_rng(300 + d)
    W, x, up, down = rounding_sensitive_cases(d, rng)
    assert len(up) > 0 and len(down) > 0, "the generator found no rounding-sensitive rows"
    for r, b in up + down:
        must_report = (r, b) in up
        # A degenerate box (the same row 16 times) makes the tree's bound as tight as it gets.
        index = HalfSpaceIndex(np.repeat(W[r : r + 1], 16, axis=0), leaf_size=8)
        for backend in BACKENDS:
            got = index.query(x, b, backend)
            expected = np.arange(16) if must_report else np.array([], np.int32)
            assert np.array_equal(got, expected), (
                f"d={d} row={r} b={b!r} reference={reference_dot(W[r], x)!r} backend={backend}: got {got.tolist()}"
            )
