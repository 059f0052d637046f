"""Docs cite only what exists: every link, path and section named in the pages, the
sources and the tests is there.

- Markdown links in README.md, CHANGELOG.md, docs/**/*.md and bench/*.md — `[x](path)`,
  `[x](path#anchor)`, `[x](#anchor)`, images, reference definitions: the file (relative
  to the page) exists, and the anchor is one GitHub gives a heading of that page
  (docpages.slug, Chinese headings included). Web addresses are not fetched.
- Paths from the repository's root written out in those pages, in src/, tests/ and
  bench/ (`docs/semantics.md#as_of`, `rules/retail.tags`, `src/tagengine/ir.py`,
  `tests/golden/`): the file or folder exists, and so does the anchor. A path with no
  extension and no trailing `/` is not checked, nor one in a folder that scripts make
  (`bench/data/`).
- A page named without its folder (`language.md`, `RESULTS.md`) is a page of the
  repository.
- A section named with its page — `see “Values (literals)” in docs/language.md`,
  `docs/project.md, "Dirty data"`, `docs/language.md ("Limits")` — is a heading there.
- No reference to the design notes that are not in the repository (`DESIGN §3`).

This file is left out of the scan: its examples are broken on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import docpages
from docpages import ROOT

SKIP_DIRS = {".git", ".venv", ".venv-latest", ".tools", "build", "__pycache__"}
GENERATED = ("bench/data/",)  # made by bench/generate.py, never committed


def _files(folder: str, pattern: str) -> list[Path]:
    return sorted(
        p
        for p in (ROOT / folder).rglob(pattern)
        if not SKIP_DIRS & set(p.relative_to(ROOT).parts) and "egg-info" not in str(p)
    )


PAGES = docpages.pages()
SOURCES = [
    *_files("src", "*.py"),
    *_files("tests", "*.py"),
    *_files("bench", "*.py"),
    *_files("bench", "*.tags"),
    *_files("rules", "*.tags"),
    ROOT / "Makefile",
]
ALL = [*PAGES, *(p for p in SOURCES if p.name != "test_doc_links.py")]
PAGE_NAMES = {p.name for p in _files(".", "*.md")}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _anchors(page: Path, cache: dict[Path, set[str]] = {}) -> set[str]:  # noqa: B006
    if page not in cache:
        cache[page] = docpages.anchors(page.read_text("utf-8"))
    return cache[page]


def _headings(page: Path) -> set[str]:
    return {h.lower() for h in docpages.headings(page.read_text("utf-8"))}


def _problem(target: Path, anchor: str | None, shown: str) -> str | None:
    """What is wrong with a reference to `target` (and `anchor` in it), or None."""
    if not target.exists():
        return f"{shown}: no such file or folder"
    if anchor is not None:
        if target.suffix != ".md":
            return f"{shown}: an anchor into a file that is not a page"
        if anchor not in _anchors(target):
            return f"{shown}: no heading in {_rel(target)} has the anchor #{anchor}"
    return None


# ---- markdown links ---------------------------------------------------------------------


def link_problems(page: Path) -> list[str]:
    problems = []
    for line, target in docpages.links(page.read_text("utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if problem := _problem(dest, anchor or None, f"{_rel(page)}:{line}: ({target})"):
            problems.append(problem)
    return problems


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_lead_somewhere(page):
    assert link_problems(page) == []


# ---- paths written out ---------------------------------------------------------------------

_ROOT_PATH = re.compile(
    r"(?<![\w./@-])((?:docs|rules|src|tests|bench|grammar)/[\w./-]*?)"
    r"(?:#([\w-]+))?(?=[^\w./#-]|$)",
    re.M,
)
_PAGE_NAME = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")


def path_problems(file: Path) -> list[str]:
    problems = []
    for number, line in enumerate(file.read_text("utf-8").splitlines(), 1):
        where = f"{_rel(file)}:{number}"
        for m in _ROOT_PATH.finditer(line):
            path, anchor = m.group(1).rstrip("."), m.group(2)
            checked = path.endswith("/") or "." in path.rsplit("/", 1)[-1]
            checked = checked and not path.startswith(GENERATED)
            if checked and (problem := _problem(ROOT / path, anchor, f"{where}: {m.group(0)}")):
                problems.append(problem)
        for m in _PAGE_NAME.finditer(line):
            if m.group(1) not in PAGE_NAMES:
                problems.append(f"{where}: {m.group(1)} is no page of the repository")
        if re.search(r"\bDESIGN\s*§", line):
            problems.append(f"{where}: DESIGN § is not in the repository: cite docs/semantics.md")
    return problems


@pytest.mark.parametrize("file", ALL, ids=_rel)
def test_paths_exist(file):
    assert path_problems(file) == []


# ---- sections named with their page ----------------------------------------------------------

_QUOTED = r"(?:“(?P<curly>[^”\n]+)”|\\?\"(?P<plain>[^\"\\\n]+)\\?\")"
_DOC = r"(?P<doc>docs/[\w/-]+\.md)"
_SECTION_HINTS = [
    re.compile(_QUOTED + r" in " + _DOC),  # see “Values (literals)” in docs/language.md
    re.compile(_DOC + r",? \(?" + _QUOTED),  # docs/project.md, "Dirty data" / ("Limits")
]


def section_problems(file: Path) -> list[str]:
    problems = []
    text = file.read_text("utf-8")
    for pattern in _SECTION_HINTS:
        for m in pattern.finditer(text):
            section, doc = m.group("curly") or m.group("plain"), m.group("doc")
            where = f"{_rel(file)}:{text.count(chr(10), 0, m.start()) + 1}"
            page = ROOT / doc
            if not page.exists():
                problems.append(f"{where}: {doc} does not exist")
            elif section.lower() not in _headings(page):
                problems.append(f"{where}: {doc} has no section “{section}”")
    return problems


@pytest.mark.parametrize("file", ALL, ids=_rel)
def test_sections_named_exist(file):
    assert section_problems(file) == []


# ---- the checker itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Missing values", "missing-values"),
        ("as_of: the observation date", "as_of-the-observation-date"),
        ("`between ... and ...` and `not between`", "between--and--and-not-between"),
        ("Rules: feature, tag, score, segment", "rules-feature-tag-score-segment"),
        ("1. One customer", "1-one-customer"),
        ("缺失值（空值）", "缺失值空值"),
        ("标签 Tags：高价值客户", "标签-tags高价值客户"),
        ("[Tests](language.md) in the rule file", "tests-in-the-rule-file"),
        ("TE101", "te101"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    assert docpages.slug(heading) == anchor


def test_repeated_headings_are_numbered():
    page = "# A\n## Errors\n```sh\n# not a heading\n```\n## Errors\n## 错误\n"
    assert docpages.anchors(page) == {"a", "errors", "errors-1", "错误"}


def test_the_checker_finds_what_is_broken(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## 规则 Rules\n\nSee [ok](#规则-rules), [bad anchor](#nowhere),\n"
        "[missing](nowhere.md) and [wrapped\ntext](page.md#page).\n\n"
        "`[in code](nowhere.md)`\n\n```sh\n[in a block](nowhere.md)\n```\n",
        "utf-8",
    )
    monkeypatch.setattr("test_doc_links.ROOT", tmp_path)
    problems = link_problems(page)
    assert len(problems) == 2, problems
    assert "#nowhere" in problems[0] and "nowhere.md" in problems[1]
    assert [line for line, _ in docpages.links(page.read_text("utf-8"))] == [5, 5, 6, 6]


def test_the_checker_reads_paths_and_sections(tmp_path, monkeypatch):
    monkeypatch.setattr("test_doc_links.ROOT", ROOT)
    source = tmp_path / "x.py"
    source.write_text(
        '"see docs/semantics.md#as_of and docs/semantics.md#nowhere, rules/retail.tags, '
        'rules/none.tags, bench/data/1m"\n'
        'HINT = "see “Values (literals)” in docs/language.md"\n'
        'OTHER = "docs/language.md, \\"No such part\\""\n'
        "# DESIGN §3.2 and design.md\n",
        "utf-8",
    )
    monkeypatch.setattr("test_doc_links._rel", lambda p: p.name)
    problems = path_problems(source)
    assert len(problems) == 4, problems
    assert "#nowhere" in problems[0] and "rules/none.tags" in problems[1]
    assert "design.md" in problems[2] and "DESIGN §" in problems[3]
    (problem,) = section_problems(source)
    assert "No such part" in problem
