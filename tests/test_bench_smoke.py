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
        assert not outcome["unexplained_cells"], name


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
        {"customer_id": [1, 2, 3], "spend_365d": [10.0, 20.0, 30.0], "female": [True, False, True]}
    )
    assert verify.compare(expected, expected.clone()).equal
    close = expected.with_columns(pl.col("spend_365d") * (1 + 1e-12))
    assert verify.compare(expected, close).equal
    wrong = expected.with_columns(female=pl.Series([True, True, True]))
    outcome = verify.compare(expected, wrong)
    assert not outcome.equal and outcome.unexplained == {"female": 1}


def test_verify_reports_ntile_flips_of_tied_float_sums_as_the_known_issue():
    verify = bench_module("verify")
    # 0.1 + 0.2 and 0.2 + 0.1 + 0.0 are equal sums in decimal; which ranks first is
    # up to the last bit, so an engine may put them in either bucket
    expected = pl.DataFrame(
        {"customer_id": [1, 2, 3], "spend_365d": [0.3, 0.30000000000000004, 5.0]}
    ).with_columns(m_score=pl.Series([1, 2, 2]))
    flipped = expected.with_columns(m_score=pl.Series([2, 1, 2]))
    outcome = verify.compare(expected, flipped)
    assert outcome.equal and outcome.known == {"m_score": 2}
    # the same flip between customers whose sums are far apart is a real difference
    far = expected.with_columns(m_score=pl.Series([1, 1, 2]), spend_365d=pl.Series([0.3, 9.0, 5.0]))
    assert verify.compare(far, far.with_columns(m_score=pl.Series([1, 2, 1]))).unexplained


def test_verify_reports_a_threshold_flip_of_a_float_sum_as_the_known_issue():
    verify = bench_module("verify")
    expected = pl.DataFrame(
        {"customer_id": [1, 2], "spend_90d": [3000.0000000000005, 2000.0]}
    ).with_columns(high_value=pl.Series([True, False]))
    flipped = expected.with_columns(high_value=pl.Series([False, False]))
    assert verify.compare(expected, flipped).known == {"high_value": 1}
    wrong = expected.with_columns(high_value=pl.Series([True, True]))
    assert verify.compare(expected, wrong).unexplained == {"high_value": 1}
