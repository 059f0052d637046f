"""Documented semantics with their answers written down, checked on each backend alone.

test_differential.py compares backends with each other, which misses a mistake they
share, and names no culprit when they differ. Here every backend must give the answer
docs/language.md gives: Polars; the DuckDB and Spark engines (`engine=`, the path of
`tagengine run --engine`); and the Postgres SQL of `RuleSet.sql(dialect="postgres")` in
a real PostgreSQL (conftest.py's `postgres_uri`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pg_server
import tagengine

AS_OF = dt.date(2024, 12, 31)
HEADER = "entity customer table customers key customer_id\n"
ORDERS = "related orders key customer_id time order_date\n"


@pytest.fixture(
    params=["polars", "duckdb", pytest.param("spark", marks=pytest.mark.slow), "postgres"]
)
def evaluate(request, tmp_path):
    """`evaluate(rules, tables)`: the output on this backend, as {column: values}.
    A backend's server starts only when one of its cases runs."""
    backend = request.param

    def run(rules: str, tables: dict[str, pl.DataFrame]) -> dict[str, list]:
        ruleset = tagengine.load(HEADER + rules)
        if backend == "postgres":
            uri = request.getfixturevalue("postgres_uri")
            df, _ = pg_server.evaluate(uri, ruleset, tables, AS_OF, tmp_path)
        else:
            if backend == "spark":
                request.getfixturevalue("spark_session")
            df = ruleset.evaluate(tables, as_of=AS_OF, engine=backend)
        return df.drop("customer_id").to_dict(as_series=False)

    return run


def _orders(*rows: tuple) -> pl.DataFrame:
    """Orders from (customer_id, order_date, amount, channel) rows."""
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64,
            "order_date": pl.Date,
            "amount": pl.Int64,
            "channel": pl.String,
        },
        orient="row",
    )


def _customers(n: int) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": range(1, n + 1)}, schema={"customer_id": pl.Int64})


MAR, JUN, LATER = dt.date(2024, 3, 1), dt.date(2024, 6, 1), dt.date(2025, 1, 5)


def test_first_and_last_break_ties_at_the_same_time_by_the_value(evaluate):
    """Rows at the same time are ordered by `x`: `first` takes the smallest, `last` the
    largest, whatever the order of the rows; rows where `x` is missing are skipped."""
    rows = [(MAR, 10, "b"), (MAR, 30, "a"), (JUN, 20, "d"), (JUN, 5, "c")]
    orders = _orders(
        *[(1, *r) for r in rows],
        (1, LATER, 999, "z"),  # after as_of: invisible
        *[(2, *r) for r in reversed(rows)],  # the same rows, the other way round
        (3, MAR, 7, "x"),
        (3, MAR, 8, None),
        (3, JUN, None, None),  # the latest row, but nothing to take
        (4, MAR, 1, "a"),
        (4, MAR, 1, "B"),  # text by code point: "B" < "a" (in English, "a" < "B")
        # customer 5: no orders
    )
    rules = ORDERS + (
        "feature first_amount = first(orders.amount)\n"
        "feature last_amount = last(orders.amount)\n"
        "feature first_channel = first(orders.channel)\n"
        "feature last_channel = last(orders.channel)\n"
    )
    assert evaluate(rules, {"customers": _customers(5), "orders": orders}) == {
        "first_amount": [10, 10, 7, 1, None],
        "last_amount": [20, 20, 8, 1, None],
        "first_channel": ["a", "a", "x", "B", None],
        "last_channel": ["d", "d", "x", "a", None],
    }


def _at(day: int, hour: int, minute: int, month: int = 1) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute)


@pytest.mark.parametrize(
    "a, b, days",
    [
        (_at(1, 23, 59), _at(2, 0, 1), 1),  # two minutes apart, but on two days
        (_at(2, 0, 1), _at(1, 23, 59), -1),
        (_at(1, 0, 1), _at(1, 23, 59), 0),  # almost a day apart, on the same day
        (_at(28, 23, 0, month=2), _at(1, 1, 0, month=3), 2),  # 2024 is a leap year
        (None, _at(1, 0, 0), None),
    ],
)
def test_days_between_drops_the_times_of_day_first(evaluate, a, b, days):
    customers = pl.DataFrame(
        {"customer_id": [1], "a": [a], "b": [b]},
        schema={"customer_id": pl.Int64, "a": pl.Datetime("us"), "b": pl.Datetime("us")},
    )
    rules = "feature days = days_between(a, b)\n"
    assert evaluate(rules, {"customers": customers}) == {"days": [days]}


def test_days_between_a_date_and_time_and_as_of(evaluate):
    customers = pl.DataFrame(
        {"customer_id": [1, 2], "seen": [dt.datetime(2024, 12, 30, 23, 59), _at(1, 0, 0)]}
    )
    rules = "feature days = days_between(seen, as_of)\n"
    assert evaluate(rules, {"customers": customers}) == {"days": [1, 365]}


def test_empty_windows_give_a_missing_avg_and_share(evaluate):
    """No rows in the window: `avg` and `share` are missing, `count` and `sum` are 0. Rows
    whose values are missing still make the window non-empty for `share`."""
    orders = _orders(
        (1, JUN, 10, "app"),  # before the window
        # customer 2: no orders at all
        (3, LATER, 10, "app"),  # after as_of: invisible
        (4, dt.date(2024, 12, 20), 10, "app"),
        (4, dt.date(2024, 12, 25), 20, "web"),
        (5, AS_OF, None, None),
    )
    rules = ORDERS + (
        "feature avg_30d = avg(orders.amount) over last 30 days\n"
        'feature app_share_30d = share(orders where orders.channel == "app") over last 30 days\n'
        "feature count_30d = count(orders) over last 30 days\n"
        "feature sum_30d = sum(orders.amount) over last 30 days\n"
    )
    assert evaluate(rules, {"customers": _customers(5), "orders": orders}) == {
        "avg_30d": [None, None, None, 15.0, None],
        "app_share_30d": [None, None, None, 0.5, 0.0],
        "count_30d": [0, 0, 0, 2, 1],
        "sum_30d": [0, 0, 0, 30, 0],
    }
