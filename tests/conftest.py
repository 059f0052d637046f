from __future__ import annotations

import datetime as dt
import os

import polars as pl
import pytest

import pg_server
import tagengine

AS_OF = dt.date(2024, 12, 31)
HEADER = "entity customer table customers key customer_id\n"


def evaluate(rules: str, data: dict[str, list], as_of: dt.date = AS_OF, **kw) -> pl.DataFrame:
    """Evaluate rule text (the entity header is added) over a small customers table."""
    df = pl.DataFrame(data, strict=False)
    return tagengine.load(HEADER + rules).evaluate({"customers": df}, as_of=as_of, **kw)


def codes(rules: str, schema: dict | None = None) -> list[str]:
    diags = tagengine.load(HEADER + rules).check(
        {"customers": schema} if schema is not None else None
    )
    return [d.code for d in diags]


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> object:
    from tagengine import example_data

    path = tmp_path_factory.mktemp("example")
    example_data.write(path, example_data.generate(customers=2000, seed=7))
    return path


@pytest.fixture(scope="session")
def postgres_uri() -> object:
    """A PostgreSQL database the tests may fill: TAGENGINE_POSTGRES_URI's, or else a
    throwaway server started for this run (tests/pg_server.py)."""
    given = os.environ.get("TAGENGINE_POSTGRES_URI")
    try:
        pg_server.psql()  # loads the tables, whichever the server
        bindir = None if given else pg_server.find_bindir()
    except pg_server.Unavailable as exc:
        pytest.skip(str(exc))
    if bindir is None:
        yield given
        return
    with pg_server.running(bindir) as uri:
        yield uri


@pytest.fixture(scope="session")
def spark_session() -> object:
    """The local Spark session, started once for the whole run (that takes seconds) and
    never skipped: without Java 17 the tests fail and say so."""
    from tagengine.engines import spark

    problem = spark.java_missing()
    if problem:
        pytest.fail(f"{problem}: install Java 17 (the Spark tests do not skip)")
    yield spark.session()
    spark.stop()
