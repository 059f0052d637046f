"""AST (+ comments) → canonical text: the one layout `tagengine fmt` writes.

The layout:

- one statement per line, `key: value` spacing, one space around operators, no spaces
  inside brackets, `[a, b]`, `f(x, 5)`; metadata, segment branches and test lines
  indented by two spaces; segment branches aligned on their `when`;
- parentheses only where precedence needs them, and around an `and` inside an `or`;
- a line longer than 100 columns whose expression is an `and` / `or` chain breaks before
  each `and` / `or`, continued four spaces in; a long test row puts its cells on lines of
  their own;
- literals as written (`5_000`, `12%`, `"\\u4e2d"`), names back-quoted where they must be
  (and where the author back-quoted a reference); labels re-quoted;
- blank lines between statements kept (at most one), none inside a statement;
- comments kept: a comment on its own line stays before what follows it, a comment at
  the end of a line stays there; a comment inside a construct that the layout puts on one
  line (or that it breaks over several) moves to its own line just before it.

Formatting is idempotent, and the formatted text parses to the same AST (modulo spans).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from lark import Lark, Token
from rich.cells import cell_len

from tagengine.diagnostics import Diagnostic, TagEngineError
from tagengine.syntax import ast
from tagengine.syntax.parser import grammar_text, parse

WIDTH = 100
INDENT = "  "
CONTINUE = "    "

# precedence levels, loosest first (grammar: or_expr ... unary, atom)
OR, AND, NOT, CMP, SUM, PROD, NEG, ATOM = range(1, 9)
_CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
_SINGULAR = {"days": "day", "weeks": "week", "months": "month", "years": "year"}
_ORDER_WORDS = ("ascending", "descending")  # a bare name there would be an order keyword


@dataclass(frozen=True, slots=True)
class Comment:
    text: str  # `# ...`, trailing spaces removed
    line: int
    column: int
    own_line: bool  # nothing but spaces before it on its line


# ---- entry points -------------------------------------------------------------------


@dataclass(frozen=True)
class Formatted:
    """One file through the formatter: `after` is None when it has syntax errors."""

    file: str
    before: str
    after: str | None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def changed(self) -> bool:
        return self.after is not None and self.after != self.before

    def diff(self) -> str:
        """What formatting changes, as a unified diff ('' when nothing)."""
        if not self.changed:
            return ""
        lines = difflib.unified_diff(
            _keepends(self.before),
            _keepends(self.after or ""),
            f"{self.file} (original)",
            f"{self.file} (formatted)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _keepends(text: str) -> list[str]:
    """The lines of `text`, each with its "\n" (only "\n" ends a line, as for Lark)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def format_source(text: str, file: str = "<rules>") -> Formatted:
    """Format rule text, keeping the diagnostics instead of raising them."""
    try:
        return Formatted(file, text, format_text(text, file))
    except TagEngineError as exc:
        return Formatted(file, text, None, tuple(exc.diagnostics))


def format_text(text: str, file: str = "<rules>") -> str:
    """The canonical layout of rule text. Raises `TagEngineError` with the diagnostics when
    the text does not parse (it is never half-formatted)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark: read as nothing, and dropped
    program, comments = parse_with_comments(text, file)
    return Formatter(text, comments).program(program)


def format_program(program: ast.Program) -> str:
    """The canonical layout of an AST built without source (no comments, no blank lines)."""
    return Formatter("", ()).program(program)


def parse_with_comments(text: str, file: str = "<rules>") -> tuple[ast.Program, list[Comment]]:
    """The AST and the comments of `text`; `TagEngineError` if it has syntax errors."""
    program, diagnostics = parse(text, file)
    errors = [d for d in diagnostics if d.is_error]
    if errors:
        raise TagEngineError(errors)
    lark, sink, lock = _comment_parser()
    with lock:
        sink.clear()
        lark.parse(text)
        tokens = list(sink)
    lines = text.split("\n")
    comments = [
        Comment(
            str(t).rstrip(),
            t.line,
            t.column,
            not lines[t.line - 1][: t.column - 1].strip(),
        )
        for t in tokens
    ]
    return program, comments


@cache
def _comment_parser() -> tuple[Lark, list[Token], threading.Lock]:
    """A parser whose lexer hands every (ignored) COMMENT token to a list."""
    sink: list[Token] = []
    lark = Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": sink.append},
    )
    return lark, sink, threading.Lock()


@cache
def _name_pattern() -> re.Pattern[str]:
    lark, _, _ = _comment_parser()
    return re.compile(lark.get_terminal("NAME").pattern.to_regexp())


def plain_name(name: str) -> bool:
    """Whether `name` can be written without back-quotes."""
    return bool(_name_pattern().fullmatch(name))


def quote_name(name: str, force: bool = False) -> str:
    return name if plain_name(name) and not force else f"`{name}`"


def quote_text(value: str) -> str:
    """A string literal that reads back as `value`."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# ---- layout items -----------------------------------------------------------------


Pos = tuple[int, int]  # (line, column), 1-based


@dataclass
class Item:
    """One unit of the layout: a statement's head, a metadata line, a branch, a test line.
    `start`/`end` is where it was in the source (comments are placed by them)."""

    lines: list[str]
    indent: str
    start: Pos
    end: Pos
    top: bool  # the head of a statement
    leading: list[Comment] = field(default_factory=list)
    hoisted: list[Comment] = field(default_factory=list)  # moved before it from inside
    trailing: list[Comment] = field(default_factory=list)


def _start(span: ast.Span) -> Pos:
    return (span.line, span.column)


def _end(span: ast.Span) -> Pos:
    return (span.end_line, span.end_column)


class Formatter:
    def __init__(self, source: str, comments: Sequence[Comment]):
        self.lines = source.split("\n")  # as Lark counts lines: only "\n" ends a line
        self.comments = list(comments)

    # ---- the whole file ----------------------------------------------------------

    def program(self, program: ast.Program) -> str:
        items: list[Item] = []
        for statement in program.statements:
            items += self.statement(statement)
        trailer = self._place_comments(items)
        out: list[str] = []

        def emit(line: str, blank_before: bool) -> None:
            if blank_before and out and out[-1] != "":
                out.append("")
            out.append(line.rstrip())

        for item in items:
            top_blank = item.top and self._blank_above(item.start[0])
            for c in item.leading:
                emit(item.indent + c.text, item.top and self._blank_above(c.line))
            for i, c in enumerate(item.hoisted):
                emit(item.indent + c.text, top_blank and i == 0)
            if item.hoisted:
                top_blank = False
            lines = list(item.lines)
            if item.trailing:
                lines[-1] += "  " + item.trailing[0].text
            for i, line in enumerate(lines):
                emit(line, top_blank and i == 0)
        for c in trailer:
            emit(c.text, self._blank_above(c.line))
        return "\n".join(out) + "\n" if out else ""

    def _blank_above(self, line: int) -> bool:
        return 2 <= line <= len(self.lines) + 1 and not self.lines[line - 2].strip()

    def _place_comments(self, items: list[Item]) -> list[Comment]:
        """Attach every comment to an item; return those after the last item."""
        trailer: list[Comment] = []
        for c in self.comments:
            pos = (c.line, c.column)
            if c.own_line:
                inside = next((it for it in items if it.start < pos < it.end), None)
                if inside is not None:
                    inside.hoisted.append(c)
                    continue
                after = next((it for it in items if it.start > pos), None)
                if after is not None:
                    after.leading.append(c)
                else:
                    trailer.append(c)
                continue
            before = [it for it in items if it.start < pos]
            if before:
                before[-1].trailing.append(c)
            else:  # a comment after code that made no item: keep it, on its own line
                (items[0].leading if items else trailer).append(c)
        for it in items:  # one trailing comment stays at the end of a one-line item
            if len(it.trailing) > 1 or (it.trailing and len(it.lines) > 1):
                it.hoisted += it.trailing
                it.trailing = []
        return trailer

    # ---- statements ------------------------------------------------------------

    def statement(self, s: ast.Statement) -> list[Item]:
        match s:
            case ast.Entity():
                text = f"entity {quote_name(s.name)} table {quote_name(s.table)} key "
                text += quote_name(s.key)
                return [Item([text], "", _start(s.span), _end(s.span), True)]
            case ast.Related():
                text = f"related {quote_name(s.name)} key {quote_name(s.key)}"
                if s.time is not None:
                    text += f" time {quote_name(s.time)}"
                return [Item([text], "", _start(s.span), _end(s.span), True)]
            case ast.Feature(expr=e) | ast.Score(expr=e):
                head = f"{s.kind} {quote_name(s.name)}{self._label(s.label)} = "
                return [self._head(s, head, e), *self._metas(s.meta)]
            case ast.Tag(condition=e):
                head = f"tag {quote_name(s.name)}{self._label(s.label)} when "
                return [self._head(s, head, e), *self._metas(s.meta)]
            case ast.Segment():
                return self.segment(s)
            case ast.Test():
                return self.test(s)
        raise AssertionError(s)  # pragma: no cover - the builder makes no other statements

    @staticmethod
    def _label(label: str | None) -> str:
        return f" {quote_text(label)}" if label is not None else ""

    def _head(self, s: ast.Rule, head: str, e: ast.Expr) -> Item:
        lines = self._wrapped("", head, e)
        return Item(lines, "", _start(s.span), _end(e.span), True)

    def _metas(self, metas: Sequence[ast.Meta]) -> list[Item]:
        return [
            Item(
                [f"{INDENT}{m.key} {self._meta_value(m)}"],
                INDENT,
                _start(m.span),
                _end(m.span),
                False,
            )
            for m in metas
        ]

    @staticmethod
    def _meta_value(m: ast.Meta) -> str:
        if m.text:
            return m.text
        if isinstance(m.value, str):
            return m.value if plain_name(m.value) else quote_text(m.value)
        return str(m.value)

    def segment(self, s: ast.Segment) -> list[Item]:
        head = f"segment {quote_name(s.name)}{self._label(s.label)}"
        items = [Item([head], "", _start(s.span), _end(s.name_span), True)]
        labels = [quote_text(b.value) for b in s.branches]
        width = max((cell_len(x) for x in labels), default=0)
        for b, label in zip(s.branches, labels, strict=True):
            prefix = f"{INDENT}{label}{' ' * (width - cell_len(label))} when "
            lines = self._wrapped(INDENT, prefix, b.condition)
            items.append(Item(lines, INDENT, _start(b.span), _end(b.span), False))
        after = _end(s.branches[-1].span) if s.branches else _end(s.name_span)
        if s.otherwise is not None:
            at = self._next_code(after)
            text = f"{INDENT}else {quote_text(s.otherwise)}"
            items.append(Item([text], INDENT, at, at, False))
        items += self._metas(s.meta)
        return items

    def _next_code(self, pos: Pos) -> Pos:
        """Where the next token after `pos` starts (skipping spaces and comments)."""
        line, col = pos
        while line <= len(self.lines):
            rest = self.lines[line - 1][col - 1 :]
            stripped = rest.lstrip()
            if stripped and not stripped.startswith("#"):
                return (line, col + len(rest) - len(stripped))
            line, col = line + 1, 1
        return pos

    # ---- tests --------------------------------------------------------------------

    def test(self, t: ast.Test) -> list[Item]:
        items = [Item([f"test {quote_text(t.name)}"], "", _start(t.span), _end(t.name_span), True)]
        for clause in t.clauses:
            match clause:
                case ast.Given():
                    items += self.given(clause)
                case ast.TestAsOf():
                    text = f"{INDENT}as_of {clause.value.text}"
                    items.append(
                        Item([text], INDENT, _start(clause.span), _end(clause.span), False)
                    )
                case ast.Expect():
                    text = INDENT + "expect " + ", ".join(map(expectation, clause.items))
                    if clause.subject is not None:
                        sub = clause.subject
                        text += f" for {quote_name(sub.name)} {sub.key.text}"
                    items.append(
                        Item([text], INDENT, _start(clause.span), _end(clause.span), False)
                    )
        return items

    def given(self, g: ast.Given) -> list[Item]:
        head = f"{INDENT}given {quote_name(g.table)}"
        if len(g.rows) == 1:
            (row,) = g.rows
            lines = self._row(INDENT, head + " ", row)
            return [Item(lines, INDENT, _start(g.span), _end(g.span), False)]
        items = [Item([head], INDENT, _start(g.span), _end(g.table_span), False)]
        inner = INDENT + INDENT
        for row in g.rows:
            lines = self._row(inner, inner, row)
            items.append(Item(lines, inner, _start(row.span), _end(row.span), False))
        return items

    @staticmethod
    def _row(indent: str, prefix: str, row: ast.Row) -> list[str]:
        cells = [
            f"{quote_name(c.column)}: {c.value.text if c.value is not None else 'missing'}"
            for c in row.cells
        ]
        one = prefix + ("{ " + ", ".join(cells) + " }" if cells else "{}")
        if cell_len(one) <= WIDTH:
            return [one]
        lines = [prefix + "{"]
        inner = indent + INDENT
        current = inner
        for cell in cells:
            piece = cell + ","
            if current != inner and cell_len(current + " " + piece) > WIDTH:
                lines.append(current)
                current = inner
            current += ("" if current == inner else " ") + piece
        lines += [current, indent + "}"]
        return lines

    # ---- expressions ------------------------------------------------------------

    def _wrapped(self, indent: str, prefix: str, e: ast.Expr) -> list[str]:
        """`prefix` + `e` on one line, or broken before each top-level `and` / `or`."""
        one = prefix + expr(e)
        if cell_len(one) <= WIDTH or not (isinstance(e, ast.Binary) and e.op in ("and", "or")):
            return [one]
        level = OR if e.op == "or" else AND
        operand = or_operand if e.op == "or" else expr
        parts = _chain(e, e.op)
        lines = [prefix + operand(parts[0], level)]
        for part in parts[1:]:
            lines.append(f"{indent}{CONTINUE}{e.op} {operand(part, level + 1)}")
        return lines


def _chain(e: ast.Expr, op: str) -> list[ast.Expr]:
    """`a and b and c` (left-nested) as [a, b, c]."""
    if isinstance(e, ast.Binary) and e.op == op:
        return [*_chain(e.left, op), e.right]
    return [e]


def expectation(item: ast.Expectation) -> str:
    """One expectation of an `expect` line, as the formatter writes it."""
    name = quote_name(item.name)
    if item.op == "set":
        return name
    if item.op == "not set":
        return f"not {name}"
    return f"{name} {item.op} {item.value.text if item.value is not None else 'missing'}"


def expr(e: ast.Expr, need: int = OR) -> str:
    """`e` as text, in parentheses if it binds more loosely than `need`."""
    text, level = _expr(e)
    return f"({text})" if level < need else text


def _expr(e: ast.Expr) -> tuple[str, int]:
    match e:
        case ast.Binary(op="or", left=left, right=right):
            return f"{or_operand(left, OR)} or {or_operand(right, AND)}", OR
        case ast.Binary(op="and", left=left, right=right):
            return f"{expr(left, AND)} and {expr(right, NOT)}", AND
        case ast.Unary(op="not", operand=operand):
            return f"not {expr(operand, NOT)}", NOT
        case ast.Binary(op=op, left=left, right=right) if op in _CMP_OPS:
            return f"{expr(left, SUM)} {op} {expr(right, SUM)}", CMP
        case ast.InList(operand=operand, items=items, negated=negated):
            listed = ", ".join(expr(i) for i in items)
            return f"{expr(operand, SUM)} {'not in' if negated else 'in'} [{listed}]", CMP
        case ast.Between(operand=operand, low=low, high=high, negated=negated):
            word = "not between" if negated else "between"
            return f"{expr(operand, SUM)} {word} {expr(low, SUM)} and {expr(high, SUM)}", CMP
        case ast.IsMissing(operand=operand, negated=negated):
            return f"{expr(operand, SUM)} is {'not ' if negated else ''}missing", CMP
        case ast.TextTest(op=op, operand=operand, pattern=pattern):
            return f"{expr(operand, SUM)} {op} {expr(pattern, SUM)}", CMP
        case ast.Binary(op="+" | "-" as op, left=left, right=right):
            return f"{expr(left, SUM)} {op} {expr(right, PROD)}", SUM
        case ast.Binary(op="*" | "/" as op, left=left, right=right):
            return f"{expr(left, PROD)} {op} {expr(right, NEG)}", PROD
        case ast.Unary(op="neg", operand=operand):
            return f"-{expr(operand, NEG)}", NEG
        case ast.Literal(text=text, value=value):
            return text or _literal_text(value), ATOM
        case ast.Duration(amount=amount, unit=unit):
            return f"{amount} {_unit(amount, unit)}", ATOM
        case ast.ListExpr(items=items):
            return "[" + ", ".join(expr(i) for i in items) + "]", ATOM
        case ast.Name(name=name, quoted=quoted):
            return quote_name(name, quoted), ATOM
        case ast.Attr(table=table, column=column):
            return f"{quote_name(table)}.{quote_name(column)}", ATOM
        case ast.Call():
            return _call(e), ATOM
    raise AssertionError(e)  # pragma: no cover - the builder makes no other nodes


def or_operand(e: ast.Expr, need: int) -> str:
    """An operand of `or`: an `and` keeps its parentheses, though `and` binds tighter, so
    that `(a and b) or c` reads as meant (as compilers warn of `&&` within `||`)."""
    if isinstance(e, ast.Binary) and e.op == "and":
        return f"({expr(e)})"
    return expr(e, need)


def _call(c: ast.Call) -> str:
    args = [_argument(a) for a in c.args]
    if c.descending is not None:
        args.append("descending" if c.descending else "ascending")
    inner = ", ".join(args)
    if c.where is not None:
        inner += (" " if inner else "") + f"where {expr(c.where)}"
    text = f"{c.func}({inner})"
    w = c.window
    if w is not None:
        if w.amount is not None and w.unit is not None:
            text += f" over last {w.amount} {_unit(w.amount, w.unit)}"
        elif w.start is not None and w.end is not None:
            text += f" over {w.start.isoformat()} to {w.end.isoformat()}"
    return text


def _argument(a: ast.Expr) -> str:
    """A call argument; a bare `ascending` / `descending` at its start is back-quoted, or it
    would read as the order keyword."""
    left = a
    while True:
        match left:
            case ast.Binary() | ast.InList() | ast.Between() | ast.IsMissing():
                left = left.left if isinstance(left, ast.Binary) else left.operand
            case ast.TextTest():
                left = left.operand
            case _:
                break
    if isinstance(left, ast.Name) and left.name in _ORDER_WORDS and not left.quoted:
        return expr(_requote(a, left))
    return expr(a)


def _requote(e: ast.Expr, target: ast.Name) -> ast.Expr:
    """`e` with the name node `target` back-quoted."""
    if e is target:
        return dataclasses.replace(target, quoted=True)
    changes = {
        f.name: _requote(getattr(e, f.name), target)
        for f in dataclasses.fields(e)  # type: ignore[arg-type]
        if isinstance(getattr(e, f.name), ast.Expr)
    }
    return dataclasses.replace(e, **changes)  # type: ignore[type-var]


def _unit(amount: int, unit: str) -> str:
    return _SINGULAR.get(unit, unit) if amount == 1 else unit


def _literal_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
