// Shared helpers for the hsrnet unit tests: random data, the brute-force oracle, result comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hsrnet/hsrnet.hpp"

namespace hsrtest {

using hsrnet::Backend;
using hsrnet::CsrResult;
using hsrnet::HalfSpaceIndex;
using hsrnet::IndexOptions;
using hsrnet::row_id;

inline const Backend kAllBackends[] = {Backend::Scan, Backend::Gemm, Backend::Tree, Backend::Auto};

inline float next_down(float v) { return std::nextafter(v, -std::numeric_limits<float>::infinity()); }
inline float next_up(float v) { return std::nextafter(v, std::numeric_limits<float>::infinity()); }

inline std::vector<float> gaussian(std::mt19937_64& rng, std::size_t n, float scale = 1.0f) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = g(rng) * scale;
  return v;
}

/// Integers in [lo, hi] times `scale` (a power of two keeps every float32 dot exact).
inline std::vector<float> small_ints(std::mt19937_64& rng, std::size_t n, int lo, int hi, float scale = 1.0f) {
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = static_cast<float>(u(rng)) * scale;
  return v;
}

/// The definition the index must reproduce: {r : reference_dot(row r, x) > b}, ascending.
/// `rows` is compact (d floats per row): reference_dot reads exactly d floats.
inline std::vector<row_id> brute_force(const std::vector<float>& rows, int d, const float* x, float b) {
  const std::size_t m = rows.size() / static_cast<std::size_t>(d);
  std::vector<row_id> out;
  for (std::size_t r = 0; r < m; ++r)
    if (hsrnet::reference_dot(rows.data() + r * d, x, d) > b) out.push_back(static_cast<row_id>(r));
  return out;
}

inline std::vector<float> all_dots(const std::vector<float>& rows, int d, const float* x) {
  const std::size_t m = rows.size() / static_cast<std::size_t>(d);
  std::vector<float> out(m);
  for (std::size_t r = 0; r < m; ++r) out[r] = hsrnet::reference_dot(rows.data() + r * d, x, d);
  return out;
}

/// Reports sizes and the first differing position instead of dumping thousands of ids.
inline ::testing::AssertionResult same_ids(const std::vector<row_id>& expected, const row_id* begin,
                                           const row_id* end) {
  const std::size_t n = static_cast<std::size_t>(end - begin);
  if (n == expected.size() && std::equal(expected.begin(), expected.end(), begin)) return ::testing::AssertionSuccess();
  std::size_t i = 0;
  while (i < n && i < expected.size() && expected[i] == begin[i]) ++i;
  auto fail = ::testing::AssertionFailure();
  fail << "expected " << expected.size() << " ids, got " << n << "; first difference at position " << i << ": expected "
       << (i < expected.size() ? std::to_string(expected[i]) : std::string("<end>")) << ", got "
       << (i < n ? std::to_string(begin[i]) : std::string("<end>"));
  return fail;
}

inline ::testing::AssertionResult same_ids(const std::vector<row_id>& expected, const std::vector<row_id>& got) {
  return same_ids(expected, got.data(), got.data() + got.size());
}

/// Structural invariants of a CSR answer to n queries.
inline ::testing::AssertionResult csr_consistent(const CsrResult& r, std::size_t n) {
  if (r.offsets.size() != n + 1) return ::testing::AssertionFailure() << "offsets.size() = " << r.offsets.size();
  if (r.num_queries() != n) return ::testing::AssertionFailure() << "num_queries() = " << r.num_queries();
  if (r.offsets[0] != 0) return ::testing::AssertionFailure() << "offsets[0] = " << r.offsets[0];
  for (std::size_t q = 0; q < n; ++q) {
    if (r.offsets[q + 1] < r.offsets[q]) return ::testing::AssertionFailure() << "offsets decrease at " << q;
    if (r.size(q) != static_cast<std::size_t>(r.offsets[q + 1] - r.offsets[q]))
      return ::testing::AssertionFailure() << "size(" << q << ") inconsistent";
    if (r.end(q) - r.begin(q) != r.offsets[q + 1] - r.offsets[q])
      return ::testing::AssertionFailure() << "begin/end(" << q << ") inconsistent";
  }
  if (static_cast<std::size_t>(r.offsets[n]) != r.indices.size())
    return ::testing::AssertionFailure() << "offsets[n] = " << r.offsets[n]
                                         << " but indices.size() = " << r.indices.size();
  return ::testing::AssertionSuccess();
}

/// query_batch of n queries (CSR checked) and query() of each, all against the brute force.
inline ::testing::AssertionResult batch_matches(HalfSpaceIndex& index, const std::vector<float>& rows,
                                                const std::vector<float>& X, std::size_t n, float b, Backend backend) {
  const int d = index.dim();
  const CsrResult r = index.query_batch(X.data(), n, b, backend);
  if (auto c = csr_consistent(r, n); !c) return c;
  for (std::size_t q = 0; q < n; ++q) {
    const std::vector<row_id> expected = brute_force(rows, d, X.data() + q * d, b);
    if (auto s = same_ids(expected, r.begin(q), r.end(q)); !s)
      return s << " (query_batch, query " << q << " of " << n << ", b = " << b << ")";
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult single_matches(HalfSpaceIndex& index, const std::vector<float>& rows, const float* x,
                                                 float b, Backend backend) {
  const std::vector<row_id> expected = brute_force(rows, index.dim(), x, b);
  if (auto s = same_ids(expected, index.query(x, b, backend)); !s) return s << " (query, b = " << b << ")";
  return ::testing::AssertionSuccess();
}

inline std::string backend_label(Backend b) { return hsrnet::backend_name(b); }

}  // namespace hsrtest
