"""``hsrnet train``: a data file in, a model file out."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from .common import (
    _OVERFIT_GAP,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    _check_writable,
    _human_bytes,
    _load_data,
    _say,
    _warning_line,
)
from .progress import _fit_with_progress


def train(args) -> int:
    from ..data_files import prepare_target

    _check_writable(args.output, "model file")
    table = _load_data(args, args.target)
    y = prepare_target(table.y, args.task, str(args.data))
    if args.task == "classify":
        n_classes = len(np.unique(y))
        if n_classes > 0.5 * len(y):
            _say(
                f"hsrnet: warning: the target has {n_classes:,} classes for {len(y):,} samples; a target with "
                "mostly distinct values looks continuous: --task regress?",
                file=sys.stderr,
            )

    import hsrnet

    params = {"random_state": args.seed, "verbose": bool(args.verbose)}
    for opt, name in (
        ("neurons", "n_neurons"),
        ("epochs", "max_iter"),
        ("batch_size", "batch_size"),
        ("lr", "learning_rate_init"),
        ("strategy", "strategy"),
        ("threads", "n_jobs"),
        ("threshold", "threshold"),
        ("input_map", "input_map"),
        ("solver", "solver"),
    ):
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
    _say(
        f"model: {Est.__name__} with {est.n_neurons:,} neurons, up to {est.max_iter} epochs, batch size "
        f"{est.batch_size}, learning rate {est._initial_learning_rate():g}, strategy {est.strategy}"
    )

    from ..demo import progress_enabled

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
    _say(
        f"trained {est.n_iter_} epoch{'s' if est.n_iter_ != 1 else ''} in {seconds:.2f} s "
        f"({seconds / max(est.n_iter_, 1):.3f} s per epoch); firing fraction {100 * est.firing_fraction_[-1]:.2f} %"
    )
    _say(f"final training loss: {est.loss_curve_[-1]:.6g} ({loss_name})")
    metric = "accuracy" if args.task == "classify" else "R^2"
    _say(f"score on the training data: {metric} {score:.4f}")
    if X_val is not None:
        held = _score(est, X_val, y_val)
        _say(
            f"score on the held-out data ({len(y_val):,} samples, --validation-fraction "
            f"{args.validation_fraction:g}): {metric} {held:.4f}"
        )
        if score - held > _OVERFIT_GAP:
            _say(
                f"hsrnet: warning: the training {metric} ({score:.4f}) exceeds the held-out {metric} ({held:.4f}) by "
                f"{score - held:.2f}: the model over-fits; fewer --epochs or --neurons, or more data, may help",
                file=sys.stderr,
            )
    try:
        est.save(args.output)
    except OSError as e:
        raise CLIError(f"cannot write model file {args.output}: {e.strerror or e}", EXIT_FAILURE) from None
    _say(f"model written to {args.output} ({_human_bytes(os.path.getsize(args.output))})")
    return EXIT_OK


def _hold_out(X, y, fraction, task, seed):
    from sklearn.model_selection import train_test_split

    if round(fraction * len(y)) < 1 or round((1 - fraction) * len(y)) < 2:
        raise CLIError(
            f"--validation-fraction {fraction:g} of {len(y)} samples leaves no held-out or training data", EXIT_USAGE
        )
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=y if task == "classify" else None)
    except ValueError:  # a class too small to stratify
        return train_test_split(X, y, test_size=fraction, random_state=seed)


def _score(est, X, y):
    """est.score without scikit-learn's warning about feature names (the command matched them itself)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*feature names.*")
        return est.score(X, y)
