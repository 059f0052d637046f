"""Frame-wide ranking and binning expressions (NTILE, quantile bins, RANK, PERCENT_RANK).

Contract with the caller: the frame is sorted by the entity key ascending and the
key is unique. Ties in ``x`` are therefore broken by row order, which *is* key
order, so results are deterministic without ever sorting on a (value, key) struct.
Polars' ``rank("ordinal")`` numbers tied values in order of occurrence, for
``descending=True`` too (pinned by the tests).

Rows where ``x`` is null get a null result and are left out of every count.
Every builder returns one expression over the whole column, meant for
``LazyFrame.with_columns``.
"""

from __future__ import annotations

import math

import polars as pl

__all__ = ["ntile", "percent_rank", "qcut", "rank"]


def _check_n(n: int) -> None:
    """Guard only: rule validation rejects bad bucket counts before compilation."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of buckets must be a positive int, got {n!r}")


def ntile(x: pl.Expr, n: int, descending: bool = False) -> pl.Expr:
    """SQL ``NTILE(n) OVER (ORDER BY x [DESC], key)`` over the non-null rows; Int64.

    With m non-null rows, the first ``m % n`` buckets get one extra row; if
    m < n, buckets 1..m get one row each.
    """
    _check_n(n)
    # 0-based position in (x, key) order; ordinal rank keeps row (= key) order on ties.
    pos = x.rank("ordinal", descending=descending).cast(pl.Int64) - 1
    m = x.count().cast(pl.Int64)
    size = m // n  # rows in a small bucket
    n_large = m % n  # buckets holding size + 1 rows
    large_rows = n_large * (size + 1)
    # size == 0 only when every row is in a large bucket; the guard avoids a 0 divisor.
    small = n_large + (pos - large_rows) // pl.max_horizontal(size, 1) + 1
    return pl.when(pos < large_rows).then(pos // (size + 1) + 1).otherwise(small)


def rank(x: pl.Expr, descending: bool = False) -> pl.Expr:
    """SQL ``RANK()``: ties share the lowest 1-based rank, gaps follow; Int64."""
    return x.rank("min", descending=descending).cast(pl.Int64)


def percent_rank(x: pl.Expr, descending: bool = False) -> pl.Expr:
    """SQL ``PERCENT_RANK()`` = (rank - 1) / (m - 1); 0.0 when m == 1; Float64."""
    m = x.count().cast(pl.Int64)
    # With m == 1 the only rank is 1, so dividing by 1 instead of 0 gives 0.0.
    return (rank(x, descending) - 1).cast(pl.Float64) / pl.max_horizontal(m - 1, 1)


def _pandas_quantile_levels(n: int) -> list[float]:
    """The levels pandas.qcut(x, n) asks for, bit for bit.

    ``np.linspace(0, 1, n + 1)`` is ``j * (1 / n)``; pandas then bumps any level
    whose ``n * level`` does not round back to j up by one ulp.
    """
    step = 1.0 / n
    levels = [j * step for j in range(n)] + [1.0]
    return [q if n * q == j else math.nextafter(q, 1.0) for j, q in enumerate(levels)]


def _numpy_linear_quantile(ordered: pl.Expr, last: pl.Expr, q: float) -> pl.Expr:
    """``np.quantile(values, q, method="linear")`` with numpy's exact float steps.

    Polars' own linear quantile rounds differently in the last ulp, which moves
    values sitting on an edge into the neighbouring bin, so it is not used.
    ``ordered`` is the sorted non-null Float64 values, ``last`` their final index.
    """
    virtual = last.cast(pl.Float64) * q
    below = virtual.floor()
    gamma = virtual - below
    lo_idx = pl.min_horizontal(below.cast(pl.Int64), last)
    hi_idx = pl.min_horizontal(lo_idx + 1, last)
    lo = ordered.get(lo_idx, null_on_oob=True)
    hi = ordered.get(hi_idx, null_on_oob=True)
    diff = hi - lo
    return (
        pl.when(gamma >= 0.5).then(hi - diff * (1.0 - gamma)).otherwise(lo + diff * gamma)
    )


def qcut(x: pl.Expr, n: int, descending: bool = False) -> pl.Expr:
    """Quantile bin 1..k, equal to ``pandas.qcut(x, n, labels=False, duplicates="drop") + 1``.

    Edges are the linear quantiles at 0, 1/n, ..., 1 of the non-null values;
    duplicate edges collapse, so k <= n bins remain; bins are right-closed and
    the first includes the minimum. ``descending`` numbers them k..1.
    Where pandas gives NaN because every non-null value is equal (n >= 2), this
    gives 1. Quantiles are taken in Float64 (Decimal and integers are cast;
    integers beyond 2**53 lose precision). Int64.
    """
    _check_n(n)
    xf = x.cast(pl.Float64)
    ordered = xf.drop_nulls().sort()
    last = xf.count().cast(pl.Int64) - 1
    edges = [_numpy_linear_quantile(ordered, last, q) for q in _pandas_quantile_levels(n)]
    top = edges[-1]
    # Interior edge j splits two bins iff it is a new value and below the maximum;
    # repeated edges are exactly the ones pandas drops with duplicates="drop".
    kept = [(edges[j] > edges[j - 1]) & (edges[j] < top) for j in range(1, n)]
    if not kept:
        return pl.when(x.is_not_null()).then(pl.lit(1, pl.Int64))
    bin_no = 1 + pl.sum_horizontal([(k & (xf > e)).cast(pl.Int64) for k, e in zip(kept, edges[1:-1], strict=True)])
    if not descending:
        return pl.when(x.is_not_null()).then(bin_no)
    n_bins = 1 + pl.sum_horizontal([k.cast(pl.Int64) for k in kept])
    return pl.when(x.is_not_null()).then(n_bins + 1 - bin_no)
