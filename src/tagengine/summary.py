"""How many customers each tag, segment value and score covers: data, then a rich table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from rich.table import Table
from rich.text import Text

from tagengine import ir, wording
from tagengine.safe_text import shown


@dataclass(frozen=True)
class Row:
    name: str
    label: str | None
    kind: str
    value: str  # "set" for a tag, the segment value, or the score's range
    count: int
    share: float


def summarize(df: pl.DataFrame, program: ir.Program, hidden: set[str] | None = None) -> list[Row]:
    """Tags: customers with the tag. Segments: each value (missing last). Scores and
    features: how many have a value, and their range unless `hidden` (private values)."""
    total = max(df.height, 1)
    rows: list[Row] = []
    for name in df.columns[1:]:
        rule = program.rule(name)
        col = df.get_column(name)
        if rule.kind == "tag":
            n = int(col.sum())
            rows.append(Row(name, rule.label, "tag", "set", n, n / total))
        elif rule.kind == "segment":
            counts = (  # columns named apart from the rule, which may be called `n`
                col.alias("value")
                .value_counts(name="count")
                .sort(["count", "value"], descending=[True, False], nulls_last=True)
            )
            for value, n in counts.iter_rows():
                shown = "(none)" if value is None else str(value)
                rows.append(Row(name, rule.label, "segment", shown, n, n / total))
        else:
            n = df.height - col.null_count()
            shown = "has a value"
            if rule.type.numeric and n and name not in (hidden or set()):
                shown = f"{_fmt(col.min())} .. {_fmt(col.max())}"
            rows.append(Row(name, rule.label, rule.kind, shown, n, n / total))
    return rows


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, Decimal):
        return wording.decimal(v)  # money: 44,048.86, as explain shows it
    if isinstance(v, int) and not isinstance(v, bool):
        return wording.whole(v)  # no "2,024" for years
    return str(v)


def table(rows: list[Row], total: int, as_of: str) -> Table:
    t = Table(title=f"{wording.plural(total, 'customer')} · as of {as_of}", title_justify="left")
    t.add_column("rule")
    t.add_column("label")
    t.add_column("kind")
    t.add_column("value")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    previous = None
    for r in rows:
        first = r.name != previous
        previous = r.name
        t.add_row(  # Text: a label or value is never read as rich markup
            Text(shown(r.name)) if first else "",
            Text(shown(r.label or "")) if first else "",
            r.kind if first else "",
            Text(shown(r.value)),
            f"{r.count:,}",
            f"{r.share:.1%}",
        )
    return t
