// KdTree (kd_tree.hpp) on its own, over a RowStore: box containment (probed through queries), leaf order,
// loosening on update (loosen, loosen_sorted, AscendingLoosener, move_short_rows), refit, determinism,
// and queries against the brute-force definition.
//
// Boxes are private; containment is probed through the query's own pruning: for x = +-e_j and b just below
// +-w_j, row w fires, and it is found only if every box on its path reaches w_j along axis j (a box that
// misses it by more than the rounding slack prunes it). A control test checks the probe does catch a row
// moved out of its boxes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "hsrnet/index/kd_tree.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/net/rng.hpp"

namespace {

using namespace hsrnet;

std::vector<float> gaussian_rows(std::size_t count, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(count);
  for (float& f : v) f = static_cast<float>(rng.normal()) * scale;
  return v;
}

/// Integers in [-3, 3]: many ties in every split coordinate.
std::vector<float> tied_rows(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(count);
  for (float& f : v) f = static_cast<float>(static_cast<int>(rng.below(7)) - 3);
  return v;
}

/// x padded with zeros to the store's stride (what KdTree::query reads).
std::vector<float> padded(const RowStore& store, const float* x) {
  std::vector<float> q(static_cast<std::size_t>(store.stride()), 0.0f);
  std::copy_n(x, store.dim(), q.data());
  return q;
}

/// The tree's answer as ids, after checking that the slots came out strictly ascending.
::testing::AssertionResult tree_matches_brute_force(const KdTree& tree, const RowStore& store, const float* x, float b,
                                                    TreeQueryStats* stats = nullptr) {
  const std::vector<float> q = padded(store, x);
  std::vector<row_id> slots;
  tree.query(store, q.data(), b, slots, stats);
  for (std::size_t k = 1; k < slots.size(); ++k)
    if (!(slots[k - 1] < slots[k])) return ::testing::AssertionFailure() << "slots not ascending at " << k;
  std::vector<row_id> expected;
  for (std::size_t s = 0; s < store.rows(); ++s)
    if (reference_dot(store.slot_data(static_cast<row_id>(s)), x, store.dim()) > b)
      expected.push_back(static_cast<row_id>(s));
  if (slots != expected)
    return ::testing::AssertionFailure() << "tree reported " << slots.size() << " slots, brute force "
                                         << expected.size();
  return ::testing::AssertionSuccess();
}

/// Every row lies inside the box of every node above it, along every axis (to within the query's rounding
/// slack), skipping the slots in `skip`.
::testing::AssertionResult boxes_contain_rows(const KdTree& tree, const RowStore& store,
                                              const std::vector<row_id>& skip = {}) {
  const int d = store.dim();
  std::vector<float> x(static_cast<std::size_t>(store.stride()), 0.0f);
  std::vector<row_id> out;
  for (std::size_t s = 0; s < store.rows(); ++s) {
    if (std::find(skip.begin(), skip.end(), static_cast<row_id>(s)) != skip.end()) continue;
    const float* w = store.slot_data(static_cast<row_id>(s));
    for (int j = 0; j < d; ++j)
      for (const float sign : {1.0f, -1.0f}) {
        x[j] = sign;
        const float b = std::nextafter(sign * w[j], -std::numeric_limits<float>::infinity());
        out.clear();
        tree.query(store, x.data(), b, out, nullptr);
        x[j] = 0.0f;
        if (!std::binary_search(out.begin(), out.end(), static_cast<row_id>(s)))
          return ::testing::AssertionFailure() << "slot " << s << " (" << w[j] << " on axis " << j << ", sign " << sign
                                               << ") is outside a box on its path";
      }
  }
  return ::testing::AssertionSuccess();
}

/// Queries of random directions at several thresholds (from all rows firing to none).
::testing::AssertionResult queries_match(const KdTree& tree, const RowStore& store, std::uint64_t seed,
                                         int count = 20) {
  const int d = store.dim();
  for (int k = 0; k < count; ++k) {
    const std::vector<float> x = gaussian_rows(static_cast<std::size_t>(d), seed * 1000 + k);
    for (const float b : {-1e30f, -2.0f, 0.0f, 0.5f, 1.5f, 4.0f, 1e30f})
      if (auto r = tree_matches_brute_force(tree, store, x.data(), b); !r)
        return r << " (query " << k << ", b = " << b << ")";
  }
  return ::testing::AssertionSuccess();
}

/// Writes new values into the row in `slot` (d floats) and refreshes its norm.
void write_slot(RowStore& store, row_id slot, const float* values) {
  std::copy_n(values, store.dim(), store.slot_data(slot));
  store.refresh_slot_norm(slot);
}

bool is_permutation_of_iota(std::vector<row_id> order) {
  std::sort(order.begin(), order.end());
  for (std::size_t k = 0; k < order.size(); ++k)
    if (order[k] != static_cast<row_id>(k)) return false;
  return true;
}

struct Shape {
  int d;
  std::size_t m;
  int leaf;
};
const Shape kShapes[] = {{2, 600, 8}, {3, 800, 16}, {4, 500, 32}, {12, 400, 16}};
// Smaller stores for the tests that probe every box several times (a probe costs about m^2 d).
const Shape kSmallShapes[] = {{2, 300, 8}, {3, 400, 16}, {4, 250, 16}, {12, 200, 16}};

std::string label(const Shape& s) {
  return "d = " + std::to_string(s.d) + ", m = " + std::to_string(s.m) + ", leaf = " + std::to_string(s.leaf);
}

TEST(KdTree, BuildPutsRowsInLeafOrderAndBoxesContainThem) {
  for (const Shape& sh : kShapes) {
    const std::vector<float> rows = gaussian_rows(sh.m * sh.d, sh.m + sh.d);
    RowStore store(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
    const std::vector<row_id> order = KdTree::leaf_order(store, sh.leaf);
    ASSERT_EQ(order.size(), sh.m);
    EXPECT_TRUE(is_permutation_of_iota(order)) << label(sh);
    EXPECT_TRUE(store.identity_order()) << "leaf_order must not move rows";
    KdTree tree;
    EXPECT_FALSE(tree.built());
    tree.build(store, sh.leaf);
    ASSERT_TRUE(tree.built());
    EXPECT_EQ(tree.updates_since_build(), 0u);
    // The store is now in leaf order: slot k holds the row order[k], the id maps say so.
    for (std::size_t k = 0; k < sh.m; ++k) {
      ASSERT_EQ(store.id_of(static_cast<row_id>(k)), order[k]) << label(sh) << ", slot " << k;
      ASSERT_EQ(store.slot_of(order[k]), static_cast<row_id>(k));
      ASSERT_TRUE(std::equal(rows.begin() + order[k] * sh.d, rows.begin() + (order[k] + 1) * sh.d,
                             store.slot_data(static_cast<row_id>(k))));
    }
    // A binary tree whose leaves hold at most `leaf` rows.
    const std::size_t min_leaves = (sh.m + sh.leaf - 1) / sh.leaf;
    EXPECT_EQ(tree.num_nodes() % 2, 1u);
    EXPECT_GE(tree.num_nodes(), 2 * min_leaves - 1) << label(sh);
    EXPECT_GT(tree.memory_bytes(), 0u);
    EXPECT_TRUE(boxes_contain_rows(tree, store)) << label(sh);
    EXPECT_TRUE(queries_match(tree, store, 7)) << label(sh);
  }
}

TEST(KdTree, LeafSizeIsAtLeastEightAndSmallStoresAreOneLeaf) {
  const std::vector<float> rows = gaussian_rows(9 * 3, 1);
  for (const std::size_t m : {std::size_t{1}, std::size_t{8}, std::size_t{9}}) {
    RowStore store(rows.data(), m, 3, 3);
    KdTree tree;
    tree.build(store, 1);  // raised to 8
    EXPECT_EQ(tree.num_nodes(), m <= 8 ? 1u : 3u) << "m = " << m;
    EXPECT_TRUE(boxes_contain_rows(tree, store));
    EXPECT_TRUE(queries_match(tree, store, 2, 3));
  }
  RowStore empty(rows.data(), 0, 3, 3);
  KdTree tree;
  tree.build(empty, 64);
  EXPECT_EQ(tree.num_nodes(), 0u);
  std::vector<row_id> out;
  const float x[3] = {1.0f, 0.0f, 0.0f};
  tree.query(empty, x, -1e30f, out, nullptr);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(KdTree::leaf_order(empty, 8).empty());
}

TEST(KdTree, QueriesPruneAndReportWholeBoxes) {
  // The boxes do work: across queries some subtrees are pruned and some reported whole, and the counts are
  // consistent (never more rows scanned or reported than exist).
  const Shape sh{3, 4000, 16};
  const std::vector<float> rows = gaussian_rows(sh.m * sh.d, 3);
  RowStore store(rows.data(), sh.m, sh.d, 3);
  KdTree tree;
  tree.build(store, sh.leaf);
  std::size_t pruned_queries = 0, whole_rows = 0;
  for (int k = 0; k < 30; ++k) {
    const std::vector<float> x = gaussian_rows(3, 100 + k);
    for (const float b : {-1.0f, 0.0f, 1.0f, 3.0f}) {
      TreeQueryStats st;
      ASSERT_TRUE(tree_matches_brute_force(tree, store, x.data(), b, &st));
      EXPECT_LE(st.nodes_visited, tree.num_nodes());
      EXPECT_LE(st.leaf_rows_scanned + st.rows_reported_whole, sh.m);
      pruned_queries += st.nodes_visited < tree.num_nodes();
      whole_rows += st.rows_reported_whole;
    }
  }
  EXPECT_GT(pruned_queries, 60u);
  EXPECT_GT(whole_rows, 0u);
}

TEST(KdTree, BuildIsDeterministicAndRebuildingItsOrderMovesNothing) {
  // Two stores of the same rows get the same order; building again over the tree's own order (of any leaf
  // size, after renumbering in leaf-8 order as a fresh network does) permutes nothing. Tied coordinates
  // exercise the tie-break by slot.
  for (const bool ties : {false, true})
    for (const Shape& sh : kShapes) {
      const std::vector<float> rows = ties ? tied_rows(sh.m * sh.d, sh.m) : gaussian_rows(sh.m * sh.d, sh.m);
      RowStore a(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
      RowStore b(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
      KdTree ta, tb;
      ta.build(a, sh.leaf);
      tb.build(b, sh.leaf);
      ASSERT_FALSE(a.identity_order());
      EXPECT_TRUE(std::equal(a.id_of_slots(), a.id_of_slots() + sh.m, b.id_of_slots()))
          << label(sh) << ", ties " << ties;
      EXPECT_EQ(ta.num_nodes(), tb.num_nodes());
      // Rebuilding over the order it produced: the maps stay as they are.
      const std::vector<row_id> before(a.id_of_slots(), a.id_of_slots() + sh.m);
      ta.build(a, sh.leaf);
      EXPECT_TRUE(std::equal(before.begin(), before.end(), a.id_of_slots())) << label(sh) << ", ties " << ties;
      // Renumbered in leaf-8 order: a tree of any leaf size over it moves nothing.
      RowStore c(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
      c.permute_slots_and_renumber(KdTree::leaf_order(c, 8));
      ASSERT_TRUE(c.identity_order());
      for (const int leaf : {8, 16, 64, 4096}) {
        const std::vector<row_id> order = KdTree::leaf_order(c, leaf);
        std::vector<row_id> iota(sh.m);
        std::iota(iota.begin(), iota.end(), row_id{0});
        EXPECT_EQ(order, iota) << label(sh) << ", ties " << ties << ", leaf " << leaf;
        KdTree tc;
        tc.build(c, leaf);
        EXPECT_TRUE(c.identity_order()) << label(sh) << ", ties " << ties << ", leaf " << leaf;
      }
    }
}

TEST(KdTree, ProbeCatchesARowOutsideItsBoxes) {
  // Control for boxes_contain_rows: a row written without loosening is reported missing, and queries
  // can then miss it (the failure the loosening tests guard against).
  const std::vector<float> rows = gaussian_rows(500 * 3, 4);
  RowStore store(rows.data(), 500, 3, 3);
  KdTree tree;
  tree.build(store, 16);
  const float far[3] = {50.0f, -50.0f, 50.0f};
  write_slot(store, 123, far);
  EXPECT_FALSE(boxes_contain_rows(tree, store));
  EXPECT_TRUE(boxes_contain_rows(tree, store, {123}));
  tree.loosen(store, 123);
  EXPECT_TRUE(boxes_contain_rows(tree, store));
}

/// New values for `count` distinct slots chosen at random, ascending: most moved a little, one in five far
/// beyond the root box.
struct Moves {
  std::vector<row_id> slots;
  std::vector<float> values;  // d per slot
};

Moves random_moves(const RowStore& store, std::size_t count, std::uint64_t seed) {
  const int d = store.dim();
  Rng rng(seed);
  Moves mv;
  std::vector<bool> taken(store.rows(), false);
  while (mv.slots.size() < count) {
    const row_id s = static_cast<row_id>(rng.below(store.rows()));
    if (taken[s]) continue;
    taken[s] = true;
    mv.slots.push_back(s);
  }
  std::sort(mv.slots.begin(), mv.slots.end());
  for (const row_id s : mv.slots) {
    const double scale = rng.below(5) == 0 ? 20.0 : 0.05;
    for (int j = 0; j < d; ++j) mv.values.push_back(static_cast<float>(store.slot_data(s)[j] + scale * rng.normal()));
  }
  return mv;
}

TEST(KdTree, LooseningKeepsEveryRowInsideItsBoxes) {
  // Three ways to loosen after rows moved: one slot at a time, loosen_sorted over ascending slots, and an
  // AscendingLoosener fed the new rows. After each, every row is inside its boxes and queries are exact.
  for (const Shape& sh : kSmallShapes)
    for (int way = 0; way < 3; ++way) {
      const std::vector<float> rows = gaussian_rows(sh.m * sh.d, 50 + sh.d);
      RowStore store(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
      KdTree tree;
      tree.build(store, sh.leaf);
      std::size_t updates = 0;
      for (int round = 0; round < 3; ++round) {
        const Moves mv = random_moves(store, sh.m / 10, 1000 * way + 10 * round + sh.d);
        for (std::size_t i = 0; i < mv.slots.size(); ++i) write_slot(store, mv.slots[i], mv.values.data() + i * sh.d);
        if (way == 0) {
          for (const row_id s : mv.slots) tree.loosen(store, s);
        } else if (way == 1) {
          tree.loosen_sorted(store, mv.slots.data(), mv.slots.size());
        } else {
          KdTree::AscendingLoosener loosener(tree);
          for (std::size_t i = 0; i < mv.slots.size(); ++i) loosener.add(store.slot_data(mv.slots[i]), mv.slots[i]);
          loosener.finish();
        }
        updates += mv.slots.size();
        EXPECT_EQ(tree.updates_since_build(), updates) << label(sh) << ", way " << way;
        ASSERT_TRUE(boxes_contain_rows(tree, store)) << label(sh) << ", way " << way << ", round " << round;
        ASSERT_TRUE(queries_match(tree, store, 9 + round, 8)) << label(sh) << ", way " << way << ", round " << round;
      }
    }
}

TEST(KdTree, MoveShortRowsMovesEachRowOnceAndGrowsItsBoxes) {
  // Rows of d <= 4: move(i, v) is called once per slot, in order; the new rows are inside their boxes.
  for (const Shape& sh : kSmallShapes) {
    if (sh.d > 4) continue;
    const std::vector<float> rows = gaussian_rows(sh.m * sh.d, 70 + sh.d);
    RowStore store(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
    KdTree tree;
    tree.build(store, sh.leaf);
    for (int round = 0; round < 3; ++round) {
      const Moves mv = random_moves(store, sh.m / 8, 500 + 10 * round + sh.d);
      std::vector<std::size_t> calls;
      tree.move_short_rows(mv.slots.data(), mv.slots.size(), [&](std::size_t i, __m128& v) {
        calls.push_back(i);
        alignas(16) float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        std::copy_n(mv.values.data() + i * sh.d, sh.d, lanes);
        v = _mm_load_ps(lanes);
        RowStore::write_short_row(store.slot_data(mv.slots[i]), v, sh.d);
        return true;
      });
      std::vector<std::size_t> expected(mv.slots.size());
      std::iota(expected.begin(), expected.end(), std::size_t{0});
      EXPECT_EQ(calls, expected) << label(sh);
      for (std::size_t i = 0; i < mv.slots.size(); ++i)
        ASSERT_TRUE(
            std::equal(mv.values.begin() + i * sh.d, mv.values.begin() + (i + 1) * sh.d, store.slot_data(mv.slots[i])));
      ASSERT_TRUE(boxes_contain_rows(tree, store)) << label(sh) << ", round " << round;
      ASSERT_TRUE(queries_match(tree, store, 30 + round, 8)) << label(sh) << ", round " << round;
    }
  }
}

TEST(KdTree, MoveShortRowsLeavesRefusedRowsOutOfTheBoxes) {
  // A row the mover refuses (made non-finite) does not enter the boxes: they are not poisoned, and every
  // other row, moved or not, is still inside its boxes. (Queries over a tree holding a NaN row are out of
  // contract: the index drops its tree then.)
  const std::vector<float> rows = gaussian_rows(600 * 3, 5);
  RowStore store(rows.data(), 600, 3, 3);
  KdTree tree;
  tree.build(store, 16);
  const std::vector<row_id> slots = {3, 4, 100, 101, 102, 599};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  tree.move_short_rows(slots.data(), slots.size(), [&](std::size_t i, __m128& v) {
    float* w = store.slot_data(slots[i]);
    if (i % 2 == 0) {
      w[0] = nan;
      return false;
    }
    w[1] += 0.5f;
    v = RowStore::read_short_row(w);
    return true;
  });
  EXPECT_TRUE(boxes_contain_rows(tree, store, {3, 100, 102}));
  // An unbuilt tree still moves every row.
  KdTree unbuilt;
  std::size_t calls = 0;
  unbuilt.move_short_rows(slots.data(), slots.size(), [&](std::size_t, __m128&) { return ++calls, true; });
  EXPECT_EQ(calls, slots.size());
}

/// Total work of a fixed set of queries: nodes visited, leaf rows scanned, rows reported whole.
std::vector<std::size_t> work(const KdTree& tree, const RowStore& store) {
  std::vector<std::size_t> w;
  for (int k = 0; k < 20; ++k) {
    const std::vector<float> x = gaussian_rows(static_cast<std::size_t>(store.dim()), 900 + k);
    for (const float b : {0.5f, 2.0f}) {
      TreeQueryStats st;
      const std::vector<float> q = padded(store, x.data());
      std::vector<row_id> out;
      tree.query(store, q.data(), b, out, &st);
      w.push_back(st.nodes_visited);
      w.push_back(st.leaf_rows_scanned);
      w.push_back(st.rows_reported_whole);
    }
  }
  return w;
}

TEST(KdTree, RefitTightensLoosenedBoxesWithoutMovingRows) {
  // Rows moved far away (boxes loosened) and back: queries do more work on the loose boxes; refit makes the
  // boxes tight again, so the work is exactly what it was after the build, and no row changed slot. (At
  // d = 12 these queries prune nothing, so loose and tight boxes cost the same there.)
  for (const Shape& sh : kShapes) {
    const std::vector<float> rows = gaussian_rows(sh.m * sh.d, 80 + sh.d);
    RowStore store(rows.data(), sh.m, sh.d, static_cast<std::size_t>(sh.d));
    KdTree tree;
    tree.build(store, sh.leaf);
    const std::vector<row_id> ids(store.id_of_slots(), store.id_of_slots() + sh.m);
    const std::vector<std::size_t> tight = work(tree, store);
    const Moves mv = random_moves(store, sh.m / 20, 90 + sh.d);
    std::vector<float> saved;
    for (const row_id s : mv.slots) saved.insert(saved.end(), store.slot_data(s), store.slot_data(s) + sh.d);
    std::vector<float> far(static_cast<std::size_t>(sh.d));
    for (std::size_t i = 0; i < mv.slots.size(); ++i) {
      for (int j = 0; j < sh.d; ++j) far[j] = saved[i * sh.d + j] * 30.0f;
      write_slot(store, mv.slots[i], far.data());
      tree.loosen(store, mv.slots[i]);
      write_slot(store, mv.slots[i], saved.data() + i * sh.d);
      tree.loosen(store, mv.slots[i]);
    }
    const std::vector<std::size_t> loose = work(tree, store);
    auto sum_nodes_and_scans = [](const std::vector<std::size_t>& w) {
      std::size_t s = 0;
      for (std::size_t k = 0; k < w.size(); k += 3) s += w[k] + w[k + 1];
      return s;
    };
    if (sh.d <= 4) {
      EXPECT_GT(sum_nodes_and_scans(loose), sum_nodes_and_scans(tight)) << label(sh);
    }
    EXPECT_TRUE(queries_match(tree, store, 40, 5)) << label(sh);
    tree.refit(store);
    EXPECT_EQ(tree.updates_since_build(), 0u);
    EXPECT_EQ(work(tree, store), tight) << label(sh);
    EXPECT_TRUE(std::equal(ids.begin(), ids.end(), store.id_of_slots())) << "refit moved rows";
    // Refit after real moves: boxes fit the rows where they are now.
    const Moves mv2 = random_moves(store, sh.m / 10, 95 + sh.d);
    for (std::size_t i = 0; i < mv2.slots.size(); ++i) write_slot(store, mv2.slots[i], mv2.values.data() + i * sh.d);
    tree.refit(store);
    EXPECT_TRUE(boxes_contain_rows(tree, store)) << label(sh);
    EXPECT_TRUE(queries_match(tree, store, 41, 8)) << label(sh);
  }
}

}  // namespace
