"""The ``python -m hsrnet`` command line: index-demo, demo, train, predict, info, and their errors."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest


def run_cli(tmp_path, *args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "hsrnet", *args], cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


def test_index_demo_is_exact(tmp_path):
    proc = run_cli(tmp_path, "index-demo", "--log2m", "14", "--threads", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "m = 16,384" in lines[0]
    header = next(l for l in lines if l.startswith("setting"))
    assert header.rstrip().endswith("exact")
    rows = [l for l in lines if l.startswith("d = ")]
    assert len(rows) == 4, proc.stdout
    for row in rows:
        assert row.split()[-1] == "yes", row
        assert row.split()[5] in ("scan", "gemm", "tree"), row  # the backend column


def test_index_demo_other_seed(tmp_path):
    proc = run_cli(tmp_path, "index-demo", "--log2m", "12", "--seed", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [l for l in proc.stdout.splitlines() if l.startswith("d = ")]
    assert len(rows) == 4 and all(r.split()[-1] == "yes" for r in rows), proc.stdout


def test_no_subcommand_is_a_usage_error(tmp_path):
    usage_error(run_cli(tmp_path), "a command is needed", "index-demo", "see hsrnet --help")


def test_unknown_subcommand_and_bad_option(tmp_path):
    usage_error(run_cli(tmp_path, "frobnicate"), "invalid choice")
    usage_error(run_cli(tmp_path, "index-demo", "--log2m", "many"), "--log2m", "see hsrnet index-demo --help")


def test_help(tmp_path):
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0
    assert "index-demo" in proc.stdout


# ------------------------------------------------------------------------------------------------------------
# demo, train, predict, info: every subcommand and every error path, as a user runs them (a subprocess).

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_idx(path, array, gz=True):
    """A tiny IDX writer (the MNIST format): magic 0 0 type ndim, big-endian dims, the data."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    a = np.asarray(array)
    body = struct.pack(">BBBB", 0, 0, codes[a.dtype], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    body += a.astype(a.dtype.newbyteorder(">")).tobytes()
    with gzip.open(path, "wb") if gz else open(path, "wb") as f:
        f.write(body)
    return path


def blobs(n=240, d=4, seed=0):
    """Two well separated classes: X (n, d) float, labels 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + 3.0 * y[:, None]
    return X, y


def write_csv(path, X, target, header=None, target_col=None):
    """CSV of X with the target inserted as column target_col (default: last)."""
    cols = [[f"{v:.6g}" for v in row] for row in X]
    t = list(target)
    j = len(cols[0]) if target_col is None else target_col
    with open(path, "w") as f:
        if header is not None:
            f.write(",".join(header) + "\n")
        for row, v in zip(cols, t):
            f.write(",".join(row[:j] + [str(v)] + row[j:]) + "\n")
    return path


def one_line_error(proc, code, *needles):
    """Exit code `code`, one `hsrnet: error:` line on stderr naming every needle, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("hsrnet: error: ")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def usage_error(proc, *needles):
    """Exit 2 and one line on stderr, as the README promises: ``hsrnet: error: ... (see hsrnet CMD --help)``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("hsrnet: error: "), proc.stderr
    assert "--help)" in proc.stderr and "usage:" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def read_predictions(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), [l.split(",") for l in lines[1:]]


TRAIN_FAST = ("--neurons", "256", "--epochs", "20", "--quiet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One classifier (CSV with header, string labels) and one regressor (CSV without header), for the tests
    of predict and info."""
    root = tmp_path_factory.mktemp("trained")
    X, y = blobs()
    clf_csv = write_csv(
        root / "clf.csv", X, np.where(y == 1, "yes", "no"), header=["a", "b", "c", "d", "label"], target_col=4
    )
    proc = run_cli(root, "train", "clf.csv", "--target", "label", "--task", "classify", "-o", "clf.hsr", *TRAIN_FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(200, 3))
    yr = Xr @ np.array([1.0, -2.0, 0.5]) + 0.05 * rng.normal(size=200)
    reg_csv = write_csv(root / "reg.csv", Xr, [f"{v:.6g}" for v in yr], target_col=0)
    proc_r = run_cli(root, "train", "reg.csv", "--target", "0", "--task", "regress", "-o", "reg.hsr", *TRAIN_FAST)
    assert proc_r.returncode == 0, proc_r.stdout + proc_r.stderr
    return {
        "root": root,
        "clf": root / "clf.hsr",
        "reg": root / "reg.hsr",
        "clf_csv": clf_csv,
        "reg_csv": reg_csv,
        "train_out": proc.stdout,
        "train_err": proc.stderr,
    }


def test_demo_quick_writes_png_and_table(tmp_path):
    proc = run_cli(tmp_path, "demo", "--quick", "--threads", "1")  # default plot path, in the working folder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    have_matplotlib = _importable("matplotlib")
    assert proc.stderr == ("" if have_matplotlib else proc.stderr)  # stderr is a pipe: no progress bar
    header = next(l for l in out.splitlines() if l.startswith("strategy"))
    for col in ("wall time", "per step", "firing", "test MSE", "speed-up"):
        assert col in header
    rows = [l for l in out.splitlines() if l.startswith(("hsrnet (", "dense reference"))]
    assert len(rows) == 2, out
    assert rows[1].rstrip().endswith("1.0x")
    assert "losses equal at every chunk: yes" in out
    assert "max |W_sparse - W_dense| = 0" in out
    png = tmp_path / "hsrnet-demo.png"
    if not have_matplotlib:
        assert "matplotlib is not installed" in proc.stderr and not png.exists()
        return
    assert f"written to {png}" in out
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def _importable(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_demo_options(tmp_path):
    proc = run_cli(
        tmp_path,
        "demo",
        "--quick",
        "--quiet",
        "--plot",
        "sub.png",
        "--seed",
        "3",
        "--log2m",
        "10",
        "--steps",
        "300",
        "--strategy",
        "scan",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "m = 1,024" in proc.stdout and "300 SGD steps" in proc.stdout
    assert "hsrnet (scan)" in proc.stdout
    if _importable("matplotlib"):
        assert (tmp_path / "sub.png").read_bytes()[:8] == PNG_SIGNATURE
    one_line_error(run_cli(tmp_path, "demo", "--quick", "--plot", "no/such/folder/x.png"), 2, "does not exist")
    usage_error(run_cli(tmp_path, "demo", "--threads", "0"), "--threads")
    usage_error(run_cli(tmp_path, "demo", "--log2m", "99"), "--log2m")


def _run_on_pty(tmp_path, *args):
    """Runs the command with stderr on a pseudo-terminal (100 columns); returns (exit code, stderr text)."""
    import fcntl
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "hsrnet", *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.stdout.read()
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_bars_on_a_terminal_only(tmp_path, trained):
    pytest.importorskip("tqdm")
    small = ("--log2m", "10", "--steps", "200", "--plot", "")
    rc, err = _run_on_pty(tmp_path, "demo", *small)
    assert rc == 0 and "training:" in err and "step" in err, err
    rc, err = _run_on_pty(tmp_path, "demo", *small, "--quiet")
    assert rc == 0 and err == "", err
    rc, err = _run_on_pty(
        tmp_path,
        "train",
        str(trained["clf_csv"]),
        "--target",
        "label",
        "--task",
        "classify",
        "-o",
        "m.hsr",
        "--neurons",
        "256",
        "--epochs",
        "5",
    )
    assert rc == 0 and "epoch" in err, err


def test_train_classifier_csv_with_header(trained):
    out = trained["train_out"]
    assert "240 samples, 4 features" in out
    assert "target 'label': 2 classes" in out
    assert "trained 20 epochs in" in out
    assert "final training loss:" in out
    acc = float(next(l for l in out.splitlines() if l.startswith("score on the training data")).split()[-1])
    assert acc > 0.9
    assert "model written to clf.hsr" in out
    assert trained["clf"].read_bytes()[:8] == b"HSRNETMF"
    assert "Traceback" not in trained["train_err"]


def test_info(trained):
    proc = run_cli(trained["root"], "info", "clf.hsr")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "HSRClassifier" in out and "format version 1" in out and "checksum OK" in out
    fields = {l.split(":", 1)[0]: l.split(":", 1)[1].split() for l in out.splitlines() if ":" in l}
    assert fields["features"][0] == "4" and fields["neurons"][0] == "256"
    assert "2 classes: no, yes" in out
    assert "threshold:" in out and "b = " in out
    assert "20 epochs" in out and "final loss" in out
    assert "n_neurons=256" in out and "max_iter=20" in out
    size = os.path.getsize(trained["clf"])
    assert "KiB" in out or str(size) in out


def test_predict_classifier_to_file_with_proba(trained):
    root = trained["root"]
    proc = run_cli(root, "predict", "clf.hsr", "clf.csv", "--target", "label", "--proba", "-o", "pred.csv")
    assert proc.returncode == 0, proc.stderr
    assert "240 predictions written to pred.csv" in proc.stdout
    assert "accuracy on 240 samples" in proc.stdout
    header, rows = read_predictions((root / "pred.csv").read_text())
    assert header == ["prediction", "proba_no", "proba_yes"]
    assert len(rows) == 240
    assert {r[0] for r in rows} <= {"yes", "no"}
    for r in rows[:20]:
        assert abs(float(r[1]) + float(r[2]) - 1) < 1e-4


def test_predict_classifier_to_stdout_without_target(trained, tmp_path):
    X, _ = blobs(n=30, seed=5)
    np.savetxt(tmp_path / "new.csv", X, delimiter=",", header="a,b,c,d", comments="")
    proc = run_cli(tmp_path, "predict", str(trained["clf"]), "new.csv", "-o", "-")  # '-': stdout, the default
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # stdout holds the CSV alone; nothing to score
    header, rows = read_predictions(proc.stdout)
    assert header == ["prediction"] and len(rows) == 30


def test_train_and_predict_regressor_csv_without_header(trained):
    root = trained["root"]
    proc = run_cli(root, "predict", "reg.hsr", "reg.csv", "--target", "0")
    assert proc.returncode == 0, proc.stderr
    header, rows = read_predictions(proc.stdout)
    assert header == ["prediction"] and len(rows) == 200
    float(rows[0][0])
    r2 = [l for l in proc.stderr.splitlines() if l.startswith("R^2 on 200 samples")]
    assert len(r2) == 1 and float(r2[0].split()[4].rstrip(";")) > 0.5, proc.stderr
    one_line_error(run_cli(root, "predict", "reg.hsr", "reg.csv", "--target", "0", "--proba"), 2, "--proba")


def test_npy_target_column_and_feature_mismatch_hint(tmp_path):
    X, y = blobs(n=120, d=3)
    np.save(tmp_path / "d.npy", np.c_[y, X])  # the target in column 0
    proc = run_cli(tmp_path, "train", "d.npy", "--target", "0", "--task", "classify", "-o", "m.hsr", *TRAIN_FAST)
    assert proc.returncode == 0, proc.stderr
    assert "120 samples, 3 features" in proc.stdout and "2 classes" in proc.stdout
    proc = run_cli(tmp_path, "predict", "m.hsr", "d.npy", "--target", "0")
    assert proc.returncode == 0 and "accuracy on 120 samples" in proc.stderr
    assert set(read_predictions(proc.stdout)[1][0]) <= set("01")
    # without --target the target column counts as a feature: 4 columns for a 3-feature model
    one_line_error(run_cli(tmp_path, "predict", "m.hsr", "d.npy"), 3, "4 feature columns", "expects 3", "--target")


def test_npz_x_and_y(tmp_path):
    X, y = blobs(n=100, d=5)
    np.savez(tmp_path / "d.npz", X=X, y=y, labels=np.where(y == 1, "b", "a"))
    proc = run_cli(tmp_path, "train", "d.npz", "--target", "labels", "--task", "classify", "-o", "m.hsr", *TRAIN_FAST)
    assert proc.returncode == 0, proc.stderr
    assert "100 samples, 5 features" in proc.stdout
    proc = run_cli(tmp_path, "predict", "m.hsr", "d.npz", "--target", "labels", "-o", "p.csv")
    assert proc.returncode == 0 and "accuracy on 100 samples" in proc.stdout, proc.stderr
    assert {r[0] for r in read_predictions((tmp_path / "p.csv").read_text())[1]} <= {"a", "b"}
    one_line_error(
        run_cli(tmp_path, "train", "d.npz", "--target", "nope", "--task", "classify", "-o", "m.hsr"),
        3,
        "no array named 'nope'",
    )
    np.savez(tmp_path / "noX.npz", features=X, y=y)
    one_line_error(
        run_cli(tmp_path, "train", "noX.npz", "--target", "y", "--task", "classify", "-o", "m.hsr"),
        3,
        "no array named 'X'",
    )


def test_idx_gz_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90).astype(np.uint8)
    images = rng.integers(0, 60, (90, 4, 4)).astype(np.uint8)
    for k in range(3):
        images[labels == k, k, :] = 250  # class k lights up row k
    write_idx(tmp_path / "img-idx3-ubyte.gz", images)
    write_idx(tmp_path / "lab-idx1-ubyte.gz", labels)
    proc = run_cli(
        tmp_path,
        "train",
        "img-idx3-ubyte.gz",
        "--target",
        "lab-idx1-ubyte.gz",
        "--task",
        "classify",
        "-o",
        "m.hsr",
        *TRAIN_FAST,
    )
    assert proc.returncode == 0, proc.stderr
    assert "90 samples, 16 features" in proc.stdout and "3 classes" in proc.stdout
    proc = run_cli(tmp_path, "predict", "m.hsr", "img-idx3-ubyte.gz", "--target", "lab-idx1-ubyte.gz")
    assert proc.returncode == 0, proc.stderr
    acc = float(next(l for l in proc.stderr.splitlines() if l.startswith("accuracy")).split()[-1])
    assert acc > 0.9
    write_idx(tmp_path / "short-idx1-ubyte", labels[:50], gz=False)
    one_line_error(
        run_cli(
            tmp_path, "train", "img-idx3-ubyte.gz", "--target", "short-idx1-ubyte", "--task", "classify", "-o", "m.hsr"
        ),
        3,
        "50 labels for 90 images",
    )
    one_line_error(
        run_cli(tmp_path, "train", "img-idx3-ubyte.gz", "--target", "missing.gz", "--task", "classify", "-o", "m.hsr"),
        3,
        "labels file not found",
    )
    (tmp_path / "broken-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    one_line_error(
        run_cli(
            tmp_path, "train", "broken-idx3-ubyte", "--target", "lab-idx1-ubyte.gz", "--task", "classify", "-o", "m.hsr"
        ),
        3,
        "IDX",
    )


# ----------------------------------------------------------------------------------- data files: error paths


def test_bad_data_files(tmp_path):
    def train(data, target="y", task="regress"):
        return run_cli(tmp_path, "train", data, "--target", target, "--task", task, "-o", "m.hsr")

    one_line_error(train("missing.csv"), 3, "data file not found", "missing.csv")
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,3\n4,5\n")
    one_line_error(train("ragged.csv"), 3, "line 3 has 2 fields, expected 3")
    (tmp_path / "quote.csv").write_text('a,b,y\n1,"2,3\n')
    one_line_error(train("quote.csv"), 3, "quote.csv")
    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\x02garbage\xff\xfe")
    one_line_error(train("binary.csv"), 3, "not a text CSV")
    (tmp_path / "latin1.csv").write_bytes("a,b,y\n1,2,caf\xe9\n".encode("latin-1"))
    one_line_error(train("latin1.csv"), 3, "UTF-8")
    (tmp_path / "empty.csv").write_text("\n\n")
    one_line_error(train("empty.csv"), 3, "empty")
    (tmp_path / "ok.csv").write_text("a,b,y\n1,2,3\n4,5,6\n7,8,9\n")
    one_line_error(train("ok.csv", target="z"), 3, "no column named 'z'", "'a', 'b', 'y'")
    one_line_error(train("ok.csv", target="5"), 3, "index 5 is out of range")
    (tmp_path / "text.csv").write_text("a,b,y\n1,2,3\n4,hello,6\n")
    one_line_error(train("text.csv"), 3, "line 3", "column 'b'", "'hello' is not a number")
    (tmp_path / "nan.csv").write_text("a,b,y\n1,2,3\n4,nan,6\n")
    one_line_error(train("nan.csv"), 3, "line 3", "column 'b'", "NaN")
    (tmp_path / "hole.csv").write_text("a,b,y\n1,,3\n4,5,6\n")
    one_line_error(train("hole.csv"), 3, "line 2", "empty cell")
    (tmp_path / "labels.csv").write_text("a,b,y\n1,2,cat\n4,5,dog\n7,8,cat\n")
    one_line_error(train("labels.csv"), 3, "non-numeric", "--task classify")
    (tmp_path / "cont.csv").write_text("a,b,y\n1,2,0.5\n4,5,1.25\n7,8,2.5\n")
    one_line_error(train("cont.csv", task="classify"), 3, "non-integer", "--task regress")
    (tmp_path / "one.csv").write_text("a,b,y\n1,2,1\n4,5,1\n7,8,1\n")
    one_line_error(train("one.csv", task="classify"), 3, "single class")
    (tmp_path / "noheader.csv").write_text("1,2,3\n4,5,6\n")
    one_line_error(train("noheader.csv", target="y"), 3, "no header row", "0-based column index")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    one_line_error(train("cube.npy", target="0"), 3, "2-D array")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    one_line_error(train("nan.npy", target="0"), 3, "NaN")
    one_line_error(train("nan.npy", target="x"), 3, "0-based column index")
    (tmp_path / "fake.npy").write_bytes(b"\x93NUMPY garbage")
    one_line_error(train("fake.npy", target="0"), 3, "fake.npy")
    (tmp_path / "fake.npz").write_bytes(b"PK not a zip")
    one_line_error(train("fake.npz"), 3, "fake.npz")
    one_line_error(train(str(tmp_path)), 3, "is a directory")


def test_load_table_header_detection(tmp_path):
    from hsrnet.data_files import load_table, prepare_target

    (tmp_path / "h.csv").write_text("x1,x2,label\n1,2,A\n3,4,B\n")
    t = load_table(tmp_path / "h.csv", "label")
    assert t.feature_names == ["x1", "x2"] and t.X.shape == (2, 2) and list(t.y) == ["A", "B"]
    (tmp_path / "n.csv").write_text("1,2,A\n3,4,B\n")
    t = load_table(tmp_path / "n.csv", -1)
    assert t.X.tolist() == [[1, 2], [3, 4]] and list(t.y) == ["A", "B"]
    (tmp_path / "num.csv").write_text("1,2,3\n4,5,6\n")  # all numbers: no header
    assert load_table(tmp_path / "num.csv", 0).X.shape == (2, 2)
    assert load_table(tmp_path / "num.csv", 0, header="yes").X.shape == (1, 2)
    (tmp_path / "mixed.csv").write_text("f1,2,y\n1,2,3\n4,5,6\n")  # a numeric-looking name beside text ones
    t = load_table(tmp_path / "mixed.csv", "y")
    assert t.X.shape == (2, 2) and t.feature_names == ["f1", "2"]
    (tmp_path / "quoted.csv").write_text('"x, 1",x2,y\n1.5,2,"a"\n2.5,3,"b, c"\n')  # csv-module path
    t = load_table(tmp_path / "quoted.csv", "y")
    assert t.feature_names == ["x, 1", "x2"] and t.X.tolist() == [[1.5, 2], [2.5, 3]] and list(t.y) == ["a", "b, c"]
    with gzip.open(tmp_path / "z.csv.gz", "wt") as f:
        f.write("a,b\n1,2\n3,4\n")
    assert load_table(tmp_path / "z.csv.gz", "b").X.tolist() == [[1], [3]]
    np.save(tmp_path / "r.npy", np.arange(12.0).reshape(4, 3))
    t = load_table(tmp_path / "r.npy", -1)
    assert t.X.tolist() == [[0, 1], [3, 4], [6, 7], [9, 10]] and t.y.tolist() == [2, 5, 8, 11]
    assert prepare_target(np.array(["1", "0", "1"], dtype=object), "classify", "t").dtype == np.int64
    assert prepare_target(np.array([1.0, 0.0]), "classify", "t").tolist() == [1, 0]
    assert prepare_target(np.array(["1.5", "2"], dtype=object), "regress", "t").tolist() == [1.5, 2.0]


# ------------------------------------------------------------------------------------- model files and options


def test_bad_model_files(trained, tmp_path):
    good = trained["clf"].read_bytes()
    csv = str(trained["clf_csv"])

    def predict(model):
        return run_cli(tmp_path, "predict", model, csv, "--target", "label")

    one_line_error(predict("missing.hsr"), 4, "model file not found")
    one_line_error(run_cli(tmp_path, "info", "missing.hsr"), 4, "model file not found")
    one_line_error(run_cli(tmp_path, "info", str(tmp_path)), 4, "directory")
    one_line_error(run_cli(tmp_path, "info", csv), 4, "not an hsrnet model file")
    (tmp_path / "short.hsr").write_bytes(good[: len(good) // 2])
    one_line_error(predict("short.hsr"), 4, "truncated")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    (tmp_path / "flip.hsr").write_bytes(bytes(flipped))
    one_line_error(run_cli(tmp_path, "info", "flip.hsr"), 4, "checksum")
    (tmp_path / "empty.hsr").write_bytes(b"")
    one_line_error(predict("empty.hsr"), 4)
    # a valid tensor file that is not an estimator
    from hsrnet import tensor_file

    tensor_file.save(tmp_path / "foreign.hsr", {"something": np.zeros(3, dtype=np.float32)})
    one_line_error(run_cli(tmp_path, "info", "foreign.hsr"), 4, "lacks the required tensor")
    # feature-count mismatch: a 3-column file for the 4-feature classifier
    np.savetxt(tmp_path / "three.csv", np.zeros((5, 3)), delimiter=",")
    one_line_error(run_cli(tmp_path, "predict", str(trained["clf"]), "three.csv"), 3, "3 feature columns", "expects 4")


def test_bad_options(tmp_path, trained):
    csv = str(trained["clf_csv"])
    base = ("train", csv, "--target", "label", "--task", "classify", "-o", "m.hsr")
    usage_error(run_cli(tmp_path, *base, "--neurons", "0"), "--neurons", "must be >= 1")
    usage_error(run_cli(tmp_path, *base, "--epochs", "many"), "--epochs")
    usage_error(run_cli(tmp_path, *base, "--lr", "-1"), "--lr")
    usage_error(run_cli(tmp_path, *base, "--lr", "nan"), "--lr")
    usage_error(run_cli(tmp_path, *base, "--batch-size", "1.5"), "--batch-size")
    usage_error(run_cli(tmp_path, *base, "--strategy", "magic"), "--strategy", "invalid choice")
    usage_error(run_cli(tmp_path, *base, "--threads", "0"), "--threads")
    usage_error(run_cli(tmp_path, *base, "--threshold", "inf"), "--threshold")
    usage_error(run_cli(tmp_path, *base, "--seed", "-3"), "--seed")
    usage_error(run_cli(tmp_path, "train", csv, "--target", "label", "--task", "cluster", "-o", "m.hsr"), "--task")
    usage_error(run_cli(tmp_path, "train", csv, "--task", "classify", "-o", "m.hsr"), "--target")
    usage_error(run_cli(tmp_path, "train", csv, "--target", "label", "--task", "classify"), "-o")
    usage_error(run_cli(tmp_path, "predict", str(trained["clf"])), "DATA")
    usage_error(run_cli(tmp_path, "info"), "MODEL")
    one_line_error(
        run_cli(tmp_path, "train", csv, "--target", "label", "--task", "classify", "-o", "no/such/dir/m.hsr"),
        2,
        "does not exist",
    )
    one_line_error(
        run_cli(tmp_path, "train", csv, "--target", "label", "--task", "classify", "-o", str(tmp_path)),
        2,
        "is a directory",
    )
    assert not (tmp_path / "m.hsr").exists()


def test_train_options_reach_the_estimator(tmp_path, trained):
    proc = run_cli(
        tmp_path,
        "train",
        str(trained["reg_csv"]),
        "--target",
        "0",
        "--task",
        "regress",
        "-o",
        "m.hsr",
        "--neurons",
        "128",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "0.5",
        "--strategy",
        "scan",
        "--threshold",
        "1.5",
        "--threads",
        "2",
        "--seed",
        "7",
        "--output-layer",
        "fixed",
        "--early-stopping",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    info_out = run_cli(tmp_path, "info", "m.hsr").stdout
    for expected in (
        "n_neurons=128",
        "max_iter=3",
        "batch_size=8",
        "learning_rate_init=0.5",
        "strategy='scan'",
        "threshold=1.5",
        "n_jobs=2",
        "random_state=7",
        "train_output_layer=False",
        "early_stopping=True",
        "b = 1.5",
        "HSRRegressor",
        "1 regression output",
    ):
        assert expected in info_out, (expected, info_out)


def test_training_failure_is_exit_1(tmp_path, trained):
    proc = run_cli(
        tmp_path,
        "train",
        str(trained["reg_csv"]),
        "--target",
        "0",
        "--task",
        "regress",
        "-o",
        "m.hsr",
        "--lr",
        "1e30",
        "--neurons",
        "256",
        "--quiet",
    )
    one_line_error(proc, 1, "training failed", "diverged")
    assert not (tmp_path / "m.hsr").exists()


def test_help_lists_the_subcommands(tmp_path):
    proc = run_cli(tmp_path, "--help")
    for name in ("demo", "train", "predict", "info", "index-demo", "exit status"):
        assert name in proc.stdout
    proc = run_cli(tmp_path, "train", "--help")
    assert proc.returncode == 0 and "--early-stopping" in proc.stdout and ".npz" in proc.stdout
