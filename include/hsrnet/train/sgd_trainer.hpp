// hsrnet::SgdTrainer: SGD on a ShiftedReLUNet that touches only the neurons that fire, exactly as dense SGD.
//
// One step on a batch of B samples (B = 1 is the paper's algorithm; a mini-batch uses the mean gradient):
//   1. identify: per sample, candidate neurons (ascending ids) by the chosen strategy (train_strategy.hpp);
//   2. forward:  z = reference_dot(w_r, x) per (sample, candidate), computed per neuron (neuron_major.hpp;
//                rows that are candidates for the whole batch, such as the cache's moved set, four at a time
//                against three samples), f = (1/sqrt m) sum over candidates with z > b of a_r (z - b),
//                ascending r; loss, g = dL/df;
//   3. backward: per firing (sample, neuron) the coefficient -lr/B * (1/sqrt m) <a_r, g>; output layer a_r
//                moved by -lr/B * (1/sqrt m) sum (z - b) g if enabled (from the same old a_r);
//   4. update:   per firing neuron, w_r += sum of coefficient * x over its samples, in sample order, and the
//                row's stored norm refreshed while it is in cache;
//   5. index:    index.rows_moved(moved rows) keeps the index exact (finiteness, tree boxes).
// Only identification differs between strategies, and all of them yield the same firing sets, so dense and
// sparse training give the same weights bit for bit. Every sum of products is an explicit fma, so the bits
// do not depend on -ffp-contract either.
//
// Threads: identification, pre-activations and updates run per neuron, the forward pass per sample, each
// item's arithmetic fixed in order; nothing is reduced across threads. So results are bit-identical for any
// thread count (1 and 2 threads give identical weights: tested in test_trainer.cpp).
//
// Work per step is O(candidates * d) beyond identification in every sparse strategy: no O(m) clearing, no
// O(m) scan (the dense strategy and the scan/gemm backends scan by design).
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/kernels/above_threshold.hpp"
#include "hsrnet/kernels/aligned_buffer.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/kernels/multi_dot.hpp"
#include "hsrnet/net/losses.hpp"
#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/candidate_cache.hpp"
#include "hsrnet/train/dense_identifier.hpp"
#include "hsrnet/train/lr_schedule.hpp"
#include "hsrnet/train/neuron_major.hpp"
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
  // Auto strategy: the tree below this input dimension (trees stop beating a scan around d = 8-16).
  int auto_tree_max_dim = 8;
  // Tree upkeep when the index answers with its tree: 0 rebuilds by cost (maintain_tree); k > 0 rebuilds
  // every k steps instead (predictable, for tests and tuning).
  std::size_t tree_rebuild_every = 0;
  int n_threads = 0;  // 0: OpenMP's default
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
  // The strategy in use at the end of the epoch (auto resolved). Auto here means index queries with the
  // index's own backend choice (see index_backend): auto's fallback, or the cache's when over budget.
  Strategy strategy = Strategy::Auto;
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

class SgdTrainer {
 public:
  static constexpr std::uint64_t kShuffleStream = 2;
  static constexpr double kAutoMaxEpochMovement = 0.5;  // see resolve_strategy
  static constexpr std::size_t kAutoMaxBuildsPerEpoch = 3;
  static constexpr std::size_t kParallelWork = 1 << 16;

  explicit SgdTrainer(const TrainerOptions& options = {}) : opt_(options), rng_(options.seed, kShuffleStream) {
    if (opt_.batch_size < 1) throw std::invalid_argument("hsrnet: batch_size must be >= 1");
    if (!(opt_.lr > 0.0) || !std::isfinite(opt_.lr)) throw std::invalid_argument("hsrnet: lr must be > 0");
    if (!(opt_.power >= 0.0)) throw std::invalid_argument("hsrnet: power must be >= 0");
    if (opt_.n_threads < 0) throw std::invalid_argument("hsrnet: n_threads must be >= 0");
    if (opt_.cache_delta < 0.0) throw std::invalid_argument("hsrnet: cache_delta must be >= 0");
    opt_.optimizer.validate();
  }

  const TrainerOptions& options() const { return opt_; }
  void set_step_callback(StepCallback cb) { callback_ = std::move(cb); }
  void set_interrupt_check(InterruptCheck check) { interrupt_check_ = std::move(check); }

  std::size_t steps_done() const { return step_; }
  std::size_t epochs_done() const { return epoch_; }
  std::size_t samples_seen() const { return samples_seen_; }
  const CandidateCache& cache() const { return cache_; }

  /// A new base learning rate for the following steps (the schedule applies to it); the optimizer's state,
  /// the cache and auto's measurements are kept.
  void set_learning_rate(double lr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("hsrnet: lr must be > 0");
    opt_.lr = lr;
  }
  /// Restarts the shuffling from a new seed (the following epochs' sample order); nothing else changes.
  void reseed(std::uint64_t seed) {
    opt_.seed = seed;
    rng_ = Rng(seed, kShuffleStream);
  }

  /// The optimizer's state (empty until the first stateful step, or after reset()); see optimizer.hpp.
  const OptimizerState& optimizer_state() const { return optim_; }
  /// Gives the optimizer's state for `net` from saved arrays (hidden: m x d, or m for rowwise_adagrad;
  /// output: m x K; absent arrays: nullptr) and its step count, so training continues exactly as if it had
  /// never stopped.
  void restore_optimizer_state(const ShiftedReLUNet& net, const float* hidden1, const float* hidden2, const float* out1,
                               const float* out2, std::uint64_t steps) {
    bind_optimizer(net, /*force_reset=*/true);
    const std::size_t m = net.width();
    const int d = net.input_dim(), K = net.outputs(), stride = optim_.stride();
    auto copy_hidden = [&](const float* src, AlignedBuffer<float>& dst) {
      if (!dst.size()) return;
      if (!src) throw std::invalid_argument("hsrnet: optimizer state incomplete");
      if (dst.size() == m) {  // row-wise accumulator
        std::copy_n(src, m, dst.data());
        return;
      }
      for (std::size_t r = 0; r < m; ++r)
        std::copy_n(src + r * static_cast<std::size_t>(d), d, dst.data() + r * static_cast<std::size_t>(stride));
    };
    auto copy_out = [&](const float* src, AlignedBuffer<float>& dst) {
      if (!dst.size()) return;
      if (!src) throw std::invalid_argument("hsrnet: optimizer state incomplete");
      std::copy_n(src, m * static_cast<std::size_t>(K), dst.data());
    };
    copy_hidden(hidden1, optim_.hidden1());
    copy_hidden(hidden2, optim_.hidden2());
    copy_out(out1, optim_.out1());
    copy_out(out2, optim_.out2());
    optim_.set_steps(steps);
  }

  /// Forgets progress (schedule position, shuffling state) and drops the cache.
  void reset() {
    step_ = epoch_ = samples_seen_ = 0;
    rng_ = Rng(opt_.seed, kShuffleStream);
    cache_.clear();
    cache_key_ = {};
    cache_unfit_ = cache_thrashing_ = false;
    last_firing_ = last_gnorm_ = 0.0;
    optim_ = OptimizerState();
    optim_net_uid_ = 0;
    run_ = EpochRun{};
    pending_ = PendingStep{};
  }

  /// One epoch over X (n x d, row-major float32) with regression targets Y (n x K float32).
  EpochStats fit_epoch(ShiftedReLUNet& net, const float* X, std::size_t n, const float* Y) {
    return fit_epoch(net, X, n, Targets::regression(Y));
  }
  /// One epoch with class labels (n int32 in [0, K)) for softmax cross-entropy.
  EpochStats fit_epoch(ShiftedReLUNet& net, const float* X, std::size_t n, const std::int32_t* labels) {
    return fit_epoch(net, X, n, Targets::classes(labels));
  }
  /// Throws std::invalid_argument for bad input, and whatever the index throws (a step that makes a row
  /// non-finite, i.e. diverged training); after an exception the network holds the weights of the failed
  /// step, and reset() gives a clean trainer.
  EpochStats fit_epoch(ShiftedReLUNet& net, const float* X, std::size_t n, const Targets& targets) {
    if (n == 0) throw std::invalid_argument("hsrnet: no training samples");
    if (!X) throw std::invalid_argument("hsrnet: X must not be null");
    validate_targets(opt_.loss, targets, n, net.outputs());
    const ThreadScope scope(*this, net);
    open_epoch(net, X, n);

    // Shuffle from the seed (Fisher-Yates over the identity, each epoch).
    perm_.resize(n);
    std::iota(perm_.begin(), perm_.end(), std::size_t{0});
    if (opt_.shuffle) shuffle(perm_.data(), n, rng_);

    const std::size_t B = opt_.batch_size;
    for (std::size_t p0 = 0; p0 < n; p0 += B) {
      if (interrupt_check_ && p0 > 0 && interrupt_check_()) {
        run_.st.interrupted = true;
        break;
      }
      const std::size_t nb = std::min(B, n - p0);
      const double lr = epoch_learning_rate();
      step(net, X, targets, perm_.data() + p0, nb, lr, run_.st.strategy, n, run_.st);
      account_step(net, nb, lr);
    }
    return close_epoch(net);
  }

  // ---------------------------------------------------------------------------------------------------
  // Two-phase steps, for training a network whose neurons are split over shards (each shard a network of its
  // own neurons with output_scale 1/sqrt(m_total), and its own trainer): per batch, begin_step on every shard,
  // the partial outputs summed in a fixed order and the loss gradient taken (batch_loss_gradient), then
  // finish_step on every shard. With one shard this is fit_epoch's step, bit for bit.

  /// Binds the data set X (n x d) for the following two-phase steps, as fit_epoch does for its epoch: the
  /// strategy is chosen (auto), the cache built. X must stay alive and unchanged until end_epoch (or the next
  /// begin_epoch). An epoch still open is closed first (its statistics dropped).
  void begin_epoch(ShiftedReLUNet& net, const float* X, std::size_t n) {
    if (n == 0) throw std::invalid_argument("hsrnet: no training samples");
    if (!X) throw std::invalid_argument("hsrnet: X must not be null");
    if (pending_.open) throw std::logic_error("hsrnet: begin_epoch while a step is open (finish_step first)");
    if (run_.open) close_epoch(net);
    const ThreadScope scope(*this, net);
    open_epoch(net, X, n);
  }

  /// Phase 1 of a step on the samples samples[0..nb) of the bound X (indices into it; the caller picks the
  /// batches and their order): identification and pre-activations on this network's neurons, and their
  /// partial outputs, nb x K doubles (the output sum before its rounding to float), valid until the next call.
  /// Keeps the identification, pre-activations and batch for finish_step. The learning rate is the schedule's
  /// at this step.
  const double* begin_step(ShiftedReLUNet& net, const std::size_t* samples, std::size_t nb) {
    if (!run_.open || run_.net_uid != net.uid())
      throw std::logic_error("hsrnet: begin_step needs begin_epoch on this network first");
    if (pending_.open) throw std::logic_error("hsrnet: begin_step while a step is open (finish_step first)");
    if (nb == 0) throw std::invalid_argument("hsrnet: empty batch");
    for (std::size_t q = 0; q < nb; ++q)
      if (samples[q] >= run_.n) throw std::invalid_argument("hsrnet: batch sample index out of range");
    const ThreadScope scope(*this, net);
    pending_samples_.assign(samples, samples + nb);
    pending_.lr = epoch_learning_rate();
    auto t = Clock::now();
    prepare_step(net, run_.X, pending_samples_.data(), nb, pending_.lr, run_.st.strategy, run_.n, run_.st);
    preactivations_phase(net, run_.st, t);
    partial_.resize(nb * static_cast<std::size_t>(net.outputs()));
    outputs_phase(net, [&](std::size_t q, const row_id* ids, const float* z, std::size_t k, double* acc) {
      return net.output_from_preactivations(ids, z, k, partial_.data() + q * net.outputs(), acc);
    });
    lap_into(t, run_.st.forward_s);
    pending_.open = true;
    return partial_.data();
  }

  /// Phase 2: the backward pass, the update and the index upkeep of the step begin_step opened, from
  /// G = dL/df per sample (nb x K doubles, batch_loss_gradient of the summed outputs; the mean's 1/nb is
  /// applied here). `losses` (nb, or null) only feed the epoch's mean loss.
  void finish_step(ShiftedReLUNet& net, const double* G, const double* losses = nullptr) {
    if (!pending_.open || run_.net_uid != net.uid())
      throw std::logic_error("hsrnet: finish_step without begin_step on this network");
    const ThreadScope scope(*this, net);
    const std::size_t nb = cur_.nb, K = static_cast<std::size_t>(net.outputs());
    auto t = Clock::now();
    g_.assign(G, G + nb * K);
    for (std::size_t q = 0; q < nb; ++q) {
      loss_[q] = losses ? losses[q] : std::numeric_limits<double>::quiet_NaN();
      gnorm_[q] = gradient_norm(g_.data() + q * K, K);
    }
    lap_into(t, run_.st.forward_s);
    pending_.open = false;
    finish_phases(net, run_.st, t);
    account_step(net, nb, pending_.lr);
  }

  /// Ends the epoch begin_epoch opened (counted as an epoch) and returns its statistics; mean_loss is NaN
  /// unless finish_step was given the losses.
  EpochStats end_epoch(ShiftedReLUNet& net) {
    if (!run_.open || run_.net_uid != net.uid()) throw std::logic_error("hsrnet: end_epoch without begin_epoch");
    if (pending_.open) throw std::logic_error("hsrnet: end_epoch while a step is open (finish_step first)");
    return close_epoch(net);
  }
  bool epoch_open() const { return run_.open; }
  /// The batch size of the step begin_step opened (0 when none is open).
  std::size_t open_step_size() const { return pending_.open ? cur_.nb : 0; }

  /// options().epochs epochs.
  std::vector<EpochStats> fit(ShiftedReLUNet& net, const float* X, std::size_t n, const Targets& targets) {
    std::vector<EpochStats> out;
    for (int e = 0; e < opt_.epochs; ++e) out.push_back(fit_epoch(net, X, n, targets));
    return out;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  /// Adds the time since t to acc and restarts t (the per-phase clocks of a step).
  static void lap_into(Clock::time_point& t, double& acc) {
    const auto now = Clock::now();
    acc += std::chrono::duration<double>(now - t).count();
    t = now;
  }

  /// Sets OpenMP's default team size (nthreads-var) and restores it on scope exit.
  struct ScopedDefaultThreads {
    explicit ScopedDefaultThreads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
    ~ScopedDefaultThreads() { omp_set_num_threads(saved); }
    ScopedDefaultThreads(const ScopedDefaultThreads&) = delete;
    ScopedDefaultThreads& operator=(const ScopedDefaultThreads&) = delete;
    int saved;
  };

  /// The index runs with the trainer's thread count during an epoch.
  struct ScopedIndexThreads {
    ScopedIndexThreads(HalfSpaceIndex& i, int n) : index(i), saved(i.options().n_threads) { index.set_n_threads(n); }
    ~ScopedIndexThreads() { index.set_n_threads(saved); }
    ScopedIndexThreads(const ScopedIndexThreads&) = delete;
    ScopedIndexThreads& operator=(const ScopedIndexThreads&) = delete;
    HalfSpaceIndex& index;
    int saved;
  };

  /// A trainer call's threads: the index runs with the trainer's count, and every parallel region names its
  /// own. What remains is Eigen, which parallelises a product on its own when called from a one-thread region
  /// (nested threads beyond the budget); a default team size of 1 keeps it sequential. Restored on exit.
  struct ThreadScope {
    ThreadScope(SgdTrainer& trainer, ShiftedReLUNet& net)
        : index_threads(net.index(),
                        trainer.threads_ = trainer.opt_.n_threads > 0 ? trainer.opt_.n_threads : omp_get_max_threads()),
          one_thread_default(1) {}
    ScopedIndexThreads index_threads;
    ScopedDefaultThreads one_thread_default;
  };

  /// The epoch in progress (fit_epoch's, or begin_epoch's for two-phase steps) and its running sums.
  struct EpochRun {
    bool open = false;
    std::uint64_t net_uid = 0;
    const float* X = nullptr;
    std::size_t n = 0;
    EpochStats st;
    Clock::time_point start;
    std::size_t samples_before = 0, cache_builds_before = 0, tree_builds_before = 0, tree_refits_before = 0;
    double loss_sum = 0.0, firing_sum = 0.0, candidate_sum = 0.0, gnorm_sum = 0.0;
    std::size_t done = 0;  // samples trained on (n unless interrupted)
  };

  /// A two-phase step between begin_step and finish_step.
  struct PendingStep {
    bool open = false;
    double lr = 0.0;
  };

  void open_epoch(ShiftedReLUNet& net, const float* X, std::size_t n) {
    run_ = EpochRun{};
    run_.start = Clock::now();
    run_.open = true;
    run_.net_uid = net.uid();
    run_.X = X;
    run_.n = n;
    const IndexStats& is = net.index().stats();
    run_.tree_builds_before = is.tree_builds;
    run_.tree_refits_before = is.tree_refits;
    run_.samples_before = samples_seen_;
    run_.cache_builds_before = cache_builds_total_;
    if (opt_.optimizer.stateful()) bind_optimizer(net, /*force_reset=*/false);
    EpochStats& st = run_.st;
    epoch_hash_valid_ = false;
    st.strategy = resolve_strategy(net, X, n);
    if (st.strategy == Strategy::Cache && !ensure_cache(net, X, n)) {
      st.cache_fallback = true;
      st.strategy = Strategy::Auto;  // index queries, the index's auto backend
    }
    st.identify_s += seconds_since(run_.start);  // strategy choice and cache build
  }

  double epoch_learning_rate() const {
    return learning_rate(opt_.schedule, opt_.lr, opt_.power, step_, run_.samples_before);
  }

  /// The epoch's sums after a step of nb samples.
  void account_step(const ShiftedReLUNet& net, std::size_t nb, double lr) {
    EpochStats& st = run_.st;
    for (std::size_t q = 0; q < nb; ++q) {
      run_.loss_sum += loss_[q];
      run_.firing_sum += static_cast<double>(fired_[q]);
      run_.gnorm_sum += gnorm_[q];
    }
    if (opt_.strategy == Strategy::Auto && st.strategy == Strategy::Cache &&
        cache_builds_total_ - run_.cache_builds_before > kAutoMaxBuildsPerEpoch) {
      // Auto chose the cache but it keeps being rebuilt: index queries for the rest of the epoch.
      cache_thrashing_ = true;
      thrash_movement_ = expected_epoch_movement(net, run_.n);
      st.strategy = Strategy::Auto;
    }
    run_.candidate_sum += static_cast<double>(step_candidates_);
    st.candidates += step_candidates_;
    st.learning_rate = lr;
    ++st.steps;
    run_.done += nb;
  }

  EpochStats close_epoch(const ShiftedReLUNet& net) {
    EpochStats st = run_.st;
    run_.open = false;
    samples_seen_ += run_.done;
    if (!st.interrupted) ++epoch_;
    const HalfSpaceIndex& index = net.index();
    const double m = static_cast<double>(net.width());
    const double seen = static_cast<double>(run_.done);
    st.epoch = epoch_;
    st.samples = run_.done;
    st.mean_loss = run_.loss_sum / seen;
    st.firing_fraction = run_.firing_sum / (seen * m);
    st.candidate_fraction = run_.candidate_sum / (seen * m);
    st.cache_builds = cache_builds_total_ - run_.cache_builds_before;
    if (!st.interrupted && run_.done > 0) {  // auto's measurements come from whole epochs
      last_firing_ = st.firing_fraction;
      last_gnorm_ = run_.gnorm_sum / seen;
    }
    if (st.strategy == Strategy::Cache) {
      st.cache_delta = cache_.delta();
      st.cache_bytes = cache_.memory_bytes();
    }
    if (st.strategy != Strategy::Dense && st.strategy != Strategy::Cache) st.index_backend = index.stats().last_backend;
    st.tree_builds = index.stats().tree_builds - run_.tree_builds_before;
    st.tree_refits = index.stats().tree_refits - run_.tree_refits_before;
    st.total_s = seconds_since(run_.start);
    return st;
  }

  static double gradient_norm(const double* g, std::size_t K) {
    double gg = 0.0;
    for (std::size_t k = 0; k < K; ++k) gg += g[k] * g[k];
    return std::sqrt(gg);
  }

  struct CacheKey {
    std::uint64_t net_uid = 0;
    const float* X = nullptr;
    std::size_t n = 0;
    std::uint64_t data_hash = 0;
    std::size_t rows_updated = 0;  // index.stats().rows_updated after our last step
    bool operator==(const CacheKey& o) const {
      return net_uid == o.net_uid && X == o.X && n == o.n && data_hash == o.data_hash && rows_updated == o.rows_updated;
    }
  };

  /// A cheap fingerprint of the data set (the cache must not survive a change of X).
  static std::uint64_t data_hash(const float* X, std::size_t count, int threads) {
    constexpr std::size_t kBlock = std::size_t{1} << 16;
    const std::size_t blocks = (count + kBlock - 1) / kBlock;
    std::vector<std::uint64_t> h(blocks);
#pragma omp parallel for schedule(static) num_threads(threads) if (blocks > 4)
    for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(blocks); ++b) {
      const std::size_t i0 = static_cast<std::size_t>(b) * kBlock, i1 = std::min(count, i0 + kBlock);
      std::uint64_t acc = 0x9e3779b97f4a7c15ULL ^ i0;
      for (std::size_t i = i0; i < i1; ++i) {
        std::uint32_t u;
        std::memcpy(&u, X + i, sizeof u);
        acc = (acc ^ u) * 0x100000001b3ULL;
      }
      h[b] = acc;
    }
    std::uint64_t out = count;
    for (const std::uint64_t v : h) out = SplitMix64(out ^ v).next();
    return out;
  }

  /// data_hash of this epoch's X, computed at most once per epoch.
  std::uint64_t epoch_data_hash(const float* X, std::size_t count) {
    if (!epoch_hash_valid_) {
      epoch_hash_ = data_hash(X, count, threads_);
      epoch_hash_valid_ = true;
    }
    return epoch_hash_;
  }

  CacheKey key_for(const ShiftedReLUNet& net, const float* X, std::size_t n, std::uint64_t hash) const {
    return CacheKey{net.uid(), X, n, hash, net.index().stats().rows_updated};
  }

  /// Makes the optimizer's state belong to `net` (zero state for a new network, or when forced).
  void bind_optimizer(const ShiftedReLUNet& net, bool force_reset) {
    const int stride = net.index().store().stride();
    if (!force_reset && optim_net_uid_ == net.uid() &&
        optim_.matches(opt_.optimizer, net.width(), stride, net.outputs()))
      return;
    optim_.reset(opt_.optimizer, net.width(), stride, net.outputs());
    optim_.set_input_dim(net.input_dim());
    optim_net_uid_ = net.uid();
  }

  /// Expected movement of a firing neuron over one epoch: it fires on about p n samples, in about p n / B steps
  /// (at most one per step). SGD: each firing moves it by about lr / B * |<a_r, g>| / sqrt(m) * |x|, with
  /// |<a_r, g>| ~ |g| (random output signs), momentum multiplying that by up to 1 / (1 - mu). Adagrad and Adam
  /// normalise the gradient: a step moves each coordinate by up to about lr, so a row by lr sqrt(d). p and |g|
  /// are last epoch's measurements (before any: P(N(0,1) > b / |x|) and 1). In units of |x|.
  double expected_epoch_movement(const ShiftedReLUNet& net, std::size_t n) const {
    const double m = static_cast<double>(net.width());
    const double p =
        last_firing_ > 0.0 ? last_firing_ : std::max(1.0 / m, 0.5 * std::erfc(net.threshold() / std::sqrt(2.0)));
    const double gnorm = last_gnorm_ > 0.0 ? last_gnorm_ : 1.0;
    const double lr = learning_rate(opt_.schedule, opt_.lr, opt_.power, step_, samples_seen_);
    const double B = static_cast<double>(opt_.batch_size);
    if (opt_.optimizer.kind != Optimizer::SGD) {
      const double steps_firing = std::min(p * static_cast<double>(n), std::ceil(static_cast<double>(n) / B));
      return lr * std::sqrt(static_cast<double>(net.input_dim())) * steps_firing;
    }
    return lr * p * static_cast<double>(n) * gnorm / (B * std::sqrt(m) * (1.0 - opt_.optimizer.momentum));
  }

  /// Auto: the tree in low dimension; else the cache when it fits and neurons move less than half the typical
  /// pre-activation scale per epoch (else it would be rebuilt every epoch, each rebuild costing a full pass);
  /// else the index's own choice (GEMM for batches, scan for single samples).
  Strategy resolve_strategy(ShiftedReLUNet& net, const float* X, std::size_t n) {
    if (opt_.strategy != Strategy::Auto) return opt_.strategy;
    if (net.input_dim() <= opt_.auto_tree_max_dim) return Strategy::Tree;
    const double movement = expected_epoch_movement(net, n);
    if (movement > kAutoMaxEpochMovement) return Strategy::Auto;
    const std::uint64_t h = epoch_data_hash(X, n * static_cast<std::size_t>(net.input_dim()));
    const bool same_data = cache_key_.net_uid == net.uid() && cache_key_.X == X && cache_key_.data_hash == h;
    if (cache_unfit_ && cache_unfit_key_.net_uid == net.uid() && cache_unfit_key_.X == X &&
        cache_unfit_key_.data_hash == h)
      return Strategy::Auto;
    // After thrashing, try again only once the expected movement has dropped well below its level then.
    if (cache_thrashing_ && same_data && movement > 0.25 * thrash_movement_) return Strategy::Auto;
    return Strategy::Cache;
  }

  /// Makes the cache valid for (net, X); false when it does not fit the budget.
  bool ensure_cache(ShiftedReLUNet& net, const float* X, std::size_t n) {
    const std::uint64_t h = epoch_data_hash(X, n * static_cast<std::size_t>(net.input_dim()));
    const CacheKey key = key_for(net, X, n, h);
    if (cache_.valid() && cache_key_ == key) return true;
    cache_.clear();
    if (!rebuild_cache(net, X, n)) {
      cache_unfit_ = true;
      cache_unfit_key_ = key;
      return false;
    }
    cache_key_ = key;
    return true;
  }

  /// (Re)builds the cache; delta is fixed by the user or chosen by the cache (candidate_cache.hpp).
  bool rebuild_cache(ShiftedReLUNet& net, const float* X, std::size_t n) {
    CacheSettings cs;
    cs.budget_bytes = opt_.cache_budget_bytes;
    cs.max_candidate_ratio = opt_.cache_max_candidate_ratio;
    cs.max_moved_fraction = opt_.cache_max_moved_fraction;
    cs.fixed_delta = opt_.cache_delta;
    const bool ok = cache_.rebuild(net.index(), net.threshold(), X, n, cs, threads_);
    if (ok) ++cache_builds_total_;
    return ok;
  }

  // ---------------------------------------------------------------------------------------------------
  // One SGD step on batch samples[0..nb), in phases: prepare_step (batch inputs, identification),
  // preactivations_phase, outputs_phase with the loss, then finish_phases (backward, update, index upkeep).
  // begin_step / finish_step run the same phases with the loss taken outside.
  void step(ShiftedReLUNet& net, const float* X, const Targets& targets, const std::size_t* samples, std::size_t nb,
            double lr, Strategy& strategy, std::size_t n, EpochStats& st) {
    auto t = Clock::now();
    prepare_step(net, X, samples, nb, lr, strategy, n, st);
    const int T = threads_, d = net.input_dim();
    if (nb == 1 && cur_.exact && !cur_.stateful &&
        (T == 1 || cand_ids_.size() * static_cast<std::size_t>(d + 16) <= kParallelWork)) {
      lap_into(t, st.identify_s);
      step_single(net, xb_.data(), targets, samples[0], lr, st, t);
      ++step_;
      return;
    }
    preactivations_phase(net, st, t);
    const int K = net.outputs();
    f_.resize(nb * K);
    outputs_phase(net, [&](std::size_t q, const row_id* ids, const float* z, std::size_t k, double* acc) {
      const std::size_t fired = net.output_from_preactivations(ids, z, k, f_.data() + q * K, acc);
      loss_[q] = loss_and_gradient(opt_.loss, f_.data() + q * K, K, targets, samples[q], g_.data() + q * K);
      gnorm_[q] = gradient_norm(g_.data() + q * K, static_cast<std::size_t>(K));
      return fired;
    });
    lap_into(t, st.forward_s);
    finish_phases(net, st, t);
  }

  /// What the phases of the step in progress share (set by prepare_step and preactivations_phase).
  struct StepPlan {
    const std::size_t* samples = nullptr;
    std::size_t nb = 0;
    double lr = 0.0;
    Strategy strategy = Strategy::Auto;      // after a possible cache fallback
    bool stateful = false;                   // rows move by the optimizer's rule, from their gradients
    bool exact = true;                       // candidates are exactly the firing sets
    std::size_t total = 0;                   // entries of the per-sample candidate lists
    std::size_t neurons = 0;                 // neurons of the per-neuron view
    std::size_t moved_set = 0;               // rows of the split-off moved set (against every sample)
    std::size_t evaluated = 0;               // (sample, neuron) pairs whose z the step computes
    std::size_t row_work = 0, out_work = 0;  // rough operation counts (see kParallelWork)
  };

  /// Batch inputs (padded), input norms where needed, then the candidates of every sample (1. identify).
  void prepare_step(ShiftedReLUNet& net, const float* X, const std::size_t* samples, std::size_t nb, double lr,
                    Strategy& strategy, std::size_t n, EpochStats& st) {
    HalfSpaceIndex& index = net.index();
    const RowStore& store = index.store();
    const int d = net.input_dim(), stride = store.stride();
    cur_ = StepPlan{};
    cur_.samples = samples;
    cur_.nb = nb;
    cur_.lr = lr;
    acc_k_ = static_cast<std::size_t>(net.outputs());
    cur_.stateful = opt_.optimizer.stateful();
    if (cur_.stateful) optim_.begin_step(lr);

    // Batch inputs, padded to the row stride (padding stays zero from allocation).
    if (xb_cap_ < nb || xb_stride_ != stride) {
      xb_ = AlignedBuffer<float>(nb * static_cast<std::size_t>(stride));
      xb_cap_ = nb;
      xb_stride_ = stride;
    }
    for (std::size_t q = 0; q < nb; ++q) std::copy_n(X + samples[q] * d, d, xb_.data() + q * stride);
    const float* xb = xb_.data();

    // Input norms (upper bounds): the dense rounding band and the cache's movement bounds need them.
    if (strategy == Strategy::Dense || strategy == Strategy::Cache) {
      xnorm_.resize(nb);
      for (std::size_t q = 0; q < nb; ++q) xnorm_[q] = norm_upper_bound(xb + q * stride, d);
    }

    moved_rows_.clear();
    if (strategy == Strategy::Cache && cache_.needs_refresh()) {
      if (rebuild_cache(net, X, n)) {
        cache_key_.rows_updated = index.stats().rows_updated;
      } else {  // the candidates outgrew the budget: index queries from here on
        cache_unfit_ = true;
        cache_unfit_key_ = cache_key_;
        st.cache_fallback = true;
        strategy = Strategy::Auto;
      }
    }
    if (strategy == Strategy::Cache) {
      // The moved set (candidates for every sample) stays out of the per-sample lists when its rows can go
      // against the whole batch as one block (preactivations_phase): the lists then hold the cached pairs
      // only, and the per-neuron view, built per entry, does not grow with it.
      const bool split = nb >= 3 && stride % 8 == 0;
      if (split) moved_rows_.assign(cache_.moved_ids().begin(), cache_.moved_ids().end());
      cand_off_.resize(nb + 1);
      cand_off_[0] = 0;
      cand_ids_.clear();
      for (std::size_t q = 0; q < nb; ++q) {
        cache_.candidates(samples[q], cand_ids_, /*with_moved=*/!split);
        cand_off_[q + 1] = static_cast<std::int64_t>(cand_ids_.size());
      }
      cur_.exact = false;
    } else if (strategy == Strategy::Dense) {
      dense_.identify(store, xb, xnorm_.data(), nb, net.threshold(), threads_, cand_off_, cand_ids_);
    } else {
      const Backend backend = strategy == Strategy::Scan   ? Backend::Scan
                              : strategy == Strategy::Gemm ? Backend::Gemm
                              : strategy == Strategy::Tree ? Backend::Tree
                                                           : Backend::Auto;
      const auto tq = Clock::now();
      index.query_batch_into(xb, nb, net.threshold(), hits_, backend, static_cast<std::size_t>(stride));
      cand_off_.swap(hits_.offsets);
      cand_ids_.swap(hits_.indices);
      if (index.stats().last_backend == Backend::Tree) maintain_tree(index, seconds_since(tq));
    }
    cur_.strategy = strategy;
    step_candidates_ = cand_ids_.size();
  }

  /// 2a. The per-neuron view and the candidates' pre-activations (z_ per sample list, zn_ per neuron entry,
  /// the split-off moved set's by sample and by row). For the cache this is where candidates are filtered,
  /// so its time counts as identification.
  void preactivations_phase(ShiftedReLUNet& net, EpochStats& st, Clock::time_point& t) {
    const RowStore& store = net.index().store();
    const std::size_t nb = cur_.nb;
    nm_.build(cand_off_.data(), cand_ids_.data(), nb, net.width(), store);
    cur_.total = cand_ids_.size();
    cur_.neurons = nm_.size();
    cur_.moved_set = moved_rows_.size();
    cur_.evaluated = cur_.total + cur_.moved_set * nb;
    step_candidates_ = cur_.evaluated;
    // Rough operation counts of the loops: under kParallelWork a fork-join costs more than it saves.
    cur_.row_work = cur_.evaluated * static_cast<std::size_t>(net.input_dim() + 16);
    cur_.out_work = cur_.evaluated * static_cast<std::size_t>(net.outputs() + 16);
    lap_into(t, st.identify_s);

    z_.resize(cur_.total);
    zn_.resize(cur_.total);  // the same values per entry of the neuron-major view, for the passes below
    ensure_scratch(threads_, nb);
    const std::size_t stride = static_cast<std::size_t>(store.stride());
    if (cur_.stateful && row_scratch_.size() < static_cast<std::size_t>(threads_) * 2 * stride)
      row_scratch_ = AlignedBuffer<float>(static_cast<std::size_t>(threads_) * 2 * stride);
    if (nb == 1) {
      preactivations_one_sample(store, net.input_dim());
    } else {
      preactivations_batch(store, net.input_dim());
      if (cur_.moved_set > 0) preactivations_moved_set(store, net.input_dim());
    }
    if (cur_.exact) {
      lap_into(t, st.forward_s);
    } else {
      const double before = st.identify_s;
      lap_into(t, st.identify_s);
      if (cur_.evaluated > 0) {  // seconds per evaluated candidate (moving average)
        const double per = (st.identify_s - before) / static_cast<double>(cur_.evaluated);
        seconds_per_dot_ = seconds_per_dot_ > 0.0 ? 0.9 * seconds_per_dot_ + 0.1 * per : per;
      }
    }
  }

  /// One sample: four rows against it at a time.
  void preactivations_one_sample(const RowStore& store, int d) {
    const float* xb = xb_.data();
    float* z = z_.data();
    float* zn = zn_.data();
    const NeuronMajor& nm = nm_;
    const std::size_t nu = cur_.neurons;
    const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>((nu + 3) / 4);
#pragma omp parallel for schedule(dynamic, 128) num_threads(threads_) if (threads_ > 1 && cur_.row_work > kParallelWork)
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
      const std::size_t u0 = static_cast<std::size_t>(gi) * 4;
      const std::size_t c = std::min<std::size_t>(4, nu - u0);
      if (u0 + 8 < nu)
        for (std::size_t k = 4; k < 8; ++k)
          _mm_prefetch(reinterpret_cast<const char*>(store.row_data(nm.neuron(u0 + k))), _MM_HINT_T0);
      const float* ws[4];
      const float* xs[4] = {xb, xb, xb, xb};
      for (std::size_t k = 0; k < 4; ++k) ws[k] = store.row_data(nm.neuron(u0 + std::min(k, c - 1)));
      float out[4];
      reference_dot4(ws, xs, d, out);
      for (std::size_t k = 0; k < c; ++k) z[nm.position(nm.begin(u0 + k))] = zn[nm.begin(u0 + k)] = out[k];
    }
  }

  /// Several samples. Neurons that are candidates for every sample of the batch (for the exact strategies:
  /// neurons that fire on all of them; the cache's moved set is handled apart) go four at a time against
  /// three samples, at about twice the speed of one row against eight; the rest, one row at a time against
  /// its own samples.
  void preactivations_batch(const RowStore& store, int d) {
    const float* xb = xb_.data();
    const std::size_t nb = cur_.nb, nu = cur_.neurons;
    const int stride = store.stride(), T = threads_;
    const std::size_t row_work = cur_.row_work;
    float* z = z_.data();
    float* zn = zn_.data();
    const NeuronMajor& nm = nm_;
    full_u_.clear();
    rest_u_.clear();
    for (std::size_t u = 0; u < nu; ++u)
      (stride % 8 == 0 && nb >= 3 && nm.end(u) - nm.begin(u) == nb ? full_u_ : rest_u_)
          .push_back(static_cast<std::uint32_t>(u));
    while (full_u_.size() % 4 != 0) {
      rest_u_.push_back(full_u_.back());
      full_u_.pop_back();
    }
    const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>(full_u_.size() / 4);
#pragma omp parallel for schedule(dynamic, 16) num_threads(T) if (T > 1 && row_work > kParallelWork)
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
      const std::uint32_t* us = full_u_.data() + 4 * gi;
      if (gi + 1 < groups)
        for (int k = 4; k < 8; ++k) store.prefetch_row(nm.neuron(us[k]));
      const float* ws[4];
      for (int k = 0; k < 4; ++k) ws[k] = store.row_data(nm.neuron(us[k]));
      // Entries of a full neuron: sample q is entry begin + q (samples ascend).
      rows4_against_batch(ws, xb, nb, stride, d, [&](int k, std::size_t q, float v) {
        const std::uint32_t e = nm.begin(us[k]) + static_cast<std::uint32_t>(q);
        z[nm.position(e)] = zn[e] = v;
      });
    }
    const std::ptrdiff_t nrest = static_cast<std::ptrdiff_t>(rest_u_.size());
#pragma omp parallel for schedule(dynamic, 512) num_threads(T) if (T > 1 && row_work > kParallelWork)
    for (std::ptrdiff_t k = 0; k < nrest; ++k) {
      const std::size_t u = rest_u_[static_cast<std::size_t>(k)];
      if (k + 2 < nrest) store.prefetch_row(nm.neuron(rest_u_[static_cast<std::size_t>(k) + 2]));
      const float* w = store.row_data(nm.neuron(u));
      const std::uint32_t e0 = nm.begin(u), e1 = nm.end(u);
      if (e1 - e0 == 1) {
        z[nm.position(e0)] = zn[e0] = reference_dot(w, xb + static_cast<std::size_t>(nm.sample(e0)) * stride, d);
        continue;
      }
      // Several samples for this row: four or eight dot chains at a time.
      auto x_of = [&](std::uint32_t e) { return xb + static_cast<std::size_t>(nm.sample(e)) * stride; };
      if (stride % 8 == 0) {  // padded rows: the row is loaded once per block for all chains
        std::uint32_t e = e0;
        for (; e + 8 <= e1; e += 8) {
          const float* xs[8];
          for (std::uint32_t j = 0; j < 8; ++j) xs[j] = x_of(e + j);
          float out[8];
          reference_dot_row<8>(w, xs, stride, out);
          for (std::uint32_t j = 0; j < 8; ++j) z[nm.position(e + j)] = zn[e + j] = out[j];
        }
        for (; e < e1; e += 4) {
          const std::uint32_t c = std::min<std::uint32_t>(4, e1 - e);
          const float* xs[4];
          for (std::uint32_t j = 0; j < 4; ++j) xs[j] = x_of(e + std::min(j, c - 1));
          float out[4];
          reference_dot_row<4>(w, xs, stride, out);
          for (std::uint32_t j = 0; j < c; ++j) z[nm.position(e + j)] = zn[e + j] = out[j];
        }
        continue;
      }
      const float* ws[4] = {w, w, w, w};
      for (std::uint32_t e = e0; e < e1; e += 4) {
        const std::uint32_t c = std::min<std::uint32_t>(4, e1 - e);
        const float* xs[4];
        for (std::uint32_t j = 0; j < 4; ++j) xs[j] = x_of(e + std::min(j, c - 1));
        float out[4];
        reference_dot4(ws, xs, d, out);
        for (std::uint32_t j = 0; j < c; ++j) z[nm.position(e + j)] = zn[e + j] = out[j];
      }
    }
  }

  /// The split-off moved set, four rows at a time against the whole batch: values by sample
  /// (moved_z_by_sample_, for the outputs) and by row (moved_z_by_row_, for the backward and update passes).
  void preactivations_moved_set(const RowStore& store, int d) {
    const std::size_t nb = cur_.nb, nmv = cur_.moved_set;
    const int stride = store.stride(), T = threads_;
    moved_z_by_sample_.resize(nb * nmv);
    moved_z_by_row_.resize(nmv * nb);
    float* by_sample = moved_z_by_sample_.data();
    float* by_row = moved_z_by_row_.data();
    const float* xb = xb_.data();
    const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>((nmv + 3) / 4);
#pragma omp parallel for schedule(dynamic, 16) num_threads(T) if (T > 1 && cur_.row_work > kParallelWork)
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
      const std::size_t j0 = 4 * static_cast<std::size_t>(gi), c = std::min<std::size_t>(4, nmv - j0);
      for (std::size_t k = j0 + 4; k < std::min(j0 + 8, nmv); ++k) store.prefetch_row(moved_rows_[k]);
      const float* ws[4];
      for (std::size_t k = 0; k < 4; ++k) ws[k] = store.row_data(moved_rows_[j0 + std::min(k, c - 1)]);
      rows4_against_batch(ws, xb, nb, stride, d, [&](int k, std::size_t q, float v) {
        const std::size_t j = j0 + static_cast<std::size_t>(k);
        if (j < j0 + c) by_sample[q * nmv + j] = by_row[j * nb + q] = v;
      });
    }
  }

  /// 2b. Per sample, its firing neurons' output sum: out(q, ids, z, k, acc) returns how many fired (and, in a
  /// whole step, takes the loss).
  template <class Out>
  void outputs_phase(const ShiftedReLUNet& net, Out&& out) {
    const std::size_t nb = cur_.nb, K = static_cast<std::size_t>(net.outputs()), nmv = cur_.moved_set;
    const float b = net.threshold();
    const int T = threads_;
    g_.resize(nb * K);
    loss_.resize(nb);
    gnorm_.resize(nb);
    fired_.resize(nb);
#pragma omp parallel for schedule(dynamic, 1) num_threads(T) if (T > 1 && nb > 1 && cur_.out_work > kParallelWork)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(nb); ++q) {
      const std::int64_t o = cand_off_[q];
      const std::size_t k = static_cast<std::size_t>(cand_off_[q + 1] - o);
      const int th = omp_get_thread_num();
      double* acc = acc_.data() + static_cast<std::size_t>(th) * acc_stride_;
      if (nmv == 0) {
        fired_[q] = out(static_cast<std::size_t>(q), cand_ids_.data() + o, z_.data() + o, k, acc);
      } else {
        FiringScratch& fs = firing_scratch_[static_cast<std::size_t>(th)];
        fs.ids.clear();
        fs.z.clear();
        merged_firing(static_cast<std::size_t>(q), b, fs.ids, fs.z, fs);
        fired_[q] = out(static_cast<std::size_t>(q), fs.ids.data(), fs.z.data(), fs.ids.size(), acc);
      }
    }
    std::size_t fired_total = 0;
    for (std::size_t q = 0; q < nb; ++q) fired_total += fired_[q];
    if (!cur_.exact) cache_.charge(static_cast<double>(cur_.evaluated - fired_total) * seconds_per_dot_);
  }

  /// The step after its loss gradient g_: the callback, 3. backward, 4. update, 5. index upkeep.
  void finish_phases(ShiftedReLUNet& net, EpochStats& st, Clock::time_point& t) {
    if (callback_) report_step(cur_.nb, cur_.samples, cur_.lr, net.threshold(), cur_.exact);
    backward_phase(net);
    lap_into(t, st.backward_s);
    update_phase(net);
    lap_into(t, st.update_s);
    index_phase(net, st);
    lap_into(t, st.index_s);
    ++step_;
  }

  /// 3. backward: per firing entry its update coefficient; the output layer (old a_r for both layers). SGD
  /// folds -lr into the coefficients (the paper's update, w += c x); the other optimizers take the gradient,
  /// so their coefficients are +1/B times dL/dz.
  void backward_phase(ShiftedReLUNet& net) {
    const std::size_t nb = cur_.nb, nu = cur_.neurons, nmv = cur_.moved_set;
    const int K = net.outputs(), T = threads_;
    const float b = net.threshold();
    const bool stateful = cur_.stateful;
    const double neg_step = stateful ? 1.0 / static_cast<double>(nb) : -cur_.lr / static_cast<double>(nb);
    coef_.resize(cur_.total);
    moved_coef_.resize(nmv * nb);
    neuron_fired_.resize(nu);
    moved_fired_.resize(nmv);
    float* A = net.mutable_output_weights();
    const double* g = g_.data();
    const NeuronMajor& nm = nm_;
    const bool train_a = opt_.train_output_layer;
    const double scale = net.output_scale();
    // One row: coefficients cr[j] of its firing entries (values zr[0..cnt), samples sample_of(j)) and its
    // output-layer update; true when any entry fired.
    auto backward_row = [&](row_id r, const float* zr, std::uint32_t cnt, auto sample_of, float* cr) {
      float* a = A + static_cast<std::size_t>(r) * K;
      double* ga = grad_a_acc_.data() + static_cast<std::size_t>(omp_get_thread_num()) * acc_stride_;
      if (train_a) std::fill(ga, ga + K, 0.0);
      bool any = false;
      for_each_above(zr, cnt, b, [&](std::size_t j) {
        any = true;
        const double* gq = g + static_cast<std::size_t>(sample_of(j)) * K;
        cr[j] = static_cast<float>(neg_step * net.output_coefficient(a, gq));
        if (train_a) {
          const double h = static_cast<double>(zr[j] - b);
          for (int k = 0; k < K; ++k) ga[k] = std::fma(h, gq[k], ga[k]);
        }
      });
      if (train_a && any) {
        const double s = neg_step * scale;
        if (stateful) {  // the gradient (float, as the optimizer's state), then the optimizer's rule
          float* grad = grad_a_.data() + static_cast<std::size_t>(omp_get_thread_num()) * acc_stride_;
          for (int k = 0; k < K; ++k) grad[k] = static_cast<float>(s * ga[k]);
          optim_.apply_output(static_cast<std::size_t>(r), a, grad);
        } else {
          for (int k = 0; k < K; ++k) a[k] = static_cast<float>(std::fma(s, ga[k], static_cast<double>(a[k])));
        }
      }
      return any;
    };
#pragma omp parallel for schedule(dynamic, 256) num_threads(T) if (T > 1 && cur_.out_work > kParallelWork)
    for (std::ptrdiff_t u = 0; u < static_cast<std::ptrdiff_t>(nu); ++u) {
      const std::uint32_t e0 = nm.begin(u);
      neuron_fired_[u] = backward_row(
          nm.neuron(u), zn_.data() + e0, nm.end(u) - e0,
          [&](std::size_t j) { return nm.sample(e0 + static_cast<std::uint32_t>(j)); }, coef_.data() + e0);
    }
#pragma omp parallel for schedule(dynamic, 16) num_threads(T) if (T > 1 && cur_.out_work > kParallelWork)
    for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(nmv); ++j)
      moved_fired_[j] = backward_row(
          moved_rows_[j], moved_z_by_row_.data() + j * nb, static_cast<std::uint32_t>(nb),
          [](std::size_t q) { return q; }, moved_coef_.data() + j * nb);
  }

  /// 4. update: w_r += sum over its firing samples of coefficient * x (sample order).
  void update_phase(ShiftedReLUNet& net) {
    HalfSpaceIndex& index = net.index();
    const RowStore& store = index.store();
    const std::size_t nb = cur_.nb, nu = cur_.neurons, nmv = cur_.moved_set;
    const int d = net.input_dim(), stride = store.stride(), T = threads_;
    const float b = net.threshold();
    const bool stateful = cur_.stateful;
    const bool track = cur_.strategy == Strategy::Cache;
    const float* xb = xb_.data();
    neuron_movement_.resize(nu);
    moved_set_movement_.resize(nmv);
    const NeuronMajor& nm = nm_;
    // One row: w += its firing entries' coefficients times their inputs (as in backward_row); returns the
    // bound on how far it moved when tracking.
    auto update_one = [&](row_id r, const float* zr, std::uint32_t cnt, auto sample_of, const float* cr) {
      const int thread = omp_get_thread_num();
      const std::size_t part = static_cast<std::size_t>(thread) * scratch_stride_;
      const float** xs = entry_inputs_.data() + part;
      float* cs = entry_coefs_.data() + part;
      float* xn = entry_input_norms_.data() + part;
      std::uint32_t count = 0;
      for_each_above(zr, cnt, b, [&](std::size_t j) {
        const std::size_t q = sample_of(j);
        xs[count] = xb + q * stride;
        cs[count] = cr[j];
        if (track) xn[count] = xnorm_[q];
        ++count;
      });
      float* w = index.mutable_row(r);
      const double moved = stateful ? optimizer_update_row(r, w, d, stride, xs, cs, count, track, thread)
                                    : update_row(w, d, stride, xs, cs, xn, count, track);
      // ||w_new - w|| <= ||update|| + 2^-24 ||w_new|| (one rounding per coordinate; exact for d <= 4) and
      // ||w_new|| <= ||w|| + ||update|| (the store's norm of w is still the pre-update bound).
      const double bound =
          track ? (moved + 0x1.0p-24 * (store.slot_norm(store.slot_of(r)) + moved)) * (1.0 + 1e-9) : 0.0;
      index.refresh_norm(r);  // now, while the row is in cache (rows_moved would read every row again)
      return bound;
    };
#pragma omp parallel for schedule(dynamic, 512) num_threads(T) if (T > 1 && cur_.row_work > kParallelWork)
    for (std::ptrdiff_t u = 0; u < static_cast<std::ptrdiff_t>(nu); ++u) {
      if (!neuron_fired_[u]) continue;
      if (static_cast<std::size_t>(u) + 1 < nu) store.prefetch_row(nm.neuron(u + 1));
      const std::uint32_t e0 = nm.begin(u);
      neuron_movement_[u] = update_one(
          nm.neuron(u), zn_.data() + e0, nm.end(u) - e0,
          [&](std::size_t j) { return static_cast<std::size_t>(nm.sample(e0 + static_cast<std::uint32_t>(j))); },
          coef_.data() + e0);
    }
#pragma omp parallel for schedule(dynamic, 64) num_threads(T) if (T > 1 && cur_.row_work > kParallelWork)
    for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(nmv); ++j) {
      if (!moved_fired_[j]) continue;
      if (static_cast<std::size_t>(j) + 1 < nmv) store.prefetch_row(moved_rows_[j + 1]);
      moved_set_movement_[j] = update_one(
          moved_rows_[j], moved_z_by_row_.data() + j * nb, static_cast<std::uint32_t>(nb),
          [](std::size_t q) { return q; }, moved_coef_.data() + j * nb);
    }
  }

  /// 5. tell the index (and the cache) which rows moved: the per-neuron view's and the split-off moved set's,
  /// merged by id (ascending when the store is in id order, which spares rows_moved a sort).
  void index_phase(ShiftedReLUNet& net, EpochStats& st) {
    HalfSpaceIndex& index = net.index();
    const std::size_t nu = cur_.neurons, nmv = cur_.moved_set;
    const bool track = cur_.strategy == Strategy::Cache;
    updated_ids_.clear();
    updated_movement_.clear();
    std::size_t j = 0;
    auto take_moved_set_below = [&](std::int64_t limit) {
      for (; j < nmv && moved_rows_[j] < limit; ++j)
        if (moved_fired_[j]) {
          updated_ids_.push_back(moved_rows_[j]);
          if (track) updated_movement_.push_back(moved_set_movement_[j]);
        }
    };
    for (std::size_t u = 0; u < nu; ++u)
      if (neuron_fired_[u]) {
        take_moved_set_below(nm_.neuron(u));
        updated_ids_.push_back(nm_.neuron(u));
        if (track) updated_movement_.push_back(neuron_movement_[u]);
      }
    take_moved_set_below(std::numeric_limits<std::int64_t>::max());
    index.rows_moved(updated_ids_.data(), updated_ids_.size(), /*norms_current=*/true);
    st.rows_updated += updated_ids_.size();
    if (track) {
      cache_.record_movement(updated_ids_.data(), updated_movement_.data(), updated_ids_.size());
      cache_key_.rows_updated = index.stats().rows_updated;
    }
  }

  /// The paper's step, one sample, with exact candidates (ascending ids, each of which fires), on one thread:
  /// the same arithmetic as the general step (tests compare them bit for bit through the cache strategy,
  /// which always takes the general path), without the per-neuron view and in two passes over the firing
  /// neurons: pre-activations and output (forward); coefficients and the output layer (backward); the row
  /// updates with the index upkeep in the same pass (HalfSpaceIndex::move_rows_along), timed as update (the
  /// index phase stays 0).
  void step_single(ShiftedReLUNet& net, const float* x, const Targets& targets, std::size_t sample, double lr,
                   EpochStats& st, Clock::time_point& t) {
    auto lap = [&t](double& acc) { lap_into(t, acc); };
    HalfSpaceIndex& index = net.index();
    const int K = net.outputs();
    const float b = net.threshold();
    const std::size_t k = cand_ids_.size();
    const row_id* ids = cand_ids_.data();

    // Forward: the candidates' pre-activations, then f over the firing ones.
    z_.resize(k);
    float* z = z_.data();
    net.preactivations(ids, k, x, z);
    ensure_scratch(1, 1);
    f_.resize(static_cast<std::size_t>(K));
    g_.resize(static_cast<std::size_t>(K));
    loss_.resize(1);
    gnorm_.resize(1);
    fired_.resize(1);
    fired_[0] = net.output_from_preactivations(ids, z, k, f_.data(), acc_.data());
    loss_[0] = loss_and_gradient(opt_.loss, f_.data(), K, targets, sample, g_.data());
    gnorm_[0] = gradient_norm(g_.data(), static_cast<std::size_t>(K));
    lap(st.forward_s);
    if (callback_) report_step(1, &sample, lr, b, true);

    // Coefficients of the firing rows (old a_r), the output layer, then the rows and the index in one pass.
    const double neg_step = -lr;
    const double s_out = neg_step * net.output_scale();
    const bool train_a = opt_.train_output_layer;
    float* A = net.mutable_output_weights();
    const double* g = g_.data();
    updated_ids_.clear();
    single_coefs_.clear();
    for (std::size_t j = 0; j < k; ++j) {
      if (!(z[j] > b)) continue;
      float* a = A + static_cast<std::size_t>(ids[j]) * K;
      updated_ids_.push_back(ids[j]);
      single_coefs_.push_back(static_cast<float>(neg_step * net.output_coefficient(a, g)));
      if (train_a) {
        const double h = static_cast<double>(z[j] - b);
        for (int c = 0; c < K; ++c)
          a[c] = static_cast<float>(std::fma(s_out, std::fma(h, g[c], 0.0), static_cast<double>(a[c])));
      }
    }
    const float* cs = single_coefs_.data();
    lap(st.backward_s);
    index.move_rows_along(updated_ids_.data(), updated_ids_.size(), cs, x);  // update_row's arithmetic for one entry
    st.rows_updated += updated_ids_.size();
    lap(st.update_s);
  }

  /// Tree upkeep (ski rental). Updates loosen the boxes, so queries slow down; tightening them restores
  /// the speed. The mean query time of the first steps after a build or refit is the baseline; time above
  /// it accumulates, and once it exceeds what the last upkeep took, the tree is refitted (boxes tightened
  /// in place, O(m d): rows keep their slots, so a network numbered in tree order stays map-free) or, once
  /// refits stop bringing queries back near the speed after the last full build (rows drifted away from
  /// their leaf mates), rebuilt. At most about twice the optimal cost; results never change (every tree
  /// answers exactly).
  void maintain_tree(HalfSpaceIndex& index, double query_s) {
    constexpr std::size_t kBaselineSteps = 16;
    constexpr double kRefitWorthIt = 1.5;  // refit while its baseline stays within this of a fresh build's
    if (opt_.tree_rebuild_every > 0) {
      if (++tree_steps_ % opt_.tree_rebuild_every == 0) index.rebuild();
      return;
    }
    const IndexStats& is = index.stats();
    if (is.tree_builds != tree_builds_seen_ || is.tree_refits != tree_refits_seen_) {  // by us, the index, a user
      tree_after_build_ = is.tree_builds != tree_builds_seen_;
      tree_builds_seen_ = is.tree_builds;
      tree_refits_seen_ = is.tree_refits;
      tree_steps_ = 0;
      tree_base_ = tree_excess_ = 0.0;
      return;  // this query may include the upkeep itself
    }
    ++tree_steps_;
    if (tree_steps_ <= kBaselineSteps) {
      tree_base_ += query_s / kBaselineSteps;
      if (tree_steps_ == kBaselineSteps && tree_after_build_) tree_built_base_ = tree_base_;
      return;
    }
    tree_excess_ = std::max(0.0, tree_excess_ + query_s - tree_base_);
    const bool refit = tree_built_base_ > 0.0 && tree_base_ <= kRefitWorthIt * tree_built_base_;
    const double m = static_cast<double>(index.rows());
    const double upkeep_s = refit ? (tree_refit_s_ > 0.0 ? tree_refit_s_ : 1e-8 * m * index.dim())
                                  : (tree_rebuild_s_ > 0.0 ? tree_rebuild_s_ : 3e-7 * m);
    if (tree_excess_ > upkeep_s) {
      const auto t0 = Clock::now();
      if (refit) {
        index.refit();
        tree_refit_s_ = seconds_since(t0);
      } else {
        index.rebuild();
        tree_rebuild_s_ = seconds_since(t0);
      }
    }
  }

  /// Per-thread lists of one sample's firing neurons, for the outputs when the moved set is split off.
  struct FiringScratch {
    std::vector<row_id> ids, moved_ids;
    std::vector<float> z, moved_z;
  };

  /// Appends the firing neurons of batch position q (after step 2) and their pre-activations to ids / zs,
  /// ascending by id (the order the outputs are summed in): the fired candidates of its list merged with the
  /// fired rows of the split-off moved set.
  void merged_firing(std::size_t q, float b, std::vector<row_id>& ids, std::vector<float>& zs,
                     FiringScratch& fs) const {
    const std::size_t nmv = moved_rows_.size();
    fs.moved_ids.clear();
    fs.moved_z.clear();
    if (nmv > 0) {
      const float* zq = moved_z_by_sample_.data() + q * nmv;
      for_each_above(zq, nmv, b, [&](std::size_t j) {
        fs.moved_ids.push_back(moved_rows_[j]);
        fs.moved_z.push_back(zq[j]);
      });
    }
    std::size_t t = 0;
    const std::int64_t o = cand_off_[q];
    for_each_above(z_.data() + o, static_cast<std::size_t>(cand_off_[q + 1] - o), b, [&](std::size_t j) {
      const row_id r = cand_ids_[static_cast<std::size_t>(o) + j];
      for (; t < fs.moved_ids.size() && fs.moved_ids[t] < r; ++t) {
        ids.push_back(fs.moved_ids[t]);
        zs.push_back(fs.moved_z[t]);
      }
      ids.push_back(r);
      zs.push_back(z_[static_cast<std::size_t>(o) + j]);
    });
    ids.insert(ids.end(), fs.moved_ids.begin() + static_cast<std::ptrdiff_t>(t), fs.moved_ids.end());
    zs.insert(zs.end(), fs.moved_z.begin() + static_cast<std::ptrdiff_t>(t), fs.moved_z.end());
  }

  /// Per-thread scratch: one neuron's firing entries (input, coefficient, input norm), output accumulators.
  /// Each thread's part starts on its own cache lines (no false sharing).
  void ensure_scratch(int T, std::size_t nb) {
    const std::size_t t = static_cast<std::size_t>(T);
    if (firing_scratch_.size() < t) firing_scratch_.resize(t);
    scratch_stride_ = (nb + 15) / 16 * 16 + 16;
    if (entry_inputs_.size() < t * scratch_stride_) {
      entry_inputs_.resize(t * scratch_stride_);
      entry_coefs_.resize(t * scratch_stride_);
      entry_input_norms_.resize(t * scratch_stride_);
    }
    acc_stride_ = (acc_k_ + 7) / 8 * 8 + 8;
    if (acc_.size() < t * acc_stride_) {
      acc_.resize(t * acc_stride_);
      grad_a_acc_.resize(t * acc_stride_);
      grad_a_.resize(t * acc_stride_);
    }
  }

  /// Four rows (padded, stride a multiple of 8) against every sample of the padded batch xb:
  /// put(k, q, reference_dot(ws[k], x_q)) for k < 4, q < nb; three samples at a time (reference_dot_block43),
  /// the one or two left over with four chains each.
  template <class Put>
  static void rows4_against_batch(const float* const ws[4], const float* xb, std::size_t nb, int stride, int d,
                                  Put&& put) {
    const std::size_t s = static_cast<std::size_t>(stride);
    std::size_t q = 0;
    for (; q + 3 <= nb; q += 3) {
      const float* xs[3] = {xb + q * s, xb + (q + 1) * s, xb + (q + 2) * s};
      float out[12];
      reference_dot_block43(ws, xs, stride, out);
      for (int k = 0; k < 4; ++k)
        for (int c = 0; c < 3; ++c) put(k, q + static_cast<std::size_t>(c), out[3 * k + c]);
    }
    for (; q < nb; ++q) {
      const float* x = xb + q * s;
      const float* xs[4] = {x, x, x, x};
      float out[4];
      reference_dot4(ws, xs, d, out);
      for (int k = 0; k < 4; ++k) put(k, q, out[k]);
    }
  }

  /// w += sum_e cs[e] xs[e] over `count` >= 1 entries. One entry: w = fma(c, x, w). Several: acc = c_0 x_0,
  /// acc = fma(c_e, x_e, acc) in sample order, then w + acc. Explicit fma everywhere: the bits do not depend
  /// on -ffp-contract. When `track`, returns an upper bound of ||update||: |c| ||x|| (xn: upper bounds of
  /// the input norms) for one entry, else the norm of the computed acc (a float sum of squares, inflated by
  /// its rounding bound); the caller adds the rounding of w + update.
  static double update_row(float* HSRNET_RESTRICT w, int d, int stride, const float* const* xs, const float* cs,
                           const float* xn, std::uint32_t count, bool track) {
    if (stride % 8 == 0) {  // padded rows: whole vectors (padding stays zero)
      if (count == 1) {
        const __m256 c = _mm256_set1_ps(cs[0]);
        const float* x = xs[0];
        for (int j = 0; j < stride; j += 8)
          _mm256_storeu_ps(w + j, _mm256_fmadd_ps(c, _mm256_loadu_ps(x + j), _mm256_loadu_ps(w + j)));
        return track ? std::fabs(static_cast<double>(cs[0])) * xn[0] * (1.0 + 1e-7) : 0.0;
      }
      __m256 sq = _mm256_setzero_ps();
      int j = 0;
      // Blocks of 32 columns stay in registers across the entries; the per-column order is unchanged.
      for (; j + 32 <= stride; j += 32) {
        __m256 c = _mm256_set1_ps(cs[0]);
        const float* x = xs[0] + j;
        __m256 a0 = _mm256_mul_ps(c, _mm256_loadu_ps(x)), a1 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 8));
        __m256 a2 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 16)), a3 = _mm256_mul_ps(c, _mm256_loadu_ps(x + 24));
        for (std::uint32_t e = 1; e < count; ++e) {
          c = _mm256_set1_ps(cs[e]);
          x = xs[e] + j;
          a0 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x), a0);
          a1 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 8), a1);
          a2 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 16), a2);
          a3 = _mm256_fmadd_ps(c, _mm256_loadu_ps(x + 24), a3);
        }
        _mm256_storeu_ps(w + j, _mm256_add_ps(_mm256_loadu_ps(w + j), a0));
        _mm256_storeu_ps(w + j + 8, _mm256_add_ps(_mm256_loadu_ps(w + j + 8), a1));
        _mm256_storeu_ps(w + j + 16, _mm256_add_ps(_mm256_loadu_ps(w + j + 16), a2));
        _mm256_storeu_ps(w + j + 24, _mm256_add_ps(_mm256_loadu_ps(w + j + 24), a3));
        if (track) {
          sq = _mm256_fmadd_ps(a0, a0, sq);
          sq = _mm256_fmadd_ps(a1, a1, sq);
          sq = _mm256_fmadd_ps(a2, a2, sq);
          sq = _mm256_fmadd_ps(a3, a3, sq);
        }
      }
      for (; j < stride; j += 8) {
        __m256 a0 = _mm256_mul_ps(_mm256_set1_ps(cs[0]), _mm256_loadu_ps(xs[0] + j));
        for (std::uint32_t e = 1; e < count; ++e)
          a0 = _mm256_fmadd_ps(_mm256_set1_ps(cs[e]), _mm256_loadu_ps(xs[e] + j), a0);
        _mm256_storeu_ps(w + j, _mm256_add_ps(_mm256_loadu_ps(w + j), a0));
        if (track) sq = _mm256_fmadd_ps(a0, a0, sq);
      }
      if (!track) return 0.0;
      // Each lane summed at most stride/8 rounded terms: relative error below (stride/8 + 1) 2^-24; the
      // factor covers it, the double sum of the lanes and the sqrt.
      alignas(32) float t[8];
      _mm256_store_ps(t, sq);
      double s = 0.0;
      for (float v : t) s += v;
      return std::sqrt(s * (1.0 + (stride / 8.0 + 4.0) * 0x1.0p-23)) * (1.0 + 1e-7);
    }
    // d <= 4: scalar over the d coordinates; the move itself is measured (exactly, in double).
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
      const float old = w[j];
      float nw;
      if (count == 1) {
        nw = std::fma(cs[0], xs[0][j], old);
      } else {
        float a = cs[0] * xs[0][j];
        for (std::uint32_t e = 1; e < count; ++e) a = std::fma(cs[e], xs[e][j], a);
        nw = old + a;
      }
      w[j] = nw;
      if (track) {
        const double diff = static_cast<double>(nw) - static_cast<double>(old);
        sq += diff * diff;
      }
    }
    return track ? std::sqrt(sq) * (1.0 + 1e-9) : 0.0;
  }

  /// The stateful optimizers' row update: the gradient g = sum_e cs[e] xs[e] (acc = c_0 x_0, then fma in
  /// sample order, as update_row sums), then the optimizer's rule on w. When `track`, returns an upper bound
  /// of how far w moved (the change measured exactly, in double). Scratch: thread `thread`'s rows.
  double optimizer_update_row(row_id r, float* HSRNET_RESTRICT w, int d, int stride, const float* const* xs,
                              const float* cs, std::uint32_t count, bool track, int thread) {
    const std::size_t n = static_cast<std::size_t>(stride);
    float* g = row_scratch_.data() + static_cast<std::size_t>(thread) * 2 * n;
    float* before = g + n;
    for (std::size_t j = 0; j < n; ++j) g[j] = cs[0] * xs[0][j];
    for (std::uint32_t e = 1; e < count; ++e) {
      const float c = cs[e];
      const float* x = xs[e];
      for (std::size_t j = 0; j < n; ++j) g[j] = std::fma(c, x[j], g[j]);
    }
    if (track) std::copy_n(w, n, before);
    optim_.apply_hidden(static_cast<std::size_t>(r), w, g);
    if (!track) return 0.0;
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
      const double diff = static_cast<double>(w[j]) - static_cast<double>(before[j]);
      sq += diff * diff;
    }
    return std::sqrt(sq) * (1.0 + 1e-9);
  }

  /// Builds the firing lists (z > b) for the callback when the candidates are a superset.
  void report_step(std::size_t nb, const std::size_t* samples, double lr, float b, bool exact) {
    StepView v;
    v.step = step_;
    v.epoch = epoch_;
    v.batch_size = nb;
    v.samples = samples;
    v.learning_rate = lr;
    if (exact) {
      v.offsets = cand_off_.data();
      v.ids = cand_ids_.data();
    } else {
      fire_off_.assign(nb + 1, 0);
      fire_ids_.clear();
      FiringScratch& fs = firing_scratch_[0];
      for (std::size_t q = 0; q < nb; ++q) {
        fs.z.clear();
        merged_firing(q, b, fire_ids_, fs.z, fs);
        fire_off_[q + 1] = static_cast<std::int64_t>(fire_ids_.size());
      }
      v.offsets = fire_off_.data();
      v.ids = fire_ids_.data();
    }
    callback_(v);
  }

  TrainerOptions opt_;
  StepCallback callback_;
  InterruptCheck interrupt_check_;
  Rng rng_;
  std::size_t step_ = 0, epoch_ = 0, samples_seen_ = 0;
  int threads_ = 1;
  EpochRun run_;
  PendingStep pending_;
  std::vector<std::size_t> pending_samples_;  // the open two-phase step's batch
  std::vector<double> partial_;               // its partial outputs (begin_step)

  // Cache state.
  CandidateCache cache_;
  CacheKey cache_key_, cache_unfit_key_;
  bool cache_unfit_ = false, cache_thrashing_ = false, epoch_hash_valid_ = false;
  std::uint64_t epoch_hash_ = 0;
  double thrash_movement_ = 0.0, last_firing_ = 0.0, last_gnorm_ = 0.0;  // auto's measurements
  double seconds_per_dot_ = 0.0;
  std::size_t cache_builds_total_ = 0;

  // Tree upkeep.
  std::size_t tree_builds_seen_ = ~std::size_t{0}, tree_refits_seen_ = ~std::size_t{0}, tree_steps_ = 0;
  bool tree_after_build_ = false;
  double tree_base_ = 0.0, tree_excess_ = 0.0, tree_built_base_ = 0.0, tree_rebuild_s_ = 0.0, tree_refit_s_ = 0.0;

  // Step workspace (capacity kept between steps: no allocation in steady state).
  StepPlan cur_;
  DenseIdentifier dense_;
  NeuronMajor nm_;
  std::vector<std::size_t> perm_;
  AlignedBuffer<float> xb_;  // the batch's inputs, padded to the row stride
  std::size_t xb_cap_ = 0;
  int xb_stride_ = 0;
  std::vector<float> xnorm_;         // upper bounds of the batch inputs' norms
  std::vector<float> z_, zn_;        // pre-activations per sample list entry, and per neuron-major entry
  std::vector<float> f_;             // outputs (nb x K)
  std::vector<float> coef_;          // update coefficient per neuron-major entry
  std::vector<float> single_coefs_;  // the single-sample step's coefficients
  std::vector<double> g_;            // dL/df per sample (double: see ShiftedReLUNet::output_coefficient)
  // Per thread (scratch_stride_ apart): one neuron's firing entries' inputs, coefficients and input norms.
  std::vector<const float*> entry_inputs_;
  std::vector<float> entry_coefs_, entry_input_norms_;
  std::size_t acc_k_ = 0, acc_stride_ = 0, scratch_stride_ = 0;
  std::vector<double> loss_, gnorm_;
  std::vector<double> acc_, grad_a_acc_;  // per thread (acc_stride_ apart): output sums, an output row's gradient
  std::vector<double> neuron_movement_;   // per neuron of the view: bound on how far its row moved (cache)
  std::vector<double> updated_movement_;  // the same, per updated row (index_phase)
  std::vector<float> grad_a_;             // per thread: one output row's gradient (stateful optimizers)
  AlignedBuffer<float> row_scratch_;      // per thread: one hidden row's gradient and its old values
  // The optimizer's per-row state and the network it belongs to.
  OptimizerState optim_;
  std::uint64_t optim_net_uid_ = 0;
  std::vector<std::size_t> fired_;              // firing neurons per sample
  std::vector<std::uint8_t> neuron_fired_;      // per neuron of the view: fired on some sample
  std::vector<std::uint32_t> full_u_, rest_u_;  // neurons of the step: candidates for every sample, the others
  // The cache's moved set when split off the per-sample lists (prepare_step): its rows, their values by
  // sample and by row, coefficients (by row), whether each fired, and movement bounds.
  std::vector<row_id> moved_rows_;
  std::vector<float> moved_z_by_sample_, moved_z_by_row_, moved_coef_;
  std::vector<std::uint8_t> moved_fired_;
  std::vector<double> moved_set_movement_;
  std::vector<FiringScratch> firing_scratch_;
  std::size_t step_candidates_ = 0;  // pairs evaluated by the last step
  std::vector<std::int64_t> cand_off_, fire_off_;
  CsrResult hits_;  // index answers, buffers reused across steps (swapped with cand_off_/cand_ids_)
  std::vector<row_id> cand_ids_, fire_ids_;
  std::vector<row_id> updated_ids_;  // rows this step moved
};

}  // namespace hsrnet
