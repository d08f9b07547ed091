"""Chooses the defaults of HSRClassifier / HSRRegressor by measurement (results: docs/defaults.md).

Three data sets from /work/shared/data (or HSRNET_DATA): MNIST (60000/10000, accuracy), California housing
(random 80/20 split, seed 0, R^2) and Letter (16000/4000, accuracy).

Stages (each writes JSON lines to --out; --stage picks one or all):
  solvers the choice behind today's defaults: solver x learning rate x batch size x input map (and a few
          widths and thresholds) on each full data set, the score and cumulative fit time after every epoch,
          so time to a target score can be read off (summary printed at the end). Plain SGD at the former
          defaults is the first row.
  grid    plain SGD's grid (the former defaults' origin): learning_rate_init x batch_size x train_output_layer at
          n_neurons=4096, then n_neurons around the best of those; MNIST on a subsample (--mnist-grid-n).
          The test score is recorded after every epoch (warm_start, max_iter=1), so one run gives the curve
          over max_iter for free.
  curve   the chosen setting on the full data, score and time after every epoch: picks max_iter.
  target  does standardising the regression targets help? California, same network, raw vs standardised y
          (the low-level ShiftedReLUNet + SgdTrainer, since the estimator always standardises).
  final   the estimators with every parameter at its default, fitted once on each full data set:
          what a user who changes nothing gets (score, fit time, epochs, firing fraction).

Timing caveat: on a shared 2-core machine other benchmarks compete (`pgrep -af bench_`); scores do not depend
on it, times do. Every fit here uses the default n_jobs=None (1 thread) unless --n-jobs is given.

    HSRNET_DATA=/work/shared/data python benchmarks/tune_defaults.py --stage all --out tune.jsonl
    python benchmarks/tune_defaults.py --stage final --datasets letter california --seeds 1 2 3

About 30 minutes in all on 2 busy cores (grid 12, curves 7, final 6).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import warnings

import hsrnet
import numpy as np
from hsrnet.datasets import load_california_housing, load_letter, load_mnist

DATASETS = ("mnist", "letter", "california")


def load(name, mnist_n=None, seed=0):
    """(Estimator class, X_train, y_train, X_test, y_test)."""
    if name == "mnist":
        Xtr, ytr, Xte, yte = load_mnist()
        if mnist_n:
            idx = np.random.default_rng(seed).permutation(len(Xtr))[:mnist_n]
            Xtr, ytr = Xtr[idx], ytr[idx]
            Xte, yte = Xte[:5000], yte[:5000]
        return hsrnet.HSRClassifier, Xtr, ytr, Xte, yte
    if name == "letter":
        Xtr, ytr, Xte, yte = load_letter()
        return hsrnet.HSRClassifier, Xtr, ytr, Xte, yte
    from sklearn.model_selection import train_test_split

    X, y = load_california_housing()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
    return hsrnet.HSRRegressor, Xtr, ytr, Xte, yte


def curve(Est, Xtr, ytr, Xte, yte, epochs, n_jobs=None, **params):
    """Test score and cumulative fit time after each epoch (warm_start, max_iter=1). None scores: diverged."""
    est = Est(max_iter=1, warm_start=True, random_state=0, n_jobs=n_jobs, **params)
    scores, times, fire = [], [], []
    fit_s = 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xtr, ytr)
        except ValueError as e:  # diverged
            return {"scores": scores + [None], "fit_s": times, "firing": fire, "error": str(e)[:200]}
        fit_s += time.perf_counter() - t
        scores.append(round(float(est.score(Xte, yte)), 5))
        times.append(round(fit_s, 2))
        fire.append(round(est.firing_fraction_[-1], 5))
    return {"scores": scores, "fit_s": times, "firing": fire}


def emit(out, record):
    line = json.dumps(record)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def best_score(r):
    s = [v for v in r["scores"] if v is not None]
    return max(s) if s and r["scores"][-1] is not None else -np.inf


# (data sets, parameters) of the solvers stage; every other parameter at its default.
SOLVER_RUNS = (
    [
        (DATASETS, {"solver": "sgd", "learning_rate_init": lr, "batch_size": 32, "input_map": "standardize"})
        for lr in (100.0,)
    ]
    + [
        (DATASETS, {"solver": "adagrad", "learning_rate_init": lr, "batch_size": b, "input_map": im})
        for im in ("pca", "standardize")
        for b in (64, 128, 256)
        for lr in (0.3, 0.5, 1.0)
    ]
    + [
        (DATASETS, {"solver": s, "learning_rate_init": lr, "batch_size": 128, "input_map": "pca"})
        for s, lr in (("rowwise_adagrad", 0.5), ("adam", 0.003), ("adam", 0.01), ("adam", 0.03))
    ]
    + [(("mnist",), {"input_map": "pca", "n_components": k}) for k in (32, 48, 96, 128)]
    + [(DATASETS, {"n_neurons": m}) for m in (2048, 8192)]
    + [(DATASETS, {"threshold": b}) for b in (1.4, 2.2, 2.6, 3.0)]
    + [(DATASETS, {"train_output_layer": False})]
)
SOLVER_EPOCHS = {"mnist": 3, "letter": 12, "california": 12}
TARGETS = {"mnist": (0.975, 0.98), "letter": (0.95, 0.96), "california": (0.77, 0.78)}


def stage_solvers(args):
    for names, params in SOLVER_RUNS:
        for name in args.datasets:
            if name not in names:
                continue
            Est, Xtr, ytr, Xte, yte = load(name)
            r = curve(Est, Xtr, ytr, Xte, yte, SOLVER_EPOCHS[name], n_jobs=args.n_jobs, **params)
            emit(
                args.out,
                {"stage": "solvers", "data": name, "params": params, **r, "load_avg": round(os.getloadavg()[0], 2)},
            )


def summarize_solvers(path):
    """Per data set: each run's time to the targets and best score, fastest first."""
    rows = [json.loads(line) for line in open(path) if '"stage": "solvers"' in line]
    for name in DATASETS:
        runs = [r for r in rows if r["data"] == name]
        if not runs:
            continue
        t1, t2 = TARGETS[name]

        def reach(r, target):
            hit = [t for t, s in zip(r["fit_s"], r["scores"]) if s is not None and s >= target]
            return hit[0] if hit else float("inf")

        print(f"\n{name}: time to {t1} / {t2} (s), best score, params")
        for r in sorted(runs, key=lambda r: (reach(r, t1), -best_score(r))):
            print(f"  {reach(r, t1):7.1f} {reach(r, t2):7.1f}  {best_score(r):.4f}  {json.dumps(r['params'])}")


SGD_GRID = {"solver": "sgd", "input_map": "standardize"}  # the grid is plain SGD's, at its own rates


def stage_grid(args):
    epochs = {"mnist": args.grid_epochs_mnist, "letter": args.grid_epochs, "california": args.grid_epochs}
    results = {}
    for name in args.datasets:
        Est, Xtr, ytr, Xte, yte = load(name, mnist_n=args.mnist_grid_n)
        rows = []
        for lr, B, tol in itertools.product(args.lrs, args.batches, (False, True)):
            r = curve(
                Est,
                Xtr,
                ytr,
                Xte,
                yte,
                epochs[name],
                n_neurons=4096,
                learning_rate_init=lr,
                batch_size=B,
                train_output_layer=tol,
                **SGD_GRID,
            )
            rec = {
                "stage": "grid",
                "data": name,
                "n_train": len(Xtr),
                "n_neurons": 4096,
                "learning_rate_init": lr,
                "batch_size": B,
                "train_output_layer": tol,
                **r,
            }
            emit(args.out, rec)
            rows.append(rec)
        # widths at the best setting (by peak score) and at the estimator's default setting
        best = max(rows, key=best_score)
        settings = {(best["learning_rate_init"], best["batch_size"], best["train_output_layer"])}
        for (lr, B, tol), m in itertools.product(sorted(settings), args.widths):
            if m == 4096:
                continue
            r = curve(
                Est,
                Xtr,
                ytr,
                Xte,
                yte,
                epochs[name],
                n_neurons=m,
                learning_rate_init=lr,
                batch_size=B,
                train_output_layer=tol,
                **SGD_GRID,
            )
            rec = {
                "stage": "grid",
                "data": name,
                "n_train": len(Xtr),
                "n_neurons": m,
                "learning_rate_init": lr,
                "batch_size": B,
                "train_output_layer": tol,
                **r,
            }
            emit(args.out, rec)
            rows.append(rec)
        results[name] = rows
    return results


def summarize_grid(path):
    """Per setting (n_neurons, lr, B, output layer): the last epoch's test score on each data set, and the worst
    over data sets of the peak score relative to that data set's best peak (the ranking)."""
    rows = [json.loads(line) for line in open(path) if '"stage": "grid"' in line]
    best = {}
    for r in rows:
        best[r["data"]] = max(best.get(r["data"], -np.inf), best_score(r))
    table = {}
    for r in rows:
        key = (r["n_neurons"], r["learning_rate_init"], r["batch_size"], r["train_output_layer"])
        rel = best_score(r) / best[r["data"]] if best[r["data"]] > 0 else 0
        table.setdefault(key, {})[r["data"]] = (rel, r["scores"][-1] if r["scores"] else None)

    def worst(rel):
        return min(rel.get(d, (0, None))[0] for d in DATASETS)

    print("last-epoch test score per data set; 'worst': min over data sets of peak / best peak")
    print(f"{'n_neurons':>9} {'lr':>6} {'B':>4} {'out':>5}  " + "  ".join(f"{d:>10}" for d in DATASETS) + "   worst")
    for key, rel in sorted(table.items(), key=lambda kv: -worst(kv[1])):
        cells = []
        for d in DATASETS:
            last = rel.get(d, (0, None))[1]
            cells.append(f"{'diverged' if d in rel and last is None else ('-' if last is None else f'{last:.4f}'):>10}")
        print(f"{key[0]:>9} {key[1]:>6g} {key[2]:>4} {str(key[3]):>5}  " + "  ".join(cells) + f"   {worst(rel):.3f}")


def stage_curve(args):
    for name in args.datasets:
        Est, Xtr, ytr, Xte, yte = load(name)
        for overrides in args.curve_params:
            r = curve(Est, Xtr, ytr, Xte, yte, args.curve_epochs[DATASETS.index(name)], n_jobs=args.n_jobs, **overrides)
            emit(
                args.out,
                {"stage": "curve", "data": name, "n_train": len(Xtr), "params": {"defaults": True, **overrides}, **r},
            )


def stage_target(args):
    """California: raw targets vs standardised targets, same network and trainer settings as the defaults."""
    from hsrnet.input_map import InputMap

    Est, Xtr, ytr, Xte, yte = load("california")
    p = Est().get_params()
    imap = InputMap().fit(Xtr)
    Ztr, Zte = imap.transform(Xtr), imap.transform(Xte)
    mu, sd = ytr.mean(), ytr.std()
    for label, scale_y, unit in (
        ("raw (100k$)", False, 1.0),
        ("standardised", True, 1.0),
        ("raw (dollars)", False, 1e5),
        ("standardised (dollars)", True, 1e5),
    ):
        y = ytr * unit
        target = (y - mu * unit) / (sd * unit) if scale_y else y
        net = hsrnet.ShiftedReLUNet(Ztr.shape[1], p["n_neurons"], 1, seed=1, n_threads=1)
        tr = hsrnet.SgdTrainer(
            batch_size=p["batch_size"],
            learning_rate=p["learning_rate_init"],
            train_output_layer=p["train_output_layer"],
            loss="squared_error",
            seed=2,
            n_threads=1,
        )
        scores = []
        try:
            for _ in range(args.target_epochs):
                tr.fit_epoch(net, Ztr, target.astype(np.float32))
                pred = net.predict(Zte)[:, 0].astype(np.float64)
                pred = pred * sd * unit + mu * unit if scale_y else pred
                yt = yte * unit
                scores.append(round(1 - np.sum((yt - pred) ** 2) / np.sum((yt - yt.mean()) ** 2), 4))
            err = None
        except ValueError as e:
            err = str(e)[:120]
        emit(args.out, {"stage": "target", "data": "california", "targets": label, "r2": scores, "error": err})


def stage_final(args):
    for name, seed in itertools.product(args.datasets, args.seeds):
        Est, Xtr, ytr, Xte, yte = load(name)
        est = Est(random_state=seed, n_jobs=args.n_jobs)
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        score = est.score(Xte, yte)
        pred_s = time.perf_counter() - t
        emit(
            args.out,
            {
                "stage": "final",
                "data": name,
                "random_state": seed,
                "n_train": len(Xtr),
                "n_test": len(Xte),
                "score": round(float(score), 4),
                "fit_s": round(fit_s, 1),
                "predict_s": round(pred_s, 2),
                "n_iter": est.n_iter_,
                "firing_first": round(est.firing_fraction_[0], 4),
                "firing_last": round(est.firing_fraction_[-1], 4),
                "train_loss_last": round(est.loss_curve_[-1], 4),
                "phase_s": {k: round(sum(v), 1) for k, v in est.timings_.items()},
                "convergence_warning": any("Maximum iterations" in str(x.message) for x in w),
                "params": {k: v for k, v in est.get_params().items() if k not in ("random_state",)},
                "n_jobs": args.n_jobs,
                "load_avg": os.getloadavg()[0],
            },
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=("solvers", "grid", "summary", "curve", "target", "final", "all"), default="all")
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--out", default="tune_defaults.jsonl", help="JSON lines are appended here")
    p.add_argument("--mnist-grid-n", type=int, default=5000, help="MNIST training subsample for the grid")
    p.add_argument("--grid-epochs", type=int, default=8)
    p.add_argument("--grid-epochs-mnist", type=int, default=5)
    p.add_argument("--lrs", type=float, nargs="+", default=[30.0, 100.0, 300.0])
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--widths", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--curve-epochs", type=int, nargs=3, default=[12, 30, 30], help="mnist letter california")
    p.add_argument(
        "--curve-params",
        type=json.loads,
        nargs="+",
        default=[{}, {"n_neurons": 1024}],
        help="parameter overrides of the curve stage, one JSON object per curve ({} = defaults)",
    )
    p.add_argument("--target-epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="random_state values of the final fits")
    p.add_argument("--n-jobs", type=int, default=None, help="threads of the curve and final fits (default 1)")
    args = p.parse_args(argv)
    if args.stage in ("solvers", "all"):
        stage_solvers(args)
    if args.stage in ("solvers", "summary", "all") and args.out and os.path.exists(args.out):
        summarize_solvers(args.out)
    if args.stage in ("grid", "all"):
        stage_grid(args)
    if args.stage in ("grid", "summary", "all") and args.out and os.path.exists(args.out):
        summarize_grid(args.out)
    if args.stage in ("curve", "all"):
        stage_curve(args)
    if args.stage in ("target", "all"):
        stage_target(args)
    if args.stage in ("final", "all"):
        stage_final(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
