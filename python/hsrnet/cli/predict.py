"""``hsrnet predict``: predictions for a data file as CSV, columns matched to the model's by name."""

from __future__ import annotations

import os
import sys

import numpy as np

from .common import EXIT_OK, EXIT_USAGE, CLIError, _check_writable, _load_data, _load_model, _say


def predict(args) -> int:
    import csv

    from ..data_files import DataError, detect_format, npz_has_array, prepare_target

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


def _match_columns(est, table, data):
    """The features of `table` in the order the model was trained on, matched by CSV column name."""
    from ..data_files import DataError

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
            parts.append(
                "has column(s) the model was not trained on: "
                + ", ".join(repr(c) for c in extra)
                + (" (if one is the target, name it with --target)" if table.target_name is None else "")
            )
        raise DataError(f"{data} " + "; ".join(parts))
    if len(set(got)) != len(got):
        raise DataError(f"{data}: column names repeat; cannot match them to the model's columns")
    return np.ascontiguousarray(table.X[:, [got.index(c) for c in trained]])


def _accuracy(pred, y):
    if pred.dtype.kind in "biuf" and y.dtype.kind in "biuf":
        return float(np.mean(pred == y))
    return float(np.mean(np.array([str(v) for v in pred]) == np.array([str(v) for v in y])))
