"""The observation date of a run (docs/semantics.md#as_of): which date, where it came from, and
whether the data fit it.

as_of is `--as-of`, else the project file's `as_of`, else today. Either may say `latest`:
the latest date in the related tables' time columns. Every command that evaluates rules
states the date and its source (`AsOf.describe`), and warns where the data cannot be what
was meant:

- TE413: as_of lies after the last date of a related table the rules aggregate by more
  than the longest `over last` window they use on it, so that every such window is
  empty; when they use no window on it, by more than a year (`STALE_AFTER_DAYS`).
- TE414: as_of lies before the first date of a related table the rules aggregate: rows
  dated after as_of are invisible, so none of its rows counts.

Both are found with one min/max query per related table (its time column only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from tagengine import ir
from tagengine.backends.aggregate import row_date, window_start
from tagengine.diagnostics import Diagnostic, warning
from tagengine.sources import Files, collect, scan, schema_of

if TYPE_CHECKING:
    from tagengine.project import Project
    from tagengine.ruleset import RuleSet

LATEST = "latest"
STALE_AFTER_DAYS = 365  # TE413 for a related table the rules use without a window

Asked = dt.date | Literal["latest"] | None
"""What the caller asked for: a date, `latest`, or nothing (the project's, else today)."""

Tables = Mapping[str, pl.DataFrame | pl.LazyFrame | str | Path | Files]


class Source(StrEnum):
    GIVEN = "given"  # --as-of DATE
    PROJECT = "project"  # the project file's as_of
    LATEST = "latest"  # the latest date in the related tables (--as-of latest, or the file's)
    TODAY = "today"  # nothing given anywhere


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The dates of one related table's time column (a date and time counts on its
    calendar day, as the aggregates count it); None where it has no dated row."""

    table: str
    column: str
    first: dt.date | None
    last: dt.date | None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def span(self) -> str:
        return f"dates from {self.first} to {self.last}"

    def private_in(self, pii: Collection[str]) -> bool:
        """Whether the project's `pii` lists this column (`orders.order_date`, or a bare
        `order_date`, which hides that name in every table): its dates are then never
        shown, only that as_of lies outside them."""
        return self.name in pii or self.column in pii


@dataclass(frozen=True, slots=True)
class AsOf:
    """The observation date and where it came from."""

    date: dt.date
    source: Source
    file: str = "tagengine.toml"  # the project file (that set it, or that could have)
    column: str | None = None  # LATEST: the `table.column` whose latest date it is
    in_file: bool = False  # LATEST: asked for by the project file, not by --as-of

    def describe(self) -> str:
        """Where the date came from, in words: `given with --as-of`, ..."""
        match self.source:
            case Source.GIVEN:
                return "given with --as-of"
            case Source.PROJECT:
                return f"from as_of in {self.file}"
            case Source.LATEST:
                asked = f'as_of = "latest" in {self.file}' if self.in_file else "--as-of latest"
                return f"the last {self.column} in the data, by {asked}"
            case _:
                return f"today, because neither --as-of nor {self.file}'s as_of is set"


@dataclass(frozen=True, slots=True)
class Observation:
    """What `observe` finds: the date to run on, the related tables' dates it looked at,
    and the warnings (TE413, TE414) about the two."""

    as_of: AsOf
    ranges: tuple[TimeRange, ...]
    warnings: tuple[Diagnostic, ...]


class LatestUnknown(ValueError):
    """`latest` was asked for, but the data has no date to take: a usage error."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def wants_latest(asked: Asked, project: Project | None = None) -> bool:
    """Whether the date to run on is `latest` (asked, or else the project's)."""
    if asked is not None:
        return asked == LATEST
    return project is not None and project.as_of == LATEST


def resolve(
    asked: Asked,
    project: Project | None = None,
    ranges: Sequence[TimeRange] | None = None,
) -> AsOf:
    """The date to run on: `asked`, else the project's as_of, else today. `latest` is the
    last date in `ranges` (`time_ranges` of every related table with a time column);
    `LatestUnknown` if there is none."""
    file = project.file if project is not None else "tagengine.toml"
    if asked is None and project is not None and project.as_of is not None:
        if project.as_of == LATEST:
            return latest(ranges, file, in_file=True)
        assert isinstance(project.as_of, dt.date)
        return AsOf(project.as_of, Source.PROJECT, file)
    if asked == LATEST:
        return latest(ranges, file)
    if isinstance(asked, dt.date):
        return AsOf(asked, Source.GIVEN, file)
    return AsOf(today(), Source.TODAY, file)


def today() -> dt.date:
    return dt.date.today()


def latest(
    ranges: Sequence[TimeRange] | None, file: str = "tagengine.toml", in_file: bool = False
) -> AsOf:
    """The last date of all `ranges`, as an as_of of source LATEST."""
    asked = f'as_of = "latest" in {file}' if in_file else "--as-of latest"
    hint = "give a date instead, e.g. --as-of 2024-12-31"
    if ranges is None:
        raise LatestUnknown(f"{asked} needs the data (--data, --table or [tables])", hint)
    if not ranges:
        raise LatestUnknown(
            f"{asked} takes the latest date of the related tables' time columns, but no "
            "related table has one",
            "declare it, e.g. `related orders key customer_id time order_date`; or " + hint,
        )
    dated = [r for r in ranges if r.last is not None]
    if not dated:
        names = ", ".join(r.name for r in ranges)
        raise LatestUnknown(
            f"{asked}: there is no date in {names} (no rows, or every date is missing)", hint
        )
    newest = max(dated, key=lambda r: r.last or dt.date.min)  # the first such, on a tie
    assert newest.last is not None
    return AsOf(newest.last, Source.LATEST, file, newest.name, in_file)


def used_tables(program: ir.Program, select: Sequence[str] | None = None) -> list[str]:
    """The related tables the rules (`select` and what they use) aggregate over."""
    wanted = _wanted(program, select)
    used = {
        node.table
        for rule in program.rules
        if wanted is None or rule.name in wanted
        for node in ir.walk(rule.expr)
        if isinstance(node, ir.Aggregate)
    }
    return [r.name for r in program.related if r.name in used]


def time_ranges(
    program: ir.Program, tables: Tables, only: Sequence[str] | None = None
) -> list[TimeRange]:
    """The first and last date of each related table with a time column (of those in
    `only`, if given): one min/max query per table, run together, reading that column."""
    queries, timed = [], []
    for related in program.related:
        if related.time is None or related.name not in tables:
            continue
        if only is not None and related.name not in only:
            continue
        frame = _lazy(tables[related.name])
        dtype = schema_of({related.name: frame})[related.name][related.time]
        day = row_date(related, dtype)
        queries.append(frame.select(day.min().alias("first"), day.max().alias("last")))
        timed.append(related)
    if not queries:
        return []
    found = collect(queries)
    return [
        TimeRange(r.name, r.time or "", *frame.row(0))
        for r, frame in zip(timed, found, strict=True)
    ]


def check(
    as_of: AsOf,
    program: ir.Program,
    ranges: Sequence[TimeRange],
    select: Sequence[str] | None = None,
    pii: Collection[str] = (),
) -> list[Diagnostic]:
    """TE413 and TE414 for the related tables the rules aggregate over."""
    used = set(used_tables(program, select))
    out = []
    for r in ranges:
        if r.table not in used or r.first is None or r.last is None:
            continue
        if r.private_in(pii):
            out += [_hidden(as_of, r, w) for w in _warned(as_of, program, r, select)]
        elif as_of.date < r.first:
            out.append(_before(as_of, r))
        elif as_of.date > r.last:
            windows = _windows(program, r.table, select)
            if windows:
                start, longest = min(((_start(as_of.date, w), w) for w in windows), key=_first)
                if r.last <= start:  # `start < date <= as_of`: no row in any window
                    out.append(_after(as_of, r, longest))
            elif (as_of.date - r.last).days > STALE_AFTER_DAYS:
                out.append(_after(as_of, r, None))
    return out


def observe(
    rules: RuleSet,
    tables: Tables,
    asked: Asked = None,
    project: Project | None = None,
    select: Sequence[str] | None = None,
) -> Observation:
    """The as_of to evaluate `rules` on `tables` with (`resolve`), and the warnings about
    it (`check`). Reads the time column of each related table the rules aggregate over
    (of every related table, for `latest`). Raises `TagEngineError` for rules that do
    not compile or data that cannot be read, `LatestUnknown` as `resolve` does."""
    lazy = {name: _lazy(frame) for name, frame in tables.items()}
    program = rules.compile(schema_of(lazy))
    only = None if wants_latest(asked, project) else used_tables(program, select)
    ranges = time_ranges(program, lazy, only)
    as_of = resolve(asked, project, ranges)
    pii = project.pii if project is not None else ()
    return Observation(as_of, tuple(ranges), tuple(check(as_of, program, ranges, select, pii)))


# ---- the warnings ------------------------------------------------------------------


def _windows(program: ir.Program, table: str, select: Sequence[str] | None) -> set[ir.Window]:
    """The `over last N units` windows the rules use on `table`, each once."""
    wanted = _wanted(program, select)
    return {
        node.window
        for rule in program.rules
        if wanted is None or rule.name in wanted
        for node in ir.walk(rule.expr)
        if isinstance(node, ir.Aggregate)
        and node.table == table
        and node.window is not None
        and node.window.amount is not None
    }


def _wanted(program: ir.Program, select: Sequence[str] | None) -> set[str] | None:
    """The rules `select` needs (None: all); names that are no rule are left to the run
    to report."""
    if not select:
        return None
    known = set(program.outputs)
    return program.closure([n for n in select if n in known])


def _first(pair: tuple[dt.date, ir.Window]) -> tuple[dt.date, str, int]:
    """The earliest start first; on a tie (`4 weeks`, `28 days`) always the same one."""
    start, window = pair
    return start, window.unit or "", window.amount or 0


def _start(as_of: dt.date, window: ir.Window) -> dt.date:
    """Where `over last N units` begins (exclusive), by the aggregates' own calendar."""
    try:
        start = pl.select(window_start(as_of, window.amount or 0, window.unit or "days")).item()
    except (OverflowError, ValueError, pl.exceptions.PolarsError):
        start = None
    return start if isinstance(start, dt.date) else dt.date.min  # before year 1


def _after(as_of: AsOf, r: TimeRange, longest: ir.Window | None) -> Diagnostic:
    days = (as_of.date - r.last).days if r.last else 0
    head = (
        f"as_of {as_of.date} ({as_of.describe()}) is {_count(days, 'day')} after the last "
        f"{r.name} ({r.span()})"
    )
    if longest is not None:
        n, unit = longest.amount or 0, longest.unit or "days"
        message = (
            f"{head}: every `over last` window on `{r.table}` is empty, the longest the "
            f"rules use being `over last {_count(n, unit.removesuffix('s'))}`"
        )
    else:
        message = (
            f"{head}: more than a year, so everything the rules read from `{r.table}` is "
            "over a year old"
        )
    return warning("TE413", message, None, _hint(as_of, r))


def _before(as_of: AsOf, r: TimeRange) -> Diagnostic:
    message = (
        f"as_of {as_of.date} ({as_of.describe()}) is before the first {r.name} ({r.span()}): "
        f"rows dated after as_of are invisible, so no row of `{r.table}` counts"
    )
    return warning("TE414", message, None, _hint(as_of, r))


def _warned(
    as_of: AsOf, program: ir.Program, r: TimeRange, select: Sequence[str] | None
) -> list[str]:
    """The codes `check` gives `r`, worked out as for any column."""
    return [d.code for d in check(as_of, program, [r], select)]


def _hidden(as_of: AsOf, r: TimeRange, code: str) -> Diagnostic:
    """TE413/TE414 for a private time column: that as_of lies outside its dates, not
    what they are."""
    where = "after the last" if code == "TE413" else "before the first"
    message = (
        f"as_of {as_of.date} ({as_of.describe()}) is {where} {r.name}, by more than the "
        f"rules' windows can reach (a private column: its dates are not shown)"
        if code == "TE413"
        else f"as_of {as_of.date} ({as_of.describe()}) is {where} {r.name} (a private "
        f"column: its dates are not shown): no row of `{r.table}` counts"
    )
    return warning(code, message, None, "pass --as-of latest, or the date your data ends")


def _hint(as_of: AsOf, r: TimeRange) -> str:
    match as_of.source:
        case Source.PROJECT:
            return (
                f'set as_of = {r.last} (the last {r.name}) or as_of = "latest" in '
                f"{as_of.file}; --as-of overrides it for one run"
            )
        case Source.LATEST:
            return (
                f"`{r.table}` ends before the other tables: check that its data is "
                f"complete, or pass --as-of {r.last} (its last date)"
            )
        case _:
            return f"pass --as-of {r.last} (the last {r.name}), or --as-of latest"


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit}" if n == 1 else f"{n:,} {unit}s"


def _lazy(frame: pl.DataFrame | pl.LazyFrame | str | Path | Files) -> pl.LazyFrame:
    if isinstance(frame, str | Path | Files):
        return scan(frame)
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame
