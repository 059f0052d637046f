"""Is an implementation's table the same as tagengine's?

Amounts are decimals (bench/generate.py), so every sum, threshold and ranking over money
is exact in all four implementations and must agree cell for cell: whole numbers,
decimals, true/false, text and dates exactly. The few float columns (an average, a
share: one division of exact numbers) must agree within a relative 1e-9; cells that are
close but not bit-equal are counted and reported, since docs/semantics.md#determinism asks
tagengine's own engines for the same bits but another implementation may divide
differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from polars.testing import assert_frame_equal

REL_TOL = 1e-9


@dataclass
class Outcome:
    equal: bool
    problem: str = ""  # why not equal, when the shapes differ
    differing: dict[str, int] = field(default_factory=dict)  # column -> cells
    last_bits: dict[str, int] = field(default_factory=dict)  # float column -> close cells

    def summary(self) -> str:
        if self.problem:
            return f"FAILED: {self.problem}"
        if self.differing:
            return f"FAILED: differing cells {self.differing}"
        if self.last_bits:
            return f"equal (float cells equal within {REL_TOL:g}, not bit-equal: {self.last_bits})"
        return "equal, bit for bit"

    def as_dict(self) -> dict:
        return {
            "equal": self.equal,
            "summary": self.summary(),
            "differing_cells": self.differing,
            "float_cells_not_bit_equal": self.last_bits,
        }


def compare(expected: pl.DataFrame, got: pl.DataFrame) -> Outcome:
    if expected.schema != got.schema:
        return Outcome(False, f"schema differs: expected {expected.schema}, got {got.schema}")
    if expected.height != got.height or not expected["customer_id"].equals(got["customer_id"]):
        return Outcome(False, "rows differ (count, keys or order)")
    differing, last_bits = {}, {}
    for column in expected.columns:
        a, b = expected[column], got[column]
        if (wrong := int(mismatches(a, b).sum())) > 0:
            differing[column] = wrong
        elif a.dtype.is_float() and (inexact := int(a.ne_missing(b).sum())) > 0:
            last_bits[column] = inexact
    same = [c for c in expected.columns if c not in differing]
    # the harness's own verdict must agree with polars.testing on what it calls equal
    assert_frame_equal(expected.select(same), got.select(same), rel_tol=REL_TOL, abs_tol=0.0)
    return Outcome(not differing, differing=differing, last_bits=last_bits)


def mismatches(a: pl.Series, b: pl.Series) -> pl.Series:
    """True where two cells differ: floats beyond REL_TOL, everything else at all."""
    if a.dtype.is_float():
        close = ((a - b).abs() <= REL_TOL * b.abs()).fill_null(False)
        both_null = a.is_null() & b.is_null()
        return ~(close | both_null)
    return a.ne_missing(b)
