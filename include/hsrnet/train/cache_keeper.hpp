// The trainer's candidate cache through its life: built for one (network, data set), kept while neither
// changes behind the trainer's back, refreshed when too many rows left their caches, dropped when it
// outgrows its budget (candidate_cache.hpp has the cache itself).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hsrnet/net/rng.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/candidate_cache.hpp"
#include "hsrnet/train/trainer_options.hpp"

namespace hsrnet {

class CacheKeeper {
 public:
  /// What the cache was built for. rows_updated (the index's count after our last step) changes when
  /// anyone else moves a row, which makes the cache stale.
  struct Key {
    std::uint64_t net_uid = 0;
    const float* X = nullptr;
    std::size_t n = 0;
    std::uint64_t data_hash = 0;
    std::size_t rows_updated = 0;
    bool operator==(const Key& o) const {
      return net_uid == o.net_uid && X == o.X && n == o.n && data_hash == o.data_hash && rows_updated == o.rows_updated;
    }
    bool same_data(const ShiftedReLUNet& net, const float* X_, std::uint64_t hash) const {
      return net_uid == net.uid() && X == X_ && data_hash == hash;
    }
  };

  const CandidateCache& cache() const { return cache_; }
  CandidateCache& cache() { return cache_; }
  std::size_t builds() const { return builds_; }  // all builds by this keeper

  void clear() {
    cache_.clear();
    key_ = {};
    unfit_ = false;
  }

  /// A new epoch: the data set may have changed, so its hash is computed again (once) when needed.
  void new_epoch() { hash_valid_ = false; }

  /// data_hash of this epoch's X (n x d), computed at most once per epoch.
  std::uint64_t epoch_data_hash(const ShiftedReLUNet& net, const float* X, std::size_t n, int threads) {
    if (!hash_valid_) {
      hash_ = data_hash(X, n * static_cast<std::size_t>(net.input_dim()), threads);
      hash_valid_ = true;
    }
    return hash_;
  }

  /// Whether the cache was built (or found not to fit) for this network and data.
  bool built_for(const ShiftedReLUNet& net, const float* X, std::uint64_t hash) const {
    return key_.same_data(net, X, hash);
  }
  bool known_unfit(const ShiftedReLUNet& net, const float* X, std::uint64_t hash) const {
    return unfit_ && unfit_key_.same_data(net, X, hash);
  }

  /// Makes the cache valid for (net, X); false when it does not fit the budget.
  bool ensure(ShiftedReLUNet& net, const float* X, std::size_t n, const TrainerOptions& opt, int threads) {
    const Key key{net.uid(), X, n, epoch_data_hash(net, X, n, threads), net.index().stats().rows_updated};
    if (cache_.valid() && key_ == key) return true;
    cache_.clear();
    if (!rebuild(net, X, n, opt, threads)) {
      unfit_ = true;
      unfit_key_ = key;
      return false;
    }
    key_ = key;
    return true;
  }

  /// Before a step: a rebuild if too many rows left their caches; false when the rebuilt candidates outgrew
  /// the budget (index queries from then on).
  bool refresh_if_needed(ShiftedReLUNet& net, const float* X, std::size_t n, const TrainerOptions& opt, int threads) {
    if (!cache_.needs_refresh()) return true;
    if (rebuild(net, X, n, opt, threads)) {
      key_.rows_updated = net.index().stats().rows_updated;
      return true;
    }
    unfit_ = true;
    unfit_key_ = key_;
    return false;
  }

  /// After a step moved rows ids[0..k) by at most movement[j] each: the cache widens their bounds, and the
  /// key takes the index's new update count (our own updates do not make the cache stale).
  void rows_moved(const ShiftedReLUNet& net, const row_id* ids, const double* movement, std::size_t k) {
    cache_.record_movement(ids, movement, k);
    key_.rows_updated = net.index().stats().rows_updated;
  }

  /// Seconds per evaluated candidate (moving average over steps): what a needless candidate costs, which
  /// the cache weighs against a rebuild.
  void measured(double seconds, std::size_t evaluated) {
    if (evaluated == 0) return;
    const double per = seconds / static_cast<double>(evaluated);
    seconds_per_dot_ = seconds_per_dot_ > 0.0 ? 0.9 * seconds_per_dot_ + 0.1 * per : per;
  }
  void charge_needless(std::size_t candidates) { cache_.charge(static_cast<double>(candidates) * seconds_per_dot_); }

  /// A cheap fingerprint of the data set (the cache must not survive a change of X).
  static std::uint64_t data_hash(const float* X, std::size_t count, int threads) {
    constexpr std::size_t kBlock = std::size_t{1} << 16;
    const std::size_t blocks = (count + kBlock - 1) / kBlock;
    std::vector<std::uint64_t> h(blocks);
#pragma omp parallel for schedule(static) num_threads(threads) if (blocks > 4)
    for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(blocks); ++b) {
      const std::size_t i0 = static_cast<std::size_t>(b) * kBlock, i1 = std::min(count, i0 + kBlock);
      std::uint64_t acc = 0x9e3779b97f4a7c15ULL ^ i0;
      for (std::size_t i = i0; i < i1; ++i) {
        std::uint32_t u;
        std::memcpy(&u, X + i, sizeof u);
        acc = (acc ^ u) * 0x100000001b3ULL;
      }
      h[b] = acc;
    }
    std::uint64_t out = count;
    for (const std::uint64_t v : h) out = SplitMix64(out ^ v).next();
    return out;
  }

 private:
  /// (Re)builds the cache; delta is fixed by the user or chosen by the cache (candidate_cache.hpp).
  bool rebuild(ShiftedReLUNet& net, const float* X, std::size_t n, const TrainerOptions& opt, int threads) {
    CacheSettings settings;
    settings.budget_bytes = opt.cache_budget_bytes;
    settings.max_candidate_ratio = opt.cache_max_candidate_ratio;
    settings.max_moved_fraction = opt.cache_max_moved_fraction;
    settings.fixed_delta = opt.cache_delta;
    const bool ok = cache_.rebuild(net.index(), net.threshold(), X, n, settings, threads);
    if (ok) ++builds_;
    return ok;
  }

  CandidateCache cache_;
  Key key_, unfit_key_;  // what the cache was built for; what it last failed to fit for
  bool unfit_ = false;
  bool hash_valid_ = false;
  std::uint64_t hash_ = 0;
  double seconds_per_dot_ = 0.0;
  std::size_t builds_ = 0;
};

}  // namespace hsrnet
