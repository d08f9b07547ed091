// hsrnet_calibrate: measures the per-row, per-entry and per-node costs behind CostModel (cost_model.hpp) on
// this machine, one thread, so "auto" can be re-fitted on hardware unlike the one its defaults came from.
// Usage: OMP_NUM_THREADS=1 hsrnet_calibrate [log2_m=17]
#include <hsrnet/hsrnet.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

template <class F>
double best_seconds(F&& f, int repeats) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (!hsrnet::cpu_supports_avx2_fma()) {
    std::fprintf(stderr, "this CPU lacks AVX2/FMA\n");
    return 2;
  }
  const int log2m = argc > 1 ? std::atoi(argv[1]) : 17;
  if (log2m < 10 || log2m > 24) {
    std::fprintf(stderr, "log2_m must be in [10, 24]\n");
    return 2;
  }
  const std::size_t m = std::size_t{1} << log2m;
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  std::printf("m = 2^%d, one thread; ns per unit of work\n", log2m);
  std::printf("%5s %7s %14s %16s %15s %17s\n", "d", "stride", "scan ns/row", "gemm ns/entry", "tree nodes/q",
              "tree leafrows/q");
  for (int d : {2, 3, 4, 8, 16, 32, 128}) {
    std::vector<float> W(m * d), X(256 * static_cast<std::size_t>(d));
    for (float& v : W) v = normal(gen);
    for (int q = 0; q < 256; ++q) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += double(X[q * d + j] = normal(gen)) * X[q * d + j];
      for (int j = 0; j < d; ++j) X[q * d + j] = static_cast<float>(X[q * d + j] / std::sqrt(s));
    }
    const float b = static_cast<float>(std::sqrt(0.4 * std::log(double(m))));
    hsrnet::IndexOptions opt;
    opt.n_threads = 1;
    opt.backend = d <= 16 ? hsrnet::Backend::Tree : hsrnet::Backend::Scan;
    hsrnet::HalfSpaceIndex index(W.data(), m, d, opt);
    const double scan = best_seconds([&] { index.query(X.data(), b, hsrnet::Backend::Scan); }, 5);
    const double gemm = best_seconds([&] { index.query_batch(X.data(), 256, b, hsrnet::Backend::Gemm); }, 2);
    double nodes = 0, leaf_rows = 0;
    if (index.has_tree()) {
      index.query_batch(X.data(), 64, b, hsrnet::Backend::Tree);
      nodes = index.cost_model().tree_nodes;
      leaf_rows = index.cost_model().tree_leaf_rows;
    }
    std::printf("%5d %7d %14.3f %16.4f %15.0f %17.0f\n", d, hsrnet::padded_stride(d), scan * 1e9 / m,
                gemm * 1e9 / (256.0 * m), nodes, leaf_rows);
  }
  return 0;
}
