"""The Postgres dialect, run by a real Postgres: the Polars engine's answers.

The server is a throwaway one started for the session (`postgres_uri` in conftest.py,
tests/pg_server.py), or the database TAGENGINE_POSTGRES_URI names
(`postgresql://user@host:port/db`, which this test may write tables into). Each case loads
its tables (as `customers`, `orders`, ...) with psql, runs the SQL of
`RuleSet.sql(dialect="postgres")` and compares (floats within 1e-9, as in
test_differential.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import pg_server
import tagengine
from tagengine import example_data
from test_differential import WITH_DATA, assert_same
from test_docs import read_expect

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2024, 12, 31)


def both(uri, rules: tagengine.RuleSet, tables: dict[str, pl.DataFrame], as_of, folder: Path):
    got, text = pg_server.evaluate(uri, rules, tables, as_of, folder)
    assert_same(rules.evaluate(tables, as_of=as_of), got, text)


@pytest.mark.parametrize("example", WITH_DATA, ids=lambda e: f"line{e.line}")
def test_documented_examples(postgres_uri, example, tmp_path):
    want = read_expect(example.follow.body)
    rules = tagengine.load(example.source)
    both(postgres_uri, rules, want.tables, want.as_of or AS_OF, tmp_path)


def test_retail_rules(postgres_uri, tmp_path):
    tables = example_data.generate(customers=500, seed=2)
    both(postgres_uri, tagengine.load(ROOT / "rules" / "retail.tags"), tables, AS_OF, tmp_path)
