// The "auto" backend's choice: predicted nanoseconds per call for each backend.
//
// The constants were fitted on a 2-core AMD EPYC (AVX2 kernels, one thread; see docs/index_benchmark.md)
// from the kernels' shapes: a scan costs a fixed amount per row plus per float (or DRAM bandwidth once the
// rows leave the cache); the GEMM costs per product entry (threshold) plus per multiply-add, a fixed cost
// per tile, and streams the rows once per block of queries; a tree costs what the last tree queries
// observed (nodes visited, rows scanned in leaves, rows reported whole), so the model adapts to the data
// and to how far training has moved the rows. Ratios matter more than absolute values.
#pragma once

#include <algorithm>
#include <cstddef>

namespace hsrnet {

struct CostModel {
  double scan_row_ns = 0.3, scan_float_ns = 0.045;  // cache-resident rows
  double dram_float_ns = 0.11;                      // streamed rows (about 36 GB/s)
  double cache_bytes = 24.0 * 1024 * 1024;
  double gemm_entry_ns = 0.3, gemm_madd_ns = 0.0175, gemm_tile_ns = 3800.0;
  int gemm_tile_rows = 1024, gemm_query_block = 256;
  double tree_node_ns = 10.0, tree_node_dim_ns = 1.5;
  double leaf_row_ns = 0.4, leaf_float_ns = 0.2;
  double emit_ns = 1.2;  // per reported id
  double sort_ns = 2.1;  // per reported id, tree answers need mapping + sorting
  double thread_efficiency = 0.9;

  // Exponential moving averages of the work of recent tree queries; negative until one ran.
  double tree_nodes = -1.0, tree_leaf_rows = 0.0, tree_whole_rows = 0.0;
  // Observed output size per query as a fraction of m, from any backend.
  double output_fraction = 0.01;

  void observe_output(double fraction) { output_fraction = 0.7 * output_fraction + 0.3 * fraction; }
  void observe_tree(double nodes, double leaf_rows, double whole_rows) {
    if (tree_nodes < 0) {
      tree_nodes = nodes, tree_leaf_rows = leaf_rows, tree_whole_rows = whole_rows;
      return;
    }
    tree_nodes = 0.7 * tree_nodes + 0.3 * nodes;
    tree_leaf_rows = 0.7 * tree_leaf_rows + 0.3 * leaf_rows;
    tree_whole_rows = 0.7 * tree_whole_rows + 0.3 * whole_rows;
  }

  double parallel(double ns, int threads) const { return threads <= 1 ? ns : ns / (threads * thread_efficiency); }
  bool streamed(double m, double stride) const { return m * stride * 4.0 > cache_bytes; }

  double scan_ns(double n, double m, double stride, int threads) const {
    const double compute = m * (scan_row_ns + scan_float_ns * stride);
    const double stream = streamed(m, stride) ? m * stride * dram_float_ns : 0.0;
    return parallel(n * (std::max(compute, stream) + output_fraction * m * emit_ns), threads);
  }
  double gemm_ns(double n, double m, double stride, int threads) const {
    const double blocks = std::max(1.0, n / gemm_query_block);
    const double tiles = std::max(1.0, m / gemm_tile_rows) * blocks;
    // Below ~8 queries the product cannot reuse a loaded row across queries and runs far below peak.
    const double narrow = n < 8 ? 8.0 / n : 1.0;
    const double compute = n * m * (gemm_entry_ns + gemm_madd_ns * stride) * narrow;
    // A narrow product reuses a streamed row for few queries: no better than the scan's bandwidth.
    const double stream = streamed(m, stride) ? blocks * m * stride * dram_float_ns * (n < 32 ? 1.3 : 0.8) : 0.0;
    return parallel(tiles * gemm_tile_ns + std::max(compute, stream) + n * output_fraction * m * emit_ns, threads);
  }
  /// Negative when no tree query was observed yet.
  double tree_ns(double n, double m, double stride, int d, int threads) const {
    if (tree_nodes < 0) return -1.0;
    const double k = output_fraction * m;
    const double per_query = tree_nodes * (tree_node_ns + tree_node_dim_ns * d) +
                             tree_leaf_rows * (leaf_row_ns + leaf_float_ns * stride) +
                             (tree_whole_rows + k) * emit_ns * 0.5 + k * sort_ns;
    return parallel(n * per_query, threads);
  }
};

}  // namespace hsrnet
