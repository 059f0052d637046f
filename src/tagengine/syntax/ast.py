"""AST of a rule file: what was written, with a source span on every node.

Nodes are frozen dataclasses; the checker turns them into the typed IR (`tagengine.ir`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Span:
    """A region of source text; lines and columns are 1-based, `end_column` exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: Span) -> Span:
        return Span(self.file, self.line, self.column, other.end_line, other.end_column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    span: Span


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A constant. `value` is int, Decimal, str, bool, date or datetime."""

    value: int | Decimal | str | bool | dt.date | dt.datetime
    text: str  # as written, for messages and the formatter


@dataclass(frozen=True, slots=True)
class Duration(Expr):
    amount: int
    unit: str  # "days" | "weeks" | "months" | "years"


@dataclass(frozen=True, slots=True)
class Name(Expr):
    """A bare or back-quoted name: a column, another rule, or `as_of`."""

    name: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Attr(Expr):
    """`orders.amount`: a column of a related table."""

    table: str
    column: str


@dataclass(frozen=True, slots=True)
class Window:
    """`over last 90 days` (amount, unit) or `over 2024-01-01 to 2024-06-30` (start, end)."""

    span: Span
    amount: int | None = None
    unit: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str  # "not" | "neg"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """Arithmetic, comparison and boolean operators."""

    op: str  # "+ - * / == != < <= > >= and or"
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList(Expr):
    operand: Expr
    items: tuple[Expr, ...]
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
    op: str  # "contains" | "starts with" | "ends with" | "matches"
    operand: Expr
    pattern: Expr


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: str
    func_span: Span
    args: tuple[Expr, ...]
    descending: bool | None = None  # set by a trailing `ascending` / `descending`
    where: Expr | None = None  # aggregates: `sum(orders.amount where ...)`
    window: Window | None = None  # aggregates: `... over last 90 days`


def children(expr: Expr) -> list[Expr]:
    """The direct sub-expressions of `expr` (a call's `where` filter included)."""
    out: list[Expr] = []
    for name in expr.__dataclass_fields__:
        value = getattr(expr, name)
        if isinstance(value, Expr):
            out.append(value)
        elif isinstance(value, tuple):
            out.extend(v for v in value if isinstance(v, Expr))
    return out


def walk(expr: Expr) -> Iterator[Expr]:
    """`expr` and every expression below it."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(children(node))


# ---- statements -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    key: str
    value: str | int | Decimal
    span: Span
    text: str = ""  # the value as written (`"crm-team"`, `rule`, `2`), for the formatter


@dataclass(frozen=True, slots=True)
class Statement:
    span: Span
    name: str
    name_span: Span


@dataclass(frozen=True, slots=True)
class Entity(Statement):
    table: str
    key: str
    key_span: Span


@dataclass(frozen=True, slots=True)
class Related(Statement):
    """`related orders key customer_id time order_date`: a table joined to the entity."""

    key: str
    key_span: Span
    time: str | None
    time_span: Span | None


@dataclass(frozen=True, slots=True)
class Rule(Statement):
    """A named definition: feature, tag, score or segment."""

    label: str | None
    meta: tuple[Meta, ...]

    kind = "rule"


@dataclass(frozen=True, slots=True)
class Feature(Rule):
    expr: Expr
    kind = "feature"


@dataclass(frozen=True, slots=True)
class Tag(Rule):
    condition: Expr
    kind = "tag"


@dataclass(frozen=True, slots=True)
class Score(Rule):
    expr: Expr
    kind = "score"


@dataclass(frozen=True, slots=True)
class Branch:
    value: str
    condition: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Segment(Rule):
    branches: tuple[Branch, ...]
    otherwise: str | None
    kind = "segment"


# ---- in-file tests ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """`amount: 6_000` in a given row; `value` None is `missing`."""

    column: str
    column_span: Span
    value: Literal | None
    span: Span


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[Cell, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Given:
    """`given orders { ... } { ... }`: rows of one table for a test."""

    table: str
    table_span: Span
    rows: tuple[Row, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TestAsOf:
    """`as_of 2024-12-31`: the observation date of a test."""

    __test__ = False  # not a pytest test class

    value: Literal
    span: Span


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expectation of an `expect` line.

    op: "set" (`expect a`), "not set" (`expect not a`), or a comparison `== != < <= > >=`
    with `value` (None: `missing`)."""

    name: str
    name_span: Span
    op: str
    value: Literal | None
    span: Span


@dataclass(frozen=True, slots=True)
class Subject:
    """`for customer 2`: the entity an `expect` line is about (its name or key column)."""

    name: str
    name_span: Span
    key: Literal
    span: Span


@dataclass(frozen=True, slots=True)
class Expect:
    items: tuple[Expectation, ...]
    subject: Subject | None
    span: Span


TestClause = Given | TestAsOf | Expect


@dataclass(frozen=True, slots=True)
class Test(Statement):
    """`test "title"` and its clauses, in the order written. `name` is the title."""

    __test__ = False  # not a pytest test class

    clauses: tuple[TestClause, ...]
    kind = "test"

    @property
    def givens(self) -> tuple[Given, ...]:
        return tuple(c for c in self.clauses if isinstance(c, Given))

    @property
    def expects(self) -> tuple[Expect, ...]:
        return tuple(c for c in self.clauses if isinstance(c, Expect))

    @property
    def as_of(self) -> TestAsOf | None:
        return next((c for c in self.clauses if isinstance(c, TestAsOf)), None)


@dataclass(frozen=True, slots=True)
class Program:
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(s for s in self.statements if isinstance(s, Rule))

    @property
    def entities(self) -> tuple[Entity, ...]:
        return tuple(s for s in self.statements if isinstance(s, Entity))

    @property
    def related(self) -> tuple[Related, ...]:
        return tuple(s for s in self.statements if isinstance(s, Related))

    @property
    def tests(self) -> tuple[Test, ...]:
        return tuple(s for s in self.statements if isinstance(s, Test))
