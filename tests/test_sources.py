"""Every source kind read for real gives the same results."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError
from tagengine.sources import declare, tables_from

RULES = Path(__file__).parent.parent / "rules" / "retail.tags"


def _write_sqlite(path: Path, name: str, df: pl.DataFrame) -> None:
    types = {
        pl.Int64: "INTEGER",
        pl.Int32: "INTEGER",
        pl.Float64: "REAL",
        pl.String: "TEXT",
        pl.Date: "DATE",
        pl.Boolean: "BOOLEAN",
    }
    cols = ", ".join(f'"{c}" {types[df.schema[c]]}' for c in df.columns)
    with sqlite3.connect(path) as con:
        con.execute(f"CREATE TABLE {name} ({cols})")
        rows = df.with_columns(pl.col(pl.Date).cast(pl.String)).rows()
        con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * df.width)})", rows)


@pytest.fixture(scope="module")
def sources(example_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    frames = {n: pl.read_parquet(example_dir / f"{n}.parquet") for n in ("customers", "orders")}
    out = {"parquet": {n: str(example_dir / f"{n}.parquet") for n in frames}}
    # formats without decimals hold the amounts as floats, declared `decimal(2)` on reading
    floats = {n: df.with_columns(pl.col(pl.Decimal).cast(pl.Float64)) for n, df in frames.items()}
    for fmt, ext in (("csv", "csv"), ("ndjson", "ndjson"), ("ipc", "arrow")):
        out[fmt] = {}
        for n, df in frames.items():
            path = root / f"{n}.{ext}"
            getattr(floats[n] if fmt == "ndjson" else df, f"write_{fmt}")(path)
            out[fmt][n] = str(path)
    ddb = root / "shop.duckdb"
    with duckdb.connect(str(ddb)) as con:
        for n, df in frames.items():
            con.register("frame", df.to_arrow())
            con.execute(f"CREATE TABLE {n} AS SELECT * FROM frame")
    out["duckdb"] = {n: f"{ddb}#{n}" for n in frames}
    db = root / "shop.sqlite"
    for n, df in floats.items():
        _write_sqlite(db, n, df)
    out["sqlite"] = {n: f"{db}#{n}" for n in frames}
    return out


# Text formats carry no types: CSV infers them (digits become numbers, ISO dates become
# dates), NDJSON has no dates at all. So they are compared on rules that suit them.
TEXT_SAFE = """
entity customer table customers key customer_id
related orders key customer_id
tag tier1 when city in ["北京", "上海", "广州", "深圳"]
tag adult when age >= 18
feature spend = sum(orders.amount where not orders.returned)
feature online = share(orders where orders.channel == "online")
score m = ntile(spend, 5)
segment level
  "vip" when member_level in ["金卡", "钻石"] and spend > 1000
  else "other"
"""


MONEY = {"orders": {"amount": pl.Decimal(38, 2)}}


def _evaluate(binding: dict[str, str], rules_source: object = RULES) -> pl.DataFrame:
    import datetime as dt

    rules = tagengine.load(rules_source)
    tables = declare(tables_from(None, "customers", binding), MONEY)
    return rules.evaluate(tables, as_of=dt.date(2024, 12, 31))


@pytest.mark.parametrize("kind", ["ipc", "duckdb", "sqlite", "csv", "ndjson"])
def test_each_source_kind_gives_the_same_results(sources, kind):
    from polars.testing import assert_frame_equal

    rules = TEXT_SAFE if kind in ("csv", "ndjson") else RULES
    expected = _evaluate(sources["parquet"], rules)
    got = _evaluate(sources[kind], rules)
    assert_frame_equal(got, expected, check_dtypes=False)
    assert got.height == 2000


def test_database_tables_from_the_cli(sources, tmp_path):
    out = tmp_path / "tags.parquet"
    args = ["run", str(RULES), "--as-of", "2024-12-31", "-o", str(out), "-q"]
    for name, src in sources["duckdb"].items():
        args += ["--table", f"{name}={src}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == 2000


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: f"{d / 'shop.duckdb'}#nope", "tables in the file: customers, orders"),
        (lambda d: f"{d / 'shop.sqlite'}#nope", "tables in the file: customers, orders"),
        (lambda d: f"{d / 'missing.duckdb'}#orders", "no such database file"),
    ],
)
def test_database_errors_name_the_tables(sources, make, words):
    root = Path(sources["duckdb"]["orders"].split("#")[0]).parent
    with pytest.raises(TagEngineError) as info:
        tables_from(None, "customers", {"orders": make(root)})
    d = info.value.diagnostics[0]
    assert words in (d.hint or "") + d.message


@pytest.mark.parametrize("suffix", ["duckdb", "sqlite"])
def test_output_to_a_database_table_replaces_it_whole(example_dir, tmp_path, suffix):
    db = tmp_path / f"out.{suffix}"
    target = f"{db}#customer_tags"
    args = ["run", str(RULES), "-d", str(example_dir), "--as-of", "2024-12-31", "-o", target, "-q"]
    for _ in range(2):  # the second run replaces the first table
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    back = tables_from(None, "x", {"t": target})["t"].collect()
    expected = pl.read_parquet(example_dir / "customers.parquet")
    assert back.height == expected.height
    assert back["customer_id"].to_list() == expected["customer_id"].sort().to_list()
    files = _evaluate(
        {
            "customers": str(example_dir / "customers.parquet"),
            "orders": str(example_dir / "orders.parquet"),
        }
    )
    from polars.testing import assert_frame_equal

    assert_frame_equal(back, files, check_dtypes=False)
    meta = dict(tables_from(None, "x", {"m": f"{db}#customer_tags__meta"})["m"].collect().rows())
    assert meta["tagengine.as_of"] == "2024-12-31"


def test_database_by_uri(sources):
    path = sources["sqlite"]["customers"].split("#")[0]
    uri = {n: f"sqlite://{path}#{n}" for n in ("customers", "orders")}
    from polars.testing import assert_frame_equal

    assert_frame_equal(_evaluate(uri), _evaluate(sources["parquet"]), check_dtypes=False)


def test_database_by_uri_errors_are_clear(tmp_path):
    with pytest.raises(TagEngineError) as info:
        tables_from(None, "x", {"t": f"sqlite://{tmp_path}/none.sqlite#t"})
    assert "cannot read table `t` from the sqlite database" in info.value.diagnostics[0].message
