"""SQL habits in a rule file, each told once with the line as it should be.

Analysts who know SQL write `AND`, `<>`, `IN (...)`, `IS NULL`, `LIKE "a%"`, `CASE WHEN`.
Upper-case words are names to our grammar, so such a line either fails to parse far
from the cause or, worse, parses as something else (a metadata line). This module
finds the first habit in a stretch of source and rewrites the whole line the way
tagengine writes it, so the hint can be copied as it stands.

It reads the text with its own small scanner, not Lark: it must work on text that does
not parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tagengine.diagnostics import Diagnostic, error
from tagengine.syntax.ast import Span

DOC = "see “Coming from SQL” in docs/language.md"

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<squote>'(?:[^'\\\n]|\\.)*'?)
  | (?P<quoted>`[^`\n]*`?)
  | (?P<comment>\#[^\n]*)
  | (?P<word>[^\W\d]\w*)
  | (?P<number>\d[\d_]*(?:\.\d[\d_]*)?%?)
  | (?P<op><>|&&|\|\||==|!=|<=|>=|\S)
  """,
    re.VERBOSE,
)
# Words that are keywords in SQL and, written lower case, in tagengine.
_KEYWORDS = {"and", "or", "not", "in", "between", "is", "when", "else"}
_STATEMENTS = {"entity", "related", "feature", "tag", "segment", "score", "test"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Habit:
    """One SQL habit: where it is, what to say, and the edits that make the line right."""

    start: int
    end: int
    message: str
    label: str
    edits: tuple[tuple[int, int, str], ...]  # (start, end, replacement) in the source
    advice: str | None = None  # said when no line can be written for the user


def tokens(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    end = len(text) if end is None else end
    out = []
    for m in _TOKEN.finditer(text, start, end):
        kind = m.lastgroup or "op"
        if kind != "comment":
            out.append(Token(kind, m.group(), m.start(), m.end()))
    return out


def _is(tok: Token | None, word: str) -> bool:
    return tok is not None and tok.kind == "word" and tok.text.lower() == word


def _upper(tok: Token) -> bool:
    return tok.kind == "word" and tok.text != tok.text.lower()


def find(text: str, start: int, end: int) -> Habit | None:
    """The first SQL habit in text[start:end], or None. `start` is where a statement begins
    (so a feature's defining `=` is known for what it is)."""
    found = [h for h in _all(tokens(text, start, end)) if h is not None]
    if not found:
        return None
    return min(found, key=lambda h: h.start)


def diagnostic(text: str, habit: Habit, start: int, end: int, file: str) -> Diagnostic:
    """The error for `habit`, found in the statement text[start:end]."""
    fixed = fixed_line(text, habit, start, end)
    advice = f"write `{fixed}`" if fixed else habit.advice
    hint = f"{advice}; {DOC}" if advice else DOC
    line, column = position(text, habit.start)
    end_line, end_column = position(text, habit.end)
    span = Span(file, line, column, end_line, end_column)
    return error("TE001", habit.message, span, hint, habit.label)


def fixed_line(text: str, habit: Habit, start: int, end: int) -> str | None:
    """The source line of `habit` with every habit on it (and in the statement) put right;
    None when the line cannot be written for the user (`CASE WHEN`)."""
    if not habit.edits:
        return None
    line_start = text.rfind("\n", 0, habit.start) + 1
    line_end = text.find("\n", habit.start)
    line_end = len(text) if line_end == -1 else line_end
    edits = [
        e
        for h in _all(tokens(text, start, end))
        if h is not None
        for e in h.edits
        if line_start <= e[0] and e[1] <= line_end
    ]
    line = text[line_start:line_end]
    for s, e, new in sorted(set(edits), reverse=True):
        line = line[: s - line_start] + new + line[e - line_start :]
    return " ".join(without_comment(line).split())


def without_comment(line: str) -> str:
    cut = next((m.start() for m in _TOKEN.finditer(line) if m.lastgroup == "comment"), None)
    return line if cut is None else line[:cut]


def _all(toks: list[Token]):
    """Every habit in a statement's tokens, in order (None where a token is fine)."""
    defining = _defining_equals(toks)
    skip_until = -1
    for i, tok in enumerate(toks):
        if i < skip_until:
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        nxt2 = toks[i + 2] if i + 2 < len(toks) else None
        if tok.kind == "op":
            if tok.text in ("=", "==", "!=", "<>") and _is(nxt, "null") and i != defining:
                assert nxt is not None
                new = "is missing" if tok.text in ("=", "==") else "is not missing"
                yield Habit(
                    tok.start,
                    nxt.end,
                    f"a missing value is tested with `{new}`",
                    f"write `{new}`",
                    ((tok.start, nxt.end, new),),
                )
                skip_until = i + 2
            elif tok.text == "<>":
                yield Habit(
                    tok.start,
                    tok.end,
                    "`<>` is written `!=`",
                    "write `!=`",
                    ((tok.start, tok.end, "!="),),
                )
            elif tok.text in ("&&", "||"):
                word = "and" if tok.text == "&&" else "or"
                yield Habit(
                    tok.start,
                    tok.end,
                    f"`{tok.text}` is written `{word}`",
                    f"write `{word}`",
                    ((tok.start, tok.end, word),),
                )
            elif tok.text == "=" and i != defining:
                yield Habit(
                    tok.start,
                    tok.end,
                    "to compare, write `==`",
                    "write `==`",
                    ((tok.start, tok.end, "=="),),
                )
            continue
        if tok.kind == "squote":
            body = tok.text[1:-1] if tok.text.endswith("'") and len(tok.text) > 1 else tok.text[1:]
            new = '"' + body.replace('"', '\\"') + '"'
            yield Habit(
                tok.start,
                tok.end,
                "text goes in double quotes",
                f"write `{new}`",
                ((tok.start, tok.end, new),),
            )
            continue
        if tok.kind != "word":
            continue
        low = tok.text.lower()
        if low == "is" and (_is(nxt, "null") or (_is(nxt, "not") and _is(nxt2, "null"))):
            last = nxt2 if _is(nxt, "not") else nxt
            assert last is not None
            new = "is not missing" if _is(nxt, "not") else "is missing"
            yield Habit(
                tok.start,
                last.end,
                f"a missing value is tested with `{new}`",
                f"write `{new}`",
                ((tok.start, last.end, new),),
            )
            skip_until = toks.index(last) + 1
            continue
        if low == "not" and _is(nxt, "like"):
            yield _like(toks, i + 1, negate=toks[i])
            skip_until = i + 3
            continue
        if low in ("like", "ilike"):
            yield _like(toks, i, negate=None)
            skip_until = i + 2
            continue
        if low == "case" and (_is(nxt, "when") or _upper(tok)):
            yield _case(toks, i)
            continue
        if low == "in" and nxt is not None and nxt.text == "(":
            yield _in_parens(toks, i)
            continue
        if low == "null" and _upper(tok):
            yield Habit(
                tok.start,
                tok.end,
                "a missing value is written `missing` and tested with `is missing`",
                "SQL",
                (),
                "write `x is missing` rather than `x = NULL`",
            )
            continue
        if low in _KEYWORDS and _upper(tok):
            if low == "not" and (_is(nxt, "in") or _is(nxt, "between")):
                assert nxt is not None
                phrase = f"{tok.text} {nxt.text}"
                yield Habit(
                    tok.start,
                    nxt.end,
                    f"`{phrase}` is written `{phrase.lower()}`: keywords are lower case",
                    f"write `{phrase.lower()}`",
                    ((tok.start, tok.end, "not"), (nxt.start, nxt.end, nxt.text.lower())),
                )
                continue
            yield Habit(
                tok.start,
                tok.end,
                f"`{tok.text}` is written `{low}`: keywords are lower case",
                f"write `{low}`",
                ((tok.start, tok.end, low),),
            )


def _defining_equals(toks: list[Token]) -> int:
    """The index of the `=` that defines a feature or score (`feature x "label" = ...`), or
    stands where a tag's `when` belongs (the parser says that one best)."""
    if len(toks) >= 3 and toks[0].text in ("feature", "score", "tag"):
        i = 2 + (toks[2].kind == "string")
        if i < len(toks) and toks[i].text == "=":
            return i
    return -1


def _like(toks: list[Token], i: int, negate: Token | None) -> Habit:
    """`x LIKE "a%"` → `x starts with "a"`; `x NOT LIKE "a%"` → `not x starts with "a"`."""
    tok = toks[i]
    first = negate or tok
    pattern = toks[i + 1] if i + 1 < len(toks) else None
    message = "there is no `LIKE`: use `starts with`, `ends with`, `contains` or `matches`"
    if pattern is None or pattern.kind not in ("string", "squote") or len(pattern.text) < 2:
        return Habit(first.start, tok.end, message, "SQL", (), None)
    body = pattern.text[1:-1]
    form = _like_form(body)
    edits: list[tuple[int, int, str]] = [(first.start, pattern.end, form)]
    if negate is not None:
        operand = toks[i - 2] if i >= 2 else None  # the name before NOT
        if operand is None or operand.kind not in ("word", "quoted") or _is(operand, "when"):
            return Habit(first.start, tok.end, message, "SQL", (), f"write `not (... {form})`")
        edits.append((operand.start, operand.start, "not "))
        return Habit(
            first.start, tok.end, message, f"write `not {operand.text} {form}`", tuple(edits)
        )
    return Habit(first.start, tok.end, message, f"write `{form}`", tuple(edits))


def _like_form(body: str) -> str:
    inner = body.strip("%")
    plain = "_" not in body and "%" not in inner
    if plain and body.startswith("%") and body.endswith("%") and inner:
        return f'contains "{inner}"'
    if plain and body.endswith("%") and inner:
        return f'starts with "{inner}"'
    if plain and body.startswith("%") and inner:
        return f'ends with "{inner}"'
    if "%" not in body and "_" not in body:
        return f'== "{body}"'
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in body)
    return f'matches "^{regex.replace(chr(92), chr(92) * 2)}$"'


def _case(toks: list[Token], i: int) -> Habit:
    """`feature band = CASE WHEN a THEN "x" ELSE "y" END` → `segment band "x" when a else "y"`
    (on one line: line breaks carry no meaning), when every value is a text."""
    tok = toks[i]
    message = "there is no `CASE WHEN`: a value chosen by conditions is a segment"
    advice = (
        'write `segment NAME "label" when CONDITION ... else "other"`, one line per '
        '`"label" when CONDITION`; the first that matches wins'
    )
    head = toks[:i]
    words = [t.text.lower() if t.kind == "word" else "" for t in toks]
    if len(head) < 3 or head[0].text not in ("feature", "score") or head[-1].text != "=":
        return Habit(tok.start, tok.end, message, "SQL", (), advice)
    parts, j, otherwise = [], i + 1, None
    while j < len(toks) and words[j] == "when":
        then = next((k for k in range(j + 1, len(toks)) if words[k] == "then"), None)
        if then is None or then + 1 >= len(toks) or toks[then + 1].kind not in ("string", "squote"):
            return Habit(tok.start, tok.end, message, "SQL", (), advice)
        condition = _joined(toks[j + 1 : then])
        parts.append(f'"{toks[then + 1].text[1:-1]}" when {condition}')
        j = then + 2
    if j + 1 < len(toks) and words[j] == "else" and toks[j + 1].kind in ("string", "squote"):
        otherwise = toks[j + 1].text[1:-1]
        j += 2
    if not parts or j >= len(toks) or words[j] != "end":
        return Habit(tok.start, tok.end, message, "SQL", (), advice)
    label = f" {head[2].text}" if head[2].kind == "string" else ""
    segment = f"segment {head[1].text}{label} " + " ".join(parts)
    segment += f' else "{otherwise}"' if otherwise is not None else ""
    edits = ((head[0].start, toks[j].end, segment),)
    return Habit(tok.start, tok.end, message, "SQL", edits)


def _joined(toks: list[Token]) -> str:
    """Tokens as written, with one space wherever the source had any."""
    out = ""
    for prev, tok in zip([None, *toks], toks, strict=False):
        out += tok.text if prev is None or prev.end == tok.start else " " + tok.text
    return out


def _in_parens(toks: list[Token], i: int) -> Habit:
    """`x IN ("a", "b")` → `x in ["a", "b"]`."""
    tok, open_ = toks[i], toks[i + 1]
    depth, close = 0, None
    for t in toks[i + 1 :]:
        if t.text in ("(", "["):
            depth += 1
        elif t.text in (")", "]"):
            depth -= 1
            if depth == 0:
                close = t
                break
    edits = [(tok.start, tok.end, "in"), (open_.start, open_.end, "[")]
    if close is not None:
        edits.append((close.start, close.end, "]"))
    return Habit(
        tok.start,
        open_.end,
        "a list is written in square brackets: `in [...]`",
        "write `in [...]`",
        tuple(edits),
    )


_STATEMENT_START = re.compile(rf"^[ \t]*(?:{'|'.join(_STATEMENTS)})\b", re.MULTILINE)


def statement_start(text: str, offset: int) -> int:
    """Where the statement holding `offset` starts: the last line at or before it that
    begins with a statement keyword."""
    best = 0
    for m in _STATEMENT_START.finditer(text):
        if m.start() > offset:
            break
        best = m.start()
    return best


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of a character offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1
