"""Text → AST. Lark (LALR) does the parsing; this module turns its errors into words.

After a syntax error the failing statement is blanked out (line breaks kept, so every
position stays true) and the file is parsed again, so one run reports every broken
statement while the good ones still reach the checker.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tagengine import limits
from tagengine.diagnostics import Diagnostic, error
from tagengine.syntax import ast, habits, metadata
from tagengine.syntax.build import Builder

MAX_SYNTAX_ERRORS = 50
STATEMENT_KEYWORDS = ("entity", "related", "feature", "tag", "segment", "score", "test")
_STATEMENT_START = re.compile(rf"^[ \t]*(?:{'|'.join(STATEMENT_KEYWORDS)})\b", re.MULTILINE)

# How expected tokens read in a message. Anything not listed is shown as written.
_WORDS = {
    "NAME": "a name",
    "QUOTED_NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text ("...")',
    "DATE": "a date",
    "DATETIME": "a date and time",
    "PERCENT": "a percentage",
    "DURATION_UNIT": "a time unit (days, weeks, months, years)",
    "$END": "the end of the file",
}


# The form of each statement, shown when what was written does not fit it.
_FORMS = {
    "entity": "entity NAME table TABLE key COLUMN",
    "related": "related TABLE key COLUMN [time COLUMN]",
    "feature": 'feature NAME ["label"] = EXPRESSION',
    "tag": 'tag NAME ["label"] when CONDITION',
    "score": 'score NAME ["label"] = EXPRESSION',
    "segment": 'segment NAME ["label"], then lines `"value" when CONDITION`, then `else "value"`',
    "test": 'test "title", then lines `given TABLE { ... }`, `as_of DATE`, `expect ...`',
}
_VALUE_HINT = "see “Values (literals)” in docs/language.md"


@cache
def grammar_text() -> str:
    return resources.files("tagengine").joinpath("grammar/tagengine.lark").read_text("utf-8")


@cache
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=_parser_cache() or False,
    )


def _parser_cache() -> str | None:
    """Where Lark keeps its analysed parser tables: building them costs about 80 ms, a
    twentieth of a whole run at a million customers, on every start. The file is named
    by the grammar's hash and lives in the user's own cache folder, never a shared temp
    folder (Lark's default), because it is unpickled. None (no cache) when that folder
    cannot be made or TAGENGINE_NO_PARSER_CACHE is set; a missing, stale or broken file
    is simply rebuilt."""
    if os.environ.get("TAGENGINE_NO_PARSER_CACHE"):
        return None
    digest = hashlib.sha256(grammar_text().encode("utf-8")).hexdigest()[:16]
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "tagengine"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    return str(folder / f"parser-{digest}.lark")


def parse(text: str, file: str = "<rules>") -> tuple[ast.Program, list[Diagnostic]]:
    """Parse one file. Returns the AST of every statement that parsed, and the errors."""
    if (too_big := limits.source_problem(text, file)) is not None:
        return ast.Program(), [too_big]
    diagnostics: list[Diagnostic] = []
    work = " " + text[1:] if text.startswith("\ufeff") else text  # a byte-order mark
    tree = None
    read = 0  # characters parsed so far: a huge file is not read 50 times over
    while tree is None:
        try:
            read += len(work)
            tree = _lark().parse(work)
        except UnexpectedInput as exc:
            found = _sql_habit(exc, work, file) or _describe(exc, work, file)
            diagnostics.append(_unclosed(found, exc, work, file))
            blanked = _blank_statement(work, _error_offset(exc, work))
            if (
                blanked == work
                or len(diagnostics) >= MAX_SYNTAX_ERRORS
                or read > limits.MAX_REPARSED_CHARS
            ):
                return ast.Program(), diagnostics
            work = blanked
    diagnostics += limits.prune(tree, file)  # before anything recursive walks the tree
    builder = Builder(file)
    program = builder.transform(tree)
    diagnostics += [
        error("TE002", msg, span, hint[0] if hint else _VALUE_HINT)
        for msg, span, *hint in builder.problems
    ]
    program, broken = metadata.problems(program, work, file)
    diagnostics += broken
    return program, diagnostics


def _sql_habit(exc: UnexpectedInput, text: str, file: str) -> Diagnostic | None:
    """A SQL habit in the statement that failed (`AND`, `<>`, `IN (...)`), told as such:
    the parser's own words would point at a symptom, often far from the cause."""
    offset = _error_offset(exc, text)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    at_keyword = not text[line_start:offset].strip() and _STATEMENT_START.match(text, line_start)
    end = offset if at_keyword else (len(text) if line_end == -1 else line_end)
    start = habits.statement_start(text, max(0, end - 1))
    habit = habits.find(text, start, end)
    return None if habit is None else habits.diagnostic(text, habit, start, end, file)


_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _unclosed(found: Diagnostic, exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    """When a bracket of the failing statement is still open where the parser stopped,
    point at it too: the error often shows only where the next statement begins."""
    offset = _error_offset(exc, text)
    opened: list[habits.Token] = []
    for tok in habits.tokens(text, habits.statement_start(text, max(0, offset - 1)), offset):
        if tok.text in _CLOSE:
            opened.append(tok)
        elif opened and tok.text == _CLOSE[opened[-1].text]:
            opened.pop()
    if not opened:
        return found
    bracket = opened[-1]
    line, column = habits.position(text, bracket.start)
    span = ast.Span(file, line, column, line, column + 1)
    note = (span, f"this `{bracket.text}` is never closed")
    hint = found.hint
    if not hint or habits.DOC not in hint:  # a SQL habit's own fix comes first
        hint = f"close the `{bracket.text}` of line {line} with `{_CLOSE[bracket.text]}`"
    return replace(found, notes=(*found.notes, note), hint=hint)


def _error_offset(exc: UnexpectedInput, text: str) -> int:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        return len(text)
    pos = getattr(exc, "pos_in_stream", None)
    if isinstance(exc, UnexpectedToken):
        pos = exc.token.start_pos
    return len(text) if pos is None else pos


def _blank_statement(text: str, offset: int) -> str:
    """Replace the statement around `offset` with spaces, keeping line breaks."""
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    line_start = text.rfind("\n", 0, offset) + 1
    at_keyword = line_start in starts and not text[line_start:offset].strip()
    before = [s for s in starts if (s < line_start if at_keyword else s <= offset)]
    start = before[-1] if before else 0
    after = [s for s in starts if s > start and s >= (line_start if at_keyword else offset)]
    end = after[0] if after and after[0] > start else len(text)
    if at_keyword and after and after[0] == line_start:
        end = line_start
    if end <= start:
        end = len(text)
    chunk = text[start:end]
    return text[:start] + re.sub(r"[^\n]", " ", chunk) + text[end:]


def _describe(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = ast.Span(file, line, column, line, column + 1)
        if char == "'":
            hint = 'text goes in double quotes: "like this"'
        elif char == "=":
            hint = "to compare, write `==`"
        else:
            hint = "put text in double quotes, and names with spaces in back-quotes: `my column`"
        return error("TE001", f"unexpected character `{char}`", span, hint, "not valid here")
    assert isinstance(exc, UnexpectedToken | UnexpectedEOF)
    token: Token | None = getattr(exc, "token", None)
    expected = _acceptable(exc)
    prev = _previous_token(text, exc)
    wanted = _expected_words(expected, prev)
    after = f" after `{prev}`" if prev else ""
    if token is None or token.type == "$END":
        body = text.rstrip()
        end_line = body.count("\n") + 1
        end_col = len(body) - body.rfind("\n")
        span = ast.Span(file, end_line, end_col, end_line, end_col + 1)
        return error(
            "TE001",
            f"the file ends too early: expected {wanted}{after}",
            span,
            "finish the last statement",
            "here",
        )
    span = ast.Span(file, token.line, token.column, token.end_line, token.end_column)
    found = str(token)
    statement = _statement_keyword(exc)
    if "WHEN" in expected:
        return _missing_when(text, token, span, statement)
    hint = _hint(found, token, expected, prev)
    if found == "=" and token.line == token.end_line:  # the line as it should be
        line = text.split("\n")[token.line - 1]
        fixed = (line[: token.column - 1] + "==" + line[token.end_column - 1 :]).strip()
        hint = f"to compare, write `==`: `{fixed}`"
    if hint is None:
        form = _FORMS.get(statement or "")
        hint = f"the form is `{form}`" if form else "see docs/language.md"
    return error("TE001", f"expected {wanted}{after}, found `{found}`", span, hint, "unexpected")


def _missing_when(text: str, token: Token, span: ast.Span, statement: str | None) -> Diagnostic:
    """`tag high_value spend > 5000`: the commonest slip, told with the line as it should be."""
    line = text.split("\n")[token.line - 1]
    before, after = line[: token.column - 1].strip(), line[token.column - 1 :].strip()
    if str(token) == "=" and statement == "tag":
        fixed = f"{before} when {after[1:].strip()}"
        name = before.split()[1] if len(before.split()) > 1 else "NAME"
        return error(
            "TE001",
            "a tag takes `when` and a condition, not `=`",
            span,
            f"write `{fixed}`; for a value rather than a yes/no tag, `feature {name} = ...`",
            "expected `when`",
        )
    what = "a tag" if statement == "tag" else "a segment's branch"
    return error(
        "TE001",
        f"{what} needs `when` before its condition",
        span,
        f"write `{' '.join(part for part in (before, 'when', after) if part)}`",
        "expected `when` before this",
    )


def _statement_keyword(exc: UnexpectedInput) -> str | None:
    """The keyword of the statement being read when the error came (`tag`, ...)."""
    state = getattr(exc, "state", None)
    stack = getattr(state, "value_stack", None) or []
    keywords = [  # finished statements are trees on the stack; the open one's keyword is not
        str(v) for v in stack if isinstance(v, Token) and v.type == str(v).upper()
    ]
    return next((k for k in reversed(keywords) if k in STATEMENT_KEYWORDS), None)


def _acceptable(exc: UnexpectedInput) -> set[str]:
    """What the parser could take here. LALR merges states, so `exc.expected` can list
    tokens that were only valid in another context; simulating each one is exact."""
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except Exception:
            pass
    return set(getattr(exc, "expected", set()) or set())


def _previous_token(text: str, exc: UnexpectedInput) -> str | None:
    history = getattr(exc, "token_history", None)
    if history:
        return str(history[-1])
    state = getattr(exc, "state", None)
    stack = getattr(state, "value_stack", None)
    if not stack:
        return None
    last = stack[-1]
    while isinstance(last, Tree) and last.children:  # e.g. the `name` just read: its last
        last = last.children[-1]  # token (a loop: the tree may be deeper than the stack)
    return str(last) if isinstance(last, Token) else None


def _expected_words(expected: set[str], prev: str | None) -> str:
    terminals = {t.name: t for t in _lark().terminals}
    literal = {t.pattern.value: t.name for t in terminals.values() if t.pattern.type == "str"}
    if {"NUMBER", "STRING", "NAME"} <= expected:
        return "a condition" if prev == "when" else "a value"
    if {"NUMBER", "STRING", "MISSING"} <= expected:  # a value in a test block
        return "a value (a number, a quoted text, a date, true, false or missing)"
    if literal.get("==") in expected:
        return "an operator (`==`, `>`, `and`, `+`, ...) or the next statement"
    words: list[str] = []
    for name in sorted(expected):
        if name in _WORDS:
            word = _WORDS[name]
        elif name in terminals and terminals[name].pattern.type == "str":
            word = f"`{terminals[name].pattern.value}`"
        else:
            word = name.lower()
        if word not in words:
            words.append(word)
    if not words:
        return "something else"
    if len(words) > 6:
        words = [*words[:6], "…"]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _hint(found: str, token: Token, expected: set[str], prev: str | None) -> str | None:
    if found == "=":
        return "to compare, write `==`; `=` only defines a feature or score"
    if found in ("<>", "!"):
        return "write `!=` for 'not equal'"
    if found in ("&&", "&"):
        return "write `and`"
    if found in ("||", "|"):
        return "write `or`"
    if "WHEN" in expected and prev is not None:
        return "a tag needs `when` before its condition: tag NAME when CONDITION"
    if token.type in ("TAG", "FEATURE", "SEGMENT", "SCORE", "ENTITY"):
        return "the statement before this one is incomplete"
    if token.type == "NAME" and found in ("AND", "OR", "NOT", "And", "Or", "Not"):
        return f"keywords are lower case: `{found.lower()}`"
    return None
