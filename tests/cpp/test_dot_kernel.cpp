// The reference inner product: its documented evaluation order, the 8-row kernel's bitwise agreement with
// it, and the rounding bound every margin in the library is built on.
#include <cfloat>

#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "test_util.hpp"

namespace {

using hsrtest::gaussian;

std::vector<int> dims_under_test() {
  std::vector<int> dims;
  for (int d = 1; d <= 40; ++d) dims.push_back(d);
  for (int d : {63, 64, 65, 128, 784}) dims.push_back(d);
  return dims;
}

// Wide exponent spread: sums of such terms depend on the order of evaluation, so a kernel that summed in
// another order would disagree in the last bits instead of agreeing by luck.
std::vector<float> spread_values(std::mt19937_64& rng, std::size_t n) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_int_distribution<int> e(-12, 12);
  std::vector<float> v(n);
  for (float& f : v) f = std::ldexp(g(rng), e(rng));
  return v;
}

// Bit pattern with -0 mapped to +0: the contract leaves the sign of a zero result open.
std::uint32_t bits_of(float f) {
  if (f == 0.0f) f = 0.0f;
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Scalar transcription of the order documented in dot_kernel.hpp.
float documented_order_dot(const float* w, const float* x, int d) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < d; ++i) p[i % 8] = std::fma(w[i], x[i], p[i % 8]);
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

long double exact_dot(const float* w, const float* x, int d, long double* abs_sum) {
  long double s = 0.0L, a = 0.0L;
  for (int i = 0; i < d; ++i) {
    const long double t = static_cast<long double>(w[i]) * static_cast<long double>(x[i]);  // exact
    s += t;
    a += std::fabs(t);
  }
  if (abs_sum) *abs_sum = a;
  return s;
}

TEST(PaddedStride, DocumentedValues) {
  EXPECT_EQ(hsrnet::padded_stride(1), 1);
  EXPECT_EQ(hsrnet::padded_stride(2), 2);
  EXPECT_EQ(hsrnet::padded_stride(3), 3);  // the paper's d = 3: padding to 4 would cost a third more memory
  EXPECT_EQ(hsrnet::padded_stride(4), 4);
  for (int d = 5; d <= 8; ++d) EXPECT_EQ(hsrnet::padded_stride(d), 8) << d;
  EXPECT_EQ(hsrnet::padded_stride(9), 16);
  EXPECT_EQ(hsrnet::padded_stride(16), 16);
  EXPECT_EQ(hsrnet::padded_stride(17), 24);
  EXPECT_EQ(hsrnet::padded_stride(784), 784);
  EXPECT_EQ(hsrnet::padded_stride(785), 792);
  for (int d = 1; d <= 1000; ++d) {
    const int s = hsrnet::padded_stride(d);
    EXPECT_GE(s, d);
    // d <= 4 is unpadded (eight rows are 1..4 whole vectors); other strides must be multiples of 8: the 8-row
    // kernel loads 8 floats of a row at a time.
    if (d <= 4) {
      EXPECT_EQ(s, d);
    } else {
      EXPECT_EQ(s % 8, 0) << d;
    }
  }
}

TEST(ReferenceDot, FollowsDocumentedOrder) {
  std::mt19937_64 rng(1);
  for (int d : dims_under_test()) {
    for (int trial = 0; trial < 40; ++trial) {
      const std::vector<float> w = spread_values(rng, d), x = spread_values(rng, d);
      const float got = hsrnet::reference_dot(w.data(), x.data(), d);
      const float want = documented_order_dot(w.data(), x.data(), d);
      ASSERT_EQ(bits_of(got), bits_of(want)) << "d = " << d << " trial " << trial << ": " << got << " vs " << want;
    }
  }
}

TEST(ReferenceDot, ReadsExactlyDFloats) {
  // Values past d must not leak in: the brute force in every other test hands reference_dot compact rows.
  std::mt19937_64 rng(2);
  for (int d : dims_under_test()) {
    std::vector<float> w = gaussian(rng, d + 8), x = gaussian(rng, d + 8);
    const float a = hsrnet::reference_dot(w.data(), x.data(), d);
    for (int i = d; i < d + 8; ++i) w[i] = x[i] = 1e30f;
    EXPECT_EQ(bits_of(a), bits_of(hsrnet::reference_dot(w.data(), x.data(), d))) << d;
  }
}

TEST(ReferenceDotRows8, BitwiseEqualToReferenceDot) {
  std::mt19937_64 rng(3);
  for (int d : dims_under_test()) {
    const int stride = hsrnet::padded_stride(d);
    for (int trial = 0; trial < 40; ++trial) {
      // Eight rows in index layout (zero padding between d and stride) and a zero-padded query.
      std::vector<float> rows(8 * static_cast<std::size_t>(stride), 0.0f), x(stride, 0.0f);
      std::vector<float> compact = trial % 2 ? spread_values(rng, 8 * d) : gaussian(rng, 8 * d);
      for (int k = 0; k < 8; ++k) std::copy_n(compact.data() + k * d, d, rows.data() + k * stride);
      const std::vector<float> xv = trial % 3 ? spread_values(rng, d) : gaussian(rng, d);
      std::copy(xv.begin(), xv.end(), x.begin());
      if (trial == 0) std::fill_n(rows.data() + 3 * stride, d, 0.0f);  // an all-zero row
      alignas(32) float out[8];
      hsrnet::reference_dot_rows8(rows.data(), stride, x.data(), out);
      for (int k = 0; k < 8; ++k) {
        const float want = hsrnet::reference_dot(rows.data() + k * stride, xv.data(), d);
        ASSERT_EQ(bits_of(out[k]), bits_of(want)) << "d = " << d << " stride " << stride << " trial " << trial
                                                  << " row " << k << ": " << out[k] << " vs " << want;
      }
    }
  }
}

TEST(ReferenceDotRows8, UnalignedRowsAndQuery) {
  // The kernel uses unaligned loads; a misaligned block must give the same answers.
  std::mt19937_64 rng(4);
  for (int d : {1, 2, 3, 4, 7, 9, 33}) {
    const int stride = hsrnet::padded_stride(d);
    std::vector<float> buf(8 * static_cast<std::size_t>(stride) + 1, 0.0f), xbuf(stride + 1, 0.0f);
    float* rows = buf.data() + 1;
    float* x = xbuf.data() + 1;
    const std::vector<float> compact = spread_values(rng, 8 * d), xv = spread_values(rng, d);
    for (int k = 0; k < 8; ++k) std::copy_n(compact.data() + k * d, d, rows + k * stride);
    std::copy(xv.begin(), xv.end(), x);
    float out[9];
    hsrnet::reference_dot_rows8(rows, stride, x, out + 1);
    for (int k = 0; k < 8; ++k)
      EXPECT_EQ(bits_of(out[k + 1]), bits_of(hsrnet::reference_dot(compact.data() + k * d, xv.data(), d))) << d;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stride 3: eight unpadded rows are three vectors whose lanes mix coordinates, so the kernel shuffles. These
// pin it to reference_dot on the inputs where a shuffle or summation-order slip would show.

// rows8 at stride 3 on eight compact rows against reference_dot and the scalar transcription of the order.
// NaN results need only agree as NaN (no comparison "> b" can see a payload).
::testing::AssertionResult stride3_matches(const float* rows, const float* x) {
  alignas(32) float out[8];
  hsrnet::reference_dot_rows8(rows, 3, x, out);
  for (int k = 0; k < 8; ++k) {
    const float want = hsrnet::reference_dot(rows + 3 * k, x, 3), doc = documented_order_dot(rows + 3 * k, x, 3);
    const bool same = std::isnan(want) ? std::isnan(out[k]) && std::isnan(doc)
                                       : bits_of(out[k]) == bits_of(want) && bits_of(doc) == bits_of(want);
    if (!same)
      return ::testing::AssertionFailure()
             << "row " << k << " (" << rows[3 * k] << ", " << rows[3 * k + 1] << ", " << rows[3 * k + 2] << ") . ("
             << x[0] << ", " << x[1] << ", " << x[2] << "): kernel " << out[k] << ", reference_dot " << want
             << ", documented order " << doc;
  }
  return ::testing::AssertionSuccess();
}

// The eight rows of `pool` (3 floats each) starting at row `first`, cyclically: every row visits every slot.
std::vector<float> rotated_block(const std::vector<std::vector<float>>& pool, std::size_t first) {
  std::vector<float> rows;
  for (std::size_t k = 0; k < 8; ++k) {
    const std::vector<float>& w = pool[(first + k) % pool.size()];
    rows.insert(rows.end(), w.begin(), w.end());
  }
  return rows;
}

TEST(ReferenceDotRows8Stride3, RandomRows) {
  std::mt19937_64 rng(6);
  for (int trial = 0; trial < 2000; ++trial) {
    const std::vector<float> rows = trial % 2 ? spread_values(rng, 24) : gaussian(rng, 24);
    const std::vector<float> x = trial % 3 ? spread_values(rng, 3) : gaussian(rng, 3);
    ASSERT_TRUE(stride3_matches(rows.data(), x.data())) << "trial " << trial;
  }
}

TEST(ReferenceDotRows8Stride3, SummationOrder) {
  // With x = (1, 1, 1), 1 + 2^-24 rounds to 1 (a tie, to even) while 2^-24 + 2^-24 + 1 does not: each row
  // below has a different value under every association but ((p0 + p1) + p2).
  const float e = 0x1.0p-24f;
  const std::vector<std::vector<float>> pool = {{1, e, e},  {e, e, 1},  {e, 1, e},     {-1, e, e},
                                                {e, e, -1}, {e, -1, e}, {3, e, 2 * e}, {2 * e, e, 3}};
  const float x[3] = {1, 1, 1};
  for (std::size_t first = 0; first < pool.size(); ++first) {
    const std::vector<float> rows = rotated_block(pool, first);
    ASSERT_TRUE(stride3_matches(rows.data(), x)) << "rotation " << first;
  }
  alignas(32) float out[8];
  const std::vector<float> rows = rotated_block(pool, 0);
  hsrnet::reference_dot_rows8(rows.data(), 3, x, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f + 2 * e);
  EXPECT_EQ(out[2], 1.0f);
}

TEST(ReferenceDotRows8Stride3, DyadicTiesAtThreshold) {
  // Small integers times powers of two: every dot is exact, so b can equal a row's dot exactly.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    const float scale = std::ldexp(1.0f, trial % 7 - 3);
    const std::vector<float> rows = hsrtest::small_ints(rng, 24, -4, 4, scale), x = hsrtest::small_ints(rng, 3, -3, 3);
    ASSERT_TRUE(stride3_matches(rows.data(), x.data())) << "trial " << trial;
    alignas(32) float out[8];
    hsrnet::reference_dot_rows8(rows.data(), 3, x.data(), out);
    const int k = trial % 8;
    const float b = hsrnet::reference_dot(rows.data() + 3 * k, x.data(), 3);
    EXPECT_FALSE(out[k] > b) << "a dot equal to b is not > b";
    EXPECT_TRUE(out[k] > hsrtest::next_down(b));
  }
}

TEST(ReferenceDotRows8Stride3, SignedZeros) {
  // Every sign pattern of zero rows against every sign pattern of zero and nonzero queries.
  std::vector<std::vector<float>> pool;
  for (int signs = 0; signs < 8; ++signs)
    pool.push_back({signs & 1 ? -0.0f : 0.0f, signs & 2 ? -0.0f : 0.0f, signs & 4 ? -0.0f : 0.0f});
  const float xs[][3] = {{0.0f, 0.0f, 0.0f}, {-0.0f, -0.0f, -0.0f}, {-0.0f, 0.0f, 1.0f}, {-2.0f, 3.0f, -0.5f}};
  for (std::size_t first = 0; first < pool.size(); ++first)
    for (const auto& x : xs) {
      const std::vector<float> rows = rotated_block(pool, first);
      ASSERT_TRUE(stride3_matches(rows.data(), x));
      alignas(32) float out[8];
      hsrnet::reference_dot_rows8(rows.data(), 3, x, out);
      for (float v : out) {
        EXPECT_EQ(v, 0.0f);
        EXPECT_FALSE(v > 0.0f);
        EXPECT_TRUE(v > -std::numeric_limits<float>::denorm_min());
      }
    }
  // Opposite terms that cancel to zero, and -0 terms next to nonzero ones.
  const std::vector<std::vector<float>> mixed = {
      {1, -1, 0},       {-0.0f, 2, -0.0f}, {5, -0.0f, -5},           {-0.0f, -0.0f, 7},
      {0.5f, 0.5f, -1}, {-3, 0, 3},        {1e-30f, -1e-30f, -0.0f}, {0, 0, -0.0f}};
  const float x1[3] = {1, 1, 1}, x2[3] = {-0.0f, 2, 1};
  for (std::size_t first = 0; first < mixed.size(); ++first) {
    ASSERT_TRUE(stride3_matches(rotated_block(mixed, first).data(), x1));
    ASSERT_TRUE(stride3_matches(rotated_block(mixed, first).data(), x2));
  }
}

TEST(ReferenceDotRows8Stride3, Subnormals) {
  std::mt19937_64 rng(8);
  const float tiny = std::numeric_limits<float>::denorm_min();
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<float> rows, x;
    switch (trial % 3) {
      case 0: rows = gaussian(rng, 24, 1e-20f), x = gaussian(rng, 3, 1e-19f); break;   // subnormal products
      case 1: rows = gaussian(rng, 24, 1e-39f), x = gaussian(rng, 3, 3.0f); break;     // subnormal rows
      default: rows = gaussian(rng, 24, 1e-30f), x = gaussian(rng, 3, 1e-20f); break;  // products underflow
    }
    if (trial % 5 == 0) rows[trial % 24] = (trial % 2 ? -1.0f : 1.0f) * tiny;
    ASSERT_TRUE(stride3_matches(rows.data(), x.data())) << "trial " << trial;
  }
}

TEST(ReferenceDotRows8Stride3, HugeValuesOverflowAlike) {
  // Products and partial sums beyond FLT_MAX: +inf, -inf, and NaN where lanes overflow in opposite directions.
  const float big = std::numeric_limits<float>::max(), inf = std::numeric_limits<float>::infinity();
  const std::vector<std::vector<float>> pool = {{big, big, 0},      {big, -big, big}, {3e38f, -2e38f, 1},
                                                {-big, -big, -big}, {big, 1, -1},     {1e38f, 1e38f, 1e38f},
                                                {big, -big, 0},     {inf, 1, 2}};
  const float xs[][3] = {{1, 1, 1}, {2, 2, 2}, {-1, 2, 0.5f}, {0, 1, 1}, {0.5f, 0.5f, 0.5f}};
  std::size_t non_finite = 0;
  for (std::size_t first = 0; first < pool.size(); ++first)
    for (const auto& x : xs) {
      const std::vector<float> rows = rotated_block(pool, first);
      ASSERT_TRUE(stride3_matches(rows.data(), x)) << "rotation " << first;
      for (int k = 0; k < 8; ++k) non_finite += !std::isfinite(hsrnet::reference_dot(rows.data() + 3 * k, x, 3));
    }
  EXPECT_GT(non_finite, 50u) << "the cases must overflow to be meaningful";
}

TEST(ReferenceDotRows8Stride3, NaNDoesNotCrash) {
  // The index rejects NaN, but the kernel must still behave like the reference on it: NaN, never > b.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 48; ++trial) {
    std::vector<float> rows = gaussian(rng, 24), x = gaussian(rng, 3);
    if (trial < 24)
      rows[trial] = nan;
    else
      x[trial % 3] = nan;
    ASSERT_TRUE(stride3_matches(rows.data(), x.data())) << "trial " << trial;
    alignas(32) float out[8];
    hsrnet::reference_dot_rows8(rows.data(), 3, x.data(), out);
    EXPECT_TRUE(std::isnan(out[trial < 24 ? trial / 3 : 0]));
  }
}

#if defined(__unix__)
TEST(ReferenceDotRows8Stride3, ReadsExactlyTheBlockAndThreeQueryFloats) {
  // The block and the query end right before an inaccessible page: reading a float past either faults.
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  char* base = static_cast<char*>(mem);
  ASSERT_EQ(mprotect(base + page, page, PROT_NONE), 0);
  float* rows = reinterpret_cast<float*>(base + page) - 24;
  float* x = rows - 3;  // the query directly below the rows, as in a padded batch
  std::mt19937_64 rng(10);
  const std::vector<float> r = spread_values(rng, 24), xv = spread_values(rng, 3);
  std::copy(r.begin(), r.end(), rows);
  std::copy(xv.begin(), xv.end(), x);
  EXPECT_TRUE(stride3_matches(rows, x));
  float* x_last = reinterpret_cast<float*>(base + page) - 3;  // now the query is last
  std::copy(r.begin(), r.end(), x_last - 24);
  std::copy(xv.begin(), xv.end(), x_last);
  EXPECT_TRUE(stride3_matches(x_last - 24, x_last));
  munmap(mem, 2 * page);
}
#endif

TEST(ReferenceDot, WithinDocumentedErrorBound) {
  std::mt19937_64 rng(5);
  std::size_t inexact = 0;
  for (int d : dims_under_test()) {
    const double coef = hsrnet::dot_error_coefficient(d), floor_abs = hsrnet::dot_error_floor(d);
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<float> w, x;
      switch (trial % 4) {
        case 0: w = gaussian(rng, d), x = gaussian(rng, d); break;
        case 1: w = spread_values(rng, d), x = spread_values(rng, d); break;
        case 2: {  // heavy cancellation: pairs of nearly opposite terms
          w = gaussian(rng, d), x = gaussian(rng, d);
          for (int i = 1; i < d; i += 2) w[i] = -w[i - 1] * (1.0f + 1e-3f * static_cast<float>(i)), x[i] = x[i - 1];
          break;
        }
        default: {  // products in the subnormal range, where only the absolute floor holds
          w = gaussian(rng, d, 1e-20f), x = gaussian(rng, d, 1e-19f);
          break;
        }
      }
      long double abs_sum = 0.0L;
      const long double exact = exact_dot(w.data(), x.data(), d, &abs_sum);
      const float got = hsrnet::reference_dot(w.data(), x.data(), d);
      const long double err = std::fabs(static_cast<long double>(got) - exact);
      const long double bound = static_cast<long double>(coef) * abs_sum + static_cast<long double>(floor_abs);
      if (err > 0) ++inexact;
      ASSERT_LE(err, bound) << "d = " << d << " trial " << trial << " computed " << got << " exact "
                            << static_cast<double>(exact);
    }
  }
  // Otherwise the bound was never put under load.
  EXPECT_GT(inexact, 100u);
}

TEST(ReferenceDot, ErrorConstantsAreSane) {
  const double u = std::ldexp(1.0, -24);
  for (int d = 1; d <= 4096; d *= 2) {
    // At least gamma_{d} (one rounding per term), growing with d, and positive floors.
    EXPECT_GE(hsrnet::dot_error_coefficient(d), d * u) << d;
    EXPECT_GT(hsrnet::dot_error_coefficient(2 * d), hsrnet::dot_error_coefficient(d));
    EXPECT_GE(hsrnet::dot_error_floor(d), d * static_cast<double>(FLT_MIN));
  }
}

TEST(CpuFeatures, ThisMachineRunsTheKernels) {
  // These tests are compiled with -mavx2 -mfma; if the check said no, it would be lying or we'd be dead.
  EXPECT_TRUE(hsrnet::cpu_supports_avx2_fma());
}

}  // namespace

namespace {

// Four rows of d <= 4 floats read with one 128-bit load each; whatever follows a row (here NaN, infinity or
// another row) must not leak into the result.
TEST(ReferenceDot4Short, BitwiseEqualToReferenceDot) {
  std::mt19937_64 rng(12);
  const float junk[3] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 7.0f};
  for (int d = 1; d <= 4; ++d) {
    alignas(16) std::int32_t keep_bits[4] = {0, 0, 0, 0};
    for (int c = 0; c < d; ++c) keep_bits[c] = -1;
    const __m128 keep = _mm_load_ps(reinterpret_cast<const float*>(keep_bits));
    for (int trial = 0; trial < 3000; ++trial) {
      std::vector<float> rows = trial % 2 ? spread_values(rng, 4 * 4) : gaussian(rng, 4 * 4);  // 4 floats per row
      for (int r = 0; r < 4; ++r)
        for (int c = d; c < 4; ++c) rows[r * 4 + c] = junk[(trial + r + c) % 3];
      std::vector<float> x = trial % 3 ? spread_values(rng, d) : gaussian(rng, d);
      if (trial % 5 == 0) x[trial % d] = 0.0f;
      alignas(16) float xp[4] = {0, 0, 0, 0}, out[4];
      std::copy(x.begin(), x.end(), xp);
      _mm_store_ps(out,
                   hsrnet::reference_dot4_short(_mm_loadu_ps(&rows[0]), _mm_loadu_ps(&rows[4]), _mm_loadu_ps(&rows[8]),
                                                _mm_loadu_ps(&rows[12]), _mm_load_ps(xp), keep));
      for (int r = 0; r < 4; ++r) {
        const float want = hsrnet::reference_dot(&rows[r * 4], x.data(), d);
        ASSERT_TRUE(out[r] == want || (std::isnan(out[r]) && std::isnan(want)))
            << "d " << d << " trial " << trial << " row " << r << ": " << out[r] << " vs " << want;
      }
    }
  }
}

}  // namespace

namespace {

// One padded row against four or eight padded vectors (the trainer's per-neuron pre-activations).
TEST(ReferenceDotRow, BitwiseEqualToReferenceDotForPaddedRows) {
  std::mt19937_64 rng(13);
  for (int d : {5, 8, 9, 16, 17, 63, 64, 100, 785}) {
    const int stride = hsrnet::padded_stride(d);
    for (int trial = 0; trial < 200; ++trial) {
      auto padded = [&](std::vector<float> v) {
        v.resize(stride, 0.0f);
        return v;
      };
      const std::vector<float> w = padded(trial % 2 ? spread_values(rng, d) : gaussian(rng, d));
      std::vector<std::vector<float>> xs;
      for (int k = 0; k < 8; ++k) xs.push_back(padded(trial % 3 ? spread_values(rng, d) : gaussian(rng, d)));
      const float* p8[8];
      for (int k = 0; k < 8; ++k) p8[k] = xs[k].data();
      float out8[8], out4[4];
      hsrnet::reference_dot_row<8>(w.data(), p8, stride, out8);
      hsrnet::reference_dot_row<4>(w.data(), p8 + 2, stride, out4);
      for (int k = 0; k < 8; ++k) {
        const float want = hsrnet::reference_dot(w.data(), xs[k].data(), d);
        ASSERT_TRUE(out8[k] == want || (std::isnan(out8[k]) && std::isnan(want))) << "d " << d << " k " << k;
        if (k >= 2 && k < 6) {
          ASSERT_TRUE(out4[k - 2] == want || (std::isnan(out4[k - 2]) && std::isnan(want))) << "d " << d << " k " << k;
        }
      }
    }
  }
}

TEST(ReferenceDotBlock43, BitwiseEqualToReferenceDotForPaddedRows) {
  std::mt19937_64 rng(14);
  for (int d : {5, 8, 9, 16, 17, 63, 64, 100, 785}) {
    const int stride = hsrnet::padded_stride(d);
    auto padded = [&](std::vector<float> v) {
      v.resize(stride, 0.0f);
      return v;
    };
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<std::vector<float>> ws, xs;
      for (int k = 0; k < 4; ++k) ws.push_back(padded(trial % 2 ? spread_values(rng, d) : gaussian(rng, d)));
      for (int k = 0; k < 3; ++k) xs.push_back(padded(trial % 3 ? spread_values(rng, d) : gaussian(rng, d)));
      const float* pw[4] = {ws[0].data(), ws[1].data(), ws[2].data(), ws[3].data()};
      const float* px[3] = {xs[0].data(), xs[1].data(), xs[2].data()};
      float out[12];
      hsrnet::reference_dot_block43(pw, px, stride, out);
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 3; ++c) {
          const float want = hsrnet::reference_dot(ws[r].data(), xs[c].data(), d), got = out[3 * r + c];
          ASSERT_TRUE(got == want || (std::isnan(got) && std::isnan(want)))
              << "d " << d << " trial " << trial << " row " << r << " input " << c << ": " << got << " vs " << want;
        }
    }
  }
}

}  // namespace
