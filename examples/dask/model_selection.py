"""GridSearchCV over HSRClassifier on a Dask cluster: the same numbers as the search run locally.

python examples/dask/model_selection.py            # a LocalCluster of 2 worker processes
python examples/dask/model_selection.py tcp://scheduler:8786
"""

import sys

import joblib
import numpy as np
from distributed import Client, LocalCluster
from hsrnet import HSRClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV


def main():
    X, y = load_digits(return_X_y=True)
    # one thread per worker process, one worker per core; hsrnet's n_jobs=None trains on 1 thread
    cluster = None
    if len(sys.argv) == 1:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with Client(sys.argv[1] if cluster is None else cluster):
        est = HSRClassifier(n_neurons=256, max_iter=3, random_state=0)
        search = GridSearchCV(est, {"solver": ["adagrad", "adam"], "batch_size": [32, 128]}, cv=3, n_jobs=-1)
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    if cluster is not None:
        cluster.close()
    local = GridSearchCV(est, search.param_grid, cv=3, n_jobs=1).fit(X, y)
    same = np.array_equal(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    print(f"best {search.best_params_} score {search.best_score_:.4f}; same as the local search: {same}")


if __name__ == "__main__":
    main()
