// Runtime check for the instruction sets the library was compiled for.
#pragma once

namespace hsrnet {

/// True when this CPU (and OS, via XSAVE state) supports AVX2 and FMA.
/// Call it before any other hsrnet code: a binary compiled with -mavx2 dies with SIGILL otherwise.
/// The Python package calls an equivalent check from a module built without AVX flags.
inline bool cpu_supports_avx2_fma() {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

}  // namespace hsrnet
