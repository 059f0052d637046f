"""Counts and amounts in human output: one plural rule, one money format."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from typer.testing import CliRunner

from tagengine.cli import app
from tagengine.wording import agree, decimal, plural, whole


@pytest.mark.parametrize(
    ("n", "noun", "many", "expected"),
    [
        (0, "rule", None, "0 rules"),
        (1, "rule", None, "1 rule"),
        (2, "rule", None, "2 rules"),
        (1, "error", None, "1 error"),
        (57, "rule", None, "57 rules"),
        (5000, "customer", None, "5,000 customers"),
        (1, "malformed row", None, "1 malformed row"),
        (1, "entity", "entities", "1 entity"),
        (3, "entity", "entities", "3 entities"),
    ],
)
def test_plural(n, noun, many, expected):
    assert plural(n, noun, many) == expected


def test_agree():
    assert [agree(n, "has", "have") for n in (0, 1, 2)] == ["have", "has", "have"]


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("44048.86"), None, "44,048.86"),
        (Decimal("2235.7"), 2, "2,235.70"),
        (Decimal("0.00"), None, "0.00"),
        (Decimal("-1234567.5"), None, "-1,234,567.5"),
        (Decimal("12"), 2, "12.00"),
        (Decimal("100.305"), None, "100.305"),
    ],
)
def test_money_has_thousands_separators(value, places, expected):
    assert decimal(value, places) == expected


@pytest.mark.parametrize(
    ("n", "expected"), [(2024, "2024"), (9999, "9999"), (10_000, "10,000"), (-45_000, "-45,000")]
)
def test_whole_numbers_keep_years_plain(n, expected):
    assert whole(n) == expected


# ---- in the commands' output ------------------------------------------------------------

RULES = """entity customer table customers key customer_id
related orders key customer_id time order_date
feature spend = sum(orders.amount)
tag big when spend > 100
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "rules.tags").write_text(RULES, "utf-8")
    pl.DataFrame({"customer_id": [1]}).write_parquet(tmp_path / "customers.parquet")
    amounts = pl.Series(["44048.86", "0.50"]).cast(pl.Decimal(12, 2))
    pl.DataFrame(
        {"customer_id": [1, 2], "order_date": [dt.date(2024, 12, 1)] * 2, "amount": amounts}
    ).write_parquet(tmp_path / "orders.parquet")
    return tmp_path


def invoke(folder, *args):
    result = CliRunner().invoke(app, [*args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_the_run_summary_shows_money_as_explain_does(folder):
    rules, data = str(folder / "rules.tags"), str(folder)
    code, out = invoke(
        folder,
        "run",
        rules,
        "--data",
        data,
        "--as-of",
        "2024-12-31",
        "--out",
        str(folder / "t.csv"),
    )
    assert code == 0, out
    assert "44,048.86 .. 44,048.86" in out and "44048.86" not in out
    assert "1 customer · as of 2024-12-31" in out
    assert "wrote 1 row × 3 columns" in out
    assert "1 row of `orders` has a key that matches no row of `customers`; it counts" in out
    assert (folder / "t.csv").read_text("utf-8").splitlines()[1] == "1,44048.86,true"  # machines
    code, out = invoke(
        folder, "explain", rules, "--data", data, "--as-of", "2024-12-31", "--id", "1"
    )
    assert code == 0, out
    assert "spend = 44,048.86" in out and "from 1 row of orders" in out


def test_check_counts_in_the_singular(folder):
    (folder / "one.tags").write_text(
        "entity customer table customers key customer_id\ntag a when agee > 3\n", "utf-8"
    )
    code, out = invoke(folder, "check", str(folder / "one.tags"), "--data", str(folder))
    assert code == 1
    assert "1 rule checked: 1 error, 0 warnings" in out
