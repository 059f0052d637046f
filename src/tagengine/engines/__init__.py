"""Running a rule set on an SQL engine: DuckDB embedded, or Spark in local mode.

Each engine registers the tables under their names (files through the engine's own
readers where it has one, anything else as Arrow data from Polars), runs the one query
of `backends/sql.py`, and hands the result back as the very frame the Polars engine gives:
the same column names, dtypes (taken from the Polars plan, which reads no data) and row
order. `RuleSet.run(..., engine="duckdb")` is the way in.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

from tagengine import ir
from tagengine.backends import polars as polars_backend
from tagengine.backends import sql
from tagengine.diagnostics import TagEngineError, error
from tagengine.sources import Files, declare, locate, scan

if TYPE_CHECKING:
    from tagengine.ruleset import RuleSet, RunResult

ENGINES = ("polars", "duckdb", "spark")
Source = pl.DataFrame | pl.LazyFrame | str | Path | Files
"""A table: a Polars frame, or where it is (a file, glob, FILE.duckdb#TABLE, URI#TABLE,
or the files found for a file or glob)."""

_PATTERN = set("*?[]{}\\:")  # what a reader that globs could take for a pattern or URL


def as_listed(files: Files) -> list[str] | None:
    """The paths of `files`, absolute, for a reader that expands globs in whatever it is
    given (DuckDB's, Spark's); None if a name holds a character that such a reader could
    take for a pattern or a URL: that table is read by Polars, as listed, and handed over."""
    paths = [os.path.abspath(p) for p in files.paths]
    return None if any(_PATTERN & set(p) for p in paths) else paths


class Session(Protocol):
    dialect: str

    def register(self, name: str, source: Source) -> pl.Schema: ...

    def query(self, text: str) -> pl.DataFrame: ...


def run(
    rules: RuleSet,
    tables: Mapping[str, Source],
    as_of: dt.date,
    select: Sequence[str] | None,
    engine: str,
) -> RunResult:
    """Evaluate `rules` on `engine` (duckdb or spark): what `RuleSet.run` gives."""
    if engine == "duckdb":
        from tagengine.engines.duckdb import DuckDBSession as session_type
    elif engine == "spark":
        from tagengine.engines.spark import SparkSession as session_type
    else:
        raise TagEngineError(
            error(
                "TE511",
                f"unknown engine `{engine}`",
                None,
                f"engines: {', '.join(ENGINES)}",
            )
        )
    with session_type() as session:
        schemas = {name: session.register(name, source) for name, source in tables.items()}
        program = rules.compile(schemas)
        names = rules._selected(program, select)
        expected = expected_schema(program, schemas, as_of, names)
        query = sql.build(program, as_of, session.dialect, names, schema=schemas, row_counts=True)
        result = session.query(query.sql(dialect=session.dialect))
        # after the outputs: each aggregated table's rows per entity, `__<table>__rows`
        counted = [
            c.removeprefix("__").removesuffix("__rows") for c in result.columns[len(expected) :]
        ]
        related = tuple(r for r in program.related if r.name in counted)
        totals = None
        if related:
            visible = sql.visible_rows_query(
                _only(program, related), as_of, session.dialect, schema=schemas
            )
            totals = session.query(visible.sql(dialect=session.dialect))
    return finish(result, expected, totals, program, as_of)


def finish(
    result: pl.DataFrame,
    expected: pl.Schema,
    totals: pl.DataFrame | None,
    program: ir.Program,
    as_of: dt.date,
) -> RunResult:
    """The engine's answer as the Polars engine's: names, dtypes, keys checked, and the
    rows of each related table that match no entity (`totals`: visible rows per table,
    one column each, in the order of `result`'s trailing count columns)."""
    from tagengine.ruleset import RunResult, _check_keys

    n = len(expected)
    counts = [f"__rows_{i}" for i in range(result.width - n)]
    result.columns = [*expected.names(), *counts]  # SQL may fold case or dedupe names
    _check_keys(result, program.entity.key, program.entity.table)
    unmatched = {}
    if totals is not None:
        for column, table, visible in zip(counts, totals.columns, totals.row(0), strict=True):
            unmatched[table] = int(visible) - int(result.get_column(column).sum())
    try:
        table = result.select(expected.names()).cast(dict(expected)).rechunk()
    except pl.exceptions.PolarsError as exc:  # a value the Polars dtype cannot hold
        raise TagEngineError(
            error(
                "TE402",
                f"could not read or evaluate the data: {exc}",
                None,
                "check the input files and their column types",
            )
        ) from None
    return RunResult(table, as_of, program, unmatched)


def expected_schema(
    program: ir.Program,
    schemas: Mapping[str, pl.Schema],
    as_of: dt.date,
    names: Sequence[str] | None,
) -> pl.Schema:
    """The output columns and dtypes the Polars engine gives, from its plan alone."""
    empty = {name: pl.LazyFrame(schema=schema) for name, schema in schemas.items()}
    plan = polars_backend.plan(program, empty, as_of, list(names) if names else None)
    return plan.collect_schema()


def sources(
    data: str | Path | None,
    entity_table: str,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
    types: Mapping[str, Mapping[str, pl.DataType]] | None = None,
    origin: str = "the project file",
) -> dict[str, Source]:
    """Where the tables are, for an SQL engine to read them itself; as `tables_from` finds
    them. A table with declared column types is read through Polars (the declaration's
    conversion is Polars'), so every engine sees the same values."""
    found: dict[str, Source] = dict(locate(data, entity_table, overrides, base))
    declared = {t: c for t, c in (types or {}).items() if t in found}
    if declared:
        frames = {t: scan(found[t]) for t in declared}
        found.update(declare(frames, declared, origin))
    return found


def plain_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """`frame` as every SQL engine reads it: categories as text, durations as whole
    microseconds (how the SQL backend carries a duration)."""
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    casts = []
    for name, dtype in df.schema.items():
        if isinstance(dtype, pl.Categorical | pl.Enum):
            casts.append(pl.col(name).cast(pl.String))
        elif isinstance(dtype, pl.Duration):
            casts.append(pl.col(name).cast(pl.Duration("us")).cast(pl.Int64))
    return df.with_columns(casts) if casts else df


def _only(program: ir.Program, related: tuple[ir.Related, ...]) -> ir.Program:
    return ir.Program(program.entity, related, (), program.columns, ())
