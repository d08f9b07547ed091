// hsrnet::SgdTrainer: SGD on a ShiftedReLUNet that touches only the neurons that fire, exactly as dense SGD.
//
// The trainer runs epochs (fit_epoch: shuffle, then one step per batch) and keeps what lives across steps:
// the optimizer's state, the candidate cache (cache_keeper.hpp), auto's measurements (strategy_policy.hpp)
// and the tree upkeep (tree_upkeep.hpp). A step is BatchStep's phases (batch_step.hpp, which explains the
// arithmetic and why every strategy trains bit-identically), or the paper's single-sample step
// (single_sample_step.hpp).
//
// Two-phase steps (begin_step / finish_step) split a step at its loss gradient, for a network whose neurons
// are sharded: each shard is a network of its own neurons (output_scale 1/sqrt(m_total)) with its own
// trainer; the caller sums the shards' partial outputs and computes the loss gradient (batch_loss_gradient).
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "hsrnet/kernels/aligned_buffer.hpp"
#include "hsrnet/net/losses.hpp"
#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/batch_step.hpp"
#include "hsrnet/train/cache_keeper.hpp"
#include "hsrnet/train/lr_schedule.hpp"
#include "hsrnet/train/optimizer.hpp"
#include "hsrnet/train/single_sample_step.hpp"
#include "hsrnet/train/strategy_policy.hpp"
#include "hsrnet/train/trainer_options.hpp"
#include "hsrnet/train/tree_upkeep.hpp"

namespace hsrnet {

class SgdTrainer {
 public:
  static constexpr std::uint64_t kShuffleStream = 2;

  explicit SgdTrainer(const TrainerOptions& options = {}) : opt_(options), rng_(options.seed, kShuffleStream) {
    opt_.validate();
  }

  const TrainerOptions& options() const { return opt_; }
  void set_step_callback(StepCallback cb) { callback_ = std::move(cb); }
  void set_interrupt_check(InterruptCheck check) { interrupt_check_ = std::move(check); }

  std::size_t steps_done() const { return steps_done_; }
  std::size_t epochs_done() const { return epochs_done_; }
  std::size_t samples_seen() const { return samples_seen_; }
  const CandidateCache& cache() const { return cache_.cache(); }

  /// A new base learning rate for the following steps (the schedule applies to it); the optimizer's state,
  /// the cache and auto's measurements are kept.
  void set_learning_rate(double lr) {
    if (!(lr > 0.0) || !std::isfinite(lr)) throw std::invalid_argument("hsrnet: lr must be > 0");
    opt_.lr = lr;
  }
  /// Where the schedule stands: steps taken and samples seen before the next step (what "invscaling" and
  /// "sklearn_invscaling" count). A model that continues after a save sets its own counts here, so its rates
  /// go on where they stopped.
  void set_progress(std::size_t steps_done, std::size_t samples_seen) {
    if (step_open_) throw std::logic_error("hsrnet: set_progress inside an open step");
    steps_done_ = steps_done;
    samples_seen_ = samples_seen;
  }
  /// The rate of the next step (the schedule applied to the base rate).
  double next_learning_rate() const { return current_learning_rate(); }
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
    steps_done_ = epochs_done_ = samples_seen_ = 0;
    rng_ = Rng(opt_.seed, kShuffleStream);
    cache_.clear();
    policy_.reset();
    optim_ = OptimizerState();
    optim_net_uid_ = 0;
    run_ = EpochRun{};
    step_open_ = false;
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
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (opt_.shuffle) shuffle(order_.data(), n, rng_);

    const std::size_t B = opt_.batch_size;
    for (std::size_t p0 = 0; p0 < n; p0 += B) {
      if (interrupt_check_ && p0 > 0 && interrupt_check_()) {
        run_.stats.interrupted = true;
        break;
      }
      const std::size_t nb = std::min(B, n - p0);
      const double lr = epoch_learning_rate();
      whole_step(net, X, targets, order_.data() + p0, nb, lr);
      account_step(net, nb, lr);
    }
    return close_epoch(net);
  }

  /// options().epochs epochs.
  std::vector<EpochStats> fit(ShiftedReLUNet& net, const float* X, std::size_t n, const Targets& targets) {
    std::vector<EpochStats> out;
    for (int e = 0; e < opt_.epochs; ++e) out.push_back(fit_epoch(net, X, n, targets));
    return out;
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
    if (step_open_) throw std::logic_error("hsrnet: begin_epoch while a step is open (finish_step first)");
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
    if (step_open_) throw std::logic_error("hsrnet: begin_step while a step is open (finish_step first)");
    if (nb == 0) throw std::invalid_argument("hsrnet: empty batch");
    for (std::size_t q = 0; q < nb; ++q)
      if (samples[q] >= run_.n) throw std::invalid_argument("hsrnet: batch sample index out of range");
    const ThreadScope scope(*this, net);
    open_step_samples_.assign(samples, samples + nb);
    StepContext c = context(net);
    PhaseClock clock;
    batch_.prepare(c, run_.X, open_step_samples_.data(), nb, epoch_learning_rate(), run_.stats.strategy, run_.n);
    batch_.preactivations(c, clock);
    const std::size_t K = static_cast<std::size_t>(net.outputs());
    partial_outputs_.resize(nb * K);
    batch_.outputs(c, [&](std::size_t q, const row_id* ids, const float* z, std::size_t k, double* acc) {
      return net.output_from_preactivations(ids, z, k, partial_outputs_.data() + q * K, acc);
    });
    clock.lap(run_.stats.forward_s);
    step_open_ = true;
    return partial_outputs_.data();
  }

  /// Phase 2: the backward pass, the update and the index upkeep of the step begin_step opened, from
  /// G = dL/df per sample (nb x K doubles, batch_loss_gradient of the summed outputs; the mean's 1/nb is
  /// applied here). `losses` (nb, or null) only feed the epoch's mean loss.
  void finish_step(ShiftedReLUNet& net, const double* G, const double* losses = nullptr) {
    if (!step_open_ || run_.net_uid != net.uid())
      throw std::logic_error("hsrnet: finish_step without begin_step on this network");
    const ThreadScope scope(*this, net);
    StepWorkspace& ws = batch_.ws;
    const std::size_t nb = ws.plan.nb, K = static_cast<std::size_t>(net.outputs());
    PhaseClock clock;
    ws.dloss.assign(G, G + nb * K);
    for (std::size_t q = 0; q < nb; ++q) {
      ws.losses[q] = losses ? losses[q] : std::numeric_limits<double>::quiet_NaN();
      ws.dloss_norms[q] = ws.dloss_norm(q, K);
    }
    clock.lap(run_.stats.forward_s);
    step_open_ = false;
    StepContext c = context(net);
    finish_batch_step(c, clock);
    account_step(net, nb, ws.plan.lr);
  }

  /// Ends the epoch begin_epoch opened (counted as an epoch) and returns its statistics; mean_loss is NaN
  /// unless finish_step was given the losses.
  EpochStats end_epoch(ShiftedReLUNet& net) {
    if (!run_.open || run_.net_uid != net.uid()) throw std::logic_error("hsrnet: end_epoch without begin_epoch");
    if (step_open_) throw std::logic_error("hsrnet: end_epoch while a step is open (finish_step first)");
    return close_epoch(net);
  }
  bool epoch_open() const { return run_.open; }
  /// The batch size of the step begin_step opened (0 when none is open).
  std::size_t open_step_size() const { return step_open_ ? batch_.ws.plan.nb : 0; }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  /// Sets OpenMP's default team size (nthreads-var) and restores it on scope exit.
  struct ScopedDefaultThreads {
    explicit ScopedDefaultThreads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
    ~ScopedDefaultThreads() { omp_set_num_threads(saved); }
    ScopedDefaultThreads(const ScopedDefaultThreads&) = delete;
    ScopedDefaultThreads& operator=(const ScopedDefaultThreads&) = delete;
    int saved;
  };

  /// The index runs with the trainer's thread count during a trainer call.
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
    EpochStats stats;
    Clock::time_point start;
    std::size_t samples_before = 0, cache_builds_before = 0, tree_builds_before = 0, tree_refits_before = 0;
    double loss_sum = 0.0, firing_sum = 0.0, candidate_sum = 0.0, dloss_norm_sum = 0.0;
    std::size_t done = 0;  // samples trained on (n unless interrupted)
  };

  StepContext context(ShiftedReLUNet& net) {
    return StepContext{net, opt_, optim_, cache_, tree_, threads_, run_.stats};
  }

  /// One whole step on batch samples[0..nb): the batch step's phases with the trainer's loss, or the paper's
  /// single-sample step.
  void whole_step(ShiftedReLUNet& net, const float* X, const Targets& targets, const std::size_t* samples,
                  std::size_t nb, double lr) {
    StepContext c = context(net);
    PhaseClock clock;
    batch_.prepare(c, X, samples, nb, lr, run_.stats.strategy, run_.n);
    StepWorkspace& ws = batch_.ws;
    if (batch_.single_sample_applies(c)) {
      clock.lap(run_.stats.identify_s);
      single_sample_step(c, ws, targets, samples[0], clock, [&] { report_step(net); });
      ++steps_done_;
      return;
    }
    batch_.preactivations(c, clock);
    const int K = net.outputs();
    ws.outputs.resize(nb * K);
    batch_.outputs(c, [&](std::size_t q, const row_id* ids, const float* z, std::size_t k, double* acc) {
      const std::size_t fired = net.output_from_preactivations(ids, z, k, ws.outputs.data() + q * K, acc);
      ws.losses[q] =
          loss_and_gradient(opt_.loss, ws.outputs.data() + q * K, K, targets, samples[q], ws.dloss.data() + q * K);
      ws.dloss_norms[q] = ws.dloss_norm(q, static_cast<std::size_t>(K));
      return fired;
    });
    clock.lap(run_.stats.forward_s);
    finish_batch_step(c, clock);
  }

  /// The batch step after its loss gradient: the callback, backward, update, index upkeep.
  void finish_batch_step(StepContext& c, PhaseClock& clock) {
    report_step(c.net);
    batch_.backward_update_upkeep(c, clock);
    ++steps_done_;
  }

  /// The step callback: the firing sets of the step, before the update.
  void report_step(const ShiftedReLUNet& net) {
    if (!callback_) return;
    const StepPlan& plan = batch_.ws.plan;
    StepView v;
    v.step = steps_done_;
    v.epoch = epochs_done_;
    v.batch_size = plan.nb;
    v.samples = plan.samples;
    v.learning_rate = plan.lr;
    batch_.firing_lists(net.threshold(), v.offsets, v.ids);
    callback_(v);
  }

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
    run_.cache_builds_before = cache_.builds();
    if (opt_.optimizer.stateful()) bind_optimizer(net, /*force_reset=*/false);
    EpochStats& st = run_.stats;
    cache_.new_epoch();
    st.strategy = policy_.choose(net, X, n, opt_, current_learning_rate(), cache_, threads_);
    if (st.strategy == ResolvedStrategy::Cache && !cache_.ensure(net, X, n, opt_, threads_)) {
      st.cache_fallback = true;
      st.strategy = ResolvedStrategy::Index;
    }
    st.identify_s += seconds_since(run_.start);  // strategy choice and cache build
  }

  /// The rate of the next step within the epoch (the sklearn schedule counts samples before the epoch).
  double epoch_learning_rate() const {
    return learning_rate(opt_.schedule, opt_.lr, opt_.power, steps_done_, run_.samples_before);
  }
  /// The rate of the next step as seen between epochs (auto's movement estimate).
  double current_learning_rate() const {
    return learning_rate(opt_.schedule, opt_.lr, opt_.power, steps_done_, samples_seen_);
  }

  /// The epoch's sums after a step of nb samples; auto leaves a thrashing cache.
  void account_step(const ShiftedReLUNet& net, std::size_t nb, double lr) {
    const StepWorkspace& ws = batch_.ws;
    EpochStats& st = run_.stats;
    for (std::size_t q = 0; q < nb; ++q) {
      run_.loss_sum += ws.losses[q];
      run_.firing_sum += static_cast<double>(ws.fired_per_sample[q]);
      run_.dloss_norm_sum += ws.dloss_norms[q];
    }
    if (st.strategy == ResolvedStrategy::Cache &&
        policy_.leave_thrashing_cache(net, run_.n, opt_, current_learning_rate(),
                                      cache_.builds() - run_.cache_builds_before))
      st.strategy = ResolvedStrategy::Index;
    run_.candidate_sum += static_cast<double>(ws.plan.evaluated);
    st.candidates += ws.plan.evaluated;
    st.learning_rate = lr;
    ++st.steps;
    run_.done += nb;
  }

  EpochStats close_epoch(const ShiftedReLUNet& net) {
    EpochStats st = run_.stats;
    run_.open = false;
    samples_seen_ += run_.done;
    if (!st.interrupted) ++epochs_done_;
    const HalfSpaceIndex& index = net.index();
    const double m = static_cast<double>(net.width());
    const double seen = static_cast<double>(run_.done);
    st.epoch = epochs_done_;
    st.samples = run_.done;
    st.mean_loss = run_.loss_sum / seen;
    st.firing_fraction = run_.firing_sum / (seen * m);
    st.candidate_fraction = run_.candidate_sum / (seen * m);
    st.cache_builds = cache_.builds() - run_.cache_builds_before;
    if (!st.interrupted && run_.done > 0)  // auto's measurements come from whole epochs
      policy_.record_epoch(st.firing_fraction, run_.dloss_norm_sum / seen);
    if (st.strategy == ResolvedStrategy::Cache) {
      st.cache_delta = cache_.cache().delta();
      st.cache_bytes = cache_.cache().memory_bytes();
    }
    if (st.strategy != ResolvedStrategy::Dense && st.strategy != ResolvedStrategy::Cache)
      st.index_backend = index.stats().last_backend;
    st.tree_builds = index.stats().tree_builds - run_.tree_builds_before;
    st.tree_refits = index.stats().tree_refits - run_.tree_refits_before;
    st.total_s = seconds_since(run_.start);
    return st;
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

  TrainerOptions opt_;
  StepCallback callback_;
  InterruptCheck interrupt_check_;
  Rng rng_;
  std::vector<std::size_t> order_;  // this epoch's sample order
  std::size_t steps_done_ = 0, epochs_done_ = 0, samples_seen_ = 0;
  int threads_ = 1;  // of the current trainer call
  EpochRun run_;

  // Across steps: the optimizer's per-row state and the network it belongs to; the cache; auto's choice;
  // the tree upkeep; the step's workspace.
  OptimizerState optim_;
  std::uint64_t optim_net_uid_ = 0;
  CacheKeeper cache_;
  StrategyPolicy policy_;
  TreeUpkeep tree_;
  BatchStep batch_;

  // The open two-phase step: its batch (a copy) and partial outputs.
  bool step_open_ = false;
  std::vector<std::size_t> open_step_samples_;
  std::vector<double> partial_outputs_;
};

}  // namespace hsrnet
