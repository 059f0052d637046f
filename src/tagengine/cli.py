"""The `tagengine` command: thin — parses options, calls the API, renders the answer.

Exit codes: 0 ok, 1 problems in rules or data, 2 usage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import tagengine
from tagengine import output
from tagengine.diagnostics import (
    Diagnostic,
    TagEngineError,
    render_github,
    render_human,
    render_json,
)
from tagengine.project import Project, declarations, load_project
from tagengine.ruleset import RuleSet
from tagengine.sources import schema_of, tables_from

app = typer.Typer(
    name="tagengine",
    help="Customer-profiling rules (tags, segments, scores), checked and run on your data.\n\n"
    "Example: tagengine run rules/retail.tags --data data/ --as-of 2024-12-31 --out tags.parquet",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Layout(StrEnum):
    wide = "wide"
    long = "long"


class CheckFormat(StrEnum):
    human = "human"
    json = "json"
    github = "github"


class Target(StrEnum):
    polars = "polars"


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
        help="Observation date, YYYY-MM-DD. Default: the project's as_of, else today.",
        show_default=False,
    ),
]


def _fail(diagnostics: list[Diagnostic], rules: RuleSet | None = None) -> None:
    sources = rules.sources if rules else {}
    err.print(render_human(diagnostics, sources), end="", markup=False)
    n = sum(d.is_error for d in diagnostics)
    if n:
        err.print(f"[red]{n} error{'s' if n != 1 else ''}[/red]")
    raise typer.Exit(1)


def _usage(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True)
    raise typer.Exit(2)


def _parse_as_of(text: str | None, project: Project) -> dt.date:
    """--as-of, else the project's as_of, else today (DESIGN §3.3)."""
    if text is None:
        return project.as_of or dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _usage(f"--as-of takes a date like 2024-12-31, not `{text}`")
        raise  # unreachable: _usage exits


def _overrides(items: list[str] | None) -> dict[str, str]:
    result = {}
    for item in items or []:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            _usage(f"--table takes NAME=SOURCE, e.g. orders=data/orders.parquet; got `{item}`")
        result[name.strip()] = source.strip()
    return result


def _project(path: Path | None) -> Project:
    try:
        return load_project(path)
    except TagEngineError as exc:
        _fail(exc.diagnostics)
        raise  # unreachable: _fail exits


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


def _tables(rules: RuleSet, data: Path | None, table: list[str] | None, project: Project):
    """Tables from the project file, then --data, then --table: later ones win."""
    entity = rules.entity_table or "customers"
    return tables_from(data, entity, _overrides(table), base=project.table_sources())


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
    data: DataOpt = None,
    table: TableOpt = None,
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
    streaming: Annotated[bool, typer.Option(help="Use Polars' streaming engine.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> None:
    """Evaluate the rules over the data and write one row per customer."""
    project = _project(project_file)
    date = _parse_as_of(as_of, project)
    if out_path is None:
        if project.output is None:
            _usage("--out is needed (or `output` in tagengine.toml)")
        out_path = Path(project.path(project.output or ""))
    names = [n.strip() for s in select or [] for n in s.split(",") if n.strip()]
    ruleset = _load(rules, project)
    started = time.perf_counter()
    try:
        tables = _tables(ruleset, data, table, project)
        with err.status("evaluating…", spinner="dots") if err.is_terminal else _null():
            result = ruleset.run(tables, as_of=date, select=names or None, streaming=streaming)
        df, program = result.table, result.program
        key = program.entity.key
        written = output.to_long(df, key) if layout is Layout.long else df
        output.write(
            written,
            out_path,
            {"tagengine.as_of": date.isoformat(), "tagengine.version": tagengine.__version__},
        )
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    for table_name, n in result.unmatched_rows.items():
        if n:
            err.print(
                f"[yellow]warning:[/yellow] {n:,} row(s) of `{table_name}` have a key that "
                f"matches no row of `{program.entity.table}`; they count for no one"
            )
    if not quiet:
        from tagengine.summary import summarize
        from tagengine.summary import table as summary_table

        out.print(summary_table(summarize(df, program), df.height, date.isoformat()))
        out.print(
            f"wrote {written.height:,} rows × {written.width} columns to {out_path} "
            f"in {time.perf_counter() - started:.2f}s"
        )


@app.command()
def check(
    rules: RulesArg = None,
    project_file: ProjectOpt = None,
    data: DataOpt = None,
    table: TableOpt = None,
    fmt: Annotated[
        CheckFormat,
        typer.Option("--format", "-f", help="human, json, or github (workflow annotations)."),
    ] = CheckFormat.human,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
) -> None:
    """Check syntax, names, types and cycles; against the data's schema when --data is given."""
    project = _project(project_file)
    ruleset = _load(rules, project, syntax_errors_fatal=False)
    try:
        schema = (
            schema_of(_tables(ruleset, data, table, project))
            if _has_data(data, table, project)
            else None
        )
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    diagnostics = ruleset.check(schema)
    if fmt is CheckFormat.json:
        typer.echo(render_json(diagnostics))
    elif fmt is CheckFormat.github:
        if diagnostics:
            typer.echo(render_github(diagnostics))
    elif diagnostics:
        err.print(render_human(diagnostics, ruleset.sources), end="", markup=False)
    failed = any(d.is_error or strict for d in diagnostics)
    if fmt is CheckFormat.human:
        n_err = sum(d.is_error for d in diagnostics)
        n_warn = len(diagnostics) - n_err
        n_rules = len(ruleset.ast.rules)
        summary = f"{n_rules} rules checked: {n_err} errors, {n_warn} warnings"
        err.print(f"[red]{summary}[/red]" if failed else f"[green]{summary}[/green]")
    raise typer.Exit(1 if failed else 0)


@app.command(name="compile")
def compile_(
    rules: RulesArg = None,
    to: Annotated[Target, typer.Option("--to", help="What to compile to.")] = Target.polars,
    project_file: ProjectOpt = None,
    data: DataOpt = None,
    table: TableOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Print each rule's compiled Polars expression (other rules inlined)."""
    project = _project(project_file)
    date = _parse_as_of(as_of, project)
    ruleset = _load(rules, project)
    try:
        schema = (
            schema_of(_tables(ruleset, data, table, project))
            if _has_data(data, table, project)
            else None
        )
        exprs = ruleset.expressions(schema, as_of=date)
        aggregations = ruleset.aggregations(schema, as_of=date)
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    for table_name, aggs in aggregations.items():
        out.print(f"[bold]# {table_name}[/bold]: one group_by over its rows up to {date}")
        for agg in aggs:
            out.print(f"  {agg.meta.output_name()} = {agg}")
    for name, expr in exprs.items():
        out.print(f"[bold]{name}[/bold] = {expr}")


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
    data: DataOpt = None,
    table: TableOpt = None,
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

    Examples: tagengine explain rules/ --data data/ --id 42 --tag high_value;
    tagengine explain rules/ --data data/ --tag high_value   (funnel over everyone)"""
    from tagengine.explain import json_schema as explain_schema
    from tagengine.explain import render

    if json_schema:
        typer.echo(json.dumps(explain_schema(), indent=2, ensure_ascii=False))
        return
    names = [n.strip() for s in tags or [] for n in s.split(",") if n.strip()]
    if id_ is None and not names:
        _usage("say which customer (--id 42) or which rules over everyone (--tag NAME)")
    project = _project(project_file)
    date = _parse_as_of(as_of, project)
    ruleset = _load(rules, project)
    if not _has_data(data, table, project):
        _usage("explain needs data: --data, --table or the project's [tables]")
    try:
        tables = _tables(ruleset, data, table, project)
        with err.status("explaining…", spinner="dots") if err.is_terminal else _null():
            report = ruleset.explain(tables, id=id_, tags=names or None, as_of=date)
            plan = ruleset.plan(tables, date, names or None).explain() if show_plan else None
    except TagEngineError as exc:
        _fail(exc.diagnostics, ruleset)
    if fmt is ExplainFormat.json:
        typer.echo(report.model_dump_json(indent=2))
    elif report.view == "customer":
        out.print(render.customer(report))
    else:
        out.print(render.population(report))
    if plan is not None:
        out.print("\n[bold]query plan[/bold] (optimized, as Polars runs it):")
        out.print(plan, markup=False)


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
        err.print(f"wrote {p}")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main() -> None:
    """Console entry point: user errors never show a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("TAGENGINE_DEBUG"):
            raise
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}", markup=True)
        err.print("This is a bug in tagengine. Set TAGENGINE_DEBUG=1 for the traceback.")
        sys.exit(3)
