"""bench/workload.tags in idiomatic pandas (numpy-backed frames, NaN as missing).

Reads the two Parquet files through pyarrow (dates as datetime64, not Python objects;
the decimal amounts as whole cents in a nullable Int64, the pandas way to keep money
exact: Python Decimal objects would be exact too, but many times slower), derives the
windowed columns once, aggregates them in one groupby, then builds tags, scores and
segments. The result is converted to Polars with tagengine's dtypes, because
that is what the benchmark compares; the conversion is part of the measured time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from workload_spec import COASTAL, MOBILE, NEW_TIER1, OUTPUT, PREMIUM, TIER1

ORDER_COLUMNS = ["customer_id", "order_date", "amount", "category", "channel", "returned"]
INT_COLUMNS = ["orders_90d", "orders_365d", "categories_365d", "returned_365d", "online_365d"]


def read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(path, columns=columns).to_pandas(date_as_object=False)


def read_orders(path: Path) -> pd.DataFrame:
    """The orders with `amount` in whole cents (nullable Int64)."""
    table = pq.read_table(path, columns=ORDER_COLUMNS)
    i = table.schema.get_field_index("amount")
    cents = pc.cast(pc.multiply(table.column(i), pa.scalar(100)), pa.int64())
    table = table.set_column(i, "amount", cents)
    return table.to_pandas(date_as_object=False, types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def evaluate(data_dir: Path, as_of: dt.date) -> pl.DataFrame:
    data_dir = Path(data_dir)
    customers = read(data_dir / "customers.parquet").sort_values("customer_id")
    stats = order_stats(read_orders(data_dir / "orders.parquet"), pd.Timestamp(as_of))
    df = customers.merge(stats, on="customer_id", how="left", sort=False)
    df[INT_COLUMNS] = df[INT_COLUMNS].fillna(0).astype("int64")
    df[["spend_90d", "spend_365d"]] = df[["spend_90d", "spend_365d"]].fillna(0)
    df = add_rules(df.reset_index(drop=True), pd.Timestamp(as_of))
    return to_polars(df[OUTPUT])


def order_stats(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-customer aggregates in one groupby; orders after as_of are dropped first."""
    o = orders[orders["order_date"] <= as_of]
    in90 = o["order_date"] > as_of - pd.Timedelta(days=90)
    in365 = o["order_date"] > as_of - pd.Timedelta(days=365)
    net = o["amount"].where(~o["returned"])  # NA for returned orders: sum/count skip them
    channel = o["channel"]
    o = o.assign(
        net_90=net.where(in90),
        net_365=net.where(in365),
        in90=in90,
        in365=in365,
        amount_365=o["amount"].where(in365),
        category_365=o["category"].where(in365),
        returned_365=in365 & o["returned"],
        online_365=in365 & channel.notna() & (channel != "store"),
    )
    return o.groupby("customer_id", sort=False).agg(
        spend_90d=("net_90", "sum"),
        spend_365d=("net_365", "sum"),
        orders_90d=("in90", "sum"),
        orders_365d=("in365", "sum"),
        first_order=("order_date", "min"),
        last_order=("order_date", "max"),
        net_orders_365=("net_365", "count"),
        max_order_365d=("amount_365", "max"),
        categories_365d=("category_365", "nunique"),
        returned_365d=("returned_365", "sum"),
        online_365d=("online_365", "sum"),
    )


def add_rules(df: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Tags, scores, segments. Comparisons with NaN are False, which is "unknown is
    not set" for tags; features keep NaN."""
    out = pd.DataFrame({"customer_id": df["customer_id"]})
    out["female"] = df["gender"] == "F"
    out["male"] = df["gender"] == "M"
    out["young"] = df["age"].between(18, 24)
    out["middle_aged"] = df["age"].between(35, 54)
    out["senior"] = df["age"] >= 55
    out["tier1_city"] = df["city"].isin(TIER1)
    out["new_tier1_city"] = df["city"].isin(NEW_TIER1)
    out["coastal"] = df["province"].isin(COASTAL)
    out["vip"] = df["is_vip"].eq(True)  # object column with None: None is not True
    out["premium_member"] = df["member_level"].isin(PREMIUM)
    out["valid_mobile"] = df["phone"].str.contains(MOBILE, regex=True, na=False)
    out["likely_responder"] = df["model_score"] >= 0.6
    out["tenure_days"] = (as_of - df["signup_date"]).dt.days
    for col in ["spend_90d", "spend_365d", "orders_90d", "orders_365d", "first_order"]:
        out[col] = df[col]
    out["last_order"] = df["last_order"]
    out["recency"] = (as_of - df["last_order"]).dt.days  # NaN where no orders
    # the exact total in cents divided once, as tagengine and SQL's avg of a decimal do
    kept = df["net_orders_365"]
    out["avg_order_value"] = (df["spend_365d"].astype("float64") / 100 / kept).where(kept > 0)
    out["max_order_365d"] = df["max_order_365d"]
    out["categories_365d"] = df["categories_365d"]
    has_orders = df["orders_365d"] > 0
    out["return_rate"] = (df["returned_365d"] / df["orders_365d"]).where(has_orders)
    out["online_share"] = (df["online_365d"] / df["orders_365d"]).where(has_orders)
    add_rule_tags(out)
    add_scores(out, df["model_score"])
    add_segments(out)
    return out


def add_rule_tags(out: pd.DataFrame) -> None:
    out["high_value"] = out["spend_90d"] > 3000_00  # cents
    out["frequent_buyer"] = out["orders_365d"] >= 12
    out["churn_risk"] = (out["recency"] > 180) & (out["orders_365d"] >= 2)
    out["sleeping"] = out["recency"] > 365
    out["never_purchased"] = out["last_order"].isna()
    out["frequent_returner"] = (out["return_rate"] > 0.2) & (out["orders_365d"] >= 3)
    out["digital_native"] = out["online_share"] >= 0.8
    out["vip_at_risk"] = out["vip"] & out["churn_risk"]


def add_scores(out: pd.DataFrame, model_score: pd.Series) -> None:
    out["r_score"] = ntile(out["recency"], 5, descending=True)
    out["f_score"] = ntile(out["orders_365d"], 5)
    out["m_score"] = ntile(out["spend_365d"], 5)
    out["rfm_cell"] = out["r_score"] * 100 + out["f_score"] * 10 + out["m_score"]
    out["model_decile"] = ntile(model_score, 10, descending=True)
    top = (out[["r_score", "f_score", "m_score"]] >= 4).all(axis=1)
    out["champion"] = top & out["r_score"].notna()


def add_segments(out: pd.DataFrame) -> None:
    tenure, recency, spend = out["tenure_days"], out["recency"], out["spend_365d"]
    out["lifecycle"] = np.select(
        [tenure <= 30, recency <= 90, recency <= 180, recency.notna()],
        ["new", "active", "lapsing", "lost"],
        default="never_purchased",
    )
    out["value_tier"] = np.select(
        [spend >= 10_000_00, spend >= 3_000_00, spend > 0],  # cents
        ["gold", "silver", "bronze"],
        "none",
    )


def ntile(x: pd.Series, n: int, descending: bool = False) -> pd.Series:
    """SQL NTILE over the rows with a known x, ties by row order (= customer_id order);
    nullable Int64, missing where x is."""
    pos = x.rank(method="first", ascending=not descending) - 1  # NaN stays NaN
    m = int(x.notna().sum())
    size, extra = divmod(m, n)
    big = extra * (size + 1)
    bucket = np.where(pos < big, pos // (size + 1), extra + (pos - big) // max(size, 1)) + 1
    return pd.Series(bucket, index=x.index).astype("Int64")


def yuan(cents: str) -> pl.Expr:
    """Whole cents as an exact decimal with two places."""
    return pl.col(cents).cast(pl.Decimal(38, 2)) / 100


SCHEMA_FIXES = {
    "tenure_days": pl.Int64,
    "recency": pl.Int64,
    "first_order": pl.Date,
    "last_order": pl.Date,
}


def to_polars(df: pd.DataFrame) -> pl.DataFrame:
    """Polars with tagengine's dtypes: NaN -> null, datetimes -> dates, whole numbers,
    cents -> decimals (sums keep SQL's 38 digits, a single amount its own 12)."""
    cents = {"spend_90d": 38, "spend_365d": 38, "max_order_365d": 12}
    return pl.from_pandas(df, nan_to_null=True).with_columns(
        *(pl.col(c).cast(t) for c, t in SCHEMA_FIXES.items()),
        *(yuan(c).cast(pl.Decimal(p, 2)) for c, p in cents.items()),
    )
