"""Threads per Dask worker and hsrnet's n_jobs: a GridSearchCV over HSRClassifier on a LocalCluster.

Each configuration runs the same search (MNIST, 6000 rows, m = 8192, 2 epochs, 2 candidates x 2 folds) under
joblib.parallel_backend("dask") in a fresh cluster: 2 worker processes x 1 thread, and 1 in-process worker
x 2 threads, with the estimator's n_jobs None (1 thread), -1 and 2. OMP_NUM_THREADS is set in the driver's
environment (as scripts/test.sh does), which worker processes inherit (Dask's nanny sets OMP_NUM_THREADS=1
only where the environment does not set it).

    python benchmarks/bench_dask_threads.py --omp 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_average, machine_description, md_table  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--omp", default="2", help="OMP_NUM_THREADS for the driver and the worker processes")
    p.add_argument("--rows", type=int, default=6000)
    p.add_argument("--n-neurons", type=int, default=8192)
    p.add_argument("--repeat", type=int, default=2, help="searches per configuration (the best is kept)")
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = args.omp
    import warnings

    import joblib
    from distributed import Client, LocalCluster
    from hsrnet import HSRClassifier
    from hsrnet.datasets import load_mnist
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y, _, _ = load_mnist()
    X, y = X[: args.rows], y[: args.rows]
    print(f"# {machine_description()}; OMP_NUM_THREADS={args.omp}")
    rows = []
    for processes, n_workers, threads in ((True, 2, 1), (False, 1, 2)):
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=threads, processes=processes, dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            for n_jobs in ("warm-up", None, -1, 2):
                est = HSRClassifier(n_neurons=args.n_neurons, max_iter=2, random_state=0)
                est.set_params(n_jobs=None if n_jobs == "warm-up" else n_jobs)
                search = GridSearchCV(est, {"batch_size": [64, 128]}, cv=2, n_jobs=-1)
                threads_used = client.submit(lambda e: e._n_threads(), est, pure=False).result()
                times = []
                for _ in range(1 if n_jobs == "warm-up" else args.repeat):
                    start = time.perf_counter()
                    with joblib.parallel_backend("dask"):
                        search.fit(X, y)
                    times.append(time.perf_counter() - start)
                if n_jobs == "warm-up":  # workers import hsrnet and scikit-learn, the data travels once
                    continue
                seconds = min(times)
                kind = f"{n_workers} {'process' if processes else 'in-process'} x {threads} thread"
                rows.append([kind, str(n_jobs), threads_used, f"{seconds:.2f}", f"{search.best_score_:.4f}"])
                rows[-1].append(load_average())
                print(rows[-1], flush=True)
    print(md_table(["workers", "n_jobs", "threads per fit", "search s (best)", "best score", "load"], rows))


if __name__ == "__main__":
    main()
