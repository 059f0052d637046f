"""The project file, `tagengine.toml`: where the tables are and the run's defaults, so that
rule files hold only business logic.

    rules = ["rules/"]
    as_of = 2024-12-31          # default observation date (else today)
    output = "build/tags.parquet"

    [tables]
    customers = "data/customers.parquet"
    orders = "data/orders/*.parquet"     # globs, FILE.duckdb#TABLE, FILE.sqlite#TABLE

    [entity]                             # used when the rules declare none
    table = "customers"
    key = "customer_id"

    [related.orders]                     # likewise, per related table
    key = "customer_id"
    time = "order_date"

    [columns.orders]                     # declared types, converted once when read
    amount = "decimal(2)"                # money: summed exactly, to the cent

    pii = ["phone", "email"]             # never printed; not written without --include-pii

Relative paths are taken from the folder the project file is in.
"""

from __future__ import annotations

import datetime as dt
import glob
import re
import tomllib
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tagengine.diagnostics import TagEngineError, error
from tagengine.schema import parse_type
from tagengine.syntax import ast

FILE_NAME = "tagengine.toml"


class EntitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "customer"
    table: str
    key: str


class RelatedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    time: str | None = None


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[str] = []
    as_of: dt.date | None = None
    output: str | None = None
    tables: dict[str, str] = {}
    entity: EntitySpec | None = None
    related: dict[str, RelatedSpec] = {}
    columns: dict[str, dict[str, str]] = {}  # table -> column -> declared type
    pii: list[str] = []  # private columns: `phone` (entity table) or `orders.card_no`
    root: Path = Path(".")
    file: str = FILE_NAME

    @field_validator("rules", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("columns")
    @classmethod
    def _types(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for table, columns in value.items():
            for column, text in columns.items():
                try:
                    declared_type(text)
                except ValueError as exc:
                    raise ValueError(f"{table}.{column} = {text!r}: {exc}") from None
        return value

    def column_types(self) -> dict[str, dict[str, pl.DataType]]:
        """Declared column types: converted once when the tables are read."""
        return {
            table: {column: declared_type(text) for column, text in columns.items()}
            for table, columns in self.columns.items()
        }

    def path(self, value: str) -> str:
        """`value` resolved against the project folder (URIs and absolute paths kept)."""
        if "://" in value or Path(value).is_absolute():
            return value
        return str(self.root / value)

    def table_sources(self) -> dict[str, str]:
        return {name: self.path(src) for name, src in self.tables.items()}

    def rule_paths(self) -> list[Path]:
        return [Path(self.path(r)) for r in self.rules]


def declared_type(text: str) -> pl.DataType:
    """A type as the project file declares it: the schema-file names, plus `decimal(S)`
    (S places, as many digits as Polars allows) for money."""
    short = re.fullmatch(r"\s*decimal\(\s*(\d+)\s*\)\s*", text)
    if short:
        scale = int(short.group(1))
        if scale > 18:
            raise ValueError("a decimal has at most 18 places")
        return pl.Decimal(38, scale)
    return parse_type(text)


def load_project(path: Path | None, allow_outside: bool = False) -> Project:
    """The project file at `path`, or `./tagengine.toml` if present, or empty defaults.
    Unless `allow_outside`, every file it names must be inside its folder."""
    if path is None:
        default = Path(FILE_NAME)
        if not default.is_file():
            return Project()
        path = default
    if not path.is_file():
        raise TagEngineError(
            error(
                "TE401",
                f"no such project file: `{path}`",
                None,
                "check the path given to --project",
            )
        )
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+), column (\d+)", str(exc))
        span = None
        if at:
            line, column = int(at.group(1)), int(at.group(2))
            span = ast.Span(str(path), line, column, line, column + 1)
        raise TagEngineError(
            error(
                "TE403",
                f"`{path}` is not valid TOML: {exc}",
                span,
                "see docs/project.md for the format",
            )
        ) from None
    data.pop("root", None)  # not settings: always the project file's folder and name
    data.pop("file", None)
    try:
        project = Project(**data, root=path.parent, file=str(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise TagEngineError(
            error(
                "TE403",
                f"`{path}`: {problems}",
                None,
                "keys: rules, as_of, output, pii, [tables], [entity], [related.T], [columns.T]",
            )
        ) from None
    if not allow_outside:
        _inside(project)
    return project


def _inside(project: Project) -> None:
    """Every file the project names resolves inside its folder (symbolic links followed):
    a project file cannot reach another team's data or the system's files by `..`, an
    absolute path or a link. Database URIs (`postgresql://...`) are not files."""
    root = project.root.resolve()
    named = [(f"[tables] {n}", src) for n, src in project.tables.items()]
    named += [("rules", r) for r in project.rules]
    named += [("output", project.output)] if project.output else []
    for what, value in named:
        if "://" in value:
            continue
        file = value.partition("#")[0]  # FILE.duckdb#TABLE
        fixed = Path(file).parent if glob.has_magic(file) else Path(file)
        while glob.has_magic(str(fixed)):
            fixed = fixed.parent
        target = (project.root / fixed).resolve()
        if target != root and not target.is_relative_to(root):
            raise TagEngineError(
                error(
                    "TE409",
                    f"`{project.file}`: {what} = `{value}` is outside the project folder `{root}`",
                    None,
                    "keep the files inside the project folder, or pass "
                    "--allow-outside-paths if this is intended",
                )
            )


def declarations(project: Project, program: ast.Program) -> tuple[ast.Statement, ...]:
    """The project's entity and related tables as statements, for what `program` does not
    declare itself (a rule file's own declaration wins)."""
    span = ast.Span(project.file, 1, 1, 1, 1)
    out: list[ast.Statement] = []
    if project.entity is not None and not program.entities:
        e = project.entity
        out.append(ast.Entity(span, e.name, span, e.table, e.key, span))
    declared = {r.name for r in program.related}
    for name, r in project.related.items():
        if name not in declared:
            time_span = span if r.time else None
            out.append(ast.Related(span, name, span, r.key, span, r.time, time_span))
    return tuple(out)
