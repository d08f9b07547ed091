// Optimizers whose step stays on the firing rows: SGD (the paper's), lazy momentum, Adagrad, row-wise Adagrad
// and lazy Adam.
//
// A neuron that fires on no sample of a batch has a zero gradient in both layers. For SGD and Adagrad a zero
// gradient changes neither the weights nor the accumulator, so touching only the firing rows *is* dense
// training. Momentum and Adam would keep moving a row on old momentum; here they are *lazy* (as PyTorch's
// SparseAdam and TensorFlow's LazyAdam): a row's state advances only in the steps where the row has a
// gradient. Adam's bias correction uses the optimizer's global step count t (as SparseAdam and LazyAdam do).
// The trainer's dense strategy applies the same rule, so every strategy stays bit-identical to it.
//
// Per row r with gradient g (the mean over the batch, float32, d coordinates; the output layer: K):
//   sgd              w -= lr g                                   (the trainer folds lr into its coefficients)
//   sgd + momentum   v = mu v + g;           w -= lr v            (lazy; PyTorch's SGD convention, no dampening)
//   adagrad          h += g*g;               w -= lr g / (sqrt(h) + eps)        (PyTorch's Adagrad, eps 1e-10)
//   rowwise_adagrad  h_r += |g|^2 / d;       w -= lr g / (sqrt(h_r) + eps)      (one accumulator per neuron)
//   adam             m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g*g;
//                    w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)          (lazy; SparseAdam's formula)
// Every operation is a single IEEE float operation or an explicit fma, in a fixed order per coordinate: the
// bits do not depend on vectorisation, -ffp-contract or the thread that runs a row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsrnet/kernels/aligned_buffer.hpp"

namespace hsrnet {

enum class Optimizer { SGD, Adagrad, RowwiseAdagrad, Adam };

inline const char* optimizer_name(Optimizer o) {
  switch (o) {
    case Optimizer::SGD: return "sgd";
    case Optimizer::Adagrad: return "adagrad";
    case Optimizer::RowwiseAdagrad: return "rowwise_adagrad";
    case Optimizer::Adam: return "adam";
  }
  return "?";
}

inline Optimizer parse_optimizer(const std::string& name) {
  if (name == "sgd") return Optimizer::SGD;
  if (name == "adagrad") return Optimizer::Adagrad;
  if (name == "rowwise_adagrad") return Optimizer::RowwiseAdagrad;
  if (name == "adam") return Optimizer::Adam;
  throw std::invalid_argument("hsrnet: unknown optimizer '" + name +
                              "' (expected sgd, adagrad, rowwise_adagrad or adam)");
}

struct OptimizerOptions {
  Optimizer kind = Optimizer::SGD;
  double momentum = 0.0;  // sgd only: lazy heavy-ball momentum in [0, 1)
  double beta1 = 0.9;     // adam
  double beta2 = 0.999;   // adam
  double epsilon = -1.0;  // < 0: the kind's default (adagrad 1e-10 as PyTorch, adam 1e-8)

  double eps() const { return epsilon >= 0.0 ? epsilon : (kind == Optimizer::Adam ? 1e-8 : 1e-10); }
  /// True when the trainer must hand the optimizer raw gradients (everything but plain SGD).
  bool stateful() const { return kind != Optimizer::SGD || momentum > 0.0; }

  void validate() const {
    if (!(momentum >= 0.0 && momentum < 1.0)) throw std::invalid_argument("hsrnet: momentum must be in [0, 1)");
    if (momentum > 0.0 && kind != Optimizer::SGD) throw std::invalid_argument("hsrnet: momentum applies to sgd only");
    if (!(beta1 >= 0.0 && beta1 < 1.0)) throw std::invalid_argument("hsrnet: beta1 must be in [0, 1)");
    if (!(beta2 >= 0.0 && beta2 < 1.0)) throw std::invalid_argument("hsrnet: beta2 must be in [0, 1)");
    // eps > 0 keeps a coordinate whose gradient and accumulator are both zero (the rows' padding) at 0 / eps.
    if (!std::isfinite(epsilon) || epsilon == 0.0)
      throw std::invalid_argument("hsrnet: epsilon must be > 0 and finite");
  }
};

/// The optimizer's per-row state for both layers, indexed by neuron id (rows keep their state when the index
/// renumbers its slots). Hidden rows use `stride` floats each (the padding stays zero), output rows K floats.
class OptimizerState {
 public:
  /// Slots of per-coordinate state a kind needs (the row-wise accumulator is one float per hidden row).
  static int slots(const OptimizerOptions& o) {
    if (o.kind == Optimizer::Adam) return 2;
    if (o.kind == Optimizer::Adagrad || o.kind == Optimizer::RowwiseAdagrad || o.momentum > 0.0) return 1;
    return 0;
  }

  /// Zero state for m rows of `stride` (hidden) and K (output) floats.
  void reset(const OptimizerOptions& o, std::size_t m, int stride, int K) {
    opt_ = o;
    m_ = m;
    stride_ = stride;
    K_ = K;
    steps_ = 0;
    const int n = slots(o);
    const bool rowwise = o.kind == Optimizer::RowwiseAdagrad;
    const std::size_t hidden = rowwise ? m : m * static_cast<std::size_t>(stride);
    hidden1_ = AlignedBuffer<float>(n >= 1 ? hidden : 0);
    hidden2_ = AlignedBuffer<float>(n >= 2 ? hidden : 0);
    out1_ = AlignedBuffer<float>(n >= 1 ? m * static_cast<std::size_t>(K) : 0);
    out2_ = AlignedBuffer<float>(n >= 2 ? m * static_cast<std::size_t>(K) : 0);  // zero-initialised
    eps_ = static_cast<float>(o.eps());
    mu_ = static_cast<float>(o.momentum);
    b1_ = static_cast<float>(o.beta1);
    b2_ = static_cast<float>(o.beta2);
    c1_ = static_cast<float>(1.0 - o.beta1);  // from the doubles: 1 - 0.999f would be off by 1e-5 relative
    c2_ = static_cast<float>(1.0 - o.beta2);
  }

  bool matches(const OptimizerOptions& o, std::size_t m, int stride, int K) const {
    return m_ == m && stride_ == stride && K_ == K && opt_.kind == o.kind &&
           (opt_.momentum > 0.0) == (o.momentum > 0.0);
  }

  const OptimizerOptions& options() const { return opt_; }
  /// Steps taken (Adam's t): counts every step, also those in which a row had no gradient.
  std::uint64_t steps() const { return steps_; }
  void set_steps(std::uint64_t t) { steps_ = t; }
  std::size_t rows() const { return m_; }
  int stride() const { return stride_; }
  int outputs() const { return K_; }

  /// The state's arrays, by name, for saving and restoring: hidden1/hidden2 (m x stride, or m for the
  /// row-wise accumulator), out1/out2 (m x K). Absent arrays have size 0.
  AlignedBuffer<float>& hidden1() { return hidden1_; }
  AlignedBuffer<float>& hidden2() { return hidden2_; }
  AlignedBuffer<float>& out1() { return out1_; }
  AlignedBuffer<float>& out2() { return out2_; }
  const AlignedBuffer<float>& hidden1() const { return hidden1_; }
  const AlignedBuffer<float>& hidden2() const { return hidden2_; }
  const AlignedBuffer<float>& out1() const { return out1_; }
  const AlignedBuffer<float>& out2() const { return out2_; }
  std::size_t memory_bytes() const {
    return (hidden1_.size() + hidden2_.size() + out1_.size() + out2_.size()) * sizeof(float);
  }

  /// The step's rate and, for Adam, its bias-corrected step size. Call once per step, before the rows.
  void begin_step(double lr) {
    ++steps_;
    lr_ = static_cast<float>(lr);
    if (opt_.kind == Optimizer::Adam) {
      const double t = static_cast<double>(steps_);
      const double bc1 = 1.0 - std::pow(opt_.beta1, t), bc2 = 1.0 - std::pow(opt_.beta2, t);
      adam_step_ = static_cast<float>(lr * std::sqrt(bc2) / bc1);
    }
  }

  /// Hidden row r: w (stride floats) moved by the gradient g (stride floats, padding zero).
  void apply_hidden(std::size_t r, float* w, const float* g) {
    const std::size_t n = static_cast<std::size_t>(stride_);
    if (opt_.kind == Optimizer::RowwiseAdagrad) {
      double sq = 0.0;  // |g|^2 in a fixed order
      for (std::size_t j = 0; j < n; ++j) sq = std::fma(static_cast<double>(g[j]), static_cast<double>(g[j]), sq);
      if (sq == 0.0) return;  // no gradient: nothing moves (lr / eps could overflow and 0 * inf is NaN)
      float& h = hidden1_.data()[r];
      h = h + static_cast<float>(sq / static_cast<double>(dim_));
      const float scale = lr_ / (std::sqrt(h) + eps_);
      for (std::size_t j = 0; j < n; ++j) w[j] = std::fma(-scale, g[j], w[j]);
      return;
    }
    apply(w, g, n, hidden1_.data() + r * n, hidden2_.data() + (hidden2_.size() ? r * n : 0));
  }

  /// Output row r: a (K floats) moved by its gradient g (K floats).
  void apply_output(std::size_t r, float* a, const float* g) {
    const std::size_t n = static_cast<std::size_t>(K_);
    apply(a, g, n, out1_.data() + r * n, out2_.data() + (out2_.size() ? r * n : 0));
  }

  /// The input dimension the row-wise accumulator averages over (the hidden rows' d, not their stride).
  void set_input_dim(int d) { dim_ = d; }

 private:
  void apply(float* w, const float* g, std::size_t n, float* s1, float* s2) const {
    switch (opt_.kind) {
      case Optimizer::SGD:  // with momentum (plain SGD never reaches the optimizer)
        for (std::size_t j = 0; j < n; ++j) {
          s1[j] = std::fma(mu_, s1[j], g[j]);
          w[j] = std::fma(-lr_, s1[j], w[j]);
        }
        return;
      case Optimizer::Adagrad:
      case Optimizer::RowwiseAdagrad:  // its output rows: element-wise (apply_hidden handles the hidden rows)
        for (std::size_t j = 0; j < n; ++j) {
          s1[j] = std::fma(g[j], g[j], s1[j]);
          w[j] = w[j] - lr_ * (g[j] / (std::sqrt(s1[j]) + eps_));
        }
        return;
      case Optimizer::Adam: {
        const float c1 = c1_, c2 = c2_;
        for (std::size_t j = 0; j < n; ++j) {
          s1[j] = std::fma(b1_, s1[j], c1 * g[j]);
          s2[j] = std::fma(b2_, s2[j], c2 * (g[j] * g[j]));
          w[j] = w[j] - adam_step_ * (s1[j] / (std::sqrt(s2[j]) + eps_));
        }
        return;
      }
    }
  }

  OptimizerOptions opt_;
  std::size_t m_ = 0;
  int stride_ = 0, K_ = 0, dim_ = 1;
  std::uint64_t steps_ = 0;
  float lr_ = 0.0f, eps_ = 0.0f, mu_ = 0.0f, b1_ = 0.0f, b2_ = 0.0f, c1_ = 0.0f, c2_ = 0.0f, adam_step_ = 0.0f;
  AlignedBuffer<float> hidden1_, hidden2_, out1_, out2_;
};

}  // namespace hsrnet
