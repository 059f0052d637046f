"""Tests for the seeded example dataset: determinism, schema, planted edge cases, I/O."""

from __future__ import annotations

import datetime
import os
import pathlib
import subprocess
import sys

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tagengine import example_data

AS_OF = datetime.date(2024, 12, 31)
DAY = datetime.timedelta(days=1)

# The spec, written out literally so that a change to the module's constants fails here.
CUSTOMERS_SCHEMA = {
    "customer_id": pl.Int64,
    "name": pl.String,
    "gender": pl.String,
    "age": pl.Int32,
    "city": pl.String,
    "signup_date": pl.Date,
    "member_level": pl.String,
    "email": pl.String,
    "phone": pl.String,
    "opt_in_sms": pl.Boolean,
    "credit_score": pl.Float64,
    "churn_model_score": pl.Float64,
}
ORDERS_SCHEMA = {
    "order_id": pl.Int64,
    "customer_id": pl.Int64,
    "order_date": pl.Date,
    "amount": pl.Decimal(12, 2),
    "category": pl.String,
    "channel": pl.String,
    "returned": pl.Boolean,
}
CITIES = {"北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆", "苏州"}
CITIES |= {"天津", "长沙", "郑州", "沈阳"}
LEVELS = {"普通", "银卡", "金卡", "钻石"}
CATEGORIES = {"服装", "数码", "食品", "美妆", "家居", "母婴", "图书", "运动"}
CHANNELS = {"online", "store", "app"}


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return example_data.generate()


@pytest.fixture(scope="module")
def customers(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return tables["customers"]


@pytest.fixture(scope="module")
def orders(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return tables["orders"]


def _share(frame: pl.DataFrame, predicate: pl.Expr) -> float:
    return frame.filter(predicate).height / frame.height


# --- determinism ----------------------------------------------------------------------


def test_same_seed_gives_identical_frames(tables: dict[str, pl.DataFrame]) -> None:
    again = example_data.generate()
    assert list(again) == ["customers", "orders"]
    for name in tables:
        assert_frame_equal(again[name], tables[name], check_exact=True)


def test_needs_no_numpy() -> None:
    """`pip install tagengine` brings no numpy; `tagengine example-data` must not need it."""
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from tagengine import example_data\n"
        "tables = example_data.generate(300, seed=3)\n"
        "assert 'numpy' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "print(tables['orders'].height)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == example_data.generate(300, seed=3)["orders"].height


def test_different_seed_gives_different_frames(tables: dict[str, pl.DataFrame]) -> None:
    other = example_data.generate(seed=8)
    for name in tables:
        assert not other[name].equals(tables[name])


def test_as_of_changes_dates_but_not_shape_of_customers() -> None:
    a = example_data.generate(300, as_of=datetime.date(2023, 6, 30))
    b = example_data.generate(300, as_of=datetime.date(2024, 6, 30))
    assert a["customers"]["signup_date"].max() <= datetime.date(2023, 6, 30)
    assert not a["orders"].equals(b["orders"])


# --- schema and keys ------------------------------------------------------------------


def test_schema_is_exact(customers: pl.DataFrame, orders: pl.DataFrame) -> None:
    assert dict(customers.schema) == CUSTOMERS_SCHEMA
    assert list(customers.columns) == list(CUSTOMERS_SCHEMA)
    assert dict(orders.schema) == ORDERS_SCHEMA
    assert list(orders.columns) == list(ORDERS_SCHEMA)


def test_customer_ids_are_1_to_n(customers: pl.DataFrame) -> None:
    assert customers.height == 5000
    assert customers["customer_id"].to_list() == list(range(1, 5001))


def test_order_ids_are_1_to_m_in_customer_then_date_order(orders: pl.DataFrame) -> None:
    assert orders["order_id"].to_list() == list(range(1, orders.height + 1))
    resorted = orders.sort("customer_id", "order_date", maintain_order=True)
    assert_frame_equal(orders, resorted, check_exact=True)
    assert orders["order_id"].n_unique() == orders.height


def test_orders_reference_existing_customers_after_signup(
    customers: pl.DataFrame, orders: pl.DataFrame
) -> None:
    joined = orders.join(customers, on="customer_id", how="left")
    assert joined.height == orders.height
    assert joined["signup_date"].null_count() == 0
    assert joined.filter(pl.col("order_date") < pl.col("signup_date")).height == 0


# --- distributions and planted edge cases ---------------------------------------------


def test_about_ten_percent_of_customers_have_no_orders(
    customers: pl.DataFrame, orders: pl.DataFrame
) -> None:
    without = customers.height - orders["customer_id"].n_unique()
    assert 0.07 <= without / customers.height <= 0.13


def test_order_counts_are_skewed_with_mean_near_eight(orders: pl.DataFrame) -> None:
    per_customer = orders.group_by("customer_id").len()["len"]
    assert 6.0 <= orders.height / 5000 <= 10.0
    assert per_customer.median() < per_customer.mean()  # right-skewed
    assert per_customer.max() >= 30


def test_order_dates_window_and_boundaries(orders: pl.DataFrame) -> None:
    dates = orders["order_date"]
    assert dates.min() >= AS_OF - 729 * DAY
    future = orders.filter(pl.col("order_date") > AS_OF)
    assert 3 <= future.height <= orders.height // 100
    assert future["order_date"].max() <= AS_OF + 30 * DAY
    assert (dates == AS_OF).sum() >= 3
    assert (dates == AS_OF - 90 * DAY).sum() >= 3


def test_credit_score_has_nulls_and_exactly_a_few_nans(customers: pl.DataFrame) -> None:
    score = customers["credit_score"]
    assert score.is_nan().sum() == 5
    assert 0.05 <= score.null_count() / score.len() <= 0.11
    real = score.drop_nulls().drop_nans()
    assert real.min() >= 300
    assert real.max() <= 850


@pytest.mark.parametrize(
    ("column", "low", "high"),
    [
        ("gender", 0.015, 0.05),
        ("age", 0.03, 0.07),
        ("city", 0.01, 0.035),
        ("email", 0.08, 0.12),
        ("phone", 0.03, 0.07),
        ("opt_in_sms", 0.03, 0.07),
        ("churn_model_score", 0.01, 0.035),
    ],
)
def test_null_rates(customers: pl.DataFrame, column: str, low: float, high: float) -> None:
    assert low <= customers[column].null_count() / customers.height <= high


def test_customer_value_domains(customers: pl.DataFrame) -> None:
    c = customers
    assert set(c["gender"].drop_nulls()) == {"F", "M"}
    assert c["age"].min() >= 16
    assert c["age"].max() <= 80
    assert set(c["city"].drop_nulls()) == CITIES
    assert set(c["member_level"]) == LEVELS
    levels = c["member_level"].value_counts(sort=True)
    assert levels["member_level"][0] == "普通"
    assert levels["count"][0] > c.height / 2
    assert c["name"].null_count() == 0
    assert c["name"].str.len_chars().is_between(2, 3).all()
    emails = c["email"].drop_nulls()
    assert emails.str.contains("@", literal=True).all()
    assert emails.str.contains(r"^[\x00-\x7f]+$").all()
    assert emails.n_unique() == emails.len()
    assert c["phone"].drop_nulls().str.contains(r"^1\d{10}$").all()
    churn = c["churn_model_score"].drop_nulls()
    assert churn.min() >= 0.0
    assert churn.max() <= 1.0


def test_signup_dates(customers: pl.DataFrame) -> None:
    signup = customers["signup_date"]
    assert signup.null_count() == 0
    assert signup.min() >= datetime.date(2019, 1, 1)
    assert signup.max() <= AS_OF
    assert (signup > AS_OF - 30 * DAY).sum() >= 5


def test_order_value_domains(orders: pl.DataFrame) -> None:
    amount = orders["amount"]
    assert amount.null_count() == 6
    assert amount.min() >= 0
    assert amount.dtype == pl.Decimal(12, 2)  # money, exact to the cent
    assert 0.8 <= _share(orders, pl.col("amount").is_between(10, 2000)) < 1.0
    assert amount.median() < amount.mean()
    assert set(orders["category"]) == CATEGORIES
    assert set(orders["channel"]) == CHANNELS
    assert orders["returned"].null_count() == 0
    assert 0.05 <= orders["returned"].mean() <= 0.09


def test_empty_and_tiny_datasets_keep_the_schema() -> None:
    empty = example_data.generate(0)
    assert empty["customers"].height == 0
    assert empty["orders"].height == 0
    assert dict(empty["customers"].schema) == CUSTOMERS_SCHEMA
    assert dict(empty["orders"].schema) == ORDERS_SCHEMA
    with pytest.raises(ValueError, match="customers"):
        example_data.generate(-1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    as_of=st.dates(datetime.date(2015, 1, 1), datetime.date(2035, 12, 31)),
)
def test_invariants_hold_for_any_small_input(
    customers: int, seed: int, as_of: datetime.date
) -> None:
    tables = example_data.generate(customers, seed=seed, as_of=as_of)
    c, o = tables["customers"], tables["orders"]
    assert dict(c.schema) == CUSTOMERS_SCHEMA
    assert dict(o.schema) == ORDERS_SCHEMA
    assert c["customer_id"].to_list() == list(range(1, customers + 1))
    assert o["order_id"].to_list() == list(range(1, o.height + 1))
    assert_frame_equal(o, o.sort("customer_id", "order_date", maintain_order=True))
    assert c.filter(pl.col("signup_date") > as_of).height == 0
    joined = o.join(c, on="customer_id", how="inner")
    assert joined.height == o.height
    assert joined.filter(pl.col("order_date") < pl.col("signup_date")).height == 0
    assert o.filter(pl.col("order_date") < as_of - 729 * DAY).height == 0
    assert o.filter(pl.col("order_date") > as_of + 30 * DAY).height == 0
    assert c["credit_score"].is_nan().sum() == min(5, c["credit_score"].drop_nulls().len())
    if o.height >= 10:
        assert o.filter(pl.col("order_date") > as_of).height >= 3
        assert o.filter(pl.col("order_date") == as_of).height >= 3


# --- write ----------------------------------------------------------------------------


def _read(path: pathlib.Path, fmt: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if fmt == "parquet":
        return pl.read_parquet(path)
    if fmt == "ipc":
        return pl.read_ipc(path)
    if fmt == "csv":
        return pl.read_csv(path, schema=schema)
    floats = {c: pl.Float64 if t == pl.Decimal(12, 2) else t for c, t in schema.items()}
    return pl.read_ndjson(path, schema=floats)


@pytest.mark.parametrize(
    ("fmt", "ext"), [("parquet", "parquet"), ("csv", "csv"), ("ndjson", "ndjson"), ("ipc", "arrow")]
)
def test_write_round_trips(
    tmp_path: pathlib.Path, tables: dict[str, pl.DataFrame], fmt: str, ext: str
) -> None:
    target = tmp_path / "nested" / "demo"
    paths = example_data.write(target, tables, fmt=fmt)
    assert paths == [target / f"customers.{ext}", target / f"orders.{ext}"]
    assert sorted(os.listdir(target)) == [f"customers.{ext}", f"orders.{ext}"]
    for name, path in zip(tables, paths, strict=True):
        expected = tables[name]
        back = _read(path, fmt, dict(expected.schema))
        if fmt == "ndjson":
            # JSON has no NaN literal: Polars writes NaN floats as null; no decimals either
            expected = expected.with_columns(pl.col(pl.Float64).fill_nan(None))
            back = back.with_columns(pl.col(c).cast(t) for c, t in expected.schema.items())
        assert_frame_equal(back, expected, check_exact=True)


def test_write_overwrites_existing_files(
    tmp_path: pathlib.Path, tables: dict[str, pl.DataFrame]
) -> None:
    small = {"orders": tables["orders"].head(3)}
    example_data.write(tmp_path, tables)
    (path,) = example_data.write(tmp_path, small)
    assert_frame_equal(pl.read_parquet(path), small["orders"])
    assert sorted(os.listdir(tmp_path)) == ["customers.parquet", "orders.parquet"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: pathlib.Path) -> None:
    good = pl.DataFrame({"a": [1, 2]})
    (path,) = example_data.write(tmp_path, {"t": good}, fmt="csv")
    nested = pl.DataFrame({"a": [[1], [2]]})  # CSV cannot hold list columns
    with pytest.raises(Exception):  # noqa: B017 - whatever Polars raises for this
        example_data.write(tmp_path, {"t": nested}, fmt="csv")
    assert os.listdir(tmp_path) == ["t.csv"]
    assert_frame_equal(pl.read_csv(path), good)


def test_write_rejects_bad_format_and_names(tmp_path: pathlib.Path) -> None:
    frame = pl.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="format"):
        example_data.write(tmp_path, {"t": frame}, fmt="xlsx")
    for bad in ("", ".hidden", "../escape", "a/b"):
        with pytest.raises(ValueError, match="table name"):
            example_data.write(tmp_path / "out", {bad: frame})
    assert not (tmp_path / "out").exists()
