"""Odd column names (quotes, spaces, dots, Chinese, a leading digit, a backslash, SQL
words) work through back-quoted names in rules on every engine, from Parquet and CSV;
the two Polars reads as patterns (`*`, `^...$`) are a clear error naming the column."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app

AS_OF = "2024-12-31"
HEADER = "entity customer table customers key customer_id\n"


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


ODD = ['na"me', "na'me", "a b", "a.b", "中文", "1st", "back\\slash", "select", "x-y", "$x", "a]b["]


def odd_rules(column: str) -> str:
    q = f"`{column}`"
    return (
        HEADER
        + "related orders key customer_id time day\n"
        + f"tag big when {q} > 5\n"
        + f"feature total = sum(orders.{q}) over last 30 days\n"
        + f'segment size\n  "big" when {q} > 5\n  else "small"\n'
    )


def odd_tables(column: str) -> dict[str, pl.DataFrame]:
    return {
        "customers": pl.DataFrame({"customer_id": [1, 2], column: [1, 10]}),
        "orders": pl.DataFrame(
            {"customer_id": [1, 1, 2], "day": [dt.date(2024, 12, 20)] * 3, column: [3, 4, 5]}
        ),
    }


@pytest.mark.parametrize("column", ODD)
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_odd_column_names_work_on_every_engine(column, fmt, tmp_path):
    rules = tagengine.load(odd_rules(column))
    frames = odd_tables(column)
    sources = {}
    for name, df in frames.items():
        path = tmp_path / f"{name}.{fmt}"
        df.write_parquet(path) if fmt == "parquet" else df.write_csv(path)
        sources[name] = str(path)
    as_of = dt.date(2024, 12, 31)
    want = rules.evaluate(frames, as_of=as_of)
    assert want.get_column("big").to_list() == [False, True]
    assert want.get_column("total").to_list() == [7, 5]
    for engine in ("polars", "duckdb"):
        got = rules.evaluate(sources, as_of=as_of, engine=engine)
        assert got.equals(want), (engine, got)
    for dialect in ("duckdb", "spark", "postgres"):
        rules.sql({n: df.schema for n, df in frames.items()}, as_of=as_of, dialect=dialect)


def test_odd_column_names_through_the_command_line(tmp_path):
    column = 'na"me'
    (tmp_path / "r.tags").write_text(odd_rules(column), "utf-8")
    for name, df in odd_tables(column).items():
        df.write_csv(tmp_path / f"{name}.csv")
    for engine in ("polars", "duckdb"):
        out = tmp_path / f"{engine}.parquet"
        result = invoke("run", tmp_path / "r.tags", "-d", tmp_path, "--as-of", AS_OF, "-o", out,
                        "-e", engine)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "polars.parquet").equals(
        pl.read_parquet(tmp_path / "duckdb.parquet")
    )
    profile = invoke("profile", "-d", tmp_path)
    assert profile.exit_code == 0 and 'na"me' in profile.stdout


@pytest.mark.parametrize("column", ["*", "^a$"])
def test_names_polars_reads_as_patterns_are_a_clear_error(column):
    rules = tagengine.load(odd_rules(column))
    for engine in ("polars", "duckdb"):
        with pytest.raises(tagengine.TagEngineError) as caught:
            rules.evaluate(odd_tables(column), as_of=dt.date(2024, 12, 31), engine=engine)
        (d, *_) = caught.value.diagnostics
        assert d.code == "TE108" and f"`{column}`" in d.message


@pytest.mark.slow
def test_odd_column_names_on_spark(spark_session):
    for column in ('na"me', "a.b", "中文", "back\\slash", "1st"):
        rules = tagengine.load(odd_rules(column))
        frames = odd_tables(column)
        want = rules.evaluate(frames, as_of=dt.date(2024, 12, 31))
        assert rules.evaluate(frames, as_of=dt.date(2024, 12, 31), engine="spark").equals(want)
