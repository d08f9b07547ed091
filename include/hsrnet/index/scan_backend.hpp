// Backend "scan": every row against the query with the reference kernel itself (exact by construction).
#pragma once

#include <vector>

#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"

namespace hsrnet {

/// Appends, ascending, every slot s in [begin, end) with reference_dot(row s, x) > b.
/// `x` is padded to store.stride() with zeros.
inline void scan_slots(const RowStore& store, const float* x, float b, row_id begin, row_id end,
                       std::vector<row_id>& out) {
  const int stride = store.stride();
  const __m256 bv = _mm256_set1_ps(b);
  alignas(32) float dots[8];
  // The store pads its row count to a multiple of 8 with zero rows, so whole blocks are always readable.
  row_id s = begin & ~row_id{7};
  for (; s < end; s += 8) {
    reference_dot_rows8(store.slot_data(s), stride, x, dots);
    unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(dots), bv, _CMP_GT_OQ)));
    if (s < begin) mask &= ~0u << (begin - s);
    if (s + 8 > end) mask &= (1u << (end - s)) - 1u;
    while (mask) {
      out.push_back(s + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
}

}  // namespace hsrnet
