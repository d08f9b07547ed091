// Backend "tree": a k-d tree over the rows with axis-aligned bounding boxes, for low dimensions.
//
// For a query x the largest and smallest <w, x> over a box are sum_j x_j * (hi_j or lo_j). A subtree whose
// largest value (plus the rounding margin of reference_dot) is <= b is pruned; one whose smallest value
// (minus the margin) is > b is reported whole; leaves in between are scanned with the reference kernel.
// Box bounds are evaluated in double, where each x_j * w_j is exact, so the only slack needed is the
// reference kernel's own rounding bound (dot_error_coefficient) and the double sum's rounding.
//
// Building the tree permutes the row store so that every node owns a contiguous range of slots: leaf scans
// read memory sequentially. The build is deterministic (ties in a split coordinate go by slot, rows inside a
// leaf keep their previous relative order), so rebuilding over an order this tree produced permutes
// nothing. Updates loosen boxes (grow them to contain the moved row) instead of restructuring; refit()
// tightens every box to its rows again without moving any row; a rebuild also regroups the rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "hsrnet/index/row_store.hpp"
#include "hsrnet/index/scan_backend.hpp"

namespace hsrnet {

struct TreeQueryStats {
  std::size_t nodes_visited = 0;
  std::size_t leaf_rows_scanned = 0;
  std::size_t rows_reported_whole = 0;
};

class KdTree {
 public:
  KdTree() = default;

  /// Builds over every row of `store` and permutes the store into leaf order.
  void build(RowStore& store, int leaf_size) {
    d_ = store.dim();
    leaf_size_ = std::max(8, leaf_size);
    const std::size_t m = store.rows();
    // Fresh vectors of the exact size: clear() would keep the capacity of a deeper tree built before (the
    // leaf-8 sort of a new network), and push_back's doubling would hold up to twice the nodes.
    const std::size_t nodes = m > 0 ? count_nodes(static_cast<row_id>(m)) : 0;
    std::vector<Node>().swap(nodes_);
    std::vector<float>().swap(lo_);
    std::vector<float>().swap(hi_);
    nodes_.reserve(nodes);
    lo_.reserve(nodes * d_);
    hi_.reserve(nodes * d_);
    std::vector<row_id> order(m);
    std::iota(order.begin(), order.end(), row_id{0});
    std::vector<float> box;
    if (m > 0) build_node<true>(store, order, 0, static_cast<row_id>(m), -1, box);
    store.permute_slots(order);
    leaf_begin_.clear();
    leaf_node_.clear();
    for (std::size_t n = 0; n < nodes_.size(); ++n)
      if (nodes_[n].left < 0) {
        leaf_begin_.push_back(nodes_[n].begin);
        leaf_node_.push_back(static_cast<std::int32_t>(n));
      }
    // Leaves were created in slot order (depth first, left to right), so leaf_begin_ is ascending.
    updates_since_build_ = 0;
    built_ = true;
  }

  /// The slot order a tree of this leaf size would put the rows in, without building one (no boxes kept):
  /// what a network sorting its fresh neurons needs. build() over that order moves no row.
  static std::vector<row_id> leaf_order(const RowStore& store, int leaf_size) {
    KdTree sorter;
    sorter.d_ = store.dim();
    sorter.leaf_size_ = std::max(8, leaf_size);
    std::vector<row_id> order(store.rows());
    std::iota(order.begin(), order.end(), row_id{0});
    std::vector<float> box;
    if (!order.empty()) sorter.build_node<false>(store, order, 0, static_cast<row_id>(order.size()), -1, box);
    return order;
  }

  bool built() const { return built_; }
  std::size_t num_nodes() const { return nodes_.size(); }
  std::size_t updates_since_build() const { return updates_since_build_; }

  /// Appends, ascending, every slot whose reference_dot with x (padded to the store's stride) exceeds b
  /// (depth first, left child first, and every node owns a contiguous slot range).
  void query(const RowStore& store, const float* x, float b, std::vector<row_id>& out, TreeQueryStats* stats) const {
    if (nodes_.empty()) return;
    const int d = d_;
    const double coef = dot_error_coefficient(d) + d * 2.3e-16;  // reference rounding + double sum rounding
    const double floor_abs = dot_error_floor(d);
    const double bd = b;
    std::int32_t stack[128];
    int top = 0;
    stack[top++] = 0;
    TreeQueryStats local;
    while (top > 0) {
      const std::int32_t ni = stack[--top];
      const Node& node = nodes_[ni];
      ++local.nodes_visited;
      const float* lo = lo_.data() + static_cast<std::size_t>(ni) * d;
      const float* hi = hi_.data() + static_cast<std::size_t>(ni) * d;
      double upper = 0.0, lower = 0.0, absmax = 0.0;
      for (int j = 0; j < d; ++j) {
        const double xj = x[j], l = static_cast<double>(lo[j]) * xj, h = static_cast<double>(hi[j]) * xj;
        upper += std::max(l, h);
        lower += std::min(l, h);
        absmax += std::max(std::abs(l), std::abs(h));
      }
      const double slack = coef * absmax + floor_abs;
      // Below kNoOverflowBound no fp32 partial sum of reference_dot can overflow, so the bounds hold; above it
      // (rows or queries near FLT_MAX) the box decides nothing and the leaves are scanned.
      const bool bounded = absmax < kNoOverflowBound;
      if (bounded && upper + slack <= bd) continue;  // no row of the box can exceed b
      if (bounded && lower - slack > bd) {           // every row of the box exceeds b
        for (row_id s = node.begin; s < node.end; ++s) out.push_back(s);
        local.rows_reported_whole += static_cast<std::size_t>(node.end - node.begin);
        continue;
      }
      if (node.left < 0) {
        scan_slots(store, x, b, node.begin, node.end, out);
        local.leaf_rows_scanned += static_cast<std::size_t>(node.end - node.begin);
        continue;
      }
      // Left child first (pushed last): slots come out ascending.
      stack[top++] = node.right;
      stack[top++] = node.left;
    }
    if (stats) *stats = local;
  }

  /// The row in `slot` has new values: grow the boxes of its leaf and of every ancestor to contain it.
  void loosen(const RowStore& store, row_id slot) {
    ++updates_since_build_;
    if (!built_) return;
    const std::size_t li =
        static_cast<std::size_t>(std::upper_bound(leaf_begin_.begin(), leaf_begin_.end(), slot) - leaf_begin_.begin()) -
        1;
    loosen_leaf(store, slot, li);
  }

  /// loosen() for many slots given ascending: leaves are found by walking forward instead of searching,
  /// and rows and boxes are touched in memory order (a training step moves thousands of rows that the tree
  /// reported as a few contiguous runs).
  void loosen_sorted(const RowStore& store, const row_id* slots, std::size_t k) {
    if (d_ <= 4) {  // rows of one vector: the run's box in registers
      move_short_rows(slots, k, [&](std::size_t i, __m128& v) {
        v = RowStore::read_short_row(store.slot_data(slots[i]));
        return true;
      });
      return;
    }
    AscendingLoosener batch(*this);
    for (std::size_t i = 0; i < k; ++i) batch.add(store.slot_data(slots[i]), slots[i]);
    batch.finish();
  }

  /// Loosening for rows moved in ascending slot order, one leaf at a time: the moved rows of a leaf (the
  /// tree reports them as runs) are gathered into one box, and the leaf and its ancestors are grown once
  /// per run instead of once per row. Call finish() after the last row. (Rows of d <= 4 already in
  /// registers: move_short_rows.)
  class AscendingLoosener {
   public:
    explicit AscendingLoosener(KdTree& tree) : t_(tree), lo_(tree.d_), hi_(tree.d_) {}
    /// `w` is the row in `slot` (d floats).
    void add(const float* w, row_id slot) {
      ++updates_;
      if (!t_.built_) return;
      const std::size_t li = t_.leaf_from(cursor_, slot);
      const int d = t_.d_;
      if (li != leaf_) {
        finish_leaf();
        leaf_ = li;
        std::copy_n(w, d, lo_.data());
        std::copy_n(w, d, hi_.data());
        return;
      }
      for (int j = 0; j < d; ++j) lo_[j] = std::min(lo_[j], w[j]), hi_[j] = std::max(hi_[j], w[j]);
    }
    void finish() {
      finish_leaf();
      t_.updates_since_build_ += updates_;
      updates_ = 0;
    }

   private:
    void finish_leaf() {
      if (leaf_ == kNone) return;
      t_.grow_from_leaf(leaf_, lo_.data(), hi_.data());
      leaf_ = kNone;
    }

    static constexpr std::size_t kNone = ~std::size_t{0};
    KdTree& t_;
    std::vector<float> lo_, hi_;
    std::size_t cursor_ = 0, leaf_ = kNone, updates_ = 0;
  };

  /// Moves rows of d <= 4 floats and loosens the boxes around them, for slots[0..k) strictly ascending:
  /// move(i, v) moves the row in slots[i] and sets v to its new value (lanes from d on are ignored), or
  /// returns false to leave it out of the boxes (a row that became non-finite). Rows are taken one leaf
  /// run at a time, the run's box kept in registers: AscendingLoosener's work without reloading rows.
  template <class Move>
  void move_short_rows(const row_id* slots, std::size_t k, Move&& move) {
    std::size_t i = 0, cursor = 0;
    __m128 v;
    if (!built_) {
      for (; i < k; ++i) move(i, v);
      return;
    }
    alignas(16) float lo[4], hi[4];
    while (i < k) {
      const std::size_t li = leaf_from(cursor, slots[i]);
      const row_id end = li + 1 < leaf_begin_.size() ? leaf_begin_[li + 1] : std::numeric_limits<row_id>::max();
      __m128 vlo = _mm_set1_ps(std::numeric_limits<float>::infinity()),
             vhi = _mm_set1_ps(-std::numeric_limits<float>::infinity());
      std::size_t added = 0;
      for (; i < k && slots[i] < end; ++i) {
        if (!move(i, v)) continue;
        vlo = _mm_min_ps(vlo, v);
        vhi = _mm_max_ps(vhi, v);
        ++added;
      }
      if (added == 0) continue;
      _mm_store_ps(lo, vlo);
      _mm_store_ps(hi, vhi);
      grow_from_leaf(li, lo, hi);
      updates_since_build_ += added;
    }
  }

  /// Tightens every box to the rows it holds now (after updates loosened them), keeping the layout: no row
  /// moves, so slots and ids stay valid. O(m d).
  void refit(const RowStore& store) {
    if (!built_) return;
    // Children come after their parent in nodes_ (depth-first creation): one backward pass.
    for (std::size_t k = nodes_.size(); k-- > 0;) {
      const Node& node = nodes_[k];
      float* lo = lo_.data() + k * d_;
      float* hi = hi_.data() + k * d_;
      if (node.left < 0) {
        box_of_slots(store, node.begin, node.end, lo, hi);
        continue;
      }
      const float* l0 = lo_.data() + static_cast<std::size_t>(node.left) * d_;
      const float* h0 = hi_.data() + static_cast<std::size_t>(node.left) * d_;
      const float* l1 = lo_.data() + static_cast<std::size_t>(node.right) * d_;
      const float* h1 = hi_.data() + static_cast<std::size_t>(node.right) * d_;
      for (int j = 0; j < d_; ++j) lo[j] = std::min(l0[j], l1[j]), hi[j] = std::max(h0[j], h1[j]);
    }
    updates_since_build_ = 0;
  }

 private:
  /// The leaf holding `slot`, walking forward from leaf `cursor` (slots come ascending): short hops walk,
  /// long jumps search the rest.
  std::size_t leaf_from(std::size_t& cursor, row_id slot) const {
    const std::size_t L = leaf_begin_.size();
    std::size_t li = cursor;
    if (li + 1 < L && leaf_begin_[li + 1] <= slot) {
      std::size_t hop = 0;
      while (li + 1 < L && leaf_begin_[li + 1] <= slot && hop < 4) ++li, ++hop;
      if (li + 1 < L && leaf_begin_[li + 1] <= slot)
        li = static_cast<std::size_t>(std::upper_bound(leaf_begin_.begin() + li, leaf_begin_.end(), slot) -
                                      leaf_begin_.begin()) -
             1;
    }
    return cursor = li;
  }

  void box_of_slots(const RowStore& store, row_id begin, row_id end, float* lo, float* hi) const {
    std::copy_n(store.slot_data(begin), d_, lo);
    std::copy_n(lo, d_, hi);
    for (row_id s = begin + 1; s < end; ++s) {
      const float* w = store.slot_data(s);
      for (int j = 0; j < d_; ++j) lo[j] = std::min(lo[j], w[j]), hi[j] = std::max(hi[j], w[j]);
    }
  }

  void loosen_leaf(const RowStore& store, row_id slot, std::size_t li) {
    const float* w = store.slot_data(slot);
    grow_from_leaf(li, w, w);
  }

  /// Grows leaf li's box and its ancestors' to contain the box [blo, bhi].
  void grow_from_leaf(std::size_t li, const float* blo, const float* bhi) {
    for (std::int32_t ni = leaf_node_[li]; ni >= 0; ni = nodes_[ni].parent) {
      float* lo = lo_.data() + static_cast<std::size_t>(ni) * d_;
      float* hi = hi_.data() + static_cast<std::size_t>(ni) * d_;
      bool grew = false;
      for (int j = 0; j < d_; ++j) {
        if (blo[j] < lo[j]) lo[j] = blo[j], grew = true;
        if (bhi[j] > hi[j]) hi[j] = bhi[j], grew = true;
      }
      if (!grew) break;  // inside this box, hence inside every ancestor's
    }
  }

 public:
  std::size_t memory_bytes() const {
    return nodes_.capacity() * sizeof(Node) + (lo_.capacity() + hi_.capacity()) * sizeof(float) +
           leaf_begin_.capacity() * sizeof(row_id) + leaf_node_.capacity() * sizeof(std::int32_t);
  }

 private:
  struct Node {
    row_id begin, end;         // slot range
    std::int32_t left, right;  // children; left < 0 marks a leaf
    std::int32_t parent;       // -1 at the root
  };

  /// Where a node of slots [begin, end) splits: near the median, at a multiple of 8 slots so leaves start on
  /// 8-row blocks of the scan kernel. Depends on the sizes only.
  static row_id split_point(row_id begin, row_id end) {
    const row_id mid = begin + ((end - begin) / 2 + 7) / 8 * 8;
    return mid < end ? mid : begin + (end - begin) / 2;
  }

  std::size_t count_nodes(row_id size) const {
    if (size <= leaf_size_) return 1;
    const row_id mid = split_point(0, size);
    return 1 + count_nodes(mid) + count_nodes(size - mid);
  }

  /// Boxes order[begin, end), splits it at split_point along its widest coordinate and recurses; a leaf's
  /// rows are put back in their previous relative order (nth_element leaves any). kRecord: keep the node
  /// and its box (build); otherwise only the order is wanted (leaf_order) and `box` is scratch.
  template <bool kRecord>
  std::int32_t build_node(const RowStore& store, std::vector<row_id>& order, row_id begin, row_id end,
                          std::int32_t parent, std::vector<float>& box) {
    std::int32_t ni = -1;
    float *lo, *hi;
    if constexpr (kRecord) {
      ni = static_cast<std::int32_t>(nodes_.size());
      nodes_.push_back(Node{begin, end, -1, -1, parent});
      lo_.resize(lo_.size() + d_);
      hi_.resize(hi_.size() + d_);
      lo = lo_.data() + static_cast<std::size_t>(ni) * d_;
      hi = hi_.data() + static_cast<std::size_t>(ni) * d_;
    } else {
      box.resize(2 * static_cast<std::size_t>(d_));  // needed only until the split is chosen
      lo = box.data();
      hi = lo + d_;
    }
    std::copy(store.slot_data(order[begin]), store.slot_data(order[begin]) + d_, lo);
    std::copy(lo, lo + d_, hi);
    for (row_id k = begin + 1; k < end; ++k) {
      const float* w = store.slot_data(order[k]);
      for (int j = 0; j < d_; ++j) {
        lo[j] = std::min(lo[j], w[j]);
        hi[j] = std::max(hi[j], w[j]);
      }
    }
    if (end - begin <= leaf_size_) {
      std::sort(order.begin() + begin, order.begin() + end);
      return ni;
    }
    int split = 0;
    for (int j = 1; j < d_; ++j)
      if (hi[j] - lo[j] > hi[split] - lo[split]) split = j;
    const row_id mid = split_point(begin, end);
    // Ties go by slot, so the two halves are the same sets whatever nth_element's implementation does.
    std::nth_element(order.begin() + begin, order.begin() + mid, order.begin() + end, [&](row_id a, row_id c) {
      const float va = store.slot_data(a)[split], vc = store.slot_data(c)[split];
      return va < vc || (!(vc < va) && a < c);
    });
    const std::int32_t left = build_node<kRecord>(store, order, begin, mid, ni, box);
    const std::int32_t right = build_node<kRecord>(store, order, mid, end, ni, box);
    if constexpr (kRecord) {
      nodes_[ni].left = left;
      nodes_[ni].right = right;
    }
    return ni;
  }

  int d_ = 0;
  int leaf_size_ = 64;
  bool built_ = false;
  std::size_t updates_since_build_ = 0;
  std::vector<Node> nodes_;
  std::vector<float> lo_, hi_;  // per node, d floats each
  std::vector<row_id> leaf_begin_;
  std::vector<std::int32_t> leaf_node_;
};

}  // namespace hsrnet
