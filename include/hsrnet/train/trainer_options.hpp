// What the SGD trainer is told (TrainerOptions) and what it reports (EpochStats per epoch, StepView per step
// to a callback).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>

#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/index/tree_limits.hpp"
#include "hsrnet/net/losses.hpp"
#include "hsrnet/train/lr_schedule.hpp"
#include "hsrnet/train/optimizer.hpp"
#include "hsrnet/train/train_strategy.hpp"

namespace hsrnet {

struct TrainerOptions {
  std::size_t batch_size = 1;
  double lr = 0.01;  // lr0
  Schedule schedule = Schedule::Constant;
  double power = 0.5;  // exponent of the inverse-scaling schedules
  int epochs = 1;      // for fit()
  Strategy strategy = Strategy::Auto;
  bool train_output_layer = false;  // the paper trains W only
  OptimizerOptions optimizer;       // sgd (the paper's), lazy momentum, adagrad, rowwise_adagrad, lazy adam
  Loss loss = Loss::SquaredError;
  std::uint64_t seed = 0;  // shuffling
  bool shuffle = true;
  // Candidate cache (strategy cache, or auto); see candidate_cache.hpp.
  std::size_t cache_budget_bytes = std::size_t{1} << 30;  // beyond it: index queries instead
  double cache_delta = 0.0;                               // > 0: fixed delta; 0: chosen by the cache
  double cache_max_candidate_ratio = 4.0;                 // automatic delta: cached pairs <= this * firing pairs
  double cache_max_moved_fraction = 0.25;                 // rebuild when more than this fraction of m left the caches
  // Auto strategy: the tree up to this input dimension (see kAutoTreeMaxDim).
  int auto_tree_max_dim = kAutoTreeMaxDim;
  // Tree upkeep when the index answers with its tree: 0 rebuilds by cost (tree_upkeep.hpp); k > 0 rebuilds
  // every k steps instead (predictable, for tests and tuning).
  std::size_t tree_rebuild_every = 0;
  int n_threads = 0;  // 0: OpenMP's default

  /// Throws std::invalid_argument for settings no trainer can run with.
  void validate() const {
    if (batch_size < 1) throw std::invalid_argument("hsrnet: batch_size must be >= 1");
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("hsrnet: lr must be > 0");
    if (!(power >= 0.0)) throw std::invalid_argument("hsrnet: power must be >= 0");
    if (n_threads < 0) throw std::invalid_argument("hsrnet: n_threads must be >= 0");
    if (cache_delta < 0.0) throw std::invalid_argument("hsrnet: cache_delta must be >= 0");
    optimizer.validate();
  }
};

struct EpochStats {
  std::size_t epoch = 0;  // epochs completed by this trainer, this one included
  std::size_t steps = 0, samples = 0;
  double mean_loss = 0.0;           // mean over samples, at the weights before their step
  double firing_fraction = 0.0;     // mean |S_i| / m
  double candidate_fraction = 0.0;  // mean candidates evaluated per sample / m (= firing unless cache)
  // Seconds per phase, summed over the steps (total_s also counts shuffling and the strategy choice):
  //   identify: candidates (index query and tree upkeep, dense GEMM, or cache lookup and cache builds) and
  //             the per-neuron view; for the cache also the evaluation of its candidates;
  //   forward:  pre-activations of the firing neurons (except cache), outputs, loss and dL/df;
  //   backward: update coefficients per (sample, firing neuron) and the output-layer update;
  //   update:   hidden-row updates and their stored norms (for the cache with their movement bounds);
  //   index:    index.rows_moved and the cache's movement bookkeeping (the B = 1 step does its index
  //             upkeep inside update).
  double identify_s = 0.0, forward_s = 0.0, backward_s = 0.0, update_s = 0.0, index_s = 0.0, total_s = 0.0;
  double learning_rate = 0.0;  // of the last step
  // The strategy in use at the end of the epoch (Index: queries with the index's own backend choice, see
  // index_backend: auto's fallback, or the cache's when over budget).
  ResolvedStrategy strategy = ResolvedStrategy::Index;
  Backend index_backend = Backend::Auto;  // backend of the last index query, when the index was queried
  bool cache_fallback = false;            // cache requested but over budget: index queries were used
  std::size_t cache_builds = 0;           // cache (re)builds during the epoch
  double cache_delta = 0.0;               // delta of the cache in use at the end of the epoch
  std::size_t cache_bytes = 0;
  std::size_t tree_builds = 0;   // index tree (re)builds during the epoch
  std::size_t tree_refits = 0;   // index tree refits (boxes tightened in place) during the epoch
  std::size_t rows_updated = 0;  // hidden rows moved, summed over the epoch's steps
  std::size_t candidates = 0;    // (sample, neuron) pairs evaluated, summed over the epoch
  // The interrupt check (SgdTrainer::set_interrupt_check) asked to stop: the epoch ended after `steps` steps
  // and `samples` samples; those steps are applied (weights, optimizer state and samples_seen() include
  // them), and epochs_done() does not count the partial epoch.
  bool interrupted = false;
};

/// What a step callback sees: the firing sets of the step, before the update. The callback runs inside
/// fit_epoch, where OpenMP's default team size is 1 (see fit_epoch).
struct StepView {
  std::size_t step = 0;   // global step number, from 0
  std::size_t epoch = 0;  // from 0
  std::size_t batch_size = 0;
  const std::size_t* samples = nullptr;   // the batch's sample indices into X
  const std::int64_t* offsets = nullptr;  // firing ids of batch position q: ids[offsets[q] .. offsets[q+1])
  const row_id* ids = nullptr;            // ascending per sample
  double learning_rate = 0.0;
};
using StepCallback = std::function<void(const StepView&)>;
/// Polled between steps of fit_epoch; returning true ends the epoch early (EpochStats::interrupted). It runs
/// on the calling thread, so it may look at signals (the Python bindings check for KeyboardInterrupt).
using InterruptCheck = std::function<bool()>;

}  // namespace hsrnet
