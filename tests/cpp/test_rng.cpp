// Reproducible random numbers (rng.hpp) and the portable log/exp/pow they rest on (portable_math.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include "hsrnet/kernels/portable_math.hpp"
#include "hsrnet/net/rng.hpp"

namespace {

using hsrnet::Rng;
using hsrnet::SplitMix64;

double ulps(double a, double b) {
  if (a == b) return 0.0;
  return std::fabs(a - b) / std::fabs(std::nextafter(b, 2.0 * b + 1.0) - b);
}

TEST(SplitMix64, MatchesReferenceOutputs) {
  // Published reference values of splitmix64 for seed 1234567.
  SplitMix64 sm(1234567);
  EXPECT_EQ(sm.next(), 6457827717110365317ULL);
  EXPECT_EQ(sm.next(), 3203168211198807973ULL);
  EXPECT_EQ(sm.next(), 9817491932198370423ULL);
}

TEST(Rng, GoldenIntegers) {
  // Golden values, cross-checked with an independent Python implementation of xoshiro256**.
  Rng r0(0);
  EXPECT_EQ(r0.next(), 11091344671253066420ULL);
  EXPECT_EQ(r0.next(), 13793997310169335082ULL);
  EXPECT_EQ(r0.next(), 1900383378846508768ULL);
  EXPECT_EQ(r0.next(), 7684712102626143532ULL);
  Rng r42(42);
  EXPECT_EQ(r42.next(), 1546998764402558742ULL);
  EXPECT_EQ(r42.next(), 6990951692964543102ULL);
  Rng s7(42, 7);
  EXPECT_EQ(s7.next(), 14592345140034993571ULL);
  EXPECT_EQ(s7.next(), 1063534867044168060ULL);
}

TEST(Rng, GoldenNormals) {
  // Exact bits: only IEEE-exact operations and portable::log are involved, so these hold everywhere.
  Rng r(2024);
  const double expected[6] = {0x1.9356a7a1bbe22p-1,  -0x1.7809adf637526p-1, -0x1.45648f30d6b8ep-1,
                              -0x1.7625de4f985f6p+0, 0x1.430bd816b81ecp-4,  -0x1.3f86cda88b535p-1};
  for (double e : expected) EXPECT_EQ(r.normal(), e);
}

TEST(Rng, SeedsAndStreamsDiffer) {
  Rng a(1), b(2), c(1, 1), d(1);
  const auto x = a.next(), y = b.next(), z = c.next(), w = d.next();
  EXPECT_NE(x, y);
  EXPECT_NE(x, z);
  EXPECT_EQ(x, w);
  Rng na(1), nb(2);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += na.normal() == nb.normal();
  EXPECT_EQ(same, 0);
}

TEST(Rng, UniformRangeAndMean) {
  Rng r(5);
  double sum = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 5.0 * std::sqrt(1.0 / 12.0 / n));
}

TEST(Rng, BelowIsUnbiased) {
  Rng r(9);
  const std::uint64_t k = 7;
  std::vector<int> count(k, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t v = r.below(k);
    ASSERT_LT(v, k);
    ++count[v];
  }
  double chi2 = 0.0;
  for (int c : count) chi2 += (c - n / 7.0) * (c - n / 7.0) / (n / 7.0);
  EXPECT_LT(chi2, 30.0);  // 6 degrees of freedom: p < 1e-4
  EXPECT_EQ(Rng(3).below(1), 0u);
}

TEST(Rng, NormalMomentsAndTails) {
  Rng r(11);
  const int n = 400000;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  int tail = 0;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    s1 += z, s2 += z * z, s3 += z * z * z, s4 += z * z * z * z;
    tail += std::fabs(z) > 2.0;
  }
  EXPECT_NEAR(s1 / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(s2 / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(s3 / n, 0.0, 5.0 * std::sqrt(15.0 / n));
  EXPECT_NEAR(s4 / n, 3.0, 5.0 * std::sqrt(96.0 / n));
  const double p = std::erfc(2.0 / std::sqrt(2.0));  // P(|Z| > 2) = 0.0455
  EXPECT_NEAR(static_cast<double>(tail) / n, p, 5.0 * std::sqrt(p * (1 - p) / n));
}

TEST(Rng, SignIsBalanced) {
  Rng r(13);
  int plus = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float s = r.sign();
    ASSERT_TRUE(s == 1.0f || s == -1.0f);
    plus += s > 0;
  }
  EXPECT_NEAR(static_cast<double>(plus) / n, 0.5, 5.0 * 0.5 / std::sqrt(n));
}

TEST(Shuffle, PermutationDeterministicAndSeeded) {
  std::vector<int> a(1000), b(1000), c(1000);
  std::iota(a.begin(), a.end(), 0);
  b = c = a;
  Rng ra(1), rb(1), rc(2);
  hsrnet::shuffle(a.data(), a.size(), ra);
  hsrnet::shuffle(b.data(), b.size(), rb);
  hsrnet::shuffle(c.data(), c.size(), rc);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> s = a;
  std::sort(s.begin(), s.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(s[i], i);
  // Every position is equally likely for an element (first element's position over many shuffles).
  std::vector<int> pos(4, 0);
  Rng r(3);
  for (int t = 0; t < 40000; ++t) {
    int v[4] = {0, 1, 2, 3};
    hsrnet::shuffle(v, 4, r);
    ++pos[std::find(v, v + 4, 0) - v];
  }
  for (int p : pos) EXPECT_NEAR(p / 40000.0, 0.25, 0.015);
}

TEST(PortableMath, LogMatchesLibmWithinUlps) {
  Rng r(1);
  double worst = 0.0;
  for (int i = 0; i < 200000; ++i) {
    const double x = std::ldexp(r.uniform() + 0.5, static_cast<int>(r.below(2000)) - 1000);
    const double ref = std::log(x);
    if (ref != 0.0) worst = std::max(worst, ulps(hsrnet::portable::log(x), ref));
  }
  EXPECT_LE(worst, 4.0);
  EXPECT_EQ(hsrnet::portable::log(1.0), 0.0);
  EXPECT_TRUE(std::isinf(hsrnet::portable::log(0.0)));
  EXPECT_TRUE(std::isnan(hsrnet::portable::log(-1.0)));
  EXPECT_NEAR(hsrnet::portable::log(4.9e-324), std::log(4.9e-324), 1e-12);  // subnormal input
  // Golden bits.
  EXPECT_EQ(hsrnet::portable::log(2.0), 0x1.62e42fefa39efp-1);
  EXPECT_EQ(hsrnet::portable::log(10.0), 0x1.26bb1bbb55516p+1);
}

TEST(PortableMath, ExpAndPowMatchLibmWithinUlps) {
  Rng r(2);
  double worst = 0.0;
  for (int i = 0; i < 200000; ++i) {
    const double x = (r.uniform() * 2.0 - 1.0) * 700.0;
    worst = std::max(worst, ulps(hsrnet::portable::exp(x), std::exp(x)));
  }
  EXPECT_LE(worst, 4.0);
  EXPECT_EQ(hsrnet::portable::exp(0.0), 1.0);
  EXPECT_EQ(hsrnet::portable::exp(1.0), 0x1.5bf0a8b145769p+1);
  EXPECT_EQ(hsrnet::portable::exp(-3.5), 0x1.eec1018e4ff66p-6);
  EXPECT_TRUE(std::isinf(hsrnet::portable::exp(1000.0)));
  EXPECT_EQ(hsrnet::portable::exp(-1000.0), 0.0);
  EXPECT_NEAR(hsrnet::portable::exp(-740.0), std::exp(-740.0), 1e-323);  // subnormal result
  EXPECT_EQ(hsrnet::portable::pow(11.0, 0.5), 0x1.a887293fd6f35p+1);
  EXPECT_LE(ulps(hsrnet::portable::pow(3.0, 2.5), std::pow(3.0, 2.5)), 8.0);
  EXPECT_EQ(hsrnet::portable::pow(5.0, 0.0), 1.0);
}

}  // namespace
