// Optimizers (optimizer.hpp): each rule as written, lazy where documented, and every strategy training
// bit-identically to the dense reference under every optimizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "hsrnet/train/optimizer.hpp"
#include "hsrnet/train/sgd_trainer.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrtest;

OptimizerOptions optimizer(Optimizer kind, double momentum = 0.0) {
  OptimizerOptions o;
  o.kind = kind;
  o.momentum = momentum;
  return o;
}

// Every stateful rule (plain SGD has its own tests in test_trainer.cpp).
const OptimizerOptions kOptimizers[] = {optimizer(Optimizer::SGD, 0.9), optimizer(Optimizer::Adagrad),
                                        optimizer(Optimizer::RowwiseAdagrad), optimizer(Optimizer::Adam)};

std::string optimizer_label(const OptimizerOptions& o) {
  return std::string(optimizer_name(o.kind)) + (o.momentum > 0.0 ? "_momentum" : "");
}

/// A learning rate that trains each optimizer visibly without diverging on the fixtures' data.
double rate_for(const OptimizerOptions& o, int B) {
  switch (o.kind) {
    case Optimizer::SGD: return o.momentum > 0.0 ? (B == 1 ? 0.1 : 1.0) : (B == 1 ? 1.0 : 8.0);
    case Optimizer::Adagrad:
    case Optimizer::RowwiseAdagrad: return 0.05;
    case Optimizer::Adam: return 0.01;
  }
  return 0.01;
}

// ------------------------------------------------------------------------------------ the rules themselves

TEST(OptimizerState, RulesFollowTheirFormulas) {
  // One row of 3 coordinates, two steps, against the formulas evaluated in double (float state: 1e-6).
  const float g1[3] = {0.5f, -1.0f, 0.0f}, g2[3] = {0.25f, 2.0f, 0.0f};
  for (Optimizer kind : {Optimizer::SGD, Optimizer::Adagrad, Optimizer::RowwiseAdagrad, Optimizer::Adam}) {
    const OptimizerOptions o = optimizer(kind, kind == Optimizer::SGD ? 0.9 : 0.0);
    OptimizerState state;
    state.reset(o, 1, 3, 3);
    state.set_input_dim(3);
    float w[3] = {1.0f, 1.0f, 1.0f}, a[3] = {1.0f, 1.0f, 1.0f};
    double ref[3] = {1.0, 1.0, 1.0}, s1[3] = {0, 0, 0}, s2[3] = {0, 0, 0}, row = 0.0;
    const double lr = 0.1, eps = o.eps();
    for (int t = 1; t <= 2; ++t) {
      const float* g = t == 1 ? g1 : g2;
      state.begin_step(lr);
      state.apply_hidden(0, w, g);
      state.apply_output(0, a, g);
      double sq = 0.0;
      for (int j = 0; j < 3; ++j) sq += static_cast<double>(g[j]) * g[j];
      row += sq / 3.0;
      for (int j = 0; j < 3; ++j) {
        const double gj = g[j];
        switch (kind) {
          case Optimizer::SGD:
            s1[j] = 0.9 * s1[j] + gj;
            ref[j] -= lr * s1[j];
            break;
          case Optimizer::Adagrad:
            s1[j] += gj * gj;
            ref[j] -= lr * gj / (std::sqrt(s1[j]) + eps);
            break;
          case Optimizer::RowwiseAdagrad: ref[j] -= lr * gj / (std::sqrt(row) + eps); break;
          case Optimizer::Adam: {
            s1[j] = 0.9 * s1[j] + 0.1 * gj;
            s2[j] = 0.999 * s2[j] + 0.001 * gj * gj;
            const double step = lr * std::sqrt(1.0 - std::pow(0.999, t)) / (1.0 - std::pow(0.9, t));
            ref[j] -= step * s1[j] / (std::sqrt(s2[j]) + eps);
            break;
          }
        }
      }
    }
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(w[j], ref[j], 1e-6) << optimizer_name(kind) << " coordinate " << j;
    // The output layer: element-wise (row-wise Adagrad too, so there it is Adagrad's rule).
    if (kind != Optimizer::RowwiseAdagrad) {
      for (int j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(a[j], w[j]) << optimizer_name(kind);
    }
    EXPECT_EQ(w[2], 1.0f) << "a coordinate without gradient must not move";
    EXPECT_EQ(state.steps(), 2u);
  }
}

TEST(OptimizerState, RejectsBadSettings) {
  OptimizerOptions o;
  o.momentum = 1.0;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o = optimizer(Optimizer::Adam, 0.5);
  EXPECT_THROW(o.validate(), std::invalid_argument);  // momentum is SGD's
  o = optimizer(Optimizer::Adam);
  o.beta2 = 1.0;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o = optimizer(Optimizer::Adagrad);
  o.epsilon = 0.0;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  EXPECT_THROW(parse_optimizer("rmsprop"), std::invalid_argument);
  for (Optimizer k : {Optimizer::SGD, Optimizer::Adagrad, Optimizer::RowwiseAdagrad, Optimizer::Adam})
    EXPECT_EQ(parse_optimizer(optimizer_name(k)), k);
}

// ---------------------------------------------------------------------- lazy state: only firing rows move

TEST(Optimizers, RowsThatDoNotFireKeepWeightsAndState) {
  const Data data(64, 16, 3, 11);
  for (const OptimizerOptions& o : kOptimizers) {
    ShiftedReLUNet net(data.d, 1024, data.K, net_options(3));
    TrainerOptions opt;
    opt.batch_size = 8;
    opt.lr = rate_for(o, 8);
    opt.loss = Loss::SoftmaxCrossEntropy;
    opt.train_output_layer = true;
    opt.optimizer = o;
    opt.strategy = Strategy::Dense;
    SgdTrainer trainer(opt);
    std::vector<char> fired(net.width(), 0);
    trainer.set_step_callback([&](const StepView& v) {
      for (std::int64_t i = 0; i < v.offsets[v.batch_size]; ++i) fired[static_cast<std::size_t>(v.ids[i])] = 1;
    });
    std::vector<float> W0(net.width() * data.d);
    net.get_hidden_weights(W0.data());
    const std::vector<float> A0(net.output_weights(), net.output_weights() + net.width() * data.K);
    trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss));
    std::vector<float> W1(W0.size());
    net.get_hidden_weights(W1.data());
    const OptimizerState& st = trainer.optimizer_state();
    const std::size_t stride = static_cast<std::size_t>(st.stride());
    std::size_t silent = 0, moved = 0;
    for (std::size_t r = 0; r < net.width(); ++r) {
      bool same = true;
      for (int j = 0; j < data.d; ++j) same &= W1[r * data.d + j] == W0[r * data.d + j];
      for (int k = 0; k < data.K; ++k) same &= net.output_weights()[r * data.K + k] == A0[r * data.K + k];
      if (fired[r]) {
        moved += !same;
        continue;
      }
      ++silent;
      EXPECT_TRUE(same) << optimizer_label(o) << ": row " << r << " never fired but moved";
      const std::size_t row_state = o.kind == Optimizer::RowwiseAdagrad ? 1 : stride;
      for (std::size_t j = 0; j < row_state; ++j)
        EXPECT_EQ(st.hidden1()[r * row_state + j], 0.0f) << optimizer_label(o);
      for (int k = 0; k < data.K; ++k) EXPECT_EQ(st.out1()[r * data.K + k], 0.0f) << optimizer_label(o);
    }
    EXPECT_GT(silent, 0u) << optimizer_label(o) << ": the test needs neurons that never fire";
    EXPECT_GT(moved, 0u) << optimizer_label(o);
    EXPECT_EQ(st.steps(), trainer.steps_done()) << "Adam's clock counts every step";
  }
}

TEST(Optimizers, RestoredStateContinuesExactly) {
  // Two epochs in one trainer equal one epoch, the state carried to a new trainer by its arrays, and one more.
  const Data data(120, 24, 3, 12);
  for (const OptimizerOptions& o : kOptimizers) {
    TrainerOptions opt;
    opt.batch_size = 16;
    opt.lr = rate_for(o, 16);
    opt.loss = Loss::SoftmaxCrossEntropy;
    opt.train_output_layer = true;
    opt.optimizer = o;
    opt.shuffle = false;
    const Targets targets = data.targets(opt.loss);
    ShiftedReLUNet a(data.d, 512, data.K, net_options(4)), b(data.d, 512, data.K, net_options(4));
    SgdTrainer ta(opt), tb(opt);
    ta.fit_epoch(a, data.X.data(), data.n, targets);
    ta.fit_epoch(a, data.X.data(), data.n, targets);
    tb.fit_epoch(b, data.X.data(), data.n, targets);
    // Export as the bindings do: hidden rows without padding.
    const OptimizerState& s = tb.optimizer_state();
    const std::size_t m = 512, d = static_cast<std::size_t>(data.d), stride = static_cast<std::size_t>(s.stride());
    auto unpad = [&](const AlignedBuffer<float>& buf) {
      std::vector<float> v;
      if (!buf.size()) return v;
      if (buf.size() == m) return std::vector<float>(buf.data(), buf.data() + m);
      v.resize(m * d);
      for (std::size_t r = 0; r < m; ++r) std::copy_n(buf.data() + r * stride, d, v.data() + r * d);
      return v;
    };
    const std::vector<float> h1 = unpad(s.hidden1()), h2 = unpad(s.hidden2());
    const std::vector<float> o1(s.out1().data(), s.out1().data() + s.out1().size());
    const std::vector<float> o2(s.out2().data(), s.out2().data() + s.out2().size());
    auto ptr = [](const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); };
    SgdTrainer tc(opt);
    tc.restore_optimizer_state(b, ptr(h1), ptr(h2), ptr(o1), ptr(o2), s.steps());
    tc.fit_epoch(b, data.X.data(), data.n, targets);
    std::vector<float> Wa(m * d), Wb(m * d);
    a.get_hidden_weights(Wa.data());
    b.get_hidden_weights(Wb.data());
    EXPECT_TRUE(Wa == Wb) << optimizer_label(o);
    EXPECT_TRUE(std::equal(a.output_weights(), a.output_weights() + m * data.K, b.output_weights()))
        << optimizer_label(o);
    // Without the state the second epoch differs (the test can fail).
    ShiftedReLUNet c(data.d, 512, data.K, net_options(4));
    SgdTrainer td(opt);
    td.fit_epoch(c, data.X.data(), data.n, targets);
    SgdTrainer te(opt);
    te.fit_epoch(c, data.X.data(), data.n, targets);
    std::vector<float> Wc(m * d);
    c.get_hidden_weights(Wc.data());
    EXPECT_FALSE(Wa == Wc) << optimizer_label(o) << ": a fresh state should train differently";
  }
}

TEST(Optimizers, NewLearningRateAndSeedKeepTheState) {
  const Data data(80, 12, 2, 13);
  TrainerOptions opt;
  opt.batch_size = 8;
  opt.lr = 0.05;
  opt.optimizer = optimizer(Optimizer::Adagrad);
  ShiftedReLUNet net(data.d, 256, data.K, net_options(6));
  SgdTrainer trainer(opt);
  trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss));
  const std::uint64_t steps = trainer.optimizer_state().steps();
  trainer.set_learning_rate(0.01);
  trainer.reseed(99);
  EXPECT_EQ(trainer.optimizer_state().steps(), steps);
  EXPECT_EQ(trainer.options().lr, 0.01);
  EXPECT_THROW(trainer.set_learning_rate(0.0), std::invalid_argument);
  trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss));
  EXPECT_EQ(trainer.optimizer_state().steps(), 2 * steps);
}

TEST(Optimizers, NeuronsThatCannotChangeTheSoftmaxDoNotMove) {
  // Softmax is unchanged by adding the same value to every output, so a neuron whose output weights are all
  // equal (half of them at K = 2 with random signs) has an exactly zero gradient. Rounding in dL/df must not
  // leave a residue there: Adagrad and Adam would turn any residue into a step of about lr per coordinate.
  const Data data(128, 16, 2, 21);
  for (const OptimizerOptions& o : {optimizer(Optimizer::Adagrad), optimizer(Optimizer::Adam)}) {
    ShiftedReLUNet net(data.d, 512, 2, net_options(8));
    TrainerOptions opt;
    opt.batch_size = 32;
    opt.lr = 0.5;
    opt.loss = Loss::SoftmaxCrossEntropy;
    opt.optimizer = o;  // the output layer stays fixed, so equal output weights stay equal
    std::vector<float> W0(net.width() * data.d), W1(W0.size());
    net.get_hidden_weights(W0.data());
    SgdTrainer trainer(opt);
    trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss));
    net.get_hidden_weights(W1.data());
    std::size_t equal_rows = 0, other_moved = 0;
    for (std::size_t r = 0; r < net.width(); ++r) {
      const float* a = net.output_weights() + 2 * r;
      double moved = 0.0;
      for (int j = 0; j < data.d; ++j)
        moved = std::max(moved, std::fabs(static_cast<double>(W1[r * data.d + j]) - W0[r * data.d + j]));
      if (a[0] == a[1]) {
        ++equal_rows;
        EXPECT_LT(moved, 1e-4 * opt.lr) << optimizer_label(o) << ": row " << r << " moved on rounding noise";
      } else {
        other_moved += moved > 1e-3 * opt.lr;
      }
    }
    EXPECT_GT(equal_rows, 100u);
    EXPECT_GT(other_moved, 10u) << optimizer_label(o) << ": the other rows must train";
  }
}

// ------------------------------------------------ the exactness matrix, once per optimizer

class OptimizersMatchDense : public ::testing::TestWithParam<std::tuple<int, int, Loss, int>> {};

TEST_P(OptimizersMatchDense, SameFiringSetsAndWeights) {
  const auto [d, B, loss, which] = GetParam();
  const OptimizerOptions o = kOptimizers[which];
  const std::size_t m = d == 3 ? 2048 : d == 32 ? 1024 : 256;
  const std::size_t n = B == 1 ? 48 : d == 785 ? 192 : 256;
  const int K = loss == Loss::SquaredError ? 2 : 3;
  const Data data(n, d, K, 2000 + d + B);
  TrainerOptions opt;
  opt.batch_size = static_cast<std::size_t>(B);
  opt.lr = rate_for(o, B);
  opt.loss = loss;
  opt.train_output_layer = true;
  opt.optimizer = o;
  opt.seed = 78;
  const int epochs = 2;
  const std::string what = optimizer_label(o) + " d=" + std::to_string(d) + " B=" + std::to_string(B);

  opt.strategy = Strategy::Dense;
  const TrainingRun ref = train(data, m, net_options(5, Backend::Scan), opt, epochs);
  EXPECT_GT(changed_firing_sets(ref, n), 0u) << what << ": training too weak to change any firing set";
  for (Strategy s : {Strategy::Scan, Strategy::Gemm, Strategy::Tree, Strategy::Cache, Strategy::Auto}) {
    opt.strategy = s;
    expect_same_training(ref, train(data, m, net_options(5), opt, epochs), what + " " + strategy_name(s));
  }
  // The cache with a small delta: the optimizers' movement bounds drive its rebuilds and moved sets.
  opt.strategy = Strategy::Cache;
  opt.cache_delta = 1e-3;
  opt.cache_max_moved_fraction = 0.01;
  expect_same_training(ref, train(data, m, net_options(5), opt, epochs), what + " cache, small delta");
}

INSTANTIATE_TEST_SUITE_P(Matrix, OptimizersMatchDense,
                         ::testing::Combine(::testing::Values(3, 32, 785), ::testing::Values(1, 64),
                                            ::testing::Values(Loss::SquaredError, Loss::SoftmaxCrossEntropy),
                                            ::testing::Values(0, 1, 2, 3)),
                         [](const ::testing::TestParamInfo<OptimizersMatchDense::ParamType>& param) {
                           return optimizer_label(kOptimizers[std::get<3>(param.param)]) + "_d" +
                                  std::to_string(std::get<0>(param.param)) + "_B" +
                                  std::to_string(std::get<1>(param.param)) + "_" +
                                  (std::get<2>(param.param) == Loss::SquaredError ? "squared" : "softmax");
                         });

}  // namespace
