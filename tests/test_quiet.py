"""Quiet means quiet: `tagengine run -q` prints nothing but errors and tagengine's own
warnings, on every engine, and Spark does not fill stderr without -q either.

The runs are real processes (a Spark session is started once per process, and what the
JVM prints at start-up goes straight to the process's stderr), with a generous timeout
only so that a hung run fails instead of hanging the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import polars as pl
import pytest

from tagengine.engines import spark

ROOT = Path(__file__).resolve().parent.parent
RETAIL = ROOT / "rules" / "retail.tags"
CUSTOMERS = 50
TIMEOUT = 900  # seconds: Spark on a busy two-core machine takes a minute or two

# settings of the caller's that would make the runs print more, for reasons of their own
UNSET = ("PYTHONWARNINGS", "TAGENGINE_DEBUG", "SPARK_HOME", "SPARK_CONF_DIR", "SPARK_SUBMIT_OPTS")


def tagengine(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("tagengine")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tagengine"]
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quiet")
    done = tagengine("example-data", folder / "data", "--customers", CUSTOMERS, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "data"


def run(data: Path, engine: str, *options: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = data.parent / f"tags-{engine}-{len(options)}.parquet"
    done = tagengine(
        "run", RETAIL, "--data", data, "--as-of", "2024-12-31", "--out", out,
        "--engine", engine, *options, cwd=data.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(out).height == CUSTOMERS
    return done, out


ENGINES = ["polars", "duckdb", pytest.param("spark", marks=pytest.mark.slow)]


@pytest.mark.parametrize("engine", ENGINES)
def test_quiet_prints_nothing(data, engine):
    if engine == "spark" and spark.java_missing():
        pytest.fail(f"{spark.java_missing()}: install Java 17 (the Spark tests do not skip)")
    done, _ = run(data, engine, "-q")
    assert done.stderr == ""
    assert done.stdout == ""


@pytest.mark.slow
def test_spark_without_quiet_prints_the_summary_and_no_log(data):
    if spark.java_missing():
        pytest.fail(f"{spark.java_missing()}: install Java 17 (the Spark tests do not skip)")
    done, _ = run(data, "spark")
    assert done.stderr == ""
    assert "2024-12-31" in done.stdout


# ---- the pieces, without a JVM ---------------------------------------------------------


def test_the_jvm_filter_drops_only_its_start_up_noise():
    jvm_read, jvm_write = os.pipe()
    our_read, our_write = os.pipe()
    lines = [
        b"WARNING: Using incubator modules: jdk.incubator.vector\n",
        b"26/12/04 15:42:27 ERROR Executor: Exception in task 0.0\n",
        b"java.lang.OutOfMemoryError: Java heap space\n",
        b"no newline at the end",
    ]
    with open(jvm_read, "rb") as jvm_stderr:
        thread = threading.Thread(target=spark._forward, args=(jvm_stderr, our_write))
        thread.start()
        with open(jvm_write, "wb") as jvm:
            jvm.writelines(lines)
        thread.join(timeout=60)  # ends at the end of the JVM's stderr
    assert not thread.is_alive()
    os.close(our_write)
    with open(our_read, "rb") as ours:
        assert ours.read() == b"".join(lines[1:])


def test_python_warnings_of_pyspark_are_ignored_ours_are_not():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with spark.quiet():
            for module in ("pyspark.testing.utils", "py4j.clientserver", "pandas", "pyarrow"):
                warnings.warn_explicit("noise", FutureWarning, "x.py", 1, module=module)
            warnings.warn_explicit("ours", UserWarning, "y.py", 1, module="tagengine.cli")
            warnings.warn_explicit("theirs", UserWarning, "z.py", 1, module="pysparkling")
        warnings.warn_explicit("later", FutureWarning, "x.py", 2, module="pyspark.sql")
    assert [str(w.message) for w in seen] == ["ours", "theirs", "later"]


def test_a_log4j2_configuration_of_the_users_own_wins(tmp_path, monkeypatch):
    for name in ("SPARK_HOME", "SPARK_CONF_DIR", "SPARK_SUBMIT_OPTS"):
        monkeypatch.delenv(name, raising=False)
    ours = spark._log4j2_options()
    assert ours.startswith("-Dlog4j2.configurationFile=file:")
    path = Path(ours.split("=", 1)[1].removeprefix("file://"))
    assert "rootLogger.level = error" in path.read_text()
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Dlog4j2.configurationFile=/etc/mine.properties")
    assert spark._log4j2_options() == ""
    monkeypatch.delenv("SPARK_SUBMIT_OPTS")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "log4j2.properties.template").write_text("rootLogger.level = info\n")
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))  # a Spark distribution's template
    assert spark._log4j2_options().startswith("-Dlog4j2.configurationFile=")
    (conf / "log4j2.properties").write_text("rootLogger.level = info\n")
    assert spark._log4j2_options() == ""  # conf/ is SPARK_HOME's
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert spark._log4j2_options().startswith("-Dlog4j2.configurationFile=")
    (tmp_path / "log4j2.xml").write_text("<Configuration/>\n")
    assert spark._log4j2_options() == ""


def test_submit_opts_come_first_and_are_restored(monkeypatch):
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Dmine=1")
    with spark._submit_opts("-Dours=1"):
        assert os.environ["SPARK_SUBMIT_OPTS"] == "-Dours=1 -Dmine=1"
    assert os.environ["SPARK_SUBMIT_OPTS"] == "-Dmine=1"
    monkeypatch.delenv("SPARK_SUBMIT_OPTS")
    with spark._submit_opts("-Dours=1"):
        assert os.environ["SPARK_SUBMIT_OPTS"] == "-Dours=1"
    assert "SPARK_SUBMIT_OPTS" not in os.environ
