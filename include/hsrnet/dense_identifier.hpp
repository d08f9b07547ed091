// The dense reference for identification: every pre-activation of every sample of a batch, thresholded with
// the exact rule. It is what a well-written dense trainer computes, and the baseline sparse strategies must
// beat, so it is built for speed, not as a straw man:
//   - batches of 4 or more: a blocked GEMM (Eigen) of the batch against tiles of W, thresholded while the
//     tile is in cache. Eigen sums in its own order, so a value v decides alone only outside the rounding
//     band |v - b| <= 2 * dot_error_coefficient(d) * |w| |x| + 2 * dot_error_floor(d); inside it,
//     reference_dot decides (the band holds for any summation order, see dot_kernel.hpp);
//   - smaller batches: a SIMD matrix-vector scan with the reference kernel itself (exact by construction;
//     a GEMM of 1 to 3 columns cannot reuse a loaded row and is slower).
// It reads the index store directly and shares no selection code with the index backends.
#pragma once

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "hsrnet/aligned_buffer.hpp"
#include "hsrnet/dot_kernel.hpp"
#include "hsrnet/query_result.hpp"
#include "hsrnet/row_store.hpp"

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
    const int T = std::max(1, std::min(threads, static_cast<int>((m + 4095) / 4096)));
    if (parts_.size() < static_cast<std::size_t>(T)) parts_.resize(T);
    if (tiles_.size() < static_cast<std::size_t>(T)) tiles_.resize(T);
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
        verified += gemm_rows(store, Xb, xnorms, B, b, begin, end, tiles_[t], parts_[t]);
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

  static std::size_t gemm_rows(const RowStore& store, const float* Xb, const float* xnorms, std::size_t B, float b,
                               row_id begin, row_id end, AlignedBuffer<float>& tile_buf,
                               std::vector<std::vector<row_id>>& out) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ConstMap = Eigen::Map<const RowMajor>;
    using Map = Eigen::Map<RowMajor>;
    const int stride = store.stride(), d = store.dim();
    const double coef = 2.0 * dot_error_coefficient(d) * (1.0 + 1e-6);
    const double floor_abs = 2.0 * dot_error_floor(d);
    float tile_norms[kRowsPerTile];
    const std::size_t tile_floats = static_cast<std::size_t>(kRowsPerTile) * kQueriesPerTile;
    if (tile_buf.size() < tile_floats) tile_buf = AlignedBuffer<float>(tile_floats);
    std::size_t verified = 0;
    const double bd = b;
    for (row_id r0 = begin; r0 < end; r0 += kRowsPerTile) {
      const int nr = static_cast<int>(std::min<row_id>(kRowsPerTile, end - r0));
      const ConstMap W(store.slot_data(r0), nr, stride);
      store.slot_norms(r0, static_cast<std::size_t>(nr), tile_norms);
      const float* norms = tile_norms;  // by row of the tile
      float max_norm = 0.0f;
      for (int r = 0; r < nr; ++r) max_norm = std::max(max_norm, norms[r]);
      for (std::size_t q0 = 0; q0 < B; q0 += kQueriesPerTile) {
        const int nq = static_cast<int>(std::min<std::size_t>(kQueriesPerTile, B - q0));
        const ConstMap Q(Xb + q0 * stride, nq, stride);
        Map Z(tile_buf.data(), nq, nr);
        Z.noalias() = Q * W.transpose();
        for (int q = 0; q < nq; ++q) {
          const float* v = tile_buf.data() + static_cast<std::size_t>(q) * nr;
          const float* xq = Xb + (q0 + q) * stride;
          const double qm = coef * xnorms[q0 + q];
          // Everything at or below `low` is out for every row of the tile: one SIMD compare per 8 entries.
          // Rounded down to float, so no entry inside a band is skipped. Near overflow (|w||x| ~ FLT_MAX)
          // fp32 sums of different orders can disagree without bound: no shortcut, reference_dot decides.
          const double low_d = bd - (qm * max_norm + floor_abs) * (1.0 + 1e-6);
          const bool tile_bounded = static_cast<double>(xnorms[q0 + q]) * max_norm < kNoOverflowBound;
          const float low = tile_bounded ? float_threshold(low_d) : -std::numeric_limits<float>::infinity();
          const __m256 lowv = _mm256_set1_ps(low);
          std::vector<row_id>& dst = out[q0 + q];
          auto decide = [&](int r) {
            double margin = qm * norms[r] + floor_abs;
            if (!(static_cast<double>(xnorms[q0 + q]) * norms[r] < kNoOverflowBound))
              margin = std::numeric_limits<double>::infinity();
            const double val = v[r];
            if (val > bd + margin) {
              dst.push_back(r0 + r);
            } else if (!(val <= bd - margin)) {  // inside the band, or NaN from an overflowed product
              ++verified;
              if (reference_dot(store.slot_data(r0 + r), xq, d) > b) dst.push_back(r0 + r);
            }
          };
          int r = 0;
          for (; r + 8 <= nr; r += 8) {
            // "not <=" rather than ">": NaN entries must reach decide().
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

  std::vector<std::vector<std::vector<row_id>>> parts_;  // [thread][query] hits in slot order
  std::vector<AlignedBuffer<float>> tiles_;              // per-thread product tile
  std::size_t rounding_checks_ = 0;
};

}  // namespace hsrnet
