"""Per-step time of a few training shapes, for comparing two builds of hsrnet side by side.

Run it alternately against each build, on one thread, several times:

    PYTHONPATH=/path/to/old/site-packages python benchmarks/bench_step_ab.py before
    python benchmarks/bench_step_ab.py after

It prints ms per step in the second epoch (the first is warm-up) for: the paper's tree regime (d = 3,
m = 16384, B = 1), auto at d = 32 (the candidate cache), and the batch screen at d = 785, B = 256. Sphere
data, plain SGD, seeds fixed. Works with builds that predate the C++ names of the network and the trainer.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import hsrnet  # noqa: E402
import numpy as np  # noqa: E402

CASES = [(3, 16384, 1, "tree", 20000), (32, 8192, 1, "auto", 20000), (785, 4096, 256, "gemm", 8192)]


def classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        net = getattr(hsrnet, "ShiftedReLUNet", None) or hsrnet.ShiftedReLUNetwork
        trainer = getattr(hsrnet, "SgdTrainer", None) or hsrnet.SGDTrainer
    return net, trainer


def sphere(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main(label):
    Net, Trainer = classes()
    parts = []
    for d, m, B, strategy, n in CASES:
        X = sphere(n, d, 1)
        y = X[:, :1].copy()
        net = Net(d, m, 1, seed=0, n_threads=1)
        trainer = Trainer(batch_size=B, learning_rate=1.0, strategy=strategy, seed=0, n_threads=1)
        trainer.fit_epoch(net, X, y)
        start = time.perf_counter()
        trainer.fit_epoch(net, X, y)
        parts.append(f"d={d} {strategy} B={B}: {1e3 * (time.perf_counter() - start) / (n // B):.4f} ms/step")
    print(f"{label} (hsrnet {hsrnet.__version__}, load {os.getloadavg()[0]:.2f}): " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this build")
