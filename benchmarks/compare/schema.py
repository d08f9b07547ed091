"""The one JSON record every competitor run writes, and its validation.

A record (one competitor, one data set, one thread count; one file in docs/benchmarks/json/):

    {
      "schema": "hsrnet-compare/1",
      "competitor": "hsrnet-default",         # name in compare.competitors.COMPETITORS
      "family": "hsrnet",                     # hsrnet | torch | sklearn
      "config": {...},                        # every parameter the runner used (estimator params, lr, batch...)
      "dataset": "mnist",                     # data set id (sphere: "sphere-d3-m16384-b1")
      "data": {"n_train": 60000, "n_test": 10000, "n_features": 784, "task": "classification"},
      "metric": {"name": "accuracy", "higher_is_better": true},   # accuracy | r2 | mse
      "threads": 1,
      "status": "ok",                         # ok | diverged | error
      "message": "",                          # why, when status is not ok
      "stop_reason": "max_epochs",            # max_epochs | time_budget | diverged | error
      "stop_rule": {"max_epochs": 20, "time_budget_s": 300.0},
      "epochs": [                             # one entry per finished epoch, in order
        {"epoch": 1, "train_seconds_cumulative": 12.3, "test_metric": 0.95, "train_loss": 0.31,
         "extra": {...}}                      # optional runner facts (hsrnet: firing fraction, phase seconds)
      ],
      "seconds_per_epoch": 12.3,              # training seconds / epochs (null when no epoch finished)
      "peak_rss_mb": 812.0,                   # VmHWM of the child process at the end (its whole life)
      "train_peak_rss_mb": 790.0,             # VmHWM over setup + training epochs only, evaluation excluded
                                              # (reset before each, runners/loop.py); null where no reset
      "baseline_rss_mb": 410.0,               # VmRSS after imports and data loading, before the model
      "load_before": [1.0, 0.8, 0.5],         # /proc/loadavg before the run (after the bounded wait)
      "load_after": [1.1, 0.9, 0.5],
      "load_wait_s": 0.0,                     # how long the run waited for the load to fall
      "busy_processes": ["pid cmd (105% of a core)"],   # other processes busy just before the run
      "versions": {"python": ..., "numpy": ..., "sklearn": ..., "torch": ... or null, "hsrnet": ...},
      "kernels": {"threadpoolctl": [{"user_api", "internal_api", "architecture", "num_threads", "version",
                                     "library"}], "torch": {"mkldnn": true, "config": ["first lines"]} or null},
      "env": {"OMP_NUM_THREADS": "1", ..., "unset": ["OPENBLAS_CORETYPE"]},
      "machine": "CPU model, cores, flags, RAM",
      "started_utc": "2026-12-06T02:00:00Z"
    }

Training time excludes evaluation: each epoch is timed alone, the test metric computed after the clock stops.
"""

from __future__ import annotations

import math

SCHEMA = "hsrnet-compare/1"
METRICS = {"accuracy": True, "r2": True, "mse": False}  # name -> higher is better
STATUSES = ("ok", "diverged", "error")
STOP_REASONS = ("max_epochs", "time_budget", "diverged", "error")
FAMILIES = ("hsrnet", "torch", "sklearn")

_TOP = {
    "schema": str,
    "competitor": str,
    "family": str,
    "config": dict,
    "dataset": str,
    "data": dict,
    "metric": dict,
    "threads": int,
    "status": str,
    "message": str,
    "stop_reason": str,
    "stop_rule": dict,
    "epochs": list,
    "seconds_per_epoch": (float, type(None)),
    "peak_rss_mb": float,
    "train_peak_rss_mb": (float, type(None)),
    "baseline_rss_mb": float,
    "load_before": list,
    "load_after": list,
    "load_wait_s": float,
    "busy_processes": list,
    "versions": dict,
    "kernels": dict,
    "env": dict,
    "machine": str,
    "started_utc": str,
}
_VERSIONS = ("python", "numpy", "sklearn", "torch", "hsrnet")


class SchemaError(ValueError):
    """A record that does not follow the schema (the message names the field)."""


def _need(cond, msg):
    if not cond:
        raise SchemaError(msg)


def _finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(rec: dict) -> dict:
    """Returns rec unchanged, or raises SchemaError naming the first problem."""
    for key, typ in _TOP.items():
        _need(key in rec, f"missing field {key!r}")
        _need(
            isinstance(rec[key], typ) and not (typ is int and isinstance(rec[key], bool)),
            f"field {key!r} has type {type(rec[key]).__name__}",
        )
    _need(rec["schema"] == SCHEMA, f"schema {rec['schema']!r} is not {SCHEMA!r}")
    _need(rec["family"] in FAMILIES, f"family {rec['family']!r}")
    _need(rec["status"] in STATUSES, f"status {rec['status']!r}")
    _need(rec["stop_reason"] in STOP_REASONS, f"stop_reason {rec['stop_reason']!r}")
    _need(rec["threads"] >= 1, "threads < 1")
    name = rec["metric"].get("name")
    _need(name in METRICS and rec["metric"].get("higher_is_better") is METRICS[name], f"metric {rec['metric']!r}")
    for key in ("n_train", "n_test", "n_features", "task"):
        _need(key in rec["data"], f"data lacks {key!r}")
    for key in ("max_epochs", "time_budget_s"):
        _need(key in rec["stop_rule"], f"stop_rule lacks {key!r}")
    for key in _VERSIONS:
        _need(key in rec["versions"], f"versions lacks {key!r}")
    _need("threadpoolctl" in rec["kernels"] and "torch" in rec["kernels"], "kernels lacks threadpoolctl/torch")
    _need("unset" in rec["env"], "env lacks 'unset'")
    _need(len(rec["load_before"]) == 3 and len(rec["load_after"]) == 3, "load averages are not triples")
    _need(rec["peak_rss_mb"] > 0, "peak_rss_mb <= 0")
    train_peak = rec["train_peak_rss_mb"]
    _need(train_peak is None or 0 < train_peak <= rec["peak_rss_mb"] + 1.0, "train_peak_rss_mb outside (0, peak]")
    _need(rec["status"] != "ok" or rec["epochs"], "status ok without a finished epoch")

    previous = 0.0
    for i, ep in enumerate(rec["epochs"]):
        where = f"epochs[{i}]"
        _need(isinstance(ep, dict), f"{where} is not an object")
        _need(ep.get("epoch") == i + 1, f"{where}.epoch is {ep.get('epoch')!r}, expected {i + 1}")
        t = ep.get("train_seconds_cumulative")
        _need(_finite(t) and t >= previous, f"{where}.train_seconds_cumulative {t!r} is not finite and monotone")
        previous = t
        _need(_finite(ep.get("test_metric")), f"{where}.test_metric {ep.get('test_metric')!r} is not finite")
        loss = ep.get("train_loss", "missing")
        _need(loss is None or _finite(loss), f"{where}.train_loss {loss!r} is neither null nor finite")
        _need(isinstance(ep.get("extra", {}), dict), f"{where}.extra is not an object")
    if rec["epochs"]:
        spe = rec["seconds_per_epoch"]
        _need(
            _finite(spe) and abs(spe - previous / len(rec["epochs"])) <= 1e-9 * max(1.0, previous),
            "seconds_per_epoch is not training seconds / epochs",
        )
    else:
        _need(rec["seconds_per_epoch"] is None, "seconds_per_epoch without epochs")
    return rec


def make_record(job: dict, data_summary: dict, metric: str, config: dict, outcome, error: str = "") -> dict:
    """The record of a finished run, less the process facts the child adds (memory, load after, versions,
    kernels, env). outcome is a runners.loop.Outcome, or None when the runner raised (error says what)."""
    epochs = outcome.epochs if outcome else []
    seconds = epochs[-1]["train_seconds_cumulative"] if epochs else None
    return {
        "schema": SCHEMA,
        "competitor": job["competitor"],
        "family": job["family"],
        "config": config,
        "dataset": job["dataset"]["name"],
        "data": data_summary,
        "metric": {"name": metric, "higher_is_better": METRICS[metric]},
        "threads": int(job["threads"]),
        "status": outcome.status if outcome else "error",
        "message": outcome.message if outcome else error,
        "stop_reason": outcome.stop_reason if outcome else "error",
        "stop_rule": dict(job["stop_rule"]),
        "epochs": epochs,
        "seconds_per_epoch": seconds / len(epochs) if epochs else None,
        "train_peak_rss_mb": outcome.train_peak_kb / 1024.0 if outcome and outcome.train_peak_kb else None,
        "load_before": list(job["load_before"]),
        "load_wait_s": float(job["load_wait_s"]),
        "busy_processes": list(job["busy_processes"]),
        "machine": job["machine"],
        "started_utc": job["started_utc"],
    }
