// The reference inner product: its documented evaluation order, the 8-row kernel's bitwise agreement with
// it, and the rounding bound every margin in the library is built on.
#include <cfloat>

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
  EXPECT_EQ(hsrnet::padded_stride(3), 4);
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
    // Strides other than 1, 2, 4 must be multiples of 8: the 8-row kernel loads 8 floats at a time.
    if (s != 1 && s != 2 && s != 4) {
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
        ASSERT_EQ(bits_of(out[k]), bits_of(want))
            << "d = " << d << " stride " << stride << " trial " << trial << " row " << k << ": " << out[k] << " vs "
            << want;
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
