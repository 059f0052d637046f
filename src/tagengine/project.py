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

    allow_outside = ["/srv/warehouse/*.db"]  # places outside the folder it may read

Relative paths are taken from the folder the project file is in. Every file the project
names must lie there (or in a place `allow_outside` names): `load_project` expands each
glob and rules folder once, checks every file it finds, and hands the readers those very
files (`Project.table_sources`, `Project.rule_paths`), never the pattern.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NoReturn

import polars as pl
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator

from tagengine import databases
from tagengine.csvfiles import CsvOptions, check_date_format, encoding_name
from tagengine.diagnostics import TagEngineError, error
from tagengine.schema import parse_type
from tagengine.sources import Files, expand, file_format
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
    allow_outside: list[str] = []  # files or globs outside the folder that it may name
    root: Path = Path(".")
    file: str = FILE_NAME
    # What load_project found, once, checked: each table's source (a glob's files), and
    # the rule files (a rules folder's). None: the project was not loaded from a file.
    _tables_found: dict[str, str | Files] | None = PrivateAttr(default=None)
    _rules_found: list[Path] | None = PrivateAttr(default=None)

    @field_validator("rules", "allow_outside", mode="before")
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

    def table_sources(self) -> dict[str, str | Files]:
        """Each table's source: what `load_project` found and checked (a glob's files,
        a database file's resolved path), else as written, from the project folder."""
        if self._tables_found is not None:
            return dict(self._tables_found)
        return {name: self.path(src) for name, src in self.tables.items()}

    def rule_paths(self) -> list[Path]:
        """The rule files: those `load_project` found and checked (a folder's `.tags`
        files), else the paths as written, from the project folder."""
        if self._rules_found is not None:
            return list(self._rules_found)
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
    """The project file at `path`, or `./tagengine.toml` if present, or empty defaults,
    with its files found (`bounded`). Unless `allow_outside` (--allow-outside-paths),
    every file it names must be inside its folder or in a place its `allow_outside` names."""
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
                "keys: rules, as_of, output, pii, encoding, bad_rows, date_format, "
                "allow_outside, [tables], [entity], [related.T], [columns.T], [csv.T]",
            )
        ) from None
    return bounded(project, anywhere=allow_outside)


def bounded(project: Project, anywhere: bool = False) -> Project:
    """`project` with its files found, once: each table's glob expanded, each rules folder
    searched, and every file found resolved (symbolic links followed, `..` resolved) and
    checked before anything is read: it must lie inside the project folder, or in a
    place `allow_outside` names, unless `anywhere` (--allow-outside-paths); otherwise
    TE409 names it and the value it came from. So a project file cannot reach another
    team's data or the system's files, by `..`, an absolute path, a link, a glob or a
    local database URI. The readers are handed the files found and checked, never the
    pattern (`Project.table_sources`, `Project.rule_paths`): nothing is expanded twice."""
    folder = _Folder(project, anywhere)
    try:
        tables = {name: folder.table(name, value) for name, value in project.tables.items()}
        rules = [file for value in project.rules for file in folder.rules(value)]
        if project.output:
            folder.output(project.output)
    except ValueError:  # a NUL byte: no file has such a name
        raise TagEngineError(
            error(
                "TE403",
                f"`{project.file}` names a file with a character no file name can have",
                None,
                "check the paths for \\u0000",
            )
        ) from None
    found = project.model_copy()
    found._tables_found, found._rules_found = tables, rules
    return found


class _Folder:
    """Where a project's files may be: its folder, and the places `allow_outside` names
    (a folder, a file, or a glob: `*`, `?`, `[abc]` within a name, `**` for any depth),
    taken from the project folder if relative, and compared after symbolic links are
    followed. `anywhere`: everywhere (--allow-outside-paths)."""

    def __init__(self, project: Project, anywhere: bool) -> None:
        self.project = project
        self.anywhere = anywhere
        self.root = _resolved(project.root)
        self.allowed: list[tuple[Path, tuple[str, ...]]] = []  # (folder, pattern below it)
        for entry in project.allow_outside:
            parts = (project.root / entry).parts
            fixed = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts))
            self.allowed.append((_resolved(Path(*parts[:fixed])), parts[fixed:]))

    def admits(self, resolved: Path) -> bool:
        return (
            self.anywhere
            or resolved.is_relative_to(self.root)
            or any(
                resolved.is_relative_to(base)
                and (not rest or _matches(resolved.relative_to(base).parts, rest))
                for base, rest in self.allowed
            )
        )

    def may_hold(self, resolved: Path) -> bool:
        """Whether a folder may hold files that may be read: it is allowed, or holds a
        place that is (so that a glob outside is refused before it is listed)."""
        return self.admits(resolved) or any(b.is_relative_to(resolved) for b, _ in self.allowed)

    def table(self, name: str, value: str) -> str | Files:
        what = f"[tables] {name}"
        joined = self.project.path(value)
        if databases.is_database(joined):
            file = databases.local_file(joined)
            if file is None:
                return joined  # a database server, reached with its own credentials
            seen = self.check(
                what, value, Path(file), "reads" if databases.is_uri(joined) else None
            )
            return databases.with_file(joined, self.readable(file, seen))
        if file_format(joined) is None:
            self.check(what, value, Path(joined))
            return joined  # of no format tagengine reads: reading it says so (TE401)
        if not glob.has_magic(joined):
            seen = self.check(what, value, Path(joined))
            return Files(joined, (self.readable(joined, seen),) if _is_file(Path(joined)) else ())
        self.check_pattern(what, value, joined)

        def listing(folder: Path) -> None:  # before the glob lists a folder
            if not self.may_hold(seen := _resolved(folder)):
                self.refuse(what, value, seen, folder, f"reaches the folder `{folder}`, which ")

        files = expand(joined, listing).paths
        found = [(f, self.check(what, value, Path(f), "matches")) for f in files]
        return Files(joined, tuple(self.readable(f, seen) for f, seen in found))

    def rules(self, value: str) -> list[Path]:
        from tagengine.ruleset import rule_files

        path = Path(self.project.path(value))
        seen = self.check("rules", value, path)
        if not _is_dir(path):
            return [Path(self.readable(str(path), seen)) if _is_file(path) else path]
        try:
            files = rule_files([path])
        except TagEngineError:
            return [path]  # no rule files in it: loading the rules says so
        return [Path(self.readable(str(f), self.check("rules", value, f, "holds"))) for f in files]

    def output(self, value: str) -> None:
        joined = self.project.path(value)
        file = joined.partition("#")[0] if databases.is_database(joined) else joined
        self.check("output", value, Path(file))

    def check_pattern(self, what: str, value: str, pattern: str) -> None:
        """The folder a glob starts from (its part before the first wildcard) must be one
        whose files may be read, or hold one: nothing outside is even listed."""
        parts = Path(pattern).parts
        fixed = Path(*parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))])
        if not self.may_hold(seen := _resolved(fixed)):
            self.refuse(what, value, seen, fixed)

    def check(self, what: str, value: str, path: Path, verb: str | None = None) -> Path:
        """`path` resolved, if it may be read; else TE409. `verb`: how `value` leads to
        `path` (it `matches`, `holds`, `reads` it), to name both; None: `path` is `value`."""
        seen = _resolved(path)
        if not self.admits(seen):
            self.refuse(what, value, seen, path, f"{verb} `{path}`, which " if verb else "")
        return seen

    def refuse(self, what: str, value: str, seen: Path, path: Path, via: str = "") -> NoReturn:
        link = "" if Path(os.path.abspath(path)) == seen else f": it leads to `{seen}`"
        raise TagEngineError(
            error(
                "TE409",
                f"`{self.project.file}`: {what} = `{value}` {via}is outside the project "
                f"folder `{self.root}`{link}",
                None,
                "keep the files inside the project folder; if this one is meant to be "
                "read, list it (or its folder) in `allow_outside` in the project file, "
                "or pass --allow-outside-paths for one command",
            )
        )

    @staticmethod
    def readable(written: str, seen: Path) -> str:
        """How a reader is given a checked file: `seen`, its resolved path, so that no
        link is followed again; from the current folder where it lies inside it (so that
        messages name it as written), else absolute. Never so that a reader could take it
        for a URL (`file:`, `s3:`), a home folder (`~`) or an option (`-`)."""
        if not Path(written).is_absolute():
            relative = Path(os.path.relpath(seen))
            if relative.parts[0] != "..":
                first = relative.parts[0]
                return f"./{relative}" if ":" in first or first[0] in "~-" else str(relative)
        return str(seen)


def _resolved(path: Path) -> Path:
    """`path` absolute, with every symbolic link followed and `..` resolved (as far as the
    path exists; a loop of links stays as it is, and cannot be read)."""
    return Path(os.path.realpath(path))


def _matches(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether path parts match glob parts, `**` standing for any number of them."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    if not parts or not fnmatch.fnmatchcase(parts[0], pattern[0]):
        return False
    return _matches(parts[1:], pattern[1:])


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


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
