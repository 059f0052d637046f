"""One customer's explanation: each rule's clauses with their values and verdicts, and
for a tag that is not set, what stands in the way (false and unknown are told apart, and
an unknown names the missing values: docs/semantics.md#missing-values)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tagengine import ir
from tagengine.explain import words
from tagengine.explain.evaluate import CustomerValues, clauses
from tagengine.explain.model import Branch, Node, Obstacle, RuleExplanation, Source, Verdict
from tagengine.privacy import MASK, Privacy
from tagengine.syntax.ast import Span

_KINDS: dict[type, str] = {
    ir.Not: "not",
    ir.Compare: "compare",
    ir.InList: "in",
    ir.Between: "between",
    ir.IsMissing: "missing",
    ir.TextTest: "text",
    ir.Column: "column",
    ir.RuleRef: "rule",
    ir.Aggregate: "aggregate",
    ir.Ranking: "ranking",
    ir.Call: "call",
    ir.Arith: "arithmetic",
    ir.Neg: "arithmetic",
    ir.AsOf: "column",
    ir.Literal: "literal",
    ir.DurationLit: "literal",
    ir.Case: "segment",
}


class Snippets:
    """The source text under a span, on one line, for showing a clause as written."""

    def __init__(self, sources: Mapping[str, str]):
        self._lines = {name: text.splitlines() for name, text in sources.items()}

    def __call__(self, span: Span) -> str:
        lines = self._lines.get(span.file)
        if not lines or span.line > len(lines):
            return "?"
        if span.line == span.end_line:
            text = lines[span.line - 1][span.column - 1 : span.end_column - 1]
        else:
            parts = [lines[span.line - 1][span.column - 1 :]]
            parts += lines[span.line : span.end_line - 1]
            parts.append(lines[span.end_line - 1][: span.end_column - 1])
            text = " ".join(p.strip() for p in parts)
        return re.sub(r"\s+", " ", text).strip()


def verdict_of(value: object) -> Verdict:
    return "unknown" if value is None else "true" if value else "false"


class CustomerExplainer:
    def __init__(
        self,
        program: ir.Program,
        values: CustomerValues,
        snippets: Snippets,
        privacy: Privacy | None = None,
    ):
        self.program = program
        self.values = values
        self.privacy = privacy or Privacy.of(program, ())
        self.text = lambda e: snippets(e.span)
        self.by_name = {r.name: r for r in program.rules}

    # ---- rules -------------------------------------------------------------

    def rule(self, rule: ir.Rule) -> RuleExplanation:
        value = self.values.rules[rule.name]
        common = dict(
            name=rule.name,
            kind=rule.kind,
            label=rule.label,
            declassified=self.privacy.declassified.get(rule.name),
        )
        if self.privacy.rule_carries(rule.name) and rule.kind in ("tag", "segment"):
            # a verdict or label that repeats a private true/false value: not even which
            # branch matched, or what stands in the way
            tree = None if rule.kind == "segment" else self.node(rule.expr, {rule.name})
            return RuleExplanation(**common, value=MASK, shown=MASK, tree=tree)
        if rule.kind == "segment":
            assert isinstance(rule.expr, ir.Case)
            return RuleExplanation(
                **common,
                value=words.as_json(value),
                shown=words.shown(value) if value is not None else "missing (no branch matched)",
                branches=self.branches(rule.expr, value, rule.name),
            )
        tree = self.node(rule.expr, {rule.name})
        if rule.kind == "tag":
            return RuleExplanation(
                **common,
                value=bool(value),
                shown="set" if value else "not set",
                tree=tree,
                obstacles=[] if value else self.obstacles(rule.expr, [rule.name]),
            )
        if self.privacy.rule_carries(rule.name):
            return RuleExplanation(**common, value=MASK, shown=MASK, tree=tree)
        return RuleExplanation(
            **common, value=words.as_json(value), shown=words.shown(value, rule.type), tree=tree
        )

    def branches(self, case: ir.Case, value: object, name: str) -> list[Branch]:
        out: list[Branch] = []
        matched = False
        for cond, label in case.branches:
            if matched:
                out.append(Branch(label=str(label.value), status="not tried"))
                continue
            verdict = verdict_of(self.values.nodes[ir.fingerprint(cond)])
            matched = verdict == "true"
            out.append(
                Branch(
                    label=str(label.value),
                    status="matched" if matched else "failed",
                    verdict=verdict,
                    tree=self.node(cond, {name}),
                    obstacles=[] if matched else self.obstacles(cond, [name]),
                )
            )
        if case.otherwise is not None:
            out.append(
                Branch(
                    label=str(case.otherwise.value),
                    status="not tried" if matched else "matched",
                    otherwise=True,
                )
            )
        return out

    # ---- the clause tree ---------------------------------------------------

    def node(self, e: ir.Expr, expanded: set[str]) -> Node:
        value = self.values.nodes.get(ir.fingerprint(e)) if _evaluated(e) else _literal(e)
        private = self.privacy.carries(e)
        verdict = verdict_of(value) if e.type.kind == "bool" and not private else None
        kind = e.op if isinstance(e, ir.BoolOp) else _KINDS.get(type(e), "value")
        children: list[Node] = []
        for child in self._shown_children(e):
            children.append(self.node(child, expanded))
        rule = e.name if isinstance(e, ir.RuleRef) else None
        if rule is not None and rule not in expanded:
            target = self.by_name[rule]
            if not isinstance(target.expr, ir.Case):
                expanded.add(rule)
                children.append(self.node(target.expr, expanded))
        return Node(
            text=self.text(e),
            kind=kind,
            value=MASK if private else words.as_json(value),
            shown=MASK if private else words.shown(value, e.type),
            verdict=verdict,
            missing=self.missing(e) if verdict == "unknown" else [],
            gap=self.reason(e) if verdict == "false" and _has_gap(e) else None,
            rule=rule,
            source=self.source(e) if isinstance(e, ir.Aggregate) else None,
            population=self.values.populations.get(ir.fingerprint(e))
            if isinstance(e, ir.Ranking)
            else None,
            children=children,
        )

    def source(self, e: ir.Aggregate) -> Source | None:
        """The rows an aggregate read; their dates masked when the table's time column
        is private."""
        found = self.values.sources.get(ir.fingerprint(e))
        related = next((r for r in self.program.related if r.name == e.table), None)
        if found is None or related is None or related.time is None:
            return found
        if not self.privacy.columns or not self.privacy.is_private(e.table, related.time):
            return found
        hidden = {k: MASK for k in ("first", "last") if getattr(found, k) is not None}
        return found.model_copy(update=hidden)

    def _shown_children(self, e: ir.Expr) -> list[ir.Expr]:
        if isinstance(e, ir.BoolOp):
            return _flatten(e, e.op)
        if isinstance(e, ir.Aggregate | ir.Case):
            return []
        return [c for c in ir.children(e) if not isinstance(c, ir.Literal | ir.DurationLit)]

    def missing(self, e: ir.Expr) -> list[str]:
        """The missing values that make `e` unknown, by name."""
        names: list[str] = []
        for c in clauses(e):
            leaf = isinstance(c, ir.Column | ir.RuleRef | ir.Aggregate)
            if leaf and self.values.nodes.get(ir.fingerprint(c)) is None:
                name = c.name if isinstance(c, ir.Column | ir.RuleRef) else self.text(c)
                if name not in names:
                    names.append(name)
        return names

    # ---- why not -----------------------------------------------------------

    def obstacles(self, e: ir.Expr, via: list[str]) -> list[Obstacle]:
        """What keeps `e` from being true: every failing part of an `and`, the closest
        alternative of an `or`, and the reason at each comparison."""
        verdict = verdict_of(self.values.nodes[ir.fingerprint(e)])
        if verdict == "true":
            return []
        if isinstance(e, ir.BoolOp) and e.op == "and":
            return [o for part in _flatten(e, "and") for o in self.obstacles(part, via)]
        if isinstance(e, ir.BoolOp) and e.op == "or":
            options = [self.obstacles(alt, via) for alt in _flatten(e, "or")]
            best = min(options, key=len)
            n = len(options)
            return [o.model_copy(update={"alternatives": n}) for o in best]
        if isinstance(e, ir.RuleRef):
            target = self.by_name[e.name]
            if target.type.kind == "bool" and not isinstance(target.expr, ir.Case):
                return self.obstacles(target.expr, [*via, e.name])
        return [Obstacle(clause=self.text(e), verdict=verdict, reason=self.reason(e), via=via[1:])]

    def reason(self, e: ir.Expr) -> str:
        """One clause's verdict in words, with the distance for a false comparison."""
        value = self.values.nodes[ir.fingerprint(e)]
        if value is None:
            missing = self.missing(e)
            verb = "is" if len(missing) == 1 else "are"
            return f"unknown: {', '.join(missing)} {verb} missing" if missing else "unknown"
        match e:
            case ir.Compare(op=op, left=left, right=right):
                if isinstance(left, ir.Literal) and not isinstance(right, ir.Literal):
                    op, left, right = words.flipped(op), right, left
                v, t = self._value(left), self._value(right)
                target = self.text(right)
                if not isinstance(right, ir.Literal):
                    target += f" ({self._shown(right, t)})"
                text = f"{self.text(left)} is {self._shown(left, v)}; needs {op} {target}"
                distance = None if self._private(left, right) else words.gap(op, v, t, left.type)
                return f"{text} — {distance}" if distance else text
            case ir.Between(operand=x, low=lo, high=hi, negated=False):
                v, low, high = self._value(x), self._value(lo), self._value(hi)
                text = (
                    f"{self.text(x)} is {self._shown(x, v)}; "
                    f"needs between {self.text(lo)} and {self.text(hi)}"
                )
                below = low is not None and v is not None and v < low  # type: ignore[operator]
                distance = (
                    None
                    if self._private(x, lo, hi)
                    else words.gap(">=", v, low, x.type)
                    if below
                    else words.gap("<=", v, high, x.type)
                )
                return f"{text} — {distance}" if distance else text
            case ir.InList(operand=x, values=items, negated=negated):
                listed = ", ".join(words.shown(i.value, i.type) for i in items)
                need = "none of" if negated else "one of"
                shown = self._shown(x, self._value(x))
                return f"{self.text(x)} is {shown}; needs {need} {listed}"
            case ir.IsMissing(operand=x, negated=negated):
                shown = self._shown(x, self._value(x))
                return f"{self.text(x)} is {shown}; needs " + (
                    "a value" if negated else "to be missing"
                )
            case ir.TextTest(op=op, operand=x, pattern=p):
                shown = self._shown(x, self._value(x))
                verb = "match" if op == "matches" else op.replace("contains", "contain")
                verb = verb.replace("starts", "start").replace("ends", "end")
                return f'{self.text(x)} is {shown}; needs to {verb} "{p}"'
            case ir.RuleRef(name=name):
                shown = self._shown(e, value)
                return f"{name} is not set" if value is False else f"{name} is {shown}"
        return f"{self.text(e)} is false"

    def _private(self, *es: ir.Expr) -> bool:
        return any(self.privacy.carries(e) for e in es)

    def _shown(self, e: ir.Expr, value: object) -> str:
        return MASK if self.privacy.carries(e) else words.shown(value, e.type)

    def _value(self, e: ir.Expr) -> object:
        return _literal(e) if not _evaluated(e) else self.values.nodes.get(ir.fingerprint(e))


def _flatten(e: ir.Expr, op: str) -> list[ir.Expr]:
    if isinstance(e, ir.BoolOp) and e.op == op:
        return [*_flatten(e.left, op), *_flatten(e.right, op)]
    return [e]


def _evaluated(e: ir.Expr) -> bool:
    return not isinstance(e, ir.Literal | ir.DurationLit)


def _literal(e: ir.Expr) -> object:
    return e.value if isinstance(e, ir.Literal) else None


def _has_gap(e: ir.Expr) -> bool:
    return isinstance(e, ir.Compare | ir.Between | ir.InList | ir.IsMissing | ir.TextTest)
