"""Model files of the hsrnet estimators: ``est.save(path)`` and ``hsrnet.load(path)``.

A model file is a tensor file (tensor_file.py / include/hsrnet/io/tensor_file.hpp: magic, version, size, CRC-32,
written atomically) holding named tensors; docs/model_format.md lists them. Text (the estimator kind, its
parameters, class labels, feature names) is stored as uint8 UTF-8, JSON where it is structured, so a file
never runs code when it is read (unlike a pickle).
"""

from __future__ import annotations

import json
import os
import re
from typing import NamedTuple

import numpy as np

from . import tensor_file
from .input_map import InputMap
from .network import TIMING_KEYS
from .tensor_file import ModelFileError

__all__ = ["save", "load", "ModelFileError", "FORMAT_KINDS"]

FORMAT_KINDS = ("HSRClassifier", "HSRRegressor")
# The estimator classes behind the kinds. estimators.py registers them (it imports this module, never the
# other way round), so the file format does not depend on the estimators' module.
_CLASSES: dict = {}


def register_kind(cls):
    """Class decorator: `cls` is what a file of kind `cls.__name__` loads as."""
    if cls.__name__ not in FORMAT_KINDS:
        raise ValueError(f"{cls.__name__} is not a model-file kind ({FORMAT_KINDS})")
    _CLASSES[cls.__name__] = cls
    return cls


def _text(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-8"), dtype=np.uint8).copy()


def _json(obj) -> np.ndarray:
    return _text(json.dumps(obj, sort_keys=True, allow_nan=False))


def _param_value(name, value):
    """A JSON-safe parameter value (numpy scalars to Python; a RandomState instance is not storable: None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if name == "input_map" and hasattr(value, "kind"):
        return value.kind  # a fitted InputMap: its arrays are stored as the model's input_map_ (input_map/*)
    if name == "random_state":
        return None  # a RandomState instance: only its seeds matter, and they are stored in fit/seeds
    raise TypeError(f"cannot store parameter {name}={value!r} ({type(value).__name__}) in a model file")


def _labels_json(values: np.ndarray) -> np.ndarray:
    """Class labels of any JSON-representable type, with the numpy dtype to restore them to."""
    items = values.tolist()
    for v in items:
        if not isinstance(v, (bool, int, float, str)):
            raise TypeError(
                f"cannot store class label {v!r} ({type(v).__name__}) in a model file "
                "(labels must be numbers, booleans or strings)"
            )
    return _json({"dtype": values.dtype.str if values.dtype != object else "object", "values": items})


# Label dtypes a model file may name: booleans, integers, floats, and strings (whose length is taken from the
# values, never from the file), or "object". Anything else (structured dtypes, sizes, ",U3") is refused
# before numpy sees it.
_LABEL_DTYPE = re.compile(r"^([<>|=]?)(b1|[iu][1248]|f[248]|U[0-9]{1,9})$")


def _labels_from_json(t: np.ndarray, what: str, n_classes: int) -> np.ndarray:
    obj = _parse_json(t, what)
    if not isinstance(obj, dict) or not isinstance(obj.get("dtype"), str) or not isinstance(obj.get("values"), list):
        raise ModelFileError(f"{what} is malformed: expected an object with a dtype string and a values list")
    values, name = obj["values"], obj["dtype"]
    if len(values) != n_classes:
        raise ModelFileError(f"{what}: {len(values)} classes but the network has {n_classes} outputs")
    if not all(isinstance(v, (bool, int, float, str)) for v in values):
        raise ModelFileError(f"{what} is malformed: labels must be numbers, booleans or strings")
    if name == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    match = _LABEL_DTYPE.match(name)
    if match is None:
        raise ModelFileError(
            f"{what}: label dtype {name!r} is not one hsrnet writes (booleans, integers, floats, strings or object)"
        )
    code = match.group(2)
    try:
        if code.startswith("U"):  # the width is the longest label's, whatever the file claims
            if not all(isinstance(v, str) for v in values):
                raise ValueError("a string dtype with non-string labels")
            return np.array(values, dtype=str)
        out = np.array(values, dtype=np.dtype(match.group(1) + code))
        if not all(out[i] == v for i, v in enumerate(values)):
            raise ValueError("labels do not fit their dtype")
        return out
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(f"{what} is malformed: {e}") from None


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows (hsrnet writes none)")


def _parse_json(t: np.ndarray, what: str):
    try:
        return json.loads(bytes(np.asarray(t, dtype=np.uint8)).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelFileError(f"{what} is not valid UTF-8 JSON: {e}") from None


def to_tensors(est) -> dict:
    """The tensors of a fitted estimator (see docs/model_format.md)."""
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(est)
    kind = type(est).__name__
    if kind not in FORMAT_KINDS:
        raise TypeError(f"cannot save a {kind}: model files hold {FORMAT_KINDS}")
    net = est.network_
    params = {k: _param_value(k, v) for k, v in est.get_params(deep=False).items()}
    t = {
        "hsrnet/kind": _text(kind),
        "hsrnet/version": _text(__version__),
        "hsrnet/params": _json(params),
        "network/W": np.ascontiguousarray(net.hidden_weights(), dtype=np.float32),
        "network/A": np.ascontiguousarray(net.output_weights(), dtype=np.float32),
        "network/threshold": np.array(float(net.threshold), dtype=np.float64),
        "network/output_scale": np.array(float(net.output_scale), dtype=np.float64),
        "fit/n_features_in": np.array(est.n_features_in_, dtype=np.int64),
        "fit/n_iter": np.array(est.n_iter_, dtype=np.int64),
        "fit/t": np.array(est.t_, dtype=np.int64),
        "fit/trainer_seed": np.array(est._trainer_seed, dtype=np.int64),
        "fit/learning_rate": np.array(est._learning_rate, dtype=np.float64),
        "fit/no_improvement_count": np.array(getattr(est, "_no_improvement_count", 0), dtype=np.int64),
        "fit/loss_curve": np.asarray(est.loss_curve_, dtype=np.float64),
        "fit/firing_fraction": np.asarray(est.firing_fraction_, dtype=np.float64),
    }
    t.update(est.input_map_.to_tensors())
    t.update(_optimizer_tensors(est._optimizer_state_now()))
    for key in TIMING_KEYS:
        t["fit/timings/" + key] = np.asarray(est.timings_[key], dtype=np.float64)
    if getattr(est, "feature_names_in_", None) is not None:
        t["fit/feature_names_in"] = _json([str(n) for n in est.feature_names_in_])
    if getattr(est, "best_loss_", None) is not None:
        t["fit/best_loss"] = np.array(est.best_loss_, dtype=np.float64)
    if getattr(est, "validation_scores_", None) is not None:
        t["fit/validation_scores"] = np.asarray(est.validation_scores_, dtype=np.float64)
        t["fit/best_validation_score"] = np.array(est.best_validation_score_, dtype=np.float64)
    if kind == "HSRClassifier":
        t["classifier/classes"] = _labels_json(est.classes_)
    else:
        t["regressor/y_mean"] = np.asarray(est.y_mean_, dtype=np.float64)
        t["regressor/y_scale"] = np.asarray(est.y_scale_, dtype=np.float64)
        t["regressor/y_ndim"] = np.array(est._y_ndim, dtype=np.int64)
    return t


_REQUIRED = (
    "hsrnet/kind",
    "hsrnet/params",
    "network/W",
    "network/A",
    "network/threshold",
    "input_map/kind",
    "fit/n_features_in",
)
_REQUIRED_KIND = {"HSRClassifier": ("classifier/classes",), "HSRRegressor": ("regressor/y_mean", "regressor/y_scale")}


_SCALARS = (
    "network/threshold",
    "network/output_scale",
    "input_map/constant",
    "fit/n_features_in",
    "fit/n_iter",
    "fit/t",
    "optimizer/steps",
    "fit/trainer_seed",
    "fit/learning_rate",
    "fit/no_improvement_count",
    "fit/best_loss",
    "fit/best_validation_score",
    "regressor/y_ndim",
)


def from_tensors(t: dict, what: str = "model file"):
    """Rebuilds the estimator from its tensors; ModelFileError when something required is missing or wrong.

    Every way a file can be malformed ends in ModelFileError, never another exception type.
    """
    try:
        return _from_tensors(t, what)
    except ModelFileError:
        raise
    except MemoryError:
        raise ModelFileError(f"{what}: the model does not fit in memory") from None
    except Exception as e:  # damage that the checks below let through
        raise ModelFileError(f"{what} is malformed: {type(e).__name__}: {e}") from None


def _finite(name, a, what, positive=False):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ModelFileError(f"{what}: {name!r} must be numeric, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ModelFileError(f"{what}: {name!r} holds NaN or infinite values (the file is damaged)")
    if positive and not (a > 0).all():
        raise ModelFileError(f"{what}: {name!r} must be positive")
    return a


def _from_tensors(t: dict, what: str):
    from sklearn.utils._param_validation import InvalidParameterError

    # Scalars are 0-d; tensor_file.encode (np.ascontiguousarray) writes them with shape (1,): accept both.
    t = dict(t)
    for name in _SCALARS:
        if name in t:
            if t[name].size != 1:
                raise ModelFileError(f"{what}: {name!r} must be a scalar, got shape {t[name].shape}")
            t[name] = t[name].reshape(())

    def need(name):
        if name not in t:
            raise ModelFileError(
                f"{what} lacks the required tensor {name!r} (not an hsrnet estimator file, or "
                "written by an incompatible version)"
            )
        return t[name]

    for name in _REQUIRED:
        need(name)
    kind = bytes(np.asarray(t["hsrnet/kind"], dtype=np.uint8)).decode("utf-8", errors="replace")
    if kind not in FORMAT_KINDS:
        raise ModelFileError(f"{what} holds an unknown model kind {kind!r} (expected one of {FORMAT_KINDS})")
    for name in _REQUIRED_KIND[kind]:
        need(name)
    if kind not in _CLASSES:  # only when hsrnet.estimators was never imported; hsrnet.load imports it
        raise ModelFileError(f"{what}: no estimator class registered for {kind!r} (import hsrnet.estimators)")
    cls = _CLASSES[kind]
    params = _parse_json(t["hsrnet/params"], f"{what}: 'hsrnet/params'")
    if not isinstance(params, dict):
        raise ModelFileError(f"{what}: 'hsrnet/params' is not a JSON object")
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ModelFileError(f"{what}: unknown parameters {unknown} for {kind} (written by a newer hsrnet?)")
    est = cls(**params)
    try:
        est._check_params()
    except (InvalidParameterError, ValueError, TypeError) as e:
        raise ModelFileError(f"{what}: invalid parameters: {e}") from None

    W, A, b = t["network/W"], t["network/A"], t["network/threshold"]
    if W.dtype != np.float32 or A.dtype != np.float32 or W.ndim != 2 or A.ndim != 2 or W.shape[0] != A.shape[0]:
        raise ModelFileError(
            f"{what}: network/W {W.dtype}{W.shape} and network/A {A.dtype}{A.shape} must be "
            "float32 of shapes (m, d) and (m, K)"
        )
    if b.shape != () or b.dtype.kind != "f" or not np.isfinite(b):
        raise ModelFileError(f"{what}: network/threshold must be a finite scalar")
    _finite("network/W", W, what)
    _finite("network/A", A, what)
    # Files written before the output scale was stored: 1/sqrt(m), the only scale there was.
    output_scale = None
    if "network/output_scale" in t:
        output_scale = float(_finite("network/output_scale", t["network/output_scale"], what, positive=True))
    try:
        input_map = InputMap.from_tensors(t)
    except (KeyError, ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{what}: the input map tensors are missing or invalid ({e})") from None
    n_features = int(t["fit/n_features_in"])
    if n_features < 1:
        raise ModelFileError(f"{what}: n_features_in = {n_features}")
    if W.shape[1] != input_map.output_dim(n_features):
        raise ModelFileError(
            f"{what}: network input dimension {W.shape[1]} does not match n_features_in = "
            f"{n_features} with input map {input_map.kind!r}"
        )
    try:
        input_map.check(n_features)
    except ValueError as e:
        raise ModelFileError(f"{what}: {e}") from None

    est.input_map_ = input_map
    est.n_features_in_ = n_features
    if "fit/feature_names_in" in t:
        names = _parse_json(t["fit/feature_names_in"], f"{what}: 'fit/feature_names_in'")
        if not isinstance(names, list) or len(names) != n_features or not all(isinstance(n, str) for n in names):
            raise ModelFileError(f"{what}: 'fit/feature_names_in' must be a list of {n_features} strings")
        est.feature_names_in_ = np.array(names, dtype=object)
    if kind == "HSRClassifier":
        est.classes_ = _labels_from_json(t["classifier/classes"], f"{what}: 'classifier/classes'", A.shape[1])
        if est.classes_.shape != (A.shape[1],):
            raise ModelFileError(f"{what}: {est.classes_.shape[0]} classes but the network has {A.shape[1]} outputs")
    else:
        est.y_mean_ = _finite("regressor/y_mean", t["regressor/y_mean"], what).astype(np.float64)
        est.y_scale_ = _finite("regressor/y_scale", t["regressor/y_scale"], what, positive=True).astype(np.float64)
        est.n_outputs_ = A.shape[1]
        est._y_ndim = int(t["regressor/y_ndim"]) if "regressor/y_ndim" in t else 1 + (A.shape[1] > 1)
        if est.y_mean_.shape != (A.shape[1],) or est.y_scale_.shape != (A.shape[1],):
            raise ModelFileError(f"{what}: regressor/y_mean and y_scale must have shape ({A.shape[1]},)")
        if est._y_ndim not in (1, 2) or (est._y_ndim == 1 and A.shape[1] != 1):
            raise ModelFileError(f"{what}: regressor/y_ndim = {est._y_ndim} does not fit {A.shape[1]} outputs")

    def scalar(name, default, typ):
        return typ(t[name]) if name in t else default

    def series(name):
        return [float(v) for v in t[name]] if name in t else []

    est.n_iter_ = scalar("fit/n_iter", 0, int)
    est.t_ = scalar("fit/t", 0, int)
    est._trainer_seed = scalar("fit/trainer_seed", 0, int)
    est._learning_rate = scalar("fit/learning_rate", est._initial_learning_rate(), float)
    est._no_improvement_count = scalar("fit/no_improvement_count", 0, int)
    est.loss_curve_ = series("fit/loss_curve")
    est.firing_fraction_ = series("fit/firing_fraction")
    est.timings_ = {key: series("fit/timings/" + key) for key in TIMING_KEYS}
    est.best_loss_ = scalar("fit/best_loss", None, float)
    est.validation_scores_ = series("fit/validation_scores") if "fit/validation_scores" in t else None
    est.best_validation_score_ = scalar("fit/best_validation_score", None, float)
    est.network_ = est._rebuild_network(W, A, float(b), output_scale)
    state = _optimizer_state_from(t, W.shape, A.shape, what)
    if state is not None:
        est._optimizer_state = state
    return est


_OPTIMIZER_ARRAYS = ("hidden1", "hidden2", "out1", "out2")


def _optimizer_tensors(state) -> dict:
    """The optimizer's state as tensors (optimizer/...): warm starts after load continue it exactly."""
    if not state:
        return {}
    t = {
        "optimizer/rule": _json({"optimizer": state["optimizer"], "momentum": float(state["momentum"])}),
        "optimizer/steps": np.array(state["steps"], dtype=np.int64),
    }
    for name in _OPTIMIZER_ARRAYS:
        if name in state:
            t["optimizer/" + name] = np.ascontiguousarray(state[name], dtype=np.float32)
    return t


def _optimizer_state_from(t: dict, w_shape, a_shape, what: str):
    """The optimizer's state from its tensors, checked against the network; None when the file has none."""
    if "optimizer/rule" not in t:
        return None
    rule = _parse_json(t["optimizer/rule"], f"{what}: 'optimizer/rule'")
    steps = np.asarray(t.get("optimizer/steps", np.zeros(())))
    if (
        not isinstance(rule, dict)
        or not isinstance(rule.get("optimizer"), str)
        or steps.size != 1
        or not np.issubdtype(steps.dtype, np.integer)
        or int(steps.reshape(())) < 0
    ):
        raise ModelFileError(f"{what}: the optimizer state's rule or step count is malformed")
    state = {
        "optimizer": rule["optimizer"],
        "momentum": float(rule.get("momentum", 0.0)),
        "steps": int(steps.reshape(())),
    }
    for name in _OPTIMIZER_ARRAYS:
        key = "optimizer/" + name
        if key not in t:
            continue
        a = t[key]
        shapes = (tuple(w_shape), (w_shape[0],)) if name.startswith("hidden") else (tuple(a_shape),)
        if a.dtype != np.float32 or a.shape not in shapes or not np.isfinite(a).all():
            raise ModelFileError(f"{what}: {key!r} must be finite float32 of shape {shapes[0]}, got {a.dtype}{a.shape}")
        state[name] = a
    return state


def save(est, path) -> None:
    """Writes `est` (a fitted HSRClassifier or HSRRegressor) to `path`, atomically."""
    tensor_file.save(path, to_tensors(est))


class ModelFile(NamedTuple):
    """A model file read once: the estimator, its tensors, the format version and the size in bytes."""

    estimator: object
    tensors: dict
    format_version: int
    size: int


def read_model(path) -> ModelFile:
    """Reads and checks the model file at `path` in one pass (``hsrnet info`` shows all of it)."""
    path = os.fspath(path)
    data = tensor_file.read(path)
    tensors = tensor_file.decode(data, path)
    est = from_tensors(tensors, what=f"model file {path}")
    return ModelFile(est, tensors, tensor_file.format_version(data), len(data))


def load(path):
    """Reads an estimator written by ``save``.

    Raises FileNotFoundError for a missing path and ModelFileError (a ValueError) for a file that is
    truncated, corrupted (checksum), foreign (bad magic), from a newer format version, or lacks a tensor.
    """
    return read_model(path).estimator
