"""IR → Polars: every rule becomes a `polars.Expr`; the rule set becomes one lazy plan.

The semantics (docs/semantics.md) kept here: Kleene logic (Polars' own for `&`, `|`, `~`),
tags never null, `/` by zero is missing, NaN in float columns is missing, rankings
tie-broken by the entity key (the plan sorts by the key before any ranking runs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import polars as pl

from tagengine import ir
from tagengine.backends import aggregate, ranking, rounding

_UNIT_CODES = {"days": "d", "weeks": "w", "months": "mo", "years": "y"}
_INTEGER_OUT = pl.Int64


class ExprCompiler:
    """Compiles IR expressions. `rule_expr` gives what a reference to another rule means:
    its column (inside a plan) or its whole expression (for `RuleSet.expressions()`)."""

    def __init__(
        self,
        as_of: dt.date,
        rule_expr: Callable[[str], pl.Expr] = pl.col,
        aggregates: dict[tuple, str] | None = None,
    ):
        self.as_of = as_of
        self.rule_expr = rule_expr
        # fingerprint -> column already computed: aggregates (by the group_by) and, for
        # explain, rankings over the whole population
        self.aggregates = aggregates or {}

    def rule(self, rule: ir.Rule) -> pl.Expr:
        expr = self.typed(rule.expr, pl.Boolean) if rule.kind == "tag" else self.expr(rule.expr)
        if rule.kind == "tag":
            expr = expr.fill_null(False)  # unknown is not set (docs/semantics.md#missing-values)
        return expr.alias(rule.name)

    def expr(self, e: ir.Expr) -> pl.Expr:
        match e:
            case ir.Column(name=name, type=t):
                col = pl.col(name)
                if t.kind == "float":
                    # NaN counts as missing (docs/semantics.md#empty-aggregates-and-division)
                    return col.fill_nan(None)
                if t.kind == "string":
                    return col.cast(pl.String)  # categoricals behave as text
                return col
            case ir.RuleRef(name=name):
                return self.rule_expr(name)
            case ir.RelatedColumn(name=name, type=t):  # inside a group_by over its table
                col = pl.col(name)
                return col.fill_nan(None) if t.kind == "float" else col
            case ir.Aggregate():
                return pl.col(self.aggregates[ir.fingerprint(e)])
            case ir.AsOf():
                return pl.lit(self.as_of, dtype=pl.Date)
            case ir.Literal():
                return literal(e)
            case ir.DurationLit(amount=n, unit=unit):
                if unit in ("months", "years"):
                    raise ValueError("calendar durations only shift dates")  # checker prevents
                days = n * 7 if unit == "weeks" else n
                return pl.lit(dt.timedelta(days=days), dtype=pl.Duration("us"))
            case ir.Not(operand=o):
                return ~self.typed(o, pl.Boolean)
            case ir.Neg(operand=o):
                return -self.expr(o)
            case ir.BoolOp(op=op, left=a, right=b):
                ea, eb = self.typed(a, pl.Boolean), self.typed(b, pl.Boolean)
                return ea & eb if op == "and" else ea | eb
            case ir.Compare(op=op, left=a, right=b):
                return _compare(op, *self._aligned(a, b))
            case ir.Arith():
                return self.arith(e)
            case ir.InList(operand=x, values=values, negated=negated):
                test = self.in_list(x, values)
                return ~test if negated else test
            case ir.Between(operand=x, low=lo, high=hi, negated=negated):
                # each part compiled once: an expression used twice doubles at every level
                # of nesting (see _nan_to_null)
                xe, loe, hie = self.expr(x), self.expr(lo), self.expr(hi)
                if {"date", "datetime"} <= {x.type.kind, lo.type.kind, hi.type.kind}:
                    xe, loe, hie = (p.cast(pl.Datetime("us")) for p in (xe, loe, hie))
                test = xe.is_between(loe, hie, closed="both")
                return ~test if negated else test
            case ir.IsMissing(operand=x, negated=negated):
                xe = self.expr(x)
                return xe.is_not_null() if negated else xe.is_null()
            case ir.TextTest(op=op, operand=x, pattern=p):
                text = self.typed(x, pl.String)
                if op == "contains":
                    return _contains(text, p)
                if op == "starts with":
                    return text.str.starts_with(p)
                if op == "ends with":
                    return text.str.ends_with(p)
                return text.str.contains(p)
            case ir.Call():
                return self.call(e)
            case ir.Ranking() if ir.fingerprint(e) in self.aggregates:
                return pl.col(self.aggregates[ir.fingerprint(e)])  # over everyone, earlier
            case ir.Ranking(func=func, operand=x, buckets=n, descending=desc):
                xe = self.expr(x)
                if _constant(x):
                    xe = pl.repeat(xe, pl.len())  # a constant ranks every row (all tie)
                if func in ("ntile", "qcut"):
                    return getattr(ranking, func)(xe, n, desc)
                return getattr(ranking, func)(xe, desc)
            case ir.Case(branches=branches, otherwise=other):
                # the first true branch wins: each branch gives its value or missing, and
                # coalesce takes the first given (Polars plans a when/then/when... chain in
                # time quadratic in its length: minutes for 1,000 branches)
                picks = [
                    pl.when(self.typed(cond, pl.Boolean)).then(pl.lit(value.value, pl.String))
                    for cond, value in branches
                ]
                return pl.coalesce([*picks, pl.lit(other.value if other else None, pl.String)])
        raise AssertionError(f"no Polars translation for {type(e).__name__}")

    # ---- helpers -----------------------------------------------------------

    def typed(self, e: ir.Expr, dtype: pl.DataType) -> pl.Expr:
        """`e` compiled; cast when its type is unknown (an all-missing column has
        Polars' Null dtype, which boolean and text operations refuse)."""
        out = self.expr(e)
        return out.cast(dtype) if e.type.kind == "unknown" else out

    def _aligned(
        self, a: ir.Expr, b: ir.Expr, compile: Callable[[ir.Expr], pl.Expr] | None = None
    ) -> tuple[pl.Expr, pl.Expr]:
        """Both sides in a type Polars compares directly (a date with a datetime)."""
        compile = compile or self.expr
        ea, eb = compile(a), compile(b)
        if {a.type.kind, b.type.kind} == {"date", "datetime"}:
            ea, eb = ea.cast(pl.Datetime("us")), eb.cast(pl.Datetime("us"))
        return ea, eb

    def arith(self, e: ir.Arith, nan: bool = True) -> pl.Expr:
        """`nan=False`: a float NaN is left as it is (for an operand of float arithmetic:
        NaN in, NaN out, so it is made missing once, at the end of the chain)."""
        a, b, op = e.left, e.right, e.op
        float_chain = e.type.kind == "float"

        def operand(x: ir.Expr) -> pl.Expr:
            chained = float_chain and isinstance(x, ir.Arith)
            return self.arith(x, nan=False) if chained else self.expr(x)

        if isinstance(b, ir.DurationLit) and a.type.temporal:
            sign = "-" if op == "-" else ""
            return self.expr(a).dt.offset_by(f"{sign}{b.amount}{_UNIT_CODES[b.unit]}")
        if isinstance(a, ir.DurationLit) and b.type.temporal:
            return self.expr(b).dt.offset_by(f"{a.amount}{_UNIT_CODES[a.unit]}")
        ea, eb = self._aligned(a, b, operand)
        if op == "/":
            ea, eb = ea.cast(pl.Float64), eb.cast(pl.Float64)
            if _constant(b):
                eb = eb + broadcast(0.0, ea)  # a constant divisor: see `broadcast`
            # by zero: missing (docs/semantics.md#empty-aggregates-and-division); inf / inf
            # is NaN, missing too. `eb` is used once (not `when(eb != 0).then(ea / eb)`:
            # see _nan_to_null)
            quotient = ea / eb.replace(0, None)
            return _nan_to_null(quotient) if nan else quotient
        if op == "*" and a.type.kind == b.type.kind == "decimal":
            # exact, at the product's scale (Polars would round it to the larger scale)
            ea = ea.cast(pl.Decimal(38, (a.type.scale or 0) + (b.type.scale or 0)))
        out = {"+": ea + eb, "-": ea - eb, "*": ea * eb}[op]
        return _nan_to_null(out) if float_chain and nan else out  # inf - inf: missing

    def in_list(self, x: ir.Expr, values: tuple[ir.Literal, ...]) -> pl.Expr:
        xe = self.expr(x)
        kinds = {x.type.kind} | {v.type.kind for v in values}
        items: list[object] = [v.value for v in values]
        dtype: pl.DataType
        if kinds <= {"int"}:
            dtype = pl.Int64
        elif kinds <= {"int", "float", "decimal", "unknown"} and kinds != {"unknown"}:
            dtype, items = pl.Float64(), [float(v) for v in items]  # type: ignore[arg-type]
        elif "datetime" in kinds:
            dtype = pl.Datetime("us")
            items = [_as_datetime(v) for v in items]  # a date in the list: its midnight
        elif x.type.kind == "date":
            dtype = pl.Date()
        elif x.type.kind == "bool":
            dtype = pl.Boolean()
        else:
            dtype = pl.String()
        test = xe.cast(dtype).is_in(pl.Series(items, dtype=dtype).implode(), nulls_equal=False)
        return test  # missing for a missing x (nulls_equal=False); x used once

    def call(self, e: ir.Call) -> pl.Expr:
        f = e.func
        want = _ARG_DTYPES.get(f)
        args = [self.typed(a, want) if want else self.expr(a) for a in e.args]
        if f == "days_between":
            a, b = (x.cast(pl.Date) for x in args)
            return (b - a).dt.total_days().cast(_INTEGER_OUT)
        if f in ("year", "quarter", "month", "day", "weekday"):
            return getattr(args[0].dt, f)().cast(_INTEGER_OUT)
        if f == "abs":
            return args[0].abs()
        if f == "round":
            digits = int(e.args[1].value) if len(e.args) > 1 else 0  # type: ignore[attr-defined]
            if e.args[0].type.kind == "decimal":  # exact already: half away from zero
                return args[0].round(digits, mode="half_away_from_zero")
            return _round_float(args[0].cast(pl.Float64), digits)
        if f in ("floor", "ceil"):
            return getattr(args[0].cast(pl.Float64), f)()
        if f == "coalesce":
            return pl.coalesce(args)
        # of equal arguments (0.0 and -0.0) the first, as SQL's LEAST and GREATEST: Polars
        # keeps the last one
        if f == "least":
            return pl.min_horizontal(args[::-1])
        if f == "greatest":
            return pl.max_horizontal(args[::-1])
        if f == "lower":  # Σ is σ everywhere, no final sigma (backends/casemap.py)
            return args[0].str.replace_all("Σ", "σ", literal=True).str.to_lowercase()
        if f == "upper":
            return args[0].str.to_uppercase()
        if f == "trim":
            return args[0].str.strip_chars()
        if f == "length":
            return args[0].str.len_chars().cast(_INTEGER_OUT)
        raise AssertionError(f"no Polars translation for function {f}")


_PER_ROW = (ir.Column, ir.RuleRef, ir.Aggregate, ir.Ranking)  # what makes a value vary


def _constant(e: ir.Expr) -> bool:
    """`e` is the same on every row: Polars computes it as a scalar."""
    return not any(isinstance(n, _PER_ROW) for n in ir.walk(e))


_ARG_DTYPES: dict[str, pl.DataType] = {
    **dict.fromkeys(("lower", "upper", "trim", "length"), pl.String()),
    **dict.fromkeys(("days_between", "year", "quarter", "month", "day", "weekday"), pl.Date()),
}


def _nan_to_null(x: pl.Expr) -> pl.Expr:
    """`x` with NaN as missing. Not `x.fill_nan(None)`: Polars expands that into a
    when/then reading `x` twice, so nested arithmetic (`a + b + c + ...`) would double in
    size with each operator: seconds for 10 terms, hours for 20. (`replace` is slow to
    plan when nested, hence once per chain of arithmetic: see `ExprCompiler.arith`.)"""
    return x.replace(float("nan"), None)


def _round_float(x: pl.Expr, digits: int) -> pl.Expr:
    """tagengine's rounding of a float, not Polars' own (see backends/rounding.py)."""
    a = x.abs()
    p = broadcast(rounding.scale(digits), a)
    k = (a * p).floor()
    up = (a >= (k * 2.0 + 1.0) / (p * 2.0)).cast(pl.Float64)
    r = (k + up) / p
    as_it_is = (a >= rounding.limit(digits)) | (a == 0.0)  # zero keeps its sign
    return pl.when(as_it_is).then(x).when(x < 0).then(-r).otherwise(r)


def broadcast(value: float, like: pl.Expr) -> pl.Expr:
    """`value` as a column as long as `like`. Dividing by it is IEEE division; dividing by
    a scalar, Polars multiplies by its reciprocal (`x / 10` is `x * 0.1`, wrong in the
    last bit, so that `254 / 10` gives 25.400000000000002)."""
    return like.is_null().cast(pl.Float64) * 0.0 + value


def _as_datetime(v: object) -> object:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return dt.datetime.combine(v, dt.time())
    return v


# Polars runs `str.contains(literal=True)` as a regular expression of the escaped text.
# The `regex` crate searches a literal of up to about 100 bytes with a plain substring
# search, but for a longer one it takes O(pattern × text) time: 10,000 × "a" + "c" costs
# seconds per 100,000-character text. `contains_any` (Aho-Corasick) takes time linear in
# the text, plus building its automaton once per batch of rows, so longer texts go to it.
_REGEX_LITERAL_BYTES = 64


def _contains(s: pl.Expr, text: str) -> pl.Expr:
    if len(text.encode("utf-8", "surrogatepass")) <= _REGEX_LITERAL_BYTES:
        return s.str.contains(text, literal=True)
    return s.str.contains_any([text])


def literal(e: ir.Literal) -> pl.Expr:
    v = e.value
    match v:
        case bool():
            return pl.lit(v, pl.Boolean)
        case int():
            return pl.lit(v, pl.Int64)
        case Decimal() | float():
            return pl.lit(float(v), pl.Float64)
        case str():
            return pl.lit(v, pl.String)
        case dt.datetime():
            return pl.lit(v, pl.Datetime("us"))
        case dt.date():
            return pl.lit(v, pl.Date)
    raise AssertionError(v)


def _compare(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    match op:
        case "==":
            return a == b
        case "!=":
            return a != b
        case "<":
            return a < b
        case "<=":
            return a <= b
        case ">":
            return a > b
    return a >= b


def levels(rules: Iterable[ir.Rule]) -> list[list[ir.Rule]]:
    """Rules grouped so that each group uses only rules of earlier groups."""
    depth: dict[str, int] = {}
    groups: list[list[ir.Rule]] = []
    for rule in rules:  # already in dependency order
        d = 1 + max((depth[n] for n in rule.depends_on), default=-1)
        depth[rule.name] = d
        if d == len(groups):
            groups.append([])
        groups[d].append(rule)
    return groups


def plan(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    select: list[str] | None = None,
    row_counts: bool = False,
    passes: int = 1,
    collect: Callable[[pl.LazyFrame], pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """One lazy query: read only the used columns, aggregate each related table in one
    group_by joined once, sort by key, then add the rules level by level.

    With `row_counts`, each related table's matched row count stays in the output as
    `__<table>__rows` (for reporting rows whose key matches no entity). With `passes` > 1
    each related table is aggregated now, in that many passes: see `aggregated`."""
    wanted = program.closure(select) if select else {r.name for r in program.rules}
    rules = [r for r in program.rules if r.name in wanted]
    lf, compiler = rule_frame(program, tables, as_of, rules, passes=passes, collect=collect)
    outputs = [n for n in program.outputs if n in (set(select) if select else wanted)]
    extra = [
        pl.col(f"__{t.name}__rows").fill_null(0)
        for t in program.related
        if row_counts and any(c.startswith(f"__{t.name}__") for c in compiler.aggregates.values())
    ]
    return lf.select([program.entity.key, *outputs, *extra])


def rule_frame(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    rules: list[ir.Rule],
    precomputed: pl.LazyFrame | None = None,
    precomputed_columns: Mapping[tuple, str] | None = None,
    passes: int = 1,
    collect: Callable[[pl.LazyFrame], pl.DataFrame] | None = None,
) -> tuple[pl.LazyFrame, ExprCompiler]:
    """The entity's used columns, its aggregates and `rules` (in dependency order) as
    columns, sorted by key; and the compiler that refers to those columns.

    `precomputed` (key plus columns) is joined in first: `precomputed_columns` names the
    column that holds each expression (by fingerprint) — explain computes rankings over
    the whole population that way and then evaluates one customer."""
    used = {c.name for r in rules for c in ir.walk(r.expr) if isinstance(c, ir.Column)}
    key = program.entity.key
    lf = tables[program.entity.table].select([key, *sorted(used - {key})])
    key_dtype = lf.collect_schema()[key]
    columns: dict[tuple, str] = dict(precomputed_columns or {})
    for group in aggregate.collect(program, rules):
        lf = lf.join(
            aggregated(group, tables[group.related.name], key_dtype, as_of, passes, collect),
            left_on=key,
            right_on=group.related.key,
            how="left",
        )
        zero = [
            _undefined_missing(pl.col(c).fill_null(0), group.nodes[fp])
            for fp, c in group.columns.items()
            if group.nodes[fp].func in aggregate.ZERO_WHEN_EMPTY
        ]
        lf = lf.with_columns(zero) if zero else lf
        columns.update(group.columns)
    if precomputed is not None:
        lf = lf.join(precomputed, on=key, how="left")
    lf = lf.sort(key)
    compiler = ExprCompiler(as_of, aggregates=columns)
    for level in levels(rules):
        lf = lf.with_columns([compiler.rule(r) for r in level])
    return lf, compiler


def _undefined_missing(col: pl.Expr, node: ir.Aggregate) -> pl.Expr:
    """A float sum of +inf and -inf is NaN: missing, as NaN always is, and not the 0 of a
    sum over no rows (docs/semantics.md#empty-aggregates-and-division)."""
    float_sum = node.func == "sum" and node.value is not None and node.value.type.kind == "float"
    return col.fill_nan(None) if float_sum else col


def aggregated(
    group: aggregate.TableAggregates,
    frame: pl.LazyFrame,
    key_dtype: pl.DataType,
    as_of: dt.date,
    passes: int = 1,
    collect: Callable[[pl.LazyFrame], pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """One related table's aggregates per key. In one pass this is a lazy group_by. In
    `passes` > 1 it is computed now, one slice of the keys (by hash) after the other:
    Polars' streaming group_by buffers its input rows for keys it sees rarely, so its
    memory grows with the related table's rows; in slices only a slice's rows are held at
    a time, and what remains grows with the number of customers (bench/RESULTS.md). A
    key's rows all fall in one slice, so every aggregate is the same as in one pass.
    `collect` runs a pass (default: LazyFrame.collect)."""
    if passes <= 1:
        return _grouped(group, frame, key_dtype, as_of)
    run_pass = collect or pl.LazyFrame.collect
    key = pl.col(group.related.key)
    parts = [
        run_pass(_grouped(group, frame.filter(key.hash(0) % passes == i), key_dtype, as_of))
        for i in range(passes)
    ]
    return pl.concat(parts).lazy()


def _grouped(
    group: aggregate.TableAggregates,
    frame: pl.LazyFrame,
    key_dtype: pl.DataType,
    as_of: dt.date,
) -> pl.LazyFrame:
    rel = group.related
    needed = {rel.key, *([rel.time] if rel.time else [])}
    for node in group.nodes.values():
        needed |= {c.name for c in ir.walk(node) if isinstance(c, ir.RelatedColumn)}
    rows = aggregate.visible_rows(frame.select(sorted(needed)), rel, as_of)
    schema = rows.collect_schema()
    time_dtype = schema[rel.time] if rel.time else None
    compiler = ExprCompiler(as_of)
    aggs = [
        aggregate.aggregation(node, rel, time_dtype, compiler.expr, as_of).alias(group.columns[fp])
        for fp, node in group.nodes.items()
    ]
    if schema[rel.key] != key_dtype:  # an empty entity table's key is all-missing: Null
        rows = rows.with_columns(pl.col(rel.key).cast(key_dtype, strict=key_dtype != pl.Null))
    return rows.group_by(rel.key).agg([*aggs, pl.len().alias(group.rows_column)])


def related_rows(
    program: ir.Program, tables: Mapping[str, pl.LazyFrame], as_of: dt.date
) -> dict[str, pl.LazyFrame]:
    """Per related table, a one-row frame counting its rows visible at as_of."""
    return {
        r.name: aggregate.visible_rows(
            tables[r.name].select([r.key, *([r.time] if r.time else [])]), r, as_of
        ).select(pl.len().alias("rows"))
        for r in program.related
        if r.name in tables
    }


def inline_expressions(program: ir.Program, as_of: dt.date) -> dict[str, pl.Expr]:
    """Each rule as one self-contained expression (references to other rules inlined)."""
    compiled: dict[str, pl.Expr] = {}
    columns = {
        fp: c
        for g in aggregate.collect(program, list(program.rules))
        for fp, c in g.columns.items()
    }
    compiler = ExprCompiler(as_of, lambda name: compiled[name], columns)
    for rule in program.rules:
        compiled[rule.name] = compiler.rule(rule)
    return {n: compiled[n] for n in program.outputs}


def aggregations(program: ir.Program, as_of: dt.date) -> dict[str, list[pl.Expr]]:
    """Per related table, the `group_by(key).agg(...)` expressions whose columns
    `inline_expressions` refers to (as `__<table>__<n>`)."""
    compiler = ExprCompiler(as_of)
    return {
        g.related.name: [
            aggregate.aggregation(node, g.related, pl.Date(), compiler.expr, as_of).alias(
                g.columns[fp]
            )
            for fp, node in g.nodes.items()
        ]
        for g in aggregate.collect(program, list(program.rules))
    }
