"""docs/diagnostics.md documents every code, and its examples are true.

Each code has a `### TEnnn` section with a bad example that gives exactly that code and a
fixed one that gives nothing. A section holds either

- ```tags bad / ```tags good: rule files checked against the page's sample tables (or
  ```python bad / ```python good: an expression that makes a rule file too big to show,
  for the limits), or
- ```sh bad / ```sh good: a `tagengine ...` command run in an empty folder holding the
  section's ```tags block as `rules.tags` and its ```file NAME blocks (```file NAME bad /
  ```file NAME good: for one of the two only).

And every code the source emits (`error("TE...`, `warning("TE...`, `fail("TE...`) has its
section and its row in the page's table.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "diagnostics.md"
TEXT = DOC.read_text("utf-8")
LABELS = ("bad", "good")

# ---- reading the page ------------------------------------------------------------------


@dataclass
class Section:
    code: str
    line: int
    rules: dict[str | None, str] = field(default_factory=dict)  # label (None: both) -> text
    files: dict[str | None, dict[str, str]] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)

    def rules_for(self, label: str) -> str | None:
        return self.rules.get(label, self.rules.get(None))

    def files_for(self, label: str) -> dict[str, str]:
        return {**self.files.get(None, {}), **self.files.get(label, {})}


_HEADING = re.compile(r"^### (TE\d{3})\s*$")
_FENCE = re.compile(r"^```(\S*)(.*)$")


def read_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _HEADING.match(line):
            sections.append(Section(m.group(1), i + 1))
        elif line.startswith("## ") and sections:
            sections.append(Section("", i + 1))  # a new chapter closes the last section
        elif m := _FENCE.match(line):
            kind, words = m.group(1), m.group(2).split()
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"line {i}: a block is never closed"
            content = "\n".join(body) + "\n"
            if sections and sections[-1].code and kind in ("tags", "python", "file", "sh"):
                _add(sections[-1], kind, words, content)
        i += 1
    return [s for s in sections if s.code]


def _add(section: Section, kind: str, words: list[str], content: str) -> None:
    where = f"{section.code} (line {section.line})"
    if kind == "file":
        assert words, f"{where}: ```file needs a file name"
        name, *rest = words
        label = rest[0] if rest else None
        assert label in (None, *LABELS), f"{where}: ```file {name} {label}"
        section.files.setdefault(label, {})[name] = content
        return
    label = words[0] if words else None
    assert label in (None, *LABELS), f"{where}: ```{kind} {label}"
    if kind == "tags":
        section.rules[label] = content
    elif kind == "python":
        section.rules[label] = generated(content)
    else:
        assert label is not None, f"{where}: a ```sh block is `sh bad` or `sh good`"
        section.commands[label] = content.strip()


def generated(source: str) -> str:
    """The rule text a ```python block's expression makes (a file too big to show)."""
    names = {"__builtins__": {}, "range": range, "str": str}
    text = eval(compile(f"(\n{source}\n)", str(DOC), "eval"), names)
    assert isinstance(text, str), source
    return text


SECTIONS = read_sections(TEXT)


def sample_schemas(text: str) -> dict[str, dict[str, pl.DataType]]:
    """The tables after `<!-- sample-table -->` (customers) and `<!-- sample-table NAME -->`:
    rows `| `column` | type |`, types as written in docs/language.md, plus `enum "a", "b"`
    and `list of text`."""
    words = {
        "whole number": pl.Int64,
        "number": pl.Float64,
        "text": pl.String,
        "date": pl.Date,
        "date and time": pl.Datetime("us"),
        "true/false": pl.Boolean,
        "list of text": pl.List(pl.String),
    }
    schemas: dict[str, dict[str, pl.DataType]] = {}
    for marker in re.finditer(r"<!-- sample-table(?: (\w+))? -->", text):
        schema: dict[str, pl.DataType] = {}
        for line in text[marker.end() :].lstrip("\n").splitlines():
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = re.fullmatch(r"`([^`]+)`", cells[0])
            if not name:
                continue
            kind = cells[1]
            if kind.startswith("enum "):
                schema[name.group(1)] = pl.Enum(re.findall(r'"([^"]*)"', kind))
            else:
                assert kind in words, f"unknown type `{kind}` in the sample table"
                schema[name.group(1)] = words[kind]
        schemas[marker.group(1) or "customers"] = schema
    return schemas


SCHEMAS = sample_schemas(TEXT)

# ---- every code is documented ------------------------------------------------------------

_EMITTED = re.compile(r"""\b(?:error|warning|fail|quoting)\(\s*["'](TE\d{3})["']""")


def codes_in_source() -> dict[str, list[str]]:
    """Code -> the places in src/ that emit it."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        text = path.read_text("utf-8")
        for m in _EMITTED.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(m.group(1), []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_every_emitted_code_is_documented():
    emitted = codes_in_source()
    assert len(emitted) >= 30, sorted(emitted)
    documented = {s.code for s in SECTIONS}
    missing = {code: places for code, places in emitted.items() if code not in documented}
    assert not missing, f"codes emitted but not in {DOC.name}: {missing}"
    stale = documented - set(emitted)
    assert not stale, f"codes documented but emitted nowhere: {sorted(stale)}"


def test_every_code_literal_is_emitted_through_a_diagnostic():
    """No code hides in a variable where the documentation check above cannot see it."""
    literal = re.compile(r"""["'](TE\d{3})["']""")
    for path in (ROOT / "src").rglob("*.py"):
        text = path.read_text("utf-8")
        assert {m.group(1) for m in literal.finditer(text)} <= set(codes_in_source()), path


def test_the_table_lists_every_section_once_in_order():
    rows = re.findall(r"^\| \[(TE\d{3})\]\(#(te\d{3})\) \| (error|warning) \|", TEXT, re.M)
    assert [r[0] for r in rows] == [s.code for s in SECTIONS]
    assert all(anchor == code.lower() for code, anchor, _ in rows)
    for code, _, severity in rows:  # warnings about rules, and what the data says of them
        assert (severity == "warning") == code.startswith(("TE3", "TE41")), code
    assert [s.code for s in SECTIONS] == sorted({s.code for s in SECTIONS})


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.code)
def test_each_section_has_a_meaning_a_bad_and_a_fixed_example(section):
    body = TEXT.splitlines()[section.line :]
    meaning = next(line for line in body if line.strip())
    assert meaning.startswith("**"), f"{section.code}: start with the meaning, in bold"
    if section.commands:
        assert set(section.commands) == set(LABELS), section.code
    else:
        assert set(section.rules) == set(LABELS), section.code


# ---- the examples are true -----------------------------------------------------------------

RULE_SECTIONS = [s for s in SECTIONS if not s.commands]
COMMAND_SECTIONS = [s for s in SECTIONS if s.commands]


@pytest.mark.parametrize("section", RULE_SECTIONS, ids=lambda s: s.code)
def test_bad_rules_give_exactly_their_code_and_fixed_rules_nothing(section):
    bad = tagengine.load(section.rules_for("bad")).check(SCHEMAS)
    assert {d.code for d in bad} == {section.code}, [(d.code, d.message) for d in bad]
    good = tagengine.load(section.rules_for("good")).check(SCHEMAS)
    assert good == [], [(d.code, d.message) for d in good]


_REPORTED = re.compile(r"\b(?:error|warning)\[(TE\d{3})\]")
WARNINGS = set(re.findall(r"^\| \[(TE\d{3})\]\(#te\d{3}\) \| warning \|", TEXT, re.M))
runner = CliRunner()


def run_example(section: Section, label: str, folder: Path, monkeypatch) -> tuple[int, str]:
    """Write the example's files into `folder`, run its command there: (exit code, output)."""
    folder.mkdir()
    rules = section.rules_for(label)
    if rules is not None:
        (folder / "rules.tags").write_text(rules, "utf-8")
    for name, content in section.files_for(label).items():
        (folder / name).write_text(content, "utf-8")
    words = shlex.split(section.commands[label])
    assert words[0] == "tagengine", f"{section.code}: commands start with `tagengine`"
    monkeypatch.chdir(folder)
    result = runner.invoke(app, words[1:], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("section", COMMAND_SECTIONS, ids=lambda s: s.code)
def test_bad_command_gives_exactly_its_code_and_fixed_command_succeeds(
    section, tmp_path, monkeypatch
):
    code, output = run_example(section, "bad", tmp_path / "bad", monkeypatch)
    assert code != 0 or section.code in WARNINGS, output  # a warning never stops a run
    assert set(_REPORTED.findall(output)) == {section.code}, output
    code, output = run_example(section, "good", tmp_path / "good", monkeypatch)
    assert code == 0, output
    assert not _REPORTED.findall(output), output
