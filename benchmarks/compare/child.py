"""One competitor run in its own process: ``python -m compare.child JOB.json`` (run.py starts it).

A fresh process per run makes the peak resident memory (VmHWM) that run's own, and keeps one competitor's
thread pools and allocations from affecting the next. The parent sets the thread variables in the
environment before this process starts (machine.child_environment); here torch, when used, is told the
same count. The record written to job["out"] follows compare.schema and is validated before it is written.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

from common import proc_status_kb

from . import data, machine, schema


def _prepare_torch(threads: int) -> None:
    """Sets torch's thread count and pays its one-time lazy initialisation off the clock: the first optimizer
    construction in a process takes 1-2 s (torch imports more of itself), which is start-up like the import,
    not training."""
    import torch

    torch.set_num_threads(threads)
    p = torch.nn.Parameter(torch.zeros(4, 4))
    opt = torch.optim.SGD([p], lr=0.1)
    (torch.relu(torch.ones(2, 4) @ p) ** 2).mean().backward()
    opt.step()
    torch.optim.Adam([p], lr=0.1).step()


def run_job(job: dict, ds=None) -> dict:
    """Runs the job in this process and returns its validated record; ds (a data.Dataset) replaces loading
    job["dataset"] (the test suite passes small in-memory data)."""
    threads = int(job["threads"])
    if job["family"] == "torch":
        _prepare_torch(threads)
    module, func = job["runner"].split(":")
    runner = getattr(importlib.import_module(f"compare.runners.{module}"), func)
    ds = ds if ds is not None else data.load(job["dataset"], job.get("data_root"))
    baseline_kb = proc_status_kb("VmRSS") or 0  # after every import and the data: what is not training
    stop = job["stop_rule"]
    try:
        config, outcome = runner(
            ds, dict(job["params"]), threads, int(stop["max_epochs"]), float(stop["time_budget_s"])
        )
    except Exception as e:  # a failed competitor is a result too: recorded, not fatal to the benchmark
        traceback.print_exc()
        config, outcome = dict(job["params"]), None
        error = f"{type(e).__name__}: {e}"[:500]
    else:
        error = ""
    rec = schema.make_record(job, ds.summary(), ds.metric, config, outcome, error)
    peak_kb = max(proc_status_kb("VmHWM") or 0, outcome.seen_peak_kb if outcome else 0)
    rec.update(
        peak_rss_mb=peak_kb / 1024.0,
        baseline_rss_mb=baseline_kb / 1024.0,
        load_after=machine.load_triple(),
        versions=machine.versions(),
        kernels=machine.kernels(),
        env=machine.env_facts(job.get("unset", [])),
    )
    return schema.validate(rec)


def main(argv):
    with open(argv[0]) as f:
        job = json.load(f)
    rec = run_job(job)
    with open(job["out"], "w") as f:
        json.dump(rec, f, indent=1)
    e = rec["epochs"][-1] if rec["epochs"] else None
    print(
        f"  {rec['competitor']}: {rec['status']} ({rec['stop_reason']}), {len(rec['epochs'])} epochs"
        + (f", {e['train_seconds_cumulative']:.1f} s, {rec['metric']['name']} {e['test_metric']:.4f}" if e else "")
        + (f" -- {rec['message']}" if rec["message"] else ""),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
