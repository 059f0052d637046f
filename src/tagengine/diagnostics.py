"""One Diagnostic type for every problem a user can cause, and its renderings."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum

from rich.cells import cell_len

from tagengine.syntax.ast import Span

MASK = "***"
VALUE = "\x00VALUE\x00"  # where a template puts its data value


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
    out = [f"{d.severity}[{d.code}]: {d.message}"]
    span = d.span
    if span is None:
        if d.hint:
            out.append(f"  = help: {d.hint}")
        return "\n".join(out) + "\n"
    lines = sources.get(span.file, "").splitlines()
    marks = [
        (span, "^", d.label),
        *((n, "-", label) for n, label in d.notes if n.file == span.file),
    ]
    gutter = " " * max(len(str(m[0].line)) for m in marks)
    out.append(f"{gutter}--> {span.file}:{span.line}:{span.column}")
    shown = False
    for number in sorted({m[0].line for m in marks}):
        if not 0 < number <= len(lines):
            continue
        text = lines[number - 1].expandtabs(1)
        out += [f"{gutter} |", f"{number:>{len(gutter)}} | {text}"]
        for mark, char, label in sorted((m for m in marks if m[0].line == number), key=_column):
            start = cell_len(text[: mark.column - 1])
            end_col = mark.end_column if mark.end_line == mark.line else len(text) + 1
            width = max(1, cell_len(text[mark.column - 1 : end_col - 1]))
            marker = " " * start + char * width + (f" {label}" if label else "")
            out.append(f"{gutter} | {marker.rstrip()}")
        shown = True
    if d.hint:
        if shown:
            out.append(f"{gutter} |")
        out.append(f"{gutter} = help: {d.hint}")
    return "\n".join(out) + "\n"


def _column(mark: tuple[Span, str, str | None]) -> int:
    return mark[0].column


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_dict() for d in diagnostics], ensure_ascii=False, indent=2)


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per line."""
    rows = []
    for d in diagnostics:
        level = "error" if d.is_error else "warning"
        msg = d.message + "".join(f" ({label}: line {n.line})" for n, label in d.notes)
        msg += f" (help: {d.hint})" if d.hint else ""
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        if d.span:
            s = d.span
            loc = f" file={_property(s.file)},line={s.line},col={s.column},"
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
