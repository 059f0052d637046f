"""Aggregating related tables in several passes over slices of the keys (`run --passes`,
and `--streaming` on large tables) bounds memory and changes nothing in the output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import tagengine
from tagengine import ruleset
from tagengine.backends import polars as polars_backend
from tagengine.cli import app

AS_OF = dt.date(2024, 12, 31)
RETAIL = Path(__file__).resolve().parent.parent / "rules" / "retail.tags"


@pytest.fixture(scope="module")
def tables(example_dir) -> dict[str, pl.DataFrame]:
    customers = pl.read_parquet(example_dir / "customers.parquet")
    orders = pl.read_parquet(example_dir / "orders.parquet")
    strays = orders.head(7).with_columns(  # rows matching no customer, and with no key
        pl.Series("customer_id", [10**9, 10**9 + 1, None, None, 10**9, -5, None])
    )
    return {"customers": customers, "orders": pl.concat([orders, strays])}


@pytest.mark.parametrize("passes", [2, 3, 7])
def test_the_same_table_in_any_number_of_passes(tables, passes):
    rules = tagengine.load(RETAIL)
    once = rules.run(tables, as_of=AS_OF)
    sliced = rules.run(tables, as_of=AS_OF, passes=passes)
    assert_frame_equal(once.table, sliced.table)
    assert once.unmatched_rows == sliced.unmatched_rows
    assert sliced.unmatched_rows["orders"] == 7


def test_more_passes_than_customers(tables):
    rules = tagengine.load(RETAIL)
    few = {"customers": tables["customers"].head(3), "orders": tables["orders"]}
    assert_frame_equal(
        rules.evaluate(few, as_of=AS_OF), rules.evaluate(few, as_of=AS_OF, passes=50)
    )


def test_streaming_takes_one_pass_per_rows_per_pass(tables, monkeypatch):
    seen = []
    plan = polars_backend.plan

    def spy(*args, **kwargs):
        seen.append(kwargs["passes"])
        return plan(*args, **kwargs)

    monkeypatch.setattr(polars_backend, "plan", spy)
    rows = tables["orders"].height
    monkeypatch.setattr(ruleset, "ROWS_PER_PASS", rows // 3 + 1)  # just over a third
    rules = tagengine.load(RETAIL)
    streamed = rules.evaluate(tables, as_of=AS_OF, streaming=True)
    default = rules.evaluate(tables, as_of=AS_OF)
    explicit = rules.evaluate(tables, as_of=AS_OF, streaming=True, passes=1)
    assert seen == [3, 1, 1]
    assert_frame_equal(streamed, default)
    assert_frame_equal(streamed, explicit)


def test_passes_from_the_command_line(example_dir, tmp_path):
    runner = CliRunner()
    common = ["run", str(RETAIL), "--data", str(example_dir), "--as-of", "2024-12-31", "-q"]
    one = runner.invoke(app, [*common, "--out", str(tmp_path / "one.parquet")])
    four = runner.invoke(app, [*common, "--out", str(tmp_path / "four.parquet"), "--passes", "4"])
    assert one.exit_code == 0 and four.exit_code == 0, one.output + four.output
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "four.parquet").read_bytes()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--passes", "0"], "greater than or equal to 1"),
        (["--passes", "2", "--engine", "duckdb"], "--passes is an option of the polars engine"),
    ],
)
def test_bad_passes_are_usage_errors(example_dir, tmp_path, flags, message):
    args = ["run", str(RETAIL), "--data", str(example_dir), "--out", str(tmp_path / "x.parquet")]
    result = CliRunner().invoke(app, [*args, *flags])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x.parquet").exists()
