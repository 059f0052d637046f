"""Parse tree → AST: a Lark Transformer whose methods mirror the grammar's rule names."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from lark import Token, Transformer, v_args
from lark.tree import Meta as LarkMeta

from tagengine import limits
from tagengine.syntax import ast

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}
_DATE_HINT = "dates are written YYYY-MM-DD and must exist, e.g. 2024-02-29"
_LONGEST = "10,000 years (120,000 months, 521,775 weeks, 3,652,425 days)"


def unquote(token: str) -> str:
    """The text of a string literal. Unknown escapes stay as written (`"\\d+"` is a regex)."""

    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc.startswith("u") and len(esc) == 5:
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, "\\" + esc)

    return _ESCAPE_RE.sub(repl, token[1:-1])


def _shown(text: str) -> str:
    """A number as a message quotes it: the start of it, if it is very long."""
    return text if len(text) <= 30 else text[:20] + "…"


def parse_number(text: str) -> int | Decimal:
    clean = text.replace("_", "")
    return Decimal(clean) if "." in clean else int(clean)


class _Order:
    """A trailing `ascending` / `descending` argument, folded into its Call."""

    def __init__(self, descending: bool, span: ast.Span):
        self.descending = descending
        self.span = span


@v_args(inline=True, meta=True)
class Builder(Transformer):
    def __init__(self, file: str):
        super().__init__(visit_tokens=False)
        self.file = file
        # (message, span[, hint]) of each malformed value found while building
        self.problems: list[tuple[str, ast.Span] | tuple[str, ast.Span, str]] = []

    # ---- spans -------------------------------------------------------------

    def _span(self, meta: LarkMeta) -> ast.Span:
        return ast.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> ast.Span:
        return ast.Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # ---- statements --------------------------------------------------------

    def start(self, meta, *statements):
        return ast.Program(tuple(statements))

    def entity(self, meta, name, table, key):
        return ast.Entity(self._span(meta), name[0], name[1], table[0], key[0], key[1])

    def related(self, meta, name, key, time=None):
        t_name, t_span = (time[0], time[1]) if time else (None, None)
        return ast.Related(self._span(meta), name[0], name[1], key[0], key[1], t_name, t_span)

    def related_time(self, meta, name):
        return name

    def _rule_parts(self, parts):
        label = next((p for p in parts if isinstance(p, _Label)), None)
        metas = tuple(p for p in parts if isinstance(p, ast.Meta))
        rest = [p for p in parts if not isinstance(p, _Label | ast.Meta)]
        return (label.text if label else None), metas, rest

    def feature(self, meta, name, *parts):
        label, metas, (expr,) = self._rule_parts(parts)
        return ast.Feature(self._span(meta), name[0], name[1], label, metas, expr)

    def tag(self, meta, name, *parts):
        label, metas, (cond,) = self._rule_parts(parts)
        return ast.Tag(self._span(meta), name[0], name[1], label, metas, cond)

    def score(self, meta, name, *parts):
        label, metas, (expr,) = self._rule_parts(parts)
        return ast.Score(self._span(meta), name[0], name[1], label, metas, expr)

    def segment(self, meta, name, *parts):
        label, metas, rest = self._rule_parts(parts)
        branches = tuple(p for p in rest if isinstance(p, ast.Branch))
        otherwise = next((p.text for p in rest if isinstance(p, _Else)), None)
        return ast.Segment(self._span(meta), name[0], name[1], label, metas, branches, otherwise)

    def branch(self, meta, value, cond):
        return ast.Branch(unquote(value), cond, self._span(meta))

    def else_branch(self, meta, value):
        return _Else(unquote(value))

    def label(self, meta, value):
        return _Label(unquote(value))

    def meta(self, meta, *parts):
        *key_parts, value = parts
        key = ".".join(str(k) for k in key_parts)  # `owner`, or a namespaced `crm.campaign`
        if isinstance(value, Token) and value.type == "STRING":
            v: str | int | Decimal = unquote(value)
        elif isinstance(value, ast.Literal):
            v = value.value  # type: ignore[assignment]
        else:
            v = str(value)
        text = value.text if isinstance(value, ast.Literal) else str(value)
        return ast.Meta(str(key), v, self._span(meta), text)

    # ---- in-file tests -----------------------------------------------------

    def test(self, meta, title, *clauses):
        return ast.Test(self._span(meta), unquote(title), self._tspan(title), tuple(clauses))

    def given(self, meta, table, *rows):
        return ast.Given(table[0], table[1], tuple(rows), self._span(meta))

    def row(self, meta, *cells):
        return ast.Row(tuple(c for c in cells if c is not None), self._span(meta))

    def cell(self, meta, column, value):
        literal = None if value is _MISSING else value
        return ast.Cell(column[0], column[1], literal, self._span(meta))

    def test_as_of(self, meta, tok):
        return ast.TestAsOf(self._date(tok, self._tspan(tok)), self._span(meta))

    def expect(self, meta, *parts):
        subject = next((p for p in parts if isinstance(p, ast.Subject)), None)
        items = tuple(p for p in parts if isinstance(p, ast.Expectation))
        return ast.Expect(items, subject, self._span(meta))

    def expect_set(self, meta, name):
        return ast.Expectation(name[0], name[1], "set", None, self._span(meta))

    def expect_not(self, meta, name):
        return ast.Expectation(name[0], name[1], "not set", None, self._span(meta))

    def _expect_compare(op):
        def method(self, meta, name, value):
            literal = None if value is _MISSING else value
            return ast.Expectation(name[0], name[1], op, literal, self._span(meta))

        return method

    expect_eq, expect_ne = _expect_compare("=="), _expect_compare("!=")
    expect_lt, expect_le = _expect_compare("<"), _expect_compare("<=")
    expect_gt, expect_ge = _expect_compare(">"), _expect_compare(">=")

    def subject(self, meta, name, key):
        if key is _MISSING:
            self.problems.append(
                ("a key cannot be `missing`", self._span(meta), "write a key: `for customer 1`")
            )
            key = ast.Literal(self._span(meta), 0, "0")
        return ast.Subject(name[0], name[1], key, self._span(meta))

    def missing(self, meta):
        return _MISSING

    def negative(self, meta, number):
        return ast.Literal(self._span(meta), -number.value, "-" + number.text)

    def negative_percent(self, meta, tok):
        positive = self.percent(meta, tok)
        return ast.Literal(positive.span, -positive.value, "-" + positive.text)

    def name(self, meta, tok):
        text = str(tok)
        if tok.type == "QUOTED_NAME":
            text = text[1:-1]
        return (text, self._tspan(tok), tok.type == "QUOTED_NAME")

    # ---- expressions -------------------------------------------------------

    def _binary(op):
        def method(self, meta, left, right):
            return ast.Binary(self._span(meta), op, left, right)

        return method

    or_, and_ = _binary("or"), _binary("and")
    eq, ne, lt, le = _binary("=="), _binary("!="), _binary("<"), _binary("<=")
    gt, ge = _binary(">"), _binary(">=")
    add, sub, mul, div = _binary("+"), _binary("-"), _binary("*"), _binary("/")

    def not_(self, meta, operand):
        return ast.Unary(self._span(meta), "not", operand)

    def neg(self, meta, operand):
        return ast.Unary(self._span(meta), "neg", operand)

    def in_(self, meta, operand, items):
        return ast.InList(self._span(meta), operand, items.items, False)

    def not_in(self, meta, operand, items):
        return ast.InList(self._span(meta), operand, items.items, True)

    def between(self, meta, operand, low, high):
        return ast.Between(self._span(meta), operand, low, high, False)

    def not_between(self, meta, operand, low, high):
        return ast.Between(self._span(meta), operand, low, high, True)

    def is_missing(self, meta, operand):
        return ast.IsMissing(self._span(meta), operand, False)

    def is_not_missing(self, meta, operand):
        return ast.IsMissing(self._span(meta), operand, True)

    def _text_test(op):
        def method(self, meta, operand, pattern):
            return ast.TextTest(self._span(meta), op, operand, pattern)

        return method

    contains, matches = _text_test("contains"), _text_test("matches")
    starts_with, ends_with = _text_test("starts with"), _text_test("ends with")

    def ref(self, meta, name):
        return ast.Name(name[1], name[0], name[2])

    def attr(self, meta, table, column):
        return ast.Attr(self._span(meta), table[0], column[0])

    def where(self, meta, cond):
        return _Where(cond)

    def window_last(self, meta, amount, unit):
        number = self._duration_amount(amount, unit, self._span(meta))
        if not isinstance(number, int) or number < 1:
            self.problems.append(
                (
                    "a window needs a whole number of at least 1",
                    self._span(meta),
                    "write e.g. `over last 90 days`",
                )
            )
            number = max(1, int(number))
        return ast.Window(self._span(meta), number, _UNITS.get(str(unit), str(unit)))

    def window_range(self, meta, start, end):
        span = self._span(meta)
        dates = []
        for tok in (start, end):
            try:
                dates.append(dt.date.fromisoformat(str(tok)))
            except ValueError:
                self.problems.append((f"`{tok}` is not a valid date", self._tspan(tok), _DATE_HINT))
                dates.append(dt.date(1970, 1, 1))
        if dates[0] > dates[1]:
            self.problems.append(
                (
                    "the window ends before it starts",
                    span,
                    "write the earlier date first: `over 2024-01-01 to 2024-06-30`",
                )
            )
        return ast.Window(span, start=dates[0], end=dates[1])

    def number(self, meta, tok):
        span = self._span(meta)
        return ast.Literal(span, self._number(tok, span), str(tok))

    def _number(self, tok: Token, span: ast.Span) -> int | Decimal:
        """The value of a number; a whole number past 64 bits is reported, and read as 0
        (converting thousands of digits would not even end well)."""
        text = str(tok)
        digits = text.replace("_", "").lstrip("0")
        if (
            "." in text
            or len(digits) < 19
            or (len(digits) == 19 and int(digits) <= limits.MAX_WHOLE)
        ):
            return parse_number(text)
        self.problems.append(
            (
                f"`{_shown(text)}` is too large: whole numbers go up to {limits.MAX_WHOLE:,}",
                span,
                "for a larger value, write it with a decimal point: `1" + "0" * 19 + ".0`",
            )
        )
        return 0

    def _duration_amount(self, tok: Token, unit: Token, span: ast.Span) -> int | Decimal:
        """The number of a duration or window, at most 10,000 years' worth."""
        longest = limits.MAX_DURATION[_UNITS.get(str(unit), str(unit))]
        whole = str(tok).replace("_", "").split(".")[0].lstrip("0")
        number = self._number(tok, span) if len(whole) <= len(str(longest)) else longest + 1
        if number > longest:
            self.problems.append(
                (
                    f"`{_shown(str(tok))} {unit}` is too long",
                    span,
                    f"a duration is at most {_LONGEST}",
                )
            )
            return longest
        return number

    def string(self, meta, tok):
        return ast.Literal(self._span(meta), unquote(str(tok)), str(tok))

    def percent(self, meta, tok):
        value = Decimal(str(tok)[:-1].replace("_", "")) / 100
        return ast.Literal(self._span(meta), value, str(tok))

    def date(self, meta, tok):
        return self._date(tok, self._span(meta))

    def _date(self, tok: Token, span: ast.Span) -> ast.Literal:
        try:
            value = dt.date.fromisoformat(str(tok))
        except ValueError:
            self.problems.append((f"`{tok}` is not a valid date", span, _DATE_HINT))
            value = dt.date(1970, 1, 1)
        return ast.Literal(span, value, str(tok))

    def datetime(self, meta, tok):
        try:
            value = dt.datetime.fromisoformat(str(tok))
        except ValueError:
            self.problems.append(
                (
                    f"`{tok}` is not a valid date and time",
                    self._span(meta),
                    "write YYYY-MM-DDTHH:MM[:SS], e.g. 2024-12-31T23:59",
                )
            )
            value = dt.datetime(1970, 1, 1)
        return ast.Literal(self._span(meta), value, str(tok))

    def true(self, meta):
        return ast.Literal(self._span(meta), True, "true")

    def false(self, meta):
        return ast.Literal(self._span(meta), False, "false")

    def duration(self, meta, amount, unit):
        number = self._duration_amount(amount, unit, self._span(meta))
        if not isinstance(number, int):
            self.problems.append(
                (
                    "a duration needs a whole number",
                    self._span(meta),
                    "use a smaller unit: `10 days` rather than `1.5 weeks`",
                )
            )
            number = int(number)
        return ast.Duration(self._span(meta), number, _UNITS.get(str(unit), str(unit)))

    def list(self, meta, *items):
        return ast.ListExpr(self._span(meta), tuple(i for i in items if i is not None))

    def order(self, meta, tok):
        return _Order(str(tok) == "descending", self._span(meta))

    def call(self, meta, func, *args):
        where = next((a.cond for a in args if isinstance(a, _Where)), None)
        window = next((a for a in args if isinstance(a, ast.Window)), None)
        args = tuple(a for a in args if a is not None and not isinstance(a, _Where | ast.Window))
        orders = [a for a in args if isinstance(a, _Order)]
        exprs = tuple(a for a in args if not isinstance(a, _Order))
        descending = None
        if orders:
            if len(orders) > 1 or not isinstance(args[-1], _Order):
                self.problems.append(
                    (
                        "`ascending` or `descending` may appear once, as the last argument",
                        orders[-1].span,
                        "write e.g. `ntile(spend, 5, descending)`",
                    )
                )
            descending = orders[-1].descending
        return ast.Call(
            self._span(meta), str(func), self._tspan(func), exprs, descending, where, window
        )


_MISSING = object()  # `missing` in a test: a missing value


class _Where:
    def __init__(self, cond: ast.Expr):
        self.cond = cond


class _Label:
    def __init__(self, text: str):
        self.text = text


class _Else:
    def __init__(self, text: str):
        self.text = text
