"""The ``hsrnet`` command: demo, train, predict, info, index-demo.

Exit status: 0 success, 1 runtime failure, 2 usage error or bad option value, 3 bad input data file, 4 bad
model file, 130 interrupted. Errors are one line on stderr, ``hsrnet: error: ...`` (HSRNET_DEBUG=1: traceback).
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import time

import numpy as np


def _unit_rows(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _best_time(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def index_demo(args) -> int:
    """Exact half-space reporting on generated data, against numpy's brute force."""
    from . import HalfSpaceIndex

    rng = np.random.default_rng(args.seed)
    m = 1 << args.log2m
    b = float(np.sqrt(0.4 * np.log(m)))
    print(f"hsrnet index demo: m = {m:,} Gaussian weight rows, unit-norm queries, threshold b = sqrt(0.4 ln m) = {b:.3f}")
    print(f"{'setting':<28}{'backend':<8}{'found/query':>12}{'hsrnet ms':>11}{'numpy ms':>10}{'speed-up':>10}  exact")
    ok = True
    for d, n in ((2, 1), (4, 1), (32, 256), (128, 256)):
        W = rng.standard_normal((m, d)).astype(np.float32)
        X = _unit_rows(rng, n, d)
        index = HalfSpaceIndex(W, n_threads=args.threads)
        reps = 20 if n == 1 else 2

        def brute():
            P = X @ W.T
            return [np.flatnonzero(row > b) for row in P]

        if n == 1:
            index.query(X[0], b)  # first call: lets auto measure the tree
            t_h, ids = _best_time(lambda: [index.query(X[0], b)], reps)
        else:
            def run():
                off, idx = index.query_batch(X, b)
                return [idx[off[q]:off[q + 1]] for q in range(n)]
            t_h, ids = _best_time(run, reps)
        t_np, ref = _best_time(brute, reps)
        # numpy's product sums in another order: rows within float rounding of b may differ; check them
        # against hsrnet's reference kernel instead of calling them mismatches.
        exact = all(np.array_equal(a, r) or _settled_by_rounding(W, X[q], b, a, r) for q, (a, r) in enumerate(zip(ids, ref)))
        ok &= exact
        backend = index.stats()["last_backend"]
        found = np.mean([len(a) for a in ids])
        print(f"{f'd = {d}, {n} quer' + ('y' if n == 1 else 'ies'):<28}{backend:<8}{found:>12.1f}"
              f"{t_h / n * 1e3 if n == 1 else t_h * 1e3:>11.2f}{t_np / n * 1e3 if n == 1 else t_np * 1e3:>10.2f}"
              f"{t_np / t_h:>9.1f}x  {'yes' if exact else 'NO'}")
    print("times: best of repeats, whole batch for 256 queries; see docs/index_benchmark.md for the full grid")
    return 0 if ok else 1


def _settled_by_rounding(W, x, b, got, ref) -> bool:
    from . import reference_dot

    diff = np.setxor1d(got, ref)
    return all((reference_dot(W[r], x) > b) == (r in set(got.tolist())) for r in diff)


# ------------------------------------------------------------------------------------------------ errors

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DATA, EXIT_MODEL = 0, 1, 2, 3, 4
_MAX_NEURONS = 2**31 - 2  # the estimators' limit on n_neurons
_OVERFIT_GAP = 0.1  # train score above the held-out score by more than this: warn


class CLIError(Exception):
    """An error to report as one line, with its exit code."""

    def __init__(self, message, code=EXIT_FAILURE):
        super().__init__(message)
        self.code = code


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _neurons(text):
    v = _positive_int(text)
    if v > _MAX_NEURONS:
        raise argparse.ArgumentTypeError(f"must be in [1, {_MAX_NEURONS:,}], got {v:,}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return v


def _threads(text):
    if text in ("all", "-1"):
        return -1
    v = _positive_int(text)
    if v > 4096:
        raise argparse.ArgumentTypeError(f"must be in [1, 4096] or 'all', got {v}")
    return v


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^32), got {v}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return v


def _threshold(text):
    if text == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None
    if not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return v


def _log2m(text):
    v = _positive_int(text)
    if not 4 <= v <= 24:
        raise argparse.ArgumentTypeError(f"must be in [4, 24], got {v}")
    return v


# --------------------------------------------------------------------------------------------- helpers


def _say(*args, file=None):
    print(*args, file=file or sys.stdout, flush=True)


def _human_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _load_data(args, target):
    from .data_files import load_table

    return load_table(args.data, target, header=args.header, delimiter=args.delimiter)


def _load_model(path):
    """An estimator from a model file; exit code 4 for every way the file can be wrong."""
    import hsrnet

    from .tensor_file import ModelFileError

    try:
        return hsrnet.load(path)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, struct.error) as e:  # damage the checks let through
        raise CLIError(f"cannot load model file {path}: {e}", EXIT_MODEL) from None
    except FileNotFoundError:
        raise CLIError(f"model file not found: {path}", EXIT_MODEL) from None
    except IsADirectoryError:
        raise CLIError(f"{path} is a directory, not a model file", EXIT_MODEL) from None
    except PermissionError:
        raise CLIError(f"cannot read model file {path}: permission denied", EXIT_MODEL) from None
    except OSError as e:
        raise CLIError(f"cannot read model file {path}: {e.strerror or e}", EXIT_MODEL) from None


def _check_writable(path, what):
    """Fails before any work when `path` cannot be written (missing folder, a folder in its place)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{what} {path} is a directory", EXIT_USAGE)
    if what == "model file":  # written through symlinks, never over a device, pipe or socket
        from .tensor_file import resolve_target

        try:
            path = resolve_target(path)[0]
        except OSError as e:
            raise CLIError(f"cannot write {what}: {e}", EXIT_USAGE) from None
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {what} {path}: the folder {parent} does not exist", EXIT_USAGE)
    if not os.access(parent, os.W_OK):
        raise CLIError(f"cannot write {what} {path}: the folder {parent} is not writable", EXIT_USAGE)


def _fit_with_progress(est, X, y, show):
    """est.fit(X, y) on this (the main) thread, so Ctrl-C reaches it: the C++ epochs poll for KeyboardInterrupt
    between steps. A helper thread draws a bar over epochs from the fitted attributes the estimator fills in as
    it goes; it never calls into the compiled core. Warnings are collected and returned."""
    import threading
    import warnings

    from .demo import make_bar

    stop = threading.Event()
    bar = make_bar(est.max_iter, "training", show, unit="epoch")

    def draw():
        done = 0
        while True:
            finished = stop.wait(0.1)
            curve = list(getattr(est, "loss_curve_", None) or [])
            if len(curve) > done:
                bar.set_postfix_str(f"loss {curve[-1]:.4g}", refresh=False)
                bar.update(len(curve) - done)
                done = len(curve)
            if finished:
                return

    drawer = threading.Thread(target=draw, name="hsrnet-progress", daemon=True) if show else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if drawer is not None:
                drawer.start()
            est.fit(X, y)
        finally:
            stop.set()
            if drawer is not None:
                drawer.join(1.0)
            bar.close()
    return [w for w in caught]


def _warning_line(w):
    text = " ".join(str(w.message).split())
    if w.category.__name__ == "ConvergenceWarning":
        return (f"hsrnet: warning: training ended at the epoch limit before the loss settled ({text}); "
                "more --epochs may help")
    return f"hsrnet: warning: {text}"


# ----------------------------------------------------------------------------------------------- train


def train(args) -> int:
    from .data_files import prepare_target

    _check_writable(args.output, "model file")
    table = _load_data(args, args.target)
    y = prepare_target(table.y, args.task, str(args.data))
    if args.task == "classify":
        n_classes = len(np.unique(y))
        if n_classes > 0.5 * len(y):
            _say(f"hsrnet: warning: the target has {n_classes:,} classes for {len(y):,} samples; a target with "
                 "mostly distinct values looks continuous: --task regress?", file=sys.stderr)

    import hsrnet

    params = {"random_state": args.seed, "verbose": bool(args.verbose)}
    for opt, name in (("neurons", "n_neurons"), ("epochs", "max_iter"), ("batch_size", "batch_size"),
                      ("lr", "learning_rate_init"), ("strategy", "strategy"), ("threads", "n_jobs"),
                      ("threshold", "threshold"), ("input_map", "input_map")):
        value = getattr(args, opt)
        if value is not None:
            params[name] = value
    if args.early_stopping:
        params["early_stopping"] = True
    if args.output_layer is not None:
        params["train_output_layer"] = args.output_layer == "train"
    Est = hsrnet.HSRClassifier if args.task == "classify" else hsrnet.HSRRegressor
    est = Est(**params)

    X_fit, y_fit, X_val, y_val = table.X, y, None, None
    if args.validation_fraction is not None:
        X_fit, X_val, y_fit, y_val = _hold_out(table.X, y, args.validation_fraction, args.task, args.seed)

    n, d = table.X.shape
    what = f"{len(np.unique(y))} classes" if args.task == "classify" else "regression target"
    target_name = table.target_name if table.format != "idx" else os.path.basename(table.target_name)
    _say(f"data: {args.data} ({table.format}): {n:,} samples, {d:,} features; target {target_name!r}: {what}")
    _say(f"model: {Est.__name__} with {est.n_neurons:,} neurons, up to {est.max_iter} epochs, batch size "
         f"{est.batch_size}, learning rate {est.learning_rate_init:g}, strategy {est.strategy}")

    from .demo import progress_enabled

    show = progress_enabled(args.quiet) and not args.verbose
    t0 = time.perf_counter()
    try:
        caught = _fit_with_progress(est, X_fit, y_fit, show)
    except ValueError as e:  # divergence, a validation set too small for early stopping...
        raise CLIError(f"training failed: {e}", EXIT_FAILURE) from None
    seconds = time.perf_counter() - t0
    for w in caught:
        _say(_warning_line(w), file=sys.stderr)

    if table.format == "csv" and table.has_header:  # predict matches columns by name
        est.feature_names_in_ = np.asarray(table.feature_names, dtype=object)
    score = _score(est, X_fit, y_fit)
    loss_name = "cross-entropy" if args.task == "classify" else "0.5 * squared error on standardised targets"
    _say(f"trained {est.n_iter_} epoch{'s' if est.n_iter_ != 1 else ''} in {seconds:.2f} s "
         f"({seconds / max(est.n_iter_, 1):.3f} s per epoch); firing fraction {100 * est.firing_fraction_[-1]:.2f} %")
    _say(f"final training loss: {est.loss_curve_[-1]:.6g} ({loss_name})")
    metric = "accuracy" if args.task == "classify" else "R^2"
    _say(f"score on the training data: {metric} {score:.4f}")
    if X_val is not None:
        held = _score(est, X_val, y_val)
        _say(f"score on the held-out data ({len(y_val):,} samples, --validation-fraction "
             f"{args.validation_fraction:g}): {metric} {held:.4f}")
        if score - held > _OVERFIT_GAP:
            _say(f"hsrnet: warning: the training {metric} ({score:.4f}) exceeds the held-out {metric} ({held:.4f}) by "
                 f"{score - held:.2f}: the model over-fits; fewer --epochs or --neurons, or more data, may help",
                 file=sys.stderr)
    try:
        est.save(args.output)
    except OSError as e:
        raise CLIError(f"cannot write model file {args.output}: {e.strerror or e}", EXIT_FAILURE) from None
    _say(f"model written to {args.output} ({_human_bytes(os.path.getsize(args.output))})")
    return EXIT_OK


def _hold_out(X, y, fraction, task, seed):
    from sklearn.model_selection import train_test_split

    if round(fraction * len(y)) < 1 or round((1 - fraction) * len(y)) < 2:
        raise CLIError(f"--validation-fraction {fraction:g} of {len(y)} samples leaves no held-out or training "
                       "data", EXIT_USAGE)
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed,
                                stratify=y if task == "classify" else None)
    except ValueError:  # a class too small to stratify
        return train_test_split(X, y, test_size=fraction, random_state=seed)


def _score(est, X, y):
    """est.score without scikit-learn's warning about feature names (the command matched them itself)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*feature names.*")
        return est.score(X, y)


def _match_columns(est, table, data):
    """The features of `table` in the order the model was trained on, matched by CSV column name."""
    from .data_files import DataError

    trained = [str(c) for c in est.feature_names_in_]
    got = list(table.feature_names)
    if got == trained:
        return table.X
    missing = [c for c in trained if c not in got]
    extra = [c for c in got if c not in trained]
    if missing or extra:
        parts = []
        if missing:
            parts.append("lacks the model's column(s) " + ", ".join(repr(c) for c in missing))
        if extra:
            parts.append("has column(s) the model was not trained on: " + ", ".join(repr(c) for c in extra) +
                         (" (if one is the target, name it with --target)" if table.target_name is None else ""))
        raise DataError(f"{data} " + "; ".join(parts))
    if len(set(got)) != len(got):
        raise DataError(f"{data}: column names repeat; cannot match them to the model's columns")
    return np.ascontiguousarray(table.X[:, [got.index(c) for c in trained]])


# --------------------------------------------------------------------------------------------- predict


def predict(args) -> int:
    import csv

    from .data_files import DataError, detect_format, npz_has_array, prepare_target

    est = _load_model(args.model)
    is_classifier = hasattr(est, "classes_")
    if args.proba and not is_classifier:
        raise CLIError("--proba needs a classifier; this model is a regressor", EXIT_USAGE)
    if args.output == "-":
        args.output = None
    if args.output is not None:
        _check_writable(args.output, "output file")

    target = args.target
    if target is None and detect_format(args.data) == "npz" and npz_has_array(args.data, "y"):
        target = "y"
    table = _load_data(args, target)
    expected = est.n_features_in_
    X = table.X
    if getattr(est, "feature_names_in_", None) is not None and table.format == "csv" and table.has_header:
        X = _match_columns(est, table, args.data)
    elif table.n_features != expected:
        hint = ""
        if args.target is None and table.n_features == expected + 1 and table.format in ("csv", "npy"):
            hint = "; if one column is the target, name it with --target"
        raise DataError(f"{args.data} has {table.n_features} feature columns, the model expects {expected}{hint}")

    import warnings

    with warnings.catch_warnings():  # columns were matched by name above (or the file has no names)
        warnings.filterwarnings("ignore", message=".*feature names.*")
        pred = est.predict(X)
        proba = est.predict_proba(X) if args.proba else None

    header = ["prediction"] if pred.ndim == 1 else [f"prediction_{k}" for k in range(pred.shape[1])]
    if proba is not None:
        header += [f"proba_{c}" for c in est.classes_]

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        return str(v.item() if isinstance(v, np.generic) else v)

    out = open(args.output, "w", newline="") if args.output is not None else sys.stdout
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        P = pred.reshape(len(pred), -1)
        for i in range(len(pred)):
            row = [cell(v) for v in P[i]]
            if proba is not None:
                row += [f"{p:.6g}" for p in proba[i]]
            writer.writerow(row)
        out.flush()
    except BrokenPipeError:  # `hsrnet predict ... | head`: the reader left, nothing is wrong
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except OSError as e:
        raise CLIError(f"cannot write predictions to {args.output or 'stdout'}: {e.strerror or e}") from None
    finally:
        if out is not sys.stdout:
            out.close()

    info = sys.stdout if args.output is not None else sys.stderr  # keep stdout for the CSV alone
    if args.output is not None:
        _say(f"{len(pred):,} predictions written to {args.output}", file=info)
    if table.y is not None:
        where = f"{args.data} (target {table.target_name!r})"
        if is_classifier:
            y = prepare_target(table.y, "classify", where, min_classes=1)
            acc = _accuracy(pred, y)
            _say(f"accuracy on {len(y):,} samples: {acc:.4f}", file=info)
        else:
            y = prepare_target(table.y, "regress", where)
            p = pred.reshape(len(y), -1)[:, 0]
            mse = float(np.mean((p - y) ** 2))
            sst = float(np.sum((y - y.mean()) ** 2))
            r2 = f"{1 - mse * len(y) / sst:.4f}" if sst > 0 else "n/a (constant target)"
            _say(f"R^2 on {len(y):,} samples: {r2}; MSE {mse:.6g}", file=info)
    return EXIT_OK


def _accuracy(pred, y):
    if pred.dtype.kind in "biuf" and y.dtype.kind in "biuf":
        return float(np.mean(pred == y))
    return float(np.mean(np.array([str(v) for v in pred]) == np.array([str(v) for v in y])))


# ------------------------------------------------------------------------------------------------ info


def info(args) -> int:
    import json

    from . import tensor_file

    est = _load_model(args.model)  # every check (size, checksum, tensors) happens here
    tensors = tensor_file.load(args.model)
    with open(args.model, "rb") as f:
        _, version = struct.unpack("<8sI", f.read(12))
    size = os.path.getsize(args.model)

    def text(name):
        return bytes(tensors[name]).decode("utf-8", errors="replace") if name in tensors else "?"

    net = est.network_
    params = json.loads(text("hsrnet/params"))
    kind = type(est).__name__
    rows = [
        ("file", (f"{args.model} ({_human_bytes(size)}, format version {version}, {len(tensors)} tensors, "
                  "checksum OK)")),
        ("kind", f"{kind} (written by hsrnet {text('hsrnet/version')})"),
        ("features", f"{est.n_features_in_:,} (input map {est.input_map_.kind!r}: network inputs {net.d:,})"),
        ("neurons", f"{net.m:,}"),
        ("threshold", f"b = {net.threshold:.6g}" + (" (auto: sqrt(0.4 ln m))" if params.get("threshold") == "auto"
                                                      else "")),
    ]
    if kind == "HSRClassifier":
        classes = ", ".join(str(c) for c in est.classes_[:20]) + (", ..." if len(est.classes_) > 20 else "")
        rows.append(("outputs", f"{len(est.classes_)} classes: {classes}"))
    else:
        rows.append(("outputs", f"{est.n_outputs_} regression output{'s' if est.n_outputs_ != 1 else ''}"))
    n_iter = est.n_iter_
    if n_iter:
        total = sum(est.timings_.get("total", []))
        line = (f"{n_iter} epoch{'s' if n_iter != 1 else ''}, {est.t_:,} samples seen, final loss "
                f"{est.loss_curve_[-1]:.6g}, firing fraction {100 * est.firing_fraction_[-1]:.2f} %, "
                f"training time {total:.2f} s")
        if est.validation_scores_:
            line += f", best validation score {est.best_validation_score_:.4f}"
        rows.append(("training", line))
    else:
        rows.append(("training", "none recorded"))
    rows.append(("parameters", ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))))
    width = max(len(k) for k, _ in rows) + 2
    for k, v in rows:
        _say(f"{k + ':':<{width}}{v}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ demo


def demo(args) -> int:
    from . import demo as demo_module

    if args.plot:
        _check_writable(args.plot, "plot")
    return demo_module.main_args(args)


# ------------------------------------------------------------------------------------------------ main

DESCRIPTION = """\
hsrnet: train wide shifted-ReLU networks with exact sparse SGD (the cost follows the neurons that fire).

  hsrnet demo                                   sparse vs dense SGD side by side (no download, ~1 minute)
  hsrnet train DATA --target COL --task classify|regress -o model.hsr
  hsrnet predict model.hsr DATA [--target COL] [-o predictions.csv]
  hsrnet info model.hsr
"""

EPILOG = """\
data files: CSV (fields separated by , ; tab or |, detected or given by --delimiter; optional header row;
--target is a column name or a 0-based index, negative from the end; predict matches columns by name when
the model was trained on a CSV with a header), .npy (2-D numeric; --target is a column index), .npz (features in array 'X', the
target in the array named by --target, e.g. y; predict scores against 'y' when present), IDX as in MNIST,
gzipped or not (--target is the path of the labels IDX file; images are flattened and scaled to [0, 1]).

exit status: 0 success, 1 runtime failure, 2 usage error or bad option value, 3 bad input data file,
4 bad model file (missing, foreign, truncated, corrupted), 130 interrupted (Ctrl-C; nothing is written). Errors are one line on stderr; set HSRNET_DEBUG=1
for a traceback. Progress bars go to stderr, only when it is a terminal and --quiet is not given.
"""


def _add_data_options(p, target_required):
    p.add_argument("data", metavar="DATA", help="data file: .csv, .npy, .npz or IDX (.gz or not)")
    p.add_argument("--target", metavar="COL", required=target_required,
                   help="the target: CSV column name or 0-based index (negative from the end); .npy column "
                        "index; .npz array name; IDX: the labels file" +
                        ("" if target_required else " (optional: then used to print the score and dropped "
                                                    "from the features)"))
    p.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                   help="CSV: does the first row hold column names? (default: auto-detect)")
    p.add_argument("--delimiter", choices=("auto", ",", ";", "tab", "|"), default="auto",
                   help="CSV: the field separator (default: auto-detect among , ; tab |)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``hsrnet: error: ...`` with where to look, and exit status 2."""

    def error(self, message):
        if "required: command" in message:
            message = "a command is needed: demo, train, predict, info or index-demo"
        text = " ".join(str(message).split())
        self.exit(EXIT_USAGE, f"hsrnet: error: {text} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="hsrnet", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"hsrnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="exact sparse SGD against dense SGD on the unit sphere, timed and plotted",
                       description="Trains the same wide network with hsrnet's sparse SGD and with the dense "
                                   "reference, side by side on the same trajectory, and reports the times.")
    p.add_argument("--quick", action="store_true", help="a small version that runs in a few seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="PATH", default="hsrnet-demo.png",
                   help="where to write the PNG plot of loss against time (default: hsrnet-demo.png); "
                        "'' for none")
    p.add_argument("--threads", metavar="N", type=_positive_int, default=1,
                   help="threads for both trainers (default 1: batch-1 steps are too small to share)")
    p.add_argument("--seed", metavar="S", type=_seed, default=0,
                   help="seed for data, weights and shuffling (default 0)")
    p.add_argument("--log2m", metavar="K", type=_log2m, default=None,
                   help="log2 of the width m (default 20; 14 with --quick)")
    p.add_argument("--steps", metavar="N", type=_positive_int, default=None,
                   help="SGD steps (default 20000; 1000 with --quick)")
    p.add_argument("--strategy", choices=("auto", "scan", "gemm", "tree", "cache"), default="auto",
                   help="hsrnet's way of finding the firing neurons (default auto)")
    p.set_defaults(func=demo)

    p = sub.add_parser("train", help="train a classifier or regressor on a data file and save it",
                       description="Trains an HSRClassifier or HSRRegressor on DATA and writes the model file.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_options(p, target_required=True)
    p.add_argument("--task", choices=("classify", "regress"), required=True)
    p.add_argument("-o", "--output", metavar="MODEL", required=True, help="model file to write (e.g. model.hsr)")
    p.add_argument("--neurons", metavar="M", type=_neurons,
                   help="hidden width m (default: the estimator's)")
    p.add_argument("--epochs", metavar="N", type=_positive_int,
                   help="maximum epochs, max_iter (default: the estimator's)")
    p.add_argument("--batch-size", metavar="B", type=_positive_int,
                   help="samples per SGD step (default: the estimator's)")
    p.add_argument("--lr", metavar="RATE", type=_positive_float,
                   help="learning_rate_init (default: the estimator's, which differs for classify and "
                        "regress; the summary shows the value used)")
    p.add_argument("--strategy", choices=("auto", "dense", "scan", "gemm", "tree", "cache"),
                   help="how firing neurons are found (same model for every choice; default auto)")
    p.add_argument("--threshold", metavar="B", type=_threshold,
                   help="shift b of the ReLU: 'auto' (sqrt(0.4 ln m)) or a number")
    p.add_argument("--input-map", choices=("standardize", "none"),
                   help="map onto the unit sphere (default standardize; none: rows already have unit norm)")
    p.add_argument("--output-layer", choices=("train", "fixed"),
                   help="train the output weights, or keep them fixed at random signs as in the paper "
                        "(default train)")
    p.add_argument("--threads", metavar="N", type=_threads, help="threads (n_jobs): a count or 'all' (default 1)")
    p.add_argument("--seed", metavar="S", type=_seed, default=0, help="random_state (default 0)")
    p.add_argument("--early-stopping", action="store_true",
                   help="hold out 10%% of the data and stop when its score stops improving")
    p.add_argument("--validation-fraction", metavar="F", type=_fraction,
                   help="hold out this fraction of the data (e.g. 0.2), train on the rest and print the held-out "
                        "score; warns when the training score is far above it (over-fitting)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="one line per epoch from the estimator")
    p.set_defaults(func=train)

    p = sub.add_parser("predict", help="predict with a saved model; CSV out",
                       description="Writes predictions for DATA as CSV (column 'prediction'; with --proba also "
                                   "one probability column per class) to -o or stdout.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="model file written by hsrnet train (or est.save)")
    _add_data_options(p, target_required=False)
    p.add_argument("-o", "--output", metavar="CSV", help="write predictions here (default, or '-': stdout)")
    p.add_argument("--proba", action="store_true", help="classifier: add class probability columns")
    p.set_defaults(func=predict)

    p = sub.add_parser("info", help="describe a model file (and verify its checksum)")
    p.add_argument("model", metavar="MODEL")
    p.set_defaults(func=info)

    p = sub.add_parser("index-demo", help="exact half-space reporting on generated data, timed against numpy")
    p.add_argument("--log2m", type=int, default=20, help="log2 of the number of rows (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    p.set_defaults(func=index_demo)
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        from .datasets import DataError
        from .tensor_file import ModelFileError
    except KeyboardInterrupt:
        print("hsrnet: interrupted", file=sys.stderr)
        return 130

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("hsrnet: interrupted", file=sys.stderr)
        return 130
    except CLIError as e:
        return _fail(e, e.code)
    except DataError as e:
        return _fail(e, EXIT_DATA)
    except ModelFileError as e:
        return _fail(e, EXIT_MODEL)
    except MemoryError:
        return _fail("out of memory", EXIT_FAILURE)
    except Exception as e:  # a bug or an unforeseen failure: still one line, unless debugging
        return _fail(f"{type(e).__name__}: {e}", EXIT_FAILURE)


def _fail(message, code):
    if os.environ.get("HSRNET_DEBUG"):
        import traceback

        traceback.print_exc()
    text = " ".join(str(message).split()) or "failed"
    print(f"hsrnet: error: {text}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
