"""What the installed package promises besides behaviour: one version everywhere, type information."""

import ast
import importlib.metadata
import pathlib
import re

import hsrnet
import pytest
from hsrnet import _core

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_one_version_everywhere():
    # include/hsrnet/config.hpp is the only place the version is written; CMake and pyproject read it there.
    text = (ROOT / "include" / "hsrnet" / "config.hpp").read_text()
    parts = [re.search(rf"#define HSRNET_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    written = ".".join(parts)
    assert hsrnet.__version__ == _core.__version__ == written
    assert importlib.metadata.version("hsrnet") == written


def test_package_is_typed_and_stubs_cover_the_compiled_module():
    pkg = pathlib.Path(hsrnet.__file__).parent
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "_core.pyi").read_text()
    tree = ast.parse(stub)  # a stub that does not parse helps no type checker
    declared = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    declared |= {
        t.id
        for n in tree.body
        if isinstance(n, (ast.Assign, ast.AnnAssign))
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        if isinstance(t, ast.Name)
    }
    public = {name for name in dir(_core) if not name.startswith("_")}
    assert public <= declared, f"_core.pyi lacks {sorted(public - declared)}"


@pytest.mark.parametrize("module", ["hsrnet", "hsrnet.network"])
@pytest.mark.parametrize("old,new", [("ShiftedReLUNetwork", "ShiftedReLUNet"), ("SGDTrainer", "SgdTrainer")])
def test_old_python_names_still_work_with_a_warning(module, old, new):
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        assert getattr(mod, old) is getattr(mod, new)
