// The fused screen-and-threshold kernels (index/fused_threshold.hpp): every kernel (Eigen, AVX2, AVX-512
// where the CPU has it) reports exactly reference_dot's set, on random data, on exact ties, on pairs whose
// summation orders disagree around b, for ragged batches and row ranges; and training at the estimators'
// MNIST shape stays bit-identical to the reference scan with every kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hsrnet/index/fused_threshold.hpp"
#include "hsrnet/index/gemm_backend.hpp"
#include "test_util.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrnet;

std::vector<ScreenKernel> kernels() {
  std::vector<ScreenKernel> ks = {ScreenKernel::Eigen, ScreenKernel::Avx2};
  if (screen_kernel_available(ScreenKernel::Avx512)) ks.push_back(ScreenKernel::Avx512);
  return ks;
}

/// Restores the detected kernel when a test ends, pass or fail.
struct KernelGuard {
  ~KernelGuard() { set_screen_kernel(ScreenKernel::Auto); }
};

struct Problem {
  int d = 0, stride = 0;
  std::size_t m = 0, n = 0;
  RowStore store;
  std::vector<float> Q;  // n x stride, zero padded
  std::vector<float> qnorms;
  Problem(const std::vector<float>& rows, int d_, const std::vector<float>& queries)
      : d(d_), stride(padded_stride(d_)), m(rows.size() / d_), n(queries.size() / d_), store(rows.data(), m, d, d) {
    Q.assign(n * stride, 0.0f);
    qnorms.resize(n);
    for (std::size_t q = 0; q < n; ++q) {
      std::copy_n(queries.data() + q * d, d, Q.data() + q * stride);
      qnorms[q] = norm_upper_bound(Q.data() + q * stride, d);
    }
  }
  std::vector<std::vector<row_id>> reference(float b, row_id begin, row_id end) const {
    std::vector<std::vector<row_id>> out(n);
    for (std::size_t q = 0; q < n; ++q)
      for (row_id r = begin; r < end; ++r)
        if (reference_dot(store.slot_data(r), Q.data() + q * stride, stride) > b) out[q].push_back(r);
    return out;
  }
  /// Runs kernel k; checks the set, the order and each reported value's distance to the exact product.
  void expect_exact(ScreenKernel k, float b, row_id begin, row_id end, const std::string& what) const {
    set_screen_kernel(k);
    std::vector<std::vector<row_id>> got(n);
    std::size_t bad_values = 0;
    const double coef = dot_error_coefficient(d), fl = dot_error_floor(d);
    gemm_threshold_visit(store, Q.data(), qnorms.data(), static_cast<int>(n), b, begin, end,
                         [&](int q, row_id s, float v) {
                           got[q].push_back(s);
                           double exact = 0.0;
                           for (int i = 0; i < d; ++i)
                             exact += static_cast<double>(store.slot_data(s)[i]) * Q[q * stride + i];
                           const double wx = static_cast<double>(qnorms[q]) * store.slot_norm(s);
                           // Values near FLT_MAX may overflow (the set is still exact: the reference decides).
                           if (wx < kNoOverflowBound) bad_values += std::fabs(v - exact) > coef * wx + fl;
                         });
    EXPECT_EQ(got, reference(b, begin, end)) << what << " kernel " << screen_kernel_name(k);
    EXPECT_EQ(bad_values, 0u) << what << " kernel " << screen_kernel_name(k);
  }
};

TEST(FusedThreshold, RandomDataEveryShape) {
  KernelGuard guard;
  std::mt19937_64 rng(11);
  for (int d : {3, 8, 32, 65, 785}) {
    const std::size_t m = d == 785 ? 61 : 257;  // ragged against every tile height and the chunk
    const std::vector<float> rows = hsrtest::gaussian(rng, m * d);
    for (std::size_t n : {1u, 2u, 7u, 8u, 15u, 16u, 17u, 31u, 33u, 48u, 63u, 64u, 65u, 100u, 128u, 129u, 300u}) {
      if (d == 785 && n > 130) continue;
      std::vector<float> queries = hsrtest::gaussian(rng, n * d, 1.0f / std::sqrt(static_cast<float>(d)));
      const Problem p(rows, d, queries);
      for (ScreenKernel k : kernels()) {
        const std::string what = "d=" + std::to_string(d) + " n=" + std::to_string(n);
        p.expect_exact(k, 0.7f, 0, static_cast<row_id>(m), what);
        p.expect_exact(k, -0.3f, 5, static_cast<row_id>(m) - 3, what + " rows [5, m-3)");
      }
    }
  }
}

TEST(FusedThreshold, ExactTiesAtTheThreshold) {
  // Small integers: every product and partial sum is exact in any order, so many pairs equal b exactly and
  // must not fire, while those one unit above must.
  KernelGuard guard;
  std::mt19937_64 rng(12);
  for (int d : {3, 8, 65}) {
    const std::size_t m = 300, n = 70;
    const Problem p(hsrtest::small_ints(rng, m * d, -3, 3), d, hsrtest::small_ints(rng, n * d, -2, 2));
    for (ScreenKernel k : kernels())
      for (float b : {-1.0f, 0.0f, 2.0f, 5.0f, hsrtest::next_down(2.0f), hsrtest::next_up(2.0f)})
        p.expect_exact(k, b, 0, static_cast<row_id>(m), "ties d=" + std::to_string(d) + " b=" + std::to_string(b));
  }
}

TEST(FusedThreshold, OrdersDisagreeAroundTheThreshold) {
  // Heavy cancellation (large terms summing to about b): the fused order and reference_dot's differ by many
  // ulps, so with b set to a pair's reference value (and its neighbours) the screen cannot decide alone and
  // the rounding band must send the pair to reference_dot. A kernel without (or with too small) a band fails.
  KernelGuard guard;
  std::mt19937_64 rng(13);
  for (int d : {8, 32, 65}) {
    const std::size_t m = 97, n = 40;
    std::vector<float> rows = hsrtest::gaussian(rng, m * d, 1000.0f);
    std::vector<float> queries = hsrtest::gaussian(rng, n * d);
    const Problem p(rows, d, queries);
    std::size_t band = 0, disagreeing = 0;
    for (std::size_t pair = 0; pair < m * n && disagreeing < 6; pair += 7) {
      const std::size_t q = pair % n;
      const row_id r = static_cast<row_id>(pair / n);
      const float* w = p.store.slot_data(r);
      const float* x = p.Q.data() + q * p.stride;
      const float z = reference_dot(w, x, p.stride);
      float ascending = 0.0f;  // the fused kernels' order: one FMA per term, k ascending
      for (int i = 0; i < d; ++i) ascending = std::fma(w[i], x[i], ascending);
      if (ascending == z) continue;  // only pairs where the orders disagree: one of the b below splits them
      ++disagreeing;
      for (float b : {z, hsrtest::next_down(z), hsrtest::next_up(z)}) {
        for (ScreenKernel k : kernels()) {
          p.expect_exact(k, b, 0, static_cast<row_id>(m), "cancellation d=" + std::to_string(d));
          if (k != ScreenKernel::Eigen) {
            std::vector<std::vector<row_id>> out(n);
            band += fused_threshold_visit(
                p.store, p.Q.data(), p.qnorms.data(), static_cast<int>(n), b, 0, static_cast<row_id>(m),
                [&](int qq, row_id s, float) { out[qq].push_back(s); }, k);
          }
        }
      }
    }
    EXPECT_EQ(disagreeing, 6u) << "d=" << d << ": too few pairs where the orders disagree";
    EXPECT_GT(band, 0u) << "d=" << d << ": no pair reached the rounding band, the test is too weak";
  }
}

TEST(FusedThreshold, OverflowingProductsGoToTheReference) {
  KernelGuard guard;
  const int d = 8;
  std::vector<float> rows(16 * d, 0.0f), queries(5 * d, 0.0f);
  for (int r = 0; r < 16; ++r) rows[r * d + r % d] = (r % 2 ? 1.0f : -1.0f) * 3e38f;
  for (int q = 0; q < 5; ++q) queries[q * d + q] = 2.0f;  // products overflow to +-inf
  const Problem p(rows, d, queries);
  for (ScreenKernel k : kernels()) p.expect_exact(k, 1.0f, 0, 16, "overflow");
  // Finite products whose ascending sum overflows to -inf while reference_dot's lanes cancel them first
  // (lane 0: -2e38 + 2e38, lane 1 likewise) and end at +14 > 0: the screen's -inf must not drop the pair.
  const int d2 = 16;
  std::vector<float> w2(3 * d2, 1.0f), x2(2 * d2, 1.0f);
  for (int r = 0; r < 3; ++r) {
    w2[r * d2 + 0] = w2[r * d2 + 1] = -1e38f;
    w2[r * d2 + 8] = w2[r * d2 + 9] = 1e38f;
  }
  for (int q = 0; q < 2; ++q) x2[q * d2 + 0] = x2[q * d2 + 1] = x2[q * d2 + 8] = x2[q * d2 + 9] = 2.0f;
  const Problem p2(w2, d2, x2);
  ASSERT_GT(reference_dot(p2.store.slot_data(0), p2.Q.data(), p2.stride), 0.0f);
  for (ScreenKernel k : kernels()) p2.expect_exact(k, 0.0f, 0, 3, "overflow to -inf in one order only");
}

TEST(FusedThreshold, KernelSelection) {
  KernelGuard guard;
  const char* env = std::getenv("HSRNET_ISA");
  if (env && std::strcmp(env, "avx2") == 0) {
    EXPECT_EQ(active_screen_kernel(), ScreenKernel::Avx2) << "HSRNET_ISA=avx2 must force the baseline";
  } else {
    EXPECT_EQ(active_screen_kernel(),
              screen_kernel_available(ScreenKernel::Avx512) ? ScreenKernel::Avx512 : ScreenKernel::Avx2);
  }
  set_screen_kernel(ScreenKernel::Eigen);
  EXPECT_EQ(active_screen_kernel(), ScreenKernel::Eigen);
  set_screen_kernel(ScreenKernel::Avx2);
  EXPECT_EQ(active_screen_kernel(), ScreenKernel::Avx2);
  set_screen_kernel(ScreenKernel::Avx512);
  EXPECT_EQ(active_screen_kernel(),
            screen_kernel_available(ScreenKernel::Avx512) ? ScreenKernel::Avx512 : ScreenKernel::Avx2);
}

TEST(FusedThreshold, MnistShapeAdagradTrainsLikeTheScan) {
  // The estimators' defaults on MNIST: d = 65 (64 PCA components + constant), m = 4096, B = 128, Adagrad,
  // softmax; 400 samples (a ragged last batch of 16). The scan strategy never uses a screen kernel.
  KernelGuard guard;
  using namespace hsrtest;
  const Data data(400, 65, 10, 4242);
  TrainerOptions opt;
  opt.batch_size = 128;
  opt.lr = 0.05;
  opt.loss = Loss::SoftmaxCrossEntropy;
  opt.train_output_layer = true;
  opt.optimizer.kind = Optimizer::Adagrad;
  opt.seed = 5;
  opt.strategy = Strategy::Scan;
  const TrainingRun ref = train(data, 4096, net_options(3), opt, 2);
  EXPECT_GT(changed_firing_sets(ref, data.n), 0u);
  for (ScreenKernel k : kernels()) {
    set_screen_kernel(k);
    for (Strategy s : {Strategy::Dense, Strategy::Gemm, Strategy::Auto}) {
      opt.strategy = s;
      expect_same_training(ref, train(data, 4096, net_options(3), opt, 2),
                           std::string(strategy_name(s)) + " kernel " + screen_kernel_name(k));
    }
  }
}

}  // namespace
