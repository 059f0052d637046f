"""The public API: load rules, check them, evaluate them, hand out their expressions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tagengine import ir
from tagengine.backends import polars as polars_backend
from tagengine.check.resolve import check as check_program
from tagengine.check.tests import check_tests
from tagengine.diagnostics import VALUE, Diagnostic, TagEngineError, error, quoting, sort_key
from tagengine.privacy import declassifications
from tagengine.schema import Schema
from tagengine.sources import Files, collect, scan, schema_of
from tagengine.syntax import ast
from tagengine.syntax.parser import parse
from tagengine.wording import agree, plural

if TYPE_CHECKING:  # explain (pydantic models) is imported when first used: 70 ms a start
    from tagengine.explain.model import CustomerExplanation, PopulationExplanation

RULE_SUFFIX = ".tags"
Tables = Mapping[str, pl.DataFrame | pl.LazyFrame | str | Path | Files]  # a file, glob, ...


@dataclass(frozen=True)
class RunResult:
    table: pl.DataFrame  # one row per entity, sorted by key
    as_of: dt.date
    program: ir.Program
    unmatched_rows: dict[str, int]  # related table -> rows whose key matches no entity

    @property
    def warnings(self) -> list[Diagnostic]:
        """What the result says about the rules: a tag no entity has (TE411), or every
        entity has (TE412), when there is more than one."""
        from tagengine.coverage import tag_coverage

        return tag_coverage(self.table, self.program)


class RuleSet:
    """A parsed rule set. Checking against a schema gives the typed program backends run."""

    def __init__(
        self,
        program: ast.Program,
        sources: Mapping[str, str],
        diagnostics: Sequence[Diagnostic] = (),
    ):
        self.ast = program
        self.sources = dict(sources)  # file name -> text, for rendering diagnostics
        self.parse_diagnostics = list(diagnostics)

    def with_statements(self, statements: Sequence[ast.Statement]) -> RuleSet:
        """A copy with `statements` (e.g. the project file's declarations) put first."""
        if not statements:
            return self
        program = ast.Program((*statements, *self.ast.statements))
        return RuleSet(program, self.sources, self.parse_diagnostics)

    # ---- checking ----------------------------------------------------------

    @property
    def entity_table(self) -> str | None:
        return self.ast.entities[0].table if self.ast.entities else None

    def check(
        self,
        schema: Schema | None = None,
        data: Tables | None = None,
        private: Sequence[str] = (),
    ) -> list[Diagnostic]:
        """Every problem found, errors and warnings, sorted by place. `schema` maps table
        names to column dtypes (e.g. `{"customers": df.schema}`); without it, names that are
        not rules are taken to be columns and only the rules' own structure is checked.

        `data`, the tables themselves, gives the schema when `schema` does not, and lets
        the check look at values: text compared with a column that never holds it is
        TE410 (one query per such column; the values of `private` columns, like the
        project's `pii`, are not listed). Data that cannot be read raises
        `TagEngineError`. Every rule declassified by a `declassify` line is TE307, saying
        whether it carries one of the `private` columns."""
        if any(d.code == "TE601" for d in self.parse_diagnostics):
            # a file too big to read: what is missing from the rules says nothing more
            return sorted(self.parse_diagnostics, key=sort_key)
        lazy = {name: _lazy(frame) for name, frame in (data or {}).items()}
        if schema is None and data is not None:
            schema = schema_of(lazy)
        complete = not any(d.is_error for d in self.parse_diagnostics)
        program, diags = check_program(self.ast, schema, complete)
        diags = [*diags, *check_tests(self.ast, schema, program)]  # in-file `test` blocks
        diags += declassifications(self.ast.rules, program, private)  # TE307
        if data is not None and program is not None:
            from tagengine.check.values import unseen_values

            diags += unseen_values(program, lazy, private)
        return sorted([*self.parse_diagnostics, *diags], key=sort_key)

    def compile(self, schema: Schema | None) -> ir.Program:
        """The typed program, or `TagEngineError` carrying every error."""
        program, diags = check_program(self.ast, schema)
        errors = [d for d in [*self.parse_diagnostics, *diags] if d.is_error]
        if errors or program is None:
            raise TagEngineError(sorted(errors, key=sort_key))
        return program

    # ---- evaluation --------------------------------------------------------

    def plan(
        self, tables: Tables, as_of: dt.date | None = None, select: Sequence[str] | None = None
    ) -> pl.LazyFrame:
        """The whole rule set as one lazy Polars query over `tables`."""
        program, names, lazy = self._prepare(tables, select)
        return polars_backend.plan(program, lazy, as_of or dt.date.today(), names)

    def evaluate(
        self,
        tables: Tables,
        as_of: dt.date | None = None,
        select: Sequence[str] | None = None,
        streaming: bool = False,
        engine: str = "polars",
        passes: int | None = None,
    ) -> pl.DataFrame:
        """One row per entity, sorted by its key; one column per rule (or per `select`ed
        rule). `as_of` defaults to today (docs/semantics.md#as_of). `engine`: polars, or
        duckdb or spark to run the rules as SQL (tables may then also be paths: files, globs,
        FILE.duckdb#TABLE; see docs/scale.md); every engine gives the same frame. `passes`:
        see `run`."""
        return self.run(tables, as_of, select, streaming, engine, passes).table

    def run(
        self,
        tables: Tables,
        as_of: dt.date | None = None,
        select: Sequence[str] | None = None,
        streaming: bool = False,
        engine: str = "polars",
        passes: int | None = None,
    ) -> RunResult:
        """`evaluate`, plus what a report needs: the as_of used, the typed program, and per
        related table how many of its rows (visible at as_of) match no entity.

        `passes`: aggregate each related table in that many passes over slices of the keys,
        which bounds the memory it takes (polars engine; default 1, and with `streaming`
        one pass per ROWS_PER_PASS rows of the largest related table)."""
        as_of = as_of or dt.date.today()
        if engine != "polars":
            from tagengine import engines

            return engines.run(self, tables, as_of, select, engine)
        program, names, lazy = self._prepare(tables, select)
        engine = "streaming" if streaming else "auto"
        if passes is None:
            passes = _passes_for(program, lazy) if streaming else 1
        main = polars_backend.plan(
            program,
            lazy,
            as_of,
            names,
            row_counts=True,
            passes=passes,
            collect=lambda frame: collect([frame], engine)[0],
        )
        totals = polars_backend.related_rows(program, lazy, as_of)
        df, *counts = collect([main, *totals.values()], engine)
        _check_keys(df, program.entity.key, program.entity.table)
        unmatched = {}
        for (table, _), count in zip(totals.items(), counts, strict=True):
            column = f"__{table}__rows"
            matched = int(df.get_column(column).sum()) if column in df.columns else None
            if matched is not None:
                unmatched[table] = int(count.item()) - matched
        df = df.select([c for c in df.columns if not c.startswith("__")])
        return RunResult(df, as_of, program, unmatched)

    def explain(
        self,
        tables: Tables,
        id: object | None = None,
        tags: Sequence[str] | None = None,
        as_of: dt.date | None = None,
        private: Sequence[str] = (),
    ) -> CustomerExplanation | PopulationExplanation:
        """Why customer `id` has each rule's value (`tags`: which rules; default all), or,
        without `id`, how each rule in `tags` cuts the population: a funnel of its clauses.
        The model is the one `tagengine explain --format json` prints. Values that show a
        `private` column (`phone`, `orders.card_no`) are given as `***`."""
        from tagengine.explain import explain

        program, _, lazy = self._prepare(tables, None)
        if id is None and not tags:
            raise TagEngineError(
                error(
                    "TE101",
                    "explain needs a customer id, or the rules to explain",
                    None,
                    "give `id=42`, or `tags=[...]` for a funnel over everyone",
                )
            )
        names = self._selected(program, tags) if tags else None
        date = as_of or dt.date.today()
        return explain(program, lazy, date, self.sources, id, names, private)

    def expressions(
        self, schema: Schema | None = None, as_of: dt.date | None = None
    ) -> dict[str, pl.Expr]:
        """Every rule as a self-contained `polars.Expr` (other rules inlined), in the order
        written, for use in your own pipeline: `df.sort(key).with_columns(**exprs)`.
        Rankings break ties by row order, so sort the frame by the entity key first."""
        program = self.compile(schema)
        return polars_backend.inline_expressions(program, as_of or dt.date.today())

    def sql(
        self,
        schema: Schema | None,
        as_of: dt.date | None = None,
        dialect: str = "duckdb",
        select: Sequence[str] | None = None,
        tables: Mapping[str, str] | None = None,
    ) -> str:
        """The rule set as one SQL query in `dialect` (duckdb, spark, postgres, bigquery,
        snowflake), reading the tables by their names (`tables` renames them, e.g.
        `{"orders": "sales.fact_orders"}`). SQL needs the column types: give `schema`."""
        from tagengine.backends import sql

        if schema is None:
            raise TagEngineError(
                error(
                    "TE511",
                    "compiling to SQL needs the tables' column types",
                    None,
                    "give the data (--data, --table) or a schema file (--schema)",
                )
            )
        program = self.compile(schema)
        names = self._selected(program, select)
        return sql.to_sql(program, as_of or dt.date.today(), dialect, names, tables, schema)

    def aggregations(
        self, schema: Schema | None = None, as_of: dt.date | None = None
    ) -> dict[str, list[pl.Expr]]:
        """Per related table, the `group_by(key).agg(...)` expressions whose result columns
        (`__<table>__<n>`, joined to the entity) `expressions()` refers to."""
        program = self.compile(schema)
        return polars_backend.aggregations(program, as_of or dt.date.today())

    def _prepare(
        self, tables: Tables, select: Sequence[str] | None
    ) -> tuple[ir.Program, list[str] | None, dict[str, pl.LazyFrame]]:
        """The program typed against the tables' schema, the selected rules, lazy tables."""
        lazy = {name: _lazy(frame) for name, frame in tables.items()}
        program = self.compile(schema_of(lazy))
        return program, self._selected(program, select), lazy

    def _selected(self, program: ir.Program, select: Sequence[str] | None) -> list[str] | None:
        if not select:
            return None
        known = set(program.outputs)
        unknown = [n for n in select if n not in known]
        if unknown:
            from tagengine.diagnostics import did_you_mean

            diags = []
            for n in unknown:
                guess = did_you_mean(n, known)
                diags.append(
                    error(
                        "TE101",
                        f"`{n}` is not a rule",
                        None,
                        f"did you mean `{guess}`?"
                        if guess
                        else "see `tagengine compile` for the rule names",
                    )
                )
            raise TagEngineError(diags)
        return list(dict.fromkeys(select))


def _lazy(frame: pl.DataFrame | pl.LazyFrame | str | Path | Files) -> pl.LazyFrame:
    if isinstance(frame, str | Path | Files):
        return scan(frame)
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


ROWS_PER_PASS = 50_000_000  # related rows per aggregation pass when streaming


def _passes_for(program: ir.Program, lazy: Mapping[str, pl.LazyFrame]) -> int:
    """Passes enough that none aggregates more than ROWS_PER_PASS related rows (for
    Parquet the row counts come from the files' footers)."""
    related = [lazy[r.name].select(pl.len()) for r in program.related if r.name in lazy]
    if not related:
        return 1
    rows = max(int(df.item()) for df in collect(related, "streaming"))
    return max(1, -(-rows // ROWS_PER_PASS))


def _check_keys(df: pl.DataFrame, key: str, table: str) -> None:
    """TE404 for missing keys, TE405 for repeated ones; `df` is sorted by `key`."""
    keys = df.get_column(key)
    nulls = keys.null_count()
    if nulls:
        raise TagEngineError(
            error(
                "TE404",
                f"{plural(nulls, 'row')} of `{table}` {agree(nulls, 'has', 'have')} no `{key}`",
                None,
                "every entity needs a key; drop or fix those rows",
            )
        )
    # the frame is sorted by key, so a repeat sits next to its twin: one comparison
    # of neighbours instead of hashing every key (40 ms at a million customers)
    if len(keys) < 2 or not (keys.slice(1) == keys.slice(0, len(keys) - 1)).any():
        return
    repeated = keys.is_duplicated()
    dup = keys.filter(repeated).unique().sort()
    sample = ", ".join(str(v) for v in dup.head(5).to_list())
    raise TagEngineError(
        quoting(
            "TE405",
            f"{plural(len(dup), 'key value')} of `{table}.{key}` "
            f"{agree(len(dup), 'appears', 'appear')} more than once (e.g. {VALUE}), "
            f"on {plural(int(repeated.sum()), 'row')} in all",
            sample,
            f"{table}.{key}",
            "the entity table needs one row per key; deduplicate it",
        )
    )


def load(source: str | Path | Sequence[str | Path]) -> RuleSet:
    """Load rules from a file, a directory of `.tags` files, several of those, or text.

    A `str` that names an existing path, or ends in `.tags`, is a path; any other string
    is rule text. Syntax errors do not raise: they are in `RuleSet.check()`."""
    if isinstance(source, str | Path) and not _is_path(source):
        return _from_texts({"<rules>": str(source)})
    paths = [source] if isinstance(source, str | Path) else list(source)
    texts: dict[str, str] = {}
    for p in paths:
        for file in _rule_files(Path(p)):
            data = file.read_bytes()
            try:
                texts[str(file)] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                before = data[: exc.start].decode("utf-8")
                line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
                raise TagEngineError(
                    error(
                        "TE402",
                        f"`{file}` is not UTF-8 text (byte {exc.start})",
                        ast.Span(str(file), line, column, line, column + 1),
                        "save the rule file as UTF-8",
                    )
                ) from None
    return _from_texts(texts)


def _is_path(source: str | Path) -> bool:
    if isinstance(source, Path):
        return True
    return "\n" not in source and (_exists(Path(source)) or source.endswith(RULE_SUFFIX))


def _exists(path: Path, test: str = "exists") -> bool:
    """`path.exists()` (or `is_dir`, `is_file`); False for a name no file can have (too
    long, a NUL byte), where `pathlib` raises."""
    try:
        return getattr(path, test)()
    except (OSError, ValueError):
        return False


def rule_files(paths: Sequence[str | Path]) -> list[Path]:
    """The rule files named by `paths`: files as given, folders searched for `.tags` files.
    Raises `TagEngineError` (TE401) for a path that does not exist."""
    return [file for p in paths for file in _rule_files(Path(p))]


def _rule_files(path: Path) -> list[Path]:
    if _exists(path, "is_dir"):
        files = sorted(path.rglob(f"*{RULE_SUFFIX}"))
        if not files:
            raise TagEngineError(
                error(
                    "TE401",
                    f"no `{RULE_SUFFIX}` files in `{path}`",
                    None,
                    f"rule files end in `{RULE_SUFFIX}`",
                )
            )
        return files
    if not _exists(path, "is_file"):
        raise TagEngineError(error("TE401", f"no such rule file: `{path}`", None, "check the path"))
    return [path]


def _from_texts(texts: Mapping[str, str]) -> RuleSet:
    statements: list[ast.Statement] = []
    diags: list[Diagnostic] = []
    for name, text in texts.items():
        program, file_diags = parse(text, name)
        statements.extend(program.statements)
        diags.extend(file_diags)
    return RuleSet(ast.Program(tuple(statements)), texts, diags)
