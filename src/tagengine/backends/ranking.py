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


def _whole_column(column: pl.Expr, body: pl.Expr) -> pl.Expr:
    """Evaluate ``body`` (written on ``pl.element()``) once over the whole ``column``.

    The streaming engine (Polars' default) does no common-subexpression
    elimination, so a rank referenced three times is computed three times;
    inside ``list.eval`` the column is materialised once and references are free.
    """
    return column.implode().list.eval(body).explode(empty_as_null=False)


def ntile(x: pl.Expr, n: int, descending: bool = False) -> pl.Expr:
    """SQL ``NTILE(n) OVER (ORDER BY x [DESC], key)`` over the non-null rows; Int64.

    With m non-null rows, the first ``m % n`` buckets get one extra row; if
    m < n, buckets 1..m get one row each.
    """
    _check_n(n)
    pos = pl.element() - 1  # 0-based place in (x, key) order
    m = pl.element().count().cast(pl.Int64)
    size, n_large = m // n, m % n  # small-bucket size; buckets holding size + 1 rows
    # Within the large buckets pos // (size + 1) is right and the other term is
    # not larger; past them (pos - n_large) // size is right and the larger one.
    # With size == 0 every row is in a large bucket; max(size, 1) avoids the 0.
    bucket = pl.max_horizontal(pos // (size + 1), (pos - n_large) // pl.max_horizontal(size, 1))
    # Ordinal rank numbers ties in row (= key) order, for descending too.
    ordinal = x.rank("ordinal", descending=descending).cast(pl.Int64)
    return _whole_column(ordinal, bucket + 1)


def rank(x: pl.Expr, descending: bool = False) -> pl.Expr:
    """SQL ``RANK()``: ties share the lowest 1-based rank, gaps follow; Int64."""
    return x.rank("min", descending=descending).cast(pl.Int64)


def percent_rank(x: pl.Expr, descending: bool = False) -> pl.Expr:
    """SQL ``PERCENT_RANK()`` = (rank - 1) / (m - 1); 0.0 when m == 1; Float64."""
    above = pl.element() - 1.0  # rows ranked strictly before, as Float64
    # With m == 1 the only rank is 1, so dividing by 1 instead of 0 gives 0.0.
    denominator = pl.max_horizontal(pl.element().count().cast(pl.Int64) - 1, 1)
    # Polars divides by a *scalar* as a multiply by its reciprocal (5/6 comes out
    # 0.8333333333333333, one ulp low); `above * 0.0 + d` is a real column (IEEE
    # forbids folding x * 0.0), so the division is exact, as in SQL.
    return _whole_column(rank(x, descending), above / (above * 0.0 + denominator))


def _pandas_quantile_levels(n: int) -> list[float]:
    """The levels pandas.qcut(x, n) asks for, bit for bit.

    ``np.linspace(0, 1, n + 1)`` is ``j * (1 / n)``; pandas then bumps any level
    whose ``n * level`` does not round back to j up by one ulp.
    """
    step = 1.0 / n
    levels = [j * step for j in range(n)] + [1.0]
    return [q if n * q == j else math.nextafter(q, 1.0) for j, q in enumerate(levels)]


def _numpy_linear_quantiles(ordered: pl.Expr, levels: list[float]) -> pl.Expr:
    """``np.quantile(values, levels, method="linear")`` with numpy's exact float steps.

    ``ordered`` is the sorted non-null Float64 values (``pl.element()`` inside
    ``list.eval``). Polars' own linear quantile rounds differently in the last ulp,
    which can turn an edge into a copy of its neighbour value and so change the
    bins; it is not used.
    """
    last = pl.len().cast(pl.Int64) - 1
    virtual = last.cast(pl.Float64) * pl.lit(pl.Series(levels, dtype=pl.Float64))
    below = virtual.floor()
    gamma = virtual - below
    lo_idx = pl.min_horizontal(below.cast(pl.Int64), last)
    hi_idx = pl.min_horizontal(lo_idx + 1, last)
    lo = ordered.gather(lo_idx, null_on_oob=True)
    hi = ordered.gather(hi_idx, null_on_oob=True)
    diff = hi - lo
    return pl.when(gamma >= 0.5).then(hi - diff * (1.0 - gamma)).otherwise(lo + diff * gamma)


def _splits(ordered: pl.Expr, n: int) -> pl.Expr:
    """The interior edges that separate bins, ascending and distinct.

    An interior edge splits iff it is a new value and below the maximum; the
    repeated ones are exactly those pandas drops with ``duplicates="drop"``.
    """
    edges = _numpy_linear_quantiles(ordered, _pandas_quantile_levels(n))
    interior = edges.slice(1, n - 1)
    return interior.filter((interior > edges.slice(0, n - 1)) & (interior < edges.last()))


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
    if n == 1:  # one bin, nothing to compute
        return pl.when(x.is_not_null()).then(pl.lit(1, pl.Int64))
    # `x` is read once, and the bins computed on that one copy: an expression used
    # three times would triple at every level of qcut(qcut(qcut(...))).
    return _whole_column(x.cast(pl.Float64), _bins(pl.element(), n, descending))


def _bins(xf: pl.Expr, n: int, descending: bool) -> pl.Expr:
    """qcut's bins of the whole column `xf` (Float64, `pl.element()` in list.eval)."""
    # The edge arithmetic runs inside list.eval on one imploded sorted copy: the
    # streaming engine does no CSE, so a frame-level expression re-sorts x for
    # every reference, and in-memory CSE mishandles non-frame-length pieces.
    splits = _splits(pl.element(), n)
    if descending:
        splits = (-splits).reverse()
    split_values = xf.drop_nulls().sort().implode().list.eval(splits).explode(empty_as_null=False)
    if descending:
        # splits >= v  <=>  -splits <= -v
        below_or_above = split_values.search_sorted(-xf, side="right")
    else:
        # right-closed bins: 1 + the number of splits strictly below v
        below_or_above = split_values.search_sorted(xf, side="left")
    return pl.when(xf.is_not_null()).then(below_or_above.cast(pl.Int64) + 1)
