"""Warnings: rules that are valid but almost certainly not what their author meant.

Runs on the typed program. Each warning has its own stable code (docs/diagnostics.md):

- TE302 a feature nothing uses and nothing marks as an output (no label, no metadata)
- TE303 a segment branch that can never match (an earlier branch always matches, or has
        the same condition)
- TE304 a condition that does not depend on the data (`1 > 2`, `x > 3 or true`,
        `age between 30 and 20`)
- TE305 text compared with a value that is not one of an Enum column's categories
- TE306 a comparison or ranking on a float sum or average (check/precision.py)

TE301 (a rule hiding a column) is found while resolving names, in `resolve.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from decimal import Decimal

from tagengine import ir
from tagengine.check.precision import Precision
from tagengine.diagnostics import Diagnostic, did_you_mean, warning
from tagengine.schema import Schema, categories
from tagengine.syntax import ast

# ---- what a condition can evaluate to ------------------------------------------------
# A condition is true, false or unknown (missing: docs/semantics.md#missing-values).
# `outcomes` gives the set of values it can take over all possible data; a condition that
# can never be true, or can only be true, does not depend on the data.

TRUE, FALSE, UNKNOWN = "true", "false", "unknown"
ANY = frozenset((TRUE, FALSE, UNKNOWN))
_NOT = {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}


def _kleene_and(a: str, b: str) -> str:
    if FALSE in (a, b):
        return FALSE
    return UNKNOWN if UNKNOWN in (a, b) else TRUE


def _kleene_or(a: str, b: str) -> str:
    if TRUE in (a, b):
        return TRUE
    return UNKNOWN if UNKNOWN in (a, b) else FALSE


class _NotConstant:
    pass


_VARIES = _NotConstant()
_ORDER: dict[str, Callable[[object, object], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def constant(e: ir.Expr) -> object:
    """The value of `e` when it is the same for every customer, else `_VARIES`.
    Only fixed values and arithmetic on fixed numbers are folded."""
    match e:
        case ir.Literal(type=t, value=v) if t.kind != "unknown":
            return v
        case ir.Neg(operand=x):
            v = constant(x)
            return -v if _number(v) else _VARIES  # type: ignore[operator]
        case ir.Arith(op=op, left=a, right=b):
            va, vb = constant(a), constant(b)
            if not (_number(va) and _number(vb)):
                return _VARIES
            if op == "/" and vb == 0:
                # division by zero is missing (docs/semantics.md#empty-aggregates-and-division)
                return _VARIES
            if isinstance(va, float) or isinstance(vb, float):
                va, vb = float(va), float(vb)  # type: ignore[arg-type]
            elif op == "/":
                va = Decimal(va)  # type: ignore[arg-type]
            if op == "/":
                return va / vb  # type: ignore[operator]
            return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](va, vb)
    return _VARIES


def _number(v: object) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def _same_kind(a: object, b: object) -> bool:
    """Python compares these the way the engine does (no date/datetime mixing)."""
    if _number(a) and _number(b):
        return True
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return isinstance(a, dt.datetime) and isinstance(b, dt.datetime)
    return type(a) is type(b)


def _fixed(op: str, a: object, b: object) -> frozenset[str] | None:
    if a is _VARIES or b is _VARIES or not _same_kind(a, b):
        return None
    try:
        return frozenset((TRUE if _ORDER[op](a, b) else FALSE,))
    except TypeError:
        return None


def outcomes(e: ir.Expr) -> frozenset[str]:
    """Every value (true, false, unknown) the condition `e` can take, whatever the data."""
    match e:
        case ir.Literal(value=bool() as v):
            return frozenset((TRUE if v else FALSE,))
        case ir.Not(operand=x):
            return frozenset(_NOT[o] for o in outcomes(x))
        case ir.BoolOp(op=op, left=a, right=b):
            combine = _kleene_and if op == "and" else _kleene_or
            return frozenset(combine(x, y) for x in outcomes(a) for y in outcomes(b))
        case ir.Compare(op=op, left=a, right=b):
            return _fixed(op, constant(a), constant(b)) or ANY
        case ir.Between(operand=x, low=lo, high=hi, negated=negated):
            vx, vlo, vhi = constant(x), constant(lo), constant(hi)
            low_ok, high_ok = _fixed(">=", vx, vlo), _fixed("<=", vx, vhi)
            if low_ok is not None and high_ok is not None:
                result = frozenset(_kleene_and(a, b) for a in low_ok for b in high_ok)
            elif _fixed(">", vlo, vhi) == {TRUE}:
                result = frozenset((FALSE, UNKNOWN))  # empty range: false, or missing x
            else:
                return ANY
            return frozenset(_NOT[o] for o in result) if negated else result
        case ir.InList(operand=x, values=values, negated=negated):
            if values:
                return ANY
            result = frozenset((FALSE, UNKNOWN))  # `x in []`: false, or missing x
            return frozenset(_NOT[o] for o in result) if negated else result
        case ir.IsMissing(operand=x, negated=negated):
            if constant(x) is _VARIES:
                return ANY
            return frozenset((TRUE if negated else FALSE,))
    return ANY


def is_constant(found: frozenset[str]) -> bool:
    """Never true, or never anything but true."""
    return TRUE not in found or found == {TRUE}


# ---- the warnings ----------------------------------------------------------------------


def warnings(
    rules: Mapping[str, ast.Rule],
    typed: Sequence[ir.Rule],
    schema: Schema | None,
    entity: ast.Entity,
    complete: bool = True,
    tested: Collection[str] = (),
) -> list[Diagnostic]:
    """Every warning for the typed rules. `complete` is False when some statements did not
    parse or check: then a feature may only look unused, so TE302 is not reported. A
    feature named by a `test` block's `expect` (`tested`) is an output, not unused."""
    out: list[Diagnostic] = []
    by_name = {r.name: r for r in typed}
    if complete:
        out += _unused_features(rules, typed, set(tested))
    precision = Precision(by_name)
    for rule in typed:
        out += precision.warnings(rule)
        if isinstance(rule.expr, ir.Case):
            out += _unreachable_branches(rule)
        out += _constant_conditions(rule, entity.name)
        if schema is not None:
            out += _unknown_categories(rule, by_name, schema, entity.table)
    return out


def _unused_features(
    rules: Mapping[str, ast.Rule], typed: Sequence[ir.Rule], tested: set[str]
) -> list[Diagnostic]:
    used = {dep for r in typed for dep in r.depends_on} | tested
    out = []
    for rule in typed:
        if rule.kind != "feature" or rule.name in used or rule.label or rule.meta:
            continue
        out.append(
            warning(
                "TE302",
                f"feature `{rule.name}` is not used by any rule",
                rules[rule.name].name_span,
                f"remove it; or, if it is an output in its own right, give it a display "
                f'label (`feature {rule.name} "..." = ...`) or a metadata line',
                "used by nothing",
            )
        )
    return out


def _unreachable_branches(rule: ir.Rule) -> list[Diagnostic]:
    assert isinstance(rule.expr, ir.Case)
    out = []
    always: str | None = None  # the value of a branch that always matches
    seen: dict[tuple, str] = {}
    for cond, value in rule.expr.branches:
        name = f'branch "{value.value}" of segment `{rule.name}`'
        if always is not None:
            reason = f'branch "{always}" before it always matches'
            hint = f'put it before branch "{always}", or remove it'
        elif (fp := ir.fingerprint(cond)) in seen:
            reason = f'branch "{seen[fp]}" before it has the same condition'
            hint = "change its condition, or remove it"
        else:
            seen[fp] = str(value.value)
            if outcomes(cond) == {TRUE}:
                always = str(value.value)
            continue
        out.append(warning("TE303", f"{name} can never match: {reason}", value.span, hint))
    return out


def _constant_conditions(rule: ir.Rule, entity: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    tops: dict[int, str] = {}  # id of a whole condition -> what it decides
    match rule.expr:
        case ir.Case(branches=branches):
            for cond, value in branches:
                tops[id(cond)] = f'branch "{value.value}" never matches'
        case expr if rule.kind == "tag":
            tops[id(expr)] = f"tag `{rule.name}` is never set"
    for node in _conditions(rule.expr):
        found = outcomes(node)
        always_true = found == {TRUE}
        message = "this condition is always " + ("true" if always_true else "false")
        if found == {FALSE, UNKNOWN}:
            message = "this condition is never true"
        consequence = tops.get(id(node))
        if consequence and not always_true:
            message += f", so {consequence}"
        elif consequence and rule.kind == "tag":
            message += f", so every {entity} gets tag `{rule.name}`"
        out.append(
            warning(
                "TE304",
                message,
                node.span,
                _constant_hint(node, always_true),
                "always true" if always_true else "never true",
            )
        )
    return out


def _conditions(root: ir.Expr) -> Iterator[ir.Expr]:
    """The outermost conditions that do not depend on the data, each once; a bare `true`
    or `false` is written on purpose and not one of them."""
    stack = [root]
    while stack:
        e = stack.pop()
        if e.type.kind == "bool" and is_constant(outcomes(e)) and not isinstance(e, ir.Literal):
            yield e
            continue
        stack.extend(reversed(ir.children(e)))


def _constant_hint(node: ir.Expr, always_true: bool) -> str:
    match node:
        case ir.Between(operand=x, low=lo, high=hi) if _fixed(">", constant(lo), constant(hi)) == {
            TRUE
        }:
            words = [_written(e) for e in (x, hi, lo)]
            example = (
                f"`{words[0]} between {words[1]} and {words[2]}`"
                if all(words)
                else "`age between 20 and 30`"
            )
            return f"`between` takes the smaller bound first: {example}"
        case ir.BoolOp(op="or") if always_true:
            return "a part that is always true makes the whole `or` true; remove it"
        case ir.BoolOp(op="and") if not always_true:
            return "a part that is always false makes the whole `and` false; remove it"
        case ir.InList(values=()):
            return "the list is empty; add the values to look for"
        case ir.IsMissing():
            return "a fixed value is never missing; test a column or a rule"
    return "it compares fixed values only; compare a column or a rule instead"


def _written(e: ir.Expr) -> str | None:
    """`e` as it would be written in a rule, for a name or a fixed value; else None."""
    match e:
        case ir.Column(name=n) | ir.RuleRef(name=n):
            return n
        case ir.RelatedColumn(table=t, name=n):
            return f"{t}.{n}"
        case ir.Literal(value=str() as v):
            return json.dumps(v, ensure_ascii=False)
        case ir.Literal(value=dt.date() as v):
            return v.isoformat()
        case ir.Literal(value=int() | Decimal() | float() as v) if not isinstance(v, bool):
            return str(v)
    return None


def _unknown_categories(
    rule: ir.Rule, by_name: Mapping[str, ir.Rule], schema: Schema, entity_table: str
) -> list[Diagnostic]:
    out = []
    for node in ir.walk(rule.expr):
        pairs: list[tuple[ir.Expr, ir.Expr]] = []
        match node:
            case ir.Compare(op="==" | "!=", left=a, right=b):
                pairs = [(a, b), (b, a)]
            case ir.InList(operand=x, values=values):
                pairs = [(x, v) for v in values]
        for column, value in pairs:
            if not (isinstance(value, ir.Literal) and isinstance(value.value, str)):
                continue
            found = _categories_of(column, by_name, schema, entity_table)
            if found is None or value.value in found[1]:
                continue
            name, known = found
            guess = did_you_mean(value.value, known)
            listing = ", ".join(f'"{c}"' for c in known[:20])
            listing = f"the categories of `{name}`: {listing}"
            out.append(
                warning(
                    "TE305",
                    f'"{value.value}" is not one of the categories of `{name}`, so it never '
                    "matches",
                    value.span,
                    f'did you mean "{guess}"? ({listing})' if guess else listing,
                    "not a category",
                )
            )
    return out


def _categories_of(
    e: ir.Expr, by_name: Mapping[str, ir.Rule], schema: Schema, entity_table: str
) -> tuple[str, tuple[str, ...]] | None:
    """(the column's name, its Enum categories) when `e` is, or names, an Enum column."""
    seen: set[str] = set()
    while isinstance(e, ir.RuleRef) and e.name in by_name and e.name not in seen:
        seen.add(e.name)
        e = by_name[e.name].expr  # a feature that is just another column or rule
    match e:
        case ir.Column(name=name):
            dtype = schema.get(entity_table, {}).get(name)
        case ir.RelatedColumn(table=table, name=name):
            dtype = schema.get(table, {}).get(name)
            name = f"{table}.{name}"
        case _:
            return None
    known = categories(dtype) if dtype is not None else None
    return (name, known) if known is not None else None
