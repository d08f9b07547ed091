"""A bounded run of the model-file fuzz target (tests/fuzz/fuzz_model_file.py) when atheris is installed.

HSRNET_FUZZ_SECONDS sets the length (default 8 s); scripts/fuzz.sh runs a long one with a kept corpus.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

TARGET = os.path.join(os.path.dirname(__file__), "..", "fuzz", "fuzz_model_file.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")
def test_model_file_reader_survives_fuzzing(tmp_path):
    seconds = int(os.environ.get("HSRNET_FUZZ_SECONDS", "8"))
    proc = subprocess.run(
        [
            sys.executable,
            TARGET,
            f"-max_total_time={seconds}",
            "-rss_limit_mb=2048",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
            "-print_final_stats=1",
            str(tmp_path / "corpus"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    runs = re.search(r"Done (\d+) runs", log)
    assert runs and int(runs.group(1)) > 1000, log[-2000:]
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))
