"""The Spark engine: the rule set's Spark SQL run by PySpark in local mode.

Parquet files (and globs) are read by Spark itself; any other table is handed over as
Arrow data from Polars. The result comes back through Arrow and is written by tagengine,
so the output file is the one the other engines write. On a cluster, run the SQL of
`tagengine compile --to sql --dialect spark` there instead.

The session is local (`local[*]`), with its time zone set to UTC (date-and-time values
are wall-clock times, as in Polars). Starting it takes seconds, so one session serves
every run in a process: `session()` creates it once and `stop()` ends it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from tagengine import extras
from tagengine.diagnostics import TagEngineError, error
from tagengine.engines import Source, plain_frame
from tagengine.sources import file_format, first_line, scan, schema_of, unreadable, unreadable_table

_CONFIG = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # the whole result comes back to this process: Spark's default 1 GiB heap fails on a
    # million customers with decimal columns (TE402, "o56.getResult")
    "spark.driver.memory": "4g",
    "spark.driver.maxResultSize": "0",  # no cap: the result is the output file
}


def java_missing() -> str | None:
    """Why Spark cannot start here (no Java), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return None
    if shutil.which("java"):
        return None
    return "Spark needs Java 17 or later, and no `java` was found (JAVA_HOME, PATH)"


def session() -> Any:
    """The process's local Spark session, started on first use."""
    extras.require("spark", "the spark engine", "TE511")
    from pyspark.sql import SparkSession as PySparkSession

    problem = java_missing()
    if problem:
        raise TagEngineError(
            error("TE511", problem, None, "install Java 17 (a JRE is enough) or set JAVA_HOME")
        )
    builder = PySparkSession.builder.master("local[*]").appName("tagengine")
    for key, value in _CONFIG.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4J and PySpark raise their own types
        raise TagEngineError(
            error(
                "TE511",
                f"Spark could not start: {first_line(exc)}",
                None,
                "check the Java installation (java -version: 17 or later)",
            )
        ) from None
    for key, value in _CONFIG.items():  # a session started elsewhere keeps its own
        if key.startswith("spark.sql"):
            spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop() -> None:
    """End the process's Spark session, if one is running."""
    try:
        from pyspark.sql import SparkSession as PySparkSession
    except ImportError:
        return
    active = PySparkSession.getActiveSession()
    if active is not None:
        active.stop()


class SparkSession:
    dialect = "spark"

    def __enter__(self) -> SparkSession:
        self.spark = session()
        self.views: list[str] = []
        return self

    def __exit__(self, *exc: object) -> None:
        for view in self.views:
            self.spark.catalog.dropTempView(view)

    def register(self, name: str, source: Source) -> pl.Schema:
        frame = source if isinstance(source, pl.DataFrame | pl.LazyFrame) else scan(str(source))
        schema = schema_of({name: frame})[name]  # for a file: its metadata only
        parquet = isinstance(source, str | Path) and file_format(str(source)) == "parquet"
        if parquet and not _converted(schema):  # read by Spark itself
            self._view(name, lambda: self.spark.read.parquet(str(source)))
            return schema
        data = plain_frame(frame).to_arrow()
        self._view(name, lambda: self.spark.createDataFrame(data))
        return schema

    def query(self, text: str) -> pl.DataFrame:
        try:
            table = self.spark.sql(text).toArrow()
        except Exception as exc:  # AnalysisException, Py4JJavaError, ...
            raise TagEngineError(unreadable(exc)) from None
        return pl.from_arrow(table)  # type: ignore[return-value]

    def _view(self, name: str, read: Any) -> None:
        try:
            read().createOrReplaceTempView(name)
        except Exception as exc:
            raise TagEngineError(unreadable_table(name, exc)) from None
        self.views.append(name)


def _converted(schema: pl.Schema) -> bool:
    """Whether a column needs Polars' conversion first (durations, time zones)."""
    return any(
        isinstance(d, pl.Duration) or (isinstance(d, pl.Datetime) and d.time_zone is not None)
        for d in schema.values()
    )
