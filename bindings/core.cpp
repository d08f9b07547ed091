// hsrnet._core: the thin nanobind layer over the C++ library. Validation with readable messages lives in
// the pure-Python package (python/hsrnet); this file only converts types. Arrays come in without copies
// (float32, C-contiguous, enforced by the signatures) and go out as numpy arrays owning C++ buffers.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <hsrnet/hsrnet.hpp>
#include <mutex>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <class T>
using CArray = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;

/// Moves a vector into a 1-D numpy array without copying.
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T>&& v) {
  auto* owner = new std::vector<T>(std::move(v));
  nb::capsule del(owner, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owner->data(), {owner->size()}, del);
}

/// The index plus a lock: Python threads may share an index; calls run without the GIL.
struct PyIndex {
  hsrnet::HalfSpaceIndex index;
  std::mutex mutex;
  PyIndex(const float* rows, std::size_t m, int d, hsrnet::IndexOptions o) : index(rows, m, d, o) {}
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "hsrnet compiled core (private; use the hsrnet package)";

  m.def("reference_dot", [](CArray<float> w, CArray<float> x) {
    return hsrnet::reference_dot(w.data(), x.data(), static_cast<int>(w.size()));
  }, "w"_a, "x"_a);
  m.def("dot_error_coefficient", &hsrnet::dot_error_coefficient, "d"_a);
  m.def("padded_stride", &hsrnet::padded_stride, "d"_a);
  m.def("max_threads", []() { return omp_get_max_threads(); });

  nb::class_<PyIndex>(m, "HalfSpaceIndex")
      .def("__init__",
           [](PyIndex* self, CArray<float> rows, const std::string& backend, int leaf_size, int tree_max_dim,
              double rebuild_after, int n_threads) {
             hsrnet::IndexOptions o;
             o.backend = hsrnet::parse_backend(backend);
             o.leaf_size = leaf_size;
             o.tree_max_dim = tree_max_dim;
             o.rebuild_after = rebuild_after;
             o.n_threads = n_threads;
             nb::gil_scoped_release release;
             new (self) PyIndex(rows.data(), rows.shape(0), static_cast<int>(rows.shape(1)), o);
           },
           "rows"_a, "backend"_a, "leaf_size"_a, "tree_max_dim"_a, "rebuild_after"_a, "n_threads"_a)
      .def_prop_ro("m", [](PyIndex& s) { return s.index.rows(); })
      .def_prop_ro("d", [](PyIndex& s) { return s.index.dim(); })
      .def_prop_ro("has_tree", [](PyIndex& s) { return s.index.has_tree(); })
      .def_prop_ro("memory_bytes", [](PyIndex& s) { return s.index.memory_bytes(); })
      .def_prop_rw("n_threads", [](PyIndex& s) { return s.index.options().n_threads; },
                   [](PyIndex& s, int n) { std::lock_guard<std::mutex> lock(s.mutex); s.index.set_n_threads(n); })
      .def("query",
           [](PyIndex& s, CArray<float> x, double b, const std::string& backend) {
             const hsrnet::Backend be = hsrnet::parse_backend(backend);
             std::vector<hsrnet::row_id> ids;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               ids = s.index.query(x.data(), b, be);
             }
             return to_numpy(std::move(ids));
           },
           "x"_a, "b"_a, "backend"_a)
      .def("query_batch",
           [](PyIndex& s, CArray<float> X, double b, const std::string& backend) {
             const hsrnet::Backend be = hsrnet::parse_backend(backend);
             hsrnet::CsrResult r;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               r = s.index.query_batch(X.data(), X.shape(0), b, be);
             }
             return nb::make_tuple(to_numpy(std::move(r.offsets)), to_numpy(std::move(r.indices)));
           },
           "X"_a, "b"_a, "backend"_a)
      .def("update",
           [](PyIndex& s, CArray<std::int32_t> ids, CArray<float> values) {
             nb::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(s.mutex);
             s.index.update(ids.data(), ids.size(), values.data());
           },
           "ids"_a, "values"_a)
      .def("get_rows",
           [](PyIndex& s, CArray<std::int32_t> ids) {
             const int d = s.index.dim();
             std::vector<float> out(ids.size() * static_cast<std::size_t>(d));
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               for (std::size_t i = 0; i < ids.size(); ++i) s.index.get_row(ids.data()[i], out.data() + i * d);
             }
             return to_numpy(std::move(out));
           },
           "ids"_a)
      .def("rebuild", [](PyIndex& s) {
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(s.mutex);
        s.index.rebuild();
      })
      .def("choose", [](PyIndex& s, const std::string& backend, std::size_t n) {
        std::lock_guard<std::mutex> lock(s.mutex);
        return std::string(hsrnet::backend_name(s.index.choose(hsrnet::parse_backend(backend), n)));
      }, "backend"_a, "n"_a)
      .def("stats", [](PyIndex& s) {
        std::lock_guard<std::mutex> lock(s.mutex);
        const hsrnet::IndexStats& st = s.index.stats();
        nb::dict d;
        d["queries"] = st.queries;
        d["scan_calls"] = st.scan_calls;
        d["gemm_calls"] = st.gemm_calls;
        d["tree_calls"] = st.tree_calls;
        d["rows_updated"] = st.rows_updated;
        d["tree_builds"] = st.tree_builds;
        d["rounding_checks"] = st.rounding_checks;
        d["last_backend"] = std::string(hsrnet::backend_name(st.last_backend));
        return d;
      });
}
