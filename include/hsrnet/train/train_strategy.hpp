// How the SGD trainer identifies the neurons that fire on each sample of a step.
//
//   dense  - the reference: all m pre-activations of the batch (blocked Eigen GEMM, or a SIMD matrix-vector
//            scan for batches below 4), firing decided by the exact rule (dense_identifier.hpp);
//   scan, gemm, tree - one HalfSpaceIndex query per step with that backend;
//   cache  - drift-bounded candidate cache for a fixed training set (candidate_cache.hpp);
//   auto   - a cost-based choice among tree, cache and the index's own auto backend (strategy_policy.hpp).
// Every strategy yields exactly the same firing sets, hence the same training, bit for bit.
//
// Strategy is what the user asks for; ResolvedStrategy is what a step runs: never auto, but possibly Index
// (index queries with the index's own backend choice: auto's fallback, or the cache's when over budget).
#pragma once

#include <stdexcept>
#include <string>

#include "hsrnet/index/index_options.hpp"

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

enum class ResolvedStrategy { Dense, Scan, Gemm, Tree, Cache, Index };

/// The user's choice where it names one strategy; auto resolves elsewhere (StrategyPolicy::choose).
inline ResolvedStrategy resolved(Strategy s) {
  switch (s) {
    case Strategy::Dense: return ResolvedStrategy::Dense;
    case Strategy::Scan: return ResolvedStrategy::Scan;
    case Strategy::Gemm: return ResolvedStrategy::Gemm;
    case Strategy::Tree: return ResolvedStrategy::Tree;
    case Strategy::Cache: return ResolvedStrategy::Cache;
    case Strategy::Auto: return ResolvedStrategy::Index;
  }
  return ResolvedStrategy::Index;
}

/// Index queries report "auto" (the index's auto backend): the name the statistics have always used.
inline const char* strategy_name(ResolvedStrategy s) {
  switch (s) {
    case ResolvedStrategy::Dense: return "dense";
    case ResolvedStrategy::Scan: return "scan";
    case ResolvedStrategy::Gemm: return "gemm";
    case ResolvedStrategy::Tree: return "tree";
    case ResolvedStrategy::Cache: return "cache";
    case ResolvedStrategy::Index: return "auto";
  }
  return "?";
}

/// The index backend a strategy that queries the index asks for.
inline Backend query_backend(ResolvedStrategy s) {
  switch (s) {
    case ResolvedStrategy::Scan: return Backend::Scan;
    case ResolvedStrategy::Gemm: return Backend::Gemm;
    case ResolvedStrategy::Tree: return Backend::Tree;
    default: return Backend::Auto;
  }
}

}  // namespace hsrnet
