// The pre-activation passes of a training step: z = reference_dot(w_r, x) for every (sample, candidate) pair
// of the step, computed per neuron (each row loaded once for all its samples), written in the by-sample and
// by-neuron layouts (step_workspace.hpp). Bit-identical to one reference_dot per pair.
#pragma once

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/kernels/multi_dot.hpp"
#include "hsrnet/kernels/row_update.hpp"
#include "hsrnet/train/step_workspace.hpp"

namespace hsrnet {

/// One sample: four rows against it at a time.
inline void preactivations_one_sample(StepWorkspace& ws, const RowStore& store, int d, int threads) {
  const float* x = ws.batch_x.data();
  float* z = ws.z_by_sample.data();
  float* zn = ws.z_by_neuron.data();
  const NeuronMajor& nm = ws.by_neuron;
  const std::size_t nu = ws.plan.neurons;
  const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>((nu + 3) / 4);
#pragma omp parallel for schedule(dynamic, 128) \
    num_threads(threads) if (threads > 1 && ws.plan.row_work > StepWorkspace::kParallelWork)
  for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
    const std::size_t u0 = static_cast<std::size_t>(gi) * 4;
    const std::size_t c = std::min<std::size_t>(4, nu - u0);
    if (u0 + 8 < nu)
      for (std::size_t k = 4; k < 8; ++k)
        _mm_prefetch(reinterpret_cast<const char*>(store.row_data(nm.neuron(u0 + k))), _MM_HINT_T0);
    const float* rows[4];
    const float* xs[4] = {x, x, x, x};
    for (std::size_t k = 0; k < 4; ++k) rows[k] = store.row_data(nm.neuron(u0 + std::min(k, c - 1)));
    float out[4];
    reference_dot4(rows, xs, d, out);
    for (std::size_t k = 0; k < c; ++k) z[nm.position(nm.begin(u0 + k))] = zn[nm.begin(u0 + k)] = out[k];
  }
}

/// Several samples. Neurons that are candidates for every sample of the batch (for the exact strategies:
/// neurons that fire on all of them; the cache's moved set is handled apart) go four at a time against three
/// samples, at about twice the speed of one row against eight; the rest, one row at a time against its own
/// samples.
inline void preactivations_batch(StepWorkspace& ws, const RowStore& store, int d, int threads) {
  const float* xb = ws.batch_x.data();
  const std::size_t nb = ws.plan.nb, nu = ws.plan.neurons;
  const int stride = store.stride();
  const bool parallel = threads > 1 && ws.plan.row_work > StepWorkspace::kParallelWork;
  float* z = ws.z_by_sample.data();
  float* zn = ws.z_by_neuron.data();
  const NeuronMajor& nm = ws.by_neuron;
  std::vector<std::uint32_t>& full = ws.full_neurons;
  std::vector<std::uint32_t>& other = ws.other_neurons;
  full.clear();
  other.clear();
  for (std::size_t u = 0; u < nu; ++u)
    (stride % 8 == 0 && nb >= 3 && nm.end(u) - nm.begin(u) == nb ? full : other)
        .push_back(static_cast<std::uint32_t>(u));
  while (full.size() % 4 != 0) {
    other.push_back(full.back());
    full.pop_back();
  }
  const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>(full.size() / 4);
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (parallel)
  for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
    const std::uint32_t* us = full.data() + 4 * gi;
    if (gi + 1 < groups)
      for (int k = 4; k < 8; ++k) store.prefetch_row(nm.neuron(us[k]));
    const float* rows[4];
    for (int k = 0; k < 4; ++k) rows[k] = store.row_data(nm.neuron(us[k]));
    // Entries of a full neuron: sample q is entry begin + q (samples ascend).
    rows4_against_batch(rows, xb, nb, stride, d, [&](int k, std::size_t q, float v) {
      const std::uint32_t e = nm.begin(us[k]) + static_cast<std::uint32_t>(q);
      z[nm.position(e)] = zn[e] = v;
    });
  }
  const std::ptrdiff_t n_other = static_cast<std::ptrdiff_t>(other.size());
#pragma omp parallel for schedule(dynamic, 512) num_threads(threads) if (parallel)
  for (std::ptrdiff_t k = 0; k < n_other; ++k) {
    const std::size_t u = other[static_cast<std::size_t>(k)];
    if (k + 2 < n_other) store.prefetch_row(nm.neuron(other[static_cast<std::size_t>(k) + 2]));
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
    const float* rows[4] = {w, w, w, w};
    for (std::uint32_t e = e0; e < e1; e += 4) {
      const std::uint32_t c = std::min<std::uint32_t>(4, e1 - e);
      const float* xs[4];
      for (std::uint32_t j = 0; j < 4; ++j) xs[j] = x_of(e + std::min(j, c - 1));
      float out[4];
      reference_dot4(rows, xs, d, out);
      for (std::uint32_t j = 0; j < c; ++j) z[nm.position(e + j)] = zn[e + j] = out[j];
    }
  }
}

/// The split-off moved set, four rows at a time against the whole batch: values by sample (for the outputs)
/// and by row (for the backward and update passes).
inline void preactivations_moved_set(StepWorkspace& ws, const RowStore& store, int d, int threads) {
  const std::size_t nb = ws.plan.nb, nmv = ws.plan.moved_set;
  const int stride = store.stride();
  ws.moved_z_by_sample.resize(nb * nmv);
  ws.moved_z_by_row.resize(nmv * nb);
  float* by_sample = ws.moved_z_by_sample.data();
  float* by_row = ws.moved_z_by_row.data();
  const float* xb = ws.batch_x.data();
  const std::vector<row_id>& moved = ws.moved_rows;
  const std::ptrdiff_t groups = static_cast<std::ptrdiff_t>((nmv + 3) / 4);
#pragma omp parallel for schedule(dynamic, 16) \
    num_threads(threads) if (threads > 1 && ws.plan.row_work > StepWorkspace::kParallelWork)
  for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
    const std::size_t j0 = 4 * static_cast<std::size_t>(gi), c = std::min<std::size_t>(4, nmv - j0);
    for (std::size_t k = j0 + 4; k < std::min(j0 + 8, nmv); ++k) store.prefetch_row(moved[k]);
    const float* rows[4];
    for (std::size_t k = 0; k < 4; ++k) rows[k] = store.row_data(moved[j0 + std::min(k, c - 1)]);
    rows4_against_batch(rows, xb, nb, stride, d, [&](int k, std::size_t q, float v) {
      const std::size_t j = j0 + static_cast<std::size_t>(k);
      if (j < j0 + c) by_sample[q * nmv + j] = by_row[j * nb + q] = v;
    });
  }
}

}  // namespace hsrnet
