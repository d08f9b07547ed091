// The "auto" backend's choice: predicted nanoseconds per call for each backend.
//
// Constants were fitted on the benchmark machine (docs/index_benchmark.md); what matters is their ratios,
// which follow from the kernels: a scan streams m * stride floats per query, a GEMM costs 2 m stride flops
// per query but streams the rows once per 256 queries, and a tree's cost is whatever the last tree queries
// observed (nodes visited, rows scanned in leaves, rows reported), so the model adapts to the data.
#pragma once

#include <algorithm>
#include <cstddef>

namespace hsrnet {

struct CostModel {
  // Per float of a row scanned with the reference kernel (cache resident / streamed from DRAM).
  double scan_ns_per_float_cached = 0.035;
  double scan_ns_per_float_dram = 0.09;
  // Per multiply-add of the GEMM product (about 100 GFLOP/s per core), per product entry thresholded.
  double gemm_ns_per_madd = 0.019;
  double gemm_ns_per_entry = 0.02;
  double gemm_fixed_ns = 20000.0;
  // Tree: per node visited (times d), per reported row, plus sorting of reported ids.
  double tree_ns_per_node_dim = 1.2;
  double emit_ns_per_row = 0.8;
  double sort_ns_per_row = 2.5;
  double cache_bytes = 24.0 * 1024 * 1024;

  // Observed per-query work of recent tree queries (exponential moving averages); negative: none yet.
  double tree_nodes = -1.0, tree_leaf_rows = 0.0, tree_whole_rows = 0.0;
  // Observed output size per query (fraction of m), from any backend.
  double output_fraction = 0.01;

  void observe_output(double fraction) { output_fraction = 0.8 * output_fraction + 0.2 * fraction; }
  void observe_tree(double nodes, double leaf_rows, double whole_rows) {
    if (tree_nodes < 0) {
      tree_nodes = nodes, tree_leaf_rows = leaf_rows, tree_whole_rows = whole_rows;
    } else {
      tree_nodes = 0.8 * tree_nodes + 0.2 * nodes;
      tree_leaf_rows = 0.8 * tree_leaf_rows + 0.2 * leaf_rows;
      tree_whole_rows = 0.8 * tree_whole_rows + 0.2 * whole_rows;
    }
  }

  double scan_ns(double n, double m, double stride, int threads) const {
    const double bytes = m * stride * 4.0;
    const double per_float = bytes <= cache_bytes ? scan_ns_per_float_cached : scan_ns_per_float_dram;
    return n * (m * stride * per_float + output_fraction * m * emit_ns_per_row) / threads;
  }
  double gemm_ns(double n, double m, double stride, int threads) const {
    const double passes = std::max(1.0, n / 256.0);
    const double stream = passes * m * stride * 4.0 > cache_bytes ? passes * m * stride * scan_ns_per_float_dram * 0.25 : 0.0;
    // A product with fewer than 8 queries cannot reuse a loaded row; it degenerates to a slower scan.
    const double narrow = n < 8 ? 8.0 / n : 1.0;
    return (gemm_fixed_ns + n * m * stride * gemm_ns_per_madd * narrow + n * m * gemm_ns_per_entry + stream +
            n * output_fraction * m * emit_ns_per_row) / threads;
  }
  /// Negative when no tree query was observed yet.
  double tree_ns(double n, double m, double stride, int d, int threads) const {
    if (tree_nodes < 0) return -1.0;
    const double k = output_fraction * m;
    const double per_query = tree_nodes * d * tree_ns_per_node_dim +
                             tree_leaf_rows * stride * scan_ns_per_float_cached * 4.0 +
                             (tree_whole_rows + k) * emit_ns_per_row + k * sort_ns_per_row;
    return n * per_query / threads;
  }
};

}  // namespace hsrnet
