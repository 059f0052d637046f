"""The Spark engine: the rule set's Spark SQL run by PySpark in local mode.

Parquet files (and globs) are read by Spark itself; any other table is handed over as
Arrow data from Polars. The result comes back through Arrow and is written by tagengine,
so the output file is the one the other engines write. On a cluster, run the SQL of
`tagengine compile --to sql --dialect spark` there instead.

The session is local (`local[*]`), with its time zone set to UTC (date-and-time values
are wall-clock times, as in Polars). Starting it takes seconds, so one session serves
every run in a process: `session()` creates it once and `stop()` ends it.

Spark is quiet: only errors reach stderr. The JVM started here logs through a log4j2
configuration of tagengine's (errors only; a `log4j2.properties` in Spark's conf folder,
or `-Dlog4j2.configurationFile` in `SPARK_SUBMIT_OPTS` or `spark.driver.extraJavaOptions`,
takes its place), its stderr passes through a filter for the one start-up line no
setting turns off, and Python warnings from PySpark, Py4J and pandas (PySpark warns
about pandas versions on import) are ignored while PySpark is at work.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from tagengine import databases, extras, interrupt
from tagengine.diagnostics import TagEngineError, error
from tagengine.engines import Source, as_listed, plain_frame
from tagengine.sources import (
    Files,
    find_files,
    first_line,
    scan,
    schema_of,
    unreadable,
    unreadable_table,
)

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


# Errors only. PySpark's gateway starts logging as a shell does: unless its logger has a
# level of its own, Spark puts it at WARN and says so on stderr ("Setting default log
# level to "WARN"").
_LOG4J2 = """\
status = error
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""

# The files log4j2 finds by itself in Spark's conf folder (which is on the class path).
_LOG4J2_FILES = [
    f"{stem}.{ext}"
    for stem in ("log4j2-test", "log4j2")
    for ext in ("properties", "yaml", "yml", "json", "jsn", "xml")
]

# What the JVM prints at start-up whatever the logging says: Spark's launcher always
# adds `--add-modules=jdk.incubator.vector`, and Java announces every incubator module.
_JVM_NOISE = (b"WARNING: Using incubator modules: ",)

# Whose Python warnings are ignored while PySpark works (module names, as a regex).
_QUIET_MODULES = r"(pyspark|py4j|pandas|pyarrow)(\.|$)"


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
    with quiet():
        return _session()


def _session() -> Any:
    extras.require("spark", "the spark engine", "TE511")
    from pyspark import SparkConf
    from pyspark.sql import SparkSession as PySparkSession

    problem = java_missing()
    if problem:
        raise TagEngineError(
            error("TE511", problem, None, "install Java 17 (a JRE is enough) or set JAVA_HOME")
        )
    conf = SparkConf(loadDefaults=False).setMaster("local[*]").setAppName("tagengine")
    conf.setAll(_CONFIG.items())
    builder = PySparkSession.builder.config(conf=conf)
    try:
        _start_jvm(conf)
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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore the Python warnings of PySpark and the libraries it uses, for a while.

    Only warnings those modules are blamed for: one tagengine's own code causes still shows.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=_QUIET_MODULES)
        yield


def _start_jvm(conf: Any) -> None:
    """Start the JVM behind PySpark, quietly, unless this process already has one.

    What PySpark itself would do on `getOrCreate`, with tagengine's logging and a filter
    on the JVM's stderr. A JVM started some other way is left as it is.
    """
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return
    with _submit_opts(_log4j2_options()):
        gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    if gateway.proc is not None:
        threading.Thread(
            target=_forward, args=(gateway.proc.stderr,), name="spark-stderr", daemon=True
        ).start()
    SparkContext(conf=conf, gateway=gateway)


def _log4j2_options() -> str:
    """`-Dlog4j2.configurationFile=...` for tagengine's configuration, or "" where the
    user has a log4j2 configuration of their own."""
    if "log4j2.configurationFile" in os.environ.get("SPARK_SUBMIT_OPTS", ""):
        return ""
    home = os.environ.get("SPARK_HOME")
    conf_dir = os.environ.get("SPARK_CONF_DIR") or (home and os.path.join(home, "conf"))
    if conf_dir and any(os.path.isfile(os.path.join(conf_dir, n)) for n in _LOG4J2_FILES):
        return ""
    folder = Path(tempfile.mkdtemp(prefix="tagengine-spark-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    interrupt.at_end(lambda: shutil.rmtree(folder, ignore_errors=True))  # no atexit then
    path = folder / "log4j2.properties"
    path.write_text(_LOG4J2, "utf-8")
    return f"-Dlog4j2.configurationFile={path.as_uri()}"


@contextlib.contextmanager
def _submit_opts(options: str) -> Iterator[None]:
    """`options` before any SPARK_SUBMIT_OPTS (whose own settings win), while in the block."""
    before = os.environ.get("SPARK_SUBMIT_OPTS")
    if options:
        os.environ["SPARK_SUBMIT_OPTS"] = f"{options} {before or ''}".strip()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = before


def _forward(pipe: IO[bytes], fd: int = 2) -> None:
    """Copy the JVM's stderr to ours (`fd`), line by line, less `_JVM_NOISE`, until the
    JVM exits. Keeps reading whatever happens: a JVM whose stderr pipe fills up would stop."""
    with pipe:
        for line in pipe:
            if line.startswith(_JVM_NOISE):
                continue
            with contextlib.suppress(OSError):  # our stderr closed: drop the line
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]


def stop() -> None:
    """End the process's Spark session, if one is running."""
    try:
        from pyspark.sql import SparkSession as PySparkSession
    except ImportError:
        return
    active = PySparkSession.getActiveSession()
    if active is not None:
        with quiet():
            active.stop()


class SparkSession:
    dialect = "spark"

    def __enter__(self) -> SparkSession:
        self.spark = session()
        self.views: list[str] = []
        return self

    def __exit__(self, *exc: object) -> None:
        with quiet():
            for view in self.views:
                self.spark.catalog.dropTempView(view)

    def register(self, name: str, source: Source) -> pl.Schema:
        files = None
        if isinstance(source, pl.DataFrame | pl.LazyFrame):
            frame = source
        elif not isinstance(source, Files) and databases.is_database(str(source)):
            frame = scan(str(source))
        else:
            files = find_files(source)  # a glob expanded here, once
            frame = scan(files)
        schema = schema_of({name: frame})[name]  # for a file: its metadata only
        # Spark globs each name it is given: a name that looks like a glob goes by Polars
        listed = as_listed(files) if files is not None and files.format == "parquet" else None
        if listed and not _converted(schema):  # read by Spark itself
            self._view(name, lambda: self.spark.read.parquet(*listed))
            return schema
        data = plain_frame(frame).to_arrow()
        self._view(name, lambda: self.spark.createDataFrame(data))
        return schema

    def query(self, text: str) -> pl.DataFrame:
        try:
            with quiet():
                table = self.spark.sql(text).toArrow()
        except Exception as exc:  # AnalysisException, Py4JJavaError, ...
            raise TagEngineError(unreadable(exc)) from None
        return pl.from_arrow(table)  # type: ignore[return-value]

    def _view(self, name: str, read: Any) -> None:
        try:
            with quiet():
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
