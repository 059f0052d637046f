"""One Diagnostic type for every problem a user can cause, and its renderings."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum

from rich.cells import cell_len

from tagengine.safe_text import ELLIPSIS, clipped, json_text, piece, shown
from tagengine.syntax.ast import Span

MASK = "***"
VALUE = "\x00VALUE\x00"  # where a template puts its data value

# How wide a quoted source line may be, in cells: a longer one is shown as a window
# around its caret, `…` where it is cut. Messages, hints and labels are cut (in the
# middle) beyond TEXT_WIDTH: one diagnostic stays a few hundred bytes, whatever it quotes.
SOURCE_WIDTH = 200
TEXT_WIDTH = 400


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    label: str | None = None  # short text printed under the caret
    severity: Severity = Severity.ERROR
    # other places the message is about, each with its label (the `(` never closed)
    notes: tuple[tuple[Span, str], ...] = ()
    # A value from the data that the message quotes, and where it came from: the column
    # (`table.column`, or None when no one column can be named). `message` holds it at
    # VALUE's place in `template`; `masked` puts `***` there for a private column.
    value: str | None = None
    value_column: str | None = None
    template: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def masked(self, private: Collection[str]) -> Diagnostic:
        """This diagnostic with its data value as `***` when that value comes from a
        private column, or from a column it cannot name while any column is private."""
        if (
            self.value is None
            or self.template is None
            or not is_private(self.value_column, private)
        ):
            return self
        shown = MASK if self.value_column else f"{MASK} (withheld: it may quote private values)"
        return replace(self, message=self.template.replace(VALUE, shown), value=MASK)

    def to_dict(self) -> dict[str, object]:
        span = self.span
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "value": self.value,
            "value_column": self.value_column,
            "hint": self.hint,
            "file": span.file if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "notes": [
                {
                    "message": label,
                    "file": n.file,
                    "line": n.line,
                    "column": n.column,
                    "end_line": n.end_line,
                    "end_column": n.end_column,
                }
                for n, label in self.notes
            ],
        }


class TagEngineError(Exception):
    """Base of every error tagengine raises at a user; carries its diagnostics."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(d.message for d in self.diagnostics))


def error(
    code: str,
    message: str,
    span: Span | None = None,
    hint: str | None = None,
    label: str | None = None,
) -> Diagnostic:
    return Diagnostic(code, message, span, hint, label)


def quoting(
    code: str,
    template: str,
    value: str,
    column: str | None,
    hint: str | None = None,
) -> Diagnostic:
    """An error whose message quotes `value`, a value of the data's `column`, at the
    place of VALUE in `template`."""
    message = template.replace(VALUE, value)
    return Diagnostic(
        code, message, None, hint, value=value, value_column=column, template=template
    )


def is_private(column: str | None, private: Collection[str]) -> bool:
    """Whether `column` (`table.column`; None: not known) is among `private` (the
    project's `pii`: `table.column`, or a bare name, private in every table)."""
    if not private:
        return False
    if column is None:
        return True  # fail closed: the value may be any column's
    if "." not in column:  # a column whose table is not known: by name alone
        return column in private or column in {p.rsplit(".", 1)[-1] for p in private}
    return column in private or column.rsplit(".", 1)[-1] in private


def mask(diagnostics: Iterable[Diagnostic], private: Collection[str]) -> list[Diagnostic]:
    return [d.masked(private) for d in diagnostics]


def warning(
    code: str,
    message: str,
    span: Span | None = None,
    hint: str | None = None,
    label: str | None = None,
) -> Diagnostic:
    return Diagnostic(code, message, span, hint, label, Severity.WARNING)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    s = d.span
    return (s.file, s.line, s.column, d.code) if s else ("", 0, 0, d.code)


def render_human(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Compiler-style text: header, location, the source line with a caret, the hint."""
    return "\n".join(_render_one(d, sources) for d in diagnostics)


def _render_one(d: Diagnostic, sources: Mapping[str, str]) -> str:
    out = [f"{d.severity}[{d.code}]: {_text(d.message, lines=True)}"]
    span = d.span
    if span is None:
        if d.hint:
            out.append(f"  = help: {_text(d.hint, lines=True)}")
        return "\n".join(out) + "\n"
    lines = _lines(sources.get(span.file, ""))
    marks = [
        (span, "^", d.label),
        *((n, "-", label) for n, label in d.notes if n.file == span.file),
    ]
    gutter = " " * max(len(str(m[0].line)) for m in marks)
    out.append(f"{gutter}--> {_text(span.file)}:{span.line}:{span.column}")
    quoted = False
    for number in sorted({m[0].line for m in marks}):
        if not 0 < number <= len(lines):
            continue
        text = lines[number - 1].expandtabs(1)
        on_line = sorted((m for m in marks if m[0].line == number), key=_column)
        ranges = [
            (m.column - 1, (m.end_column if m.end_line == m.line else len(text) + 1) - 1)
            for m, _char, _label in on_line
        ]
        focus = next((i for i, m in enumerate(on_line) if m[0] is span), 0)
        excerpt, places = _excerpt(text, ranges, focus)
        out += [f"{gutter} |", f"{number:>{len(gutter)}} | {excerpt}"]
        for (_mark, char, label), (start, width) in zip(on_line, places, strict=True):
            marker = " " * start + char * width + (f" {_text(label)}" if label else "")
            out.append(f"{gutter} | {marker.rstrip()}")
        quoted = True
    if d.hint:
        if quoted:
            out.append(f"{gutter} |")
        out.append(f"{gutter} = help: {_text(d.hint, lines=True)}")
    return "\n".join(out) + "\n"


def _column(mark: tuple[Span, str, str | None]) -> int:
    return mark[0].column


def _text(text: str, lines: bool = False) -> str:
    """A message, hint, label or file name as printed: hidden characters escaped
    (safe_text.py; `lines`: but line breaks and tabs), at most TEXT_WIDTH cells."""
    return clipped(shown(text, lines), TEXT_WIDTH)


def _lines(source: str) -> list[str]:
    """The source's lines as the parser numbers them: split at line feeds only (not at
    U+2028, U+0085 or a form feed, which str.splitlines also takes for line breaks)."""
    lines = source.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _excerpt(
    text: str, ranges: list[tuple[int, int]], focus: int
) -> tuple[str, list[tuple[int, int]]]:
    """The source line as shown, and where each mark goes on it: (first cell, cells).

    `ranges` are the marks' [start, end) character offsets (end may lie past the line's
    end). Hidden characters are escaped (safe_text.py), the marks widened to match; a
    line wider than SOURCE_WIDTH is cut to a window around `ranges[focus]`, with `…` on
    each side that is cut."""
    cells: dict[int, int] = {}

    def width(i: int) -> int:
        if i not in cells:
            cells[i] = cell_len(piece(text, i))
        return cells[i]

    lo, hi = 0, len(text)
    if len(text) > SOURCE_WIDTH or cell_len(_shown(text, lo, hi)) > SOURCE_WIDTH:
        lo, hi = _window(text, ranges[focus], width)
    head = ELLIPSIS if lo > 0 else ""
    tail = ELLIPSIS if hi < len(text) else ""
    shown_text = head + _shown(text, lo, hi) + tail
    places = []
    for start, end in ranges:
        if start >= hi and tail:  # past the window: at its `…`
            places.append((cell_len(shown_text) - 1, 1))
            continue
        first, last = min(max(start, lo), hi), min(max(end, lo), hi)
        # measured on the joined text, as rich measures it (an emoji of several is 2)
        before = cell_len(head + _shown(text, lo, first))
        places.append((before, max(1, cell_len(_shown(text, first, last)))))
    return shown_text, places


def _shown(text: str, lo: int, hi: int) -> str:
    """Characters lo to hi of `text`, as `safe_text.shown` shows them within `text`."""
    return "".join(piece(text, i) for i in range(lo, hi))


def _window(text: str, focus: tuple[int, int], width) -> tuple[int, int]:
    """The [lo, hi) characters of `text` shown around `focus`: the focus first (at most
    two thirds of the room), then context, half of what is left before it."""
    room = SOURCE_WIDTH - 2  # the two `…`
    start = min(max(focus[0], 0), len(text))
    end = min(max(focus[1], start + 1), len(text))
    lo = hi = start
    used = 0
    while hi < end and (hi == start or used + width(hi) <= room * 2 // 3):
        used += width(hi)
        hi += 1
    before = used + (room - used) // 2
    while lo > 0 and used + width(lo - 1) <= before:
        lo -= 1
        used += width(lo)
    while hi < len(text) and used + width(hi) <= room:
        used += width(hi)
        hi += 1
    while lo > 0 and used + width(lo - 1) <= room:
        lo -= 1
        used += width(lo)
    return lo, hi


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    text = json.dumps([d.to_dict() for d in diagnostics], ensure_ascii=False, indent=2)
    return json_text(text)  # exact, and no character a terminal would act on


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per line."""
    rows = []
    for d in diagnostics:
        level = "error" if d.is_error else "warning"
        msg = _text(d.message, lines=True) + "".join(
            f" ({_text(label)}: line {n.line})" for n, label in d.notes
        )
        msg += f" (help: {_text(d.hint, lines=True)})" if d.hint else ""
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        if d.span:
            s = d.span
            loc = f" file={_property(shown(s.file))},line={s.line},col={s.column},"
            loc += f"endLine={s.end_line},endColumn={s.end_column},title={d.code}"
        else:
            loc = f" title={d.code}"
        rows.append(f"::{level}{loc}::{msg}")
    return "\n".join(rows)


def _property(value: str) -> str:
    """A workflow command's property value, escaped as GitHub's toolkit does."""
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        value = value.replace(char, code)
    return value


# What "did you mean" may spend in one check (`suggestion_budget`), in characters
# compared: without a bound, a file of 20,000 rules that each use an unknown name would
# compare every name with every rule (hours). This is a second or two at most, and
# hundreds of suggestions in a file of 1,000 rules.
SUGGESTION_BUDGET = 10_000_000
_budget: ContextVar[list[int] | None] = ContextVar("suggestion_budget", default=None)


@contextmanager
def suggestion_budget(budget: int = SUGGESTION_BUDGET) -> Iterator[None]:
    """Within this block, `did_you_mean` stops suggesting once `budget` is spent."""
    token = _budget.set([budget])
    try:
        yield
    finally:
        _budget.reset(token)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate by edit distance, if it is close enough to be a typo."""
    limit = max(1, min(3, len(name) // 3))
    lowered = name.lower()
    budget = _budget.get()
    best, best_d = None, None
    for c in candidates:
        other = c.lower()
        near = abs(len(other) - len(lowered)) <= limit  # else that many edits apart at least
        if budget is not None:
            budget[0] -= 1 + len(other) + (len(lowered) * len(other) if near else 0)
            if budget[0] < 0:
                return None
        if not near:
            continue
        dist = _distance(lowered, other)
        if best_d is None or dist < best_d or (dist == best_d and c < best):
            best, best_d = c, dist
    if best is None or best_d is None:
        return None
    return best if best_d <= limit else None


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) turning `a` into `b`:
    `spnd` → `spend` is 1, and so is `glod` → `gold`."""
    before, prev = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                d = min(d, before[j - 2] + 1)
            cur.append(d)
        before, prev = prev, cur
    return prev[-1]
