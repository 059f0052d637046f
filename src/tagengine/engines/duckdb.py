"""The DuckDB engine: the rule set's SQL run by an embedded, in-memory DuckDB.

Parquet, CSV and NDJSON files (and globs of them) are read by DuckDB's own readers, so
the data never passes through Python and DuckDB's parallel, out-of-core execution does
the work; tables of a DuckDB database file are attached read-only. Everything else
(Arrow IPC files, SQLite, other databases, Polars frames) is handed over as Arrow data.
Column types are the ones Polars reads, so both engines type-check the same program:
CSV and NDJSON are read by DuckDB with those types given.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlglot import exp

from tagengine import databases, extras
from tagengine.diagnostics import TagEngineError
from tagengine.engines import Source, as_listed, plain_frame
from tagengine.sources import Files, find_files, scan, unreadable, unreadable_table


class DuckDBSession:
    dialect = "duckdb"

    def __enter__(self) -> DuckDBSession:
        self.duckdb = extras.require("duckdb", "the duckdb engine", "TE511")
        self.con = self.duckdb.connect()
        self.attached: dict[str, str] = {}  # database file -> its alias
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def register(self, name: str, source: Source) -> pl.Schema:
        """Make `source` readable as table `name`; its columns' Polars dtypes."""
        if isinstance(source, pl.DataFrame | pl.LazyFrame):
            return self._arrow(name, source)
        if not isinstance(source, Files) and databases.is_database(text := str(source)):
            path, _, table = text.partition("#")
            if path.lower().endswith(databases.DUCKDB_SUFFIXES) and table:
                return self._attached(name, path, table)
            return self._arrow(name, scan(text))
        files = find_files(source)  # a glob expanded here, once
        fmt = files.format
        frame = scan(files)  # checks the files; reads only metadata (a CSV's first rows)
        schema = _schema(name, frame)
        listed = as_listed(files)  # DuckDB globs each name: None where one looks like a glob
        if fmt not in ("parquet", "csv", "ndjson") or not _plain(schema, fmt) or not listed:
            return self._arrow(name, frame)
        con = self.con
        try:
            if fmt == "parquet":
                relation = con.read_parquet(listed)
            elif fmt == "csv":
                sep = "\t" if files.written.lower().endswith(".tsv") else ","
                relation = con.read_csv(listed, header=True, sep=sep, dtype=_types(schema))
            else:
                relation = con.read_json(listed, format="newline_delimited", columns=_types(schema))
            relation.create_view(name, replace=True)
        except self.duckdb.Error as exc:
            raise TagEngineError(unreadable_table(name, exc)) from None
        return schema

    def query(self, text: str) -> pl.DataFrame:
        try:
            return self.con.sql(text).pl()
        except self.duckdb.Error as exc:
            raise TagEngineError(unreadable(exc)) from None

    def _arrow(self, name: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
        schema = _schema(name, frame)
        try:
            data = plain_frame(frame)
        except pl.exceptions.PolarsError as exc:
            raise TagEngineError(unreadable_table(name, exc)) from None
        self.con.register(name, data.to_arrow())
        return schema

    def _attached(self, name: str, path: str, table: str) -> pl.Schema:
        if not Path(path).is_file():
            scan(f"{path}#{table}")  # the usual TE401 for a missing file
        alias = self.attached.get(path)
        if alias is None:
            alias = self.attached[path] = f"source_{len(self.attached) + 1}"
            attach = exp.Attach(
                this=exp.alias_(exp.Literal.string(path), alias),
                expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
            )
            self.con.execute(attach.sql(dialect="duckdb"))
        parts = exp.to_table(table, dialect="duckdb")
        qualified = exp.Table(
            this=parts.this, db=parts.args.get("db"), catalog=exp.to_identifier(alias)
        )
        try:
            relation = self.con.sql(exp.select("*").from_(qualified).sql(dialect="duckdb"))
            schema = relation.limit(0).pl().schema
            relation.create_view(name, replace=True)
        except self.duckdb.Error as exc:
            scan(f"{path}#{table}")  # names the tables the file has (TE401)
            raise TagEngineError(unreadable_table(name, exc)) from None
        return schema


def _schema(name: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
    from tagengine.sources import schema_of

    return schema_of({name: frame})[name]


def _plain(schema: pl.Schema, fmt: str) -> bool:
    """Whether DuckDB reads these columns as Polars does: durations and time zones need
    Polars' own conversion; a text file's columns need a type DuckDB can be told."""
    for dtype in schema.values():
        if isinstance(dtype, pl.Duration):
            return False
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            return False
    return fmt == "parquet" or all(_duckdb_type(d) is not None for d in schema.values())


def _types(schema: pl.Schema) -> dict[str, str]:
    return {name: t for name, dtype in schema.items() if (t := _duckdb_type(dtype)) is not None}


_SIMPLE = {
    pl.Boolean: "BOOLEAN",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "UTINYINT",
    pl.UInt16: "USMALLINT",
    pl.UInt32: "UINTEGER",
    pl.UInt64: "UBIGINT",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.String: "VARCHAR",
    pl.Null: "VARCHAR",
    pl.Date: "DATE",
    pl.Time: "TIME",
}


def _duckdb_type(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision or 38},{dtype.scale or 0})"
    if isinstance(dtype, pl.Datetime):
        return {"ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}[dtype.time_unit]
    return _SIMPLE.get(dtype.base_type())
