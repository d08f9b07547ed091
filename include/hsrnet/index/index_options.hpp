// The index's vocabulary: its backends (by name), its options and its statistics.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "hsrnet/index/tree_limits.hpp"

namespace hsrnet {

enum class Backend { Auto, Scan, Gemm, Tree };

inline const char* backend_name(Backend b) {
  switch (b) {
    case Backend::Auto: return "auto";
    case Backend::Scan: return "scan";
    case Backend::Gemm: return "gemm";
    case Backend::Tree: return "tree";
  }
  return "?";
}

inline Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::Auto;
  if (name == "scan") return Backend::Scan;
  if (name == "gemm") return Backend::Gemm;
  if (name == "tree") return Backend::Tree;
  throw std::invalid_argument("hsrnet: unknown backend '" + name + "' (expected auto, scan, gemm or tree)");
}

struct IndexOptions {
  Backend backend = Backend::Auto;  // default for calls that do not name one
  int leaf_size = 64;               // rows per tree leaf (8..4096)
  int tree_max_dim = kTreeMaxDim;   // auto builds a tree only up to this d (tree_limits.hpp)
  double rebuild_after = 1.0;       // rebuild the tree once this many row updates, as a fraction of m, piled up
  int n_threads = 0;                // 0: OpenMP's default
};

struct IndexStats {
  std::size_t queries = 0;
  std::size_t scan_calls = 0, gemm_calls = 0, tree_calls = 0;
  std::size_t rows_updated = 0;
  std::size_t tree_builds = 0;
  std::size_t tree_refits = 0;
  std::size_t rounding_checks = 0;  // GEMM entries inside the rounding band, settled by reference_dot
  Backend last_backend = Backend::Auto;
};

}  // namespace hsrnet
