// hsrnet::ShiftedReLUNet: the two-layer network of the paper,
//
//   f(x) = s * sum_r a_r * sigma_b(<w_r, x>),   sigma_b(z) = max(z - b, 0),   a_r in R^K,
//
// with output scale s = 1/sqrt(m) unless NetOptions::output_scale says otherwise (a neuron shard), and
// whose hidden weights W live only in a HalfSpaceIndex (no second copy), so the neurons that fire on x,
// {r : reference_dot(w_r, x) > b}, are one index query away. The output layer A is an m x K float array in
// row-id order.
//
// One arithmetic everywhere: a pre-activation is reference_dot(w_r, x) (the index's own rule), and an output
// sums a_r (z_r - b) over firing neurons in ascending id order with double fma accumulators. predict(), the
// gradient check and every training strategy share these functions, so their values agree bit for bit.
#pragma once

#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/kernels/above_threshold.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/kernels/multi_dot.hpp"
#include "hsrnet/kernels/portable_math.hpp"
#include "hsrnet/net/losses.hpp"
#include "hsrnet/net/rng.hpp"

namespace hsrnet {

/// The index options a network uses unless told otherwise: IndexOptions' defaults, except that the index
/// does not rebuild its tree by itself after m row updates. A training step moves thousands of rows, so that
/// rule would rebuild every few hundred steps (at m = 2^20 a rebuild costs ~0.3 s); the trainer rebuilds when
/// loosened boxes have cost as much query time as a rebuild takes (tree_upkeep.hpp).
inline IndexOptions default_net_index_options() {
  IndexOptions o;
  o.rebuild_after = 1e12;
  return o;
}

struct NetOptions {
  double threshold = std::numeric_limits<double>::quiet_NaN();  // NaN: default_threshold(m); else b,
                                                                // compared as a real (float_threshold)
  std::uint64_t seed = 0;                                       // initialisation seed
  IndexOptions index = default_net_index_options();             // options of the index over W
  // The factor of the output sum. NaN: 1/sqrt(m). A neuron shard of a wider network (m_p of m_total neurons)
  // sets 1/sqrt(m_total), so the shards' outputs sum to the whole network's.
  double output_scale = std::numeric_limits<double>::quiet_NaN();
};

class ShiftedReLUNet {
 public:
  /// Random streams of the initialisation (see rng.hpp): output signs, then one stream per block of
  /// kInitBlockRows weight rows, so rows can be drawn in parallel and the result never depends on threads.
  static constexpr std::uint64_t kOutputStream = 1;
  static constexpr std::uint64_t kWeightStreamBase = std::uint64_t{1} << 32;
  static constexpr std::size_t kInitBlockRows = 1024;

  /// Up to this input dimension a fresh network numbers its neurons in k-d tree order (see below).
  static constexpr int kTreeOrderMaxDim = kTreeMaxDim;

  /// Paper initialisation: w_r ~ N(0, I_d), a_r entries uniform in {-1, +1}, b = sqrt(0.4 ln m).
  /// The m rows are drawn straight into the index (no temporary copy). For d <= kTreeOrderMaxDim they are
  /// then numbered in k-d tree order of their initial values (HalfSpaceIndex::renumber_in_tree_order):
  /// the neurons are i.i.d., so this is the same random network, but neurons that fire together sit
  /// together in memory and need no id <-> slot maps, and A is drawn in that order. The numbering depends
  /// only on (d, m, seed), never on the index options; random_weights() gives the rows in draw order.
  ShiftedReLUNet(int d, std::size_t m, int K, const NetOptions& options = {})
      : d_(d),
        m_(m),
        K_(K),
        seed_(options.seed),
        uid_(next_uid()),
        index_(checked_shape(d, m, K), d, RowDraw{d, options.seed}, options.index,
               d <= kTreeOrderMaxDim ? HalfSpaceIndex::Numbering::TreeOrder : HalfSpaceIndex::Numbering::AsCreated) {
    init_output(nullptr, options);
#if defined(__GLIBC__)
    // Sorting and building leave freed temporaries (orders of m ids) that glibc may keep mapped; hand them
    // back so the process's memory is the network's own.
    malloc_trim(0);
#endif
  }

  /// Given weights: W (m x d) and A (m x K, row-major); A == nullptr draws the paper's random signs.
  ShiftedReLUNet(int d, std::size_t m, int K, const float* W, const float* A, const NetOptions& options = {})
      : d_(d), m_(m), K_(K), seed_(options.seed), uid_(next_uid()), index_(checked(W, d, m, K), m, d, options.index) {
    init_output(A, options);
  }

  /// The paper's b = sqrt(0.4 ln m) as a real (portable log: the same value on every platform).
  static double default_threshold_real(std::size_t m) {
    return std::sqrt(0.4 * portable::log(static_cast<double>(std::max<std::size_t>(m, 1))));
  }
  /// default_threshold_real(m) as the float threshold the network compares against.
  static float default_threshold(std::size_t m) { return float_threshold(default_threshold_real(m)); }

  /// The paper's rows for (d, m, seed) in draw order, row-major m x d (the first constructor draws the same
  /// rows and, for d <= kTreeOrderMaxDim, renumbers them).
  static std::vector<float> random_weights(int d, std::size_t m, std::uint64_t seed) {
    if (d < 1) throw std::invalid_argument("hsrnet: input dimension d must be >= 1");
    std::vector<float> W(m * static_cast<std::size_t>(d));
    const std::ptrdiff_t blocks = static_cast<std::ptrdiff_t>((m + kInitBlockRows - 1) / kInitBlockRows);
    const RowDraw draw{d, seed};
#pragma omp parallel for schedule(dynamic, 1) if (blocks > 1)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::size_t r0 = static_cast<std::size_t>(blk) * kInitBlockRows;
      draw(r0, std::min(m, r0 + kInitBlockRows) - r0, W.data() + r0 * d, static_cast<std::size_t>(d));
    }
    return W;
  }

  int input_dim() const { return d_; }
  std::size_t width() const { return m_; }
  int outputs() const { return K_; }
  float threshold() const { return b_; }
  double output_scale() const { return output_scale_; }  // 1 / sqrt(m) unless set
  std::uint64_t seed() const { return seed_; }
  /// Unique per constructed network (kept by moves): lets a trainer tell networks apart.
  std::uint64_t uid() const { return uid_; }

  HalfSpaceIndex& index() { return index_; }
  const HalfSpaceIndex& index() const { return index_; }

  /// w_r (d floats, read-only view into the index store; valid until the next index update).
  const float* hidden_row(row_id r) const { return index_.store().row_data(r); }
  /// Copies W (m x d, row-id order) to `out`.
  void get_hidden_weights(float* out) const {
    for (std::size_t r = 0; r < m_; ++r) std::copy_n(hidden_row(static_cast<row_id>(r)), d_, out + r * d_);
  }
  void set_hidden_row(row_id r, const float* w) { index_.update(&r, 1, w); }
  void set_hidden_weights(const float* W) {
    std::vector<row_id> ids(m_);
    for (std::size_t r = 0; r < m_; ++r) ids[r] = static_cast<row_id>(r);
    index_.update(ids.data(), m_, W);
  }

  const float* output_weights() const { return A_.data(); }
  float* mutable_output_weights() { return A_.data(); }
  void set_output_weights(const float* A) { std::copy(A, A + A_.size(), A_.begin()); }

  /// f (K values) from candidate neurons ids[0..k) (ascending) and their pre-activations z: every
  /// candidate with z > b adds a_r (z - b). `acc` is scratch for K doubles. Returns how many fired.
  /// T = float: the network's output; T = double: the same sum before its rounding to float (a neuron
  /// shard's partial output, see SgdTrainer::begin_step).
  template <class T>
  std::size_t output_from_preactivations(const row_id* ids, const float* z, std::size_t k, T* f, double* acc) const {
    const float b = b_;
    const float* A = A_.data();
    std::size_t fired = 0;
    if (K_ == 1) {
      double s = 0.0;
      for_each_above(z, k, b, [&](std::size_t j) {
        ++fired;
        s = std::fma(static_cast<double>(A[ids[j]]), static_cast<double>(z[j] - b), s);
      });
      f[0] = static_cast<T>(s * output_scale_);
      return fired;
    }
    const std::size_t K = static_cast<std::size_t>(K_);
    std::fill(acc, acc + K, 0.0);
    for_each_above(z, k, b, [&](std::size_t j) {
      ++fired;
      const double h = static_cast<double>(z[j] - b);
      const float* a = A + static_cast<std::size_t>(ids[j]) * K;
      for (std::size_t c = 0; c < K; ++c) acc[c] = std::fma(static_cast<double>(a[c]), h, acc[c]);
    });
    for (std::size_t c = 0; c < K; ++c) f[c] = static_cast<T>(acc[c] * output_scale_);
    return fired;
  }

  /// The neurons that fire on x (d floats), ascending.
  std::vector<row_id> firing(const float* x, Backend backend = Backend::Auto) { return index_.query(x, b_, backend); }

  /// Outputs for n inputs (row-major n x d) into out (n x K). Non-const: index queries update its statistics.
  void predict(const float* X, std::size_t n, float* out, Backend backend = Backend::Auto) {
    constexpr std::size_t kChunk = 512;
    const int threads = index_.threads();
    for (std::size_t q0 = 0; q0 < n; q0 += kChunk) {
      const std::size_t nq = std::min(kChunk, n - q0);
      const CsrResult hits = index_.query_batch(X + q0 * d_, nq, b_, backend);
#pragma omp parallel num_threads(threads) if (nq > 1 && hits.indices.size() > 4096)
      {
        std::vector<float> z;
        std::vector<double> acc(K_);
#pragma omp for schedule(dynamic, 4)
        for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(nq); ++q) {
          const float* x = X + (q0 + q) * d_;
          const std::size_t k = hits.size(q);
          z.resize(k);
          preactivations(hits.begin(q), k, x, z.data());
          output_from_preactivations(hits.begin(q), z.data(), k, out + (q0 + q) * K_, acc.data());
        }
      }
    }
  }

  /// z[j] = reference_dot(w_{ids[j]}, x) for j < k (x: d floats), four rows at a time (bit-identical).
  void preactivations(const row_id* ids, std::size_t k, const float* x, float* z) const {
    const RowStore& store = index_.store();
    if (d_ <= 4) {  // rows of one vector each (the paper's d = 3)
      const __m128 xv = RowStore::load_short(x, d_), keep = RowStore::short_lanes(d_);
      auto row = [&](std::size_t j) { return RowStore::read_short_row(store.row_data(ids[std::min(j, k - 1)])); };
      for (std::size_t j = 0; j < k; j += 4) {
        alignas(16) float out[4];
        _mm_store_ps(out, reference_dot4_short(row(j), row(j + 1), row(j + 2), row(j + 3), xv, keep));
        std::copy_n(out, std::min<std::size_t>(4, k - j), z + j);
      }
      return;
    }
    const float* xs[4] = {x, x, x, x};
    for (std::size_t j = 0; j < k; j += 4) {
      const std::size_t c = std::min<std::size_t>(4, k - j);
      const float* ws[4];
      for (std::size_t q = 0; q < 4; ++q) ws[q] = store.row_data(ids[j + std::min(q, c - 1)]);
      float out[4];
      reference_dot4(ws, xs, d_, out);
      std::copy_n(out, c, z + j);
    }
  }

  /// Loss of one sample (x: d floats; sample i of `targets`) and, where the pointers are not null, the full
  /// gradients dL/dW (m x d) and dL/dA (m x K), zero outside the firing neurons:
  ///   dL/dw_r = (1/sqrt m) <a_r, dL/df> 1[fires] x,   dL/da_r = (1/sqrt m) sigma_b(z_r) dL/df.
  /// O(m d) when gradients are requested: for checks, not for training (the trainer never forms them).
  double loss_and_gradient(const float* x, const Targets& targets, std::size_t i, Loss loss, float* grad_W,
                           float* grad_A) {
    const std::vector<row_id> ids = firing(x);
    std::vector<float> z(ids.size()), f(K_);
    std::vector<double> g(K_);
    std::vector<double> acc(K_);
    preactivations(ids.data(), ids.size(), x, z.data());
    output_from_preactivations(ids.data(), z.data(), ids.size(), f.data(), acc.data());
    const double l = hsrnet::loss_and_gradient(loss, f.data(), K_, targets, i, g.data());
    if (grad_W) std::fill(grad_W, grad_W + m_ * d_, 0.0f);
    if (grad_A) std::fill(grad_A, grad_A + m_ * K_, 0.0f);
    for (std::size_t j = 0; j < ids.size(); ++j) {
      const std::size_t r = static_cast<std::size_t>(ids[j]);
      const float* a = A_.data() + r * K_;
      if (grad_W) {
        const double c = output_coefficient(a, g.data());
        for (int t = 0; t < d_; ++t) grad_W[r * d_ + t] = static_cast<float>(c * x[t]);
      }
      if (grad_A) {
        const double h = static_cast<double>(z[j] - b_) * output_scale_;
        for (int k = 0; k < K_; ++k) grad_A[r * K_ + k] = static_cast<float>(h * g[k]);
      }
    }
    return l;
  }

  /// (1/sqrt m) <a_r, g>: the scalar by which x enters dL/dw_r (double, explicit fma: the trainer's value).
  /// g is dL/df in double: softmax gradients sum to zero, so for a_r with equal entries the exact coefficient
  /// is 0, and a float g would leave ~1e-8 of rounding there, which Adagrad and Adam turn into full steps.
  template <class G>
  double output_coefficient(const float* a_r, const G* g) const {
    double c = 0.0;
    for (int k = 0; k < K_; ++k) c = std::fma(static_cast<double>(a_r[k]), static_cast<double>(g[k]), c);
    return c * output_scale_;
  }

  std::size_t memory_bytes() const { return index_.memory_bytes() + A_.size() * sizeof(float); }

 private:
  /// Draws rows [r0, r0 + count): stream kWeightStreamBase + block for each block of kInitBlockRows rows,
  /// row after row, d normals each. Any split of the rows into calls gives the same values.
  struct RowDraw {
    int d;
    std::uint64_t seed;
    void operator()(std::size_t r0, std::size_t count, float* dst, std::size_t stride) const {
      std::size_t r = r0;
      const std::size_t end = r0 + count;
      while (r < end) {
        const std::size_t blk = r / kInitBlockRows, b0 = blk * kInitBlockRows;
        const std::size_t b1 = std::min(end, b0 + kInitBlockRows);
        Rng rng(seed, kWeightStreamBase + static_cast<std::uint64_t>(blk));
        for (std::size_t k = b0; k < r; ++k)  // rows of this block before r0: drawn and dropped
          for (int j = 0; j < d; ++j) rng.normal();
        for (; r < b1; ++r)
          for (int j = 0; j < d; ++j) dst[(r - r0) * stride + j] = static_cast<float>(rng.normal());
      }
    }
  };

  void init_output(const float* A, const NetOptions& options) {
    const double b = std::isnan(options.threshold) ? default_threshold(m_) : options.threshold;
    if (!std::isfinite(b)) throw std::invalid_argument("hsrnet: the threshold must be finite");
    b_ = float_threshold(b);  // z > b_ exactly when z > b, for every float z
    output_scale_ = std::isnan(options.output_scale) ? 1.0 / std::sqrt(static_cast<double>(m_)) : options.output_scale;
    if (!(output_scale_ > 0.0) || !std::isfinite(output_scale_))
      throw std::invalid_argument("hsrnet: the output scale must be finite and > 0");
    A_.resize(m_ * static_cast<std::size_t>(K_));
    if (A) {
      std::copy(A, A + A_.size(), A_.begin());
    } else {
      Rng rng(options.seed, kOutputStream);
      for (float& a : A_) a = rng.sign();
    }
  }

  static std::size_t checked_shape(int d, std::size_t m, int K) {
    if (d < 1) throw std::invalid_argument("hsrnet: input dimension d must be >= 1");
    if (m < 1) throw std::invalid_argument("hsrnet: width m must be >= 1");
    if (K < 1) throw std::invalid_argument("hsrnet: the number of outputs K must be >= 1");
    return m;
  }

  static const float* checked(const float* W, int d, std::size_t m, int K) {
    checked_shape(d, m, K);
    if (!W) throw std::invalid_argument("hsrnet: W must not be null");
    return W;
  }
  static std::uint64_t next_uid() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }

  int d_;
  std::size_t m_;
  int K_;
  std::uint64_t seed_;
  std::uint64_t uid_;
  float b_ = 0.0f;
  double output_scale_ = 1.0;
  HalfSpaceIndex index_;
  std::vector<float> A_;
};

}  // namespace hsrnet
