"""Tables inside embedded database files: `warehouse.duckdb#orders`, `crm.sqlite#customers`.

Both are read whole, once per run. Any other database is reached by URI
(`postgresql://user@host/db#table`) through connectorx, an optional extra. SQLite has no
column types to speak of, so its declared types (DATE, DATETIME, BOOLEAN, ...) decide
how values are read.

Some sources are files on this machine although they look like servers: a `sqlite://`
or `duckdb://` URI names a file (`local_file` says which, as the driver would read it),
so that the project file's folder boundary (project.py) applies to them as to any file.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from pathlib import Path

import polars as pl

from tagengine import extras, interrupt
from tagengine.diagnostics import TagEngineError, error

DUCKDB_SUFFIXES = (".duckdb", ".ddb")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def is_database(source: str) -> bool:
    path, sep, _table = source.rpartition("#")
    return bool(sep) and (
        is_uri(source) or path.lower().endswith(DUCKDB_SUFFIXES + SQLITE_SUFFIXES)
    )


def is_uri(source: str) -> bool:
    return "://" in source.partition("#")[0] or "://" in source.rpartition("#")[0]


LOCAL_SCHEMES = ("sqlite", "duckdb")  # URIs that name a file on this machine


def local_file(source: str) -> str | None:
    """The file on this machine that the database source `source` reads, as it will be
    opened (a relative path from the current folder): FILE of `FILE#TABLE`, the path of
    a `sqlite://` or `duckdb://` URI; None for a database server."""
    if not is_uri(source):
        return source.partition("#")[0]
    scheme, rest = _uri_parts(source.rpartition("#")[0])
    if scheme not in LOCAL_SCHEMES:
        return None
    # the driver opens the rest after `scheme:` and `//`, percent-decoded, as a file
    # name, query and fragment included
    path = urllib.parse.unquote(rest.removeprefix("//"))
    return "/" + path.lstrip("/") if path.startswith("/") else path


def with_file(source: str, path: str) -> str:
    """The database source `source` reading the file `path` instead of the one it names
    (`local_file`): `path#TABLE`, or the URI `scheme://PATH#TABLE` with `path` made
    absolute and percent-encoded, which the driver decodes back to exactly `path`."""
    if not is_uri(source):
        return f"{path}#{source.partition('#')[2]}"
    uri, _, table = source.rpartition("#")
    scheme, _ = _uri_parts(uri)
    return f"{scheme}://{urllib.parse.quote(str(Path(path).absolute()))}#{table}"


_AROUND = "".join(map(chr, range(33)))  # spaces and control characters


def _uri_parts(uri: str) -> tuple[str, str]:
    """(scheme, the rest after its colon) as connectorx's URL parser reads `uri`: tabs
    and line breaks anywhere dropped, spaces and control characters around it too, the
    scheme without case and up to a `+` (`SQLite+x://` is SQLite)."""
    text = re.sub(r"[\t\n\r]", "", uri).strip(_AROUND)
    scheme, _, rest = text.partition(":")
    return scheme.partition("+")[0].lower(), rest


def scan(source: str) -> pl.LazyFrame:
    if is_uri(source):
        return _uri(source)
    path, _, table = source.partition("#")
    if not Path(path).is_file():
        raise TagEngineError(
            error("TE401", f"no such database file: `{path}`", None, "check the path before `#`")
        )
    if not table:
        raise TagEngineError(
            error(
                "TE401",
                f"`{source}` names no table",
                None,
                "write FILE#TABLE, e.g. warehouse.duckdb#orders",
            )
        )
    if path.lower().endswith(DUCKDB_SUFFIXES):
        return _duckdb(path, table)
    return _sqlite(path, table)


def _uri(source: str) -> pl.LazyFrame:
    """`postgresql://user@host/db#table` and the like, through connectorx."""
    uri, _, table = source.rpartition("#")
    extras.require("db", "reading a database by URI", "TE401")
    scheme = uri.split("://", 1)[0]
    if (file := local_file(source)) is not None:
        # the driver would create a missing file (and wait half a minute for it); and it
        # opens exactly the file named here, whatever the URI's quirks
        if not Path(file).is_file():
            raise TagEngineError(
                error(
                    "TE401",
                    f"cannot read table `{table}` from the {scheme} database: "
                    f"no such file `{file}`",
                    None,
                    "check the path after `//`: `sqlite:///abs/path.db` is an absolute path",
                )
            )
        uri = with_file(source, file).rpartition("#")[0]
    try:
        return pl.read_database_uri(f"SELECT * FROM {_quote(table)}", uri).lazy()
    except Exception as exc:  # drivers raise their own error types
        raise TagEngineError(
            error(
                "TE401",
                f"cannot read table `{table}` from the {scheme} "
                f"database: {str(exc).strip().splitlines()[0]}",
                None,
                "check the URI, the table name and that the database is reachable",
            )
        ) from None


def _duckdb(path: str, table: str) -> pl.LazyFrame:
    duckdb = extras.require("duckdb", "reading DuckDB files", "TE401")
    try:
        # Read at once: DuckDB's lazy Polars scan refuses the concurrent use Polars makes
        # of it when one plan reads a table twice (the run and its row count).
        with duckdb.connect(path, read_only=True) as con:
            return pl.from_arrow(con.table(table).arrow()).lazy()
    except duckdb.Error as exc:
        names = _duckdb_tables(path)
        raise TagEngineError(
            error(
                "TE401",
                f"cannot read table `{table}` of `{path}`: {str(exc).splitlines()[0]}",
                None,
                f"tables in the file: {', '.join(names) or 'none'}",
            )
        ) from None


def _duckdb_tables(path: str) -> list[str]:
    import duckdb

    try:
        with duckdb.connect(path, read_only=True) as con:
            return sorted(r[0] for r in con.execute("SHOW TABLES").fetchall())
    except duckdb.Error:
        return []


_SQLITE_TYPES = (
    ("DATETIME", pl.Datetime("us")),
    ("TIMESTAMP", pl.Datetime("us")),
    ("DATE", pl.Date()),
    ("BOOL", pl.Boolean()),
    ("INT", pl.Int64()),
    ("REAL", pl.Float64()),
    ("FLOA", pl.Float64()),
    ("DOUB", pl.Float64()),
    ("NUMERIC", pl.Float64()),
    ("DECIMAL", pl.Float64()),
    ("CHAR", pl.String()),
    ("TEXT", pl.String()),
    ("CLOB", pl.String()),
)


def _sqlite(path: str, table: str) -> pl.LazyFrame:
    # percent-encoded: a `?` or `#` in the path is part of the file's name
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
    with sqlite3.connect(uri, uri=True) as con:
        info = con.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()
        if not info:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
                )
            ]
            raise TagEngineError(
                error(
                    "TE401",
                    f"no table `{table}` in `{path}`",
                    None,
                    f"tables in the file: {', '.join(names) or 'none'}",
                )
            )
        quoted = ", ".join('"' + name.replace('"', '""') + '"' for name, _ in info)
        rows = con.execute(f'SELECT {quoted} FROM "{table.replace(chr(34), chr(34) * 2)}"')
        data = rows.fetchall()
    columns = {}
    for i, (name, declared) in enumerate(info):
        dtype = next((t for key, t in _SQLITE_TYPES if key in declared.upper()), None)
        values = [r[i] for r in data]
        series = pl.Series(name, values, strict=False)
        if dtype is not None and series.dtype != dtype:
            try:
                if series.dtype == pl.String and dtype in (pl.Date, pl.Datetime("us")):
                    series = series.str.to_datetime(strict=True).cast(dtype)
                else:
                    series = series.cast(dtype, strict=True)
            except pl.exceptions.PolarsError:
                raise TagEngineError(
                    error(
                        "TE402",
                        f"column `{table}.{name}` is declared {declared} but holds values "
                        "that are not",
                        None,
                        "fix the values or the column's declared type",
                    )
                ) from None
        columns[name] = series
    return pl.DataFrame(columns).lazy()


def write_table(df: pl.DataFrame, target: str, metadata: dict[str, str] | None = None) -> None:
    """Replace table `FILE#TABLE` with `df`, and `TABLE__meta` with `metadata` as (key,
    value) rows, in one transaction: readers see the old tables or the new ones."""
    path, _, table = target.partition("#")
    if not table:
        raise TagEngineError(
            error(
                "TE403",
                f"`{target}` names no table",
                None,
                "write FILE#TABLE, e.g. warehouse.duckdb#customer_tags",
            )
        )
    if not Path(path).parent.exists():
        raise TagEngineError(
            error(
                "TE403", f"the folder `{Path(path).parent}` does not exist", None, "create it first"
            )
        )
    meta = pl.DataFrame(
        {"key": list(metadata or {}), "value": list((metadata or {}).values())},
        schema={"key": pl.String, "value": pl.String},
    )
    tables = {table: df, f"{table}__meta": meta}
    if path.lower().endswith(DUCKDB_SUFFIXES):
        _write_duckdb(tables, path)
    else:
        _write_sqlite(tables, path)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_duckdb(tables: dict[str, pl.DataFrame], path: str) -> None:
    duckdb = extras.require("duckdb", "writing DuckDB files", "TE403")
    with duckdb.connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            for i, (table, df) in enumerate(tables.items()):
                con.register(f"tagengine_{i}", df.to_arrow())
                con.execute(
                    f"CREATE OR REPLACE TABLE {_quote(table)} AS SELECT * FROM tagengine_{i}"
                )
            with interrupt.commit(path):  # not after a stop (interrupt.py)
                con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise


_SQLITE_DECLARED = {pl.Boolean: "BOOLEAN", pl.Date: "DATE", pl.String: "TEXT"}


def _sqlite_columns(df: pl.DataFrame) -> str:
    columns = []
    for name, dtype in df.schema.items():
        declared = _SQLITE_DECLARED.get(dtype.base_type())
        if isinstance(dtype, pl.Decimal):
            declared = f"DECIMAL({dtype.precision},{dtype.scale})"  # stored as written
        elif declared is None:
            if dtype.is_integer():
                declared = "INTEGER"
            elif dtype.is_numeric():
                declared = "REAL"
            else:
                declared = "DATETIME" if isinstance(dtype, pl.Datetime) else "TEXT"
        columns.append(f"{_quote(name)} {declared}")
    return ", ".join(columns)


def _write_sqlite(tables: dict[str, pl.DataFrame], path: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        for table, df in tables.items():
            # SQLite binds no dates and no decimals: both go as text (ISO dates; decimals
            # to their last place, which SQLite keeps exactly up to 15 digits)
            as_text = pl.col(pl.Date, pl.Datetime, pl.Decimal).cast(pl.String)
            rows = df.with_columns(as_text).rows()
            con.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            con.execute(f"CREATE TABLE {_quote(table)} ({_sqlite_columns(df)})")
            marks = ", ".join("?" * df.width)
            con.executemany(f"INSERT INTO {_quote(table)} VALUES ({marks})", rows)
        with interrupt.commit(path):  # not after a stop (interrupt.py)
            con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
