// Where a k-d tree over the rows stops paying, in one place. Measured (docs/index_benchmark.md, one thread,
// one query at a time): at d = 4 tree and scan tie (0.015 vs 0.016 ms at m = 2^14); at d = 8 the tree is
// 1.4x slower than the scan (m = 2^14 .. 2^20), at d = 32 2-3x slower. Batched queries and refitted boxes
// move the break-even up, so the index keeps a tree to d = 16 and lets its cost model pick per call.
#pragma once

namespace hsrnet {

/// Up to this input dimension the index's auto backend builds a tree (IndexOptions::tree_max_dim), a fresh
/// network numbers its neurons in tree order (ShiftedReLUNet), and the benchmarks time the tree.
inline constexpr int kTreeMaxDim = 16;

/// Up to this input dimension the trainer's auto strategy trains with the tree (TrainerOptions::
/// auto_tree_max_dim); above it the candidate cache or the index's own choice, since per query the tree
/// already loses to a scan at d = 8 (above), while a cache's cost does not grow with its tree-unfriendliness.
inline constexpr int kAutoTreeMaxDim = 8;

}  // namespace hsrnet
