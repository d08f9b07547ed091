// hsrnet._core: the thin nanobind layer over the C++ library. Validation with readable messages lives in
// the pure-Python package (python/hsrnet); this file only converts types. Arrays come in without copies
// (float32, C-contiguous, enforced by the signatures) and go out as numpy arrays owning C++ buffers.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <string>

#include <chrono>
#include <hsrnet/hsrnet.hpp>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
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

/// Moves a vector into a 2-D numpy array (rows x cols) without copying.
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<2>> to_numpy2(std::vector<T>&& v, std::size_t rows, std::size_t cols) {
  auto* owner = new std::vector<T>(std::move(v));
  nb::capsule del(owner, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<2>>(owner->data(), {rows, cols}, del);
}

/// The index plus a lock: Python threads may share an index; calls run without the GIL.
struct PyIndex {
  hsrnet::HalfSpaceIndex index;
  std::mutex mutex;
  PyIndex(const float* rows, std::size_t m, int d, hsrnet::IndexOptions o) : index(rows, m, d, o) {}
};

/// A network plus a lock (the trainer and predict share its index).
struct PyNet {
  std::unique_ptr<hsrnet::ShiftedReLUNet> net;
  std::mutex mutex;
};

nb::dict epoch_stats_dict(const hsrnet::EpochStats& e) {
  nb::dict d;
  d["epoch"] = e.epoch;
  d["steps"] = e.steps;
  d["samples"] = e.samples;
  d["mean_loss"] = e.mean_loss;
  d["firing_fraction"] = e.firing_fraction;
  d["candidate_fraction"] = e.candidate_fraction;
  d["identify_s"] = e.identify_s;
  d["forward_s"] = e.forward_s;
  d["backward_s"] = e.backward_s;
  d["update_s"] = e.update_s;
  d["index_s"] = e.index_s;
  d["total_s"] = e.total_s;
  d["learning_rate"] = e.learning_rate;
  d["strategy"] = std::string(hsrnet::strategy_name(e.strategy));
  d["index_backend"] = std::string(hsrnet::backend_name(e.index_backend));
  d["cache_fallback"] = e.cache_fallback;
  d["cache_builds"] = e.cache_builds;
  d["cache_delta"] = e.cache_delta;
  d["cache_bytes"] = e.cache_bytes;
  d["tree_builds"] = e.tree_builds;
  d["tree_refits"] = e.tree_refits;
  d["rows_updated"] = e.rows_updated;
  d["candidates"] = e.candidates;
  d["interrupted"] = e.interrupted;
  return d;
}

/// While alive, lets KeyboardInterrupt (and any other signal handler's exception) stop a training epoch
/// between steps: every ~30 ms of steady-clock time the check takes the GIL briefly and runs the Python signal
/// handlers (PyErr_CheckSignals; only the main thread sees signals). An exception is kept and re-raised by
/// `rethrow`, with the partial epoch's statistics attached as `exc.epoch_stats`.
struct InterruptGuard {
  hsrnet::SgdTrainer& trainer;
  std::optional<nb::python_error> error;
  std::chrono::steady_clock::time_point next;
  explicit InterruptGuard(hsrnet::SgdTrainer& t) : trainer(t), next(std::chrono::steady_clock::now()) {
    trainer.set_interrupt_check([this]() {
      const auto now = std::chrono::steady_clock::now();
      if (now < next) return false;
      next = now + std::chrono::milliseconds(30);
      nb::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() == 0) return false;
      error.emplace();  // fetches (and clears) the pending exception
      return true;
    });
  }
  ~InterruptGuard() { trainer.set_interrupt_check(nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  /// With the GIL held, after fit_epoch: raises the kept exception, if any.
  void rethrow(const hsrnet::EpochStats& e) {
    if (!error) return;
    if (PyObject_SetAttrString(error->value().ptr(), "epoch_stats", epoch_stats_dict(e).ptr()) != 0) PyErr_Clear();
    throw std::move(*error);
  }
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "hsrnet compiled core (private; use the hsrnet package)";
  m.attr("__version__") = std::to_string(HSRNET_VERSION_MAJOR) + "." + std::to_string(HSRNET_VERSION_MINOR) + "." +
                          std::to_string(HSRNET_VERSION_PATCH);

  m.def(
      "reference_dot",
      [](CArray<float> w, CArray<float> x) {
        return hsrnet::reference_dot(w.data(), x.data(), static_cast<int>(w.size()));
      },
      "w"_a, "x"_a);
  m.def("dot_error_coefficient", &hsrnet::dot_error_coefficient, "d"_a);
  m.def("padded_stride", &hsrnet::padded_stride, "d"_a);
  m.def("max_threads", []() { return omp_get_max_threads(); });
  // The accepted names, in the order the Python package lists them, from the C++ enums' own name functions.
  {
    using hsrnet::Backend;
    using hsrnet::Strategy;
    nb::list strategies, backends, optimizers, losses, schedules;
    for (Strategy v :
         {Strategy::Auto, Strategy::Dense, Strategy::Scan, Strategy::Gemm, Strategy::Tree, Strategy::Cache})
      strategies.append(hsrnet::strategy_name(v));
    for (Backend v : {Backend::Auto, Backend::Scan, Backend::Gemm, Backend::Tree})
      backends.append(hsrnet::backend_name(v));
    for (hsrnet::Optimizer v : {hsrnet::Optimizer::SGD, hsrnet::Optimizer::Adagrad, hsrnet::Optimizer::RowwiseAdagrad,
                                hsrnet::Optimizer::Adam})
      optimizers.append(hsrnet::optimizer_name(v));
    for (hsrnet::Loss v : {hsrnet::Loss::SquaredError, hsrnet::Loss::SoftmaxCrossEntropy})
      losses.append(hsrnet::loss_name(v));
    for (hsrnet::Schedule v :
         {hsrnet::Schedule::Constant, hsrnet::Schedule::InvScaling, hsrnet::Schedule::SklearnInvScaling})
      schedules.append(hsrnet::schedule_name(v));
    m.attr("STRATEGIES") = nb::tuple(strategies);
    m.attr("BACKENDS") = nb::tuple(backends);
    m.attr("OPTIMIZERS") = nb::tuple(optimizers);
    m.attr("LOSSES") = nb::tuple(losses);
    m.attr("SCHEDULES") = nb::tuple(schedules);
    m.attr("TREE_MAX_DIM") = hsrnet::kTreeMaxDim;
  }
  // The real b = sqrt(0.4 ln m); a network compares against float_threshold of it.
  m.def("default_threshold", &hsrnet::ShiftedReLUNet::default_threshold_real, "m"_a);
  // In a child created by fork() after the parent ran OpenMP, libgomp's thread pool is gone and a parallel
  // region with 2+ threads hangs: no level of parallelism may be active there (every region runs on 1 thread,
  // whatever its num_threads clause says).
  m.def("_single_threaded_after_fork", []() {
    omp_set_max_active_levels(0);
    omp_set_num_threads(1);
  });
  m.def("_max_active_levels", []() { return omp_get_max_active_levels(); });

  nb::class_<PyIndex>(m, "HalfSpaceIndex")
      .def(
          "__init__",
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
      .def_prop_rw(
          "n_threads", [](PyIndex& s) { return s.index.options().n_threads; },
          [](PyIndex& s, int n) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.index.set_n_threads(n);
          })
      .def(
          "query",
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
      .def(
          "query_batch",
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
      .def(
          "update",
          [](PyIndex& s, CArray<std::int32_t> ids, CArray<float> values) {
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            s.index.update(ids.data(), ids.size(), values.data());
          },
          "ids"_a, "values"_a)
      .def(
          "get_rows",
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
      .def("rebuild",
           [](PyIndex& s) {
             nb::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(s.mutex);
             s.index.rebuild();
           })
      .def(
          "choose",
          [](PyIndex& s, const std::string& backend, std::size_t n) {
            std::lock_guard<std::mutex> lock(s.mutex);
            return std::string(hsrnet::backend_name(s.index.choose(hsrnet::parse_backend(backend), n)));
          },
          "backend"_a, "n"_a)
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
        d["tree_refits"] = st.tree_refits;
        d["rounding_checks"] = st.rounding_checks;
        d["last_backend"] = std::string(hsrnet::backend_name(st.last_backend));
        return d;
      });

  nb::class_<PyNet>(m, "Network")
      .def(
          "__init__",
          [](PyNet* self, int d, std::size_t width, int K, double threshold, std::uint64_t seed, nb::object W,
             nb::object A, const std::string& index_backend, int leaf_size, int n_threads, double output_scale) {
            hsrnet::NetOptions o;
            o.threshold = threshold;        // NaN: sqrt(0.4 ln m)
            o.output_scale = output_scale;  // NaN: 1/sqrt(m)
            o.seed = seed;
            o.index.backend = hsrnet::parse_backend(index_backend);
            o.index.leaf_size = leaf_size;
            o.index.n_threads = n_threads;
            const float* w = W.is_none() ? nullptr : nb::cast<CArray<float>>(W).data();
            const float* a = A.is_none() ? nullptr : nb::cast<CArray<float>>(A).data();
            new (self) PyNet();
            nb::gil_scoped_release release;
            self->net = w ? std::make_unique<hsrnet::ShiftedReLUNet>(d, width, K, w, a, o)
                          : std::make_unique<hsrnet::ShiftedReLUNet>(d, width, K, o);
          },
          "d"_a, "m"_a, "K"_a, "threshold"_a, "seed"_a, "W"_a.none(), "A"_a.none(), "index_backend"_a, "leaf_size"_a,
          "n_threads"_a, "output_scale"_a = std::numeric_limits<double>::quiet_NaN())
      .def_prop_ro("d", [](PyNet& s) { return s.net->input_dim(); })
      .def_prop_ro("m", [](PyNet& s) { return s.net->width(); })
      .def_prop_ro("K", [](PyNet& s) { return s.net->outputs(); })
      .def_prop_ro("threshold", [](PyNet& s) { return s.net->threshold(); })
      .def_prop_ro("output_scale", [](PyNet& s) { return s.net->output_scale(); })
      .def_prop_ro(
          "memory_bytes",
          [](PyNet& s) { return s.net->index().memory_bytes() + s.net->width() * s.net->outputs() * sizeof(float); })
      // Waits for the lock without the GIL: a training epoch holding the lock takes the GIL to check for Ctrl-C.
      .def_prop_rw(
          "n_threads", [](PyNet& s) { return s.net->index().options().n_threads; },
          [](PyNet& s, int n) {
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            s.net->index().set_n_threads(n);
          })
      .def("hidden_weights",
           [](PyNet& s) {
             std::vector<float> W(s.net->width() * static_cast<std::size_t>(s.net->input_dim()));
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               s.net->get_hidden_weights(W.data());
             }
             return to_numpy2(std::move(W), s.net->width(), static_cast<std::size_t>(s.net->input_dim()));
           })
      .def("output_weights",
           [](PyNet& s) {
             const std::size_t n = s.net->width() * static_cast<std::size_t>(s.net->outputs());
             std::vector<float> A;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               A.assign(s.net->output_weights(), s.net->output_weights() + n);
             }
             return to_numpy2(std::move(A), s.net->width(), static_cast<std::size_t>(s.net->outputs()));
           })
      .def(
          "predict",
          [](PyNet& s, CArray<float> X) {
            const std::size_t n = X.shape(0);
            std::vector<float> out(n * static_cast<std::size_t>(s.net->outputs()));
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(s.mutex);
              s.net->predict(X.data(), n, out.data());
            }
            return to_numpy2(std::move(out), n, static_cast<std::size_t>(s.net->outputs()));
          },
          "X"_a)
      .def(
          "firing",
          [](PyNet& s, CArray<float> x) {
            std::vector<hsrnet::row_id> ids;
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(s.mutex);
              ids = s.net->firing(x.data());
            }
            return to_numpy(std::move(ids));
          },
          "x"_a);

  nb::class_<hsrnet::SgdTrainer>(m, "Trainer")
      .def(
          "__init__",
          [](hsrnet::SgdTrainer* self, std::size_t batch_size, double lr, const std::string& schedule, double power,
             const std::string& strategy, bool train_output_layer, const std::string& loss, std::uint64_t seed,
             bool shuffle, std::size_t cache_budget_bytes, int n_threads, const std::string& optimizer, double momentum,
             double beta1, double beta2, double epsilon) {
            hsrnet::TrainerOptions o;
            o.batch_size = batch_size;
            o.lr = lr;
            o.schedule = hsrnet::parse_schedule(schedule);
            o.power = power;
            o.strategy = hsrnet::parse_strategy(strategy);
            o.train_output_layer = train_output_layer;
            o.loss = hsrnet::parse_loss(loss);
            o.seed = seed;
            o.shuffle = shuffle;
            o.cache_budget_bytes = cache_budget_bytes;
            o.n_threads = n_threads;
            o.optimizer.kind = hsrnet::parse_optimizer(optimizer);
            o.optimizer.momentum = momentum;
            o.optimizer.beta1 = beta1;
            o.optimizer.beta2 = beta2;
            o.optimizer.epsilon = epsilon;
            new (self) hsrnet::SgdTrainer(o);
          },
          "batch_size"_a, "lr"_a, "schedule"_a, "power"_a, "strategy"_a, "train_output_layer"_a, "loss"_a, "seed"_a,
          "shuffle"_a, "cache_budget_bytes"_a, "n_threads"_a, "optimizer"_a = "sgd", "momentum"_a = 0.0,
          "beta1"_a = 0.9, "beta2"_a = 0.999, "epsilon"_a = -1.0)
      .def("set_learning_rate", &hsrnet::SgdTrainer::set_learning_rate, "lr"_a)
      .def("set_progress", &hsrnet::SgdTrainer::set_progress, "steps_done"_a, "samples_seen"_a)
      .def_prop_ro("next_learning_rate", &hsrnet::SgdTrainer::next_learning_rate)
      .def_prop_ro("samples_seen", &hsrnet::SgdTrainer::samples_seen)
      .def("reseed", &hsrnet::SgdTrainer::reseed, "seed"_a)
      .def(
          "optimizer_state",
          [](hsrnet::SgdTrainer& t, PyNet& net) {
            // Arrays by name (hidden rows without their padding), plus the step count; empty before the first
            // stateful step.
            const hsrnet::OptimizerState& os = t.optimizer_state();
            nb::dict out;
            out["steps"] = os.steps();
            const std::size_t m = os.rows();
            const int d = net.net->input_dim(), stride = os.stride(), K = os.outputs();
            auto hidden = [&](const hsrnet::AlignedBuffer<float>& buf, const char* name) {
              if (!buf.size()) return;
              if (buf.size() == m) {
                out[name] = to_numpy(std::vector<float>(buf.data(), buf.data() + m));
                return;
              }
              std::vector<float> v(m * static_cast<std::size_t>(d));
              for (std::size_t r = 0; r < m; ++r)
                std::copy_n(buf.data() + r * static_cast<std::size_t>(stride), d,
                            v.data() + r * static_cast<std::size_t>(d));
              out[name] = to_numpy2(std::move(v), m, static_cast<std::size_t>(d));
            };
            auto output = [&](const hsrnet::AlignedBuffer<float>& buf, const char* name) {
              if (!buf.size()) return;
              out[name] =
                  to_numpy2(std::vector<float>(buf.data(), buf.data() + buf.size()), m, static_cast<std::size_t>(K));
            };
            hidden(os.hidden1(), "hidden1");
            hidden(os.hidden2(), "hidden2");
            output(os.out1(), "out1");
            output(os.out2(), "out2");
            return out;
          },
          "net"_a)
      .def(
          "restore_optimizer_state",
          [](hsrnet::SgdTrainer& t, PyNet& net, nb::object hidden1, nb::object hidden2, nb::object out1,
             nb::object out2, std::uint64_t steps) {
            auto ptr = [](nb::object o) { return o.is_none() ? nullptr : nb::cast<CArray<float>>(o).data(); };
            std::lock_guard<std::mutex> lock(net.mutex);
            t.restore_optimizer_state(*net.net, ptr(hidden1), ptr(hidden2), ptr(out1), ptr(out2), steps);
          },
          "net"_a, "hidden1"_a.none(), "hidden2"_a.none(), "out1"_a.none(), "out2"_a.none(), "steps"_a)
      .def_prop_ro("steps_done", &hsrnet::SgdTrainer::steps_done)
      .def_prop_ro("epochs_done", &hsrnet::SgdTrainer::epochs_done)
      .def("reset", &hsrnet::SgdTrainer::reset)
      .def(
          "fit_epoch_regression",
          [](hsrnet::SgdTrainer& t, PyNet& net, CArray<float> X, CArray<float> Y) {
            hsrnet::EpochStats e;
            InterruptGuard interrupt(t);
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(net.mutex);
              e = t.fit_epoch(*net.net, X.data(), X.shape(0), Y.data());
            }
            interrupt.rethrow(e);
            return epoch_stats_dict(e);
          },
          "net"_a, "X"_a, "Y"_a)
      .def(
          "fit_epoch_classification",
          [](hsrnet::SgdTrainer& t, PyNet& net, CArray<float> X, CArray<std::int32_t> labels) {
            hsrnet::EpochStats e;
            InterruptGuard interrupt(t);
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(net.mutex);
              e = t.fit_epoch(*net.net, X.data(), X.shape(0), labels.data());
            }
            interrupt.rethrow(e);
            return epoch_stats_dict(e);
          },
          "net"_a, "X"_a, "labels"_a)
      // Two-phase steps (neuron-sharded training; sgd_trainer.hpp). X stays referenced by the Python wrapper
      // while bound.
      .def(
          "begin_epoch",
          [](hsrnet::SgdTrainer& t, PyNet& net, CArray<float> X) {
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(net.mutex);
            t.begin_epoch(*net.net, X.data(), X.shape(0));
          },
          "net"_a, "X"_a)
      .def(
          "begin_step",
          [](hsrnet::SgdTrainer& t, PyNet& net, CArray<std::int64_t> indices) {
            const std::size_t nb = indices.size(), K = static_cast<std::size_t>(net.net->outputs());
            std::vector<std::size_t> samples(indices.data(), indices.data() + nb);
            std::vector<double> partial;
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(net.mutex);
              const double* p = t.begin_step(*net.net, samples.data(), nb);
              partial.assign(p, p + nb * K);
            }
            return to_numpy2(std::move(partial), nb, K);
          },
          "net"_a, "indices"_a)
      .def(
          "finish_step",
          [](hsrnet::SgdTrainer& t, PyNet& net, CArray<double> G, nb::object losses) {
            const double* l = losses.is_none() ? nullptr : nb::cast<CArray<double>>(losses).data();
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(net.mutex);
            t.finish_step(*net.net, G.data(), l);
          },
          "net"_a, "G"_a, "losses"_a.none())
      .def(
          "end_epoch",
          [](hsrnet::SgdTrainer& t, PyNet& net) {
            hsrnet::EpochStats e;
            {
              nb::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(net.mutex);
              e = t.end_epoch(*net.net);
            }
            return epoch_stats_dict(e);
          },
          "net"_a)
      .def_prop_ro("epoch_open", &hsrnet::SgdTrainer::epoch_open)
      .def_prop_ro("open_step_size", &hsrnet::SgdTrainer::open_step_size);

  // The trainer's loss gradient of summed outputs (nb x K float64): per-sample losses and dL/df.
  auto loss_gradient = [](CArray<double> F, const std::string& loss, const hsrnet::Targets& targets) {
    const std::size_t n = F.shape(0), K = F.shape(1);
    std::vector<double> losses(n), G(n * K);
    hsrnet::batch_loss_gradient(hsrnet::parse_loss(loss), F.data(), n, static_cast<int>(K), targets, losses.data(),
                                G.data());
    return nb::make_tuple(to_numpy(std::move(losses)), to_numpy2(std::move(G), n, K));
  };
  m.def(
      "loss_gradient_regression",
      [loss_gradient](CArray<double> F, CArray<float> Y) {
        return loss_gradient(F, "squared_error", hsrnet::Targets::regression(Y.data()));
      },
      "F"_a, "Y"_a);
  m.def(
      "loss_gradient_classification",
      [loss_gradient](CArray<double> F, CArray<std::int32_t> labels) {
        return loss_gradient(F, "softmax_cross_entropy", hsrnet::Targets::classes(labels.data()));
      },
      "F"_a, "labels"_a);
}
