// Seeded random numbers that reproduce bit for bit on every platform and compiler.
//
// std::mt19937 is portable but std::normal_distribution and std::uniform_int_distribution are not (their
// algorithms are implementation-defined), and libm's log/sin differ between C libraries. So hsrnet uses
// xoshiro256** (Blackman and Vigna) seeded through splitmix64, integer-only bounded sampling, and a normal
// sampler (Marsaglia's polar method) built from IEEE-exact operations plus portable::log.
//
// Streams: Rng(seed, stream) gives independent generators for independent purposes (weights, output
// signs, shuffling), so changing how many numbers one purpose draws never shifts another's.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "hsrnet/kernels/portable_math.hpp"

namespace hsrnet {

/// splitmix64 (Steele, Lea, Flood): a tiny generator used to expand a seed into xoshiro's state.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

/// xoshiro256** with uniform, bounded-integer, sign and standard-normal draws.
class Rng {
 public:
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }

  /// Stream 0 of `seed` is seeded by splitmix64(seed); other streams mix the stream number in first.
  explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) {
    std::uint64_t s = seed;
    if (stream != 0) s ^= SplitMix64(stream ^ 0x6a09e667f3bcc909ULL).next();
    SplitMix64 sm(s);
    for (auto& w : s_) w = sm.next();
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the all-zero state is a fixed point
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  std::uint64_t operator()() { return next(); }

  /// Uniform in [0, 1) with 53 random bits (exact: an integer times a power of two).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform integer in [0, n), n >= 1, without modulo bias (rejection; integer arithmetic only).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = (0 - n) % n;  // 2^64 mod n: values below it are rejected
    for (;;) {
      const std::uint64_t r = next();
      if (r >= limit) return r % n;
    }
  }

  /// +1 or -1 with probability 1/2 each (the top bit).
  float sign() { return (next() >> 63) ? 1.0f : -1.0f; }

  /// Standard normal N(0, 1): Marsaglia's polar method, which needs only +, -, *, /, sqrt and log.
  /// Values come in pairs; the second of each pair is returned by the next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      // 2 * uniform - 1 with 53-bit uniforms: products by powers of two are exact, so this is exact.
      u = static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0;
      v = static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0;
      s = std::fma(u, u, v * v);
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * portable::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// Fisher-Yates shuffle of first[0..n) (the classic downward loop, j uniform in [0, i]).
template <class T>
void shuffle(T* first, std::size_t n, Rng& rng) {
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(first[i - 1], first[j]);
  }
}

}  // namespace hsrnet
