"""Deterministic, seeded retail example data (customers + orders) for demos and tests.

Needs nothing but Polars (`pip install tagengine` brings no numpy). Every value comes
from `_Stream`s of uniform draws, the i-th draw of a stream a hash of (seed, the
stream's name, i) computed with exact integer arithmetic: never global state, never the
clock. Draws become values through basic IEEE arithmetic only (``+ - * / sqrt floor
ceil``), which is exactly reproducible, so the same arguments give identical frames on
any machine; functions whose results may differ in the last bit between platforms
(``exp``/``log``/``pow``) are avoided.

The data deliberately plants edge cases a rule engine must handle: nulls in most columns,
a few NaN credit scores, customers without orders, orders dated after ``as_of`` and orders
exactly on ``as_of`` and exactly 90 days before it.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pathlib
from collections.abc import Callable, Sequence

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
        "amount": pl.Decimal(12, 2),  # money: exact to the cent (docs/semantics.md#exact-money)
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
_PHONE_SECOND_DIGIT = (3, 5, 7, 8, 9)

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
# reshuffle the others.
_STREAMS = ("customers", "order_counts", "orders", "edge_cases", "churn")

_U32 = 2**32


class _Stream:
    """Uniform draws in [0, 1) (multiples of 2**-32): the i-th is a hash of the seed, the
    stream's name and i. Only integer arithmetic that cannot overflow (every product is
    of two numbers below 2**32, in UInt64), so every platform and Polars version agrees.
    Distinct draws of one stream are distinct numbers (the hash is a bijection)."""

    def __init__(self, seed: int, name: str) -> None:
        key = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
        self._key = (int.from_bytes(key[:4], "little"), int.from_bytes(key[4:], "little"))
        self._drawn = 0

    def random(self, n: int) -> pl.Series:
        start, self._drawn = self._drawn, self._drawn + n
        i = pl.int_range(start, start + n, dtype=pl.UInt64)
        draws = pl.LazyFrame().select(
            h=(i % _U32) ^ self._key[0], high=(i // _U32 + self._key[1]) % _U32
        )
        draws = _mix32(draws).with_columns(h=pl.col("h") ^ pl.col("high"))
        return _mix32(draws).select(pl.col("h") / _U32).collect()["h"]

    def integers(self, low: int | pl.Series, high: int | pl.Series, n: int) -> pl.Series:
        """Whole numbers in [low, high) (bounds may differ per draw), as Int64."""
        span = self.random(n) * (high - low)
        return span.floor().cast(pl.Int64) + low

    def choice(self, weights: Sequence[float], n: int) -> pl.Series:
        """Indexes into `weights`, drawn with the given weights (normalised here)."""
        total, cdf, acc = sum(weights), [], 0.0
        for w in weights:
            acc += w
            cdf.append(acc / total)
        cdf[-1] = 1.0
        return pl.Series(cdf).search_sorted(self.random(n), side="right").cast(pl.Int64)

    def sample(self, rows: pl.Series, k: int) -> pl.Series:
        """`min(k, len(rows))` distinct values of `rows`, without replacement."""
        k = min(k, len(rows))
        if 8 * k < len(rows):  # few of many: draw positions until k are distinct
            picks = self.integers(0, len(rows), 4 * k).unique(maintain_order=True)
            if len(picks) >= k:
                return rows.gather(picks[:k])
        frame = pl.DataFrame({"row": rows, "u": self.random(len(rows))})
        return frame.bottom_k(k, by="u").sort("u")["row"]


def _mix32(draws: pl.LazyFrame) -> pl.LazyFrame:
    """MurmurHash3's 32-bit finaliser of column `h` (UInt64 values below 2**32)."""
    h = pl.col("h")
    for step in (
        h ^ (h // 2**16),
        (h * 0x85EBCA6B) % _U32,
        h ^ (h // 2**13),
        (h * 0xC2B2AE35) % _U32,
        h ^ (h // 2**16),
    ):
        draws = draws.with_columns(h=step)
    return draws


def generate(
    customers: int = 5000,
    seed: int = 7,
    as_of: datetime.date = datetime.date(2024, 12, 31),
) -> dict[str, pl.DataFrame]:
    """Build ``{"customers", "orders"}`` frames, sorted by key, identical for equal arguments."""
    if customers < 0:
        raise ValueError(f"customers must be >= 0, got {customers}")
    rng = {name: _Stream(seed, name) for name in _STREAMS}
    as_of_day = _day(as_of)
    signup_day = _signup_days(rng["customers"], customers, as_of_day)
    first_allowed = signup_day.clip(lower_bound=as_of_day - _ORDER_WINDOW_DAYS + 1)
    counts = _order_counts(rng["order_counts"], as_of_day + 1 - first_allowed)
    ids = pl.int_range(customers, dtype=pl.Int64, eager=True)
    cust_idx = ids.repeat_by(counts).explode().drop_nulls()  # an empty list explodes to null
    first = first_allowed.gather(cust_idx)
    order_day = rng["orders"].integers(first, as_of_day + 1, len(cust_idx))
    churn = _churn_scores(rng["churn"], customers, cust_idx, order_day, as_of_day)
    order_day = _plant_date_edges(rng["edge_cases"], order_day, first, as_of_day)
    cust_idx, order_day = _sort_orders(cust_idx, order_day)
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


def _customers_frame(rng: _Stream, signup_day: pl.Series, churn: pl.Series) -> pl.DataFrame:
    """Assemble the customers table; column order and dtypes follow CUSTOMERS_SCHEMA."""
    n = len(signup_day)
    ids = pl.int_range(1, n + 1, dtype=pl.Int64, eager=True)
    name, pinyin = _names(rng, n)
    columns: dict[str, pl.Series] = {
        "customer_id": ids,
        "name": name,
        "gender": _pick(rng, (("F", 0.52), ("M", 0.48)), n),
        "age": _ages(rng, n),
        "city": _pick(rng, _CITIES, n),
        "signup_date": _dates(signup_day),
        "member_level": _pick(rng, _MEMBER_LEVELS, n),
        "email": _emails(rng, pinyin, ids),
        "phone": _phones(rng, n),
        "opt_in_sms": rng.random(n) < 0.6,
        "credit_score": _credit_scores(rng, n),
        "churn_model_score": churn,
    }
    for col, rate in _NULL_RATE.items():
        columns[col] = _null_where(columns[col], rng.random(n) < rate)
    columns["credit_score"] = _plant_nan(rng, columns["credit_score"], _CREDIT_NAN_ROWS)
    return pl.DataFrame([s.alias(c) for c, s in columns.items()], schema=CUSTOMERS_SCHEMA)


def _signup_days(rng: _Stream, n: int, as_of_day: int) -> pl.Series:
    """Uniform over [2019-01-01, as_of]; about 1.4% fall in the last 30 days by default."""
    start = min(_day(_SIGNUP_START), as_of_day - 365)
    return rng.integers(start, as_of_day + 1, n)


def _names(rng: _Stream, n: int) -> tuple[pl.Series, pl.Series]:
    """Surname + one or two given characters, with the matching pinyin for e-mails."""
    surname = rng.integers(0, len(_SURNAMES), n)
    given1 = rng.integers(0, len(_GIVEN), n)
    # Index len(_GIVEN) selects the empty string: a one-character given name (~30%).
    one_char = rng.random(n) < 0.3
    given2 = rng.integers(0, len(_GIVEN), n).zip_with(
        ~one_char, pl.repeat(len(_GIVEN), n, dtype=pl.Int64, eager=True)
    )
    parts = []
    for field in (0, 1):
        s = pl.Series([p[field] for p in _SURNAMES]).gather(surname)
        g = pl.Series([p[field] for p in _GIVEN] + [""])
        parts.append(pl.concat_str([s, g.gather(given1), g.gather(given2)], separator=""))
    return pl.select(parts[0]).to_series(), pl.select(parts[1]).to_series()


def _ages(rng: _Stream, n: int) -> pl.Series:
    """Ages 16..80 with a triangular-ish shape peaking in the early thirties."""
    ages = range(16, 81)
    weights = [min(age - 15, (81 - age) * 0.4) for age in ages]
    return pl.Series(ages, dtype=pl.Int32).gather(rng.choice(weights, n))


def _emails(rng: _Stream, pinyin: pl.Series, ids: pl.Series) -> pl.Series:
    """ASCII ``<pinyin><id>@<domain>``; the id keeps addresses unique."""
    domain = pl.Series(_EMAIL_DOMAINS).gather(rng.integers(0, len(_EMAIL_DOMAINS), len(ids)))
    expr = pl.concat_str([pinyin, ids.cast(pl.String), pl.lit("@"), domain])
    return pl.select(expr).to_series()


def _phones(rng: _Stream, n: int) -> pl.Series:
    """11-digit mobile numbers ``1[35789]xxxxxxxxx``, built as integers to skip padding."""
    digits = pl.Series(_PHONE_SECOND_DIGIT, dtype=pl.Int64)
    second = digits.gather(rng.integers(0, len(digits), n))
    number = 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, n)
    return number.cast(pl.String)


def _credit_scores(rng: _Stream, n: int) -> pl.Series:
    """Whole-number scores in 300..850, mean ~680, via sqrt of an Irwin-Hall mean."""
    v = (rng.random(n) + rng.random(n) + rng.random(n)) / 3.0
    return (300.0 + 550.0 * v.sqrt() + 0.5).floor()


def _churn_scores(
    rng: _Stream, n: int, cust_idx: pl.Series, order_day: pl.Series, as_of_day: int
) -> pl.Series:
    """A plausible model score in [0, 1]: higher for long-inactive or order-less customers."""
    last = (
        pl.DataFrame({"customer": cust_idx, "day": order_day})
        .group_by("customer")
        .agg(pl.col("day").max())
    )
    days = pl.DataFrame({"customer": pl.int_range(n, dtype=pl.Int64, eager=True)}).join(
        last, on="customer", how="left", maintain_order="left"
    )["day"]
    recency = ((as_of_day - days).clip(upper_bound=365) / 365.0).fill_null(1.0)
    score = 0.65 * recency + 0.35 * rng.random(n)
    return (score * 10_000.0 + 0.5).floor() / 10_000.0  # four decimals


# --- orders ---------------------------------------------------------------------------


def _order_counts(rng: _Stream, active_days: pl.Series) -> pl.Series:
    """~10% zero; the rest geometric on 1, 2, ... via an inverse-CDF table.

    Counts shrink in proportion for customers active under a year, so a brand-new
    member does not get a year's worth of orders crammed into a few days.
    """
    n = len(active_days)
    q = 1.0 - 1.0 / _MEAN_ORDERS_IF_BUYER
    cdf, tail = [], 1.0
    for _ in range(400):  # P(k <= j + 1); the tail past 400 is ~1e-21
        tail *= q
        cdf.append(1.0 - tail)
    k = pl.Series(cdf).search_sorted(rng.random(n), side="right").cast(pl.Int64) + 1
    k = (k * (active_days.clip(upper_bound=365) / 365.0)).ceil().cast(pl.Int64)
    buyer = rng.random(n) >= _NO_ORDER_RATE
    return k.zip_with(buyer, pl.repeat(0, n, dtype=pl.Int64, eager=True))


def _plant_date_edges(
    rng: _Stream, order_day: pl.Series, first_allowed: pl.Series, as_of_day: int
) -> pl.Series:
    """Force a few rows onto as_of - 90, onto as_of, and after as_of.

    Natural draws already hit both boundary days for large data; planting guarantees
    them for small runs. Rows moved to as_of - 90 stay on or after the signup date.
    """
    m = len(order_day)
    if m == 0:
        return order_day
    order_day = order_day.clone()
    boundary = as_of_day - _BOUNDARY_DAYS
    eligible = (first_allowed <= boundary).arg_true()
    on_boundary = rng.sample(eligible, min(_BOUNDARY_ROWS, len(eligible)))
    order_day.scatter(on_boundary, boundary)
    free = pl.repeat(True, m, eager=True).scatter(on_boundary, False)
    rest = pl.int_range(m, dtype=pl.Int64, eager=True).filter(free)
    n_future = min(max(_MIN_FUTURE_ROWS, round(m * _FUTURE_SHARE)), len(rest))
    n_as_of = min(_BOUNDARY_ROWS, len(rest) - n_future)
    picked = rng.sample(rest, n_future + n_as_of)
    order_day.scatter(picked[:n_as_of], as_of_day)
    future = picked[n_as_of:]
    order_day.scatter(future, as_of_day + rng.integers(1, _FUTURE_MAX_DAYS + 1, len(future)))
    return order_day


def _orders_frame(
    rng: _Stream, edges: _Stream, cust_idx: pl.Series, day: pl.Series
) -> pl.DataFrame:
    """Draw per-order attributes for rows already in (customer, date) order; number them."""
    m = len(cust_idx)
    amount = _amount_cents(rng, m) / 100.0
    frame = pl.DataFrame(
        {
            "customer_id": cust_idx + 1,
            "order_date": _dates(day),
            "amount": _plant_null(edges, amount, _AMOUNT_NULL_ROWS)
            .round(2)
            .cast(pl.Decimal(12, 2)),
            "category": _pick(rng, _CATEGORIES, m),
            "channel": _pick(rng, _CHANNELS, m),
            "returned": rng.random(m) < _RETURN_RATE,
        },
        schema_overrides={"customer_id": pl.Int64},
    )
    order_id = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("order_id")
    return frame.select(order_id, *ORDERS_SCHEMA.names()[1:])


def _sort_orders(cust_idx: pl.Series, day: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Order rows by (customer, date). Rows carry nothing else yet (attributes are i.i.d.
    and drawn afterwards), so equal keys are interchangeable and the result cannot depend
    on the sort algorithm."""
    rows = pl.DataFrame({"customer": cust_idx, "day": day}).sort("customer", "day")
    return rows["customer"], rows["day"]


def _amount_cents(rng: _Stream, m: int) -> pl.Series:
    """Right-skewed cents: 10..2000 yuan via u**3 (median ~259), ~0.2% large up to 50000."""
    u = rng.random(m)
    regular = 10.0 + 1990.0 * (u * u * u)
    w = rng.random(m)
    large = 2000.0 + 48000.0 * (w * w)
    yuan = large.zip_with(rng.random(m) < _LARGE_AMOUNT_RATE, regular)
    return (yuan * 100.0).floor().cast(pl.Int64)


# --- shared helpers -------------------------------------------------------------------


def _day(d: datetime.date) -> int:
    """Days since 1970-01-01, Polars' physical Date representation."""
    return d.toordinal() - _EPOCH_ORDINAL


def _dates(days: pl.Series) -> pl.Series:
    return days.cast(pl.Int32).cast(pl.Date)


def _pick(rng: _Stream, weighted: Sequence[tuple[str, float]], n: int) -> pl.Series:
    """Draw n labels with the given weights (normalised, so they need not sum to 1)."""
    idx = rng.choice([w for _, w in weighted], n)
    return pl.Series([label for label, _ in weighted], dtype=pl.String).gather(idx)


def _null_where(series: pl.Series, mask: pl.Series) -> pl.Series:
    return series.scatter(mask.arg_true(), None)


def _plant_null(rng: _Stream, series: pl.Series, count: int) -> pl.Series:
    """Null exactly min(count, len) rows chosen at random."""
    rows = rng.sample(pl.int_range(len(series), dtype=pl.Int64, eager=True), count)
    return series.scatter(rows, None)


def _plant_nan(rng: _Stream, series: pl.Series, count: int) -> pl.Series:
    """Put NaN into exactly min(count, non-null rows) rows, distinct from the nulls."""
    rows = rng.sample(series.is_not_null().arg_true(), count)
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
