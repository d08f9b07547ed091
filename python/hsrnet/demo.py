"""``hsrnet demo``: exact sparse SGD against the dense reference, side by side, in the paper's regime.

Setting (docs/method.md): inputs uniform on the unit sphere in d = 3, a wide shifted-ReLU network (m = 2^20 by
default) with the paper's threshold b = sqrt(0.4 ln m) and fixed +-1 output weights, batch size 1, squared
loss, and a target from the class the theory covers: an even polynomial on the sphere (a sum of four ridge
terms +-<u_k, x>^p with p in {2, 4, 4, 6}, centred). Every SGD step sees a fresh sample, so the loss a step
reports (computed before its own update) is an honest estimate of the test error at that moment.

Both trainers start from the same weights and shuffle with the same seed, so their trajectories are the same
computation: the demo checks that the losses agree at every chunk and that the final weights are equal.
Training runs in chunks of steps, alternating between the two trainers (so a change in machine load hits
both alike), and only the training calls are timed.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

D = 3
DEFAULT_LOG2M = 20
DEFAULT_STEPS = 20_000
QUICK_LOG2M = 14
QUICK_STEPS = 1_000
N_TEST = 2_000
LEARNING_RATE = 2.0
CHUNKS = 100


def progress_enabled(quiet: bool) -> bool:
    """Bars only for a person watching: not with --quiet, not when stderr is a file or a pipe."""
    if quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def make_bar(total, desc, enabled, unit="it"):
    """A tqdm bar on stderr, or a stand-in that does nothing (disabled, or tqdm not installed)."""
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)
        except ImportError:
            pass
    return _NoBar()


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s="", refresh=True):
        pass

    def close(self):
        pass


def _sphere(rng, n, d=D):
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class Teacher:
    """y = sum_k c_k <u_k, x>^(p_k) - mean: an even polynomial of degree 6 on the sphere, coefficients +-1."""

    def __init__(self, rng):
        self.U = _sphere(rng, 4)
        self.c = np.array([1.0, -1.0, 1.0, -1.0])
        self.p = np.array([2, 4, 4, 6])
        self.mean = 0.0
        self.mean = float(self(_sphere(rng, 200_000)).mean())

    def __call__(self, X):
        return ((X @ self.U.T) ** self.p * self.c).sum(axis=1) - self.mean


def _fmt_time(s):
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def _fmt_step(s):
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def run(
    *,
    log2m=DEFAULT_LOG2M,
    steps=DEFAULT_STEPS,
    seed=0,
    threads=1,
    strategy="auto",
    plot="hsrnet-demo.png",
    quiet=False,
    out=None,
) -> int:
    from . import SgdTrainer, ShiftedReLUNet, default_threshold

    out = out or sys.stdout
    m = 1 << log2m
    b = default_threshold(m)
    rng = np.random.default_rng(seed)
    teacher = Teacher(rng)
    X = _sphere(rng, steps)
    y = teacher(X)
    X_test = _sphere(rng, N_TEST)
    y_test = teacher(X_test)
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    y, y_test = y.astype(np.float32), y_test.astype(np.float32)

    print("hsrnet demo: exact sparse SGD (hsrnet) against dense SGD, same seed, same trajectory", file=out)
    print(
        f"  inputs uniform on the unit sphere, d = {D}; width m = {m:,}; threshold b = sqrt(0.4 ln m) = {b:.3f}",
        file=out,
    )
    print(
        f"  target: an even polynomial of degree 6 on the sphere (4 ridge terms); squared loss; batch size 1; "
        f"lr = {LEARNING_RATE:g}",
        file=out,
    )
    print(
        f"  {steps:,} SGD steps on fresh samples; {N_TEST:,} held-out test points; "
        f"{threads} thread{'s' if threads != 1 else ''} for each trainer",
        file=out,
    )
    out.flush()

    net_seed, sgd_seed = seed + 1, seed + 2
    t0 = time.perf_counter()
    # The dense reference never queries the index: a plain scan layout spares it the tree's upkeep.
    nets = {
        name: ShiftedReLUNet(
            D, m, 1, seed=net_seed, n_threads=threads, index_backend="auto" if name == "sparse" else "scan"
        )
        for name in ("sparse", "dense")
    }
    setup_s = time.perf_counter() - t0
    trainers = {
        "sparse": SgdTrainer(
            batch_size=1, learning_rate=LEARNING_RATE, strategy=strategy, seed=sgd_seed, n_threads=threads
        ),
        "dense": SgdTrainer(
            batch_size=1, learning_rate=LEARNING_RATE, strategy="dense", seed=sgd_seed, n_threads=threads
        ),
    }
    init_mse = float(np.mean((nets["dense"].predict(X_test)[:, 0] - y_test) ** 2))

    chunk = max(1, steps // CHUNKS)
    clock = {"sparse": 0.0, "dense": 0.0}
    curve = {"sparse": [(0.0, init_mse)], "dense": [(0.0, init_mse)]}
    firing = {"sparse": 0.0, "dense": 0.0}
    chosen = strategy
    same_losses = True
    bar = make_bar(2 * steps, "training", progress_enabled(quiet), unit="step")
    try:
        for start in range(0, steps, chunk):
            Xc, yc = X[start : start + chunk], y[start : start + chunk]
            losses = {}
            for name in ("sparse", "dense"):
                t = time.perf_counter()
                stats = trainers[name].fit_epoch(nets[name], Xc, yc)
                clock[name] += time.perf_counter() - t
                losses[name] = stats["mean_loss"]
                curve[name].append((clock[name], 2.0 * stats["mean_loss"]))  # mean_loss is 0.5 (f - y)^2
                firing[name] += stats["firing_fraction"] * len(Xc)
                if name == "sparse":
                    chosen = stats.get("strategy", strategy)
                if clock["sparse"] > 0 and clock["dense"] > 0:
                    bar.set_postfix_str(
                        f"loss {2 * losses['sparse']:.2e}, speed-up {clock['dense'] / clock['sparse']:.1f}x",
                        refresh=False,
                    )
                bar.update(len(Xc))
            same_losses &= losses["sparse"] == losses["dense"]
    finally:
        bar.close()

    W_diff, label = _summary(out, nets, X_test, y_test, init_mse, clock, firing, steps, m, chosen, same_losses, setup_s)
    if plot:
        where = _plot(curve, label, plot, m, steps, clock)
        if where:
            print(f"plot of loss against wall-clock time written to {where}", file=out)
    return 0 if W_diff <= 1e-5 else 1


def _summary(out, nets, X_test, y_test, init_mse, clock, firing, steps, m, chosen, same_losses, setup_s):
    """Prints the table and the exactness lines; returns max |W_sparse - W_dense| and the runs' labels."""
    W_diff = float(np.max(np.abs(nets["sparse"].hidden_weights() - nets["dense"].hidden_weights())))
    test_mse = {name: float(np.mean((nets[name].predict(X_test)[:, 0] - y_test) ** 2)) for name in nets}
    label = {"sparse": f"hsrnet ({chosen})", "dense": "dense reference"}

    print(file=out)
    header = f"{'strategy':<20}{'wall time':>11}{'per step':>11}{'firing':>9}{'test MSE':>11}{'speed-up':>10}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for name in ("sparse", "dense"):
        print(
            f"{label[name]:<20}{_fmt_time(clock[name]):>11}{_fmt_step(clock[name] / steps):>11}"
            f"{100 * firing[name] / steps:>8.2f}%{test_mse[name]:>11.2e}{clock['dense'] / clock[name]:>9.1f}x",
            file=out,
        )
    print(file=out)
    print(
        f"test MSE at initialisation {init_mse:.2e} (predicting 0: {float(np.mean(y_test**2)):.2e}); "
        f"after training {test_mse['sparse']:.2e}",
        file=out,
    )
    exact = W_diff == 0.0 and same_losses
    print(
        f"same trajectory: losses equal at every chunk: {'yes' if same_losses else 'NO'}; "
        f"max |W_sparse - W_dense| = {W_diff:.3g}{'  (exact)' if exact else ''}",
        file=out,
    )
    print(
        f"firing fraction: {100 * firing['sparse'] / steps:.2f}% of {m:,} neurons per step "
        f"(~{firing['sparse'] / steps * m:,.0f}); network setup {setup_s:.1f} s (not in the times above)",
        file=out,
    )

    return W_diff, label


def _plot(curve, label, path, m, steps, clock):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("hsrnet: warning: matplotlib is not installed: no plot written (pip install matplotlib)", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    colors = {"sparse": "#d62728", "dense": "#1f77b4"}
    for name in ("sparse", "dense"):
        t, loss = zip(*curve[name])
        ax.plot(t, loss, color=colors[name], lw=1.8, label=f"{label[name]}: {clock[name]:.1f} s")
    ax.set_yscale("log")
    ax.set_xlabel("training wall-clock time (s)")
    ax.set_ylabel("MSE (online, fresh samples)")
    ax.set_title(
        f"SGD, d = {D}, m = {m:,}, batch 1, {steps:,} steps: same trajectory, "
        f"{clock['dense'] / clock['sparse']:.1f}x faster",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.abspath(os.fspath(path))
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def main_args(args) -> int:
    """Entry from the command line (see cli.py for the options)."""
    log2m = args.log2m if args.log2m is not None else (QUICK_LOG2M if args.quick else DEFAULT_LOG2M)
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    return run(
        log2m=log2m,
        steps=steps,
        seed=args.seed,
        threads=args.threads,
        strategy=args.strategy,
        plot=args.plot,
        quiet=args.quiet,
    )
