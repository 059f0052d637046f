"""The Postgres dialect, run by a real Postgres: the Polars engine's answers.

Runs when TAGENGINE_POSTGRES_URI names a database this test may write tables into
(`postgresql://user@host:port/db`), with `psql` installed to load them; skipped
otherwise. Each case loads its tables (as `customers`, `orders`, ...), runs the SQL of
`RuleSet.sql(dialect="postgres")` and compares (floats within 1e-9, as in
test_differential.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import tagengine
from tagengine import example_data
from tagengine.engines import expected_schema
from test_differential import WITH_DATA, assert_same
from test_docs import read_expect

URI = os.environ.get("TAGENGINE_POSTGRES_URI")
pytestmark = pytest.mark.skipif(
    not URI or not shutil.which("psql"), reason="set TAGENGINE_POSTGRES_URI (and install psql)"
)
ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2024, 12, 31)


def _type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"NUMERIC({dtype.precision or 38},{dtype.scale or 0})"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_float():
        return "DOUBLE PRECISION"
    return {pl.Boolean: "BOOLEAN", pl.Date: "DATE"}.get(dtype.base_type(), "TEXT")


def _psql(script: str) -> None:
    done = subprocess.run(
        ["psql", URI or "", "-v", "ON_ERROR_STOP=1", "-q"],
        input=script,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def load(tables: dict[str, pl.DataFrame], folder: Path) -> None:
    script = []
    for name, df in tables.items():
        path = folder / f"{name}.csv"
        df.write_csv(path, null_value="\\N")
        columns = ", ".join(f'"{c}" {_type(t)}' for c, t in df.schema.items())
        script += [
            f'DROP TABLE IF EXISTS "{name}";',
            f'CREATE TABLE "{name}" ({columns});',
            f"\\copy \"{name}\" FROM '{path}' WITH (FORMAT csv, HEADER true, NULL '\\N')",
        ]
    _psql("\n".join(script))


def both(rules: tagengine.RuleSet, tables: dict[str, pl.DataFrame], as_of: dt.date, folder: Path):
    load(tables, folder)
    schema = {name: df.schema for name, df in tables.items()}
    text = rules.sql(schema, as_of=as_of, dialect="postgres")
    got = pl.read_database_uri(text, URI or "")
    program = rules.compile(schema)
    want_schema = expected_schema(program, schema, as_of, None)
    got.columns = want_schema.names()
    got = got.cast(dict(want_schema))
    assert_same(rules.evaluate(tables, as_of=as_of), got, text)


@pytest.mark.parametrize("example", WITH_DATA, ids=lambda e: f"line{e.line}")
def test_documented_examples(example, tmp_path):
    want = read_expect(example.follow.body)
    both(tagengine.load(example.source), want.tables, want.as_of or AS_OF, tmp_path)


def test_retail_rules(tmp_path):
    tables = example_data.generate(customers=500, seed=2)
    both(tagengine.load(ROOT / "rules" / "retail.tags"), tables, AS_OF, tmp_path)
