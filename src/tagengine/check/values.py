"""TE410: text compared with a column that never holds it, found in the data itself.

`tag gold when member_level == "gold"` is a valid rule, and matches no one when the data
says `金卡`. The schema cannot tell (a text column may hold anything); the data can. With
the data at hand (`tagengine check --data`, `RuleSet.check(data=...)`), every text written
in a rule and compared with a column — `==`, `!=`, `in [...]`, `not in [...]`, on either
side, in any rule or segment branch or `where` filter, directly or through a feature that
is that column (`feature level = member_level`, `last(orders.channel)`) — is looked up
among the column's values.

One lazy query per column involved, over its distinct values with their counts: only the
texts looked for, their near matches and the most frequent values come back, so a column
of millions of distinct values costs one `group_by`, not their transfer.

The values of a private column (the project's `pii`) are never listed: its warning says
that the text does not occur, and nothing about what does.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import polars as pl

from tagengine import ir
from tagengine.diagnostics import Diagnostic, warning
from tagengine.schema import categories
from tagengine.sources import collect, schema_of

SHOWN = 5  # most frequent values listed in a warning
CANDIDATES = 1_000  # most frequent values "did you mean" chooses among
_ALIASING = ("first", "last", "min", "max")  # aggregates whose value is one of the column's


@dataclass(frozen=True)
class _Use:
    """A text written in a rule and compared with a column."""

    table: str
    column: str
    literal: ir.Literal
    negated: bool  # `!=` / `not in`: true where the column holds anything else
    via: str | None  # the rule that stands for the column, when it is not named directly


def is_private(table: str, column: str, private: Iterable[str]) -> bool:
    """Whether `table.column` is private: named as `table.column`, or by its bare name
    (which hides a column of that name in every table: a copy is as private)."""
    names = set(private)
    return column in names or f"{table}.{column}" in names


def unseen_values(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    private: Iterable[str] = (),
) -> list[Diagnostic]:
    """A TE410 warning for each text compared with a column whose data never holds it.
    Raises `TagEngineError` (TE402, TE7xx) if the data cannot be read."""
    private = list(private)
    schemas = schema_of({name: tables[name] for name in _tables_used(program) if name in tables})
    uses: dict[tuple[str, str], list[_Use]] = {}
    for use in _uses(program):
        if not _is_text(schemas.get(use.table, {}).get(use.column), use):
            continue
        uses.setdefault((use.table, use.column), []).append(use)
    if not uses:
        return []
    keys = list(uses)
    queries = [
        _query(
            tables[t],
            c,
            sorted({str(u.literal.value) for u in uses[(t, c)]}),
            is_private(t, c, private),
        )
        for t, c in keys
    ]
    out: list[Diagnostic] = []
    for (table, column), found in zip(keys, collect(queries), strict=True):
        hidden = is_private(table, column, private)
        values = _Values(found)
        for use in uses[(table, column)]:
            if str(use.literal.value) not in values.present:
                out.append(_warning(use, program.entity.table, values, hidden))
    return out


def _is_text(dtype: pl.DataType | None, use: _Use) -> bool:
    if dtype is None:
        return False
    if isinstance(dtype, pl.Enum):  # a text not among the categories is TE305 already
        return str(use.literal.value) in (categories(dtype) or ())
    return dtype == pl.String or isinstance(dtype, pl.Categorical)


# ---- finding the comparisons -------------------------------------------------------


def _tables_used(program: ir.Program) -> list[str]:
    return [program.entity.table, *(r.name for r in program.related)]


def _uses(program: ir.Program) -> Iterator[_Use]:
    by_name = {r.name: r for r in program.rules}
    entity = program.entity.table
    for rule in program.rules:
        for node in ir.walk(rule.expr):
            pairs: list[tuple[ir.Expr, ir.Expr, bool]] = []
            match node:
                case ir.Compare(op="==" | "!=" as op, left=a, right=b):
                    pairs = [(a, b, op == "!="), (b, a, op == "!=")]
                case ir.InList(operand=x, values=values, negated=negated):
                    pairs = [(x, v, negated) for v in values]
            for side, value, negated in pairs:
                if not (isinstance(value, ir.Literal) and isinstance(value.value, str)):
                    continue
                found = _column_of(side, by_name, entity)
                if found is not None:
                    table, column, via = found
                    yield _Use(table, column, value, negated, via)


def _column_of(
    e: ir.Expr, by_name: Mapping[str, ir.Rule], entity: str
) -> tuple[str, str, str | None] | None:
    """(table, column, the rule standing for it) when the values of `e` are values of
    one column: the column itself, a feature that is it, `first`/`last`/`min`/`max` of it."""
    via: str | None = None
    seen: set[str] = set()
    while True:
        match e:
            case ir.RuleRef(name=name) if name in by_name and name not in seen:
                seen.add(name)
                via = via or name
                e = by_name[name].expr
            case ir.Aggregate(func=func, value=ir.RelatedColumn() as value) if func in _ALIASING:
                e = value
            case ir.Column(name=name):
                return entity, name, via
            case ir.RelatedColumn(table=table, name=name):
                return table, name, via
            case _:
                return None


# ---- the one query per column --------------------------------------------------------


def _normal(e: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """Text as a near match sees it: NFKC (full-width letters as ASCII), trimmed, lower."""
    return e.str.normalize("NFKC").str.strip_chars().str.to_lowercase()


def _query(frame: pl.LazyFrame, column: str, wanted: list[str], hidden: bool) -> pl.LazyFrame:
    """The column's distinct values (with their counts) that are `wanted`, or among the
    CANDIDATES most frequent (those only when not `hidden`, and then with `distinct`, the
    number of distinct values, on each row). Near matches are looked for among the most
    frequent: a column of fewer distinct values (most that rules compare with text) has
    all of them there, and the values of a column of millions are not normalised."""
    value = pl.col("value")
    counts = (
        frame.select(pl.col(column).cast(pl.String).alias("value"))
        .drop_nulls()
        .group_by("value")
        .agg(pl.len().alias("count"))
    )
    if hidden:
        return counts.filter(value.is_in(wanted)).select("value")
    top = counts.top_k(CANDIDATES, by=["count", "value"], reverse=[False, True])
    return (
        pl.concat([top, counts.filter(value.is_in(wanted))])
        .unique("value")
        .join(counts.select(pl.len().alias("distinct")), how="cross")
    )


class _Values:
    """What came back for one column."""

    def __init__(self, frame: pl.DataFrame):
        self.present = set(frame.get_column("value").to_list())
        self.ranked: list[tuple[str, int]] = []  # most frequent first, ties by value
        self.distinct = 0
        if "count" in frame.columns:
            ordered = frame.sort(["count", "value"], descending=[True, False])
            self.ranked = list(ordered.select("value", "count").iter_rows())
            self.distinct = int(frame["distinct"][0]) if frame.height else 0

    def near(self, text: str) -> str | None:
        """The most frequent value equal to `text` but for case, spaces at the ends or
        full-width letters; else the closest by difflib (among the most frequent)."""
        candidates = [v for v, _ in self.ranked]
        normal = _normal(pl.Series([text, *candidates], dtype=pl.String))
        assert isinstance(normal, pl.Series)
        normal = normal.to_list()
        for v, n in zip(candidates, normal[1:], strict=True):
            if n == normal[0]:
                return v
        close = difflib.get_close_matches(text, candidates, n=1, cutoff=0.6)
        return close[0] if close else None


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _warning(use: _Use, entity: str, values: _Values, hidden: bool) -> Diagnostic:
    name = use.column if use.table == entity else f"{use.table}.{use.column}"
    where = f"`{name}`" + (f" (the column behind `{use.via}`)" if use.via else "")
    if use.negated:
        outcome = f"so this comparison is true wherever `{name}` has a value"
    else:
        outcome = "so this comparison is never true"
    message = f"{_quoted(str(use.literal.value))} never occurs in {where}, {outcome}"
    if hidden:
        hint = f"`{name}` is private (the project's `pii`): its values are not shown"
    elif values.distinct == 0:
        hint = f"`{name}` has no values at all: every row is missing"
    else:
        top = ", ".join(f"{_quoted(v)} ({n:,})" for v, n in values.ranked[:SHOWN])
        hint = f"the most frequent values of `{name}`: {top}"
        if values.distinct > SHOWN:
            hint += (
                f"; see all {values.distinct:,} with `tagengine profile {use.table}.{use.column}`"
            )
        guess = values.near(str(use.literal.value))
        if guess is not None:
            hint = f"did you mean {_quoted(guess)}? ({hint})"
    return warning("TE410", message, use.literal.span, hint, "not in the data")
