"""ShiftedReLUNet: the paper's initialisation, given weights, firing sets and predict() against references.

f(x) = (1/sqrt m) sum_r a_r max(<w_r, x> - b, 0); neuron r fires on x iff reference_dot(w_r, x) > b.
References are computed from hidden_weights()/output_weights() only (the public API), in two ways:

* ``reference_outputs``: float64 numpy with the firing sets of ``brute_force`` (tolerance check);
* ``replica_outputs``: the documented arithmetic replayed exactly -- z = reference_dot (float32), z - b in
  float32, a sum in ascending id order in double (each float32 x float32 product is exact in double, so a
  plain double add is the library's fma), times 1/sqrt(m), rounded to float32 -- which must match bit for bit.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import hsrnet
import numpy as np
import pytest
from conftest import assert_same_ids, brute_force, check_ids, dyadic, exact_answer
from hsrnet import ShiftedReLUNet, default_threshold, reference_dot


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n points uniform on the unit sphere of R^d (float32, C-contiguous)."""
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X, dtype=np.float32)


def normal_tail(t: float) -> float:
    """P(N(0, 1) > t)."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


def float_threshold(b: float) -> float:
    """The largest float32 <= b: the float that z is compared against (z > it exactly when z > b)."""
    t = np.float32(b)
    if float(t) > b:
        t = np.nextafter(t, np.float32(-np.inf))
    return float(t)


def reference_outputs(W, A, b, X):
    """float64 outputs and, per output, the scale of its summands (for a relative tolerance)."""
    m = W.shape[0]
    W64, A64 = W.astype(np.float64), A.astype(np.float64)
    out = np.zeros((X.shape[0], A.shape[1]))
    scale = np.zeros_like(out)
    for q, x in enumerate(X):
        ids = brute_force(W, x, b)
        z = W64[ids] @ x.astype(np.float64)
        h = z - float(b)
        out[q] = (A64[ids] * h[:, None]).sum(axis=0) / math.sqrt(m)
        # |z| + |b| bounds what float32 rounding of z can disturb in each summand.
        mag = np.abs(W64[ids]) @ np.abs(x.astype(np.float64)) + abs(float(b))
        scale[q] = (np.abs(A64[ids]) * mag[:, None]).sum(axis=0) / math.sqrt(m)
    return out, scale


def replica_outputs(W, A, b, X):
    """The library's arithmetic, replayed exactly (float32 result)."""
    m, K = A.shape
    b32 = np.float32(b)
    inv_sqrt_m = 1.0 / math.sqrt(m)
    out = np.empty((X.shape[0], K), np.float32)
    for q, x in enumerate(X):
        acc = np.zeros(K)
        for r in brute_force(W, x, b):  # ascending ids
            h = np.float32(reference_dot(W[r], x)) - b32  # float32 subtraction
            assert h > 0
            acc = acc + A[r].astype(np.float64) * float(h)  # exact products, one rounding per add (= fma)
        out[q] = (acc * inv_sqrt_m).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------- construction


def test_paper_initialisation_statistics():
    m, d, K = 8192, 8, 3
    net = ShiftedReLUNet(d, m, K, seed=11)
    assert (net.d, net.m, net.n_outputs) == (d, m, K)
    W, A = net.hidden_weights(), net.output_weights()
    assert W.shape == (m, d) and W.dtype == np.float32
    assert A.shape == (m, K) and A.dtype == np.float32
    assert np.isfinite(W).all()
    # m d = 65536 draws of N(0, 1): standard error of the mean 0.004, of the variance 0.0055.
    w = W.astype(np.float64).ravel()
    assert abs(w.mean()) < 0.03
    assert abs(w.var() - 1.0) < 0.04
    assert abs(np.mean(np.abs(w) > 1.959964) - 0.05) < 0.006  # a Gaussian tail, not just any unit variance
    assert abs(np.mean(w**4) - 3.0) < 0.15  # Gaussian kurtosis (uniform: 1.8)
    # Entries independent across columns: the sample correlation of two columns is about 1/sqrt(m).
    assert abs(np.corrcoef(W[:, 0], W[:, 1])[0, 1]) < 0.05
    # Output layer: entries exactly +1 or -1, about half each (sd of the fraction 0.0032).
    assert set(np.unique(A).tolist()) == {-1.0, 1.0}
    assert abs(np.mean(A > 0) - 0.5) < 0.02


@pytest.mark.parametrize("m", [1, 2, 3, 256, 1000, 4096, 8192, 100003])
def test_default_threshold_is_sqrt_0_4_ln_m(m):
    expected = math.sqrt(0.4 * math.log(m))
    assert default_threshold(m) == pytest.approx(expected, rel=1e-15, abs=0.0)
    net = ShiftedReLUNet(2, m)
    assert net.threshold == float_threshold(expected)
    assert net.threshold <= expected < float(np.nextafter(np.float32(net.threshold), np.float32(np.inf)))


@pytest.mark.parametrize("b", [0.0, 0.5, -0.75, 1.25, 0.1, -0.3, 1e-30, 3.0, 1e6])
def test_given_threshold_is_honoured(b):
    net = ShiftedReLUNet(4, 64, threshold=b, seed=1)
    assert net.threshold == float_threshold(b)
    assert net.threshold <= b
    # ...and it is the threshold actually used: firing equals the brute-force set at b.
    W = net.hidden_weights()
    x = np.full(4, 0.5, np.float32)
    assert_same_ids(net.firing(x), brute_force(W, x, b), f"b={b}")


@pytest.mark.parametrize("b", [np.float32(0.75), np.float64(-0.5), 2, np.int64(-1)])
def test_threshold_accepts_numpy_and_integer_scalars(b):
    net = ShiftedReLUNet(3, 16, threshold=b)
    assert net.threshold == float_threshold(float(b))


def test_threshold_auto_equals_default():
    a = ShiftedReLUNet(3, 500, threshold="auto", seed=2)
    b = ShiftedReLUNet(3, 500, threshold=default_threshold(500), seed=2)
    assert a.threshold == b.threshold
    assert a.threshold != ShiftedReLUNet(3, 501, seed=2).threshold


def test_repr_and_memory():
    net = ShiftedReLUNet(5, 300, 2, seed=0)
    assert repr(net).startswith("ShiftedReLUNet(d=5, m=300, n_outputs=2, threshold=")
    # At least W and A themselves.
    assert net.memory_bytes >= 300 * 5 * 4 + 300 * 2 * 4


# ---------------------------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("d,m,K", [(3, 256, 1), (32, 3000, 4), (784, 300, 2)])
def test_same_seed_same_weights_bit_for_bit(d, m, K):
    a = ShiftedReLUNet(d, m, K, seed=123)
    b = ShiftedReLUNet(d, m, K, seed=123)
    np.testing.assert_array_equal(a.hidden_weights().view(np.uint32), b.hidden_weights().view(np.uint32))
    np.testing.assert_array_equal(a.output_weights().view(np.uint32), b.output_weights().view(np.uint32))


@pytest.mark.parametrize("seeds", [(0, 1), (1, 2), (7, 2**63), (2**64 - 1, 2**64 - 2)])
def test_different_seeds_give_different_weights(seeds):
    # d > 16: rows in draw order (at d <= 16 both networks number their rows in k-d tree order, so the same
    # position holds rows from the same region of space in both: correlated by design).
    d, m, K = 17, 2048, 2
    a, b = (ShiftedReLUNet(d, m, K, seed=s) for s in seeds)
    Wa, Wb = a.hidden_weights(), b.hidden_weights()
    # Not merely different somewhere: essentially independent draws, in every block of rows.
    assert np.mean(Wa == Wb) < 0.01
    for r0 in range(0, m, 1024):
        assert not np.array_equal(Wa[r0 : r0 + 1024], Wb[r0 : r0 + 1024])
    assert abs(np.corrcoef(Wa.ravel(), Wb.ravel())[0, 1]) < 0.05
    Aa, Ab = a.output_weights(), b.output_weights()
    assert 0.4 < np.mean(Aa == Ab) < 0.6


def test_rows_are_not_repeated_across_blocks():
    """Rows are drawn from one random stream per block of rows: blocks must not repeat one another."""
    W = ShiftedReLUNet(4, 4096, seed=5).hidden_weights()
    assert np.unique(W, axis=0).shape[0] == 4096
    assert np.unique(W.ravel()).size > 0.99 * W.size


def test_initialisation_does_not_depend_on_thread_count():
    """W is drawn per block of rows in parallel: OMP_NUM_THREADS=1 in a fresh process gives the same bits."""
    net = ShiftedReLUNet(16, 5000, 3, seed=99)
    code = (
        "import sys, numpy as np, hsrnet\n"
        "net = hsrnet.ShiftedReLUNet(16, 5000, 3, seed=99)\n"
        "sys.stdout.write(net.hidden_weights().tobytes().hex() + ' ' + net.output_weights().tobytes().hex())\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    w_hex, a_hex = out.stdout.split()
    assert bytes.fromhex(w_hex) == net.hidden_weights().tobytes()
    assert bytes.fromhex(a_hex) == net.output_weights().tobytes()


# ---------------------------------------------------------------------------------------------- given weights


@pytest.mark.parametrize("d,m,K", [(3, 17, 1), (9, 256, 4), (784, 40, 3)])
def test_given_weights_round_trip(d, m, K):
    rng = np.random.default_rng(3)
    W = (rng.standard_normal((m, d)) * 3).astype(np.float32)
    A = rng.standard_normal((m, K)).astype(np.float32)
    W[0, 0] = np.float32(1e-40)  # subnormal
    W[-1, -1] = np.float32(-3e38)
    W_copy, A_copy = W.copy(), A.copy()
    net = ShiftedReLUNet(d, m, K, W=W, A=A)
    Wg, Ag = net.hidden_weights(), net.output_weights()
    np.testing.assert_array_equal(Wg.view(np.uint32), W.view(np.uint32))
    np.testing.assert_array_equal(Ag.view(np.uint32), A.view(np.uint32))
    assert Wg.shape == (m, d) and Ag.shape == (m, K)
    # The network copied them: changing the caller's arrays, or the returned copies, changes nothing.
    W[:] = 0
    A[:] = 0
    Wg[:] = 7
    Ag[:] = 7
    np.testing.assert_array_equal(net.hidden_weights(), W_copy)
    np.testing.assert_array_equal(net.output_weights(), A_copy)


def test_given_W_without_A_draws_random_signs():
    m, d = 2000, 3
    W = np.ones((m, d), np.float32)
    a = ShiftedReLUNet(d, m, 2, W=W, seed=4).output_weights()
    b = ShiftedReLUNet(d, m, 2, W=W, seed=4).output_weights()
    c = ShiftedReLUNet(d, m, 2, W=W, seed=5).output_weights()
    assert set(np.unique(a).tolist()) == {-1.0, 1.0}
    assert abs(np.mean(a > 0) - 0.5) < 0.05
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------------------------------------- firing


@pytest.mark.parametrize("backend", hsrnet.BACKENDS)
@pytest.mark.parametrize("d", [1, 3, 32, 784])
def test_firing_equals_reference_dot_rule(d, backend):
    m = 300 if d == 784 else 1000
    net = ShiftedReLUNet(d, m, seed=d, index_backend=backend)
    W = net.hidden_weights()
    rng = np.random.default_rng(d)
    b = net.threshold
    for x in unit_rows(rng, 6, d):
        ids = net.firing(x)
        check_ids(ids, m)
        expected = np.array([r for r in range(m) if reference_dot(W[r], x) > b], dtype=np.int32)
        assert_same_ids(ids, expected, f"d={d} backend={backend}")
        assert_same_ids(ids, brute_force(W, x, b), f"d={d} backend={backend} (brute force)")


def test_firing_is_strict_at_the_threshold():
    """Dyadic data: many <w_r, x> equal b exactly, and those neurons do not fire."""
    rng = np.random.default_rng(8)
    m, d, b = 2000, 6, 0.5
    W = dyadic(rng, (m, d), max_abs=1.0)
    net = ShiftedReLUNet(d, m, 2, threshold=b, W=W)
    ties = 0
    for _ in range(10):
        x = dyadic(rng, d, max_abs=1.0)
        ties += int(np.sum(W.astype(np.float64) @ x.astype(np.float64) == b))
        assert_same_ids(net.firing(x), exact_answer(W, x, b), "dyadic")
        # The neurons at z == b contribute nothing: predict equals the exact dyadic sum over z > b.
        z = W.astype(np.float64) @ x.astype(np.float64)
        A = net.output_weights().astype(np.float64)
        expected = (A * np.maximum(z - b, 0.0)[:, None]).sum(axis=0) / math.sqrt(m)
        np.testing.assert_allclose(net.predict(x[None, :])[0], expected, rtol=1e-6, atol=1e-6)
    assert ties > 10, "the test needs inputs exactly at the threshold"


@pytest.mark.parametrize("d", [4, 16, 100])
def test_firing_fraction_at_initialisation(d):
    """On unit-sphere inputs <w_r, x> ~ N(0, 1), so a neuron fires with probability P(N(0,1) > b)."""
    m = 8192
    net = ShiftedReLUNet(d, m, seed=100 + d)
    b = net.threshold
    p = normal_tail(b)
    X = unit_rows(np.random.default_rng(d), 40, d)
    counts = np.array([net.firing(x).size for x in X])
    # Per input, Binomial(m, p): sd 15 around 237 for m = 8192. The mean over inputs is no noisier.
    sd = math.sqrt(m * p * (1 - p))
    assert abs(counts.mean() - m * p) < 5 * sd
    assert np.all(np.abs(counts - m * p) < 7 * sd)
    # The firing rule does depend on the threshold: b = 0 fires on half.
    half = ShiftedReLUNet(d, m, seed=100 + d, threshold=0.0)
    assert abs(np.mean([half.firing(x).size for x in X[:10]]) / m - 0.5) < 0.05


def test_firing_on_the_zero_input():
    """<w, 0> = 0: nothing fires when b >= 0, everything fires when b < 0."""
    x = np.zeros(7, np.float32)
    assert ShiftedReLUNet(7, 100, threshold=0.0).firing(x).size == 0
    assert ShiftedReLUNet(7, 100).firing(x).size == 0
    np.testing.assert_array_equal(ShiftedReLUNet(7, 100, threshold=-1e-30).firing(x), np.arange(100))


# ---------------------------------------------------------------------------------------------- predict


@pytest.mark.parametrize("d,m,K", [(3, 512, 1), (3, 512, 3), (32, 2048, 1), (32, 1024, 4), (784, 256, 2)])
def test_predict_matches_float64_reference(d, m, K):
    net = ShiftedReLUNet(d, m, K, seed=d + K)
    W, A = net.hidden_weights(), net.output_weights()
    X = unit_rows(np.random.default_rng(1), 30, d)
    X[0] *= 3.0  # not only unit inputs
    f = net.predict(X)
    assert f.shape == (30, K) and f.dtype == np.float32
    ref, scale = reference_outputs(W, A, net.threshold, X)
    assert np.abs(ref).max() > 0.01, "the test needs firing neurons"
    assert np.all(np.abs(f - ref) <= 1e-5 * np.maximum(scale, np.abs(ref)) + 1e-30)


@pytest.mark.parametrize("backend", hsrnet.BACKENDS)
@pytest.mark.parametrize("d,m,K", [(3, 512, 1), (9, 700, 3), (64, 1500, 2), (784, 200, 1)])
def test_predict_equals_the_documented_arithmetic_bit_for_bit(d, m, K, backend):
    net = ShiftedReLUNet(d, m, K, seed=3 * d, index_backend=backend)
    W, A = net.hidden_weights(), net.output_weights()
    X = unit_rows(np.random.default_rng(d), 12, d)
    f = net.predict(X)
    expected = replica_outputs(W, A, net.threshold, X)
    np.testing.assert_array_equal(f.view(np.uint32), expected.view(np.uint32))


def test_predict_given_weights_small_example_by_hand():
    # m = 4, b = 0.5: z = (1, 0.5, 2, -1) on x = e0 -> neurons 0 and 2 fire, h = (0.5, 1.5).
    W = np.array([[1, 0], [0.5, 3], [2, 2], [-1, 0]], np.float32)
    A = np.array([[1, 10], [100, 1000], [-1, 2], [5, 5]], np.float32)
    net = ShiftedReLUNet(2, 4, 2, threshold=0.5, W=W, A=A)
    x = np.array([[1, 0]], np.float32)
    np.testing.assert_array_equal(net.firing(x[0]), [0, 2])
    expected = np.array([[0.5 * 1 + 1.5 * -1, 0.5 * 10 + 1.5 * 2]]) / 2.0
    np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=0)


def test_predict_batch_equals_row_by_row():
    net = ShiftedReLUNet(16, 3000, 3, seed=6)
    X = unit_rows(np.random.default_rng(2), 1200, 16)  # more than one internal chunk of 512
    f = net.predict(X)
    for q in (0, 1, 511, 512, 513, 1199):
        np.testing.assert_array_equal(f[q], net.predict(X[q : q + 1])[0])


def test_predict_and_firing_do_not_depend_on_threads():
    net1 = ShiftedReLUNet(32, 8192, 2, seed=8, n_threads=1)
    net2 = ShiftedReLUNet(32, 8192, 2, seed=8, n_threads=2)
    assert net1.n_threads == 1 and net2.n_threads == 2
    X = unit_rows(np.random.default_rng(9), 600, 32)
    np.testing.assert_array_equal(net1.predict(X).view(np.uint32), net2.predict(X).view(np.uint32))
    np.testing.assert_array_equal(net1.firing(X[3]), net2.firing(X[3]))
    net2.n_threads = None
    assert net2.n_threads is None
    np.testing.assert_array_equal(net1.predict(X[:50]), net2.predict(X[:50]))


def test_predict_does_not_modify_inputs_or_weights():
    net = ShiftedReLUNet(8, 500, 2, seed=1)
    W, A = net.hidden_weights(), net.output_weights()
    X = unit_rows(np.random.default_rng(0), 20, 8)
    X0 = X.copy()
    first = net.predict(X)
    net.firing(X[0])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(net.hidden_weights(), W)
    np.testing.assert_array_equal(net.output_weights(), A)
    np.testing.assert_array_equal(net.predict(X), first)


# ---------------------------------------------------------------------------------------------- bad input

D, M, K = 4, 32, 3


def good_W():
    return np.random.default_rng(0).standard_normal((M, D)).astype(np.float32)


def good_A():
    return np.ones((M, K), np.float32)


def with_value(a, pos, value):
    a = a.copy()
    a[pos] = value
    return a


BAD_CONSTRUCTOR = [
    (dict(d=0), ValueError, r"\bd must be in \[1, "),
    (dict(d=-3), ValueError, r"\bd must be in"),
    (dict(d=2.0), TypeError, r"\bd must be an integer, got float"),
    (dict(d="4"), TypeError, r"\bd must be an integer, got str"),
    (dict(m=0), ValueError, r"\bm must be in \[1, "),
    (dict(m=None), TypeError, r"\bm must be an integer, got NoneType"),
    (dict(m=True), TypeError, r"\bm must be an integer, got bool"),
    (dict(n_outputs=0), ValueError, r"n_outputs must be in \[1, "),
    (dict(n_outputs=1.0), TypeError, r"n_outputs must be an integer"),
    (dict(seed=-1), ValueError, r"seed must be in \[0, 18446744073709551615\], got -1"),
    (dict(seed=2**64), ValueError, r"seed must be in \[0, 18446744073709551615\]"),
    (dict(seed=0.5), TypeError, r"seed must be an integer, got float"),
    (dict(threshold=float("nan")), ValueError, r"threshold must be finite, got nan"),
    (dict(threshold=float("inf")), ValueError, r"threshold must be finite, got inf"),
    (dict(threshold=-float("inf")), ValueError, r"threshold must be finite, got -inf"),
    (dict(threshold=np.float32(np.nan)), ValueError, r"threshold must be finite"),
    (dict(threshold=10**400), ValueError, r"threshold = 1+0* is too large"),
    (dict(threshold="bogus"), TypeError, r"threshold must be a real number, got str"),
    (dict(threshold="Auto"), TypeError, r"threshold must be a real number, got str"),
    (dict(threshold=None), TypeError, r"threshold must be a real number, got NoneType"),
    (dict(threshold=True), TypeError, r"threshold must be a real number, got bool"),
    (dict(threshold=np.array([0.5])), TypeError, r"threshold must be a real number, got ndarray"),
    (
        dict(index_backend="fast"),
        ValueError,
        r"index_backend must be one of \('auto', 'scan', 'gemm', 'tree'\), got 'fast'",
    ),
    (dict(index_backend=None), ValueError, r"index_backend must be one of .*got None"),
    (dict(index_backend="dense"), ValueError, r"index_backend must be one of .*got 'dense'"),
    (dict(leaf_size=4), ValueError, r"leaf_size must be in \[8, 4096\], got 4"),
    (dict(n_threads=0), ValueError, r"n_threads must be in \[1, 4096\], got 0"),
    (dict(n_threads=-2), ValueError, r"n_threads must be in \[1, 4096\], got -2"),
    (dict(n_threads="2"), TypeError, r"n_threads must be an integer, got str"),
    # W and A
    (dict(W=good_W()[:, : D - 1]), ValueError, r"W must be C-contiguous"),
    (
        dict(W=np.ascontiguousarray(good_W()[:, : D - 1])),
        ValueError,
        rf"W must have shape \({M}, {D}\), got \({M}, {D - 1}\)",
    ),
    (dict(W=good_W()[: M - 1]), ValueError, rf"W must have shape \({M}, {D}\), got \({M - 1}, {D}\)"),
    (dict(W=good_W().T.copy()), ValueError, rf"W must have shape \({M}, {D}\), got \({D}, {M}\)"),
    (dict(W=good_W().ravel()), ValueError, r"W must be 2-dimensional"),
    (dict(W=good_W().astype(np.float64)), TypeError, r"W must have dtype float32, got float64"),
    (dict(W=good_W().astype(np.int32)), TypeError, r"W must have dtype float32, got int32"),
    (dict(W=good_W().tolist()), TypeError, r"W must be a numpy.ndarray"),
    (dict(W=np.asfortranarray(good_W())), ValueError, r"W must be C-contiguous"),
    (dict(W=with_value(good_W(), (3, 1), np.nan)), ValueError, r"W contains NaN or infinity"),
    (dict(W=with_value(good_W(), (0, 0), -np.inf)), ValueError, r"W contains NaN or infinity"),
    (dict(W=np.ones((0, D), np.float32)), ValueError, r"W is empty"),
    (
        dict(W=good_W(), A=np.ones((M, K + 1), np.float32)),
        ValueError,
        rf"A must have shape \({M}, {K}\), got \({M}, {K + 1}\)",
    ),
    (dict(W=good_W(), A=np.ones((M + 1, K), np.float32)), ValueError, rf"A must have shape \({M}, {K}\)"),
    (dict(W=good_W(), A=np.ones(M * K, np.float32)), ValueError, r"A must be 2-dimensional"),
    (dict(W=good_W(), A=np.ones((M, K))), TypeError, r"A must have dtype float32, got float64"),
    (dict(W=good_W(), A=np.ones((M, 2 * K), np.float32)[:, ::2]), ValueError, r"A must be C-contiguous"),
    (dict(W=good_W(), A=with_value(good_A(), (5, 2), np.nan)), ValueError, r"A contains NaN or infinity"),
    (dict(W=good_W(), A=with_value(good_A(), (0, 0), np.inf)), ValueError, r"A contains NaN or infinity"),
    (dict(A=good_A()), ValueError, r"A given without W"),
]


@pytest.mark.parametrize(
    "kwargs,exc,message", BAD_CONSTRUCTOR, ids=[f"{i}-{'-'.join(k)}" for i, (k, _, _) in enumerate(BAD_CONSTRUCTOR)]
)
def test_bad_constructor_arguments(kwargs, exc, message):
    args = dict(d=D, m=M, n_outputs=K)
    args.update(kwargs)
    d, m, n_outputs = args.pop("d"), args.pop("m"), args.pop("n_outputs")
    with pytest.raises(exc, match=message):
        ShiftedReLUNet(d, m, n_outputs, **args)


def test_valid_constructor_edges():
    for kwargs in (
        dict(threshold=0),
        dict(threshold=-5.5),
        dict(seed=2**64 - 1),
        dict(seed=np.uint64(2**64 - 1)),
        dict(leaf_size=8),
        dict(n_threads=1),
        dict(index_backend="tree"),
        dict(W=good_W()),
        dict(W=good_W(), A=good_A()),
    ):
        net = ShiftedReLUNet(D, M, K, **kwargs)
        assert net.predict(np.ones((2, D), np.float32)).shape == (2, K)
    assert ShiftedReLUNet(1, 1).predict(np.ones((1, 1), np.float32)).shape == (1, 1)


@pytest.fixture
def net():
    return ShiftedReLUNet(D, M, K, seed=0)


BAD_X = [
    (np.ones((3, D)), TypeError, r"X must have dtype float32, got float64"),
    (np.ones((3, D), np.int64), TypeError, r"X must have dtype float32, got int64"),
    (np.ones((3, D), np.float16), TypeError, r"X must have dtype float32, got float16"),
    (np.ones((3, D + 1), np.float32), ValueError, rf"X has {D + 1} columns, the network has d = {D}"),
    (np.ones((3, D - 1), np.float32), ValueError, rf"X has {D - 1} columns, the network has d = {D}"),
    (np.ones(D, np.float32), ValueError, r"X must be 2-dimensional"),
    (np.ones((1, 3, D), np.float32), ValueError, r"X must be 2-dimensional"),
    (np.ones((0, D), np.float32), ValueError, r"X is empty"),
    (np.ones((3, 2 * D), np.float32)[:, ::2], ValueError, r"X must be C-contiguous"),
    (np.ones((D, 3), np.float32).T, ValueError, r"X must be C-contiguous"),
    (with_value(np.ones((3, D), np.float32), (1, 2), np.nan), ValueError, r"X contains NaN or infinity"),
    (with_value(np.ones((3, D), np.float32), (2, 0), -np.inf), ValueError, r"X contains NaN or infinity"),
    ([[1.0] * D], TypeError, r"X must be a numpy.ndarray"),
    (None, TypeError, r"X must be a numpy.ndarray"),
]


@pytest.mark.parametrize("X,exc,message", BAD_X, ids=[str(i) for i in range(len(BAD_X))])
def test_bad_predict_input(net, X, exc, message):
    with pytest.raises(exc, match=message):
        net.predict(X)


BAD_x = [
    (np.ones(D), TypeError, r"x must have dtype float32, got float64"),
    (np.ones(D, np.int32), TypeError, r"x must have dtype float32, got int32"),
    (np.ones(D + 1, np.float32), ValueError, rf"x has length {D + 1}, the network has d = {D}"),
    (np.ones((1, D), np.float32), ValueError, r"x must be 1-dimensional"),
    (np.ones(0, np.float32), ValueError, r"x is empty"),
    (np.ones(2 * D, np.float32)[::2], ValueError, r"x must be C-contiguous"),
    (with_value(np.ones(D, np.float32), 1, np.nan), ValueError, r"x contains NaN or infinity"),
    (with_value(np.ones(D, np.float32), 0, np.inf), ValueError, r"x contains NaN or infinity"),
]


@pytest.mark.parametrize("x,exc,message", BAD_x, ids=[str(i) for i in range(len(BAD_x))])
def test_bad_firing_input(net, x, exc, message):
    with pytest.raises(exc, match=message):
        net.firing(x)


def test_n_threads_setter_validates(net):
    net.n_threads = 2
    assert net.n_threads == 2
    with pytest.raises(ValueError, match=r"n_threads must be in \[1, 4096\], got 0"):
        net.n_threads = 0
    with pytest.raises(TypeError, match=r"n_threads must be an integer, got float"):
        net.n_threads = 1.0
    assert net.n_threads == 2
