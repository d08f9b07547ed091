// Updates: long random sequences of row moves checked against the brute force after every operation (boxes
// loosened, rebuilt, or absent), writes through mutable_row(), and rejected updates leaving no trace.
#include <cstdlib>

#include "test_util.hpp"

namespace {

using hsrtest::Backend;
using hsrtest::brute_force;
using hsrtest::gaussian;
using hsrtest::HalfSpaceIndex;
using hsrtest::IndexOptions;
using hsrtest::next_down;
using hsrtest::row_id;
using hsrtest::single_matches;

enum class Rebuild { Often, Never };

using UpdateParam = std::tuple<Backend, int, Rebuild>;
class IndexUpdates : public ::testing::TestWithParam<UpdateParam> {};

TEST_P(IndexUpdates, RandomSequenceMatchesBruteForce) {
  const auto [backend, d, rebuild] = GetParam();
  std::mt19937_64 rng(5000 + 17 * d + static_cast<int>(backend) * 3 + static_cast<int>(rebuild));
  const std::size_t m = 1200;
  const int ops = 350;
  IndexOptions o;
  o.backend = backend;
  o.leaf_size = 8;  // deep trees: many boxes to loosen
  o.rebuild_after = rebuild == Rebuild::Often ? 0.02 : 1e9;
  std::vector<float> rows = gaussian(rng, m * d);
  HalfSpaceIndex index(rows.data(), m, d, o);
  const std::size_t builds0 = index.stats().tree_builds;
  std::size_t updated = 0;

  std::uniform_int_distribution<row_id> pick(0, static_cast<row_id>(m) - 1);
  std::uniform_int_distribution<int> kind(0, 6), count(0, 12);
  std::normal_distribution<float> g(0.0f, 1.0f);
  // An index with a tree answers through every backend alike: rotate through them on the auto index.
  const Backend rotation[] = {Backend::Auto, Backend::Scan, Backend::Gemm, Backend::Tree};

  for (int op = 0; op < ops; ++op) {
    const int k = count(rng);
    std::vector<row_id> ids(k);
    for (row_id& id : ids) id = pick(rng);
    const int how = kind(rng);
    if (how == 5 && k >= 2) ids[k - 1] = ids[0];  // a repeated id: the last value wins
    std::vector<float> values(static_cast<std::size_t>(k) * d);
    for (int i = 0; i < k; ++i) {
      const float* old = rows.data() + static_cast<std::size_t>(ids[i]) * d;
      float* v = values.data() + static_cast<std::size_t>(i) * d;
      const std::size_t other = static_cast<std::size_t>(pick(rng));
      for (int j = 0; j < d; ++j) {
        switch (how) {
          case 0: v[j] = old[j] + 0.01f * g(rng); break;  // SGD-sized step
          case 1: v[j] = old[j] + 0.5f * g(rng); break;   // across neighbouring boxes
          case 2: v[j] = 40.0f * g(rng); break;           // far outside every original box
          case 3: v[j] = 0.0f; break;                     // to the origin
          case 4: v[j] = rows[other * d + j]; break;      // a duplicate of another row
          default: v[j] = -old[j] * 3.0f; break;
        }
      }
    }
    index.update(ids.data(), ids.size(), values.data());
    for (int i = 0; i < k; ++i)
      std::copy_n(values.data() + static_cast<std::size_t>(i) * d, d,
                  rows.data() + static_cast<std::size_t>(ids[i]) * d);
    updated += static_cast<std::size_t>(k);

    const Backend use = backend == Backend::Auto ? rotation[op % 4] : backend;
    const std::vector<float> x = gaussian(rng, d, op % 3 == 0 ? 4.0f : 1.0f);
    const std::vector<float> dots = hsrtest::all_dots(rows, d, x.data());
    // Thresholds at a moved row's dot (ties with updated values), a quantile, and low enough for whole boxes.
    const float moved = k > 0 ? dots[ids[0]] : 0.0f;
    for (float b : {moved, next_down(moved), dots[op % m], 1.0f, -3.0f})
      ASSERT_TRUE(single_matches(index, rows, x.data(), b, use))
          << "after op " << op << " (kind " << how << ", " << k << " ids), backend " << hsrtest::backend_label(use);
    if (op % 25 == 0) {
      const std::size_t n = 9;
      const std::vector<float> X = gaussian(rng, n * d);
      ASSERT_TRUE(hsrtest::batch_matches(index, rows, X, n, 0.8f, use)) << "after op " << op;
    }
    ASSERT_EQ(index.stats().rows_updated, updated);
  }

  std::vector<float> got(d);
  for (std::size_t r = 0; r < m; ++r) {
    index.get_row(static_cast<row_id>(r), got.data());
    ASSERT_EQ(0, std::memcmp(got.data(), rows.data() + r * d, sizeof(float) * d)) << "row " << r;
  }
  if (!index.has_tree()) return;
  if (rebuild == Rebuild::Often) {
    EXPECT_GT(index.stats().tree_builds, builds0 + 10) << "rebuild_after = 0.02 of m must trigger rebuilds";
  } else {  // auto above tree_max_dim builds its tree lazily, on the first tree query
    EXPECT_EQ(index.stats().tree_builds, std::max<std::size_t>(builds0, 1))
        << "rebuild_after = 1e9: boxes are only loosened";
  }
}

INSTANTIATE_TEST_SUITE_P(All, IndexUpdates,
                         ::testing::Combine(::testing::ValuesIn(hsrtest::kAllBackends),
                                            ::testing::Values(1, 2, 3, 9, 20),
                                            ::testing::Values(Rebuild::Often, Rebuild::Never)),
                         [](const ::testing::TestParamInfo<UpdateParam>& param) {
                           return hsrtest::backend_label(std::get<0>(param.param)) + "_d" +
                                  std::to_string(std::get<1>(param.param)) +
                                  (std::get<2>(param.param) == Rebuild::Often ? "_rebuild" : "_loosen");
                         });

// Rows moved far beyond every box (in the query's direction) must be found, and rows moved away from a box
// that was reported whole must not be: both fail if a box was not loosened.
TEST(IndexUpdates, FarMovesThroughUpdateAndMutableRow) {
  std::mt19937_64 rng(60);
  for (int d : {1, 2, 3, 5}) {
    for (bool in_place : {false, true}) {
      const std::size_t m = 2000;
      std::vector<float> rows = gaussian(rng, m * d);
      const std::vector<float> x = gaussian(rng, d);
      IndexOptions o;
      o.backend = Backend::Tree;
      o.leaf_size = 8;
      o.rebuild_after = 1e9;
      HalfSpaceIndex index(rows.data(), m, d, o);
      const std::vector<float> dots = hsrtest::all_dots(rows, d, x.data());
      const float top = *std::max_element(dots.begin(), dots.end()) + 1.0f;
      const float bottom = *std::min_element(dots.begin(), dots.end()) - 1.0f;
      ASSERT_TRUE(index.query(x.data(), top).empty());
      ASSERT_EQ(index.query(x.data(), bottom).size(), m);

      const std::vector<row_id> up = {5, 700, 1999}, down = {6, 1000};
      auto move = [&](const std::vector<row_id>& ids, float factor) {
        std::vector<float> values(ids.size() * d);
        for (std::size_t i = 0; i < ids.size(); ++i)
          for (int j = 0; j < d; ++j) values[i * d + j] = factor * x[j];
        if (in_place) {
          for (std::size_t i = 0; i < ids.size(); ++i) std::copy_n(values.data() + i * d, d, index.mutable_row(ids[i]));
          index.rows_moved(ids.data(), ids.size());
        } else {
          index.update(ids.data(), ids.size(), values.data());
        }
        for (std::size_t i = 0; i < ids.size(); ++i) std::copy_n(values.data() + i * d, d, rows.data() + ids[i] * d);
      };
      move(up, 1000.0f);
      move(down, -1000.0f);
      EXPECT_EQ(index.query(x.data(), top), up) << "d = " << d << (in_place ? " mutable_row" : " update");
      const std::vector<row_id> all_but_down = brute_force(rows, d, x.data(), bottom);
      EXPECT_EQ(all_but_down.size(), m - down.size());
      EXPECT_TRUE(hsrtest::same_ids(all_but_down, index.query(x.data(), bottom)));
      for (Backend b : hsrtest::kAllBackends)
        for (float thr : {top, bottom, 0.0f}) EXPECT_TRUE(single_matches(index, rows, x.data(), thr, b));
      EXPECT_EQ(index.stats().tree_builds, 1u);
      EXPECT_EQ(index.stats().rows_updated, up.size() + down.size());
      // The GEMM margin needs the moved rows' norms to be upper bounds again.
      for (row_id id : up) {
        const float* w = index.store().row_data(id);
        double s = 0;
        for (int j = 0; j < d; ++j) s += static_cast<double>(w[j]) * w[j];
        EXPECT_GE(index.store().slot_norm(index.store().slot_of(id)), std::sqrt(s));
      }
    }
  }
}

TEST(IndexUpdates, RebuildKeepsResultsAndCountsBuilds) {
  std::mt19937_64 rng(61);
  const int d = 3;
  const std::size_t m = 3000;
  std::vector<float> rows = gaussian(rng, m * d);
  IndexOptions o;
  o.backend = Backend::Tree;
  o.leaf_size = 16;
  o.rebuild_after = 0.1;  // 300 row updates
  HalfSpaceIndex index(rows.data(), m, d, o);
  EXPECT_EQ(index.stats().tree_builds, 1u);
  std::vector<row_id> ids(299);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<row_id>(i * 10);
  const std::vector<float> values = gaussian(rng, ids.size() * d, 5.0f);
  index.update(ids.data(), ids.size(), values.data());
  for (std::size_t i = 0; i < ids.size(); ++i) std::copy_n(values.data() + i * d, d, rows.data() + ids[i] * d);
  EXPECT_EQ(index.stats().tree_builds, 1u) << "299 < 0.1 * 3000 updates";
  const row_id one = 1;
  index.update(&one, 1, values.data());
  std::copy_n(values.data(), d, rows.data() + d);
  EXPECT_EQ(index.stats().tree_builds, 2u) << "the 300th update triggers the rebuild";
  EXPECT_EQ(index.tree().updates_since_build(), 0u);
  index.rebuild();
  EXPECT_EQ(index.stats().tree_builds, 3u);
  for (int t = 0; t < 20; ++t) {
    const std::vector<float> x = gaussian(rng, d);
    ASSERT_TRUE(single_matches(index, rows, x.data(), 0.7f, Backend::Tree));
  }
}

TEST(IndexUpdates, OutOfRangeIdThrowsAndChangesNothing) {
  std::mt19937_64 rng(62);
  for (Backend backend : hsrtest::kAllBackends) {
    const int d = 4;
    const std::size_t m = 500;
    const std::vector<float> rows = gaussian(rng, m * d);
    IndexOptions o;
    o.backend = backend;
    o.leaf_size = 8;
    HalfSpaceIndex index(rows.data(), m, d, o);
    const std::vector<float> x = gaussian(rng, d);
    const std::vector<row_id> before = index.query(x.data(), 0.2f, backend);
    const std::size_t builds = index.stats().tree_builds, updates = index.stats().rows_updated;
    // Valid ids come first: a half-applied update would show in their rows.
    const std::vector<float> values = gaussian(rng, 3 * d, 100.0f);
    for (row_id bad :
         {static_cast<row_id>(m), row_id{-1}, std::numeric_limits<row_id>::max(), std::numeric_limits<row_id>::min()}) {
      const std::vector<row_id> ids = {3, 4, bad};
      EXPECT_THROW(index.update(ids.data(), ids.size(), values.data()), std::out_of_range) << bad;
    }
    std::vector<float> got(d);
    for (std::size_t r = 0; r < m; ++r) {
      index.get_row(static_cast<row_id>(r), got.data());
      ASSERT_EQ(0, std::memcmp(got.data(), rows.data() + r * d, sizeof(float) * d)) << "row " << r;
    }
    EXPECT_EQ(index.stats().rows_updated, updates);
    EXPECT_EQ(index.stats().tree_builds, builds);
    if (index.has_tree()) {
      EXPECT_EQ(index.tree().updates_since_build(), 0u);
    }
    EXPECT_EQ(index.query(x.data(), 0.2f, backend), before);
    EXPECT_TRUE(single_matches(index, rows, x.data(), 0.2f, backend));
    // Still usable.
    const row_id ok = 3;
    index.update(&ok, 1, values.data());
    EXPECT_EQ(index.stats().rows_updated, updates + 1);
  }
}

TEST(IndexUpdates, NonFiniteValuesThrowAndChangeNothing) {
  std::mt19937_64 rng(63);
  const int d = 3;
  const std::size_t m = 400;
  const std::vector<float> rows = gaussian(rng, m * d);
  for (Backend backend : hsrtest::kAllBackends) {
    IndexOptions o;
    o.backend = backend;
    o.leaf_size = 8;
    HalfSpaceIndex index(rows.data(), m, d, o);
    const std::vector<row_id> ids = {1, 2};
    for (float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
      std::vector<float> values = gaussian(rng, 2 * d, 50.0f);
      values[d + 2] = bad;  // only the second row is bad: the first must not be written either
      EXPECT_THROW(index.update(ids.data(), ids.size(), values.data()), std::invalid_argument);
    }
    std::vector<float> got(d);
    for (std::size_t r = 0; r < m; ++r) {
      index.get_row(static_cast<row_id>(r), got.data());
      ASSERT_EQ(0, std::memcmp(got.data(), rows.data() + r * d, sizeof(float) * d)) << "row " << r;
    }
    EXPECT_EQ(index.stats().rows_updated, 0u);
    const std::vector<float> x = gaussian(rng, d);
    EXPECT_TRUE(single_matches(index, rows, x.data(), 0.4f, backend));
  }
}

// update() rejects NaN and infinity; rows_moved() is the other door into the same rows. Accepting a NaN row
// there makes the backends disagree (the tree reports a box whole, NaN row included, while the reference dot
// NaN is never > b). Either rows_moved() rejects it or every backend must still follow the definition.
TEST(IndexUpdates, NonFiniteRowThroughMutableRow) {
  const int d = 2;
  const std::size_t m = 64;
  std::vector<float> rows(m * d);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = 1.0f + 0.01f * static_cast<float>(i);
  for (Backend backend : hsrtest::kAllBackends) {
    IndexOptions o;
    o.backend = backend;
    o.leaf_size = 8;
    HalfSpaceIndex index(rows.data(), m, d, o);
    std::vector<float> expected_rows = rows;
    const row_id id = 3;
    index.mutable_row(id)[0] = expected_rows[id * d] = std::numeric_limits<float>::quiet_NaN();
    try {
      index.rows_moved(&id, 1);
    } catch (const std::invalid_argument&) {
      continue;
    }
    const float x[2] = {1.0f, 1.0f};
    for (Backend use : hsrtest::kAllBackends)
      EXPECT_TRUE(single_matches(index, expected_rows, x, 0.0f, use))
          << "index backend " << hsrtest::backend_label(backend) << ", queried with " << hsrtest::backend_label(use);
  }
}

// update() checks ids; rows_moved() indexes its id maps with them unchecked (a heap overflow under ASan).
// Run in a child process so the corruption cannot touch the rest of the suite.
TEST(IndexUpdatesDeathTest, RowsMovedRejectsOutOfRangeIds) {
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  const std::size_t m = 100;
  const std::vector<float> rows(m * 3, 1.0f);
  for (row_id bad : {static_cast<row_id>(m), row_id{-1}}) {
    EXPECT_EXIT(
        {
          IndexOptions o;
          o.backend = Backend::Tree;
          HalfSpaceIndex index(rows.data(), m, 3, o);
          try {
            index.rows_moved(&bad, 1);
          } catch (const std::out_of_range&) {
            std::_Exit(0);
          }
          std::_Exit(1);
        },
        ::testing::ExitedWithCode(0), "")
        << "rows_moved with id " << bad << " must throw std::out_of_range, as update() does";
  }
}

TEST(IndexUpdates, EmptyUpdateIsANoOp) {
  const std::vector<float> rows = {1, 2, 3, 4, 5, 6};
  HalfSpaceIndex index(rows.data(), 3, 2);
  index.update(nullptr, 0, nullptr);
  EXPECT_EQ(index.stats().rows_updated, 0u);
  const float x[2] = {1, 0};
  EXPECT_EQ(index.query(x, 2.0f), (std::vector<row_id>{1, 2}));
}

}  // namespace

namespace {

// move_rows (rows changed in place and the index brought up to date in the same pass), refit (boxes tightened
// without moving rows) and renumber_in_tree_order (ids follow the layout, no maps): queries stay exactly the
// brute force through long sequences of small and far moves, in identity and permuted stores, for d on both
// sides of the short-row paths (d <= 4: vector loads of rows, no stored norms).
// along: move_rows_along (rows of d <= 4 in an identity order take its in-register path), else move_rows.
class MoveRows : public ::testing::TestWithParam<std::tuple<int, bool, bool>> {};

TEST_P(MoveRows, InPlaceMovesRefitsAndRenumberingMatchBruteForce) {
  const auto [d, renumber, along] = GetParam();
  std::mt19937_64 rng(77 + d * 2 + renumber);
  const std::size_t m = 2000;
  IndexOptions o;
  o.backend = Backend::Tree;
  o.leaf_size = 8;
  o.rebuild_after = 1e9;
  std::vector<float> rows = gaussian(rng, m * d);
  HalfSpaceIndex index(rows.data(), m, d, o);
  if (renumber) {
    index.renumber_in_tree_order();
    ASSERT_TRUE(index.store().identity_order());
    for (std::size_t r = 0; r < m; ++r)  // the reference follows the new numbering
      std::copy_n(index.store().slot_data(static_cast<row_id>(r)), d, rows.data() + r * d);
    const std::size_t builds = index.stats().tree_builds;
    index.rebuild();  // over its own order a rebuild moves nothing
    EXPECT_TRUE(index.store().identity_order());
    EXPECT_EQ(index.stats().tree_builds, builds + 1);
  } else {
    ASSERT_FALSE(index.store().identity_order());
  }
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int op = 0; op < 120; ++op) {
    const std::vector<float> x = gaussian(rng, d);
    const float b = op % 2 ? 0.5f : 1.5f;
    std::vector<row_id> ids = index.query(x.data(), b, Backend::Tree);  // the firing rows, ascending
    const float scale = op % 10 == 0 ? 3.0f : 0.01f;                    // SGD-sized or far
    std::vector<float> c(ids.size());
    for (float& v : c) v = scale * g(rng);
    if (op % 7 == 3) ids.push_back(static_cast<row_id>(m - 1)), c.push_back(0.5f);  // the last slot too
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    c.resize(ids.size(), 0.5f);
    if (along) {
      index.move_rows_along(ids.data(), ids.size(), c.data(), x.data());
    } else {
      index.move_rows(ids.data(), ids.size(), [&](std::size_t i, float* w) {
        for (int j = 0; j < d; ++j) w[j] = std::fma(c[i], x[j], w[j]);
      });
    }
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (int j = 0; j < d; ++j) {
        float& w = rows[static_cast<std::size_t>(ids[i]) * d + j];
        w = std::fma(c[i], x[j], w);
      }
    if (op % 30 == 29) index.refit();
    const std::vector<float> q = gaussian(rng, d);
    const std::vector<float> dots = hsrtest::all_dots(rows, d, q.data());
    for (float t : {dots[op % m], 1.0f, -2.0f})
      ASSERT_TRUE(single_matches(index, rows, q.data(), t, Backend::Tree)) << "op " << op;
  }
  EXPECT_EQ(index.stats().tree_refits, 4u);
  EXPECT_EQ(index.store().identity_order(), renumber);
  std::vector<float> got(d);
  for (std::size_t r = 0; r < m; ++r) {
    index.get_row(static_cast<row_id>(r), got.data());
    ASSERT_EQ(0, std::memcmp(got.data(), rows.data() + r * d, sizeof(float) * d)) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(All, MoveRows,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 5, 9), ::testing::Bool(), ::testing::Bool()));

TEST(MoveRowsErrors, RejectsUnorderedIdsAndReportsNonFiniteRows) {
  std::mt19937_64 rng(3);
  std::vector<float> rows = gaussian(rng, 100 * 3);
  HalfSpaceIndex index(rows.data(), 100, 3);
  const row_id unordered[2] = {5, 4}, repeated[2] = {4, 4}, out_of_range[1] = {100};
  auto nothing = [](std::size_t, float*) {};
  EXPECT_THROW(index.move_rows(unordered, 2, nothing), std::invalid_argument);
  EXPECT_THROW(index.move_rows(repeated, 2, nothing), std::invalid_argument);
  EXPECT_THROW(index.move_rows(out_of_range, 1, nothing), std::out_of_range);
  const row_id ids[3] = {1, 2, 3};
  EXPECT_THROW(index.move_rows(ids, 3, [](std::size_t i, float* w) { w[1] = i == 1 ? NAN : w[1] + 1.0f; }),
               std::invalid_argument);
  EXPECT_FALSE(index.has_tree());
  std::vector<float> got(3);
  index.get_row(3, got.data());  // every row was moved, the bad one included
  EXPECT_EQ(got[1], rows[3 * 3 + 1] + 1.0f);
}

TEST(MoveRowsErrors, AlongRejectsUnorderedIdsAndReportsNonFiniteRows) {
  for (int d : {3, 4, 6}) {  // in-register path (renumbered, d <= 4) and the general one
    std::mt19937_64 rng(4 + d);
    std::vector<float> rows = gaussian(rng, 100 * d);
    HalfSpaceIndex index(rows.data(), 100, d);
    index.renumber_in_tree_order();
    std::vector<float> x(d, 1.0f);
    const float c[3] = {1.0f, 3e38f, 1.0f};
    const row_id unordered[2] = {5, 4}, out_of_range[1] = {100};
    EXPECT_THROW(index.move_rows_along(unordered, 2, c, x.data()), std::invalid_argument);
    EXPECT_THROW(index.move_rows_along(out_of_range, 1, c, x.data()), std::out_of_range);
    std::vector<float> before(d), after(d);
    index.get_row(99, before.data());
    const row_id ids[3] = {1, 2, 99};
    index.get_row(2, after.data());
    const float row2 = after[0];
    x[0] = 3e38f;  // row 2 overflows to infinity
    EXPECT_THROW(index.move_rows_along(ids, 3, c, x.data()), std::invalid_argument) << d;
    EXPECT_FALSE(index.has_tree());
    index.get_row(2, after.data());
    EXPECT_TRUE(std::isinf(after[0])) << row2;
    index.get_row(99, after.data());  // every row was moved, the ones after the bad one included
    EXPECT_EQ(after[0], std::fma(1.0f, 3e38f, before[0]));
    EXPECT_EQ(after[d - 1], before[d - 1] + 1.0f);
  }
}

}  // namespace
