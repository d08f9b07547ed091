#!/usr/bin/env python3
"""Training benchmark: hsrnet's exact sparse SGD strategies against its own dense strategy, on one thread.

Requirements: hsrnet (this repository, installed: ``pip install .``), numpy, matplotlib (for the plot).

The baseline is hsrnet's strategy "dense": the same trainer, the same arithmetic, but every step computes all
m pre-activations with the library's best kernel (blocked Eigen GEMM for batches, a SIMD matrix-vector scan
for single samples). Every strategy yields the same firing sets, hence the same weights bit for bit; each
section checks that (max |W_sparse - W_dense|, and A where it is trained).

Sections (each can be skipped):
  1. paper   the paper's regime: x uniform on the unit sphere, d = 3, m = 2^20, B = 1, squared loss, target
             y = <u, x>^2 - 1/d (an even polynomial, u a fixed unit vector); per-step time of dense, tree,
             auto and cache over a fixed training set (2 epochs); construction time reported apart.
  2. mnist   MNIST on the unit sphere (per-pixel standardisation with the training mean/std, std 0 -> 1, a
             constant coordinate sqrt(784) appended, rows normalised; d = 785), m = 2^16, B = 256, softmax
             cross-entropy, K = 10, output layer trained; epoch times of dense, cache, gemm and auto, the phase
             breakdown, and test accuracy. A small learning-rate sweep on a subset shows how the speed-up
             depends on how far training moves the weights.
  3. scaling per-step time for m = 2^12 .. 2^20 at d = 3 (dense vs tree) and d = 32 (dense vs auto), B = 1;
             exponent alpha of time = c m^alpha by least squares on log-log.
  4. memory  peak resident memory (VmHWM) of one training run per configuration, each in a fresh child
             process (this script re-invoked with --child), minus the child's RSS after importing numpy and
             hsrnet, against parameters + training data; and the cache's own bytes against its budget.

Threads: OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1 are set before numpy is imported, and every network and
trainer is created with n_threads = 1. Times are the trainer's own clocks (EpochStats.total_s and phases).

    python benchmarks/bench_train.py                 # full run (about 17-22 minutes on a 2-core machine)
    python benchmarks/bench_train.py --quick         # smoke test (well under a minute)

Writes docs/train_benchmark.md (--out-md) and docs/train_scaling.png (--out-png).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_DYNAMIC"):
    os.environ[_var] = "1" if _var != "OMP_DYNAMIC" else "false"

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    cpu_hogs,
    load_average,
    machine_description,
    md_table,
    proc_status_kb,
    repo_revision,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
THREADS = 1
MB = 1e6

# Targets (from the project's brief for this benchmark).
PAPER_TARGET = 4.0  # dense / sparse per-step time, paper regime
MNIST_TARGET = 3.0  # dense / sparse epoch time, MNIST
MEMORY_TARGET = 1.3  # net peak RSS / (parameters + training data), tree and gemm


# ----------------------------------------------------------------------------------------------- options


def _pow2(text):
    text = text.strip()
    if "^" in text:
        base, exp = text.split("^")
        return int(base) ** int(exp)
    if text.startswith("2**"):
        return 2 ** int(text[3:])
    return int(text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (smoke test, < 1 minute)")
    p.add_argument("--skip-paper", action="store_true", help="skip section 1 (paper regime)")
    p.add_argument("--skip-mnist", action="store_true", help="skip section 2 (MNIST)")
    p.add_argument("--skip-scaling", action="store_true", help="skip section 3 (scaling in m)")
    p.add_argument("--skip-memory", action="store_true", help="skip section 4 (peak memory)")
    p.add_argument("--out-md", default=os.path.join(REPO, "docs", "train_benchmark.md"))
    p.add_argument("--out-png", default=os.path.join(REPO, "docs", "train_scaling.png"))
    p.add_argument(
        "--data-root", default=None, help="folder holding mnist/ (default: HSRNET_DATA or /work/shared/data)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cache-budget-mb",
        type=float,
        default=None,
        help="cache_budget_bytes of every trainer, in MB (default 4096; quick 512)",
    )
    # paper regime
    p.add_argument("--paper-m", type=_pow2, default=None, help="width (default 2^20; quick 2^14)")
    p.add_argument("--paper-d", type=int, default=3)
    p.add_argument(
        "--paper-samples", type=int, default=None, help="training-set size = steps per epoch (default 2000; quick 300)"
    )
    p.add_argument(
        "--paper-epochs", type=int, default=None, help="epochs over the paper-regime set (default 3; quick 2)"
    )
    p.add_argument("--paper-lr", type=float, default=None, help="learning rate (default 1.0)")
    # mnist
    p.add_argument("--mnist-samples", type=int, default=None, help="training samples (default 60000; quick 1000)")
    p.add_argument("--mnist-m", type=_pow2, default=None, help="width (default 2^16; quick 2^12)")
    p.add_argument("--mnist-epochs", type=int, default=None, help="epochs (default 3; quick 2)")
    p.add_argument("--mnist-lr", type=float, default=None, help="learning rate (default 5.0)")
    p.add_argument("--mnist-batch", type=int, default=256)
    p.add_argument(
        "--mnist-strategies",
        default=",".join(MNIST_STRATEGIES),
        help="comma list, dense first (default dense,cache,gemm,auto); e.g. dense,cache with "
        "--mnist-epochs 8 for the cache's long-run behaviour",
    )
    p.add_argument(
        "--mnist-sweep-lr",
        default=None,
        help="comma list of learning rates for the sweep on a subset (default 0.5,5,20; '' to skip)",
    )
    p.add_argument("--mnist-sweep-samples", type=int, default=None, help="subset size of the sweep (default 10000)")
    # scaling
    p.add_argument("--scaling-m", default=None, help="comma list of widths (default 2^12,...,2^20)")
    p.add_argument("--scaling-d", default="3,32", help="comma list of input dimensions (default 3,32)")
    p.add_argument(
        "--scaling-samples",
        type=int,
        default=None,
        help="steps per timed epoch (default 400; quick 60); one warm-up epoch over the same set first",
    )
    p.add_argument(
        "--scaling-repeats",
        type=int,
        default=3,
        help="timed epochs after the warm-up; the median per-step time is reported (default 3)",
    )
    p.add_argument("--scaling-fit-min-m", type=_pow2, default=2**14, help="smallest m of the headline fit")
    # memory
    p.add_argument(
        "--memory-mnist-samples",
        type=int,
        default=None,
        help="MNIST samples of the memory children (default 20000; quick 1000)",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    q = args.quick

    def dflt(name, full, quick):
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)

    dflt("cache_budget_mb", 4096.0, 512.0)
    dflt("paper_m", 2**20, 2**14)
    dflt("paper_samples", 2000, 300)
    dflt("paper_epochs", 3, 2)
    dflt("paper_lr", 1.0, 1.0)
    dflt("mnist_samples", 60000, 1000)
    dflt("mnist_m", 2**16, 2**12)
    dflt("mnist_epochs", 3, 2)
    dflt("mnist_lr", 5.0, 5.0)
    dflt("mnist_sweep_lr", "0.5,5,20", "5")
    dflt("mnist_sweep_samples", 10000, 500)
    dflt("scaling_m", ",".join(f"2^{k}" for k in range(12, 21)), "2^10,2^11,2^12,2^13")
    dflt("scaling_samples", 400, 60)
    dflt("memory_mnist_samples", 20000, 1000)
    args.scaling_m = [_pow2(t) for t in args.scaling_m.split(",") if t.strip()]
    args.scaling_d = [int(t) for t in args.scaling_d.split(",") if t.strip()]
    args.mnist_sweep_lr = [float(t) for t in args.mnist_sweep_lr.split(",") if t.strip()]
    if q:
        args.scaling_fit_min_m = min(args.scaling_fit_min_m, 2**11)
    args.cache_budget = int(args.cache_budget_mb * MB)
    return args


# ----------------------------------------------------------------------------------------------- helpers


def log(msg=""):
    print(msg, flush=True)


def sphere(n, d, rng):
    """n points uniform on the unit sphere in R^d, float32 C-contiguous."""
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X, dtype=np.float32)


def even_target(X, u):
    """y = <u, x>^2 - 1/d: an even polynomial of mean zero on the sphere."""
    d = X.shape[1]
    return np.ascontiguousarray((X.astype(np.float64) @ u) ** 2 - 1.0 / d, dtype=np.float32)


def paper_data(n, d, seed):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    X = sphere(n, d, rng)
    return X, even_target(X, u)


def mnist_on_sphere(X_train, X_other):
    """Standardise per pixel with the training mean/std (std 0 -> 1), append sqrt(784), normalise rows."""
    mu = X_train.mean(axis=0, dtype=np.float64)
    sd = X_train.std(axis=0, dtype=np.float64)
    sd[sd == 0] = 1.0
    const = math.sqrt(X_train.shape[1])

    def one(X):
        Z = (X.astype(np.float64) - mu) / sd
        Z = np.hstack([Z, np.full((Z.shape[0], 1), const)])
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        return np.ascontiguousarray(Z, dtype=np.float32)

    return one(X_train), [one(X) for X in X_other]


def load_mnist_sphere(root, n_train, with_test=True):
    from hsrnet.datasets import load_mnist

    Xtr, ytr, Xte, yte = load_mnist(root)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    Xs, others = mnist_on_sphere(Xtr, [Xte] if with_test else [])
    out = (Xs, np.ascontiguousarray(ytr, dtype=np.int32))
    if with_test:
        out += (others[0], np.asarray(yte))
    return out


def data_root(args):
    if args.data_root:
        return args.data_root
    if os.environ.get("HSRNET_DATA"):
        return os.environ["HSRNET_DATA"]
    for cand in (os.path.join(os.path.dirname(REPO), "shared", "data"), "/work/shared/data"):
        if os.path.isdir(cand):
            return cand
    return None


def max_abs_diff(a, b):
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def same_text(diff, identical):
    return f"{diff:.3g} ({'bit-identical' if identical else 'DIFFERENT'})"


def verdict(value, target, at_least=True):
    ok = value >= target if at_least else value <= target
    return "met" if ok else "not met"


def ratio_cell(r, target):
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.2f}x ({verdict(r, target)})"


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def other_bench_processes():
    """Other processes whose command line names a bench_ script (they disturb the timings)."""
    mine = {os.getpid(), os.getppid()}
    try:
        out = subprocess.run(["pgrep", "-af", "bench_"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    procs = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if not pid.isdigit() or int(pid) in mine or "--child" in cmd or "pgrep" in cmd:
            continue
        if "bench_train.py" in cmd and str(os.getpid()) in cmd:
            continue
        procs.append(line.strip())
    return procs


def make_net(hs, d, m, K, seed, index_backend="auto"):
    t0 = time.perf_counter()
    net = hs.ShiftedReLUNet(d, m, K, seed=seed, index_backend=index_backend, n_threads=THREADS)
    return net, time.perf_counter() - t0


def make_trainer(hs, args, strategy, lr, batch, loss="squared_error", train_output_layer=False):
    return hs.SgdTrainer(
        batch_size=batch,
        learning_rate=lr,
        strategy=strategy,
        loss=loss,
        train_output_layer=train_output_layer,
        seed=args.seed + 2,
        cache_budget_bytes=args.cache_budget,
        n_threads=THREADS,
    )


def resolved(st):
    """The strategy an epoch ran with (auto resolved; an index query names its backend)."""
    s = st["strategy"]
    if s == "auto":
        s = f"index/{st['index_backend']}"
    if st.get("cache_fallback"):
        s += " (cache over budget)"
    return s


def import_hsrnet():
    import hsrnet

    return hsrnet


# ----------------------------------------------------------------------------------------------- 1. paper

PAPER_STRATEGIES = ("dense", "tree", "auto", "cache")


def strategy_variants(d, sparse):
    """(label, strategy, index_backend): the dense strategy on the default network (whose index keeps a tree
    up to d = TREE_MAX_DIM, maintained during dense training too) and, where that tree exists, on a network with
    a scan index (no tree upkeep): the faster of the two is the baseline of the ratios."""
    out = [("dense", "dense", "auto")]
    if d <= import_hsrnet()._core.TREE_MAX_DIM:  # the library's limit (tree_limits.hpp)
        out.append(("dense, scan index", "dense", "scan"))
    out += [(s, s, "auto") for s in sparse]
    return out


def best_dense(results, key):
    dense = [r for r in results if r["strategy"] == "dense"]
    return min(dense, key=key)


def run_paper(args, hs):
    """All variants are built first, then trained in lockstep (epoch e of every variant before epoch e + 1 of
    any), so that a disturbance from other processes falls on all of them alike rather than on one."""
    d, m, n, E, lr = args.paper_d, args.paper_m, args.paper_samples, args.paper_epochs, args.paper_lr
    log(f"\n== 1. paper regime: d = {d}, m = {m:,}, B = 1, {n} samples x {E} epochs, lr {lr} (lockstep)")
    X, y = paper_data(n, d, args.seed)
    runs = []
    for label, strat, backend in strategy_variants(d, PAPER_STRATEGIES[1:]):
        net, build_s = make_net(hs, d, m, 1, args.seed + 1, index_backend=backend)
        runs.append(
            dict(
                label=label,
                strategy=strat,
                build_s=build_s,
                net=net,
                memory_bytes=net.memory_bytes,
                trainer=make_trainer(hs, args, strat, lr, 1),
                epochs=[],
            )
        )
    for e in range(E):
        for r in runs:
            r["epochs"].append(r["trainer"].fit_epoch(r["net"], X, y))
        log(
            f"  epoch {e + 1}: "
            + ", ".join(f"{r['label']} {1e3 * r['epochs'][-1]['total_s'] / n:.3f}" for r in runs)
            + " ms/step"
        )
    ref = None
    for r in runs:
        W = r.pop("net").hidden_weights()
        del r["trainer"]
        if ref is None:
            ref = W
        r["diff"], r["identical"] = max_abs_diff(W, ref), bool(np.array_equal(W, ref))
        r["steps"] = sum(e["steps"] for e in r["epochs"])
        for ph in ("identify_s", "forward_s", "backward_s", "update_s", "index_s", "total_s"):
            r[ph] = sum(e[ph] for e in r["epochs"])
        per = [1e3 * e["total_s"] / e["steps"] for e in r["epochs"]]
        log(
            f"  {r['label']:17s} -> {resolved(r['epochs'][-1]):10s} build {r['build_s']:.2f} s, ms/step per epoch "
            + ", ".join(f"{p:.3f}" for p in per)
            + f", all {1e3 * r['total_s'] / r['steps']:.3f}; loss "
            + " -> ".join(f"{e['mean_loss']:.4f}" for e in r["epochs"])
            + f"; firing {r['epochs'][-1]['firing_fraction']:.4f}; max|dW| vs dense {same_text(r['diff'], r['identical'])}"
        )
        del W
    return dict(d=d, m=m, n=n, epochs=E, lr=lr, results=runs)


def paper_markdown(P, args):
    res = P["results"]
    E = P["epochs"]
    dense_all = best_dense(res, lambda r: r["total_s"] / r["steps"])
    dense_all = dense_all["total_s"] / dense_all["steps"]
    dense_last = best_dense(res, lambda r: r["epochs"][-1]["total_s"] / r["epochs"][-1]["steps"])
    dense_last = dense_last["epochs"][-1]["total_s"] / dense_last["epochs"][-1]["steps"]
    head = (
        ["strategy", "ran as", "construction (s)"]
        + [f"epoch {e + 1} (ms/step)" for e in range(E)]
        + [
            "all steps (ms/step)",
            f"best dense / this, all steps (target >= {PAPER_TARGET:g}x)",
            f"best dense / this, epoch {E}",
            "max abs dW vs dense",
        ]
    )
    rows = []
    for r in res:
        per = [1e3 * e["total_s"] / e["steps"] for e in r["epochs"]]
        all_ms = 1e3 * r["total_s"] / r["steps"]
        last = r["epochs"][-1]["total_s"] / r["epochs"][-1]["steps"]
        is_dense = r["strategy"] == "dense"
        rows.append(
            [f"`{r['label']}`", resolved(r["epochs"][-1]), f"{r['build_s']:.2f}"]
            + [f"{p:.3f}" for p in per]
            + [
                f"{all_ms:.3f}",
                "(baseline)" if is_dense else ratio_cell(dense_all / (r["total_s"] / r["steps"]), PAPER_TARGET),
                "(baseline)" if is_dense else ratio_cell(dense_last / last, PAPER_TARGET),
                same_text(r["diff"], r["identical"]),
            ]
        )
    t1 = md_table(head, rows)
    head2 = [
        "strategy",
        "identify",
        "forward",
        "backward",
        "update",
        "index",
        "total",
        "loss per epoch",
        "firing fraction",
        "candidates / m",
        "cache builds",
        "cache MB",
        "tree builds",
    ]
    rows2 = []
    for r in res:
        s = r["steps"]
        rows2.append(
            [f"`{r['label']}`"]
            + [
                f"{1e3 * r[k] / s:.3f}"
                for k in ("identify_s", "forward_s", "backward_s", "update_s", "index_s", "total_s")
            ]
            + [
                " -> ".join(f"{e['mean_loss']:.4f}" for e in r["epochs"]),
                f"{r['epochs'][-1]['firing_fraction']:.4f}",
                f"{r['epochs'][-1]['candidate_fraction']:.4f}",
                str(sum(e["cache_builds"] for e in r["epochs"])),
                f"{max(e['cache_bytes'] for e in r['epochs']) / MB:.0f}",
                str(sum(e["tree_builds"] for e in r["epochs"])),
            ]
        )
    t2 = md_table(head2, rows2)
    return t1, t2


# ----------------------------------------------------------------------------------------------- 2. mnist

MNIST_STRATEGIES = ("dense", "cache", "gemm", "auto")


def softmax_ce(logits, labels):
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def evaluate(net, X, y):
    t0 = time.perf_counter()
    out = net.predict(X)
    pred = out.argmax(axis=1)
    return dict(acc=float(np.mean(pred == y)), ce=softmax_ce(out, y), pred=pred, s=time.perf_counter() - t0)


def run_mnist(args, hs):
    root = data_root(args)
    m, E, lr, B = args.mnist_m, args.mnist_epochs, args.mnist_lr, args.mnist_batch
    t0 = time.perf_counter()
    X, y, Xte, yte = load_mnist_sphere(root, args.mnist_samples)
    load_s = time.perf_counter() - t0
    n, d = X.shape
    log(
        f"\n== 2. MNIST: n = {n}, d = {d}, m = {m:,}, B = {B}, {E} epochs, lr {lr} (lockstep; data ready in "
        f"{load_s:.1f} s)"
    )
    runs = []
    init_eval = None
    strategies = [s.strip() for s in args.mnist_strategies.split(",") if s.strip()]
    if not strategies or strategies[0] != "dense" or any(s not in MNIST_STRATEGIES for s in strategies):
        raise SystemExit(f"--mnist-strategies: a comma list of {', '.join(MNIST_STRATEGIES)} starting with dense")
    for strat in strategies:
        net, build_s = make_net(hs, d, m, 10, args.seed + 1)
        if init_eval is None:
            init_eval = evaluate(net, Xte, yte)
            log(f"  at initialisation: test accuracy {init_eval['acc']:.4f}, test cross-entropy {init_eval['ce']:.4f}")
        runs.append(
            dict(
                strategy=strat,
                build_s=build_s,
                net=net,
                epochs=[],
                trainer=make_trainer(hs, args, strat, lr, B, loss="softmax_cross_entropy", train_output_layer=True),
            )
        )
    for e in range(E):
        for r in runs:
            st = r["trainer"].fit_epoch(r["net"], X, y)
            r["epochs"].append(st)
            log(
                f"  {r['strategy']:6s} epoch {e + 1}: {st['total_s']:7.2f} s ({resolved(st)}), loss {st['mean_loss']:.4f}, "
                f"firing {st['firing_fraction']:.4f}, candidates {st['candidate_fraction']:.4f}, "
                f"identify {st['identify_s']:.2f} forward {st['forward_s']:.2f} backward {st['backward_s']:.2f} "
                f"update {st['update_s']:.2f} index {st['index_s']:.2f}"
            )
    refW = refA = refpred = None
    results = []
    for r in runs:
        net = r.pop("net")
        del r["trainer"]  # frees the cache
        ev = evaluate(net, Xte, yte)
        W, A = net.hidden_weights(), net.output_weights()
        del net
        if refW is None:
            refW, refA, refpred = W, A, ev["pred"]
        r.update(
            eval=ev,
            dW=max_abs_diff(W, refW),
            dA=max_abs_diff(A, refA),
            identical=bool(np.array_equal(W, refW) and np.array_equal(A, refA)),
            same_pred=bool(np.array_equal(ev["pred"], refpred)),
        )
        del ev["pred"]
        results.append(r)
        log(
            f"  {r['strategy']:6s} test accuracy {r['eval']['acc']:.4f}, test CE {r['eval']['ce']:.4f}; max|dW| "
            f"{same_text(r['dW'], r['identical'])}, max|dA| {r['dA']:.3g}; same predictions as dense: {r['same_pred']}"
        )
        del W, A
    sweep = run_mnist_sweep(args, hs, root) if args.mnist_sweep_lr else None
    return dict(
        n=n,
        d=d,
        m=m,
        epochs=E,
        lr=lr,
        B=B,
        load_s=load_s,
        init=init_eval,
        results=results,
        n_test=len(yte),
        sweep=sweep,
    )


def run_mnist_sweep(args, hs, root):
    """How the speed-up depends on the learning rate: auto vs dense, 2 epochs on a subset."""
    n = min(args.mnist_sweep_samples, args.mnist_samples)
    X, y = load_mnist_sphere(root, n, with_test=False)
    d, m, B = X.shape[1], args.mnist_m, args.mnist_batch
    log(f"\n== 2b. MNIST learning-rate sweep: n = {n}, m = {m:,}, B = {B}, 2 epochs, lr {args.mnist_sweep_lr}")
    rows = []
    for lr in args.mnist_sweep_lr:
        pair = []
        for strat in ("dense", "auto"):
            net, _ = make_net(hs, d, m, 10, args.seed + 1)
            pair.append(
                (
                    strat,
                    net,
                    make_trainer(hs, args, strat, lr, B, loss="softmax_cross_entropy", train_output_layer=True),
                    [],
                )
            )
        for _ in range(2):  # lockstep
            for _strat, net, tr, eps in pair:
                eps.append(tr.fit_epoch(net, X, y))
        for strat, net, _tr, eps in pair:
            W = net.hidden_weights()
            if strat == "dense":
                refW = W
            rows.append(
                dict(
                    lr=lr, strategy=strat, epochs=eps, identical=bool(np.array_equal(W, refW)), dW=max_abs_diff(W, refW)
                )
            )
            log(
                f"  lr {lr:g} {strat:5s}: "
                + ", ".join(
                    f"epoch {i + 1} {e['total_s']:.2f} s ({resolved(e)}, loss {e['mean_loss']:.4f}, firing "
                    f"{e['firing_fraction']:.4f}, candidates {e['candidate_fraction']:.4f})"
                    for i, e in enumerate(eps)
                )
                + f"; max|dW| vs dense {same_text(rows[-1]['dW'], rows[-1]['identical'])}"
            )
            del W
        del pair, net, tr
    return dict(n=n, rows=rows)


def mnist_markdown(M):
    res = M["results"]
    dense = res[0]
    E = M["epochs"]
    head = [
        "strategy",
        "epoch",
        "ran as",
        "time (s)",
        f"dense / this (target >= {MNIST_TARGET:g}x)",
        "identify",
        "forward",
        "backward",
        "update",
        "index",
        "train loss",
        "firing fraction",
        "candidates / m",
        "cache builds",
        "cache MB",
    ]
    rows = []
    for r in res:
        for e, st in enumerate(r["epochs"]):
            ratio = dense["epochs"][e]["total_s"] / st["total_s"]
            rows.append(
                [
                    f"`{r['strategy']}`",
                    str(e + 1),
                    resolved(st),
                    f"{st['total_s']:.2f}",
                    "(baseline)" if r is dense else ratio_cell(ratio, MNIST_TARGET),
                ]
                + [f"{st[k]:.2f}" for k in ("identify_s", "forward_s", "backward_s", "update_s", "index_s")]
                + [
                    f"{st['mean_loss']:.4f}",
                    f"{st['firing_fraction']:.4f}",
                    f"{st['candidate_fraction']:.4f}",
                    str(st["cache_builds"]),
                    f"{st['cache_bytes'] / MB:.0f}",
                ]
            )
    t1 = md_table(head, rows)
    head2 = [
        "strategy",
        "construction (s)",
        f"all {E} epochs (s)",
        f"dense / this, all epochs (target >= {MNIST_TARGET:g}x)",
        f"dense / this, epochs 2-{E}" if E > 2 else "dense / this, epoch 2",
        "test accuracy",
        "test cross-entropy",
        "max abs dW vs dense",
        "max abs dA vs dense",
        "same test predictions",
    ]
    rows2 = []
    dtot = sum(e["total_s"] for e in dense["epochs"])
    dlater = sum(e["total_s"] for e in dense["epochs"][1:])
    for r in res:
        tot = sum(e["total_s"] for e in r["epochs"])
        later = sum(e["total_s"] for e in r["epochs"][1:])
        base = r is dense
        rows2.append(
            [
                f"`{r['strategy']}`",
                f"{r['build_s']:.2f}",
                f"{tot:.2f}",
                "(baseline)" if base else ratio_cell(dtot / tot, MNIST_TARGET),
                "(baseline)" if base else (ratio_cell(dlater / later, MNIST_TARGET) if E > 1 else "-"),
                f"{r['eval']['acc']:.4f}",
                f"{r['eval']['ce']:.4f}",
                same_text(r["dW"], r["identical"]),
                f"{r['dA']:.3g}",
                "yes" if r["same_pred"] else "NO",
            ]
        )
    t2 = md_table(head2, rows2)
    t3 = None
    if M.get("sweep"):
        S = M["sweep"]
        head3 = [
            "lr",
            "strategy",
            "epoch 1 (s)",
            "epoch 2 (s)",
            "dense / auto epoch 1",
            "dense / auto epoch 2",
            "ran as (epoch 2)",
            "loss epoch 1 -> 2",
            "firing fraction (epoch 2)",
            "candidates / m (epoch 2)",
            "max abs dW vs dense",
        ]
        rows3 = []
        dense_by_lr = {r["lr"]: r for r in S["rows"] if r["strategy"] == "dense"}
        for r in S["rows"]:
            dn = dense_by_lr[r["lr"]]
            e1, e2 = r["epochs"]
            rat = (
                ["(baseline)", "(baseline)"]
                if r["strategy"] == "dense"
                else [
                    ratio_cell(dn["epochs"][i]["total_s"] / r["epochs"][i]["total_s"], MNIST_TARGET) for i in range(2)
                ]
            )
            rows3.append(
                [f"{r['lr']:g}", f"`{r['strategy']}`", f"{e1['total_s']:.2f}", f"{e2['total_s']:.2f}"]
                + rat
                + [
                    resolved(e2),
                    f"{e1['mean_loss']:.4f} -> {e2['mean_loss']:.4f}",
                    f"{e2['firing_fraction']:.4f}",
                    f"{e2['candidate_fraction']:.4f}",
                    same_text(r["dW"], r["identical"]),
                ]
            )
        t3 = md_table(head3, rows3)
    return t1, t2, t3


# ----------------------------------------------------------------------------------------------- 3. scaling


def _series_key(label):
    return {"dense": "dense", "dense, scan index": "dense_scan"}.get(label, "sparse")


def run_scaling(args, hs):
    n = args.scaling_samples
    log(
        f"\n== 3. scaling: m {args.scaling_m[0]:,} .. {args.scaling_m[-1]:,}, d {args.scaling_d}, B = 1, "
        f"{n} steps per epoch (1 warm-up epoch, median of {args.scaling_repeats} timed epochs), lr {args.paper_lr}"
    )
    rows = []
    names = {}
    for d in args.scaling_d:
        sparse = "tree" if d <= 8 else "auto"
        X, y = paper_data(n, d, args.seed + 10 + d)
        variants = strategy_variants(d, [sparse])
        names[d] = {_series_key(label): label for label, _, _ in variants}
        for m in args.scaling_m:
            row = dict(d=d, m=m, sparse_name=sparse)
            ref = None
            runs = []
            for label, strat, backend in variants:
                net, build_s = make_net(hs, d, m, 1, args.seed + 1, index_backend=backend)
                tr = make_trainer(hs, args, strat, args.paper_lr, 1)
                runs.append((label, net, build_s, tr, tr.fit_epoch(net, X, y), []))
            for _ in range(args.scaling_repeats):  # timed epochs interleaved across the variants
                for run in runs:
                    run[5].append(run[3].fit_epoch(run[1], X, y))
            for label, net, build_s, _tr, e1, timed in runs:
                e2 = timed[-1]
                W = net.hidden_weights()
                if ref is None:
                    ref = W
                key = _series_key(label)
                per = sorted(1e3 * e["total_s"] / e["steps"] for e in timed)
                row[key] = dict(
                    ms=float(np.median(per)),
                    ms_min=per[0],
                    ms_max=per[-1],
                    ms_warm=1e3 * e1["total_s"] / e1["steps"],
                    build_s=build_s,
                    ran=resolved(e2),
                    firing=e2["firing_fraction"],
                    cand=e2["candidate_fraction"],
                    diff=max_abs_diff(W, ref),
                    identical=bool(np.array_equal(W, ref)),
                )
                del W
            del runs, net, tr
            row["best_dense"] = min(row[k]["ms"] for k in ("dense", "dense_scan") if k in row)
            row["identical"] = all(row[k]["identical"] for k in ("dense_scan", "sparse") if k in row)
            row["diff"] = max(row[k]["diff"] for k in ("dense_scan", "sparse") if k in row)
            rows.append(row)
            log(
                f"  d = {d:3d}, m = {m:>9,}: dense {row['dense']['ms']:.4f}"
                + (f", dense/scan-index {row['dense_scan']['ms']:.4f}" if "dense_scan" in row else "")
                + f", {sparse} {row['sparse']['ms']:.4f} ms/step ({row['sparse']['ran']}; warm-up epoch "
                f"{row['sparse']['ms_warm']:.4f}), best dense / sparse {row['best_dense'] / row['sparse']['ms']:.2f}x, "
                f"firing {row['sparse']['firing']:.4f}, max|dW| {same_text(row['diff'], row['identical'])}"
            )
    fits = {}
    for d in args.scaling_d:
        sub = [r for r in rows if r["d"] == d]
        for key in ("dense", "dense_scan", "sparse"):
            for label, lo in (("all", 0), ("big", args.scaling_fit_min_m)):
                pts = [(r["m"], r[key]["ms"]) for r in sub if r["m"] >= lo and key in r]
                if len(pts) >= 2:
                    alpha, logc = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)
                    fits[(d, key, label)] = (float(alpha), float(math.exp(logc)), len(pts))
    return dict(
        n=n,
        rows=rows,
        fits=fits,
        fit_min_m=args.scaling_fit_min_m,
        ds=args.scaling_d,
        names=names,
        repeats=args.scaling_repeats,
    )


def scaling_markdown(S):
    tables = []
    for d in S["ds"]:
        sub = [r for r in S["rows"] if r["d"] == d]
        if not sub:
            continue
        sp = sub[0]["sparse_name"]
        has_scan = "dense_scan" in sub[0]
        head = (
            ["m", "dense (ms/step)"]
            + (["dense, scan index (ms/step)"] if has_scan else [])
            + [
                f"{sp} (ms/step)",
                f"{sp} ran as",
                "best dense / sparse",
                f"{sp} warm-up epoch (ms/step)",
                "min-max over timed epochs (dense; sparse)",
                "firing fraction",
                "candidates / m",
                "max abs dW vs dense",
            ]
        )
        rows = []
        for r in sub:
            rows.append(
                [f"2^{int(round(math.log2(r['m'])))} = {r['m']:,}", f"{r['dense']['ms']:.4f}"]
                + ([f"{r['dense_scan']['ms']:.4f}"] if has_scan else [])
                + [
                    f"{r['sparse']['ms']:.4f}",
                    r["sparse"]["ran"],
                    f"{r['best_dense'] / r['sparse']['ms']:.2f}x",
                    f"{r['sparse']['ms_warm']:.4f}",
                    f"{r['dense']['ms_min']:.4f}-{r['dense']['ms_max']:.4f}; "
                    f"{r['sparse']['ms_min']:.4f}-{r['sparse']['ms_max']:.4f}",
                    f"{r['sparse']['firing']:.4f}",
                    f"{r['sparse']['cand']:.4f}",
                    same_text(r["diff"], r["identical"]),
                ]
            )
        tables.append((d, md_table(head, rows)))
    head = ["d", "series", f"alpha, m >= {S['fit_min_m']:,} (headline)", "alpha, all m", "points (headline / all)"]
    rows = []
    for d in S["ds"]:
        for key in ("dense", "dense_scan", "sparse"):
            big, allf = S["fits"].get((d, key, "big")), S["fits"].get((d, key, "all"))
            if allf is None:
                continue
            rows.append(
                [
                    str(d),
                    f"`{S['names'][d][key]}`",
                    f"{big[0]:.3f}" if big else "-",
                    f"{allf[0]:.3f}",
                    f"{big[2] if big else 0} / {allf[2]}",
                ]
            )
    return tables, md_table(head, rows)


def scaling_plot(S, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("  matplotlib not available: no plot")
        return False
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    styles = {"dense": "-o", "dense_scan": ":^", "sparse": "--s"}
    for i, d in enumerate(S["ds"]):
        sub = [r for r in S["rows"] if r["d"] == d]
        if not sub:
            continue
        for key in ("dense", "dense_scan", "sparse"):
            if key not in sub[0]:
                continue
            ms = np.array([r["m"] for r in sub], dtype=float)
            t = np.array([r[key]["ms"] for r in sub])
            fit = S["fits"].get((d, key, "big")) or S["fits"].get((d, key, "all"))
            lab = f"d={d}: {S['names'][d][key]}" + (f" (alpha={fit[0]:.2f})" if fit else "")
            ax.plot(ms, t, styles[key], color=colors[i % len(colors)], label=lab, markersize=5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("time per SGD step (ms), B = 1, 1 thread")
    ax.set_title(
        f"hsrnet: exact sparse SGD vs its dense strategy (alpha fitted over m >= {S['fit_min_m']:,})", fontsize=10
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------------------------- 4. memory


def child_main(cfg):
    """One training run in a fresh process; prints one line 'CHILD_RESULT <json>'."""
    rss_numpy = proc_status_kb("VmRSS")
    hs = import_hsrnet()
    rss_base = proc_status_kb("VmRSS")
    hwm_base = proc_status_kb("VmHWM")
    out = dict(config=cfg["name"], rss_numpy_kb=rss_numpy, rss_base_kb=rss_base, hwm_base_kb=hwm_base)
    if cfg["kind"] != "baseline":
        X = np.load(cfg["X"])
        y = np.load(cfg["y"])
        d, m, K = X.shape[1], cfg["m"], cfg["K"]
        net = hs.ShiftedReLUNet(d, m, K, seed=cfg["seed"], n_threads=THREADS)
        tr = hs.SgdTrainer(
            batch_size=cfg["B"],
            learning_rate=cfg["lr"],
            strategy=cfg["strategy"],
            loss=cfg["loss"],
            train_output_layer=cfg["train_output_layer"],
            seed=cfg["seed"] + 1,
            cache_budget_bytes=cfg["cache_budget"],
            n_threads=THREADS,
        )
        rss_after_net = proc_status_kb("VmRSS")
        hwm_construction = proc_status_kb("VmHWM")
        # Reset the high-water mark to the current RSS (Linux >= 4.0), so that VmHWM at the end is the peak
        # of training alone (the construction peak is kept in hwm_construction).
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            hwm_reset = proc_status_kb("VmHWM") <= rss_after_net + 1024
        except OSError:
            hwm_reset = False
        eps = [tr.fit_epoch(net, X, y) for _ in range(cfg["epochs"])]
        out["hwm_kb"] = proc_status_kb("VmHWM")  # before the copies of W and A made below for the hash
        out["rss_after_train_kb"] = proc_status_kb("VmRSS")
        W, A = net.hidden_weights(), net.output_weights()
        h = hashlib.sha256(W.tobytes())
        h.update(A.tobytes())
        out.update(
            params_bytes=int(m * d * 4 + m * K * 4),
            data_bytes=int(X.nbytes + y.nbytes),
            net_memory_bytes=int(net.memory_bytes),
            rss_after_net_kb=rss_after_net,
            hwm_construction_kb=hwm_construction,
            hwm_reset=hwm_reset,
            ran=resolved(eps[-1]),
            cache_bytes=int(max(e["cache_bytes"] for e in eps)),
            cache_budget=int(cfg["cache_budget"]),
            cache_fallback=any(e["cache_fallback"] for e in eps),
            train_s=sum(e["total_s"] for e in eps),
            weights_sha256=h.hexdigest()[:16],
        )
        del W, A
    if "hwm_kb" not in out:
        out["hwm_kb"] = proc_status_kb("VmHWM")
    # Whole-process peak since exec: VmHWM of this address space (the construction peak read before the
    # reset, and the training peak after it). ru_maxrss is not used: across fork+exec Linux carries the
    # parent's RSS at fork time into it, so a child of a large parent reports the parent's size.
    out["maxrss_kb"] = max(out["hwm_kb"], out.get("hwm_construction_kb") or 0)
    out["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("CHILD_RESULT " + json.dumps(out), flush=True)


def train_peak_kb(r):
    """Peak RSS of the training phase (VmHWM after a reset), or of the whole process if no reset was possible."""
    return r["hwm_kb"] if r.get("hwm_reset") else r["maxrss_kb"]


def run_child(cfg):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("CHILD_RESULT "):
            return json.loads(line[len("CHILD_RESULT ") :])
    raise RuntimeError(f"child {cfg['name']} failed (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")


def run_memory(args, tmpdir):
    log("\n== 4. memory: one fresh child process per configuration")
    configs = [dict(name="baseline (imports only)", kind="baseline")]
    # paper regime
    Xp, yp = paper_data(args.paper_samples, args.paper_d, args.seed)
    np.save(os.path.join(tmpdir, "paper_X.npy"), Xp)
    np.save(os.path.join(tmpdir, "paper_y.npy"), yp.reshape(-1, 1))
    for strat in ("tree", "cache", "dense"):
        configs.append(
            dict(
                name=f"paper d={args.paper_d} m={args.paper_m} B=1 `{strat}`",
                kind="train",
                group="paper",
                strategy=strat,
                X=os.path.join(tmpdir, "paper_X.npy"),
                y=os.path.join(tmpdir, "paper_y.npy"),
                m=args.paper_m,
                K=1,
                B=1,
                lr=args.paper_lr,
                loss="squared_error",
                train_output_layer=False,
                epochs=1,
                seed=args.seed + 1,
                cache_budget=args.cache_budget,
            )
        )
    if not args.skip_mnist_memory:
        X, y = load_mnist_sphere(data_root(args), args.memory_mnist_samples, with_test=False)
        np.save(os.path.join(tmpdir, "mnist_X.npy"), X)
        np.save(os.path.join(tmpdir, "mnist_y.npy"), y)
        for strat in ("gemm", "cache", "dense"):
            configs.append(
                dict(
                    name=f"MNIST n={len(y)} m={args.mnist_m} B={args.mnist_batch} `{strat}`",
                    kind="train",
                    group="mnist",
                    strategy=strat,
                    X=os.path.join(tmpdir, "mnist_X.npy"),
                    y=os.path.join(tmpdir, "mnist_y.npy"),
                    m=args.mnist_m,
                    K=10,
                    B=args.mnist_batch,
                    lr=args.mnist_lr,
                    loss="softmax_cross_entropy",
                    train_output_layer=True,
                    epochs=1,
                    seed=args.seed + 1,
                    cache_budget=args.cache_budget,
                )
            )
        del X, y
    out = []
    for cfg in configs:
        r = run_child(cfg)
        r["group"] = cfg.get("group")
        r["strategy"] = cfg.get("strategy")
        out.append(r)
        if cfg["kind"] == "baseline":
            log(
                f"  {cfg['name']}: RSS after numpy {r['rss_numpy_kb'] / 1024:.1f} MiB, after hsrnet "
                f"{r['rss_base_kb'] / 1024:.1f} MiB, peak {r['hwm_kb'] / 1024:.1f} MiB"
            )
        else:
            tp, ap = train_peak_kb(r), r["maxrss_kb"]
            need = r["params_bytes"] + r["data_bytes"]
            log(
                f"  {cfg['name']}: baseline {r['rss_base_kb'] / 1024:.1f} MiB; after construction RSS "
                f"{r['rss_after_net_kb'] / 1024:.1f} MiB (peak {r['hwm_construction_kb'] / 1024:.1f}); training peak "
                f"{tp / 1024:.1f} MiB raw, net {(tp - r['rss_base_kb']) * 1024 / MB:.1f} MB = "
                f"{(tp - r['rss_base_kb']) * 1024 / need:.2f}x params+data ({need / MB:.1f} MB); whole-process peak "
                f"net {(ap - r['rss_base_kb']) * 1024 / MB:.1f} MB = {(ap - r['rss_base_kb']) * 1024 / need:.2f}x; "
                f"cache {r['cache_bytes'] / MB:.1f} MB; ran as {r['ran']}; weights {r['weights_sha256']}"
            )
    return dict(rows=out, budget=args.cache_budget)


def memory_markdown(Mem):
    head = [
        "configuration",
        "ran as",
        "params (MB)",
        "training data (MB)",
        "params + data (MB)",
        "net.memory_bytes (MB)",
        "baseline RSS (MB)",
        "RSS after construction (MB)",
        "training peak RSS raw (MB)",
        "training peak net (MB)",
        f"training peak net / (params + data) (target <= {MEMORY_TARGET:g}x for tree/gemm)",
        "whole-process peak raw (MB)",
        "whole-process peak net / (params + data)",
        "cache bytes (MB)",
        "weights (sha256 prefix)",
    ]
    rows = []
    base_row = None
    for r in Mem["rows"]:
        if r["config"].startswith("baseline"):
            base_row = r
            continue
        tp = train_peak_kb(r)
        net = (tp - r["rss_base_kb"]) * 1024
        whole = (r["maxrss_kb"] - r["rss_base_kb"]) * 1024
        need = r["params_bytes"] + r["data_bytes"]
        ratio = net / need
        cell = f"{ratio:.2f}x"
        if r["strategy"] in ("tree", "gemm"):
            cell += f" ({verdict(ratio, MEMORY_TARGET, at_least=False)})"
        rows.append(
            [
                r["config"],
                r["ran"],
                f"{r['params_bytes'] / MB:.1f}",
                f"{r['data_bytes'] / MB:.1f}",
                f"{need / MB:.1f}",
                f"{r['net_memory_bytes'] / MB:.1f}",
                f"{r['rss_base_kb'] * 1024 / MB:.1f}",
                f"{r['rss_after_net_kb'] * 1024 / MB:.1f}",
                f"{tp * 1024 / MB:.1f}",
                f"{net / MB:.1f}",
                cell,
                f"{r['maxrss_kb'] * 1024 / MB:.1f}",
                f"{whole / need:.2f}x",
                f"{r['cache_bytes'] / MB:.1f}",
                f"`{r['weights_sha256']}`",
            ]
        )
    t1 = md_table(head, rows)
    # cache vs budget, and cache child minus the index child of the same group
    head2 = [
        "group",
        "cache bytes (MB)",
        "budget (MB)",
        "cache / budget",
        "over budget (fell back)",
        "training peak net, cache child - index child (MB)",
    ]
    rows2 = []
    for g in ("paper", "mnist"):
        c = [r for r in Mem["rows"] if r.get("group") == g and r["strategy"] == "cache"]
        i = [r for r in Mem["rows"] if r.get("group") == g and r["strategy"] in ("tree", "gemm")]
        if not c:
            continue
        c = c[0]
        extra = "-"
        if i:
            i = i[0]
            extra = f"{((train_peak_kb(c) - c['rss_base_kb']) - (train_peak_kb(i) - i['rss_base_kb'])) * 1024 / MB:.1f}"
        rows2.append(
            [
                g,
                f"{c['cache_bytes'] / MB:.1f}",
                f"{Mem['budget'] / MB:.0f}",
                f"{c['cache_bytes'] / Mem['budget']:.3f}",
                "yes" if c["cache_fallback"] else "no",
                extra,
            ]
        )
    t2 = md_table(head2, rows2)
    same = {}
    for r in Mem["rows"]:
        if r.get("group"):
            same.setdefault(r["group"], set()).add(r["weights_sha256"])
    resets = all(r.get("hwm_reset", True) for r in Mem["rows"])
    return t1, t2, base_row, same, resets


# ----------------------------------------------------------------------------------------------- report


def write_markdown(args, info, P, M, S, Mem, png_ok, elapsed):
    L = []
    L.append("# hsrnet training benchmark: exact sparse SGD vs the dense strategy")
    L.append("")
    L.append(
        "Generated by `benchmarks/bench_train.py`"
        + (" in **--quick** mode (small sizes: a smoke test, not a measurement)" if args.quick else "")
        + "."
    )
    L.append("")
    L.append(f"- Command: `{info['command']}`")
    L.append(f"- Machine: {info['machine']}")
    L.append(f"- Date: {info['date']}; total runtime {elapsed / 60:.1f} min")
    L.append(
        f"- hsrnet {info['version']} (repository at {info['revision']}), numpy {np.__version__}, "
        f"Python {sys.version.split()[0]}"
    )
    L.append(
        "- Threads: 1 (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1 set before numpy is imported; every network "
        "and trainer has n_threads = 1)"
    )
    L.append(f"- Cache budget (cache_budget_bytes) of every trainer: {args.cache_budget / MB:,.0f} MB")
    busy = info["busy_start"] + [p for p in info["busy_end"] if p not in info["busy_start"]]
    if busy:
        L.append(
            "- **Other benchmark processes were running** during this run (times may be inflated by sharing "
            "the cores): " + "; ".join(f"`{p}`" for p in busy)
        )
    else:
        L.append("- No other `bench_` process was running at the start or the end of this run.")
    if info.get("load"):
        L.append(
            "- System load sampled (1 s) before each section: "
            + "; ".join(
                f"{sec}: loadavg {la}, other processes above 20 % of a core: "
                + ("; ".join(f"`{h}`" for h in hogs) if hogs else "none")
                for sec, la, hogs in info["load"]
            )
        )
    L.append("")
    L.append(
        "The baseline is hsrnet's own strategy `dense`: the same trainer and arithmetic, with all m "
        "pre-activations of each step computed by the library's fastest kernel (SIMD matrix-vector scan "
        "for B = 1, blocked GEMM for B = 256). All strategies produce the same firing sets, so the "
        "weights must be bit-identical; every table shows max |W - W_dense|. Times are the trainer's own "
        "clocks (`fit_epoch` statistics: `total_s` and the phases identify / forward / backward / update / "
        "index); network construction (index build) is excluded from them and reported apart."
    )
    L.append("")
    summary = []
    if P:
        res = P["results"]
        bd = best_dense(res, lambda r: r["total_s"] / r["steps"])
        d_all = bd["total_s"] / bd["steps"]
        dd = res[0]["total_s"] / res[0]["steps"]
        summary.append(
            f"paper regime (d = {P['d']}, m = {P['m']:,}, B = 1): per-step time of the best dense "
            f"variant (`{bd['label']}`) {1e3 * d_all:.3f} ms"
            + (f" (default `dense` {1e3 * dd:.3f} ms)" if bd is not res[0] else "")
        )
        for r in res:
            if r["strategy"] == "dense":
                continue
            rr = d_all / (r["total_s"] / r["steps"])
            summary.append(
                f"paper regime, best dense / `{r['label']}` per step ({1e3 * r['total_s'] / r['steps']:.3f} ms): "
                f"**{rr:.2f}x**, target >= {PAPER_TARGET:g}x: **{verdict(rr, PAPER_TARGET)}**"
                + (f" (vs default `dense`: {dd / (r['total_s'] / r['steps']):.2f}x)" if bd is not res[0] else "")
            )
    if M:
        res = M["results"]
        dense = res[0]
        for r in res[1:]:
            cells = []
            for e, st in enumerate(r["epochs"]):
                rr = dense["epochs"][e]["total_s"] / st["total_s"]
                cells.append(f"epoch {e + 1} {rr:.2f}x ({verdict(rr, MNIST_TARGET)})")
            summary.append(
                f"MNIST (n = {M['n']:,}, m = {M['m']:,}, B = {M['B']}, lr {M['lr']:g}), dense / "
                f"`{r['strategy']}`: " + ", ".join(cells) + f"; target >= {MNIST_TARGET:g}x"
            )
        accs = sorted({f"{r['eval']['acc']:.4f}" for r in res})
        summary.append(
            f"MNIST test accuracy after {M['epochs']} epochs: "
            + ", ".join(f"`{r['strategy']}` {r['eval']['acc']:.4f}" for r in res)
            + (" (identical)" if len(accs) == 1 else " (**differ**)")
        )
    if S:
        for d in S["ds"]:
            for key in ("dense", "dense_scan", "sparse"):
                f = S["fits"].get((d, key, "big"))
                fa = S["fits"].get((d, key, "all"))
                if fa:
                    name = S["names"][d][key]
                    summary.append(
                        f"scaling d = {d}, `{name}`: time ~ m^alpha with alpha = "
                        + (f"{f[0]:.2f} (m >= {S['fit_min_m']:,})" if f else "-")
                        + f", {fa[0]:.2f} (all m)"
                    )
    if Mem:
        for r in Mem["rows"]:
            if r.get("strategy") in ("tree", "gemm"):
                need = r["params_bytes"] + r["data_bytes"]
                rr = (train_peak_kb(r) - r["rss_base_kb"]) * 1024 / need
                rw = (r["maxrss_kb"] - r["rss_base_kb"]) * 1024 / need
                summary.append(
                    f"memory {r['config']}: net training-peak RSS / (params + data) = {rr:.2f}x, target "
                    f"<= {MEMORY_TARGET:g}x: **{verdict(rr, MEMORY_TARGET, at_least=False)}** (whole "
                    f"process, construction included: {rw:.2f}x, "
                    f"{verdict(rw, MEMORY_TARGET, at_least=False)})"
                )
            if r.get("strategy") == "cache":
                summary.append(
                    f"memory {r['config']}: cache_bytes {r['cache_bytes'] / MB:.1f} MB of a "
                    f"{Mem['budget'] / MB:,.0f} MB budget"
                    + (" (over budget: fell back)" if r["cache_fallback"] else "")
                )
    ident = []
    if P:
        ident += [r["identical"] for r in P["results"]]
    if M:
        ident += [r["identical"] for r in M["results"]]
        if M.get("sweep"):
            ident += [r["identical"] for r in M["sweep"]["rows"]]
    if S:
        ident += [r["identical"] for r in S["rows"]]
    if ident:
        summary.append(
            f"bit-identical weights, sparse vs dense: {sum(ident)} of {len(ident)} checks"
            + ("" if all(ident) else " (**some differ**)")
        )
    L.append("## Summary")
    L.append("")
    L += [f"- {s}" for s in summary]
    L.append("")
    notes = notes_markdown(P, M, S, Mem)
    if notes:
        L.append("### What the numbers say (derived from this run)")
        L.append("")
        L += [f"- {s}" for s in notes]
        L.append("")

    if P:
        t1, t2 = paper_markdown(P, args)
        L.append("## 1. The paper's regime")
        L.append("")
        L.append(
            f"x uniform on the unit sphere in R^{P['d']}, m = {P['m']:,} (threshold b = sqrt(0.4 ln m) = "
            f"{math.sqrt(0.4 * math.log(P['m'])):.3f}), B = 1, squared loss, target y = <u, x>^2 - 1/d for a "
            f"fixed unit u, constant learning rate {P['lr']:g}, hidden layer trained, output layer fixed (the "
            f"paper's setting). A fixed training set of {P['n']:,} samples, {P['epochs']} epochs "
            f"({P['n'] * P['epochs']:,} steps); every strategy starts from the same initialisation and the "
            "same shuffling seed. All variants are built first and trained in lockstep (epoch e of each "
            "before epoch e + 1 of any), so that disturbances from other processes spread over all of them. The cache strategy builds its cache in epoch 1 (counted in identify); the "
            f"last-epoch column is the steady state. Target: dense / sparse >= {PAPER_TARGET:g}x."
        )
        L.append("")
        L.append(t1)
        L.append("")
        L.append(
            "Per-step phase breakdown over all steps (ms/step), training loss (mean over each epoch, at the "
            "weights before each step), firing fraction |S| / m (last epoch):"
        )
        L.append("")
        L.append(t2)
        L.append("")
    if M:
        t1, t2, t3 = mnist_markdown(M)
        L.append("## 2. MNIST")
        L.append("")
        L.append(
            f"First {M['n']:,} training images (test: all {M['n_test']:,}), flattened, standardised per "
            "pixel with the training mean and std (std 0 -> 1), a constant coordinate sqrt(784) appended, "
            f"each row normalised to unit norm (float32, d = {M['d']}). m = {M['m']:,} "
            f"(b = {math.sqrt(0.4 * math.log(M['m'])):.3f}), K = 10, softmax cross-entropy, B = {M['B']}, "
            f"constant learning rate {M['lr']:g}, output layer trained (train_output_layer=True), "
            f"{M['epochs']} epochs, the strategies trained in lockstep (epoch e of each before epoch e + 1 of "
            f"any). Data preparation took {M['load_s']:.1f} s (not timed below)."
        )
        L.append("")
        L.append(
            f"At initialisation: test accuracy {M['init']['acc']:.4f}, test cross-entropy "
            f"{M['init']['ce']:.4f} (chance: 0.1, ln 10 = 2.3026)."
        )
        L.append("")
        L.append(f"Per epoch (seconds; target dense / sparse >= {MNIST_TARGET:g}x per epoch):")
        L.append("")
        L.append(t1)
        L.append("")
        L.append("Totals, test accuracy (argmax of `net.predict`) and exactness:")
        L.append("")
        L.append(t2)
        L.append("")
        if t3:
            L.append(
                f"### Learning-rate sweep (first {M['sweep']['n']:,} training images, 2 epochs, `auto` vs `dense`)"
            )
            L.append("")
            L.append(
                "With the paper's 1/sqrt(m) output scale and about 2 % of the neurons firing, the network "
                "output moves slowly: a learning rate of 0.05-0.5 barely moves the loss from ln 10 within "
                "a few epochs. Larger learning rates train, but move the weights further from "
                "initialisation, which raises the firing fraction and, for the cache, the number of "
                "candidates (neurons that drifted past the cache's margin are checked directly). The "
                "sweep shows what that does to the speed-up:"
            )
            L.append("")
            L.append(t3)
            L.append("")
    if S:
        tables, ft = scaling_markdown(S)
        L.append("## 3. Scaling in m")
        L.append("")
        L.append(
            f"B = 1, x uniform on the unit sphere, target <u, x>^2 - 1/d, learning rate {args.paper_lr:g}, a "
            f"fixed set of {S['n']} samples: one warm-up epoch (page faults, cache build for auto), then "
            f"{args.scaling_repeats} timed epochs over the same set; the median ms per step is reported "
            "(min-max beside it); the timed epochs of the variants are interleaved. Sparse strategy: `tree` at d <= 8, `auto` above (what it resolved "
            "to is shown; with a small fixed training set auto picks the candidate cache, built during the "
            "warm-up epoch, whose cost is shown in the warm-up column). Where the default network keeps a "
            "k-d tree in its index (d <= 16), `dense` pays its upkeep without using it, so the dense "
            'strategy also runs on a network built with index_backend="scan"; the ratio uses the faster '
            "dense variant."
        )
        L.append("")
        for d, t in tables:
            L.append(f"d = {d}:")
            L.append("")
            L.append(t)
            L.append("")
        L.append(
            f"Least-squares fit of log(time) = alpha log(m) + log(c); the headline uses m >= "
            f"{S['fit_min_m']:,} (below it fixed per-step costs weigh more and the weights fit in "
            "the CPU caches); the fit over all m is shown as well:"
        )
        L.append("")
        L.append(ft)
        L.append("")
        if png_ok:
            L.append(f"![per-step time vs m]({os.path.basename(args.out_png)})")
            L.append("")
    if Mem:
        t1, t2, base_row, same, resets = memory_markdown(Mem)
        L.append("## 4. Memory")
        L.append("")
        L.append(
            "Each configuration trains for one epoch in a fresh child process (this script with `--child`). "
            "The baseline is the child's own VmRSS after importing numpy and hsrnet, before anything is "
            "allocated; net = peak - baseline. Training data = X (float32) + targets, loaded from .npy files "
            "so that no preprocessing transient counts; parameters = m d + m K float32 (W unpadded, A). "
            "*Training peak*: VmHWM at the end of the epoch, after resetting the high-water mark (write 5 to "
            "/proc/self/clear_refs) once the network and trainer were built, i.e. the peak while training. "
            "*Whole-process peak*: the larger of VmHWM before the reset and after training, construction of the "
            "network included (ru_maxrss is not used: across fork+exec Linux carries the parent's RSS into "
            "the child's ru_maxrss). net.memory_bytes is what "
            "the network reports for its index (padded rows, tree) and A."
        )
        if not resets:
            L.append("")
            L.append(
                "**The high-water mark could not be reset in some child: its training peak is the whole-process peak.**"
            )
        L.append("")
        if base_row:
            L.append(
                f"Baseline child (imports only): VmRSS {base_row['rss_numpy_kb'] / 1024:.1f} MiB after numpy, "
                f"{base_row['rss_base_kb'] / 1024:.1f} MiB after hsrnet, peak {base_row['hwm_kb'] / 1024:.1f} MiB."
            )
            L.append("")
        L.append(t1)
        L.append("")
        L.append("The cache's own memory (EpochStats `cache_bytes`) against its budget:")
        L.append("")
        L.append(t2)
        L.append("")
        L.append(
            "Weights after the epoch, same hash across strategies within a group: "
            + ", ".join(f"{g}: {'yes' if len(h) == 1 else 'NO'}" for g, h in same.items())
            + "."
        )
        L.append("")
    os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
    with open(args.out_md, "w") as f:
        f.write("\n".join(L))
    return "\n".join(L)


def notes_markdown(P, M, S, Mem):
    """Derived numbers that explain the tables (all computed from this run)."""
    out = []
    if P:
        res = P["results"]
        bd = best_dense(res, lambda r: r["total_s"] / r["steps"])
        bd_ms = 1e3 * bd["total_s"] / bd["steps"]
        for r in res:
            if r["strategy"] != "tree":
                continue
            rest = 1e3 * (r["total_s"] - r["identify_s"]) / r["steps"]
            idx = 1e3 * r["index_s"] / r["steps"]
            tree_ms = 1e3 * r["total_s"] / r["steps"]
            upkeep = (
                f"{idx:.3f} ms/step of separate index upkeep"
                if idx >= 0.0005
                else "the index upkeep, which the single-sample step does inside the update, in the same pass "
                "over the rows"
            )
            line = (
                f"Paper regime: `tree` spends {1e3 * r['identify_s'] / r['steps']:.3f} ms/step identifying the "
                f"firing neurons and {rest:.3f} ms/step on the work per firing neuron (forward, backward, update, "
                f"and {upkeep}; ~{r['epochs'][-1]['firing_fraction'] * P['m']:,.0f} rows moved per step). Even "
                f"with free identification the ratio to the best dense step ({bd_ms:.3f} ms) could not exceed "
                f"{bd_ms / rest:.2f}x"
            )
            if bd_ms / tree_ms >= PAPER_TARGET:
                line += f"; it is {bd_ms / tree_ms:.2f}x, above the {PAPER_TARGET:g}x target."
            else:
                line += (
                    f": reaching {PAPER_TARGET:g}x needs a cheaper per-firing-neuron path (notably the index "
                    "upkeep), not a faster query."
                )
            out.append(line)
        tree = [r for r in res if r["strategy"] == "tree"]
        for r in res:
            if r["strategy"] == "cache" and tree:
                c_ms = 1e3 * r["epochs"][-1]["total_s"] / r["epochs"][-1]["steps"]
                t_ms = 1e3 * tree[0]["epochs"][-1]["total_s"] / tree[0]["epochs"][-1]["steps"]
                out.append(
                    f"Paper regime: the cache pays its build in epoch 1 "
                    f"({1e3 * r['epochs'][0]['total_s'] / r['epochs'][0]['steps']:.3f} ms/step); in the last "
                    f"epoch it takes {c_ms:.3f} ms/step against the tree's {t_ms:.3f} ms/step "
                    f"({'slower' if c_ms > t_ms else 'faster'})."
                )
    if M:
        res = {r["strategy"]: r for r in M["results"]}
        dn, ca = res.get("dense"), res.get("cache")
        if dn and ca and len(ca["epochs"]) > 1:
            build = ca["epochs"][0]["identify_s"] - ca["epochs"][1]["identify_s"]
            r1 = dn["epochs"][0]["total_s"] / ca["epochs"][0]["total_s"]
            out.append(
                f"MNIST: the cache build costs about {build:.1f} s (epoch-1 identify minus epoch-2 identify), "
                f"{build / dn['epochs'][0]['total_s']:.2f}x a whole dense epoch "
                f"({dn['epochs'][0]['total_s']:.1f} s); dense / cache is {r1:.2f}x in epoch 1. After it, the "
                "ratio follows the candidates per sample, which grow as training moves the weights: "
                + " -> ".join(f"{e['candidate_fraction']:.4f}" for e in ca["epochs"])
                + " of m (firing: "
                + " -> ".join(f"{e['firing_fraction']:.4f}" for e in ca["epochs"])
                + "), dense / cache "
                + " -> ".join(f"{dn['epochs'][i]['total_s'] / e['total_s']:.2f}x" for i, e in enumerate(ca["epochs"]))
                + "."
            )
        gm = res.get("gemm")
        if dn and gm:
            gi, di = sum(e["identify_s"] for e in gm["epochs"]), sum(e["identify_s"] for e in dn["epochs"])
            dt = sum(e["total_s"] for e in dn["epochs"])
            out.append(
                f"MNIST: `gemm` identifies by a full blocked GEMM like `dense` (identify {gi:.1f} s vs "
                f"{di:.1f} s over {M['epochs']} epochs, {100 * di / dt:.0f} % of the dense time); the rest of a "
                "dense step is already sparse work, so without a cheaper identification the ratio stays near 1."
            )
    if S:
        for d in S["ds"]:
            sub = [r for r in S["rows"] if r["d"] == d]
            for key in ("dense", "sparse"):
                jumps = [
                    (sub[i]["m"], sub[i + 1][key]["ms"] / sub[i][key]["ms"])
                    for i in range(len(sub) - 1)
                    if sub[i + 1]["m"] == 2 * sub[i]["m"]
                ]
                if jumps:
                    m0, j = max(jumps, key=lambda t: t[1])
                    if j > 2.5:
                        out.append(
                            f"Scaling, d = {d}, `{S['names'][d][key]}`: per-step time grows {j:.2f}x from "
                            f"m = {m0:,} to {2 * m0:,} (W of {m0 * d * 4 / MB:.0f} -> {2 * m0 * d * 4 / MB:.0f} MB "
                            "unpadded leaving the CPU caches); this is why its fitted alpha exceeds 1."
                        )
    if Mem:
        rows = [r for r in Mem["rows"] if r.get("group")]
        for g in ("paper", "mnist"):
            c = [r for r in rows if r["group"] == g and r["strategy"] == "cache"]
            i = [r for r in rows if r["group"] == g and r["strategy"] in ("tree", "gemm")]
            if c and i:
                c, i = c[0], i[0]
                extra = ((train_peak_kb(c) - c["rss_base_kb"]) - (train_peak_kb(i) - i["rss_base_kb"])) * 1024
                if c["cache_bytes"] > 0:
                    held = ((c.get("rss_after_train_kb") or 0) - (i.get("rss_after_train_kb") or 0)) * 1024
                    out.append(
                        f"Memory, {g}: the cache child peaks {extra / MB:,.0f} MB above the `{i['strategy']}` "
                        f"child while cache_bytes reports {c['cache_bytes'] / MB:,.0f} MB "
                        f"({extra / c['cache_bytes']:.1f}x); after the epoch its RSS is still {held / MB:,.0f} MB "
                        "higher (freed memory may stay with the allocator). The excess over cache_bytes is "
                        "working memory: the build's scratch for one chunk of samples (counted against the "
                        "budget as an estimate, not in cache_bytes) and the per-step candidate lists. "
                        + (
                            f"The whole extra peak is within the {c['cache_budget'] / MB:,.0f} MB budget."
                            if c.get("cache_budget") and extra <= c["cache_budget"]
                            else "The extra peak exceeds the budget: the budget does not bound the real peak."
                        )
                    )
        for r in rows:
            if r["strategy"] in ("tree", "gemm"):
                trans = (r["maxrss_kb"] - train_peak_kb(r)) * 1024
                if trans > 0.2 * r["params_bytes"]:
                    out.append(
                        f"Memory, {r['config']}: constructing the network peaks {trans / MB:,.0f} MB above the "
                        f"training peak (parameters: {r['params_bytes'] / MB:,.0f} MB): the index's build "
                        "scratch (sort orders, tree)."
                    )
                over = r["net_memory_bytes"] / r["params_bytes"]
                if over > 1.3:
                    out.append(
                        f"Memory, {r['config']}: the network itself holds {r['net_memory_bytes'] / MB:,.1f} MB "
                        f"for {r['params_bytes'] / MB:,.1f} MB of parameters ({over:.2f}x: rows padded to the "
                        "SIMD stride, a norm and two id maps per row, the tree), so the 1.3x target cannot be met at this d whatever the "
                        "trainer does."
                    )
    return out


def main(args):
    hs = import_hsrnet()
    started = time.perf_counter()
    info = dict(
        command="python "
        + " ".join(shlex.quote(a) for a in [os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:]),
        machine=machine_description(),
        revision=repo_revision(),
        version=getattr(hs, "__version__", "?"),
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        busy_start=other_bench_processes(),
    )
    log(f"hsrnet training benchmark: {info['command']}")
    log(f"machine: {info['machine']}; hsrnet {info['version']} at {info['revision']}; threads {THREADS}")
    if info["busy_start"]:
        log("WARNING: other benchmark processes are running: " + "; ".join(info["busy_start"]))
    P = M = S = Mem = None
    png_ok = False
    load = []

    def sample_load(section):
        hogs = cpu_hogs()
        load.append((section, load_average(), hogs))
        log(f"  [load before {section}: loadavg {load[-1][1]}; other busy processes: {'; '.join(hogs) or 'none'}]")

    if not args.skip_paper:
        sample_load("1. paper")
        P = run_paper(args, hs)
    if not args.skip_mnist:
        sample_load("2. MNIST")
        M = run_mnist(args, hs)
    if not args.skip_scaling:
        sample_load("3. scaling")
        S = run_scaling(args, hs)
        png_ok = scaling_plot(S, args.out_png)
        if png_ok:
            log(f"  plot: {args.out_png}")
    if not args.skip_memory:
        sample_load("4. memory")
        args.skip_mnist_memory = args.skip_mnist
        with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
            Mem = run_memory(args, tmp)
    sample_load("the end")
    info["load"] = load
    info["busy_end"] = other_bench_processes()
    elapsed = time.perf_counter() - started
    text = write_markdown(args, info, P, M, S, Mem, png_ok, elapsed)
    log("\n" + text)
    log(f"\nwrote {args.out_md}; total {elapsed:.1f} s")


if __name__ == "__main__":
    a = parse_args()
    if a.child:
        child_main(json.loads(a.child))
    else:
        main(a)
