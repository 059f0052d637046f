"""Hypothesis strategies for rule programs, shared by the property tests.

    from strategies import programs, typed_cases

Two families:

**Syntax** — `programs()` draws the text of a whole rule file that parses without a
diagnostic, covering every construct of the grammar: every statement (entity, related,
feature, tag, score, segment, test), every operator at every precedence (with the
parentheses they need, and sometimes more), every literal (numbers with `_`, decimals,
percentages, text with escapes, dates, datetimes, durations, lists, true/false), calls
with `ascending`/`descending`, `where` and both kinds of window, attributes, labels,
metadata, test blocks (given rows, `as_of`, every kind of expectation, `for`), plain,
Unicode, contextual-keyword (`given`, `key`, `missing`, ...) and back-quoted names, and
comments on their own lines or at the end of lines, laid out with random spaces, tabs
and line breaks. The programs need not make sense: names are not resolved and types
not checked. `expressions()` draws one expression's text. `test_fmt.py` checks that
every rule and alias of `grammar/tagengine.lark` shows up in what `programs()` draws,
so a construct added to the grammar must be added here too.

**Typed** — `schemas()` draws a schema (`{table: {column: polars dtype}}`: `customers`
keyed by `customer_id`, and often `orders` with `order_date`); `typed_programs(schema)`
draws rule text that checks without errors against that schema and evaluates without
errors (rules refer only to rules above them, aggregates only to related columns,
months only shift dates, ...); `tables(schema)` draws matching data with missing values,
NaN, customers without orders and orders of no customer; `typed_cases()` draws all of
them and an as_of date: `(schema, text, tables, as_of)`. For backend differential tests
and fuzzing: the same case must give the same answer whatever runs it.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
from hypothesis import strategies as st

from tagengine.syntax.metadata import KEYS as METADATA_KEYS

# ---- names -----------------------------------------------------------------------------

RESERVED = [
    "entity",
    "related",
    "feature",
    "tag",
    "segment",
    "score",
    "when",
    "else",
    "where",
    "and",
    "or",
    "not",
    "in",
    "is",
    "between",
    "true",
    "false",
]
# keywords only where they can appear: fine as names of rules, columns and tables
CONTEXTUAL = [
    "table",
    "key",
    "time",
    "over",
    "last",
    "to",
    "missing",
    "contains",
    "starts",
    "with",
    "ends",
    "matches",
    "test",
    "given",
    "expect",
    "as_of",
    "for",
    "days",
    "day",
    "weeks",
    "month",
    "years",
]
# never plain at the start of a call argument (the order keyword)
ORDER_WORDS = ("ascending", "descending")
_ALL_WORDS = {*RESERVED, *CONTEXTUAL, *ORDER_WORDS, "day", "days", "week", "weeks"}
_ALL_WORDS |= {"month", "months", "year", "years"}

FUNCTIONS = [
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "count_distinct",
    "first",
    "last",
    "share",
    "days_between",
    "year",
    "quarter",
    "month",
    "day",
    "weekday",
    "abs",
    "round",
    "floor",
    "ceil",
    "coalesce",
    "least",
    "greatest",
    "lower",
    "upper",
    "trim",
    "length",
    "ntile",
    "qcut",
    "rank",
    "percent_rank",
]

_ident = st.from_regex(r"[^\W\d]\w{0,8}", fullmatch=True)
safe_names = st.one_of(
    st.sampled_from(["spend", "age", "city", "高价值", "年龄", "Zhang_Wei", "x1", "_tmp"]),
    st.sampled_from(["tagx", "days_x", "and_y", "when2", "AND", "Or", "entity_id"]),
    _ident,
).filter(lambda s: s not in _ALL_WORDS)
"""Plain names that are no keyword anywhere (usable even as metadata keys)."""

plain_names = st.one_of(safe_names, st.sampled_from(CONTEXTUAL))
"""Plain names, including words that are keywords only elsewhere (`given`, `key`, ...)."""

quoted_names = st.text(
    st.characters(exclude_characters="`\n", exclude_categories=("Cs",)), min_size=1, max_size=10
).map(lambda s: f"`{s}`")
"""Back-quoted names: any text without a back-quote or line break (reserved words too)."""

names = st.one_of(
    plain_names, plain_names, quoted_names, st.sampled_from(RESERVED).map("`{}`".format)
)

# ---- literals --------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(0, 10**9).map(str),
    st.from_regex(r"\d[\d_]{0,5}(\.\d[\d_]{0,4})?", fullmatch=True),
)
percents = numbers.map(lambda s: s + "%")
_escapes = st.sampled_from(['\\"', "\\\\", "\\n", "\\t", "\\r", "\\u4e2d", "\\d", "\\."])
_text_chars = st.characters(exclude_characters='"\\\n\r', exclude_categories=("Cs",))
strings = st.lists(st.one_of(_text_chars, _escapes), max_size=8).map(
    lambda parts: '"' + "".join(parts) + '"'
)
"""String literals as written: any characters, escapes included."""
dates = st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
datetimes = st.builds(
    lambda d, h, m, s: f"{d}T{h:02d}:{m:02d}" + (f":{s:02d}" if s is not None else ""),
    dates,
    st.integers(0, 23),
    st.integers(0, 59),
    st.none() | st.integers(0, 59),
)
units = st.sampled_from(["day", "days", "week", "weeks", "month", "months", "year", "years"])
# the amount of a duration or window: at most 10,000 (years; more is TE002)
whole = st.integers(1, 10_000).map(str) | st.from_regex(r"[1-9][\d_]{0,3}", fullmatch=True)

# ---- expressions -----------------------------------------------------------------------
# An expression is drawn as (level, tokens): the loosest operator at its top, as in the
# grammar (or < and < not < comparison < sum < product < unary < atom).

OR, AND, NOT, CMP, SUM, PROD, NEG, ATOM = range(1, 9)
Expr = tuple[int, list[str]]


def _need(draw, e: Expr, level: int) -> list[str]:
    """`e` as an operand that must bind at least as tightly as `level`."""
    have, tokens = e
    if have < level or draw(st.integers(0, 12)) == 0:  # sometimes a redundant pair
        return ["(", *tokens, ")"]
    return tokens


def _atom(draw) -> Expr:
    kind = draw(st.integers(0, 11))
    match kind:
        case 0 | 1:
            return ATOM, [draw(numbers)]
        case 2:
            return ATOM, [draw(strings)]
        case 3:
            return ATOM, [draw(dates)]
        case 4:
            return ATOM, [draw(datetimes)]
        case 5:
            return ATOM, [draw(percents)]
        case 6:
            return ATOM, [draw(st.sampled_from(["true", "false", "as_of", "`as_of`"]))]
        case 7:
            return ATOM, [draw(whole), draw(units)]
        case 8:
            return ATOM, [draw(names), ".", draw(names)]
        case _:
            return ATOM, [draw(names)]


def _list(draw, depth: int) -> list[str]:
    items = draw(st.lists(st.just(0), max_size=3))
    tokens = ["["]
    for i, _ in enumerate(items):
        tokens += ([","] if i else []) + _expr(draw, depth - 1)[1]
    if items and draw(st.booleans()):
        tokens.append(",")
    return [*tokens, "]"]


def _call(draw, depth: int) -> Expr:
    func = draw(st.sampled_from(FUNCTIONS) | safe_names)
    args: list[list[str]] = []
    for _ in range(draw(st.integers(0, 3))):
        arg = _expr(draw, depth - 1)[1]
        if arg[0] in ORDER_WORDS:  # would read as the order keyword
            arg = [f"`{arg[0]}`", *arg[1:]]
        args.append(arg)
    if draw(st.integers(0, 3)) == 0:
        args.append([draw(st.sampled_from(ORDER_WORDS))])
    tokens = [func, "("]
    for i, arg in enumerate(args):
        tokens += ([","] if i else []) + arg
    if draw(st.integers(0, 3)) == 0:
        tokens += ["where", *_expr(draw, depth - 1)[1]]
    tokens.append(")")
    window = draw(st.integers(0, 5))
    if window == 0:
        tokens += ["over", "last", draw(whole), draw(units)]
    elif window == 1:
        a, b = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2)))
        tokens += ["over", a.isoformat(), "to", b.isoformat()]
    return ATOM, tokens


def _expr(draw, depth: int) -> Expr:
    if depth <= 0:
        return _atom(draw)
    kind = draw(st.integers(0, 21))

    def sub() -> Expr:
        return _expr(draw, depth - 1)

    match kind:
        case 0:
            return OR, [*_need(draw, sub(), OR), "or", *_need(draw, sub(), AND)]
        case 1:
            return AND, [*_need(draw, sub(), AND), "and", *_need(draw, sub(), NOT)]
        case 2:
            return NOT, ["not", *_need(draw, sub(), NOT)]
        case 3 | 4:
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
            return CMP, [*_need(draw, sub(), SUM), op, *_need(draw, sub(), SUM)]
        case 5:
            op = draw(st.sampled_from([["in"], ["not", "in"]]))
            return CMP, [*_need(draw, sub(), SUM), *op, *_list(draw, depth)]
        case 6:
            op = draw(st.sampled_from([["between"], ["not", "between"]]))
            low, high = _need(draw, sub(), SUM), _need(draw, sub(), SUM)
            return CMP, [*_need(draw, sub(), SUM), *op, *low, "and", *high]
        case 7:
            tail = draw(st.sampled_from([["is", "missing"], ["is", "not", "missing"]]))
            return CMP, [*_need(draw, sub(), SUM), *tail]
        case 8 | 17:
            op = draw(
                st.sampled_from([["contains"], ["starts", "with"], ["ends", "with"], ["matches"]])
            )
            return CMP, [*_need(draw, sub(), SUM), *op, *_need(draw, sub(), SUM)]
        case 9 | 10:
            op = draw(st.sampled_from(["+", "-"]))
            return SUM, [*_need(draw, sub(), SUM), op, *_need(draw, sub(), PROD)]
        case 11 | 12:
            op = draw(st.sampled_from(["*", "/"]))
            return PROD, [*_need(draw, sub(), PROD), op, *_need(draw, sub(), NEG)]
        case 13:
            return NEG, ["-", *_need(draw, sub(), NEG)]
        case 14:
            return ATOM, _list(draw, depth)
        case 15 | 16 | 18:
            return _call(draw, depth)
        case _:
            return _atom(draw)


@st.composite
def expression_tokens(draw, depth: int = 3) -> list[str]:
    return _expr(draw, draw(st.integers(0, depth)))[1]


def expressions(depth: int = 3) -> st.SearchStrategy[str]:
    """The text of one expression (any operator, literal, call, name; not typed)."""
    return expression_tokens(depth).map(" ".join)


# ---- statements -----------------------------------------------------------------------


def _label(draw) -> list[str]:
    return [draw(strings)] if draw(st.booleans()) else []


SQL_WORDS = {"and", "or", "not", "in", "between", "is", "like", "ilike", "case", "null"}
"""Upper-cased, these are SQL habits: an error wherever a metadata line could take them."""
_not_sql = safe_names.filter(lambda s: s.lower() not in SQL_WORDS)


def _metas(draw) -> list[list[str]]:
    """Metadata lines: a documented key, or a namespaced one of the user's own."""
    key = st.sampled_from([[k] for k in METADATA_KEYS]) | st.tuples(_not_sql, _not_sql).map(
        lambda t: [t[0], ".", t[1]]
    )
    value = st.one_of(strings, _not_sql, st.integers(0, 10**6).map(str), numbers)
    reason = st.sampled_from(['"风控模型需要"', '"risk team, ticket CRM-12"', "audited"])
    lines = [draw(key) for _ in range(draw(st.integers(0, 3)))]
    return [[*k, draw(reason if k == ["declassify"] else value)] for k in lines]


def _value(draw, allow_missing: bool = True) -> list[str]:
    choice = draw(st.integers(0, 9 if allow_missing else 8))
    match choice:
        case 0:
            return [draw(numbers)]
        case 1:
            return ["-", draw(numbers)]
        case 2:
            return ["-", draw(percents)]
        case 3:
            return [draw(strings)]
        case 4:
            return [draw(dates)]
        case 5:
            return [draw(datetimes)]
        case 6:
            return [draw(percents)]
        case 7:
            return [draw(st.sampled_from(["true", "false"]))]
        case 8:
            return [draw(st.integers(0, 999).map(str))]
        case _:
            return ["missing"]


def _test_block(draw) -> list[str]:
    tokens = ["test", draw(strings)]
    for _ in range(draw(st.integers(1, 5))):
        clause = draw(st.integers(0, 4))
        if clause <= 1:
            tokens += ["given", draw(names)]
            for _row in range(draw(st.integers(1, 3))):
                tokens.append("{")
                cells = draw(st.integers(0, 4))
                for i in range(cells):
                    tokens += ([","] if i else []) + [draw(names), ":", *_value(draw)]
                if cells and draw(st.booleans()):
                    tokens.append(",")
                tokens.append("}")
        elif clause == 2:
            tokens += ["as_of", draw(dates)]
        else:
            tokens.append("expect")
            for i in range(draw(st.integers(1, 4))):
                tokens += [","] if i else []
                form = draw(st.integers(0, 3))
                if form == 0:
                    tokens.append(draw(names))
                elif form == 1:
                    tokens += ["not", draw(names)]
                else:
                    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
                    tokens += [draw(names), op, *_value(draw)]
            if draw(st.booleans()):
                tokens += ["for", draw(names), *_value(draw, allow_missing=False)]
    return tokens


@st.composite
def statement_tokens(draw, depth: int = 3) -> list[str]:
    """One statement of any kind, as tokens."""
    kind = draw(
        st.sampled_from(["entity", "related", "feature", "tag", "score", "segment", "test"])
    )
    meta: list[list[str]] = []
    match kind:
        case "entity":
            tokens = ["entity", draw(names), "table", draw(names), "key", draw(names)]
        case "related":
            tokens = ["related", draw(names), "key", draw(names)]
            if draw(st.booleans()):
                tokens += ["time", draw(names)]
        case "feature" | "score":
            tokens = [kind, draw(names), *_label(draw), "="]
            tokens += draw(expression_tokens(depth))
            meta = _metas(draw)
        case "tag":
            tokens = ["tag", draw(names), *_label(draw), "when", *draw(expression_tokens(depth))]
            meta = _metas(draw)
        case "segment":
            tokens = ["segment", draw(names), *_label(draw)]
            for _ in range(draw(st.integers(1, 3))):
                tokens += [draw(strings), "when", *draw(expression_tokens(depth))]
            if draw(st.booleans()):
                tokens += ["else", draw(strings)]
            meta = _metas(draw)
        case _:
            tokens = _test_block(draw)
    for m in meta:
        tokens += ["\n  ", *m]
    return tokens


# ---- layout ----------------------------------------------------------------------------

comments = st.text(
    st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=15
).map(lambda s: "#" + s)
_PUNCT = set("()[]{},:.")


@st.composite
def _gap(draw, before: str, after: str) -> str:
    """What separates two tokens: mostly a space; sometimes nothing (next to punctuation),
    a line break and indentation, a tab, or a comment running to the end of its line."""
    choice = draw(st.integers(0, 30))
    if choice == 0:
        return " " + draw(comments) + "\n" + " " * draw(st.integers(0, 6))
    if choice == 1:
        return "\n" + draw(st.sampled_from(["", "  ", "    ", "\t"]))
    if choice == 2:
        return draw(st.sampled_from(["\t", "  ", "\r\n  ", "\f "]))
    if choice <= 8 and (before in _PUNCT or after in _PUNCT) and before + after != "--":
        return ""
    return " "


@st.composite
def programs(draw, max_statements: int = 6, depth: int = 3) -> str:
    """The text of a whole rule file that parses without diagnostics (see module doc)."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, max_statements))):
        before = draw(st.sampled_from(["\n", "\n", "\n\n", "\n\n\n", "\n  "]))
        for _ in range(draw(st.integers(0, 2))):
            before += draw(comments) + draw(st.sampled_from(["\n", "\n\n"]))
        tokens = draw(statement_tokens(depth))
        text = tokens[0]
        for prev, tok in itertools.pairwise(tokens):
            if tok.startswith("\n"):  # a metadata line: keep its line break
                text += tok
                continue
            text += tok if prev.startswith("\n") else draw(_gap(prev, tok)) + tok
        out.append(before + text)
    tail = draw(st.sampled_from(["", "\n", " " + draw(comments), "\n" + draw(comments) + "\n"]))
    return "".join(out).lstrip("\n") + tail


# ---- typed programs over a schema -------------------------------------------------------

KINDS = ("int", "float", "string", "date", "datetime", "bool")
DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "string": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "bool": pl.Boolean(),
}
_COLUMN_NAMES = ["age", "spend", "city", "vip", "signup", "last_seen", "score_x", "年龄",
                 "消费", "total spend", "given", "key", "missing"]  # fmt: skip
_WORDS = ["北京", "上海", "ab", "Zhang Wei", "x", ""]
_PATTERNS = ["^a", "b$", r"\d", "(?i)zh", "[0-9]{2}", "上"]
_NUMERIC = ("int", "float")
_TEMPORAL = ("date", "datetime")


def _kind(dtype: pl.DataType) -> str:
    return next(k for k, d in DTYPES.items() if d == dtype)


@st.composite
def schemas(draw) -> dict[str, dict[str, pl.DataType]]:
    """`customers` (key `customer_id`) with a few columns of every kind, and often `orders`
    (`customer_id`, `order_date`, `amount`, maybe `channel`, `returned`, `qty`)."""
    picked = draw(st.lists(st.sampled_from(_COLUMN_NAMES), min_size=1, max_size=6, unique=True))
    customers: dict[str, pl.DataType] = {"customer_id": pl.Int64()}
    for name in picked:
        customers[name] = DTYPES[draw(st.sampled_from(KINDS))]
    out = {"customers": customers}
    if draw(st.integers(0, 3)):
        orders: dict[str, pl.DataType] = {
            "customer_id": pl.Int64(),
            "order_date": pl.Date(),
            "amount": pl.Float64(),
        }
        for name, kind in (("channel", "string"), ("returned", "bool"), ("qty", "int")):
            if draw(st.booleans()):
                orders[name] = DTYPES[kind]
        out["orders"] = orders
    return out


def _q(name: str) -> str:
    """A column name as written in rules (contextual keywords such as `given` stay plain)."""
    plain = name.isidentifier() and name not in {*RESERVED, *ORDER_WORDS}
    return name if plain else f"`{name}`"


class _Scope:
    """What a typed expression may use: columns and earlier rules by kind."""

    def __init__(self, schema: dict[str, dict[str, pl.DataType]]):
        self.columns: dict[str, list[str]] = {k: [] for k in KINDS}
        for name, dtype in schema["customers"].items():
            if name != "customer_id":
                self.columns[_kind(dtype)].append(_q(name))
        self.related: dict[str, list[str]] = {k: [] for k in KINDS}
        if "orders" in schema:
            for name, dtype in schema["orders"].items():
                if name != "customer_id":
                    self.related[_kind(dtype)].append(f"orders.{name}")
        self.rules: dict[str, list[str]] = {k: [] for k in KINDS}
        self.has_orders = "orders" in schema


class _Typed:
    """Draws typed expressions; `inside` is True within an aggregate's value or filter."""

    def __init__(self, draw, scope: _Scope):
        self.draw = draw
        self.scope = scope

    def pick(self, options: list) -> object:
        return self.draw(st.sampled_from(options))

    def leaf(self, kind: str, inside: bool) -> str:
        draw = self.draw
        pool = list((self.scope.related if inside else self.scope.columns)[kind])
        if not inside:
            pool += self.scope.rules[kind]
        literal = {
            "int": lambda: str(draw(st.integers(0, 1000))),
            "float": lambda: draw(st.sampled_from(["1.5", "0.25", "50%", "2_000.0", "3"])),
            "string": lambda: '"' + draw(st.sampled_from(_WORDS)) + '"',
            "date": lambda: draw(st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1))).isoformat(),
            "datetime": lambda: (
                draw(st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1))).isoformat() + "T12:30"
            ),
            "bool": lambda: draw(st.sampled_from(["true", "false"])),
        }[kind]
        if kind == "date" and draw(st.integers(0, 3)) == 0:
            return "as_of"
        if pool and draw(st.integers(0, 2)):
            return str(self.pick(pool))
        return literal()

    # each returns text with parentheses around anything but a name, literal or call
    def num(self, depth: int, inside: bool = False, rank: bool = True) -> str:
        draw = self.draw
        if depth <= 0:
            return self.leaf(draw(st.sampled_from(_NUMERIC)), inside)
        choice = draw(st.integers(0, 13))
        d = depth - 1
        if choice == 0:
            op = self.pick(["+", "-", "/"])
            return f"({self.num(d, inside, rank)} {op} {self.num(d, inside, rank)})"
        if choice == 1:
            return f"({self.num(d, inside, rank)} * {draw(st.integers(-5, 100))})"
        if choice == 2:
            return f"-({self.num(d, inside, rank)})"
        if choice == 3:
            func = self.pick(["abs", "round", "floor", "ceil"])
            extra = (
                f", {draw(st.integers(0, 3))}" if func == "round" and draw(st.booleans()) else ""
            )
            return f"{func}({self.num(d, inside, rank)}{extra})"
        if choice == 4:
            func = self.pick(["coalesce", "least", "greatest"])
            return f"{func}({self.num(d, inside, rank)}, {self.num(d, inside, rank)})"
        if choice == 5:
            return f"days_between({self.temporal(d, inside)}, {self.temporal(d, inside)})"
        if choice == 6:
            func = self.pick(["year", "month", "day", "quarter", "weekday"])
            return f"{func}({self.temporal(d, inside)})"
        if choice == 7:
            return f"length({self.text(d, inside)})"
        if choice in (8, 9) and not inside and self.scope.has_orders:
            return self.aggregate(d)
        if choice == 10 and rank and not inside:
            func = self.pick(["ntile", "qcut", "rank", "percent_rank"])
            x = self.num(d, inside, rank=False)
            n = f", {draw(st.integers(1, 6))}" if func in ("ntile", "qcut") else ""
            order = self.pick(["", ", descending", ", ascending"])
            return f"{func}({x}{n}{order})"
        return self.leaf(draw(st.sampled_from(_NUMERIC)), inside)

    def temporal(self, depth: int, inside: bool = False) -> str:
        draw = self.draw
        kind = draw(st.sampled_from(_TEMPORAL))
        if depth <= 0:
            return self.leaf(kind, inside)
        choice = draw(st.integers(0, 6))
        d = depth - 1
        if choice == 0:
            unit = self.pick(["days", "weeks", "months", "years", "day"])
            amount = draw(st.integers(1, 40))
            return f"({self.temporal(d, inside)} {self.pick(['+', '-'])} {amount} {unit})"
        if choice == 1:
            func = self.pick(["least", "greatest"])
            return f"{func}({self.temporal(d, inside)}, {self.temporal(d, inside)})"
        if choice == 2 and not inside and self.scope.related["date"]:
            func = self.pick(["min", "max", "first", "last"])
            return f"{func}(orders.order_date{self._where()}){self._window()}"
        return self.leaf(kind, inside)

    def text(self, depth: int, inside: bool = False) -> str:
        draw = self.draw
        if depth <= 0:
            return self.leaf("string", inside)
        choice = draw(st.integers(0, 4))
        d = depth - 1
        if choice == 0:
            return f"{self.pick(['lower', 'upper', 'trim'])}({self.text(d, inside)})"
        if choice == 1:
            return f'coalesce({self.text(d, inside)}, "{self.pick(_WORDS)}")'
        if choice == 2 and not inside and self.scope.related["string"]:
            column = self.pick(self.scope.related["string"])
            func = self.pick(["min", "max", "first", "last"])
            return f"{func}({column}{self._where()}){self._window()}"
        return self.leaf("string", inside)

    def cond(self, depth: int, inside: bool = False) -> str:
        draw = self.draw
        if depth <= 0:
            return self.leaf("bool", inside)
        choice = draw(st.integers(0, 12))
        d = depth - 1
        op = self.pick(["==", "!=", "<", "<=", ">", ">="])
        if choice == 0:
            return f"({self.cond(d, inside)} {self.pick(['and', 'or'])} {self.cond(d, inside)})"
        if choice == 1:
            return f"(not {self.cond(d, inside)})"
        if choice == 2:
            return f"({self.num(d, inside)} {op} {self.num(d, inside)})"
        if choice == 3:
            return f"({self.text(d, inside)} {op} {self.text(d, inside)})"
        if choice == 4:
            return f"({self.temporal(d, inside)} {op} {self.temporal(d, inside)})"
        if choice == 5:
            neg = self.pick(["", "not "])
            low, high = self.num(d, inside), self.num(d, inside)
            return f"({self.num(d, inside)} {neg}between {low} and {high})"
        if choice == 6:
            items = ", ".join(str(draw(st.integers(0, 50))) for _ in range(draw(st.integers(1, 3))))
            return f"({self.num(d, inside)} {self.pick(['in', 'not in'])} [{items}])"
        if choice == 7:
            items = ", ".join(
                f'"{w}"' for w in draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3))
            )
            return f"({self.text(d, inside)} {self.pick(['in', 'not in'])} [{items}])"
        if choice == 8:
            value = self.pick([self.num, self.text, self.temporal, self.cond])(d, inside)
            return f"({value} is {self.pick(['', 'not '])}missing)"
        if choice == 9:
            test = self.pick(["contains", "starts with", "ends with"])
            return f'({self.text(d, inside)} {test} "{self.pick(_WORDS)}")'
        if choice == 10:
            return f'({self.text(d, inside)} matches "{self.pick(_PATTERNS)}")'
        if choice == 11:
            return f"({self.cond(d, inside)} {self.pick(['==', '!='])} {self.cond(d, inside)})"
        return self.leaf("bool", inside)

    def _where(self) -> str:
        if self.draw(st.integers(0, 2)):
            return ""
        return f" where {self.cond(1, inside=True)}"

    def _window(self) -> str:
        choice = self.draw(st.integers(0, 3))
        if choice == 0:
            unit = self.pick(["days", "weeks", "months", "years"])
            return f" over last {self.draw(st.integers(1, 400))} {unit}"
        if choice == 1:
            a, b = sorted(
                self.draw(
                    st.lists(
                        st.dates(dt.date(2022, 1, 1), dt.date(2026, 1, 1)), min_size=2, max_size=2
                    )
                )
            )
            return f" over {a.isoformat()} to {b.isoformat()}"
        return ""

    def aggregate(self, depth: int) -> str:
        func = self.pick(["count", "count", "sum", "avg", "min", "max", "count_distinct", "share"])
        numeric = self.scope.related["int"] + self.scope.related["float"]
        if func == "count" and self.draw(st.booleans()):
            arg = "orders"
        elif func == "share":
            return f"share(orders where {self.cond(1, inside=True)}){self._window()}"
        elif func == "count_distinct" or func == "count":
            arg = self.pick([*numeric, *self.scope.related["string"]])
        else:
            arg = self.pick(numeric)
            if self.draw(st.integers(0, 2)) == 0:
                arg = f"{arg} * {self.draw(st.integers(1, 9))}"
        return f"{func}({arg}{self._where()}){self._window()}"


@st.composite
def typed_programs(draw, schema: dict[str, dict[str, pl.DataType]], max_rules: int = 8) -> str:
    """Rule text that checks without errors against `schema` and evaluates without errors
    on any data of that schema (see `tables`)."""
    scope = _Scope(schema)
    gen = _Typed(draw, scope)
    lines = ["entity customer table customers key customer_id"]
    if "orders" in schema:
        lines.append("related orders key customer_id time order_date")
    for i in range(draw(st.integers(1, max_rules))):
        name = draw(st.sampled_from([f"r{i}", f"规则{i}", f"`rule {i}`", f"given_{i}"]))
        plain = name.strip("`")
        depth = draw(st.integers(0, 4))
        kind = draw(st.sampled_from(["tag", "feature", "score", "segment"]))
        label = draw(st.sampled_from(["", f' "标签{i}"']))
        if kind == "tag":
            lines.append(f"tag {name}{label} when {gen.cond(depth)}")
            scope.rules["bool"].append(name)
        elif kind == "score":
            lines.append(f"score {name}{label} = {gen.num(depth)}")
            scope.rules["float"].append(name)
        elif kind == "feature":
            value_kind = draw(st.sampled_from(["num", "text", "temporal", "cond"]))
            value = getattr(gen, value_kind)(depth)
            lines.append(f"feature {name}{label} = {value}")
            pool = {"num": "float", "text": "string", "temporal": "datetime", "cond": "bool"}
            scope.rules[pool[value_kind]].append(name)
        else:
            lines.append(f"segment {name}{label}")
            for j in range(draw(st.integers(1, 3))):
                lines.append(f'  "{plain}-{j}" when {gen.cond(depth)}')
            if draw(st.booleans()):
                lines.append('  else "other"')
            scope.rules["string"].append(name)
        if draw(st.integers(0, 4)) == 0:
            lines.append('  owner "fuzz"')
    return "\n".join(lines) + "\n"


def _values(draw, kind: str, n: int) -> list[object]:
    value = {
        "int": st.integers(-1000, 1000),
        "float": st.floats(-1e4, 1e4, allow_infinity=False) | st.just(float("nan")),
        "string": st.sampled_from(_WORDS) | st.text(max_size=5),
        "date": st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)),
        "datetime": st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 12, 31)),
        "bool": st.booleans(),
    }[kind]
    return draw(st.lists(st.none() | value, min_size=n, max_size=n))


@st.composite
def tables(
    draw, schema: dict[str, dict[str, pl.DataType]], max_customers: int = 8
) -> dict[str, pl.DataFrame]:
    """Data of `schema`: unique keys, missing values everywhere else, NaN in float
    columns, customers without orders, orders of no customer and after any as_of."""
    n = draw(st.integers(1, max_customers))
    keys = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    out = {}
    customers = {"customer_id": pl.Series("customer_id", keys, pl.Int64())}
    for name, dtype in schema["customers"].items():
        if name != "customer_id":
            customers[name] = pl.Series(name, _values(draw, _kind(dtype), n), dtype)
    out["customers"] = pl.DataFrame(list(customers.values()))
    if "orders" in schema:
        m = draw(st.integers(0, 3 * max_customers))
        owners = draw(st.lists(st.sampled_from([*keys, 0]), min_size=m, max_size=m))
        days = draw(
            st.lists(st.dates(dt.date(2022, 1, 1), dt.date(2026, 6, 30)), min_size=m, max_size=m)
        )
        orders = {
            "customer_id": pl.Series("customer_id", owners, pl.Int64()),
            "order_date": pl.Series("order_date", days, pl.Date()),
        }
        for name, dtype in schema["orders"].items():
            if name not in orders:
                orders[name] = pl.Series(name, _values(draw, _kind(dtype), m), dtype)
        out["orders"] = pl.DataFrame(list(orders.values()))
    return out


@st.composite
def typed_cases(draw, max_rules: int = 8):
    """(schema, rule text, tables, as_of): a whole case to evaluate."""
    schema = draw(schemas())
    text = draw(typed_programs(schema, max_rules))
    data = draw(tables(schema))
    as_of = draw(st.dates(dt.date(2023, 1, 1), dt.date(2026, 1, 1)))
    return schema, text, data, as_of


__all__ = [
    "CONTEXTUAL",
    "RESERVED",
    "expressions",
    "names",
    "programs",
    "schemas",
    "statement_tokens",
    "tables",
    "typed_cases",
    "typed_programs",
]
