"""Hostile text in rules and data reaches people as text, never as terminal commands.

A label or a data value holding `\\x1b[2J\\x1b[31m` (clear the screen, red) or U+202E
(right-to-left override), or rich markup (`[bold]`), is printed escaped by every human
output: the run summary, explain's trees and funnels, diagnostics (the quoted source line
too, its caret still under the right characters), test results, profile, compile.
Machine outputs stay exact: JSON reads back the very text; JUnit XML stays well-formed.
Diagnostics quote at most a window of a long line: one TE602 on an 800 KB line prints a
few hundred bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app
from tagengine.diagnostics import SOURCE_WIDTH, error, render_github, render_human
from tagengine.safe_text import shown
from tagengine.syntax.ast import Span
from tagengine.testing import junit_xml, run_tests

AS_OF = "2024-12-31"
CLEAR_RED = "\x1b[2J\x1b[31m"
RLO = "\u202e"
HEADER = "entity customer table customers key customer_id\n"
RULES = HEADER + (
    'segment tier "层级\\u001b[2J[bold]粗[/bold]"\n'
    '  "高\\u001b[31m价值\\u202e" when spend > 10\n'
    '  else "低[red]x[/red]"\n'
    'tag odd_name "名字\\u202e" when name starts with "\\u001b" or name contains "\\u202e"\n'
    "feature spend_x = spend * 2\n"
)
NAMES = [f"{CLEAR_RED}red", f"{RLO}cba", "[blink]plain[/blink]", "平常"]


def visible(text: str) -> bool:
    """No character a terminal would act on (line breaks and tabs aside)."""
    return shown(text, lines=True) == text


def invoke(*args: object):
    # color=True: click would strip ANSI sequences from typer.echo without a terminal
    return CliRunner().invoke(app, [str(a) for a in args], color=True, catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "r.tags").write_text(RULES, "utf-8")
    customers = pl.DataFrame({"customer_id": [1, 2, 3, 4], "name": NAMES, "spend": [20, 5, 30, 1]})
    customers.write_parquet(tmp_path / "customers.parquet")
    return tmp_path


def test_run_summary_escapes_labels_and_values(project):
    result = invoke(
        "run", project / "r.tags", "-d", project, "--as-of", AS_OF, "-o", project / "o.parquet"
    )
    assert result.exit_code == 0, result.output
    assert visible(result.output)
    assert "层级\\x1b[2J[bold]粗[/bold]" in result.stdout  # markup shown, not obeyed
    assert "高\\x1b[31m价值\\u202e" in result.stdout
    assert "低[red]x[/red]" in result.stdout
    written = pl.read_parquet(project / "o.parquet")  # the output file keeps every character
    assert written.get_column("tier").to_list()[0] == "高\x1b[31m价值\u202e"


def test_explain_trees_and_funnels_escape(project):
    for how in (["--id", "1"], ["--tag", "tier,odd_name"], ["--id", "2", "--plan"]):
        result = invoke("explain", project / "r.tags", "-d", project, "--as-of", AS_OF, *how)
        assert result.exit_code == 0, result.output
        assert visible(result.output), how
    one = invoke("explain", project / "r.tags", "-d", project, "--as-of", AS_OF, "--id", "1")
    assert '"高\\x1b[31m价值\\u202e"' in one.stdout
    assert 'name = "\\x1b[2J\\x1b[31mred"' in one.stdout


def test_explain_json_is_exact_and_visible(project):
    result = invoke(
        "explain", project / "r.tags", "-d", project, "--as-of", AS_OF, "--id", "2", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert visible(result.stdout)
    report = json.loads(result.stdout)
    (odd,) = [r for r in report["rules"] if r["name"] == "odd_name"]
    assert odd["label"] == "名字\u202e"


def test_profile_and_schema_escape(project):
    pl.DataFrame({"customer_id": [1], f"col{CLEAR_RED}": [f"v{RLO}"]}).write_parquet(
        project / "more.parquet"
    )
    human = invoke("profile", "-d", project)
    assert human.exit_code == 0, human.output
    assert visible(human.output)
    assert '"\\x1b[2J\\x1b[31mred"' in human.stdout and "[blink]plain[/blink]" in human.stdout
    machine = invoke("profile", "-d", project, "-f", "json")
    assert visible(machine.stdout)
    tables = {t["table"]: t for t in json.loads(machine.stdout)["tables"]}
    (name,) = [c for c in tables["customers"]["columns"] if c["column"] == "name"]
    assert {v["value"] for v in name["values"]} == set(NAMES)
    assert [c["column"] for c in tables["more"]["columns"]] == ["customer_id", f"col{CLEAR_RED}"]
    schema = invoke("schema", "-d", project)
    assert visible(schema.stdout)
    assert f"col{CLEAR_RED}" in json.loads(schema.stdout)["more"]


def test_compile_to_polars_escapes(project):
    result = invoke("compile", project / "r.tags", "-d", project, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert visible(result.output) and "\\x1b" in result.stdout


def test_emoji_codes_in_data_stay_text(tmp_path):
    (tmp_path / "r.tags").write_text(HEADER + 'tag t when name == ":smile: [b]x"\n', "utf-8")
    pl.DataFrame({"customer_id": [1], "name": ["a"]}).write_parquet(tmp_path / "c.parquet")
    result = invoke("compile", tmp_path / "r.tags", "--table", f"customers={tmp_path}/c.parquet")
    assert result.exit_code == 0, result.output
    assert ":smile: [b]x" in result.stdout


# ---- diagnostics ----------------------------------------------------------------------


def caret_under(rendered: str, marker: str = "^") -> tuple[str, int]:
    """The quoted source line and the cell where its caret starts."""
    lines = rendered.splitlines()
    for i, line in enumerate(lines):
        gutter, sep, rest = line.partition(" | ")
        if i and sep and not gutter.strip() and rest.lstrip().startswith(marker):
            return lines[i - 1].partition(" | ")[2], cell_len(rest[: rest.index(marker)])
    raise AssertionError(rendered)


@pytest.mark.parametrize(
    "before",
    ['"\x1b[2J"', '"\u202e高价值"', '"\t\x00\x7f\x85"', '"😀👨\u200d👩\u200d👧"', '"\ufeff"'],
)
def test_the_caret_stays_under_the_name_on_an_escaped_line(before):
    source = HEADER + f"tag a {before} when spend_9 > 1\n"
    rules = tagengine.load(source)
    diags = rules.check({"customers": {"customer_id": pl.Int64, "spend_90d": pl.Int64}})
    rendered = render_human(diags, rules.sources)
    assert visible(rendered)
    line, start = caret_under(rendered)
    assert cell_len(line[: line.index("spend_9")]) == start


def test_messages_hints_labels_and_files_are_escaped():
    d = error(
        "TE101",
        f"unknown `{CLEAR_RED}`",
        Span(f"r{RLO}.tags", 1, 1, 1, 2),
        f"did you mean `{RLO}x`?",
        f"here{CLEAR_RED}",
    )
    human = render_human([d], {f"r{RLO}.tags": f"x{CLEAR_RED}\n"})
    assert visible(human) and "\\x1b[2J" in human and "\\u202e" in human
    github = render_github([d])
    assert visible(github) and "\\x1b[2J" in github and "r\\u202e.tags" in github


def test_one_error_on_an_800_kb_line_prints_a_few_hundred_bytes(tmp_path):
    path = tmp_path / "deep.tags"
    path.write_text(HEADER + "tag deep when " + "not " * 200_000 + "vip\n", "utf-8")
    result = invoke("check", path)
    assert result.exit_code == 1
    assert "TE602" in result.stderr
    assert len(result.stderr.encode()) < 2_000
    line, _start = caret_under(result.stderr)
    assert line.startswith("…") and line.endswith("…") and cell_len(line) <= SOURCE_WIDTH


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_a_long_line_is_shown_around_its_caret(where):
    filler = "高" * 2000 + "x" * 2000
    at = int(len(filler) * where)
    before, after = f'name == "{filler[:at]}" and', f'and name == "{filler[at:]}"'
    source = HEADER + f"tag a when {before} spend_9 > 1 {after}\n"
    rules = tagengine.load(source)
    columns = {"customer_id": pl.Int64, "spend_90d": pl.Int64, "name": pl.String}
    diags = rules.check({"customers": columns})
    d = next(d for d in diags if d.code == "TE101")
    rendered = render_human([d], rules.sources)
    assert len(rendered.encode()) < 2_000
    line, start = caret_under(rendered)
    assert cell_len(line) <= SOURCE_WIDTH
    assert cell_len(line[: line.index("spend_9")]) == start


def test_a_message_quoting_a_huge_value_is_cut():
    d = error("TE402", "cannot read `" + "x" * 100_000 + "`: bad", None, "y" * 100_000)
    rendered = render_human([d], {})
    assert len(rendered) < 1_000 and "…" in rendered and rendered.count("\n") == 2


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(min_size=0, max_size=400), st.integers(0, 400))
@example("ꨩ", 1)  # a zero-width combining mark before the name
def test_the_caret_is_always_under_its_characters(text, at):
    """Any line, any place: the marked characters of the escaped line are the ones shown
    for the span in the source, and the line stays within SOURCE_WIDTH cells."""
    text = text.replace("\n", " ").replace("\r", " ")
    at = min(at, len(text))
    line = text[:at] + "NAME" + text[at:]
    d = error("TE101", "m", Span("f", 1, at + 1, 1, at + 5))
    rendered = render_human([d], {"f": line})
    assert visible(rendered)
    shown, start = caret_under(rendered)
    assert cell_len(shown) <= SOURCE_WIDTH
    assert shown[len(shown[: _index_at_cell(shown, start)]) :].startswith("NAME")


def _index_at_cell(text: str, cells: int) -> int:
    """The first character drawn at `cells` or after: a zero-width one (a combining mark
    such as `ꨩ`) is drawn on the cell before, not where the caret points."""
    width = 0
    for i, char in enumerate(text):
        if width >= cells and cell_len(char) > 0:
            return i
        width += cell_len(char)
    return len(text)


# ---- tests and JUnit --------------------------------------------------------------------

TESTS = HEADER + (
    'segment tier\n  "a\\u0007b" when spend > 10\n  else "low"\n'
    'test "a \\u0001 b"\n'
    "  given customers { customer_id: 1, spend: 20 }\n"
    '  expect tier == "a\\u0007b" for customer 1\n'
    'test "fails \\u001b[2J \\ufffe \\u202e"\n'
    "  given customers { customer_id: 1, spend: 1 }\n"
    '  expect tier == "a\\u0007b" for customer 1\n'
    'test "cannot run \\u0008"\n'
    '  given customers { customer_id: 1, spend: "x\\u0000" }\n'
    '  expect tier == "low"\n'
)


def test_junit_is_well_formed_whatever_the_titles(tmp_path):
    path = tmp_path / "t.tags"
    path.write_text(TESTS, "utf-8")
    report_path = tmp_path / "junit.xml"
    result = invoke("test", path, "--junit", report_path)
    assert result.exit_code == 1
    assert visible(result.output)
    assert "a \\x01 b" in result.stdout and "fails \\x1b[2J" in result.stdout
    text = report_path.read_text("utf-8")
    root = ET.fromstring(text.encode("utf-8"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"a \\x01 b", "fails \\x1b[2J \\ufffe \\u202e", "cannot run \\x08"}
    failure = cases["fails \\x1b[2J \\ufffe \\u202e"].find("failure")
    assert failure is not None and '"a\\x07b"' in failure.get("message", "")
    assert cases["cannot run \\x08"].find("error") is not None
    try:
        from lxml import etree
    except ImportError:
        return
    etree.fromstring(text.encode("utf-8"))  # lxml is stricter about XML 1.0


def test_test_json_is_exact(tmp_path):
    path = tmp_path / "t.tags"
    path.write_text(TESTS, "utf-8")
    result = invoke("test", path, "-f", "json")
    assert visible(result.stdout)
    names = [t["name"] for t in json.loads(result.stdout)["tests"]]
    assert names == ["a \x01 b", "fails \x1b[2J \ufffe \u202e", "cannot run \x08"]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=30))
def test_junit_is_well_formed_for_any_title_and_expectation(text):
    escaped = "".join(c if c.isalnum() or c == " " else f"\\u{ord(c):04x}" for c in text
                      if ord(c) < 0x10000)  # fmt: skip
    rules = tagengine.load(
        HEADER + 'segment tier\n  "x" when spend > 10\n  else "y"\n'
        f'test "{escaped}"\n  given customers {{ customer_id: 1, spend: 20 }}\n'
        f'  expect tier == "{escaped}" for customer 1\n'
    )
    xml = junit_xml(run_tests(rules, None, as_of=dt.date(2024, 12, 31)), rules.sources)
    ET.fromstring(xml.encode("utf-8"))
