"""Ranking expressions: worked cases, then pandas.qcut and DuckDB window functions as oracles.

Frames are built sorted by a unique ``key`` (the caller's guarantee), so row order is
the tie-break order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from tagengine.backends.ranking import ntile, percent_rank, qcut, rank

ExprFn = Callable[[pl.Expr], pl.Expr]


ENGINES = ("streaming", "in-memory")


def _evaluate(values: Sequence[Any], fn: ExprFn, dtype: pl.DataType | None = None) -> pl.Series:
    """Run ``fn`` the way the engine does: inside with_columns on a key-sorted LazyFrame.

    Both Polars engines must agree (they plan these expressions differently).
    """
    frame = pl.DataFrame({"key": range(len(values)), "x": pl.Series(values, dtype=dtype)})
    query = frame.lazy().with_columns(out=fn(pl.col("x")))
    streaming, in_memory = (query.collect(engine=engine)["out"] for engine in ENGINES)
    assert_series_equal(streaming, in_memory)
    return streaming


SEVEN = [10, 20, 20, 30, 40, 50, 60]


@pytest.mark.parametrize(
    ("values", "n", "descending", "expected"),
    [
        (SEVEN, 5, False, [1, 1, 2, 2, 3, 4, 5]),
        # rows 7,6,5,4,2,3,1 get 1,1,2,2,3,4,5
        (SEVEN, 5, True, [5, 3, 4, 2, 2, 1, 1]),
        (SEVEN, 1, False, [1] * 7),
        (SEVEN, 7, True, [7, 5, 6, 4, 3, 2, 1]),
        # fewer rows than buckets: buckets 1..m get one row each
        ([5, None, 3], 4, False, [2, None, 1]),
        ([5, None, 3], 4, True, [1, None, 2]),
        ([None, None], 3, False, [None, None]),
        ([], 3, False, []),
    ],
)
def test_ntile_worked_cases(
    values: list[int | None], n: int, descending: bool, expected: list[int | None]
) -> None:
    got = _evaluate(values, lambda x: ntile(x, n, descending), pl.Int64)
    assert_series_equal(got, pl.Series("out", expected, dtype=pl.Int64))


@pytest.mark.parametrize("descending", [False, True])
def test_ntile_ties_broken_by_entity_key(descending: bool) -> None:
    # All equal: bucket order is row (= key) order in both directions.
    got = _evaluate([7, 7, 7, 7, 7], lambda x: ntile(x, 2, descending), pl.Int64)
    assert got.to_list() == [1, 1, 1, 2, 2]


@pytest.mark.parametrize("descending", [False, True])
def test_ntile_ties_broken_by_entity_key_on_large_frame(descending: bool) -> None:
    # Large enough for Polars' parallel sort paths; few distinct values -> huge tie groups.
    size, n = 300_000, 7
    values = (np.arange(size) * 7919 % 5).tolist()
    got = _evaluate(values, lambda x: ntile(x, n, descending), pl.Int64)
    order = sorted(range(size), key=lambda i: (-values[i] if descending else values[i], i))
    expected = [0] * size
    big, small = divmod(size, n)
    bounds = np.cumsum([big + 1] * small + [big] * (n - small))
    for pos, row in enumerate(order):
        expected[row] = int(np.searchsorted(bounds, pos, side="right")) + 1
    assert got.to_list() == expected


@pytest.mark.parametrize(
    ("values", "n", "expected", "expected_desc"),
    [
        (
            [1, 1, 1, 2, 3, 4, 5, 5, 6, 100, None],
            4,
            [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, None],
            [4, 4, 4, 3, 3, 2, 2, 2, 1, 1, None],
        ),
        # edges 1, 1, 1.25, 3 -> duplicate 1 dropped, two bins
        ([1, 1, 1, 1, 1, 1, 2, 3], 4, [1, 1, 1, 1, 1, 1, 2, 2], [2, 2, 2, 2, 2, 2, 1, 1]),
        ([3, None, 1, 2], 1, [1, None, 1, 1], [1, None, 1, 1]),
        ([None, None], 4, [None, None], [None, None]),
        ([], 4, [], []),
        # Polars' own linear quantile puts the middle edge at 5e-324 (two bins);
        # numpy's rounds it to the maximum 1e-323, so pandas keeps a single bin.
        ([1e-323, 5e-324, 0.0, 1e-323], 2, [1, 1, 1, 1], [1, 1, 1, 1]),
        # 5 * (1/7) rounds low, so 7 * level lands just under 5 and the 5/7 edge would be
        # 0.9999999999999991, a split below the 1s; pandas nudges such levels up one ulp,
        # the edge becomes exactly 1, equals the maximum and is dropped.
        ([0, 0, 0, 0, 0, 1, 1, 1], 7, [1] * 8, [1] * 8),
    ],
)
def test_qcut_worked_cases(
    values: list[float | None],
    n: int,
    expected: list[int | None],
    expected_desc: list[int | None],
) -> None:
    got = _evaluate(values, lambda x: qcut(x, n), pl.Float64)
    got_desc = _evaluate(values, lambda x: qcut(x, n, descending=True), pl.Float64)
    assert_series_equal(got, pl.Series("out", expected, dtype=pl.Int64))
    assert_series_equal(got_desc, pl.Series("out", expected_desc, dtype=pl.Int64))


@pytest.mark.parametrize("n", [2, 4, 10])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("values", [[5, 5, 5], [None, 2.5, None, 2.5], [7]])
def test_qcut_all_equal_values_fall_in_bin_one(
    values: list[float | None], n: int, descending: bool
) -> None:
    # pandas returns NaN here (a single unique edge); we document bin 1 instead.
    got = _evaluate(values, lambda x: qcut(x, n, descending), pl.Float64)
    assert got.to_list() == [None if v is None else 1 for v in values]


@pytest.mark.parametrize(
    ("descending", "expected_rank", "expected_pct"),
    [
        (False, [1, 2, 2, 4, None], [0.0, 1 / 3, 1 / 3, 1.0, None]),
        (True, [4, 2, 2, 1, None], [1.0, 1 / 3, 1 / 3, 0.0, None]),
    ],
)
def test_rank_ties_share_lowest_rank_and_percent_rank_scales_it(
    descending: bool, expected_rank: list[int | None], expected_pct: list[float | None]
) -> None:
    values = [10, 20, 20, 30, None]
    got_rank = _evaluate(values, lambda x: rank(x, descending), pl.Int64)
    got_pct = _evaluate(values, lambda x: percent_rank(x, descending), pl.Int64)
    assert_series_equal(got_rank, pl.Series("out", expected_rank, dtype=pl.Int64))
    assert_series_equal(got_pct, pl.Series("out", expected_pct, dtype=pl.Float64))


def test_percent_rank_single_value_is_zero() -> None:
    got = _evaluate([None, 42, None], percent_rank, pl.Int64)
    assert_series_equal(got, pl.Series("out", [None, 0.0, None], dtype=pl.Float64))


ALL_FUNCTIONS: dict[str, ExprFn] = {
    "ntile": lambda x: ntile(x, 3),
    "ntile_desc": lambda x: ntile(x, 3, descending=True),
    "qcut": lambda x: qcut(x, 3),
    "qcut_desc": lambda x: qcut(x, 3, descending=True),
    "rank": rank,
    "rank_desc": lambda x: rank(x, descending=True),
    "percent_rank": percent_rank,
    "percent_rank_desc": lambda x: percent_rank(x, descending=True),
}


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_ranking_missing_x_gives_missing_score(name: str) -> None:
    fn = ALL_FUNCTIONS[name]
    with_nulls = [None, 4, 1, None, 3, 3, None, 9, 2, None]
    got = _evaluate(with_nulls, fn, pl.Int64)
    # Nulls score null and do not count: same scores as ranking the non-null rows alone.
    alone = _evaluate([v for v in with_nulls if v is not None], fn, pl.Int64)
    assert got.filter(pl.Series(with_nulls).is_null()).null_count() == with_nulls.count(None)
    assert_series_equal(got.drop_nulls(), alone)
    assert _evaluate([None, None, None], fn, pl.Int64).null_count() == 3


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([3, None, 1, 3, 2], pl.Int8),
        ([3, None, 1, 3, 2], pl.UInt32),
        ([3.0, None, 1.0, 3.0, 2.0], pl.Float32),
        ([Decimal("3.10"), None, Decimal("1.10"), Decimal("3.10"), Decimal("2.10")], None),
        ([dt.date(2024, 3, 1), None, dt.date(2024, 1, 1), dt.date(2024, 3, 1), None], pl.Date),
    ],
)
@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_ranking_accepts_integer_float_decimal_and_date_columns(
    values: list[Any], dtype: pl.DataType | None, name: str
) -> None:
    # Every column orders like 3, 1, 3, 2 (with its own nulls), so Int64 is the reference.
    order = [3, 0, 1, 3, 2]
    reference = [None if v is None else o for v, o in zip(values, order, strict=True)]
    fn = ALL_FUNCTIONS[name]
    got = _evaluate(values, fn, dtype)
    expected = _evaluate(reference, fn, pl.Int64)
    assert got.dtype == (pl.Float64 if name.startswith("percent_rank") else pl.Int64)
    assert_series_equal(got, expected)


def test_builders_compose_in_one_query_and_later_filters_do_not_shrink_the_population() -> None:
    # Many scores on one column in one with_columns (CSE across them), then a filter
    # on the key: the filter must not be pushed below the scoring.
    values = [5, 1, None, 3, 3, 8, 2, 2, 9, None, 4]
    frame = pl.DataFrame({"key": range(len(values)), "x": values}).lazy()
    scores = {name: fn(pl.col("x")) for name, fn in ALL_FUNCTIONS.items()}
    scores["qcut_again"] = qcut(pl.col("x"), 3)
    for engine in ENGINES:
        got = frame.with_columns(**scores).filter(pl.col("key") >= 4).collect(engine=engine)
        for name, fn in ALL_FUNCTIONS.items():
            alone = _evaluate(values, fn, pl.Int64)[4:]
            assert_series_equal(got[name], alone.alias(name))
        assert_series_equal(got["qcut_again"], got["qcut"].alias("qcut_again"))


@pytest.mark.parametrize("bad_n", [0, -1, 2.0, True, "3", None])
@pytest.mark.parametrize("builder", [ntile, qcut])
def test_bucket_count_must_be_positive_int(builder: Callable[..., pl.Expr], bad_n: Any) -> None:
    with pytest.raises(ValueError, match="positive int"):
        builder(pl.col("x"), bad_n)


# --- property tests ---------------------------------------------------------------------

_small_ints = st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=60)


@st.composite
def _tied_floats(draw: st.DrawFn) -> list[float | None]:
    """Floats drawn from a small pool, so ties are common; spread stays far from overflow."""
    pool = draw(
        st.lists(
            st.floats(min_value=-1e300, max_value=1e300, allow_nan=False),
            min_size=1,
            max_size=8,
        )
    )
    return draw(st.lists(st.one_of(st.none(), st.sampled_from(pool)), max_size=60))


def _pandas_qcut_bins(values: Sequence[float | None], n: int) -> list[int | None]:
    """``pandas.qcut(..., labels=False, duplicates="drop") + 1``, or bin 1 where we differ."""
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    if len(set(present)) == 1:  # pandas gives NaN; documented behaviour is bin 1
        return [None if v is None else 1 for v in values]
    if len(present) == len(values) and all(isinstance(v, int) for v in values):
        series = pd.Series(values, dtype="int64")
    else:
        series = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    codes = pd.qcut(series, n, labels=False, duplicates="drop")
    return [None if math.isnan(c) else int(c) + 1 for c in codes]


@settings(max_examples=200, deadline=None)
@given(values=st.one_of(_small_ints, _tied_floats()), n=st.integers(1, 10))
def test_qcut_matches_pandas_qcut_duplicates_drop(values: list[float | None], n: int) -> None:
    expected = _pandas_qcut_bins(values, n)
    assert _evaluate(values, lambda x: qcut(x, n), pl.Float64).to_list() == expected
    n_bins = max((b for b in expected if b is not None), default=0)
    expected_desc = [None if b is None else n_bins + 1 - b for b in expected]
    got_desc = _evaluate(values, lambda x: qcut(x, n, descending=True), pl.Float64)
    assert got_desc.to_list() == expected_desc


@st.composite
def _typed_columns(draw: st.DrawFn) -> tuple[list[Any], pl.DataType]:
    """A column with many ties and nulls, as Int64, Float64, Decimal or Date."""
    kind = draw(st.sampled_from(["int", "float", "decimal", "date"]))
    if kind == "float":
        return draw(_tied_floats()), pl.Float64()
    ints = draw(_small_ints)
    if kind == "int":
        return ints, pl.Int64()
    if kind == "decimal":
        return [None if v is None else Decimal(v) / 4 for v in ints], pl.Decimal(10, 2)
    epoch = dt.date(2024, 1, 1)
    return [None if v is None else epoch + dt.timedelta(days=v) for v in ints], pl.Date()


def _duckdb_windows(values: Sequence[Any], dtype: pl.DataType, n: int) -> dict[str, list[Any]]:
    """NTILE / RANK / PERCENT_RANK from DuckDB over the non-null rows, keyed back by id."""
    frame = pl.DataFrame({"id": range(len(values)), "x": pl.Series(values, dtype=dtype)})
    con = duckdb.connect()
    try:
        con.register("t", frame.to_arrow())
        rows = con.execute(
            f"""
            SELECT id,
                   NTILE({n}) OVER (ORDER BY x, id),
                   NTILE({n}) OVER (ORDER BY x DESC, id),
                   RANK() OVER (ORDER BY x),
                   RANK() OVER (ORDER BY x DESC),
                   PERCENT_RANK() OVER (ORDER BY x),
                   PERCENT_RANK() OVER (ORDER BY x DESC)
            FROM t WHERE x IS NOT NULL
            """
        ).fetchall()
    finally:
        con.close()
    names = ["ntile", "ntile_desc", "rank", "rank_desc", "percent_rank", "percent_rank_desc"]
    out: dict[str, list[Any]] = {name: [None] * len(values) for name in names}
    for row_id, *scores in rows:
        for name, score in zip(names, scores, strict=True):
            out[name][row_id] = score
    return out


@settings(max_examples=200, deadline=None)
@given(column=_typed_columns(), n=st.integers(1, 10))
def test_ntile_rank_percent_rank_match_duckdb_windows(
    column: tuple[list[Any], pl.DataType], n: int
) -> None:
    values, dtype = column
    expected = _duckdb_windows(values, dtype, n)
    builders: dict[str, ExprFn] = {
        "ntile": lambda x: ntile(x, n),
        "ntile_desc": lambda x: ntile(x, n, descending=True),
        "rank": rank,
        "rank_desc": lambda x: rank(x, descending=True),
        "percent_rank": percent_rank,
        "percent_rank_desc": lambda x: percent_rank(x, descending=True),
    }
    for name, fn in builders.items():
        assert _evaluate(values, fn, dtype).to_list() == expected[name], name
