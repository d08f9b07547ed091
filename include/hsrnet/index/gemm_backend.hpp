// Backend "gemm": a blocked matrix-matrix product of a batch of queries against tiles of rows, thresholded
// while the tile is still in cache (the n x m product is never materialised).
//
// Eigen's GEMM sums in its own order, so its value v can differ from reference_dot by at most
// margin = 2 * dot_error_coefficient(d) * |w| |x| + 2 * dot_error_floor(d) (both differ from the exact dot by
// at most half of that). v > b + margin is reported, v <= b - margin is dropped, and the few rows in
// between are decided by reference_dot itself. The result is exactly the reference set.
//
// gemm_threshold_visit runs the fused kernels of index/fused_threshold.hpp (products compared in
// registers, AVX-512 or AVX2 chosen at run time) unless set_screen_kernel(ScreenKernel::Eigen) asks for
// the Eigen product below (eigen_threshold_visit); both give the reference set.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "hsrnet/index/fused_threshold.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

/// Threads worth splitting m rows across for `queries` queries at once: at least 4096 rows per thread for
/// one query (a parallel region costs what a few thousand dot products do), proportionally fewer for a
/// batch, down to 512.
inline int row_split_threads(std::size_t rows, std::size_t queries, int threads) {
  const std::size_t min_rows = std::max<std::size_t>(512, 4096 / std::max<std::size_t>(queries, 1));
  return std::max(1, std::min(threads, static_cast<int>((rows + min_rows - 1) / min_rows)));
}

struct GemmTiling {
  int rows_per_tile = 1024;     // rows of W per product tile (1024 x 256 queries: the product stays in L2)
  int queries_per_block = 256;  // queries per product tile
};

/// For every query q of `queries` (n x stride, zero padded, row-major; `qnorms` upper bounds of their
/// norms) calls emit(q, s, v) for every slot s in [begin, end) with reference_dot(row s, q) > b, slots
/// ascending per query. v is a value of <w_s, q> computed in some order (the GEMM's, or reference_dot's
/// in the rounding band): within dot_error_coefficient(d) |w| |q| + dot_error_floor(d) of the exact one.
/// Returns how many candidates needed the reference kernel (rounding-band cases).
template <class Emit>
std::size_t eigen_threshold_visit(const RowStore& store, const float* queries, const float* qnorms, int n, float b,
                                  row_id begin, row_id end, Emit&& emit, const GemmTiling& tiling = {}) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  // Unaligned: a tile or query block may start anywhere (stride 3, tilings not a multiple of 8). Eigen's GEMM
  // packs with unaligned loads anyway; only its small-product path would act on an alignment promise.
  using ConstMap = Eigen::Map<const RowMajor>;
  const int stride = store.stride();
  const int d = store.dim();
  const double coef = 2.0 * dot_error_coefficient(d);
  const double floor_abs = 2.0 * dot_error_floor(d);
  std::vector<float> tile_norms(static_cast<std::size_t>(tiling.rows_per_tile));
  std::size_t verified = 0;
  RowMajor tile;
  std::vector<float> qmargin(static_cast<std::size_t>(n));
  for (int q = 0; q < n; ++q) qmargin[q] = static_cast<float>(coef * qnorms[q] * (1.0 + 1e-6));
  const float fb = b;

  for (row_id r0 = begin; r0 < end; r0 += tiling.rows_per_tile) {
    const int nr = static_cast<int>(std::min<row_id>(tiling.rows_per_tile, end - r0));
    const float* wtile = store.slot_data(r0);
    const ConstMap W(wtile, nr, stride);
    store.slot_norms(r0, static_cast<std::size_t>(nr), tile_norms.data());
    const float* norms = tile_norms.data();  // by row of the tile
    float max_norm = 0.0f;
    for (int r = 0; r < nr; ++r) max_norm = std::max(max_norm, norms[r]);
    for (int q0 = 0; q0 < n; q0 += tiling.queries_per_block) {
      const int nq = std::min(tiling.queries_per_block, n - q0);
      const ConstMap Q(queries + static_cast<std::size_t>(q0) * stride, nq, stride);
      tile.resize(nq, nr);
      tile.noalias() = Q * W.transpose();
      for (int q = 0; q < nq; ++q) {
        const float* v = tile.data() + static_cast<std::size_t>(q) * nr;
        const float qm = qmargin[q0 + q];
        // Everything at or below this bound is out for every row of the tile: a single SIMD compare
        // rejects ~99% of entries.
        const double low_d = fb - (static_cast<double>(qm) * max_norm + floor_abs) * (1.0 + 1e-6);
        const bool tile_bounded = static_cast<double>(qnorms[q0 + q]) * max_norm < kNoOverflowBound;
        // Rounded down: a float cutoff above low_d could skip entries inside the rounding band.
        // Unbounded (sums may overflow): NaN, so every entry (-inf included) reaches decide().
        const float low = tile_bounded ? float_threshold(low_d) : std::numeric_limits<float>::quiet_NaN();
        const __m256 lowv = _mm256_set1_ps(low);
        const int qi = q0 + q;
        const float* xq = queries + static_cast<std::size_t>(q0 + q) * stride;
        int r = 0;
        auto decide = [&](int rr) {
          double margin = static_cast<double>(qm) * norms[rr] + floor_abs;
          // Where fp32 sums may overflow (|w||x| near FLT_MAX) the two orders can disagree without bound:
          // an infinite margin sends the entry to reference_dot. NaN products (inf - inf) land there too.
          // An overflowed sum (+-inf) in one order says nothing about another order's.
          const bool unbounded = !(static_cast<double>(qnorms[q0 + q]) * norms[rr] < kNoOverflowBound);
          const double val = v[rr];
          if (!unbounded && val > fb + margin) {
            emit(qi, r0 + rr, v[rr]);
          } else if (unbounded || !(val <= fb - margin)) {
            ++verified;
            const float z = reference_dot(store.slot_data(r0 + rr), xq, stride);
            if (z > fb) emit(qi, r0 + rr, z);
          }
        };
        for (; r + 8 <= nr; r += 8) {
          // "not <=" rather than ">": NaN entries (overflowed products) must reach decide().
          unsigned mask =
              static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + r), lowv, _CMP_NLE_UQ)));
          while (mask) {
            decide(r + __builtin_ctz(mask));
            mask &= mask - 1;
          }
        }
        for (; r < nr; ++r)
          if (!(v[r] <= low)) decide(r);
      }
    }
  }
  return verified;
}

/// The same answer from the active screen kernel: fused (default) or Eigen's product (`tiling` applies to it).
template <class Emit>
std::size_t gemm_threshold_visit(const RowStore& store, const float* queries, const float* qnorms, int n, float b,
                                 row_id begin, row_id end, Emit&& emit, const GemmTiling& tiling = {}) {
  const ScreenKernel kernel = active_screen_kernel();
  if (kernel == ScreenKernel::Eigen)
    return eigen_threshold_visit(store, queries, qnorms, n, b, begin, end, std::forward<Emit>(emit), tiling);
  return fused_threshold_visit(store, queries, qnorms, n, b, begin, end, std::forward<Emit>(emit), kernel);
}

/// gemm_threshold_visit collecting the slots: appended to out[q], ascending.
inline std::size_t gemm_threshold_slots(const RowStore& store, const float* queries, const float* qnorms, int n,
                                        float b, row_id begin, row_id end, std::vector<std::vector<row_id>>& out,
                                        const GemmTiling& tiling = {}) {
  return gemm_threshold_visit(
      store, queries, qnorms, n, b, begin, end, [&out](int q, row_id s, float) { out[q].push_back(s); }, tiling);
}

}  // namespace hsrnet
