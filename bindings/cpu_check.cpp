// hsrnet._cpu: tells Python whether this CPU runs the AVX2/FMA code in hsrnet._core.
// Compiled without -mavx2 on purpose: importing it can never raise SIGILL.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>

namespace nb = nanobind;

NB_MODULE(_cpu, m) {
  m.def(
      "missing_features",
      []() {
        std::string missing;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2")) missing += "avx2 ";
        if (!__builtin_cpu_supports("fma")) missing += "fma ";
#else
        missing = "x86-64 (this build targets x86-64 with AVX2 and FMA)";
#endif
        return missing;
      },
      "Space-separated CPU features hsrnet._core needs but this CPU lacks (empty when all are present).");
}
