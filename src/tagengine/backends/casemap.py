"""`upper` and `lower`: one case mapping on every engine.

The definition (docs/language.md, Functions): Unicode's full case mapping, as Python's
`str.upper` and `str.lower` give it (the unconditional mappings of SpecialCasing.txt:
`ß` -> `SS`, `ﬁ` -> `FI`, `İ` -> `i̇`), except that `Σ` always lowers to `σ` (no
final-sigma rule: SQL engines cannot see a word's end; Python, Rust and Java apply it).

Polars (Rust) and Spark (Java) map full already, DuckDB maps one character to one (`ß` ->
`ẞ`, `İ` -> `i`). So every engine is told explicitly: the characters whose mapping is more
than one character are replaced by it first (`REPLACE` in SQL), then the engine's own
`UPPER`/`LOWER` maps the rest, one character to one, where the engines agree. Every
replacement is already in its case, so the order of the replacements does not matter.
"""

from __future__ import annotations

# Every character whose upper case is longer than itself (ß ŉ ǰ ΐ ΰ և ... ﬀ ﬁ ﬂ ...: 102
# in Unicode 14), by code point: an editor may normalize the Greek ones into others.
# `tests/test_engine_functions.py` derives it again from Python's tables and compares.
UPPER_EXPANDING = (
    "\u00df\u0149\u01f0\u0390\u03b0\u0587\u1e96\u1e97\u1e98\u1e99\u1e9a\u1f50\u1f52\u1f54"
    "\u1f56\u1f80\u1f81\u1f82\u1f83\u1f84\u1f85\u1f86\u1f87\u1f88\u1f89\u1f8a\u1f8b\u1f8c"
    "\u1f8d\u1f8e\u1f8f\u1f90\u1f91\u1f92\u1f93\u1f94\u1f95\u1f96\u1f97\u1f98\u1f99\u1f9a"
    "\u1f9b\u1f9c\u1f9d\u1f9e\u1f9f\u1fa0\u1fa1\u1fa2\u1fa3\u1fa4\u1fa5\u1fa6\u1fa7\u1fa8"
    "\u1fa9\u1faa\u1fab\u1fac\u1fad\u1fae\u1faf\u1fb2\u1fb3\u1fb4\u1fb6\u1fb7\u1fbc\u1fc2"
    "\u1fc3\u1fc4\u1fc6\u1fc7\u1fcc\u1fd2\u1fd3\u1fd6\u1fd7\u1fe2\u1fe3\u1fe4\u1fe6\u1fe7"
    "\u1ff2\u1ff3\u1ff4\u1ff6\u1ff7\u1ffc\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06\ufb13"
    "\ufb14\ufb15\ufb16\ufb17"
)
UPPER_SPECIAL = {c: c.upper() for c in UPPER_EXPANDING}
# `İ` is the one character whose lower case is longer; `Σ` is our choice (see above)
LOWER_SPECIAL = {"\u0130": "i\u0307", "Σ": "σ"}


def upper(text: str) -> str:
    """The definition, in plain Python: the reference the tests compare engines with."""
    return text.upper()


def lower(text: str) -> str:
    return text.replace("Σ", "σ").lower()
