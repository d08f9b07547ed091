// reference_dot for four independent pairs at once, bit for bit the same as four reference_dot calls.
//
// reference_dot is one chain of dependent FMAs (its evaluation order is the exactness contract), so a
// single call runs at the FMA latency, a quarter of the machine's throughput. Four chains interleaved keep
// every order intact and fill the pipeline: one row against four samples (a neuron over its batch entries)
// or four rows against one sample (a cached candidate list).
#pragma once

#include <immintrin.h>

#include "hsrnet/config.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

/// out[k] = reference_dot(a[k], b[k], d) for k < 4 (bit-identical, up to the sign of zero).
HSRNET_ALWAYS_INLINE void reference_dot4(const float* const a[4], const float* const b[4], int d, float out[4]) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 s0 = zero, s1 = zero, s2 = zero, s3 = zero;
  const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + i), _mm256_loadu_ps(b0 + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + i), _mm256_loadu_ps(b1 + i), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + i), _mm256_loadu_ps(b2 + i), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + i), _mm256_loadu_ps(b3 + i), s3);
  }
  if (i < d) {
    const __m256i mask = detail::first_lanes_mask(d - i);
    s0 = _mm256_fmadd_ps(_mm256_maskload_ps(a0 + i, mask), _mm256_maskload_ps(b0 + i, mask), s0);
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a1 + i, mask), _mm256_maskload_ps(b1 + i, mask), s1);
    s2 = _mm256_fmadd_ps(_mm256_maskload_ps(a2 + i, mask), _mm256_maskload_ps(b2 + i, mask), s2);
    s3 = _mm256_fmadd_ps(_mm256_maskload_ps(a3 + i, mask), _mm256_maskload_ps(b3 + i, mask), s3);
  }
  out[0] = detail::reduce_lanes(s0);
  out[1] = detail::reduce_lanes(s1);
  out[2] = detail::reduce_lanes(s2);
  out[3] = detail::reduce_lanes(s3);
}

/// One row against N = 4 or 8 vectors, all zero padded to `stride` floats (a multiple of 8: index rows and
/// the trainer's padded batch): out[k] == reference_dot(w, x[k], d) bit for bit (up to the sign of zero;
/// padding lanes add fma(0, 0, p) = p). Each 8-float block of w is loaded once for the N chains, and no
/// masked loads are needed: a neuron's pre-activations over the samples of a batch it is a candidate for.
template <int N>
HSRNET_ALWAYS_INLINE void reference_dot_row(const float* HSRNET_RESTRICT w, const float* const x[N], int stride,
                                            float* HSRNET_RESTRICT out) {
  static_assert(N == 4 || N == 8, "four or eight chains");
  __m256 acc[N];
  for (int k = 0; k < N; ++k) acc[k] = _mm256_setzero_ps();
  for (int i = 0; i < stride; i += 8) {
    const __m256 wv = _mm256_loadu_ps(w + i);
    for (int k = 0; k < N; ++k) acc[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[k] + i), acc[k]);
  }
  if constexpr (N == 8) {
    _mm256_storeu_ps(out, detail::reduce_lanes8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]));
  } else {
    for (int k = 0; k < N; ++k) out[k] = detail::reduce_lanes(acc[k]);
  }
}

/// Four rows against three vectors, all zero padded to `stride` floats (a multiple of 8):
/// out[3 * r + s] == reference_dot(w[r], x[s], d) bit for bit (up to the sign of zero). Twelve chains share
/// seven loads per step (one row against eight vectors needs nine loads for eight chains), so a block of rows
/// that are candidates for every sample of a batch runs at the FMA units' pace, about twice
/// reference_dot_row<8>'s. 16 vector registers: 12 accumulators, 3 inputs, 1 row.
HSRNET_ALWAYS_INLINE void reference_dot_block43(const float* const w[4], const float* const x[3], int stride,
                                                float* HSRNET_RESTRICT out) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 a00 = zero, a01 = zero, a02 = zero, a10 = zero, a11 = zero, a12 = zero;
  __m256 a20 = zero, a21 = zero, a22 = zero, a30 = zero, a31 = zero, a32 = zero;
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *x0 = x[0], *x1 = x[1], *x2 = x[2];
  for (int i = 0; i < stride; i += 8) {
    const __m256 v0 = _mm256_loadu_ps(x0 + i), v1 = _mm256_loadu_ps(x1 + i), v2 = _mm256_loadu_ps(x2 + i);
    __m256 r = _mm256_loadu_ps(w0 + i);
    a00 = _mm256_fmadd_ps(r, v0, a00), a01 = _mm256_fmadd_ps(r, v1, a01), a02 = _mm256_fmadd_ps(r, v2, a02);
    r = _mm256_loadu_ps(w1 + i);
    a10 = _mm256_fmadd_ps(r, v0, a10), a11 = _mm256_fmadd_ps(r, v1, a11), a12 = _mm256_fmadd_ps(r, v2, a12);
    r = _mm256_loadu_ps(w2 + i);
    a20 = _mm256_fmadd_ps(r, v0, a20), a21 = _mm256_fmadd_ps(r, v1, a21), a22 = _mm256_fmadd_ps(r, v2, a22);
    r = _mm256_loadu_ps(w3 + i);
    a30 = _mm256_fmadd_ps(r, v0, a30), a31 = _mm256_fmadd_ps(r, v1, a31), a32 = _mm256_fmadd_ps(r, v2, a32);
  }
  // Lanes of the 8-wide reduction: 0..2 row 0, 3..5 row 1, 6..7 row 2 (two of three); the rest one at a time.
  alignas(32) float r8[8];
  _mm256_store_ps(r8, detail::reduce_lanes8(a00, a01, a02, a10, a11, a12, a20, a21));
  for (int k = 0; k < 8; ++k) out[k] = r8[k];
  out[8] = detail::reduce_lanes(a22);
  out[9] = detail::reduce_lanes(a30);
  out[10] = detail::reduce_lanes(a31);
  out[11] = detail::reduce_lanes(a32);
}

/// reference_dot of four rows of d <= 4 floats (w0..w3, each read with one 128-bit load) against one x
/// (lanes from d on zero); `keep` has all bits set in lanes [0, d). Lane k of the result is
/// reference_dot(row k, x, d), bit for bit up to the sign of zero: lanes from d on are cleared before
/// multiplying (they may hold another row's floats), and ((p0 + p1) + (p2 + p3)) is the reference's first
/// half, its second half being +0.
HSRNET_ALWAYS_INLINE __m128 reference_dot4_short(__m128 w0, __m128 w1, __m128 w2, __m128 w3, __m128 x, __m128 keep) {
  const __m128 zero = _mm_setzero_ps();
  const __m128 p0 = _mm_fmadd_ps(_mm_and_ps(w0, keep), x, zero), p1 = _mm_fmadd_ps(_mm_and_ps(w1, keep), x, zero);
  const __m128 p2 = _mm_fmadd_ps(_mm_and_ps(w2, keep), x, zero), p3 = _mm_fmadd_ps(_mm_and_ps(w3, keep), x, zero);
  return _mm_hadd_ps(_mm_hadd_ps(p0, p1), _mm_hadd_ps(p2, p3));
}

/// out[k] = reference_dot(a[k], b[k], d) for k < n, four at a time.
inline void reference_dots(const float* const* a, const float* const* b, std::size_t n, int d, float* out) {
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4) reference_dot4(a + k, b + k, d, out + k);
  for (; k < n; ++k) out[k] = reference_dot(a[k], b[k], d);
}

}  // namespace hsrnet
