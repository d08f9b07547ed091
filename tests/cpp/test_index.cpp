// HalfSpaceIndex queries against the definition {r : reference_dot(w_r, x) > b}, for every backend: random
// data, duplicates, zero rows, exact ties, the GEMM rounding band, special thresholds, strides, threads,
// and the constructor's input checks.
#include <Eigen/Core>
#include <memory>

#include "test_util.hpp"

namespace {

using hsrtest::Backend;
using hsrtest::batch_matches;
using hsrtest::brute_force;
using hsrtest::gaussian;
using hsrtest::HalfSpaceIndex;
using hsrtest::IndexOptions;
using hsrtest::next_down;
using hsrtest::next_up;
using hsrtest::row_id;
using hsrtest::single_matches;

IndexOptions options_for(Backend backend, int leaf_size = 16) {
  IndexOptions o;
  o.backend = backend;
  o.leaf_size = leaf_size;
  return o;
}

// Gaussian rows with norms spread over orders of magnitude, some all-zero rows and some exact duplicates.
std::vector<float> mixed_rows(std::mt19937_64& rng, std::size_t m, int d) {
  std::vector<float> rows = gaussian(rng, m * d);
  const float scales[] = {1.0f, 0.01f, 30.0f, 1.0f};
  for (std::size_t r = 0; r < m; ++r) {
    float* w = rows.data() + r * d;
    if (r % 7 == 3) {
      std::fill_n(w, d, 0.0f);
    } else if (r % 5 == 4) {
      std::copy_n(rows.data() + (r / 3) * d, d, w);  // an earlier row, already final
    } else {
      for (int j = 0; j < d; ++j) w[j] *= scales[r % 4];
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Random data, every backend x d x m.

using ExactParam = std::tuple<Backend, int, std::size_t>;
class IndexExactness : public ::testing::TestWithParam<ExactParam> {};

TEST_P(IndexExactness, MatchesBruteForce) {
  const auto [backend, d, m] = GetParam();
  std::mt19937_64 rng(1000 + 31 * d + m);
  const std::vector<float> rows = mixed_rows(rng, m, d);
  HalfSpaceIndex index(rows.data(), m, d, options_for(backend));
  ASSERT_EQ(index.rows(), m);
  ASSERT_EQ(index.dim(), d);

  // Queries of various norms (none unit), one equal to a row (duplicates of it tie), one all zero.
  const std::size_t n = 5;
  std::vector<float> X = gaussian(rng, n * d);
  for (int j = 0; j < d; ++j) {
    X[1 * d + j] *= 0.05f;
    X[2 * d + j] *= 20.0f;
    X[3 * d + j] = rows[(m / 2) * d + j] * 3.0f;
    X[4 * d + j] = 0.0f;
  }

  auto thresholds = [&](const float* x) {
    std::vector<float> dots = hsrtest::all_dots(rows, d, x);
    const float tie = dots[m / 3];
    std::vector<float> sorted = dots;
    std::sort(sorted.begin(), sorted.end());
    return std::vector<float>{0.0f,
                              -0.0f,
                              next_down(0.0f),
                              next_up(0.0f),
                              -1.0f,
                              1.0f,
                              -1e30f,
                              1e30f,
                              tie,
                              next_down(tie),
                              next_up(tie),
                              sorted[m / 2],
                              sorted[m - 1],
                              next_down(sorted[m - 1]),
                              next_down(sorted[0]),
                              sorted[m * 9 / 10]};
  };

  for (std::size_t q = 0; q < n; ++q)
    for (float b : thresholds(X.data() + q * d))
      ASSERT_TRUE(single_matches(index, rows, X.data() + q * d, b, backend)) << "query " << q;

  for (float b : thresholds(X.data())) ASSERT_TRUE(batch_matches(index, rows, X, n, b, backend));

  // A larger batch: the query-parallel scan path, many queries per GEMM tile, maybe another auto choice.
  const std::size_t big = 64;
  const std::vector<float> XB = gaussian(rng, big * d, 0.7f);
  const float b = hsrtest::all_dots(rows, d, XB.data())[m / 4];
  ASSERT_TRUE(batch_matches(index, rows, XB, big, b, backend));

  if (backend == Backend::Auto) {
    EXPECT_NE(index.stats().last_backend, Backend::Auto);
  } else {
    EXPECT_EQ(index.stats().last_backend, backend);
  }
}

std::string exact_name(const ::testing::TestParamInfo<ExactParam>& param) {
  return hsrtest::backend_label(std::get<0>(param.param)) + "_d" + std::to_string(std::get<1>(param.param)) + "_m" +
         std::to_string(std::get<2>(param.param));
}

INSTANTIATE_TEST_SUITE_P(All, IndexExactness,
                         ::testing::Combine(::testing::ValuesIn(hsrtest::kAllBackends),
                                            ::testing::Values(1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 100),
                                            ::testing::Values(std::size_t{1}, std::size_t{7}, std::size_t{8},
                                                              std::size_t{9}, std::size_t{1000}, std::size_t{5000})),
                         exact_name);

// ---------------------------------------------------------------------------------------------------------
// Exact ties: small integers and dyadic fractions make every float32 dot exact, so b can equal a dot exactly.

using TieParam = std::tuple<Backend, int>;
class IndexTies : public ::testing::TestWithParam<TieParam> {};

TEST_P(IndexTies, StrictlyGreaterThanB) {
  const auto [backend, d] = GetParam();
  std::mt19937_64 rng(2000 + d);
  const std::size_t m = 3000;
  const std::vector<float> rows = hsrtest::small_ints(rng, m * d, -3, 3, 0.5f);
  HalfSpaceIndex index(rows.data(), m, d, options_for(backend, 8));
  for (int trial = 0; trial < 12; ++trial) {
    const std::vector<float> x = hsrtest::small_ints(rng, d, -4, 4, trial % 2 ? 0.25f : 1.0f);
    const row_id r = static_cast<row_id>((trial * 997) % m);
    const float b = hsrnet::reference_dot(rows.data() + r * d, x.data(), d);
    const std::vector<row_id> at = index.query(x.data(), b, backend);
    const std::vector<row_id> below = index.query(x.data(), next_down(b), backend);
    ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, x.data(), b), at)) << "b = dot of row " << r;
    ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, x.data(), next_down(b)), below));
    EXPECT_FALSE(std::binary_search(at.begin(), at.end(), r)) << "row " << r << " has dot == b: not > b";
    EXPECT_TRUE(std::binary_search(below.begin(), below.end(), r)) << "row " << r << " has dot > nextafter(b, -inf)";
    // Every row tying with b moves in; nothing else changes.
    std::size_t ties = 0;
    for (std::size_t k = 0; k < m; ++k) ties += hsrnet::reference_dot(rows.data() + k * d, x.data(), d) == b;
    EXPECT_EQ(below.size(), at.size() + ties);
  }
  // The same as one batch, with the shared b = a tie of the first query.
  const std::size_t n = 20;
  const std::vector<float> X = hsrtest::small_ints(rng, n * d, -2, 2);
  const float b = hsrnet::reference_dot(rows.data(), X.data(), d);
  EXPECT_TRUE(batch_matches(index, rows, X, n, b, backend));
  EXPECT_TRUE(batch_matches(index, rows, X, n, next_down(b), backend));
  if (backend == Backend::Gemm) {
    EXPECT_GT(index.stats().rounding_checks, 0u) << "ties sit inside the GEMM band";
  }
}

INSTANTIATE_TEST_SUITE_P(All, IndexTies,
                         ::testing::Combine(::testing::ValuesIn(hsrtest::kAllBackends),
                                            ::testing::Values(1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 100)),
                         [](const ::testing::TestParamInfo<TieParam>& param) {
                           return hsrtest::backend_label(std::get<0>(param.param)) + "_d" +
                                  std::to_string(std::get<1>(param.param));
                         });

// ---------------------------------------------------------------------------------------------------------
// The GEMM rounding band: thresholds placed exactly where Eigen's product and reference_dot round apart.

// Eigen's value for every (query, row), computed the way the backend does: zero-padded to the stride, rows
// in tiles of 512. Only used to aim thresholds; the test passes or fails on the brute force alone.
std::vector<float> eigen_products(const std::vector<float>& rows, std::size_t m, int d, const std::vector<float>& X,
                                  std::size_t n) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int stride = hsrnet::padded_stride(d);
  RowMajor W = RowMajor::Zero(static_cast<Eigen::Index>(m), stride),
           Q = RowMajor::Zero(static_cast<Eigen::Index>(n), stride);
  for (std::size_t r = 0; r < m; ++r)
    for (int j = 0; j < d; ++j) W(r, j) = rows[r * d + j];
  for (std::size_t q = 0; q < n; ++q)
    for (int j = 0; j < d; ++j) Q(q, j) = X[q * d + j];
  std::vector<float> out(n * m);
  for (std::size_t r0 = 0; r0 < m; r0 += 512) {
    const Eigen::Index nr = static_cast<Eigen::Index>(std::min<std::size_t>(512, m - r0));
    RowMajor tile(static_cast<Eigen::Index>(n), nr);
    tile.noalias() = Q * W.middleRows(static_cast<Eigen::Index>(r0), nr).transpose();
    for (std::size_t q = 0; q < n; ++q)
      for (Eigen::Index r = 0; r < nr; ++r) out[q * m + r0 + r] = tile(q, r);
  }
  return out;
}

class GemmBand : public ::testing::TestWithParam<int> {};

TEST_P(GemmBand, ThresholdsBetweenGemmAndReference) {
  const int d = GetParam();
  std::mt19937_64 rng(3000 + d);
  const std::size_t m = 1500, n = 6;
  const std::vector<float> rows = gaussian(rng, m * d);
  const std::vector<float> X = gaussian(rng, n * d, 3.0f);
  const std::vector<float> V = eigen_products(rows, m, d, X, n);

  HalfSpaceIndex gemm(rows.data(), m, d, options_for(Backend::Gemm));
  HalfSpaceIndex tree(rows.data(), m, d, options_for(Backend::Tree, 8));
  std::size_t disagreements = 0, checked = 0;
  for (std::size_t q = 0; q < n; ++q) {
    const float* x = X.data() + q * d;
    std::vector<float> bs;
    for (std::size_t r = 0; r < m && bs.size() < 60; ++r) {
      const float ref = hsrnet::reference_dot(rows.data() + r * d, x, d), v = V[q * m + r];
      if (ref != v) {
        ++disagreements;
        // Exactly one of (GEMM value, reference) is above min(ref, v): a backend trusting the GEMM errs here.
        bs.push_back(std::min(ref, v));
        bs.push_back(next_down(std::max(ref, v)));
      }
    }
    for (std::size_t r = q; r < m; r += 97) {
      const float ref = hsrnet::reference_dot(rows.data() + r * d, x, d);
      bs.insert(bs.end(), {ref, next_down(ref), next_up(ref)});
    }
    for (float b : bs) {
      ASSERT_TRUE(single_matches(gemm, rows, x, b, Backend::Gemm)) << "d = " << d << " query " << q;
      ASSERT_TRUE(single_matches(tree, rows, x, b, Backend::Tree)) << "d = " << d << " query " << q;
      ++checked;
    }
  }
  // The whole batch at once goes through one product tile per 512 rows.
  const float b = hsrnet::reference_dot(rows.data(), X.data(), d);
  EXPECT_TRUE(batch_matches(gemm, rows, X, n, b, Backend::Gemm));
  EXPECT_TRUE(batch_matches(gemm, rows, X, n, next_down(b), Backend::Gemm));
  EXPECT_GT(checked, 100u);
  EXPECT_GT(gemm.stats().rounding_checks, checked / 3) << "thresholds at reference dots must land in the band";
  // The two summation orders must actually disagree somewhere, or this test proves little.
  if (d >= 100) {
    EXPECT_GT(disagreements, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, GemmBand, ::testing::Values(3, 5, 16, 100, 784),
                         [](const ::testing::TestParamInfo<int>& param) { return "d" + std::to_string(param.param); });

// ---------------------------------------------------------------------------------------------------------
// Special thresholds and queries.

TEST(Index, NonFiniteInputIsRejected) {
  std::mt19937_64 rng(40);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (int d : {2, 9}) {
    const std::size_t m = 700;
    std::vector<float> rows = gaussian(rng, m * d);
    std::vector<float> x = gaussian(rng, d);
    for (Backend backend : hsrtest::kAllBackends) {
      HalfSpaceIndex index(rows.data(), m, d, options_for(backend));
      for (float b : {inf, -inf, nan})
        EXPECT_THROW(index.query(x.data(), b, backend), std::invalid_argument) << hsrtest::backend_label(backend);
      for (float bad : {inf, -inf, nan}) {
        std::vector<float> X = gaussian(rng, 3 * d);
        X[d + 1] = bad;  // second query of the batch
        EXPECT_THROW(index.query_batch(X.data(), 3, 0.0f, backend), std::invalid_argument);
      }
      // The extreme finite thresholds are fine.
      EXPECT_TRUE(single_matches(index, rows, x.data(), std::numeric_limits<float>::max(), backend));
      EXPECT_TRUE(single_matches(index, rows, x.data(), -std::numeric_limits<float>::max(), backend));
      EXPECT_TRUE(single_matches(index, rows, x.data(), std::numeric_limits<float>::denorm_min(), backend));
    }
    for (float bad : {inf, -inf, nan}) {
      std::vector<float> with_bad = rows;
      with_bad[(m - 1) * d] = bad;
      EXPECT_THROW(HalfSpaceIndex(with_bad.data(), m, d), std::invalid_argument);
    }
  }
}

// Finite rows and queries whose float32 inner product overflows: reference_dot gives +-inf or NaN (lanes
// overflowing in opposite directions), and the definition says NaN is never > b while inf > FLT_MAX. An index
// may reject such data up front (std::invalid_argument); if it accepts it, every backend must follow
// reference_dot. Known failure: the tree's box bounds are exact in double, so it reports whole a box whose
// rows' reference dots are NaN, and prunes one whose rows' reference dots are +inf.
TEST(Index, OverflowingDotsFollowReferenceDot) {
  struct Case {
    std::vector<float> w, x;
    float b;
  };
  const float big = std::numeric_limits<float>::max();
  const Case cases[] = {
      {{3e38f, -2e38f}, {2.0f, 2.0f}, 0.0f},  // lanes: +inf and -inf, reference NaN; exact dot 2e38 > 0
      {{3e38f, -3e38f}, {2.0f, 1.0f}, big},   // lanes: +inf and -3e38, reference +inf; exact dot 3e38 < b
  };
  for (const Case& c : cases) {
    const int d = 2;
    const float ref = hsrnet::reference_dot(c.w.data(), c.x.data(), d);
    ASSERT_FALSE(std::isfinite(ref)) << "the case must overflow to be meaningful";
    // One row alone, and the same row among ordinary rows.
    for (std::size_t m : {std::size_t{1}, std::size_t{300}}) {
      std::mt19937_64 rng(45);
      std::vector<float> rows = gaussian(rng, m * d);
      std::copy(c.w.begin(), c.w.end(), rows.begin());
      for (Backend backend : hsrtest::kAllBackends) {
        std::unique_ptr<HalfSpaceIndex> index;
        try {
          index = std::make_unique<HalfSpaceIndex>(rows.data(), m, d, options_for(backend, 8));
        } catch (const std::invalid_argument&) {
          continue;  // rejecting rows whose dots can overflow is a valid answer too
        }
        EXPECT_TRUE(single_matches(*index, rows, c.x.data(), c.b, backend))
            << hsrtest::backend_label(backend) << ", m = " << m << ", reference_dot of row 0 = " << ref;
      }
    }
  }
}

TEST(Index, AllZeroRowsAndTinyThresholds) {
  const int d = 4;
  const std::size_t m = 300;
  std::vector<float> rows(m * d, 0.0f);
  for (std::size_t r = 0; r < m; r += 3) rows[r * d] = 1.0f;  // a third of the rows are e_0, the rest zero
  const std::vector<float> x = {2.0f, 5.0f, -1.0f, 0.5f};
  for (Backend backend : hsrtest::kAllBackends) {
    HalfSpaceIndex index(rows.data(), m, d, options_for(backend, 8));
    EXPECT_EQ(index.query(x.data(), 0.0f, backend).size(), m / 3) << "zero rows have dot 0, not > 0";
    EXPECT_EQ(index.query(x.data(), -std::numeric_limits<float>::denorm_min(), backend).size(), m)
        << "zero rows are > -denorm_min";
    EXPECT_TRUE(index.query(x.data(), 2.0f, backend).empty()) << "dot == 2 is not > 2";
    EXPECT_EQ(index.query(x.data(), next_down(2.0f), backend).size(), m / 3);
  }
}

TEST(Index, RowAndQueryStrides) {
  std::mt19937_64 rng(41);
  const int d = 5;
  const std::size_t m = 400, n = 7, row_stride = 9, x_stride = 6;
  const std::vector<float> compact = gaussian(rng, m * d), Xc = gaussian(rng, n * d);
  std::vector<float> strided(m * row_stride, 1e30f), Xs(n * x_stride, 1e30f);  // junk between rows
  for (std::size_t r = 0; r < m; ++r) std::copy_n(compact.data() + r * d, d, strided.data() + r * row_stride);
  for (std::size_t q = 0; q < n; ++q) std::copy_n(Xc.data() + q * d, d, Xs.data() + q * x_stride);
  for (Backend backend : hsrtest::kAllBackends) {
    HalfSpaceIndex index(strided.data(), m, d, options_for(backend), row_stride);
    std::vector<float> got(d);
    for (std::size_t r = 0; r < m; r += 37) {
      index.get_row(static_cast<row_id>(r), got.data());
      EXPECT_EQ(0, std::memcmp(got.data(), compact.data() + r * d, sizeof(float) * d));
    }
    const hsrnet::CsrResult res = index.query_batch(Xs.data(), n, 0.3f, backend, x_stride);
    ASSERT_TRUE(hsrtest::csr_consistent(res, n));
    for (std::size_t q = 0; q < n; ++q)
      EXPECT_TRUE(hsrtest::same_ids(brute_force(compact, d, Xc.data() + q * d, 0.3f), res.begin(q), res.end(q)));
  }
}

TEST(Index, EmptyBatch) {
  const std::vector<float> rows = {1.0f, 2.0f};
  for (Backend backend : hsrtest::kAllBackends) {
    HalfSpaceIndex index(rows.data(), 1, 2, options_for(backend));
    const hsrnet::CsrResult r = index.query_batch(nullptr, 0, 0.0f, backend);
    EXPECT_TRUE(hsrtest::csr_consistent(r, 0));
    EXPECT_TRUE(r.indices.empty());
  }
}

TEST(Index, StatsAndBackendSelection) {
  std::mt19937_64 rng(42);
  const int d = 24;  // above tree_max_dim: auto builds no tree up front
  const std::size_t m = 2000;
  const std::vector<float> rows = gaussian(rng, m * d), x = gaussian(rng, d);
  HalfSpaceIndex index(rows.data(), m, d);
  EXPECT_FALSE(index.has_tree());
  EXPECT_EQ(index.stats().tree_builds, 0u);
  index.query(x.data(), 0.5f, Backend::Scan);
  index.query(x.data(), 0.5f, Backend::Gemm);
  EXPECT_EQ(index.stats().scan_calls, 1u);
  EXPECT_EQ(index.stats().gemm_calls, 1u);
  EXPECT_EQ(index.stats().last_backend, Backend::Gemm);
  // Asking for the tree builds it on demand.
  EXPECT_TRUE(single_matches(index, rows, x.data(), 0.5f, Backend::Tree));
  EXPECT_TRUE(index.has_tree());
  EXPECT_EQ(index.stats().tree_builds, 1u);
  EXPECT_EQ(index.stats().tree_calls, 1u);
  const std::vector<float> X = gaussian(rng, 10 * d);
  index.query_batch(X.data(), 10, 0.5f);
  EXPECT_EQ(index.stats().queries, 13u);
  EXPECT_NE(index.choose(Backend::Auto, 1), Backend::Auto);
  EXPECT_EQ(index.choose(Backend::Scan, 1), Backend::Scan);
  EXPECT_GT(index.memory_bytes(), m * d * sizeof(float));

  // Index-wide default backend is what Auto calls resolve to.
  HalfSpaceIndex forced(rows.data(), m, d, options_for(Backend::Scan));
  forced.query(x.data(), 0.5f);
  EXPECT_EQ(forced.stats().last_backend, Backend::Scan);
}

TEST(Index, AutoTreeForLowDimension) {
  std::mt19937_64 rng(43);
  const std::vector<float> rows = gaussian(rng, 3000 * 3);
  HalfSpaceIndex index(rows.data(), 3000, 3);
  EXPECT_TRUE(index.has_tree()) << "auto builds a tree for d <= tree_max_dim";
  EXPECT_EQ(index.stats().tree_builds, 1u);
  for (int i = 0; i < 30; ++i) {
    const std::vector<float> x = gaussian(rng, 3);
    ASSERT_TRUE(single_matches(index, rows, x.data(), 1.5f, Backend::Auto));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Threads: the row-chunked paths (one query, m > 4096) and the query-parallel paths must give the same answer.

TEST(Index, SameResultsWithOneAndTwoThreads) {
  std::mt19937_64 rng(44);
  for (int d : {3, 8, 40}) {
    const std::size_t m = 20000;
    const std::vector<float> rows = gaussian(rng, m * d);
    for (Backend backend : hsrtest::kAllBackends) {
      HalfSpaceIndex index(rows.data(), m, d, options_for(backend));
      for (std::size_t n : {1, 3, 8}) {
        const std::vector<float> X = gaussian(rng, n * d);
        // b = -0.5: most rows reported, so the result merge runs its parallel branch (> 65536 ids).
        for (float b : {-0.5f, 1.0f}) {
          index.set_n_threads(1);
          ASSERT_EQ(index.threads(), 1);
          const hsrnet::CsrResult one = index.query_batch(X.data(), n, b, backend);
          index.set_n_threads(2);
          ASSERT_EQ(index.threads(), 2);
          const hsrnet::CsrResult two = index.query_batch(X.data(), n, b, backend);
          ASSERT_EQ(one.offsets, two.offsets) << "d = " << d << " " << hsrtest::backend_label(backend) << " n = " << n;
          ASSERT_EQ(one.indices, two.indices) << "d = " << d << " " << hsrtest::backend_label(backend) << " n = " << n;
          for (std::size_t q = 0; q < n; ++q)
            ASSERT_TRUE(hsrtest::same_ids(brute_force(rows, d, X.data() + q * d, b), two.begin(q), two.end(q)));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Input checks.

TEST(Index, ConstructorRejectsBadInput) {
  const std::vector<float> rows(64, 1.0f);
  EXPECT_THROW(HalfSpaceIndex(rows.data(), 0, 4), std::invalid_argument);
  EXPECT_THROW(HalfSpaceIndex(rows.data(), 4, 0), std::invalid_argument);
  IndexOptions o;
  for (int leaf : {-1, 0, 7, 4097, 100000}) {
    o.leaf_size = leaf;
    EXPECT_THROW(HalfSpaceIndex(rows.data(), 16, 4, o), std::invalid_argument) << "leaf_size " << leaf;
  }
  for (int leaf : {8, 4096}) {
    o.leaf_size = leaf;
    EXPECT_NO_THROW(HalfSpaceIndex(rows.data(), 16, 4, o)) << "leaf_size " << leaf;
  }
  o = IndexOptions{};
  for (double ra : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    o.rebuild_after = ra;
    EXPECT_THROW(HalfSpaceIndex(rows.data(), 16, 4, o), std::invalid_argument) << "rebuild_after " << ra;
  }
  o = IndexOptions{};
  o.n_threads = -1;
  EXPECT_THROW(HalfSpaceIndex(rows.data(), 16, 4, o), std::invalid_argument);
  HalfSpaceIndex index(rows.data(), 16, 4);
  EXPECT_THROW(index.set_n_threads(-2), std::invalid_argument);
  std::vector<float> out(4);
  EXPECT_THROW(index.get_row(-1, out.data()), std::out_of_range);
  EXPECT_THROW(index.get_row(16, out.data()), std::out_of_range);
  EXPECT_NO_THROW(index.get_row(15, out.data()));
}

TEST(ParseBackend, NamesRoundTripAndBogusThrows) {
  for (Backend b : hsrtest::kAllBackends) EXPECT_EQ(hsrnet::parse_backend(hsrnet::backend_name(b)), b);
  EXPECT_THROW(hsrnet::parse_backend("bogus"), std::invalid_argument);
  EXPECT_THROW(hsrnet::parse_backend(""), std::invalid_argument);
  EXPECT_THROW(hsrnet::parse_backend("Scan"), std::invalid_argument);
  EXPECT_THROW(hsrnet::parse_backend("tree "), std::invalid_argument);
}

}  // namespace
