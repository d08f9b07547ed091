// NeuronMajor (neuron_major.hpp): per-sample CSR lists transposed into per-neuron lists, checked against a
// brute-force transpose: every (sample, neuron) pair exactly once, neurons in slot order, samples ascending
// within a neuron, positions mapping back into the per-sample lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsrnet/index/row_store.hpp"
#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/neuron_major.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrnet;
using namespace hsrtest;

/// A store of m rows of d = 2 floats (the values do not matter to the view, only the slot order).
RowStore make_store(std::size_t m) {
  std::vector<float> rows(m * 2);
  for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<float>(r % 97) - 48.0f;
  return RowStore(rows.data(), m, 2, 2);
}

/// A random permutation of 0..m-1 (Fisher-Yates with the library's generator: deterministic).
std::vector<row_id> random_order(std::size_t m, std::uint64_t seed) {
  std::vector<row_id> order(m);
  std::iota(order.begin(), order.end(), row_id{0});
  Rng rng(seed);
  for (std::size_t i = m; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

/// B per-sample lists of distinct ids < m, ascending (as identification yields them: the single-sample view
/// of an id-ordered store relies on it), with density `p` and some samples left empty. Offsets start at
/// `base` (a view into a larger CSR).
struct Batch {
  std::vector<std::int64_t> offsets;
  std::vector<row_id> ids;  // ids[offsets[q] .. offsets[q + 1]) for sample q (absolute offsets)
};

Batch random_batch(std::size_t B, std::size_t m, double p, std::int64_t base, std::uint64_t seed) {
  Rng rng(seed);
  Batch batch;
  batch.ids.assign(static_cast<std::size_t>(base), 999999u);  // entries before the view: never read
  batch.offsets.push_back(base);
  std::vector<row_id> list;
  for (std::size_t q = 0; q < B; ++q) {
    list.clear();
    if (rng.below(5) != 0)  // one sample in five is empty
      for (std::size_t r = 0; r < m; ++r)
        if (rng.uniform() < p) list.push_back(static_cast<row_id>(r));
    batch.ids.insert(batch.ids.end(), list.begin(), list.end());
    batch.offsets.push_back(static_cast<std::int64_t>(batch.ids.size()));
  }
  return batch;
}

/// Checks the view `nm` of `batch` (B samples) over `store` against a brute-force transpose.
::testing::AssertionResult view_matches(const NeuronMajor& nm, const Batch& batch, std::size_t B,
                                        const RowStore& store) {
  const std::int64_t base = batch.offsets[0];
  const std::size_t total = static_cast<std::size_t>(batch.offsets[B] - base);
  // Brute force: slot -> (neuron, samples ascending).
  std::map<row_id, std::pair<row_id, std::vector<std::uint32_t>>> by_slot;
  for (std::size_t q = 0; q < B; ++q)
    for (std::int64_t p = batch.offsets[q]; p < batch.offsets[q + 1]; ++p) {
      auto& entry = by_slot[store.slot_of(batch.ids[static_cast<std::size_t>(p)])];
      entry.first = batch.ids[static_cast<std::size_t>(p)];
      entry.second.push_back(static_cast<std::uint32_t>(q));
    }
  if (nm.size() != by_slot.size())
    return ::testing::AssertionFailure() << "size() = " << nm.size() << ", distinct neurons = " << by_slot.size();
  std::vector<int> covered(total, 0);
  std::size_t u = 0;
  std::uint32_t expected_begin = 0;
  for (const auto& [slot, entry] : by_slot) {
    if (nm.neuron(u) != entry.first)
      return ::testing::AssertionFailure()
             << "neuron(" << u << ") = " << nm.neuron(u) << ", expected " << entry.first << " (slot " << slot << ")";
    if (nm.begin(u) != expected_begin)
      return ::testing::AssertionFailure() << "begin(" << u << ") = " << nm.begin(u) << ", expected " << expected_begin;
    if (nm.end(u) - nm.begin(u) != entry.second.size())
      return ::testing::AssertionFailure() << "neuron " << entry.first << " has " << nm.end(u) - nm.begin(u)
                                           << " entries, expected " << entry.second.size();
    for (std::uint32_t e = nm.begin(u); e < nm.end(u); ++e) {
      const std::uint32_t q = nm.sample(e), pos = nm.position(e);
      if (q != entry.second[e - nm.begin(u)])
        return ::testing::AssertionFailure() << "entry " << e << " of neuron " << entry.first << ": sample " << q
                                             << ", expected " << entry.second[e - nm.begin(u)];
      if (pos >= total) return ::testing::AssertionFailure() << "position " << pos << " out of range " << total;
      // The position is relative to offsets[0], lies in that sample's list and holds this neuron.
      if (!(batch.offsets[q] - base <= pos && pos < batch.offsets[q + 1] - base))
        return ::testing::AssertionFailure() << "position " << pos << " is not in sample " << q << "'s list";
      if (batch.ids[static_cast<std::size_t>(base) + pos] != entry.first)
        return ::testing::AssertionFailure()
               << "position " << pos << " holds " << batch.ids[base + pos] << ", not " << entry.first;
      ++covered[pos];
    }
    expected_begin = nm.end(u);
    ++u;
  }
  if (expected_begin != total)
    return ::testing::AssertionFailure() << "entries end at " << expected_begin << " of " << total;
  for (std::size_t p = 0; p < total; ++p)
    if (covered[p] != 1)
      return ::testing::AssertionFailure() << "position " << p << " covered " << covered[p] << " times";
  return ::testing::AssertionSuccess();
}

TEST(NeuronMajor, TransposesBatchesInSlotOrder) {
  // Three samples' lists over a store permuted by a tree: every (sample, neuron) pair appears once, neurons
  // in slot order, samples ascending within a neuron.
  // Given weights keep their numbering, so the tree permutes the store (a fresh network would not).
  const std::vector<float> W = ShiftedReLUNet::random_weights(3, 500, 1);
  ShiftedReLUNet net(3, 500, 1, W.data(), nullptr, net_options(1, Backend::Tree));
  const RowStore& store = net.index().store();
  ASSERT_FALSE(store.identity_order());
  const std::vector<std::int64_t> offsets = {0, 4, 4, 9};
  const std::vector<row_id> ids = {3, 10, 77, 400, 1, 3, 10, 250, 499};
  NeuronMajor nm;
  nm.build(offsets.data(), ids.data(), 3, 500, store);
  ASSERT_EQ(nm.size(), 7u);
  std::size_t pairs = 0;
  for (std::size_t u = 0; u < nm.size(); ++u) {
    if (u > 0) {
      EXPECT_LT(store.slot_of(nm.neuron(u - 1)), store.slot_of(nm.neuron(u)));
    }
    for (std::uint32_t e = nm.begin(u); e < nm.end(u); ++e, ++pairs) {
      EXPECT_EQ(ids[nm.position(e)], nm.neuron(u));
      const std::uint32_t q = nm.sample(e);
      EXPECT_TRUE(offsets[q] <= nm.position(e) && nm.position(e) < offsets[q + 1]);
      if (e > nm.begin(u)) {
        EXPECT_LT(nm.sample(e - 1), q);
      }
    }
  }
  EXPECT_EQ(pairs, ids.size());
  // One sample: one entry per neuron, still in slot order.
  nm.build(offsets.data(), ids.data(), 1, 500, store);
  ASSERT_EQ(nm.size(), 4u);
  for (std::size_t u = 1; u < 4; ++u) {
    EXPECT_LT(store.slot_of(nm.neuron(u - 1)), store.slot_of(nm.neuron(u)));
  }
}

TEST(NeuronMajor, MatchesBruteForceTransposeInIdAndPermutedOrders) {
  // Batch sizes 1 (both special paths), 2, 7 and 64; m below and above one radix digit (2^11), so the slot
  // sort runs one pass (result in the scratch buffer) and two passes; lists of fewer and more than 64 keys
  // (std::sort and the radix sort).
  for (const std::size_t m : {std::size_t{300}, std::size_t{5000}}) {
    RowStore identity = make_store(m);
    RowStore permuted = make_store(m);
    permuted.permute_slots(random_order(m, m));
    ASSERT_TRUE(identity.identity_order());
    ASSERT_FALSE(permuted.identity_order());
    for (const RowStore* store : {&identity, &permuted})
      for (const std::size_t B : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}})
        for (const double p : {0.002, 0.05}) {
          const Batch batch = random_batch(B, m, p, 0, 1000 * m + 10 * B + (p > 0.01));
          NeuronMajor nm;
          nm.build(batch.offsets.data(), batch.ids.data(), B, m, *store);
          EXPECT_TRUE(view_matches(nm, batch, B, *store)) << "m = " << m << ", B = " << B << ", p = " << p << ", "
                                                          << (store == &identity ? "identity" : "permuted");
        }
  }
}

TEST(NeuronMajor, SlotOrderIsNotIdOrder) {
  // A store whose slots reverse the ids: the neurons come out in descending id order, for one sample and many.
  const std::size_t m = 200;
  RowStore store = make_store(m);
  std::vector<row_id> reverse(m);
  for (std::size_t k = 0; k < m; ++k) reverse[k] = static_cast<row_id>(m - 1 - k);
  store.permute_slots(reverse);
  ASSERT_EQ(store.slot_of(0), m - 1);
  const std::vector<std::int64_t> offsets = {0, 5, 8};
  const std::vector<row_id> ids = {3, 10, 77, 150, 199, 0, 77, 150};
  NeuronMajor nm;
  nm.build(offsets.data(), ids.data(), 2, m, store);
  std::vector<row_id> order;
  for (std::size_t u = 0; u < nm.size(); ++u) order.push_back(nm.neuron(u));
  EXPECT_EQ(order, (std::vector<row_id>{199, 150, 77, 10, 3, 0}));
  // Neurons 150 and 77 appear for both samples, in sample order, at their positions in each list.
  ASSERT_EQ(nm.end(1) - nm.begin(1), 2u);
  EXPECT_EQ(nm.sample(nm.begin(1)), 0u);
  EXPECT_EQ(nm.position(nm.begin(1)), 3u);
  EXPECT_EQ(nm.sample(nm.begin(1) + 1), 1u);
  EXPECT_EQ(nm.position(nm.begin(1) + 1), 7u);
  nm.build(offsets.data(), ids.data(), 1, m, store);
  order.clear();
  for (std::size_t u = 0; u < nm.size(); ++u) order.push_back(nm.neuron(u));
  EXPECT_EQ(order, (std::vector<row_id>{199, 150, 77, 10, 3}));
  // The same lists over the identity order: ascending ids.
  const RowStore plain = make_store(m);
  nm.build(offsets.data(), ids.data(), 2, m, plain);
  order.clear();
  for (std::size_t u = 0; u < nm.size(); ++u) order.push_back(nm.neuron(u));
  EXPECT_EQ(order, (std::vector<row_id>{0, 3, 10, 77, 150, 199}));
}

TEST(NeuronMajor, SingleSampleInIdOrderIsTheListItself) {
  // The trivial view: entry e is position e of the list, sample 0, one entry per neuron (the list is
  // already in slot order, as a query's answer is).
  const RowStore store = make_store(100);
  const std::vector<std::int64_t> offsets = {0, 4};
  const std::vector<row_id> ids = {2, 5, 40, 99};
  NeuronMajor nm;
  nm.build(offsets.data(), ids.data(), 1, 100, store);
  ASSERT_EQ(nm.size(), 4u);
  for (std::size_t u = 0; u < 4; ++u) {
    EXPECT_EQ(nm.neuron(u), ids[u]);
    EXPECT_EQ(nm.begin(u), u);
    EXPECT_EQ(nm.end(u), u + 1);
    EXPECT_EQ(nm.sample(nm.begin(u)), 0u);
    EXPECT_EQ(nm.position(nm.begin(u)), u);
  }
}

TEST(NeuronMajor, OffsetsIntoALargerListArePositionsRelativeToTheFirst) {
  // A batch that is a window of a larger CSR (offsets[0] > 0): positions count from offsets[0], for every
  // path (one sample in id order, one sample permuted, several samples).
  const std::size_t m = 400;
  RowStore identity = make_store(m);
  RowStore permuted = make_store(m);
  permuted.permute_slots(random_order(m, 3));
  for (const std::size_t B : {std::size_t{1}, std::size_t{5}})
    for (const RowStore* store : {&identity, &permuted}) {
      const Batch batch = random_batch(B, m, 0.1, 37, 11 + B);
      NeuronMajor nm;
      nm.build(batch.offsets.data(), batch.ids.data(), B, m, *store);
      EXPECT_TRUE(view_matches(nm, batch, B, *store)) << "B = " << B;
    }
}

TEST(NeuronMajor, EmptyBatchesAndEmptySamples) {
  const std::size_t m = 50;
  RowStore identity = make_store(m);
  RowStore permuted = make_store(m);
  permuted.permute_slots(random_order(m, 4));
  const std::vector<row_id> ids = {7};
  for (const RowStore* store : {&identity, &permuted}) {
    NeuronMajor nm;
    const std::vector<std::int64_t> none = {0};
    nm.build(none.data(), ids.data(), 0, m, *store);  // no samples
    EXPECT_EQ(nm.size(), 0u);
    const std::vector<std::int64_t> empty = {0, 0, 0, 0};
    nm.build(empty.data(), ids.data(), 3, m, *store);  // samples without neurons
    EXPECT_EQ(nm.size(), 0u);
    nm.build(empty.data(), ids.data(), 1, m, *store);
    EXPECT_EQ(nm.size(), 0u);
    // Empty samples around a non-empty one: its entries carry its batch position.
    const std::vector<std::int64_t> middle = {0, 0, 1, 1};
    nm.build(middle.data(), ids.data(), 3, m, *store);
    ASSERT_EQ(nm.size(), 1u);
    EXPECT_EQ(nm.neuron(0), 7u);
    ASSERT_EQ(nm.end(0) - nm.begin(0), 1u);
    EXPECT_EQ(nm.sample(nm.begin(0)), 1u);
    EXPECT_EQ(nm.position(nm.begin(0)), 0u);
  }
}

TEST(NeuronMajor, ReusedViewForgetsThePreviousBatch) {
  // The neuron -> local map persists between builds and is reset only at the neurons used: a view rebuilt
  // for another batch (overlapping neurons, a different batch size) must equal a fresh view of it.
  const std::size_t m = 3000;
  RowStore store = make_store(m);
  store.permute_slots(random_order(m, 5));
  NeuronMajor reused;
  for (int round = 0; round < 6; ++round) {
    const std::size_t B = round % 3 == 0 ? 1 : static_cast<std::size_t>(3 + 20 * round);
    const Batch batch = random_batch(B, m, 0.01 * (1 + round % 2), round % 2 ? 0 : 5, 100 + round);
    reused.build(batch.offsets.data(), batch.ids.data(), B, m, store);
    EXPECT_TRUE(view_matches(reused, batch, B, store)) << "round " << round;
  }
}

TEST(NeuronMajor, ThreeRadixDigitsForMoreThanFourMillionNeurons) {
  // m > 2^22: the slot keys need 23 bits, three 11-bit radix passes (the odd count ends in the scratch
  // buffer). Rows of one float keep the store at 16 MiB.
  const std::size_t m = (std::size_t{1} << 22) + 1000;
  std::vector<float> rows(m, 1.0f);
  RowStore store(rows.data(), m, 1, 1);
  Rng rng(6);
  Batch batch;
  batch.offsets.push_back(0);
  for (std::size_t q = 0; q < 3; ++q) {
    std::vector<row_id> list;
    for (int k = 0; k < 80; ++k) {
      // Ids spread over the whole range, the top ones above 2^22, some shared between samples.
      const row_id r = k < 10 ? static_cast<row_id>(m - 1 - 7 * k) : static_cast<row_id>(rng.below(m));
      if (std::find(list.begin(), list.end(), r) == list.end()) list.push_back(r);
    }
    std::sort(list.begin(), list.end());
    batch.ids.insert(batch.ids.end(), list.begin(), list.end());
    batch.offsets.push_back(static_cast<std::int64_t>(batch.ids.size()));
  }
  NeuronMajor nm;
  nm.build(batch.offsets.data(), batch.ids.data(), 3, m, store);
  EXPECT_TRUE(view_matches(nm, batch, 3, store));
  EXPECT_EQ(nm.neuron(nm.size() - 1), m - 1);
}

TEST(NeuronMajor, RefusesMoreThanTwoToTheThirtyTwoPairs) {
  // Positions are 32-bit: a step with 2^32 pairs is refused before any id is read.
  const RowStore store = make_store(10);
  const std::vector<std::int64_t> offsets = {0, std::int64_t{1} << 31, std::int64_t{1} << 32};
  NeuronMajor nm;
  EXPECT_THROW(nm.build(offsets.data(), nullptr, 2, 10, store), std::length_error);
}

}  // namespace
