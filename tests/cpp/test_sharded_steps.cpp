// Two-phase steps (SgdTrainer::begin_step / finish_step) for neuron-sharded training: one shard trains
// exactly as fit_epoch, and two shards train identically under every strategy and optimizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "hsrnet/net/losses.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
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

const OptimizerOptions kOptimizers[] = {optimizer(Optimizer::SGD), optimizer(Optimizer::SGD, 0.9),
                                        optimizer(Optimizer::Adagrad), optimizer(Optimizer::RowwiseAdagrad),
                                        optimizer(Optimizer::Adam)};
const Strategy kStrategies[] = {Strategy::Dense, Strategy::Scan,  Strategy::Gemm,
                                Strategy::Tree,  Strategy::Cache, Strategy::Auto};

double rate_for(const OptimizerOptions& o) {
  switch (o.kind) {
    case Optimizer::SGD: return o.momentum > 0.0 ? 1.0 : 8.0;
    case Optimizer::Adagrad:
    case Optimizer::RowwiseAdagrad: return 0.05;
    case Optimizer::Adam: return 0.01;
  }
  return 0.01;
}

struct Weights {
  std::vector<float> W, A;
  std::vector<double> mean_loss;
};

/// Targets of the batch `samples` (sample q of the result is samples[q] of the data).
struct BatchTargets {
  std::vector<float> Y;
  std::vector<std::int32_t> labels;
  BatchTargets(const Data& data, const std::size_t* samples, std::size_t nb) {
    for (std::size_t q = 0; q < nb; ++q) {
      const std::size_t i = samples[q];
      Y.insert(Y.end(), data.Y.begin() + i * data.K, data.Y.begin() + (i + 1) * data.K);
      labels.push_back(data.labels[i]);
    }
  }
  Targets targets(Loss loss) const {
    return loss == Loss::SquaredError ? Targets::regression(Y.data()) : Targets::classes(labels.data());
  }
};

/// P shards of the network (W, A: m rows), neurons split in contiguous blocks, each with output scale
/// 1/sqrt(m) and the whole network's threshold, trained by two-phase steps over the batches in order.
Weights train_sharded(const Data& data, const std::vector<float>& W, const std::vector<float>& A, float b,
                      std::size_t P, TrainerOptions opt, int epochs) {
  const std::size_t m = W.size() / data.d;
  std::vector<std::unique_ptr<ShiftedReLUNet>> nets;
  std::vector<std::unique_ptr<SgdTrainer>> trainers;
  for (std::size_t p = 0; p < P; ++p) {
    const std::size_t r0 = p * m / P, r1 = (p + 1) * m / P;
    NetOptions no;
    no.threshold = b;
    no.output_scale = 1.0 / std::sqrt(static_cast<double>(m));
    nets.push_back(
        std::make_unique<ShiftedReLUNet>(data.d, r1 - r0, data.K, W.data() + r0 * data.d, A.data() + r0 * data.K, no));
    trainers.push_back(std::make_unique<SgdTrainer>(opt));
  }
  Weights out;
  std::vector<std::size_t> order(data.n);
  for (std::size_t i = 0; i < data.n; ++i) order[i] = i;
  const std::size_t K = static_cast<std::size_t>(data.K);
  for (int e = 0; e < epochs; ++e) {
    for (std::size_t p = 0; p < P; ++p) trainers[p]->begin_epoch(*nets[p], data.X.data(), data.n);
    for (std::size_t i0 = 0; i0 < data.n; i0 += opt.batch_size) {
      const std::size_t nb = std::min(opt.batch_size, data.n - i0);
      std::vector<double> F;
      for (std::size_t p = 0; p < P; ++p) {
        const double* part = trainers[p]->begin_step(*nets[p], order.data() + i0, nb);
        if (p == 0) {
          F.assign(part, part + nb * K);
        } else {
          for (std::size_t j = 0; j < nb * K; ++j) F[j] += part[j];
        }
      }
      const BatchTargets bt(data, order.data() + i0, nb);
      std::vector<double> G(nb * K), losses(nb);
      batch_loss_gradient(opt.loss, F.data(), nb, data.K, bt.targets(opt.loss), losses.data(), G.data());
      for (std::size_t p = 0; p < P; ++p) trainers[p]->finish_step(*nets[p], G.data(), losses.data());
    }
    for (std::size_t p = 0; p < P; ++p) {
      const EpochStats st = trainers[p]->end_epoch(*nets[p]);
      if (p == 0) out.mean_loss.push_back(st.mean_loss);
    }
  }
  for (std::size_t p = 0; p < P; ++p) {
    std::vector<float> w(nets[p]->width() * data.d);
    nets[p]->get_hidden_weights(w.data());
    out.W.insert(out.W.end(), w.begin(), w.end());
    out.A.insert(out.A.end(), nets[p]->output_weights(), nets[p]->output_weights() + nets[p]->width() * K);
  }
  return out;
}

Weights train_whole(const Data& data, const std::vector<float>& W, const std::vector<float>& A, float b,
                    const TrainerOptions& opt, int epochs) {
  const std::size_t m = W.size() / data.d;
  NetOptions no;
  no.threshold = b;
  ShiftedReLUNet net(data.d, m, data.K, W.data(), A.data(), no);
  SgdTrainer trainer(opt);
  Weights out;
  for (int e = 0; e < epochs; ++e)
    out.mean_loss.push_back(trainer.fit_epoch(net, data.X.data(), data.n, data.targets(opt.loss)).mean_loss);
  out.W.resize(m * data.d);
  net.get_hidden_weights(out.W.data());
  out.A.assign(net.output_weights(), net.output_weights() + m * data.K);
  return out;
}

class ShardedSteps : public ::testing::TestWithParam<std::tuple<int, Loss, int>> {};

TEST_P(ShardedSteps, OneShardIsFitEpochAndTwoShardsAgreeOverStrategies) {
  const auto [B, loss, which] = GetParam();
  const OptimizerOptions o = kOptimizers[which];
  const int d = 32, K = loss == Loss::SquaredError ? 2 : 3;
  const std::size_t m = 1024, n = B == 1 ? 48 : 160;
  const Data data(n, d, K, 3000 + B);
  const ShiftedReLUNet init(d, m, K, net_options(9));
  std::vector<float> W(m * d), A(init.output_weights(), init.output_weights() + m * K);
  init.get_hidden_weights(W.data());
  const float b = init.threshold();
  TrainerOptions opt;
  opt.batch_size = static_cast<std::size_t>(B);
  opt.lr = rate_for(o);
  opt.loss = loss;
  opt.train_output_layer = true;
  opt.optimizer = o;
  opt.shuffle = false;  // the caller of two-phase steps picks the order: here the identity, as fit_epoch's
  const int epochs = 2;
  const std::string what = std::string(optimizer_name(o.kind)) + (o.momentum > 0 ? "+momentum" : "") +
                           " B=" + std::to_string(B) + " " + loss_name(loss);

  opt.strategy = Strategy::Dense;
  const Weights sharded_ref = train_sharded(data, W, A, b, 2, opt, epochs);
  EXPECT_NE(sharded_ref.W, W) << what << ": training must move the rows";
  for (Strategy s : kStrategies) {
    opt.strategy = s;
    const std::string label = what + " " + strategy_name(s);
    const Weights whole = train_whole(data, W, A, b, opt, epochs);
    const Weights one = train_sharded(data, W, A, b, 1, opt, epochs);
    EXPECT_TRUE(one.W == whole.W && one.A == whole.A) << label << ": one shard differs from fit_epoch";
    EXPECT_EQ(one.mean_loss, whole.mean_loss) << label;
    const Weights two = train_sharded(data, W, A, b, 2, opt, epochs);
    EXPECT_TRUE(two.W == sharded_ref.W && two.A == sharded_ref.A) << label << ": two shards differ from dense";
    // Two shards sum the output in two parts: not the same bits as one network, but the same training.
    EXPECT_LE(max_relative_difference(two.W, whole.W), 1e-2) << label;
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, ShardedSteps,
                         ::testing::Combine(::testing::Values(1, 16),
                                            ::testing::Values(Loss::SquaredError, Loss::SoftmaxCrossEntropy),
                                            ::testing::Values(0, 1, 2, 3, 4)));

TEST(ShardedSteps, MisuseIsRejected) {
  const Data data(8, 4, 2, 1);
  ShiftedReLUNet net(4, 64, 2, net_options(1)), other(4, 64, 2, net_options(2));
  SgdTrainer trainer;
  const std::size_t samples[2] = {0, 1}, bad[1] = {8};
  const std::vector<double> G(4, 0.0);
  EXPECT_THROW(trainer.begin_step(net, samples, 2), std::logic_error);
  EXPECT_THROW(trainer.finish_step(net, G.data()), std::logic_error);
  trainer.begin_epoch(net, data.X.data(), data.n);
  EXPECT_THROW(trainer.begin_step(other, samples, 2), std::logic_error);
  EXPECT_THROW(trainer.begin_step(net, bad, 1), std::invalid_argument);
  EXPECT_THROW(trainer.begin_step(net, samples, 0), std::invalid_argument);
  trainer.begin_step(net, samples, 2);
  EXPECT_THROW(trainer.begin_step(net, samples, 2), std::logic_error);
  EXPECT_THROW(trainer.end_epoch(net), std::logic_error);
  trainer.finish_step(net, G.data());
  const EpochStats st = trainer.end_epoch(net);
  EXPECT_EQ(st.steps, 1u);
  EXPECT_EQ(st.samples, 2u);
  EXPECT_TRUE(std::isnan(st.mean_loss));  // no losses given
  EXPECT_EQ(trainer.epochs_done(), 1u);
  EXPECT_EQ(trainer.steps_done(), 1u);
}

TEST(ShardedSteps, OutputScaleOption) {
  NetOptions no = net_options(3);
  const ShiftedReLUNet plain(8, 100, 1, no);
  EXPECT_EQ(plain.output_scale(), 0.1);
  no.output_scale = 0.25;
  const ShiftedReLUNet scaled(8, 100, 1, no);
  EXPECT_EQ(scaled.output_scale(), 0.25);
  for (double bad : {0.0, -1.0, static_cast<double>(INFINITY)}) {
    no.output_scale = bad;
    EXPECT_THROW(ShiftedReLUNet(8, 100, 1, no), std::invalid_argument) << bad;
  }
}

}  // namespace
