"""bench/workload.tags written by hand in idiomatic lazy Polars: the yardstick.

One scan per table, one group_by over the visible orders, one join, then the derived
columns in dependency order. This is what a good engineer would write without tagengine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from workload_spec import COASTAL, MOBILE, NEW_TIER1, OUTPUT, PREMIUM, TIER1

COUNTS = ["orders_90d", "orders_365d", "categories_365d", "returned_365d", "online_365d"]
SUMS = ["spend_90d", "spend_365d"]


def evaluate(data_dir: Path, as_of: dt.date, engine: str = "auto") -> pl.DataFrame:
    return plan(data_dir, as_of).collect(engine=engine)  # type: ignore[arg-type]


def plan(data_dir: Path, as_of: dt.date, stats=None, rules=None) -> pl.LazyFrame:
    """The whole query; `stats` and `rules` replace order_stats and add_rules (for the
    ablations of bench/experiments.py)."""
    data_dir = Path(data_dir)
    customers = pl.scan_parquet(data_dir / "customers.parquet")
    orders = pl.scan_parquet(data_dir / "orders.parquet")
    profile = (
        customers.join((stats or order_stats)(orders, as_of), on="customer_id", how="left")
        .with_columns(pl.col(COUNTS).fill_null(0), pl.col(SUMS).fill_null(0))
        .sort("customer_id")  # ntile breaks ties by row order, so key order first
    )
    return profile.pipe(rules or add_rules, as_of).select(OUTPUT)


def order_stats(orders: pl.LazyFrame, as_of: dt.date, window_start=None) -> pl.LazyFrame:
    """All per-customer aggregates in one pass; orders after as_of never enter.
    `window_start(as_of, days)` replaces the window starts computed here (for the
    ablations of bench/experiments.py)."""
    start = window_start or (lambda day, days: day - dt.timedelta(days=days))
    date, amount = pl.col("order_date"), pl.col("amount")
    in90 = date > start(as_of, 90)
    in365 = date > start(as_of, 365)
    kept = ~pl.col("returned")
    return (
        orders.filter(date <= as_of)
        .group_by("customer_id")
        .agg(
            spend_90d=amount.filter(in90 & kept).sum(),
            spend_365d=amount.filter(in365 & kept).sum(),
            orders_90d=in90.sum().cast(pl.Int64),
            orders_365d=in365.sum().cast(pl.Int64),
            first_order=date.min(),
            last_order=date.max(),
            avg_order_value=amount.filter(in365 & kept).mean(),
            max_order_365d=amount.filter(in365).max(),
            categories_365d=pl.col("category").filter(in365).drop_nulls().n_unique(),
            returned_365d=(in365 & pl.col("returned")).sum(),
            online_365d=(in365 & (pl.col("channel") != "store")).sum(),
        )
        .with_columns(pl.col("categories_365d", "returned_365d", "online_365d").cast(pl.Int64))
    )


def add_rules(lf: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Tags, scores and segments, stage by stage; a tag is false where its condition is
    unknown. Ranks get a stage of their own: referenced three times inside one NTILE
    expression, the default (streaming) engine would sort three times."""
    score = pl.col("model_score").fill_nan(None)  # NaN is missing, and Polars sorts it last
    lf = lf.with_columns(
        tag("female", pl.col("gender") == "F"),
        tag("male", pl.col("gender") == "M"),
        tag("young", pl.col("age").is_between(18, 24)),
        tag("middle_aged", pl.col("age").is_between(35, 54)),
        tag("senior", pl.col("age") >= 55),
        tag("tier1_city", pl.col("city").is_in(TIER1)),
        tag("new_tier1_city", pl.col("city").is_in(NEW_TIER1)),
        tag("coastal", pl.col("province").is_in(COASTAL)),
        tag("vip", pl.col("is_vip")),
        tag("premium_member", pl.col("member_level").is_in(PREMIUM)),
        tag("valid_mobile", pl.col("phone").str.contains(MOBILE)),
        tag("likely_responder", score >= 0.6),
        tenure_days=(pl.lit(as_of) - pl.col("signup_date")).dt.total_days(),
        recency=(pl.lit(as_of) - pl.col("last_order")).dt.total_days(),
        return_rate=share("returned_365d", "orders_365d"),
        online_share=share("online_365d", "orders_365d"),
        model_pos=position(score, descending=True),
    )
    lf = lf.with_columns(
        tag("high_value", pl.col("spend_90d") > 3000),
        tag("frequent_buyer", pl.col("orders_365d") >= 12),
        tag("churn_risk", (pl.col("recency") > 180) & (pl.col("orders_365d") >= 2)),
        tag("sleeping", pl.col("recency") > 365),
        tag("never_purchased", pl.col("last_order").is_null()),
        tag("frequent_returner", (pl.col("return_rate") > 0.2) & (pl.col("orders_365d") >= 3)),
        tag("digital_native", pl.col("online_share") >= 0.8),
        r_pos=position(pl.col("recency"), descending=True),
        f_pos=position(pl.col("orders_365d")),
        m_pos=position(pl.col("spend_365d")),
        model_decile=ntile(pl.col("model_pos"), 10),
        lifecycle=pl.when(pl.col("tenure_days") <= 30)
        .then(pl.lit("new"))
        .when(pl.col("recency") <= 90)
        .then(pl.lit("active"))
        .when(pl.col("recency") <= 180)
        .then(pl.lit("lapsing"))
        .when(pl.col("recency").is_not_null())
        .then(pl.lit("lost"))
        .otherwise(pl.lit("never_purchased")),
        value_tier=pl.when(pl.col("spend_365d") >= 10_000)
        .then(pl.lit("gold"))
        .when(pl.col("spend_365d") >= 3_000)
        .then(pl.lit("silver"))
        .when(pl.col("spend_365d") > 0)
        .then(pl.lit("bronze"))
        .otherwise(pl.lit("none")),
    )
    lf = lf.with_columns(
        tag("vip_at_risk", pl.col("vip") & pl.col("churn_risk")),
        r_score=ntile(pl.col("r_pos"), 5),
        f_score=ntile(pl.col("f_pos"), 5),
        m_score=ntile(pl.col("m_pos"), 5),
    )
    r, f, m = pl.col("r_score"), pl.col("f_score"), pl.col("m_score")
    return lf.with_columns(
        rfm_cell=r * 100 + f * 10 + m,
        champion=((r >= 4) & (f >= 4) & (m >= 4)).fill_null(False),
    )


def tag(name: str, condition: pl.Expr) -> pl.Expr:
    return condition.fill_null(False).alias(name)


def share(part: str, whole: str) -> pl.Expr:
    """part / whole, missing when whole is 0 (a customer without orders in the window)."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))


def position(x: pl.Expr, descending: bool = False) -> pl.Expr:
    """0-based place in (x, customer_id) order; missing where x is. The frame is sorted
    by customer_id, and an ordinal rank numbers ties in row order, so ties go by key."""
    return x.rank("ordinal", descending=descending).cast(pl.Int64) - 1


def ntile(pos: pl.Expr, n: int) -> pl.Expr:
    """SQL NTILE(n) from the positions of the customers with a known value: the first
    m % n buckets hold one customer more."""
    m = pos.count().cast(pl.Int64)
    size, extra = m // n, m % n
    big = extra * (size + 1)  # customers in the larger buckets
    small = (pos - big) // pl.max_horizontal(size, 1)
    return pl.when(pos < big).then(pos // (size + 1)).otherwise(extra + small) + 1
