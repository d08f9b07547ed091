// Query answers: sorted row-id lists, and batches of them in CSR form.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hsrnet/config.hpp"

namespace hsrnet {

/// Answers to n queries: the ids for query q are indices[offsets[q] .. offsets[q+1]), ascending.
struct CsrResult {
  std::vector<std::int64_t> offsets{0};
  std::vector<row_id> indices;

  std::size_t num_queries() const { return offsets.size() - 1; }
  std::size_t size(std::size_t q) const { return static_cast<std::size_t>(offsets[q + 1] - offsets[q]); }
  const row_id* begin(std::size_t q) const { return indices.data() + offsets[q]; }
  const row_id* end(std::size_t q) const { return indices.data() + offsets[q + 1]; }
};

/// Sorts row ids in [0, m) ascending. A tree reports thousands of ids per query in leaf order; a
/// least-significant-digit radix sort (11-bit digits, two passes for m <= 2^22) is several times
/// cheaper than a comparison sort there.
inline void sort_row_ids(std::vector<row_id>& ids, std::size_t m) {
  const std::size_t n = ids.size();
  if (n < 256) {
    std::sort(ids.begin(), ids.end());
    return;
  }
  int bits = 1;
  while (bits < 31 && (std::size_t{1} << bits) < m) ++bits;
  constexpr int kDigit = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigit;
  thread_local std::vector<row_id> tmp;
  tmp.resize(n);
  std::uint32_t count[kBuckets];
  row_id* src = ids.data();
  row_id* dst = tmp.data();
  for (int shift = 0; shift < bits; shift += kDigit) {
    std::fill(count, count + kBuckets, 0u);
    for (std::size_t i = 0; i < n; ++i) ++count[(static_cast<std::uint32_t>(src[i]) >> shift) & (kBuckets - 1)];
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < kBuckets; ++k) {
      const std::uint32_t c = count[k];
      count[k] = sum;
      sum += c;
    }
    for (std::size_t i = 0; i < n; ++i)
      dst[count[(static_cast<std::uint32_t>(src[i]) >> shift) & (kBuckets - 1)]++] = src[i];
    std::swap(src, dst);
  }
  if (src != ids.data()) std::copy(src, src + n, ids.data());
}

}  // namespace hsrnet
