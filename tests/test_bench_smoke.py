"""The benchmark harness (bench/run.py) at its smallest size: it completes, and every
hand-written implementation of bench/workload.tags agrees with tagengine."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str):
    """A module of bench/, which is a folder of scripts rather than a package."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    args = ["--size", "tiny", "--repeat", "1", "--idle-wait", "0", "--max-others", "1"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), *args, "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


def test_every_implementation_agrees_with_tagengine(report):
    verification = report["verification"]
    assert set(verification) == {"polars", "duckdb", "pandas", "tagengine (2nd run)"}
    for name, outcome in verification.items():
        assert outcome["equal"], f"{name}: {outcome['summary']}"
        assert not outcome["differing_cells"], name
    # money is exact (issue 9): tagengine agrees with itself bit for bit
    assert verification["tagengine (2nd run)"]["summary"] == "equal, bit for bit"


def test_every_implementation_is_timed(report):
    impls = [row["impl"] for row in report["summary"]]
    assert impls == ["tagengine", "polars", "duckdb", "pandas"]
    for row in report["summary"]:
        assert row["median_s"] > 0 and row["peak_rss_mib"] > 0


def test_compile_of_a_large_rule_file_is_timed(report):
    assert report["compile"]["1000 rules"]["wall"] > 0


def test_verify_flags_a_wrong_cell():
    verify = bench_module("verify")
    expected = pl.DataFrame(
        {"customer_id": [1, 2, 3], "spend_365d": [10, 20, 30], "female": [True, False, True]}
    ).with_columns(pl.col("spend_365d").cast(pl.Decimal(38, 2)))
    assert verify.compare(expected, expected.clone()).summary() == "equal, bit for bit"
    wrong = expected.with_columns(female=pl.Series([True, True, True]))
    outcome = verify.compare(expected, wrong)
    assert not outcome.equal and outcome.differing == {"female": 1}


def test_verify_compares_money_exactly():
    verify = bench_module("verify")
    expected = pl.DataFrame({"customer_id": [1, 2], "spend_365d": ["3000.00", "12.34"]})
    expected = expected.with_columns(pl.col("spend_365d").str.to_decimal(scale=2))
    cent_off = expected.with_columns(pl.col("spend_365d") + pl.lit(1).cast(pl.Decimal(38, 2)) / 100)
    assert verify.compare(expected, cent_off).differing == {"spend_365d": 2}


def test_verify_reports_float_cells_equal_but_for_the_last_bits():
    verify = bench_module("verify")
    expected = pl.DataFrame({"customer_id": [1, 2], "avg_order_value": [0.3, 5.0]})
    close = expected.with_columns(avg_order_value=pl.Series([0.30000000000000004, 5.0]))
    outcome = verify.compare(expected, close)
    assert outcome.equal and outcome.last_bits == {"avg_order_value": 1}
    far = expected.with_columns(avg_order_value=pl.Series([0.31, 5.0]))
    assert verify.compare(expected, far).differing == {"avg_order_value": 1}


def test_larger_than_memory_script_runs_and_reports(tmp_path):
    out = tmp_path / "ltm.json"
    args = ["--size", "tiny", "--only", "tagengine --", "hand-written, streaming"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "larger_than_memory.py"), *args, "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["input"]["orders"]["rows"] > 10_000
    runs = {r["name"]: r for r in report["runs"]}
    assert set(runs) == {"tagengine --streaming", "hand-written, streaming engine"}
    assert all(r["outcome"] == "ok" and r["peak_rss_mib"] > 0 for r in runs.values())


def test_engines_script_finds_the_same_file_on_each_engine():
    args = ["--size", "tiny", "--repeat", "1", "--engines", "polars", "streaming", "duckdb"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "engines.py"), *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "outputs: byte-identical" in done.stdout
