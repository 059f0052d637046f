"""Table schemas: what the checker knows about the data before any row is read."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from tagengine import ir

# table name -> column name -> Polars dtype
Schema = Mapping[str, Mapping[str, pl.DataType]]


def type_of(dtype: pl.DataType) -> ir.Type | None:
    """Our type for a Polars dtype, or None when rules cannot use such a column."""
    if dtype == pl.Null:  # an all-missing column (e.g. empty in every CSV row) fits anything
        return ir.UNKNOWN
    if dtype == pl.Boolean:
        return ir.BOOL
    if dtype.is_integer():
        return ir.INT
    if dtype.is_float():
        return ir.FLOAT
    if isinstance(dtype, pl.Decimal):
        return ir.decimal(dtype.scale)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return ir.STRING
    if dtype == pl.Date:
        return ir.DATE
    if isinstance(dtype, pl.Datetime):
        return ir.DATETIME
    if isinstance(dtype, pl.Duration):
        return ir.DURATION
    return None


def column_types(columns: Mapping[str, pl.DataType]) -> dict[str, ir.Type]:
    """Our type of every column; one rules cannot use is typed `unsupported <dtype>`."""
    out: dict[str, ir.Type] = {}
    for name, dtype in columns.items():
        t = type_of(dtype)
        out[name] = t if t is not None else ir.Type(f"unsupported {dtype}")
    return out
