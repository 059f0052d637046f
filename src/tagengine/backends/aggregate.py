"""Aggregates over related tables: all of one table's aggregates in one `group_by`.

Each aggregate becomes a conditional aggregation (`value.filter(mask).sum()`), where the
mask is its `where` filter and its window. Rows dated after as_of are removed before the
group_by, so no aggregate ever sees them (docs/semantics.md#as_of). Empty aggregates
(docs/semantics.md#empty-aggregates-and-division): count, sum and count_distinct fill in 0
for entities with no rows; the rest stay missing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from tagengine import ir

ZERO_WHEN_EMPTY = ("count", "sum", "count_distinct")
_UNIT_CODES = {"days": "d", "weeks": "w", "months": "mo", "years": "y"}


@dataclass(frozen=True)
class TableAggregates:
    """The aggregates one plan computes over one related table, each with its column."""

    related: ir.Related
    columns: dict[tuple, str]  # fingerprint of the Aggregate -> output column
    nodes: dict[tuple, ir.Aggregate]

    @property
    def rows_column(self) -> str:
        return f"__{self.related.name}__rows"


def collect(program: ir.Program, rules: list[ir.Rule]) -> list[TableAggregates]:
    """Every distinct aggregate the rules use, grouped by related table."""
    by_table: dict[str, TableAggregates] = {}
    related = {r.name: r for r in program.related}
    for rule in rules:
        for node in ir.walk(rule.expr):
            if not isinstance(node, ir.Aggregate):
                continue
            group = by_table.setdefault(node.table, TableAggregates(related[node.table], {}, {}))
            key = ir.fingerprint(node)
            if key not in group.columns:
                group.columns[key] = f"__{node.table}__{len(group.columns)}"
                group.nodes[key] = node
    return list(by_table.values())


def row_date(related: ir.Related, dtype: pl.DataType) -> pl.Expr:
    """The related row's date (a datetime counts on its calendar day)."""
    col = pl.col(related.time)
    return col.cast(pl.Date) if isinstance(dtype, pl.Datetime) else col


def visible_rows(frame: pl.LazyFrame, related: ir.Related, as_of: dt.date) -> pl.LazyFrame:
    if related.time is None:
        return frame
    dtype = frame.collect_schema()[related.time]
    return frame.filter(row_date(related, dtype) <= pl.lit(as_of, pl.Date))


def window_mask(window: ir.Window, day: pl.Expr, as_of: dt.date) -> pl.Expr:
    if window.start is not None and window.end is not None:
        return day.is_between(pl.lit(window.start, pl.Date), pl.lit(window.end, pl.Date))
    start = window_start(as_of, window.amount, window.unit or "days")
    return day > start  # as_of - N < day <= as_of (the upper bound is the table filter)


@functools.lru_cache(maxsize=1024)  # a thousand rules share a handful of windows
def window_start(as_of: dt.date, amount: int, unit: str) -> pl.Expr:
    """as_of moved back by the window, as a date literal: Polars' own calendar arithmetic
    (month ends clamp: 2024-03-31 - 1 month = 2024-02-29), done once here rather than
    on every batch of rows, where it also kept the optimizer from sharing the masks of
    aggregates over the same window (5% of the benchmark)."""
    shifted = pl.lit(as_of, pl.Date).dt.offset_by(f"-{amount}{_UNIT_CODES[unit]}")
    year = pl.select(shifted.dt.year()).item()
    if year is None or not dt.MINYEAR <= year <= dt.MAXYEAR:
        return shifted  # before year 1: a Python date cannot hold it
    return pl.lit(pl.select(shifted).item(), pl.Date)


def row_masks(
    node: ir.Aggregate,
    related: ir.Related,
    time_dtype: pl.DataType | None,
    compile_expr: Callable[[ir.Expr], pl.Expr],
    as_of: dt.date,
) -> tuple[pl.Expr | None, pl.Expr | None]:
    """The rows an aggregate reads: (its window alone, window and `where` together);
    None where there is no such restriction."""
    masks = []
    if node.window is not None and related.time is not None and time_dtype is not None:
        masks.append(window_mask(node.window, row_date(related, time_dtype), as_of))
    window = masks[0] if masks else None
    if node.where is not None:
        # rows whose filter is unknown don't count
        where = compile_expr(node.where).cast(pl.Boolean).fill_null(False)
        if not any(isinstance(c, ir.RelatedColumn) for c in ir.walk(node.where)):
            # a constant filter, spread over the rows (not `pl.repeat(True, pl.len())`:
            # Polars 2.1 reads garbage after filter + sort_by with it in a group_by)
            key = pl.col(related.key)
            where = (key.is_null() | key.is_not_null()) & where
        masks.append(where)
    mask = None
    for m in masks:
        mask = m if mask is None else mask & m
    return window, mask


def aggregation(
    node: ir.Aggregate,
    related: ir.Related,
    time_dtype: pl.DataType | None,
    compile_expr: Callable[[ir.Expr], pl.Expr],
    as_of: dt.date,
) -> pl.Expr:
    """One aggregate as an expression inside `group_by(key).agg(...)`."""
    window, mask = row_masks(node, related, time_dtype, compile_expr, as_of)
    func = node.func
    if func == "share":
        hits = (mask if mask is not None else pl.lit(True)).sum()
        total = window.sum() if window is not None else pl.len()
        return pl.when(total > 0).then(hits.cast(pl.Float64) / total.cast(pl.Float64))
    if node.value is None:  # count(orders)
        return (mask.sum() if mask is not None else pl.len()).cast(pl.Int64)
    value = compile_expr(node.value)
    if func == "count":
        present = value.is_not_null()
        return (present & mask if mask is not None else present).sum().cast(pl.Int64)
    if func in ("first", "last"):
        # by time; ties by the value itself, so the answer never depends on row order
        present = value.is_not_null()
        keep = present & mask if mask is not None else present
        ordered = value.filter(keep).sort_by(
            [pl.col(related.time).filter(keep), value.filter(keep)]
        )
        return ordered.first() if func == "first" else ordered.last()
    if mask is not None:
        value = value.filter(mask)
    kind = node.value.type.kind
    if func == "sum":
        if kind == "int":  # in 128 bits, then back: beyond int64 an error, never wrapped
            return value.cast(pl.Int128).sum().cast(pl.Int64, strict=True)
        # a float's NaN (inf - inf) is made missing after the join
        return _positive_zero(value.sum()) if kind == "float" else value.sum()
    if func == "avg":
        # the exact total (whole numbers, decimals) divided once: the same bits whatever
        # the engine, thread count or row order (docs/semantics.md#determinism); a mean
        # would not be
        n = value.count()
        total = value.cast(pl.Int128).sum() if kind == "int" else value.sum()
        if kind == "float":
            total = _positive_zero(total)
        mean = total.cast(pl.Float64) / n.cast(pl.Float64)
        if kind == "float":  # only a float total can be NaN (inf - inf): missing
            mean = mean.fill_nan(None)
        return pl.when(n > 0).then(mean)
    if func == "min":
        return value.min()
    if func == "max":
        return value.max()
    return value.drop_nulls().n_unique().cast(pl.Int64)  # count_distinct


def _positive_zero(total: pl.Expr) -> pl.Expr:
    """A float sum that is zero as +0.0, as SQL's SUM gives it (it starts from 0.0): Polars
    gives -0.0 for a sum of -0.0 alone. (Not `total + 0.0`: Polars drops the `+ 0.0`.)"""
    return pl.when(total == 0).then(pl.lit(0.0, pl.Float64)).otherwise(total)
