"""The module-level ``__getattr__`` of hsrnet's packages: names imported on first use, and old names kept
for one release behind a DeprecationWarning."""

from __future__ import annotations

import importlib
import warnings


def module_getattr(module_name: str, module_globals: dict, name: str, lazy=None, renamed=None):
    """`lazy`: name -> (submodule, attribute), imported on first access and then cached in the module;
    `renamed`: old name -> current name. Anything else is an AttributeError, as for a plain module."""
    if renamed and name in renamed:
        warnings.warn(
            f"{module_name}.{name} is now {module_name}.{renamed[name]} (the C++ name); the old name goes in "
            "the next release",
            DeprecationWarning,
            stacklevel=3,  # the caller of the module's __getattr__
        )
        return module_globals[renamed[name]]
    if lazy and name in lazy:
        submodule, attr = lazy[name]
        value = getattr(importlib.import_module(f"{module_name}.{submodule}"), attr)
        module_globals[name] = value
        return value
    raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
