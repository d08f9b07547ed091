"""Issue 12, command-line side: Ctrl-C, columns matched by name, output files, options checked first, bad model
files, CSV delimiters, suspicious targets, held-out scores, one-line usage errors, the README quick start."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import blobs, one_line_error, read_predictions, run_cli, usage_error, write_csv

FAST = ("--neurons", "256", "--epochs", "10", "--quiet")


# ------------------------------------------------------------------------------------------------ 1: Ctrl-C


def _train_and_interrupt(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsrnet",
            "train",
            "multi.npy",
            "--target",
            "20",
            "--task",
            "classify",
            "-o",
            "o.hsr",
            "--neurons",
            "4096",
            "--epochs",
            "200",
            "--quiet",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # training starts right after the "model:" line
        if line.startswith("model:"):
            break
    time.sleep(0.2)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("hsrnet train did not stop after Ctrl-C")
    return proc.returncode, err, time.perf_counter() - sent


def test_ctrl_c_during_train_exits_130_with_one_line_and_keeps_the_output(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    np.save(tmp_path / "multi.npy", np.c_[X, np.argmax(X[:, :5], axis=1)])
    (tmp_path / "o.hsr").write_bytes(b"an existing model file")
    for _ in range(5):  # scripts/check_ctrl_c.sh runs it 20 times, as a user does, with timeout -s INT
        code, err, seconds = _train_and_interrupt(tmp_path)
        assert code == 130 and err == "hsrnet: interrupted\n", (code, err)
        assert seconds < 5, seconds
        assert (tmp_path / "o.hsr").read_bytes() == b"an existing model file"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["multi.npy", "o.hsr"]


# ------------------------------------------------------------------------------------ 5: columns by name


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    root = tmp_path_factory.mktemp("named")
    X, y = blobs(n=200, d=4, seed=3)
    X[:, 2] *= 100.0  # columns on different scales: a swap changes the predictions
    X[:, 1] = -X[:, 1]
    write_csv(root / "train.csv", X, y, header=["a", "b", "c", "d", "label"])
    proc = run_cli(root, "train", "train.csv", "--target", "label", "--task", "classify", "-o", "m.hsr", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "feature names" not in proc.stderr  # no scikit-learn warning leaks out
    return root, X, y


def test_predict_matches_csv_columns_by_name(named):
    root, X, y = named
    same = run_cli(root, "predict", "m.hsr", "train.csv", "--target", "label")
    assert same.returncode == 0, same.stderr
    order = [3, 2, 0, 1]  # d, c, a, b, with the label first
    write_csv(root / "shuffled.csv", X[:, order], y, header=["label"] + ["abcd"[j] for j in order], target_col=0)
    moved = run_cli(root, "predict", "m.hsr", "shuffled.csv", "--target", "label")
    assert moved.returncode == 0, moved.stderr
    assert read_predictions(moved.stdout) == read_predictions(same.stdout)
    acc = lambda p: float(re.search(r"accuracy on \d+ samples: ([0-9.]+)", p.stderr).group(1))  # noqa: E731
    assert acc(moved) == acc(same) > 0.9
    assert "feature names" not in moved.stderr


def test_predict_names_missing_and_extra_columns(named):
    root, X, y = named
    write_csv(root / "renamed.csv", X, y, header=["a", "b", "c", "e", "label"])
    one_line_error(run_cli(root, "predict", "m.hsr", "renamed.csv", "--target", "label"), 3, "lacks", "'d'", "'e'")
    one_line_error(run_cli(root, "predict", "m.hsr", "train.csv"), 3, "'label'", "--target")
    # files without names still go by position
    np.savetxt(root / "plain.csv", X, delimiter=",")
    assert run_cli(root, "predict", "m.hsr", "plain.csv").returncode == 0


# ------------------------------------------------------------------------------- 6, 7: the model file written


def test_train_writes_through_a_symlink_and_refuses_special_files(tmp_path, named):
    root = named[0]
    csv = str(root / "train.csv")
    (tmp_path / "real.hsr").write_bytes(b"old")
    os.chmod(tmp_path / "real.hsr", 0o600)
    (tmp_path / "link.hsr").symlink_to(tmp_path / "real.hsr")
    proc = run_cli(tmp_path, "train", csv, "--target", "label", "--task", "classify", "-o", "link.hsr", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link.hsr").is_symlink()
    assert (tmp_path / "real.hsr").read_bytes()[:8] == b"HSRNETMF"
    assert stat.S_IMODE((tmp_path / "real.hsr").stat().st_mode) == 0o600
    os.mkfifo(tmp_path / "pipe")
    one_line_error(
        run_cli(tmp_path, "train", "missing.csv", "--target", "label", "--task", "classify", "-o", "pipe"),
        2,
        "named pipe",
        "not a regular file",
    )
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


# --------------------------------------------------------------------------------------- 9, 11: exit codes


def test_bad_options_are_usage_errors_before_the_data_is_read(tmp_path):
    # the data file does not exist: exit 2 (bad option), not 3 (bad data), proves the option is checked first
    base = ("train", "missing.csv", "--target", "y", "--task", "classify", "-o", "m.hsr")
    usage_error(
        run_cli(tmp_path, *base, "--neurons", "1099511627776"), "--neurons", "2,147,483,646", "see hsrnet train --help"
    )
    usage_error(run_cli(tmp_path, *base, "--neurons", "0"), "--neurons", "must be >= 1")
    usage_error(run_cli(tmp_path, *base, "--validation-fraction", "1.5"), "--validation-fraction")
    usage_error(run_cli(tmp_path, *base, "--delimiter", ":"), "--delimiter")
    usage_error(run_cli(tmp_path, "train", "missing.csv"), "required", "--target")


def test_crafted_label_dtype_is_exit_4(tmp_path, named):
    from hsrnet import model_io, tensor_file

    t = tensor_file.load(named[0] / "m.hsr")
    t["classifier/classes"] = np.frombuffer(json.dumps({"dtype": ",U3", "values": [0, 1]}).encode(), np.uint8)
    tensor_file.save(tmp_path / "bad.hsr", t)
    one_line_error(run_cli(tmp_path, "info", "bad.hsr"), 4, "bad.hsr")
    t["classifier/classes"] = model_io._labels_json(np.array([0, 1]))
    t["input_map/scale"] = np.array([1.0, np.nan, 1.0, 1.0])
    tensor_file.save(tmp_path / "nan.hsr", t)
    one_line_error(
        run_cli(tmp_path, "predict", "nan.hsr", str(named[0] / "train.csv"), "--target", "label"),
        4,
        "input_map/scale",
        "NaN",
    )


# ------------------------------------------------------------------------------------- rough edges: CSV files


@pytest.mark.parametrize("sep,option", [(";", None), ("\t", "tab"), ("|", None)])
def test_other_delimiters(tmp_path, sep, option):
    X, y = blobs(n=120, d=3, seed=4)
    lines = [sep.join(["f1", "f2", "f3", "cls"])] + [
        sep.join([f"{v:.5g}" for v in row] + [str(t)]) for row, t in zip(X, y)
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    extra = () if option is None else ("--delimiter", option)
    proc = run_cli(tmp_path, "train", "d.csv", "--target", "cls", "--task", "classify", "-o", "m.hsr", *FAST, *extra)
    assert proc.returncode == 0, proc.stderr
    assert "120 samples, 3 features" in proc.stdout and "2 classes" in proc.stdout


def test_single_column_file_says_what_was_seen(tmp_path):
    (tmp_path / "d.csv").write_text("a:b:y\n1:2:3\n4:5:6\n")
    one_line_error(
        run_cli(tmp_path, "train", "d.csv", "--target", "y", "--task", "regress", "-o", "m.hsr"),
        3,
        "single column",
        "--delimiter",
    )


def test_wrong_target_lists_every_column_and_suggests_the_closest(tmp_path):
    names = [f"feature_{k:02d}" for k in range(20)] + ["Price"]
    rng = np.random.default_rng(5)
    write_csv(tmp_path / "wide.csv", rng.normal(size=(10, 20)), rng.normal(size=10), header=names)
    err = one_line_error(
        run_cli(tmp_path, "train", "wide.csv", "--target", "price", "--task", "regress", "-o", "m.hsr"),
        3,
        "no column named 'price'",
        "did you mean 'Price'",
        "21 columns",
    )
    assert all(repr(n) in err for n in names)


def test_classify_on_a_continuous_target_warns(tmp_path):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 3))
    write_csv(tmp_path / "c.csv", X, rng.integers(25, 350, 200), header=["a", "b", "c", "y"])
    proc = run_cli(tmp_path, "train", "c.csv", "--target", "y", "--task", "classify", "-o", "m.hsr", *FAST)
    assert proc.returncode == 0, proc.stderr
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("hsrnet: warning:") and "continuous" in l]
    assert len(warnings) == 1 and "classes for 200 samples" in warnings[0] and "--task regress" in warnings[0]
    X, y = blobs(n=200, d=3)
    write_csv(tmp_path / "ok.csv", X, y, header=["a", "b", "c", "y"])
    proc = run_cli(tmp_path, "train", "ok.csv", "--target", "y", "--task", "classify", "-o", "m.hsr", *FAST)
    assert "continuous" not in proc.stderr


def test_validation_fraction_prints_the_held_out_score_and_warns_on_over_fitting(tmp_path):
    X, y = blobs(n=200, d=3)
    write_csv(tmp_path / "ok.csv", X, y, header=["a", "b", "c", "y"])
    proc = run_cli(
        tmp_path,
        "train",
        "ok.csv",
        "--target",
        "y",
        "--task",
        "classify",
        "-o",
        "m.hsr",
        *FAST,
        "--validation-fraction",
        "0.25",
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"score on the held-out data \(50 samples, --validation-fraction 0.25\): accuracy (0\.9|1\.0)", proc.stdout
    ), proc.stdout
    assert "over-fits" not in proc.stderr
    rng = np.random.default_rng(7)  # labels that are noise: memorised, not learned
    write_csv(tmp_path / "noise.csv", rng.normal(size=(200, 12)), rng.integers(0, 2, 200))
    proc = run_cli(
        tmp_path,
        "train",
        "noise.csv",
        "--target",
        "-1",
        "--task",
        "classify",
        "-o",
        "m.hsr",
        "--neurons",
        "4096",
        "--epochs",
        "40",
        "--quiet",
        "--validation-fraction",
        "0.3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "hsrnet: warning:" in proc.stderr and "over-fits" in proc.stderr, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------ the README quick start


def test_readme_quick_start_saves_what_it_trained(tmp_path, monkeypatch):
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    block = re.search(r"## Python quick start\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(block, "README.md", "exec"), ns)  # noqa: S102
    trained = ns.get("model", ns.get("clf"))
    again = ns["again"]
    assert type(again) is type(trained)  # the file holds everything that was trained
    np.testing.assert_array_equal(again.predict(ns["X_te"]), trained.predict(ns["X_te"]))
