#!/usr/bin/env python3
"""Side-by-side benchmark of hsrnet's exact half-space reporting index against numpy and FAISS.

Requirements (the ``bench`` extra of the project: ``pip install .[bench]``):
    hsrnet (this repository), numpy, faiss-cpu, matplotlib, threadpoolctl

Every contender answers the same question: for each unit-norm query x, the ids of the rows w of W with
<w, x> > b, as an ascending per-query id list. W ~ N(0, I) float32 (m rows of dimension d), b = sqrt(0.4 ln m).

    hsrnet  one HalfSpaceIndex per (m, d), backend= passed per call: scan, gemm, tree (d <= 32 only), auto
    numpy   P = X @ W.T; P > b; np.flatnonzero per query
    faiss   IndexFlatIP(d).add(W); lims, D, I = range_search(X, b); then every query's ids sorted in place
            (counted in the time, so that its output matches the others; the unsorted time is reported too)

Batch 1: several different queries, median time per query. Batch 256: median time per batch of a few
repeats (adaptive: fewer for the slow points). Each grid point is checked once: every hsrnet backend must
return exactly the ids of hsrnet scan; numpy and FAISS may differ only on rows within float rounding of b
(counted and reported, not an error).

    python benchmarks/bench_index.py                 # the full grid (about 10 minutes on 2 quiet cores)
    python benchmarks/bench_index.py --quick         # smoke test (seconds)

Writes a markdown table (--out-md, default docs/index_benchmark.md) and a plot (--out-png, default
docs/index_benchmark.png) and prints the table.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

FULL_M = (2**14, 2**17, 2**20)
FULL_D = (2, 4, 8, 32, 128, 784)
QUICK_M = (2**12, 2**14)
QUICK_D = (2, 4, 32, 128)
TREE_MAX_D = 32
HSR_BACKENDS = ("scan", "gemm", "tree", "auto")
CONTENDERS = HSR_BACKENDS + ("numpy", "faiss")
SETTLE_S = 0.3  # pause before each contender when threads > 1 (see run_md)
MAX_ATTEMPTS = 3  # times a contender is timed when other processes disturb it


def _int_list(text):
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "^" in part:  # 2^20
            base, exp = part.split("^")
            out.append(int(base) ** int(exp))
        elif part.startswith("2**"):
            out.append(2 ** int(part[3:]))
        else:
            out.append(int(part))
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: m in {list(QUICK_M)}, d in {list(QUICK_D)}, short time budgets",
    )
    p.add_argument("--threads", type=_int_list, default=[1, 2], help="thread counts (default 1,2)")
    p.add_argument("--m", type=_int_list, default=None, help="row counts, e.g. 2^14,2^17,2^20 (default)")
    p.add_argument("--d", type=_int_list, default=None, help="dimensions (default 2,4,8,32,128,784)")
    p.add_argument("--batch", type=_int_list, default=[1, 256], help="batch sizes (default 1,256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        help="seconds to wait for a quiet machine before a point or a retiming (default 300); 0: never "
        "wait or retime, only mark disturbed measurements",
    )
    p.add_argument(
        "--wait-budget",
        type=float,
        default=1200.0,
        help="total seconds the run may spend waiting for a quiet machine (default 1200); after that it "
        "goes on without waiting or retiming and marks disturbed measurements",
    )
    p.add_argument("--out-md", default=os.path.join(REPO, "docs", "index_benchmark.md"))
    p.add_argument("--out-png", default=os.path.join(REPO, "docs", "index_benchmark.png"))
    args = p.parse_args(argv)
    if args.m is None:
        args.m = list(QUICK_M if args.quick else FULL_M)
    if args.d is None:
        args.d = list(QUICK_D if args.quick else FULL_D)
    if min(args.threads) < 1 or min(args.m) < 1 or min(args.d) < 1 or min(args.batch) < 1:
        p.error("--threads, --m, --d and --batch take positive integers")
    return args


ARGS = parse_args() if __name__ == "__main__" else None

# Pin every thread pool to the largest thread count used, before numpy (and its BLAS) is imported; each
# measurement then lowers it: hsrnet through the index's n_threads, BLAS/OpenMP through threadpoolctl,
# FAISS through faiss.omp_set_num_threads.
if ARGS is not None:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(max(ARGS.threads))

import datetime  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from common import machine_description, repo_revision  # noqa: E402  (the script's folder is on sys.path)

# ----------------------------------------------------------------------------------------------- timing


class Budget:
    """How many calls to time. Batch 1: up to `queries` different queries (at least `min_queries`) until
    `seconds` of timed work per contender. Batch > 1: up to `reps` repeats (at least `min_reps`) until
    `seconds`; a batch whose first timed call took `slow` seconds or more is timed once."""

    def __init__(self, quick):
        self.queries = 15 if quick else 41
        self.min_queries = 5
        self.seconds_single = 0.3 if quick else 1.5
        self.reps = 3 if quick else 5
        self.min_reps = 2
        self.seconds_batch = 0.5 if quick else 6.0
        self.slow = 1.0 if quick else 8.0


def time_single(fn, x_warm, Xq, budget, after=None):
    """fn(x) -> ids. One warm-up query, then one call per query of Xq; after() runs after each timed call,
    outside the timed window. Returns (times, outputs)."""
    fn(x_warm)
    times, outs = [], []
    for i in range(min(budget.queries, Xq.shape[0])):
        x = Xq[i]
        t0 = time.perf_counter()
        out = fn(x)
        times.append(time.perf_counter() - t0)
        outs.append(out)
        if after is not None:
            after()
        if len(times) >= budget.min_queries and sum(times) > budget.seconds_single:
            break
    return times, outs


def time_batch(fn, X, budget):
    """fn(X) -> (output, extra). Returns (times, output of the first call, extra of each call)."""
    times, extras, first = [], [], None
    while len(times) < budget.reps and (len(times) < budget.min_reps or sum(times) < budget.seconds_batch):
        t0 = time.perf_counter()
        out, extra = fn(X)
        times.append(time.perf_counter() - t0)
        extras.append(extra)
        if first is None:
            first = out
        del out
        if times[0] >= budget.slow:
            break
    return times, first, extras


class CpuMonitor:
    """CPU time used by everything but this process (other processes, and the hypervisor's steal), from
    /proc/stat. The benchmark shares its machine: it waits for the machine to go quiet before each point
    and times a contender again when something else ran during its measurement."""

    def __init__(self, quiet_cores=0.15, max_wait_s=300.0, total_wait_s=1200.0):
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.quiet_cores = quiet_cores
        self.max_wait_s = max_wait_s
        self.total_wait_s = total_wait_s
        self.ok = self._busy() is not None
        self.waited_s = 0.0

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal (guest time is already inside user)
        return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)

    def snapshot(self):
        t = os.times()
        return (self._busy() if self.ok else 0, time.perf_counter(), t.user + t.system)

    def foreign_seconds(self, a, b):
        """CPU seconds spent outside this process between two snapshots (jiffy resolution, 1/HZ)."""
        if not self.ok:
            return 0.0
        return max(0.0, (b[0] - a[0]) / self.hz - (b[2] - a[2]))

    def busy(self, a, b):
        """Whether something else used noticeably more than nothing between two snapshots."""
        return self.foreign_seconds(a, b) > 3.0 / self.hz + 0.1 * (b[1] - a[1])

    def may_wait(self):
        """False once waiting is switched off or the run's total waiting budget is spent."""
        return self.ok and self.max_wait_s > 0 and self.waited_s < self.total_wait_s

    def wait_quiet(self, log=None):
        """Blocks until other processes use under quiet_cores cores over 0.3 s (or max_wait_s, or until the
        total waiting budget is spent)."""
        if not self.may_wait():
            return 0.0
        t0 = time.perf_counter()
        told = False
        while True:
            a = self.snapshot()
            time.sleep(0.3)
            b = self.snapshot()
            load = self.foreign_seconds(a, b) / (b[1] - a[1])
            waited = time.perf_counter() - t0
            if load < self.quiet_cores or waited > self.max_wait_s or self.waited_s + waited - 0.3 > self.total_wait_s:
                self.waited_s += waited - 0.3
                return load
            if log is not None and not told:
                log(f"   (machine busy: other processes use {load:.2f} cores; waiting up to {self.max_wait_s:.0f} s)")
                told = True
            time.sleep(1.5)


# ----------------------------------------------------------------------------------------------- checks


def csr_lists(offsets, indices):
    return [indices[offsets[q] : offsets[q + 1]] for q in range(len(offsets) - 1)]


def count_mismatches(got_lists, ref_lists):
    """Total size of the per-query symmetric differences, and the rows involved as (query, row) pairs."""
    total, pairs = 0, []
    for q, (a, r) in enumerate(zip(got_lists, ref_lists)):
        if len(a) == len(r) and np.array_equal(a, r):
            continue
        diff = np.setxor1d(np.asarray(a, dtype=np.int64), np.asarray(r, dtype=np.int64))
        total += diff.size
        pairs.extend((q, int(row)) for row in diff[:1000])
    return total, pairs


def worst_margin(W, queries, pairs, b):
    """Largest |<w, x> - b| (float64) over mismatched (query, row) pairs: tiny when they are rounding."""
    worst = 0.0
    for q, row in pairs:
        v = float(np.dot(W[row].astype(np.float64), queries[q].astype(np.float64)))
        worst = max(worst, abs(v - float(b)))
    return worst


# ----------------------------------------------------------------------------------------------- machine


def mem_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def needed_bytes(m, d, max_batch):
    # W plus the largest of: the index's padded copy (+ a tree's boxes for small d), numpy's product and mask,
    # FAISS's copy (run_md holds one of them at a time).
    stride = -(-d // 16) * 16
    index = m * stride * 4 + (m * 16 * 4 if d <= TREE_MAX_D else 0)
    return m * d * 4 + max(index, max_batch * m * 5, m * d * 4)


# ----------------------------------------------------------------------------------------------- one (m, d)


def unit_queries(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def run_md(m, d, args, budget, rng, hsrnet, faiss, threadpool_limits, log, monitor):
    """All thread counts and batch sizes for one (m, d). Returns a list of result rows (dicts).

    The contenders run one library at a time (hsrnet's index, then numpy, then FAISS's index), so that at most
    W and one library's copy of it are held at once; the checks run at the end, on the kept outputs."""
    b = np.float32(np.sqrt(0.4 * np.log(m)))
    t0 = time.perf_counter()
    W = rng.standard_normal((m, d), dtype=np.float32)
    t_gen = time.perf_counter() - t0
    have_tree = d <= TREE_MAX_D
    log(f"== m = {m:,} (2^{int(np.log2(m))}), d = {d}, b = {float(b):.4f}: data {t_gen:.2f} s")

    Xq1 = unit_queries(rng, budget.queries, d)
    x_warm = unit_queries(rng, 1, d)[0]
    Xbatch = {n: unit_queries(rng, n, d) for n in args.batch if n > 1}
    Xwarm = {n: unit_queries(rng, min(n, 16), d) for n in args.batch if n > 1}

    combos = [(t, n) for t in args.threads for n in args.batch]
    res_of = {
        c: {"threads": c[0], "m": m, "d": d, "batch": c[1], "b": float(b), "retimed": [], "disturbed": []}
        for c in combos
    }
    outs_of = {c: {} for c in combos}

    def measure(name, t, n, single_fn, batch_fn, index=None):
        """Times one contender at (t, n) (retimed when other processes disturbed it) into res_of/outs_of."""
        res = res_of[(t, n)]
        if t > 1:
            # Let the previous contender's idle pool threads (OpenBLAS, OpenMP) stop spinning:
            # with 2 cores they would steal this contender's second core.
            time.sleep(SETTLE_S)
        attempts = MAX_ATTEMPTS if monitor.may_wait() else 1
        for attempt in range(attempts):
            snap0 = monitor.snapshot()
            chosen_list = []
            if n == 1:
                after = (lambda: chosen_list.append(index.stats()["last_backend"])) if name == "auto" else None
                gc.collect()
                times, o = time_single(single_fn, x_warm, Xq1, budget, after)
            else:
                gc.collect()
                batch_fn(Xwarm[n])  # warm-up: a few other queries
                before = index.stats() if name == "auto" else None
                times, first, extras = time_batch(batch_fn, Xbatch[n], budget)
                if name == "auto":
                    now = index.stats()
                    chosen_list = [k[:-6] for k in ("scan_calls", "gemm_calls", "tree_calls") if now[k] > before[k]]
                if name == "numpy":
                    o = first
                else:
                    o = csr_lists(*first)
                if name == "faiss":
                    res["faiss_search"] = statistics.median(extras)
                del first
            if not monitor.busy(snap0, monitor.snapshot()):
                break
            if attempt + 1 < attempts and monitor.may_wait():
                log(f"   t={t} batch={n} {name}: other processes ran during the measurement; timing it again")
                monitor.wait_quiet(log)
                if t > 1:
                    time.sleep(SETTLE_S)
            else:
                res["disturbed"].append(name)
                break
        if attempt:
            res["retimed"].append(name)
        res[name] = statistics.median(times)
        res[name + "_n"] = len(times)
        if name == "auto":
            res["auto_choice"] = "/".join(sorted(set(chosen_list)))
        outs_of[(t, n)][name] = o

    # ---- hsrnet: one index, every backend
    t0 = time.perf_counter()
    index = hsrnet.HalfSpaceIndex(W, n_threads=max(args.threads), tree_max_dim=TREE_MAX_D)
    log(f"   hsrnet index built in {time.perf_counter() - t0:.2f} s (tree: {index.has_tree})")
    for t, n in combos:
        index.n_threads = t
        with threadpool_limits(limits=t):
            monitor.wait_quiet(log)
            for name in HSR_BACKENDS:
                if name == "tree" and not have_tree:
                    res_of[(t, n)][name] = None
                    continue
                measure(
                    name,
                    t,
                    n,
                    lambda x, _be=name: index.query(x, b, backend=_be),
                    lambda X, _be=name: (index.query_batch(X, b, backend=_be), None),
                    index,
                )
    index = None  # frees the index's copy of W
    gc.collect()

    # ---- numpy
    def np_single(x):
        P = x[None, :] @ W.T
        return np.flatnonzero(P[0] > b)

    def np_batch(X):
        P = X @ W.T
        M = P > b
        return [np.flatnonzero(M[q]) for q in range(X.shape[0])], None

    for t, n in combos:
        with threadpool_limits(limits=t):
            monitor.wait_quiet(log)
            measure("numpy", t, n, np_single, np_batch)
    gc.collect()

    # ---- FAISS
    t0 = time.perf_counter()
    findex = faiss.IndexFlatIP(d)
    findex.add(W)
    log(f"   faiss index built in {time.perf_counter() - t0:.2f} s")

    def faiss_single(x):
        _, _, I = findex.range_search(x[None, :], float(b))
        I.sort()
        return I

    def faiss_batch(X):
        t0 = time.perf_counter()
        lims, _, I = findex.range_search(X, float(b))
        t_search = time.perf_counter() - t0
        for q in range(X.shape[0]):  # ids only; D is not needed and not reordered
            I[lims[q] : lims[q + 1]].sort()
        return (lims, I), t_search

    for t, n in combos:
        faiss.omp_set_num_threads(t)
        with threadpool_limits(limits=t):
            monitor.wait_quiet(log)
            measure("faiss", t, n, faiss_single, faiss_batch)
    findex = None  # frees FAISS's copy of W
    gc.collect()

    # ---- checks: every contender against hsrnet scan, on the queries both answered
    rows = []
    for t, n in combos:
        res, outs = res_of[(t, n)], outs_of[(t, n)]
        ref = outs["scan"]
        queries = Xq1 if n == 1 else Xbatch[n]
        bad_hsr, mism = [], {}
        for name in CONTENDERS:
            if name == "scan" or name not in outs:
                continue
            k = min(len(ref), len(outs[name]))
            total, pairs = count_mismatches(outs[name][:k], ref[:k])
            if name in HSR_BACKENDS:
                if total:
                    bad_hsr.append(f"{name}:{total}")
            else:
                mism[name] = total
                if total:
                    res[name + "_margin"] = worst_margin(W, queries, pairs, b)
        res["numpy_mism"] = mism.get("numpy", 0)
        res["faiss_mism"] = mism.get("faiss", 0)
        res["hsr_exact"] = not bad_hsr
        res["hsr_bad"] = ",".join(bad_hsr)
        res["found"] = float(np.mean([len(a) for a in ref]))
        best = min((res[k], k) for k in ("scan", "gemm", "tree") if res.get(k) is not None)
        res["best"] = best[1]
        res["auto_vs_best"] = res["auto"] / best[0]
        rows.append(res)
        log(format_log_row(res))
    outs_of = W = None
    gc.collect()
    return rows


# ----------------------------------------------------------------------------------------------- output


def fmt_ms(seconds):
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    if ms >= 0.1:
        return f"{ms:.3f}"
    return f"{ms:.4f}"


def ratio(a, b):
    if a is None or b is None:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}x"


def log2s(m):
    e = int(round(np.log2(m)))
    return f"2^{e}" if 2**e == m else f"{m}"


def format_log_row(r):
    parts = [f"t={r['threads']} m={log2s(r['m'])} d={r['d']} batch={r['batch']}:"]
    for k in CONTENDERS:
        parts.append(f"{k} {fmt_ms(r.get(k))}" + (f"[{r['auto_choice']}]" if k == "auto" else ""))
    parts.append(f"faiss-unsorted {fmt_ms(r.get('faiss_search'))}" if r["batch"] > 1 else "")
    parts.append(f"auto/best({r['best']}) {r['auto_vs_best']:.2f}")
    parts.append(f"mismatch np {r['numpy_mism']} faiss {r['faiss_mism']}")
    if not r["hsr_exact"]:
        parts.append(f"HSRNET BACKENDS DISAGREE WITH SCAN: {r['hsr_bad']}")
    if r["retimed"]:
        parts.append(f"retimed: {','.join(r['retimed'])}")
    if r["disturbed"]:
        parts.append(f"STILL DISTURBED: {','.join(r['disturbed'])}")
    return " ".join(p for p in parts if p) + " (ms)"


HEADER = [
    "threads",
    "m",
    "d",
    "batch",
    "found/q",
    "scan",
    "gemm",
    "tree",
    "auto (pick)",
    "numpy",
    "faiss",
    "faiss unsorted",
    "numpy/tree",
    "faiss/tree",
    "numpy/gemm",
    "faiss/gemm",
    "auto/best (best)",
    "mismatch np/faiss",
]


def table_rows(rows):
    out = []
    for r in rows:

        def t(name):
            v = fmt_ms(r.get(name))
            return v + "*" if name in r["disturbed"] else v

        mism = f"{r['numpy_mism']}/{r['faiss_mism']}"
        if not r["hsr_exact"]:
            mism += f" HSRNET {r['hsr_bad']}"
        out.append(
            [
                str(r["threads"]),
                log2s(r["m"]),
                str(r["d"]),
                str(r["batch"]),
                f"{r['found']:.0f}",
                t("scan"),
                t("gemm"),
                t("tree"),
                f"{t('auto')} ({r['auto_choice']})",
                t("numpy"),
                t("faiss"),
                fmt_ms(r.get("faiss_search")) if r["batch"] > 1 else "-",
                fmt_ratio(ratio(r["numpy"], r["tree"])),
                fmt_ratio(ratio(r["faiss"], r["tree"])),
                fmt_ratio(ratio(r["numpy"], r["gemm"])),
                fmt_ratio(ratio(r["faiss"], r["gemm"])),
                f"{r['auto_vs_best']:.2f} ({r['best']})",
                mism,
            ]
        )
    return out


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def target_sections(rows, m_big):
    """The ratios the project targets, as markdown lines (also printed)."""
    lines = []
    one = [r for r in rows if r["threads"] == 1]
    lines.append(f"### (a) tree at batch 1, m = {log2s(m_big)}, 1 thread (targets: 10x at d = 2, 3x at d = 4)")
    lines.append("")
    lines.append("| d | tree ms | numpy ms | faiss ms | numpy/tree | faiss/tree | target | met |")
    lines.append("|---|---|---|---|---|---|---|---|")
    found = False
    for d, target in ((2, 10.0), (4, 3.0)):
        for r in one:
            if r["m"] == m_big and r["d"] == d and r["batch"] == 1 and r["tree"] is not None:
                found = True
                rn, rf = r["numpy"] / r["tree"], r["faiss"] / r["tree"]
                met = (
                    "yes"
                    if rn >= target and rf >= target
                    else ("numpy only" if rn >= target else ("faiss only" if rf >= target else "no"))
                )
                lines.append(
                    f"| {d} | {fmt_ms(r['tree'])} | {fmt_ms(r['numpy'])} | {fmt_ms(r['faiss'])} | "
                    f"{rn:.2f}x | {rf:.2f}x | {target:.0f}x | {met} |"
                )
    if not found:
        lines.append("| (not in this run) | | | | | | | |")
    lines.append("")
    lines.append("### (b) gemm at batch 256, d >= 128, 1 thread (targets: >= 1x numpy, >= 1.5x FAISS)")
    lines.append("")
    lines.append("| m | d | gemm ms | numpy ms | faiss ms (unsorted) | numpy/gemm | faiss/gemm (unsorted) | met |")
    lines.append("|---|---|---|---|---|---|---|---|")
    found = False
    for r in one:
        if r["batch"] == 256 and r["d"] >= 128:
            found = True
            rn, rf = r["numpy"] / r["gemm"], r["faiss"] / r["gemm"]
            rfu = r["faiss_search"] / r["gemm"]
            met = "yes" if rn >= 1.0 and rf >= 1.5 else "no"
            lines.append(
                f"| {log2s(r['m'])} | {r['d']} | {fmt_ms(r['gemm'])} | {fmt_ms(r['numpy'])} | "
                f"{fmt_ms(r['faiss'])} ({fmt_ms(r['faiss_search'])}) | {rn:.2f}x | "
                f"{rf:.2f}x ({rfu:.2f}x) | {met} |"
            )
    if not found:
        lines.append("| (not in this run) | | | | | | | |")
    lines.append("")
    lines.append("### (c) auto vs the best hsrnet backend at every grid point (target: within 1.2x)")
    lines.append("")
    for t in sorted({r["threads"] for r in rows}):
        sub = [r for r in rows if r["threads"] == t]
        bad = [r for r in sub if r["auto_vs_best"] > 1.2]
        worst = max(sub, key=lambda r: r["auto_vs_best"])
        lines.append(
            f"- {t} thread{'s' if t > 1 else ''}: {len(sub) - len(bad)} of {len(sub)} points within 1.2x; "
            f"worst {worst['auto_vs_best']:.2f}x (m = {log2s(worst['m'])}, d = {worst['d']}, "
            f"batch {worst['batch']}, auto picked {worst['auto_choice']}, best {worst['best']})."
        )
        for r in bad:
            lines.append(
                f"  - over 1.2x: m = {log2s(r['m'])}, d = {r['d']}, batch {r['batch']}: auto "
                f"{fmt_ms(r['auto'])} ms ({r['auto_choice']}) vs {r['best']} "
                f"{fmt_ms(r[r['best']])} ms = {r['auto_vs_best']:.2f}x"
            )
    return lines


def plot(rows, path, batches, ds):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    one = [r for r in rows if r["threads"] == 1]
    if not one:
        return False
    batches = [n for n in batches if any(r["batch"] == n for r in one)]
    ds = [d for d in ds if any(r["d"] == d for r in one)]
    fig, axes = plt.subplots(
        len(batches), len(ds), figsize=(3.2 * len(ds), 3.0 * len(batches)), squeeze=False, sharex=True
    )
    styles = {
        "scan": ("tab:blue", "o", "-"),
        "gemm": ("tab:orange", "s", "-"),
        "tree": ("tab:green", "^", "-"),
        "auto": ("black", "x", ":"),
        "numpy": ("tab:red", "v", "--"),
        "faiss": ("tab:purple", "D", "--"),
    }
    for i, n in enumerate(batches):
        for j, d in enumerate(ds):
            ax = axes[i][j]
            pts = sorted((r for r in one if r["batch"] == n and r["d"] == d), key=lambda r: r["m"])
            for name in CONTENDERS:
                xs = [r["m"] for r in pts if r.get(name) is not None]
                ys = [r[name] / n for r in pts if r.get(name) is not None]
                if xs:
                    c, mk, ls = styles[name]
                    ax.plot(xs, ys, color=c, marker=mk, linestyle=ls, label=name, markersize=4)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"d = {d}, batch {n}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if j == 0:
                ax.set_ylabel("seconds per query")
            if i == len(batches) - 1:
                ax.set_xlabel("m (rows)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(
        "Exact half-space reporting, 1 thread: time per query (batch > 1: batch time / batch)", y=0.99, fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 0.90))
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=len(CONTENDERS),
        frameon=False,
        bbox_to_anchor=(0.5, 0.955),
        fontsize=9,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------------------------- main


def main(args):
    import faiss
    import hsrnet
    from threadpoolctl import threadpool_info, threadpool_limits

    started = time.perf_counter()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])
    budget = Budget(args.quick)
    rng = np.random.default_rng(args.seed)
    monitor = CpuMonitor(max_wait_s=max(0.0, args.max_wait), total_wait_s=max(0.0, args.wait_budget))

    def log(msg):
        print(msg, flush=True)

    machine = machine_description()
    revision = repo_revision()
    try:
        built = datetime.datetime.fromtimestamp(os.path.getmtime(hsrnet._core.__file__)).astimezone()
        built = built.strftime("%Y-%m-%d %H:%M %Z")
    except (AttributeError, OSError):
        built = "unknown"
    blas = [
        f"{i.get('prefix')} {i.get('version')} ({i.get('architecture', i.get('threading_layer', ''))})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    log(f"hsrnet index benchmark: {command}")
    log(f"machine: {machine}")
    log(f"numpy {np.__version__}, faiss {faiss.__version__}, hsrnet {hsrnet.__version__}, BLAS: {'; '.join(blas)}")
    log(f"threads {args.threads}, m {args.m}, d {args.d}, batch {args.batch}")

    rows, dropped = [], []
    avail = mem_available_bytes()
    for m in args.m:
        for d in args.d:
            need = needed_bytes(m, d, max(args.batch))
            if avail is not None and need > 0.8 * avail:
                dropped.append((m, d, need))
                log(
                    f"== m = {m:,}, d = {d}: dropped, needs ~{need / 2**30:.1f} GiB of {avail / 2**30:.1f} GiB available"
                )
                continue
            rows += run_md(m, d, args, budget, rng, hsrnet, faiss, threadpool_limits, log, monitor)
    elapsed = time.perf_counter() - started

    trows = table_rows(rows)
    table = markdown_table(HEADER, trows)
    m_big = max(args.m)
    targets = target_sections(rows, m_big)
    hsr_ok = all(r["hsr_exact"] for r in rows)

    print()
    print(table)
    print()
    print("\n".join(targets))
    print()
    print(
        f"total runtime {elapsed / 60:.1f} min (waited {monitor.waited_s:.0f} s for a quiet machine); "
        f"hsrnet backends agree with scan everywhere: {hsr_ok}; retimed "
        f"{sum(len(r['retimed']) for r in rows)}, still disturbed {sum(len(r['disturbed']) for r in rows)}"
    )

    png_ok = plot(rows, args.out_png, args.batch, args.d) if args.out_png else False

    n_retimed = sum(len(r["retimed"]) for r in rows)
    n_disturbed = sum(len(r["disturbed"]) for r in rows)
    md = []
    md.append("# Index benchmark: hsrnet vs numpy vs FAISS")
    md.append("")
    md.append("Generated by `benchmarks/bench_index.py`; every number below comes from this one run.")
    md.append("")
    md.append(f"- Command: `{command}`")
    md.append(f"- Date: {date}; total runtime {elapsed / 60:.1f} min")
    md.append(f"- Machine: {machine}")
    md.append(
        f"- Software: Python {platform.python_version()}, numpy {np.__version__}, faiss-cpu "
        f"{faiss.__version__}, hsrnet {hsrnet.__version__} (installed package built {built}; repository at "
        f"{revision} when the run started); "
        f"BLAS: {'; '.join(blas)}"
    )
    md.append(
        f"- Grid: threads {args.threads}, m {[log2s(m) for m in args.m]}, d {args.d}, batch {args.batch}"
        + ("" if not dropped else "; dropped (memory): " + ", ".join(f"m = {log2s(m)}, d = {d}" for m, d, _ in dropped))
    )
    md.append("")
    md.append("## Setup")
    md.append("")
    md.append(
        "- Rows W ~ N(0, I), float32, m x d; queries unit-norm float32; threshold b = sqrt(0.4 ln m). "
        "Every contender returns, per query, the ascending ids of the rows w with <w, x> > b."
    )
    md.append(
        f"- hsrnet: one `HalfSpaceIndex(W, n_threads=..., tree_max_dim={TREE_MAX_D})` per (m, d); the "
        'backend is passed per call. The tree exists only for d <= 32 ("n/a" above that). '
        "`auto` is timed after the other backends, on the same index, so its cost model has seen tree "
        "queries; the backend(s) it picked during the timed calls are shown in parentheses. Batch 1 uses "
        "`query`, batch 256 `query_batch` (CSR output, already sorted)."
    )
    md.append("- numpy: `P = X @ W.T`, `P > b`, `np.flatnonzero` per query.")
    md.append(
        "- Order, per (m, d): all hsrnet backends at every (threads, batch), then the index is freed; numpy; "
        "then FAISS's index is built and timed. At most W and one library's copy of it are held at once."
    )
    md.append(
        "- FAISS: `IndexFlatIP(d)` holding W, `lims, D, I = index.range_search(X, b)`, then each query's "
        "ids sorted in place. **The sort is counted** in the `faiss` column (so that its output matches the "
        "others'); `faiss unsorted` is the `range_search` call alone, from the same calls."
    )
    md.append(
        "- Threads: OMP/OPENBLAS/MKL_NUM_THREADS set to the largest thread count before numpy is imported; "
        "per measurement hsrnet uses the index's `n_threads`, numpy's BLAS `threadpoolctl.threadpool_limits`, "
        "FAISS `faiss.omp_set_num_threads`."
    )
    md.append(
        "- Several libraries' thread pools share 2 cores: an idle OpenBLAS or OpenMP pool keeps its threads "
        "spinning for a while after a call (OpenBLAS about 0.1 s), which took the second core from the next "
        f"contender (FAISS ran up to 10x slower at 2 threads right after numpy). With more than one thread "
        f"the benchmark therefore pauses {SETTLE_S:g} s before each contender; the calls of one contender "
        "follow each other without pauses."
    )
    if monitor.max_wait_s > 0:
        md.append(
            "- The machine may be shared: before each point the benchmark waits (up to "
            f"{monitor.max_wait_s:g} s, `--max-wait`, and {monitor.total_wait_s:g} s in all, `--wait-budget`) until other processes use under {monitor.quiet_cores:g} "
            f"cores (from /proc/stat, steal included; {monitor.waited_s:.0f} s waited in all), and a contender "
            "during whose measurement other processes used more than 10% of a core is timed again (up to "
            f"{MAX_ATTEMPTS} times in all; {n_retimed} contender measurements were retimed). "
            + (
                f"**{n_disturbed} measurements stayed disturbed (after the retries, or once the waiting "
                "budget was spent); they are marked with * in the table.**"
                if n_disturbed
                else "No measurement stayed disturbed."
            )
        )
    else:
        md.append(
            "- The machine may be shared; with `--max-wait 0` the benchmark neither waited for a quiet machine "
            "nor retimed. "
            + (
                f"**{n_disturbed} measurements ran while other processes used more than 10% "
                "of a core; they are marked with * in the table.**"
                if n_disturbed
                else "No measurement ran while other processes used more than 10% of a core."
            )
        )
    md.append(
        f"- Timing (`time.perf_counter`): batch 1 - one untimed warm-up query, then up to {budget.queries} "
        f"different queries (at least {budget.min_queries}, stopping after {budget.seconds_single:g} s of "
        f"timed work), median time per query. Batch 256 - one untimed warm-up call on {min(max(args.batch), 16)} other "
        f"queries, then the median time per batch over up to {budget.reps} repeats (at least {budget.min_reps}, stopping "
        f"after {budget.seconds_batch:g} s); a batch whose first timed call takes {budget.slow:g} s or more "
        "is timed once."
    )
    md.append(
        "- Check, once per point: every hsrnet backend must return exactly hsrnet scan's ids; numpy and "
        "FAISS sum in another order, so rows within float rounding of b may differ. `mismatch np/faiss` "
        "counts the (query, row) pairs that differ from scan (not an error)."
    )
    md.append(
        "- Times in milliseconds: per query for batch 1, per batch of 256 for batch 256. Ratios are "
        "other/hsrnet (above 1: hsrnet faster); `auto/best` is auto's time over the fastest of scan, gemm, "
        "tree (above 1: auto slower)."
    )
    md.append("")
    md.append("## Targets")
    md.append("")
    md += targets
    md.append("")
    if not hsr_ok:
        md.append("**hsrnet backends disagreed with scan at some points (see the mismatch column).**")
        md.append("")
    margins = [(r, k) for r in rows for k in ("numpy", "faiss") if r.get(k + "_margin") is not None]
    if margins:
        worst = max(r[k + "_margin"] for r, k in margins)
        md.append(
            f"Mismatched rows of numpy/FAISS lie within {worst:.2e} of b (float64 inner product), i.e. float rounding."
        )
        md.append("")
    md.append("## All points")
    md.append("")
    md.append(table)
    md.append("")
    if png_ok:
        md.append(f"![time per query vs m, 1 thread]({os.path.basename(args.out_png)})")
        md.append("")
    if args.out_md:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
        with open(args.out_md, "w") as f:
            f.write("\n".join(md))
        print(f"wrote {args.out_md}" + (f" and {args.out_png}" if png_ok else ""))
    return 0 if hsr_ok else 1


if __name__ == "__main__":
    sys.exit(main(ARGS))
