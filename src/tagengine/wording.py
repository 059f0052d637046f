"""Counts and amounts as people read them: `1 rule`, `3 rules`, `44,048.86`.

One place for the English plural and the number format of every human output: the run
summary, explain, check, test and fmt. Machine outputs (JSON, written files) never go
through here.
"""

from __future__ import annotations

from decimal import Decimal


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 rule`, `0 rules`, `1,204 customers`: the count with thousands separators and the
    noun in the right number; `many` for a noun that does not just take an `s`."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


def agree(n: int, one: str, many: str) -> str:
    """The verb (or pronoun) that goes with a count: `agree(n, "has", "have")`."""
    return one if n == 1 else many


def whole(n: int) -> str:
    """A whole number: thousands separators from 10,000 on, so that a year stays `2024`."""
    return f"{n:,}" if abs(n) >= 10_000 else str(n)


def decimal(value: Decimal, places: int | None = None) -> str:
    """An exact amount, money above all: `44,048.86`. `places`: the column's (a decimal
    type's scale), else the value's own."""
    if not value.is_finite():
        return str(value)
    if places is None:
        places = max(0, -int(value.as_tuple().exponent))
    return f"{value:,.{places}f}"
