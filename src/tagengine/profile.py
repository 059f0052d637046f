"""What the data holds, column by column: data first (`profile`), then views (`to_json`,
`render`).

`tagengine schema` tells a column's type; a rule also needs its values: whether
`member_level` says `gold` or `金卡`. For text and true/false columns the profile lists
the most frequent values with their counts (ties by value), for numbers, dates and
times the minimum, quartiles and maximum; for every column how many rows miss a value
(NaN counts as missing, docs/semantics.md#missing-values) and how many distinct values it has.

Each table is read by lazy Polars queries run together: one aggregation for every
column's counts and ranges, and one `group_by` per text or true/false column of which
only the top values come back.

A private column (the project's `pii`) shows its type, row count and missing count only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from rich.console import Group
from rich.table import Table
from rich.text import Text

from tagengine.check.values import is_private
from tagengine.diagnostics import Diagnostic, TagEngineError, did_you_mean, error
from tagengine.safe_text import json_text, quoted, shown
from tagengine.schema import type_name, type_of
from tagengine.sources import collect, schema_of

QUANTILES = (("25%", 0.25), ("50%", 0.5), ("75%", 0.75))
_JSON_NAMES = {"min": "min", "25%": "p25", "50%": "p50", "75%": "p75", "max": "max"}
Value = str | bool | int | float | Decimal | dt.date | dt.datetime | dt.time | dt.timedelta


@dataclass(frozen=True)
class ValueCount:
    value: str | bool
    count: int


@dataclass(frozen=True)
class ColumnProfile:
    """One column. Its `view`: "values" (text, true/false: `values` and `more`), "range"
    (numbers, dates, times, durations: `range`), or "counts" (other types: counts only)."""

    column: str
    dtype: pl.DataType
    rows: int
    missing: int
    private: bool = False
    distinct: int | None = None  # values other than missing; None: not counted
    values: tuple[ValueCount, ...] = ()  # most frequent first, ties by value
    more: int = 0  # distinct values not in `values`
    range: tuple[tuple[str, Value], ...] = ()  # (min, 25%, 50%, 75%, max) when any

    @property
    def view(self) -> str:
        return _view(self.dtype)

    @property
    def words(self) -> str:
        """The column's type as the rules' documentation says it (text, whole number)."""
        t = type_of(self.dtype)
        return str(t) if t is not None and t.kind != "unknown" else type_name(self.dtype)

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "column": self.column,
            "type": type_name(self.dtype),
            "kind": self.words,
            "rows": self.rows,
            "missing": self.missing,
            "missing_share": _share(self.missing, self.rows),
            "private": self.private,
        }
        if self.private:
            return out
        if self.distinct is not None:
            out["distinct"] = self.distinct
        if self.view == "values":
            out["values"] = [
                {"value": v.value, "count": v.count, "share": _share(v.count, self.rows)}
                for v in self.values
            ]
            out["more_values"] = self.more
        if self.range:
            out.update({_JSON_NAMES[name]: _json_value(v) for name, v in self.range})
        return out


@dataclass(frozen=True)
class TableProfile:
    name: str
    rows: int
    columns: tuple[ColumnProfile, ...]


@dataclass(frozen=True)
class Profile:
    tables: tuple[TableProfile, ...]
    top: int

    def to_dict(self) -> dict[str, object]:
        return {
            "top": self.top,
            "tables": [
                {"table": t.name, "rows": t.rows, "columns": [c.to_dict() for c in t.columns]}
                for t in self.tables
            ],
        }

    def to_json(self) -> str:
        """Stable JSON: keys sorted, tables by name, columns in the table's order, values
        most frequent first; the same data gives the same bytes."""
        return json_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))


# ---- choosing what to profile ----------------------------------------------------------


def select(
    schema: Mapping[str, Mapping[str, pl.DataType]], targets: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Table -> the columns to profile, tables sorted by name, columns in the table's
    order. A target is a table (`customers`: all its columns) or one column
    (`customers.member_level`); none means every table. Raises `TagEngineError` (TE101,
    with a did-you-mean) for a table or column that is not in the data."""
    if not targets:
        return {name: list(schema[name]) for name in sorted(schema)}
    wanted: dict[str, set[str] | None] = {}  # None: the whole table
    problems = []
    for target in targets:
        if target in schema:
            wanted[target] = None
            continue
        table, _, column = target.partition(".")
        if table not in schema:
            problems.append(_unknown_table(table, target, schema))
        elif column not in schema[table]:
            problems.append(_unknown_column(table, column, schema[table]))
        elif (columns := wanted.setdefault(table, set())) is not None:
            columns.add(column)
    if problems:
        raise TagEngineError(problems)
    out = {}
    for name in sorted(wanted):
        only = wanted[name]
        out[name] = [c for c in schema[name] if only is None or c in only]
    return out


def _unknown_table(
    table: str, target: str, schema: Mapping[str, Mapping[str, pl.DataType]]
) -> Diagnostic:
    holders = sorted(name for name, columns in schema.items() if target in columns)
    if holders:
        hint = f"did you mean `{holders[0]}.{target}`? Name a column as TABLE.COLUMN"
    else:
        guess = did_you_mean(table, list(schema))
        hint = f"did you mean `{guess}`? " if guess else ""
        hint += "tables in the data: " + (", ".join(sorted(schema)) or "none")
    return error("TE101", f"no table `{table}` in the data", None, hint)


def _unknown_column(table: str, column: str, columns: Mapping[str, pl.DataType]) -> Diagnostic:
    guess = did_you_mean(column, list(columns))
    hint = f"did you mean `{table}.{guess}`? " if guess else ""
    hint += f"columns of `{table}`: " + ", ".join(list(columns)[:30])
    if len(columns) > 30:
        hint += f", and {len(columns) - 30} more"
    return error("TE101", f"`{table}` has no column `{column}`", None, hint)


# ---- computing -------------------------------------------------------------------------


def profile(
    tables: Mapping[str, pl.LazyFrame | pl.DataFrame],
    targets: Sequence[str] = (),
    top: int = 10,
    private: Iterable[str] = (),
) -> Profile:
    """The profile of the `targets` (see `select`; default: every table) of `tables`,
    listing up to `top` values of each text or true/false column. Columns in `private`
    (`phone`: that column in any table; `orders.card_no`) get their counts only.
    Raises `TagEngineError`: an unknown target (TE101), data that cannot be read."""
    top = max(top, 0)
    lazy = {n: f.lazy() if isinstance(f, pl.DataFrame) else f for n, f in tables.items()}
    schema = schema_of(lazy)
    chosen = select(schema, targets)
    private = list(private)
    plans = [
        _Plan(name, lazy[name], schema[name], cols, top, private) for name, cols in chosen.items()
    ]
    frames = collect([q for plan in plans for q in plan.queries()])
    out = []
    for plan in plans:
        n = len(plan.queries())
        out.append(plan.result(frames[:n]))
        frames = frames[n:]
    return Profile(tuple(out), top)


def _view(dtype: pl.DataType) -> str:
    if dtype == pl.String or dtype == pl.Boolean or isinstance(dtype, pl.Categorical | pl.Enum):
        return "values"
    if (
        dtype.is_numeric()
        or dtype == pl.Date
        or isinstance(dtype, pl.Datetime | pl.Duration)
        or dtype == pl.Time
    ):
        return "range"
    return "counts"


class _Plan:
    """The queries for one table and how to read their answers."""

    def __init__(
        self,
        name: str,
        frame: pl.LazyFrame,
        schema: Mapping[str, pl.DataType],
        columns: list[str],
        top: int,
        private: list[str],
    ):
        self.name, self.frame, self.top = name, frame, top
        self.columns = [(c, schema[c], is_private(name, c, private)) for c in columns]
        self._queries: list[pl.LazyFrame] | None = None

    def queries(self) -> list[pl.LazyFrame]:
        if self._queries is None:
            stats = [pl.len().alias("rows")]
            values = []
            for i, (column, dtype, hidden) in enumerate(self.columns):
                x = pl.col(column)
                if dtype.is_float():
                    x = x.fill_nan(None)  # NaN is missing (docs/semantics.md#missing-values)
                stats.append(x.null_count().alias(f"{i}:missing"))
                if hidden or _view(dtype) == "counts":
                    continue
                if _view(dtype) == "range":
                    stats.append(x.drop_nulls().n_unique().alias(f"{i}:distinct"))
                    stats.append(x.min().alias(f"{i}:min"))
                    for label, q in QUANTILES:
                        stats.append(_quantile(x, q, dtype).alias(f"{i}:{label}"))
                    stats.append(x.max().alias(f"{i}:max"))
                else:
                    values.append(self._values(column, dtype))
            self._queries = [self.frame.select(stats), *values]
        return self._queries

    def _values(self, column: str, dtype: pl.DataType) -> pl.LazyFrame:
        value = pl.col(column)
        if dtype != pl.Boolean:
            value = value.cast(pl.String)  # categories sorted as text, not by their codes
        counts = (
            self.frame.select(value.alias("value"))
            .drop_nulls()
            .group_by("value")
            .agg(pl.len().alias("count"))
        )
        top = counts.sort(["count", "value"], descending=[True, False]).head(self.top)
        distinct = counts.select(pl.len().alias("distinct"))  # one group_by for both
        return top.join(distinct, how="cross")  # no rows: no values at all

    def result(self, frames: list[pl.DataFrame]) -> TableProfile:
        stats = frames[0].row(0, named=True)
        rows = int(stats["rows"])
        listed = iter(frames[1:])
        columns = []
        for i, (column, dtype, hidden) in enumerate(self.columns):
            missing = int(stats[f"{i}:missing"])
            if hidden or _view(dtype) == "counts":
                columns.append(ColumnProfile(column, dtype, rows, missing, hidden))
                continue
            if _view(dtype) == "range":
                distinct = int(stats[f"{i}:distinct"])
                names = ("min", *(label for label, _ in QUANTILES), "max")
                found = tuple((n, stats[f"{i}:{n}"]) for n in names)
                shown = found if distinct else ()
                columns.append(
                    ColumnProfile(column, dtype, rows, missing, False, distinct, range=shown)
                )
                continue
            counts = next(listed)
            distinct = int(counts["distinct"][0]) if counts.height else 0
            values = tuple(
                ValueCount(v, int(n)) for v, n in counts.select("value", "count").iter_rows()
            )
            more = distinct - len(values)
            columns.append(
                ColumnProfile(column, dtype, rows, missing, False, distinct, values, more)
            )
        return TableProfile(self.name, rows, tuple(columns))


def _quantile(x: pl.Expr, q: float, dtype: pl.DataType) -> pl.Expr:
    """The value at quantile `q` (the nearest one the column holds), of the column's type.
    Dates and times go through their integers: Polars 2.1 panics on the quantile of a
    date column without values."""
    if dtype.is_temporal():
        return x.to_physical().quantile(q, "nearest").cast(pl.Int64).cast(dtype)
    return x.quantile(q, "nearest").cast(dtype)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _json_value(v: Value | None) -> object:
    if isinstance(v, bool) or v is None or isinstance(v, int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, dt.date | dt.datetime | dt.time):
        return v.isoformat()
    return str(v)  # Decimal (exact, as text), duration


# ---- the human view --------------------------------------------------------------------


def render(profile: Profile) -> Group:
    """One rich table per table: a row per column, its values or range in the last cell."""
    return Group(*(_table(t) for t in profile.tables))


def _table(t: TableProfile) -> Table:
    table = Table(title=Text(f"{shown(t.name)} · {t.rows:,} rows"), title_justify="left")
    table.add_column("column")
    table.add_column("type")
    table.add_column("missing", justify="right")
    table.add_column("distinct", justify="right")
    table.add_column("values (most frequent first) or range")
    for c in t.columns:
        missing = f"{c.missing:,}" + (f" ({_percent(c.missing, c.rows)})" if c.missing else "")
        distinct = "" if c.distinct is None else f"{c.distinct:,}"
        table.add_row(Text(shown(c.column)), Text(shown(c.words)), missing, distinct, _cell(c))
    return table


def _percent(part: int, whole: int) -> str:
    share = part / whole if whole else 0.0
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def _cell(c: ColumnProfile) -> Text | Group:
    if c.private:
        return Text("private: values hidden", style="italic")
    if c.view == "counts":
        return Text("")
    if not c.values and not c.range:
        return Text("(no values)", style="dim")
    grid = Table.grid(padding=(0, 2))
    if c.view == "range":
        grid.add_column(style="dim")
        grid.add_column(justify="right")
        for name, v in c.range:
            grid.add_row(name, Text(_shown(v)))
        return Group(grid)
    grid.add_column()
    grid.add_column(justify="right")
    grid.add_column(justify="right")
    for v in c.values:
        grid.add_row(Text(_text(v.value)), f"{v.count:,}", _percent(v.count, c.rows))
    more = f"and {c.more:,} more value{'s' * (c.more != 1)}"
    return Group(grid, *([Text(more, style="dim")] if c.more else []))


def _text(value: str | bool) -> str:
    """A value as the rules write it: text as is, unless empty or with spaces at the ends
    or characters that do not print (then quoted, those escaped); true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value and value == value.strip() and value.isprintable():
        return value
    return quoted(value)


def _shown(v: Value | None) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)  # no "2,024" for years
    if isinstance(v, float):
        return f"{v:,.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, Decimal):
        return f"{v:,}"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)
