// sort_row_ids: the comparison path (< 256 ids) and the LSD radix path, whose pass count depends on m.
#include "test_util.hpp"

namespace {

using hsrtest::row_id;

std::vector<row_id> random_ids(std::mt19937_64& rng, std::size_t n, std::size_t m) {
  std::uniform_int_distribution<std::int64_t> u(0, static_cast<std::int64_t>(m) - 1);
  std::vector<row_id> ids(n);
  for (row_id& i : ids) i = static_cast<row_id>(u(rng));
  return ids;
}

void expect_sorts(std::vector<row_id> ids, std::size_t m, const char* what) {
  std::vector<row_id> want = ids;
  std::sort(want.begin(), want.end());
  hsrnet::sort_row_ids(ids, m);
  ASSERT_EQ(ids.size(), want.size()) << what;
  ASSERT_TRUE(hsrtest::same_ids(want, ids)) << what << ", n = " << ids.size() << ", m = " << m;
}

TEST(SortRowIds, RandomListsAcrossSizesAndRanges) {
  std::mt19937_64 rng(20);
  // m around the digit boundaries (2^11, 2^22) changes the number of radix passes (1, 2, 3; odd counts end in
  // the scratch buffer and must be copied back).
  const std::size_t ms[] = {1,
                            2,
                            7,
                            255,
                            256,
                            2047,
                            2048,
                            2049,
                            5000,
                            100000,
                            (std::size_t{1} << 22) - 1,
                            std::size_t{1} << 22,
                            (std::size_t{1} << 22) + 1,
                            2147483647};
  const std::size_t ns[] = {0, 1, 2, 100, 255, 256, 257, 1000, 4097, 70000};
  for (std::size_t m : ms)
    for (std::size_t n : ns) expect_sorts(random_ids(rng, n, m), m, "random");
}

TEST(SortRowIds, StructuredInputs) {
  std::mt19937_64 rng(21);
  for (std::size_t m : {300, 5000, 3000000}) {
    for (std::size_t n : {200, 300, 20000}) {
      std::vector<row_id> ids = random_ids(rng, n, m);
      std::sort(ids.begin(), ids.end());
      expect_sorts(ids, m, "sorted");
      std::reverse(ids.begin(), ids.end());
      expect_sorts(ids, m, "reversed");
      expect_sorts(std::vector<row_id>(n, static_cast<row_id>(m - 1)), m, "all equal to m - 1");
      // Runs of ascending ids in shuffled order: what a tree query produces.
      std::vector<row_id> runs;
      for (std::size_t start = 0; start + 16 <= m && runs.size() < n; start += 37)
        for (std::size_t k = 0; k < 16; ++k) runs.push_back(static_cast<row_id>(start + k));
      std::vector<std::vector<row_id>> chunks;
      for (std::size_t i = 0; i < runs.size(); i += 16) chunks.emplace_back(runs.begin() + i, runs.begin() + i + 16);
      std::shuffle(chunks.begin(), chunks.end(), rng);
      runs.clear();
      for (const auto& c : chunks) runs.insert(runs.end(), c.begin(), c.end());
      expect_sorts(runs, m, "shuffled runs");
    }
  }
}

TEST(SortRowIds, AllIdsOfSmallRangeWithManyDuplicates) {
  // m = 1: every id is 0; the radix path must still run with its minimum of one bit.
  expect_sorts(std::vector<row_id>(1000, 0), 1, "m = 1");
  std::vector<row_id> two(1000);
  for (std::size_t i = 0; i < two.size(); ++i) two[i] = static_cast<row_id>((i * 7919) % 2);
  expect_sorts(two, 2, "m = 2");
}

TEST(CsrResult, DefaultIsEmptyBatch) {
  const hsrnet::CsrResult r;
  EXPECT_EQ(r.num_queries(), 0u);
  EXPECT_TRUE(hsrtest::csr_consistent(r, 0));
}

}  // namespace
