// ShiftedReLUNet (shifted_relu_net.hpp), losses (losses.hpp) and schedules (lr_schedule.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "hsrnet/kernels/multi_dot.hpp"
#include "hsrnet/net/losses.hpp"
#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/lr_schedule.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrnet;

using hsrtest::sphere;  // n points uniform on the unit sphere in R^d

NetOptions opts(std::uint64_t seed, Backend backend = Backend::Auto) {
  NetOptions o;
  o.seed = seed;
  o.index.backend = backend;
  return o;
}

/// Straightforward double-precision forward pass with the library's firing rule.
std::vector<double> forward_double(const ShiftedReLUNet& net, const float* x) {
  const int d = net.input_dim(), K = net.outputs();
  std::vector<double> f(K, 0.0);
  for (std::size_t r = 0; r < net.width(); ++r) {
    const float* w = net.hidden_row(static_cast<row_id>(r));
    if (!(reference_dot(w, x, d) > net.threshold())) continue;
    double z = 0.0;
    for (int j = 0; j < d; ++j) z += static_cast<double>(w[j]) * x[j];
    for (int k = 0; k < K; ++k) f[k] += net.output_weights()[r * K + k] * (z - net.threshold());
  }
  for (double& v : f) v /= std::sqrt(static_cast<double>(net.width()));
  return f;
}

/// Loss in double for weights W (m x d) and A (m x K); the firing set is decided in double too.
double loss_double(const std::vector<double>& W, const std::vector<double>& A, int d, std::size_t m, int K, double b,
                   const float* x, Loss loss, const Targets& t) {
  std::vector<double> f(K, 0.0);
  for (std::size_t r = 0; r < m; ++r) {
    double z = 0.0;
    for (int j = 0; j < d; ++j) z += W[r * d + j] * x[j];
    if (z <= b) continue;
    for (int k = 0; k < K; ++k) f[k] += A[r * K + k] * (z - b);
  }
  for (double& v : f) v /= std::sqrt(static_cast<double>(m));
  return loss_value(loss, f.data(), K, t, 0);
}

TEST(ShiftedReLUNet, InitialisationFollowsThePaper) {
  const int d = 16;
  const std::size_t m = 8192;
  ShiftedReLUNet net(d, m, 3, opts(5));
  EXPECT_EQ(net.input_dim(), d);
  EXPECT_EQ(net.width(), m);
  EXPECT_EQ(net.outputs(), 3);
  EXPECT_FLOAT_EQ(net.threshold(), static_cast<float>(std::sqrt(0.4 * std::log(static_cast<double>(m)))));
  EXPECT_DOUBLE_EQ(net.output_scale(), 1.0 / std::sqrt(8192.0));
  double s1 = 0, s2 = 0;
  for (std::size_t r = 0; r < m; ++r)
    for (int j = 0; j < d; ++j) {
      const double w = net.hidden_row(static_cast<row_id>(r))[j];
      s1 += w, s2 += w * w;
    }
  const double n = static_cast<double>(m * d);
  EXPECT_NEAR(s1 / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(s2 / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  int plus = 0;
  for (std::size_t i = 0; i < m * 3; ++i) {
    const float a = net.output_weights()[i];
    ASSERT_TRUE(a == 1.0f || a == -1.0f);
    plus += a > 0;
  }
  EXPECT_NEAR(plus / (3.0 * m), 0.5, 5.0 * 0.5 / std::sqrt(3.0 * m));
}

TEST(ShiftedReLUNet, InitialisationIsReproducibleAndGolden) {
  // Golden values: the first weights for seed 11 are the same on every platform (exact sampler).
  const std::vector<float> W = ShiftedReLUNet::random_weights(3, 2, 11);
  const float golden[6] = {0x1.d29b48p-2f,  0x1.4c20f2p-3f, 0x1.582edap+0f,
                           -0x1.d3b35ap-1f, 0x1.070fe4p-1f, -0x1.b82782p+0f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(W[i], golden[i]);
  ShiftedReLUNet small(3, 4, 2, opts(11));
  const float signs[8] = {-1, 1, 1, -1, -1, 1, 1, 1};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(small.output_weights()[i], signs[i]);
  EXPECT_EQ(ShiftedReLUNet::default_threshold(1 << 20), 0x1.2d6abep+1f);

  // Same seed: identical weights, whatever the index backend (a tree permutes storage, not values).
  ShiftedReLUNet a(8, 3000, 2, opts(7, Backend::Scan)), b(8, 3000, 2, opts(7, Backend::Tree)), c(8, 3000, 2, opts(8));
  std::vector<float> wa(3000 * 8), wb(3000 * 8), wc(3000 * 8);
  a.get_hidden_weights(wa.data());
  b.get_hidden_weights(wb.data());
  c.get_hidden_weights(wc.data());
  EXPECT_EQ(wa, wb);
  EXPECT_NE(wa, wc);
  EXPECT_TRUE(std::equal(a.output_weights(), a.output_weights() + 6000, b.output_weights()));
  // Rows are drawn in blocks with their own streams: a wider net draws the same first rows.
  const std::vector<float> first = ShiftedReLUNet::random_weights(8, 3000, 7),
                           wider = ShiftedReLUNet::random_weights(8, 5000, 7);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), wider.begin()));
  // At d <= 16 the network numbers its rows in k-d tree order: the same rows as drawn, permuted, with no id
  // maps, and the store already in the order a tree of any leaf size keeps.
  ASSERT_LE(8, ShiftedReLUNet::kTreeOrderMaxDim);
  auto sorted_rows = [](std::vector<float> v) {
    std::vector<std::vector<float>> r;
    for (std::size_t i = 0; i < v.size(); i += 8) r.emplace_back(v.begin() + i, v.begin() + i + 8);
    std::sort(r.begin(), r.end());
    return r;
  };
  EXPECT_EQ(sorted_rows(wa), sorted_rows(first));
  EXPECT_NE(wa, first);
  EXPECT_TRUE(a.index().store().identity_order());
  EXPECT_TRUE(b.index().store().identity_order());
  NetOptions big_leaves = opts(7, Backend::Tree);
  big_leaves.index.leaf_size = 200;
  ShiftedReLUNet e(8, 3000, 2, big_leaves);
  std::vector<float> we(3000 * 8);
  e.get_hidden_weights(we.data());
  EXPECT_EQ(we, wa);
  EXPECT_TRUE(e.index().store().identity_order());
  // Above kTreeOrderMaxDim rows keep their draw order.
  ShiftedReLUNet h(17, 100, 1, opts(7));
  const std::vector<float> wh = ShiftedReLUNet::random_weights(17, 100, 7);
  for (row_id r = 0; r < 100; ++r)
    EXPECT_TRUE(std::equal(wh.begin() + r * 17, wh.begin() + r * 17 + 17, h.hidden_row(r)));
}

TEST(ShiftedReLUNet, ThresholdAndWeightsAreSettable) {
  NetOptions o = opts(1);
  o.threshold = 0.25;
  const std::vector<float> W = {1, 0, 0, 1, -1, 0};
  const std::vector<float> A = {2, -3, 5};
  ShiftedReLUNet net(2, 3, 1, W.data(), A.data(), o);
  EXPECT_EQ(net.threshold(), 0.25f);
  const float x[2] = {0.6f, 0.8f};
  float f = 0;
  net.predict(x, 1, &f);
  // Rows 0 and 1 fire (0.6, 0.8 > 0.25): (2 * 0.35 - 3 * 0.55) / sqrt(3).
  EXPECT_NEAR(f, (2 * 0.35 - 3 * 0.55) / std::sqrt(3.0), 1e-6);
  const float w2[2] = {0, 2};
  net.set_hidden_row(2, w2);
  net.predict(x, 1, &f);
  EXPECT_NEAR(f, (2 * 0.35 - 3 * 0.55 + 5 * 1.35) / std::sqrt(3.0), 1e-6);
  EXPECT_THROW(ShiftedReLUNet(0, 3, 1, opts(1)), std::invalid_argument);
  EXPECT_THROW(ShiftedReLUNet(2, 0, 1, opts(1)), std::invalid_argument);
  EXPECT_THROW(ShiftedReLUNet(2, 3, 0, opts(1)), std::invalid_argument);
}

TEST(ShiftedReLUNet, PredictMatchesDoubleReference) {
  for (int d : {3, 32, 200}) {
    const std::size_t m = 2048, n = 40;
    ShiftedReLUNet net(d, m, 3, opts(d));
    const std::vector<float> X = sphere(n, d, 100 + d);
    std::vector<float> out(n * 3);
    net.predict(X.data(), n, out.data());
    std::vector<float> out_scan(n * 3);
    net.predict(X.data(), n, out_scan.data(), Backend::Scan);
    EXPECT_EQ(out, out_scan);  // identical arithmetic whatever the backend
    double scale = 0.0;
    for (std::size_t i = 0; i < n; ++i)
      for (double v : forward_double(net, X.data() + i * d)) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::vector<double> ref = forward_double(net, X.data() + i * d);
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(out[i * 3 + k], ref[k], 1e-5 * scale) << "d=" << d << " i=" << i;
    }
  }
}

TEST(ShiftedReLUNet, FiringFractionAtInitMatchesGaussianTail) {
  // <w_r, x> ~ N(0, 1) for unit x, so a neuron fires with probability P(N(0,1) > b).
  const int d = 12;
  const std::size_t m = 65536, n = 64;
  ShiftedReLUNet net(d, m, 1, opts(3));
  const std::vector<float> X = sphere(n, d, 4);
  const CsrResult hits = net.index().query_batch(X.data(), n, net.threshold());
  const double frac = static_cast<double>(hits.indices.size()) / static_cast<double>(n * m);
  const double p = 0.5 * std::erfc(net.threshold() / std::sqrt(2.0));
  // The per-sample fraction has variance p(1-p)/m; samples share W, so bound by one sample's spread.
  EXPECT_NEAR(frac, p, 5.0 * std::sqrt(p * (1 - p) / m));
  EXPECT_NEAR(p, 0.0176, 0.0005);  // b = sqrt(0.4 ln 65536) = 2.106
}

TEST(ShiftedReLUNet, GradientsMatchFiniteDifferences) {
  const int d = 6, K = 3;
  const std::size_t m = 256;
  NetOptions o = opts(21);
  o.threshold = 0.8;  // many firing neurons in a small net
  for (Loss loss : {Loss::SquaredError, Loss::SoftmaxCrossEntropy}) {
    ShiftedReLUNet net(d, m, K, o);
    // Non-trivial output layer.
    Rng rng(3);
    std::vector<float> A(m * K);
    for (float& a : A) a = static_cast<float>(rng.normal());
    net.set_output_weights(A.data());
    const std::vector<float> x = sphere(1, d, 8);
    const float y[K] = {0.3f, -1.0f, 2.0f};
    const std::int32_t label[1] = {2};
    const Targets t = loss == Loss::SquaredError ? Targets::regression(y) : Targets::classes(label);
    std::vector<float> gW(m * d), gA(m * K);
    const double l = net.loss_and_gradient(x.data(), t, 0, loss, gW.data(), gA.data());

    std::vector<double> W(m * d), Ad(A.begin(), A.end());
    std::vector<float> Wf(m * d);
    net.get_hidden_weights(Wf.data());
    std::copy(Wf.begin(), Wf.end(), W.begin());
    const double b = net.threshold();
    EXPECT_NEAR(l, loss_double(W, Ad, d, m, K, b, x.data(), loss, t), 1e-5 * std::max(1.0, std::fabs(l)));
    const double eps = 1e-4;
    int checked = 0, firing_checked = 0;
    for (std::size_t r = 0; r < m && firing_checked < 40; ++r) {
      double z = 0.0;
      for (int j = 0; j < d; ++j) z += W[r * d + j] * x[j];
      if (std::fabs(z - b) < 1e-2) continue;  // a kink within reach of the step
      const bool fires = z > b;
      firing_checked += fires;
      for (int j = 0; j < d; j += fires ? 1 : 3) {
        std::vector<double> Wp = W, Wm = W;
        Wp[r * d + j] += eps;
        Wm[r * d + j] -= eps;
        const double fd =
            (loss_double(Wp, Ad, d, m, K, b, x.data(), loss, t) - loss_double(Wm, Ad, d, m, K, b, x.data(), loss, t)) /
            (2 * eps);
        EXPECT_NEAR(gW[r * d + j], fd, 1e-4 + 1e-3 * std::fabs(fd)) << "W r=" << r << " j=" << j;
        checked += fires;
      }
      for (int k = 0; k < K; ++k) {
        std::vector<double> Ap = Ad, Am = Ad;
        Ap[r * K + k] += eps;
        Am[r * K + k] -= eps;
        const double fd =
            (loss_double(W, Ap, d, m, K, b, x.data(), loss, t) - loss_double(W, Am, d, m, K, b, x.data(), loss, t)) /
            (2 * eps);
        EXPECT_NEAR(gA[r * K + k], fd, 1e-4 + 1e-3 * std::fabs(fd)) << "A r=" << r << " k=" << k;
      }
    }
    EXPECT_EQ(firing_checked, 40);
    EXPECT_EQ(checked, 40 * d);
    // Non-firing neurons have zero gradients; some firing ones do not.
    int nonzero = 0;
    for (float v : gW) nonzero += v != 0.0f;
    EXPECT_GT(nonzero, 0);
  }
}

TEST(MultiDot, FourChainsEqualReferenceDotBitForBit) {
  Rng rng(17);
  for (int d : {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 784}) {
    std::vector<float> a(4 * d), b(4 * d);
    for (float& v : a) v = static_cast<float>(rng.normal() * 3.0);
    for (float& v : b) v = static_cast<float>(rng.normal());
    const float* pa[4] = {a.data(), a.data() + d, a.data() + 2 * d, a.data() + 3 * d};
    const float* pb[4] = {b.data() + 3 * d, b.data(), b.data() + d, b.data() + 2 * d};
    float out[4];
    reference_dot4(pa, pb, d, out);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(out[k], reference_dot(pa[k], pb[k], d)) << "d=" << d << " k=" << k;
    float many[3];
    reference_dots(pa, pb, 3, d, many);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(many[k], reference_dot(pa[k], pb[k], d));
  }
}

TEST(Losses, SquaredErrorValueAndGradient) {
  const float f[2] = {1.5f, -2.0f}, y[2] = {0.5f, 1.0f};
  float g[2];
  const double l = loss_and_gradient(Loss::SquaredError, f, 2, Targets::regression(y), 0, g);
  EXPECT_DOUBLE_EQ(l, 0.5 * (1.0 + 9.0));
  EXPECT_FLOAT_EQ(g[0], 1.0f);
  EXPECT_FLOAT_EQ(g[1], -3.0f);
}

TEST(Losses, SoftmaxCrossEntropyValueGradientAndStability) {
  const double f[3] = {1.0, 2.0, -0.5};
  const std::int32_t label[1] = {1};
  double g[3];
  const double l = loss_and_gradient(Loss::SoftmaxCrossEntropy, f, 3, Targets::classes(label), 0, g);
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(-0.5);
  EXPECT_NEAR(l, std::log(s) - 2.0, 1e-14);
  EXPECT_NEAR(g[0], std::exp(1.0) / s, 1e-14);
  EXPECT_NEAR(g[1], std::exp(2.0) / s - 1.0, 1e-14);
  EXPECT_NEAR(g[2], std::exp(-0.5) / s, 1e-14);
  EXPECT_NEAR(g[0] + g[1] + g[2], 0.0, 1e-14);
  // Huge logits: no overflow.
  const double big[2] = {1000.0, -1000.0};
  const std::int32_t zero[1] = {0};
  EXPECT_NEAR(loss_value(Loss::SoftmaxCrossEntropy, big, 2, Targets::classes(zero), 0), 0.0, 1e-300);
  // Binary logistic = 2-class softmax: loss log(1 + exp(-(f1 - f0))) for label 1.
  const double two[2] = {0.2, 0.9};
  const std::int32_t one[1] = {1};
  EXPECT_NEAR(loss_value(Loss::SoftmaxCrossEntropy, two, 2, Targets::classes(one), 0), std::log1p(std::exp(-0.7)),
              1e-14);
}

TEST(Losses, NamesAndValidation) {
  EXPECT_EQ(parse_loss("mse"), Loss::SquaredError);
  EXPECT_EQ(parse_loss(loss_name(Loss::SoftmaxCrossEntropy)), Loss::SoftmaxCrossEntropy);
  EXPECT_EQ(parse_loss("log_loss"), Loss::SoftmaxCrossEntropy);
  EXPECT_THROW(parse_loss("hinge"), std::invalid_argument);
  const std::int32_t bad[2] = {0, 3};
  EXPECT_THROW(validate_targets(Loss::SoftmaxCrossEntropy, Targets::classes(bad), 2, 3), std::invalid_argument);
  EXPECT_NO_THROW(validate_targets(Loss::SoftmaxCrossEntropy, Targets::classes(bad), 2, 4));
  EXPECT_THROW(validate_targets(Loss::SoftmaxCrossEntropy, Targets::classes(bad), 2, 1), std::invalid_argument);
  EXPECT_THROW(validate_targets(Loss::SquaredError, Targets::classes(bad), 2, 1), std::invalid_argument);
}

TEST(Schedules, Values) {
  EXPECT_EQ(learning_rate(Schedule::Constant, 0.1, 0.5, 1000, 5000), 0.1);
  EXPECT_NEAR(learning_rate(Schedule::InvScaling, 0.1, 0.5, 0, 0), 0.1, 1e-16);
  EXPECT_NEAR(learning_rate(Schedule::InvScaling, 0.1, 0.5, 3, 0), 0.05, 1e-16);
  EXPECT_NEAR(learning_rate(Schedule::InvScaling, 1.0, 1.0, 9, 0), 0.1, 1e-16);
  EXPECT_NEAR(learning_rate(Schedule::InvScaling, 0.2, 0.25, 80, 7), 0.2 / 3.0, 1e-15);
  EXPECT_EQ(learning_rate(Schedule::SklearnInvScaling, 0.3, 0.5, 77, 0), 0.3);
  EXPECT_NEAR(learning_rate(Schedule::SklearnInvScaling, 0.3, 0.5, 77, 99), 0.03, 1e-16);
  EXPECT_EQ(parse_schedule("invscaling"), Schedule::InvScaling);
  EXPECT_EQ(parse_schedule(schedule_name(Schedule::SklearnInvScaling)), Schedule::SklearnInvScaling);
  EXPECT_THROW(parse_schedule("cosine"), std::invalid_argument);
}

}  // namespace
