"""Facts about the machine and process a run depends on: thread variables, load, kernels, versions.

Thread variables are set by the parent in the child's environment (they must be in place before numpy, torch
or hsrnet load their thread pools). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the children:
they pin OpenBLAS to an older kernel (a machine may set them for reproducible timings elsewhere), which would
slow the BLAS-based competitors; the kernel actually used is recorded from threadpoolctl.
"""

from __future__ import annotations

import os
import platform
import sys
import time

from common import cpu_hogs, load_1min

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
PINNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
RECORDED_VARS = THREAD_VARS + ("OMP_DYNAMIC", "OMP_PROC_BIND", "KMP_AFFINITY", "MKL_ENABLE_INSTRUCTIONS")


def child_environment(threads: int) -> tuple[dict, list]:
    """(environment for a child running with `threads` threads, names of pinning variables removed)."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["OMP_DYNAMIC"] = "false"
    unset = [var for var in PINNING_VARS if var in env]
    for var in unset:
        del env[var]
    return env, unset


def env_facts(unset) -> dict:
    """The thread-related variables this process runs with, and the pinning variables its parent removed."""
    facts = {var: os.environ.get(var) for var in RECORDED_VARS}
    facts["unset"] = list(unset)
    return facts


def load_triple() -> list:
    """The 1-, 5- and 15-minute load averages."""
    try:
        return [float(v) for v in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


def wait_for_quiet(max_load: float, max_wait_s: float, poll_s: float = 5.0) -> float:
    """Waits (at most max_wait_s) until the 1-minute load average is below max_load; returns seconds waited.

    The 1-minute average decays with a 60 s time constant, so after a 2-thread run on 2 cores it needs about
    80 s to fall below 0.5: the bound keeps a busy machine from stalling the benchmark (the load is recorded).
    """
    start = time.monotonic()
    while load_1min() >= max_load and time.monotonic() - start < max_wait_s:
        time.sleep(min(poll_s, max(0.0, max_wait_s - (time.monotonic() - start))))
    return time.monotonic() - start


def default_max_load(threads: int) -> float:
    """Room for the run: about one idle core per run thread (at least 0.5)."""
    return max(0.5, (os.cpu_count() or 1) - threads + 0.5)


def busy_processes() -> list:
    """Other processes above 20 % of a core over half a second (they disturb the timings)."""
    return cpu_hogs(interval=0.5, min_share=0.2)


def versions() -> dict:
    import hsrnet
    import numpy
    import sklearn

    torch = sys.modules.get("torch")
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch.__version__ if torch else None,
        "hsrnet": getattr(hsrnet, "__version__", "?"),
    }


def kernels() -> dict:
    """The BLAS/OpenMP libraries loaded (threadpoolctl) and, when torch is loaded, its oneDNN and build."""
    from threadpoolctl import threadpool_info

    pools = [
        {
            "user_api": p.get("user_api"),
            "internal_api": p.get("internal_api"),
            "architecture": p.get("architecture"),
            "num_threads": p.get("num_threads"),
            "version": p.get("version"),
            "library": os.path.basename(p.get("filepath", "")),
        }
        for p in threadpool_info()
    ]
    torch = sys.modules.get("torch")
    info = None
    if torch is not None:
        lines = [ln.strip() for ln in torch.__config__.show().splitlines() if ln.strip()]
        info = {
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "num_threads": torch.get_num_threads(),
            "config": lines[:9],
        }
    return {"threadpoolctl": pools, "torch": info}
