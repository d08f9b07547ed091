"""OpenMP thread counts, Python threads sharing one index, and use from spawn/forkserver worker processes."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import _mp_worker
import hsrnet
import numpy as np
import pytest
from conftest import BACKENDS, assert_same_ids, brute_force, check_csr, dyadic, exact_answer
from hsrnet import HalfSpaceIndex


@pytest.fixture(scope="module")
def big_problem():
    # m > 2 * 4096 so scan/gemm split rows across 2 threads; 8 queries >= 2 * threads so scan also runs one
    # query per thread; b low enough that a batch reports > 65536 ids (parallel id sorting).
    rng = np.random.default_rng(21)
    m, n = 20000, 8
    out = {}
    for d in (2, 9, 40):
        W = rng.standard_normal((m, d)).astype(np.float32)
        X = rng.standard_normal((n, d)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        out[d] = (W, X)
    return out


@pytest.mark.parametrize("d", [2, 9, 40])
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_and_two_threads_agree(big_problem, d, backend):
    W, X = big_problem[d]
    m, n = W.shape[0], X.shape[0]
    answers = {}
    for threads in (1, 2):
        index = HalfSpaceIndex(W, backend=backend, n_threads=threads, leaf_size=16)
        assert index.n_threads == threads
        for b in (-0.5, 1.0):
            batch = check_csr(index.query_batch(X, b), n, m)
            single = [index.query(x, b) for x in X[:3]]
            answers[threads, b] = (batch, single)
    for b in (-0.5, 1.0):
        (batch1, single1), (batch2, single2) = answers[1, b], answers[2, b]
        assert sum(len(ids) for ids in batch1) > (65536 if b < 0 else 0)
        for q in range(n):
            assert_same_ids(batch2[q], batch1[q], f"batch q={q} b={b}")
        for q in range(3):
            assert_same_ids(single2[q], single1[q], f"single q={q} b={b}")
            assert_same_ids(single1[q], batch1[q], f"single vs batch q={q} b={b}")
        for q in (0, n - 1):  # and both are right
            assert_same_ids(batch1[q], brute_force(W, X[q], b), f"vs brute force q={q} b={b}")


def test_changing_n_threads_on_a_live_index(big_problem):
    W, X = big_problem[9]
    index = HalfSpaceIndex(W, n_threads=1)
    expected = [brute_force(W, x, 0.5) for x in X]
    for threads in (2, None, 1, 2):
        index.n_threads = threads
        assert index.n_threads == threads
        for backend in BACKENDS:
            lists = check_csr(index.query_batch(X, 0.5, backend), X.shape[0], W.shape[0])
            for q in range(X.shape[0]):
                assert_same_ids(lists[q], expected[q], f"threads={threads} {backend} q={q}")


def test_python_threads_share_one_index():
    """Calls release the GIL and lock the index: concurrent calls from Python threads give the same answers."""
    rng = np.random.default_rng(22)
    W = dyadic(rng, (5000, 6))
    X = dyadic(rng, (24, 6))
    index = HalfSpaceIndex(W, leaf_size=8)
    jobs = [(X[i], float(b), BACKENDS[i % 4]) for i in range(24) for b in (0.0, 1.0)]
    expected = [exact_answer(W, x, b) for x, b, _ in jobs]

    def run(job):
        x, b, backend = job
        if backend == "gemm":
            off, idx = index.query_batch(x[None, :], b, backend)
            return idx
        return index.query(x, b, backend)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, jobs * 3))
    for i, got in enumerate(results):
        assert_same_ids(got, expected[i % len(jobs)], f"job {i}")


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_index_in_worker_processes(method):
    if method not in mp.get_all_start_methods():
        pytest.fail(f"start method {method!r} unavailable on this platform")  # Linux CI has both
    rng = np.random.default_rng(23)
    tasks = []
    for i, (m, d) in enumerate([(300, 2), (257, 9), (600, 33), (100, 784)]):
        W = dyadic(rng, (m, d))
        X = dyadic(rng, (3, d))
        tasks.append((W, X, 0.5 * i, hsrnet.BACKENDS[i % 4], 1 + i % 2))
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(_mp_worker.build_and_query, tasks, chunksize=1)
    assert len(results) == len(tasks)
    for (W, X, b, _, _), (single, per_backend, offsets, indices) in zip(tasks, results):
        expected = [exact_answer(W, x, b).tolist() for x in X]
        assert single == expected
        for be in hsrnet.BACKENDS:
            assert per_backend[be] == expected, be
        assert [indices[offsets[q] : offsets[q + 1]] for q in range(len(X))] == expected
        # The parent computes the same with its own index.
        parent = HalfSpaceIndex(W)
        assert [parent.query(x, b).tolist() for x in X] == expected


def test_updates_in_a_spawned_process():
    rng = np.random.default_rng(24)
    W = dyadic(rng, (200, 3))
    ids = rng.integers(0, 200, size=50)
    values = dyadic(rng, (50, 3)) * np.float32(3)
    x = dyadic(rng, 3)
    with mp.get_context("spawn").Pool(1) as pool:
        rows, answers = pool.apply(_mp_worker.update_then_query, ((W, ids, values, x, 0.25),))
    model = W.copy()
    for i, r in enumerate(ids):
        model[r] = values[i]
    np.testing.assert_array_equal(rows, model)
    for be in hsrnet.BACKENDS:
        assert_same_ids(answers[be], exact_answer(model, x, 0.25), be)
