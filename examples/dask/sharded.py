"""A network wider than one worker: the neurons sharded across the workers of a Dask cluster.

    python examples/dask/sharded.py [DIRECTORY]
Each worker holds its shard's rows of W and A (and their optimizer state); a step sends the batch's row numbers
and the loss gradient to every shard and gets (batch, n_classes) partial outputs back.
"""

import sys
import tempfile

from distributed import Client, LocalCluster
from hsrnet.dask import ShardedHSRClassifier, load_sharded
from sklearn.datasets import load_digits


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    X, y = load_digits(return_X_y=True)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster):
        est = ShardedHSRClassifier(n_neurons=4096, max_iter=3, random_state=0)  # n_shards=None: one per worker
        est.fit(X, y)
        print(f"shards {est.shard_sizes_} on {est.shard_workers_}; training accuracy {est.score(X, y):.4f}")
        est.save(directory)  # every worker writes its own shard; the driver writes the manifest
        again = load_sharded(directory)  # every worker reads its own shard back
        print(f"loaded from {directory}: training accuracy {again.score(X, y):.4f}")
        local = est.to_local()  # an ordinary HSRClassifier (gathers the weights on this machine)
        print(f"to_local(): {type(local).__name__} with m = {local.network_.m}, accuracy {local.score(X, y):.4f}")


if __name__ == "__main__":
    main()
