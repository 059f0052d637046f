"""The Spark engine, in local mode: the Polars engine's answers from Spark SQL.

Slow (a Spark session takes seconds to start; one serves the whole module) but never
skipped: without Java 17 the tests fail and say so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import tagengine
from tagengine import example_data
from tagengine.cli import app
from test_differential import assert_same
from test_docs import RUNNABLE, read_expect

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("spark_session")]  # conftest.py

ROOT = Path(__file__).resolve().parent.parent
RETAIL = ROOT / "rules" / "retail.tags"
AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark")
    example_data.write(path, example_data.generate(customers=1000, seed=5))
    return path


def test_retail_rules_from_parquet(folder):
    rules = tagengine.load(RETAIL)
    sources = {name: str(folder / f"{name}.parquet") for name in ("customers", "orders")}
    polars = rules.run(sources, as_of=AS_OF)
    sql = rules.run(sources, as_of=AS_OF, engine="spark")
    assert_frame_equal(polars.table, sql.table, check_exact=True)
    assert sql.unmatched_rows == polars.unmatched_rows


# the documented examples where the dialects differ most
TRICKY = ("months", "matches", "qcut", "ntile", "first(", "share(", "trim(", "round(", "NaN")


@pytest.mark.parametrize(
    "example",
    [
        e
        for e in RUNNABLE
        if e.follow is not None and any(word in e.source + e.follow.body for word in TRICKY)
    ],
    ids=lambda e: f"line{e.line}",
)
def test_documented_examples(example):
    want = read_expect(example.follow.body)
    rules = tagengine.load(example.source)
    as_of = want.as_of or AS_OF
    polars = rules.evaluate(want.tables, as_of=as_of)
    assert_same(polars, rules.evaluate(want.tables, as_of=as_of, engine="spark"))


def test_dates_times_and_durations():
    customers = pl.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "seen": [dt.datetime(2024, 2, 29, 23, 59), dt.datetime(2024, 12, 31, 0, 1), None],
            "signup": [dt.date(2024, 8, 31), dt.date(2024, 2, 29), None],
            "name": [" \tZhang\u3000", "a$\n", None],
        }
    )
    rules = tagengine.load(
        "entity customer table customers key customer_id\n"
        "feature a = seen + 1 year\nfeature b = signup - 6 months\nfeature c = as_of - seen\n"
        "feature d = signup + (as_of - seen)\nfeature w = weekday(seen)\n"
        'feature t = trim(name)\ntag dollar when name matches "\\$$"\n'
        'tag end_a when name matches "a.$"\n'
    )
    data = {"customers": customers}
    assert_same(
        rules.evaluate(data, as_of=AS_OF), rules.evaluate(data, as_of=AS_OF, engine="spark")
    )


def test_the_command_line_writes_the_same_file(folder, tmp_path):
    outputs = {}
    for engine in ("polars", "spark"):
        out = tmp_path / f"{engine}.parquet"
        args = ["run", str(RETAIL), "--data", str(folder), "--as-of", "2024-12-31"]
        result = CliRunner().invoke(app, [*args, "--out", str(out), "--engine", engine, "-q"])
        assert result.exit_code == 0, result.output
        outputs[engine] = out.read_bytes()
    assert outputs["polars"] == outputs["spark"]
