"""How many threads a fit may use inside a Dask task (the estimators cap n_jobs=-1 by it).

Here rather than in hsrnet.dask: the estimators need it without importing Dask (it looks at sys.modules).
"""

from __future__ import annotations

import os
import sys
import time


def dask_task_threads() -> int | None:
    """In a Dask task: this task's share of its host's cores (the cores divided by the threads of every Dask
    worker on the host, from the scheduler, cached for a minute per worker); None outside Dask tasks.

    n_jobs=-1 is capped by it: OpenMP's maximum in every task of every worker oversubscribes the host
    (docs/dask.md: 2-thread worker, n_jobs=-1 took 36.8 s against 7.8 s at one thread per task)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a Dask task
        return None
    cached = getattr(worker, "_hsrnet_task_threads", None)
    if cached is not None and time.monotonic() - cached[1] < 60:
        return cached[0]
    host = worker.address.rsplit(":", 1)[0]
    try:
        workers = distributed.get_client().scheduler_info()["workers"]
        host_threads = sum(int(w["nthreads"]) for a, w in workers.items() if a.rsplit(":", 1)[0] == host)
    except Exception:  # no scheduler reachable: this worker's threads only
        host_threads = 0
    host_threads = max(host_threads, int(worker.state.nthreads), 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // host_threads)
    worker._hsrnet_task_threads = (threads, time.monotonic())
    return threads
