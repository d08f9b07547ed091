// Visiting the entries of a float array that lie above a threshold: eight compares per instruction, then a
// loop over the set bits only. The trainer's passes over candidate entries (outputs, update coefficients, row
// updates) skip non-firing entries this way; with the cache's moved set most entries do not fire, and a
// branch per entry costs more than the work on the firing ones.
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "hsrnet/config.hpp"

namespace hsrnet {

/// Calls f(j) for every j < k with z[j] > b, in ascending j. NaN never qualifies (as with a scalar z[j] > b).
template <class F>
HSRNET_ALWAYS_INLINE void for_each_above(const float* z, std::size_t k, float b, F&& f) {
  const __m256 bv = _mm256_set1_ps(b);
  std::size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(z + j), bv, _CMP_GT_OQ)));
    while (mask) {
      f(j + static_cast<std::size_t>(__builtin_ctz(mask)));
      mask &= mask - 1;
    }
  }
  for (; j < k; ++j)
    if (z[j] > b) f(j);
}

}  // namespace hsrnet
