"""The optional extras (`pip install 'tagengine[duckdb]'`, `[db]`, `[spark]`) and the one
way to import what they bring.

`pip install tagengine` gives Polars and nothing else heavy: every command runs without
an extra, and anything that needs one imports it through `require`, at the moment it is
needed, so a missing package is a diagnostic that names the extra to install, never an
ImportError. tests/test_install.py checks both from a built wheel in a fresh virtual
environment.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tagengine.diagnostics import TagEngineError, error

# extra -> the modules it brings, its main one first (pyproject.toml's
# [project.optional-dependencies]); pyarrow carries the Arrow data between Polars and
# each of them.
EXTRAS: dict[str, tuple[str, ...]] = {
    "duckdb": ("duckdb", "pyarrow"),
    "db": ("connectorx", "pyarrow"),
    "spark": ("pyspark", "pyarrow"),
}


def require(extra: str, needed_for: str, code: str) -> ModuleType:
    """The extra's main module. If it or another module of the extra cannot be imported,
    a TagEngineError with `code`: "<needed_for> needs the <package> package", and the
    pip command that installs the extra as its hint."""
    modules = []
    for name in EXTRAS[extra]:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            missing = (exc.name or name).partition(".")[0]
            raise TagEngineError(
                error(
                    code,
                    f"{needed_for} needs the {missing} package",
                    None,
                    f"pip install 'tagengine[{extra}]'",
                )
            ) from None
    return modules[0]
