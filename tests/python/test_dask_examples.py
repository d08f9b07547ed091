"""The runnable examples of docs/dask.md (examples/dask/) run and print what they claim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (the dask extra: pip install 'hsrnet[dask]')"
)
pytest.importorskip("dask_ml", reason="dask-ml is not installed (the dask extra: pip install 'hsrnet[dask]')")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dask"


def _run(name, *args):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True, timeout=240, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_model_selection_example_matches_the_local_search():
    assert "same as the local search: True" in _run("model_selection.py")


def test_stream_example_trains_on_a_memmap_and_through_incremental(tmp_path):
    out = _run("stream.py", tmp_path)
    assert "on this machine: 8 blocks trained" in out and "dask-ml Incremental" in out
    accuracy = float(out.split("on this machine: 8 blocks trained, training accuracy ")[1].split()[0])
    assert accuracy > 0.9


def test_sharded_example_saves_loads_and_gathers(tmp_path):
    out = _run("sharded.py", tmp_path)
    assert "shards [2048, 2048]" in out and "to_local(): HSRClassifier with m = 4096" in out
    assert (tmp_path / "manifest.json").exists()
