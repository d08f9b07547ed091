// Compile-time requirements shared by every hsrnet header.
#pragma once

// The project's version, written here only: CMakeLists.txt and pyproject.toml read it from this file, and
// Python's hsrnet.__version__ comes from the compiled module.
#define HSRNET_VERSION_MAJOR 0
#define HSRNET_VERSION_MINOR 1
#define HSRNET_VERSION_PATCH 0

#if !defined(__AVX2__) || !defined(__FMA__)
#error "hsrnet needs AVX2 and FMA: compile with -mavx2 -mfma (the hsrnet::hsrnet CMake target adds them)"
#endif

// Exactness rests on IEEE semantics: every backend must agree with reference_dot bit for bit
// or stay outside a proven error margin. Fast-math breaks both, so refuse it loudly.
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "hsrnet must not be compiled with -ffast-math / -ffinite-math-only: exact identification needs IEEE arithmetic"
#endif

#if defined(_MSC_VER)
#define HSRNET_ALWAYS_INLINE __forceinline
#define HSRNET_RESTRICT __restrict
#else
#define HSRNET_ALWAYS_INLINE inline __attribute__((always_inline))
#define HSRNET_RESTRICT __restrict__
#endif

#include <cstdint>

namespace hsrnet {
/// Row ids are 32-bit: m < 2^31 rows (2^31 rows of even d = 2 would be 16 GB).
using row_id = std::int32_t;
}  // namespace hsrnet
