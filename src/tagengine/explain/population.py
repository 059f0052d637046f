"""One rule over everyone: a funnel of its clauses, its values, and what it is built on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import polars as pl

from tagengine import ir
from tagengine.backends import polars as backend
from tagengine.explain import words
from tagengine.explain.model import (
    Bucket,
    Counts,
    Dependency,
    FunnelStep,
    PopulationExplanation,
    RuleFunnel,
)
from tagengine.privacy import Privacy
from tagengine.sources import collect

MAX_BUCKETS = 20  # a score or feature with more distinct values shows no buckets


def population(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    asked: list[ir.Rule],
    text: Callable[[ir.Expr], str],
    privacy: Privacy | None = None,
) -> PopulationExplanation:
    needed = program.closure([r.name for r in asked])
    rules = [r for r in program.rules if r.name in needed]
    frame, compiler = backend.rule_frame(program, tables, as_of, rules)
    steps: dict[str, list[tuple[ir.Expr, str, str]]] = {}
    columns: list[pl.Expr] = [pl.col(r.name) for r in asked]
    for rule in asked:
        if rule.kind != "tag":
            continue
        combine, parts = _parts(rule.expr)
        so_far: pl.Expr | None = None
        steps[rule.name] = []
        for i, part in enumerate(parts):
            alone = compiler.typed(part, pl.Boolean)
            if so_far is None:
                so_far = alone
            else:
                so_far = so_far | alone if combine == "any" else so_far & alone  # Kleene
            names = (f"__{rule.name}__alone{i}", f"__{rule.name}__sofar{i}")
            columns += [alone.alias(names[0]), so_far.alias(names[1])]
            steps[rule.name].append((part, *names))
    (df,) = collect([frame.select(columns)])
    total = df.height
    privacy = privacy or Privacy.of(program, ())
    hidden = set(privacy.withheld(r.name for r in asked))
    funnels = [
        _funnel(program, rule, df, steps.get(rule.name, []), text, rule.name in hidden, privacy)
        for rule in asked
    ]
    return PopulationExplanation(
        as_of=as_of.isoformat(), entity=program.entity.name, population=total, rules=funnels
    )


def _parts(expr: ir.Expr) -> tuple[str, list[ir.Expr]]:
    if isinstance(expr, ir.BoolOp):
        return ("all" if expr.op == "and" else "any"), _flatten(expr, expr.op)
    return "single", [expr]


def _flatten(e: ir.Expr, op: str) -> list[ir.Expr]:
    if isinstance(e, ir.BoolOp) and e.op == op:
        return [*_flatten(e.left, op), *_flatten(e.right, op)]
    return [e]


def _counts(col: pl.Series) -> Counts:
    true = int(col.sum())
    unknown = col.null_count()
    return Counts(true=true, false=col.len() - true - unknown, unknown=unknown)


def _funnel(
    program: ir.Program,
    rule: ir.Rule,
    df: pl.DataFrame,
    steps: list[tuple[ir.Expr, str, str]],
    text: Callable[[ir.Expr], str],
    private: bool,
    privacy: Privacy,
) -> RuleFunnel:
    total = df.height
    col = df.get_column(rule.name)
    common = dict(
        name=rule.name,
        kind=rule.kind,
        label=rule.label,
        metadata={m.key: str(m.value) for m in rule.meta},
        dependencies=dependencies(program, rule.name),
        declassified=privacy.declassified.get(rule.name),
    )
    if rule.kind == "tag":
        count = int(col.sum())
        return RuleFunnel(
            **common,
            combine=_parts(rule.expr)[0],
            steps=[
                FunnelStep(
                    clause=text(part),
                    alone=_counts(df.get_column(alone)),
                    so_far=_counts(df.get_column(so_far)),
                )
                for part, alone, so_far in steps
            ],
            count=count,
            share=count / total if total else 0.0,
        )
    count = col.len() - col.null_count()
    return RuleFunnel(
        **common,
        count=count,
        share=count / total if total else 0.0,
        buckets=[] if private else _buckets(rule, col, total),  # values would show pii
    )


def _buckets(rule: ir.Rule, col: pl.Series, total: int) -> list[Bucket]:
    counts = col.alias("value").value_counts(name="count")  # whatever the rule is called
    if rule.kind == "segment":
        assert isinstance(rule.expr, ir.Case)
        order = [str(v.value) for _, v in rule.expr.branches]
        if rule.expr.otherwise is not None:
            order.append(str(rule.expr.otherwise.value))
        found = dict(counts.iter_rows())
        values: list[object] = list(dict.fromkeys(order))
        if None in found:
            values.append(None)
    else:
        if counts.height > MAX_BUCKETS:
            return []
        found = dict(counts.iter_rows())
        values = sorted((v for v in found if v is not None), key=lambda v: (v,))
        if None in found:
            values.append(None)
    return [
        Bucket(
            value=words.as_json(v),
            shown=words.shown(v, rule.type) if v is not None else "missing",
            count=int(found.get(v, 0)),
            share=found.get(v, 0) / total if total else 0.0,
        )
        for v in values
    ]


def dependencies(program: ir.Program, name: str) -> Dependency:
    """What a rule is built on: the rules (recursively) and columns it uses."""
    rule = program.rule(name)
    uses: list[Dependency] = []
    seen: set[str] = set()
    for node in ir.walk(rule.expr):  # in the order written
        if isinstance(node, ir.RuleRef) and node.name not in seen:
            seen.add(node.name)
            uses.append(dependencies(program, node.name))
        elif isinstance(node, ir.Column) and node.name not in seen:
            seen.add(node.name)
            uses.append(Dependency(name=node.name, kind="column"))
        elif isinstance(node, ir.Aggregate):
            names = [c.name for c in ir.walk(node) if isinstance(c, ir.RelatedColumn)]
            for shown in [f"{node.table}.{n}" for n in dict.fromkeys(names)] or [node.table]:
                if shown not in seen:
                    seen.add(shown)
                    kind = "related column" if "." in shown else "related table"
                    uses.append(Dependency(name=shown, kind=kind))
    return Dependency(name=rule.name, kind=rule.kind, label=rule.label, uses=uses)
