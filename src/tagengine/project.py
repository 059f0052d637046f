"""The project file, `tagengine.toml`: where the tables are and the run's defaults, so that
rule files hold only business logic.

    rules = ["rules/"]
    as_of = 2024-12-31          # default observation date (else today); or "latest"
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

    encoding = "gbk"                     # CSV files (default utf-8); also --encoding
    bad_rows = "skip"                    # malformed CSV rows: fail (default) or skip
    date_format = "%Y/%m/%d"             # dates in CSV text columns; ISO needs none

    [csv.orders]                         # the same three settings for one table
    encoding = "utf-8"

Relative paths are taken from the folder the project file is in.
"""

from __future__ import annotations

import datetime as dt
import glob
import re
import tomllib
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tagengine.csvfiles import CsvOptions, check_date_format, encoding_name
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


class CsvSpec(BaseModel):
    """How one table's CSV files are read; unset settings come from the top level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: str | None = None
    bad_rows: Literal["fail", "skip"] | None = None
    date_format: str | None = None

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        return _known_encoding(value)

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        return _date_format(value)


def _known_encoding(value: str | None) -> str | None:
    if value is not None:
        encoding_name(value)  # ValueError for an encoding Python does not know
    return value


def _date_format(value: str | None) -> str | None:
    if value is not None:
        check_date_format(value)  # ValueError for a format without %Y, %m, %d ...
    return value


class Project(CsvSpec):
    """The project file. Its top-level CSV settings (`encoding`, `bad_rows`,
    `date_format`, from CsvSpec, checked the same way) apply to every table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[str] = []
    as_of: dt.date | Literal["latest"] | None = None  # "latest": see asof.py
    output: str | None = None
    tables: dict[str, str] = {}
    entity: EntitySpec | None = None
    related: dict[str, RelatedSpec] = {}
    columns: dict[str, dict[str, str]] = {}  # table -> column -> declared type
    pii: list[str] = []  # private columns: `phone` (entity table) or `orders.card_no`
    csv: dict[str, CsvSpec] = {}  # table -> its own CSV settings (docs/project.md)
    root: Path = Path(".")
    file: str = FILE_NAME

    @field_validator("rules", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value: object) -> object:
        if isinstance(value, str) and value != "latest":
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f'{value!r} is not a date: write as_of = 2024-12-31, or as_of = "latest"'
                ) from None
        return value

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

    def date_formats(self) -> dict[str, dict[str, str]]:
        """Declared date formats: table -> column -> format, from `date(%d.%m.%Y)`."""
        out: dict[str, dict[str, str]] = {}
        for table, columns in self.columns.items():
            for column, text in columns.items():
                if m := _DATE_WITH_FORMAT.fullmatch(text):
                    out.setdefault(table, {})[column] = m.group(2)
        return out

    def csv_options(self, table: str | None = None) -> CsvOptions:
        """How CSV files are read: `[csv.TABLE]`, then the top-level settings."""
        spec = self.csv.get(table or "", CsvSpec())
        return CsvOptions(
            encoding=spec.encoding or self.encoding or "utf-8",
            bad_rows=spec.bad_rows or self.bad_rows or "fail",
            date_format=spec.date_format or self.date_format,
        )

    def csv_table_options(self) -> dict[str, CsvOptions]:
        """The tables with settings of their own, `[csv.TABLE]`."""
        return {table: self.csv_options(table) for table in self.csv}

    def with_csv(
        self,
        encoding: str | None = None,
        bad_rows: str | None = None,
        date_format: str | None = None,
    ) -> Project:
        """The project with CSV settings from the command line, which win over the file's
        (top level and `[csv.TABLE]` alike)."""
        given = {
            k: v
            for k, v in {
                "encoding": encoding,
                "bad_rows": bad_rows,
                "date_format": date_format,
            }.items()
            if v is not None
        }
        if not given:
            return self
        tables = {t: spec.model_copy(update=dict.fromkeys(given)) for t, spec in self.csv.items()}
        return self.model_copy(update={**given, "csv": tables})

    def path(self, value: str) -> str:
        """`value` resolved against the project folder (URIs and absolute paths kept)."""
        if "://" in value or Path(value).is_absolute():
            return value
        return str(self.root / value)

    def table_sources(self) -> dict[str, str]:
        return {name: self.path(src) for name, src in self.tables.items()}

    def rule_paths(self) -> list[Path]:
        return [Path(self.path(r)) for r in self.rules]


_DATE_WITH_FORMAT = re.compile(r"\s*(date|datetime)\((.+)\)\s*")


def declared_type(text: str) -> pl.DataType:
    """A type as the project file declares it: the schema-file names, plus `decimal(S)`
    (S places, as many digits as Polars allows) for money, and `date(FORMAT)` or
    `datetime(FORMAT)` for dates written otherwise than ISO (`date(%d.%m.%Y)`)."""
    if m := _DATE_WITH_FORMAT.fullmatch(text):
        check_date_format(m.group(2))
        return pl.Date() if m.group(1) == "date" else pl.Datetime("us")
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
                "keys: rules, as_of, output, pii, encoding, bad_rows, date_format, [tables], "
                "[entity], [related.T], [columns.T], [csv.T]",
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
