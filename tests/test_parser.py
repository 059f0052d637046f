"""The grammar: what parses, and what a mistake is reported as (message, line, column)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tagengine.syntax import ast
from tagengine.syntax.parser import parse

VALID = [
    "entity customer table customers key customer_id",
    "tag a when x > 1",
    'tag 高价值 "高价值客户" when 消费 > 5_000',
    "tag a when `total spend` >= 1.5",
    'tag a when city in ["北京", "上海",]',
    'tag a when city not in ["北京"]',
    "tag a when age between 18 and 24 and x",
    "tag a when age not between 18 and 24",
    "tag a when x is missing or y is not missing",
    'tag a when s contains "x" and s starts with "a" and s ends with "z"',
    'tag a when s matches "^1[0-9]{10}$"',
    "tag a when d >= 2024-01-01 and t < 2024-01-01T10:30",
    "tag a when d > as_of - 30 days and d <= as_of + 1 week",
    "tag a when share > 50%",
    "tag a when not not x",
    "tag a when -x < -(y + 2) * 3 / 4",
    "tag a when x == true or y != false",
    "feature f = days_between(a, as_of)",
    "score s = ntile(x, 5, descending)",
    "score s = qcut(x, 4, ascending)",
    "score s = percent_rank(x)",
    'tag a when x\n  owner "crm"\n  category rule\n  priority 3\n  description "多行"',
    'segment s "分群"\n  "a" when x > 1\n  "b" when x > 0\n  else "c"\n  owner "me"',
    'segment s\n  "a" when x > 1',
    "# only a comment\ntag a when x # trailing comment",
    "feature days_x = 3",  # a name may start with a keyword-like word
    "feature f = least(a, b, 3) + greatest(a, 1)",
]


@pytest.mark.parametrize("source", VALID)
def test_valid_programs_parse(source):
    program, diags = parse(source, "t.tags")
    assert diags == []
    assert program.statements


INVALID = [
    # (source, line, column, words in the message)
    ("tag a x > 1", 1, 7, "`when`"),
    ("tag a when", 1, 11, "ends too early"),
    ("tag a when x = 1", 1, 14, "to compare, write `==`"),
    ("tag a when x > ", 1, 15, "ends too early"),
    ("tag a when name == 'x'", 1, 20, "text goes in double quotes"),
    ("feature f 3", 1, 11, "`=`"),
    ("tag a when x >\ntag b when y", 2, 1, "expected a value after `>`"),
    ('segment s\n  else "x"', 2, 3, "quoted text"),
    ("tag a when x in 3", 1, 17, "`[`"),
    ("entity customer table customers", 1, 32, "`key`"),
    ("tag a when d > 2024-13-01", 1, 16, "not a valid date"),
    ("score s = ntile(x, descending, 5)", 1, 20, "last argument"),
    ("tag a when x > 1 and and y", 1, 22, "found `and`"),
]


@pytest.mark.parametrize(("source", "line", "column", "words"), INVALID)
def test_syntax_errors_name_place_and_cause(source, line, column, words):
    _, diags = parse(source, "t.tags")
    assert diags, "expected a syntax error"
    d = diags[0]
    assert (d.span.file, d.span.line, d.span.column) == ("t.tags", line, column), d.message
    assert words in d.message
    assert d.code in ("TE001", "TE002")


def test_hint_for_single_equals():
    _, diags = parse("tag a when x = 1", "t.tags")
    assert "`==`" in diags[0].message and "`tag a when x == 1`" in diags[0].hint


def test_one_broken_rule_does_not_hide_the_others():
    source = "tag a when x = 1\ntag b when y > 1\ntag c z > 2\ntag d when w > 3\nfeature e ="
    program, diags = parse(source, "t.tags")
    assert [d.span.line for d in diags] == [1, 3, 5]
    assert [r.name for r in program.rules] == ["b", "d"]


def test_spans_on_every_node():
    program, _ = parse('tag hv "高" when spend > 5000 and city == "北京"', "f.tags")
    tag = program.rules[0]
    assert isinstance(tag, ast.Tag)
    assert (tag.name_span.line, tag.name_span.column, tag.name_span.end_column) == (1, 5, 7)
    cond = tag.condition
    assert isinstance(cond, ast.Binary) and cond.op == "and"
    assert (cond.span.column, cond.span.end_column) == (17, 46)
    assert (cond.left.span.column, cond.left.span.end_column) == (17, 29)
    assert (cond.right.right.span.column, cond.right.right.span.end_column) == (42, 46)


def test_literals_have_their_values():
    program, diags = parse('feature f = 5_000 + 1.50 + 12% + "a\\"b\\u4e2d\\d"', "f.tags")
    assert diags == []
    values = []
    node = program.rules[0].expr
    while isinstance(node, ast.Binary):
        values.append(node.right.value)
        node = node.left
    values.append(node.value)
    assert values[::-1] == [5000, Decimal("1.50"), Decimal("0.12"), 'a"b中\\d']


def test_precedence_and_binds_tighter_than_or():
    program, _ = parse("tag a when x or y and not z", "f.tags")
    cond = program.rules[0].condition
    assert cond.op == "or" and cond.right.op == "and"
    assert isinstance(cond.right.right, ast.Unary)


def test_between_upper_bound_stops_at_and():
    program, _ = parse("tag a when x between 1 and 2 and y", "f.tags")
    cond = program.rules[0].condition
    assert cond.op == "and" and isinstance(cond.left, ast.Between)


def test_metadata_and_labels():
    src = 'tag hv "高价值" when x > 1\n  owner "crm"\n  category rule\n  crm.weight 2'
    program, diags = parse(src, "f.tags")
    assert diags == []
    tag = program.rules[0]
    assert tag.label == "高价值"
    assert [(m.key, m.value) for m in tag.meta] == [
        ("owner", "crm"),
        ("category", "rule"),
        ("crm.weight", 2),
    ]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("tag a when x > 1\n  weight 2", "unknown metadata key `weight`"),
        ('tag a when x > 1 owner "me"', "metadata goes on a line of its own"),
        ("tag a when x > 1 y z", "`y` after the end of tag `a` belongs to nothing"),
        ('segment s\n  "a" when x\n  else "b" owner "me"', "on a line of its own"),
        ('tag a when x\n  ownr "me"', "did you mean `owner`?"),
    ],
)
def test_metadata_lines_that_are_not(source, words):
    """A word after a rule is metadata only on a line of its own, with a key of the set or
    a namespaced one; anything else is an error, and the rule does not reach the checker."""
    program, diags = parse(source, "f.tags")
    assert [d.code for d in diags] == ["TE003"]
    assert words in diags[0].message + " " + (diags[0].hint or "")
    assert program.rules == ()


def test_segment_branches_in_order():
    program, _ = parse('segment s "标签"\n "a" when x\n "b" when y\n else "c"', "f.tags")
    seg = program.rules[0]
    assert seg.label == "标签"
    assert [b.value for b in seg.branches] == ["a", "b"]
    assert seg.otherwise == "c"


def test_many_errors_are_capped():
    source = "\n".join("tag a when x = 1" for _ in range(200))
    _, diags = parse(source, "f.tags")
    assert 1 < len(diags) <= 50


# ---- the parser-table cache --------------------------------------------------------


@pytest.fixture
def fresh_parser(monkeypatch, tmp_path):
    """The parser built anew with its cache in tmp_path; rebuilt normally afterwards."""
    from tagengine.syntax import parser as parser_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TAGENGINE_NO_PARSER_CACHE", raising=False)
    parser_module._lark.cache_clear()
    yield parser_module, tmp_path / "tagengine"
    parser_module._lark.cache_clear()


RULE = "entity customer table customers key customer_id\ntag adult when age >= 18\n"


def test_parser_tables_are_cached_in_the_users_cache_folder(fresh_parser):
    parser_module, folder = fresh_parser
    parser_module._lark()
    (cached,) = folder.glob("parser-*.lark")
    assert cached.stat().st_size > 0
    parser_module._lark.cache_clear()
    program, diagnostics = parser_module.parse(RULE)  # from the file this time
    assert not diagnostics and [s.name for s in program.statements][-1] == "adult"


def test_a_broken_parser_cache_is_rebuilt(fresh_parser):
    parser_module, folder = fresh_parser
    parser_module._lark()
    (cached,) = folder.glob("parser-*.lark")
    cached.write_bytes(cached.read_bytes()[:100])  # cut short, as by a crash mid-write
    parser_module._lark.cache_clear()
    program, diagnostics = parser_module.parse(RULE)
    assert not diagnostics and len(program.statements) == 2
    assert cached.stat().st_size > 100  # written again


def test_no_parser_cache_when_its_folder_cannot_be_made(fresh_parser, monkeypatch):
    parser_module, folder = fresh_parser
    folder.parent.joinpath("blocker").write_text("a file, not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder.parent / "blocker"))
    assert parser_module._parser_cache() is None
    program, diagnostics = parser_module.parse(RULE)
    assert not diagnostics and len(program.statements) == 2
    monkeypatch.setenv("TAGENGINE_NO_PARSER_CACHE", "1")
    assert parser_module._parser_cache() is None


@pytest.mark.parametrize(
    ("source", "line", "column", "bracket"),
    [
        ('tag a when (age > 1 and\n  city == "x"\ntag b when age > 2', 1, 12, "("),
        ('tag a when city in ["x", "y"\ntag b when y', 1, 20, "["),
        ("tag b when (a > 1 and b < f(2)", 1, 12, "("),
        ("feature f = round((a + b) * (c", 1, 29, "("),
    ],
)
def test_an_unclosed_bracket_is_pointed_at(source, line, column, bracket):
    """The parser notices a bracket left open only where the next statement begins (or
    the file ends); the error also labels the bracket itself, and says how to close it."""
    _, diags = parse(source, "t.tags")
    note_span, label = diags[0].notes[0]
    assert (note_span.line, note_span.column) == (line, column)
    assert label == f"this `{bracket}` is never closed"
    assert f"close the `{bracket}` of line {line}" in diags[0].hint
    assert diags[0].to_dict()["notes"][0]["line"] == line


def test_a_closed_bracket_is_not_pointed_at():
    _, diags = parse("tag a when (x > 1) and y >\ntag b when y", "t.tags")
    assert diags and diags[0].notes == ()
