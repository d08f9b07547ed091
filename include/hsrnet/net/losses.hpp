// Training losses of the network output f (K values per sample) and their gradients dL/df.
//
//   squared_error:          L = 0.5 * ||f - y||^2,               dL/df = f - y        (y: K floats)
//   softmax_cross_entropy:  L = log sum_k exp(f_k) - f_label,     dL/df = softmax(f) - e_label
// Binary logistic regression is the K = 2 softmax (labels 0 and 1).
//
// Evaluated in double with portable exp/log and explicit fma, so a loss value and its gradient have the same
// bits on every platform and every compiler setting; the float gradient is what the trainer uses.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsrnet/kernels/portable_math.hpp"

namespace hsrnet {

enum class Loss { SquaredError, SoftmaxCrossEntropy };

inline const char* loss_name(Loss loss) {
  switch (loss) {
    case Loss::SquaredError: return "squared_error";
    case Loss::SoftmaxCrossEntropy: return "softmax_cross_entropy";
  }
  return "?";
}

/// Accepts the canonical names and the usual aliases ("mse", "squared", "cross_entropy", "log_loss").
inline Loss parse_loss(const std::string& name) {
  if (name == "squared_error" || name == "squared" || name == "mse") return Loss::SquaredError;
  if (name == "softmax_cross_entropy" || name == "cross_entropy" || name == "log_loss" || name == "softmax")
    return Loss::SoftmaxCrossEntropy;
  throw std::invalid_argument("hsrnet: unknown loss '" + name + "' (expected squared_error or softmax_cross_entropy)");
}

/// Targets of n samples: regression values (n x K floats, row-major) or class labels (n int32 in [0, K)).
struct Targets {
  const float* values = nullptr;
  const std::int32_t* labels = nullptr;

  static Targets regression(const float* y) { return Targets{y, nullptr}; }
  static Targets classes(const std::int32_t* labels) { return Targets{nullptr, labels}; }
};

/// Throws std::invalid_argument unless `t` fits `loss` for n samples and K outputs.
inline void validate_targets(Loss loss, const Targets& t, std::size_t n, int K) {
  if (loss == Loss::SquaredError) {
    if (!t.values && n > 0) throw std::invalid_argument("hsrnet: squared_error needs float targets (n x K)");
    return;
  }
  if (K < 2) throw std::invalid_argument("hsrnet: softmax_cross_entropy needs K >= 2 outputs (K = 2: binary logistic)");
  if (!t.labels && n > 0) throw std::invalid_argument("hsrnet: softmax_cross_entropy needs int32 class labels");
  for (std::size_t i = 0; i < n; ++i)
    if (t.labels[i] < 0 || t.labels[i] >= K)
      throw std::invalid_argument("hsrnet: class label " + std::to_string(t.labels[i]) + " of sample " +
                                  std::to_string(i) + " is outside [0, " + std::to_string(K) + ")");
}

/// Loss of sample i at outputs f (K values, float or double); if `grad` is not null, dL/df goes there
/// (K values of type G).
template <class F, class G>
inline double loss_and_gradient(Loss loss, const F* f, int K, const Targets& t, std::size_t i, G* grad) {
  if (loss == Loss::SquaredError) {
    const float* y = t.values + i * static_cast<std::size_t>(K);
    double l = 0.0;
    for (int k = 0; k < K; ++k) {
      const double r = static_cast<double>(f[k]) - static_cast<double>(y[k]);
      l = std::fma(r, r, l);
      if (grad) grad[k] = static_cast<G>(r);
    }
    return 0.5 * l;
  }
  const int label = t.labels[i];
  double mx = static_cast<double>(f[0]);
  for (int k = 1; k < K; ++k) mx = std::max(mx, static_cast<double>(f[k]));
  double sum = 0.0;
  for (int k = 0; k < K; ++k) sum += portable::exp(static_cast<double>(f[k]) - mx);
  if (grad)
    for (int k = 0; k < K; ++k) {
      const double p = portable::exp(static_cast<double>(f[k]) - mx) / sum;
      grad[k] = static_cast<G>(k == label ? p - 1.0 : p);
    }
  return portable::log(sum) - (static_cast<double>(f[label]) - mx);
}

/// The trainer's loss gradient for a batch whose outputs were summed outside it (neuron-sharded training,
/// SgdTrainer::begin_step / finish_step): F holds nb x K output sums in double (the shards' partial outputs
/// added in a fixed order), rounded here to float as the network's outputs are; sample q's targets are
/// sample q of `t`. Writes the per-sample losses (nb; if not null) and dL/df (nb x K, double), per sample:
/// the mean's 1/nb is applied by finish_step, exactly where a whole step applies it.
inline void batch_loss_gradient(Loss loss, const double* F, std::size_t nb, int K, const Targets& t, double* losses,
                                double* G) {
  std::vector<float> f(static_cast<std::size_t>(K));
  for (std::size_t q = 0; q < nb; ++q) {
    const std::size_t o = q * static_cast<std::size_t>(K);
    for (int k = 0; k < K; ++k) f[static_cast<std::size_t>(k)] = static_cast<float>(F[o + static_cast<std::size_t>(k)]);
    const double l = loss_and_gradient(loss, f.data(), K, t, q, G + o);
    if (losses) losses[q] = l;
  }
}

/// Loss only.
template <class F>
inline double loss_value(Loss loss, const F* f, int K, const Targets& t, std::size_t i) {
  return loss_and_gradient<F, double>(loss, f, K, t, i, nullptr);
}

}  // namespace hsrnet
