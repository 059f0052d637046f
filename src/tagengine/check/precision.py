"""TE306: a decision made on an inexact number (docs/semantics.md#exact-money).

A sum (or average) of a float column depends on the order the rows are added in, which
differs by engine and thread count; a comparison or a ranking on it can flip between two
runs on the same data. Sums of whole numbers and decimals are exact, and `round(x, n)`
fixes a value to n places, so neither is reported.
"""

from __future__ import annotations

from collections.abc import Mapping

from tagengine import ir
from tagengine.diagnostics import Diagnostic, warning

_DECISIONS = (ir.Compare, ir.Between, ir.InList, ir.Ranking)


class Precision:
    def __init__(self, rules: Mapping[str, ir.Rule]):
        self.rules = rules
        self._memo: dict[str, ir.Aggregate | None] = {}

    def source(self, e: ir.Expr) -> ir.Aggregate | None:
        """The float sum or average that makes `e` inexact, or None if `e` is exact."""
        match e:
            case ir.Call(func="round"):
                return None
            case ir.Aggregate(func="sum" | "avg", value=value) if value is not None:
                return e if value.type.kind == "float" else None
            case ir.Aggregate():
                return None
            case ir.RuleRef(name=name):
                if name not in self._memo:
                    self._memo[name] = None  # cycles are reported elsewhere
                    rule = self.rules.get(name)
                    self._memo[name] = self.source(rule.expr) if rule else None
                return self._memo[name]
        if e.type.kind == "bool":
            return None  # a decision's outcome is exact; the decision itself is reported
        for child in ir.children(e):
            found = self.source(child)
            if found is not None:
                return found
        return None

    def warnings(self, rule: ir.Rule) -> list[Diagnostic]:
        """TE306 for `rule`. Called on the rules in dependency order, each rule's source is
        known before a rule using it asks: the recursion never follows a chain of rules."""
        if rule.name not in self._memo:
            self._memo[rule.name] = None  # cycles are reported elsewhere
            self._memo[rule.name] = self.source(rule.expr)
        out: list[Diagnostic] = []
        seen: set[tuple] = set()
        for node in ir.walk(rule.expr):
            if not isinstance(node, _DECISIONS):
                continue
            operands = [c for c in ir.children(node) if not isinstance(c, ir.Literal)]
            for operand in operands:
                agg = self.source(operand)
                if agg is None or ir.fingerprint(agg) in seen:
                    continue
                seen.add(ir.fingerprint(agg))
                out.append(_warning(rule, node, agg))

        return out


def _warning(rule: ir.Rule, node: ir.Expr, agg: ir.Aggregate) -> Diagnostic:
    assert agg.value is not None
    columns = [c.name for c in ir.walk(agg.value) if isinstance(c, ir.RelatedColumn)]
    column = columns[0] if columns else "value"
    what = "ranks" if isinstance(node, ir.Ranking) else "compares"
    value = "a sum" if agg.func == "sum" else "an average"
    return warning(
        "TE306",
        f"`{rule.name}` {what} {value} of the float column `{agg.table}.{column}`, "
        "which is not exact: the result may differ between runs on other engines or "
        "thread counts",
        node.span,
        f"declare the column's places in tagengine.toml: [columns.{agg.table}] {column} = "
        f'"decimal(2)"; or round the value: `round(..., 2)`',
        "inexact",
    )
