"""Training from data larger than memory: throughput and peak memory against the data set's size.

MNIST's 60000 training images (uint8) are stacked with shifted copies (1x, 4x, 16x the rows) into a
memory-mapped .npy under --dir (never committed). For each size a fresh process fits the PCA input map in one
streamed pass (hsrnet.dask.fit_input_map) and trains one epoch by partial_fit over blocks
(hsrnet.dask.partial_fit_blocks), sampling its memory every 20 ms: anonymous RSS (the process's own memory:
what must fit) and file-backed RSS (pages of the memmap mapped in; the kernel reclaims them under pressure).
The same run on the array read fully into memory (np.load without mmap) is the baseline.

    python benchmarks/bench_dask_stream.py --sizes 1 4 16 --out /tmp/stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_average, machine_description, md_table  # noqa: E402


def _status_kb(fields):
    out = dict.fromkeys(fields, 0)
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1])
    return out


class MemorySampler:
    """Peak RssAnon and RssFile of this process, sampled every `interval` seconds by a helper thread."""

    def __init__(self, interval=0.02):
        self.interval, self.peak = interval, {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            now = _status_kb(("RssAnon", "RssFile"))
            for k, v in now.items():
                self.peak[k] = max(self.peak[k], v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def make_data(directory, copies):
    """X (60000 * copies, 784) uint8 memmap .npy and y .npy: MNIST and copies shifted by up to 2 pixels."""
    import numpy as np
    from hsrnet.datasets import read_idx

    os.makedirs(directory, exist_ok=True)
    xpath, ypath = (os.path.join(directory, f"mnist_x{copies}_{s}.npy") for s in ("X", "y"))
    if os.path.exists(xpath) and os.path.exists(ypath):
        return xpath, ypath
    from hsrnet.datasets import default_data_dir

    root = default_data_dir() / "mnist"
    images = read_idx(root / "train-images-idx3-ubyte.gz")  # (60000, 28, 28) uint8
    labels = read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64)
    n = images.shape[0]
    X = np.lib.format.open_memmap(xpath + ".tmp", mode="w+", dtype=np.uint8, shape=(n * copies, 784))
    for k in range(copies):
        dy, dx = (k % 5) - 2 if k else 0, (k // 5 % 5) - 2 if k else 0
        X[k * n : (k + 1) * n] = np.roll(images, (dy, dx), axis=(1, 2)).reshape(n, 784)
    X.flush()
    del X
    os.replace(xpath + ".tmp", xpath)
    np.save(ypath, np.tile(labels, copies))
    return xpath, ypath


def child(args):
    import numpy as np
    from hsrnet import HSRClassifier
    from hsrnet.dask import fit_input_map, partial_fit_blocks
    from hsrnet.datasets import load_mnist

    y = np.load(args.y)
    with MemorySampler() as mem:
        start = time.perf_counter()
        X = np.load(args.x, mmap_mode="r" if args.mode == "memmap" else None)
        est = HSRClassifier(n_neurons=args.n_neurons, random_state=0)
        fit_input_map(est, X, block_rows=args.block_rows)
        t_map = time.perf_counter() - start
        start = time.perf_counter()
        partial_fit_blocks(est, X, y, classes=np.arange(10), block_rows=args.block_rows)
        t_train = time.perf_counter() - start
    hwm = _status_kb(("VmHWM",))["VmHWM"] / 1024  # before the test set is read
    _, _, X_test, y_test = load_mnist()
    record = {
        "mode": args.mode,
        "rows": int(X.shape[0]),
        "data_mb": X.nbytes / 2**20,
        "map_s": t_map,
        "train_s": t_train,
        "samples_per_s": X.shape[0] / t_train,
        "peak_anon_mb": mem.peak["RssAnon"] / 1024,
        "peak_file_mb": mem.peak["RssFile"] / 1024,
        "hwm_mb": hwm,
        "test_accuracy": float(est.score(X_test.astype(np.float32) * 255.0, y_test)),
    }
    print(json.dumps(record))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="copies of MNIST's 60000 rows")
    p.add_argument("--modes", nargs="+", default=["memmap", "in-memory"], choices=["memmap", "in-memory"])
    p.add_argument("--dir", default="/tmp/hsrnet_stream_data", help="where the .npy data is generated")
    p.add_argument("--n-neurons", type=int, default=4096)
    p.add_argument("--block-rows", type=int, default=16384)
    p.add_argument("--out", help="JSON records written here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--x", help=argparse.SUPPRESS)
    p.add_argument("--y", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"# {machine_description()}; load average {load_average()}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    records = []
    for copies in args.sizes:
        xpath, ypath = make_data(args.dir, copies)
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--child", "--x", xpath, "--y", ypath, "--mode", mode]
            cmd += ["--n-neurons", str(args.n_neurons), "--block-rows", str(args.block_rows)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rec = json.loads(out.strip().splitlines()[-1])
            rec["copies"] = copies
            rec["load_average"] = load_average()
            records.append(rec)
            print(json.dumps(rec), flush=True)
    rows = [
        [
            f"{r['copies']}x ({r['rows']})",
            r["mode"],
            f"{r['data_mb']:.0f}",
            f"{r['map_s']:.1f}",
            f"{r['train_s']:.1f}",
            f"{r['samples_per_s']:.0f}",
            f"{r['peak_anon_mb']:.0f}",
            f"{r['peak_file_mb']:.0f}",
            f"{r['hwm_mb']:.0f}",
            f"{r['test_accuracy']:.4f}",
            r["load_average"],
        ]
        for r in records
    ]
    header = [
        "rows",
        "X",
        "data MB",
        "map s",
        "epoch s",
        "samples/s",
        "peak anon RSS MB",
        "peak file RSS MB",
        "VmHWM MB",
    ]
    print(md_table(header + ["test acc.", "load"], rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine_description(), "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
