// When the trainer refits or rebuilds the index's k-d tree (ski rental). Updates loosen the boxes, so queries
// slow down; tightening them restores the speed. The mean query time of the first steps after a build or
// refit is the baseline; time above it accumulates, and once it exceeds what the last upkeep took, the tree is
// refitted (boxes tightened in place, O(m d): rows keep their slots, so a network numbered in tree order stays
// map-free) or, once refits stop bringing queries back near the speed after the last full build (rows
// drifted away from their leaf mates), rebuilt. At most about twice the optimal cost; results never change
// (every tree answers exactly).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "hsrnet/index/half_space_index.hpp"

namespace hsrnet {

class TreeUpkeep {
 public:
  static constexpr std::size_t kBaselineSteps = 16;
  static constexpr double kRefitWorthIt = 1.5;  // refit while its baseline stays within this of a fresh build's

  /// After a step's tree query that took query_s seconds. rebuild_every > 0: rebuild every that many steps
  /// instead (predictable, for tests and tuning).
  void after_query(HalfSpaceIndex& index, double query_s, std::size_t rebuild_every) {
    if (rebuild_every > 0) {
      if (++steps_ % rebuild_every == 0) index.rebuild();
      return;
    }
    const IndexStats& is = index.stats();
    if (is.tree_builds != builds_seen_ || is.tree_refits != refits_seen_) {  // by us, the index, a user
      after_build_ = is.tree_builds != builds_seen_;
      builds_seen_ = is.tree_builds;
      refits_seen_ = is.tree_refits;
      steps_ = 0;
      baseline_s_ = excess_s_ = 0.0;
      return;  // this query may include the upkeep itself
    }
    ++steps_;
    if (steps_ <= kBaselineSteps) {
      baseline_s_ += query_s / kBaselineSteps;
      if (steps_ == kBaselineSteps && after_build_) built_baseline_s_ = baseline_s_;
      return;
    }
    excess_s_ = std::max(0.0, excess_s_ + query_s - baseline_s_);
    const bool refit = built_baseline_s_ > 0.0 && baseline_s_ <= kRefitWorthIt * built_baseline_s_;
    const double m = static_cast<double>(index.rows());
    const double upkeep_s =
        refit ? (refit_s_ > 0.0 ? refit_s_ : 1e-8 * m * index.dim()) : (rebuild_s_ > 0.0 ? rebuild_s_ : 3e-7 * m);
    if (excess_s_ > upkeep_s) {
      const auto start = std::chrono::steady_clock::now();
      if (refit) {
        index.refit();
        refit_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      } else {
        index.rebuild();
        rebuild_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
  }

 private:
  std::size_t builds_seen_ = ~std::size_t{0}, refits_seen_ = ~std::size_t{0}, steps_ = 0;
  bool after_build_ = false;
  // Mean query time after the last upkeep and after the last full build; query time above the baseline
  // since; what the last refit and rebuild took.
  double baseline_s_ = 0.0, built_baseline_s_ = 0.0, excess_s_ = 0.0, rebuild_s_ = 0.0, refit_s_ = 0.0;
};

}  // namespace hsrnet
