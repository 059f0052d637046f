"""Values and distances in the words a marketer reads: `3,200.00`, `1,800.01 short`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tagengine import ir, wording
from tagengine.safe_text import quoted

MISSING = "missing"


def shown(value: object, type_: ir.Type | None = None) -> str:
    """A value for people: thousands separators, a decimal's own places, ISO dates."""
    match value:
        case None:
            return MISSING
        case bool():
            return "true" if value else "false"
        case int():
            return wording.whole(value)  # not 2,024
        case Decimal():
            return wording.decimal(value, type_.scale if type_ is not None else None)
        case float():
            return _float(value)
        case dt.datetime():
            return value.isoformat(sep=" ")
        case dt.date():
            return value.isoformat()
        case str():
            return quoted(value)  # `"a\x1bb"`: never the character itself
    return str(value)


def _float(value: float) -> str:
    if value != value:  # NaN never reaches here (it is missing), but stay total
        return MISSING
    text = f"{value:,.2f}" if abs(value) >= 100 or value == int(value) else f"{value:,.4f}"
    return text.rstrip("0").rstrip(".") if "." in text and abs(value) < 100 else text


def as_json(value: object) -> bool | int | float | str | None:
    """Exact JSON: decimals and dates as strings, NaN as null."""
    match value:
        case None | bool() | int() | str():
            return value
        case float():
            return None if value != value else value
        case Decimal():
            return str(value)
        case dt.datetime() | dt.date():
            return value.isoformat()
    return str(value)


def step(type_: ir.Type) -> Decimal | None:
    """The smallest change of a value of this type, or None where there is none (floats)."""
    if type_.kind == "int":
        return Decimal(1)
    if type_.kind == "decimal" and type_.scale is not None:
        return Decimal(1).scaleb(-type_.scale)
    return None


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def flipped(op: str) -> str:
    """The operator with its sides swapped: `5 < x` is `x > 5`."""
    return _FLIP[op]


def gap(op: str, value: object, target: object, type_: ir.Type) -> str | None:
    """How far `value op target` is from true, or None when distance means nothing."""
    if value is None or target is None or op in ("==", "!="):
        return None
    if isinstance(value, dt.date) and isinstance(target, dt.date):
        return _date_gap(op, value, target)
    if isinstance(value, bool) or isinstance(target, bool):
        return None
    if not isinstance(value, int | float | Decimal) or not isinstance(
        target, int | float | Decimal
    ):
        return None
    v, t = _decimal(value), _decimal(target)
    unit = step(type_)
    strict = op in ("<", ">")
    if op in (">", ">="):
        distance, word = t - v, "short"
    else:
        distance, word = v - t, "over"
    if strict and unit is not None:
        distance += unit
    places = _places(type_, value, target)
    amount = shown(distance.quantize(Decimal(1).scaleb(-places)) if places else int(distance))
    if strict and unit is None:
        return f"more than {amount} {word}"
    return f"{amount} {word}"


def _date_gap(op: str, value: dt.date, target: dt.date) -> str:
    v = value.date() if isinstance(value, dt.datetime) else value
    t = target.date() if isinstance(target, dt.datetime) else target
    days = (t - v).days if op in (">", ">=") else (v - t).days
    if op in (">", "<"):
        days += 1
    word = "too early" if op in (">", ">=") else "too late"
    return f"{wording.plural(days, 'day')} {word}"


def _decimal(x: int | float | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _places(type_: ir.Type, *values: object) -> int:
    if type_.kind == "decimal" and type_.scale is not None:
        return type_.scale
    if type_.kind == "int" and not any(isinstance(v, float | Decimal) for v in values):
        return 0
    return 2
