"""Evaluate rules and every clause inside them for one customer, with the same IR and
backend as `run` (so it never disagrees with `run`: docs/explain.md), reading only that
customer's rows where the source can.

Rankings are the exception: a customer's quintile depends on everyone, so each ranking
used is computed over the whole population (only the rules it needs) and joined in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from tagengine import ir
from tagengine.backends import aggregate
from tagengine.backends import polars as backend
from tagengine.diagnostics import TagEngineError, error
from tagengine.explain.model import Population, Source
from tagengine.sources import collect


@dataclass(frozen=True)
class CustomerValues:
    id: object  # the key value, typed like the key column
    rules: dict[str, object]  # rule name -> value, exactly as `run` computes it
    nodes: dict[tuple, object]  # fingerprint of a clause -> its value
    sources: dict[tuple, Source]  # fingerprint of an aggregate -> the rows it read
    populations: dict[tuple, Population]  # fingerprint of a ranking -> who it ranked


def clauses(expr: ir.Expr) -> Iterable[ir.Expr]:
    """Every clause an explanation shows: all sub-expressions, but not the inside of an
    aggregate (that is row-level, shown as its source) nor literals."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if not isinstance(e, ir.Literal | ir.DurationLit):
            yield e
        if not isinstance(e, ir.Aggregate):
            stack.extend(ir.children(e))


def key_value(program: ir.Program, dtype: pl.DataType, text: object) -> object:
    """The customer id typed like the key column; a clear error when it cannot be."""
    if not isinstance(text, str):
        return text
    key = program.entity.key
    if dtype.is_integer():
        try:
            return int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise TagEngineError(
                error(
                    "TE406",
                    f"`{key}` holds whole numbers; `{text}` is not one",
                    None,
                    f"pass the customer's {key}, e.g. --id 42",
                )
            ) from None
    return text


def customer(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    id_: object,
    rules: list[ir.Rule],
) -> CustomerValues:
    """The values of `rules` and of every clause in them for the customer `id_`."""
    key = program.entity.key
    entity = tables[program.entity.table]
    key_dtype = entity.collect_schema()[key]
    id_ = key_value(program, key_dtype, id_)
    one = _one_customer(program, tables, key_dtype, id_)

    ranked, ranked_columns, ranked_counts = _rankings(program, tables, as_of, rules)
    if ranked is not None:
        ranked = ranked.filter(pl.col(key) == pl.lit(id_, key_dtype))
    frame, compiler = backend.rule_frame(program, one, as_of, rules, ranked, ranked_columns)
    nodes = {ir.fingerprint(c): c for r in rules for c in clauses(r.expr)}
    names = {fp: f"__node__{i}" for i, fp in enumerate(nodes)}
    main = frame.select(
        key,
        *[pl.col(r.name) for r in rules],
        *[_value(compiler, nodes[fp]).alias(names[fp]) for fp in nodes],
        *[pl.col(c) for c in ranked_counts.values()],
    )
    provenance = _provenance(program, one, as_of, rules)
    row_df, *source_dfs = collect([main, *(q for _, q in provenance.values())])
    if row_df.height == 0:
        raise TagEngineError(
            error(
                "TE407",
                f"no row of `{program.entity.table}` has {key} = {id_!r}",
                None,
                "check the id, and that --data points at the right tables",
            )
        )
    row = row_df.row(0, named=True)
    sources = {}
    for (fp, (node, _)), df in zip(provenance.items(), source_dfs, strict=True):
        rows, first, last, of = df.row(0) if df.height else (0, None, None, 0)
        share = node.func == "share"
        sources[fp] = Source(
            table=node.table,
            rows=int(rows or 0),
            of=int(of or 0) if share else None,
            first=first.isoformat() if first is not None else None,
            last=last.isoformat() if last is not None else None,
        )
    populations = {}
    for fp, (ranked_col, total_col) in ranked_counts.items():
        populations[fp] = Population(ranked=int(row[ranked_col]), total=int(row[total_col]))
    return CustomerValues(
        id=id_,
        rules={r.name: row[r.name] for r in rules},
        nodes={fp: row[names[fp]] for fp in nodes},
        sources=sources,
        populations=populations,
    )


def _value(compiler: backend.ExprCompiler, e: ir.Expr) -> pl.Expr:
    if isinstance(e, ir.Case):
        return pl.lit(None)  # the segment's value is its rule column
    return compiler.expr(e)


def _one_customer(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    key_dtype: pl.DataType,
    id_: object,
) -> dict[str, pl.LazyFrame]:
    """Every table cut to the customer's rows; the filter reaches the scan, so Parquet
    row groups and database rows of other customers are skipped where the source can."""
    out = dict(tables)
    target = pl.lit(id_, key_dtype)
    entity = tables[program.entity.table]
    out[program.entity.table] = entity.filter(pl.col(program.entity.key) == target)
    for rel in program.related:
        if rel.name not in tables:
            continue
        frame = tables[rel.name]
        dtype = frame.collect_schema()[rel.key]
        col = pl.col(rel.key) if dtype == key_dtype else pl.col(rel.key).cast(key_dtype)
        out[rel.name] = frame.filter(col == target)
    return out


def _rankings(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    rules: list[ir.Rule],
) -> tuple[pl.LazyFrame | None, dict[tuple, str], dict[tuple, tuple[str, str]]]:
    """Every ranking the rules use, computed over everyone: (key and one column per
    ranking, fingerprint -> column, fingerprint -> (ranked count, total) columns)."""
    nodes = {
        ir.fingerprint(n): n for r in rules for n in ir.walk(r.expr) if isinstance(n, ir.Ranking)
    }
    if not nodes:
        return None, {}, {}
    users = [r.name for r in rules if any(isinstance(n, ir.Ranking) for n in ir.walk(r.expr))]
    needed = program.closure(users)
    frame, compiler = backend.rule_frame(
        program, tables, as_of, [r for r in program.rules if r.name in needed]
    )
    columns = {fp: f"__rank__{i}" for i, fp in enumerate(nodes)}
    counts = {fp: (f"__ranked__{i}", f"__total__{i}") for i, fp in enumerate(nodes)}
    selected = [pl.col(program.entity.key)]
    for fp, node in nodes.items():
        selected.append(compiler.expr(node).alias(columns[fp]))
        known = compiler.expr(node.operand).is_not_null().sum().cast(pl.Int64)
        selected.append(known.alias(counts[fp][0]))
        selected.append(pl.len().cast(pl.Int64).alias(counts[fp][1]))
    return frame.select(selected), columns, counts


def _provenance(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    rules: list[ir.Rule],
) -> dict[tuple, tuple[ir.Aggregate, pl.LazyFrame]]:
    """Per aggregate (by fingerprint), a one-row frame: the rows it read, their first and
    last date, and the rows in its window (what a `share` divides by)."""
    related = {r.name: r for r in program.related}
    compiler = backend.ExprCompiler(as_of)
    out: dict[tuple, tuple[ir.Aggregate, pl.LazyFrame]] = {}
    for group in aggregate.collect(program, rules):
        rel = related[group.related.name]
        frame = tables[rel.name]
        for fp, node in group.nodes.items():
            needed = {rel.key, *([rel.time] if rel.time else [])}
            needed |= {c.name for c in ir.walk(node) if isinstance(c, ir.RelatedColumn)}
            rows = aggregate.visible_rows(frame.select(sorted(needed)), rel, as_of)
            time_dtype = rows.collect_schema()[rel.time] if rel.time else None
            window, mask = aggregate.row_masks(node, rel, time_dtype, compiler.expr, as_of)
            everything = pl.repeat(True, pl.len())  # a column, so that sum() counts rows
            read = mask if mask is not None else everything
            in_window = window if window is not None else everything
            if rel.time and time_dtype is not None:
                day = aggregate.row_date(rel, time_dtype)
                first, last = day.filter(read).min(), day.filter(read).max()
            else:
                first = last = pl.lit(None, pl.Date)
            summary = [
                read.sum().alias("rows"),
                first.alias("first"),
                last.alias("last"),
                in_window.sum().alias("of"),
            ]
            out[fp] = (node, rows.select(summary))
    return out
