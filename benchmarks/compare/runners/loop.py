"""The epoch loop every runner shares: train one epoch on the clock, stop the clock, evaluate, apply the stop
rule. Keeping it in one place is what makes "training seconds" mean the same thing for every competitor.

Memory likewise: the high-water mark (VmHWM) is reset before the setup and before each epoch and read after
it, so the training peak leaves out evaluation (whose batches of hidden activations can dwarf a B = 1 step).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from common import proc_status_kb, reset_peak_rss


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
    status: str  # ok | diverged | error
    stop_reason: str  # max_epochs | time_budget | diverged | error
    message: str = ""
    train_peak_kb: int | None = None  # highest VmHWM over setup and training epochs (None: no reset possible)
    seen_peak_kb: int = 0  # highest VmHWM read before any reset (the process's peak so far)


def run_epochs(setup, train_epoch, evaluate, max_epochs: int, time_budget_s: float) -> Outcome:
    """setup() runs on the clock once, before the first epoch (fitting scalers, copying data to tensors...);
    train_epoch() -> Trained; evaluate() -> test metric (off the clock).

    Stops after max_epochs, or after the first epoch that brings the cumulative training time to the budget.
    """
    epochs, seconds, peak = [], 0.0, _Peak()
    start = time.perf_counter()
    with peak:
        setup()
    seconds += time.perf_counter() - start
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        try:
            with peak:
                out = train_epoch()
        except Diverged as e:
            return Outcome(epochs, "diverged", "diverged", str(e)[:300], peak.kb, peak.seen)
        seconds += time.perf_counter() - start
        if out.loss is not None and not math.isfinite(out.loss):
            return Outcome(
                epochs, "diverged", "diverged", f"training loss {out.loss} in epoch {epoch}", peak.kb, peak.seen
            )
        metric = float(evaluate())
        if not math.isfinite(metric):
            return Outcome(
                epochs, "diverged", "diverged", f"test metric {metric} after epoch {epoch}", peak.kb, peak.seen
            )
        entry = {
            "epoch": epoch,
            "train_seconds_cumulative": seconds,
            "test_metric": metric,
            "train_loss": None if out.loss is None else float(out.loss),
        }
        if out.extra:
            entry["extra"] = out.extra
        epochs.append(entry)
        if seconds >= time_budget_s and epoch < max_epochs:
            return Outcome(epochs, "ok", "time_budget", "", peak.kb, peak.seen)
    return Outcome(epochs, "ok", "max_epochs", "", peak.kb, peak.seen)


class _Peak:
    """Context manager: kb, the VmHWM of the enclosed code, highest over every use (None off Linux); seen, the
    highest VmHWM read before each reset and after each use, so the process's own peak survives the resets."""

    def __init__(self):
        self.kb, self.seen = None, 0

    def __enter__(self):
        self.seen = max(self.seen, proc_status_kb("VmHWM") or 0)
        self._ok = reset_peak_rss()

    def __exit__(self, *exc):
        hwm = proc_status_kb("VmHWM") or 0
        self.seen = max(self.seen, hwm)
        if self._ok and hwm:
            self.kb = max(self.kb or 0, hwm)
