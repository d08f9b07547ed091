// log, exp and pow that give the same bits on every IEEE-754 platform.
//
// libm's log/exp are not correctly rounded and differ between C libraries (glibc, musl, macOS, MSVC), so a
// seed would not reproduce weights everywhere. These versions use only operations IEEE defines exactly
// (+, -, *, /, sqrt, fma, comparisons, bit manipulation of the representation). Every multiply-add is an
// explicit std::fma, so the result is also independent of the compiler's -ffp-contract setting.
// Accuracy is a few ulp, which is plenty for sampling, loss values and learning-rate schedules.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace hsrnet {
namespace portable {

namespace detail {

inline std::uint64_t bits_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline double from_bits(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
/// 2^e for e in [-1022, 1023] (a normal power of two), exact.
inline double pow2(int e) { return from_bits(static_cast<std::uint64_t>(e + 1023) << 52); }

// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11 (fdlibm's constants).
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;

}  // namespace detail

/// x * 2^e with IEEE multiplications only (two steps keep every factor a normal power of two).
inline double scale2(double x, int e) {
  while (e > 1023) x *= detail::pow2(1023), e -= 1023;
  while (e < -1022) {
    // Stop one step early near the subnormal range so the final multiply rounds once.
    if (e < -1022 - 52)
      x *= detail::pow2(-1022), e += 1022;
    else {
      x *= detail::pow2(e + 60);
      e = -60;
    }
  }
  return x * detail::pow2(e);
}

/// Natural logarithm.
inline double log(double x) {
  if (x != x || x < 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return -std::numeric_limits<double>::infinity();
  if (x == std::numeric_limits<double>::infinity()) return x;
  int e = 0;
  if (x < std::numeric_limits<double>::min()) {  // subnormal: make it normal first
    x *= detail::pow2(54);
    e = -54;
  }
  const std::uint64_t u = detail::bits_of(x);
  e += static_cast<int>((u >> 52) & 0x7ff) - 1023;
  double m = detail::from_bits((u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);  // [1, 2)
  if (m > 1.4142135623730951) {
    m *= 0.5;  // exact: now (0.7071, 1.4142]
    ++e;
  }
  // log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716; the series in s^2 <= 0.0295 converges to
  // below double precision within 12 terms.
  const double s = (m - 1.0) / (m + 1.0);  // m - 1 is exact (Sterbenz)
  const double s2 = s * s;
  double p = 1.0 / 25.0;
  p = std::fma(p, s2, 1.0 / 23.0);
  p = std::fma(p, s2, 1.0 / 21.0);
  p = std::fma(p, s2, 1.0 / 19.0);
  p = std::fma(p, s2, 1.0 / 17.0);
  p = std::fma(p, s2, 1.0 / 15.0);
  p = std::fma(p, s2, 1.0 / 13.0);
  p = std::fma(p, s2, 1.0 / 11.0);
  p = std::fma(p, s2, 1.0 / 9.0);
  p = std::fma(p, s2, 1.0 / 7.0);
  p = std::fma(p, s2, 1.0 / 5.0);
  p = std::fma(p, s2, 1.0 / 3.0);
  const double log_m = std::fma(2.0 * s * s2, p, 2.0 * s);  // 2s + 2s^3 p(s^2); 2*s is exact
  const double k = static_cast<double>(e);
  return std::fma(k, detail::kLn2Hi, std::fma(k, detail::kLn2Lo, log_m));
}

/// Exponential.
inline double exp(double x) {
  if (x != x) return x;
  if (x > 709.782712893384) return std::numeric_limits<double>::infinity();
  if (x < -745.1332191019412) return 0.0;
  // x = k ln2 + r with |r| <= ln2 / 2; exp(r) by its Taylor series (degree 13: error < 5e-18).
  const double k = std::floor(std::fma(x, 1.4426950408889634, 0.5));
  const double r = std::fma(-k, detail::kLn2Lo, std::fma(-k, detail::kLn2Hi, x));
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = std::fma(p, r, 1.0 / 479001600.0);
  p = std::fma(p, r, 1.0 / 39916800.0);
  p = std::fma(p, r, 1.0 / 3628800.0);
  p = std::fma(p, r, 1.0 / 362880.0);
  p = std::fma(p, r, 1.0 / 40320.0);
  p = std::fma(p, r, 1.0 / 5040.0);
  p = std::fma(p, r, 1.0 / 720.0);
  p = std::fma(p, r, 1.0 / 120.0);
  p = std::fma(p, r, 1.0 / 24.0);
  p = std::fma(p, r, 1.0 / 6.0);
  p = std::fma(p, r, 0.5);
  p = std::fma(p, r, 1.0);
  p = std::fma(p, r, 1.0);
  return scale2(p, static_cast<int>(k));
}

/// base^power for base > 0 (exp(power * log(base))); pow(1, anything) is 1 and pow(x, 0) is 1.
inline double pow(double base, double power) {
  if (power == 0.0 || base == 1.0) return 1.0;
  return exp(power * log(base));
}

}  // namespace portable
}  // namespace hsrnet
