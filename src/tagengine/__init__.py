"""tagengine: customer-profiling rules (tags, segments, scores) compiled to Polars.

import tagengine
rules = tagengine.load("rules/retail.tags")
tables = {"customers": customers, "orders": orders}  # polars frames, or paths to files
df = rules.evaluate(tables, as_of=datetime.date(2024, 12, 31))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagengine.diagnostics import Diagnostic, Severity, TagEngineError
    from tagengine.ruleset import RuleSet, load

__all__ = ["Diagnostic", "RuleSet", "Severity", "TagEngineError", "load"]
__version__ = "0.1.0"

# Imported on first use (PEP 562), so that the command's entry point (console.py) starts
# in milliseconds and can take a Ctrl-C before Polars is loaded.
_HOMES = {
    "Diagnostic": "tagengine.diagnostics",
    "Severity": "tagengine.diagnostics",
    "TagEngineError": "tagengine.diagnostics",
    "RuleSet": "tagengine.ruleset",
    "load": "tagengine.ruleset",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'tagengine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
