// Drift-bounded candidate cache: exact identification for a fixed training set, in any dimension.
//
// At a time t0 one batched index pass stores, per training sample i, the candidates
//   C_i = {r : reference_dot(w_r(t0), x_i) > b - delta}
// together with each pair's allowance: how far w_r may move before it could fire on x_i. Each neuron carries
// mv_r, the sum of the norms of its updates since t0, so ||w_r(t) - w_r(t0)|| <= mv_r without a snapshot of
// W. With g = dot_error_coefficient(d), e = dot_error_floor(d), W0 = max_r ||w_r(t0)||, |x| = ||x_i|| and
// z0 = reference_dot(w_r(t0), x_i), the rounding bound |computed - exact| <= g ||w|| |x| + e applied at t0
// and at t gives
//   reference_dot(w_r(t), x_i) <= z0 + mv_r |x| (1 + g) + 2 g W0 |x| + 2 e,
// so r can fire on x_i only if mv_r > allow_ri = (b - z0 - 2 g W0 |x| - 2 e) / (|x| (1 + g)).
//   - A cached pair is a candidate while mv_r > allow_ri (at t0: only pairs within rounding of firing).
//     Allowances are stored rounded down to multiples of a unit, as 16-bit integers (0: always a candidate).
//   - A neuron outside C_i has z0 <= b - delta, so it can fire only if mv_r > theta_i, theta_i the same
//     expression with z0 = b - delta. Neurons with mv_r > min_i theta_i form the moved set M, a candidate
//     for every sample.
// Every neuron that can fire is a candidate and the trainer's exact rule filters them, so the result is exact
// whatever delta is; delta trades memory (larger C_i) against how soon neurons leave the cache.
//
// When to rebuild (ski rental): candidates that do not fire are the price of staleness. The trainer reports
// the seconds spent on them; once they add up to what the last rebuild took (or M exceeds a fraction of m),
// rebuilding is cheaper than going on. This costs at most twice the optimum.
//
// Choosing delta: the largest of 0.5 |x|, 0.3 |x|, ... (|x| the mean input norm) for which a probe of 64
// samples predicts at most max_candidate_ratio cached pairs per firing pair and a size within the budget;
// never below 4x the rounding slack. Memory: 6 bytes per cached pair, 16 per sample, 9 per neuron, stored in
// chunks of samples sized exactly (no growth by doubling). The build works one chunk at a time, with about
// kBuildBytesPerPair bytes of scratch per pair of the chunk; chunks are made small enough that this scratch
// stays within a quarter of the cache's own size, and the budget covers both. When even the smallest delta
// does not fit, or the real size outgrows the budget while filling, rebuild() returns false and the trainer
// falls back to index queries.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/kernels/multi_dot.hpp"
#include "hsrnet/train/neuron_major.hpp"

namespace hsrnet {

struct CacheSettings {
  std::size_t budget_bytes = std::size_t{1} << 30;  // the cache may use at most this much memory
  double max_candidate_ratio = 4.0;                 // cached pairs at most this many times the firing pairs (probe)
  double max_moved_fraction = 0.25;                 // rebuild when |M| > this * m, whatever the cost accounting says
  double fixed_delta = 0.0;                         // > 0: this delta (raised to the rounding floor), no search
};

class CandidateCache {
 public:
  static constexpr std::size_t kProbeSamples = 64;
  static constexpr std::size_t kMaxChunk = 1024;  // samples per index pass while filling, at most
  static constexpr std::size_t kMinChunk = 16;
  // Scratch per pair while a chunk is filled: the index's per-query lists and CSR result, z0, the
  // neuron-major view (measured: ~40 bytes).
  static constexpr double kBuildBytesPerPair = 40.0;
  static constexpr double kAllowanceSteps = 32768.0;  // allowance unit = delta / (|x| (1 + g)) / this

  /// Builds at the current weights of `index` for X (n x d, row-major). Returns false, leaving the cache
  /// empty, when it would not fit the budget.
  bool rebuild(HalfSpaceIndex& index, float b, const float* X, std::size_t n, const CacheSettings& settings,
               int threads, Backend backend = Backend::Auto) {
    const auto t_start = std::chrono::steady_clock::now();
    clear();
    const std::size_t m = index.rows();
    const int d = index.dim();
    const RowStore& store = index.store();
    if (n == 0) return false;

    // Rounding slack 2 g W0 |x| + 2 e per sample (see the header comment).
    double w0 = 0.0;
    for (std::size_t s = 0; s < m; ++s) w0 = std::max(w0, static_cast<double>(store.slot_norm(static_cast<row_id>(s))));
    const double g = dot_error_coefficient(d), e = dot_error_floor(d);
    xnorm_.resize(n);
    double xmax = 0.0, xsum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      xnorm_[i] = norm_upper_bound(X + i * d, d);
      xmax = std::max(xmax, xnorm_[i]);
      xsum += xnorm_[i];
    }
    const double xbar = std::max(xsum / static_cast<double>(n), std::numeric_limits<double>::min());
    const double floor_delta = 4.0 * (2.0 * g * w0 * xmax + 2.0 * e);
    // Rows or inputs near FLT_MAX (or non-finite after divergence) leave no finite slack: no cache, the
    // trainer falls back to the index, which handles them exactly.
    if (!std::isfinite(floor_delta) || w0 * xmax >= kNoOverflowBound) return false;

    // Delta: fixed, or the largest candidate whose probe fits the ratio and the budget.
    double delta = settings.fixed_delta > 0.0 ? std::max(settings.fixed_delta, floor_delta) : 0.0;
    {
      const std::size_t np = std::min(n, kProbeSamples);
      std::vector<float> probe(np * static_cast<std::size_t>(d));
      for (std::size_t k = 0; k < np; ++k) std::copy_n(X + (k * n / np) * d, d, probe.data() + k * d);
      const double widest = delta > 0.0 ? delta : std::max(0.5 * xbar, floor_delta);
      const CsrResult wide = index.query_batch(probe.data(), np, lowered(b, widest), backend);
      std::vector<float> z(wide.indices.size());
      for (std::size_t k = 0; k < np; ++k)
        for (std::int64_t p = wide.offsets[k]; p < wide.offsets[k + 1]; ++p)
          z[p] = reference_dot(store.row_data(wide.indices[p]), probe.data() + k * d, d);
      auto count_above = [&](float t) {
        return static_cast<double>(std::count_if(z.begin(), z.end(), [t](float v) { return v > t; }));
      };
      const double firing = std::max(1.0, count_above(b)) / static_cast<double>(np);
      probe_firing_ = count_above(b) / static_cast<double>(np);
      auto fits = [&](double dl, double ratio_cap) {
        const double per = count_above(lowered(b, dl)) / static_cast<double>(np);
        const double cache = static_cast<double>(bytes_for(n, m, per * static_cast<double>(n) * 1.1));
        per_sample_ = per;
        return per <= ratio_cap * firing &&
               cache + scratch_bytes(per, chunk_for(per, n, m)) <= static_cast<double>(settings.budget_bytes);
      };
      if (delta > 0.0) {
        if (!fits(delta, std::numeric_limits<double>::infinity())) return false;
      } else {
        for (double dl = widest;; dl = std::max(floor_delta, dl * 0.6)) {
          if (fits(dl, settings.max_candidate_ratio)) {
            delta = dl;
            break;
          }
          if (dl <= floor_delta) return false;  // even the narrowest cache is too big
        }
      }
    }
    const float thr = lowered(b, delta);
    const double delta_eff = (static_cast<double>(b) - static_cast<double>(thr)) * (1.0 - 1e-15);
    unit_ = delta_eff / (xbar * (1.0 + g)) / kAllowanceSteps;

    chunk_ = chunk_for(per_sample_, n, m);
    chunks_.reserve((n + chunk_ - 1) / chunk_);
    // Allowance of a pair from a value z of <w_r(t0), x_i> within the rounding bound (see the header).
    auto allowance = [&](std::size_t i, float z) {
      const double xn = xnorm_[i];
      return quantize((static_cast<double>(b) - z - (2.0 * g * w0 * xn + 2.0 * e)) / (xn * (1.0 + g)));
    };
    // With the gemm backend the allowances come from the GEMM's own values (the bound holds for a dot
    // computed in any order), which saves computing every cached pair's z0 a second time.
    const bool gemm_values = store.identity_order() && index.choose(backend, chunk_) == Backend::Gemm;
    std::size_t pairs = 0;
    for (std::size_t i0 = 0; i0 < n; i0 += chunk_) {
      const std::size_t nc = std::min(chunk_, n - i0);
      Chunk ch = gemm_values ? chunk_from_gemm(index, X + i0 * d, i0, nc, thr, allowance)
                             : chunk_from_query(index, X, i0, nc, thr, backend, threads, allowance);
      pairs += ch.ids.size();
      if (bytes_for(n, m, static_cast<double>(pairs)) > settings.budget_bytes) {
        clear();
        return false;
      }
      chunks_.push_back(std::move(ch));
    }
    nm_ = NeuronMajor();  // build scratch: handed back, not kept for the cache's lifetime

    // theta = min_i theta_i for neurons outside the cached lists.
    double theta = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i)
      if (xnorm_[i] > 0.0)
        theta =
            std::min(theta, (delta_eff - 2.0 * g * w0 * xnorm_[i] - 2.0 * e) / (xnorm_[i] * (1.0 + g)) * (1.0 - 1e-9));
    movement_.assign(m, 0.0);
    moved_flag_.assign(m, 0);
    moved_.clear();
    threshold_ = thr;
    delta_ = delta;
    theta_ = theta;
    mean_cached_ = static_cast<double>(pairs) / static_cast<double>(n);
    moved_limit_ =
        std::max<std::size_t>(8, static_cast<std::size_t>(settings.max_moved_fraction * static_cast<double>(m)));
    extra_seconds_ = 0.0;
    n_ = n;
    valid_ = true;
    ++builds_;
    rebuild_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return true;
  }

  void clear() {
    valid_ = false;
    n_ = 0;
    std::vector<Chunk>().swap(chunks_);
    moved_.clear();
  }

  bool valid() const { return valid_; }

  /// Appends the candidates of training sample i to `out`, ascending: cached pairs whose neuron moved past
  /// the pair's allowance, merged with the moved set (left out when !with_moved: a caller that evaluates
  /// the moved set for every sample anyway, as one block).
  void candidates(std::size_t i, std::vector<row_id>& out, bool with_moved = true) const {
    const Chunk& ch = chunks_[i / chunk_];
    const std::size_t q = i % chunk_;
    const std::int64_t p0 = ch.offsets[q], p1 = ch.offsets[q + 1];
    const row_id* ids = ch.ids.data();
    const std::uint16_t* allow = ch.allow.data();
    const double* mv = movement_.data();
    const std::uint8_t* flag = moved_flag_.data();
    const double unit = unit_;
    const row_id* m = moved_.data();
    const row_id* me = with_moved ? m + moved_.size() : m;
    for (std::int64_t p = p0; p < p1; ++p) {
      const row_id r = ids[p];
      while (m < me && *m < r) out.push_back(*m++);
      const std::uint16_t allowance = allow[p];
      // A neuron of the moved set comes from there, in order.
      if (!flag[r] && (allowance == 0 || mv[r] > allowance * unit)) out.push_back(r);
    }
    out.insert(out.end(), m, me);
  }

  /// Rows ids[0..k) moved by at most norms[j] each (Euclidean norm of the update).
  void record_movement(const row_id* ids, const double* norms, std::size_t k) {
    fresh_.clear();
    for (std::size_t j = 0; j < k; ++j) {
      const row_id r = ids[j];
      movement_[r] += norms[j];
      if (!moved_flag_[r] && movement_[r] > theta_) {
        moved_flag_[r] = 1;
        fresh_.push_back(r);
      }
    }
    if (fresh_.empty()) return;
    std::sort(fresh_.begin(), fresh_.end());
    const std::size_t old = moved_.size();
    moved_.insert(moved_.end(), fresh_.begin(), fresh_.end());
    std::inplace_merge(moved_.begin(), moved_.begin() + static_cast<std::ptrdiff_t>(old), moved_.end());
  }

  /// Seconds a step spent on candidates that did not fire (the cost of staleness).
  void charge(double seconds) { extra_seconds_ += seconds; }

  /// Staleness has cost as much as a rebuild, or the moved set is too large.
  bool needs_refresh() const { return valid_ && (moved_.size() > moved_limit_ || extra_seconds_ >= rebuild_seconds_); }

  std::size_t samples() const { return n_; }
  std::size_t moved() const { return moved_.size(); }
  /// The moved set M, ascending.
  const std::vector<row_id>& moved_ids() const { return moved_; }
  std::size_t builds() const { return builds_; }
  double delta() const { return delta_; }
  float candidate_threshold() const { return threshold_; }
  double movement_threshold() const { return theta_; }
  /// Cached pairs per sample, and firing pairs per sample in the last probe.
  double mean_cached() const { return mean_cached_; }
  double probe_firing() const { return probe_firing_; }
  double rebuild_seconds() const { return rebuild_seconds_; }
  std::size_t memory_bytes() const {
    std::size_t bytes = chunks_.capacity() * sizeof(Chunk);
    for (const Chunk& ch : chunks_)
      bytes += ch.ids.capacity() * sizeof(row_id) + ch.allow.capacity() * sizeof(std::uint16_t) +
               ch.offsets.capacity() * sizeof(std::int64_t);
    return bytes + xnorm_.capacity() * sizeof(double) + movement_.capacity() * sizeof(double) + moved_flag_.capacity() +
           moved_.capacity() * sizeof(row_id);
  }

 private:
  struct Chunk {                        // samples [k * chunk_, (k + 1) * chunk_), each vector sized exactly
    std::vector<std::int64_t> offsets;  // pairs of the chunk's sample q: [offsets[q], offsets[q + 1])
    std::vector<row_id> ids;            // per cached pair: the neuron
    std::vector<std::uint16_t> allow;   // per cached pair: allowance / unit_, rounded down
  };

  static std::size_t bytes_for(std::size_t n, std::size_t m, double pairs) {
    const double b = static_cast<double>(n) * (sizeof(std::int64_t) + sizeof(double)) +
                     static_cast<double>(m) * (sizeof(double) + 1) + pairs * (sizeof(row_id) + sizeof(std::uint16_t));
    return b >= 1.8e19 ? ~std::size_t{0} : static_cast<std::size_t>(b);
  }
  /// Cached pairs of samples [i0, i0 + nc) from the gemm backend's values: per-thread lists (each thread owns
  /// an ascending range of ids) concatenated in thread order, so each sample's ids come out ascending.
  template <class Allowance>
  static Chunk chunk_from_gemm(HalfSpaceIndex& index, const float* Xc, std::size_t i0, std::size_t nc, float thr,
                               Allowance&& allowance) {
    const int T = index.threads();
    std::vector<std::vector<std::vector<row_id>>> ids(T, std::vector<std::vector<row_id>>(nc));
    std::vector<std::vector<std::vector<std::uint16_t>>> allow(T, std::vector<std::vector<std::uint16_t>>(nc));
    index.gemm_visit(Xc, nc, thr, [&](int t, std::size_t q, row_id id, float v) {
      ids[t][q].push_back(id);
      allow[t][q].push_back(allowance(i0 + q, v));
    });
    Chunk ch;
    ch.offsets.assign(nc + 1, 0);
    for (std::size_t q = 0; q < nc; ++q) {
      std::int64_t count = 0;
      for (int t = 0; t < T; ++t) count += static_cast<std::int64_t>(ids[t][q].size());
      ch.offsets[q + 1] = ch.offsets[q] + count;
    }
    ch.ids.reserve(static_cast<std::size_t>(ch.offsets[nc]));
    ch.allow.reserve(static_cast<std::size_t>(ch.offsets[nc]));
    for (std::size_t q = 0; q < nc; ++q)
      for (int t = 0; t < T; ++t) {
        ch.ids.insert(ch.ids.end(), ids[t][q].begin(), ids[t][q].end());
        ch.allow.insert(ch.allow.end(), allow[t][q].begin(), allow[t][q].end());
      }
    return ch;
  }

  /// Cached pairs of samples [i0, i0 + nc) from an index query (any backend), with z0 = reference_dot
  /// computed per neuron so that each row is read once per chunk (four samples per pass of the row).
  template <class Allowance>
  Chunk chunk_from_query(HalfSpaceIndex& index, const float* X, std::size_t i0, std::size_t nc, float thr,
                         Backend backend, int threads, Allowance&& allowance) {
    const int d = index.dim();
    const RowStore& store = index.store();
    CsrResult r = index.query_batch(X + i0 * d, nc, thr, backend);
    Chunk ch;
    ch.offsets = std::move(r.offsets);
    ch.ids = std::move(r.indices);
    ch.allow.resize(ch.ids.size());
    nm_.build(ch.offsets.data(), ch.ids.data(), nc, store.rows(), store);
    std::vector<float> z(ch.ids.size());
    const NeuronMajor& nm = nm_;
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (z.size() > 20000)
    for (std::ptrdiff_t u = 0; u < static_cast<std::ptrdiff_t>(nm.size()); ++u) {
      const float* w = store.row_data(nm.neuron(u));
      const float* ws[4] = {w, w, w, w};
      const std::uint32_t e0 = nm.begin(u), e1 = nm.end(u);
      for (std::uint32_t e = e0; e < e1; e += 4) {
        const std::uint32_t c = std::min<std::uint32_t>(4, e1 - e);
        const float* xs[4];
        for (std::uint32_t k = 0; k < 4; ++k) xs[k] = X + (i0 + nm.sample(e + std::min(k, c - 1))) * d;
        float out[4];
        reference_dot4(ws, xs, d, out);
        for (std::uint32_t k = 0; k < c; ++k) z[nm.position(e + k)] = out[k];
      }
    }
#pragma omp parallel for schedule(static) num_threads(threads) if (z.size() > 20000)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(nc); ++q)
      for (std::int64_t p = ch.offsets[q]; p < ch.offsets[q + 1]; ++p)
        ch.allow[static_cast<std::size_t>(p)] = allowance(i0 + static_cast<std::size_t>(q), z[p]);
    return ch;
  }

  /// Samples per chunk: the build's scratch (kBuildBytesPerPair per pair of a chunk) stays within a quarter
  /// of the cache's estimated size (`per` pairs per sample), between kMinChunk and kMaxChunk samples.
  static std::size_t chunk_for(double per, std::size_t n, std::size_t m) {
    const double cache = static_cast<double>(bytes_for(n, m, per * static_cast<double>(n)));
    const double c = 0.25 * cache / (std::max(per, 1.0) * kBuildBytesPerPair);
    return static_cast<std::size_t>(std::clamp(c, static_cast<double>(kMinChunk), static_cast<double>(kMaxChunk)));
  }
  static double scratch_bytes(double per, std::size_t chunk) {
    return std::max(per, 1.0) * static_cast<double>(chunk) * kBuildBytesPerPair;
  }
  /// float(b - delta) rounded down, so the effective delta is never below the requested one.
  static float lowered(float b, double delta) {
    const double t = static_cast<double>(b) - delta;
    float f = static_cast<float>(t);
    if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
  }
  /// Allowance in units, rounded down (never above the true allowance); 0 for "always a candidate".
  std::uint16_t quantize(double allowance) const {
    allowance *= 1.0 - 1e-12;  // covers the rounding of the double expression that computed it
    if (!(allowance > 0.0)) return 0;
    double q = std::floor(allowance / unit_);
    if (q > 65535.0) q = 65535.0;
    while (q > 0.0 && q * unit_ > allowance) q -= 1.0;
    return static_cast<std::uint16_t>(q);
  }

  bool valid_ = false;
  std::size_t n_ = 0, chunk_ = kMaxChunk;
  double per_sample_ = 0.0;  // cached pairs per sample predicted by the probe at the chosen delta
  std::vector<Chunk> chunks_;
  std::vector<double> xnorm_;
  std::vector<double> movement_;  // mv_r: summed update norms since the build
  std::vector<std::uint8_t> moved_flag_;
  std::vector<row_id> moved_, fresh_;  // the moved set M, ascending
  NeuronMajor nm_;                     // per-neuron view of a chunk while building
  float threshold_ = 0.0f;
  double unit_ = 0.0, delta_ = 0.0, theta_ = 0.0, mean_cached_ = 0.0, probe_firing_ = 0.0;
  double extra_seconds_ = 0.0, rebuild_seconds_ = 0.0;
  std::size_t moved_limit_ = 0, builds_ = 0;
};

}  // namespace hsrnet
