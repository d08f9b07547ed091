// The per-neuron view of a mini-batch: which samples of the batch each touched neuron appears for.
//
// Identification yields per-sample lists (sample-major). Pre-activations and weight updates are cheaper
// per neuron: a row gathered once serves every sample it fires on (rows are scattered in memory; the batch's
// inputs are few and stay in cache), and a neuron's update is then one thread's job, summed in sample order,
// which keeps results independent of the thread count.
//
// Neurons are listed in storage (slot) order, so passes over them walk W forwards: rows of one tree leaf
// are adjacent, and a large batch touching most rows streams W instead of gathering it. The order of
// neurons never changes a result (each neuron's arithmetic is its own).
//
// The transpose costs O(entries + neurons), never O(m): a persistent neuron -> local-index map is reset only
// at the neurons of this batch after use, and the slot sort is a radix sort. A single sample in a store in
// id order needs no work at all (its list is already in slot order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "hsrnet/config.hpp"
#include "hsrnet/index/row_store.hpp"

namespace hsrnet {

class NeuronMajor {
 public:
  /// Builds the view of per-sample lists ids[offsets[q] .. offsets[q+1]) for q < B (ids < m, each list
  /// free of duplicates), ordered by the slots of `store`. The arrays must outlive the view.
  void build(const std::int64_t* offsets, const row_id* ids, std::size_t B, std::size_t m, const RowStore& store) {
    const bool identity = store.identity_order();
    const std::size_t total = static_cast<std::size_t>(offsets[B] - offsets[0]);
    if (total > 0xffffffffULL) throw std::length_error("hsrnet: more than 2^32 - 1 (sample, neuron) pairs in one step");
    ids += offsets[0];
    if (B == 1 && identity) {  // already in slot order: the list is the view
      trivial_ = true;
      ids_ = ids;
      size_ = total;
      return;
    }
    trivial_ = false;
    int bits = 1;
    while (bits < 32 && (std::size_t{1} << bits) < m) ++bits;
    if (B == 1) {  // no duplicates: sort (slot, position) pairs
      keys_.resize(total);
      for (std::size_t p = 0; p < total; ++p) keys_[p] = key(store.slot_of(ids[p]), p);
      radix_sort_keys(bits);
      neurons_.resize(total);
      begin_.resize(total + 1);
      sample_.assign(total, 0);
      pos_.resize(total);
      for (std::size_t k = 0; k < total; ++k) {
        const std::uint32_t p = static_cast<std::uint32_t>(keys_[k]);
        neurons_[k] = ids[p];
        pos_[k] = p;
        begin_[k] = static_cast<std::uint32_t>(k);
      }
      begin_[total] = static_cast<std::uint32_t>(total);
      size_ = total;
      return;
    }
    // Distinct neurons in first-seen order, with counts.
    if (local_of_.size() != m) local_of_.assign(m, -1);
    seen_.clear();
    counts_.clear();
    local_.resize(total);
    for (std::size_t p = 0; p < total; ++p) {
      const row_id r = ids[p];
      std::int32_t l = local_of_[r];
      if (l < 0) {
        l = local_of_[r] = static_cast<std::int32_t>(seen_.size());
        seen_.push_back(r);
        counts_.push_back(0);
      }
      ++counts_[l];
      local_[p] = static_cast<std::uint32_t>(l);
    }
    for (const row_id r : seen_) local_of_[r] = -1;
    const std::size_t nu = seen_.size();
    // Slot order: rank_[first-seen index] = position in slot order.
    keys_.resize(nu);
    for (std::size_t l = 0; l < nu; ++l) keys_[l] = key(identity ? seen_[l] : store.slot_of(seen_[l]), l);
    radix_sort_keys(bits);
    neurons_.resize(nu);
    rank_.resize(nu);
    begin_.resize(nu + 1);
    cursor_.resize(nu);
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < nu; ++k) {
      const std::uint32_t l = static_cast<std::uint32_t>(keys_[k]);
      neurons_[k] = seen_[l];
      rank_[l] = static_cast<std::uint32_t>(k);
      begin_[k] = cursor_[k] = sum;
      sum += counts_[l];
    }
    begin_[nu] = sum;
    sample_.resize(total);
    pos_.resize(total);
    for (std::size_t q = 0; q < B; ++q)
      for (std::int64_t p = offsets[q] - offsets[0]; p < offsets[q + 1] - offsets[0]; ++p) {
        const std::uint32_t e = cursor_[rank_[local_[p]]]++;
        sample_[e] = static_cast<std::uint32_t>(q);
        pos_[e] = static_cast<std::uint32_t>(p);
      }
    size_ = nu;
  }

  /// Distinct neurons of the batch, in slot order.
  std::size_t size() const { return size_; }
  row_id neuron(std::size_t u) const { return trivial_ ? ids_[u] : neurons_[u]; }
  /// Entries of neuron u: [begin(u), end(u)); their samples ascend.
  std::uint32_t begin(std::size_t u) const { return trivial_ ? static_cast<std::uint32_t>(u) : begin_[u]; }
  std::uint32_t end(std::size_t u) const { return trivial_ ? static_cast<std::uint32_t>(u + 1) : begin_[u + 1]; }
  /// Batch position of entry e, and its index in the per-sample lists (relative to offsets[0]).
  std::uint32_t sample(std::uint32_t e) const { return trivial_ ? 0u : sample_[e]; }
  std::uint32_t position(std::uint32_t e) const { return trivial_ ? e : pos_[e]; }

 private:
  static std::uint64_t key(row_id slot, std::size_t payload) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(slot)) << 32) | static_cast<std::uint32_t>(payload);
  }

  /// LSD radix sort of keys_ by their high 32 bits, of which only the low `bits` can be set.
  void radix_sort_keys(int bits) {
    const std::size_t n = keys_.size();
    if (n < 64) {
      std::sort(keys_.begin(), keys_.end());
      return;
    }
    constexpr int kDigit = 11;
    constexpr std::size_t kBuckets = std::size_t{1} << kDigit;
    tmp_.resize(n);
    std::uint32_t count[kBuckets];
    std::uint64_t* src = keys_.data();
    std::uint64_t* dst = tmp_.data();
    for (int shift = 32; shift < 32 + bits; shift += kDigit) {
      std::fill(count, count + kBuckets, 0u);
      for (std::size_t i = 0; i < n; ++i) ++count[(src[i] >> shift) & (kBuckets - 1)];
      std::uint32_t sum = 0;
      for (std::size_t k = 0; k < kBuckets; ++k) {
        const std::uint32_t c = count[k];
        count[k] = sum;
        sum += c;
      }
      for (std::size_t i = 0; i < n; ++i) dst[count[(src[i] >> shift) & (kBuckets - 1)]++] = src[i];
      std::swap(src, dst);
    }
    if (src != keys_.data()) keys_.swap(tmp_);
  }

  bool trivial_ = true;
  const row_id* ids_ = nullptr;
  std::size_t size_ = 0;
  std::vector<std::int32_t> local_of_;  // neuron -> first-seen index, -1 outside the current build
  std::vector<row_id> seen_, neurons_;
  std::vector<std::uint32_t> counts_, local_, rank_, begin_, cursor_, sample_, pos_;
  std::vector<std::uint64_t> keys_, tmp_;
};

}  // namespace hsrnet
