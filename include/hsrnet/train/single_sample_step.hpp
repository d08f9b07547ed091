// The paper's step: one sample, exact candidates (ascending ids, each of which fires), plain SGD, one thread.
// The same arithmetic as the batch step (tests compare them bit for bit through the cache strategy, which
// always takes the batch path), without the per-neuron view and in two passes over the firing neurons:
// pre-activations and output (forward); coefficients and the output layer (backward); then the row updates
// with the index upkeep in the same pass (HalfSpaceIndex::move_rows_along), timed as update (the index phase
// stays 0).
#pragma once

#include <cmath>
#include <cstddef>

#include "hsrnet/net/losses.hpp"
#include "hsrnet/train/batch_step.hpp"
#include "hsrnet/train/step_workspace.hpp"

namespace hsrnet {

/// After BatchStep::prepare found the candidates (ws.cand_ids) of the one sample (input ws.batch_x, index
/// `sample` of targets); report() runs the step callback between the forward and backward passes.
template <class Report>
void single_sample_step(StepContext& c, StepWorkspace& ws, const Targets& targets, std::size_t sample,
                        PhaseClock& clock, Report&& report) {
  ShiftedReLUNet& net = c.net;
  const int K = net.outputs();
  const float b = net.threshold();
  const float* x = ws.batch_x.data();
  const std::size_t k = ws.cand_ids.size();
  const row_id* ids = ws.cand_ids.data();

  // Forward: the candidates' pre-activations, then f over the firing ones.
  ws.z_by_sample.resize(k);
  float* z = ws.z_by_sample.data();
  net.preactivations(ids, k, x, z);
  ws.ensure_thread_scratch(1, 1, static_cast<std::size_t>(K));
  ws.outputs.resize(static_cast<std::size_t>(K));
  ws.dloss.resize(static_cast<std::size_t>(K));
  ws.losses.resize(1);
  ws.dloss_norms.resize(1);
  ws.fired_per_sample.resize(1);
  ws.fired_per_sample[0] = net.output_from_preactivations(ids, z, k, ws.outputs.data(), ws.output_sums.data());
  ws.losses[0] = loss_and_gradient(c.opt.loss, ws.outputs.data(), K, targets, sample, ws.dloss.data());
  ws.dloss_norms[0] = ws.dloss_norm(0, static_cast<std::size_t>(K));
  clock.lap(c.stats.forward_s);
  report();

  // Coefficients of the firing rows (old a_r), the output layer, then the rows and the index in one pass.
  const double neg_step = -ws.plan.lr;
  const double s_out = neg_step * net.output_scale();
  const bool train_a = c.opt.train_output_layer;
  float* A = net.mutable_output_weights();
  const double* g = ws.dloss.data();
  ws.updated_ids.clear();
  ws.single_coefs.clear();
  for (std::size_t j = 0; j < k; ++j) {
    if (!(z[j] > b)) continue;
    float* a = A + static_cast<std::size_t>(ids[j]) * K;
    ws.updated_ids.push_back(ids[j]);
    ws.single_coefs.push_back(static_cast<float>(neg_step * net.output_coefficient(a, g)));
    if (train_a) {
      const double h = static_cast<double>(z[j] - b);
      for (int out = 0; out < K; ++out)
        a[out] = static_cast<float>(std::fma(s_out, std::fma(h, g[out], 0.0), static_cast<double>(a[out])));
    }
  }
  clock.lap(c.stats.backward_s);
  // update_row's arithmetic for one entry
  net.index().move_rows_along(ws.updated_ids.data(), ws.updated_ids.size(), ws.single_coefs.data(), x);
  c.stats.rows_updated += ws.updated_ids.size();
  clock.lap(c.stats.update_s);
}

}  // namespace hsrnet
