"""The DuckDB engine: the same output as the Polars engine, from every kind of source,
through the API and the command line (byte for byte where the values are exact)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import tagengine
from tagengine import databases, example_data
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError

ROOT = Path(__file__).resolve().parent.parent
RETAIL = ROOT / "rules" / "retail.tags"
AS_OF = dt.date(2024, 12, 31)
runner = CliRunner()


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return example_data.generate(customers=800, seed=3)


@pytest.fixture(scope="module")
def folders(tables, tmp_path_factory) -> dict[str, Path]:
    """The example data written in every file format."""
    out = {}
    for fmt in ("parquet", "csv", "ndjson", "ipc"):
        folder = tmp_path_factory.mktemp(fmt)
        example_data.write(folder, tables, fmt)
        out[fmt] = folder
    return out


def _sources(folder: Path) -> dict[str, str]:
    return {p.stem: str(p) for p in folder.iterdir() if p.stem in ("customers", "orders")}


# text files carry no types: CSV phones read as numbers, NDJSON dates as text
TEXT_RULES = """
entity customer table customers key customer_id
related orders key customer_id
feature n = count(orders)
feature spend = sum(orders.amount where not orders.returned)
feature avg_amount = avg(orders.amount)
feature channels = count_distinct(orders.channel)
feature app_share = share(orders where orders.channel == "app")
feature top = max(orders.category)
tag female when gender == "F"
tag tier1 when city in ["北京", "上海"] and age > 20
score m = ntile(spend, 5, descending)
score q = qcut(credit_score, 4)
segment band
  "young" when age < 30
  "old" when age >= 60
  else "other"
"""


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson", "ipc"])
def test_each_file_format_gives_the_polars_answer(folders, fmt):
    rules = tagengine.load(RETAIL if fmt in ("parquet", "ipc") else TEXT_RULES)
    sources = _sources(folders[fmt])
    polars = rules.run(sources, as_of=AS_OF)
    sql = rules.run(sources, as_of=AS_OF, engine="duckdb")
    # exact amounts (decimals) in Parquet and Arrow; in text files they are floats, whose
    # sums depend on the order of addition (docs/semantics.md#determinism)
    exact = fmt in ("parquet", "ipc")
    assert_frame_equal(polars.table, sql.table, check_exact=exact, rel_tol=1e-9)
    assert polars.unmatched_rows == sql.unmatched_rows


def test_globs_of_files(tables, tmp_path):
    orders = tables["orders"]
    half = orders.height // 2
    orders.head(half).write_parquet(tmp_path / "orders-1.parquet")
    orders.tail(orders.height - half).write_parquet(tmp_path / "orders-2.parquet")
    tables["customers"].write_parquet(tmp_path / "customers.parquet")
    sources = {
        "customers": str(tmp_path / "customers.parquet"),
        "orders": str(tmp_path / "orders-*.parquet"),
    }
    rules = tagengine.load(RETAIL)
    sql = rules.evaluate(sources, as_of=AS_OF, engine="duckdb")
    assert_frame_equal(rules.evaluate(tables, as_of=AS_OF), sql, check_exact=True)


def test_database_tables_and_polars_frames(tables, tmp_path):
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        for name, df in tables.items():
            con.register("frame", df.to_arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
    lite = tmp_path / "crm.sqlite"
    databases.write_table(tables["customers"], f"{lite}#customers")
    rules = tagengine.load(RETAIL)
    want = rules.evaluate(tables, as_of=AS_OF)
    from_duckdb = {name: f"{path}#{name}" for name in tables}
    assert_frame_equal(
        want, rules.evaluate(from_duckdb, as_of=AS_OF, engine="duckdb"), check_exact=True
    )
    mixed = {"customers": f"{lite}#customers", "orders": tables["orders"].lazy()}
    assert_frame_equal(
        rules.evaluate(mixed, as_of=AS_OF),
        rules.evaluate(mixed, as_of=AS_OF, engine="duckdb"),
        check_exact=True,
    )


def test_select_and_rows_of_no_customer(tables):
    orders = pl.concat(
        [tables["orders"], tables["orders"].head(3).with_columns(customer_id=pl.lit(-1, pl.Int64))]
    )
    data = {"customers": tables["customers"], "orders": orders}
    rules = tagengine.load(RETAIL)
    polars = rules.run(data, as_of=AS_OF, select=["champion", "lifecycle"])
    sql = rules.run(data, as_of=AS_OF, select=["champion", "lifecycle"], engine="duckdb")
    assert sql.table.columns == ["customer_id", "champion", "lifecycle"]
    assert_frame_equal(polars.table, sql.table, check_exact=True)
    assert sql.unmatched_rows == polars.unmatched_rows == {"orders": 3}


def test_durations_and_categories_from_polars(tables):
    customers = pl.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "level": pl.Series(["a", "b", None]).cast(pl.Categorical),
            "wait": pl.Series([dt.timedelta(days=2), dt.timedelta(hours=3), None]),
            "seen": [dt.datetime(2024, 12, 30, 23, 59), dt.datetime(2024, 1, 1), None],
        }
    )
    rules = tagengine.load(
        "entity customer table customers key customer_id\n"
        'tag a when level == "a"\ntag long when wait > 1 day\n'
        "feature gap = as_of - seen\nfeature later = seen + wait\nfeature half = gap - wait\n"
    )
    data = {"customers": customers}
    assert_frame_equal(
        rules.evaluate(data, as_of=AS_OF),
        rules.evaluate(data, as_of=AS_OF, engine="duckdb"),
        check_exact=True,
    )


def test_data_errors_are_diagnostics(tmp_path):
    (tmp_path / "customers.csv").write_text("customer_id,age\n1,30\n1,40\n")
    rules = tagengine.load("entity customer table customers key customer_id\ntag a when age > 3\n")
    with pytest.raises(TagEngineError) as info:
        rules.evaluate({"customers": str(tmp_path / "customers.csv")}, engine="duckdb")
    assert info.value.diagnostics[0].code == "TE405"
    with pytest.raises(TagEngineError) as info:
        rules.evaluate({"customers": str(tmp_path / "nope.parquet")}, engine="duckdb")
    assert info.value.diagnostics[0].code == "TE401"
    with pytest.raises(TagEngineError) as info:
        rules.evaluate({"customers": str(tmp_path / "customers.csv")}, engine="hadoop")
    assert info.value.diagnostics[0].code == "TE511"


def test_the_command_line_writes_the_same_file(folders, tmp_path):
    data = str(folders["parquet"])
    outputs = {}
    for engine in ("polars", "duckdb"):
        out = tmp_path / f"{engine}.parquet"
        args = ["run", str(RETAIL), "--data", data, "--as-of", "2024-12-31", "--out", str(out)]
        result = runner.invoke(app, [*args, "--engine", engine, "-q"])
        assert result.exit_code == 0, result.output
        outputs[engine] = out.read_bytes()
    assert outputs["polars"] == outputs["duckdb"]  # byte for byte
    streaming = runner.invoke(
        app,
        [
            "run",
            str(RETAIL),
            "--data",
            data,
            "--out",
            str(tmp_path / "x.csv"),
            "--engine",
            "duckdb",
            "--streaming",
        ],
    )
    assert streaming.exit_code == 2
