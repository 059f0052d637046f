"""Where does tagengine spend time that hand-written Polars does not? Ablations, in-process.

    python bench/experiments.py --size 1m [--repeat 5]

Each variant is timed --repeat times (median, in seconds) in this one process, after a
warm-up; the figures are for reasoning about bench/RESULTS.md, not for the headline
table (bench/run.py measures fresh processes).

Variants:
- tagengine evaluate                 RuleSet.evaluate: the plan, the visible-row count, key checks
- tagengine plan().collect()         the same plan, without run()'s extra query and checks
- tagengine plan, in-memory engine   engine="in-memory" (common subexpressions eliminated)
- hand-written                       bench/handwritten_polars.py (default engine, "auto")
- hand-written, in-memory engine
- tagengine, float amounts           the amounts cast to float64 at the scan: what exact
- hand-written, float amounts        money (decimal sums) costs each (issue 9)
- hand + offset_by windows           hand-written with window starts as `as_of.dt.offset_by`
- hand, one-expression ntile         NTILE as one expression (rank referenced 3 times)
- orders group_by: tagengine         only the aggregation, RuleSet.aggregations()'s expressions
- orders group_by: hand-written      only the aggregation, handwritten_polars.order_stats
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate
import handwritten_polars as hand
import tagengine_impl

import tagengine


def hand_plan(data: Path, as_of: dt.date, stats=None, rules=None) -> pl.LazyFrame:
    return hand.plan(data, as_of, stats, rules)


def as_float(orders: pl.LazyFrame) -> pl.LazyFrame:
    return orders.with_columns(pl.col("amount").cast(pl.Float64))


def stats_float(orders: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """hand.order_stats over float amounts: inexact, and the yardstick of exactness's cost."""
    return hand.order_stats(as_float(orders), as_of)


def stats_offset_by(orders: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """hand.order_stats with window starts as an offset_by on the as_of literal, left for
    the engine to evaluate, instead of a date computed in Python (tagengine before
    window_start became a literal)."""

    def start(day: dt.date, days: int) -> pl.Expr:
        return pl.lit(day, pl.Date).dt.offset_by(f"-{days}d")

    return hand.order_stats(orders, as_of, window_start=start)


def one_expression_ntile(x: pl.Expr, n: int, descending: bool = False) -> pl.Expr:
    return hand.ntile(hand.position(x, descending), n)


def rules_one_expression_ntile(lf: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """hand.add_rules, but each NTILE written as one expression over its input."""
    lf = hand.add_rules(lf, as_of)
    score = pl.col("model_score").fill_nan(None)
    return lf.with_columns(
        r_score=one_expression_ntile(pl.col("recency"), 5, descending=True),
        f_score=one_expression_ntile(pl.col("orders_365d"), 5),
        m_score=one_expression_ntile(pl.col("spend_365d"), 5),
        model_decile=one_expression_ntile(score, 10, descending=True),
    )


def tagengine_stats(rules: tagengine.RuleSet, data: Path, as_of: dt.date) -> pl.LazyFrame:
    """tagengine's own aggregation expressions, in the group_by its plan runs."""
    tables = tagengine_impl.tables(data)
    schema = {name: frame.collect_schema() for name, frame in tables.items()}
    aggs = rules.aggregations(schema, as_of)["orders"]
    visible = tables["orders"].filter(pl.col("order_date") <= as_of)
    return visible.group_by("customer_id").agg(aggs)


def variants(data: Path, as_of: dt.date) -> dict[str, Callable[[], object]]:
    rules = tagengine.load(tagengine_impl.RULES)
    tables = tagengine_impl.tables(data)
    orders = tables["orders"]
    return {
        "tagengine evaluate": lambda: rules.evaluate(tables, as_of=as_of),
        "tagengine plan().collect()": lambda: rules.plan(tables, as_of).collect(),
        "tagengine plan, in-memory engine": lambda: rules.plan(tables, as_of).collect(
            engine="in-memory"
        ),
        "hand-written": lambda: hand_plan(data, as_of).collect(),
        "hand-written, in-memory engine": lambda: hand_plan(data, as_of).collect(
            engine="in-memory"
        ),
        "tagengine, float amounts": lambda: rules.evaluate(
            {**tables, "orders": as_float(orders)}, as_of=as_of
        ),
        "hand-written, float amounts": lambda: hand_plan(data, as_of, stats_float).collect(),
        "hand + offset_by windows": lambda: hand_plan(data, as_of, stats_offset_by).collect(),
        "hand, one-expression ntile": lambda: hand_plan(
            data, as_of, rules=rules_one_expression_ntile
        ).collect(),
        "orders group_by: tagengine": lambda: tagengine_stats(rules, data, as_of).collect(),
        "orders group_by: hand-written": lambda: hand.order_stats(orders, as_of).collect(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(generate.SIZES), default="1m")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    data = generate.ensure(args.size)
    todo = variants(data, generate.AS_OF)
    times: dict[str, list[float]] = {name: [] for name in todo}
    for fn in todo.values():
        fn()  # warm-up: file cache, thread pools
    for _ in range(args.repeat):
        for name, fn in todo.items():  # round-robin, like bench/run.py
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    print("| variant | median s | min s |\n| --- | --- | --- |")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {min(ts):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
