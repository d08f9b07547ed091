"""The ``python -m hsrnet`` command line."""
from __future__ import annotations

import subprocess
import sys


def run_cli(tmp_path, *args, timeout=240):
    return subprocess.run([sys.executable, "-m", "hsrnet", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)


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
    proc = run_cli(tmp_path)
    assert proc.returncode != 0
    assert "usage: hsrnet" in proc.stderr
    assert "index-demo" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_subcommand_and_bad_option(tmp_path):
    proc = run_cli(tmp_path, "frobnicate")
    assert proc.returncode == 2 and "usage: hsrnet" in proc.stderr and "invalid choice" in proc.stderr
    proc = run_cli(tmp_path, "index-demo", "--log2m", "many")
    assert proc.returncode == 2 and "--log2m" in proc.stderr and "Traceback" not in proc.stderr


def test_help(tmp_path):
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0
    assert "index-demo" in proc.stdout
