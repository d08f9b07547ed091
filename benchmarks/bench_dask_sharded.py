"""Neuron-sharded training on Dask (hsrnet.dask.ShardedHSRClassifier): round trips, step times, memory.

Three measurements, each on a LocalCluster of 2 worker processes x 1 thread on this machine:

--roundtrip   one step's messages (B row numbers and a (B, K) gradient out, (B, K) partials back) to 2
              shards, with Dask actors against futures pinned to workers (client.submit(..., workers=[w]))
              over state kept on the worker; no training, the cost of the transport alone.
--steps       per-step time of ShardedHSRClassifier (2 shards on 2 workers) on MNIST mapped to 65 inputs,
              at B in {32, 256} and m in {2^16, 2^20}: wall time per step, the shards' busy time (the
              slower shard's), the driver's (sum and loss gradient) and the rest (communication and waiting),
              with one shard in-process (no communication; of width m, and of width m/2: one of the 2 shards' work
              alone) as the compute reference; and the projection for P
              machines: t(P) = compute(m / P) + communication(P).
--memory      a model larger than one worker's memory_limit: m neurons with Adagrad (W, A and their
              accumulators); 1 shard (the whole model on one worker) against 2 shards (half on each).

    python benchmarks/bench_dask_sharded.py --roundtrip --steps --memory --out /tmp/sharded.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_average, machine_description, md_table  # noqa: E402


class _EchoShard:
    """State on a worker that answers a step's message (the transport's cost alone)."""

    def __init__(self, K):
        self.K = K

    def step(self, G, losses, indices):
        import numpy as np

        return np.zeros((len(indices), self.K))


def _echo_state():
    from distributed import get_worker

    w = get_worker()
    if not hasattr(w, "_bench_echo"):
        w._bench_echo = _EchoShard(10)
    return w._bench_echo


def _echo_step(G, losses, indices):
    return _echo_state().step(G, losses, indices)


def roundtrip(client, steps=200):
    import numpy as np

    workers = sorted(client.scheduler_info()["workers"])
    futures = [client.submit(_EchoShard, 10, actor=True, workers=[w]) for w in workers]
    actors = [f.result() for f in futures]
    rows = []
    for B in (32, 256):
        G = np.random.default_rng(0).normal(size=(B, 10))
        losses = np.ones(B)
        idx = np.arange(B, dtype=np.int64)
        for kind in ("actor", "future"):
            best = np.inf
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(steps):
                    if kind == "actor":
                        calls = [a.step(G, losses, idx) for a in actors]
                        [c.result() for c in calls]
                    else:
                        calls = [client.submit(_echo_step, G, losses, idx, workers=[w], pure=False) for w in workers]
                        client.gather(calls)
                best = min(best, (time.perf_counter() - start) / steps)
            rows.append({"B": B, "transport": kind, "ms_per_step": best * 1e3, "load": load_average()})
            print(rows[-1], flush=True)
    del actors, futures
    return rows


def mnist_mapped(n):
    import numpy as np
    from hsrnet.datasets import load_mnist
    from hsrnet.input_map import InputMap

    X, y, _, _ = load_mnist()
    reps = -(-n // X.shape[0])
    X, y = np.tile(X, (reps, 1))[:n], np.tile(y, reps)[:n]
    imap = InputMap("pca", 64).fit(X)
    return imap, X, y


def steps(client, ms, Bs, n_steps):
    import numpy as np
    from hsrnet.dask import ShardedHSRClassifier

    rows = []
    for m in ms:
        for B in Bs:
            imap, X, y = mnist_mapped(B * n_steps)
            common = dict(n_neurons=m, max_iter=1, batch_size=B, input_map=imap, random_state=0, shuffle=False)
            for where in ("in-process, 1 shard", "in-process, 1 shard of m/2", "2 workers, 2 shards"):
                est = ShardedHSRClassifier(n_shards=1 if where.startswith("in") else 2, **common)
                if where.endswith("m/2"):
                    est.set_params(n_neurons=m // 2)  # the compute of one of the 2 shards, alone
                est._in_process = where.startswith("in")
                est.partial_fit(X[:B], y[:B], classes=np.arange(10))  # shards built, first (slow) step done
                est.partial_fit(X, y)
                t = {k: est.timings_[k][-1] for k in ("total", "shard_busy", "driver", "communication")}
                rows.append(
                    {
                        "m": m,
                        "B": B,
                        "where": where,
                        "ms_per_step": 1e3 * t["total"] / n_steps,
                        "busy_ms": 1e3 * t["shard_busy"] / n_steps,
                        "driver_ms": 1e3 * t["driver"] / n_steps,
                        "communication_ms": 1e3 * t["communication"] / n_steps,
                        "communication_share": t["communication"] / t["total"],
                        "firing": est.firing_fraction_[-1],
                        "load": load_average(),
                    }
                )
                print(rows[-1], flush=True)
                del est
    return rows


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def memory(m, limit_mb, n_steps=4, B=64):
    import numpy as np
    from distributed import Client, LocalCluster
    from hsrnet.dask import ShardedHSRClassifier

    imap, X, y = mnist_mapped(B * n_steps)
    rows = []
    for n_shards in (1, 2):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=f"{limit_mb}MiB"
        )
        with cluster, Client(cluster) as client:
            est = ShardedHSRClassifier(
                n_neurons=m,
                max_iter=1,
                batch_size=B,
                solver="adagrad",
                input_map=imap,
                random_state=0,
                n_shards=n_shards,
            )
            start = time.perf_counter()
            try:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(1) as pool:
                    pool.submit(est.partial_fit, X, y, np.arange(10)).result(timeout=150)
                outcome = f"trained {n_steps} steps in {time.perf_counter() - start:.1f} s"
                from hsrnet.dask._sharded import _call

                model_mb = sum(_call(est.shards_, "memory_bytes")) / 2**20
            except Exception as e:  # the worker holding the whole model is killed (or the call times out)
                outcome = f"failed after {time.perf_counter() - start:.1f} s: {type(e).__name__}: {str(e)[:160]}"
                model_mb = float("nan")
            rss = client.run(_rss_mb)
            rows.append(
                {
                    "m": m,
                    "n_shards": n_shards,
                    "memory_limit_mb": limit_mb,
                    "outcome": outcome,
                    "network_mb": model_mb,
                    "worker_rss_mb": sorted(rss.values()),
                    "load": load_average(),
                }
            )
            print(rows[-1], flush=True)
            del est
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--roundtrip", action="store_true")
    p.add_argument("--steps", action="store_true")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--m", type=int, nargs="+", default=[2**16, 2**20], help="widths for --steps")
    p.add_argument("--B", type=int, nargs="+", default=[32, 256], help="batch sizes for --steps")
    p.add_argument("--n-steps", type=int, default=20, help="steps timed per configuration")
    p.add_argument("--memory-m", type=int, default=2**20, help="width for --memory")
    p.add_argument("--memory-limit-mb", type=int, default=700, help="each worker's memory_limit for --memory")
    p.add_argument("--out", help="JSON records written here")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"# {machine_description()}; load average {load_average()}")
    record = {"machine": machine_description()}
    if args.roundtrip or args.steps:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        with cluster, Client(cluster) as client:
            if args.roundtrip:
                record["roundtrip"] = roundtrip(client)
                print(
                    md_table(["B", "transport", "ms per step", "load"], [list(r.values()) for r in record["roundtrip"]])
                )
            if args.steps:
                record["steps"] = steps(client, args.m, args.B, args.n_steps)
                header = ["m", "B", "where", "ms/step", "shard busy ms", "driver ms", "comm. ms", "comm. share"]
                table = [
                    [r["m"], r["B"], r["where"]]
                    + [f"{r[k]:.2f}" for k in ("ms_per_step", "busy_ms", "driver_ms", "communication_ms")]
                    + [f"{100 * r['communication_share']:.0f} %"]
                    for r in record["steps"]
                ]
                print(md_table(header, table))
    if args.memory:
        record["memory"] = memory(args.memory_m, args.memory_limit_mb)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
