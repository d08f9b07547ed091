// Fused screen-and-threshold: a batch of queries against a range of rows, the products computed in
// registers and compared against the threshold there; only firing pairs and rounding-band pairs leave the
// registers (the n x m product is never written to memory).
//
// Layout: queries are packed transposed per block of up to 16 * V samples (k-major, sample lanes), rows are
// read in place from the store. A micro-tile is R rows x V vectors of samples: per coordinate k, V vector
// loads of the packed queries, R broadcasts of w_r[k] and R * V FMAs into accumulators that never leave the
// registers until the compare. Each accumulator sums its pair in ascending k, one FMA per term: an fp32
// evaluation order other than reference_dot's, so the value v decides alone only outside the rounding band
// (dot_kernel.hpp: both orders lie within dot_error_coefficient(d) |w| |x| + dot_error_floor(d) of the exact
// value). Per sample and chunk of rows, two float cuts built from the largest row norm of the chunk:
//   v > high  (high >= b + margin, rounded up):    fires, emitted with v;
//   v <= low  (low <= b - margin, rounded down):   does not fire;
//   otherwise (and NaN):                           the pair's own margin, then reference_dot in its band.
// The answer is exactly the reference set, whatever the ISA.
//
// Kernels: AVX2 (the baseline every hsrnet build assumes) and AVX-512F, compiled with a target attribute
// and chosen at run time (cpu_features.hpp). HSRNET_ISA=avx2 in the environment forces the baseline;
// set_screen_kernel() overrides both (tests run every kernel and compare; benchmarks A/B them).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "hsrnet/config.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/aligned_buffer.hpp"
#include "hsrnet/kernels/cpu_features.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

/// How batched identification computes its screening products: Eigen's GEMM with a thresholding pass over
/// the stored tile (the former path, kept for comparison), or the fused kernels.
enum class ScreenKernel { Auto = -1, Eigen = 0, Avx2 = 1, Avx512 = 2 };

inline const char* screen_kernel_name(ScreenKernel k) {
  switch (k) {
    case ScreenKernel::Auto: return "auto";
    case ScreenKernel::Eigen: return "eigen";
    case ScreenKernel::Avx2: return "avx2";
    case ScreenKernel::Avx512: return "avx512";
  }
  return "?";
}

namespace detail {

inline std::atomic<int>& screen_kernel_override() {
  static std::atomic<int> k{static_cast<int>(ScreenKernel::Auto)};
  return k;
}

/// The best kernel this CPU runs, unless the environment asks for the baseline (HSRNET_ISA=avx2).
inline ScreenKernel detected_screen_kernel() {
  static const ScreenKernel k = [] {
    const char* env = std::getenv("HSRNET_ISA");
    if (env && std::strcmp(env, "avx2") == 0) return ScreenKernel::Avx2;
    return cpu_supports_avx512f() ? ScreenKernel::Avx512 : ScreenKernel::Avx2;
  }();
  return k;
}

}  // namespace detail

/// True when this CPU can run kernel k.
inline bool screen_kernel_available(ScreenKernel k) { return k != ScreenKernel::Avx512 || cpu_supports_avx512f(); }

/// Forces kernel k for every later call in this process (Auto: back to the detected one). A kernel the CPU
/// lacks falls back to AVX2. Every kernel gives the same answers; this exists for tests and benchmarks.
inline void set_screen_kernel(ScreenKernel k) { detail::screen_kernel_override().store(static_cast<int>(k)); }

/// The kernel batched identification uses now.
inline ScreenKernel active_screen_kernel() {
  const auto k = static_cast<ScreenKernel>(detail::screen_kernel_override().load(std::memory_order_relaxed));
  if (k == ScreenKernel::Auto) return detail::detected_screen_kernel();
  if (!screen_kernel_available(k)) return ScreenKernel::Avx2;
  return k;
}

namespace detail {

/// Results of one micro-tile: vals[i * 64 + j] = value of (row i, sample lane j); fire / maybe: bit j of
/// row i (lanes beyond the block's samples are never set by the caller's use: it masks them).
struct FusedTileOut {
  alignas(64) float vals[24 * 64];
  std::uint64_t fire[24];
  std::uint64_t maybe[24];
};

// ---------------------------------------------------------------- AVX2: 8 lanes per vector
template <int R, int V>
HSRNET_ALWAYS_INLINE void fused_tile_avx2_impl(const float* HSRNET_RESTRICT rows, int stride,
                                               const float* HSRNET_RESTRICT xt, const float* low, const float* high,
                                               FusedTileOut& out) {
  constexpr int L = 8 * V;
  __m256 acc[R][V];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int k = 0; k < stride; ++k) {
    __m256 xv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xv[v] = _mm256_load_ps(xt + k * L + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m256 w = _mm256_broadcast_ss(rows + static_cast<std::size_t>(i) * stride + k);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(w, xv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    std::uint64_t f = 0, mb = 0;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      _mm256_store_ps(out.vals + i * 64 + 8 * v, acc[i][v]);
      const __m256 hv = _mm256_load_ps(high + 8 * v), lv = _mm256_load_ps(low + 8 * v);
      const auto fv = static_cast<std::uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(acc[i][v], hv, _CMP_GT_OQ)));
      // "not <=" rather than ">": NaN (overflowed products) must reach the exact decision.
      const auto nl = static_cast<std::uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(acc[i][v], lv, _CMP_NLE_UQ)));
      f |= fv << (8 * v);
      mb |= (nl & ~fv) << (8 * v);
    }
    out.fire[i] = f;
    out.maybe[i] = mb;
  }
}

/// V vectors of 8 samples (V = 1, 2); R = 12 / V rows.
inline void fused_tile_avx2(int V, const float* rows, int stride, const float* xt, const float* low, const float* high,
                            FusedTileOut& out) {
  if (V == 1)
    fused_tile_avx2_impl<12, 1>(rows, stride, xt, low, high, out);
  else
    fused_tile_avx2_impl<6, 2>(rows, stride, xt, low, high, out);
}

// ---------------------------------------------------------------- AVX-512F: 16 lanes per vector
#if defined(__GNUC__) || defined(__clang__)
#define HSRNET_HAVE_AVX512_SCREEN 1
#define HSRNET_TARGET_AVX512 __attribute__((target("avx512f")))

template <int R, int V>
HSRNET_TARGET_AVX512 inline void fused_tile_avx512_impl(const float* HSRNET_RESTRICT rows, int stride,
                                                        const float* HSRNET_RESTRICT xt, const float* low,
                                                        const float* high, FusedTileOut& out) {
  constexpr int L = 16 * V;
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int k = 0; k < stride; ++k) {
    __m512 xv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xv[v] = _mm512_load_ps(xt + k * L + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m512 w = _mm512_set1_ps(rows[static_cast<std::size_t>(i) * stride + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(w, xv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    std::uint64_t f = 0, mb = 0;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      _mm512_store_ps(out.vals + i * 64 + 16 * v, acc[i][v]);
      const __m512 hv = _mm512_load_ps(high + 16 * v), lv = _mm512_load_ps(low + 16 * v);
      const std::uint64_t fv = _mm512_cmp_ps_mask(acc[i][v], hv, _CMP_GT_OQ);
      const std::uint64_t nl = _mm512_cmp_ps_mask(acc[i][v], lv, _CMP_NLE_UQ);
      f |= fv << (16 * v);
      mb |= (nl & ~fv) << (16 * v);
    }
    out.fire[i] = f;
    out.maybe[i] = mb;
  }
}

/// V vectors of 16 samples (1..4); R = 12, 12, 8, 6 rows.
HSRNET_TARGET_AVX512 inline void fused_tile_avx512(int V, const float* rows, int stride, const float* xt,
                                                   const float* low, const float* high, FusedTileOut& out) {
  switch (V) {
    case 1: fused_tile_avx512_impl<12, 1>(rows, stride, xt, low, high, out); break;
    case 2: fused_tile_avx512_impl<12, 2>(rows, stride, xt, low, high, out); break;
    case 3: fused_tile_avx512_impl<8, 3>(rows, stride, xt, low, high, out); break;
    default: fused_tile_avx512_impl<6, 4>(rows, stride, xt, low, high, out); break;
  }
}
#undef HSRNET_TARGET_AVX512
#endif

/// Rows per micro-tile for kernel k at V sample vectors.
inline int fused_tile_rows(ScreenKernel k, int V) {
  if (k == ScreenKernel::Avx512) return V <= 2 ? 12 : (V == 3 ? 8 : 6);
  return V == 1 ? 12 : 6;
}

/// Float c >= x (x finite double), the smallest such.
inline float float_ceil(double x) {
  if (x > static_cast<double>(std::numeric_limits<float>::max())) return std::numeric_limits<float>::infinity();
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace detail

/// Rows per chunk: one largest norm (hence one pair of cuts per sample) per chunk, and the chunk's rows stay in
/// L2 while every sample block passes over them. A multiple of every tile height (6, 8, 12).
constexpr int kFusedChunkRows = 240;

/// For every query q of `queries` (n x stride, zero padded, row-major; `qnorms` upper bounds of their norms)
/// calls emit(q, s, v) for every slot s in [begin, end) with reference_dot(row s, q) > b, slots ascending per
/// query; v is within dot_error_coefficient(d) |w| |q| + dot_error_floor(d) of the exact <w_s, q>. `kernel`:
/// Avx2 or Avx512 (an Avx512 request on a CPU without it runs AVX2). Returns how many pairs fell inside the
/// rounding band and were settled by reference_dot.
template <class Emit>
std::size_t fused_threshold_visit(const RowStore& store, const float* queries, const float* qnorms, int n, float b,
                                  row_id begin, row_id end, Emit&& emit, ScreenKernel kernel) {
  if (n <= 0 || begin >= end) return 0;
#if !defined(HSRNET_HAVE_AVX512_SCREEN)
  kernel = ScreenKernel::Avx2;
#endif
  if (kernel != ScreenKernel::Avx512 || !cpu_supports_avx512f()) kernel = ScreenKernel::Avx2;
  const int stride = store.stride();
  const int d = store.dim();
  const double coef = 2.0 * dot_error_coefficient(d);
  const double floor_abs = 2.0 * dot_error_floor(d);
  const int lanes = kernel == ScreenKernel::Avx512 ? 16 : 8;
  const int max_v = kernel == ScreenKernel::Avx512 ? 4 : 2;
  const int block = lanes * max_v;  // samples per block
  const int nblocks = (n + block - 1) / block;
  const float fb = b;

  // Queries transposed per block: xt[blk][k][lane], lanes beyond n zero (their results are masked off).
  AlignedBuffer<float> xt(static_cast<std::size_t>(nblocks) * block * stride);
  for (int q = 0; q < n; ++q) {
    float* dst = xt.data() + static_cast<std::size_t>(q / block) * block * stride + q % block;
    const float* src = queries + static_cast<std::size_t>(q) * stride;
    for (int k = 0; k < stride; ++k) dst[static_cast<std::size_t>(k) * block] = src[k];
  }
  // The packed block of V vectors has row length V * lanes; a ragged last block is repacked to its own V.
  const int last_n = n - (nblocks - 1) * block;
  const int last_v = (last_n + lanes - 1) / lanes;
  if (last_v < max_v) {
    float* base = xt.data() + static_cast<std::size_t>(nblocks - 1) * block * stride;
    const int L = last_v * lanes;
    for (int k = 0; k < stride; ++k)  // in place, ascending: destination never overtakes the source
      for (int j = 0; j < L; ++j)
        base[static_cast<std::size_t>(k) * L + j] = base[static_cast<std::size_t>(k) * block + j];
  }

  const int max_rows = 12;
  AlignedBuffer<float> tail_rows(static_cast<std::size_t>(max_rows) * stride);  // a ragged last tile, zero padded
  std::vector<float> norms(static_cast<std::size_t>(kFusedChunkRows));
  alignas(64) float low[64], high[64];
  detail::FusedTileOut out;
  std::size_t verified = 0;

  for (row_id c0 = begin; c0 < end; c0 += kFusedChunkRows) {
    const int nc = static_cast<int>(std::min<row_id>(kFusedChunkRows, end - c0));
    store.slot_norms(c0, static_cast<std::size_t>(nc), norms.data());
    float max_norm = 0.0f;
    for (int r = 0; r < nc; ++r) max_norm = std::max(max_norm, norms[r]);
    for (int blk = 0; blk < nblocks; ++blk) {
      const int q0 = blk * block;
      const int nq = std::min(block, n - q0);
      const int V = (nq + lanes - 1) / lanes;
      const int L = V * lanes;
      const float* xb = xt.data() + static_cast<std::size_t>(q0) * stride;
      const std::uint64_t valid = nq >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << nq) - 1;
      for (int j = 0; j < L; ++j) {
        low[j] = std::numeric_limits<float>::infinity();  // padding lanes: masked off anyway
        high[j] = std::numeric_limits<float>::infinity();
        if (j >= nq) continue;
        const double qn = qnorms[q0 + j];
        if (qn * max_norm < kNoOverflowBound) {
          // Every pair of the chunk has margin <= this (norms are upper bounds); 1e-6 covers the roundings of
          // the double arithmetic, the cuts are rounded outwards.
          const double tm = (coef * qn * max_norm + floor_abs) * (1.0 + 1e-6);
          low[j] = float_threshold(fb - tm);
          high[j] = detail::float_ceil(fb + tm);
        } else {  // fp32 sums may overflow: every pair (-inf included: NaN compares unordered) is decided exactly
          low[j] = std::numeric_limits<float>::quiet_NaN();
        }
      }
      const int R = detail::fused_tile_rows(kernel, V);
      for (int t0 = 0; t0 < nc; t0 += R) {
        const int nr = std::min(R, nc - t0);
        const row_id s0 = c0 + t0;
        const float* rows = store.slot_data(s0);
        if (nr < R) {  // ragged tile: copy into zero-padded rows (never read past the range's last row)
          std::fill_n(tail_rows.data(), static_cast<std::size_t>(R) * stride, 0.0f);
          std::copy_n(rows, static_cast<std::size_t>(nr) * stride, tail_rows.data());
          rows = tail_rows.data();
        }
#if defined(HSRNET_HAVE_AVX512_SCREEN)
        if (kernel == ScreenKernel::Avx512)
          detail::fused_tile_avx512(V, rows, stride, xb, low, high, out);
        else
#endif
          detail::fused_tile_avx2(V, rows, stride, xb, low, high, out);
        for (int i = 0; i < nr; ++i) {
          const row_id s = s0 + i;
          std::uint64_t f = out.fire[i] & valid, mb = out.maybe[i] & valid;
          if (!mb) {  // the common case: no band pair in the row, every set bit fires
            const float* vi = out.vals + i * 64;
            for (; f; f &= f - 1) {
              const int j = __builtin_ctzll(f);
              emit(q0 + j, s, vi[j]);
            }
            continue;
          }
          std::uint64_t any = f | mb;
          while (any) {
            const int j = __builtin_ctzll(any);
            const std::uint64_t bit = std::uint64_t{1} << j;
            any &= any - 1;
            const float v = out.vals[i * 64 + j];
            if (f & bit) {
              emit(q0 + j, s, v);
              continue;
            }
            // The pair's own margin (as the Eigen path's).
            const double qn = qnorms[q0 + j];
            const double margin = coef * qn * (1.0 + 1e-6) * norms[t0 + i] + floor_abs;
            // An overflowed sum (+-inf) in one order says nothing about another order's.
            const bool unbounded = !(qn * norms[t0 + i] < kNoOverflowBound);
            const double val = v;
            if (!unbounded && val > fb + margin) {
              emit(q0 + j, s, v);
            } else if (unbounded || !(val <= fb - margin)) {
              ++verified;
              const float z =
                  reference_dot(store.slot_data(s), queries + static_cast<std::size_t>(q0 + j) * stride, stride);
              if (z > fb) emit(q0 + j, s, z);
            }
          }
        }
      }
    }
  }
  return verified;
}

}  // namespace hsrnet
