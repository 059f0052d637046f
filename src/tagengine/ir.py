"""The typed, backend-neutral program: names bound, types known, rules in dependency order.

Every backend (Polars now, SQL later) compiles this and nothing else, so the semantics
(docs/semantics.md) live in one shape. Nodes are frozen; each expression knows its `type`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from tagengine.syntax.ast import Meta, Span

# ---- types -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # bool int float decimal string date datetime duration list unknown
    scale: int | None = None  # decimal places, for `decimal`

    def __str__(self) -> str:
        return _TYPE_WORDS.get(self.kind, self.kind)

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float", "decimal", "unknown")

    @property
    def temporal(self) -> bool:
        return self.kind in ("date", "datetime")


_TYPE_WORDS = {
    "bool": "true/false",
    "int": "whole number",
    "float": "number",
    "decimal": "decimal number",
    "string": "text",
    "date": "date",
    "datetime": "date and time",
    "duration": "duration",
    "list": "list",
    "unknown": "unknown type",
}

BOOL, INT, FLOAT = Type("bool"), Type("int"), Type("float")
STRING, DATE, DATETIME = Type("string"), Type("date"), Type("datetime")
DURATION, UNKNOWN = Type("duration"), Type("unknown")


def decimal(scale: int) -> Type:
    return Type("decimal", scale)


# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    type: Type
    span: Span


@dataclass(frozen=True, slots=True)
class Column(Expr):
    """A column of the entity table."""

    name: str


@dataclass(frozen=True, slots=True)
class RelatedColumn(Expr):
    """A column of a related table; only inside an aggregate over that table."""

    table: str
    name: str


@dataclass(frozen=True, slots=True)
class Window:
    """Rows with `as_of - amount unit < time <= as_of`, or `start <= time <= end`."""

    amount: int | None = None
    unit: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Aggregate(Expr):
    """One value per entity from its rows in a related table (docs/semantics.md#as_of and
    #empty-aggregates-and-division).

    func: count sum avg min max count_distinct first last share. `value` is None for
    `count(orders)` and `share(...)`; rows dated after as_of never reach any aggregate."""

    func: str
    table: str
    value: Expr | None
    where: Expr | None
    window: Window | None


@dataclass(frozen=True, slots=True)
class RuleRef(Expr):
    """The value of another rule (already computed: rules run in dependency order)."""

    name: str


@dataclass(frozen=True, slots=True)
class AsOf(Expr):
    """The run's observation date (docs/semantics.md#as_of)."""


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: int | Decimal | float | str | bool | dt.date | dt.datetime


@dataclass(frozen=True, slots=True)
class DurationLit(Expr):
    amount: int
    unit: str  # days | weeks | months | years


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # and | or (Kleene)
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    op: str  # == != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    op: str  # + - * /   (`/` is true division; by zero gives missing)
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList(Expr):
    operand: Expr
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class IsMissing(Expr):
    operand: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class TextTest(Expr):
    op: str  # contains | starts with | ends with | matches
    operand: Expr
    pattern: str


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A scalar function applied row by row (see `tagengine.check.functions`)."""

    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Ranking(Expr):
    """A ranking over the whole population: ntile qcut rank percent_rank
    (docs/semantics.md#rankings)."""

    func: str
    operand: Expr
    buckets: int | None
    descending: bool


@dataclass(frozen=True, slots=True)
class Case(Expr):
    """First true branch wins; `otherwise` when none is (a segment)."""

    branches: tuple[tuple[Expr, Literal], ...]
    otherwise: Literal | None


def children(expr: Expr) -> list[Expr]:
    """The direct sub-expressions of `expr`, in field order."""
    out: list[Expr] = []
    for field in expr.__dataclass_fields__:
        value = getattr(expr, field)
        if isinstance(value, Expr):
            out.append(value)
        elif isinstance(value, tuple):
            for v in value:
                if isinstance(v, Expr):
                    out.append(v)
                elif isinstance(v, tuple):
                    out.extend(x for x in v if isinstance(x, Expr))
    return out


def fingerprint(expr: Expr) -> tuple:
    """A key equal for two expressions that mean the same thing (spans ignored)."""
    parts: list[object] = [type(expr).__name__]
    for field in expr.__dataclass_fields__:
        if field == "span":
            continue
        value = getattr(expr, field)
        if isinstance(value, Expr):
            parts.append(fingerprint(value))
        elif isinstance(value, tuple):
            parts.append(
                tuple(
                    fingerprint(v)
                    if isinstance(v, Expr)
                    else tuple(fingerprint(x) if isinstance(x, Expr) else x for x in v)
                    if isinstance(v, tuple)
                    else v
                    for v in value
                )
            )
        else:
            parts.append(value)
    return tuple(parts)


def walk(expr: Expr) -> Iterator[Expr]:
    """`expr` and every expression below it, depth first."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(reversed(children(e)))


# ---- the program -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: str  # feature | tag | score | segment
    expr: Expr
    type: Type
    label: str | None
    meta: tuple[Meta, ...]
    span: Span
    depends_on: tuple[str, ...]  # names of other rules used directly


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    table: str
    key: str


@dataclass(frozen=True, slots=True)
class Related:
    name: str  # the table's name, as in `orders.amount`
    key: str  # its column that holds the entity key
    time: str | None  # its date column, for windows, first/last and as_of


@dataclass(frozen=True, slots=True)
class Program:
    entity: Entity
    related: tuple[Related, ...]
    rules: tuple[Rule, ...]  # in dependency order (a rule after everything it uses)
    columns: tuple[str, ...]  # entity-table columns the rules read, key first
    outputs: tuple[str, ...]  # rule names in the order they were written

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)

    def closure(self, names: list[str]) -> set[str]:
        """The named rules and everything they depend on."""
        by_name = {r.name: r for r in self.rules}
        seen: set[str] = set()
        stack = list(names)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(by_name[n].depends_on)
        return seen
