"""The shifted-ReLU two-layer network and its exact sparse SGD trainer (thin, validated wrappers over C++).

f(x) = (1/sqrt(m)) * sum_r a_r * max(<w_r, x> - b, 0), K outputs. Neuron r fires on x iff
reference_dot(w_r, x) > b; training touches the firing neurons only and equals dense SGD (strategy "dense").
"""

from __future__ import annotations

import math

import numpy as np

from . import _core
from ._module_attrs import module_getattr
from ._validation import as_float32_array, as_int, as_positive_real, as_threshold
from .index import BACKENDS

# The names the C++ core accepts (its enums' own lists).
STRATEGIES = _core.STRATEGIES
LOSSES = _core.LOSSES
SCHEDULES = _core.SCHEDULES
OPTIMIZERS = _core.OPTIMIZERS
# The phases a training epoch is timed in: the estimators' timings_ keys -> the trainer's statistics keys.
TIMING_KEYS = {
    "identify": "identify_s",
    "forward": "forward_s",
    "backward": "backward_s",
    "update": "update_s",
    "maintenance": "index_s",
    "total": "total_s",
}


def default_threshold(m: int) -> float:
    """The paper's b = sqrt(0.4 ln m) (0 for m <= 1), the value a network of width m uses by default."""
    return _core.default_threshold(max(int(m), 1))


def _choice(value, options, name):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _threads(n_threads):
    return 0 if n_threads is None else as_int(n_threads, "n_threads", 1, 4096)


class ShiftedReLUNet:
    """A width-m shifted-ReLU network over d inputs with K outputs; W lives in a HalfSpaceIndex.

    Parameters
    ----------
    d, m, n_outputs : dimensions (input, hidden width, outputs)
    threshold : "auto" (sqrt(0.4 ln m)) or a finite number b
    seed : initialisation seed (w_r ~ N(0, I), a_r in {-1, +1}); bit-reproducible on every platform
    W, A : optional initial weights, float32 (m, d) and (m, n_outputs); A=None draws random signs
    index_backend : backend of the index over W for prediction ("auto", "scan", "gemm", "tree")
    output_scale : the factor of the output sum; None: 1/sqrt(m). A shard of a wider network's neurons (m_p of
        m_total) takes 1/sqrt(m_total), so the shards' partial outputs sum to the whole network's
    """

    def __init__(
        self,
        d,
        m,
        n_outputs=1,
        threshold="auto",
        seed=0,
        *,
        W=None,
        A=None,
        index_backend="auto",
        leaf_size=64,
        n_threads=None,
        output_scale=None,
    ):
        d = as_int(d, "d", 1, 2**31 - 1)
        m = as_int(m, "m", 1, 2**31 - 2)
        K = as_int(n_outputs, "n_outputs", 1, 2**20)
        b = math.nan if isinstance(threshold, str) and threshold == "auto" else as_threshold(threshold, "threshold")
        seed = as_int(seed, "seed", 0, 2**64 - 1)
        _choice(index_backend, BACKENDS, "index_backend")
        leaf_size = as_int(leaf_size, "leaf_size", 8, 4096)
        if W is not None:
            W = as_float32_array(W, "W", 2)
            if W.shape != (m, d):
                raise ValueError(f"W must have shape ({m}, {d}), got {W.shape}")
        if A is not None:
            A = as_float32_array(A, "A", 2)
            if A.shape != (m, K):
                raise ValueError(f"A must have shape ({m}, {K}), got {A.shape}")
            if W is None:
                raise ValueError("A given without W: pass both, or neither")
        scale = math.nan if output_scale is None else as_positive_real(output_scale, "output_scale")
        self._net = _core.Network(d, m, K, b, seed, W, A, index_backend, leaf_size, _threads(n_threads), scale)

    d = property(lambda self: self._net.d, doc="input dimension")
    m = property(lambda self: self._net.m, doc="hidden width")
    n_outputs = property(lambda self: self._net.K, doc="outputs K")
    threshold = property(lambda self: self._net.threshold, doc="b (as the float it compares against)")
    output_scale = property(lambda self: self._net.output_scale, doc="factor of the output sum (1/sqrt(m) by default)")
    memory_bytes = property(lambda self: self._net.memory_bytes, doc="bytes held by W (index) and A")

    @property
    def n_threads(self):
        return self._net.n_threads or None

    @n_threads.setter
    def n_threads(self, value):
        self._net.n_threads = _threads(value)

    def __repr__(self):
        return f"ShiftedReLUNet(d={self.d}, m={self.m}, n_outputs={self.n_outputs}, threshold={self.threshold:.4g})"

    def hidden_weights(self) -> np.ndarray:
        """A copy of W, shape (m, d)."""
        return self._net.hidden_weights()

    def output_weights(self) -> np.ndarray:
        """A copy of A, shape (m, n_outputs)."""
        return self._net.output_weights()

    def _check_X(self, X, name="X"):
        X = as_float32_array(X, name, 2)
        if X.shape[1] != self.d:
            raise ValueError(f"{name} has {X.shape[1]} columns, the network has d = {self.d}")
        return X

    def predict(self, X) -> np.ndarray:
        """Network outputs f(x) for every row of X (float32 (n, d)), shape (n, n_outputs)."""
        return self._net.predict(self._check_X(X))

    def firing(self, x) -> np.ndarray:
        """Ids of the neurons that fire on x (ascending)."""
        x = as_float32_array(x, "x", 1)
        if x.shape[0] != self.d:
            raise ValueError(f"x has length {x.shape[0]}, the network has d = {self.d}")
        return self._net.firing(x)


class SgdTrainer:
    """Sparse SGD on a ShiftedReLUNet, exact to dense SGD.

    Parameters
    ----------
    batch_size : samples per step (1 = the paper's algorithm; larger: mean gradient)
    learning_rate : lr0 > 0
    schedule : "constant", "invscaling" (lr0 / (1 + t)^power per step) or "sklearn_invscaling"
        (lr0 / (1 + samples seen)^power, scikit-learn's invscaling)
    strategy : how firing neurons are found: "auto", "dense" (the reference), "scan", "gemm", "tree",
        "cache" (drift-bounded candidate cache for a fixed training set)
    train_output_layer : train A as well (the paper keeps it fixed)
    loss : "squared_error" (targets float32 (n, K)) or "softmax_cross_entropy" (int32 labels in [0, K))
    seed : shuffling seed; shuffle : reshuffle every epoch
    cache_budget_bytes : memory the cache strategy may use (candidate lists and estimated build scratch)
        before it falls back to the index
    optimizer : how a row moves by its gradient g (the batch mean); every one moves only the rows that fire,
        and every strategy gives the same weights bit for bit (docs/optimizers.md):
        "sgd" (w -= lr g; the paper's; with ``momentum`` > 0 lazy heavy-ball momentum),
        "adagrad" (per coordinate h += g^2, w -= lr g / (sqrt(h) + eps): exactly dense Adagrad),
        "rowwise_adagrad" (one accumulator per neuron, h += |g|^2 / d: exactly dense, m floats of state),
        "adam" (lazy: a row's moments advance only in steps where it has a gradient, as PyTorch's SparseAdam;
        bias correction by the global step count)
    momentum : in [0, 1), "sgd" only
    beta1, beta2 : Adam's decay rates in [0, 1)
    epsilon : > 0, or None for the optimizer's default (adagrad 1e-10, adam 1e-8)
    """

    def __init__(
        self,
        batch_size=1,
        learning_rate=0.01,
        schedule="constant",
        power=0.5,
        strategy="auto",
        train_output_layer=False,
        loss="squared_error",
        seed=0,
        shuffle=True,
        cache_budget_bytes=1 << 30,
        n_threads=None,
        optimizer="sgd",
        momentum=0.0,
        beta1=0.9,
        beta2=0.999,
        epsilon=None,
    ):
        self.loss = _choice(loss, LOSSES, "loss")
        self.optimizer = _choice(optimizer, OPTIMIZERS, "optimizer")
        momentum = _unit_interval(momentum, "momentum")
        if momentum > 0 and optimizer != "sgd":
            raise ValueError(f"momentum applies to optimizer='sgd' only, got optimizer={optimizer!r}")
        eps = -1.0 if epsilon is None else as_positive_real(epsilon, "epsilon")
        self._momentum = momentum
        self._trainer = _core.Trainer(
            as_int(batch_size, "batch_size", 1, 2**31 - 1),
            as_positive_real(learning_rate, "learning_rate"),
            _choice(schedule, SCHEDULES, "schedule"),
            _nonneg(power, "power"),
            _choice(strategy, STRATEGIES, "strategy"),
            bool(train_output_layer),
            self.loss,
            as_int(seed, "seed", 0, 2**64 - 1),
            bool(shuffle),
            as_int(cache_budget_bytes, "cache_budget_bytes", 0),
            _threads(n_threads),
            self.optimizer,
            momentum,
            _unit_interval(beta1, "beta1"),
            _unit_interval(beta2, "beta2"),
            eps,
        )

    steps_done = property(lambda self: self._trainer.steps_done)
    epochs_done = property(lambda self: self._trainer.epochs_done)

    samples_seen = property(lambda self: self._trainer.samples_seen)
    #: The rate of the next step: the schedule applied to the base rate.
    next_learning_rate = property(lambda self: self._trainer.next_learning_rate)

    def set_progress(self, steps_done, samples_seen):
        """Sets where the schedule stands (steps taken, samples seen), e.g. for a saved model that continues:
        "invscaling" and "sklearn_invscaling" then go on from there. Nothing else changes."""
        self._trainer.set_progress(as_int(steps_done, "steps_done", 0), as_int(samples_seen, "samples_seen", 0))

    def set_learning_rate(self, learning_rate):
        """A new base rate for the following steps; optimizer state, cache and shuffling state are kept."""
        self._trainer.set_learning_rate(as_positive_real(learning_rate, "learning_rate"))

    def reseed(self, seed):
        """Restarts the shuffling from `seed` (the order of the following epochs); nothing else changes."""
        self._trainer.reseed(as_int(seed, "seed", 0, 2**64 - 1))

    def optimizer_state(self, net: ShiftedReLUNet) -> dict:
        """The optimizer's state for `net` as float32 arrays ("hidden1", "hidden2": (m, d), or (m,) for
        rowwise_adagrad; "out1", "out2": (m, n_outputs); those the optimizer uses) and "steps". Empty arrays
        are left out; plain SGD has none."""
        if not isinstance(net, ShiftedReLUNet):
            raise TypeError(f"net must be a ShiftedReLUNet, got {type(net).__name__}")
        state = dict(self._trainer.optimizer_state(net._net))
        state["optimizer"], state["momentum"] = self.optimizer, self._momentum
        return state

    def accepts_optimizer_state(self, state: dict) -> bool:
        """True when `state` (from optimizer_state) was made by this trainer's rule (optimizer and whether
        momentum is on), so restore_optimizer_state can take it."""
        return state.get("optimizer") == self.optimizer and (state.get("momentum", 0) > 0) == (self._momentum > 0)

    def restore_optimizer_state(self, net: ShiftedReLUNet, state: dict):
        """Gives the trainer the state that optimizer_state returned, so training goes on as if never stopped."""
        if not isinstance(net, ShiftedReLUNet):
            raise TypeError(f"net must be a ShiftedReLUNet, got {type(net).__name__}")
        if not self.accepts_optimizer_state(state):
            raise ValueError(
                f"optimizer state made by optimizer={state.get('optimizer')!r} "
                f"(momentum {state.get('momentum', 0)}), this trainer uses {self.optimizer!r} "
                f"(momentum {self._momentum})"
            )
        arrays = {}
        for name in ("hidden1", "hidden2", "out1", "out2"):
            a = state.get(name)
            if a is None:
                arrays[name] = None
                continue
            a = as_float32_array(a, f"optimizer state {name!r}", np.ndim(a))
            if name.startswith("hidden") and a.shape not in ((net.m, net.d), (net.m,)):
                raise ValueError(f"optimizer state {name!r} has shape {a.shape}, the network needs ({net.m}, {net.d})")
            if name.startswith("out") and a.shape != (net.m, net.n_outputs):
                raise ValueError(
                    f"optimizer state {name!r} has shape {a.shape}, the network needs ({net.m}, {net.n_outputs})"
                )
            arrays[name] = np.ascontiguousarray(a)
        for name in ("hidden1", "hidden2"):
            a = arrays[name]
            if a is not None and a.ndim == 1 and self.optimizer != "rowwise_adagrad":
                raise ValueError(f"optimizer state {name!r} is row-wise, the trainer's optimizer is {self.optimizer!r}")
        squares = {
            "adagrad": ("hidden1", "out1"),
            "rowwise_adagrad": ("hidden1", "out1"),
            "adam": ("hidden2", "out2"),
        }.get(self.optimizer, ())
        for name in squares:  # sums of squares: a negative one would make sqrt NaN
            if arrays[name] is not None and (arrays[name] < 0).any():
                raise ValueError(f"optimizer state {name!r} holds negative values; it is a sum of squares")
        steps = as_int(state.get("steps", 0), "steps", 0, 2**64 - 1)
        self._trainer.restore_optimizer_state(
            net._net, arrays["hidden1"], arrays["hidden2"], arrays["out1"], arrays["out2"], steps
        )

    def reset(self):
        """Forgets progress (schedule position, shuffling state) and the cache."""
        self._trainer.reset()

    def fit_epoch(self, net: ShiftedReLUNet, X, y) -> dict:
        """One pass over (X, y). Returns the epoch's statistics (mean loss, firing fraction, timings...)."""
        _check_net(net)
        X, targets = checked_epoch_data(self.loss, net, X, y)
        return self._fit_epoch_checked(net, X, targets)

    def _fit_epoch_checked(self, net, X, targets) -> dict:
        if self.loss == "squared_error":
            return self._trainer.fit_epoch_regression(net._net, X, targets)
        return self._trainer.fit_epoch_classification(net._net, X, targets)

    # ------------------------------------------------------------------ two-phase steps (neuron-sharded training)
    # Per batch: partial = begin_step(...) on every shard, the partials summed in a fixed order (the first copied,
    # the others added), losses, G = loss_gradient(sum, y_batch, loss), then finish_step(net, G, losses) on every
    # shard. With one shard this trains exactly as fit_epoch over the same batches.

    def begin_epoch(self, net: ShiftedReLUNet, X):
        """Binds the training set X for the following begin_step calls (strategy choice, cache build), as
        fit_epoch does for its epoch; X must not change until end_epoch. An open epoch is closed first."""
        _check_net(net)
        if self._trainer.open_step_size:
            raise RuntimeError("a step is open: call finish_step first")
        Xc = net._check_X(X)
        self._trainer.begin_epoch(net._net, Xc)
        self._bound = (net, X, Xc)  # keeps the bound array alive

    def begin_step(self, net: ShiftedReLUNet, X, indices=None) -> np.ndarray:
        """Phase 1 of a step on the rows `indices` of X (None: every row, X is the batch): identification and
        forward pass over this network's neurons. Returns their partial outputs, float64 (batch, n_outputs): the
        output sum before its rounding to float32. When X is not the array bound by begin_epoch, it is bound
        first (a step on a new array is an epoch of its own)."""
        _check_net(net)
        bound = getattr(self, "_bound", None)
        if bound is None or bound[0] is not net or bound[1] is not X or not self._trainer.epoch_open:
            self.begin_epoch(net, X)
        n = self._bound[2].shape[0]
        if indices is None:
            idx = np.arange(n, dtype=np.int64)
        else:
            idx = np.asarray(indices)
            if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"indices must be a non-empty 1-D integer array, got shape {idx.shape} {idx.dtype}")
            if idx.min() < 0 or idx.max() >= n:
                raise ValueError(f"indices must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
            idx = np.ascontiguousarray(idx, dtype=np.int64)
        return self._trainer.begin_step(net._net, idx)

    def finish_step(self, net: ShiftedReLUNet, G, losses=None):
        """Phase 2: backward pass, update and index upkeep of the step begin_step opened, from
        G = dL/df per sample (float64 (batch, n_outputs), from loss_gradient: the batch mean's 1/batch is
        applied here). `losses` (batch,) only feed the epoch's mean loss."""
        _check_net(net)
        nb = self._trainer.open_step_size
        if nb == 0:
            raise RuntimeError("finish_step without begin_step")
        G = np.asarray(G)
        if G.shape != (nb, net.n_outputs) or G.dtype != np.float64:
            raise ValueError(f"G must be float64 of shape ({nb}, {net.n_outputs}), got {G.dtype} {G.shape}")
        if not np.isfinite(G).all():
            raise ValueError("G holds NaN or infinite values")
        if losses is not None:
            losses = np.ascontiguousarray(losses, dtype=np.float64)
            if losses.shape != (nb,):
                raise ValueError(f"losses must have shape ({nb},), got {losses.shape}")
        self._trainer.finish_step(net._net, np.ascontiguousarray(G), losses)

    def end_epoch(self, net: ShiftedReLUNet) -> dict:
        """Closes the epoch of begin_epoch (counted in epochs_done) and returns its statistics (mean_loss is
        NaN unless finish_step was given the losses)."""
        _check_net(net)
        if self._trainer.open_step_size:
            raise RuntimeError("a step is open: call finish_step first")
        if not self._trainer.epoch_open:
            raise RuntimeError("end_epoch without begin_epoch")
        self._bound = None
        return self._trainer.end_epoch(net._net)


def loss_gradient(outputs, y, loss="squared_error"):
    """The trainer's per-sample losses and dL/df for a batch of summed outputs (float64 (batch, K), e.g. the
    sum of the shards' begin_step partials), bit for bit what a whole step computes: the outputs are rounded
    to float32 first, as the network's are. y: float32 targets (batch, K) or (batch,) for K = 1, or int32
    class labels (batch,). Returns (losses (batch,), G (batch, K) float64)."""
    _choice(loss, LOSSES, "loss")
    F = np.asarray(outputs)
    if F.ndim != 2 or F.shape[0] == 0 or F.dtype != np.float64:
        raise ValueError(f"outputs must be a non-empty float64 array (batch, K), got {F.dtype} {F.shape}")
    targets = _check_targets(loss, y, F.shape[0], F.shape[1])
    F = np.ascontiguousarray(F)
    if loss == "squared_error":
        return _core.loss_gradient_regression(F, targets)
    return _core.loss_gradient_classification(F, targets)


def checked_epoch_data(loss, net, X, y):
    """(X, targets) as the core takes them, validated (finite X, targets that fit the loss): once per run of
    epochs over the same data (the estimators check once, then call SgdTrainer._fit_epoch_checked per epoch)."""
    X = net._check_X(X)
    return X, _check_targets(loss, y, X.shape[0], net.n_outputs)


def _check_net(net):
    if not isinstance(net, ShiftedReLUNet):
        raise TypeError(f"net must be a ShiftedReLUNet, got {type(net).__name__}")


def _check_targets(loss, y, n, K):
    """Targets of n samples as the C++ core takes them: float32 (n, K) or int32 labels (n,)."""
    if loss == "squared_error":
        # 1-D targets only for one output: a flat array of n*K values is never reinterpreted as (n, K).
        if not isinstance(y, np.ndarray):
            raise TypeError(f"y must be a numpy.ndarray of dtype float32, got {type(y).__name__}")
        want = (n,) if K == 1 and np.ndim(y) == 1 else (n, K)
        if y.dtype == np.float32 and np.shape(y) != want:
            raise ValueError(
                f"y must have shape ({n}, {K})" + (f" or ({n},)" if K == 1 else "") + f", got {np.shape(y)}"
            )
        Y = as_float32_array(y, "y", len(want)).reshape(n, K)
        return np.ascontiguousarray(Y)
    if K < 2:
        raise ValueError("softmax_cross_entropy needs a network with n_outputs >= 2 (2 for binary labels)")
    # Checked here, before the cast to int32 (a label of 2**40 would wrap into range); the C++ trainer checks
    # again for its own callers (O(n) integer compares per epoch).
    labels = np.asarray(y)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must be {n} integer class labels, got shape {labels.shape} dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"class labels must lie in [0, {K}), got [{labels.min()}, {labels.max()}]")
    return np.ascontiguousarray(labels, dtype=np.int32)


def _unit_interval(v, name):
    v = _nonneg(v, name)
    if v >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def _nonneg(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (v >= 0 and np.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


# Names the Python API used before it took the C++ library's (one name per concept); they go after one release.
_RENAMED = {"ShiftedReLUNetwork": "ShiftedReLUNet", "SGDTrainer": "SgdTrainer"}


def __getattr__(name):
    return module_getattr(__name__, globals(), name, renamed=_RENAMED)
