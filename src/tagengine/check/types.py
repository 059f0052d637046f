"""AST expressions → typed IR expressions, with every type error reported at its span."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from tagengine import ir, limits
from tagengine.check.functions import KNOWN, RANKING, SCALAR, Signature
from tagengine.diagnostics import Diagnostic, did_you_mean, error
from tagengine.syntax import ast

_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


def literal_type(value: object) -> ir.Type:
    match value:
        case bool():
            return ir.BOOL
        case int():
            return ir.INT
        case Decimal() | float():
            return ir.FLOAT
        case str():
            return ir.STRING
        case dt.datetime():
            return ir.DATETIME
        case dt.date():
            return ir.DATE
    raise TypeError(value)


def comparable(a: ir.Type, b: ir.Type) -> bool:
    if "unknown" in (a.kind, b.kind):
        return True
    if a.numeric and b.numeric:
        return True
    if a.temporal and b.temporal:
        return True
    return a.kind == b.kind and a.kind in ("string", "bool", "duration")


def common_type(ts: list[ir.Type]) -> ir.Type | None:
    """The type of a value that may come from any of `ts` (coalesce, least, ...)."""
    known = [t for t in ts if t.kind != "unknown"]
    if not known:
        return ir.UNKNOWN
    kinds = {t.kind for t in known}
    if len(kinds) == 1:
        scales = [t.scale for t in known if t.scale is not None]
        return ir.Type(known[0].kind, max(scales) if scales else None)
    if kinds <= {"int", "decimal"}:
        return ir.decimal(max(t.scale or 0 for t in known))
    if kinds <= {"int", "float", "decimal"}:
        return ir.FLOAT
    if kinds <= {"date", "datetime"}:
        return ir.DATETIME
    return None


@dataclass(frozen=True)
class RelatedInfo:
    """What the checker knows of a related table: its columns (None: no schema) and time."""

    columns: Mapping[str, ir.Type] | None
    time: str | None


AGGREGATES = ("count", "sum", "avg", "min", "max", "count_distinct", "first", "last", "share")


class Typer:
    """Types the expressions of one rule set. `scope` gives every visible name's type."""

    def __init__(
        self,
        columns: Mapping[str, ir.Type] | None,
        rules: Mapping[str, ir.Type],
        table: str,
        related: Mapping[str, RelatedInfo] | None = None,
    ):
        self.columns = columns  # None: no schema known, every other name is a column
        self.rules = rules
        self.table = table
        self.related = dict(related or {})
        self.inside: str | None = None  # the related table of the aggregate being typed
        self.diagnostics: list[Diagnostic] = []
        self.used_rules: set[str] = set()
        self.used_columns: set[str] = set()

    def fail(
        self,
        code: str,
        message: str,
        span: ast.Span,
        hint: str | None = None,
        label: str | None = None,
    ) -> None:
        self.diagnostics.append(error(code, message, span, hint, label))

    # ---- entry points ------------------------------------------------------

    def calendar_durations(self, root: ir.Expr) -> None:
        """Months and years have no fixed length: they may only shift a date."""
        allowed: set[int] = set()
        for e in ir.walk(root):
            if isinstance(e, ir.Arith) and e.op in "+-":
                for side, other in ((e.left, e.right), (e.right, e.left)):
                    if isinstance(side, ir.DurationLit) and other.type.temporal:
                        allowed.add(id(side))
        for e in ir.walk(root):
            if (
                isinstance(e, ir.DurationLit)
                and e.unit in ("months", "years")
                and id(e) not in allowed
            ):
                self.fail(
                    "TE201",
                    f"{e.unit} have no fixed length; they can only shift a date",
                    e.span,
                    f"write e.g. `signup_date + {e.amount} {e.unit}`, or use days",
                )

    def condition(self, node: ast.Expr, what: str) -> ir.Expr:
        expr = self.expr(node)
        if expr.type.kind not in ("bool", "unknown"):
            hint = "compare it with something, e.g. `... > 0`, or use `is not missing`"
            self.fail(
                "TE202",
                f"{what} must be true or false, but this is a {expr.type}",
                node.span,
                hint,
                f"this is a {expr.type}",
            )
        return expr

    def expr(self, node: ast.Expr) -> ir.Expr:
        match node:
            case ast.Literal(value=value):
                return ir.Literal(literal_type(value), node.span, value)
            case ast.Duration(amount=amount, unit=unit):
                return ir.DurationLit(ir.DURATION, node.span, amount, unit)
            case ast.Name():
                return self.name(node)
            case ast.Attr():
                return self.attr(node)
            case ast.Unary(op="not", operand=operand):
                inner = self.condition(operand, "the operand of `not`")
                return ir.Not(ir.BOOL, node.span, inner)
            case ast.Unary(op="neg", operand=operand):
                inner = self.expr(operand)
                if not (inner.type.numeric or inner.type.kind == "duration"):
                    self.fail(
                        "TE201",
                        f"cannot negate a {inner.type}",
                        node.span,
                        "only numbers and durations take a minus sign; for true/false use `not`",
                    )
                if isinstance(inner, ir.Literal) and isinstance(inner.value, int | Decimal):
                    return ir.Literal(inner.type, node.span, -inner.value)
                return ir.Neg(inner.type, node.span, inner)
            case ast.Binary(op="and" | "or" as op, left=left, right=right):
                lhs = self.condition(left, f"each side of `{op}`")
                rhs = self.condition(right, f"each side of `{op}`")
                return ir.BoolOp(ir.BOOL, node.span, op, lhs, rhs)
            case ast.Binary(op=op, left=left, right=right) if op in _COMPARE:
                return self.compare(node, op, self.expr(left), self.expr(right))
            case ast.Binary(op=op, left=left, right=right):
                return self.arith(node, op, self.expr(left), self.expr(right))
            case ast.InList():
                return self.in_list(node)
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                x, lo, hi = self.expr(operand), self.expr(low), self.expr(high)
                for bound in (lo, hi):
                    self._require_comparable(x, bound, node.span)
                return ir.Between(ir.BOOL, node.span, x, lo, hi, negated)
            case ast.IsMissing(operand=operand, negated=negated):
                return ir.IsMissing(ir.BOOL, node.span, self.expr(operand), negated)
            case ast.TextTest():
                return self.text_test(node)
            case ast.Call():
                return self.call(node)
            case ast.ListExpr():
                self.fail(
                    "TE206",
                    "a list can only follow `in` or `not in`",
                    node.span,
                    "write `x in [1, 2, 3]`",
                )
                return ir.Literal(ir.UNKNOWN, node.span, "")
        raise AssertionError(node)  # pragma: no cover - the builder makes no other nodes

    # ---- names -------------------------------------------------------------

    def name(self, node: ast.Name) -> ir.Expr:
        n = node.name
        if n == "as_of" and not node.quoted:
            return ir.AsOf(ir.DATE, node.span)
        if self.inside is not None:
            self.fail(
                "TE209",
                f"inside an aggregate over `{self.inside}`, `{n}` cannot be used",
                node.span,
                f"use columns of `{self.inside}` (like `{self.inside}.amount`), fixed values "
                "and `as_of`; compare with other rules outside the aggregate",
            )
            return ir.Column(ir.UNKNOWN, node.span, n)
        if n in self.rules:
            self.used_rules.add(n)
            return ir.RuleRef(self.rules[n], node.span, n)
        if _selector(n):
            self.fail("TE108", _unreadable(n), node.span, "rename the column in the data")
            return ir.Column(ir.UNKNOWN, node.span, n)
        if self.columns is None:
            self.used_columns.add(n)
            return ir.Column(ir.UNKNOWN, node.span, n)
        if n in self.columns:
            self.used_columns.add(n)
            t = self.columns[n]
            if t.kind.startswith("unsupported"):
                dtype = t.kind.removeprefix("unsupported ")
                self.fail(
                    "TE108",
                    f"column `{n}` holds {dtype} values, which rules cannot use",
                    node.span,
                    "rules work on numbers, text, dates and true/false; "
                    "convert the column before loading it",
                )
                return ir.Column(ir.UNKNOWN, node.span, n)
            return ir.Column(t, node.span, n)
        suggestion = did_you_mean(n, [*self.rules, *self.columns])
        hint = (
            "a missing value is tested with `is missing` / `is not missing`, not compared "
            "with NULL; see “Coming from SQL” in docs/language.md"
            if n.lower() in ("null", "none", "nil")
            else f"did you mean `{suggestion}`?"
            if suggestion
            else f'text goes in double quotes: "{n}"'
            if not n.isascii()  # most likely a value such as 北京, not a name
            else (f"define it with `feature {n} = ...`, or check the columns of `{self.table}`")
        )
        self.fail(
            "TE101",
            f"unknown name `{n}`",
            node.span,
            hint,
            f"not a column of `{self.table}` or a rule",
        )
        return ir.Column(ir.UNKNOWN, node.span, n)

    def related_table(self, table: str, span: ast.Span) -> RelatedInfo | None:
        """The declared related table `table`, or None after reporting it unknown."""
        info = self.related.get(table)
        if info is None:
            guess = did_you_mean(table, self.related)
            hint = (
                f"did you mean `{guess}`?"
                if guess
                else (f"declare it: `related {table} key <entity key column> time <date column>`")
            )
            self.fail("TE101", f"unknown related table `{table}`", span, hint)
        return info

    def attr(self, node: ast.Attr) -> ir.Expr:
        table, col = node.table, node.column
        info = self.related_table(table, node.span)
        if info is None:
            return ir.RelatedColumn(ir.UNKNOWN, node.span, table, col)
        if self.inside != table:
            where = f"an aggregate over `{self.inside}`" if self.inside else "an aggregate"
            self.fail(
                "TE209",
                f"`{table}.{col}` is a column of `{table}`, usable only inside {where} of it",
                node.span,
                f"aggregate it, e.g. `sum({table}.{col})` or `count({table} where ...)`",
            )
            return ir.RelatedColumn(ir.UNKNOWN, node.span, table, col)
        if _selector(col):
            self.fail("TE108", _unreadable(col), node.span, "rename the column in the data")
            return ir.RelatedColumn(ir.UNKNOWN, node.span, table, col)
        if info.columns is None:
            return ir.RelatedColumn(ir.UNKNOWN, node.span, table, col)
        t = info.columns.get(col)
        if t is None or t.kind.startswith("unsupported"):
            guess = did_you_mean(col, info.columns)
            if t is None:
                hint = (
                    f"did you mean `{table}.{guess}`?"
                    if guess
                    else (f"columns of `{table}`: " + ", ".join(list(info.columns)[:20]))
                )
                self.fail("TE101", f"`{table}` has no column `{col}`", node.span, hint)
            else:
                self.fail(
                    "TE108",
                    f"column `{table}.{col}` holds "
                    f"{t.kind.removeprefix('unsupported ')} values, which rules cannot use",
                    node.span,
                    "rules work on numbers, text, dates and true/false; "
                    "convert the column before loading it",
                )
            return ir.RelatedColumn(ir.UNKNOWN, node.span, table, col)
        return ir.RelatedColumn(t, node.span, table, col)

    # ---- operators ---------------------------------------------------------

    def _require_comparable(self, a: ir.Expr, b: ir.Expr, span: ast.Span) -> None:
        if comparable(a.type, b.type):
            return
        self.fail(
            "TE201",
            f"cannot compare {a.type} with {b.type}",
            span,
            _compare_hint(a, b),
            f"{a.type} vs {b.type}",
        )

    def compare(self, node: ast.Expr, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        self._require_comparable(a, b, node.span)
        if a.type.kind == "bool" and op not in ("==", "!="):
            self.fail(
                "TE201",
                "true/false values can only be compared with == or !=",
                node.span,
                "use the value itself as the condition, e.g. `when vip` or `when not vip`",
            )
        return ir.Compare(ir.BOOL, node.span, op, a, b)

    def arith(self, node: ast.Expr, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        ka, kb = a.type.kind, b.type.kind
        result: ir.Type | None = None
        if "unknown" in (ka, kb):
            known = b.type if ka == "unknown" else a.type
            if op == "/":
                result = ir.FLOAT
            elif known.temporal or known.kind == "duration":
                # date ± duration is a date, date - date and duration ± duration are
                # durations: which one, the unknown side decides
                result = ir.UNKNOWN
            else:
                result = known
        elif a.type.numeric and b.type.numeric:
            result = _numeric_result(op, a.type, b.type)
        elif op in "+-" and a.type.temporal and kb == "duration":
            result = a.type
        elif op == "+" and ka == "duration" and b.type.temporal:
            result = b.type
        elif (op == "-" and a.type.temporal and b.type.temporal) or (
            op in "+-" and ka == kb == "duration"
        ):
            result = ir.DURATION
        if result is None:
            self.fail(
                "TE201",
                f"cannot apply `{op}` to {a.type} and {b.type}",
                node.span,
                "arithmetic works on numbers; dates take `+`/`-` a duration like `30 days`",
            )
            result = ir.UNKNOWN
        return ir.Arith(result, node.span, op, a, b)

    def in_list(self, node: ast.InList) -> ir.Expr:
        x = self.expr(node.operand)
        values: list[ir.Literal] = []
        for item in node.items:
            v = self.expr(item)
            if not isinstance(v, ir.Literal):
                self.fail(
                    "TE206",
                    "a list after `in` holds fixed values only",
                    item.span,
                    'write the values themselves, e.g. ["北京", "上海"]',
                )
                continue
            self._require_comparable(x, v, item.span)
            values.append(v)
        return ir.InList(ir.BOOL, node.span, x, tuple(values), node.negated)

    def text_test(self, node: ast.TextTest) -> ir.Expr:
        x = self.expr(node.operand)
        if x.type.kind not in ("string", "unknown"):
            hint = "compare numbers and dates with `==`, `<`, `between`, ..."
            if isinstance(x, ir.Column | ir.RelatedColumn) and x.type.numeric:
                table = x.table if isinstance(x, ir.RelatedColumn) else self.table
                hint = (  # phone numbers, zip codes: digits that CSV reads as a number
                    f"if `{x.name}` holds codes such as phone numbers, read it as text: "
                    f'declare [columns.{table}] {x.name} = "string" in tagengine.toml'
                )
            self.fail(
                "TE201",
                f"`{node.op}` works on text, but this is a {x.type}",
                node.operand.span,
                hint,
            )
        pattern = node.pattern
        if not (isinstance(pattern, ast.Literal) and isinstance(pattern.value, str)):
            self.fail(
                "TE204",
                f"`{node.op}` needs a quoted text after it",
                pattern.span,
                f'write e.g. `name {node.op} "abc"`',
            )
            return ir.TextTest(ir.BOOL, node.span, node.op, x, "")
        if node.op == "matches":
            problem = regex_problem(pattern.value)
            if problem:
                self.fail(
                    "TE205",
                    f"invalid regular expression: {problem}",
                    pattern.span,
                    "regular expressions follow Rust `regex` syntax (no look-around)",
                )
        return ir.TextTest(ir.BOOL, node.span, node.op, x, pattern.value)

    # ---- calls -------------------------------------------------------------

    def call(self, node: ast.Call) -> ir.Expr:
        func = node.func
        if func in AGGREGATES:
            return self.aggregate(node)
        if node.where is not None or node.window is not None:
            self.fail(
                "TE207",
                f"`where` and `over` belong to aggregates, not to `{func}`",
                node.span,
                "aggregates: " + ", ".join(AGGREGATES),
            )
        if func in RANKING:
            return self.ranking(node)
        sig = SCALAR.get(func)
        if sig is None:
            suggestion = did_you_mean(func, KNOWN)
            hint = (
                f"did you mean `{suggestion}`?"
                if suggestion
                else ("see docs/language.md for the list of functions")
            )
            self.fail("TE104", f"unknown function `{func}`", node.func_span, hint)
            return ir.Call(ir.UNKNOWN, node.span, func, tuple(self.expr(a) for a in node.args))
        args = [self.expr(a) for a in node.args]
        lo = len(sig.params) - sig.optional
        hi = None if sig.variadic else len(sig.params)
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"at least {lo}" if hi is None else (f"{lo}" if lo == hi else f"{lo} or {hi}")
            self.fail(
                "TE105",
                f"`{func}` takes {want} argument{'s' if want != '1' else ''}, not {len(args)}",
                node.span,
                f"`{_usage(func, sig)}`: {sig.doc}",
            )
            return ir.Call(ir.UNKNOWN, node.span, func, tuple(args))
        if node.descending is not None:
            self.fail(
                "TE002",
                f"`{func}` takes no `ascending`/`descending`",
                node.span,
                "only the rankings ntile, qcut, rank and percent_rank take it; remove it",
            )
        for i, arg in enumerate(args):
            what, ok = sig.params[min(i, len(sig.params) - 1)]
            if not ok(arg.type):
                self.fail(
                    "TE204",
                    f"argument {i + 1} of `{func}` must be {what}, not a {arg.type}",
                    arg.span,
                    f"`{_usage(func, sig)}`: {sig.doc}",
                )
        if (
            func == "round"
            and len(args) == 2
            and not (
                isinstance(args[1], ir.Literal)
                and type(args[1].value) is int
                and 0 <= args[1].value <= limits.MAX_ROUND_DIGITS
            )
        ):
            self.fail(
                "TE204",
                "the decimals of `round` must be a fixed whole number "
                f"from 0 to {limits.MAX_ROUND_DIGITS}",
                args[1].span,
                "e.g. `round(x, 2)`",
            )
        elif (
            func == "round"
            and len(args) == 2
            and args[0].type.kind in ("int", "float")
            and args[1].value > limits.MAX_FLOAT_ROUND_DIGITS  # type: ignore[attr-defined]
        ):
            self.fail(
                "TE204",
                f"a number that is not a decimal rounds to at most {limits.MAX_FLOAT_ROUND_DIGITS}"
                " places (a float holds 17 significant digits)",
                args[1].span,
                "round to fewer places, or declare the column a decimal in the project file",
            )
        if func in ("coalesce", "least", "greatest"):
            result = common_type([a.type for a in args])
            if result is None:
                kinds = ", ".join(sorted({str(a.type) for a in args}))
                self.fail(
                    "TE201", f"`{func}` mixes {kinds}", node.span, "give it arguments of one kind"
                )
                result = ir.UNKNOWN
        else:
            result = sig.result([a.type for a in args])
        if func == "round" and result.kind == "decimal":
            digits = args[1].value if len(args) == 2 and isinstance(args[1], ir.Literal) else 0
            result = ir.decimal(int(digits))  # type: ignore[arg-type]
        return ir.Call(result, node.span, func, tuple(args))

    def aggregate(self, node: ast.Call) -> ir.Expr:
        func, args = node.func, node.args
        usage = {
            "count": "count(orders) or count(orders.column)",
            "share": "share(orders where <condition>)",
        }.get(func, f"{func}(orders.column)")
        if self.inside is not None:
            self.fail(
                "TE208",
                "an aggregate cannot be inside another aggregate",
                node.span,
                "aggregate each value on its own and combine the results, e.g. "
                "`max(orders.amount) - avg(orders.amount)`",
            )
            return ir.Literal(ir.UNKNOWN, node.span, 0)
        if len(args) != 1:
            self.fail("TE105", f"`{func}` takes one table or column", node.span, f"write `{usage}`")
            return ir.Literal(ir.UNKNOWN, node.span, 0)
        (arg,) = args
        table = _table_of(arg)
        if table is None or (isinstance(arg, ast.Name) and func not in ("count", "share")):
            self.fail(
                "TE204", f"`{func}` aggregates a related table's rows", arg.span, f"write `{usage}`"
            )
            return ir.Literal(ir.UNKNOWN, node.span, 0)
        info = self.related_table(table, arg.span)
        if info is None:
            return ir.Literal(ir.UNKNOWN, node.span, 0)
        self.inside = table
        try:
            value = None if isinstance(arg, ast.Name) else self.expr(arg)
            where = None
            if node.where is not None:
                where = self.condition(node.where, "the `where` filter")
        finally:
            self.inside = None
        if func == "share" and where is None:
            self.fail(
                "TE204",
                "`share` needs a `where` filter",
                node.span,
                f'write `share({table} where {table}.channel == "online")`',
            )
        window = self._window(node, info, table)
        if func in ("first", "last") and info.time is None:
            self.fail(
                "TE210",
                f"`{func}` needs the time column of `{table}`",
                node.func_span,
                f"declare it: `related {table} key ... time <date column>`",
            )
        result = self._aggregate_type(func, value, node)
        return ir.Aggregate(result, node.span, func, table, value, where, window)

    def _window(self, node: ast.Call, info: RelatedInfo, table: str) -> ir.Window | None:
        w = node.window
        if w is None:
            return None
        if info.time is None:
            self.fail(
                "TE210",
                f"a window needs the time column of `{table}`",
                w.span,
                f"declare it: `related {table} key ... time <date column>`",
            )
        return ir.Window(w.amount, w.unit, w.start, w.end)

    def _aggregate_type(self, func: str, value: ir.Expr | None, node: ast.Call) -> ir.Type:
        if func in ("count", "count_distinct"):
            return ir.INT
        if func == "share":
            return ir.FLOAT
        assert value is not None
        t = value.type
        if func in ("sum", "avg") and not t.numeric:
            self.fail(
                "TE204",
                f"`{func}` adds up numbers, not {t} values",
                value.span,
                f"to count rows, write `count({_table_of(node.args[0])} where ...)`",
            )
            return ir.UNKNOWN
        if func in ("min", "max") and t.kind in ("bool", "list"):
            self.fail(
                "TE204",
                f"`{func}` needs numbers, dates or text, not {t} values",
                value.span,
                "for true/false columns, count the rows: "
                f"`count({_table_of(node.args[0])} where ...)` or `share(... where ...)`",
            )
        if func == "avg":
            return ir.FLOAT
        return t

    def ranking(self, node: ast.Call) -> ir.Expr:
        func = node.func
        takes_n, result, _doc = RANKING[func]
        want = 2 if takes_n else 1
        args = [self.expr(a) for a in node.args]
        if len(args) != want:
            usage = f"{func}(x, n)" if takes_n else f"{func}(x)"
            self.fail(
                "TE105",
                f"`{func}` takes {want} argument{'s' if want > 1 else ''}, not {len(args)}",
                node.span,
                f"write `{usage}` or `{usage[:-1]}, descending)`",
            )
            return ir.Ranking(
                result,
                node.span,
                func,
                args[0] if args else ir.Literal(ir.UNKNOWN, node.span, 0),
                None,
                False,
            )
        x = args[0]
        if not (x.type.numeric or (x.type.temporal and func != "qcut")):
            self.fail(
                "TE204",
                f"`{func}` ranks numbers{'' if func == 'qcut' else ' and dates'}, not a {x.type}",
                x.span,
                f"rank a number, e.g. `{func}(spend_90d{', 5' if takes_n else ''})`",
            )
        buckets = None
        if takes_n:
            n = args[1]
            if not (
                isinstance(n, ir.Literal)
                and type(n.value) is int
                and 1 <= n.value <= limits.MAX_BUCKETS
            ):
                self.fail(
                    "TE204",
                    f"the number of buckets of `{func}` must be a whole number "
                    f"from 1 to {limits.MAX_BUCKETS:,}",
                    n.span,
                    f"e.g. `{func}(x, 5)`",
                )
            else:
                buckets = n.value
        return ir.Ranking(result, node.span, func, x, buckets, bool(node.descending))


def _table_of(arg: ast.Expr) -> str | None:
    """The related table an aggregate's argument reads: `orders` or `orders.x` (+ ...)."""
    if isinstance(arg, ast.Name):
        return arg.name
    tables = {n.table for n in ast.walk(arg) if isinstance(n, ast.Attr)}
    return next(iter(tables)) if len(tables) == 1 else None


def _usage(func: str, sig: Signature) -> str:
    """`round(a number[, a whole number of decimals])`: how a function is called."""
    names = [what for what, _ in sig.params]
    required = names[: len(names) - sig.optional]
    text = ", ".join(required)
    if sig.optional:
        text += "".join(f"[, {n}]" for n in names[len(required) :])
    if sig.variadic:
        text += ", ..."
    return f"{func}({text})"


def _describe(e: ir.Expr) -> str | None:
    """How a name or fixed value reads in a hint, or None for anything else."""
    match e:
        case ir.Column(name=n) | ir.RuleRef(name=n):
            return f"`{n}`"
        case ir.RelatedColumn(table=t, name=n):
            return f"`{t}.{n}`"
    return None


def _compare_hint(a: ir.Expr, b: ir.Expr) -> str:
    """What to write instead, for two values of kinds that cannot be compared."""
    kinds = {a.type.kind, b.type.kind}
    if "string" in kinds:
        text, other = (a, b) if a.type.kind == "string" else (b, a)
        if isinstance(text, ir.Literal) and isinstance(text.value, str):
            stripped = text.value.strip()
            if re.fullmatch(r"-?\d[\d_]*(\.\d+)?|\d{4}-\d{2}-\d{2}", stripped):
                return f"remove the quotes: `{stripped}`"
            name = _describe(other) or "the other side"
            return f"{name} holds {other.type} values; compare it with a {other.type}"
        if isinstance(other, ir.Literal):
            name = _describe(text) or "this"
            written = other.value.isoformat() if hasattr(other.value, "isoformat") else other.value
            return f'{name} holds text: put the value in double quotes, `"{written}"`'
        return "convert one side first, or compare values of the same kind"
    if kinds & {"date", "datetime"}:
        return (
            "compare a date with a date (e.g. `2024-01-01`); for a number of days write "
            "`days_between(signup_date, as_of) > 30`"
        )
    if "duration" in kinds:
        return "give the number a unit, e.g. `30 days`"
    if "bool" in kinds:
        return "compare true/false with `true` or `false`, or use it alone: `when vip`"
    return "compare values of the same kind"


def _numeric_result(op: str, a: ir.Type, b: ir.Type) -> ir.Type:
    if op == "/":
        return ir.FLOAT
    kinds = {a.kind, b.kind}
    if kinds == {"int"}:
        return ir.INT
    if "float" in kinds:
        return ir.FLOAT
    sa, sb = a.scale or 0, b.scale or 0
    return ir.decimal(sa + sb if op == "*" else max(sa, sb))


def regex_problem(pattern: str) -> str | None:
    """Why Polars' (Rust) regex engine rejects `pattern`, or None if it accepts it."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.ComputeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("error:")]
        return lines[0].removeprefix("error: ") if lines else str(exc).splitlines()[0]
    return None


def _selector(name: str) -> bool:
    """Whether Polars reads the column name `name` as something else: `*` is every
    column, `^...$` a regular expression over the names."""
    return name == "*" or (len(name) > 1 and name.startswith("^") and name.endswith("$"))


def _unreadable(name: str) -> str:
    what = "every column" if name == "*" else "a pattern matching column names"
    return f"a column named `{name}` cannot be read: Polars takes `{name}` for {what}"
