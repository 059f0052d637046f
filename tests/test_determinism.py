"""docs/semantics.md#determinism: the same data, rules and as_of give byte-identical output
files, whatever the engine (Polars' in-memory and streaming engines, streaming in several
passes; DuckDB through the SQL backend) and the thread count — on data made so that float
sums differ by summation order, with values on thresholds and ties in the rankings."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

RULES = """
entity customer table customers key customer_id
related orders key customer_id time order_date

feature spend "消费额" = sum(orders.amount)
feature spend_30d = sum(orders.amount where not orders.returned) over last 30 days
feature aov "客单价" = avg(orders.amount)
feature n = count(orders)
tag on_threshold when spend >= 100.30
tag small_aov when aov < 0.5
score m = ntile(spend, 5)
score m30 = ntile(spend_30d, 7, descending)
score q = qcut(aov, 4)
score pr = percent_rank(spend)
segment tier
  "gold" when spend >= 200
  "silver" when spend >= 100.30
  else "bronze"
"""

PROJECT = """
rules = ["rules.tags"]
as_of = 2024-12-31
[tables]
customers = "customers.parquet"
orders = "orders.parquet"
[columns.orders]
amount = "decimal(2)"
"""


def _data(folder: Path, customers: int = 3000, per_customer: int = 40) -> None:
    """Amounts like 0.10, 0.33, 2.57 — not exact in binary, so float sums depend on the
    order they are added in — and every fifth customer with the same amounts, summing to
    exactly 100.30, the tag's threshold (ties in every ranking)."""
    rng = np.random.default_rng(20241231)
    ids = np.repeat(np.arange(1, customers + 1), per_customer)
    cents = rng.choice([10, 20, 30, 70, 1, 3, 33, 257], size=ids.size)
    tied = (ids % 5) == 0
    cents[tied] = np.tile([257] * (per_customer - 1) + [7], tied.sum() // per_customer)
    days = rng.integers(0, 60, size=ids.size)
    shuffled = rng.permutation(ids.size)  # rows in no particular order
    pl.DataFrame({"customer_id": np.arange(1, customers + 1)}).write_parquet(
        folder / "customers.parquet"
    )
    pl.DataFrame(
        {
            "customer_id": ids[shuffled],
            "order_date": np.datetime64("2024-11-01") + days[shuffled].astype("timedelta64[D]"),
            "amount": cents[shuffled] / 100.0,
            "returned": rng.random(ids.size) < 0.1,
        }
    ).with_columns(pl.col("order_date").cast(pl.Date)).write_parquet(
        folder / "orders.parquet", row_group_size=5_000
    )
    (folder / "rules.tags").write_text(RULES, "utf-8")
    (folder / "tagengine.toml").write_text(PROJECT, "utf-8")


# How Polars runs the plan: its in-memory engine (chosen through Polars' own setting, as
# a user's configuration could), its default ("auto": streaming in Polars 2), streaming
# insisted on, and streaming with the orders aggregated in three passes over the keys.
MODES = {
    "in-memory": ({"POLARS_ENGINE_AFFINITY": "in-memory"}, []),
    "auto": ({}, []),
    "streaming": ({}, ["--streaming"]),
    "passes": ({}, ["--streaming", "--passes", "3"]),
}


def _run(folder: Path, out: str, threads: int, mode: str, engine: str = "polars") -> bytes:
    settings, flags = MODES[mode]
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads), **settings}
    cmd = [sys.executable, "-m", "tagengine", "run", "-q", "--out", out, "--engine", engine]
    cmd += flags
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return (folder / out).read_bytes()


def test_float_sums_here_depend_on_order(tmp_path):
    """The data really is adversarial: adding a customer's amounts in another order
    changes the float total for many customers, and the tied customers' float total
    misses 100.30 (so only exact arithmetic keeps runs equal and the tag on its
    threshold)."""
    _data(tmp_path)
    orders = pl.read_parquet(tmp_path / "orders.parquet")
    amounts = orders.group_by("customer_id").agg("amount").sort("customer_id")["amount"]
    differing = sum(sum(a) != sum(reversed(a)) for a in amounts.to_list())
    assert differing > 100
    tied = amounts[4].to_list()  # customer 5
    assert sum(sorted(tied)) != 100.30 or sum(reversed(sorted(tied))) != 100.30


@pytest.mark.slow
def test_byte_identical_output_on_every_engine_and_thread_count(tmp_path):
    _data(tmp_path)
    digests = {}
    runs = [(1, "in-memory"), (4, "in-memory"), (2, "auto"), (1, "streaming"), (8, "streaming")]
    for threads, mode in [*runs, (2, "passes")]:
        name = f"tags-{threads}-{mode}.parquet"
        digests[name] = hashlib.sha256(_run(tmp_path, name, threads, mode)).hexdigest()
    duckdb = _run(tmp_path, "tags-duckdb.parquet", 2, "auto", engine="duckdb")  # SQL backend
    digests["tags-duckdb.parquet"] = hashlib.sha256(duckdb).hexdigest()
    assert len(set(digests.values())) == 1, digests
    df = pl.read_parquet(tmp_path / "tags-1-in-memory.parquet")
    assert df.schema["spend"] == pl.Decimal(38, 2)  # the declared type is kept
    assert df.filter(pl.col("customer_id") % 5 == 0)["on_threshold"].all()  # exactly 100.30
    assert df.filter(pl.col("customer_id") % 5 == 0)["tier"].unique().to_list() == ["silver"]


@pytest.mark.slow
def test_the_same_rules_on_undeclared_floats_do_flip(tmp_path):
    """The control: without `decimal(2)`, one thread in memory and eight streaming give
    different totals and flip tags — what the declaration above prevents. (Should Polars
    ever sum floats in a fixed order, this fails; then the contract holds by itself.)"""
    _data(tmp_path)
    project = tmp_path / "tagengine.toml"
    project.write_text(PROJECT.replace('[columns.orders]\namount = "decimal(2)"\n', ""), "utf-8")
    _run(tmp_path, "one.parquet", 1, "in-memory")
    _run(tmp_path, "eight.parquet", 8, "streaming")
    one = pl.read_parquet(tmp_path / "one.parquet")
    eight = pl.read_parquet(tmp_path / "eight.parquet")
    assert (one["spend"] != eight["spend"]).sum() > 0
    assert (one["on_threshold"] != eight["on_threshold"]).sum() > 0


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".csv", ".ndjson"])
def test_the_same_rows_give_the_same_bytes_however_they_are_chunked(tmp_path, suffix):
    # a streaming run hands back its rows in chunks of varying size; the file must not
    # show it (found at 1M rows: row groups followed the chunks)
    from tagengine import output

    rows = pl.DataFrame({"customer_id": np.arange(600_000), "flag": np.arange(600_000) % 3 == 0})
    layouts = [
        rows,
        pl.concat([rows.slice(0, 250_000), rows.slice(250_000)], rechunk=False),
        pl.concat([rows.slice(i, 7_919) for i in range(0, 600_000, 7_919)], rechunk=False),
    ]
    files = []
    for i, frame in enumerate(layouts):
        output.write(frame, tmp_path / f"out{i}{suffix}", {"tagengine.as_of": "2024-12-31"})
        files.append((tmp_path / f"out{i}{suffix}").read_bytes())
    assert layouts[2].n_chunks() > 50
    assert files[0] == files[1] == files[2]
