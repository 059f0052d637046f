"""Deterministic, seeded retail example data (customers + orders) for demos and tests.

Every value comes from ``numpy.random.default_rng(seed)`` (never global state, never the
clock), so the same arguments give identical frames on any machine. To keep that promise
across platforms the generator only uses integer and uniform draws plus basic IEEE
arithmetic (``+ - * / sqrt floor rint``), which are exactly reproducible; distributions
whose samplers call libm (``exp``/``log``/``pow``, e.g. ``rng.geometric``) are avoided,
because libm results may differ in the last bit between platforms.

The data deliberately plants edge cases a rule engine must handle: nulls in most columns,
a few NaN credit scores, customers without orders, orders dated after ``as_of`` and orders
exactly on ``as_of`` and exactly 90 days before it.
"""

from __future__ import annotations

import datetime
import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from tagengine import output

__all__ = ["CUSTOMERS_SCHEMA", "FORMATS", "ORDERS_SCHEMA", "generate", "write"]

CUSTOMERS_SCHEMA = pl.Schema(
    {
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
)
ORDERS_SCHEMA = pl.Schema(
    {
        "order_id": pl.Int64,
        "customer_id": pl.Int64,
        "order_date": pl.Date,
        "amount": pl.Decimal(12, 2),  # money: exact to the cent (DESIGN §3.6)
        "category": pl.String,
        "channel": pl.String,
        "returned": pl.Boolean,
    }
)

#: Output format -> file extension.
FORMATS: dict[str, str] = {"parquet": "parquet", "csv": "csv", "ndjson": "ndjson", "ipc": "arrow"}

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_SIGNUP_START = datetime.date(2019, 1, 1)
_ORDER_WINDOW_DAYS = 730  # "the 2 years ending on as_of", as_of inclusive
_BOUNDARY_DAYS = 90  # a typical "last 90 days" rule window
_FUTURE_MAX_DAYS = 30

# (value, pinyin) pairs so that e-mail addresses match names.
_SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
    ("郭", "guo"), ("何", "he"), ("林", "lin"), ("高", "gao"), ("罗", "luo"),
)  # fmt: skip
_GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"),
    ("明", "ming"), ("超", "chao"), ("秀", "xiu"), ("霞", "xia"), ("平", "ping"),
    ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"), ("玲", "ling"),
    ("建", "jian"), ("文", "wen"), ("辉", "hui"), ("晨", "chen"), ("宇", "yu"),
)  # fmt: skip
_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com")
_CITIES = (
    ("北京", 0.10), ("上海", 0.11), ("广州", 0.08), ("深圳", 0.08),
    ("成都", 0.07), ("杭州", 0.07), ("武汉", 0.06), ("西安", 0.05), ("南京", 0.05),
    ("重庆", 0.06), ("苏州", 0.05), ("天津", 0.05), ("长沙", 0.05), ("郑州", 0.06),
    ("沈阳", 0.06),
)  # fmt: skip
_MEMBER_LEVELS = (("普通", 0.62), ("银卡", 0.23), ("金卡", 0.11), ("钻石", 0.04))
_CATEGORIES = (
    ("服装", 0.20), ("数码", 0.12), ("食品", 0.22), ("美妆", 0.12),
    ("家居", 0.12), ("母婴", 0.08), ("图书", 0.07), ("运动", 0.07),
)  # fmt: skip
_CHANNELS = (("online", 0.45), ("store", 0.25), ("app", 0.30))
_PHONE_SECOND_DIGIT = np.array([3, 5, 7, 8, 9], dtype=np.int64)

# Rates of "about this share" nulls / flags, drawn per row.
_NULL_RATE = {
    "gender": 0.03,
    "age": 0.05,
    "city": 0.02,
    "email": 0.10,
    "phone": 0.05,
    "opt_in_sms": 0.05,
    "credit_score": 0.08,
    "churn_model_score": 0.02,
}
_NO_ORDER_RATE = 0.10
_MEAN_ORDERS_IF_BUYER = 9.5  # ~8 orders per customer overall after tenure scaling
_RETURN_RATE = 0.07
_LARGE_AMOUNT_RATE = 0.002
# Exact counts for planted rows (capped by the rows available).
_CREDIT_NAN_ROWS = 5
_AMOUNT_NULL_ROWS = 6
_BOUNDARY_ROWS = 3  # extra rows forced onto as_of and onto as_of - 90 each
_MIN_FUTURE_ROWS = 3
_FUTURE_SHARE = 1 / 1000

# One independent stream per purpose, so changing how one part is drawn does not
# reshuffle the others. Append new names at the end only (spawn order is positional).
_STREAMS = ("customers", "order_counts", "orders", "edge_cases", "churn")


def generate(
    customers: int = 5000,
    seed: int = 7,
    as_of: datetime.date = datetime.date(2024, 12, 31),
) -> dict[str, pl.DataFrame]:
    """Build ``{"customers", "orders"}`` frames, sorted by key, identical for equal arguments."""
    if customers < 0:
        raise ValueError(f"customers must be >= 0, got {customers}")
    root = np.random.default_rng(seed)
    rng = dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))
    as_of_day = _day(as_of)
    signup_day = _signup_days(rng["customers"], customers, as_of_day)
    first_allowed = np.maximum(signup_day, as_of_day - _ORDER_WINDOW_DAYS + 1)
    counts = _order_counts(rng["order_counts"], as_of_day + 1 - first_allowed)
    cust_idx = np.repeat(np.arange(customers, dtype=np.int64), counts)
    order_day = rng["orders"].integers(first_allowed[cust_idx], as_of_day + 1)
    churn = _churn_scores(rng["churn"], counts, order_day, as_of_day)
    _plant_date_edges(rng["edge_cases"], order_day, first_allowed[cust_idx], as_of_day)
    cust_idx, order_day = _sort_orders(cust_idx, order_day, as_of_day)
    return {
        "customers": _customers_frame(rng["customers"], signup_day, churn),
        "orders": _orders_frame(rng["orders"], rng["edge_cases"], cust_idx, order_day),
    }


def write(
    directory: pathlib.Path, tables: dict[str, pl.DataFrame], fmt: str = "parquet"
) -> list[pathlib.Path]:
    """Write each table to ``directory/<name>.<ext>`` atomically; return the paths.

    Readers never see a half-written file: data goes to a hidden temporary file in the
    same directory (same filesystem), is fsynced, then ``os.replace``-d over the target.
    NDJSON has no NaN literal, so Polars writes NaN floats there as null; and it has no
    decimals, so amounts are written as JSON numbers (declare them `decimal(2)` in the
    project file to read them back exactly).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    for name in tables:
        _check_table_name(name)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = directory / f"{name}.{FORMATS[fmt]}"
        if fmt == "ndjson":  # Polars would write decimals as JSON strings
            frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
        output.atomic_write(path, _writer(frame, fmt))
        paths.append(path)
    return paths


# --- customers ------------------------------------------------------------------------


def _customers_frame(
    rng: np.random.Generator, signup_day: np.ndarray, churn: np.ndarray
) -> pl.DataFrame:
    """Assemble the customers table; column order and dtypes follow CUSTOMERS_SCHEMA."""
    n = len(signup_day)
    ids = np.arange(1, n + 1, dtype=np.int64)
    name, pinyin = _names(rng, n)
    columns: dict[str, pl.Series] = {
        "customer_id": pl.Series(ids, dtype=pl.Int64),
        "name": name,
        "gender": _pick(rng, (("F", 0.52), ("M", 0.48)), n),
        "age": pl.Series(_ages(rng, n), dtype=pl.Int32),
        "city": _pick(rng, _CITIES, n),
        "signup_date": _dates(signup_day),
        "member_level": _pick(rng, _MEMBER_LEVELS, n),
        "email": _emails(rng, pinyin, ids),
        "phone": _phones(rng, n),
        "opt_in_sms": pl.Series(rng.random(n) < 0.6, dtype=pl.Boolean),
        "credit_score": pl.Series(_credit_scores(rng, n), dtype=pl.Float64),
        "churn_model_score": pl.Series(churn, dtype=pl.Float64),
    }
    for col, rate in _NULL_RATE.items():
        columns[col] = _null_where(columns[col], rng.random(n) < rate)
    columns["credit_score"] = _plant_nan(rng, columns["credit_score"], _CREDIT_NAN_ROWS)
    return pl.DataFrame([s.alias(c) for c, s in columns.items()], schema=CUSTOMERS_SCHEMA)


def _signup_days(rng: np.random.Generator, n: int, as_of_day: int) -> np.ndarray:
    """Uniform over [2019-01-01, as_of]; about 1.4% fall in the last 30 days by default."""
    start = min(_day(_SIGNUP_START), as_of_day - 365)
    return rng.integers(start, as_of_day + 1, size=n, dtype=np.int64)


def _names(rng: np.random.Generator, n: int) -> tuple[pl.Series, pl.Series]:
    """Surname + one or two given characters, with the matching pinyin for e-mails."""
    surname = rng.integers(0, len(_SURNAMES), size=n)
    given1 = rng.integers(0, len(_GIVEN), size=n)
    # Index len(_GIVEN) selects the empty string: a one-character given name (~30%).
    given2 = np.where(rng.random(n) < 0.3, len(_GIVEN), rng.integers(0, len(_GIVEN), size=n))
    parts = []
    for field in (0, 1):
        s = pl.Series([p[field] for p in _SURNAMES]).gather(surname)
        g = pl.Series([p[field] for p in _GIVEN] + [""])
        parts.append(pl.concat_str([s, g.gather(given1), g.gather(given2)], separator=""))
    return pl.select(parts[0]).to_series(), pl.select(parts[1]).to_series()


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ages 16..80 with a triangular-ish shape peaking in the early thirties."""
    ages = np.arange(16, 81)
    weights = np.minimum(ages - 15, (81 - ages) * 0.4).astype(np.float64)
    return rng.choice(ages, size=n, p=weights / weights.sum()).astype(np.int32)


def _emails(rng: np.random.Generator, pinyin: pl.Series, ids: np.ndarray) -> pl.Series:
    """ASCII ``<pinyin><id>@<domain>``; the id keeps addresses unique."""
    domain = pl.Series(_EMAIL_DOMAINS).gather(rng.integers(0, len(_EMAIL_DOMAINS), size=len(ids)))
    expr = pl.concat_str([pinyin, pl.Series(ids).cast(pl.String), pl.lit("@"), domain])
    return pl.select(expr).to_series()


def _phones(rng: np.random.Generator, n: int) -> pl.Series:
    """11-digit mobile numbers ``1[35789]xxxxxxxxx``, built as integers to skip padding."""
    second = _PHONE_SECOND_DIGIT[rng.integers(0, len(_PHONE_SECOND_DIGIT), size=n)]
    number = 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, size=n)
    return pl.Series(number, dtype=pl.Int64).cast(pl.String)


def _credit_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    """Whole-number scores in 300..850, mean ~680, via sqrt of an Irwin-Hall mean."""
    v = rng.random((3, n)).mean(axis=0)
    return np.rint(300.0 + 550.0 * np.sqrt(v))


def _churn_scores(
    rng: np.random.Generator, counts: np.ndarray, order_day: np.ndarray, as_of_day: int
) -> np.ndarray:
    """A plausible model score in [0, 1): higher for long-inactive or order-less customers."""
    n = len(counts)
    recency = np.ones(n)
    buyers = counts > 0
    if buyers.any():
        starts = (np.cumsum(counts) - counts)[buyers]
        last = np.maximum.reduceat(order_day, starts)
        recency[buyers] = np.minimum(as_of_day - last, 365) / 365.0
    return np.round(0.65 * recency + 0.35 * rng.random(n), 4)


# --- orders ---------------------------------------------------------------------------


def _order_counts(rng: np.random.Generator, active_days: np.ndarray) -> np.ndarray:
    """~10% zero; the rest geometric on 1, 2, ... via an inverse-CDF table.

    Counts shrink in proportion for customers active under a year, so a brand-new
    member does not get a year's worth of orders crammed into a few days.
    """
    n = len(active_days)
    q = 1.0 - 1.0 / _MEAN_ORDERS_IF_BUYER
    cdf = 1.0 - np.cumprod(np.full(400, q))  # P(k <= j + 1); the tail past 400 is ~1e-21
    k = np.searchsorted(cdf, rng.random(n), side="right") + 1
    k = np.ceil(k * (np.minimum(active_days, 365) / 365.0)).astype(np.int64)
    return np.where(rng.random(n) < _NO_ORDER_RATE, 0, k)


def _plant_date_edges(
    rng: np.random.Generator, order_day: np.ndarray, first_allowed: np.ndarray, as_of_day: int
) -> None:
    """Force a few rows (in place) onto as_of - 90, onto as_of, and after as_of.

    Natural draws already hit both boundary days for large data; planting guarantees
    them for small runs. Rows moved to as_of - 90 stay on or after the signup date.
    """
    m = len(order_day)
    if m == 0:
        return
    boundary = as_of_day - _BOUNDARY_DAYS
    eligible = np.flatnonzero(first_allowed <= boundary)
    on_boundary = rng.choice(eligible, size=min(_BOUNDARY_ROWS, len(eligible)), replace=False)
    order_day[on_boundary] = boundary
    free = np.ones(m, dtype=bool)
    free[on_boundary] = False
    rest = np.flatnonzero(free)
    n_future = min(max(_MIN_FUTURE_ROWS, round(m * _FUTURE_SHARE)), len(rest))
    n_as_of = min(_BOUNDARY_ROWS, len(rest) - n_future)
    picked = rng.choice(rest, size=n_future + n_as_of, replace=False)
    order_day[picked[:n_as_of]] = as_of_day
    future = picked[n_as_of:]
    order_day[future] = as_of_day + rng.integers(1, _FUTURE_MAX_DAYS + 1, size=len(future))


def _orders_frame(
    rng: np.random.Generator, edges: np.random.Generator, cust_idx: np.ndarray, day: np.ndarray
) -> pl.DataFrame:
    """Draw per-order attributes for rows already in (customer, date) order; number them."""
    m = len(cust_idx)
    amount = pl.Series(_amount_cents(rng, m) / 100.0, dtype=pl.Float64)
    frame = pl.DataFrame(
        {
            "customer_id": pl.Series(cust_idx + 1, dtype=pl.Int64),
            "order_date": _dates(day),
            "amount": _plant_null(edges, amount, _AMOUNT_NULL_ROWS)
            .round(2)
            .cast(pl.Decimal(12, 2)),
            "category": _pick(rng, _CATEGORIES, m),
            "channel": _pick(rng, _CHANNELS, m),
            "returned": pl.Series(rng.random(m) < _RETURN_RATE, dtype=pl.Boolean),
        }
    )
    order_id = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("order_id")
    return frame.select(order_id, *ORDERS_SCHEMA.names()[1:])


def _sort_orders(
    cust_idx: np.ndarray, day: np.ndarray, as_of_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order rows by (customer, date) by sorting one packed integer key.

    Rows carry nothing else yet (attributes are i.i.d. and drawn afterwards), so equal
    keys are interchangeable and the result cannot depend on the sort algorithm. This is
    several times faster than a two-column Polars sort for millions of rows.
    """
    base = as_of_day - _ORDER_WINDOW_DAYS + 1  # earliest possible order day
    key = np.sort((cust_idx << 16) | (day - base))  # offsets < 760 fit in 16 bits
    return key >> 16, base + (key & 0xFFFF)


def _amount_cents(rng: np.random.Generator, m: int) -> np.ndarray:
    """Right-skewed cents: 10..2000 yuan via u**3 (median ~259), ~0.2% large up to 50000."""
    u = rng.random(m)
    regular = 10.0 + 1990.0 * (u * u * u)
    w = rng.random(m)
    large = 2000.0 + 48000.0 * (w * w)
    yuan = np.where(rng.random(m) < _LARGE_AMOUNT_RATE, large, regular)
    return np.floor(yuan * 100.0).astype(np.int64)


# --- shared helpers -------------------------------------------------------------------


def _day(d: datetime.date) -> int:
    """Days since 1970-01-01, Polars' physical Date representation."""
    return d.toordinal() - _EPOCH_ORDINAL


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32), dtype=pl.Int32).cast(pl.Date)


def _pick(rng: np.random.Generator, weighted: Sequence[tuple[str, float]], n: int) -> pl.Series:
    """Draw n labels with the given weights (normalised, so they need not sum to 1)."""
    p = np.array([w for _, w in weighted], dtype=np.float64)
    idx = rng.choice(len(weighted), size=n, p=p / p.sum())
    return pl.Series([label for label, _ in weighted], dtype=pl.String).gather(idx)


def _null_where(series: pl.Series, mask: np.ndarray) -> pl.Series:
    return series.scatter(np.flatnonzero(mask), None)


def _plant_null(rng: np.random.Generator, series: pl.Series, count: int) -> pl.Series:
    """Null exactly min(count, len) rows chosen at random."""
    rows = rng.choice(len(series), size=min(count, len(series)), replace=False)
    return series.scatter(rows, None)


def _plant_nan(rng: np.random.Generator, series: pl.Series, count: int) -> pl.Series:
    """Put NaN into exactly min(count, non-null rows) rows, distinct from the nulls."""
    candidates = np.flatnonzero(series.is_not_null().to_numpy())
    rows = rng.choice(candidates, size=min(count, len(candidates)), replace=False)
    return series.scatter(rows, float("nan"))


def _check_table_name(name: str) -> None:
    """Names become file names: refuse anything that could leave the directory or hide."""
    if not name or name.startswith(".") or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"invalid table name {name!r}")


def _writer(frame: pl.DataFrame, fmt: str) -> Callable[[pathlib.Path], object]:
    methods: dict[str, Callable[[pathlib.Path], object]] = {
        "parquet": frame.write_parquet,
        "csv": frame.write_csv,
        "ndjson": frame.write_ndjson,
        "ipc": frame.write_ipc,
    }
    return methods[fmt]
