"""Training with a progress bar: the fit on the main thread (Ctrl-C reaches it), the bar in a helper thread."""

from __future__ import annotations


def _fit_with_progress(est, X, y, show):
    """est.fit(X, y) on this (the main) thread, so Ctrl-C reaches it: the C++ epochs poll for KeyboardInterrupt
    between steps. A helper thread draws a bar over epochs from the fitted attributes the estimator fills in as
    it goes; it never calls into the compiled core. Warnings are collected and returned."""
    import threading
    import warnings

    from ..demo import make_bar

    stop = threading.Event()
    bar = make_bar(est.max_iter, "training", show, unit="epoch")

    def draw():
        done = 0
        while True:
            finished = stop.wait(0.1)
            curve = list(getattr(est, "loss_curve_", None) or [])
            if len(curve) > done:
                bar.set_postfix_str(f"loss {curve[-1]:.4g}", refresh=False)
                bar.update(len(curve) - done)
                done = len(curve)
            if finished:
                return

    drawer = threading.Thread(target=draw, name="hsrnet-progress", daemon=True) if show else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if drawer is not None:
                drawer.start()
            est.fit(X, y)
        finally:
            stop.set()
            if drawer is not None:
                drawer.join(1.0)
            bar.close()
    return [w for w in caught]
