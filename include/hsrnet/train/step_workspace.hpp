// What one training step works on: its plan (sizes and choices shared by the phases), the batch, the
// candidates and their pre-activations, outputs and loss gradient, the update coefficients, and per-thread
// scratch. Capacity is kept between steps: no allocation in steady state.
//
// Three layouts of the step's (sample, neuron) pairs:
//   by sample  - the candidate lists cand_offsets / cand_ids (ascending ids per sample), values z_by_sample;
//   by neuron  - the neuron-major view by_neuron (neuron_major.hpp), values z_by_neuron, coef_by_neuron;
//   moved set  - the cache's moved set when split off the lists (candidates for every sample), one block of
//                rows against the whole batch: values moved_z_by_sample (nb x rows) and moved_z_by_row.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "hsrnet/config.hpp"
#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/kernels/above_threshold.hpp"
#include "hsrnet/kernels/aligned_buffer.hpp"
#include "hsrnet/train/neuron_major.hpp"
#include "hsrnet/train/train_strategy.hpp"

namespace hsrnet {

/// Seconds per phase: lap(acc) adds the time since the last lap to acc.
class PhaseClock {
 public:
  using Clock = std::chrono::steady_clock;
  void lap(double& acc) {
    const auto now = Clock::now();
    acc += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  Clock::time_point last_ = Clock::now();
};

/// What the phases of the step in progress share (set by BatchStep::prepare and preactivations).
struct StepPlan {
  const std::size_t* samples = nullptr;
  std::size_t nb = 0;
  double lr = 0.0;
  ResolvedStrategy strategy = ResolvedStrategy::Index;  // after a possible cache fallback
  bool stateful = false;                                // rows move by the optimizer's rule, from their gradients
  bool exact = true;                       // candidates are exactly the firing sets (not the cache's superset)
  std::size_t listed = 0;                  // entries of the per-sample candidate lists
  std::size_t neurons = 0;                 // neurons of the per-neuron view
  std::size_t moved_set = 0;               // rows of the split-off moved set
  std::size_t evaluated = 0;               // (sample, neuron) pairs whose z the step computes
  std::size_t row_work = 0, out_work = 0;  // rough operation counts of the passes (see kParallelWork)
};

/// Per-thread lists of one sample's firing neurons, for the outputs when the moved set is split off.
struct FiringScratch {
  std::vector<row_id> ids, moved_ids;
  std::vector<float> z, moved_z;
};

struct StepWorkspace {
  /// Below this many operations a pass stays on one thread: a fork-join costs more than it saves.
  static constexpr std::size_t kParallelWork = 1 << 16;

  StepPlan plan;

  // The batch: inputs padded to the row stride (padding stays zero from allocation), upper bounds of their norms.
  AlignedBuffer<float> batch_x;
  std::size_t batch_x_capacity = 0;
  int batch_x_stride = 0;
  std::vector<float> batch_x_norm;

  // Candidates: per-sample lists (swapped with the index's answer buffers, reused across steps).
  std::vector<std::int64_t> cand_offsets;
  std::vector<row_id> cand_ids;
  CsrResult index_hits;
  NeuronMajor by_neuron;
  std::vector<std::uint32_t> full_neurons, other_neurons;  // neurons that are candidates for every sample; rest
  std::vector<row_id> moved_rows;

  // Forward: pre-activations, outputs, loss and its gradient dL/df per sample (double: see
  // ShiftedReLUNet::output_coefficient), firing counts.
  std::vector<float> z_by_sample, z_by_neuron, moved_z_by_sample, moved_z_by_row;
  std::vector<float> outputs;
  std::vector<double> dloss, losses, dloss_norms;
  std::vector<std::size_t> fired_per_sample;

  // Backward and update: coefficients, which rows fired, bounds on how far they moved (cache), the rows
  // the step moved (in id order) and their bounds.
  std::vector<float> coef_by_neuron, moved_coef, single_coefs;
  std::vector<std::uint8_t> neuron_fired, moved_fired;
  std::vector<double> neuron_movement, moved_movement, updated_movement;
  std::vector<row_id> updated_ids;

  // Firing lists for the step callback when the candidates are a superset.
  std::vector<std::int64_t> report_offsets;
  std::vector<row_id> report_ids;

  // Per thread, each thread's part on its own cache lines (no false sharing): one neuron's firing entries
  // (inputs, coefficients, input norms), entry_stride apart; output sums, an output row's gradient (double
  // and float), output_stride apart; a hidden row's gradient and old values (stateful optimizers).
  std::vector<const float*> entry_inputs;
  std::vector<float> entry_coefs, entry_input_norms;
  std::size_t entry_stride = 0;
  std::vector<double> output_sums, output_grad_sums;
  std::vector<float> output_grads;
  std::size_t output_stride = 0;
  AlignedBuffer<float> row_scratch;
  std::vector<FiringScratch> firing_scratch;

  /// Copies the batch's inputs X[samples[q]] (d floats each) into batch_x, padded to `stride`.
  void load_batch(const float* X, const std::size_t* samples, std::size_t nb, int d, int stride) {
    if (batch_x_capacity < nb || batch_x_stride != stride) {
      batch_x = AlignedBuffer<float>(nb * static_cast<std::size_t>(stride));
      batch_x_capacity = nb;
      batch_x_stride = stride;
    }
    for (std::size_t q = 0; q < nb; ++q) std::copy_n(X + samples[q] * d, d, batch_x.data() + q * stride);
  }

  /// Per-thread scratch for `threads` threads, nb samples and K outputs.
  void ensure_thread_scratch(int threads, std::size_t nb, std::size_t K) {
    const std::size_t t = static_cast<std::size_t>(threads);
    if (firing_scratch.size() < t) firing_scratch.resize(t);
    entry_stride = (nb + 15) / 16 * 16 + 16;
    if (entry_inputs.size() < t * entry_stride) {
      entry_inputs.resize(t * entry_stride);
      entry_coefs.resize(t * entry_stride);
      entry_input_norms.resize(t * entry_stride);
    }
    output_stride = (K + 7) / 8 * 8 + 8;
    if (output_sums.size() < t * output_stride) {
      output_sums.resize(t * output_stride);
      output_grad_sums.resize(t * output_stride);
      output_grads.resize(t * output_stride);
    }
  }

  /// Appends the firing neurons of batch position q (after the pre-activations) and their values to ids /
  /// zs, ascending by id (the order the outputs are summed in): the fired candidates of its list merged with
  /// the fired rows of the split-off moved set.
  void merged_firing(std::size_t q, float b, std::vector<row_id>& ids, std::vector<float>& zs,
                     FiringScratch& fs) const {
    const std::size_t nmv = moved_rows.size();
    fs.moved_ids.clear();
    fs.moved_z.clear();
    if (nmv > 0) {
      const float* zq = moved_z_by_sample.data() + q * nmv;
      for_each_above(zq, nmv, b, [&](std::size_t j) {
        fs.moved_ids.push_back(moved_rows[j]);
        fs.moved_z.push_back(zq[j]);
      });
    }
    std::size_t next_moved = 0;
    const std::int64_t o = cand_offsets[q];
    for_each_above(z_by_sample.data() + o, static_cast<std::size_t>(cand_offsets[q + 1] - o), b, [&](std::size_t j) {
      const row_id r = cand_ids[static_cast<std::size_t>(o) + j];
      for (; next_moved < fs.moved_ids.size() && fs.moved_ids[next_moved] < r; ++next_moved) {
        ids.push_back(fs.moved_ids[next_moved]);
        zs.push_back(fs.moved_z[next_moved]);
      }
      ids.push_back(r);
      zs.push_back(z_by_sample[static_cast<std::size_t>(o) + j]);
    });
    ids.insert(ids.end(), fs.moved_ids.begin() + static_cast<std::ptrdiff_t>(next_moved), fs.moved_ids.end());
    zs.insert(zs.end(), fs.moved_z.begin() + static_cast<std::ptrdiff_t>(next_moved), fs.moved_z.end());
  }

  /// |dL/df| of batch position q (K outputs).
  double dloss_norm(std::size_t q, std::size_t K) const {
    const double* g = dloss.data() + q * K;
    double gg = 0.0;
    for (std::size_t k = 0; k < K; ++k) gg += g[k] * g[k];
    return std::sqrt(gg);
  }
};

}  // namespace hsrnet
