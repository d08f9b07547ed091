"""docs/benchmarks.md and one metric-vs-training-time plot per data set, from the JSON records alone (so
``run.py --only-report`` can rewrite them without running anything).

Every sentence of "Where hsrnet does not win, and why" is generated from the numbers: time to a target is
split into epochs-to-target x seconds-per-epoch, which says whether a competitor wins by cheaper epochs or
by needing fewer of them; hsrnet's own firing fraction and identification time say where its time went.
"""

from __future__ import annotations

import glob
import json
import os
from collections import defaultdict

from common import md_table

from .competitors import COMPETITORS, reference_name

ROUND_TARGETS = {"mnist": (0.95, 0.97, 0.975, 0.98), "letter": (0.90, 0.95), "california": (0.70, 0.75)}
SKLEARN_TARGET_FROM = "sklearn-mlp"  # Letter and California: its final score is a target too
SPHERE_TARGET_FRACTIONS = (0.1, 0.02, 0.005)  # target MSE = fraction x Var(y_test), the zero predictor's MSE
RUN_META = "_run.json"
# Differences the findings treat as ties (shuffling alone moves scores by about this much, see the same-model
# check): time to a target within 5 %, best scores within 0.1 point of accuracy or R^2, or 5 % of an MSE.
TIME_TIE = 1.05
SCORE_TIE = {"accuracy": 0.001, "r2": 0.001}
MSE_TIE = 1.05


# ------------------------------------------------------------------------------------------------ numbers


def load_records(json_dir):
    recs = []
    for path in sorted(glob.glob(os.path.join(json_dir, "*.json"))):
        if os.path.basename(path) != RUN_META:
            with open(path) as f:
                recs.append(json.load(f))
    return recs


def _higher(rec):
    return rec["metric"]["higher_is_better"]


def reached(rec, target):
    """(cumulative training seconds, epoch) when the test metric first reached target, or None."""
    for e in rec["epochs"]:
        if (e["test_metric"] >= target) if _higher(rec) else (e["test_metric"] <= target):
            return e["train_seconds_cumulative"], e["epoch"]
    return None


def best(rec):
    vals = [e["test_metric"] for e in rec["epochs"]]
    return (max(vals) if _higher(rec) else min(vals)) if vals else None


def final(rec):
    return rec["epochs"][-1]["test_metric"] if rec["epochs"] else None


def targets(dataset, recs):
    """The targets of a data set at one thread count, ascending in difficulty, with their labels."""
    task = recs[0]["data"]["task"]
    if task == "sphere":
        var = recs[0]["data"]["var_y_test"]
        return [(f * var, f"MSE {f * var:.3g} ({f:g} Var y)") for f in SPHERE_TARGET_FRACTIONS]
    out = [(t, _metric_text(recs[0], t)) for t in ROUND_TARGETS.get(dataset, ())]
    sk = next((r for r in recs if r["competitor"] == SKLEARN_TARGET_FROM and r["epochs"]), None)
    if sk is not None and dataset != "mnist":
        out.append((final(sk), f"{_metric_text(sk, final(sk))} (sklearn-mlp final)"))
    return sorted(out)


def _metric_text(rec, v):
    name = rec["metric"]["name"]
    return f"{100 * v:.1f} %" if name == "accuracy" else f"R² {v:.3f}" if name == "r2" else f"MSE {v:.3g}"


def _fmt_s(s):
    return "-" if s is None else f"{s:.3g} s" if s < 100 else f"{s:.0f} s"


def _ratio(a, b):
    return a / b if a and b and b > 0 else None


# ------------------------------------------------------------------------------------------------ tables


def table(dataset, recs):
    """Markdown table of one data set at one thread count; ratios are reference-hsrnet time / this time."""
    tg = targets(dataset, recs)
    by = {r["competitor"]: r for r in recs}
    ref = by.get(reference_name(recs[0]["data"]["task"], by))
    head = (
        ["competitor", "epochs (stop)"]
        + [f"time to {label}" for _, label in tg]
        + ["final", "best", "s/epoch", "peak RSS MB", "training peak MB", "above baseline MB"]
    )
    rows = []
    for r in recs:
        cells = [f"`{r['competitor']}`", f"{len(r['epochs'])} ({r['stop_reason']})"]
        for t, _ in tg:
            hit, ref_hit = reached(r, t), (reached(ref, t) if ref else None)
            if hit is None:
                cells.append("not reached")
                continue
            k = _ratio(ref_hit[0], hit[0]) if ref_hit and r is not ref else None
            cells.append(f"{_fmt_s(hit[0])} (ep {hit[1]})" + (f", {k:.2g}x" if k else ""))
        spe = r["seconds_per_epoch"]
        k = _ratio(ref["seconds_per_epoch"], spe) if ref and r is not ref else None
        cells += [
            _metric_text(r, final(r)) if r["epochs"] else r["status"],
            _metric_text(r, best(r)) if r["epochs"] else "-",
            (f"{spe:.3g}" + (f" ({k:.2g}x)" if k else "")) if spe else "-",
            f"{r['peak_rss_mb']:.0f}",
        ]
        tp = r["train_peak_rss_mb"]
        cells += [f"{tp:.0f}", f"{tp - r['baseline_rss_mb']:.0f}"] if tp else ["-", "-"]
        rows.append(cells)
    return md_table(head, rows), ref


# ------------------------------------------------------------------------------------------------ prose


def _hsrnet_best_time(recs, target):
    hits = [(reached(r, target), r) for r in recs if r["family"] == "hsrnet"]
    hits = [(h, r) for h, r in hits if h]
    return min(hits, key=lambda hr: hr[0][0]) if hits else (None, None)


def _why(r, hit, h_rec, h_hit):
    ec, eh = hit[1], h_hit[1]
    sc, sh = r["seconds_per_epoch"], h_rec["seconds_per_epoch"]
    cheaper, fewer = sh / sc, eh / ec
    reason = f"mostly cheaper epochs ({cheaper:.2g}x)" if cheaper >= fewer else f"mostly fewer epochs ({fewer:.2g}x)"
    return f"{ec} epoch(s) at {sc:.3g} s/epoch against {eh} at {sh:.3g} s/epoch: {reason}"


def findings(dataset, recs, ref):
    """Generated sentences: (where a competitor beats every hsrnet run and why, where hsrnet's time went)."""
    out, where = [], f"{dataset}, {recs[0]['threads']} thread(s)"
    hs = [r for r in recs if r["family"] == "hsrnet" and r["epochs"]]
    others = [r for r in recs if r["family"] != "hsrnet" and r["epochs"]]
    if not hs:
        return [f"{where}: no hsrnet run finished an epoch."], []
    for t, label in targets(dataset, recs):
        h_hit, h_rec = _hsrnet_best_time(recs, t)
        for r in others:
            hit = reached(r, t)
            if hit is None:
                continue
            if h_hit is None:
                out.append(
                    f"{where}: `{r['competitor']}` reaches {label} in {_fmt_s(hit[0])} (epoch {hit[1]}); no "
                    f"hsrnet run reached it (longest: {max(len(h['epochs']) for h in hs)} epochs)."
                )
            elif hit[0] * TIME_TIE < h_hit[0]:
                out.append(
                    f"{where}: `{r['competitor']}` reaches {label} in {_fmt_s(hit[0])}, "
                    f"{h_hit[0] / hit[0]:.2g}x sooner than the fastest hsrnet run (`{h_rec['competitor']}`, "
                    f"{_fmt_s(h_hit[0])}): {_why(r, hit, h_rec, h_hit)}."
                )
    h_top = max(hs, key=best) if _higher(hs[0]) else min(hs, key=best)
    for r in others:
        name = r["metric"]["name"]
        better = (best(r) > best(h_top) + SCORE_TIE[name]) if _higher(r) else best(r) * MSE_TIE < best(h_top)
        if better:
            out.append(
                f"{where}: `{r['competitor']}`'s best score, {_metric_text(r, best(r))}, beats the best "
                f"hsrnet run's, {_metric_text(h_top, best(h_top))} (`{h_top['competitor']}`)."
            )
    return out, (
        [time_spent(where, ref)]
        if ref and ref["epochs"] and "identify_seconds" in ref["epochs"][-1].get("extra", {})
        else []
    )


def time_spent(where, ref):
    """Firing fraction and the share of identification in hsrnet's reference run."""
    ex = [e["extra"] for e in ref["epochs"]]
    total = ref["epochs"][-1]["train_seconds_cumulative"]
    trainer = sum(e.get("trainer_seconds", 0.0) for e in ex) or total
    ident = sum(e["identify_seconds"] for e in ex)
    return (
        f"{where}: in `{ref['competitor']}` {100 * ex[0]['firing_fraction']:.1f} % of the neurons fired per "
        f"sample in epoch 1 and {100 * ex[-1]['firing_fraction']:.1f} % in epoch {len(ex)}; finding them took "
        f"{100 * ident / trainer:.0f} % of the trainer's time"
        + (
            f", and the trainer {100 * trainer / total:.0f} % of the estimator's (the rest: validating and "
            "mapping the inputs on every call)"
            if ex[-1].get("trainer_seconds")
            else ""
        )
        + "."
    )


def same_model_check(dataset, recs):
    """How closely torch-same tracks hsrnet's estimator at the same recipe (different shuffles)."""
    by = {r["competitor"]: r for r in recs}
    pairs = [("hsrnet-default", "torch-same"), ("hsrnet-sgd-auto", "torch-same-sphere")]
    for h, t in pairs:
        if h in by and t in by and by[h]["epochs"] and by[t]["epochs"]:
            a, b = by[h]["epochs"], by[t]["epochs"]
            n = min(len(a), len(b))
            gaps = [abs(a[i]["test_metric"] - b[i]["test_metric"]) for i in range(n)]
            i = max(range(n), key=gaps.__getitem__)
            k = _ratio(by[t]["seconds_per_epoch"], by[h]["seconds_per_epoch"])
            speed = (
                (
                    f"; its epochs take {k:.2g}x hsrnet's time ({by[t]['seconds_per_epoch']:.3g} vs "
                    f"{by[h]['seconds_per_epoch']:.3g} s)"
                )
                if k
                else ""
            )
            return (
                f"{dataset}, {recs[0]['threads']} thread(s): `{t}` (the same model, init and recipe, dense) "
                f"tracks `{h}` within {gaps[i]:.3g} ({by[h]['metric']['name']}) over {n} common epochs (largest "
                f"gap after epoch {i + 1}: {a[i]['test_metric']:.4g} vs {b[i]['test_metric']:.4g}){speed}."
            )
    return None


# ------------------------------------------------------------------------------------------------ plots


def plot(dataset, groups, path):
    """Test metric against cumulative training seconds (log axis), every competitor; line style = threads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(COMPETITORS)}
    styles = ["-", "--", ":", "-."]
    for k, (threads, recs) in enumerate(sorted(groups.items())):
        for r in recs:
            if not r["epochs"]:
                continue
            x = [e["train_seconds_cumulative"] for e in r["epochs"]]
            y = [e["test_metric"] for e in r["epochs"]]
            ax.plot(
                x,
                y,
                styles[k % 4],
                marker="o",
                ms=3,
                color=colors.get(r["competitor"]),
                label=f"{r['competitor']} ({threads} thr)",
            )
    first = next(iter(groups.values()))
    for t, _label in targets(dataset, first):
        ax.axhline(t, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    if first[0]["metric"]["name"] == "mse":
        ax.set_yscale("log")
    ax.set_xlabel("training seconds (cumulative, evaluation excluded)")
    ax.set_ylabel(f"test {first[0]['metric']['name']}")
    ax.set_title(dataset)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ document


def _machine_section(recs, meta):
    r0 = recs[0]
    kern = defaultdict(set)
    for r in recs:
        for p in r["kernels"]["threadpoolctl"]:
            kern[r["family"]].add(
                f"{p['internal_api']} {p.get('version') or ''} "
                f"({p.get('architecture') or p['user_api']}, {p['library']})".replace("  ", " ")
            )
    torch_rec = next((r for r in recs if r["kernels"]["torch"]), None)
    loads = [r["load_before"][0] for r in recs]
    busy = sorted({b.rsplit(" (", 1)[0] for r in recs for b in r["busy_processes"]})
    unset = sorted({v for r in recs for v in r["env"]["unset"]})
    L = [
        f"- machine: {r0['machine']}",
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in r0["versions"].items() if k != "torch")
        + (f", torch {torch_rec['versions']['torch']}" if torch_rec else ""),
        f"- 1-minute load before the runs: {min(loads):.2f} to {max(loads):.2f} (each run waited up to "
        f"{meta.get('load_wait_s', '?')} s for it to fall below {meta.get('max_load', '?')}); load before and "
        "after every run is in its JSON",
    ]
    L += [f"- kernels ({fam}): " + "; ".join(sorted(v)) for fam, v in sorted(kern.items())]
    if torch_rec:
        t = torch_rec["kernels"]["torch"]
        L.append(f"- torch: oneDNN (mkldnn) available: {t['mkldnn']}; build: " + "; ".join(t["config"][1:5]))
    L.append(
        "- thread variables: OMP/MKL/OPENBLAS_NUM_THREADS = the thread count, torch.set_num_threads, hsrnet "
        "n_jobs; "
        + (
            f"removed from the children: {', '.join(unset)}"
            if unset
            else "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were not set"
        )
    )
    L.append("- other busy processes seen before runs: " + ("; ".join(f"`{b}`" for b in busy[:8]) if busy else "none"))
    return L


def write(json_dir, out_md, png_dir):
    recs = load_records(json_dir)
    if not recs:
        raise SystemExit(f"no records in {json_dir}")
    runs = []
    if os.path.exists(os.path.join(json_dir, RUN_META)):
        with open(os.path.join(json_dir, RUN_META)) as f:
            runs = json.load(f)["runs"]
    order = {n: i for i, n in enumerate(COMPETITORS)}
    groups = defaultdict(lambda: defaultdict(list))
    first = ("mnist", "letter", "california")
    for r in sorted(
        recs,
        key=lambda r: (
            first.index(r["dataset"]) if r["dataset"] in first else len(first),
            r["dataset"],
            order.get(r["competitor"], len(order)),
        ),
    ):
        groups[r["dataset"]][r["threads"]].append(r)
    rel_png = os.path.relpath(png_dir, os.path.dirname(os.path.abspath(out_md)))
    L = [
        "# hsrnet against PyTorch and scikit-learn",
        "",
        "Generated by `benchmarks/compare/run.py` from the JSON records in "
        f"`{os.path.relpath(json_dir, os.path.dirname(os.path.abspath(out_md)))}/`; do not edit by hand.",
        "",
        "Command(s):",
        "",
    ]
    L += [
        f"- `{m['command']}`: {m['started_utc']} to {m['finished_utc']} ({m['elapsed_s']:.0f} s)"
        + (f"; **{m['mode']}** mode: a subset, not the full benchmark" if m["mode"] != "full" else "")
        for m in runs
    ] or ["- unknown (no _run.json)"]
    L += [""] + _machine_section(recs, runs[-1] if runs else {})
    L += ["", "Competitors:", ""] + [
        f"- `{c.name}`: {c.description}" for c in COMPETITORS.values() if any(r["competitor"] == c.name for r in recs)
    ]
    L += [
        "",
        "Times are training seconds (evaluation excluded), cumulative at the end of the epoch that first "
        "reached the target; `ep` is that epoch. `Nx` is the reference hsrnet run's time divided by this "
        "one's (above 1: this competitor is faster); the reference is `hsrnet-default` (sphere: "
        "`hsrnet-sgd-auto`). *Peak RSS*: the child process's VmHWM over its whole life (imports, data and "
        "evaluation included). Each run "
        "stops at its epoch limit or after the epoch that exhausts its time budget. *Training peak*: VmHWM over "
        "setup and training epochs only (reset before each, evaluation excluded); *above baseline*: that minus "
        "the RSS after imports and data loading, i.e. what training itself added.",
        "",
    ]
    prose, spent, checks = [], [], []
    for dataset, by_threads in groups.items():
        L.append(f"## {dataset}")
        L.append("")
        r0 = next(iter(by_threads.values()))[0]
        L.append(
            f"{r0['data']['n_train']} training / {r0['data']['n_test']} test samples, "
            f"{r0['data']['n_features']} features, metric {r0['metric']['name']}; stop rule: "
            f"{r0['stop_rule']['max_epochs']} epochs or {r0['stop_rule']['time_budget_s']:g} s of training."
        )
        for threads, rs in sorted(by_threads.items()):
            tab, ref = table(dataset, rs)
            L += ["", f"### {dataset}, {threads} thread(s)", "", tab]
            failed = [r for r in rs if r["status"] != "ok"]
            if failed:
                L += [""] + [
                    f"- `{r['competitor']}` {r['status']} after {len(r['epochs'])} epoch(s): {r['message']}"
                    for r in failed
                ]
            losses, facts = findings(dataset, rs, ref)
            prose += losses
            spent += facts
            check = same_model_check(dataset, rs)
            if check:
                checks.append(check)
        png = os.path.join(png_dir, f"{dataset}.png")
        plot(dataset, by_threads, png)
        L += ["", f"![{dataset}]({os.path.join(rel_png, dataset + '.png')})", ""]
    L += ["## Same model in PyTorch", ""] + [f"- {c}" for c in checks] + [""]
    L += ["## Where hsrnet does not win, and why", ""]
    L += [
        "Every sentence below is computed from the tables. Ties are left out: a time to target within 5 %, "
        "a best score within 0.1 point (accuracy, R²) or 5 % (MSE).",
        "",
    ]
    L += [f"- {p}" for p in prose] if prose else ["- hsrnet reached every target first and scored best."]
    L += ["", "Where hsrnet's training time went:", ""] + [f"- {p}" for p in spent]
    L += [
        "",
        "## How epochs are driven",
        "",
        "- hsrnet estimators: `fit` with `warm_start=True, max_iter=1` per epoch. The first epoch equals "
        "`fit(max_iter=k)`'s bit for bit; later epochs shuffle differently (each call reseeds the shuffling from "
        "(seed, epochs done); one `fit` shuffles all its epochs from one stream), so the curves match one `fit` "
        "statistically. The estimator keeps one trainer, so the solver's state (Adagrad's sums...) carries over "
        "from call to call: without shuffling, epoch by epoch equals one `fit` exactly (tested). "
        "`partial_fit` gives exactly the same weights as this driver.",
        "- scikit-learn MLP: `partial_fit` with a `RandomState` instance: `warm_start=True, max_iter=1` would "
        "restart Adam (a new optimizer per `fit` call), and an int seed would replay one shuffle every epoch.",
        "- PyTorch: one optimizer for the whole run, a reshuffle per epoch from a seeded generator.",
        "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write("\n".join(L))
    return out_md
