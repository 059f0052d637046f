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

# Every character whose upper case is longer than itself (102 in Unicode 14; the list has
# not changed since Unicode 4.1). `tests/test_engine_functions.py` derives it again from
# Python's Unicode tables and compares.
UPPER_EXPANDING = (
    "ßŉǰΐΰևẖẗẘẙẚὐὒὔὖᾀᾁᾂᾃᾄᾅᾆᾇᾈᾉᾊᾋᾌᾍᾎᾏᾐᾑᾒᾓᾔᾕᾖᾗᾘᾙᾚᾛᾜᾝᾞᾟᾠᾡᾢᾣᾤᾥᾦᾧᾨᾩᾪᾫᾬᾭᾮᾯᾲᾳᾴᾶᾷᾼ"
    "ῂῃῄῆῇῌῒΐῖῗῢΰῤῦῧῲῳῴῶῷῼﬀﬁﬂﬃﬄﬅﬆﬓﬔﬕﬖﬗ"
)
UPPER_SPECIAL = {c: c.upper() for c in UPPER_EXPANDING}
# `İ` is the one character whose lower case is longer; `Σ` is our choice (see above)
LOWER_SPECIAL = {"\u0130": "i\u0307", "Σ": "σ"}


def upper(text: str) -> str:
    """The definition, in plain Python: the reference the tests compare engines with."""
    return text.upper()


def lower(text: str) -> str:
    return text.replace("Σ", "σ").lower()
