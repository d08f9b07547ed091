// hsrnet::HalfSpaceIndex: exact half-space reporting over m weight rows, {r : reference_dot(w_r, x) > b}.
//
// One store of rows (row_store.hpp) and three ways to search it, chosen per call:
//   scan  - the reference kernel over every row (scan_backend.hpp);
//   gemm  - blocked matrix-matrix product + threshold with a proven rounding band (gemm_backend.hpp);
//   tree  - k-d tree with box bounds, for low dimensions (kd_tree.hpp);
//   auto  - the cheapest by cost_model.hpp.
// All of them report exactly the same ids. Updates replace rows in place and loosen the tree.
//
// Thread safety: like a standard container, one writer or several readers, not both. Each call is itself
// parallel (OpenMP, n_threads threads). query/query_batch update the auto cost model and so count as writes.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hsrnet/index/cost_model.hpp"
#include "hsrnet/index/gemm_backend.hpp"
#include "hsrnet/index/index_options.hpp"
#include "hsrnet/index/kd_tree.hpp"
#include "hsrnet/index/query_result.hpp"
#include "hsrnet/index/row_store.hpp"
#include "hsrnet/index/scan_backend.hpp"

namespace hsrnet {

class HalfSpaceIndex {
 public:
  /// Copies m rows of d floats (row-major, `row_stride` floats apart; 0 means d).
  HalfSpaceIndex(const float* rows, std::size_t m, int d, IndexOptions options = {}, std::size_t row_stride = 0)
      : options_(options), store_(rows, m, d, row_stride ? row_stride : static_cast<std::size_t>(d)) {
    finish_construction();
  }

  /// How an index over rows it created itself numbers them: as created, or renumbered in tree order (see
  /// renumber_in_tree_order; done before any tree is built, so none is built twice).
  enum class Numbering { AsCreated, TreeOrder };

  /// m rows of d floats created in place by fill(first_row, count, dst, stride) (see RowStore): no second
  /// copy of the rows ever exists.
  template <class Fill>
  HalfSpaceIndex(std::size_t m, int d, Fill&& fill, IndexOptions options = {},
                 Numbering numbering = Numbering::AsCreated)
      : options_(options),
        store_(m, d, std::forward<Fill>(fill), options.n_threads > 0 ? options.n_threads : omp_get_max_threads()) {
    finish_construction(numbering == Numbering::AsCreated);
    if (numbering == Numbering::TreeOrder) renumber_in_tree_order();
  }

  std::size_t rows() const { return store_.rows(); }
  int dim() const { return store_.dim(); }
  const IndexOptions& options() const { return options_; }
  const IndexStats& stats() const { return stats_; }
  const RowStore& store() const { return store_; }
  const KdTree& tree() const { return tree_; }
  bool has_tree() const { return tree_.built(); }
  CostModel& cost_model() { return cost_; }
  void set_n_threads(int n) {
    if (n < 0) throw std::invalid_argument("hsrnet: n_threads must be >= 0");
    options_.n_threads = n;
  }
  int threads() const { return options_.n_threads > 0 ? options_.n_threads : omp_get_max_threads(); }

  /// Copies row `id` (d floats) to `out`.
  void get_row(row_id id, float* out) const {
    check_id(id);
    std::copy(store_.row_data(id), store_.row_data(id) + dim(), out);
  }

  /// Ids r with reference_dot(w_r, x) > b, ascending. `x` holds d floats. b is compared as the real number
  /// it is (a double need not be a float: 0.1 is not), see float_threshold().
  std::vector<row_id> query(const float* x, double b, Backend backend = Backend::Auto) {
    CsrResult r = query_batch(x, 1, b, backend);
    return std::move(r.indices);
  }

  /// n queries (row-major n x d, `x_stride` floats apart; 0 means d) in CSR form.
  CsrResult query_batch(const float* X, std::size_t n, double b, Backend backend = Backend::Auto,
                        std::size_t x_stride = 0) {
    CsrResult result;
    query_batch_into(X, n, b, result, backend, x_stride);
    return result;
  }

  /// As query_batch, into a caller-owned result whose buffers are reused (no allocation per call once warm:
  /// a trainer queries every step).
  void query_batch_into(const float* X, std::size_t n, double b_real, CsrResult& result,
                        Backend backend = Backend::Auto, std::size_t x_stride = 0) {
    if (!x_stride) x_stride = static_cast<std::size_t>(dim());
    if (!std::isfinite(b_real)) throw std::invalid_argument("hsrnet: threshold b must be finite");
    const float b = float_threshold(b_real);
    result.offsets.assign(n + 1, 0);
    result.indices.clear();
    if (n == 0) return;
    const float* Q = prepare_queries(X, n, x_stride);
    if ((backend == Backend::Auto ? options_.backend : backend) == Backend::Auto) probe_tree(Q, b);
    const Backend chosen = choose(backend, n);
    if (lists_.size() < n) lists_.resize(n);
    for (std::size_t q = 0; q < n; ++q) lists_[q].clear();
    switch (chosen) {
      case Backend::Scan:
        run_scan(Q, n, b, lists_);
        ++stats_.scan_calls;
        break;
      case Backend::Gemm:
        run_gemm(Q, qnorms_.data(), n, b, lists_);
        ++stats_.gemm_calls;
        break;
      case Backend::Tree:
        run_tree(Q, n, b, lists_);
        ++stats_.tree_calls;
        break;
      case Backend::Auto: break;
    }
    stats_.last_backend = chosen;
    stats_.queries += n;
    std::size_t total = 0;
    for (std::size_t q = 0; q < n; ++q) {
      total += lists_[q].size();
      result.offsets[q + 1] = static_cast<std::int64_t>(total);
    }
    cost_.observe_output(static_cast<double>(total) / (static_cast<double>(n) * rows()));
    result.indices.resize(total);
    const bool identity = store_.identity_order();
    const row_id* id_of = store_.id_of_slots();
    const std::size_t m = rows();
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads()) if (n > 1 && total > 65536)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(n); ++q) {
      std::vector<row_id>& l = lists_[q];
      if (!identity) {  // every backend reports ascending slots; ids need the map and a sort
        for (row_id& s : l) s = id_of[s];
        sort_row_ids(l, m);
      }
      std::copy(l.begin(), l.end(), result.indices.begin() + result.offsets[q]);
    }
  }

  /// The gemm backend's answer with the values it computed, for callers that need <w, x> of every reported
  /// pair (the candidate cache): for queries X (n x d, row-major), calls emit(t, q, id, v) for every pair
  /// with reference_dot(w_id, x_q) > b, v within dot_error_coefficient(d) |w| |x| + dot_error_floor(d) of
  /// the exact <w_id, x_q> (see gemm_threshold_visit). Thread t of threads() owns a range of ids, ranges
  /// ascending with t, and reports each query's ids ascending; emit runs concurrently for different t.
  /// Only for an identity order (ids are slots); returns false without calling emit otherwise.
  template <class Emit>
  bool gemm_visit(const float* X, std::size_t n, double b_real, Emit&& emit) {
    if (!store_.identity_order()) return false;
    if (!std::isfinite(b_real)) throw std::invalid_argument("hsrnet: threshold b must be finite");
    if (n == 0) return true;
    const float b = float_threshold(b_real);
    const float* Q = prepare_queries(X, n, static_cast<std::size_t>(dim()));
    std::size_t verified = 0;
    for_row_chunks(n, [&](int t, row_id begin, row_id end) {
      const std::size_t v =
          gemm_threshold_visit(store_, Q, qnorms_.data(), static_cast<int>(n), b, begin, end,
                               [&](int q, row_id s, float z) { emit(t, static_cast<std::size_t>(q), s, z); });
#pragma omp atomic
      verified += v;
    });
    stats_.rounding_checks += verified;
    ++stats_.gemm_calls;
    stats_.last_backend = Backend::Gemm;
    stats_.queries += n;
    return true;
  }

  /// Replaces rows ids[0..k) by the k rows of `values` (row-major k x d). Later queries stay exact.
  /// Ids must be in [0, m); a repeated id takes its last value.
  void update(const row_id* ids, std::size_t k, const float* values) {
    for (std::size_t i = 0; i < k; ++i) check_id(ids[i]);
    if (!all_finite(values, k * static_cast<std::size_t>(dim())))
      throw std::invalid_argument("hsrnet: update values contain NaN or infinity");
    for (std::size_t i = 0; i < k; ++i) {
      store_.write_row(ids[i], values + i * static_cast<std::size_t>(dim()));
      if (tree_.built()) tree_.loosen(store_, store_.slot_of(ids[i]));
    }
    rows_changed(k);
  }

  /// For trainers that move rows in place through mutable_row(): tell the index which ids moved.
  float* mutable_row(row_id id) { return store_.mutable_row_data(id); }
  /// Brings the stored norm of row id up to date after a write through mutable_row(), while the row is still
  /// in cache; safe from several threads for distinct ids. rows_moved(..., norms_current = true) then skips
  /// its own pass over the rows.
  void refresh_norm(row_id id) { store_.refresh_norm(id); }
  /// A moved row holding NaN or infinity cannot be bounded by a box: the tree is dropped (queries stay exact
  /// through the other backends, which never report such a row) and std::invalid_argument is thrown.
  /// norms_current: the caller called refresh_norm for every moved row after its last write.
  void rows_moved(const row_id* ids, std::size_t k, bool norms_current = false) {
    // Trainers pass ascending ids; in an identity order those are the slots already. One pass validates.
    bool ascending = store_.identity_order();
    for (std::size_t i = 0; i < k; ++i) {
      check_id(ids[i]);
      ascending = ascending && (i == 0 || ids[i - 1] < ids[i]);
    }
    const row_id* slots = ids;
    if (!ascending) {  // work in slot order: rows, norms and tree boxes are then touched in memory order
      moved_slots_.resize(k);
      for (std::size_t i = 0; i < k; ++i) moved_slots_[i] = store_.slot_of(ids[i]);
      sort_row_ids(moved_slots_, rows());
      slots = moved_slots_.data();
    }
    const std::size_t d = static_cast<std::size_t>(dim());
    if (store_.has_norms() && !norms_current) {
      const std::ptrdiff_t kk = static_cast<std::ptrdiff_t>(k);
#pragma omp parallel for schedule(static) num_threads(threads()) if (k * d > 65536)
      for (std::ptrdiff_t i = 0; i < kk; ++i) store_.refresh_slot_norm(slots[i]);
    }
    for (std::size_t i = 0; i < k; ++i)
      if (!slot_finite(slots[i])) drop_tree_and_throw_nonfinite(store_.id_of(slots[i]));
    if (tree_.built()) tree_.loosen_sorted(store_, slots, k);
    rows_changed(k);
  }

  /// Moves rows in place in one pass: for i < k, in order, fn(i, row) changes the d floats of row ids[i]
  /// (ids strictly ascending), and the index brings its own data for that row up to date (norm,
  /// finiteness, tree box) while the row is still in cache: what rows_moved does after separate writes,
  /// without a second pass over the rows. A row left non-finite drops the tree and throws
  /// std::invalid_argument once every row was moved (the caller's step is then complete, if diverged).
  template <class Fn>
  void move_rows(const row_id* ids, std::size_t k, Fn&& fn) {
    check_ascending(ids, k, "move_rows");
    const bool identity = store_.identity_order();
    KdTree::AscendingLoosener loosener(tree_);  // ascending ids are ascending slots in an identity order
    std::ptrdiff_t bad = -1;
    // Blocks of rows: fn writes a block, then the upkeep reads it. Reading a row right after its element
    // stores would stall on store forwarding (a vector load cannot take its data from several stores).
    constexpr std::size_t kBlock = 32;
    for (std::size_t i0 = 0; i0 < k; i0 += kBlock) {
      const std::size_t i1 = std::min(k, i0 + kBlock);
      for (std::size_t i = i0; i < i1; ++i) fn(i, store_.slot_data(store_.slot_of(ids[i])));
      for (std::size_t i = i0; i < i1; ++i) {
        const row_id s = store_.slot_of(ids[i]);
        const float* w = store_.slot_data(s);
        store_.refresh_slot_norm(s);
        if (!slot_finite(s)) {
          if (bad < 0) bad = static_cast<std::ptrdiff_t>(i);
          continue;
        }
        if (identity) {
          loosener.add(w, s);
        } else if (tree_.built()) {
          tree_.loosen(store_, s);
        }
      }
    }
    loosener.finish();
    if (bad >= 0) drop_tree_and_throw_nonfinite(ids[bad]);
    rows_changed(k);
  }

  /// Moves rows along one direction x (d floats): w_{ids[i]} <- fma(cs[i], x, w) coordinate by coordinate,
  /// one rounding each (as std::fma), for strictly ascending ids; upkeep and errors as in move_rows. This is
  /// the single-sample SGD update. Rows of at most 4 floats in an identity order (the paper's regime) are
  /// loaded, moved, checked and added to their leaf's box in registers and never read back from memory.
  void move_rows_along(const row_id* ids, std::size_t k, const float* cs, const float* x) {
    const int d = dim();
    if (d > 4 || !store_.identity_order()) {
      move_rows(ids, k, [&](std::size_t i, float* w) {
        for (int j = 0; j < d; ++j) w[j] = std::fma(cs[i], x[j], w[j]);
      });
      return;
    }
    check_ascending(ids, k, "move_rows_along");
    const __m128 xv = RowStore::load_short(x, d);
    std::ptrdiff_t bad = -1;
    // Ascending ids are ascending slots in an identity order.
    tree_.move_short_rows(ids, k, [&](std::size_t i, __m128& v) {
      float* w = store_.slot_data(ids[i]);
      // Lanes from d on hold the next row's first floats (times x's zero padding): computed, never stored.
      v = _mm_fmadd_ps(_mm_set1_ps(cs[i]), xv, RowStore::read_short_row(w));
      RowStore::write_short_row(w, v, d);
      if (RowStore::short_finite(v, d)) return true;
      if (bad < 0) bad = static_cast<std::ptrdiff_t>(i);
      return false;
    });
    if (bad >= 0) drop_tree_and_throw_nonfinite(ids[bad]);
    rows_changed(k);
  }

  /// Rebuilds the tree now (tightens boxes loosened by updates and regroups rows); builds one if there is
  /// none. May permute the store (ids stay valid; slots change).
  void rebuild() { build_tree(); }

  /// Tightens the tree's boxes to the current rows without moving any row (O(m d), far cheaper than a
  /// rebuild); rows keep their slots, so an identity order stays one. No effect without a tree.
  void refit() {
    if (!tree_.built()) return;
    tree_.refit(store_);
    ++stats_.tree_refits;
  }

  /// Sorts the rows into k-d tree order (leaves of 8 rows) and renumbers them so that row id == slot, then
  /// builds the tree the options ask for, which then moves nothing: rows of a leaf are adjacent *and* ids
  /// follow the layout, so no id <-> slot maps are stored and per-row data of an owner (a network's output
  /// weights) can be kept in the same order. Every id changes meaning: for owners that choose their own
  /// numbering (fresh random neurons), before anyone saw the ids. The order depends only on the rows.
  void renumber_in_tree_order() {
    // Rows are checked finite at construction. Leaf size 8 (the finest): a tree of any leaf size built over
    // this order moves nothing, so the numbering does not depend on the index options.
    store_.permute_slots_and_renumber(KdTree::leaf_order(store_, 8));
    if (wants_tree()) {
      build_tree();
    } else {
      tree_ = KdTree();
    }
  }

  std::size_t memory_bytes() const { return store_.memory_bytes() + tree_.memory_bytes(); }

  /// The backend `auto` would pick for a batch of n queries.
  Backend choose(Backend requested, std::size_t n) {
    if (requested == Backend::Auto) requested = options_.backend;
    if (requested == Backend::Tree && !tree_.built()) build_tree();
    if (requested != Backend::Auto) return requested;
    const double m = static_cast<double>(rows()), s = store_.stride(), nn = static_cast<double>(n);
    const int t = threads();
    Backend best = Backend::Scan;
    double best_ns = cost_.scan_ns(nn, m, s, t);
    const double g = cost_.gemm_ns(nn, m, s, t);
    if (g < best_ns) best = Backend::Gemm, best_ns = g;
    if (tree_.built()) {
      const double tr = cost_.tree_ns(nn, m, s, dim(), t);
      if (tr < 0) return Backend::Tree;  // never observed (choose() called before any query)
      if (tr < best_ns) best = Backend::Tree;
    }
    return best;
  }

 private:
  static bool all_finite(const float* v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(v[i])) return false;
    return true;
  }
  /// Whether the row in `slot` is finite. A NaN or inf anywhere shows in a stored norm (which may also
  /// overflow for finite rows near FLT_MAX, hence the direct check then); short rows take one vector test.
  bool slot_finite(row_id slot) const {
    if (store_.has_norms() && std::isfinite(store_.slot_norm(slot))) return true;
    const float* w = store_.slot_data(slot);
    const int d = dim();
    if (d <= 4) return RowStore::short_finite(RowStore::read_short_row(w), d);
    return all_finite(w, static_cast<std::size_t>(d));
  }

  /// A moved row holding NaN or infinity: no box can bound it, so the tree goes (the other backends never
  /// report such a row).
  [[noreturn]] void drop_tree_and_throw_nonfinite(row_id id) {
    tree_ = KdTree();
    throw std::invalid_argument("hsrnet: row " + std::to_string(id) + " contains NaN or infinity after a move");
  }

  // Before auto can weigh the tree it needs one observation of its work on this data: one query.
  void probe_tree(const float* x, float b) {
    if (!tree_.built() || cost_.tree_nodes >= 0) return;
    std::vector<row_id> scratch;
    TreeQueryStats st;
    tree_.query(store_, x, b, scratch, &st);
    cost_.observe_tree(static_cast<double>(st.nodes_visited), static_cast<double>(st.leaf_rows_scanned),
                       static_cast<double>(st.rows_reported_whole));
  }

  void check_ascending(const row_id* ids, std::size_t k, const char* what) const {
    for (std::size_t i = 0; i < k; ++i) {
      check_id(ids[i]);
      if (i > 0 && !(ids[i - 1] < ids[i]))
        throw std::invalid_argument(std::string("hsrnet: ") + what + " needs strictly ascending ids");
    }
  }

  void check_id(row_id id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= rows())
      throw std::out_of_range("hsrnet: row id " + std::to_string(id) + " out of range [0, " + std::to_string(rows()) +
                              ")");
  }

  void rows_changed(std::size_t k) {
    stats_.rows_updated += k;
    if (tree_.built() &&
        static_cast<double>(tree_.updates_since_build()) >= options_.rebuild_after * static_cast<double>(rows()))
      build_tree();
  }

  void build_tree() {
    for (std::size_t s = 0; s < rows(); ++s)
      if (!all_finite(store_.slot_data(static_cast<row_id>(s)), static_cast<std::size_t>(dim())))
        throw std::invalid_argument("hsrnet: cannot build a tree: row " +
                                    std::to_string(store_.id_of(static_cast<row_id>(s))) + " contains NaN or infinity");
    tree_.build(store_, options_.leaf_size);
    ++stats_.tree_builds;
  }

  bool wants_tree() const {
    return options_.backend == Backend::Tree || (options_.backend == Backend::Auto && dim() <= options_.tree_max_dim);
  }

  void finish_construction(bool build_wanted_tree = true) {
    const std::size_t m = store_.rows();
    const int d = store_.dim();
    if (m == 0) throw std::invalid_argument("hsrnet: an index needs at least one row");
    for (std::size_t r = 0; r < m; ++r)
      if (!all_finite(store_.slot_data(static_cast<row_id>(r)), static_cast<std::size_t>(d)))
        throw std::invalid_argument("hsrnet: row " + std::to_string(r) + " contains NaN or infinity");
    if (options_.leaf_size < 8 || options_.leaf_size > 4096)
      throw std::invalid_argument("hsrnet: leaf_size must be in [8, 4096]");
    if (!(options_.rebuild_after > 0.0)) throw std::invalid_argument("hsrnet: rebuild_after must be > 0");
    if (options_.n_threads < 0) throw std::invalid_argument("hsrnet: n_threads must be >= 0");
    if (build_wanted_tree && wants_tree()) build_tree();
  }

  /// Copies queries (x_stride floats apart) into queries_, zero padded to the row stride and aligned for the
  /// GEMM, with norm upper bounds in qnorms_ (the GEMM's rounding band); rejects non-finite queries.
  const float* prepare_queries(const float* X, std::size_t n, std::size_t x_stride) {
    const int stride = store_.stride();
    if (queries_.size() < n * static_cast<std::size_t>(stride))
      queries_ = AlignedBuffer<float>(n * static_cast<std::size_t>(stride));
    qnorms_.resize(n);
    float* Q = queries_.data();
    for (std::size_t q = 0; q < n; ++q) {
      const float* src = X + q * x_stride;
      if (!all_finite(src, dim()))
        throw std::invalid_argument("hsrnet: query " + std::to_string(q) + " contains NaN or infinity");
      std::copy(src, src + dim(), Q + q * stride);
      std::fill(Q + q * stride + dim(), Q + (q + 1) * stride, 0.0f);
      qnorms_[q] = norm_upper_bound(Q + q * stride, dim());
    }
    return Q;
  }

  // Row range [begin, end) of chunk t out of T, on 8-row boundaries.
  std::pair<row_id, row_id> chunk(int t, int T) const {
    const std::size_t m = rows(), blocks = (m + 7) / 8;
    const std::size_t b0 = blocks * t / T, b1 = blocks * (t + 1) / T;
    return {static_cast<row_id>(std::min(m, b0 * 8)), static_cast<row_id>(std::min(m, b1 * 8))};
  }

  // Threads for splitting the rows among, for `queries` queries at once (row_split_threads).
  int row_chunk_threads(std::size_t queries) const { return row_split_threads(rows(), queries, threads()); }

  // fn(t, begin, end) on a team of row_chunk_threads(), thread t on rows chunk(t, T) (ranges ascending with
  // t). Inside the region the team size for nested regions is set to 1: a one-thread region is not an
  // "active" level, so Eigen's GEMM would otherwise open its own team and ignore n_threads.
  template <class Fn>
  void for_row_chunks(std::size_t queries, Fn&& fn) {
#pragma omp parallel num_threads(row_chunk_threads(queries))
    {
      omp_set_num_threads(1);
      const int t = omp_get_thread_num();
      const auto [begin, end] = chunk(t, omp_get_num_threads());
      fn(t, begin, end);
    }
  }

  // Splits the rows across threads; thread t's hits for query q go to parts[t][q], merged in order.
  template <class Fn>
  void over_row_chunks(std::size_t n, std::vector<std::vector<row_id>>& lists, Fn&& fn) {
    const int T = row_chunk_threads(n);
    if (T == 1) {
      for_row_chunks(n, [&](int, row_id begin, row_id end) { fn(begin, end, lists); });
      return;
    }
    std::vector<std::vector<std::vector<row_id>>> parts(T, std::vector<std::vector<row_id>>(n));
    for_row_chunks(n, [&](int t, row_id begin, row_id end) { fn(begin, end, parts[t]); });
    for (std::size_t q = 0; q < n; ++q) {
      std::size_t total = 0;
      for (int t = 0; t < T; ++t) total += parts[t][q].size();
      lists[q].reserve(total);
      for (int t = 0; t < T; ++t) lists[q].insert(lists[q].end(), parts[t][q].begin(), parts[t][q].end());
    }
  }

  void run_scan(const float* Q, std::size_t n, float b, std::vector<std::vector<row_id>>& lists) {
    const int s = store_.stride();
    const std::size_t T = static_cast<std::size_t>(threads());
    if (n >= 2 * T) {  // enough queries: one query per thread at a time
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads())
      for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(n); ++q)
        scan_slots(store_, Q + q * s, b, 0, static_cast<row_id>(rows()), lists[q]);
      return;
    }
    over_row_chunks(n, lists, [&](row_id begin, row_id end, std::vector<std::vector<row_id>>& out) {
      for (std::size_t q = 0; q < n; ++q) scan_slots(store_, Q + q * s, b, begin, end, out[q]);
    });
  }

  void run_gemm(const float* Q, const float* qnorms, std::size_t n, float b, std::vector<std::vector<row_id>>& lists) {
    std::size_t verified = 0;
    over_row_chunks(n, lists, [&](row_id begin, row_id end, std::vector<std::vector<row_id>>& out) {
      const std::size_t v = gemm_threshold_slots(store_, Q, qnorms, static_cast<int>(n), b, begin, end, out);
#pragma omp atomic
      verified += v;
    });
    stats_.rounding_checks += verified;
  }

  void run_tree(const float* Q, std::size_t n, float b, std::vector<std::vector<row_id>>& lists) {
    const int s = store_.stride();
    double nodes = 0, leaf_rows = 0, whole = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads()) reduction(+ : nodes, leaf_rows, whole) if (n > 1)
    for (std::ptrdiff_t q = 0; q < static_cast<std::ptrdiff_t>(n); ++q) {
      TreeQueryStats st;
      tree_.query(store_, Q + q * s, b, lists[q], &st);
      nodes += st.nodes_visited, leaf_rows += st.leaf_rows_scanned, whole += st.rows_reported_whole;
    }
    const double nn = static_cast<double>(n);
    cost_.observe_tree(nodes / nn, leaf_rows / nn, whole / nn);
  }

  IndexOptions options_;
  // Per-call scratch kept between calls (padded queries, their norms, per-query hit lists).
  AlignedBuffer<float> queries_;
  std::vector<float> qnorms_;
  std::vector<std::vector<row_id>> lists_;
  std::vector<row_id> moved_slots_;
  RowStore store_;
  KdTree tree_;
  CostModel cost_;
  IndexStats stats_;
};

}  // namespace hsrnet
