// The auto strategy's choice, and when it changes its mind. Every strategy trains identically, so this only
// decides speed: the tree in low dimension; else the candidate cache when it fits and neurons move slowly
// enough that it is not rebuilt every epoch; else the index's own backend choice (GEMM for batches, scan for
// single samples).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/cache_keeper.hpp"
#include "hsrnet/train/trainer_options.hpp"

namespace hsrnet {

class StrategyPolicy {
 public:
  /// Neurons moving more than this per epoch (in units of |x|) would make the cache a rebuild per epoch.
  static constexpr double kMaxEpochMovement = 0.5;
  /// More cache builds than this in one epoch: the cache thrashes, index queries for the rest of it.
  static constexpr std::size_t kMaxBuildsPerEpoch = 3;

  void reset() {
    thrashing_ = false;
    last_firing_ = last_gnorm_ = 0.0;
  }

  /// Last whole epoch's measurements: the firing fraction and the mean |dL/df|.
  void record_epoch(double firing_fraction, double mean_gradient_norm) {
    last_firing_ = firing_fraction;
    last_gnorm_ = mean_gradient_norm;
  }

  /// Expected movement of a firing neuron over one epoch of n samples at learning rate lr: it fires on about
  /// p n samples, in about p n / B steps (at most one per step). SGD: each firing moves it by about
  /// lr / B * |<a_r, g>| / sqrt(m) * |x|, with |<a_r, g>| ~ |g| (random output signs), momentum multiplying
  /// that by up to 1 / (1 - mu). Adagrad and Adam normalise the gradient: a step moves each coordinate by up
  /// to about lr, so a row by lr sqrt(d). p and |g| are last epoch's measurements (before any:
  /// P(N(0,1) > b / |x|) and 1). In units of |x|.
  double expected_epoch_movement(const ShiftedReLUNet& net, std::size_t n, const TrainerOptions& opt, double lr) const {
    const double m = static_cast<double>(net.width());
    const double p =
        last_firing_ > 0.0 ? last_firing_ : std::max(1.0 / m, 0.5 * std::erfc(net.threshold() / std::sqrt(2.0)));
    const double gnorm = last_gnorm_ > 0.0 ? last_gnorm_ : 1.0;
    const double B = static_cast<double>(opt.batch_size);
    if (opt.optimizer.kind != Optimizer::SGD) {
      const double steps_firing = std::min(p * static_cast<double>(n), std::ceil(static_cast<double>(n) / B));
      return lr * std::sqrt(static_cast<double>(net.input_dim())) * steps_firing;
    }
    return lr * p * static_cast<double>(n) * gnorm / (B * std::sqrt(m) * (1.0 - opt.optimizer.momentum));
  }

  /// The strategy of an epoch over X (n samples): the user's, or auto's choice.
  ResolvedStrategy choose(const ShiftedReLUNet& net, const float* X, std::size_t n, const TrainerOptions& opt,
                          double lr, CacheKeeper& keeper, int threads) const {
    if (opt.strategy != Strategy::Auto) return resolved(opt.strategy);
    if (net.input_dim() <= opt.auto_tree_max_dim) return ResolvedStrategy::Tree;
    const double movement = expected_epoch_movement(net, n, opt, lr);
    if (movement > kMaxEpochMovement) return ResolvedStrategy::Index;
    const std::uint64_t h = keeper.epoch_data_hash(net, X, n, threads);
    if (keeper.known_unfit(net, X, h)) return ResolvedStrategy::Index;
    // After thrashing, try again only once the expected movement has dropped well below its level then.
    if (thrashing_ && keeper.built_for(net, X, h) && movement > 0.25 * thrash_movement_) return ResolvedStrategy::Index;
    return ResolvedStrategy::Cache;
  }

  /// After a step of an epoch that auto gave the cache: true (and remembered) once the cache has been
  /// rebuilt too often this epoch, i.e. index queries for the rest of it.
  bool leave_thrashing_cache(const ShiftedReLUNet& net, std::size_t n, const TrainerOptions& opt, double lr,
                             std::size_t builds_this_epoch) {
    if (opt.strategy != Strategy::Auto || builds_this_epoch <= kMaxBuildsPerEpoch) return false;
    thrashing_ = true;
    thrash_movement_ = expected_epoch_movement(net, n, opt, lr);
    return true;
  }

 private:
  bool thrashing_ = false;
  double thrash_movement_ = 0.0, last_firing_ = 0.0, last_gnorm_ = 0.0;
};

}  // namespace hsrnet
