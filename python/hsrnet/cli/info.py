"""``hsrnet info``: what a model file holds (every check of loading runs first)."""

from __future__ import annotations

from .common import EXIT_OK, _human_bytes, _load_model, _say


def info(args) -> int:
    import json

    model = _load_model(args.model, whole_file=True)  # one read; every check (size, checksum, tensors) happens here
    est, tensors, version, size = model

    def text(name):
        return bytes(tensors[name]).decode("utf-8", errors="replace") if name in tensors else "?"

    net = est.network_
    params = json.loads(text("hsrnet/params"))
    kind = type(est).__name__
    rows = [
        (
            "file",
            (f"{args.model} ({_human_bytes(size)}, format version {version}, {len(tensors)} tensors, checksum OK)"),
        ),
        ("kind", f"{kind} (written by hsrnet {text('hsrnet/version')})"),
        ("features", f"{est.n_features_in_:,} (input map {est.input_map_.kind!r}: network inputs {net.d:,})"),
        ("neurons", f"{net.m:,}"),
        (
            "threshold",
            f"b = {net.threshold:.6g}" + (" (auto: sqrt(0.4 ln m))" if params.get("threshold") == "auto" else ""),
        ),
    ]
    if kind == "HSRClassifier":
        classes = ", ".join(str(c) for c in est.classes_[:20]) + (", ..." if len(est.classes_) > 20 else "")
        rows.append(("outputs", f"{len(est.classes_)} classes: {classes}"))
    else:
        rows.append(("outputs", f"{est.n_outputs_} regression output{'s' if est.n_outputs_ != 1 else ''}"))
    n_iter = est.n_iter_
    if n_iter:
        total = sum(est.timings_.get("total", []))
        line = (
            f"{n_iter} epoch{'s' if n_iter != 1 else ''}, {est.t_:,} samples seen, final loss "
            f"{est.loss_curve_[-1]:.6g}, firing fraction {100 * est.firing_fraction_[-1]:.2f} %, "
            f"training time {total:.2f} s"
        )
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
