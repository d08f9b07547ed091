// How the SGD trainer identifies the neurons that fire on each sample of a step.
//
//   dense  - the reference: all m pre-activations of the batch (blocked Eigen GEMM, or a SIMD matrix-vector
//            scan for batches below 4), firing decided by the exact rule (dense_identifier.hpp);
//   scan, gemm, tree - one HalfSpaceIndex query per step with that backend;
//   cache  - drift-bounded candidate cache for a fixed training set (candidate_cache.hpp);
//   auto   - a cost-based choice among tree, cache and the index's own auto backend (sgd_trainer.hpp).
// Every strategy yields exactly the same firing sets, hence the same training, bit for bit.
#pragma once

#include <stdexcept>
#include <string>

namespace hsrnet {

enum class Strategy { Dense, Scan, Gemm, Tree, Cache, Auto };

inline const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::Dense: return "dense";
    case Strategy::Scan: return "scan";
    case Strategy::Gemm: return "gemm";
    case Strategy::Tree: return "tree";
    case Strategy::Cache: return "cache";
    case Strategy::Auto: return "auto";
  }
  return "?";
}

inline Strategy parse_strategy(const std::string& name) {
  if (name == "dense") return Strategy::Dense;
  if (name == "scan") return Strategy::Scan;
  if (name == "gemm") return Strategy::Gemm;
  if (name == "tree") return Strategy::Tree;
  if (name == "cache") return Strategy::Cache;
  if (name == "auto") return Strategy::Auto;
  throw std::invalid_argument("hsrnet: unknown strategy '" + name +
                              "' (expected dense, scan, gemm, tree, cache or auto)");
}

}  // namespace hsrnet
