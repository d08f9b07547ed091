#!/usr/bin/env python3
"""Head-to-head benchmark: hsrnet's estimators against PyTorch and scikit-learn, per epoch, in wall time.

    python benchmarks/compare/run.py                   # full: every data set and competitor, 1 and 2 threads
    python benchmarks/compare/run.py --quick           # subset, 1 thread, under 10 minutes on 2 cores
    python benchmarks/compare/run.py --smoke           # tiny sizes: checks the plumbing in about a minute
    python benchmarks/compare/run.py --only-report     # rewrite docs/benchmarks.md from the JSON records
    python benchmarks/compare/run.py --hsrnet-best '{"n_neurons": 4096, "batch_size": 128}'
    python benchmarks/compare/run.py --dry-run         # the runs and their budgets, nothing run

Full: MNIST 60k/10k, Letter, California and the sphere (d = 3, 16; m = 2^14, 2^20; batch 1, 32; learning rate
= batch size), up to 20 epochs or 300 s of training per run, at 1 and 2 threads. Quick: MNIST's first 20000
training images, Letter, California (3-5 epochs, 8-15 s budgets) and the sphere at d = 3, m = 2^14; about 5
minutes on a busy 2-core machine.

Each (data set, thread count, competitor) runs in a fresh child process (compare/child.py), one after
another, never two at once: before each, the run waits (bounded by --load-wait) for the 1-minute load to fall
below --max-load, and records the load and the other busy processes. Records go to <out-dir>/json/, one
per run (compare/schema.py), replaced at the start of each command unless --keep-records; the report
(<out-md>, plots in <out-dir>) is written from them at the end.
Data: ../shared/data (or HSRNET_DATA, --data-root); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from common import machine_description  # noqa: E402

from compare import competitors, machine, report  # noqa: E402
from compare.data import TASKS, sphere_name  # noqa: E402

DATASETS = ("mnist", "letter", "california", "sphere")

# Sizes and stop rules per mode: data set -> (n_train, n_test, max_epochs, time_budget_s); None = all.
MODES = {
    "full": {
        "mnist": (None, None, 20, 300.0),
        "letter": (None, None, 20, 300.0),
        "california": (None, None, 20, 300.0),
        "sphere": (4000, 2000, 20, 300.0),
    },
    "quick": {
        "mnist": (20000, None, 3, 15.0),
        "letter": (None, None, 5, 8.0),
        "california": (None, None, 5, 8.0),
        "sphere": (1000, 1000, 3, 8.0),
    },
    "smoke": {
        "mnist": (500, 500, 2, 5.0),
        "letter": (500, 500, 2, 5.0),
        "california": (500, 500, 2, 5.0),
        "sphere": (200, 200, 2, 5.0),
    },
}
SPHERE = {"full": ("3,16", "2^14,2^20", "1,32"), "quick": ("3", "2^14", "1,32"), "smoke": ("3", "2^10", "1")}
THREADS = {"full": "1,2", "quick": "1", "smoke": "1"}
LOAD_WAIT = {"full": 120.0, "quick": 2.0, "smoke": 0.0}


def _ints(text):
    out = []
    for t in text.split(","):
        t = t.strip()
        out.append(2 ** int(t[2:]) if t.startswith("2^") else int(t))
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="MNIST 20k, Letter, California, sphere d=3; 1 thread")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, 2 epochs: plumbing only, not a benchmark")
    p.add_argument("--threads", default=None, help="comma list of thread counts, one table each (full: 1,2)")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--competitors", default=",".join(competitors.COMPETITORS))
    p.add_argument(
        "--hsrnet-best",
        default=None,
        help="JSON estimator parameters of hsrnet-best: one object for every data set, or "
        '{"mnist": {...}, "letter": {...}} per data set (default '
        f"{json.dumps(competitors.DEFAULT_HSRNET_BEST)})",
    )
    p.add_argument("--out-dir", default=os.path.join(REPO, "docs", "benchmarks"), help="plots; records in json/")
    p.add_argument("--out-md", default=os.path.join(REPO, "docs", "benchmarks.md"))
    p.add_argument("--time-budget", type=float, default=None, help="training seconds per run (overrides mode)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs per run (overrides mode)")
    p.add_argument("--sphere-d", default=None, help="comma list (full 3,16; quick 3)")
    p.add_argument("--sphere-m", default=None, help="comma list of widths, 2^k allowed (full 2^14,2^20; quick 2^14)")
    p.add_argument("--sphere-batch", default=None, help="comma list (full and quick 1,32)")
    p.add_argument(
        "--sphere-lr-per-sample",
        type=float,
        default=1.0,
        help="sphere learning rate = this x batch size (the mean gradient's linear scaling)",
    )
    p.add_argument(
        "--load-wait",
        type=float,
        default=None,
        help="most seconds to wait for a quiet machine before each run (full 120, quick 2)",
    )
    p.add_argument(
        "--max-load",
        type=float,
        default=None,
        help="1-minute load to wait for (default: cores - threads + 0.5, at least 0.5)",
    )
    p.add_argument(
        "--data-root",
        default=os.environ.get("HSRNET_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data"),
        help="folder with mnist/, letter/, california_housing/ (default: HSRNET_DATA or ../shared/data)",
    )
    p.add_argument("--only-report", action="store_true", help="rewrite the report from <out-dir>/json only")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their budgets; run nothing")
    p.add_argument(
        "--keep-records",
        action="store_true",
        help="keep the records of earlier commands (e.g. add --threads 2 later); default: start afresh",
    )
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    args.threads = _ints(args.threads or THREADS[args.mode])
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.competitors = [c.strip() for c in args.competitors.split(",") if c.strip()]
    for name in args.datasets:
        if name not in DATASETS:
            p.error(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    for name in args.competitors:
        if name not in competitors.COMPETITORS:
            p.error(f"unknown competitor {name!r}; known: {', '.join(competitors.COMPETITORS)}")
    d, m, b = SPHERE[args.mode]
    args.sphere_d, args.sphere_m = _ints(args.sphere_d or d), _ints(args.sphere_m or m)
    args.sphere_batch = _ints(args.sphere_batch or b)
    args.load_wait = LOAD_WAIT[args.mode] if args.load_wait is None else args.load_wait
    try:
        args.best = best_params(args.hsrnet_best, args.datasets)
    except ValueError as e:
        p.error(str(e))
    return args


def best_params(text, datasets) -> dict:
    """--hsrnet-best as {data set: params}; checked against the estimators now, before anything runs."""
    from compare.runners.hsrnet_estimator import check_params

    raw = competitors.DEFAULT_HSRNET_BEST if text is None else json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("--hsrnet-best must be a JSON object")
    per = raw if raw and set(raw) <= set(DATASETS) else {d: raw for d in DATASETS}
    for d in datasets:
        if d != "sphere":
            check_params(TASKS[d], per.get(d, {}))
    return per


def data_specs(args):
    """(data spec, extra competitor params, stop rule) for every data set setting of the run."""
    out = []
    for name in args.datasets:
        n_train, n_test, epochs, budget = MODES[args.mode][name]
        stop = {"max_epochs": args.max_epochs or epochs, "time_budget_s": args.time_budget or budget}
        if name != "sphere":
            out.append(({"kind": name, "name": name, "n_train": n_train, "n_test": n_test}, {}, stop))
            continue
        for d in args.sphere_d:
            for m in args.sphere_m:
                for B in args.sphere_batch:
                    spec = {
                        "kind": "sphere",
                        "name": sphere_name(d, m, B),
                        "d": d,
                        "n_train": n_train,
                        "n_test": n_test,
                    }
                    out.append(
                        (spec, {"n_neurons": m, "batch_size": B, "learning_rate": args.sphere_lr_per_sample * B}, stop)
                    )
    return out


def plan(args):
    """Every run, in order: (threads, data spec, competitor, its parameters, stop rule)."""
    for threads in args.threads:
        for spec, extra, stop in data_specs(args):
            for comp in competitors.applicable(args.competitors, TASKS[spec["kind"]]):
                if comp.name == "hsrnet-best" and spec["kind"] not in args.best:
                    continue  # a per-data-set --hsrnet-best that leaves this data set out
                params = dict(args.best[spec["kind"]]) if comp.name == "hsrnet-best" else {**comp.params, **extra}
                yield threads, spec, comp, params, stop


def run_one(args, comp, spec, params, stop, threads, json_dir, tmp_dir):
    max_load = args.max_load if args.max_load is not None else machine.default_max_load(threads)
    waited = machine.wait_for_quiet(max_load, args.load_wait)
    env, unset = machine.child_environment(threads)
    env["PYTHONPATH"] = BENCH + os.pathsep + env.get("PYTHONPATH", "")
    out = os.path.join(json_dir, f"{spec['name']}__{comp.name}__t{threads}.json")
    job = {
        "competitor": comp.name,
        "family": comp.family,
        "runner": comp.runner,
        "params": params,
        "dataset": spec,
        "data_root": args.data_root,
        "threads": threads,
        "stop_rule": stop,
        "unset": unset,
        "load_before": machine.load_triple(),
        "load_wait_s": waited,
        "busy_processes": machine.busy_processes(),
        "machine": machine_description(),
        "out": out,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    job_path = os.path.join(tmp_dir, "job.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    print(
        f"[{spec['name']} | {threads} thread(s) | {comp.name}] load {job['load_before'][0]:.2f}"
        + (f" after waiting {waited:.0f} s" if waited >= 1 else ""),
        flush=True,
    )
    timeout = 3 * stop["time_budget_s"] + 600
    try:
        rc = subprocess.run(
            [sys.executable, "-m", "compare.child", job_path], env=env, cwd=REPO, timeout=timeout
        ).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc != 0:
        print(f"  child failed ({rc}); no record for this run", flush=True)


def _utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_all(args, argv, json_dir):
    """Every run of the plan, one child at a time; then the run's entry in <json_dir>/_run.json."""
    meta_path = os.path.join(json_dir, report.RUN_META)
    os.makedirs(json_dir, exist_ok=True)
    runs = []
    if args.keep_records and os.path.exists(meta_path):
        with open(meta_path) as f:
            runs = json.load(f)["runs"]
    elif not args.keep_records:
        for stale in os.listdir(json_dir):  # by default one command = one coherent set of records
            if stale.endswith(".json"):
                os.remove(os.path.join(json_dir, stale))
    command = [os.path.relpath(os.path.abspath(__file__), REPO)] + list(sys.argv[1:] if argv is None else argv)
    meta = {
        "command": "python " + " ".join(shlex.quote(a) for a in command),
        "mode": args.mode,
        "load_wait_s": args.load_wait,
        "max_load": args.max_load if args.max_load is not None else "cores - threads + 0.5",
        "started_utc": _utc(),
    }
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_dir:
        for threads, spec, comp, params, stop in plan(args):
            run_one(args, comp, spec, params, stop, threads, json_dir, tmp_dir)
    meta.update(finished_utc=_utc(), elapsed_s=round(time.monotonic() - start, 1))
    with open(meta_path, "w") as f:
        json.dump({"runs": runs + [meta]}, f, indent=1)
    print(f"all runs: {meta['elapsed_s']:.0f} s", flush=True)


def main(argv=None):
    args = parse_args(argv)
    json_dir = os.path.join(args.out_dir, "json")
    if args.dry_run:
        runs = list(plan(args))
        for threads, spec, comp, params, stop in runs:
            print(
                f"{spec['name']:24s} {threads} thread(s)  {comp.name:18s} {json.dumps(params)}  "
                f"stop: {stop['max_epochs']} epochs / {stop['time_budget_s']:g} s"
            )
        budget = sum(stop["time_budget_s"] for *_, stop in runs)
        print(
            f"{len(runs)} runs; at most about {budget / 60:.0f} minutes of training (time budgets; the last "
            f"epoch may overrun its budget) plus start-up, evaluation and load waits of up to "
            f"{args.load_wait:g} s each"
        )
        return 0
    if not args.only_report:
        run_all(args, argv, json_dir)
    print("report:", report.write(json_dir, args.out_md, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
