"""`tagengine fmt`: one canonical layout, idempotent, the same AST, comments kept.

Golden files live in tests/golden/fmt; update them with
`TAGENGINE_UPDATE_GOLDEN=1 pytest tests/test_fmt.py` and read the diff by eye.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Token
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import tagengine
from strategies import expressions, programs, typed_cases
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError
from tagengine.syntax import ast
from tagengine.syntax.format import _comment_parser, format_text, parse_with_comments
from tagengine.syntax.parser import parse

ROOT = Path(__file__).parent.parent
RETAIL = ROOT / "rules" / "retail.tags"
GOLDEN = Path(__file__).parent / "golden" / "fmt"
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def fmt(text: str) -> str:
    return format_text(text, "t.tags")


def stripped(node: object) -> object:
    """An AST as plain data with every span left out, for comparing two parses."""
    if isinstance(node, ast.Span):
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = {
            f.name: stripped(getattr(node, f.name))
            for f in dataclasses.fields(node)
            if not f.name.endswith("span")
        }
        return (type(node).__name__, fields)
    if isinstance(node, tuple | list):
        return tuple(stripped(n) for n in node)
    return node


def same_ast(a: str, b: str) -> None:
    pa, da = parse(a, "a.tags")
    pb, db = parse(b, "b.tags")
    assert da == [] and db == [], (da, db)
    assert stripped(pa) == stripped(pb)


# ---- the layout, case by case ---------------------------------------------------------

LAYOUT = [
    # (written, formatted)
    ("entity  c   table t\n key k", "entity c table t key k"),
    ("related orders key id time   day", "related orders key id time day"),
    ("feature f=a+b*c", "feature f = a + b * c"),
    ("feature f = (a + b) * c", "feature f = (a + b) * c"),
    ("feature f = a - (b - c) - (d + e)", "feature f = a - (b - c) - (d + e)"),
    ("feature f = a / (b * c) / d", "feature f = a / (b * c) / d"),
    ("feature f = -(-x) - -(y*2)", "feature f = --x - -(y * 2)"),
    ("tag a when ((x > 1))", "tag a when x > 1"),
    ("tag a when (a and b) or c", "tag a when (a and b) or c"),
    ("tag a when a or b and c or d", "tag a when a or (b and c) or d"),
    ("tag a when (a or b) or (c or d)", "tag a when a or b or (c or d)"),
    ("tag a when a and (b or c)", "tag a when a and (b or c)"),
    ("tag a when not (x > 1) and not (a or b)", "tag a when not x > 1 and not (a or b)"),
    ("tag a when (x + 1) > (y * 2)", "tag a when x + 1 > y * 2"),
    ("tag a when (x > 1) == (y > 2)", "tag a when (x > 1) == (y > 2)"),
    ("tag a when x between (1+1) and (not y)", "tag a when x between 1 + 1 and (not y)"),
    ("tag a when x not in [1,2,3,]", "tag a when x not in [1, 2, 3]"),
    ('tag a when s starts   with "a" and s is not  missing',
     'tag a when s starts with "a" and s is not missing'),
    ("feature f = 5_000 + 1.50 + 12% + 2024-01-01T10:30",
     "feature f = 5_000 + 1.50 + 12% + 2024-01-01T10:30"),
    ('feature f = "a\\"b\\u4e2d\\d"', 'feature f = "a\\"b\\u4e2d\\d"'),
    ("feature f = d + 1 days - 2 week", "feature f = d + 1 day - 2 weeks"),
    ("feature f = sum( orders.amount where not orders.r ) over last 1 months",
     "feature f = sum(orders.amount where not orders.r) over last 1 month"),
    ("feature f = count(orders) over 2024-01-01 to 2024-06-30",
     "feature f = count(orders) over 2024-01-01 to 2024-06-30"),
    ("score s = ntile( x , 5 , descending )", "score s = ntile(x, 5, descending)"),
    ("score s = qcut(x, 4, ascending)", "score s = qcut(x, 4, ascending)"),
    ("score s = ntile(`descending`, 5)", "score s = ntile(`descending`, 5)"),
    ("score s = rank(`descending` + descending)", "score s = rank(`descending` + descending)"),
    ("tag `high value` when `total spend` > 1 and `x`",
     "tag `high value` when `total spend` > 1 and `x`"),
    ("tag `plain` when `as_of` > as_of", "tag plain when `as_of` > as_of"),
    ("tag `tag` when `and`.`key` > 1", "tag `tag` when `and`.key > 1"),
    ('tag 高价值 "高价值客户" when 消费 > 5_000', 'tag 高价值 "高价值客户" when 消费 > 5_000'),
    ('tag a "say \\"hi\\"\\n" when x', 'tag a "say \\"hi\\"\\n" when x'),
    ('tag a when x\n    owner   "crm"\n category rule\npriority 2',
     'tag a when x\n  owner "crm"\n  category rule\n  priority 2'),
    ('segment s "分群"\n"a" when x\n  "bbb" when y\n else "c"\n owner me',
     'segment s "分群"\n  "a"   when x\n  "bbb" when y\n  else "c"\n  owner me'),
    ('segment s "x" when a "高价" when b', 'segment s\n  "x"    when a\n  "高价" when b'),
]  # fmt: skip


@pytest.mark.parametrize(("written", "formatted"), LAYOUT)
def test_canonical_layout(written, formatted):
    assert fmt(written) == formatted + "\n"
    assert fmt(formatted + "\n") == formatted + "\n"
    same_ast(written, formatted)


TESTS = [
    (
        'test "t" given customers {customer_id:1,`score`:-1.5,} {} given orders{a: missing}'
        ' as_of 2024-12-31 expect a,not b, c=="x" , d>=-5% for customer 1',
        'test "t"\n  given customers\n    { customer_id: 1, `score`: -1.5 }\n    {}\n'
        "  given orders { a: missing }\n  as_of 2024-12-31\n"
        '  expect a, not b, c == "x", d >= -5% for customer 1',
    ),
    (
        'test "long row" given customers { customer_id: 7, signup_date: 2021-03-15, '
        'phone: "13812345678", opt_in_sms: true, member_level: "金卡", credit_score: 720 }'
        " expect x",
        'test "long row"\n  given customers {\n'
        '    customer_id: 7, signup_date: 2021-03-15, phone: "13812345678", opt_in_sms: true,\n'
        '    member_level: "金卡", credit_score: 720,\n  }\n  expect x',
    ),
]


@pytest.mark.parametrize(("written", "formatted"), TESTS)
def test_canonical_layout_of_test_blocks(written, formatted):
    assert fmt(written) == formatted + "\n"
    assert fmt(formatted + "\n") == formatted + "\n"
    same_ast(written, formatted)


def test_long_conditions_break_before_and_or():
    names = " and ".join(f"condition_number_{i} > {i}" for i in range(6))
    out = fmt(f"tag t when {names}")
    lines = out.splitlines()
    assert lines[0] == "tag t when condition_number_0 > 0"
    assert lines[1:] == [f"    and condition_number_{i} > {i}" for i in range(1, 6)]
    same_ast(out, f"tag t when {names}")
    branch = fmt(f'segment s\n "a" when {names.replace(" and ", " or ")}')
    assert branch.splitlines()[2] == "      or condition_number_1 > 1"
    short = "tag t when a and b"  # a short condition stays on its line
    assert fmt(short) == short + "\n"


COMMENTS_IN = """\
# header


#   second header
entity   customer table customers   key customer_id   # the entity
feature   f "标签"=  ( a +b ) * -(c) # trailing f
  owner "me"  # trailing meta
  # before category
  category rule
tag t when x > 1 and # inside a condition
    # on its own line inside it
    (y or z)
    and w
# before the segment
segment s
  # before a branch
  "a"     when x between 1 and 2
  "bbb" when x in [1,2,3,] # trailing a branch
  # before else
  else "c"


test "t" # after a title
  given orders { id: 1 } # after a row
    { id: 2 }
  expect t
# the end
"""


def test_comments_are_kept_in_place(tmp_path):
    out = fmt(COMMENTS_IN)
    path = GOLDEN / "comments.tags"
    if os.environ.get("TAGENGINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, "utf-8")
    assert path.exists(), f"{path} missing: run with TAGENGINE_UPDATE_GOLDEN=1 and review it"
    assert out == path.read_text("utf-8")
    _, before = parse_with_comments(COMMENTS_IN)
    _, after = parse_with_comments(out)
    assert sorted(c.text for c in before) == sorted(c.text for c in after)
    assert fmt(out) == out
    same_ast(COMMENTS_IN, out)


def test_retail_rules_match_the_golden_file_and_are_canonical():
    text = RETAIL.read_text("utf-8")
    out = format_text(text, "rules/retail.tags")
    path = GOLDEN / "retail.tags"
    if os.environ.get("TAGENGINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, "utf-8")
    assert path.exists(), f"{path} missing: run with TAGENGINE_UPDATE_GOLDEN=1 and review it"
    assert out == path.read_text("utf-8")
    assert out == text, "rules/retail.tags is not canonical: run `tagengine fmt rules/`"


def test_syntax_errors_are_raised_not_formatted():
    with pytest.raises(TagEngineError) as info:
        fmt("tag a when x = 1\ntag b when 2024-02-30 > d\n")
    assert [d.code for d in info.value.diagnostics] == ["TE001", "TE002"]


def test_empty_and_comment_only_files():
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# only\n\n\n# comments   \n") == "# only\n\n# comments\n"


# ---- properties --------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(programs())
def test_generated_programs_parse(text):
    _, diagnostics = parse(text, "t.tags")
    assert diagnostics == []


@PROPERTY
@given(programs())
def test_fmt_is_idempotent(text):
    once = fmt(text)
    assert fmt(once) == once


@PROPERTY
@given(programs())
def test_fmt_keeps_the_ast_and_the_comments(text):
    out = fmt(text)
    same_ast(text, out)
    _, before = parse_with_comments(text)
    _, after = parse_with_comments(out)
    assert sorted(c.text for c in before) == sorted(c.text for c in after)


@PROPERTY
@given(expressions(depth=4), st.sampled_from(["tag t when ", "feature f = ", "score s = "]))
def test_deep_expressions_round_trip(expression, head):
    text = head + expression
    same_ast(text, fmt(text))
    assert fmt(fmt(text)) == fmt(text)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(typed_cases())
def test_typed_programs_check_evaluate_and_keep_their_meaning_when_formatted(case):
    schema, text, tables, as_of = case
    rules = tagengine.load(text)
    assert [d for d in rules.check(schema) if d.is_error] == []
    before = rules.evaluate(tables, as_of=as_of)
    after = tagengine.load(fmt(text)).evaluate(tables, as_of=as_of)
    assert_frame_equal(before, after)


def _grammar_names() -> tuple[set[str], set[str]]:
    """Every tree node name and every named terminal a parse tree can hold."""
    lark, _, _ = _comment_parser()
    nodes = set()
    for rule in lark.rules:
        name = rule.alias or rule.origin.name
        name = str(getattr(name, "name", name))
        if rule.alias or not (name.startswith("_") or rule.options.expand1):
            nodes.add(name)
    terminals = {t.name for t in lark.terminals if not t.name.startswith("__")}
    terminals -= {t.name for t in lark.terminals if t.pattern.type == "str"}  # keywords
    return nodes - {"start"}, terminals


def test_the_strategy_covers_the_whole_grammar():
    lark, _, _ = _comment_parser()
    seen_nodes: set[str] = set()
    seen_terminals: set[str] = set()

    @settings(
        max_examples=300,
        derandomize=True,  # the same programs on every run: no flaky misses
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(programs(max_statements=12))
    def collect(text):
        tree = lark.parse(text)
        seen_nodes.update(str(t.data) for t in tree.iter_subtrees())
        seen_terminals.update(t.type for t in tree.scan_values(lambda v: isinstance(v, Token)))
        if "#" in text and parse_with_comments(text)[1]:
            seen_terminals.add("COMMENT")

    collect()
    nodes, terminals = _grammar_names()
    assert nodes - seen_nodes == set(), "constructs strategies.programs() never draws"
    assert terminals - seen_terminals == set(), "tokens strategies.programs() never draws"


# ---- the command ---------------------------------------------------------------------------


def test_cli_check_passes_on_the_example_rules():
    result = invoke("fmt", "--check", ROOT / "rules")
    assert result.exit_code == 0, result.output
    assert "0 files would be reformatted" in result.output


def test_cli_rewrites_in_place_check_and_diff(tmp_path):
    messy = tmp_path / "a.tags"
    messy.write_text("tag a when  (x>1)\n", "utf-8")
    messy.chmod(0o640)
    clean = tmp_path / "b.tags"
    clean.write_text("tag b when x\n", "utf-8")
    result = invoke("fmt", "--check", tmp_path)
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.output and str(clean) not in result.output
    assert messy.read_text("utf-8") == "tag a when  (x>1)\n"  # --check writes nothing
    result = invoke("fmt", "--diff", messy)
    assert result.exit_code == 1
    assert "-tag a when  (x>1)\n+tag a when x > 1\n" in result.output
    assert messy.read_text("utf-8") == "tag a when  (x>1)\n"
    result = invoke("fmt", tmp_path)
    assert result.exit_code == 0, result.output
    assert messy.read_text("utf-8") == "tag a when x > 1\n"
    assert messy.stat().st_mode & 0o777 == 0o640  # rewritten atomically, mode kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tags", "b.tags"]
    assert "1 file reformatted, 1 left unchanged" in result.output
    assert invoke("fmt", "--check", tmp_path).exit_code == 0


def test_cli_leaves_a_file_with_syntax_errors_untouched(tmp_path):
    bad = tmp_path / "bad.tags"
    bad.write_text("tag  a when x = 1\n", "utf-8")
    good = tmp_path / "good.tags"
    good.write_text("tag  b when x\n", "utf-8")
    result = invoke("fmt", bad, good)
    assert result.exit_code == 1
    assert "error[TE001]" in result.output and f"{bad}:1:15" in result.output
    assert "cannot format" in result.output and "Traceback" not in result.output
    assert bad.read_text("utf-8") == "tag  a when x = 1\n"
    assert good.read_text("utf-8") == "tag b when x\n"  # the others are still formatted


def test_cli_usage_and_stdin(tmp_path):
    assert invoke("fmt", tmp_path / "nope.tags").exit_code == 1
    result = runner.invoke(app, ["fmt", "-"], input="tag a when  x\n")
    assert (result.exit_code, result.stdout) == (0, "tag a when x\n")
    result = runner.invoke(app, ["fmt", "--diff", "-"], input="tag a when  x\n")
    assert result.exit_code == 1 and "+tag a when x" in result.stdout
    assert invoke("fmt", "-", tmp_path).exit_code == 2
