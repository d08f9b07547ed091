// Shared fixtures of the trainer and optimizer tests: data on the unit sphere, a recorded training run, and
// the comparison that says two runs trained identically.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/sgd_trainer.hpp"

namespace hsrtest {

using namespace hsrnet;

inline std::vector<float> sphere(std::size_t n, int d, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> X(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int j = 0; j < d; ++j) {
      const double z = rng.normal();
      X[i * d + j] = static_cast<float>(z);
      s += z * z;
    }
    for (int j = 0; j < d; ++j) X[i * d + j] = static_cast<float>(X[i * d + j] / std::sqrt(s));
  }
  return X;
}

/// A data set on the unit sphere: even-polynomial regression targets (K outputs) and teacher class labels.
struct Data {
  int d = 0, K = 0;
  std::size_t n = 0;
  std::vector<float> X, Y;
  std::vector<std::int32_t> labels;
  Data(std::size_t n_, int d_, int K_, std::uint64_t seed) : d(d_), K(K_), n(n_), X(sphere(n_, d_, seed)) {
    const std::vector<float> U = sphere(K, d, seed + 1);  // one direction per output / class
    Y.resize(n * K);
    labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      double best = -1e300;
      for (int k = 0; k < K; ++k) {
        double p = 0.0;
        for (int j = 0; j < d; ++j) p += static_cast<double>(X[i * d + j]) * U[k * d + j];
        Y[i * K + k] = static_cast<float>(d * p * p);  // (<u_k, x>)^2, scaled to mean ~1
        if (p > best) best = p, labels[i] = k;
      }
    }
  }
  Targets targets(Loss loss) const {
    return loss == Loss::SquaredError ? Targets::regression(Y.data()) : Targets::classes(labels.data());
  }
};

/// Everything a training run produced.
struct TrainingRun {
  std::vector<std::vector<row_id>> firing;  // per (step, batch position), in order
  std::vector<std::size_t> samples;         // sample of each recorded firing set
  std::vector<double> lrs;                  // per step
  std::vector<float> W, A;
  std::vector<EpochStats> stats;
};

inline TrainingRun train(const Data& data, std::size_t m, NetOptions net_opt, TrainerOptions opt, int epochs) {
  ShiftedReLUNet net(data.d, m, data.K, net_opt);
  SgdTrainer trainer(opt);
  TrainingRun run;
  trainer.set_step_callback([&](const StepView& v) {
    run.lrs.push_back(v.learning_rate);
    for (std::size_t q = 0; q < v.batch_size; ++q) {
      run.firing.emplace_back(v.ids + v.offsets[q], v.ids + v.offsets[q + 1]);
      run.samples.push_back(v.samples[q]);
    }
  });
  for (int e = 0; e < epochs; ++e)
    run.stats.push_back(trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss)));
  run.W.resize(m * data.d);
  net.get_hidden_weights(run.W.data());
  run.A.assign(net.output_weights(), net.output_weights() + m * data.K);
  return run;
}

inline double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double den = std::max({std::fabs(static_cast<double>(a[i])), std::fabs(static_cast<double>(b[i])), 1e-30});
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / den);
  }
  return worst;
}

/// Same firing sets at every step, same weights (bit for bit by design; the contract is 1e-5 relative).
inline void expect_same_training(const TrainingRun& ref, const TrainingRun& run, const std::string& what) {
  ASSERT_EQ(ref.firing.size(), run.firing.size()) << what;
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ref.firing.size(); ++i) mismatches += ref.firing[i] != run.firing[i];
  EXPECT_EQ(mismatches, 0u) << what << ": firing sets differ";
  EXPECT_EQ(ref.samples, run.samples) << what;
  EXPECT_LE(max_relative_difference(ref.W, run.W), 1e-5) << what;
  EXPECT_LE(max_relative_difference(ref.A, run.A), 1e-5) << what;
  EXPECT_TRUE(ref.W == run.W && ref.A == run.A) << what << ": weights are not bit-identical";
  for (std::size_t e = 0; e < ref.stats.size(); ++e) {
    EXPECT_EQ(ref.stats[e].mean_loss, run.stats[e].mean_loss) << what;
    EXPECT_EQ(ref.stats[e].firing_fraction, run.stats[e].firing_fraction) << what;
    EXPECT_EQ(ref.stats[e].rows_updated, run.stats[e].rows_updated) << what << ": rows reported moved";
  }
}

/// How many samples fire on a different set in the last epoch than in the first (training must matter).
inline std::size_t changed_firing_sets(const TrainingRun& run, std::size_t n) {
  std::vector<std::vector<row_id>> first(n), last(n);
  std::vector<bool> seen(n, false);
  for (std::size_t i = 0; i < run.firing.size(); ++i) {
    const std::size_t s = run.samples[i];
    if (!seen[s]) first[s] = run.firing[i], seen[s] = true;
    last[s] = run.firing[i];
  }
  std::size_t changed = 0;
  for (std::size_t s = 0; s < n; ++s) changed += first[s] != last[s];
  return changed;
}

inline NetOptions net_options(std::uint64_t seed, Backend backend = Backend::Auto) {
  NetOptions o;
  o.seed = seed;
  o.index.backend = backend;
  return o;
}

}  // namespace hsrtest
