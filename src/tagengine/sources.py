"""Reading tables: files (Parquet, CSV, NDJSON, Arrow IPC, and globs of them) as lazy scans."""

from __future__ import annotations

import glob as globlib
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from tagengine import databases
from tagengine.diagnostics import TagEngineError, error

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


def scan(source: str | Path) -> pl.LazyFrame:
    """A lazy scan of one file or glob; only the columns the rules use will be read."""
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
        return pl.scan_csv(text, separator=sep, try_parse_dates=True, infer_schema_length=10_000)
    if fmt == "ndjson":
        return pl.scan_ndjson(text, infer_schema_length=10_000)
    return pl.scan_ipc(text)


def tables_from(
    data: str | Path | None,
    entity_table: str,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, pl.LazyFrame]:
    """Tables by name: `base` (from the project file) first; a directory gives one table
    per file (named by its stem), a single file is the entity table; `overrides`
    (NAME -> source) win over all."""
    found: dict[str, str] = dict(base or {})
    if data is not None:
        path = Path(data)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and file_format(child):
                    if child.stem in found:
                        raise TagEngineError(
                            error(
                                "TE401",
                                f"two files for table `{child.stem}` in `{path}`: "
                                f"`{Path(found[child.stem]).name}` and `{child.name}`",
                                None,
                                f"keep one, or choose with --table {child.stem}=FILE",
                            )
                        )
                    found[child.stem] = str(child)
        elif databases.is_database(str(path)):
            raise TagEngineError(
                error(
                    "TE401",
                    "--data takes a folder or one file; bind "
                    "database tables with --table NAME=FILE#TABLE",
                    None,
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
    return {name: scan(src) for name, src in found.items()}


def schema_of(tables: Mapping[str, pl.LazyFrame | pl.DataFrame]) -> dict[str, pl.Schema]:
    """Column types of every table, read from file metadata, not rows."""
    out = {}
    for name, frame in tables.items():
        try:
            out[name] = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise TagEngineError(
                error(
                    "TE402",
                    f"cannot read table `{name}`: {first_line(exc)}",
                    None,
                    "check that the file is complete and of the right format",
                )
            ) from None
    return out


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
