"""bench/workload.tags run by tagengine through its Python API, as a pipeline would.

The measured time includes loading, checking and compiling the rules (a user pays for
that on every run) as well as reading the data and evaluating the plan.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

import tagengine

RULES = Path(__file__).resolve().parent / "workload.tags"


def tables(data_dir: Path) -> dict[str, pl.LazyFrame]:
    data_dir = Path(data_dir)
    return {name: pl.scan_parquet(data_dir / f"{name}.parquet") for name in ("customers", "orders")}


def evaluate(data_dir: Path, as_of: dt.date) -> pl.DataFrame:
    return tagengine.load(RULES).evaluate(tables(data_dir), as_of=as_of)
