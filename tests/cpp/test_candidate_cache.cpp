// CandidateCache (candidate_cache.hpp): drift-bounded per-sample candidates. Checked against brute force
// (reference_dot of every row and sample): every firing neuron is a candidate after moves within and
// beyond delta, candidates are only neurons that could fire given how far they moved, the moved set is
// exactly {r : mv_r > theta}, the refresh rule's thresholds, delta's ladder, budget refusals, and the
// memory held (exact-size chunks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/candidate_cache.hpp"
#include "training_fixtures.hpp"

namespace {

using namespace hsrnet;
using namespace hsrtest;

std::vector<float> gaussian_rows(std::size_t count, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(count);
  for (float& f : v) f = static_cast<float>(rng.normal() * scale);
  return v;
}

IndexOptions one_thread(Backend backend) {
  IndexOptions o;
  o.backend = backend;
  o.n_threads = 1;
  return o;
}

/// float(b - delta) rounded down (the cache's candidate threshold).
float lowered(float b, double delta) {
  const double t = static_cast<double>(b) - delta;
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

/// The quantities of the header's bound for a built cache: g, e, W0 and |x_i| as the cache computes them.
struct Bound {
  double g, e, w0, xbar;
  std::vector<double> xn;
  Bound(const HalfSpaceIndex& index, const std::vector<float>& X, std::size_t n) {
    const int d = index.dim();
    g = dot_error_coefficient(d);
    e = dot_error_floor(d);
    w0 = 0.0;
    for (std::size_t s = 0; s < index.rows(); ++s)
      w0 = std::max(w0, static_cast<double>(index.store().slot_norm(static_cast<row_id>(s))));
    xn.resize(n);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += xn[i] = norm_upper_bound(X.data() + i * d, d);
    xbar = sum / static_cast<double>(n);
  }
  double slack(std::size_t i) const { return 2.0 * g * w0 * xn[i] + 2.0 * e; }
  /// theta_i of the header: how far a neuron outside C_i may move before it could fire on x_i.
  double theta(std::size_t i, double delta) const { return (delta - slack(i)) / (xn[i] * (1.0 + g)); }
};

/// Values reference_dot(w_r, x_i) of every row (by id) and sample, row-major n x m.
std::vector<float> all_values(const HalfSpaceIndex& index, const std::vector<float>& X, std::size_t n) {
  const std::size_t m = index.rows();
  const int d = index.dim();
  std::vector<float> z(n * m);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t r = 0; r < m; ++r)
      z[i * m + r] = reference_dot(index.store().row_data(static_cast<row_id>(r)), X.data() + i * d, d);
  return z;
}

/// Moves `count` distinct random rows by a random direction of norm step (or far_step for one in four);
/// records the true update norms (slightly widened) in the cache and `movement`, and tells the index.
void move_rows(HalfSpaceIndex& index, CandidateCache& cache, std::vector<double>& movement, std::size_t count,
               double step, double far_step, Rng& rng) {
  const int d = index.dim();
  std::vector<row_id> ids;
  while (ids.size() < count) {
    const row_id r = static_cast<row_id>(rng.below(index.rows()));
    if (std::find(ids.begin(), ids.end(), r) == ids.end()) ids.push_back(r);
  }
  std::vector<double> norms;
  std::vector<double> dir(static_cast<std::size_t>(d));
  for (std::size_t k = 0; k < ids.size(); ++k) {
    double s2 = 0.0;
    for (double& v : dir) v = rng.normal(), s2 += v * v;
    const double len = (k % 4 == 0 ? far_step : step) * rng.uniform() / std::sqrt(s2);
    float* w = index.mutable_row(ids[k]);
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
      const float old = w[j];
      w[j] = static_cast<float>(w[j] + len * dir[j]);
      sq += (static_cast<double>(w[j]) - old) * (static_cast<double>(w[j]) - old);
    }
    norms.push_back(std::sqrt(sq) * (1.0 + 1e-9));
  }
  index.rows_moved(ids.data(), ids.size());
  cache.record_movement(ids.data(), norms.data(), ids.size());  // unsorted ids, as a trainer may pass them
  for (std::size_t k = 0; k < ids.size(); ++k) movement[ids[k]] += norms[k];
}

TEST(CandidateCache, CandidatesCoverEveryFiringNeuronAfterMoves) {
  // Build, then move rows by random amounts (some far beyond delta), report the movement, and check that
  // every neuron that fires on a sample is among its candidates.
  const int d = 24;
  const std::size_t m = 4096, n = 300;
  ShiftedReLUNet net(d, m, 1, net_options(6));
  const std::vector<float> X = sphere(n, d, 7);
  CandidateCache cache;
  CacheSettings cs;
  ASSERT_TRUE(cache.rebuild(net.index(), net.threshold(), X.data(), n, cs, 1));
  EXPECT_GT(cache.delta(), 0.0);
  EXPECT_GE(cache.mean_cached(), cache.probe_firing());
  Rng rng(8);
  for (int round = 0; round < 5; ++round) {
    std::vector<row_id> moved;
    std::vector<double> norms;
    for (int k = 0; k < 200; ++k) {
      const row_id r = static_cast<row_id>(rng.below(m));
      if (std::find(moved.begin(), moved.end(), r) != moved.end()) continue;
      float* w = net.index().mutable_row(r);
      const double scale = (k % 10 == 0 ? 1.0 : 0.02) * rng.uniform();
      double sq = 0.0;
      for (int j = 0; j < d; ++j) {
        const float old = w[j];
        w[j] = static_cast<float>(w[j] + scale * rng.normal());
        sq += (static_cast<double>(w[j]) - old) * (static_cast<double>(w[j]) - old);
      }
      moved.push_back(r);
      norms.push_back(std::sqrt(sq) * (1 + 1e-9));
    }
    net.index().rows_moved(moved.data(), moved.size());
    cache.record_movement(moved.data(), norms.data(), moved.size());
    EXPECT_GT(cache.moved(), 0u);
    const CsrResult truth = net.index().query_batch(X.data(), n, net.threshold(), Backend::Scan);
    std::vector<row_id> cand;
    for (std::size_t i = 0; i < n; ++i) {
      cand.clear();
      cache.candidates(i, cand);
      ASSERT_TRUE(std::is_sorted(cand.begin(), cand.end()));
      ASSERT_TRUE(std::adjacent_find(cand.begin(), cand.end()) == cand.end());
      ASSERT_TRUE(std::includes(cand.begin(), cand.end(), truth.begin(i), truth.end(i))) << "sample " << i;
    }
  }
  // A budget too small for the lists: no cache.
  cs.budget_bytes = 1000;
  EXPECT_FALSE(cache.rebuild(net.index(), net.threshold(), X.data(), n, cs, 1));
  EXPECT_FALSE(cache.valid());
}

struct PathCase {
  const char* name;
  int d;
  std::size_t m, n;
  Backend backend;  // Scan: lists from index queries; Gemm: from the GEMM's values; Tree: a permuted store
};

TEST(CandidateCache, ExactAndTightOnEveryBuildPath) {
  // For each way the lists are filled, against brute force at every stage:
  //   - every neuron that fires is a candidate (after moves within and far beyond delta);
  //   - a candidate that is not in the moved set could fire given its movement: z0 + mv |x| (1 + g) plus
  //     the rounding slack (and one allowance unit) reaches b -- at t0 (mv = 0) only pairs within rounding;
  //   - the moved set is exactly {r : mv_r > movement_threshold()}, ascending, and with_moved = false
  //     leaves exactly it out;
  //   - movement_threshold() is the header's min_i theta_i (at the effective delta, b - threshold).
  const PathCase cases[] = {{"scan", 24, 2048, 1100, Backend::Scan},
                            {"gemm", 24, 2048, 1100, Backend::Gemm},
                            {"tree", 3, 3000, 500, Backend::Tree}};
  for (const PathCase& pc : cases) {
    SCOPED_TRACE(pc.name);
    const std::vector<float> W = gaussian_rows(pc.m * pc.d, 11 + pc.d);
    HalfSpaceIndex index(W.data(), pc.m, pc.d, one_thread(pc.backend));
    if (pc.backend == Backend::Tree) {
      index.query(W.data(), 0.0);  // builds the tree: the store is permuted
      ASSERT_FALSE(index.store().identity_order());
    }
    const std::vector<float> X = sphere(pc.n, pc.d, 12 + pc.d);
    const float b = 2.0f;
    CandidateCache cache;
    ASSERT_TRUE(cache.rebuild(index, b, X.data(), pc.n, CacheSettings{}, 1, pc.backend));
    ASSERT_TRUE(cache.valid());
    EXPECT_EQ(cache.samples(), pc.n);
    EXPECT_EQ(cache.builds(), 1u);
    EXPECT_EQ(cache.moved(), 0u);
    EXPECT_LE(static_cast<double>(cache.candidate_threshold()), static_cast<double>(b) - cache.delta());
    const Bound bound(index, X, pc.n);
    const double delta = cache.delta();
    // The effective delta: b less the candidate threshold (float(b - delta) rounded down), never below delta.
    const double delta_eff = static_cast<double>(b) - static_cast<double>(cache.candidate_threshold());
    ASSERT_GE(delta_eff, delta);
    ASSERT_LE(delta_eff, delta + 1e-6);
    double theta = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < pc.n; ++i) theta = std::min(theta, bound.theta(i, delta_eff));
    EXPECT_LE(cache.movement_threshold(), theta * (1.0 + 1e-9));
    EXPECT_GE(cache.movement_threshold(), theta * (1.0 - 1e-6));
    EXPECT_GT(cache.movement_threshold(), 0.0);
    // One allowance unit in values of <w, x_i>: delta_eff |x_i| / (xbar * 32768) (with a margin).
    const double unit = delta_eff * 1.001 / (bound.xbar * CandidateCache::kAllowanceSteps);
    const std::vector<float> z0 = all_values(index, X, pc.n);
    std::vector<double> movement(pc.m, 0.0);
    Rng rng(13 + pc.d);
    std::size_t beyond = 0;
    for (int round = 0; round <= 4; ++round) {
      if (round > 0) move_rows(index, cache, movement, pc.m / 40, 0.5 * delta, 4.0 * delta, rng);
      const std::vector<float> z = round == 0 ? z0 : all_values(index, X, pc.n);
      // The moved set.
      std::vector<row_id> expected_moved;
      for (std::size_t r = 0; r < pc.m; ++r)
        if (movement[r] > cache.movement_threshold()) expected_moved.push_back(static_cast<row_id>(r));
      ASSERT_EQ(cache.moved_ids(), expected_moved) << "round " << round;
      ASSERT_EQ(cache.moved(), expected_moved.size());
      if (round > 0) {
        EXPECT_FALSE(expected_moved.empty());
        EXPECT_LT(expected_moved.size(), pc.m / 10);  // rows moved within theta stay out of it
      }
      std::vector<row_id> cand, cand_without;
      for (std::size_t i = 0; i < pc.n; ++i) {
        cand.clear();
        cand_without.clear();
        cache.candidates(i, cand);
        cache.candidates(i, cand_without, false);
        ASSERT_TRUE(std::is_sorted(cand.begin(), cand.end()) &&
                    std::adjacent_find(cand.begin(), cand.end()) == cand.end());
        std::vector<row_id> rebuilt;
        std::merge(cand_without.begin(), cand_without.end(), expected_moved.begin(), expected_moved.end(),
                   std::back_inserter(rebuilt));
        ASSERT_EQ(cand, rebuilt) << "sample " << i << ": with_moved = false must leave out exactly the moved set";
        const float* zi = z.data() + i * pc.m;
        const float* z0i = z0.data() + i * pc.m;
        for (std::size_t r = 0; r < pc.m; ++r)
          if (zi[r] > b) {
            ASSERT_TRUE(std::binary_search(cand.begin(), cand.end(), static_cast<row_id>(r)))
                << "round " << round << ": neuron " << r << " fires on sample " << i << " but is no candidate";
            beyond += z0i[r] <= b - delta;  // fires now, was outside the cache's reach at t0
          }
        for (const row_id r : cand_without) {
          const double reach =
              z0i[r] + movement[r] * bound.xn[i] * (1.0 + bound.g) + bound.slack(i) + unit * bound.xn[i];
          ASSERT_GE(reach, static_cast<double>(b))
              << "round " << round << ": neuron " << r << " is a candidate for sample " << i
              << " but cannot fire (z0 = " << z0i[r] << ", moved " << movement[r] << ")";
        }
      }
    }
    EXPECT_GT(beyond, 0u) << "no neuron moved into firing from beyond delta: the test lost its point";
  }
}

TEST(CandidateCache, GemmAndQueryBuildsCacheTheSamePairs) {
  // The gemm path decides the same pairs as an index query (reference_dot > b - delta), so both caches hold
  // the same number of pairs, the same delta and the same memory.
  const int d = 32;
  const std::size_t m = 1500, n = 700;
  const std::vector<float> W = gaussian_rows(m * d, 21);
  const std::vector<float> X = sphere(n, d, 22);
  HalfSpaceIndex scan_index(W.data(), m, d, one_thread(Backend::Scan));
  HalfSpaceIndex gemm_index(W.data(), m, d, one_thread(Backend::Gemm));
  CandidateCache a, g;
  ASSERT_TRUE(a.rebuild(scan_index, 2.0f, X.data(), n, CacheSettings{}, 1, Backend::Scan));
  ASSERT_TRUE(g.rebuild(gemm_index, 2.0f, X.data(), n, CacheSettings{}, 1, Backend::Gemm));
  EXPECT_EQ(a.delta(), g.delta());
  EXPECT_EQ(a.mean_cached(), g.mean_cached());
  EXPECT_EQ(a.memory_bytes(), g.memory_bytes());
  EXPECT_EQ(a.movement_threshold(), g.movement_threshold());
}

TEST(CandidateCache, MovedSetAndRefreshThresholds) {
  const int d = 8;
  const std::size_t m = 1000, n = 200;
  const std::vector<float> W = gaussian_rows(m * d, 31);
  const std::vector<float> X = sphere(n, d, 32);
  HalfSpaceIndex index(W.data(), m, d, one_thread(Backend::Scan));
  CandidateCache cache;
  EXPECT_FALSE(cache.valid());
  EXPECT_FALSE(cache.needs_refresh());  // an empty cache never asks for a refresh
  CacheSettings cs;
  cs.max_moved_fraction = 0.1;  // more than 100 moved neurons: refresh
  ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, cs, 1));
  EXPECT_FALSE(cache.needs_refresh());
  EXPECT_GT(cache.rebuild_seconds(), 0.0);
  const double theta = cache.movement_threshold();
  ASSERT_GT(theta, 0.0);
  // Movement adds up: 0.6 theta twice crosses theta, once does not.
  const row_id r7 = 7;
  const double part = 0.6 * theta;
  cache.record_movement(&r7, &part, 1);
  EXPECT_EQ(cache.moved(), 0u);
  cache.record_movement(&r7, &part, 1);
  EXPECT_EQ(cache.moved_ids(), std::vector<row_id>{7});
  // Exactly theta is not "more than theta".
  const row_id r8 = 8;
  cache.record_movement(&r8, &theta, 1);
  EXPECT_EQ(cache.moved(), 1u);
  // Unsorted ids, some already moved: the set stays ascending and free of duplicates.
  std::vector<row_id> ids = {500, 3, 7, 999, 250};
  std::vector<double> far(ids.size(), 2.0 * theta);
  cache.record_movement(ids.data(), far.data(), ids.size());
  EXPECT_EQ(cache.moved_ids(), (std::vector<row_id>{3, 7, 250, 500, 999}));
  // Up to the limit (100 = 0.1 m) no refresh; one more and it is due.
  ids.clear();
  for (row_id r = 10; cache.moved() + ids.size() < 100; ++r)
    if (r != 250 && r != 500) ids.push_back(r);
  far.assign(ids.size(), 2.0 * theta);
  cache.record_movement(ids.data(), far.data(), ids.size());
  ASSERT_EQ(cache.moved(), 100u);
  EXPECT_FALSE(cache.needs_refresh());
  const row_id r900 = 900;
  cache.record_movement(&r900, &far[0], 1);
  EXPECT_EQ(cache.moved(), 101u);
  EXPECT_TRUE(cache.needs_refresh());
  // A rebuild starts over: no movement, no moved set, no charge.
  ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, cs, 1));
  EXPECT_EQ(cache.builds(), 2u);
  EXPECT_EQ(cache.moved(), 0u);
  EXPECT_FALSE(cache.needs_refresh());
  cache.record_movement(&r7, &part, 1);
  EXPECT_EQ(cache.moved(), 0u);
  // Staleness charged up to what the last rebuild took: refresh (ski rental).
  const double half = cache.rebuild_seconds() / 2.0;
  cache.charge(half);
  EXPECT_FALSE(cache.needs_refresh());
  cache.charge(half);
  EXPECT_TRUE(cache.needs_refresh());
  cache.clear();
  EXPECT_FALSE(cache.valid());
  EXPECT_FALSE(cache.needs_refresh());
  EXPECT_EQ(cache.samples(), 0u);
  EXPECT_EQ(cache.moved(), 0u);
  // The moved-set limit is at least 8 neurons.
  cs.max_moved_fraction = 0.0;
  ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, cs, 1));
  ids = {1, 2, 3, 4, 5, 6, 7, 8};
  far.assign(ids.size(), 2.0 * cache.movement_threshold());
  cache.record_movement(ids.data(), far.data(), ids.size());
  EXPECT_FALSE(cache.needs_refresh());
  const row_id r9 = 9;
  cache.record_movement(&r9, &far[0], 1);
  EXPECT_TRUE(cache.needs_refresh());
}

TEST(CandidateCache, DeltaIsTheLargestRungThatFitsTheRatio) {
  // delta is the first of 0.5 xbar, 0.3 xbar, 0.18 xbar, ... whose probe (64 evenly spaced samples) has at
  // most max_candidate_ratio cached pairs per firing pair; reproduced here from brute-force values.
  const int d = 16;
  const std::size_t m = 2000, n = 640;
  const std::vector<float> W = gaussian_rows(m * d, 41);
  const std::vector<float> X = sphere(n, d, 42);
  HalfSpaceIndex index(W.data(), m, d, one_thread(Backend::Scan));
  const float b = 2.0f;
  const Bound bound(index, X, n);
  const std::vector<float> z = all_values(index, X, n);
  const std::size_t np = CandidateCache::kProbeSamples;
  auto probe_count = [&](float t) {
    double c = 0.0;
    for (std::size_t k = 0; k < np; ++k)
      for (std::size_t r = 0; r < m; ++r) c += z[(k * n / np) * m + r] > t;
    return c;
  };
  const double firing = std::max(1.0, probe_count(b));
  std::vector<double> deltas;
  for (const double ratio : {8.0, 4.0, 2.0, 1.3}) {
    CacheSettings cs;
    cs.max_candidate_ratio = ratio;
    CandidateCache cache;
    ASSERT_TRUE(cache.rebuild(index, b, X.data(), n, cs, 1));
    EXPECT_EQ(cache.probe_firing(), probe_count(b) / static_cast<double>(np));
    double expected = 0.5 * bound.xbar;
    while (probe_count(lowered(b, expected)) > ratio * firing) expected *= 0.6;
    EXPECT_NEAR(cache.delta(), expected, 1e-12 * expected) << "ratio " << ratio;
    deltas.push_back(cache.delta());
  }
  EXPECT_GT(deltas.front(), deltas.back()) << "the ratios should pick different rungs";
  // A fixed delta is taken as given, raised to the rounding floor.
  CacheSettings cs;
  cs.fixed_delta = 0.05;
  CandidateCache cache;
  ASSERT_TRUE(cache.rebuild(index, b, X.data(), n, cs, 1));
  EXPECT_EQ(cache.delta(), 0.05);
  cs.fixed_delta = 1e-30;
  ASSERT_TRUE(cache.rebuild(index, b, X.data(), n, cs, 1));
  EXPECT_GT(cache.delta(), 1e-30);
  EXPECT_GE(cache.delta(), 4.0 * bound.slack(0) * (1.0 - 1e-9));  // at least 4x the rounding slack
}

TEST(CandidateCache, RefusesWhatDoesNotFitTheBudget) {
  // Rows clustered around a direction c: samples along -c are quiet (no candidates), samples along +c busy
  // (every neuron within delta). The probe (every 10th of 640 samples) sees only quiet samples, so the
  // estimate fits a small budget; the real lists outgrow it while filling and the build is refused.
  const int d = 8;
  const std::size_t m = 2048, n = 640;
  std::vector<float> W = gaussian_rows(m * d, 51, 0.01);
  for (std::size_t r = 0; r < m; ++r) W[r * d] += 1.0f;  // c = e_0
  std::vector<float> X(n * d, 0.0f);
  for (std::size_t i = 0; i < n; ++i) X[i * d] = i % 10 == 0 ? -1.0f : 1.0f;
  HalfSpaceIndex index(W.data(), m, d, one_thread(Backend::Scan));
  CacheSettings cs;
  cs.fixed_delta = 0.1;
  const float b = 1.0f;  // busy samples: <w, x> = 1 +- 0.03, all within 0.1 of b
  CandidateCache cache;
  ASSERT_TRUE(cache.rebuild(index, b, X.data(), n, cs, 1));  // a large budget: fits
  const std::size_t full = cache.memory_bytes();
  EXPECT_GT(full, static_cast<std::size_t>(0.9 * m * n * 6));  // nine in ten samples hold every neuron
  cs.budget_bytes = 200000;  // the probe's estimate (~30 kB) fits; the lists (~7 MB) do not
  ASSERT_LT(cs.budget_bytes, full);
  EXPECT_FALSE(cache.rebuild(index, b, X.data(), n, cs, 1));
  EXPECT_FALSE(cache.valid());
  EXPECT_EQ(cache.samples(), 0u);
  EXPECT_LT(cache.memory_bytes(), cs.budget_bytes) << "a refused build must let go of its lists";
  // Refused up front: a budget below even the per-sample and per-neuron arrays.
  cs.fixed_delta = 0.0;
  cs.budget_bytes = 1000;
  EXPECT_FALSE(cache.rebuild(index, b, X.data(), n, cs, 1));
  EXPECT_FALSE(cache.valid());
  // No samples, or rows near FLT_MAX (no finite rounding slack): no cache.
  EXPECT_FALSE(cache.rebuild(index, b, X.data(), 0, CacheSettings{}, 1));
  std::vector<float> huge = W;
  huge[5 * d + 3] = 2e38f;
  HalfSpaceIndex huge_index(huge.data(), m, d, one_thread(Backend::Scan));
  EXPECT_FALSE(cache.rebuild(huge_index, b, X.data(), n, CacheSettings{}, 1));
  EXPECT_FALSE(cache.valid());
}

TEST(CandidateCache, StaysWithinTheBudgetItAccepted) {
  // The smallest budget a build accepts (found by bisection): the cache it builds holds no more than that.
  const int d = 16;
  const std::size_t m = 1500, n = 900;
  const std::vector<float> W = gaussian_rows(m * d, 61);
  const std::vector<float> X = sphere(n, d, 62);
  HalfSpaceIndex index(W.data(), m, d, one_thread(Backend::Scan));
  CacheSettings cs;
  cs.fixed_delta = 0.3;
  CandidateCache cache;
  std::size_t lo = 1000, hi = std::size_t{1} << 26;
  ASSERT_FALSE((cs.budget_bytes = lo, cache.rebuild(index, 2.0f, X.data(), n, cs, 1)));
  ASSERT_TRUE((cs.budget_bytes = hi, cache.rebuild(index, 2.0f, X.data(), n, cs, 1)));
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    cs.budget_bytes = mid;
    (cache.rebuild(index, 2.0f, X.data(), n, cs, 1) ? hi : lo) = mid;
  }
  cs.budget_bytes = hi;
  ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, cs, 1));
  EXPECT_LE(cache.memory_bytes(), hi);
}

TEST(CandidateCache, ChunksAreStoredAtTheirExactSize) {
  // memory_bytes() = 16 n (input norms, offsets) + 9 m (movement, flags) + 6 per cached pair + per chunk its
  // header and one extra offset, with no slack from growth: the remainder is a whole number of chunks,
  // between n / kMaxChunk and n / kMinChunk of them, each small enough that the build's scratch stays
  // within a quarter of the cache (up to the probe's estimate of the pairs).
  const int d = 24;
  const std::size_t m = 2048, n = 2500;
  const std::vector<float> W = gaussian_rows(m * d, 71);
  const std::vector<float> X = sphere(n, d, 72);
  HalfSpaceIndex index(W.data(), m, d, one_thread(Backend::Scan));
  for (const Backend backend : {Backend::Scan, Backend::Gemm}) {
    CandidateCache cache;
    ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, CacheSettings{}, 1, backend));
    const double pairs_d = cache.mean_cached() * static_cast<double>(n);
    const std::size_t pairs = static_cast<std::size_t>(std::llround(pairs_d));
    ASSERT_NEAR(pairs_d, static_cast<double>(pairs), 1e-6);
    const std::size_t base = n * (sizeof(std::int64_t) + sizeof(double)) + m * (sizeof(double) + 1) +
                             pairs * (sizeof(row_id) + sizeof(std::uint16_t));
    const std::size_t per_chunk = 3 * sizeof(std::vector<std::int64_t>) + sizeof(std::int64_t);
    const std::size_t bytes = cache.memory_bytes();
    ASSERT_GE(bytes, base);
    EXPECT_EQ((bytes - base) % per_chunk, 0u) << "vectors hold more than their size";
    const std::size_t chunks = (bytes - base) / per_chunk;
    EXPECT_GE(chunks, (n + CandidateCache::kMaxChunk - 1) / CandidateCache::kMaxChunk);
    EXPECT_LE(chunks, (n + CandidateCache::kMinChunk - 1) / CandidateCache::kMinChunk);
    EXPECT_GT(chunks, 1u) << "the test wants several chunks";
    const double chunk = std::ceil(static_cast<double>(n) / static_cast<double>(chunks));
    const double scratch = chunk * std::max(cache.mean_cached(), 1.0) * CandidateCache::kBuildBytesPerPair;
    EXPECT_LE(scratch, 0.25 * static_cast<double>(base) * 1.5);
    // The same build again holds the same bytes (nothing kept from the previous one).
    ASSERT_TRUE(cache.rebuild(index, 2.0f, X.data(), n, CacheSettings{}, 1, backend));
    EXPECT_EQ(cache.memory_bytes(), bytes);
  }
}

}  // namespace
