"""Private columns (the project's `pii`): which values would show them.

Whether a value shows (part of) a private value is a property of every expression,
computed from the IR by one data-flow rule and the tables below (the same tables are in
docs/security.md, "What carries a private value"). Each construct, given a private
input, either

- *carries* it: its value shows the input (`round(credit_score)`, `sum(orders.amount)`,
  `days_between(signup_date, as_of)`, `ntile(credit_score, 4)`);
- *reveals nothing* of it (`count(orders)`, `length(email)`, `phone is missing`); or
- gives a *verdict* on it (`credit_score > 700`, `email contains "@"`): one bit, what a
  tag is for. A verdict on a private true/false value repeats that value, so there it
  carries.

Fail-closed: a function, aggregate, ranking or kind of expression without an entry
carries. Carried values are `***` in explain, have no range in summaries and no buckets
in funnels, and `run` leaves such rules out of its output unless `--include-pii`, or
unless the rule says `declassify "reason"`: then its value is shown and written, `check`
warns (TE307), explain marks it and the output's metadata records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from tagengine import ir
from tagengine.diagnostics import Diagnostic, warning
from tagengine.syntax import ast

MASK = "***"
DECLASSIFY = "declassify"  # the metadata key


class Flow(StrEnum):
    """What a construct's value shows of a private input."""

    CARRIES = "carries"
    NOTHING = "reveals nothing"
    VERDICT = "verdict"  # reveals nothing, except a private true/false value: carries


C, N, V = Flow.CARRIES, Flow.NOTHING, Flow.VERDICT

# Functions (check/functions.py, SCALAR): what each does with a private argument.
FUNCTIONS: dict[str, Flow] = {
    "days_between": C,
    "year": C,
    "quarter": C,
    "month": C,
    "day": C,
    "weekday": C,
    "abs": C,
    "round": C,
    "floor": C,
    "ceil": C,
    "coalesce": C,
    "least": C,
    "greatest": C,
    "lower": C,
    "upper": C,
    "trim": C,
    "length": N,
}

# Aggregates (check/types.py, AGGREGATES): what each does with a private value or filter.
AGGREGATES: dict[str, Flow] = {
    "sum": C,
    "avg": C,
    "min": C,
    "max": C,
    "first": C,
    "last": C,
    "count": N,
    "count_distinct": N,
    "share": N,
}

# Rankings (check/functions.py, RANKING): the order of a private value is part of it.
RANKINGS: dict[str, Flow] = {"ntile": C, "qcut": C, "rank": C, "percent_rank": C}

# Every other kind of expression, by the name docs/security.md gives it. Columns and
# rule references are the sources of private values (`_flows` below), not in this table.
OPERATORS: dict[str, Flow] = {
    "arithmetic": C,
    "negation": C,
    "segment": C,
    "comparison": V,
    "between": V,
    "in": V,
    "text test": V,
    "not": V,
    "and / or": V,
    "is missing": N,
    "literal": N,
    "as_of": N,
}

NODE_NAMES: dict[type[ir.Expr], str] = {
    ir.Arith: "arithmetic",
    ir.Neg: "negation",
    ir.Case: "segment",
    ir.Compare: "comparison",
    ir.Between: "between",
    ir.InList: "in",
    ir.TextTest: "text test",
    ir.Not: "not",
    ir.BoolOp: "and / or",
    ir.IsMissing: "is missing",
    ir.Literal: "literal",
    ir.DurationLit: "literal",
    ir.AsOf: "as_of",
}


def flow(e: ir.Expr) -> Flow:
    """What `e` does with a private input; `carries` for anything not in the tables."""
    match e:
        case ir.Call(func=func):
            return FUNCTIONS.get(func, C)
        case ir.Aggregate(func=func):
            return AGGREGATES.get(func, C)
        case ir.Ranking(func=func):
            return RANKINGS.get(func, C)
    name = NODE_NAMES.get(type(e))
    return OPERATORS.get(name, C) if name is not None else C


def declassified(rule: ir.Rule | ast.Rule) -> str | None:
    """The reason a rule's `declassify` line gives, or None."""
    return next((str(m.value) for m in rule.meta if m.key == DECLASSIFY), None)


@dataclass
class Privacy:
    """`columns`: private columns, as the project's `pii` names them: `table.column`, or a
    bare name (a column of that name in any table, the entity's included)."""

    program: ir.Program
    columns: frozenset[str]
    _memo: dict[str, bool] = field(default_factory=dict)
    declassified: dict[str, str] = field(init=False)  # rule name -> the reason given
    _public: set[int] = field(init=False)  # id() of the declassified rules' expressions

    def __post_init__(self) -> None:
        self.declassified = {
            r.name: reason for r in self.program.rules if (reason := declassified(r)) is not None
        }
        self._public = {id(r.expr) for r in self.program.rules if r.name in self.declassified}

    @classmethod
    def of(cls, program: ir.Program, columns: Iterable[str]) -> Privacy:
        return cls(program, frozenset(columns))

    def is_private(self, table: str, column: str) -> bool:
        return column in self.columns or f"{table}.{column}" in self.columns

    def carries(self, e: ir.Expr) -> bool:
        """Whether the value of `e` shows (part of) a private column's value. The
        expression of a declassified rule does not: its value is shown by decision."""
        if not self.columns or id(e) in self._public:
            return False
        return self._flows(e)

    def _flows(self, e: ir.Expr) -> bool:
        match e:
            case ir.Column(name=name):
                return self.is_private(self.program.entity.table, name)
            case ir.RelatedColumn(table=table, name=name):
                return self.is_private(table, name)
            case ir.RuleRef(name=name):
                return self.rule_carries(name)
        how = flow(e)
        if how is Flow.NOTHING:
            return False
        if how is Flow.VERDICT:  # one bit of a number, a text or a date; all of a true/false
            return any(c.type.kind == "bool" and self.carries(c) for c in ir.children(e))
        return any(self.carries(c) for c in ir.children(e))

    def rule_carries(self, name: str) -> bool:
        """Whether rule `name`'s value shows a private column (a declassified rule's does
        not: it is shown and written by decision)."""
        if name not in self._memo:
            self._memo[name] = False  # cycles are reported elsewhere
            self._memo[name] = self.carries(self.program.rule(name).expr)
        return self._memo[name]

    def declassified_carries(self, name: str) -> bool:
        """Whether declassified rule `name` would carry a private column without its
        `declassify` line: whether that line matters."""
        return bool(self.columns) and self._flows(self.program.rule(name).expr)

    def withheld(self, names: Iterable[str]) -> list[str]:
        """The rules among `names` whose values carry a private column."""
        return [n for n in names if self.rule_carries(n)]


def declassifications(
    rules: Iterable[ast.Rule], program: ir.Program | None, private: Iterable[str]
) -> list[Diagnostic]:
    """TE307 for every rule with a `declassify` line, saying whether it carries a private
    column of `private` (when the rules type-check and `private` is known)."""
    privacy = Privacy.of(program, private) if program is not None else None
    out = []
    for rule in rules:
        meta = next((m for m in rule.meta if m.key == DECLASSIFY), None)
        if meta is None:
            continue
        where = f"{rule.kind} `{rule.name}`"
        hint = f'the reason given: "{meta.value}"; remove the line to keep its value private'
        if privacy is None or not privacy.columns or rule.name not in privacy.declassified:
            message = f"{where} is declassified: its value is shown and written even if it "
            message += "carries a private column"
        elif privacy.declassified_carries(rule.name):
            message = f"{where} is declassified: its value carries a private column, and is "
            message += "shown and written all the same"
        else:
            message = f"{where} is declassified, but its value carries no private column"
            hint = f'the reason given: "{meta.value}"; the `declassify` line can go'
        out.append(warning("TE307", message, meta.span, hint, "declassified"))
    return out
