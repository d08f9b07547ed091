// The one copy of the weight rows: padded, aligned, and stored in *slot* order.
//
// A space-partitioning tree wants the rows of a leaf next to each other, so the store keeps rows in slot
// order and maps row ids (what users see) to slots and back. While the order is the identity (no tree, or
// a network that numbered its neurons in tree order, see adopt_slot_order) the maps are not stored at all.
// Norm upper bounds (rounding margins) are stored only for rows of 8 floats or more: below that they would
// cost a third or more of the rows' own memory and are recomputed on demand in a few instructions.
// Every backend reads this storage; nothing else holds the weights.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "hsrnet/config.hpp"
#include "hsrnet/kernels/aligned_buffer.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

/// Smallest float >= the Euclidean norm of v (computed in double, rounded up), so margins built on it
/// stay upper bounds.
inline float norm_upper_bound(const float* v, int d) {
  // Four independent double accumulators of four lanes: a single chain of d dependent adds would cost
  // ~4 cycles per element, and trainers refresh a norm for every row they move (all of W per step at
  // B = 256), so the chains must not wait on each other.
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd(), acc2 = _mm256_setzero_pd(),
          acc3 = _mm256_setzero_pd();
  auto square_into = [](__m256d& acc, const float* p) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(p));
    acc = _mm256_fmadd_pd(a, a, acc);
  };
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    square_into(acc0, v + i);
    square_into(acc1, v + i + 4);
    square_into(acc2, v + i + 8);
    square_into(acc3, v + i + 12);
  }
  for (; i + 8 <= d; i += 8) {
    square_into(acc0, v + i);
    square_into(acc1, v + i + 4);
  }
  acc0 = _mm256_add_pd(acc0, acc2);
  acc1 = _mm256_add_pd(acc1, acc3);
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < d; ++i) s += static_cast<double>(v[i]) * static_cast<double>(v[i]);
  // The double sum's own rounding (relative d * 2^-53) is far inside the 1e-12 widening below.
  const double n = std::sqrt(s) * (1.0 + 1e-12);
  float f = static_cast<float>(n);
  if (static_cast<double>(f) < n && f < std::numeric_limits<float>::max()) {
    // One ulp up, without a libm call (f is finite and >= 0 here).
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    ++bits;
    std::memcpy(&f, &bits, sizeof bits);
  } else if (static_cast<double>(f) < n) {
    f = std::numeric_limits<float>::infinity();
  }
  return f;
}

/// Asks for every cache line of the n floats at p (a row the next iteration reads). The hardware
/// prefetchers pick up each new row late, and the trainer's passes over W (every row, at B = 256) wait on
/// memory without this.
inline void prefetch_floats(const float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 16) _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
}

class RowStore {
 public:
  RowStore() = default;

  /// Copies m rows of d floats, given row-major with `src_stride` floats between rows.
  RowStore(const float* src, std::size_t m, int d, std::size_t src_stride) : RowStore(m, d) {
    for (std::size_t r = 0; r < m; ++r) write_slot(static_cast<row_id>(r), src + r * src_stride);
  }

  /// m rows of d floats written by fill(first_row, count, dst, stride), called for consecutive blocks of
  /// rows (possibly from several threads at once): dst points at row first_row, rows `stride` floats apart,
  /// padding already zero. The rows are created in place, never as a second m x d array.
  template <class Fill>
  RowStore(std::size_t m, int d, Fill&& fill, int threads) : RowStore(m, d) {
    constexpr std::size_t kBlock = 1024;
    const std::ptrdiff_t blocks = static_cast<std::ptrdiff_t>((m + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (blocks > 1 && threads > 1)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::size_t r0 = static_cast<std::size_t>(blk) * kBlock, r1 = std::min(m, r0 + kBlock);
      fill(r0, r1 - r0, slot_data(static_cast<row_id>(r0)), static_cast<std::size_t>(stride_));
      for (std::size_t r = r0; r < r1; ++r) {
        float* row = slot_data(static_cast<row_id>(r));
        std::fill(row + d_, row + stride_, 0.0f);
        refresh_slot_norm(static_cast<row_id>(r));
      }
    }
  }

  /// Floats readable past the last row (see read_short_row).
  static constexpr std::size_t kTailFloats = 8;

  /// prefetch_floats over row id.
  void prefetch_row(row_id id) const { prefetch_floats(row_data(id), static_cast<std::size_t>(stride_)); }

  std::size_t rows() const { return m_; }
  int dim() const { return d_; }
  int stride() const { return stride_; }

  /// A row of d <= 4 floats in one vector load; lanes from d on hold whatever follows the row (the next
  /// row or zeros), so callers must ignore them.
  static __m128 read_short_row(const float* row) { return _mm_loadu_ps(row); }
  /// d <= 4 floats read exactly (nothing after them), in lanes [0, d) of a vector with zeros after: a query
  /// for the short-row kernels.
  static __m128 load_short(const float* v, int d) {
    alignas(16) float p[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::copy_n(v, d, p);
    return _mm_load_ps(p);
  }
  /// All bits set in lanes [0, d), zero after.
  static __m128 short_lanes(int d) {
    return _mm_castsi128_ps(_mm_cmpgt_epi32(_mm_set1_epi32(d), _mm_setr_epi32(0, 1, 2, 3)));
  }
  /// Whether lanes [0, d) of v are finite (neither infinity nor NaN).
  static bool short_finite(__m128 v, int d) {
    const __m128 a = _mm_andnot_ps(_mm_set1_ps(-0.0f), v);
    const __m128 bad = _mm_cmp_ps(a, _mm_set1_ps(std::numeric_limits<float>::max()), _CMP_NLE_UQ);
    return (_mm_movemask_ps(bad) & ((1 << d) - 1)) == 0;
  }
  /// Stores lanes [0, d) of v as a row of d <= 4 floats; the floats after the row are not touched.
  static void write_short_row(float* row, __m128 v, int d) {
    if (d == 4) {
      _mm_storeu_ps(row, v);
    } else if (d == 1) {
      _mm_store_ss(row, v);
    } else {
      _mm_storel_pi(reinterpret_cast<__m64*>(row), v);
      if (d == 3) _mm_store_ss(row + 2, _mm_movehl_ps(v, v));
    }
  }

  const float* slot_data(row_id slot) const { return data_.data() + static_cast<std::size_t>(slot) * stride_; }
  float* slot_data(row_id slot) { return data_.data() + static_cast<std::size_t>(slot) * stride_; }
  const float* row_data(row_id id) const { return slot_data(slot_of(id)); }
  float* mutable_row_data(row_id id) { return slot_data(slot_of(id)); }
  const float* data() const { return data_.data(); }

  /// Whether norm upper bounds are stored (rows of 8 floats or more) or computed on demand.
  bool has_norms() const { return stride_ >= 8; }
  /// Upper bound of the norm of the row in `slot` (used for rounding margins).
  float slot_norm(row_id slot) const { return has_norms() ? norms_[slot] : norm_upper_bound(slot_data(slot), d_); }
  /// slot_norm of slots [begin, begin + count) into out.
  void slot_norms(row_id begin, std::size_t count, float* out) const {
    if (has_norms()) {
      std::copy_n(norms_.data() + begin, count, out);
      return;
    }
    for (std::size_t k = 0; k < count; ++k) out[k] = norm_upper_bound(slot_data(begin + static_cast<row_id>(k)), d_);
  }

  row_id slot_of(row_id id) const { return identity_ ? id : slot_of_[id]; }
  row_id id_of(row_id slot) const { return identity_ ? slot : id_of_[slot]; }
  /// The slot -> id map, or nullptr while the order is the identity.
  const row_id* id_of_slots() const { return identity_ ? nullptr : id_of_.data(); }
  bool identity_order() const { return identity_; }

  /// Overwrites row `id` with d floats from `src`.
  void write_row(row_id id, const float* src) { write_slot(slot_of(id), src); }

  /// Must be called after the row's floats were changed in place through mutable_row_data().
  void refresh_norm(row_id id) { refresh_slot_norm(slot_of(id)); }
  void refresh_slot_norm(row_id slot) {
    if (has_norms()) norms_[slot] = norm_upper_bound(slot_data(slot), d_);
  }

  /// Reorders the storage so that new slot k holds what old slot order[k] held. In place (cycle by cycle),
  /// so the weights never exist twice. The id maps come into existence only if the order stops being the
  /// identity.
  void permute_slots(const std::vector<row_id>& order) { permute(order, true); }

  /// permute_slots followed by adopt_slot_order, without building id maps on the way (the rows are
  /// renumbered anyway): the only extra memory is one bit per row.
  void permute_slots_and_renumber(const std::vector<row_id>& order) {
    permute(order, false);
    adopt_slot_order();
  }

  /// Renumbers the rows: from now on row id k is the row in slot k, and the maps are freed. For an owner that
  /// is free to choose its numbering (a network numbering fresh neurons in tree order): every other view
  /// of the rows by id changes meaning.
  void adopt_slot_order() {
    std::vector<row_id>().swap(id_of_);
    std::vector<row_id>().swap(slot_of_);
    identity_ = true;
  }

  /// Bytes held (rows, stored norms, id maps).
  std::size_t memory_bytes() const {
    return data_.size() * sizeof(float) + norms_.capacity() * sizeof(float) +
           (slot_of_.capacity() + id_of_.capacity()) * sizeof(row_id);
  }

 private:
  void permute(const std::vector<row_id>& order, bool keep_ids) {
    const std::size_t m = m_;
    bool unchanged = true;
    for (std::size_t k = 0; k < m && unchanged; ++k) unchanged = order[k] == static_cast<row_id>(k);
    if (unchanged) return;
    std::vector<row_id> new_id_of(keep_ids ? m : 0);
    if (keep_ids)
      for (std::size_t k = 0; k < m; ++k) new_id_of[k] = id_of(order[k]);
    std::vector<bool> done(m, false);
    std::vector<float> tmp(stride_);
    const bool norms = has_norms();
    for (std::size_t start = 0; start < m; ++start) {
      if (done[start] || order[start] == static_cast<row_id>(start)) {
        done[start] = true;
        continue;
      }
      // Cycle: slot start <- order[start] <- order[order[start]] ...
      std::memcpy(tmp.data(), slot_data(static_cast<row_id>(start)), sizeof(float) * stride_);
      const float tmp_norm = norms ? norms_[start] : 0.0f;
      std::size_t cur = start;
      while (true) {
        const std::size_t src = static_cast<std::size_t>(order[cur]);
        done[cur] = true;
        if (src == start) {
          std::memcpy(slot_data(static_cast<row_id>(cur)), tmp.data(), sizeof(float) * stride_);
          if (norms) norms_[cur] = tmp_norm;
          break;
        }
        std::memcpy(slot_data(static_cast<row_id>(cur)), slot_data(static_cast<row_id>(src)), sizeof(float) * stride_);
        if (norms) norms_[cur] = norms_[src];
        cur = src;
      }
    }
    if (!keep_ids) return;
    bool identity = true;
    for (std::size_t k = 0; k < m && identity; ++k) identity = new_id_of[k] == static_cast<row_id>(k);
    if (identity) {
      adopt_slot_order();
      return;
    }
    id_of_.swap(new_id_of);
    slot_of_.resize(m);
    for (std::size_t k = 0; k < m; ++k) slot_of_[id_of_[k]] = static_cast<row_id>(k);
    identity_ = false;
  }

  RowStore(std::size_t m, int d) : m_(m), d_(d), stride_(d >= 1 ? padded_stride(d) : 0) {
    if (d < 1) throw std::invalid_argument("hsrnet: row dimension d must be >= 1");
    if (m > static_cast<std::size_t>(std::numeric_limits<row_id>::max()))
      throw std::invalid_argument("hsrnet: at most 2^31 - 1 rows are supported");
    // Round the row count up to a multiple of 8 so 8-row kernels may read a whole block; padding rows are 0.
    // kTailFloats more let any row be read with one 4- or 8-float load (short rows: read_short_row).
    data_ = AlignedBuffer<float>(((m + 7) / 8 * 8) * static_cast<std::size_t>(stride_) + kTailFloats);
    if (has_norms()) norms_.resize(m);
  }

  void write_slot(row_id slot, const float* src) {
    float* dst = slot_data(slot);
    std::memcpy(dst, src, sizeof(float) * d_);
    std::fill(dst + d_, dst + stride_, 0.0f);
    refresh_slot_norm(slot);
  }

  std::size_t m_ = 0;
  int d_ = 0;
  int stride_ = 0;
  AlignedBuffer<float> data_;
  std::vector<float> norms_;             // empty unless has_norms()
  std::vector<row_id> slot_of_, id_of_;  // empty while identity_
  bool identity_ = true;
};

}  // namespace hsrnet
