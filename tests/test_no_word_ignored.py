"""No word of a rule file is ever ignored.

Every example rule file and every rule file in the docs is mutated, line by line, by
appending words an analyst might add to a condition (`AND x`, `OR x`, `LIKE "a"`, a bare
name, a number, ...). Each mutant must either fail `check`, or mean exactly what the
original meant (the rules and tests equal, metadata aside) with any metadata on a line
starting a line of its own. What must never happen: a clean check with a silently
different meaning, as when `AND sms_ok` used to be read as a metadata line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import tagengine
from tagengine.example_data import generate
from tagengine.syntax import ast
from tagengine.syntax.habits import without_comment
from tagengine.syntax.parser import _STATEMENT_START as STATEMENT_START
from tagengine.syntax.parser import parse
from test_diagnostics_doc import SECTIONS
from test_diagnostics_doc import TEXT as DIAGNOSTICS_TEXT
from test_diagnostics_doc import sample_schemas as diagnostics_schemas
from test_docs import RUNNABLE, read_blocks, read_expect

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = [
    " AND x",
    " OR x",
    ' LIKE "a"',
    " x",
    " 5",
    " sms_ok",
    " AND",
    " NOT x",
    ' IN ("a")',
    " <> 1",
    " IS NULL",
    ' owner "x"',
    " category rule",
    " crm.x 1",
]


def _corpus() -> list[tuple[str, str, dict | None]]:
    """(id, rule file, schema or None) of every rule file users start from."""
    files: list[tuple[str, str, dict | None]] = []
    example = {name: dict(df.schema) for name, df in generate(customers=50).items()}
    for path in sorted((ROOT / "rules").glob("*.tags")):
        files.append((path.name, path.read_text("utf-8"), example))
    for block, _ in read_blocks((ROOT / "README.md").read_text("utf-8")):
        if block.info == "tags":
            files.append((f"README.md:{block.line}", block.body, example))
    for example_ in RUNNABLE:
        schema = None
        if example_.follow is not None and example_.follow.info == "expect":
            tables = read_expect(example_.follow.body).tables
            schema = {name: dict(df.schema) for name, df in tables.items()}
        files.append((f"language.md:{example_.line}", example_.source, schema))
    schema = diagnostics_schemas(DIAGNOSTICS_TEXT)
    for section in SECTIONS:
        good = section.rules_for("good")
        if good and not section.commands and len(good) < 5_000:  # not the limits' giants
            files.append((f"diagnostics.md:{section.code}", good, schema))
    return files


CORPUS = _corpus()


def _meaning(program: ast.Program) -> list[object]:
    """The statements with their metadata (and so their own end) left out."""
    out = []
    for s in program.statements:
        if isinstance(s, ast.Rule):
            end = dataclasses.replace(s.span, end_line=0, end_column=0)
            s = dataclasses.replace(s, meta=(), span=end)
        out.append(s)
    return out


def _statements(text: str) -> list[tuple[int, int]]:
    """(first line, end line) of each statement, 0-based, end exclusive. Appended words
    cannot start a statement (that takes a keyword at a line's start), so each mutant is
    parsed as its own statement: the rest of the file reads the same."""
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines) if STATEMENT_START.match(ln)] or [0]
    starts[0] = 0
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def _mutants(text: str):
    """(line, suffix, the statement mutated, the whole file mutated)."""
    lines = text.split("\n")
    for first, end in _statements(text):
        for i in range(first, end):
            code = without_comment(lines[i])
            if not code.strip():
                continue
            for suffix in SUFFIXES:
                mutated = code.rstrip() + suffix + lines[i][len(code.rstrip()) :]
                changed = [*lines[:i], mutated, *lines[i + 1 :]]
                statement = "\n" * first + "\n".join(changed[first:end])  # lines stay true
                yield i + 1, suffix, (first, end), statement, "\n".join(changed)


def test_the_corpus_holds_every_example():
    assert any(name.endswith(".tags") for name, _, _ in CORPUS)
    assert any(name.startswith("README.md") for name, _, _ in CORPUS)
    assert sum(name.startswith("language.md") for name, _, _ in CORPUS) >= 20
    assert sum(name.startswith("diagnostics.md") for name, _, _ in CORPUS) >= 20
    for name, text, schema in CORPUS:  # the originals are clean, or nothing is proven
        errors = [d for d in tagengine.load(text).check(schema) if d.is_error]
        assert not errors, (name, errors)


@pytest.mark.parametrize(("name", "text", "schema"), CORPUS, ids=[c[0] for c in CORPUS])
def test_an_appended_word_fails_check_or_changes_nothing(name, text, schema):
    lines = text.split("\n")
    assert not parse(text, "r.tags")[1]
    originals = {
        (first, end): parse("\n" * first + "\n".join(lines[first:end]), "r.tags")[0]
        for first, end in _statements(text)
    }
    tried = 0
    for line, suffix, where, statement, mutant in _mutants(text):
        tried += 1
        program, diags = parse(statement, "r.tags")
        if diags:
            assert any(d.is_error for d in diags)
            continue
        if _meaning(program) == _meaning(originals[where]):
            # only metadata changed: each metadata line must be one a reader sees as such,
            # starting a line of its own, never words trailing a condition
            source = statement.split("\n")
            for rule in program.rules:
                for m in rule.meta:
                    assert not source[m.span.line - 1][: m.span.column - 1].strip(), (name, line)
            continue
        errors = [d for d in tagengine.load(mutant).check(schema) if d.is_error]
        assert errors, f"{name}: line {line} + {suffix!r} checks clean with a new meaning"
    assert tried >= len(SUFFIXES)
