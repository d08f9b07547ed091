// RowStore: zero padding (the kernels read it), the id <-> slot map under permutation, and norm upper bounds
// (the GEMM margins are built on them).
#include <numeric>

#include "test_util.hpp"

namespace {

using hsrnet::RowStore;
using hsrtest::gaussian;
using hsrtest::row_id;

long double exact_norm(const float* v, int d) {
  long double s = 0.0L;
  for (int i = 0; i < d; ++i) s += static_cast<long double>(v[i]) * static_cast<long double>(v[i]);
  return std::sqrt(s);
}

::testing::AssertionResult padding_is_zero(const RowStore& store) {
  const std::size_t m = store.rows(), padded_m = (m + 7) / 8 * 8;
  const int d = store.dim(), stride = store.stride();
  for (std::size_t s = 0; s < padded_m; ++s) {
    const float* p = store.data() + s * stride;
    for (int j = (s < m ? d : 0); j < stride; ++j)
      if (p[j] != 0.0f || std::signbit(p[j]))
        return ::testing::AssertionFailure() << "slot " << s << " float " << j << " is " << p[j];
  }
  return ::testing::AssertionSuccess();
}

TEST(RowStore, LayoutAndZeroPadding) {
  std::mt19937_64 rng(10);
  for (int d = 1; d <= 40; ++d) {
    for (std::size_t m : {1, 7, 8, 9, 33}) {
      // Rows handed over with a larger source stride and junk in between: only d floats per row may be copied.
      const std::size_t src_stride = static_cast<std::size_t>(d) + 3;
      std::vector<float> src(m * src_stride, -7.5f);
      const std::vector<float> values = gaussian(rng, m * d);
      for (std::size_t r = 0; r < m; ++r) std::copy_n(values.data() + r * d, d, src.data() + r * src_stride);
      const RowStore store(src.data(), m, d, src_stride);
      ASSERT_EQ(store.rows(), m);
      ASSERT_EQ(store.dim(), d);
      ASSERT_EQ(store.stride(), hsrnet::padded_stride(d));
      // Rows of d > 4 then start on 32-byte boundaries (the stride is a multiple of 8 floats).
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(store.data()) % 32, 0u);
      EXPECT_TRUE(store.identity_order());
      ASSERT_TRUE(padding_is_zero(store)) << "d = " << d << " m = " << m;
      for (std::size_t r = 0; r < m; ++r) {
        const row_id id = static_cast<row_id>(r);
        EXPECT_EQ(store.slot_of(id), id);
        EXPECT_EQ(store.id_of(id), id);
        ASSERT_EQ(0, std::memcmp(store.row_data(id), values.data() + r * d, sizeof(float) * d)) << d << " " << r;
      }
    }
  }
}

TEST(RowStore, RejectsBadShapes) {
  const float one = 1.0f;
  EXPECT_THROW(RowStore(&one, 1, 0, 1), std::invalid_argument);
  EXPECT_THROW(RowStore(&one, 1, -3, 1), std::invalid_argument);
}

TEST(RowStore, NormsAreUpperBounds) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> e(-60, 60);
  for (int d : {1, 2, 3, 5, 8, 17, 100, 784}) {
    const std::size_t m = 200;
    std::vector<float> rows = gaussian(rng, m * d);
    for (std::size_t r = 0; r < m; ++r) {
      const int scale = e(rng);
      for (int j = 0; j < d; ++j) rows[r * d + j] = std::ldexp(rows[r * d + j], scale);
    }
    std::fill_n(rows.data(), d, 0.0f);  // a zero row has norm exactly 0
    const RowStore store(rows.data(), m, d, d);
    EXPECT_EQ(store.slot_norm(0), 0.0f);
    for (std::size_t r = 0; r < m; ++r) {
      const long double exact = exact_norm(rows.data() + r * d, d);
      const float n = store.slot_norm(static_cast<row_id>(r));
      ASSERT_GE(static_cast<long double>(n), exact) << "d = " << d << " row " << r;
      // Tight enough to be useful: within a few ulps.
      ASSERT_LE(static_cast<long double>(n), exact * (1.0L + 1e-6L)) << "d = " << d << " row " << r;
    }
  }
}

TEST(NormUpperBound, NeverBelowTheExactNorm) {
  // Rounding sqrt to the nearest float goes down about half the time; every one of those cases must be bumped.
  std::mt19937_64 rng(12);
  std::size_t rounded_up = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const int d = 1 + trial % 9;
    const std::vector<float> v = gaussian(rng, d);
    const long double exact = exact_norm(v.data(), d);
    const float n = hsrnet::norm_upper_bound(v.data(), d);
    ASSERT_GE(static_cast<long double>(n), exact) << trial;
    ASSERT_LE(static_cast<long double>(n), exact * (1.0L + 1e-6L)) << trial;
    if (static_cast<long double>(static_cast<float>(exact)) < exact) ++rounded_up;
  }
  EXPECT_GT(rounded_up, 1000u);
}

TEST(RowStore, PermuteSlotsKeepsIdToRowMapping) {
  std::mt19937_64 rng(13);
  for (int d : {1, 2, 3, 4, 7, 8, 9, 31}) {
    for (std::size_t m : {1, 2, 9, 64, 1001}) {
      const std::vector<float> rows = gaussian(rng, m * d);
      RowStore store(rows.data(), m, d, d);
      std::vector<float> norms(m);
      for (std::size_t r = 0; r < m; ++r) norms[r] = store.slot_norm(static_cast<row_id>(r));

      for (int round = 0; round < 4; ++round) {
        std::vector<row_id> order(m);
        std::iota(order.begin(), order.end(), row_id{0});
        if (round == 1) {
          // Fixed points and 2-cycles mixed: the in-place cycle walk must handle both.
          for (std::size_t k = 0; k + 1 < m; k += 3) std::swap(order[k], order[k + 1]);
        } else if (round != 3) {
          std::shuffle(order.begin(), order.end(), rng);
        }
        std::vector<row_id> id_of_before(m);
        for (std::size_t k = 0; k < m; ++k) id_of_before[k] = store.id_of(static_cast<row_id>(k));
        store.permute_slots(order);
        for (std::size_t k = 0; k < m; ++k) ASSERT_EQ(store.id_of(static_cast<row_id>(k)), id_of_before[order[k]]);
        for (std::size_t r = 0; r < m; ++r) {
          const row_id id = static_cast<row_id>(r);
          ASSERT_EQ(store.id_of(store.slot_of(id)), id);
          ASSERT_EQ(0, std::memcmp(store.row_data(id), rows.data() + r * d, sizeof(float) * d))
              << "d = " << d << " m = " << m << " round " << round << " id " << r;
          ASSERT_EQ(store.slot_norm(store.slot_of(id)), norms[r]) << "norms must travel with their rows";
        }
        ASSERT_TRUE(padding_is_zero(store));
      }

      // Back to identity: new slot k takes the slot that holds id k.
      std::vector<row_id> back(m);
      for (std::size_t k = 0; k < m; ++k) back[k] = store.slot_of(static_cast<row_id>(k));
      store.permute_slots(back);
      EXPECT_TRUE(store.identity_order());
      for (std::size_t r = 0; r < m; ++r)
        ASSERT_EQ(0, std::memcmp(store.slot_data(static_cast<row_id>(r)), rows.data() + r * d, sizeof(float) * d));
    }
  }
}

TEST(RowStore, IdentityOrderFlag) {
  const std::vector<float> rows = {1, 2, 3, 4};
  RowStore store(rows.data(), 4, 1, 1);
  store.permute_slots({0, 1, 2, 3});
  EXPECT_TRUE(store.identity_order());
  store.permute_slots({1, 0, 2, 3});
  EXPECT_FALSE(store.identity_order());
  EXPECT_EQ(store.row_data(0)[0], 1.0f);
  EXPECT_EQ(store.slot_data(0)[0], 2.0f);
  store.permute_slots({1, 0, 2, 3});
  EXPECT_TRUE(store.identity_order());
}

TEST(RowStore, WritesKeepPaddingAndNorms) {
  std::mt19937_64 rng(14);
  for (int d : {1, 3, 5, 12}) {
    const std::size_t m = 50;
    std::vector<float> rows = gaussian(rng, m * d);
    RowStore store(rows.data(), m, d, d);
    std::vector<row_id> order(m);
    std::iota(order.begin(), order.end(), row_id{0});
    std::shuffle(order.begin(), order.end(), rng);
    store.permute_slots(order);

    // write_row: source longer than d must not spill into the padding.
    std::vector<float> src = gaussian(rng, d + 8, 1000.0f);
    store.write_row(7, src.data());
    EXPECT_EQ(0, std::memcmp(store.row_data(7), src.data(), sizeof(float) * d));
    EXPECT_GE(static_cast<long double>(store.slot_norm(store.slot_of(7))), exact_norm(src.data(), d));
    EXPECT_TRUE(padding_is_zero(store));

    // In-place writes: the norm follows only after refresh_norm.
    float* w = store.mutable_row_data(11);
    for (int j = 0; j < d; ++j) w[j] = 1e6f;
    store.refresh_norm(11);
    EXPECT_GE(static_cast<long double>(store.slot_norm(store.slot_of(11))), exact_norm(w, d));
    EXPECT_EQ(store.row_data(11), w);
  }
}

TEST(RowStore, MemoryBytesCountsRows) {
  const std::vector<float> rows(9 * 5, 1.0f);
  const RowStore store(rows.data(), 9, 5, 5);
  // 16 padded rows of stride 8 and the readable tail, plus stored norms; no id maps in identity order.
  const std::size_t tail = RowStore::kTailFloats * 4u;
  EXPECT_EQ(store.memory_bytes(), 16u * 8u * 4u + tail + 9u * 4u);
  // d = 3 is stored unpadded: 3 floats a row (16 rows: the count is still rounded up to whole 8-row blocks),
  // and short rows keep no norms.
  RowStore store3(rows.data(), 9, 3, 3);
  EXPECT_EQ(store3.stride(), 3);
  EXPECT_FALSE(store3.has_norms());
  EXPECT_EQ(store3.memory_bytes(), 16u * 3u * 4u + tail);
  // A permutation brings the two id maps into existence; adopting the order frees them again.
  std::vector<row_id> order(9);
  std::iota(order.rbegin(), order.rend(), row_id{0});
  store3.permute_slots(order);
  EXPECT_FALSE(store3.identity_order());
  EXPECT_EQ(store3.memory_bytes(), 16u * 3u * 4u + tail + 2u * 9u * 4u);
  store3.adopt_slot_order();
  EXPECT_TRUE(store3.identity_order());
  EXPECT_EQ(store3.id_of(4), 4);
  EXPECT_EQ(store3.memory_bytes(), 16u * 3u * 4u + tail);
}

}  // namespace
