// CostModel (cost_model.hpp): what `auto` predicts for each backend. Only what the header and the index
// benchmark (docs/index_benchmark.md) say is asserted: predictions are positive and grow with the work
// (queries, rows, floats per row, observed tree work), threads divide them, the tree is unknown until
// observed, the observations are moving averages, and the choice the predictions imply follows the
// measured crossovers (scan for single queries, gemm for batches of 256).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "hsrnet/index/cost_model.hpp"

namespace {

using hsrnet::CostModel;

const double kRows[] = {1.0, 100.0, 16384.0, 131072.0, 1048576.0, 4194304.0};
const double kStrides[] = {1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 128.0, 784.0, 2048.0};
const double kBatches[] = {1.0, 2.0, 7.0, 8.0, 9.0, 31.0, 32.0, 33.0, 255.0, 256.0, 257.0, 1024.0};

/// Index storage stride for d (padded_stride in dot_kernel.hpp): unpadded to 4, else a multiple of 8.
double stride_of(int d) { return d <= 4 ? d : (d + 7) / 8 * 8; }

std::string at(double n, double m, double s, int t) {
  return "n = " + std::to_string(n) + ", m = " + std::to_string(m) + ", stride = " + std::to_string(s) +
         ", threads = " + std::to_string(t);
}

CostModel observed_tree(double nodes, double leaf_rows, double whole_rows) {
  CostModel c;
  c.observe_tree(nodes, leaf_rows, whole_rows);
  return c;
}

TEST(CostModel, PredictionsArePositiveAndFinite) {
  const CostModel tree = observed_tree(40.0, 300.0, 100.0);
  for (int t = 1; t <= 4; ++t)
    for (const double m : kRows)
      for (const double s : kStrides)
        for (const double n : kBatches) {
          for (const double ns : {tree.scan_ns(n, m, s, t), tree.gemm_ns(n, m, s, t), tree.tree_ns(n, m, s, 3, t)}) {
            EXPECT_GT(ns, 0.0) << at(n, m, s, t);
            EXPECT_TRUE(std::isfinite(ns)) << at(n, m, s, t);
          }
        }
}

TEST(CostModel, TreeIsUnknownUntilObserved) {
  CostModel c;
  EXPECT_LT(c.tree_ns(1, 1000, 3, 3, 1), 0.0);
  EXPECT_LT(c.tree_ns(256, 1e6, 3, 3, 2), 0.0);
  c.observe_tree(0.0, 0.0, 0.0);  // even a query that visited nothing counts as an observation
  EXPECT_GT(c.tree_ns(1, 1000, 3, 3, 1), 0.0);
}

TEST(CostModel, ObservationsAreMovingAverages) {
  CostModel c;
  // The first tree observation is taken as it is; later ones weigh 0.3 against 0.7 for the past.
  c.observe_tree(100.0, 50.0, 20.0);
  EXPECT_EQ(c.tree_nodes, 100.0);
  EXPECT_EQ(c.tree_leaf_rows, 50.0);
  EXPECT_EQ(c.tree_whole_rows, 20.0);
  c.observe_tree(0.0, 150.0, 20.0);
  EXPECT_DOUBLE_EQ(c.tree_nodes, 70.0);
  EXPECT_DOUBLE_EQ(c.tree_leaf_rows, 80.0);
  EXPECT_DOUBLE_EQ(c.tree_whole_rows, 20.0);
  // Output fractions: every observation is averaged in, from the 1% default.
  CostModel o;
  EXPECT_DOUBLE_EQ(o.output_fraction, 0.01);
  o.observe_output(0.11);
  EXPECT_DOUBLE_EQ(o.output_fraction, 0.7 * 0.01 + 0.3 * 0.11);
  for (int k = 0; k < 200; ++k) o.observe_output(0.5);
  EXPECT_NEAR(o.output_fraction, 0.5, 1e-12);
}

TEST(CostModel, PredictionsGrowWithBatchRowsAndStride) {
  // More queries, more rows or more floats per row never predict less time, for every backend (scan and
  // gemm over a fine grid, crossing the cache-size and narrow-batch switches; tree with observed work).
  const CostModel c = observed_tree(60.0, 500.0, 200.0);
  for (const int t : {1, 2}) {
    for (const double s : kStrides)
      for (const double n : kBatches) {
        double prev_scan = 0.0, prev_gemm = 0.0, prev_tree = 0.0;
        for (double m = 1.0; m < 8e6; m *= 1.05) {
          const double sc = c.scan_ns(n, m, s, t), g = c.gemm_ns(n, m, s, t), tr = c.tree_ns(n, m, s, 3, t);
          ASSERT_GE(sc, prev_scan) << "scan, " << at(n, m, s, t);
          ASSERT_GE(g, prev_gemm) << "gemm, " << at(n, m, s, t);
          ASSERT_GE(tr, prev_tree) << "tree, " << at(n, m, s, t);
          prev_scan = sc, prev_gemm = g, prev_tree = tr;
        }
      }
    for (const double m : kRows)
      for (const double s : kStrides) {
        double prev_scan = 0.0, prev_gemm = 0.0, prev_tree = 0.0;
        for (double n = 1.0; n <= 2048.0; n += 1.0) {
          const double sc = c.scan_ns(n, m, s, t), g = c.gemm_ns(n, m, s, t), tr = c.tree_ns(n, m, s, 3, t);
          ASSERT_GE(sc, prev_scan) << "scan, " << at(n, m, s, t);
          ASSERT_GE(g, prev_gemm) << "gemm, " << at(n, m, s, t);
          ASSERT_GE(tr, prev_tree) << "tree, " << at(n, m, s, t);
          prev_scan = sc, prev_gemm = g, prev_tree = tr;
        }
      }
    for (const double m : kRows)
      for (const double n : kBatches) {
        double prev_scan = 0.0, prev_gemm = 0.0;
        for (double s = 1.0; s <= 4096.0; s += 1.0) {
          const double sc = c.scan_ns(n, m, s, t), g = c.gemm_ns(n, m, s, t);
          ASSERT_GE(sc, prev_scan) << "scan, " << at(n, m, s, t);
          ASSERT_GE(g, prev_gemm) << "gemm, " << at(n, m, s, t);
          prev_scan = sc, prev_gemm = g;
        }
      }
  }
}

TEST(CostModel, NarrowProductsCostAtLeastAnEightQueryProduct) {
  // Below ~8 queries the GEMM cannot reuse a loaded row: apart from emitting the ids it reports, a call of
  // n < 8 queries is predicted to take no less than one of 8.
  CostModel c;
  c.output_fraction = 0.0;
  for (const double m : kRows)
    for (const double s : kStrides)
      for (const double n : {1.0, 2.0, 4.0, 7.0})  // n * (8 / n) rounds: a relative 1e-12 of slack
        EXPECT_GE(c.gemm_ns(n, m, s, 1), c.gemm_ns(8.0, m, s, 1) * (1.0 - 1e-12)) << at(n, m, s, 1);
}

TEST(CostModel, ThreadsDivideTheWork) {
  const CostModel c = observed_tree(60.0, 500.0, 200.0);
  for (const double m : {1000.0, 1048576.0})
    for (const double n : {1.0, 256.0}) {
      for (const int t : {0, 1}) {  // one thread or fewer: no division
        EXPECT_EQ(c.scan_ns(n, m, 8, t), c.parallel(c.scan_ns(n, m, 8, 1), 1));
        EXPECT_EQ(c.parallel(123.0, t), 123.0);
      }
      for (const int t : {2, 4}) {
        const double f = t * c.thread_efficiency;
        EXPECT_DOUBLE_EQ(c.scan_ns(n, m, 8, t), c.scan_ns(n, m, 8, 1) / f);
        EXPECT_DOUBLE_EQ(c.gemm_ns(n, m, 8, t), c.gemm_ns(n, m, 8, 1) / f);
        EXPECT_DOUBLE_EQ(c.tree_ns(n, m, 8, 5, t), c.tree_ns(n, m, 8, 5, 1) / f);
        EXPECT_LT(c.scan_ns(n, m, 8, t), c.scan_ns(n, m, 8, 1));
      }
    }
}

TEST(CostModel, RowsBeyondTheCacheCostAtLeastTheirBandwidth) {
  // Rows that do not fit the cache are streamed from DRAM once per query (scan) or once per block of
  // queries (gemm): the prediction is never below that.
  const CostModel c;
  for (const double s : {4.0, 32.0, 784.0}) {
    const double m = 2.0 * c.cache_bytes / (4.0 * s);  // twice the cache
    ASSERT_TRUE(c.streamed(m, s));
    ASSERT_FALSE(c.streamed(m / 4.0, s));
    for (const double n : {1.0, 7.0, 64.0, 256.0, 1024.0}) {
      EXPECT_GE(c.scan_ns(n, m, s, 1), n * m * s * c.dram_float_ns) << at(n, m, s, 1);
      const double blocks = std::max(1.0, n / c.gemm_query_block);
      EXPECT_GE(c.gemm_ns(n, m, s, 1), blocks * m * s * c.dram_float_ns * 0.8) << at(n, m, s, 1);
    }
  }
}

TEST(CostModel, ChoosesScanForSingleQueriesAndGemmForBatchesOf256) {
  // docs/index_benchmark.md's grid (m 2^14..2^20, d 2..784, 1 and 2 threads): without a tree, auto picked
  // scan at batch 1 and gemm at batch 256 everywhere, and was within 1.2x of the best.
  const CostModel c;
  for (const int t : {1, 2})
    for (const double m : {16384.0, 131072.0, 1048576.0})
      for (const int d : {2, 4, 8, 32, 128, 784}) {
        const double s = stride_of(d);
        EXPECT_LT(c.scan_ns(1, m, s, t), c.gemm_ns(1, m, s, t)) << at(1, m, s, t);
        EXPECT_LT(c.gemm_ns(256, m, s, t), c.scan_ns(256, m, s, t)) << at(256, m, s, t);
      }
}

TEST(CostModel, OnceGemmPaysALargerBatchKeepsItPaying) {
  // The GEMM's fixed costs (tiles, narrow products) amortise over the batch: as the batch grows the
  // implied choice switches from scan to gemm at most once, and never back.
  const CostModel c;
  for (const int t : {1, 2})
    for (const double m : kRows)
      for (const double s : kStrides) {
        bool gemm = false;
        for (double n = 1.0; n <= 4096.0; n += 1.0) {
          const bool g = c.gemm_ns(n, m, s, t) < c.scan_ns(n, m, s, t);
          ASSERT_FALSE(gemm && !g) << "back to scan at " << at(n, m, s, t);
          gemm = g;
        }
      }
}

TEST(CostModel, TreePredictionFollowsItsObservedWork) {
  // A tree that prunes well (few nodes and leaf rows per query, the low-d regime of the benchmark) is
  // predicted cheaper than a scan of a million rows; one that visits every node and scans every row is
  // predicted dearer. More observed work never predicts less.
  const double m = 1048576.0, s = 2.0;
  const int d = 2;
  const CostModel tight = observed_tree(200.0, 2000.0, 5000.0);
  EXPECT_LT(tight.tree_ns(1, m, s, d, 1), tight.scan_ns(1, m, s, 1));
  EXPECT_LT(tight.tree_ns(1, m, s, d, 1), tight.gemm_ns(1, m, s, 1));
  const CostModel everything = observed_tree(2.0 * m / 64.0, m, 0.0);
  EXPECT_GT(everything.tree_ns(1, m, s, d, 1), everything.scan_ns(1, m, s, 1));
  const double base = tight.tree_ns(16, m, s, d, 1);
  EXPECT_GT(observed_tree(400.0, 2000.0, 5000.0).tree_ns(16, m, s, d, 1), base);
  EXPECT_GT(observed_tree(200.0, 4000.0, 5000.0).tree_ns(16, m, s, d, 1), base);
  EXPECT_GT(observed_tree(200.0, 2000.0, 9000.0).tree_ns(16, m, s, d, 1), base);
  EXPECT_GT(tight.tree_ns(16, m, 8.0, 8, 1), base);  // wider rows and boxes
  // The more rows a query reports (a larger output fraction), the more every backend costs.
  CostModel busy = tight;
  busy.output_fraction = 0.2;
  EXPECT_GT(busy.tree_ns(16, m, s, d, 1), base);
  EXPECT_GT(busy.scan_ns(16, m, s, 1), tight.scan_ns(16, m, s, 1));
  EXPECT_GT(busy.gemm_ns(16, m, s, 1), tight.gemm_ns(16, m, s, 1));
}

}  // namespace
