// One SGD step on a batch of B samples (B = 1 is the paper's algorithm; a mini-batch uses the mean gradient),
// in named phases:
//   1. identify:    per sample, candidate neurons (ascending ids) by the step's strategy (prepare);
//   2. forward:     z = reference_dot(w_r, x) per (sample, candidate), computed per neuron (preactivations);
//                   f = s * sum over candidates with z > b of a_r (z - b), ascending r (outputs), s the
//                   network's output scale; the loss and g = dL/df (the trainer's, or from outside for
//                   two-phase steps);
//   3. backward:    per firing (sample, neuron) the coefficient -lr/B * s <a_r, g>; the output layer a_r moved
//                   by -lr/B * s * sum (z - b) g if enabled (from the same old a_r);
//   4. update:      per firing neuron, w_r += sum of coefficient * x over its samples, in sample order, and the
//                   row's stored norm refreshed while it is in cache;
//   5. index upkeep: index.rows_moved(moved rows) keeps the index exact (finiteness, tree boxes); the cache
//                   widens the moved rows' bounds.
// Only identification differs between strategies, and all of them yield the same firing sets, so dense and
// sparse training give the same weights bit for bit. Every sum of products is an explicit fma, so the bits
// do not depend on -ffp-contract either.
//
// Threads: identification, pre-activations and updates run per neuron, the outputs per sample, each item's
// arithmetic fixed in order; nothing is reduced across threads. So results are bit-identical for any thread
// count. Work per step is O(candidates * d) beyond identification in every sparse strategy.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "hsrnet/kernels/above_threshold.hpp"
#include "hsrnet/kernels/row_update.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/cache_keeper.hpp"
#include "hsrnet/train/dense_identifier.hpp"
#include "hsrnet/train/optimizer.hpp"
#include "hsrnet/train/step_preactivations.hpp"
#include "hsrnet/train/step_workspace.hpp"
#include "hsrnet/train/trainer_options.hpp"
#include "hsrnet/train/tree_upkeep.hpp"

namespace hsrnet {

/// The trainer's parts a step uses.
struct StepContext {
  ShiftedReLUNet& net;
  const TrainerOptions& opt;
  OptimizerState& optim;
  CacheKeeper& cache;
  TreeUpkeep& tree;
  int threads;
  EpochStats& stats;
};

class BatchStep {
 public:
  StepWorkspace ws;

  /// The batch's inputs, then 1. identify: the candidates of every sample. `strategy` falls back to index
  /// queries when the cache outgrows its budget (st.cache_fallback).
  void prepare(StepContext& c, const float* X, const std::size_t* samples, std::size_t nb, double lr,
               ResolvedStrategy& strategy, std::size_t n) {
    HalfSpaceIndex& index = c.net.index();
    const RowStore& store = index.store();
    const int d = c.net.input_dim(), stride = store.stride();
    StepPlan& plan = ws.plan;
    plan = StepPlan{};
    plan.samples = samples;
    plan.nb = nb;
    plan.lr = lr;
    plan.stateful = c.opt.optimizer.stateful();
    if (plan.stateful) c.optim.begin_step(lr);
    ws.load_batch(X, samples, nb, d, stride);
    const float* xb = ws.batch_x.data();
    // Input norms (upper bounds): the dense rounding band and the cache's movement bounds need them.
    if (strategy == ResolvedStrategy::Dense || strategy == ResolvedStrategy::Cache) {
      ws.batch_x_norm.resize(nb);
      for (std::size_t q = 0; q < nb; ++q) ws.batch_x_norm[q] = norm_upper_bound(xb + q * stride, d);
    }

    ws.moved_rows.clear();
    if (strategy == ResolvedStrategy::Cache && !c.cache.refresh_if_needed(c.net, X, n, c.opt, c.threads)) {
      c.stats.cache_fallback = true;  // the candidates outgrew the budget: index queries from here on
      strategy = ResolvedStrategy::Index;
    }
    if (strategy == ResolvedStrategy::Cache) {
      // The moved set (candidates for every sample) stays out of the per-sample lists when its rows can go
      // against the whole batch as one block: the lists then hold the cached pairs only, and the per-neuron
      // view, built per entry, does not grow with it.
      const CandidateCache& cache = c.cache.cache();
      const bool split = nb >= 3 && stride % 8 == 0;
      if (split) ws.moved_rows.assign(cache.moved_ids().begin(), cache.moved_ids().end());
      ws.cand_offsets.resize(nb + 1);
      ws.cand_offsets[0] = 0;
      ws.cand_ids.clear();
      for (std::size_t q = 0; q < nb; ++q) {
        cache.candidates(samples[q], ws.cand_ids, /*with_moved=*/!split);
        ws.cand_offsets[q + 1] = static_cast<std::int64_t>(ws.cand_ids.size());
      }
      plan.exact = false;
    } else if (strategy == ResolvedStrategy::Dense) {
      dense_.identify(store, xb, ws.batch_x_norm.data(), nb, c.net.threshold(), c.threads, ws.cand_offsets,
                      ws.cand_ids);
    } else {
      const auto query_start = std::chrono::steady_clock::now();
      index.query_batch_into(xb, nb, c.net.threshold(), ws.index_hits, query_backend(strategy),
                             static_cast<std::size_t>(stride));
      ws.cand_offsets.swap(ws.index_hits.offsets);
      ws.cand_ids.swap(ws.index_hits.indices);
      if (index.stats().last_backend == Backend::Tree)
        c.tree.after_query(index, std::chrono::duration<double>(std::chrono::steady_clock::now() - query_start).count(),
                           c.opt.tree_rebuild_every);
    }
    plan.strategy = strategy;
    plan.evaluated = ws.cand_ids.size();
  }

  /// Whether the paper's single-sample step (single_sample_step.hpp) does this step: one sample, exact
  /// candidates, plain SGD, and too little work to share among threads.
  bool single_sample_applies(const StepContext& c) const {
    const StepPlan& plan = ws.plan;
    return plan.nb == 1 && plan.exact && !plan.stateful &&
           (c.threads == 1 ||
            ws.cand_ids.size() * static_cast<std::size_t>(c.net.input_dim() + 16) <= StepWorkspace::kParallelWork);
  }

  /// 2a. The per-neuron view and the candidates' pre-activations. For the cache this is where candidates
  /// are filtered, so its time counts as identification (and prices a needless candidate).
  void preactivations(StepContext& c, PhaseClock& clock) {
    const RowStore& store = c.net.index().store();
    StepPlan& plan = ws.plan;
    const std::size_t nb = plan.nb;
    ws.by_neuron.build(ws.cand_offsets.data(), ws.cand_ids.data(), nb, c.net.width(), store);
    plan.listed = ws.cand_ids.size();
    plan.neurons = ws.by_neuron.size();
    plan.moved_set = ws.moved_rows.size();
    plan.evaluated = plan.listed + plan.moved_set * nb;
    plan.row_work = plan.evaluated * static_cast<std::size_t>(c.net.input_dim() + 16);
    plan.out_work = plan.evaluated * static_cast<std::size_t>(c.net.outputs() + 16);
    clock.lap(c.stats.identify_s);

    ws.z_by_sample.resize(plan.listed);
    ws.z_by_neuron.resize(plan.listed);
    ws.ensure_thread_scratch(c.threads, nb, static_cast<std::size_t>(c.net.outputs()));
    const std::size_t stride = static_cast<std::size_t>(store.stride()), threads = static_cast<std::size_t>(c.threads);
    if (plan.stateful && ws.row_scratch.size() < threads * 2 * stride)
      ws.row_scratch = AlignedBuffer<float>(threads * 2 * stride);
    if (nb == 1) {
      preactivations_one_sample(ws, store, c.net.input_dim(), c.threads);
    } else {
      preactivations_batch(ws, store, c.net.input_dim(), c.threads);
      if (plan.moved_set > 0) preactivations_moved_set(ws, store, c.net.input_dim(), c.threads);
    }
    if (plan.exact) {
      clock.lap(c.stats.forward_s);
    } else {
      const double before = c.stats.identify_s;
      clock.lap(c.stats.identify_s);
      c.cache.measured(c.stats.identify_s - before, plan.evaluated);
    }
  }

  /// 2b. Per sample, its firing neurons' output sum: out(q, ids, z, k, acc) returns how many fired (and, in a
  /// whole step, takes the loss; see SgdTrainer).
  template <class Out>
  void outputs(StepContext& c, Out&& out) {
    const StepPlan& plan = ws.plan;
    const std::size_t nb = plan.nb, K = static_cast<std::size_t>(c.net.outputs()), nmv = plan.moved_set;
    const float b = c.net.threshold();
    ws.dloss.resize(nb * K);
    ws.losses.resize(nb);
    ws.dloss_norms.resize(nb);
    ws.fired_per_sample.resize(nb);
#pragma omp parallel for schedule(dynamic, 1) \
    num_threads(c.threads) if (c.threads > 1 && nb > 1 && plan.out_work > StepWorkspace::kParallelWork)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(nb); ++q) {
      const std::int64_t o = ws.cand_offsets[q];
      const std::size_t k = static_cast<std::size_t>(ws.cand_offsets[q + 1] - o);
      const std::size_t thread = static_cast<std::size_t>(omp_get_thread_num());
      double* acc = ws.output_sums.data() + thread * ws.output_stride;
      if (nmv == 0) {
        ws.fired_per_sample[q] =
            out(static_cast<std::size_t>(q), ws.cand_ids.data() + o, ws.z_by_sample.data() + o, k, acc);
      } else {
        FiringScratch& fs = ws.firing_scratch[thread];
        fs.ids.clear();
        fs.z.clear();
        ws.merged_firing(static_cast<std::size_t>(q), b, fs.ids, fs.z, fs);
        ws.fired_per_sample[q] = out(static_cast<std::size_t>(q), fs.ids.data(), fs.z.data(), fs.ids.size(), acc);
      }
    }
    std::size_t fired_total = 0;
    for (std::size_t q = 0; q < nb; ++q) fired_total += ws.fired_per_sample[q];
    if (!plan.exact) c.cache.charge_needless(plan.evaluated - fired_total);
  }

  /// The firing sets of the step (ascending ids per sample) for the step callback.
  void firing_lists(float b, const std::int64_t*& offsets, const row_id*& ids) {
    if (ws.plan.exact) {
      offsets = ws.cand_offsets.data();
      ids = ws.cand_ids.data();
      return;
    }
    ws.report_offsets.assign(ws.plan.nb + 1, 0);
    ws.report_ids.clear();
    FiringScratch& fs = ws.firing_scratch[0];
    for (std::size_t q = 0; q < ws.plan.nb; ++q) {
      fs.z.clear();
      ws.merged_firing(q, b, ws.report_ids, fs.z, fs);
      ws.report_offsets[q + 1] = static_cast<std::int64_t>(ws.report_ids.size());
    }
    offsets = ws.report_offsets.data();
    ids = ws.report_ids.data();
  }

  /// 3 - 5 after the loss gradient (ws.dloss), with their clocks.
  void backward_update_upkeep(StepContext& c, PhaseClock& clock) {
    backward(c);
    clock.lap(c.stats.backward_s);
    update(c);
    clock.lap(c.stats.update_s);
    index_upkeep(c);
    clock.lap(c.stats.index_s);
  }

 private:
  /// 3. backward: per firing entry its update coefficient; the output layer (old a_r for both layers). SGD
  /// folds -lr into the coefficients (the paper's update, w += c x); the other optimizers take the gradient,
  /// so their coefficients are +1/B times dL/dz.
  void backward(StepContext& c) {
    const StepPlan& plan = ws.plan;
    const std::size_t nb = plan.nb, nu = plan.neurons, nmv = plan.moved_set;
    const int K = c.net.outputs();
    const float b = c.net.threshold();
    const bool stateful = plan.stateful;
    const double neg_step = stateful ? 1.0 / static_cast<double>(nb) : -plan.lr / static_cast<double>(nb);
    ws.coef_by_neuron.resize(plan.listed);
    ws.moved_coef.resize(nmv * nb);
    ws.neuron_fired.resize(nu);
    ws.moved_fired.resize(nmv);
    float* A = c.net.mutable_output_weights();
    const double* g = ws.dloss.data();
    const NeuronMajor& nm = ws.by_neuron;
    const bool train_a = c.opt.train_output_layer;
    const double scale = c.net.output_scale();
    const ShiftedReLUNet& net = c.net;
    OptimizerState& optim = c.optim;
    // One row: coefficients cr[j] of its firing entries (values zr[0..cnt), samples sample_of(j)) and its
    // output-layer update; true when any entry fired.
    auto backward_row = [&](row_id r, const float* zr, std::uint32_t cnt, auto sample_of, float* cr) {
      float* a = A + static_cast<std::size_t>(r) * K;
      const std::size_t part = static_cast<std::size_t>(omp_get_thread_num()) * ws.output_stride;
      double* ga = ws.output_grad_sums.data() + part;
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
          float* grad = ws.output_grads.data() + part;
          for (int k = 0; k < K; ++k) grad[k] = static_cast<float>(s * ga[k]);
          optim.apply_output(static_cast<std::size_t>(r), a, grad);
        } else {
          for (int k = 0; k < K; ++k) a[k] = static_cast<float>(std::fma(s, ga[k], static_cast<double>(a[k])));
        }
      }
      return any;
    };
    const bool parallel = c.threads > 1 && plan.out_work > StepWorkspace::kParallelWork;
#pragma omp parallel for schedule(dynamic, 256) num_threads(c.threads) if (parallel)
    for (std::ptrdiff_t u = 0; u < static_cast<std::ptrdiff_t>(nu); ++u) {
      const std::uint32_t e0 = nm.begin(u);
      ws.neuron_fired[u] = backward_row(
          nm.neuron(u), ws.z_by_neuron.data() + e0, nm.end(u) - e0,
          [&](std::size_t j) { return nm.sample(e0 + static_cast<std::uint32_t>(j)); }, ws.coef_by_neuron.data() + e0);
    }
#pragma omp parallel for schedule(dynamic, 16) num_threads(c.threads) if (parallel)
    for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(nmv); ++j)
      ws.moved_fired[j] = backward_row(
          ws.moved_rows[j], ws.moved_z_by_row.data() + j * nb, static_cast<std::uint32_t>(nb),
          [](std::size_t q) { return q; }, ws.moved_coef.data() + j * nb);
  }

  /// 4. update: w_r += sum over its firing samples of coefficient * x (sample order).
  void update(StepContext& c) {
    HalfSpaceIndex& index = c.net.index();
    const RowStore& store = index.store();
    const StepPlan& plan = ws.plan;
    const std::size_t nb = plan.nb, nu = plan.neurons, nmv = plan.moved_set;
    const int d = c.net.input_dim(), stride = store.stride();
    const float b = c.net.threshold();
    const bool stateful = plan.stateful;
    const bool track = plan.strategy == ResolvedStrategy::Cache;
    const float* xb = ws.batch_x.data();
    ws.neuron_movement.resize(nu);
    ws.moved_movement.resize(nmv);
    const NeuronMajor& nm = ws.by_neuron;
    // One row: w += its firing entries' coefficients times their inputs (as in backward_row); returns the
    // bound on how far it moved when tracking.
    auto update_one = [&](row_id r, const float* zr, std::uint32_t cnt, auto sample_of, const float* cr) {
      const int thread = omp_get_thread_num();
      const std::size_t part = static_cast<std::size_t>(thread) * ws.entry_stride;
      const float** xs = ws.entry_inputs.data() + part;
      float* cs = ws.entry_coefs.data() + part;
      float* xn = ws.entry_input_norms.data() + part;
      std::uint32_t count = 0;
      for_each_above(zr, cnt, b, [&](std::size_t j) {
        const std::size_t q = sample_of(j);
        xs[count] = xb + q * stride;
        cs[count] = cr[j];
        if (track) xn[count] = ws.batch_x_norm[q];
        ++count;
      });
      float* w = index.mutable_row(r);
      const double moved = stateful ? optimizer_update_row(c.optim, r, w, d, stride, xs, cs, count, track, thread)
                                    : update_row(w, d, stride, xs, cs, xn, count, track);
      // ||w_new - w|| <= ||update|| + 2^-24 ||w_new|| (one rounding per coordinate; exact for d <= 4) and
      // ||w_new|| <= ||w|| + ||update|| (the store's norm of w is still the pre-update bound).
      const double bound =
          track ? (moved + 0x1.0p-24 * (store.slot_norm(store.slot_of(r)) + moved)) * (1.0 + 1e-9) : 0.0;
      index.refresh_norm(r);  // now, while the row is in cache (rows_moved would read every row again)
      return bound;
    };
    const bool parallel = c.threads > 1 && plan.row_work > StepWorkspace::kParallelWork;
#pragma omp parallel for schedule(dynamic, 512) num_threads(c.threads) if (parallel)
    for (std::ptrdiff_t u = 0; u < static_cast<std::ptrdiff_t>(nu); ++u) {
      if (!ws.neuron_fired[u]) continue;
      if (static_cast<std::size_t>(u) + 1 < nu) store.prefetch_row(nm.neuron(u + 1));
      const std::uint32_t e0 = nm.begin(u);
      ws.neuron_movement[u] = update_one(
          nm.neuron(u), ws.z_by_neuron.data() + e0, nm.end(u) - e0,
          [&](std::size_t j) { return static_cast<std::size_t>(nm.sample(e0 + static_cast<std::uint32_t>(j))); },
          ws.coef_by_neuron.data() + e0);
    }
#pragma omp parallel for schedule(dynamic, 64) num_threads(c.threads) if (parallel)
    for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(nmv); ++j) {
      if (!ws.moved_fired[j]) continue;
      if (static_cast<std::size_t>(j) + 1 < nmv) store.prefetch_row(ws.moved_rows[j + 1]);
      ws.moved_movement[j] = update_one(
          ws.moved_rows[j], ws.moved_z_by_row.data() + j * nb, static_cast<std::uint32_t>(nb),
          [](std::size_t q) { return q; }, ws.moved_coef.data() + j * nb);
    }
  }

  /// The stateful optimizers' row update: the gradient g = sum_e cs[e] xs[e] (acc = c_0 x_0, then fma in
  /// sample order, as update_row sums), then the optimizer's rule on w. When `track`, returns an upper bound
  /// of how far w moved (the change measured exactly, in double). Scratch: thread `thread`'s rows.
  double optimizer_update_row(OptimizerState& optim, row_id r, float* HSRNET_RESTRICT w, int d, int stride,
                              const float* const* xs, const float* cs, std::uint32_t count, bool track, int thread) {
    const std::size_t n = static_cast<std::size_t>(stride);
    float* g = ws.row_scratch.data() + static_cast<std::size_t>(thread) * 2 * n;
    float* before = g + n;
    for (std::size_t j = 0; j < n; ++j) g[j] = cs[0] * xs[0][j];
    for (std::uint32_t e = 1; e < count; ++e) {
      const float coef = cs[e];
      const float* x = xs[e];
      for (std::size_t j = 0; j < n; ++j) g[j] = std::fma(coef, x[j], g[j]);
    }
    if (track) std::copy_n(w, n, before);
    optim.apply_hidden(static_cast<std::size_t>(r), w, g);
    if (!track) return 0.0;
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
      const double diff = static_cast<double>(w[j]) - static_cast<double>(before[j]);
      sq += diff * diff;
    }
    return std::sqrt(sq) * (1.0 + 1e-9);
  }

  /// 5. tell the index (and the cache) which rows moved: the per-neuron view's and the split-off moved set's,
  /// merged by id (ascending when the store is in id order, which spares rows_moved a sort).
  void index_upkeep(StepContext& c) {
    HalfSpaceIndex& index = c.net.index();
    const std::size_t nu = ws.plan.neurons, nmv = ws.plan.moved_set;
    const bool track = ws.plan.strategy == ResolvedStrategy::Cache;
    ws.updated_ids.clear();
    ws.updated_movement.clear();
    std::size_t j = 0;
    auto take_moved_set_below = [&](std::int64_t limit) {
      for (; j < nmv && ws.moved_rows[j] < limit; ++j)
        if (ws.moved_fired[j]) {
          ws.updated_ids.push_back(ws.moved_rows[j]);
          if (track) ws.updated_movement.push_back(ws.moved_movement[j]);
        }
    };
    for (std::size_t u = 0; u < nu; ++u)
      if (ws.neuron_fired[u]) {
        take_moved_set_below(ws.by_neuron.neuron(u));
        ws.updated_ids.push_back(ws.by_neuron.neuron(u));
        if (track) ws.updated_movement.push_back(ws.neuron_movement[u]);
      }
    take_moved_set_below(std::numeric_limits<std::int64_t>::max());
    index.rows_moved(ws.updated_ids.data(), ws.updated_ids.size(), /*norms_current=*/true);
    c.stats.rows_updated += ws.updated_ids.size();
    if (track) c.cache.rows_moved(c.net, ws.updated_ids.data(), ws.updated_movement.data(), ws.updated_ids.size());
  }

  DenseIdentifier dense_;
};

}  // namespace hsrnet
