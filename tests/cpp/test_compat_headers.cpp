// The old include paths (before the headers moved into subfolders) still compile: include/compat forwards them.
#include <gtest/gtest.h>

#include "hsrnet/above_threshold.hpp"
#include "hsrnet/aligned_buffer.hpp"
#include "hsrnet/candidate_cache.hpp"
#include "hsrnet/cost_model.hpp"
#include "hsrnet/cpu_features.hpp"
#include "hsrnet/dense_identifier.hpp"
#include "hsrnet/dot_kernel.hpp"
#include "hsrnet/gemm_backend.hpp"
#include "hsrnet/half_space_index.hpp"
#include "hsrnet/kd_tree.hpp"
#include "hsrnet/losses.hpp"
#include "hsrnet/lr_schedule.hpp"
#include "hsrnet/multi_dot.hpp"
#include "hsrnet/neuron_major.hpp"
#include "hsrnet/optimizer.hpp"
#include "hsrnet/portable_math.hpp"
#include "hsrnet/query_result.hpp"
#include "hsrnet/rng.hpp"
#include "hsrnet/row_store.hpp"
#include "hsrnet/scan_backend.hpp"
#include "hsrnet/sgd_trainer.hpp"
#include "hsrnet/shifted_relu_net.hpp"
#include "hsrnet/tensor_file.hpp"
#include "hsrnet/train_strategy.hpp"

TEST(CompatHeaders, OldPathsReachTheLibrary) {
  const float w[3] = {1.0f, 2.0f, 3.0f}, x[3] = {1.0f, 1.0f, 1.0f};
  EXPECT_EQ(hsrnet::reference_dot(w, x, 3), 6.0f);
  EXPECT_STREQ(hsrnet::strategy_name(hsrnet::Strategy::Dense), "dense");
}
