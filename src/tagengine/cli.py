"""The `tagengine` command: thin — parses options, calls the API, renders the answer.

Exit codes: 0 ok, 1 problems in rules or data, 2 usage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

import tagengine
from tagengine import asof, interrupt, output
from tagengine.console import INTERRUPTED
from tagengine.csvfiles import CsvOptions, check_date_format, encoding_name
from tagengine.diagnostics import (
    Diagnostic,
    TagEngineError,
    error,
    mask,
    render_github,
    render_human,
    render_json,
    sort_key,
)
from tagengine.privacy import Privacy
from tagengine.project import Project, declarations, load_project
from tagengine.ruleset import RuleSet
from tagengine.safe_text import clipped, json_text, shown
from tagengine.schema import read_schema_file, to_json
from tagengine.sources import declare, schema_of, tables_from
from tagengine.wording import agree, plural

app = typer.Typer(
    name="tagengine",
    help="Customer-profiling rules (tags, segments, scores), checked and run on your data.\n\n"
    "Example: tagengine run rules/retail.tags --data build/demo --as-of 2024-12-31 "
    "--out tags.parquet",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji=False: `:smile:` in a label or value is text, not an emoji code (safe_text.py)
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


class Layout(StrEnum):
    wide = "wide"
    long = "long"


class CheckFormat(StrEnum):
    human = "human"
    json = "json"
    github = "github"


class Target(StrEnum):
    polars = "polars"
    sql = "sql"


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    postgres = "postgres"
    bigquery = "bigquery"
    snowflake = "snowflake"


class Engine(StrEnum):
    polars = "polars"
    duckdb = "duckdb"
    spark = "spark"


RulesArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Rule files (.tags) or folders of them. Default: the project file's `rules`.",
        show_default=False,
    ),
]
ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project file binding tables and defaults. Default: ./tagengine.toml if present.",
        show_default=False,
    ),
]
OutsideOpt = Annotated[
    bool,
    typer.Option(
        "--allow-outside-paths",
        help="Let the project file name files outside its own folder (tables, rules, output).",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "-d",
        help="A folder with one file per table (customers.parquet, ...) or the "
        "entity table's file.",
        show_default=False,
    ),
]
TableOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--table",
        "-t",
        metavar="NAME=SOURCE",
        help="Bind a table to a file, glob, FILE.duckdb#TABLE, FILE.sqlite#TABLE or URI#TABLE; "
        "wins over --data and the project file. Repeatable.",
        show_default=False,
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Observation date, YYYY-MM-DD, or `latest`: the latest date in the related "
        "tables' time columns. Default: the project's as_of, else today. The output says "
        "which date was used and why; TE413/TE414 warn when the data's dates do not fit it.",
        show_default=False,
    ),
]


class BadRows(StrEnum):
    fail = "fail"
    skip = "skip"


EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        metavar="NAME",
        help="Encoding of CSV files, any Python codec: gbk, gb18030, big5, latin-1, utf-16, "
        "... Default: the project's `encoding`, else utf-8.",
        show_default=False,
    ),
]
BadRowsOpt = Annotated[
    BadRows | None,
    typer.Option(
        "--bad-rows",
        help="Malformed CSV rows (wrong number of fields, unclosed quote): fail (an error "
        "naming the lines) or skip (left out, counted in a warning). Default: the "
        "project's `bad_rows`, else fail.",
        show_default=False,
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        metavar="FORMAT",
        help='How CSV text columns write dates, e.g. "%Y/%m/%d" or "%d.%m.%Y" (ISO dates '
        "need none). Default: the project's `date_format`.",
        show_default=False,
    ),
]


_private: list[str] = []  # the project's `pii`: values of these never reach the terminal


def _shown(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics as they may be shown: a value of a private column is `***`."""
    return mask(diagnostics, _private)


def _fail(diagnostics: list[Diagnostic], rules: RuleSet | None = None) -> None:
    sources = rules.sources if rules else {}
    err.print(render_human(_shown(diagnostics), sources), end="", markup=False)
    n = sum(d.is_error for d in diagnostics)
    if n:
        err.print(f"[red]{plural(n, 'error')}[/red]")
    raise typer.Exit(1)


def _safe(text: object) -> str:
    """Text from rules, data or the command line inside rich markup: shown as text, its
    hidden characters escaped (safe_text.py), never read as markup (`[tables]`)."""
    return escape(shown(str(text)))


def _usage(message: str, hint: str | None = None) -> None:
    err.print(f"[red]error:[/red] {_safe(message)}", markup=True)
    if hint:
        err.print(f"  = help: {shown(hint)}", markup=False)
    raise typer.Exit(2)


def _read_schema(path: Path) -> dict:
    """The schema file's tables; a missing or invalid file is a usage error (exit 2)."""
    try:
        schema, _text = read_schema_file(path)
    except TagEngineError as exc:
        try:
            sources = {str(path): path.read_text("utf-8")}
        except (OSError, UnicodeDecodeError):
            sources = {}
        err.print(render_human(_shown(exc.diagnostics), sources), end="", markup=False)
        raise typer.Exit(2) from None
    return schema


def _parse_as_of(text: str | None) -> asof.Asked:
    """--as-of: a date, `latest`, or None: the project's as_of, else today
    (asof.py; docs/semantics.md#as_of)."""
    if text is None:
        return None
    if text.strip().lower() == asof.LATEST:
        return asof.LATEST
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _usage(f"--as-of takes a date like 2024-12-31, or `latest`; not `{text}`")
        raise  # unreachable: _usage exits


def _observe(
    ruleset: RuleSet,
    tables: dict,
    asked: asof.Asked,
    project: Project,
    select: list[str] | None = None,
) -> asof.Observation:
    """The as_of to run on, and where it came from; its warnings (TE413, TE414) printed."""
    try:
        observed = asof.observe(ruleset, tables, asked, project, select)
    except asof.LatestUnknown as exc:
        _usage(str(exc), exc.hint)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if observed.warnings:
        err.print(render_human(_shown(observed.warnings), {}), end="", markup=False)
    return observed


def _as_of_line(as_of: asof.AsOf) -> str:
    return f"{as_of.date.isoformat()} ({as_of.describe()})"


def _overrides(items: list[str] | None) -> dict[str, str]:
    result = {}
    for item in items or []:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            _usage(f"--table takes NAME=SOURCE, e.g. orders=data/orders.parquet; got `{item}`")
        result[name.strip()] = source.strip()
    return result


def _project(path: Path | None, allow_outside: bool = False) -> Project:
    try:
        project = load_project(path, allow_outside)
        _private[:] = project.pii
        return project
    except TagEngineError as exc:
        _fail(exc.diagnostics)
        raise  # unreachable: _fail exits


def _csv(
    project: Project, encoding: str | None, bad_rows: BadRows | None, date_format: str | None
) -> Project:
    """The project with the command line's CSV settings, which win (usage error if bad)."""
    try:
        if encoding is not None:
            encoding_name(encoding)
        if date_format is not None:
            check_date_format(date_format)
    except ValueError as exc:
        option = "--encoding" if encoding and "encoding" in str(exc) else "--date-format"
        _usage(f"{option}: {exc}")
    return project.with_csv(encoding, bad_rows.value if bad_rows else None, date_format)


def _load(paths: list[Path] | None, project: Project, syntax_errors_fatal: bool = True) -> RuleSet:
    paths = paths or project.rule_paths()
    if not paths:
        _usage("name the rule files, or list them as `rules` in tagengine.toml")
    try:
        rules = tagengine.load(paths)
    except TagEngineError as exc:
        _fail(exc.diagnostics)
    rules = rules.with_statements(declarations(project, rules.ast))
    errors = [d for d in rules.parse_diagnostics if d.is_error]
    if errors and syntax_errors_fatal:
        _fail(errors, rules)
    return rules


def _tables(rules: RuleSet | None, data: Path | None, table: list[str] | None, project: Project):
    """Tables from the project file, then --data, then --table: later ones win. CSV files
    are read with the project's (and command line's) CSV settings; rows skipped are
    reported as warnings. Without rules, a single --data file is the project's entity
    table, else `customers`."""
    entity = rules.entity_table if rules else project.entity.table if project.entity else None
    entity = entity or "customers"
    warnings: list[str] = []
    types, formats = project.column_types(), project.date_formats()
    tables = tables_from(
        data,
        entity,
        _overrides(table),
        project.table_sources(),
        project.csv_options(),
        project.csv_table_options(),
        types,
        formats,
        warnings,
    )
    for line in warnings:
        err.print(f"[yellow]warning:[/yellow] {_safe(line)}", markup=True)
    return declare(tables, types, f"`{project.file}`", formats)


def _has_data(data: Path | None, table: list[str] | None, project: Project) -> bool:
    return bool(data or table or project.tables)


@app.command()
def run(
    rules: RulesArg = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file: .parquet, .csv, .ndjson or .arrow. Default: the project's `output`.",
            show_default=False,
        ),
    ] = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    layout: Annotated[
        Layout,
        typer.Option(
            "--format", "-f", help="wide: one column per rule; long: (key, name, value) rows."
        ),
    ] = Layout.wide,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            help="Only these rules (comma-separated or repeated); their "
            "dependencies are computed but not written.",
            show_default=False,
        ),
    ] = None,
    streaming: Annotated[
        bool,
        typer.Option(
            "--streaming",
            help="Data larger than memory: insist on Polars' streaming engine (Polars 2's "
            "default already) and aggregate related tables in passes of at most 50 million "
            "rows, so that memory grows with the customers, not the orders.",
        ),
    ] = False,
    passes: Annotated[
        int | None,
        typer.Option(
            "--passes",
            min=1,
            help="Aggregate each related table in this many passes over slices of the "
            "customers (polars engine): less memory, one more read per pass.",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            "-e",
            help="polars (Polars' own engine, which streams the files), duckdb (the "
            "rules as SQL in embedded DuckDB, reading the files itself) or spark (Spark SQL "
            "in local mode; needs pyspark and Java 17). Same output from each; see "
            "docs/scale.md.",
        ),
    ] = Engine.polars,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    include_pii: Annotated[
        bool,
        typer.Option(
            "--include-pii",
            help="Also write rules whose values show a private column (the project's `pii`).",
        ),
    ] = False,
) -> None:
    """Evaluate the rules over the data and write one row per customer.

    Example: tagengine run rules/ -d build/demo --as-of 2024-12-31 -o tags.parquet -e duckdb
    """
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    asked = _parse_as_of(as_of)
    if streaming and engine is not Engine.polars:
        _usage("--streaming is an option of the polars engine")
    if passes is not None and engine is not Engine.polars:
        _usage("--passes is an option of the polars engine")
    if out_path is None:
        if project.output is None:
            _usage("--out is needed (or `output` in tagengine.toml)")
        out_path = Path(project.path(project.output or ""))
    names = [n.strip() for s in select or [] for n in s.split(",") if n.strip()]
    ruleset = _load(rules, project)
    started = time.perf_counter()
    try:
        csv_settings = project.csv_options() != CsvOptions() or project.csv
        if engine is Engine.polars or csv_settings or project.date_formats():
            tables = _tables(ruleset, data, table, project)  # CSV settings: read by Polars
        else:  # the engine reads the files itself
            from tagengine.engines import sources

            tables = sources(
                data,
                ruleset.entity_table or "customers",
                _overrides(table),
                project.table_sources(),
                project.column_types(),
                f"`{project.file}`",
            )
        observed = _observe(ruleset, tables, asked, project, names or None)
        date = observed.as_of.date
        with err.status("evaluating…", spinner="dots") if err.is_terminal else _null():
            result = ruleset.run(
                tables,
                as_of=date,
                select=names or None,
                streaming=streaming,
                engine=engine,
                passes=passes,
            )
        df, program = result.table, result.program
        key = program.entity.key
        privacy = Privacy.of(program, project.pii)
        private = privacy.withheld(df.columns[1:])
        if private and not include_pii:
            df = df.drop(private)
        declassified = {n: privacy.declassified[n] for n in df.columns if n in privacy.declassified}
        written = output.to_long(df, key) if layout is Layout.long else df
        output.write(
            written,
            out_path,
            {
                "tagengine.as_of": date.isoformat(),
                "tagengine.version": tagengine.__version__,
                **{f"tagengine.declassified.{n}": why for n, why in declassified.items()},
            },
        )
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if private and not include_pii:
        err.print(
            f"[yellow]warning:[/yellow] not written, as their values show private columns: "
            f"{_safe(', '.join(private))} (pass --include-pii to write them)"
        )
    if shown := [n for n in declassified if privacy.declassified_carries(n)]:
        err.print(
            f"[yellow]warning:[/yellow] written although their values show private columns, "
            f"as they are declassified: {', '.join(shown)}"
        )
    if df.height == 0:
        err.print(
            f"[yellow]warning:[/yellow] the entity table `{_safe(program.entity.table)}` has no "
            "rows: the output has none either"
        )
    for table_name, n in result.unmatched_rows.items():
        if n:
            err.print(
                f"[yellow]warning:[/yellow] {plural(n, 'row')} of `{_safe(table_name)}` "
                f"{agree(n, 'has', 'have')} a key that matches no row of "
                f"`{_safe(program.entity.table)}`; {agree(n, 'it counts', 'they count')} for no one"
            )
    if coverage := result.warnings:
        err.print(render_human(_shown(coverage), ruleset.sources), end="", markup=False)
    if not quiet:
        from tagengine.summary import summarize
        from tagengine.summary import table as summary_table

        rows = summarize(df, program, hidden=set(private))
        out.print(summary_table(rows, df.height, _as_of_line(observed.as_of)))
        out.print(
            f"wrote {plural(written.height, 'row')} × {plural(written.width, 'column')} "
            f"to {_safe(out_path)} "
            f"in {time.perf_counter() - started:.2f}s"
        )


@app.command()
def check(
    rules: RulesArg = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[
        CheckFormat,
        typer.Option("--format", "-f", help="human, json, or github (workflow annotations)."),
    ] = CheckFormat.human,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
    schema_file: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            metavar="FILE",
            help="Check against this schema file (from `tagengine schema`) instead of the data.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check syntax, names, types, cycles and likely mistakes; against the data's schema
    (--data, --table, the project's tables) or a schema file (--schema). With the data,
    also whether its dates fit as_of (TE413, TE414).

    With the data, also text the rules compare with a column that never holds it (TE410).

    Example: tagengine check rules/ --schema schema.json --format github --strict
    """
    if schema_file is not None and (data or table):
        _usage("--schema replaces the data: give --schema, or --data/--table, not both")
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    asked = _parse_as_of(as_of)
    ruleset = _load(rules, project, syntax_errors_fatal=False)
    tables = None
    try:
        if schema_file is not None:
            schema = _read_schema(schema_file)
        elif _has_data(data, table, project):
            tables = _tables(ruleset, data, table, project)
            schema = schema_of(tables)
        else:
            schema = None
        diagnostics = ruleset.check(schema, data=tables, private=project.pii)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    observed = None
    if tables is not None and not any(d.is_error for d in diagnostics):
        try:  # the data's dates against as_of: read only with the data at hand
            observed = asof.observe(ruleset, tables, asked, project)
            diagnostics = sorted([*diagnostics, *observed.warnings], key=sort_key)
        except asof.LatestUnknown as exc:
            _usage(str(exc), exc.hint)
        except TagEngineError as exc:
            diagnostics = sorted([*diagnostics, *exc.diagnostics], key=sort_key)
    if fmt is CheckFormat.json:
        typer.echo(render_json(_shown(diagnostics)))
    elif fmt is CheckFormat.github:
        if diagnostics:
            typer.echo(render_github(_shown(diagnostics)))
    elif diagnostics:
        err.print(render_human(_shown(diagnostics), ruleset.sources), end="", markup=False)
    failed = any(d.is_error or strict for d in diagnostics)
    if fmt is CheckFormat.human:
        n_err = sum(d.is_error for d in diagnostics)
        n_warn = len(diagnostics) - n_err
        n_rules = len(ruleset.ast.rules)
        if observed is not None and observed.ranges:
            err.print(f"dates checked as of {_as_of_line(observed.as_of)}", markup=False)
        summary = (
            f"{plural(n_rules, 'rule')} checked: {plural(n_err, 'error')}, "
            f"{plural(n_warn, 'warning')}"
        )
        err.print(f"[red]{summary}[/red]" if failed else f"[green]{summary}[/green]")
    raise typer.Exit(1 if failed else 0)


@app.command(name="schema")
def schema_command(
    rules: RulesArg = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
) -> None:
    """Print the tables' column types as JSON, for `check --schema` where the data is not.

    Reads only the files' metadata. The rules (optional) name the entity table that a
    single --data file stands for. Example: tagengine schema --data build/demo > schema.json
    """
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    if not _has_data(data, table, project):
        _usage("name the data: --data, --table NAME=SOURCE, or the tables of tagengine.toml")
    ruleset = _load(rules, project, syntax_errors_fatal=False) if rules or project.rules else None
    entity = ruleset.entity_table if ruleset else project.entity.table if project.entity else None
    try:
        tables = tables_from(
            data,
            entity or "customers",
            _overrides(table),
            project.table_sources(),
            project.csv_options(),
            project.csv_table_options(),
        )
        schema = schema_of(tables)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    typer.echo(to_json(schema), nl=False)


class ProfileFormat(StrEnum):
    human = "human"
    json = "json"


@app.command(name="profile")
def profile_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TABLE[.COLUMN]",
            help="What to profile: tables, or single columns (customers.member_level). "
            "Default: every table.",
            show_default=False,
        ),
    ] = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    fmt: Annotated[
        ProfileFormat,
        typer.Option("--format", "-f", help="human (a table per table) or json."),
    ] = ProfileFormat.human,
    top: Annotated[
        int,
        typer.Option(
            "--top", "-n", min=1, help="How many values of a text or true/false column to list."
        ),
    ] = 10,
) -> None:
    """Show what the data holds: each column's values, or its range.

    Per column: the most frequent values with their counts (text, true/false), or the
    minimum, quartiles and maximum (numbers, dates); how many rows miss a value; how many
    distinct values there are. Private columns (the project's `pii`) show counts only.

    Example: tagengine profile --data build/demo customers.member_level
    """
    from tagengine import profile as profiling

    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    if not _has_data(data, table, project):
        _usage("name the data: --data, --table NAME=SOURCE, or the tables of tagengine.toml")
    ruleset = _load(None, project, syntax_errors_fatal=False) if project.rules else None
    try:
        tables = _tables(ruleset, data, table, project)
        schema = schema_of(tables)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    try:
        profiling.select(schema, targets or [])
    except TagEngineError as exc:  # a target not in the data: wrong usage
        err.print(render_human(_shown(exc.diagnostics), {}), end="", markup=False)
        raise typer.Exit(2) from None
    try:
        with err.status("profiling…", spinner="dots") if err.is_terminal else _null():
            result = profiling.profile(tables, targets or [], top, private=project.pii)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if fmt is ProfileFormat.json:
        typer.echo(result.to_json())
    else:
        out.print(profiling.render(result))


@app.command(name="compile")
def compile_(
    rules: RulesArg = None,
    to: Annotated[
        Target,
        typer.Option(
            "--to", help="polars: each rule's Polars expression; sql: one SQL query for all."
        ),
    ] = Target.polars,
    dialect: Annotated[
        Dialect | None,
        typer.Option(
            "--dialect",
            help="The SQL dialect of --to sql: duckdb (default), spark, postgres, bigquery "
            "or snowflake.",
            show_default=False,
        ),
    ] = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    schema_file: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            metavar="FILE",
            help="The tables' column types (from `tagengine schema`) instead of the data.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print each rule's compiled Polars expression (other rules inlined), or with
    --to sql the whole rule set as one SQL query: it reads the tables by their names
    (--table NAME=WAREHOUSE.TABLE renames one; NAME=FILE gives its column types).

    Example: tagengine compile rules/ --to sql --dialect spark --schema schema.json
    """
    if dialect is not None and to is not Target.sql:
        _usage("--dialect goes with --to sql")
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    asked = _parse_as_of(as_of)
    ruleset = _load(rules, project)
    date = _compile_date(ruleset, asked, project, data, table, schema_file)
    if to is Target.sql:
        _compile_sql(ruleset, dialect or Dialect.duckdb, project, data, table, date, schema_file)
        return
    try:
        schema = _schema(ruleset, project, data, table, schema_file)
        exprs = ruleset.expressions(schema, as_of=date)
        aggregations = ruleset.aggregations(schema, as_of=date)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    for table_name, aggs in aggregations.items():
        out.print(f"[bold]# {_safe(table_name)}[/bold]: one group_by over its rows up to {date}")
        for agg in aggs:
            out.print(f"  {_safe(agg.meta.output_name())} = {_safe(agg)}")
    for name, expr in exprs.items():
        out.print(f"[bold]{_safe(name)}[/bold] = {_safe(expr)}")


def _compile_date(
    ruleset: RuleSet,
    asked: asof.Asked,
    project: Project,
    data: Path | None,
    table: list[str] | None,
    schema_file: Path | None,
) -> dt.date:
    """compile's as_of: `latest` is read from the data (the files among --table's)."""
    from tagengine.sources import is_source

    files = [t for t in table or [] if is_source(t.partition("=")[2].strip())]
    try:
        if not asof.wants_latest(asked, project):
            return asof.resolve(asked, project).date
        if schema_file is not None or not _has_data(data, files, project):
            return asof.resolve(asked, project, None).date  # says latest needs the data
    except asof.LatestUnknown as exc:
        _usage(str(exc), exc.hint)
    tables = _tables(ruleset, data, files or None, project)
    return _observe(ruleset, tables, asked, project).as_of.date


def _schema(
    ruleset: RuleSet,
    project: Project,
    data: Path | None,
    table: list[str] | None,
    schema_file: Path | None,
) -> dict | None:
    """The column types: from --schema, else the data's (metadata only), else None."""
    if schema_file is not None:
        if data or table:
            _usage("--schema replaces the data: give --schema, or --data/--table, not both")
        return _read_schema(schema_file)
    if _has_data(data, table, project):
        return schema_of(_tables(ruleset, data, table, project))
    return None


def _compile_sql(
    ruleset: RuleSet,
    dialect: Dialect,
    project: Project,
    data: Path | None,
    table: list[str] | None,
    date: dt.date,
    schema_file: Path | None,
) -> None:
    """`compile --to sql`: --table NAME=FILE binds data (for the column types), any other
    NAME=X names the table the SQL reads (`sales.fact_orders`)."""
    from tagengine.sources import is_source

    bound = _overrides(table)
    renamed = {name: target for name, target in bound.items() if not is_source(target)}
    files = [f"{name}={src}" for name, src in bound.items() if name not in renamed]
    try:
        schema = _schema(ruleset, project, data, files or None, schema_file)
        text = ruleset.sql(schema, as_of=date, dialect=dialect.value, tables=renamed)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    typer.echo(text)


class ExplainFormat(StrEnum):
    human = "human"
    json = "json"


@app.command()
def explain(
    rules: RulesArg = None,
    id_: Annotated[
        str | None,
        typer.Option(
            "--id", help="The customer's key: explain every rule (or --tag) for this one."
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            help="Rules to explain (comma-separated or repeated). Without --id: a funnel of "
            "each over the whole population.",
            show_default=False,
        ),
    ] = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[
        ExplainFormat,
        typer.Option("--format", "-f", help="human (a tree per rule) or json."),
    ] = ExplainFormat.human,
    show_plan: Annotated[
        bool, typer.Option("--plan", help="Also print the optimized Polars query plan.")
    ] = False,
    json_schema: Annotated[
        bool,
        typer.Option("--json-schema", help="Print the JSON Schema of --format json and exit."),
    ] = False,
) -> None:
    """Why a customer has (or lacks) each tag, or how a tag cuts the population.

    Examples: tagengine explain rules/ --data build/demo --as-of 2024-12-31 --id 42;
    tagengine explain rules/ --data build/demo --as-of 2024-12-31 --tag high_value
    (a funnel over everyone)"""
    from tagengine.explain import json_schema as explain_schema
    from tagengine.explain import render

    if json_schema:
        typer.echo(json.dumps(explain_schema(), indent=2, ensure_ascii=False))
        return
    names = [n.strip() for s in tags or [] for n in s.split(",") if n.strip()]
    if id_ is None and not names:
        _usage("say which customer (--id 42) or which rules over everyone (--tag NAME)")
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    asked = _parse_as_of(as_of)
    ruleset = _load(rules, project)
    if not _has_data(data, table, project):
        _usage("explain needs data: --data, --table or the project's [tables]")
    try:
        tables = _tables(ruleset, data, table, project)
        observed = _observe(ruleset, tables, asked, project, names or None)
        date = observed.as_of.date
        with err.status("explaining…", spinner="dots") if err.is_terminal else _null():
            report = ruleset.explain(
                tables, id=id_, tags=names or None, as_of=date, private=project.pii
            )
            plan = ruleset.plan(tables, date, names or None).explain() if show_plan else None
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if fmt is ExplainFormat.json:
        typer.echo(json_text(report.model_dump_json(indent=2)))
    elif report.view == "customer":
        out.print(render.customer(report, observed.as_of.describe()))
    else:
        out.print(render.population(report, observed.as_of.describe()))
    if plan is not None:
        out.print("\n[bold]query plan[/bold] (optimized, as Polars runs it):")
        out.print(shown(plan, lines=True), markup=False)


class ReportFormat(StrEnum):
    human = "human"
    json = "json"


@app.command(name="test")
def test_command(
    rules: RulesArg = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    data: DataOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = None,
    bad_rows: BadRowsOpt = None,
    date_format: DateFormatOpt = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report (for CI)."),
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="human, or json for machines.")
    ] = ReportFormat.human,
    match: Annotated[
        str | None,
        typer.Option("--match", "-k", help="Only the tests whose title contains this text."),
    ] = None,
    schema_file: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            metavar="FILE",
            help="Type the tests' tables by this schema file (from `tagengine schema`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the in-file `test` blocks; with the data's schema (--data, --table, the project's
    tables, or --schema), each test's tables have the data's columns and types.

    Example: tagengine test rules/ --schema schema.json --junit build/tests.xml
    """
    from tagengine import testing

    if schema_file is not None and (data or table):
        _usage("--schema replaces the data: give --schema, or --data/--table, not both")
    project = _csv(_project(project_file, allow_outside_paths), encoding, bad_rows, date_format)
    ruleset = _load(rules, project)
    try:
        if schema_file is not None:
            schema = _read_schema(schema_file)
        elif _has_data(data, table, project):
            schema = schema_of(_tables(ruleset, data, table, project))
        else:
            schema = None
        default = project.as_of if isinstance(project.as_of, dt.date) else None  # not latest
        report = testing.run_tests(ruleset, schema, as_of=default, match=match, private=project.pii)
        if junit is not None:
            xml = testing.junit_xml(report, ruleset.sources)
            if not junit.parent.exists():
                raise TagEngineError(
                    error(
                        "TE403",
                        f"the folder `{junit.parent}` does not exist",
                        None,
                        "create it first",
                    )
                )
            output.atomic_write(junit, lambda tmp: tmp.write_text(xml, "utf-8"))
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if fmt is ReportFormat.json:
        typer.echo(testing.render_json(report))
    else:
        out.print(testing.render_human(report, ruleset.sources, ruleset), soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


@app.command(name="fmt")
def fmt_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Rule files (.tags) or folders of them; `-` formats standard input to "
            "standard output. Default: the project file's `rules`.",
            show_default=False,
        ),
    ] = None,
    project_file: ProjectOpt = None,
    allow_outside_paths: OutsideOpt = False,
    check_only: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; list the files that would change (exit 1)."),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="Write nothing; print the changes as a unified diff (exit 1)."),
    ] = False,
) -> None:
    """Rewrite rule files in the one canonical layout (comments kept); idempotent.

    Example: tagengine fmt --check rules/
    """
    from tagengine.ruleset import rule_files
    from tagengine.syntax.format import format_source

    paths = files or _project(project_file, allow_outside_paths).rule_paths()
    if not paths:
        _usage("name the rule files, or list them as `rules` in tagengine.toml")
    if Path("-") in paths:
        if len(paths) > 1:
            _usage("`-` (standard input) cannot be combined with files")
        result = format_source(sys.stdin.read(), "<stdin>")
        if result.after is None:
            _fail(list(result.diagnostics))
        sys.stdout.write(result.diff() if diff else result.after or "")
        raise typer.Exit(1 if diff and result.changed else 0)
    try:
        targets = rule_files(paths)
    except TagEngineError as exc:
        _fail(exc.diagnostics)
    changed, broken = [], []
    for path in targets:
        result = format_source(path.read_text("utf-8"), str(path))
        if result.after is None:
            broken.append(result)
            err.print(
                render_human(_shown(result.diagnostics), {result.file: result.before}),
                end="",
                markup=False,
            )
            err.print(f"[red]error:[/red] cannot format {_safe(path)}: it has syntax errors")
            continue
        if not result.changed:
            continue
        changed.append(path)
        if diff:
            typer.echo(result.diff(), nl=False)
        elif check_only:
            typer.echo(f"would reformat {shown(str(path))}")
        else:
            text = result.after
            output.atomic_write(path, lambda tmp, text=text: tmp.write_text(text, "utf-8"))
            err.print(f"reformatted {_safe(path)}")
    verb = "would be reformatted" if check_only or diff else "reformatted"
    n, same = len(changed), len(targets) - len(changed) - len(broken)
    summary = f"{plural(n, 'file')} {verb}, {same:,} left unchanged"
    if broken:
        summary += f", {len(broken):,} with syntax errors"
    err.print(summary)
    raise typer.Exit(1 if broken or ((check_only or diff) and changed) else 0)


@app.command(name="example-data")
def example_data(
    directory: Annotated[Path, typer.Argument(help="Folder to write the tables into.")],
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
    file_format: Annotated[
        str, typer.Option("--format", help="parquet, csv, ndjson or ipc.")
    ] = "parquet",
) -> None:
    """Write the bundled example retail data (customers and orders)."""
    from tagengine import example_data as generator

    if file_format not in ("parquet", "csv", "ndjson", "ipc"):
        _usage(f"--format takes parquet, csv, ndjson or ipc, not `{file_format}`")
    tables = generator.generate(customers=customers, seed=seed)
    paths = generator.write(directory, tables, file_format)
    for p in paths:
        err.print(f"wrote {_safe(p)}")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _terminated(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)  # in the main thread, which only waits for the command


def main() -> None:
    """Console entry point: user errors never show a traceback; Ctrl-C or a kill (TERM)
    stops the command at once, whatever it computes, leaving any previous output as it
    was (interrupt.py: the command runs in a worker thread, abandoned on a signal)."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        interrupt.call(app)
    except interrupt.Interrupted as stop:
        written = ", ".join(stop.written)  # before the signal came
        interrupt.end(
            f"interrupted after writing {written}" if written else INTERRUPTED, stop.exit_code
        )
    except KeyboardInterrupt:
        err.print(INTERRUPTED)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code in (130, 128 + signal.SIGTERM):  # typer turns Ctrl-C into exit 130
            err.print(INTERRUPTED)
        raise
    except Exception as exc:
        if os.environ.get("TAGENGINE_DEBUG"):
            raise
        what = clipped(shown(str(exc)), 400)
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {escape(what)}", markup=True)
        err.print("This is a bug in tagengine. Set TAGENGINE_DEBUG=1 for the traceback.")
        sys.exit(3)
