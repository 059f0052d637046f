"""Statistic features: aggregates over related tables, windows, as_of, empty aggregates."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tagengine

AS_OF = dt.date(2024, 12, 31)
HEAD = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)


def run(rules: str, customers: dict, orders: dict, as_of: dt.date = AS_OF):
    tables = {"customers": pl.DataFrame(customers), "orders": pl.DataFrame(orders, strict=False)}
    return tagengine.load(HEAD + rules).run(tables, as_of=as_of)


def one(rules: str, dates: list[dt.date], amounts: list[float] | None = None) -> dict:
    amounts = amounts or [1.0] * len(dates)
    result = run(
        rules,
        {"customer_id": [1]},
        {"customer_id": [1] * len(dates), "order_date": dates, "amount": amounts},
    )
    return result.table.row(0, named=True)


# ---- windows (docs/semantics.md#as_of) -----------------------------------------------

WINDOW_CASES = [
    (dt.date(2024, 10, 2), False),  # exactly 90 days before as_of
    (dt.date(2024, 10, 3), True),
    (dt.date(2024, 12, 31), True),  # as_of itself
    (dt.date(2025, 1, 1), False),  # after as_of: invisible
]


@pytest.mark.parametrize(("day", "counted"), WINDOW_CASES)
def test_as_of_windows_last_90_days_boundaries(day, counted):
    row = one("feature n = count(orders) over last 90 days", [day])
    assert row["n"] == int(counted)


def test_as_of_rows_after_as_of_invisible_to_every_aggregate():
    dates = [dt.date(2024, 6, 1), dt.date(2025, 1, 1)]
    rules = """
feature n = count(orders)
feature s = sum(orders.amount)
feature last_day = max(orders.order_date)
feature last_amount = last(orders.amount)
feature big = count(orders where orders.amount > 50)
"""
    row = one(rules, dates, [10.0, 100.0])
    assert row == {
        "customer_id": 1,
        "n": 1,
        "s": 10.0,
        "last_day": dt.date(2024, 6, 1),
        "last_amount": 10.0,
        "big": 0,
    }


@pytest.mark.parametrize(
    ("window", "inside", "outside"),
    [
        ("over last 12 weeks", dt.date(2024, 10, 9), dt.date(2024, 10, 8)),  # 84 days
        ("over last 6 months", dt.date(2024, 7, 1), dt.date(2024, 6, 30)),
        ("over last 1 year", dt.date(2024, 1, 1), dt.date(2023, 12, 31)),
        ("over last 1 day", dt.date(2024, 12, 31), dt.date(2024, 12, 30)),
        ("over 2024-01-01 to 2024-06-30", dt.date(2024, 6, 30), dt.date(2024, 7, 1)),
        ("over 2024-01-01 to 2024-06-30", dt.date(2024, 1, 1), dt.date(2023, 12, 31)),
    ],
)
def test_as_of_windows_weeks_months_and_ranges(window, inside, outside):
    row = one(f"feature n = count(orders) {window}", [inside, outside])
    assert row["n"] == 1


def test_as_of_windows_on_a_datetime_column_count_by_calendar_day():
    times = [
        dt.datetime(2024, 10, 2, 23, 59),
        dt.datetime(2024, 10, 3, 0, 0),
        dt.datetime(2024, 12, 31, 23, 0),
        dt.datetime(2025, 1, 1, 0, 0),
    ]
    result = run(
        "feature n = count(orders) over last 90 days\nfeature m = count(orders)",
        {"customer_id": [1]},
        {"customer_id": [1] * 4, "order_date": times},
    )
    assert result.table.row(0, named=True) == {"customer_id": 1, "n": 2, "m": 3}


# ---- empty aggregates (docs/semantics.md#empty-aggregates-and-division) --------------

EMPTY_RULES = """
feature n = count(orders)
feature s = sum(orders.amount)
feature a = avg(orders.amount)
feature lo = min(orders.amount)
feature hi = max(orders.amount)
feature f = first(orders.amount)
feature l = last(orders.amount)
feature k = count_distinct(orders.category)
feature sh = share(orders where orders.amount > 1)
tag buyer when n > 0
tag no_spend when s == 0
"""


def test_empty_aggregates_customer_without_orders():
    result = run(
        EMPTY_RULES,
        {"customer_id": [1, 7]},
        {
            "customer_id": [1],
            "order_date": [dt.date(2024, 1, 1)],
            "amount": [5.0],
            "category": ["a"],
        },
    )
    row = result.table.row(1, named=True)
    assert row == {
        "customer_id": 7,
        "n": 0,
        "s": 0.0,
        "a": None,
        "lo": None,
        "hi": None,
        "f": None,
        "l": None,
        "k": 0,
        "sh": None,
        "buyer": False,
        "no_spend": True,
    }
    assert result.table.height == 2


def test_empty_aggregates_when_the_window_or_filter_leaves_no_rows():
    rules = (
        "feature s = sum(orders.amount) over last 7 days\n"
        "feature a = avg(orders.amount where orders.amount > 100)"
    )
    row = one(rules, [dt.date(2024, 1, 1)], [5.0])
    assert row["s"] == 0.0 and row["a"] is None


def test_missing_values_inside_aggregates_are_skipped():
    result = run(
        "feature n = count(orders.amount)\nfeature m = count(orders)\n"
        "feature s = sum(orders.amount)\nfeature a = avg(orders.amount)\n"
        "feature k = count_distinct(orders.amount)",
        {"customer_id": [1]},
        {
            "customer_id": [1, 1, 1],
            "order_date": [dt.date(2024, 1, 1)] * 3,
            "amount": [2.0, None, float("nan")],
        },
    )
    assert result.table.row(0, named=True) == {
        "customer_id": 1,
        "n": 1,
        "m": 3,
        "s": 2.0,
        "a": 2.0,
        "k": 1,
    }


def test_first_and_last_by_time_ties_broken_by_value():
    dates = [dt.date(2024, 3, 1), dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 1, 1)]
    row = one(
        "feature f = first(orders.amount)\nfeature l = last(orders.amount)",
        dates,
        [30.0, 20.0, 40.0, 10.0],
    )
    assert (row["f"], row["l"]) == (10.0, 40.0)


def test_aggregates_nest_in_expressions_and_share():
    rules = """
feature online_ratio = sum(orders.amount where orders.channel == "online") / sum(orders.amount)
feature online_share = share(orders where orders.channel == "online")
feature aov = sum(orders.amount) / count(orders)
tag mostly_online when online_share >= 50%
"""
    result = run(
        rules,
        {"customer_id": [1, 2]},
        {
            "customer_id": [1, 1, 1, 2],
            "order_date": [dt.date(2024, 5, 1)] * 4,
            "amount": [10.0, 30.0, 60.0, 0.0],
            "channel": ["online", "store", "online", "store"],
        },
    )
    t = result.table
    assert t["online_ratio"].to_list() == [0.7, None]  # 0 / 0 is missing
    assert t["online_share"].to_list() == pytest.approx([2 / 3, 0.0])
    assert t["aov"].to_list() == pytest.approx([100 / 3, 0.0])
    assert t["mostly_online"].to_list() == [True, False]


def test_unmatched_related_rows_are_counted_not_hidden():
    result = run(
        "feature n = count(orders)",
        {"customer_id": [1]},
        {"customer_id": [1, 5, 5, 6], "order_date": [dt.date(2024, 1, 1)] * 4},
    )
    assert result.unmatched_rows == {"orders": 3}


def test_related_key_may_have_another_name_and_integer_width():
    rules = (
        "entity customer table customers key id\n"
        "related orders key cust time day\nfeature n = count(orders)"
    )
    tables = {
        "customers": pl.DataFrame({"id": [1, 2]}),
        "orders": pl.DataFrame(
            {"cust": pl.Series([2, 2], dtype=pl.Int32), "day": [dt.date(2024, 1, 1)] * 2}
        ),
    }
    df = tagengine.load(rules).evaluate(tables, as_of=AS_OF)
    assert df["n"].to_list() == [0, 2]


# ---- one pass per related table, only the used columns ------------------------------


def test_one_group_by_per_related_table_and_projection_pushdown(tmp_path):
    orders = pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "order_date": [dt.date(2024, 12, 1)] * 3,
            "amount": [1.0, 2.0, 3.0],
            "channel": ["a", "b", "a"],
            "unused": ["x", "y", "z"],
            "also_unused": [1, 2, 3],
        }
    )
    orders.write_parquet(tmp_path / "orders.parquet")
    pl.DataFrame({"customer_id": [1, 2], "age": [1, 2]}).write_parquet(
        tmp_path / "customers.parquet"
    )
    rules = tagengine.load(
        HEAD
        + """
feature a = sum(orders.amount) over last 90 days
feature b = count(orders where orders.channel == "a")
feature c = max(orders.amount)
feature d = sum(orders.amount) over last 90 days
"""
    )
    tables = {
        "customers": pl.scan_parquet(tmp_path / "customers.parquet"),
        "orders": pl.scan_parquet(tmp_path / "orders.parquet"),
    }
    plan = rules.plan(tables, as_of=AS_OF).explain()
    assert plan.count("AGGREGATE") == 1
    assert "unused" not in plan
    assert "4/6 COLUMNS" in plan or "project: 4/6" in plan.lower() or "PROJECT 4/6" in plan
    df = rules.evaluate(tables, as_of=AS_OF)
    assert df["a"].to_list() == df["d"].to_list() == [3.0, 3.0]


# ---- checking ----------------------------------------------------------------------

ORDERS_SCHEMA = {
    "customer_id": pl.Int64,
    "order_date": pl.Date,
    "amount": pl.Float64,
    "channel": pl.String,
}
SCHEMA = {"customers": {"customer_id": pl.Int64, "age": pl.Int64}, "orders": ORDERS_SCHEMA}


@pytest.mark.parametrize(
    ("rules", "code"),
    [
        ("feature f = orders.amount", "TE209"),
        ("feature f = sum(orders.amount where age > 3)", "TE209"),
        ("feature f = sum(orders.amout)", "TE101"),
        ("feature f = count(ordrs)", "TE101"),
        ("feature f = sum(orders)", "TE204"),
        ("feature f = sum(orders.channel)", "TE204"),
        ("feature f = sum(orders.amount + count(orders))", "TE208"),
        ("feature f = abs(age where age > 1)", "TE207"),
        ("feature f = share(orders)", "TE204"),
        ("feature f = count(orders where orders.amount)", "TE202"),
        ("feature f = sum(orders.amount) over last 0 days", "TE002"),
    ],
)
def test_aggregate_diagnostics(rules, code):
    found = [d.code for d in tagengine.load(HEAD + rules).check(SCHEMA)]
    assert code in found, found


def test_window_needs_a_time_column():
    rules = (
        "entity customer table customers key customer_id\n"
        "related orders key customer_id\n"
        "feature f = count(orders) over last 90 days\nfeature g = last(orders.amount)"
    )
    diags = tagengine.load(rules).check(SCHEMA)
    assert [(d.code, d.span.line) for d in diags] == [("TE210", 3), ("TE210", 4)]


def test_related_table_declaration_is_checked_against_data():
    rules = (
        "entity customer table customers key customer_id\n"
        "related orders key cust time when_\nfeature n = count(orders)"
    )
    codes = [d.code for d in tagengine.load(rules.replace("when_", "amount")).check(SCHEMA)]
    assert codes == ["TE107", "TE108"]


def test_related_key_type_must_match_entity_key():
    schema = {
        "customers": {"customer_id": pl.Int64},
        "orders": {**ORDERS_SCHEMA, "customer_id": pl.String},
    }
    diags = tagengine.load(HEAD + "feature n = count(orders)").check(schema)
    assert [d.code for d in diags] == ["TE201"]


# ---- against an independent computation ---------------------------------------------

orders_strategy = st.lists(
    st.tuples(
        st.integers(1, 6),  # customer
        st.integers(-400, 30),  # days relative to as_of
        st.none() | st.integers(0, 50).map(lambda c: c / 2),  # amount (exact halves)
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(orders_strategy)
def test_aggregates_match_a_direct_polars_group_by(rows):
    customers = pl.DataFrame({"customer_id": list(range(1, 6))})  # 6 has no entity row
    orders = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [AS_OF + dt.timedelta(days=r[1]) for r in rows],
            "amount": [r[2] for r in rows],
            "channel": [r[3] for r in rows],
            "returned": [r[4] for r in rows],
        },
        schema={
            "customer_id": pl.Int64,
            "order_date": pl.Date,
            "amount": pl.Float64,
            "channel": pl.String,
            "returned": pl.Boolean,
        },
    )
    rules = """
feature n90 = count(orders) over last 90 days
feature s365 = sum(orders.amount where not orders.returned) over last 365 days
feature avg_all = avg(orders.amount)
feature hi = max(orders.amount where orders.channel == "a")
feature k = count_distinct(orders.channel) over last 30 days
"""
    got = run(
        rules, {"customer_id": customers["customer_id"].to_list()}, orders.to_dict(as_series=False)
    ).table
    visible = orders.filter(pl.col("order_date") <= AS_OF)
    days = (pl.lit(AS_OF) - pl.col("order_date")).dt.total_days()
    expected = (
        customers.join(
            visible.group_by("customer_id").agg(
                n90=(days < 90).sum().cast(pl.Int64),
                s365=pl.col("amount").filter((days < 365) & ~pl.col("returned")).sum(),
                avg_all=pl.col("amount").mean(),
                hi=pl.col("amount").filter(pl.col("channel") == "a").max(),
                k=pl.col("channel").filter(days < 30).n_unique().cast(pl.Int64),
            ),
            on="customer_id",
            how="left",
        )
        .with_columns(pl.col("n90", "s365", "k").fill_null(0))
        .sort("customer_id")
    )
    from polars.testing import assert_frame_equal

    assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize(
    ("amount", "unit", "start"),
    [
        (90, "days", dt.date(2023, 12, 1)),
        (2, "weeks", dt.date(2024, 2, 15)),
        (1, "months", dt.date(2024, 1, 29)),
        (1, "years", dt.date(2023, 2, 28)),  # 29 February clamps to the 28th
    ],
)
def test_window_start_is_a_date_literal_with_polars_calendar(amount, unit, start):
    from tagengine.backends.aggregate import window_start

    expr = window_start(dt.date(2024, 2, 29), amount, unit)
    assert "offset_by" not in str(expr)  # worked out once, not on every batch of rows
    assert pl.select(expr).item() == start


def test_a_window_reaching_before_year_one_still_works():
    from tagengine.backends.aggregate import window_start

    expr = window_start(dt.date(2024, 2, 29), 10_000, "years")
    rows = pl.DataFrame({"d": [dt.date(1, 1, 1)]}).select(after=pl.col("d") > expr)
    assert rows["after"].to_list() == [True]
