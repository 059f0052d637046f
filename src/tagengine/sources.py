"""Reading tables: files (Parquet, CSV, NDJSON, Arrow IPC, and globs of them) as lazy scans.

A glob is expanded once, here (`expand`), into the list of files it matches; the readers
are given that list and never expand anything again, so that the files checked before
reading (project.py keeps the project file's tables inside its folder) are the files
read."""

from __future__ import annotations

import fnmatch
import glob as globlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tagengine import csvfiles, databases
from tagengine.csvfiles import CsvOptions
from tagengine.diagnostics import VALUE, Diagnostic, TagEngineError, error, quoting

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}


def file_format(path: str | Path) -> str | None:
    return FORMATS.get(Path(str(path)).suffix.lower())


def is_source(text: str) -> bool:
    """Whether `text` names data (a file or glob of a known format, FILE#TABLE, a URI),
    rather than, say, a table of a warehouse (`sales.fact_orders`)."""
    return databases.is_database(text) or file_format(text) is not None


@dataclass(frozen=True)
class Files:
    """One table's files, found once: `written` is the file or glob as it was given (its
    ending decides the format), `paths` the files it stands for, in order, as the readers
    are to open them. Readers read exactly `paths` and expand nothing again."""

    written: str
    paths: tuple[str, ...]

    @property
    def format(self) -> str | None:
        return file_format(self.written)


def expand(text: str, listing: Callable[[Path], None] | None = None) -> Files:
    """The files `text` names: itself, if it is a file; for a glob, every file it matches,
    sorted: `*`, `?` and `[abc]` within a name, `**` for any depth of folders (as Polars
    globs; a symbolic link to a folder is followed, each folder is listed once, so a
    loop of links ends). The one place a glob is expanded. `listing` is called with each
    folder before it is listed, and may refuse it by raising."""
    if not globlib.has_magic(text):
        return Files(text, (text,) if _is_file(Path(text)) else ())
    parts = Path(text).parts
    fixed = next(i for i, part in enumerate(parts) if globlib.has_magic(part))
    if any("**" in part and part != "**" for part in parts[fixed:]):
        raise TagEngineError(
            error(
                "TE401",
                f"`{text}` is not a glob tagengine can read: `**` stands for folders only "
                "as a whole name",
                None,
                "write orders/**/*.parquet for the files of orders/ and its folders",
            )
        )
    found = _glob(Path(*parts[:fixed]), parts[fixed:], listing or (lambda folder: None))
    return Files(text, tuple(sorted({str(p) for p in found if _is_file(p)})))


def _glob(folder: Path, pattern: Sequence[str], listing: Callable[[Path], None]) -> Iterator[Path]:
    """The paths below `folder` that match `pattern`, a glob's names one by one."""
    if not pattern:
        yield folder
        return
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        for below in _folders(folder, listing):
            yield from _glob(below, rest, listing)
    elif globlib.has_magic(head):
        for name in _names(folder, listing):
            if fnmatch.fnmatchcase(name, head):
                yield from _glob(folder / name, rest, listing)
    else:
        yield from _glob(folder / head, rest, listing)


def _folders(top: Path, listing: Callable[[Path], None]) -> Iterator[Path]:
    """`top` and every folder below it, links to folders followed, each folder once."""
    seen: set[str] = set()
    todo = [top]
    while todo:
        folder = todo.pop()
        real = os.path.realpath(folder)
        if real in seen or not _is_dir(folder):
            continue
        seen.add(real)
        yield folder
        todo.extend(folder / name for name in reversed(_names(folder, listing)))


def _names(folder: Path, listing: Callable[[Path], None]) -> list[str]:
    """The names in `folder`, sorted; none if it is no folder or cannot be listed."""
    if not _is_dir(folder):
        return []
    listing(folder)
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _is_file(path: Path) -> bool:
    """`path.is_file()` (symbolic links followed); False for a name no file can have."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def scan(
    source: str | Path | Files,
    csv: CsvOptions | None = None,
    table: str | None = None,
    types: Mapping[str, pl.DataType] | None = None,
    formats: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> pl.LazyFrame:
    """A lazy scan of one file or glob, or of the files found for one (`Files`); only the
    columns the rules use will be read.

    CSV files are checked and typed first (csvfiles.py): `csv` says how to read them,
    `types` and `formats` are the table's declared column types and date formats, and
    `warnings` receives a line for each file whose malformed rows were skipped."""
    if not isinstance(source, Files):
        text = str(source)
        if databases.is_database(text):
            return databases.scan(text)
        source = find_files(text)
    fmt = _known_format(source.written)
    if not source.paths:
        raise TagEngineError(
            error(
                "TE401",
                f"no such file: `{source.written}`",
                None,
                "check the path (relative paths start in the current folder)",
            )
        )
    # The files as listed, never globbed again: `glob=False`, and for NDJSON, which
    # Polars always globs, each name escaped so that it matches only itself.
    files = list(source.paths)
    if fmt == "parquet":
        return pl.scan_parquet(files, glob=False)
    if fmt == "csv":
        sep = "\t" if source.written.lower().endswith(".tsv") else ","
        frames = [csvfiles.scan(f, csv, sep, table, types, formats, warnings) for f in files]
        return frames[0] if len(frames) == 1 else _concat(frames, files, source.written)
    if fmt == "ndjson":
        return pl.scan_ndjson([globlib.escape(f) for f in files], infer_schema_length=10_000)
    return pl.scan_ipc(files, glob=False)


def find_files(source: str | Path | Files) -> Files:
    """The files of a file or glob source (not a database), expanded once; TE401 for a
    name of no format tagengine reads."""
    if isinstance(source, Files):
        return source
    _known_format(str(source))
    return expand(str(source))


def _known_format(text: str) -> str:
    if (fmt := file_format(text)) is None:
        raise TagEngineError(
            error(
                "TE401",
                f"cannot tell the format of `{text}`",
                None,
                "use a file ending in " + ", ".join(sorted(set(FORMATS))),
            )
        )
    return fmt


def _concat(frames: list[pl.LazyFrame], files: list[str], glob: str) -> pl.LazyFrame:
    """The CSV files of one glob as one table. A column empty in some files takes the
    others' type, whole numbers and decimals make decimals; any other difference (text
    in one file, numbers in another) is an error naming both files."""
    schemas = [frame.collect_schema() for frame in frames]
    names = schemas[0].names()
    for file, schema in zip(files[1:], schemas[1:], strict=True):
        if schema.names() != names:
            raise TagEngineError(
                error(
                    "TE402",
                    f"the files of `{glob}` have different columns: `{files[0]}` has "
                    f"{', '.join(names)}; `{file}` has {', '.join(schema.names())}",
                    None,
                    "give every file of the table the same header",
                )
            )
    common: dict[str, pl.DataType] = {}
    for name in names:
        kinds = {s[name] for s in schemas} - {pl.Null()}
        if len(kinds) <= 1:
            common[name] = kinds.pop() if kinds else pl.Null()
        elif all(k.is_numeric() for k in kinds):
            common[name] = pl.Float64() if any(k.is_float() for k in kinds) else pl.Int64()
        else:
            first: dict[pl.DataType, str] = {}  # each kind -> the first file with it
            for file, schema in zip(files, schemas, strict=True):
                first.setdefault(schema[name], file)
            a = next(k for k in first if k != pl.Null and not k.is_numeric())
            b = next(k for k in first if k not in (pl.Null, a))
            (a, file_a), (b, file_b) = sorted(
                [(a, first[a]), (b, first[b])], key=lambda kf: files.index(kf[1])
            )
            raise TagEngineError(
                error(
                    "TE704",
                    f"column `{name}` holds {csvfiles.kind_words(a)} in `{file_a}` but "
                    f"{csvfiles.kind_words(b)} in `{file_b}` (files of `{glob}`)",
                    None,
                    "make the files agree, or declare the column's type in tagengine.toml, "
                    f'e.g. [columns.TABLE] {name} = "string"',
                )
            )
    return pl.concat([f.cast(common) for f in frames], how="vertical")


def tables_from(
    data: str | Path | None,
    entity_table: str,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str | Files] | None = None,
    csv: CsvOptions | None = None,
    csv_tables: Mapping[str, CsvOptions] | None = None,
    types: Mapping[str, Mapping[str, pl.DataType]] | None = None,
    formats: Mapping[str, Mapping[str, str]] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, pl.LazyFrame]:
    """Tables by name: `base` (from the project file) first; a directory gives one table
    per file (named by its stem), a single file is the entity table; `overrides`
    (NAME -> source) win over all. CSV files are read with `csv_tables[NAME]`, else
    `csv`; `types` and `formats` (table -> column -> ...) are declared column types and
    date formats, applied as CSV files are read (`declare` applies them to the rest)."""
    found = locate(data, entity_table, overrides, base)
    return {
        name: scan(
            src,
            (csv_tables or {}).get(name, csv),
            name,
            (types or {}).get(name),
            (formats or {}).get(name),
            warnings,
        )
        for name, src in found.items()
    }


def locate(
    data: str | Path | None,
    entity_table: str,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str | Files] | None = None,
) -> dict[str, str | Files]:
    """Where each table is (a file, glob, FILE#TABLE or URI, or the files found for one),
    found as `tables_from` finds them; the SQL engines read them with their own readers."""
    found: dict[str, str | Files] = dict(base or {})
    if data is not None:
        path = Path(data)
        if path.is_dir():
            in_folder: dict[str, Files] = {}  # --data wins over the project's [tables]
            for child in sorted(path.iterdir()):
                if child.is_file() and file_format(child):
                    if child.stem in in_folder:
                        raise TagEngineError(
                            error(
                                "TE401",
                                f"two files for table `{child.stem}` in `{path}`: "
                                f"`{Path(in_folder[child.stem].written).name}` and "
                                f"`{child.name}`",
                                None,
                                f"keep one, or choose with --table {child.stem}=FILE",
                            )
                        )
                    # the file itself, even where its name looks like a glob
                    in_folder[child.stem] = Files(str(child), (str(child),))
            found.update(in_folder)
        elif databases.is_database(str(path)):
            raise TagEngineError(
                error(
                    "TE401",
                    "--data takes a folder or one file; bind "
                    "database tables with --table NAME=FILE#TABLE",
                    None,
                    f"e.g. --table customers={path}#customers",
                )
            )
        elif path.exists() or globlib.has_magic(str(path)):
            found[entity_table] = str(path)
        else:
            raise TagEngineError(
                error(
                    "TE401",
                    f"no such file or folder: `{path}`",
                    None,
                    "--data takes a folder of tables or the entity table's file",
                )
            )
    found.update(overrides or {})
    return found


def schema_of(tables: Mapping[str, pl.LazyFrame | pl.DataFrame]) -> dict[str, pl.Schema]:
    """Column types of every table, read from file metadata, not rows."""
    out = {}
    for name, frame in tables.items():
        try:
            out[name] = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        except (pl.exceptions.PolarsError, OSError) as exc:
            if (explained := csvfiles.diagnose(exc)) is not None:
                raise TagEngineError(explained) from None
            raise TagEngineError(unreadable_table(name, exc)) from None
    return out


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def declare(
    tables: Mapping[str, pl.LazyFrame],
    types: Mapping[str, Mapping[str, pl.DataType]],
    origin: str = "the project file",
    formats: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, pl.LazyFrame]:
    """The tables with declared column types applied, once, as they are read. A float
    declared `decimal(S)` is rounded to S places, half away from zero, and from then on
    summed exactly (docs/semantics.md#exact-money). Text declared a date is read with its
    format in `formats` (table -> column -> e.g. `%d.%m.%Y`), else as an ISO date."""
    out = dict(tables)
    for table, columns in types.items():
        if table not in out:
            continue  # a table this run does not read
        frame = out[table]
        schema = schema_of({table: frame})[table]
        casts = []
        for column, dtype in columns.items():
            if column not in schema:
                from tagengine.diagnostics import did_you_mean

                guess = did_you_mean(column, list(schema))
                raise TagEngineError(
                    error(
                        "TE403",
                        f"{origin} declares `{table}.{column}`, which `{table}` does not have",
                        None,
                        f"did you mean `{guess}`?" if guess else "check [columns." + table + "]",
                    )
                )
            fmt = (formats or {}).get(table, {}).get(column)
            casts.append(_converted(pl.col(column), schema[column], dtype, fmt))
        out[table] = frame.with_columns(casts) if casts else frame
    return out


def _converted(
    col: pl.Expr, have: pl.DataType, want: pl.DataType, fmt: str | None = None
) -> pl.Expr:
    if have == want:
        return col
    if have == pl.String and (want == pl.Date or isinstance(want, pl.Datetime)):
        fmt = fmt or ("%Y-%m-%d" if want == pl.Date else "%Y-%m-%dT%H:%M:%S%.f")
        return col.str.strip_chars().str.strptime(want, fmt, strict=True)
    if isinstance(want, pl.Decimal) and have.is_float():
        col = col.fill_nan(None).round(want.scale or 0, mode="half_away_from_zero")
    return col.cast(want, strict=True)


def collect(frames: list[pl.LazyFrame], engine: str = "auto") -> list[pl.DataFrame]:
    """Run the queries together (shared scans run once); a failure while reading or
    evaluating the data is a TE402 diagnostic, not a traceback."""
    try:
        return pl.collect_all(frames, engine=engine)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError as exc:
        if (explained := csvfiles.diagnose(exc)) is not None:
            raise TagEngineError(explained) from None
        raise TagEngineError(unreadable(exc)) from None


def unreadable_table(name: str, exc: BaseException) -> Diagnostic:
    """TE402 for a table that cannot be opened (any engine)."""
    # the engine's words may quote a value
    return quoting(
        "TE402",
        f"cannot read table `{name}`: {VALUE}",
        first_line(exc),
        None,
        "check that the file is complete and of the right format",
    )


def unreadable(exc: BaseException) -> Diagnostic:
    """TE402 for a failure of any engine while reading or evaluating the data."""
    # the engine's words may quote a value
    return quoting(
        "TE402",
        f"could not read or evaluate the data: {VALUE}",
        first_line(exc),
        None,
        "check the input files and their column types",
    )
