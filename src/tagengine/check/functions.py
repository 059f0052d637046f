"""The functions a rule may call: how many arguments, of which types, giving which type.

One table serves the checker (types, arity) and the docs; backends map names to code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tagengine import ir

Check = Callable[[ir.Type], bool]


def _numeric(t: ir.Type) -> bool:
    return t.numeric


def _temporal(t: ir.Type) -> bool:
    return t.temporal or t.kind == "unknown"


def _text(t: ir.Type) -> bool:
    return t.kind in ("string", "unknown")


def _rankable(t: ir.Type) -> bool:
    return t.numeric or t.temporal


def _any(t: ir.Type) -> bool:
    return t.kind != "list"


@dataclass(frozen=True)
class Signature:
    params: tuple[tuple[str, Check], ...]  # (what it must be, in words; the test)
    result: Callable[[list[ir.Type]], ir.Type]
    variadic: bool = False  # the last parameter repeats (min: len(params))
    optional: int = 0  # how many trailing params may be left out
    doc: str = ""


def _same(ts: list[ir.Type]) -> ir.Type:
    return ts[0]


def _const(t: ir.Type) -> Callable[[list[ir.Type]], ir.Type]:
    return lambda _ts: t


SCALAR: dict[str, Signature] = {
    "days_between": Signature(
        (("a date", _temporal), ("a date", _temporal)),
        _const(ir.INT),
        doc="whole days from the first date to the second (later minus earlier is positive)",
    ),
    "year": Signature((("a date", _temporal),), _const(ir.INT), doc="the year, e.g. 2024"),
    "quarter": Signature((("a date", _temporal),), _const(ir.INT), doc="1..4"),
    "month": Signature((("a date", _temporal),), _const(ir.INT), doc="1..12"),
    "day": Signature((("a date", _temporal),), _const(ir.INT), doc="day of the month, 1..31"),
    "weekday": Signature((("a date", _temporal),), _const(ir.INT), doc="1 = Monday .. 7 = Sunday"),
    "abs": Signature((("a number", _numeric),), _same, doc="absolute value"),
    "round": Signature(
        (("a number", _numeric), ("a whole number of decimals", lambda t: t.kind == "int")),
        lambda ts: ir.decimal(0) if ts[0].kind == "decimal" else ir.FLOAT,
        optional=1,
        doc="rounds half away from zero to N decimals (default 0)",
    ),
    "floor": Signature((("a number", _numeric),), _const(ir.FLOAT), doc="round down"),
    "ceil": Signature((("a number", _numeric),), _const(ir.FLOAT), doc="round up"),
    "coalesce": Signature(
        (("a value", _any), ("a value", _any)),
        _same,
        variadic=True,
        doc="the first argument that is not missing",
    ),
    "least": Signature(
        (("a number or date", _rankable), ("a number or date", _rankable)),
        _same,
        variadic=True,
        doc="the smallest argument, ignoring missing ones",
    ),
    "greatest": Signature(
        (("a number or date", _rankable), ("a number or date", _rankable)),
        _same,
        variadic=True,
        doc="the largest argument, ignoring missing ones",
    ),
    "lower": Signature((("text", _text),), _const(ir.STRING), doc="lower-case text"),
    "upper": Signature((("text", _text),), _const(ir.STRING), doc="upper-case text"),
    "trim": Signature((("text", _text),), _const(ir.STRING), doc="text without outer spaces"),
    "length": Signature((("text", _text),), _const(ir.INT), doc="number of characters"),
}

# Rankings look at the whole population (docs/semantics.md#rankings); `buckets` says
# whether they take n.
RANKING: dict[str, tuple[bool, ir.Type, str]] = {
    "ntile": (True, ir.INT, "equal-count buckets 1..n (SQL NTILE), ties by entity key"),
    "qcut": (True, ir.INT, "value-quantile bins 1..k, as pandas.qcut(duplicates='drop')"),
    "rank": (False, ir.INT, "1 + the number of smaller values (SQL RANK)"),
    "percent_rank": (False, ir.FLOAT, "(rank - 1) / (count - 1), 0..1 (SQL PERCENT_RANK)"),
}

KNOWN = sorted([*SCALAR, *RANKING])
