"""Reading tables: files (Parquet, CSV, NDJSON, Arrow IPC, and globs of them) as lazy scans."""

from __future__ import annotations

import glob as globlib
from collections.abc import Mapping
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


def scan(
    source: str | Path,
    csv: CsvOptions | None = None,
    table: str | None = None,
    types: Mapping[str, pl.DataType] | None = None,
    formats: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> pl.LazyFrame:
    """A lazy scan of one file or glob; only the columns the rules use will be read.

    CSV files are checked and typed first (csvfiles.py): `csv` says how to read them,
    `types` and `formats` are the table's declared column types and date formats, and
    `warnings` receives a line for each file whose malformed rows were skipped."""
    text = str(source)
    if databases.is_database(text):
        return databases.scan(text)
    fmt = file_format(text)
    if fmt is None:
        raise TagEngineError(
            error(
                "TE401",
                f"cannot tell the format of `{text}`",
                None,
                "use a file ending in " + ", ".join(sorted(set(FORMATS))),
            )
        )
    if not (globlib.has_magic(text) and globlib.glob(text)) and not Path(text).is_file():
        raise TagEngineError(
            error(
                "TE401",
                f"no such file: `{text}`",
                None,
                "check the path (relative paths start in the current folder)",
            )
        )
    if fmt == "parquet":
        return pl.scan_parquet(text)
    if fmt == "csv":
        sep = "\t" if text.lower().endswith(".tsv") else ","
        files = sorted(globlib.glob(text)) if globlib.has_magic(text) else [text]
        frames = [csvfiles.scan(f, csv, sep, table, types, formats, warnings) for f in files]
        return frames[0] if len(frames) == 1 else _concat(frames, files, text)
    if fmt == "ndjson":
        return pl.scan_ndjson(text, infer_schema_length=10_000)
    return pl.scan_ipc(text)


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
    base: Mapping[str, str] | None = None,
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
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Where each table is (a file, glob, FILE#TABLE or URI), found as `tables_from` finds
    them; the SQL engines read them with their own readers."""
    found: dict[str, str] = dict(base or {})
    if data is not None:
        path = Path(data)
        if path.is_dir():
            in_folder: dict[str, str] = {}  # --data wins over the project's [tables]
            for child in sorted(path.iterdir()):
                if child.is_file() and file_format(child):
                    if child.stem in in_folder:
                        raise TagEngineError(
                            error(
                                "TE401",
                                f"two files for table `{child.stem}` in `{path}`: "
                                f"`{Path(in_folder[child.stem]).name}` and `{child.name}`",
                                None,
                                f"keep one, or choose with --table {child.stem}=FILE",
                            )
                        )
                    in_folder[child.stem] = str(child)
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
