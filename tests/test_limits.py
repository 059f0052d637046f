"""The limits of tagengine/limits.py: at the limit a rule file works in every stage, past
it the file gives its code (TE601-TE606, and TE002/TE204 for values out of range), never a
crash; and a real rule file (bench/check_1000.py's 1,000 rules) is far inside them all."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import tagengine
from fuzzing import SCHEMA, exercise, sample_tables
from tagengine import limits
from tagengine.diagnostics import did_you_mean, suggestion_budget
from tagengine.syntax import ast
from tagengine.syntax.format import format_text
from tagengine.syntax.parser import parse

HEADER = "entity customer table customers key customer_id\n"
AS_OF = dt.date(2024, 12, 31)


def codes(text: str) -> list[str]:
    return [d.code for d in tagengine.load(text).check(SCHEMA)]


def nested(template: str, leaf: str, levels: int) -> str:
    for _ in range(levels):
        leaf = template.format(leaf)
    return leaf


# ---- TE601: the size of a file ------------------------------------------------------------


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_not():
    rule = HEADER + "tag adult when age >= 18\n"
    pad = limits.MAX_SOURCE_BYTES - len(rule.encode())
    assert limits.source_problem(rule + "#" * (pad - 1) + "\n", "f") is None
    problem = limits.source_problem(rule + "#" * pad + "\n", "f")
    assert problem is not None and problem.code == "TE601"


def test_the_size_is_counted_in_utf8_bytes():
    chinese = "# " + "中" * (limits.MAX_SOURCE_BYTES // 3 + 1)  # 3 bytes each: over 5 MB
    assert len(chinese) < limits.MAX_SOURCE_BYTES
    assert limits.source_problem(chinese, "f").code == "TE601"


def test_a_file_too_big_is_reported_alone_and_not_parsed():
    text = HEADER + "tag adult when age >= 18\n" + "# filler\n" * 600_000
    program, diags = parse(text, "big.tags")
    assert program.statements == () and [d.code for d in diags] == ["TE601"]
    assert diags[0].span.file == "big.tags"
    assert codes(text) == ["TE601"]  # not also TE106: nothing in the file was read
    with pytest.raises(tagengine.TagEngineError):
        tagengine.load(text).compile(SCHEMA)


# ---- TE602: nesting -------------------------------------------------------------------------

# (rule template, leaf, how many times the template nests at 100 levels)
SHAPES = {
    "not": ("tag t when {}", "not {}", "vip", 99),
    "minus": ("tag t when {} > 0", "-{}", "spend", 98),
    "sum": ("tag t when {} > 0", "{} + spend", "spend", 98),
    "right sum": ("tag t when {} > 0", "1 + ({})", "spend", 98),
    "calls": ("feature f = {}", "abs({})", "spend", 99),
    "coalesce": ("feature f = {}", "coalesce({}, 1)", "spend", 99),
    "or": ("tag t when {}", "{} or vip", "vip", 99),
    "where": ("feature f = sum(orders.amount where {})", "not {}", "orders.returned", 98),
    "segment": ('segment s\n  "a" when {}\n  else "b"', "not {}", "vip", 99),
    "compare": ("tag t when {}", "({}) == true", "vip", 99),
    "ranking": ("score s = ntile({}, 3)", "abs({})", "spend", 98),
    "dates": ("tag t when {} > as_of", "({}) + 1 days", "signup_date", 98),
    "division": ("feature f = {}", "1 / ({})", "spend", 99),
}
RELATED = "related orders key customer_id time order_date\n"


def _shape(name: str, extra: int = 0) -> str:
    rule, template, leaf, times = SHAPES[name]
    return HEADER + RELATED + rule.format(nested(template, leaf, times + extra)) + "\n"


@pytest.mark.parametrize("shape", SHAPES)
def test_100_levels_go_through_every_stage(shape):
    text = _shape(shape)
    rules = exercise(text)  # parse, check, fmt, compile, evaluate
    assert not [d for d in rules.check(SCHEMA) if d.is_error]
    format_text(text)
    rules.explain(sample_tables(), tags=[rules.ast.rules[0].name], as_of=AS_OF)


@pytest.mark.parametrize("shape", SHAPES)
def test_101_levels_are_te602(shape):
    assert codes(_shape(shape, extra=1)) == ["TE602"]


def test_te602_points_at_the_level_past_the_limit_and_keeps_the_other_rules():
    text = HEADER + "tag deep when " + "not " * 100 + "vip\ntag fine when vip\n"
    rules = tagengine.load(text)
    (diag,) = rules.check(SCHEMA)
    assert (diag.code, diag.span.line, diag.span.column) == ("TE602", 2, 15 + 4 * 100)
    assert [r.name for r in rules.ast.rules] == ["fine"]


@pytest.mark.parametrize(
    "rule",
    [
        "tag t when " + "not " * 10_000 + "vip",
        "tag t when " + "-" * 10_000 + "1 > 0",
        "tag t when " + " or ".join(["vip"] * 10_000),
        "feature f = " + "abs(" * 10_000 + "spend" + ")" * 10_000,
        "feature f = " + "(" * 10_000 + "spend",  # brackets never closed: TE001
        "feature f = " + " + ".join(["spend"] * 10_000) + ")",  # TE001 after a deep tree
    ],
    ids=["not", "minus", "or", "calls", "unclosed", "error after"],
)
def test_far_too_deep_is_a_diagnostic_not_a_recursion_error(rule):
    assert set(codes(HEADER + rule)) <= {"TE001", "TE602"}


def test_parentheses_are_no_level():
    assert codes(HEADER + "tag t when " + "(" * 5_000 + "vip" + ")" * 5_000 + "\n") == []


# ---- TE603: rules ---------------------------------------------------------------------------


def test_more_than_20000_rules_are_te603_and_nothing_else_is_checked():
    (tag,) = parse(HEADER + "tag t when nonsense > 1", "f")[0].rules  # an unknown name
    entity = parse(HEADER, "f")[0].statements
    rules = tagengine.RuleSet(ast.Program((*entity, *[tag] * 20_001)), {})
    assert [d.code for d in rules.check(SCHEMA)] == ["TE603"]
    rules = tagengine.RuleSet(ast.Program((*entity, *[tag] * 20_000)), {})
    assert "TE603" not in {d.code for d in rules.check(SCHEMA)}


def test_a_real_file_of_1000_rules_is_inside_every_limit():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        check_1000 = importlib.import_module("check_1000")
    finally:
        sys.path.pop(0)
    diags = tagengine.load(check_1000.generate(1000)).check(check_1000.SCHEMA)
    assert not [d for d in diags if d.is_error], diags[:3]


# ---- TE604: items, arguments, branches --------------------------------------------------------


def test_10000_items_pass_and_10001_are_te604():
    def rule(n: int) -> str:
        return HEADER + "tag t when age in [" + ", ".join(map(str, range(n))) + "]\n"

    assert codes(rule(limits.MAX_ITEMS)) == []
    assert codes(rule(limits.MAX_ITEMS + 1)) == ["TE604"]


@pytest.mark.parametrize(
    "rule",
    [
        'feature f "f" = coalesce(' + ", ".join(["age"] * 10_001) + ")",
        "segment s\n" + "".join(f'  "b{i}" when age > {i}\n' for i in range(10_001)),
    ],
    ids=["arguments", "branches"],
)
def test_10001_arguments_or_branches_are_te604(rule):
    assert codes(HEADER + rule) == ["TE604"]


# ---- TE605: one name or value -----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda n: 'tag t when name == "' + "x" * (n - 2) + '"',  # the quotes count
        lambda n: "tag t when `" + "x" * (n - 2) + "` > 1",
        lambda n: "tag " + "x" * n + " when vip",
        lambda n: "tag t when spend > 0." + "1" * (n - 2),
    ],
    ids=["text", "quoted name", "name", "number"],
)
def test_10000_characters_pass_and_10001_are_te605(make):
    assert "TE605" not in codes(HEADER + make(limits.MAX_TOKEN_CHARS))
    assert codes(HEADER + make(limits.MAX_TOKEN_CHARS + 1)) == ["TE605"]


# ---- TE606: chains of rules -------------------------------------------------------------------


def chain(n: int) -> str:
    """`n` rules, each built on the one before: f0 = age, f1 = f0 + 1, ..., end."""
    steps = "".join(f"feature f{i} = f{i - 1} + 1\n" for i in range(1, n - 1))
    return HEADER + "feature f0 = age\n" + steps + f"tag end when f{n - 2} > 1\n"


def test_a_chain_of_100_rules_runs_and_101_is_te606():
    rules = exercise(chain(limits.MAX_RULE_CHAIN))
    assert rules.evaluate(sample_tables()).get_column("end").to_list() == [True, True, False]
    found = tagengine.load(chain(limits.MAX_RULE_CHAIN + 1)).check(SCHEMA)
    assert [d.code for d in found] == ["TE606"]
    assert "`end`" in found[0].message and found[0].span.line == 2 + limits.MAX_RULE_CHAIN
    assert codes(chain(1_000)) == ["TE606"]


# ---- values out of range: TE002, TE204 --------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ("tag t when age > 9223372036854775807", None),
        ("tag t when age > 0_009_223_372_036_854_775_807", None),
        ("tag t when age > 9223372036854775808", "TE002"),
        ("tag t when age > " + "9" * 5_000, "TE002"),
        ("tag t when spend > 99999999999999999999.5", None),
        ("tag t when signup_date + 10000 years > as_of", None),
        ("tag t when signup_date + 10001 years > as_of", "TE002"),
        ("tag t when signup_date + 120000 months > as_of", None),
        ("tag t when signup_date + 120001 months > as_of", "TE002"),
        ("tag t when (as_of - signup_date) < 521775 weeks", None),
        ("tag t when (as_of - signup_date) < 521776 weeks", "TE002"),
        ("tag t when (as_of - signup_date) < 3652425 days", None),
        ("tag t when (as_of - signup_date) < 3652426 days", "TE002"),
        ("feature f = round(spend, 22)", None),
        ("feature f = round(spend, 23)", "TE204"),  # a float: 10^22 is the last exact double
        ("feature f = round(amount, 38)", None),  # a decimal
        ("feature f = round(amount, 39)", "TE204"),
        ("score s = ntile(spend, 10000)", None),
        ("score s = ntile(spend, 10001)", "TE204"),
        ("score s = qcut(spend, 10000)", None),
        ("score s = qcut(spend, 4294967296)", "TE204"),
    ],
)
def test_values_out_of_range(rule, code):
    text = HEADER + rule + '\n  owner "x"\n'
    found = [c for c in codes(text) if c != "TE302"]
    assert found == ([code] if code else []), found
    if code is None:
        exercise(text)  # and at the edge, every stage works


def test_windows_out_of_range():
    text = HEADER + RELATED + 'feature f "f" = count(orders) over last {} years\n'
    assert codes(text.format(10_000)) == []
    assert codes(text.format(10_001)) == ["TE002"]


# ---- what stays fast ---------------------------------------------------------------------------


def test_did_you_mean_stops_suggesting_when_its_budget_is_spent():
    names = [f"rule_{i}" for i in range(100)]
    assert did_you_mean("rule_1x", names) == "rule_1"
    with suggestion_budget(1_000):
        assert did_you_mean("rule_1x", names) is None


def test_thousands_of_unknown_names_are_checked_in_bounded_time():
    """Every unknown name was compared with every rule: 1,000 took 6 s, 20,000 hours."""
    text = HEADER + "".join(f"tag t{i} when u{i} > 1\n" for i in range(1_000))
    found = tagengine.load(text).check(SCHEMA)
    assert len(found) == 1_000 and {d.code for d in found} == {"TE101"}


def test_a_date_and_a_datetime_in_one_list():
    text = HEADER + "tag t when signup_date in [2024-01-01, 2020-02-29T00:00]\n"
    df = tagengine.load(text).evaluate(sample_tables())
    assert df.get_column("t").to_list() == [True, True, False]


def test_a_byte_order_mark_is_read_as_nothing():
    text = "\ufeff" + HEADER + "tag adult when age >= 18\n"
    assert codes(text) == []
    assert format_text(text) == HEADER + "tag adult when age >= 18\n"
    assert tagengine.load(text).evaluate(sample_tables()).schema["adult"] == pl.Boolean


# ---- regular expressions: linear time, and no feature that is not ------------------------------

# Catastrophic backtracking: against `aaa...a!` a backtracking engine (Python's `re`, Java,
# PCRE) tries every way to split the a's, 2**n of them; n = 30 takes minutes, n = 5,000
# forever. Polars matches with the Rust `regex` crate, in time linear in the text.
CATASTROPHIC = ["(a+)+$", "(a|a)*$", "(a*)*b", "^(a|aa)+$", "(.*a){20}"]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_backtracking_patterns_run_in_linear_time(pattern):
    text = HEADER + f'tag t when name matches "{pattern}"\n'
    names = ["a" * 30 + "!", "a" * 5_000 + "!", "b" * 100_000]
    df = pl.DataFrame({"customer_id": [1, 2, 3], "name": names})
    rules = tagengine.load(text)
    assert rules.check({"customers": df.schema}) == []
    rules.evaluate({"customers": df})  # completes: no timing, the test run would hang


# `contains` with a long text: Polars' `str.contains(literal=True)` is a regular expression
# of the escaped text, which the `regex` crate searches in O(pattern × text) time once the
# text is longer than about 100 bytes (about 10 s for this one row); the Polars backend
# searches such texts with Aho-Corasick instead, in linear time.
def test_contains_a_long_text_runs_in_linear_time():
    needle = "a" * 9_997 + "c"  # with its quotes, at the limit of TE605
    names = ["a" * 100_000, "b" + needle, "a" * 100_000]
    df = pl.DataFrame({"customer_id": [1, 2, 3], "name": names})
    rules = tagengine.load(HEADER + f'tag t when name contains "{needle}"\n')
    started = time.perf_counter()
    result = rules.evaluate({"customers": df}, as_of=AS_OF)
    assert time.perf_counter() - started < 5  # about 1 s; 8.5 s as a regular expression
    assert result["t"].to_list() == [False, True, False]


@pytest.mark.parametrize(
    "needle",
    ["", "a", "ab", "é", "客户", "\n", "A", "a" * 64, "a" * 65, "客" * 21 + "a", "客" * 22,
     "x" * 200],
)  # fmt: skip
def test_contains_gives_the_same_answers_on_either_side_of_64_bytes(needle):
    names = ["", "ab", "AB", "é客户", "x\ny", "a" * 64, "a" * 65, "客" * 22 + "a",
             "-" + "x" * 200 + "-", None]  # fmt: skip
    df = pl.DataFrame({"customer_id": range(len(names)), "name": names})
    escaped = needle.replace("\\", "\\\\").replace("\n", "\\n")
    rules = tagengine.load(HEADER + f'feature f = name contains "{escaped}"\n')
    got = rules.evaluate({"customers": df}, as_of=AS_OF)["f"].to_list()
    assert got == [None if n is None else needle in n for n in names]


@pytest.mark.parametrize(
    "pattern",
    ["(?=a)a", "a(?!b)", "(?<=a)b", "(?<!a)b", r"(a)\\1", r"(?P<x>a)\\k<x>", "a{1000000}"],
    ids=["lookahead", "negative lookahead", "lookbehind", "negative lookbehind",
         "backreference", "named backreference", "too big"],
)  # fmt: skip
def test_what_the_engine_cannot_do_is_te205_at_check_time(pattern):
    text = HEADER + f'tag t when name matches "{pattern}"\n'
    assert codes(text) == ["TE205"]
    with pytest.raises(tagengine.TagEngineError) as caught:
        tagengine.load(text).compile(SCHEMA)  # before any row is read
    assert [d.code for d in caught.value.diagnostics] == ["TE205"]
