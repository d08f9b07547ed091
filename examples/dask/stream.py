"""Training from data larger than memory: a memory-mapped .npy streamed in blocks through partial_fit.

    python examples/dask/stream.py [DIRECTORY]
The input map is fitted in one streamed pass first (hsrnet.dask.fit_input_map), the classes are given up front;
then either hsrnet.dask.partial_fit_blocks on this machine, or dask-ml's Incremental on a Dask cluster.
"""

import os
import sys
import tempfile

import numpy as np
from hsrnet import HSRClassifier
from hsrnet.dask import fit_input_map, partial_fit_blocks
from sklearn.datasets import load_digits


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    os.makedirs(directory, exist_ok=True)
    X, y = load_digits(return_X_y=True)
    np.save(os.path.join(directory, "X.npy"), np.tile(X, (4, 1)).astype(np.float32))  # stands for a big file
    np.save(os.path.join(directory, "y.npy"), np.tile(y, 4))
    X_big = np.load(os.path.join(directory, "X.npy"), mmap_mode="r")  # nothing read yet
    y_big = np.load(os.path.join(directory, "y.npy"), mmap_mode="r")

    est = HSRClassifier(n_neurons=1024, random_state=0, n_components=32)
    fit_input_map(est, X_big, block_rows=2048)  # one pass: mean of all rows, PCA from <= 10,000 of them
    for _ in range(2):  # epochs
        partial_fit_blocks(est, X_big, y_big, classes=np.arange(10), block_rows=2048)
    print(f"on this machine: {est.n_iter_} blocks trained, training accuracy {est.score(X, y):.4f}")

    try:
        import dask.array as da
        from dask_ml.wrappers import Incremental
        from distributed import Client, LocalCluster
    except ImportError:
        return
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster):
        dX = da.from_array(X_big, chunks=(2048, -1))
        dy = da.from_array(y_big, chunks=2048)
        est = fit_input_map(HSRClassifier(n_neurons=1024, random_state=0, n_components=32), dX)
        inc = Incremental(est, shuffle_blocks=False).fit(dX, dy, classes=np.arange(10))
        print(f"dask-ml Incremental: training accuracy {inc.estimator_.score(X, y):.4f}")


if __name__ == "__main__":
    main()
