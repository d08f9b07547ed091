// SgdTrainer (sgd_trainer.hpp): every identification strategy trains exactly like the dense reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/sgd_trainer.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrnet;

using namespace hsrtest;

// ---------------------------------------------------------------------------------------------------------
// The exactness matrix: d in {3, 32, 784}, B in {1, 64}, both losses, every strategy against dense.

class StrategiesMatchDense : public ::testing::TestWithParam<std::tuple<int, int, Loss>> {};

TEST_P(StrategiesMatchDense, SameFiringSetsAndWeights) {
  const auto [d, B, loss] = GetParam();
  const std::size_t m = d == 3 ? 4096 : d == 32 ? 2048 : 1024;
  const std::size_t n = B == 1 ? 96 : 320;
  const int K = loss == Loss::SquaredError ? 2 : 3;
  const Data data(n, d, K, 1000 + d + B);
  TrainerOptions opt;
  opt.batch_size = static_cast<std::size_t>(B);
  opt.lr = B == 1 ? 1.0 : 8.0;
  opt.loss = loss;
  opt.train_output_layer = loss == Loss::SoftmaxCrossEntropy;
  opt.seed = 77;
  const int epochs = 2;

  opt.strategy = Strategy::Dense;
  const TrainingRun ref = train(data, m, net_options(5, Backend::Scan), opt, epochs);
  EXPECT_GT(changed_firing_sets(ref, n), 0u) << "training too weak to change any firing set";
  EXPECT_GT(ref.stats.back().firing_fraction, 0.0);

  for (Strategy s : {Strategy::Scan, Strategy::Gemm, Strategy::Tree, Strategy::Cache, Strategy::Auto}) {
    opt.strategy = s;
    const TrainingRun run = train(data, m, net_options(5), opt, epochs);
    expect_same_training(ref, run,
                         std::string(strategy_name(s)) + " d=" + std::to_string(d) + " B=" + std::to_string(B));
  }
  // Dense on a tree-permuted store; the tree rebuilt during training (by the index, by the trainer); the
  // cache with a small fixed delta (forces moved neurons and rebuilds).
  opt.strategy = Strategy::Dense;
  expect_same_training(ref, train(data, m, net_options(5, Backend::Tree), opt, epochs), "dense on a tree store");
  opt.strategy = Strategy::Tree;
  NetOptions often = net_options(5);
  often.index.rebuild_after = 0.05;
  expect_same_training(ref, train(data, m, often, opt, epochs), "tree, index rebuilds");
  opt.tree_rebuild_every = 3;
  expect_same_training(ref, train(data, m, net_options(5), opt, epochs), "tree, trainer rebuilds");
  opt.tree_rebuild_every = 0;
  opt.strategy = Strategy::Cache;
  opt.cache_delta = 1e-3;                // raised to the rounding floor where needed
  opt.cache_max_moved_fraction = 0.005;  // rebuild once ~m/200 neurons left their caches
  const TrainingRun small_delta = train(data, m, net_options(5), opt, epochs);
  expect_same_training(ref, small_delta, "cache, small delta");
  std::size_t builds = 0;
  for (const EpochStats& st : small_delta.stats) builds += st.cache_builds;
  EXPECT_GE(builds, 2u) << "a small delta should force cache rebuilds";
  // A small delta with the default moved-set limit: a large moved set, which B = 64 at d >= 5 evaluates as
  // one block against the batch, outside the per-sample lists.
  opt.cache_max_moved_fraction = 0.25;
  const TrainingRun large_moved_set = train(data, m, net_options(5), opt, epochs);
  expect_same_training(ref, large_moved_set, "cache, large moved set");
}

INSTANTIATE_TEST_SUITE_P(Matrix, StrategiesMatchDense,
                         ::testing::Combine(::testing::Values(3, 32, 784), ::testing::Values(1, 64),
                                            ::testing::Values(Loss::SquaredError, Loss::SoftmaxCrossEntropy)),
                         [](const ::testing::TestParamInfo<StrategiesMatchDense::ParamType>& param) {
                           return "d" + std::to_string(std::get<0>(param.param)) + "_B" +
                                  std::to_string(std::get<1>(param.param)) + "_" +
                                  (std::get<2>(param.param) == Loss::SquaredError ? "squared" : "softmax");
                         });

// ---------------------------------------------------------------------------------------------------------

TEST(SgdTrainer, CacheOverBudgetFallsBackToTheIndex) {
  const Data data(200, 32, 1, 3);
  TrainerOptions opt;
  opt.lr = 1.0;
  opt.strategy = Strategy::Dense;
  const TrainingRun ref = train(data, 2048, net_options(1), opt, 2);
  opt.strategy = Strategy::Cache;
  opt.cache_budget_bytes = 1000;
  const TrainingRun run = train(data, 2048, net_options(1), opt, 2);
  expect_same_training(ref, run, "cache over budget");
  EXPECT_TRUE(run.stats[0].cache_fallback);
  EXPECT_NE(run.stats[0].strategy, ResolvedStrategy::Cache);
}

TEST(SgdTrainer, CacheNoticesWeightsChangedOutsideTheTrainer) {
  const Data data(150, 24, 1, 4);
  const std::size_t m = 2048;
  auto run = [&](Strategy s) {
    ShiftedReLUNet net(data.d, m, 1, net_options(2));
    TrainerOptions opt;
    opt.lr = 1.0;
    opt.strategy = s;
    SgdTrainer trainer(opt);
    trainer.fit_epoch(net, data.X.data(), data.n, data.Y.data());
    // Make row 7 fire on every sample: a stale cache would miss it.
    std::vector<float> w(data.d, 0.0f);
    for (std::size_t i = 0; i < data.n; ++i)
      for (int j = 0; j < data.d; ++j) w[j] += data.X[i * data.d + j];
    for (float& v : w) v *= 10.0f;
    net.set_hidden_row(7, w.data());
    const EpochStats st = trainer.fit_epoch(net, data.X.data(), data.n, data.Y.data());
    std::vector<float> W(m * data.d);
    net.get_hidden_weights(W.data());
    return std::make_pair(W, st.mean_loss);
  };
  const auto ref = run(Strategy::Dense);
  const auto cached = run(Strategy::Cache);
  EXPECT_EQ(ref.first, cached.first);
  EXPECT_EQ(ref.second, cached.second);
}

TEST(SgdTrainer, OneAndTwoThreadsGiveIdenticalWeights) {
  // Per-neuron and per-sample work with fixed arithmetic order and no cross-thread reductions.
  const Data data(256, 32, 3, 5);
  for (Strategy s : {Strategy::Dense, Strategy::Gemm, Strategy::Tree, Strategy::Cache}) {
    for (std::size_t B : {std::size_t{1}, std::size_t{64}}) {
      TrainerOptions opt;
      opt.batch_size = B;
      opt.lr = B == 1 ? 0.5 : 4.0;
      opt.loss = Loss::SoftmaxCrossEntropy;
      opt.train_output_layer = true;
      opt.strategy = s;
      opt.n_threads = 1;
      const TrainingRun one = train(data, 4096, net_options(3), opt, 1);
      opt.n_threads = 2;
      const TrainingRun two = train(data, 4096, net_options(3), opt, 1);
      expect_same_training(one, two, std::string(strategy_name(s)) + " threads B=" + std::to_string(B));
    }
  }
}

TEST(SgdTrainer, ReproducibleFromSeeds) {
  const Data data(128, 16, 1, 6);
  TrainerOptions opt;
  opt.batch_size = 8;
  opt.lr = 2.0;
  opt.strategy = Strategy::Auto;
  const TrainingRun a = train(data, 2048, net_options(9), opt, 2);
  const TrainingRun b = train(data, 2048, net_options(9), opt, 2);
  EXPECT_TRUE(a.W == b.W && a.A == b.A);
  EXPECT_EQ(a.samples, b.samples);
  opt.seed = 1;  // another shuffle
  const TrainingRun c = train(data, 2048, net_options(9), opt, 2);
  EXPECT_NE(a.samples, c.samples);
  EXPECT_NE(a.W, c.W);
  opt.seed = 0;
  const TrainingRun d = train(data, 2048, net_options(10), opt, 2);  // another initialisation
  EXPECT_NE(a.W, d.W);
  opt.shuffle = false;
  const TrainingRun e = train(data, 2048, net_options(9), opt, 1);
  for (std::size_t i = 0; i < e.samples.size(); ++i) ASSERT_EQ(e.samples[i], i);
}

/// One step on the whole batch equals W - lr * mean of the per-sample gradients of loss_and_gradient
/// (which test_network.cpp checks against finite differences).
TEST(SgdTrainer, StepIsMeanGradientDescent) {
  const int d = 10, K = 3;
  const std::size_t m = 512;
  // Threshold -6: every neuron fires on every sample, so the step takes its path for rows that are candidates
  // for the whole batch (four rows against three samples; B = 7 leaves one sample over).
  for (const double threshold : {1.0, -6.0})
    for (std::size_t B : {std::size_t{1}, std::size_t{6}, std::size_t{7}}) {
      for (Loss loss : {Loss::SquaredError, Loss::SoftmaxCrossEntropy}) {
        const Data data(B, d, K, 7);
        NetOptions no = net_options(4);
        no.threshold = threshold;
        ShiftedReLUNet net(d, m, K, no), ref(d, m, K, no);
        const Targets t = data.targets(loss);
        std::vector<double> gW(m * d, 0.0), gA(m * K, 0.0);
        std::vector<float> gw(m * d), ga(m * K);
        double mean_loss = 0.0;
        for (std::size_t i = 0; i < B; ++i) {
          mean_loss += ref.loss_and_gradient(data.X.data() + i * d, t, i, loss, gw.data(), ga.data()) / B;
          for (std::size_t k = 0; k < gW.size(); ++k) gW[k] += gw[k] / static_cast<double>(B);
          for (std::size_t k = 0; k < gA.size(); ++k) gA[k] += ga[k] / static_cast<double>(B);
        }
        TrainerOptions opt;
        opt.batch_size = B;
        opt.lr = 0.7;
        opt.loss = loss;
        opt.train_output_layer = true;
        opt.shuffle = false;
        SgdTrainer trainer(opt);
        const EpochStats st = trainer.fit_epoch(net, data.X.data(), B, t);
        EXPECT_EQ(st.steps, 1u);
        EXPECT_NEAR(st.mean_loss, mean_loss, 1e-12 * std::max(1.0, mean_loss));
        double worst = 0.0, moved = 0.0;
        for (std::size_t r = 0; r < m; ++r) {
          for (int j = 0; j < d; ++j) {
            const double expect = ref.hidden_row(static_cast<row_id>(r))[j] - opt.lr * gW[r * d + j];
            worst = std::max(worst, std::fabs(net.hidden_row(static_cast<row_id>(r))[j] - expect));
            moved = std::max(moved, std::fabs(opt.lr * gW[r * d + j]));
          }
          for (int k = 0; k < K; ++k) {
            const double expect = ref.output_weights()[r * K + k] - opt.lr * gA[r * K + k];
            worst = std::max(worst, std::fabs(net.output_weights()[r * K + k] - expect));
          }
        }
        EXPECT_GT(moved, 1e-3);
        EXPECT_LT(worst, 1e-6) << "B=" << B << " b=" << threshold << " " << loss_name(loss);
      }
    }
}

TEST(SgdTrainer, SchedulesAndStatistics) {
  const Data data(100, 12, 1, 8);
  const std::size_t m = 1024;
  TrainerOptions opt;
  opt.batch_size = 16;
  opt.lr = 0.5;
  opt.schedule = Schedule::InvScaling;
  opt.power = 0.5;
  const TrainingRun inv = train(data, m, net_options(1), opt, 2);
  ASSERT_EQ(inv.lrs.size(), 14u);  // ceil(100 / 16) = 7 steps per epoch
  for (std::size_t t = 0; t < inv.lrs.size(); ++t) EXPECT_NEAR(inv.lrs[t], 0.5 / std::sqrt(1.0 + t), 1e-15);
  EXPECT_EQ(inv.stats[0].steps, 7u);
  EXPECT_EQ(inv.stats[1].epoch, 2u);
  EXPECT_NEAR(inv.stats[1].learning_rate, 0.5 / std::sqrt(14.0), 1e-15);

  opt.schedule = Schedule::SklearnInvScaling;
  const TrainingRun sk = train(data, m, net_options(1), opt, 2);
  for (std::size_t t = 0; t < 7; ++t) EXPECT_EQ(sk.lrs[t], 0.5);
  for (std::size_t t = 7; t < 14; ++t) EXPECT_NEAR(sk.lrs[t], 0.5 / std::sqrt(101.0), 1e-15);

  // The epoch's firing fraction is the mean |S_i| / m of the recorded sets; times are sane.
  double sum = 0.0;
  for (std::size_t i = 0; i < 100; ++i) sum += static_cast<double>(inv.firing[i].size());
  EXPECT_DOUBLE_EQ(inv.stats[0].firing_fraction, sum / (100.0 * m));
  const EpochStats& st = inv.stats[0];
  for (double s : {st.identify_s, st.forward_s, st.backward_s, st.update_s, st.index_s}) EXPECT_GE(s, 0.0);
  EXPECT_LE(st.identify_s + st.forward_s + st.backward_s + st.update_s + st.index_s, st.total_s * 1.01 + 1e-4);
}

TEST(SgdTrainer, AutoChoosesByDimensionAndCost) {
  TrainerOptions opt;
  opt.lr = 0.01;
  {
    const Data data(64, 4, 1, 9);
    const TrainingRun r = train(data, 2048, net_options(1), opt, 1);
    EXPECT_EQ(r.stats[0].strategy, ResolvedStrategy::Tree);
  }
  {
    const Data data(64, 32, 1, 9);
    const TrainingRun r = train(data, 2048, net_options(1), opt, 1);
    EXPECT_EQ(r.stats[0].strategy, ResolvedStrategy::Cache);  // fits, neurons barely move
  }
  {
    const Data data(64, 32, 1, 9);
    opt.lr = 15.0;  // neurons move far each epoch: a cache would be rebuilt constantly
    const TrainingRun r = train(data, 2048, net_options(1), opt, 1);
    EXPECT_EQ(r.stats[0].strategy, ResolvedStrategy::Index);
    EXPECT_NE(r.stats[0].index_backend, Backend::Auto);
  }
}

TEST(SgdTrainer, LossDecreasesOnThePaperSetting) {
  // Inputs uniform on the sphere, target an even polynomial d <u, x>^2; W trained, a fixed (the paper).
  const Data data(256, 16, 1, 10);
  TrainerOptions opt;
  opt.lr = 5.0;
  std::vector<double> dense_loss, sparse_loss;
  for (Strategy s : {Strategy::Dense, Strategy::Auto}) {
    opt.strategy = s;
    const TrainingRun r = train(data, 2048, net_options(2), opt, 6);
    for (const EpochStats& st : r.stats) (s == Strategy::Dense ? dense_loss : sparse_loss).push_back(st.mean_loss);
  }
  EXPECT_EQ(dense_loss, sparse_loss);
  EXPECT_LT(dense_loss.back(), 0.1 * dense_loss.front());
  for (std::size_t e = 1; e < dense_loss.size(); ++e) EXPECT_LT(dense_loss[e], dense_loss[e - 1]);

  // Classification by a teacher (binary logistic = 2-class softmax), mini-batches, both layers trained.
  const Data cls(256, 16, 2, 11);
  TrainerOptions c;
  c.loss = Loss::SoftmaxCrossEntropy;
  c.batch_size = 16;
  c.lr = 20.0;
  c.train_output_layer = true;
  const TrainingRun r = train(cls, 2048, net_options(3), c, 6);
  EXPECT_LT(r.stats.back().mean_loss, 0.8 * r.stats.front().mean_loss);
}

TEST(SgdTrainer, RejectsBadInput) {
  TrainerOptions opt;
  opt.batch_size = 0;
  EXPECT_THROW(SgdTrainer{opt}, std::invalid_argument);
  opt.batch_size = 1;
  opt.lr = -1.0;
  EXPECT_THROW(SgdTrainer{opt}, std::invalid_argument);
  opt.lr = 0.1;
  opt.loss = Loss::SoftmaxCrossEntropy;
  SgdTrainer trainer(opt);
  ShiftedReLUNet net(4, 64, 3, net_options(1));
  const std::vector<float> X = sphere(2, 4, 1);
  const std::int32_t bad[2] = {0, 3};
  EXPECT_THROW(trainer.fit_epoch(net, X.data(), 2, bad), std::invalid_argument);
  const std::int32_t good[2] = {0, 2};
  EXPECT_THROW(trainer.fit_epoch(net, X.data(), 0, good), std::invalid_argument);
  EXPECT_NO_THROW(trainer.fit_epoch(net, X.data(), 2, good));
  EXPECT_EQ(parse_strategy("cache"), Strategy::Cache);
  EXPECT_EQ(parse_strategy(strategy_name(Strategy::Dense)), Strategy::Dense);
  EXPECT_THROW(parse_strategy("lsh"), std::invalid_argument);
}

}  // namespace
