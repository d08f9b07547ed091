"""The epoch loop every runner shares: train one epoch on the clock, stop the clock, evaluate, apply the stop
rule. Keeping it in one place is what makes "training seconds" mean the same thing for every competitor.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


class Diverged(RuntimeError):
    """Training produced a non-finite loss or the trainer refused a step (the run stops, status "diverged")."""


@dataclass
class Trained:
    """What one training epoch reports: mean training loss (None if the competitor does not expose one)
    and runner-specific facts (hsrnet: firing fraction, phase seconds)."""
    loss: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Outcome:
    epochs: list
    status: str           # ok | diverged | error
    stop_reason: str      # max_epochs | time_budget | diverged | error
    message: str = ""


def run_epochs(setup, train_epoch, evaluate, max_epochs: int, time_budget_s: float) -> Outcome:
    """setup() runs on the clock once, before the first epoch (fitting scalers, copying data to tensors...);
    train_epoch() -> Trained; evaluate() -> test metric (off the clock).

    Stops after max_epochs, or after the first epoch that brings the cumulative training time to the budget.
    """
    epochs, seconds = [], 0.0
    start = time.perf_counter()
    setup()
    seconds += time.perf_counter() - start
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        try:
            out = train_epoch()
        except Diverged as e:
            return Outcome(epochs, "diverged", "diverged", str(e)[:300])
        seconds += time.perf_counter() - start
        if out.loss is not None and not math.isfinite(out.loss):
            return Outcome(epochs, "diverged", "diverged", f"training loss {out.loss} in epoch {epoch}")
        metric = float(evaluate())
        if not math.isfinite(metric):
            return Outcome(epochs, "diverged", "diverged", f"test metric {metric} after epoch {epoch}")
        entry = {"epoch": epoch, "train_seconds_cumulative": seconds, "test_metric": metric,
                 "train_loss": None if out.loss is None else float(out.loss)}
        if out.extra:
            entry["extra"] = out.extra
        epochs.append(entry)
        if seconds >= time_budget_s and epoch < max_epochs:
            return Outcome(epochs, "ok", "time_budget")
    return Outcome(epochs, "ok", "max_epochs")
