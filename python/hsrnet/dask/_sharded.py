"""A network wider than one machine: the m neurons split into P shards held by Dask actors.

Shard p holds rows [offset_p, offset_p + m_p) of W and A as its own ShiftedReLUNet (output scale
1/sqrt(m), the whole network's threshold) and its own SgdTrainer (the optimizer's state of its rows). One
training step (docs/dask.md):

1. the driver sends every shard the batch's row numbers (the mapped training data was sent once per fit);
   every shard returns its partial outputs, float64 (B, K) (``SgdTrainer.begin_step``);
2. the driver sums them in shard order (the first copied, the others added) and computes the per-sample
   loss gradient G = dL/df (``hsrnet.loss_gradient``);
3. every shard applies G to its rows (``SgdTrainer.finish_step``).

Step 3 of one step travels in the same message as step 1 of the next (``_Shard.step(G, losses, indices)``),
so a step costs one round trip to every shard. The weights never pass through the driver: shards are
initialised on their workers from a seed, saved by their workers (:meth:`save`) and gathered only by
:meth:`to_local`.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import tensor_file
from ..estimators import (
    _MIN_ADAPTIVE_LR,
    DEFAULT_BATCH_SIZE,
    DEFAULT_INPUT_MAP,
    DEFAULT_MAX_ITER,
    DEFAULT_N_COMPONENTS,
    DEFAULT_N_ITER_NO_CHANGE,
    DEFAULT_N_NEURONS,
    DEFAULT_SOLVER,
    DEFAULT_TRAIN_OUTPUT_LAYER,
    HSRClassifier,
    HSRRegressor,
    _fitted_copy,
    _seed_for,
)
from ..input_map import InputMap
from ..network import TIMING_KEYS, SgdTrainer, ShiftedReLUNet, default_threshold, loss_gradient

__all__ = ["ShardedHSRClassifier", "ShardedHSRRegressor", "load_sharded"]

MANIFEST = "manifest.json"
FORMAT = "hsrnet-sharded"
FORMAT_VERSION = 1
PREDICT_BLOCK_ROWS = 65536  # rows of mapped inputs sent to the shards per prediction call
_OPTIMIZER_ARRAYS = ("hidden1", "hidden2", "out1", "out2")
_STAT_TIMINGS = {k: v for k, v in TIMING_KEYS.items() if k != "total"}


def shard_sizes(m: int, n_shards: int) -> list:
    """Neurons per shard: m split as evenly as possible, the first m % P shards one larger."""
    base, extra = divmod(int(m), int(n_shards))
    return [base + (p < extra) for p in range(int(n_shards))]


def shard_seed(net_seed: int, p: int, n_shards: int) -> int:
    """The initialisation seed of shard p (w_r ~ N(0, I), a_r = +-1 from it, on the shard's worker); one shard
    uses the estimators' own seed, so it starts from HSRClassifier's / HSRRegressor's weights."""
    if n_shards == 1:
        return int(net_seed)
    return int(np.random.SeedSequence([int(net_seed), int(p)]).generate_state(1, np.uint64)[0])


class _Shard:
    """One shard's network and trainer; runs inside a Dask actor (or in-process for the reference)."""

    def __init__(self, spec: dict):
        from ..estimators import HSRClassifier as _Threads

        self.n_threads = _Threads(n_jobs=spec.get("n_jobs"))._n_threads()  # Dask's fair share for n_jobs < 0
        self.net = ShiftedReLUNet(
            spec["d"],
            spec["m"],
            spec["n_outputs"],
            threshold=float(spec["threshold"]),
            seed=int(spec.get("seed", 0)),
            W=spec.get("W"),
            A=spec.get("A"),
            n_threads=self.n_threads,
            output_scale=float(spec["output_scale"]),
        )
        self.settings = dict(spec["settings"], n_threads=self.n_threads, shuffle=False)
        self.trainer = None
        self.pending_state = spec.get("optimizer_state")
        self.Z = None
        self.busy_s = 0.0

    @classmethod
    def from_file(cls, path: str, spec: dict) -> _Shard:
        """A shard read from its model file (written by :meth:`save`)."""
        t = tensor_file.load(path)
        spec = dict(spec, W=t["network/W"], A=t["network/A"])
        state = {name: t[f"optimizer/{name}"] for name in _OPTIMIZER_ARRAYS if f"optimizer/{name}" in t}
        if "optimizer/steps" in t:
            state.update(steps=int(t["optimizer/steps"]), optimizer=spec["settings"]["optimizer"])
            state["momentum"] = float(spec["settings"]["momentum"])
            spec["optimizer_state"] = state
        return cls(spec)

    # ------------------------------------------------------------------------------------------ training
    def set_data(self, Z):
        self.Z = np.ascontiguousarray(Z, dtype=np.float32)
        return self.Z.shape

    def begin_epoch(self, learning_rate: float, settings: dict):
        """Opens an epoch at `learning_rate`; the trainer is rebuilt when the estimator's settings changed
        (set_params between warm starts), keeping the optimizer's state when the optimizer stayed the same."""
        start = time.perf_counter()
        self.busy_s = 0.0
        settings = dict(settings, n_threads=self.n_threads, shuffle=False)
        if self.trainer is not None and settings != self.settings:
            self.pending_state = self.trainer.optimizer_state(self.net)
            self.trainer = None
        self.settings = settings
        if self.trainer is None:
            self.trainer = SgdTrainer(learning_rate=learning_rate, schedule="constant", seed=0, **self.settings)
            state = self.pending_state
            if state is not None and self.trainer.accepts_optimizer_state(state):  # else: a new solver starts afresh
                self.trainer.restore_optimizer_state(self.net, state)
            self.pending_state = None
        self.trainer.set_learning_rate(learning_rate)
        self.trainer.begin_epoch(self.net, self.Z)
        self.busy_s += time.perf_counter() - start

    def step(self, G, losses, indices):
        """finish_step(G, losses) of the previous step (unless G is None), then begin_step on `indices`
        (unless None); returns the partial outputs (float64 (B, K)) or None."""
        start = time.perf_counter()
        if G is not None:
            self.trainer.finish_step(self.net, G, losses)
        partial = None if indices is None else self.trainer.begin_step(self.net, self.Z, indices)
        self.busy_s += time.perf_counter() - start
        return partial

    def end_epoch(self, G, losses) -> dict:
        self.step(G, losses, None)
        start = time.perf_counter()
        stats = dict(self.trainer.end_epoch(self.net))
        self.busy_s += time.perf_counter() - start
        stats["busy_s"] = self.busy_s
        return stats

    # ------------------------------------------------------------------------------------------- queries
    def predict(self, Z):
        return self.net.predict(np.ascontiguousarray(Z, dtype=np.float32))

    def weights(self):
        return self.net.hidden_weights(), self.net.output_weights()

    def optimizer_state(self):
        if self.trainer is not None:
            return self.trainer.optimizer_state(self.net)
        return self.pending_state

    def memory_bytes(self) -> int:
        return int(self.net.memory_bytes)

    def release_data(self):
        self.Z = None

    def save(self, path: str) -> str:
        net = self.net
        t = {
            "network/W": np.ascontiguousarray(net.hidden_weights(), dtype=np.float32),
            "network/A": np.ascontiguousarray(net.output_weights(), dtype=np.float32),
            "network/threshold": np.array(float(net.threshold), dtype=np.float64),
            "network/output_scale": np.array(float(net.output_scale), dtype=np.float64),
        }
        state = self.optimizer_state()
        if state is not None:
            for name in _OPTIMIZER_ARRAYS:
                if state.get(name) is not None:
                    t[f"optimizer/{name}"] = np.ascontiguousarray(state[name], dtype=np.float32)
            t["optimizer/steps"] = np.array(int(state.get("steps", 0)), dtype=np.int64)
        tensor_file.save(path, t)
        return os.uname().nodename


def _results(handles):
    """Values of a list of actor calls (ActorFutures) or of in-process calls (values)."""
    return [h.result() if hasattr(h, "result") and not isinstance(h, np.ndarray) else h for h in handles]


def _call(shards, name, *args):
    return _results([getattr(s, name)(*args) for s in shards])


def _current_client():
    try:
        from distributed import get_client
    except ImportError as e:  # pragma: no cover - the dask extra is missing
        raise ImportError("the sharded estimators need Dask distributed: pip install 'hsrnet[dask]'") from e
    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "the sharded estimators train on the current Dask cluster: create a distributed.Client first"
        ) from None


class _ShardedMixin:
    """Training, prediction, to_local, save and load of the sharded estimators (the shards are the model)."""

    _local_class = None  # HSRClassifier / HSRRegressor
    #: True: shards live in this process (the single-process reference of tests/python/test_dask_sharded.py)
    _in_process = False

    # One __init__ for both sharded estimators (scikit-learn reads the parameters from its signature): the
    # estimators' parameters plus n_shards.
    def __init__(
        self,
        n_neurons=DEFAULT_N_NEURONS,
        threshold="auto",
        max_iter=DEFAULT_MAX_ITER,
        batch_size=DEFAULT_BATCH_SIZE,
        learning_rate="constant",
        learning_rate_init="auto",
        power_t=0.5,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=DEFAULT_N_ITER_NO_CHANGE,
        train_output_layer=DEFAULT_TRAIN_OUTPUT_LAYER,
        solver=DEFAULT_SOLVER,
        momentum=0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=None,
        strategy="auto",
        cache_memory_budget=2**30,
        input_map=DEFAULT_INPUT_MAP,
        n_components=DEFAULT_N_COMPONENTS,
        shuffle=True,
        random_state=None,
        warm_start=False,
        n_jobs=None,
        verbose=False,
        n_shards=None,
    ):
        _sharded_init(self, locals())

    # ------------------------------------------------------------------------------------------ checks
    def __sklearn_is_fitted__(self):
        return hasattr(self, "shards_")

    def _check_sharded_params(self):
        self._check_params()
        if self.early_stopping:
            raise ValueError("early_stopping is not available in the sharded estimators (no validation split)")
        if self.n_shards is not None and (isinstance(self.n_shards, bool) or int(self.n_shards) < 1):
            raise ValueError(f"n_shards must be None (one per worker) or a positive integer, got {self.n_shards!r}")

    # ------------------------------------------------------------------------------------------ shards
    def _start_shards(self, d: int, net_seed: int):
        m = int(self.n_neurons)
        client = None if self._in_process else _current_client()
        workers = [] if client is None else sorted(client.scheduler_info()["workers"])
        P = int(self.n_shards) if self.n_shards is not None else max(1, len(workers))
        if P > m:
            raise ValueError(f"n_shards={P} exceeds n_neurons={m}")
        b = default_threshold(m) if isinstance(self.threshold, str) else float(self.threshold)
        sizes = shard_sizes(m, P)
        specs = [
            {
                "d": d,
                "m": sizes[p],
                "n_outputs": self._n_outputs(),
                "threshold": b,
                "output_scale": 1.0 / np.sqrt(m),
                "seed": shard_seed(net_seed, p, P),
                "settings": self._shard_settings(),
                "n_jobs": self.n_jobs,
            }
            for p in range(P)
        ]
        self._open_shards(specs, client, workers)
        self.shard_sizes_ = sizes
        self.threshold_ = b

    def _shard_settings(self) -> dict:
        """The shards' trainer settings: the estimator's, with the learning rate set by the driver per epoch
        (schedule "constant"; invscaling's lr0 / (1 + t_)^power_t computed by the driver)."""
        s = self._trainer_settings()
        for name in ("n_threads", "shuffle", "schedule", "power"):
            s.pop(name, None)
        return s

    def _open_shards(self, specs, client, workers, files=None):
        if client is None:
            self._shard_futures = None
            if files is None:
                self.shards_ = [_Shard(s) for s in specs]
            else:
                self.shards_ = [_Shard.from_file(f, s) for f, s in zip(files, specs)]
            self.shard_workers_ = ["in-process"] * len(specs)
            return
        futures = []
        for p, spec in enumerate(specs):
            where = [workers[p % len(workers)]]
            if files is None:
                futures.append(client.submit(_Shard, spec, actor=True, workers=where, allow_other_workers=False))
            else:
                futures.append(
                    client.submit(
                        _Shard.from_file, files[p], spec, actor=True, workers=where, allow_other_workers=False
                    )
                )
        self._shard_futures = futures  # the actors live as long as these futures
        self.shards_ = [f.result() for f in futures]
        self.shard_workers_ = [workers[p % len(workers)] for p in range(len(specs))]

    def _release_shards(self):
        for name in ("shards_", "_shard_futures", "shard_sizes_", "shard_workers_", "threshold_"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------------------------------ training
    def fit(self, X, y):
        """Trains for up to max_iter epochs on the current Dask cluster (from scratch, or from the current
        shards with warm_start=True); stops as HSRClassifier does on the training loss."""
        self._check_sharded_params()
        return self._fit_sharded(X, y, incremental=False)

    def _fit_sharded(self, X, y, incremental, classes=None):
        first = not hasattr(self, "shards_") or (not incremental and not self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=(np.float64, np.float32),
            multi_output=self._multi_output,
            y_numeric=not self._is_classifier,
        )
        if first:
            self._release_shards()
            self._clear_fitted()
        T = self._encode_targets(y, first, classes)
        rs = check_random_state(self.random_state)
        net_seed, trainer_seed, _ = (int(s) for s in rs.randint(0, np.iinfo(np.int32).max, size=3))
        if first:
            if isinstance(self.input_map, InputMap):
                self.input_map_ = _fitted_copy(self.input_map, X.shape[1])
            else:
                with self._blas_threads():
                    self.input_map_ = InputMap(self.input_map, int(self.n_components)).fit(X)
            self._trainer_seed = trainer_seed
            self._learning_rate = self._initial_learning_rate()
        elif not incremental:
            self._learning_rate = self._initial_learning_rate()
        with self._blas_threads():
            Z = self.input_map_.transform(X)
        if first:
            self._start_shards(Z.shape[1], net_seed)
        _call(self.shards_, "set_data", Z)
        try:
            if incremental:
                self._sharded_epochs(T, 1, check_stop=False)
            else:
                self._no_improvement_count = 0
                self.best_loss_ = np.inf
                if not self._sharded_epochs(T, int(self.max_iter), check_stop=True):
                    import warnings

                    from sklearn.exceptions import ConvergenceWarning

                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                        "optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
        finally:
            if hasattr(self, "shards_"):
                _call(self.shards_, "release_data")
        return self

    def _epoch_order(self, n: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = np.random.default_rng(_seed_for(self._trainer_seed, self.n_iter_))
        return rng.permutation(n).astype(np.int64)

    def _sharded_epoch(self, T) -> dict:
        """One pass over the bound data: the step loop of the module docstring."""
        shards, n, B = self.shards_, T.shape[0], int(self.batch_size)
        start = time.perf_counter()
        _call(shards, "begin_epoch", float(self._learning_rate), self._shard_settings())
        order = self._epoch_order(n)
        G = losses = None
        driver_s = 0.0
        for s in range(0, n, B):
            idx = order[s : s + B]
            parts = _call(shards, "step", G, losses, idx)
            t0 = time.perf_counter()
            F = parts[0].copy()
            for part in parts[1:]:
                F += part
            losses, G = loss_gradient(F, T[idx], self._loss)
            driver_s += time.perf_counter() - t0
        stats = _call(shards, "end_epoch", G, losses)
        total = time.perf_counter() - start
        m = float(sum(self.shard_sizes_))
        busy = max(st["busy_s"] for st in stats)
        out = {
            "mean_loss": float(stats[0]["mean_loss"]),
            "firing_fraction": sum(st["firing_fraction"] * mp for st, mp in zip(stats, self.shard_sizes_)) / m,
            "total_s": total,
            "shard_busy_s": busy,
            "driver_s": driver_s,
            "communication_s": max(0.0, total - busy - driver_s),
            "steps": -(-n // B),
        }
        for key, stat in _STAT_TIMINGS.items():
            out[key + "_s"] = max(float(st.get(stat, 0.0)) for st in stats)
        return out

    def _sharded_epochs(self, T, epochs, check_stop) -> bool:
        for _ in range(epochs):
            if self.learning_rate == "invscaling":
                self._learning_rate = self._initial_learning_rate() / (self.t_ + 1) ** float(self.power_t)
            try:
                stats = self._sharded_epoch(T)
            except ValueError as e:  # a non-finite output or gradient (a lost worker raises RuntimeError)
                self._release_shards()
                raise ValueError(
                    f"training diverged in epoch {self.n_iter_ + 1} ({e}); lower learning_rate_init "
                    f"(now {self._initial_learning_rate():g})"
                ) from e
            if not np.isfinite(stats["mean_loss"]):
                self._release_shards()
                raise ValueError(
                    f"training diverged in epoch {self.n_iter_ + 1}: the loss is {stats['mean_loss']}; lower "
                    f"learning_rate_init (now {self._initial_learning_rate():g})"
                )
            self.n_iter_ += 1
            self.t_ += T.shape[0]
            self.loss_curve_.append(stats["mean_loss"])
            self.firing_fraction_.append(stats["firing_fraction"])
            for key in _STAT_TIMINGS:
                self.timings_[key].append(stats[key + "_s"])
            self.timings_["total"].append(stats["total_s"])
            for key in ("shard_busy", "driver", "communication"):
                self.timings_.setdefault(key, []).append(stats[key + "_s"])
            if self.verbose:
                print(
                    f"Iteration {self.n_iter_}, loss = {stats['mean_loss']:.8f}, firing = "
                    f"{100 * stats['firing_fraction']:.2f} %, {stats['total_s']:.2f} s "
                    f"(shards busy {stats['shard_busy_s']:.2f} s, communication {stats['communication_s']:.2f} s)",
                    flush=True,
                )
            if not check_stop:
                continue
            self._update_no_improvement_count(False)
            if self._no_improvement_count > self.n_iter_no_change:
                if self.learning_rate == "adaptive" and self._learning_rate / 5.0 > _MIN_ADAPTIVE_LR:
                    self._learning_rate /= 5.0
                    self._no_improvement_count = 0
                    continue
                return True
        return False

    # ------------------------------------------------------------------------------------------ prediction
    def _raw_predict(self, X) -> np.ndarray:
        """The shards' float32 outputs summed in shard order in float64 (to_local().predict sums the neurons
        in one pass: equal up to rounding)."""
        Z = self._validate_X_predict(X)
        F = np.empty((Z.shape[0], self._n_outputs()), dtype=np.float64)
        for s in range(0, Z.shape[0], PREDICT_BLOCK_ROWS):  # bounded messages and memory on every worker
            parts = _call(self.shards_, "predict", Z[s : s + PREDICT_BLOCK_ROWS])
            block = parts[0].astype(np.float64)
            for part in parts[1:]:
                block += part
            F[s : s + PREDICT_BLOCK_ROWS] = block
        return F

    # ------------------------------------------------------------------------------------------ conversion
    def to_local(self):
        """An ordinary fitted HSRClassifier / HSRRegressor with the shards' neurons concatenated in order (the
        weights and the optimizer's state gathered on this machine): predicts, saves and trains on alone."""
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "n_shards"}
        params["threshold"] = float(self.threshold_)
        est = self._local_class(**params)
        weights = _call(self.shards_, "weights")
        W = np.concatenate([w for w, _ in weights])
        A = np.concatenate([a for _, a in weights])
        est.network_ = ShiftedReLUNet(
            W.shape[1], W.shape[0], A.shape[1], threshold=float(self.threshold_), W=W, A=A, n_threads=None
        )
        for name in _FITTED:
            if name in self.__dict__:
                setattr(est, name, self.__dict__[name])
        est.timings_ = {k: list(v) for k, v in self.timings_.items() if k in TIMING_KEYS}
        states = _call(self.shards_, "optimizer_state")
        if states[0] is not None:
            state = {k: v for k, v in states[0].items() if k not in _OPTIMIZER_ARRAYS}
            for name in _OPTIMIZER_ARRAYS:
                if states[0].get(name) is not None:
                    state[name] = np.concatenate([s[name] for s in states])
            est._optimizer_state = state
        return est

    def __getstate__(self):
        if hasattr(self, "shards_"):
            raise TypeError(
                f"a fitted {type(self).__name__} lives on its Dask workers and is not pickled: use "
                "save(directory) (each worker writes its shard) or to_local() (gathers the weights)"
            )
        return super().__getstate__()

    # ------------------------------------------------------------------------------------------ files
    def save(self, path):
        """Writes the model to the directory `path` without gathering it: every shard's worker writes
        shard-<p>.hsrnet (its W, A, threshold, output scale and optimizer state), the driver writes
        driver.hsrnet (parameters, input map, labels, fit state) and manifest.json. The directory must be
        reachable from the workers (a shared file system; one machine: any local path)."""
        check_is_fitted(self)
        path = os.path.abspath(os.fspath(path))
        os.makedirs(path, exist_ok=True)
        files = [f"shard-{p:04d}.hsrnet" for p in range(len(self.shards_))]
        hosts = _results([s.save(os.path.join(path, f)) for s, f in zip(self.shards_, files)])
        tensor_file.save(os.path.join(path, "driver.hsrnet"), self._driver_tensors())
        offsets = np.concatenate([[0], np.cumsum(self.shard_sizes_)]).tolist()
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": type(self).__name__,
            "n_neurons": int(sum(self.shard_sizes_)),
            "driver": "driver.hsrnet",
            "shards": [
                {"file": f, "m": int(mp), "offset": int(o), "written_on": h}
                for f, mp, o, h in zip(files, self.shard_sizes_, offsets, hosts)
            ],
        }
        tmp = os.path.join(path, MANIFEST + ".tmp")
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, os.path.join(path, MANIFEST))

    def _driver_tensors(self) -> dict:
        from ..model_io import _json, _labels_json, _param_value

        params = {k: _param_value(k, v) for k, v in self.get_params(deep=False).items()}
        fit = {name: _jsonable(self.__dict__[name]) for name in _FITTED_JSON if name in self.__dict__}
        t = {
            "hsrnet/params": _json(params),
            "fit/state": _json(fit),
            "fit/shard_sizes": np.asarray(self.shard_sizes_, dtype=np.int64),
            "fit/threshold": np.array(float(self.threshold_), dtype=np.float64),
        }
        t.update(self.input_map_.to_tensors())
        if self._is_classifier:
            t["fit/classes"] = _labels_json(self.classes_)
        else:
            t["fit/y_mean"] = np.asarray(self.y_mean_, dtype=np.float64)
            t["fit/y_scale"] = np.asarray(self.y_scale_, dtype=np.float64)
        if hasattr(self, "feature_names_in_"):
            t["fit/feature_names_in"] = _json([str(n) for n in self.feature_names_in_])
        return t


# fitted attributes shared with the local estimators (to_local copies them)
_FITTED = (
    "input_map_",
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "n_outputs_",
    "y_mean_",
    "y_scale_",
    "_y_ndim",
    "loss_curve_",
    "firing_fraction_",
    "validation_scores_",
    "best_validation_score_",
    "best_loss_",
    "n_iter_",
    "t_",
    "_trainer_seed",
    "_learning_rate",
    "_no_improvement_count",
)
# the ones driver.hsrnet stores as JSON
_FITTED_JSON = (
    "n_features_in_",
    "n_outputs_",
    "_y_ndim",
    "loss_curve_",
    "firing_fraction_",
    "best_loss_",
    "n_iter_",
    "t_",
    "_trainer_seed",
    "_learning_rate",
    "_no_improvement_count",
    "timings_",
)


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _unjson(v):
    if v == "inf":
        return np.inf
    if v == "-inf":
        return -np.inf
    return v


def load_sharded(path, client=None):
    """Reads a sharded model written by save(directory): every shard is read by the worker that will hold it
    (the directory must be reachable from the workers); nothing is gathered on this machine."""
    from ..model_io import _labels_from_json, _parse_json

    path = os.path.abspath(os.fspath(path))
    with open(os.path.join(path, MANIFEST)) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a sharded hsrnet model (format {FORMAT} version {FORMAT_VERSION})")
    cls = {"ShardedHSRClassifier": ShardedHSRClassifier, "ShardedHSRRegressor": ShardedHSRRegressor}.get(
        manifest.get("kind")
    )
    if cls is None:
        raise ValueError(f"{path}: unknown kind {manifest.get('kind')!r}")
    t = tensor_file.load(os.path.join(path, manifest["driver"]))
    est = cls(**_parse_json(t["hsrnet/params"], "hsrnet/params"))
    fit = _parse_json(t["fit/state"], "fit/state")
    for name, value in fit.items():
        if name == "best_loss_":
            value = _unjson(value)
        setattr(est, name, value)
    est.timings_ = {k: list(v) for k, v in fit.get("timings_", {}).items()}
    est.input_map_ = InputMap.from_tensors(t)
    sizes = [int(s["m"]) for s in manifest["shards"]]
    if sizes != t["fit/shard_sizes"].tolist():
        raise ValueError(f"{path}: the manifest's shard sizes differ from driver.hsrnet's")
    if est._is_classifier:
        n_classes = len(_parse_json(t["fit/classes"], "fit/classes").get("values", []))
        est.classes_ = _labels_from_json(t["fit/classes"], "fit/classes", n_classes)
    else:
        est.y_mean_, est.y_scale_ = t["fit/y_mean"], t["fit/y_scale"]
    if "fit/feature_names_in" in t:
        est.feature_names_in_ = np.asarray(_parse_json(t["fit/feature_names_in"], "fit/feature_names_in"), object)
    est.validation_scores_ = None
    est.best_validation_score_ = None
    d = est.input_map_.output_dim(int(est.n_features_in_))
    b = float(t["fit/threshold"])
    m = int(sum(sizes))
    specs = [
        {
            "d": d,
            "m": mp,
            "n_outputs": est._n_outputs(),
            "threshold": b,
            "output_scale": 1.0 / np.sqrt(m),
            "settings": est._shard_settings(),
            "n_jobs": est.n_jobs,
        }
        for mp in sizes
    ]
    files = [os.path.join(path, s["file"]) for s in manifest["shards"]]
    if client is None and not cls._in_process:
        client = _current_client()
    workers = [] if client is None else sorted(client.scheduler_info()["workers"])
    est._open_shards(specs, client, workers, files=files)
    est.shard_sizes_ = sizes
    est.threshold_ = b
    return est


def _sharded_init(self, locals_):
    for name, value in locals_.items():
        if name not in ("self", "__class__"):
            setattr(self, name, value)


class ShardedHSRClassifier(_ShardedMixin, HSRClassifier):
    """HSRClassifier with its n_neurons split into n_shards shards held by the current Dask cluster's workers
    (n_shards=None: one per worker; shard p on worker p mod the workers, in address order).

    The parameters are HSRClassifier's (early_stopping is not available) plus n_shards; n_jobs is the threads
    of each shard's worker. Every strategy gives the same weights; with one shard they are HSRClassifier's
    over the same batches. Attributes: HSRClassifier's (no network_) plus shards_ (the actors),
    shard_sizes_, shard_workers_, threshold_, and timings_ with "shard_busy", "driver" and "communication"
    seconds per epoch. :meth:`to_local` gathers an ordinary HSRClassifier; :meth:`save` writes the shards
    where they are; :func:`load_sharded` reads them back onto the workers.
    """

    _local_class = HSRClassifier

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y) from the current shards; classes (all labels) is required on the first call."""
        if not hasattr(self, "shards_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        self._check_sharded_params()
        return self._fit_sharded(X, y, incremental=True, classes=classes)


class ShardedHSRRegressor(_ShardedMixin, HSRRegressor):
    """HSRRegressor with its neurons sharded across the current Dask cluster's workers: see
    :class:`ShardedHSRClassifier`."""

    _local_class = HSRRegressor

    def partial_fit(self, X, y):
        """One epoch over (X, y) from the current shards (the first call also fits the input map, unless it
        is a fitted InputMap, and the target standardisation)."""
        self._check_sharded_params()
        return self._fit_sharded(X, y, incremental=True)
