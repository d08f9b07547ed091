"""OpenMP wait policy at n_jobs=2: fit and predict times, on a quiet machine and with a busy loop on a core.

libgomp's default lets a thread that waits at the end of a parallel region spin (GOMP_SPINCOUNT=300000 rounds)
before it sleeps. hsrnet's training steps are short parallel regions back to back, so when another process
holds a core the spinning thread and the busy process take turns on it, and each region waits for the
descheduled thread. hsrnet sets OMP_WAIT_POLICY=passive at import unless the user set it (or GOMP_SPINCOUNT).
Each configuration runs in a fresh process (the runtime reads its environment once):

    python benchmarks/bench_wait_policy.py [--repeat 3]        # results: docs/threads.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORK = r"""
import json, time, warnings, numpy as np, hsrnet
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.normal(size=(4000, 32)); y = np.argmax(X[:, :4], axis=1)
Xp = rng.normal(size=(20000, 32))
out = {}
for jobs in (1, 2):
    est = hsrnet.HSRClassifier(n_neurons=16384, max_iter=2, batch_size=32, n_jobs=jobs, random_state=0)
    t = time.perf_counter(); est.fit(X, y); fit = time.perf_counter() - t
    est.predict(Xp[:100])
    t = time.perf_counter(); est.predict(Xp); pred = time.perf_counter() - t
    out[jobs] = (fit, pred)
print(json.dumps(out))
"""

POLICIES = {
    "libgomp default (spin 300000)": {"GOMP_SPINCOUNT": "300000"},
    "passive (hsrnet default)": {"OMP_WAIT_POLICY": "passive"},
}


def run(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, check=True).stdout
    return {int(k): v for k, v in json.loads(out).items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        f"cores: {os.cpu_count()}; fit: 4000 x 32, m = 16384, 2 epochs, batch 32; predict: 20000 rows; "
        f"best of {args.repeat} (seconds)"
    )
    print(f"{'machine':<8}{'policy':<32}{'fit 1 thr':>10}{'fit 2 thr':>10}{'pred 1 thr':>11}{'pred 2 thr':>11}")
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            time.sleep(0.5)
            for name, env in POLICIES.items():
                results = [run(env) for _ in range(args.repeat)]
                best = {j: [min(r[j][k] for r in results) for k in (0, 1)] for j in (1, 2)}
                print(
                    f"{'busy' if busy else 'quiet':<8}{name:<32}{best[1][0]:>10.2f}{best[2][0]:>10.2f}"
                    f"{best[1][1]:>11.3f}{best[2][1]:>11.3f}",
                    flush=True,
                )
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()


if __name__ == "__main__":
    main()
