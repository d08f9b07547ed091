// hsrnet from C++: index 100000 random Gaussian rows in R^3, ask which rows have <w, x> > b for unit x,
// check every answer against a brute force over hsrnet::reference_dot, and report the time per query.
// Exit status: 0 when every answer matched, 1 on a mismatch, 2 when the CPU lacks AVX2/FMA.
#include <hsrnet/hsrnet.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<hsrnet::row_id> brute_force(const std::vector<float>& rows, int d, const float* x, float b) {
  std::vector<hsrnet::row_id> out;
  for (std::size_t r = 0; r * d < rows.size(); ++r)
    if (hsrnet::reference_dot(rows.data() + r * d, x, d) > b) out.push_back(static_cast<hsrnet::row_id>(r));
  return out;
}

// noinline: keeps the AVX2 code out of main(), which runs before the CPU check has passed.
__attribute__((noinline)) int run() {
  const std::size_t m = 100000;
  const int d = 3;
  const float b = static_cast<float>(std::sqrt(0.4 * std::log(static_cast<double>(m))));

  std::mt19937_64 rng(42);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> rows(m * d);
  for (float& v : rows) v = gauss(rng);

  auto t0 = Clock::now();
  hsrnet::HalfSpaceIndex index(rows.data(), m, d);  // auto backend: builds a k-d tree for small d
  const double build_s = seconds_since(t0);

  // Unit queries: <w, x> is then N(0, 1), so about P(Z > b) of the rows fire.
  const std::size_t n = 200;
  std::vector<float> X(n * d);
  for (std::size_t q = 0; q < n; ++q) {
    float norm = 0.0f;
    for (int j = 0; j < d; ++j) norm += (X[q * d + j] = gauss(rng)) * X[q * d + j];
    for (int j = 0; j < d; ++j) X[q * d + j] /= std::sqrt(norm);
  }

  // One query at a time, as an SGD step would ask.
  std::vector<std::vector<hsrnet::row_id>> answers(n);
  t0 = Clock::now();
  for (std::size_t q = 0; q < n; ++q) answers[q] = index.query(X.data() + q * d, b);
  const double single_s = seconds_since(t0);

  // The same queries as one batch.
  t0 = Clock::now();
  const hsrnet::CsrResult batch = index.query_batch(X.data(), n, b);
  const double batch_s = seconds_since(t0);

  std::size_t mismatches = 0, reported = 0;
  for (std::size_t q = 0; q < n; ++q) {
    const std::vector<hsrnet::row_id> expected = brute_force(rows, d, X.data() + q * d, b);
    const std::vector<hsrnet::row_id> from_batch(batch.begin(q), batch.end(q));
    if (answers[q] != expected || from_batch != expected) {
      ++mismatches;
      std::printf("MISMATCH on query %zu: brute force %zu rows, query() %zu, query_batch() %zu\n", q, expected.size(),
                  answers[q].size(), from_batch.size());
    }
    reported += expected.size();
  }

  const double expected_fraction = 0.5 * std::erfc(b / std::sqrt(2.0));
  std::printf("hsrnet %d.%d.%d: m = %zu rows, d = %d, b = sqrt(0.4 ln m) = %.4f\n", HSRNET_VERSION_MAJOR,
              HSRNET_VERSION_MINOR, HSRNET_VERSION_PATCH, m, d, b);
  std::printf("index built in %.1f ms (tree: %s, %zu bytes)\n", build_s * 1e3, index.has_tree() ? "yes" : "no",
              index.memory_bytes());
  std::printf("%zu unit queries: %.1f rows reported per query (%.3f%% of m; P(Z > b) = %.3f%%)\n", n,
              static_cast<double>(reported) / n, 100.0 * reported / (static_cast<double>(n) * m),
              100.0 * expected_fraction);
  std::printf("query():       %8.2f us per query (backend last used: %s)\n", single_s / n * 1e6,
              hsrnet::backend_name(index.stats().last_backend));
  std::printf("query_batch(): %8.2f us per query\n", batch_s / n * 1e6);
  std::printf("brute-force check: %s (%zu of %zu queries differ)\n", mismatches ? "FAILED" : "all answers exact",
              mismatches, n);
  return mismatches ? 1 : 0;
}

}  // namespace

int main() {
  // The library is compiled with -mavx2 -mfma; on a CPU without them the first such instruction is SIGILL.
  if (!hsrnet::cpu_supports_avx2_fma()) {
    std::fprintf(stderr, "this CPU lacks AVX2/FMA, which hsrnet needs\n");
    return 2;
  }
  return run();
}
