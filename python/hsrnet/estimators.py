"""scikit-learn estimators over the exact sparse SGD trainer: :class:`HSRClassifier`, :class:`HSRRegressor`.

The model is the shifted-ReLU network of docs/method.md, f(x) = (1/sqrt(m)) sum_r a_r max(<w_r, x> - b, 0), trained
with SGD that touches only the firing neurons (exactly dense SGD's trajectory: every ``strategy`` yields the
same weights bit for bit). What the estimators add:

* input validation and feature bookkeeping (``validate_data``: ``n_features_in_``, ``feature_names_in_``);
* the map onto the unit sphere (``input_map="standardize"``: standardise, append a constant, normalise;
  ``"none"``: rows used as given, they should already have unit norm);
* labels of any type (``classes_``) and softmax cross-entropy over K = n_classes outputs (binary: K = 2);
* squared error over K regression outputs on internally standardised targets (``y_mean_``, ``y_scale_``);
* epochs, learning-rate schedules, stopping rules and warnings as in scikit-learn's MLP estimators;
* pickling (the C++ network is serialised as W, A and b) and model files (:meth:`save`, :func:`hsrnet.load`).

Reproducibility: ``random_state`` seeds the initial weights and the shuffling. Each run of epochs at one
learning rate uses a fresh C++ trainer seeded from (trainer seed, epochs done so far), so a fitted model's
future (``warm_start``, ``partial_fit``) depends on its pickled state only: a model that is saved, loaded and
trained on gives the same weights as one that was never saved.

Threads: ``n_jobs=None`` trains and predicts with 1 thread (safe inside ``GridSearchCV(n_jobs=k)`` and other
process pools: OpenMP's default of one thread per core in every worker oversubscribes the machine);
``n_jobs=-1`` uses OpenMP's maximum (``OMP_NUM_THREADS`` or all cores; in a Dask task at most the host's cores
divided by the threads of the Dask workers on that host), ``n_jobs=k`` k threads, ``-k`` all but k - 1. Results are bit-identical
for every thread count.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import model_io
from ._core import max_threads as _max_threads
from ._dask_threads import dask_task_threads
from .input_map import INPUT_MAPS, InputMap
from .model_io import load  # noqa: F401  (hsrnet.load: importing it here registers the kinds below)
from .network import OPTIMIZERS, STRATEGIES, TIMING_KEYS, SgdTrainer, ShiftedReLUNet, checked_epoch_data

__all__ = ["HSRClassifier", "HSRRegressor"]

LEARNING_RATES = ("constant", "invscaling", "adaptive")
_MIN_ADAPTIVE_LR = 1e-6  # as scikit-learn's MLP: "adaptive" stops once the rate falls below it
_MAX_JOBS = 4096  # the thread counts the core accepts

# Defaults, chosen by benchmarks/tune_defaults.py (docs/defaults.md). The regressor's learning rate is lower:
# squared error has an unbounded gradient and diverges where cross-entropy still trains well.
DEFAULT_N_NEURONS = 4096
DEFAULT_MAX_ITER = 20
DEFAULT_BATCH_SIZE = 128
# learning_rate_init="auto": a rate per loss and solver. The output carries 1/sqrt(m) and few neurons fire,
# so plain SGD needs rates far above the usual; the normalised steps of Adagrad and Adam do not.
DEFAULT_LEARNING_RATES = {
    "softmax_cross_entropy": {"sgd": 100.0, "adagrad": 0.5, "rowwise_adagrad": 0.5, "adam": 0.01},
    "squared_error": {"sgd": 30.0, "adagrad": 0.5, "rowwise_adagrad": 0.5, "adam": 0.01},
}
DEFAULT_N_ITER_NO_CHANGE = 10
DEFAULT_TRAIN_OUTPUT_LAYER = True
DEFAULT_SOLVER = "adagrad"
DEFAULT_INPUT_MAP = "pca"
DEFAULT_N_COMPONENTS = 64


def _seed_for(base: int, epoch: int) -> int:
    """A 63-bit trainer seed for the run of epochs that starts after `epoch` epochs."""
    return int(np.random.SeedSequence([int(base), int(epoch)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _fitted_copy(input_map: InputMap, n_features: int) -> InputMap:
    """A copy of a fitted InputMap given as the input_map parameter, checked against the data's features."""
    if input_map.kind != "none" and input_map.mean_ is None:
        raise ValueError(
            "input_map is an InputMap that has not been fitted; fit it first (InputMap.fit, InputMap.fit_chunks "
            "or hsrnet.dask.fit_input_map) or pass its kind as a string"
        )
    input_map.check(n_features)
    return copy.deepcopy(input_map)


class _BaseHSR(BaseEstimator):
    """Shared parameters, training loop, pickling and model files of HSRClassifier and HSRRegressor."""

    _parameter_constraints: dict = {
        "n_neurons": [Interval(Integral, 1, 2**31 - 2, closed="both")],
        "threshold": [StrOptions({"auto"}), Interval(Real, None, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "train_output_layer": ["boolean"],
        "solver": [StrOptions(set(OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither"), None],
        "strategy": [StrOptions(set(STRATEGIES))],
        "cache_memory_budget": [Interval(Integral, 0, None, closed="left")],
        "input_map": [StrOptions(set(INPUT_MAPS)), InputMap],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    # ----------------------------------------------------------------------------------------------- checks
    # One __init__ for both estimators: scikit-learn reads the parameters from its signature, and both take
    # the same ones (their docstrings list them).
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
    ):
        self.n_neurons = n_neurons
        self.threshold = threshold
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.train_output_layer = train_output_layer
        self.solver = solver
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.strategy = strategy
        self.cache_memory_budget = cache_memory_budget
        self.input_map = input_map
        self.n_components = n_components
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _check_params(self):
        self._validate_params()
        if not isinstance(self.threshold, str) and not np.isfinite(float(self.threshold)):
            raise ValueError(f"threshold must be 'auto' or a finite number, got {self.threshold!r}")
        if self.n_jobs == 0:
            raise ValueError("n_jobs == 0 has no meaning; use None (1 thread), a positive count or -1 (all)")
        self._n_threads()  # n_jobs in range, checked before any work
        if self.momentum > 0 and self.solver != "sgd":
            raise ValueError(f"momentum={self.momentum} applies to solver='sgd' only (solver={self.solver!r})")

    def _initial_learning_rate(self) -> float:
        """learning_rate_init, with "auto" resolved per solver (DEFAULT_LEARNING_RATES)."""
        if isinstance(self.learning_rate_init, str):
            return DEFAULT_LEARNING_RATES[self._loss][self.solver]
        return float(self.learning_rate_init)

    def _blas_threads(self):
        """numpy's BLAS (the input map's products) held to the estimator's thread count: its own threads
        would oversubscribe process pools, and on a busy machine spinning BLAS threads take many times longer."""
        return threadpool_limits(limits=self._n_threads(), user_api="blas")

    def _n_threads(self) -> int:
        """Threads for training and prediction: None -> 1, -1 -> OpenMP's maximum, -k -> all but k - 1."""
        if self.n_jobs is None:
            return 1
        n_jobs = int(self.n_jobs)
        if not -_MAX_JOBS <= n_jobs <= _MAX_JOBS or n_jobs == 0:
            raise ValueError(
                f"n_jobs must be None (1 thread), a count in [1, {_MAX_JOBS}], -1 (all cores) or -k "
                f"(all but k - 1), got {self.n_jobs!r}"
            )
        if n_jobs > 0:
            return n_jobs
        available = _max_threads()
        in_dask = dask_task_threads()
        if in_dask is not None:
            available = min(available, in_dask)
        return max(1, available + 1 + n_jobs)

    def _validate_X_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        with self._blas_threads():
            return self.input_map_.transform(X)

    def _raw_predict(self, X) -> np.ndarray:
        """Network outputs (n, K) as float64 for user data X."""
        Z = self._validate_X_predict(X)
        net = self.network_
        threads = self._n_threads()
        if net.n_threads != threads:
            net.n_threads = threads
        return net.predict(Z).astype(np.float64)

    # -------------------------------------------------------------------------------------------- training
    def fit(self, X, y):
        """Trains for up to max_iter epochs (from scratch, or from the current weights with warm_start=True).

        Stops early when the training loss (with early_stopping: the validation score) has not improved by
        tol for more than n_iter_no_change epochs in a row; warns (ConvergenceWarning) when max_iter ends it.
        """
        self._check_params()
        return self._fit(X, y, incremental=False)

    def _partial_fit(self, X, y, classes=None):
        self._check_params()
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        first = not hasattr(self, "network_") or (not incremental and not self.warm_start)
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
            self._clear_fitted()
        T = self._encode_targets(y, first, classes)  # int32 labels (classifier) or standardised float32 (n, K)

        rs = check_random_state(self.random_state)
        net_seed, trainer_seed, split_seed = (int(s) for s in rs.randint(0, np.iinfo(np.int32).max, size=3))
        early_stopping = self.early_stopping and not incremental
        X_val = y_val = None
        if early_stopping:
            X, X_val, T, T_val, y, y_val = self._split_validation(X, T, y, split_seed)

        if first:
            if isinstance(self.input_map, InputMap):  # fitted beforehand (hsrnet.dask.fit_input_map): used as is
                self.input_map_ = _fitted_copy(self.input_map, X.shape[1])
            else:
                with self._blas_threads():
                    self.input_map_ = InputMap(self.input_map, int(self.n_components)).fit(X)
            self._trainer_seed = trainer_seed
            self._learning_rate = self._initial_learning_rate()
            with self._blas_threads():
                Z = self.input_map_.transform(X)
            self.network_ = ShiftedReLUNet(
                Z.shape[1],
                int(self.n_neurons),
                self._n_outputs(),
                threshold=self.threshold if isinstance(self.threshold, str) else float(self.threshold),
                seed=net_seed,
                n_threads=self._n_threads(),
            )
        else:
            with self._blas_threads():
                Z = self.input_map_.transform(X)
            self.network_.n_threads = self._n_threads()
            if not incremental:
                # a new call of fit: new stopping counters (the learning rate of "adaptive" restarts too)
                self._learning_rate = self._initial_learning_rate()
        with self._blas_threads():
            Z_val = self.input_map_.transform(X_val) if early_stopping else None

        if incremental:
            self._run_epochs(Z, T, 1, check_stop=False)
        else:
            self._no_improvement_count = 0
            self.best_loss_ = np.inf if not early_stopping else None
            if early_stopping:
                if self.validation_scores_ is None:
                    self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
            self._best_weights = None
            converged = self._run_epochs(Z, T, int(self.max_iter), check_stop=True, Z_val=Z_val, y_val=y_val)
            if early_stopping and self._best_weights is not None:
                W, A = self._best_weights
                state = self._trainer.optimizer_state(self.network_)  # the last epoch's, kept for warm starts
                self.network_ = self._rebuild_network(W, A, self.network_.threshold, self.network_.output_scale)
                self._trainer.restore_optimizer_state(self.network_, state)
            self._best_weights = None
            if not converged:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                    "hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        return self

    def _clear_fitted(self):
        for name in (
            "network_",
            "input_map_",
            "loss_curve_",
            "validation_scores_",
            "best_validation_score_",
            "best_loss_",
            "n_iter_",
            "t_",
            "firing_fraction_",
            "timings_",
            "classes_",
            "n_outputs_",
            "y_mean_",
            "y_scale_",
            "_y_ndim",
            "_trainer_seed",
            "_learning_rate",
            "_no_improvement_count",
            "_best_weights",
            "_trainer",
            "_trainer_key",
            "_optimizer_state",
        ):
            self.__dict__.pop(name, None)
        self.loss_curve_ = []
        self.firing_fraction_ = []
        self.timings_ = {k: [] for k in TIMING_KEYS}
        self.n_iter_ = 0
        self.t_ = 0
        self._no_improvement_count = 0
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.best_loss_ = None

    def _split_validation(self, X, T, y, seed):
        stratify = T if self._is_classifier else None
        try:
            X, X_val, T, T_val, y, y_val = train_test_split(
                X, T, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify
            )
        except ValueError:
            if stratify is None:
                raise
            X, X_val, T, T_val, y, y_val = train_test_split(
                X, T, y, test_size=self.validation_fraction, random_state=seed
            )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        return X, X_val, np.ascontiguousarray(T), T_val, y, y_val

    def _trainer_settings(self) -> dict:
        """What the C++ trainer is built from (besides the learning rate and the shuffling seed).

        "invscaling" is the trainer's own schedule (lr0 / (1 + samples seen before the epoch)^power_t, as
        MLPClassifier); "adaptive" is a constant rate that the stopping rule below lowers.
        """
        return dict(
            schedule="sklearn_invscaling" if self.learning_rate == "invscaling" else "constant",
            power=float(self.power_t),
            batch_size=int(self.batch_size),
            strategy=self.strategy,
            train_output_layer=bool(self.train_output_layer),
            loss=self._loss,
            shuffle=bool(self.shuffle),
            cache_budget_bytes=int(self.cache_memory_budget),
            n_threads=self._n_threads(),
            optimizer=self.solver,
            momentum=float(self.momentum),
            beta1=float(self.beta_1),
            beta2=float(self.beta_2),
            epsilon=None if self.epsilon is None else float(self.epsilon),
        )

    def _base_learning_rate(self) -> float:
        # invscaling's base is always learning_rate_init (models saved before the schedule moved into the
        # trainer kept the decayed rate in _learning_rate); adaptive's is the rate the stopping rule left.
        return self._initial_learning_rate() if self.learning_rate == "invscaling" else self._learning_rate

    def _trainer_for_run(self) -> SgdTrainer:
        """The trainer for a run of epochs at one learning rate, its shuffling seeded from (trainer seed,
        epochs done): the model's future depends on its pickled state only.

        One trainer serves the estimator's whole life (the optimizer's state, the cache and auto's
        measurements carry over); it is rebuilt only when its settings changed (set_params between warm
        starts), keeping the optimizer's state when the solver stayed the same.
        """
        settings = self._trainer_settings()
        trainer = getattr(self, "_trainer", None)
        if trainer is None or self._trainer_key != settings:
            state = self.__dict__.pop("_optimizer_state", None)  # from a pickle
            if trainer is not None:
                state = trainer.optimizer_state(self.network_)
            trainer = SgdTrainer(learning_rate=self._base_learning_rate(), seed=0, **settings)
            if state is not None and trainer.accepts_optimizer_state(state):  # else: a new solver starts afresh
                trainer.restore_optimizer_state(self.network_, state)
            self._trainer, self._trainer_key = trainer, settings
        trainer.set_learning_rate(self._base_learning_rate())
        trainer.set_progress(trainer.steps_done, self.t_)  # the schedule goes on from the model's own count
        trainer.reseed(_seed_for(self._trainer_seed, self.n_iter_))
        return trainer

    def _run_epochs(self, Z, T, epochs, check_stop, Z_val=None, y_val=None) -> bool:
        """Epochs over (Z, T); True when a stopping rule ended them (converged), False at the epoch limit."""
        trainer, trainer_lr = None, None
        checked = None  # (Z, T) validated once for all the epochs (finite inputs, targets that fit the loss)
        for _ in range(epochs):
            if trainer is None or trainer_lr != self._learning_rate:
                trainer, trainer_lr = self._trainer_for_run(), self._learning_rate
            start = time.perf_counter()
            try:
                if checked is None:
                    checked = checked_epoch_data(self._loss, self.network_, Z, T)
                stats = trainer._fit_epoch_checked(self.network_, *checked)
            except KeyboardInterrupt as e:
                self._count_interrupted_epoch(getattr(e, "epoch_stats", None))
                raise
            except (ValueError, RuntimeError) as e:
                self.__dict__.pop("network_", None)  # the weights of the failed step: unusable
                self.__dict__.pop("_trainer", None)
                raise ValueError(
                    f"training diverged in epoch {self.n_iter_ + 1} ({e}); lower learning_rate_init "
                    f"(now {self._initial_learning_rate():g})"
                ) from e
            if not np.isfinite(stats["mean_loss"]):
                self.__dict__.pop("network_", None)
                self.__dict__.pop("_trainer", None)
                raise ValueError(
                    f"training diverged in epoch {self.n_iter_ + 1}: the loss is "
                    f"{stats['mean_loss']}; lower learning_rate_init (now {self._initial_learning_rate():g})"
                )
            self.n_iter_ += 1
            self.t_ += Z.shape[0]
            self.loss_curve_.append(float(stats["mean_loss"]))
            self.firing_fraction_.append(float(stats["firing_fraction"]))
            for key, stat in TIMING_KEYS.items():
                self.timings_[key].append(float(stats[stat]))
            if not check_stop:
                self._verbose_epoch(stats, time.perf_counter() - start)
                continue
            if Z_val is not None:
                self.validation_scores_.append(float(self._score_network(Z_val, y_val)))
            self._update_no_improvement_count(Z_val is not None)
            self._verbose_epoch(stats, time.perf_counter() - start)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if Z_val is not None else "Training loss"
                if self.learning_rate == "adaptive" and self._learning_rate / 5.0 > _MIN_ADAPTIVE_LR:
                    self._learning_rate /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(
                            f"{what} did not improve more than tol={self.tol} for {self.n_iter_no_change} "
                            f"consecutive epochs. Setting learning rate to {self._learning_rate:f}"
                        )
                    continue
                if self.verbose:
                    print(
                        f"{what} did not improve more than tol={self.tol} for {self.n_iter_no_change} "
                        "consecutive epochs. Stopping."
                    )
                return True
        return False

    def _update_no_improvement_count(self, early_stopping):
        if early_stopping:
            last = self.validation_scores_[-1]
            if last < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                net = self.network_
                self._best_weights = (net.hidden_weights(), net.output_weights())
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:
                self.best_loss_ = last

    def _count_interrupted_epoch(self, stats):
        """Ctrl-C stopped an epoch between two steps: its steps are in the weights, so it counts as an epoch
        (n_iter_, the curves: means over the samples it trained on) and t_ adds the samples it saw."""
        if not stats or not stats.get("samples"):
            return  # no step was taken
        self.n_iter_ += 1
        self.t_ += int(stats["samples"])
        self.loss_curve_.append(float(stats["mean_loss"]))
        self.firing_fraction_.append(float(stats["firing_fraction"]))
        for key, stat in TIMING_KEYS.items():
            self.timings_[key].append(float(stats[stat]))

    def _verbose_epoch(self, stats, seconds):
        if not self.verbose:
            return
        line = (
            f"Iteration {self.n_iter_}, loss = {stats['mean_loss']:.8f}, firing = "
            f"{100 * stats['firing_fraction']:.2f} %, lr = {stats['learning_rate']:.4g}, {seconds:.2f} s "
            f"({stats['strategy']})"
        )
        print(line)
        if getattr(self, "validation_scores_", None) and self.early_stopping:
            print(f"Validation score: {self.validation_scores_[-1]:f}")
        sys.stdout.flush()

    def _rebuild_network(self, W, A, threshold, output_scale=None) -> ShiftedReLUNet:
        W = np.ascontiguousarray(W, dtype=np.float32)
        A = np.ascontiguousarray(A, dtype=np.float32)
        return ShiftedReLUNet(
            W.shape[1],
            W.shape[0],
            A.shape[1],
            threshold=float(threshold),
            W=W,
            A=A,
            n_threads=self._n_threads(),
            output_scale=output_scale,
        )

    # ---------------------------------------------------------------------------------- pickling and files
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_best_weights", None)
        state.pop("_trainer_key", None)
        trainer = state.pop("_trainer", None)
        net = state.pop("network_", None)
        if net is not None:
            state["_network_state"] = {
                "W": net.hidden_weights(),
                "A": net.output_weights(),
                "threshold": float(net.threshold),
                "output_scale": float(net.output_scale),
            }
            if trainer is not None:  # the optimizer's moments travel with the model (warm starts continue)
                state["_optimizer_state"] = trainer.optimizer_state(net)
            elif "_optimizer_state" in self.__dict__:
                state["_optimizer_state"] = self._optimizer_state
        return state

    def __setstate__(self, state):
        state = dict(state)
        net = state.pop("_network_state", None)
        super().__setstate__(state)
        if net is not None:
            self.network_ = self._rebuild_network(net["W"], net["A"], net["threshold"], net.get("output_scale"))

    def _optimizer_state_now(self):
        """The optimizer's state to save with the model (None before training or for stateless plain SGD)."""
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and hasattr(self, "network_"):
            return trainer.optimizer_state(self.network_)
        return getattr(self, "_optimizer_state", None)

    def save(self, path):
        """Writes the fitted model to `path` atomically (format: docs/model_format.md); load with hsrnet.load."""
        model_io.save(self, path)


@model_io.register_kind
class HSRClassifier(ClassifierMixin, _BaseHSR):
    """A wide shifted-ReLU network classifier trained by exact sparse SGD (softmax cross-entropy).

    Parameters
    ----------
    n_neurons : int, default=4096
        Hidden width m.
    threshold : "auto" or float, default="auto"
        Shift b of the ReLU; "auto" is the paper's sqrt(0.4 ln m) (3.4 % of the neurons fire at initialisation
        for m = 4096; training typically raises that to 4-10 %, see firing_fraction_).
    max_iter : int, default=20
        Maximum number of epochs (passes over the training data) per call of fit. With every default the
        first MNIST epoch reaches about 0.98 test accuracy (docs/defaults.md, docs/benchmarks.md).
    batch_size : int, default=128
        Samples per step (mean gradient). 1 is the paper's algorithm.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        As in MLPClassifier: "invscaling" uses learning_rate_init / (1 + t_)^power_t per epoch (t_ = samples
        seen); "adaptive" divides the rate by 5 whenever the stopping rule triggers, until it is below 1e-6.
    learning_rate_init : "auto" or float, default="auto"
        Initial step size; "auto" picks the measured rate of the solver (docs/defaults.md): 0.5 for the
        Adagrads, 0.01 for Adam, 100 for plain SGD (30 for the regressor: squared error diverges sooner).
        Under plain SGD the output's factor 1/sqrt(m) and the few firing neurons make useful rates large
        by usual standards. Too large a rate makes neurons stop firing for good (firing_fraction_ falls
        towards 0) or, for regression, diverges (ValueError).
    power_t : float, default=0.5
        Exponent of "invscaling".
    tol : float, default=1e-4
        Improvement the stopping rule asks of the training loss (or validation score) per epoch.
    early_stopping : bool, default=False
        Hold out validation_fraction of the training data (stratified), stop when its accuracy stops
        improving, and keep the weights of the best epoch.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
        Epochs without tol improvement tolerated before stopping (stops after n_iter_no_change + 1, as MLP).
    train_output_layer : bool, default=True
        Train the output weights A as well (the paper keeps them fixed at random signs).
    solver : {"sgd", "adagrad", "rowwise_adagrad", "adam"}, default="adagrad"
        How a firing neuron's row moves by its gradient g (docs/optimizers.md). Each moves only the rows
        that fire, and every strategy gives the same model bit for bit. "sgd": w -= lr g (the paper's;
        momentum > 0 adds lazy momentum); "adagrad": per coordinate h += g^2, w -= lr g / (sqrt(h) + eps),
        exactly dense Adagrad; "rowwise_adagrad": one accumulator per neuron; "adam": lazy Adam (a row's
        moments advance only in the steps where it fires, as PyTorch's SparseAdam).
    momentum : float in [0, 1), default=0.0
        Lazy heavy-ball momentum for solver="sgd".
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Adam's decay rates.
    epsilon : float > 0 or None, default=None
        The solver's denominator guard; None: 1e-10 for the Adagrads (as PyTorch), 1e-8 for Adam.
    strategy : {"auto", "dense", "scan", "gemm", "tree", "cache"}, default="auto"
        How firing neurons are found during training. Every strategy gives the same model bit for bit; they
        differ in speed only ("dense" is the reference dense SGD).
    cache_memory_budget : int, default=2**30
        Bytes the "cache" strategy may use: its per-sample candidate lists plus the estimated scratch of
        building them (the build works on chunks of samples sized to keep that scratch small). When the
        cache would not fit, training falls back to index queries (same model, other speed).
    input_map : {"standardize", "pca", "none"} or a fitted InputMap, default="pca"
        "standardize": per-feature standardisation, a constant coordinate sqrt(n_features) appended, rows
        scaled to unit norm (the network sees n_features + 1 inputs). "pca": the top n_components principal
        directions, whitened, then the same constant and normalisation (the network sees
        min(n_components, n_features) + 1 inputs: cheaper steps on wide data). "none": rows used as given
        (finite; they should have unit norm, as the threshold rule assumes). A fitted
        :class:`hsrnet.input_map.InputMap` is used as given, not refitted (n_components is then ignored): for
        partial_fit on data streamed in chunks, fit it on a pass or a sample first
        (``hsrnet.dask.fit_input_map``); otherwise the first partial_fit call fits the map on its batch alone.
    n_components : int, default=64
        Principal directions kept by input_map="pca" (all of them when the data has fewer features).
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    warm_start : bool, default=False
        fit continues from the current weights (labels must be among classes_; the input map and the
        n_neurons/threshold of the first fit are kept) instead of starting over.
    n_jobs : int or None, default=None
        Threads: None -> 1 (safe in process pools such as GridSearchCV(n_jobs=k)); -1 -> all (OpenMP's
        maximum; in a Dask task at most the host's cores divided by the Dask worker threads on the host);
        results are identical for every count.
    verbose : bool or int, default=False
        Print one line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,), only when X has string column names
    network_ : ShiftedReLUNet
    input_map_ : InputMap
    loss_curve_ : list of float, mean training cross-entropy per epoch (at the weights before each step)
    validation_scores_ : list of float, validation accuracy per epoch (early_stopping only, else None)
    best_validation_score_ : float (early_stopping only, else None)
    best_loss_ : float, lowest training loss (None with early_stopping)
    n_iter_ : int, epochs trained in all (warm starts and partial_fit calls add up). An epoch cut short by
        KeyboardInterrupt (Ctrl-C stops training between two steps, within ~0.1 s) counts: its steps are in the
        weights, and loss_curve_, firing_fraction_ and timings_ get its means over the samples it trained on.
    t_ : int, training samples seen (an interrupted epoch adds the samples it trained on, fewer than n)
    firing_fraction_ : list of float, mean fraction of neurons firing per sample, per epoch
    timings_ : dict of lists, seconds per epoch: identify, forward, backward, update, maintenance, total
    """

    _is_classifier = True
    _multi_output = False
    _loss = "softmax_cross_entropy"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.input_tags.allow_nan = False
        return tags

    def _n_outputs(self):
        return len(self.classes_)

    def _encode_targets(self, y, first, classes):
        check_classification_targets(y)
        if first:
            if classes is not None:
                self.classes_ = unique_labels(classes)
            else:
                self.classes_ = LabelEncoder().fit(y).classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes, got 1 class "
                    f"({self.classes_[0]!r}); the data has a single label"
                )
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"classes={classes!r} differs from the classes of the previous fit: {self.classes_!r}")
        encoder = LabelEncoder()
        encoder.classes_ = self.classes_
        try:
            return np.ascontiguousarray(encoder.transform(y), dtype=np.int32)
        except ValueError as e:
            raise ValueError(f"y contains labels not in classes_ {self.classes_!r}: {e}") from None

    def _score_network(self, Z, y):
        return accuracy_score(y, self.classes_[np.argmax(self.network_.predict(Z), axis=1)])

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y) from the current weights; classes (all labels) is required on the first call.

        The input map (and nothing else) is fitted on the first batch, unless input_map is a fitted InputMap
        (for data streamed in chunks: ``hsrnet.dask.fit_input_map``).
        """
        if not hasattr(self, "network_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, classes)

    def decision_function(self, X):
        """Network outputs: (n, n_classes), or (n,) for two classes (output 1 minus output 0)."""
        scores = self._raw_predict(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        scores = self._raw_predict(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_log_proba(self, X):
        scores = self._raw_predict(X)
        scores -= scores.max(axis=1, keepdims=True)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def predict_proba(self, X):
        """Softmax of the network outputs, (n, n_classes)."""
        scores = self._raw_predict(X)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores


@model_io.register_kind
class HSRRegressor(RegressorMixin, _BaseHSR):
    """A wide shifted-ReLU network regressor trained by exact sparse SGD (squared error, K outputs).

    Parameters are those of :class:`HSRClassifier` (early_stopping scores R^2 on the held-out part), except
    learning_rate_init="auto", which for solver="sgd" is 30.0: squared error has an unbounded gradient and
    diverges at rates that cross-entropy trains well with.
    The targets are standardised internally (y_mean_, y_scale_): the network output 1/sqrt(m) * sum is
    small at initialisation and learns unit-scale targets far faster than raw ones.

    Attributes
    ----------
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (n_outputs_,), the target standardisation (fitted on the first
        call of fit or partial_fit)
    loss_curve_ : list of float, mean 0.5 * ||f(x) - y_std||^2 per epoch on standardised targets
    and the other attributes of HSRClassifier except classes_ (validation_scores_ hold R^2).
    """

    _is_classifier = False
    _multi_output = True
    _loss = "squared_error"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.allow_nan = False
        return tags

    def _n_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, y, first, classes):
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self._y_ndim = y.ndim
            self.n_outputs_ = Y.shape[1]
            self.y_mean_ = Y.mean(axis=0)
            std = Y.std(axis=0)
            self.y_scale_ = np.where(std > 1e-12 * np.maximum(1.0, np.abs(self.y_mean_)), std, 1.0)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the model was fitted with {self.n_outputs_}")
        T = (Y - self.y_mean_) / self.y_scale_
        if not np.isfinite(T).all():
            raise ValueError("y is too large in magnitude to be standardised in float32")
        return np.ascontiguousarray(T, dtype=np.float32)

    def _score_network(self, Z, y):
        pred = self.network_.predict(Z).astype(np.float64) * self.y_scale_ + self.y_mean_
        return r2_score(y, pred.ravel() if np.ndim(y) == 1 else pred)

    def partial_fit(self, X, y):
        """One epoch over (X, y) from the current weights; the first call also fits the input map and the
        target standardisation on this batch."""
        return self._partial_fit(X, y)

    def predict(self, X):
        """Predictions (n,) when fitted on a 1-D y, else (n, n_outputs_), float64."""
        pred = self._raw_predict(X) * self.y_scale_ + self.y_mean_
        return pred.ravel() if self._y_ndim == 1 else pred
