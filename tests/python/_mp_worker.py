"""Work done in child processes by test_threads_and_processes.py (importable by name under spawn/forkserver)."""

from __future__ import annotations


def build_and_query(args):
    """Builds an index in the child from plain arrays and answers queries with every backend."""
    import hsrnet

    W, X, b, backend, n_threads = args
    index = hsrnet.HalfSpaceIndex(W, backend=backend, n_threads=n_threads, leaf_size=8)
    single = [index.query(x, b).tolist() for x in X]
    per_backend = {be: [index.query(x, b, be).tolist() for x in X] for be in hsrnet.BACKENDS}
    offsets, indices = index.query_batch(X, b)
    return single, per_backend, offsets.tolist(), indices.tolist()


def update_then_query(args):
    import hsrnet

    W, ids, values, x, b = args
    index = hsrnet.HalfSpaceIndex(W, leaf_size=8, rebuild_after=0.05)
    index.update(ids, values)
    return index.get_rows(), {be: index.query(x, b, be) for be in hsrnet.BACKENDS}
