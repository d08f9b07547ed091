// The backend building blocks on their own, below HalfSpaceIndex: scan_slots on arbitrary slot ranges,
// gemm_threshold_slots with tilings that put tile edges everywhere, KdTree on a permuted store, and the
// unpadded d = 3 layout through every backend.
#include <numeric>

#include "test_util.hpp"

namespace {

using hsrnet::RowStore;
using hsrtest::brute_force;
using hsrtest::gaussian;
using hsrtest::next_down;
using hsrtest::row_id;

// Queries as the index hands them to backends: padded to the row stride with zeros.
std::vector<float> pad_queries(const std::vector<float>& X, std::size_t n, int d, int stride) {
  std::vector<float> Q(n * stride, 0.0f);
  for (std::size_t q = 0; q < n; ++q) std::copy_n(X.data() + q * d, d, Q.data() + q * stride);
  return Q;
}

// Slots in [begin, end) with rows above b, as ids restricted to that slot range (store in identity order).
std::vector<row_id> brute_range(const std::vector<float>& rows, int d, const float* x, float b, row_id begin,
                                row_id end) {
  std::vector<row_id> all = brute_force(rows, d, x, b), out;
  for (row_id r : all)
    if (r >= begin && r < end) out.push_back(r);
  return out;
}

TEST(ScanSlots, ArbitrarySlotRanges) {
  std::mt19937_64 rng(30);
  for (int d : {1, 2, 3, 4, 5, 8, 9, 20}) {
    const std::size_t m = 77;
    const std::vector<float> rows = gaussian(rng, m * d);
    const RowStore store(rows.data(), m, d, d);
    const std::vector<float> X = gaussian(rng, d);
    const std::vector<float> Q = pad_queries(X, 1, d, store.stride());
    const std::vector<float> dots = hsrtest::all_dots(rows, d, X.data());
    for (float b : {-1.0f, 0.0f, 0.5f, dots[13], next_down(dots[40])}) {
      for (row_id begin = 0; begin <= static_cast<row_id>(m); begin += 3) {
        for (row_id end = begin; end <= static_cast<row_id>(m); end += 5) {
          std::vector<row_id> out;
          hsrnet::scan_slots(store, Q.data(), b, begin, end, out);
          ASSERT_TRUE(hsrtest::same_ids(brute_range(rows, d, X.data(), b, begin, end), out))
              << "d = " << d << " [" << begin << ", " << end << ") b = " << b;
        }
      }
    }
  }
}

TEST(GemmThresholdSlots, TileEdgesEverywhere) {
  std::mt19937_64 rng(31);
  const hsrnet::GemmTiling tilings[] = {{8, 1}, {16, 3}, {24, 5}, {512, 256}, {13, 7}};
  for (int d : {1, 2, 3, 5, 8, 9, 40}) {
    const std::size_t m = 203, n = 11;
    const std::vector<float> rows = gaussian(rng, m * d);
    const RowStore store(rows.data(), m, d, d);
    const std::vector<float> X = gaussian(rng, n * d, 2.0f);
    const std::vector<float> Q = pad_queries(X, n, d, store.stride());
    std::vector<float> qnorms(n);
    for (std::size_t q = 0; q < n; ++q) qnorms[q] = hsrnet::norm_upper_bound(X.data() + q * d, d);
    // b equal to a row's reference dot for query 0: an entry inside the rounding band.
    const float tie = hsrnet::reference_dot(rows.data() + 17 * d, X.data(), d);
    for (const auto& tiling : tilings) {
      for (float b : {-0.5f, 0.0f, 1.0f, tie, next_down(tie)}) {
        for (auto [begin, end] : {std::pair<row_id, row_id>{0, 203}, {8, 200}, {16, 24}, {48, 203}}) {
          std::vector<std::vector<row_id>> out(n);
          hsrnet::gemm_threshold_slots(store, Q.data(), qnorms.data(), static_cast<int>(n), b, begin, end, out, tiling);
          for (std::size_t q = 0; q < n; ++q)
            ASSERT_TRUE(hsrtest::same_ids(brute_range(rows, d, X.data() + q * d, b, begin, end), out[q]))
                << "d = " << d << " tiling " << tiling.rows_per_tile << "x" << tiling.queries_per_block << " [" << begin
                << ", " << end << ") query " << q << " b = " << b;
        }
      }
    }
  }
}

TEST(GemmThresholdSlots, CountsBandEntries) {
  // Integer rows and queries: every dot is exact, so b equal to a dot puts that entry in the band.
  std::mt19937_64 rng(32);
  const int d = 6;
  const std::size_t m = 64;
  const std::vector<float> rows = hsrtest::small_ints(rng, m * d, -3, 3);
  const RowStore store(rows.data(), m, d, d);
  const std::vector<float> X = {1, -2, 3, 0, 1, 2};
  const std::vector<float> Q = pad_queries(X, 1, d, store.stride());
  const float qnorm = hsrnet::norm_upper_bound(X.data(), d);
  const float b = hsrnet::reference_dot(rows.data() + 5 * d, X.data(), d);
  std::vector<std::vector<row_id>> out(1);
  const std::size_t verified = hsrnet::gemm_threshold_slots(store, Q.data(), &qnorm, 1, b, 0, m, out);
  EXPECT_GE(verified, 1u);
  EXPECT_TRUE(hsrtest::same_ids(brute_force(rows, d, X.data(), b), out[0]));
  EXPECT_FALSE(std::binary_search(out[0].begin(), out[0].end(), row_id{5})) << "a tie is not > b";
}

// gemm_visit: the firing pairs with the GEMM's values, split over threads by ascending id ranges.
TEST(GemmVisit, ReportsExactPairsWithValuesWithinTheRoundingBound) {
  std::mt19937_64 rng(31);
  for (int threads : {1, 2, 3}) {
    for (int d : {7, 40, 100}) {
      const std::size_t m = 9000, n = 9;
      const std::vector<float> rows = gaussian(rng, m * d);
      hsrnet::IndexOptions o;
      o.backend = hsrnet::Backend::Gemm;
      o.n_threads = threads;
      hsrnet::HalfSpaceIndex index(rows.data(), m, d, o);
      const std::vector<float> X = gaussian(rng, n * d);
      const std::vector<float> dots0 = hsrtest::all_dots(rows, d, X.data());
      const float b = dots0[17];  // a tie at the threshold for query 0
      std::vector<std::vector<std::vector<row_id>>> ids(threads, std::vector<std::vector<row_id>>(n));
      std::vector<std::vector<std::vector<float>>> vals(threads, std::vector<std::vector<float>>(n));
      ASSERT_TRUE(index.gemm_visit(X.data(), n, b, [&](int t, std::size_t q, row_id id, float v) {
        ids[t][q].push_back(id);
        vals[t][q].push_back(v);
      }));
      const double coef = hsrnet::dot_error_coefficient(d), floor_abs = hsrnet::dot_error_floor(d);
      for (std::size_t q = 0; q < n; ++q) {
        const float* x = X.data() + q * d;
        std::vector<row_id> got;
        for (int t = 0; t < threads; ++t) {
          for (std::size_t k = 0; k < ids[t][q].size(); ++k) {
            const float* w = rows.data() + static_cast<std::size_t>(ids[t][q][k]) * d;
            double exact = 0.0, wn = 0.0, xn = 0.0;
            for (int j = 0; j < d; ++j)
              exact += static_cast<double>(w[j]) * x[j], wn += static_cast<double>(w[j]) * w[j],
                  xn += static_cast<double>(x[j]) * x[j];
            ASSERT_LE(std::abs(vals[t][q][k] - exact), coef * std::sqrt(wn * xn) + floor_abs)
                << "d " << d << " q " << q;
          }
          got.insert(got.end(), ids[t][q].begin(), ids[t][q].end());
        }
        // Concatenated in thread order they are ascending, and exactly the brute-force set.
        ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, x, b), got))
            << "threads " << threads << " d " << d << " q " << q;
        ASSERT_TRUE(std::is_sorted(got.begin(), got.end()));
      }
    }
  }
}

TEST(GemmVisit, DeclinesAPermutedStore) {
  std::mt19937_64 rng(32);
  const std::vector<float> rows = gaussian(rng, 500 * 3);
  hsrnet::HalfSpaceIndex index(rows.data(), 500, 3);  // auto builds a tree, which permutes the store
  ASSERT_FALSE(index.store().identity_order());
  const std::vector<float> x = gaussian(rng, 3);
  bool called = false;
  EXPECT_FALSE(index.gemm_visit(x.data(), 1, 0.5, [&](int, std::size_t, row_id, float) { called = true; }));
  EXPECT_FALSE(called);
}

TEST(KdTree, BuildPermutesStoreAndQueriesMatch) {
  std::mt19937_64 rng(33);
  for (int d : {1, 2, 3, 4, 6}) {
    for (int leaf : {8, 9, 16, 64}) {
      const std::size_t m = 1500;
      const std::vector<float> rows = gaussian(rng, m * d);
      RowStore store(rows.data(), m, d, d);
      hsrnet::KdTree tree;
      EXPECT_FALSE(tree.built());
      tree.build(store, leaf);
      ASSERT_TRUE(tree.built());
      // Leaves hold at most leaf_size rows, so a binary tree needs at least this many nodes.
      const std::size_t leaves = (m + leaf - 1) / leaf;
      EXPECT_GE(tree.num_nodes(), 2 * leaves - 1);
      EXPECT_FALSE(store.identity_order()) << "a tree over random rows reorders the store";
      for (std::size_t r = 0; r < m; ++r)
        ASSERT_EQ(0, std::memcmp(store.row_data(static_cast<row_id>(r)), rows.data() + r * d, sizeof(float) * d));
      for (int trial = 0; trial < 10; ++trial) {
        const std::vector<float> x = gaussian(rng, d, 1.5f);
        const std::vector<float> Q = pad_queries(x, 1, d, store.stride());
        const std::vector<float> dots = hsrtest::all_dots(rows, d, x.data());
        for (float b : {-100.0f, -0.3f, 0.0f, dots[trial], next_down(dots[trial]), 2.0f, 100.0f}) {
          std::vector<row_id> slots;
          hsrnet::TreeQueryStats st;
          tree.query(store, Q.data(), b, slots, &st);
          for (row_id& s : slots) s = store.id_of(s);
          std::sort(slots.begin(), slots.end());
          ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, x.data(), b), slots))
              << "d = " << d << " leaf " << leaf << " b = " << b;
          EXPECT_GE(st.nodes_visited, 1u);
          if (b == -100.0f) {
            EXPECT_EQ(st.rows_reported_whole, m) << "every box is far above b";
          }
          if (b == 100.0f) {
            EXPECT_EQ(st.leaf_rows_scanned + st.rows_reported_whole, 0u) << "root is pruned";
          }
        }
      }
    }
  }
}

// d = 3, the paper's regime, is stored unpadded (stride 3): an 8-row block is three vectors whose lanes mix
// rows. Every backend through the index, one and two threads, against the brute force, on rows that make a
// wrong lane or summation order visible: mixed magnitudes, exact ties, signed zeros, subnormals.
TEST(StrideThree, EveryBackendMatchesBruteForce) {
  std::mt19937_64 rng(34);
  const int d = 3;
  const std::size_t m = 3 * 4096 + 5;  // several thread chunks, not a multiple of 8
  std::vector<float> rows = gaussian(rng, m * d);
  const std::vector<float> ints = hsrtest::small_ints(rng, m * d, -4, 4, 0.25f);
  for (std::size_t r = 0; r < m; ++r) {
    float* w = rows.data() + r * d;
    switch (r % 6) {
      case 0: std::copy_n(ints.data() + r * d, d, w); break;  // dyadic: exact dots, ties with b
      case 1:
        for (int j = 0; j < d; ++j) w[j] *= 1e-39f;
        break;  // subnormal
      case 2: std::fill_n(w, d, r % 12 == 2 ? -0.0f : 0.0f); break;
      case 3:
        for (int j = 0; j < d; ++j) w[j] *= 1e3f;
        break;
      default: break;
    }
  }
  hsrnet::IndexOptions o;
  o.leaf_size = 8;
  hsrnet::HalfSpaceIndex index(rows.data(), m, d, o);
  ASSERT_EQ(index.store().stride(), 3);
  EXPECT_LT(index.store().memory_bytes(), m * (3 + 1 + 2) * 4 + 8 * 3 * 4) << "3 floats, a norm, two ids a row";

  const std::size_t n = 12;
  std::vector<float> X = hsrtest::small_ints(rng, n * d, -3, 3);
  for (std::size_t j = 6 * d; j < n * d; ++j) X[j] = std::ldexp(X[j] + 0.5f, static_cast<int>(j % 5) - 2);
  for (const hsrnet::Backend backend :
       {hsrnet::Backend::Scan, hsrnet::Backend::Gemm, hsrnet::Backend::Tree, hsrnet::Backend::Auto}) {
    for (int threads : {1, 2}) {
      index.set_n_threads(threads);
      for (std::size_t q = 0; q < n; ++q) {
        const float* x = X.data() + q * d;
        const float tie = hsrnet::reference_dot(rows.data() + (q * 606) * d, x, d);  // a dyadic row (r % 6 == 0)
        for (float b : {tie, next_down(tie), 0.0f, -0.0f, -std::numeric_limits<float>::denorm_min(), 2.5f}) {
          ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, x, b), index.query(x, b, backend)))
              << hsrnet::backend_name(backend) << " threads " << threads << " query " << q << " b = " << b;
        }
      }
      for (float b : {0.0f, 1.0f, -1.0f}) {
        const hsrnet::CsrResult res = index.query_batch(X.data(), n, b, backend);
        for (std::size_t q = 0; q < n; ++q)
          ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, X.data() + q * d, b), res.begin(q), res.end(q)))
              << hsrnet::backend_name(backend) << " threads " << threads << " batch query " << q << " b = " << b;
      }
    }
  }
}

}  // namespace
