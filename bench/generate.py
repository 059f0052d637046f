"""Seeded retail benchmark data: `bench/data/<size>/customers.parquet` and `orders.parquet`.

    python bench/generate.py --size 1m          # tiny | 1m | 5m | 20m

Sizes are numbers of customers; orders average about ten per customer, skewed: some
customers never order, most order a handful of times, a small tail orders hundreds of
times. Order dates cover the two years ending on AS_OF (2024-12-31); about 0.1% fall
after it and must be invisible to every engine.

Memory: customers are drawn in one go (5M rows is a few hundred MiB); orders are drawn
as (customer, day) pairs, sorted by day once (so the file is in time order, like an
append-only orders table), then their other columns are drawn and written chunk by
chunk, so 5M customers / ~50M orders peak at about 2 GiB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

AS_OF = dt.date(2024, 12, 31)
SIZES = {"tiny": 2_000, "1m": 1_000_000, "5m": 5_000_000, "20m": 20_000_000}
DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20241231

ORDER_WINDOW_DAYS = 730
FUTURE_SHARE = 0.001  # orders dated after as_of
ORDER_CHUNK = 5_000_000  # orders drawn and written per row group batch

# city -> province; 北京/上海 are their own provinces (municipalities).
CITIES = {
    "北京": ("北京", 0.10), "上海": ("上海", 0.11), "广州": ("广东", 0.08),
    "深圳": ("广东", 0.08), "成都": ("四川", 0.07), "杭州": ("浙江", 0.07),
    "武汉": ("湖北", 0.06), "西安": ("陕西", 0.05), "南京": ("江苏", 0.05),
    "重庆": ("重庆", 0.06), "苏州": ("江苏", 0.05), "天津": ("天津", 0.05),
    "长沙": ("湖南", 0.05), "郑州": ("河南", 0.06), "沈阳": ("辽宁", 0.06),
}  # fmt: skip
MEMBER_LEVELS = {"普通": 0.62, "银卡": 0.23, "金卡": 0.11, "钻石": 0.04}
CATEGORIES = {
    "服装": 0.20, "数码": 0.12, "食品": 0.22, "美妆": 0.12,
    "家居": 0.12, "母婴": 0.08, "图书": 0.07, "运动": 0.07,
}  # fmt: skip
CHANNELS = {"online": 0.45, "store": 0.25, "app": 0.30}

# Share of missing values per customer column; NaN is planted too (it counts as missing).
NULL_RATE = {
    "gender": 0.03,
    "age": 0.05,
    "city": 0.02,
    "is_vip": 0.01,
    "phone": 0.04,
    "model_score": 0.05,
}
MODEL_SCORE_NAN_RATE = 0.0005
AMOUNT_NULL_RATE = 0.001

_EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01: Polars' and Arrow's physical Date."""
    return (d - _EPOCH).days


def data_dir(size: str) -> Path:
    return DATA_DIR / size


def ensure(size: str, seed: int = SEED) -> Path:
    """The data directory for `size`, generated first if either file is missing."""
    out = data_dir(size)
    if not all((out / f"{t}.parquet").is_file() for t in ("customers", "orders")):
        generate(size, seed)
    return out


def generate(size: str, seed: int = SEED) -> Path:
    n = SIZES[size]
    out = data_dir(size)
    out.mkdir(parents=True, exist_ok=True)
    # Separate streams so that changing one table's draws leaves the other unchanged.
    rng_customers, rng_counts, rng_orders = np.random.default_rng(seed).spawn(3)
    signup = signup_days(rng_customers, n)
    _write_atomic(customers_frame(rng_customers, signup), out / "customers.parquet")
    cust_idx, day = order_keys(rng_counts, signup)
    write_orders(rng_orders, cust_idx, day, out / "orders.parquet")
    return out


# ---- customers -------------------------------------------------------------


def signup_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform over 2015-01-01..as_of: about 1% signed up in the last 30 days."""
    return rng.integers(day_number(dt.date(2015, 1, 1)), day_number(AS_OF) + 1, size=n)


def customers_frame(rng: np.random.Generator, signup: np.ndarray) -> pl.DataFrame:
    n = len(signup)
    city_names = list(CITIES)
    city_idx = pick(rng, [w for _, w in CITIES.values()], n)
    score = np.round(rng.beta(2.0, 5.0, size=n), 4)
    # at least a few NaN even in tiny data: every engine must treat them as missing
    score[rng.choice(n, size=max(3, int(n * MODEL_SCORE_NAN_RATE)), replace=False)] = np.nan
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "gender": labels(["F", "M"], rng.integers(0, 2, size=n)),
            "age": pl.Series(rng.integers(16, 81, size=n), dtype=pl.Int32),
            "city": labels(city_names, city_idx),
            "province": labels([CITIES[c][0] for c in city_names], city_idx),
            "signup_date": pl.Series(signup.astype(np.int32)).cast(pl.Date),
            "member_level": labels(list(MEMBER_LEVELS), pick(rng, MEMBER_LEVELS.values(), n)),
            "is_vip": rng.random(n) < 0.08,
            "phone": phones(rng, n),
            "model_score": score,
        }
    )
    nulls = {c: rng.random(n) < rate for c, rate in NULL_RATE.items()}
    nulls["province"] = nulls["city"]  # no city, no province
    return frame.with_columns(
        pl.when(pl.Series(mask)).then(None).otherwise(pl.col(c)).alias(c)
        for c, mask in nulls.items()
    )


def phones(rng: np.random.Generator, n: int) -> pl.Series:
    """Mostly 11-digit mobiles `1[3-9]xxxxxxxxx`; 10% landlines like `010-12345678`."""
    mobile = 10_000_000_000 + rng.integers(3, 10, size=n) * 1_000_000_000
    mobile += rng.integers(0, 1_000_000_000, size=n)
    landline = rng.integers(10_000_000, 100_000_000, size=n)
    is_mobile = pl.Series(rng.random(n) >= 0.10)
    return pl.select(
        pl.when(is_mobile)
        .then(pl.Series(mobile).cast(pl.String))
        .otherwise(pl.lit("010-") + pl.Series(landline).cast(pl.String))
    ).to_series()


# ---- orders ----------------------------------------------------------------


def order_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Negative binomial (mean 10, ~15% zero, long right tail) plus 0.05% heavy buyers
    with 100-1000 orders each."""
    shape, mean = 0.7, 9.7
    counts = rng.negative_binomial(shape, shape / (shape + mean), size=n)
    heavy = rng.random(n) < 0.0005
    counts[heavy] = rng.integers(100, 1001, size=int(heavy.sum()))
    return counts.astype(np.int64)


def order_keys(rng: np.random.Generator, signup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of every order, sorted by day.

    Each customer buys uniformly between max(signup, window start) and an end day:
    60% are still active (end = as_of), the others stopped at a random point, which
    spreads recency over the whole two years."""
    n = len(signup)
    as_of = day_number(AS_OF)
    start = np.maximum(signup, as_of - ORDER_WINDOW_DAYS + 1)
    stopped = rng.random(n) >= 0.6
    end = np.where(stopped, start + ((as_of - start) * rng.random(n)).astype(np.int64), as_of)
    counts = order_counts(rng, n)
    cust_idx = np.repeat(np.arange(n, dtype=np.int64), counts)
    lo, hi = start[cust_idx], end[cust_idx]
    day = lo + (rng.random(len(cust_idx)) * (hi - lo + 1)).astype(np.int64)
    del lo, hi
    future = rng.random(len(day)) < FUTURE_SHARE
    day[future] = as_of + rng.integers(1, 31, size=int(future.sum()))
    order = np.argsort(day, kind="stable")
    return cust_idx[order], day[order].astype(np.int32)


def write_orders(rng: np.random.Generator, cust_idx: np.ndarray, day: np.ndarray, path: Path):
    """Draw the remaining columns chunk by chunk and append them as row groups."""
    tmp = path.with_name(f".{path.name}.tmp")
    writer = None
    try:
        for lo in range(0, max(len(day), 1), ORDER_CHUNK):
            hi = min(lo + ORDER_CHUNK, len(day))
            table = orders_chunk(rng, lo, cust_idx[lo:hi], day[lo:hi]).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=1_000_000)
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise


def orders_chunk(
    rng: np.random.Generator, first_id: int, cust_idx: np.ndarray, day: np.ndarray
) -> pl.DataFrame:
    m = len(day)
    # Log-normal amounts (median ~150, long right tail), to the cent: stored as
    # decimal(12,2), as a warehouse's NUMERIC column arrives, so every engine sums exactly.
    amount = np.round(np.maximum(rng.lognormal(np.log(150.0), 1.0, size=m), 1.0), 2)
    amount[rng.random(m) < AMOUNT_NULL_RATE] = np.nan
    return pl.DataFrame(
        {
            "order_id": np.arange(first_id + 1, first_id + m + 1, dtype=np.int64),
            "customer_id": cust_idx + 1,
            "order_date": pl.Series(day, dtype=pl.Int32).cast(pl.Date),
            # a missing amount is null; the float -> decimal cast of a value already
            # rounded to the cent is exact
            "amount": pl.Series(amount).fill_nan(None).cast(pl.Decimal(12, 2)),
            "category": labels(list(CATEGORIES), pick(rng, CATEGORIES.values(), m)),
            "channel": labels(list(CHANNELS), pick(rng, CHANNELS.values(), m)),
            "returned": rng.random(m) < 0.07,
        }
    )


# ---- helpers ---------------------------------------------------------------


def pick(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    p = np.fromiter(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def labels(values: list[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(idx)


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    out = generate(args.size, args.seed)
    for table in ("customers", "orders"):
        rows = pl.scan_parquet(out / f"{table}.parquet").select(pl.len()).collect().item()
        print(f"{out / table}.parquet: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
