// The reference fp32 inner product and the row layout every backend shares.
//
// Exactness contract: a row r is reported for query x and threshold b iff reference_dot(w_r, x) > b.
// reference_dot fixes the floating-point evaluation order completely, so any backend that evaluates the
// same order (scan, tree leaves) agrees bit for bit, and any backend that evaluates another order (GEMM,
// box bounds) stays outside a proven rounding margin or falls back to reference_dot.
//
// The order: lane j (0..7) accumulates the terms i = j (mod 8), i ascending, starting from +0, with one
// fused multiply-add per term: p_j = fma(w_i, x_i, p_j). The result is ((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)).
// Lanes without terms stay +0, so zero padding never changes a result (up to the sign of a zero, which no
// comparison "> b" can see). Only FMAs and adds are used: no plain multiply exists for the compiler to
// contract, so the order holds with or without -ffp-contract.
#pragma once

#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <limits>

#include "hsrnet/config.hpp"

namespace hsrnet {

/// Floats between consecutive rows in index storage: d <= 4 stays unpadded (eight rows are then 1, 2, 3 or 4
/// whole vectors; d = 3 is the paper's regime, where padding to 4 would cost a third more memory), 5..8 round
/// to 8, and larger d to a multiple of 8 so every row starts on a 32-byte boundary.
inline int padded_stride(int d) {
  if (d <= 4) return d;
  return (d + 7) / 8 * 8;
}

namespace detail {

/// Mask for _mm256_maskload_ps selecting the first n (0..8) lanes.
HSRNET_ALWAYS_INLINE __m256i first_lanes_mask(int n) {
  alignas(32) static const std::int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - n));
}

/// ((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)) of one accumulator.
HSRNET_ALWAYS_INLINE float reduce_lanes(__m256 acc) {
  const __m256 h1 = _mm256_hadd_ps(acc, acc);  // [p01 p23 p01 p23 | p45 p67 p45 p67]
  const __m256 h2 = _mm256_hadd_ps(h1, h1);    // [p0123 ...       | p4567 ...]
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1)));
}

/// The same reduction for eight accumulators at once; lane k of the result belongs to a[k].
HSRNET_ALWAYS_INLINE __m256 reduce_lanes8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                                          __m256 a7) {
  const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
  const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // [a0:p0123 a1 a2 a3 | a0:p4567 a1 a2 a3]
  const __m256 u1 = _mm256_hadd_ps(t2, t3);  // [a4:p0123 a5 a6 a7 | a4:p4567 a5 a6 a7]
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

}  // namespace detail

/// The library's reference fp32 inner product of two d-vectors (no padding needed, reads exactly d floats).
inline float reference_dot(const float* w, const float* x, int d) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 acc = zero;
  int i = 0;
  for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
  if (i < d) {
    const __m256i mask = detail::first_lanes_mask(d - i);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(w + i, mask), _mm256_maskload_ps(x + i, mask), acc);
  }
  return detail::reduce_lanes(acc);
}

/// Eight consecutive rows of index storage (stride = padded_stride(d), zero padded) against a query padded
/// to the same stride (exactly `stride` floats of x are read). out[k] == reference_dot(row k, x) bit for bit
/// (up to the sign of zero).
inline void reference_dot_rows8(const float* HSRNET_RESTRICT rows, int stride, const float* HSRNET_RESTRICT x,
                                float* HSRNET_RESTRICT out) {
  const __m256 zero = _mm256_setzero_ps();
  if (stride == 1) {
    _mm256_storeu_ps(out, _mm256_fmadd_ps(_mm256_loadu_ps(rows), _mm256_set1_ps(x[0]), zero));
  } else if (stride == 2) {
    const __m256 xp = _mm256_setr_ps(x[0], x[1], x[0], x[1], x[0], x[1], x[0], x[1]);
    const __m256 p0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows), xp, zero);      // rows 0..3
    const __m256 p1 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 8), xp, zero);  // rows 4..7
    const __m256 h = _mm256_hadd_ps(p0, p1);                                 // rows 0 1 4 5 2 3 6 7
    _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(h, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)));
  } else if (stride == 3) {
    // 24 floats = three vectors a, b, c. The lanes holding coordinate j are disjoint across them, so two
    // blends gather coordinate j of all eight rows and one permutation puts it in row order. Shuffling rows
    // before multiplying (not products after, with rotated copies of x) leaves the query side, paid per call,
    // at three broadcast loads.
    const __m256 a = _mm256_loadu_ps(rows), b = _mm256_loadu_ps(rows + 8), c = _mm256_loadu_ps(rows + 16);
    const __m256 t0 = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x92), c, 0x24);  // x0 terms of rows 0 3 6 1 4 7 2 5
    const __m256 t1 = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x24), c, 0x49);  // x1 terms of rows 5 0 3 6 1 4 7 2
    const __m256 t2 = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x49), c, 0x92);  // x2 terms of rows 2 5 0 3 6 1 4 7
    const __m256 w0 = _mm256_permutevar8x32_ps(t0, _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    const __m256 w1 = _mm256_permutevar8x32_ps(t1, _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
    const __m256 w2 = _mm256_permutevar8x32_ps(t2, _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
    // p_j = fma(w_j, x_j, +0) as in the reference; its lanes 3..7 are +0, so ((p0+p1)+(p2+0))+0 is
    // (p0+p1)+p2 up to the sign of zero.
    const __m256 p0 = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(x), zero);
    const __m256 p1 = _mm256_fmadd_ps(w1, _mm256_broadcast_ss(x + 1), zero);
    const __m256 p2 = _mm256_fmadd_ps(w2, _mm256_broadcast_ss(x + 2), zero);
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(p0, p1), p2));
  } else if (stride == 4) {
    const __m256 xp = _mm256_setr_ps(x[0], x[1], x[2], x[3], x[0], x[1], x[2], x[3]);
    const __m256 p0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows), xp, zero);  // rows 0,1
    const __m256 p1 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 8), xp, zero);
    const __m256 p2 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 16), xp, zero);
    const __m256 p3 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 24), xp, zero);
    // Lanes 4..7 of the reference are +0 here, so (p01+p23) + 0 is the reference result.
    const __m256 g = _mm256_hadd_ps(_mm256_hadd_ps(p0, p1), _mm256_hadd_ps(p2, p3));  // rows 0 2 4 6 1 3 5 7
    _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(g, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  } else {
    __m256 a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
    const std::size_t s = static_cast<std::size_t>(stride);
    for (std::size_t i = 0; i < s; i += 8) {
      const __m256 xv = _mm256_loadu_ps(x + i);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 0 * s + i), xv, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 1 * s + i), xv, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 2 * s + i), xv, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 3 * s + i), xv, a3);
      a4 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 4 * s + i), xv, a4);
      a5 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 5 * s + i), xv, a5);
      a6 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 6 * s + i), xv, a6);
      a7 = _mm256_fmadd_ps(_mm256_loadu_ps(rows + 7 * s + i), xv, a7);
    }
    _mm256_storeu_ps(out, detail::reduce_lanes8(a0, a1, a2, a3, a4, a5, a6, a7));
  }
}

/// The float t with (v > t  <=>  v > b) for every float v: the largest float <= b. Lets a double threshold
/// (b = sqrt(0.4 ln m), or 0.1) be compared exactly against fp32 dot products.
inline float float_threshold(double b) {
  float t = static_cast<float>(b);
  if (static_cast<double>(t) > b) t = std::nextafter(t, -std::numeric_limits<float>::infinity());
  return t;
}

/// Rounding-error constant for an inner product of d terms, any evaluation order:
/// |computed - exact| <= dot_error_coefficient(d) * sum_i |w_i x_i| + dot_error_floor(d)
/// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1: gamma_n = n u / (1 - n u), u = 2^-24).
/// One extra term and a relative safety factor cover padding lanes and the rounding of the bound itself.
inline double dot_error_coefficient(int d) {
  const double u = std::ldexp(1.0, -24);
  const double n = static_cast<double>(d) + 1.0;
  return n * u / (1.0 - n * u) * (1.0 + 1e-6);
}
/// While |w| |x| (hence sum_i |w_i x_i|) stays below this, no fp32 partial sum of any evaluation order can
/// overflow and the bounds above hold. Beyond it (values near FLT_MAX) backends must ask reference_dot.
constexpr double kNoOverflowBound = 1e38;

/// Absolute slack for underflow: each product may lose up to one subnormal spacing.
inline double dot_error_floor(int d) { return (static_cast<double>(d) + 1.0) * static_cast<double>(FLT_MIN); }

}  // namespace hsrnet
