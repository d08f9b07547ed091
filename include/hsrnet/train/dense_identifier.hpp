// The dense reference for identification: every pre-activation of every sample of a batch, thresholded with
// the exact rule. It is what a well-written dense trainer computes, and the baseline sparse strategies must
// beat, so it is built for speed, not as a straw man:
//   - batches of 4 or more: the batch against W with the fused screen-and-threshold kernels
//     (index/fused_threshold.hpp: products compared in registers, AVX-512 or AVX2 chosen at run time;
//     Eigen's blocked GEMM behind set_screen_kernel). The screen sums in its own order, so a value v decides
//     alone only outside the rounding
//     band |v - b| <= 2 * dot_error_coefficient(d) * |w| |x| + 2 * dot_error_floor(d); inside it,
//     reference_dot decides (the band holds for any summation order, see dot_kernel.hpp);
//   - smaller batches: a SIMD matrix-vector scan with the reference kernel itself (exact by construction;
//     a GEMM of 1 to 3 columns cannot reuse a loaded row and is slower).
// It reads the index store directly; the GEMM thresholding is the gemm backend's (gemm_threshold_slots), with
// its own thread split and tiling, and without the index's cost model or query bookkeeping.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hsrnet/index/gemm_backend.hpp"
#include "hsrnet/index/query_result.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

class DenseIdentifier {
 public:
  static constexpr int kRowsPerTile = 512;
  static constexpr int kQueriesPerTile = 256;

  /// Firing sets of B queries Xb (B x store.stride(), zero padded, row-major) at threshold b, as CSR:
  /// ids of query q are ids[offsets[q] .. offsets[q+1]), ascending. `xnorms`: upper bounds of the query
  /// norms (norm_upper_bound). The vectors keep their capacity between calls.
  void identify(const RowStore& store, const float* Xb, const float* xnorms, std::size_t B, float b, int threads,
                std::vector<std::int64_t>& offsets, std::vector<row_id>& ids) {
    const std::size_t m = store.rows();
    const int T = row_split_threads(m, B, threads);
    if (parts_.size() < static_cast<std::size_t>(T)) parts_.resize(T);
    for (int t = 0; t < T; ++t) {
      if (parts_[t].size() < B) parts_[t].resize(B);
      for (std::size_t q = 0; q < B; ++q) parts_[t][q].clear();
    }
    std::size_t verified = 0;
#pragma omp parallel num_threads(T) reduction(+ : verified)
    {
      // Eigen parallelises a product itself when it sees a single OpenMP thread; the region already has
      // the threads it was given, so keep Eigen sequential (this ICV is local to the region's tasks).
      omp_set_num_threads(1);
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::size_t blocks = (m + 7) / 8;
      const row_id begin = static_cast<row_id>(std::min(m, blocks * t / nt * 8));
      const row_id end = static_cast<row_id>(std::min(m, blocks * (t + 1) / nt * 8));
      if (B < 4)
        scan_rows(store, Xb, B, b, begin, end, parts_[t]);
      else
        verified += gemm_threshold_slots(store, Xb, xnorms, static_cast<int>(B), b, begin, end, parts_[t],
                                         GemmTiling{kRowsPerTile, kQueriesPerTile});
    }
    rounding_checks_ += verified;

    offsets.assign(B + 1, 0);
    std::size_t total = 0;
    for (std::size_t q = 0; q < B; ++q) {
      for (int t = 0; t < T; ++t) total += parts_[t][q].size();
      offsets[q + 1] = static_cast<std::int64_t>(total);
    }
    ids.resize(total);
    const bool identity = store.identity_order();
    const row_id* id_of = store.id_of_slots();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) if (B > 1 && total > 65536)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(B); ++q) {
      row_id* out = ids.data() + offsets[q];
      row_id* o = out;
      for (int t = 0; t < T; ++t) o = std::copy(parts_[t][q].begin(), parts_[t][q].end(), o);
      if (!identity) {  // slots -> ids (a tree permuted the store), then ascending
        for (row_id* p = out; p != o; ++p) *p = id_of[*p];
        std::sort(out, o);
      }
    }
  }

  /// GEMM entries that fell inside the rounding band and were settled by reference_dot.
  std::size_t rounding_checks() const { return rounding_checks_; }

 private:
  static void scan_rows(const RowStore& store, const float* Xb, std::size_t B, float b, row_id begin, row_id end,
                        std::vector<std::vector<row_id>>& out) {
    const int stride = store.stride();
    const __m256 bv = _mm256_set1_ps(b);
    alignas(32) float dots[8];
    for (row_id s = begin; s < end; s += 8) {  // begin is a multiple of 8; padding rows are zero
      const float* rows = store.slot_data(s);
      _mm_prefetch(reinterpret_cast<const char*>(rows + 64 * stride), _MM_HINT_T0);
      for (std::size_t q = 0; q < B; ++q) {
        reference_dot_rows8(rows, stride, Xb + q * stride, dots);
        unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(dots), bv, _CMP_GT_OQ)));
        if (s + 8 > end) mask &= (1u << (end - s)) - 1u;
        while (mask) {
          out[q].push_back(s + __builtin_ctz(mask));
          mask &= mask - 1;
        }
      }
    }
  }

  std::vector<std::vector<std::vector<row_id>>> parts_;  // [thread][query] hits in slot order
  std::size_t rounding_checks_ = 0;
};

}  // namespace hsrnet
