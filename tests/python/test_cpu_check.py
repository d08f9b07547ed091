"""The import-time CPU check: a CPU without AVX2/FMA gets a clear ImportError, never SIGILL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import sys
    try:
        import hsrnet
    except ImportError as e:
        print("IMPORT-ERROR:", e)
        print("CORE-LOADED:", "hsrnet._core" in sys.modules)
        sys.exit(3)
    idx = hsrnet.HalfSpaceIndex(__import__("numpy").ones((4, 2), dtype="float32"))
    print("IMPORTED:", hsrnet.__version__, idx.query(__import__("numpy").ones(2, dtype="float32"), 1.5).tolist())
    """
)


def run_probe(tmp_path, pretend=None):
    env = {k: v for k, v in os.environ.items() if k != "HSRNET_TEST_PRETEND_CPU_LACKS"}
    if pretend is not None:
        env["HSRNET_TEST_PRETEND_CPU_LACKS"] = pretend
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("pretend", ["avx2", "avx2 fma"])
def test_missing_avx2_raises_import_error(tmp_path, pretend):
    proc = run_probe(tmp_path, pretend)
    assert proc.returncode == 3, f"rc={proc.returncode} (negative: killed by a signal)\n{proc.stdout}\n{proc.stderr}"
    line = next(l for l in proc.stdout.splitlines() if l.startswith("IMPORT-ERROR:"))
    assert "AVX2" in line
    assert f"this CPU lacks: {pretend}" in line
    assert "CORE-LOADED: False" in proc.stdout  # the AVX2 module was never loaded
    assert "Traceback" not in proc.stderr


def test_missing_fma_names_fma(tmp_path):
    proc = run_probe(tmp_path, "fma")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "lacks: fma" in proc.stdout


@pytest.mark.parametrize("pretend", [None, ""])
def test_imports_without_the_variable(tmp_path, pretend):
    proc = run_probe(tmp_path, pretend)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORTED: " in proc.stdout
    assert proc.stdout.strip().endswith("[0, 1, 2, 3]")  # <(1, 1), (1, 1)> = 2 > 1.5 for every row


def test_cpu_module_reports_nothing_missing_here():
    """This process imported hsrnet, so the CPU has what the core needs and the check says so."""
    from hsrnet import _cpu

    assert _cpu.missing_features() == ""
