// The AVX2 kernels of the trainer's row passes: four rows against a whole batch (pre-activations), and one
// row's update from its firing entries (w += sum of coefficient * input, with a bound on how far it moved).
// Both keep reference_dot's and the dense reference's arithmetic bit for bit (explicit fma everywhere).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "hsrnet/config.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/kernels/multi_dot.hpp"

namespace hsrnet {

/// Four rows (padded, stride a multiple of 8) against every sample of the padded batch xb:
/// put(k, q, reference_dot(ws[k], x_q)) for k < 4, q < nb; three samples at a time (reference_dot_block43),
/// the one or two left over with four chains each.
template <class Put>
inline void rows4_against_batch(const float* const ws[4], const float* xb, std::size_t nb, int stride, int d,
                                Put&& put) {
  const std::size_t s = static_cast<std::size_t>(stride);
  std::size_t q = 0;
  for (; q + 3 <= nb; q += 3) {
    const float* xs[3] = {xb + q * s, xb + (q + 1) * s, xb + (q + 2) * s};
    float out[12];
    reference_dot_block43(ws, xs, stride, out);
    for (int k = 0; k < 4; ++k)
      for (int c = 0; c < 3; ++c) put(k, q + static_cast<std::size_t>(c), out[3 * k + c]);
  }
  for (; q < nb; ++q) {
    const float* x = xb + q * s;
    const float* xs[4] = {x, x, x, x};
    float out[4];
    reference_dot4(ws, xs, d, out);
    for (int k = 0; k < 4; ++k) put(k, q, out[k]);
  }
}

/// w += sum_e cs[e] xs[e] over `count` >= 1 entries. One entry: w = fma(c, x, w). Several: acc = c_0 x_0,
/// acc = fma(c_e, x_e, acc) in sample order, then w + acc. Explicit fma everywhere: the bits do not depend
/// on -ffp-contract. When `track`, returns an upper bound of ||update||: |c| ||x|| (xn: upper bounds of
/// the input norms) for one entry, else the norm of the computed acc (a float sum of squares, inflated by
/// its rounding bound); the caller adds the rounding of w + update.
inline double update_row(float* HSRNET_RESTRICT w, int d, int stride, const float* const* xs, const float* cs,
                         const float* xn, std::uint32_t count, bool track) {
  if (stride % 8 == 0) {  // padded rows: whole vectors (padding stays zero)
    if (count == 1) {
      const __m256 c = _mm256_set1_ps(cs[0]);
      const float* x = xs[0];
      for (int j = 0; j < stride; j += 8)
        _mm256_storeu_ps(w + j, _mm256_fmadd_ps(c, _mm256_loadu_ps(x + j), _mm256_loadu_ps(w + j)));
      return track ? std::fabs(static_cast<double>(cs[0])) * xn[0] * (1.0 + 1e-7) : 0.0;
    }
    __m256 sq = _mm256_setzero_ps();
    int j = 0;
    // Blocks of 32 columns stay in registers across the entries; the per-column order is unchanged.
    for (; j + 32 <= stride; j += 32) {
      __m256 c = _mm256_set1_ps(cs[0]);
      const float* x = xs[0] + j;
      __m256 a0 = _mm256_mul_ps(c, _mm256_loadu_ps(x)), a1 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 8));
      __m256 a2 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 16)), a3 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 24));
      for (std::uint32_t e = 1; e < count; ++e) {
        c = _mm256_set1_ps(cs[e]);
        x = xs[e] + j;
        a0 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x), a0);
        a1 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 8), a1);
        a2 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 16), a2);
        a3 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 24), a3);
      }
      _mm256_storeu_ps(w + j, _mm256_add_ps(_mm256_loadu_ps(w + j), a0));
      _mm256_storeu_ps(w + j + 8, _mm256_add_ps(_mm256_loadu_ps(w + j + 8), a1));
      _mm256_storeu_ps(w + j + 16, _mm256_add_ps(_mm256_loadu_ps(w + j + 16), a2));
      _mm256_storeu_ps(w + j + 24, _mm256_add_ps(_mm256_loadu_ps(w + j + 24), a3));
      if (track) {
        sq = _mm256_fmadd_ps(a0, a0, sq);
        sq = _mm256_fmadd_ps(a1, a1, sq);
        sq = _mm256_fmadd_ps(a2, a2, sq);
        sq = _mm256_fmadd_ps(a3, a3, sq);
      }
    }
    for (; j < stride; j += 8) {
      __m256 a0 = _mm256_mul_ps(_mm256_set1_ps(cs[0]), _mm256_loadu_ps(xs[0] + j));
      for (std::uint32_t e = 1; e < count; ++e)
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(cs[e]), _mm256_loadu_ps(xs[e] + j), a0);
      _mm256_storeu_ps(w + j, _mm256_add_ps(_mm256_loadu_ps(w + j), a0));
      if (track) sq = _mm256_fmadd_ps(a0, a0, sq);
    }
    if (!track) return 0.0;
    // Each lane summed at most stride/8 rounded terms: relative error below (stride/8 + 1) 2^-24; the
    // factor covers it, the double sum of the lanes and the sqrt.
    alignas(32) float t[8];
    _mm256_store_ps(t, sq);
    double s = 0.0;
    for (float v : t) s += v;
    return std::sqrt(s * (1.0 + (stride / 8.0 + 4.0) * 0x1.0p-23)) * (1.0 + 1e-7);
  }
  // d <= 4: scalar over the d coordinates; the move itself is measured (exactly, in double).
  double sq = 0.0;
  for (int j = 0; j < d; ++j) {
    const float old = w[j];
    float nw;
    if (count == 1) {
      nw = std::fma(cs[0], xs[0][j], old);
    } else {
      float a = cs[0] * xs[0][j];
      for (std::uint32_t e = 1; e < count; ++e) a = std::fma(cs[e], xs[e][j], a);
      nw = old + a;
    }
    w[j] = nw;
    if (track) {
      const double diff = static_cast<double>(nw) - static_cast<double>(old);
      sq += diff * diff;
    }
  }
  return track ? std::sqrt(sq) * (1.0 + 1e-9) : 0.0;
}

}  // namespace hsrnet
