"""Metadata lines (`owner "crm-team"`): the checks the grammar cannot make.

Line breaks carry no meaning to the grammar, so a word after a condition, `AND sms_ok`
or `LIKE "北%"`, would read as a metadata line, and the condition would silently lose
it. So a metadata line must start a line of its own, and its key is one of the set
below or namespaced (`crm.campaign "618"`): any other word after a rule is an error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from tagengine.diagnostics import Diagnostic, error
from tagengine.syntax import ast, habits

KEYS = {
    "owner": "who answers for the rule: a team or a person",
    "category": "its group in the catalog: attribute, rule, statistic, model, ...",
    "description": "what it means, in a sentence",
    "priority": "a number to order rules by",
    "status": "draft, active or deprecated",
    "declassify": "why its value may be shown although it carries a private column (`pii`)",
}
_KEY_LIST = ", ".join(f"`{k}`" for k in KEYS)
_OWN_KEY = 'a key of your own takes a namespace: `crm.campaign "618"`'


def problems(program: ast.Program, text: str, file: str) -> tuple[ast.Program, list[Diagnostic]]:
    """The first metadata line of each rule that is not one; and the program without those
    rules, which are broken statements: what the checker would say of their cut-short
    conditions (`age` alone is no true/false) only hides the cause."""
    found = []
    broken = set()
    starts = _line_starts(text)
    for rule in program.rules:
        problem = next(_problems(rule, text, starts, file), None)
        if problem is not None:
            found.append(problem)
            broken.add(id(rule))
    if not broken:
        return program, found
    kept = tuple(s for s in program.statements if id(s) not in broken)
    return ast.Program(kept), found


def _problems(rule: ast.Rule, text: str, starts: list[int], file: str) -> Iterator[Diagnostic]:
    start = starts[rule.span.line - 1] + rule.span.column - 1
    end = starts[rule.span.end_line - 1] + rule.span.end_column - 1
    for m in rule.meta:
        key_at = starts[m.span.line - 1] + m.span.column - 1
        line_end = text.find("\n", key_at)
        line_end = len(text) if line_end == -1 else line_end
        habit = habits.find(text, key_at, line_end)
        value_end = starts[m.span.end_line - 1] + m.span.end_column - 1
        if habit is not None and habit.start < value_end:
            yield habits.diagnostic(text, habit, start, end, file)
            continue
        span = ast.Span(file, m.span.line, m.span.column, m.span.line, m.span.column + len(m.key))
        own_line = not text[starts[m.span.line - 1] : key_at].strip()
        known = m.key in KEYS or "." in m.key
        if not known and not own_line:
            yield error(
                "TE003",
                f"`{m.key}` after the end of {rule.kind} `{rule.name}` belongs to nothing",
                span,
                "join conditions with `and` or `or`; a metadata line "
                f"({_KEY_LIST}) goes on a line of its own",
                "not part of the rule",
            )
        elif not own_line:
            yield error(
                "TE003",
                f"metadata goes on a line of its own: `{m.key}` here ends {rule.kind} "
                f"`{rule.name}`",
                span,
                f"start a new line for `{m.key} {m.text or m.value}`",
                "starts a metadata line",
            )
        elif m.key == "declassify" and not (isinstance(m.value, str) and m.value.strip()):
            yield error(
                "TE003",
                f"`declassify` needs a reason: why {rule.kind} `{rule.name}` may show "
                "private values",
                span,
                'give it in quotes: `declassify "the risk team scores it; ticket CRM-12"`',
                "no reason given",
            )
        elif not known:
            close = difflib.get_close_matches(m.key.lower(), KEYS, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`? " if close else ""
            yield error(
                "TE003",
                f"unknown metadata key `{m.key}`",
                span,
                f"{hint}the keys are {_KEY_LIST}; {_OWN_KEY}",
                "not a metadata key",
            )


def _line_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]
