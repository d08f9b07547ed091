"""Issue 12, library side: Ctrl-C inside training, fork() children, model files that lie, saving through links
and over special files, permissions, option checks before work, the OpenMP wait policy."""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zlib

import hsrnet
import numpy as np
import pytest
from hsrnet import model_io, tensor_file
from hsrnet.tensor_file import ModelFileError


@pytest.fixture(scope="module")
def clf():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    return hsrnet.HSRClassifier(n_neurons=64, max_iter=3, random_state=0).fit(X, y), X, y


@pytest.fixture(scope="module")
def reg():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    return hsrnet.HSRRegressor(n_neurons=32, max_iter=2, random_state=0).fit(X, X[:, 0]), X


# ------------------------------------------------------------------------------------ 2, 3: KeyboardInterrupt


def _interrupt_after(seconds):
    """Sends SIGINT to this process after `seconds`; returns a dict that gets the send time."""
    box = {}

    def fire():
        time.sleep(seconds)
        box["sent"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()
    return box


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_keyboard_interrupt_stops_a_long_epoch_quickly_and_the_counters_match():
    rng = np.random.default_rng(2)
    n = 6000
    X = rng.normal(size=(n, 24))
    y = (X[:, 0] > 0).astype(int)
    # one epoch of 6000 single-sample steps over 16384 neurons: seconds long, so waiting for its end is visible
    est = hsrnet.HSRClassifier(n_neurons=16384, max_iter=5, batch_size=1, random_state=0)
    box = _interrupt_after(1.0)
    with pytest.raises(KeyboardInterrupt) as info:
        est.fit(X, y)
    latency = time.perf_counter() - box["sent"]
    assert latency < 0.5, f"fit returned {latency:.2f} s after Ctrl-C"
    stats = info.value.epoch_stats
    assert stats["interrupted"] and 0 < stats["samples"] < n
    # the partial epoch counts: its steps are in the weights
    assert est.n_iter_ == len(est.loss_curve_) == len(est.firing_fraction_) == len(est.timings_["total"]) >= 1
    assert est.t_ == n * (est.n_iter_ - 1) + stats["samples"]
    assert est.loss_curve_[-1] == pytest.approx(stats["mean_loss"])
    # still usable: predicts, saves, and trains on
    assert est.predict(X[:5]).shape == (5,)
    est.set_params(warm_start=True, max_iter=1, batch_size=64, n_neurons=16384)
    est.fit(X[:500], y[:500])
    assert est.t_ == n * (est.n_iter_ - 2) + stats["samples"] + 500


def test_interrupt_check_is_removed_after_the_epoch():
    """A SIGINT handled elsewhere after training must not be swallowed by a stale check."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    est = hsrnet.HSRRegressor(n_neurons=32, max_iter=2, random_state=0).fit(X, X[:, 0])
    assert est.n_iter_ == 2
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)


# ----------------------------------------------------------------------------------------------- 4: fork

FORK_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, os, sys, numpy as np, hsrnet, warnings
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    W = rng.standard_normal((40000, 16)).astype(np.float32)
    Q = rng.standard_normal((64, 16)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    index = hsrnet.HalfSpaceIndex(W, n_threads=2)
    expected = index.query_batch(Q, -0.5)[1].tolist()           # the parent's OpenMP pool exists now
    X = rng.normal(size=(4000, 8)); y = (X[:, 0] > 0).astype(int)
    model = hsrnet.HSRClassifier(n_neurons=4096, max_iter=2, n_jobs=2, random_state=0).fit(X, y)

    def child_work(chunk):
        assert hsrnet.forked_child
        p = model.predict(chunk)
        got = index.query_batch(Q, -0.5)[1].tolist() == expected
        fresh = hsrnet.HalfSpaceIndex(W, n_threads=2).query_batch(Q, -0.5)[1].tolist() == expected
        hsrnet.HSRClassifier(n_neurons=2048, max_iter=1, n_jobs=2, random_state=0).fit(chunk, p)
        return p.tolist(), got and fresh

    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map(child_work, np.array_split(X, 4))
        assert all(ok for _, ok in results)
        assert sum((r for r, _ in results), []) == model.predict(X).tolist()
        print("fork ok")
""")


def test_fork_children_run_openmp_without_hanging(tmp_path):
    script = tmp_path / "fork_child.py"
    script.write_text(FORK_SCRIPT)
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "OMP_NUM_THREADS": "2"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a fork()ed child hung in OpenMP")
    assert proc.returncode == 0 and "fork ok" in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------------------------------------------ 12: OpenMP wait policy


def test_passive_wait_policy_by_default_and_the_users_choice_kept():
    code = "import os, hsrnet; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["passive", "None"]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "OMP_WAIT_POLICY": "active"},
    ).stdout
    assert out.split() == ["active", "None"]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**env, "GOMP_SPINCOUNT": "1000"}
    ).stdout
    assert out.split() == ["None", "1000"]


# ---------------------------------------------------------------------------------- 11: options before work


def test_n_jobs_out_of_range_is_named_in_the_users_words(clf):
    _, X, y = clf
    for bad in (5000, -5000):
        est = hsrnet.HSRClassifier(n_neurons=1 << 30, n_jobs=bad)  # a huge width: fails fast, before building
        t = time.perf_counter()
        with pytest.raises(ValueError, match=r"n_jobs must be .*got -?5000") as info:
            est.fit(X, y)
        assert "n_threads" not in str(info.value)
        assert time.perf_counter() - t < 2 and not hasattr(est, "network_")


# ------------------------------------------------------------------------------------- 6, 7: saving safely


def test_save_writes_through_a_symlink(tmp_path, clf):
    est = clf[0]
    real = tmp_path / "models" / "real.hsr"
    real.parent.mkdir()
    est.save(real)
    link = tmp_path / "link.hsr"
    link.symlink_to(real)
    before = real.stat().st_ino
    est.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.stat().st_ino != before  # replaced atomically, through the link
    assert hsrnet.load(link).n_iter_ == est.n_iter_
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.hsr"]  # no temporary left
    dangling = tmp_path / "dangling.hsr"
    dangling.symlink_to(tmp_path / "models" / "new.hsr")
    est.save(dangling)
    assert dangling.is_symlink() and (tmp_path / "models" / "new.hsr").is_file()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_save_refuses_special_files(tmp_path, clf):
    fifo = tmp_path / "pipe.hsr"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="named pipe, not a regular file"):
        clf[0].save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "to-pipe.hsr"
    link.symlink_to(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        clf[0].save(link)
    assert stat.S_ISFIFO(os.stat(link).st_mode) and link.is_symlink()
    with pytest.raises(ModelFileError, match="named pipe"):  # and reading one does not block
        hsrnet.load(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.hsr", "to-pipe.hsr"]


def test_resave_keeps_the_files_permissions(tmp_path, clf):
    path = tmp_path / "m.hsr"
    clf[0].save(path)
    os.chmod(path, 0o600)
    clf[0].save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)
    clf[0].save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# ------------------------------------------------------------------------------- 8, 9, 10: files that lie


def _with_tensor(est, name, value):
    t = model_io.to_tensors(est)
    t[name] = value
    return tensor_file.encode(t)


def _classes_json(obj):
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8).copy()


def test_huge_label_dtype_is_not_allocated(tmp_path, clf):
    path = tmp_path / "m.hsr"
    path.write_bytes(
        _with_tensor(clf[0], "classifier/classes", _classes_json({"dtype": "<U100000000", "values": ["no", "yes"]}))
    )
    assert path.stat().st_size < 20000
    tracemalloc.start()
    try:
        est = hsrnet.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"loading a {path.stat().st_size}-byte file allocated {peak >> 20} MiB"
    assert est.classes_.tolist() == ["no", "yes"] and est.classes_.dtype.itemsize <= 16


@pytest.mark.parametrize(
    "dtype", [",U3", "(2,)i4", "V100000000", "O", "M8[ns]", "U3,U3", "S5", "<U99999999999", "i16", "c16", "", "object "]
)
def test_crafted_label_dtypes_raise_model_file_error(tmp_path, clf, dtype):
    path = tmp_path / "m.hsr"
    path.write_bytes(
        _with_tensor(clf[0], "classifier/classes", _classes_json({"dtype": dtype, "values": ["no", "yes"]}))
    )
    with pytest.raises(ModelFileError):
        hsrnet.load(path)


@pytest.mark.parametrize(
    "classes",
    [
        {"dtype": "<i8", "values": ["no", "yes"]},
        {"dtype": "<i8", "values": [1.5, 2]},
        {"dtype": "|b1", "values": [3, 4]},
        {"dtype": "<i8", "values": [1, 2, 3]},
        {"dtype": "<i8", "values": [[1], [2]]},
        {"dtype": "<u1", "values": [1, 300]},
        [1, 2],
        {"values": [1, 2]},
        {"dtype": "<f8", "values": [1e400, 1]},
    ],
)
def test_malformed_labels_raise_model_file_error(tmp_path, clf, classes):
    path = tmp_path / "m.hsr"
    path.write_bytes(_with_tensor(clf[0], "classifier/classes", _classes_json(classes)))
    with pytest.raises(ModelFileError):
        hsrnet.load(path)


@pytest.mark.parametrize(
    "name,value",
    [
        ("input_map/scale", np.array([1.0, np.inf, 1.0, 1.0])),
        ("input_map/scale", np.array([1.0, 0.0, 1.0, 1.0])),
        ("input_map/mean", np.array([np.nan, 0.0, 0.0, 0.0])),
        ("input_map/constant", np.array(np.inf)),
        ("network/threshold", np.array(np.nan)),
    ],
)
def test_non_finite_scaling_values_are_refused_at_load(tmp_path, clf, name, value):
    path = tmp_path / "m.hsr"
    path.write_bytes(_with_tensor(clf[0], name, value))
    with pytest.raises(ModelFileError, match="NaN or infinite|positive|finite"):
        hsrnet.load(path)


def test_non_finite_regressor_values_and_weights_are_refused(tmp_path, reg):
    est = reg[0]
    for name, value in (
        ("regressor/y_scale", np.array([np.nan])),
        ("regressor/y_mean", np.array([np.inf])),
        ("regressor/y_scale", np.array([-1.0])),
    ):
        (tmp_path / "m.hsr").write_bytes(_with_tensor(est, name, value))
        with pytest.raises(ModelFileError):
            hsrnet.load(tmp_path / "m.hsr")
    W = est.network_.hidden_weights()
    W[3, 1] = np.nan
    (tmp_path / "m.hsr").write_bytes(_with_tensor(est, "network/W", W))
    with pytest.raises(ModelFileError, match="network/W"):
        hsrnet.load(tmp_path / "m.hsr")


@pytest.mark.parametrize(
    "name,value",
    [
        ("hsrnet/params", _classes_json({"n_jobs": 5000})),
        ("hsrnet/params", _classes_json({"n_neurons": "many"})),
        ("fit/feature_names_in", _classes_json(["a", "b"])),
        ("fit/n_iter", np.array([1, 2])),
        ("input_map/kind", np.frombuffer(b"\xff\xfe", dtype=np.uint8)),
        ("fit/loss_curve", np.zeros((2, 2))),
    ],
)
def test_other_malformed_tensors_raise_model_file_error(tmp_path, clf, name, value):
    path = tmp_path / "m.hsr"
    path.write_bytes(_with_tensor(clf[0], name, value))
    with pytest.raises(ModelFileError):
        hsrnet.load(path)


def test_impossible_shapes_in_the_table_are_refused(clf):
    data = bytearray(tensor_file.encode(model_io.to_tensors(clf[0])))
    # the first tensor: an empty shape (0, 2^63): zero bytes, but no array can have it
    struct.pack_into("<II4Q", data, 24 + 64, 5, 2, 0, 1 << 63, 0, 0)
    struct.pack_into("<Q", data, 24 + 112, 0)
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    with pytest.raises(ModelFileError, match="impossible shape"):
        tensor_file.decode(bytes(data))


def test_a_tensor_name_twice_is_refused():
    data = bytearray(tensor_file.encode({"a": np.zeros(2, np.float32), "b": np.ones(2, np.float32)}))
    data[24 + 128] = ord("a")  # the second entry's name becomes "a"
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    with pytest.raises(ModelFileError, match="appears twice"):
        tensor_file.decode(bytes(data))


DEADLOCK_SCRIPT = textwrap.dedent("""
    import threading, time, numpy as np, hsrnet, warnings
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 24)); y = (X[:, 0] > 0).astype(int)
    est = hsrnet.HSRClassifier(n_neurons=16384, max_iter=1, batch_size=1, random_state=0)
    est.fit(X[:100], y[:100])
    est.set_params(warm_start=True, max_iter=1)
    def poke():  # while the main thread trains (holding the network's lock), touch the network
        time.sleep(0.3)
        est.network_.output_weights()
        est.network_.n_threads = 1
    threading.Thread(target=poke).start()
    est.fit(X, y)
    print("no deadlock")
""")


def test_touching_the_network_from_another_thread_during_fit_does_not_deadlock(tmp_path):
    """The epoch takes the GIL to check for Ctrl-C while it holds the network's lock: every binding that waits
    for that lock must wait without the GIL."""
    script = tmp_path / "poke.py"
    script.write_text(DEADLOCK_SCRIPT)
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: a binding waited for the network's lock while holding the GIL")
    assert proc.returncode == 0 and "no deadlock" in proc.stdout, proc.stderr[-2000:]
