// The one copy of the weight rows: padded, aligned, and stored in *slot* order.
//
// A space-partitioning tree wants the rows of a leaf next to each other, so the store keeps rows in slot
// order and maps row ids (what users see) to slots and back. Until a tree is built the map is the
// identity. Every backend reads this storage; nothing else holds the weights.
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

#include "hsrnet/aligned_buffer.hpp"
#include "hsrnet/config.hpp"
#include "hsrnet/dot_kernel.hpp"

namespace hsrnet {

/// Smallest float >= the Euclidean norm of v (computed in double, rounded up), so margins built on it
/// stay upper bounds.
inline float norm_upper_bound(const float* v, int d) {
  // Four independent double accumulators of four lanes: a single chain of d dependent adds would cost
  // ~4 cycles per element, and trainers refresh thousands of norms per step.
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(v + i)), c = _mm256_cvtps_pd(_mm_loadu_ps(v + i + 4));
    acc0 = _mm256_fmadd_pd(a, a, acc0);
    acc1 = _mm256_fmadd_pd(c, c, acc1);
  }
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

class RowStore {
 public:
  RowStore() = default;

  /// Copies m rows of d floats, given row-major with `src_stride` floats between rows.
  RowStore(const float* src, std::size_t m, int d, std::size_t src_stride) : m_(m), d_(d), stride_(padded_stride(d)) {
    if (d < 1) throw std::invalid_argument("hsrnet: row dimension d must be >= 1");
    if (m > static_cast<std::size_t>(std::numeric_limits<row_id>::max()))
      throw std::invalid_argument("hsrnet: at most 2^31 - 1 rows are supported");
    // Round the row count up to a multiple of 8 so 8-row kernels may read a whole block; padding rows are 0.
    data_ = AlignedBuffer<float>(((m + 7) / 8 * 8) * static_cast<std::size_t>(stride_));
    norms_.resize(m);
    slot_of_.resize(m);
    id_of_.resize(m);
    std::iota(slot_of_.begin(), slot_of_.end(), row_id{0});
    std::iota(id_of_.begin(), id_of_.end(), row_id{0});
    for (std::size_t r = 0; r < m; ++r) write_slot(static_cast<row_id>(r), src + r * src_stride);
  }

  std::size_t rows() const { return m_; }
  int dim() const { return d_; }
  int stride() const { return stride_; }

  const float* slot_data(row_id slot) const { return data_.data() + static_cast<std::size_t>(slot) * stride_; }
  float* slot_data(row_id slot) { return data_.data() + static_cast<std::size_t>(slot) * stride_; }
  const float* row_data(row_id id) const { return slot_data(slot_of_[id]); }
  float* mutable_row_data(row_id id) { return slot_data(slot_of_[id]); }
  const float* data() const { return data_.data(); }

  /// Upper bound of the norm of the row in `slot` (used for rounding margins).
  float slot_norm(row_id slot) const { return norms_[slot]; }
  const float* slot_norms() const { return norms_.data(); }

  row_id slot_of(row_id id) const { return slot_of_[id]; }
  row_id id_of(row_id slot) const { return id_of_[slot]; }
  const row_id* id_of_slots() const { return id_of_.data(); }
  bool identity_order() const { return identity_; }

  /// Overwrites row `id` with d floats from `src`.
  void write_row(row_id id, const float* src) { write_slot(slot_of_[id], src); }

  /// Must be called after the row's floats were changed in place through mutable_row_data().
  void refresh_norm(row_id id) { refresh_slot_norm(slot_of_[id]); }
  void refresh_slot_norm(row_id slot) { norms_[slot] = norm_upper_bound(slot_data(slot), d_); }

  /// Reorders the storage so that new slot k holds what old slot order[k] held. In place (cycle by cycle),
  /// so the weights never exist twice.
  void permute_slots(const std::vector<row_id>& order) {
    const std::size_t m = m_;
    std::vector<row_id> new_id_of(m);
    for (std::size_t k = 0; k < m; ++k) new_id_of[k] = id_of_[order[k]];
    std::vector<bool> done(m, false);
    std::vector<float> tmp(stride_);
    for (std::size_t start = 0; start < m; ++start) {
      if (done[start] || order[start] == static_cast<row_id>(start)) {
        done[start] = true;
        continue;
      }
      // Cycle: slot start <- order[start] <- order[order[start]] ...
      std::memcpy(tmp.data(), slot_data(static_cast<row_id>(start)), sizeof(float) * stride_);
      const float tmp_norm = norms_[start];
      std::size_t cur = start;
      while (true) {
        const std::size_t src = static_cast<std::size_t>(order[cur]);
        done[cur] = true;
        if (src == start) {
          std::memcpy(slot_data(static_cast<row_id>(cur)), tmp.data(), sizeof(float) * stride_);
          norms_[cur] = tmp_norm;
          break;
        }
        std::memcpy(slot_data(static_cast<row_id>(cur)), slot_data(static_cast<row_id>(src)), sizeof(float) * stride_);
        norms_[cur] = norms_[src];
        cur = src;
      }
    }
    id_of_.swap(new_id_of);
    identity_ = true;
    for (std::size_t k = 0; k < m; ++k) {
      slot_of_[id_of_[k]] = static_cast<row_id>(k);
      identity_ = identity_ && id_of_[k] == static_cast<row_id>(k);
    }
  }

  /// Bytes held (rows, norms, id maps).
  std::size_t memory_bytes() const {
    return data_.size() * sizeof(float) + norms_.size() * sizeof(float) + 2 * m_ * sizeof(row_id);
  }

 private:
  void write_slot(row_id slot, const float* src) {
    float* dst = slot_data(slot);
    std::memcpy(dst, src, sizeof(float) * d_);
    std::fill(dst + d_, dst + stride_, 0.0f);
    norms_[slot] = norm_upper_bound(dst, d_);
  }

  std::size_t m_ = 0;
  int d_ = 0;
  int stride_ = 0;
  AlignedBuffer<float> data_;
  std::vector<float> norms_;
  std::vector<row_id> slot_of_, id_of_;
  bool identity_ = true;
};

}  // namespace hsrnet
