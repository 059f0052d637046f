"""In-file `test` blocks: syntax, checking, running, reports, and `tagengine test`."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app
from tagengine.syntax.parser import parse
from tagengine.testing import junit_xml, run_tests

RULES = Path(__file__).parent.parent / "rules" / "retail.tags"
runner = CliRunner()

HEADER = """\
entity customer table customers key customer_id
related orders key customer_id time order_date
feature spend = sum(orders.amount where not orders.returned) over last 90 days
feature last_order = max(orders.order_date)
tag female when gender == "F"
tag big when spend > 1000
score rank_spend = ntile(spend, 2)
segment life
  "active" when days_between(last_order, as_of) <= 90
  else "other"
"""

SCHEMA = {
    "customers": {"customer_id": pl.Int64, "gender": pl.String, "age": pl.Int32},
    "orders": {
        "customer_id": pl.Int64,
        "order_date": pl.Date,
        "amount": pl.Float64,
        "returned": pl.Boolean,
    },
}


def load(tests: str) -> tagengine.RuleSet:
    return tagengine.load(HEADER + tests)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


# ---- syntax -------------------------------------------------------------------------


def test_a_test_block_parses_into_its_clauses():
    src = (
        'test "t"\n'
        '  given customers { customer_id: 1, gender: "F", age: missing, `score`: -1.5 }\n'
        "  given orders { customer_id: 1, amount: 6_000, order_date: 2024-12-01 }\n"
        "               { customer_id: 1, amount: 5%, returned: true, at: 2024-12-01T10:30 }\n"
        "  as_of 2024-12-31\n"
        '  expect a, not b, s == "x", n >= -5, m != missing for customer 1\n'
    )
    program, diags = parse(src, "t.tags")
    assert diags == []
    (test,) = program.tests
    assert program.rules == ()
    assert test.name == "t" and (test.name_span.line, test.name_span.column) == (1, 6)
    customers, orders = test.givens
    assert customers.table == "customers" and len(customers.rows) == 1
    cells = {c.column: c.value for c in customers.rows[0].cells}
    assert cells["age"] is None
    assert (cells["score"].value, cells["score"].text) == (Decimal("-1.5"), "-1.5")
    assert [len(r.cells) for r in orders.rows] == [3, 4]
    values = [c.value.value for c in orders.rows[1].cells]
    assert values == [1, Decimal("0.05"), True, dt.datetime(2024, 12, 1, 10, 30)]
    assert test.as_of.value.value == dt.date(2024, 12, 31)
    (expect,) = test.expects
    assert [(e.name, e.op) for e in expect.items] == [
        ("a", "set"),
        ("b", "not set"),
        ("s", "=="),
        ("n", ">="),
        ("m", "!="),
    ]
    assert expect.items[3].value.value == -5 and expect.items[4].value is None
    assert (expect.subject.name, expect.subject.key.value) == ("customer", 1)
    assert (expect.items[2].span.line, expect.items[2].span.column) == (6, 20)


@pytest.mark.parametrize(
    "source",
    [
        # the test words stay usable as names of columns and rules
        "tag test when given > expect and for and missing > 1",
        "feature as_of_copy = `as_of`\nfeature for = test + given",
        'test "t" given customers { customer_id: 1, test: 1, given: 2, expect: 3, for: 4 }'
        " expect test, given",
        'test "t" given customers { as_of: 2024-01-01, missing: 1, `a b`: 2, 高: "值" }'
        " expect `a b`",
        # a test may follow any statement, and clauses come in any order
        'tag a when x\n  owner "me"\ntest "t" expect a as_of 2024-01-01 given customers {}',
        'test "t" given orders { } expect a, b for customer "A-1"',
        'test "trailing commas" given customers { customer_id: 1, } expect a',
    ],
)
def test_test_words_are_keywords_only_inside_tests(source):
    _, diags = parse(HEADER + source, "t.tags")
    assert diags == []


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ('test "t"\n  given customers { customer_id 1 }', 2, 33, "`:`"),
        ('test "t"\n  given customers { a: b }', 2, 24, "a value"),
        ('test "t"\n  expect', 2, 9, "ends too early"),
        ("test t expect a", 1, 6, "quoted text"),
        ('test "t"\n  as_of 2024-13-01\n  expect a', 2, 9, "not a valid date"),
        ('test "t"\n  expect a == b', 2, 15, "a number"),
        ('test "t"\n  expect a for customer missing', 2, 12, "cannot be `missing`"),
    ],
)
def test_syntax_errors_in_tests(source, line, column, words):
    _, diags = parse(source, "t.tags")
    assert diags, "expected a syntax error"
    d = diags[0]
    assert (d.span.line, d.span.column) == (line, column), d.message
    assert words in d.message
    assert d.code in ("TE001", "TE002")


def test_a_broken_test_does_not_hide_the_rules_after_it():
    src = 'test "t"\n  given customers { a 1 }\ntag b when x\n'
    program, diags = parse(src, "t.tags")
    assert [d.code for d in diags] == ["TE001"]
    assert [r.name for r in program.rules] == ["b"]


# ---- checking -------------------------------------------------------------------------

CHECKS = [
    # (test block, schema?, code, line, column, words in the message or hint)
    ('test "t"\n given customers { customer_id: 1 }\n expect bog', False, "TE101", 13, 9,
     "did you mean `big`?"),
    ('test "t"\n given customers { customer_id: 1 }\n expect age', True, "TE101", 13, 9,
     "a test checks rules"),
    ('test "t"\n given customer { customer_id: 1 }\n expect big', False, "TE101", 12, 8,
     "did you mean `customers`"),
    ('test "t"\n given customers { customer_id: 1, gendr: "F" }\n expect big', True, "TE101",
     12, 36, "did you mean `gender`"),
    ('test "t"\n given customers { customer_id: 1, age: "30" }\n expect big', True, "TE201",
     12, 41, "whole number values, not a text"),
    ('test "t"\n given orders { customer_id: 1, amount: 2024-01-01 }\n'
     ' given customers { customer_id: 1 }\n expect big', True, "TE201", 12, 41, "number"),
    ('test "t"\n given customers { customer_id: 1, age: 1 } { customer_id: 2, age: "x" }\n'
     " expect big", False, "TE201", 12, 68, "text value here but a whole number"),
    ('test "t"\n given customers { customer_id: 1 }\n expect rank_spend', False, "TE202",
     13, 9, "not true/false"),
    ('test "t"\n given customers { customer_id: 1 }\n expect life == 3', False, "TE201", 13, 17,
     "cannot compare segment"),
    ('test "t"\n given customers { customer_id: 1 }\n expect spend == 2024-01-01', True,
     "TE201", 13, 18, "compare `spend` with a number value"),
    ('test "t"\n given customers { customer_id: 1 }\n expect life == "activ"', False, "TE101",
     13, 17, 'did you mean "active"'),
    ('test "t"\n given customers { customer_id: 1 }\n expect big < true', False, "TE201",
     13, 9, "only be compared with == or !="),
    ('test "t"\n given customers { customer_id: 1 }\n expect spend < missing', False, "TE201",
     13, 9, "cannot compare with missing"),
    ('test "t"\n given orders { customer_id: 1 }\n expect big', False, "TE501", 11, 6,
     "gives no row of `customers`"),
    ('test "t"\n given customers { gender: "F" }\n expect big', False, "TE501", 12, 18,
     "has no `customer_id`"),
    ('test "t"\n given customers { customer_id: 1 }\n given orders { amount: 1 }\n expect big',
     False, "TE501", 13, 15, "row of `orders` has no `customer_id`"),
    ('test "t"\n given customers { customer_id: 1 } { customer_id: 1 }\n expect big', False,
     "TE501", 12, 39, "given twice"),
    ('test "t"\n given customers { customer_id: missing }\n expect big', False, "TE501", 12, 20,
     "cannot be missing"),
    ('test "t"\n given customers { customer_id: 1 }\n expect big for customer 2', False,
     "TE501", 13, 26, "no customer with `customer_id` 2"),
    ('test "t"\n given customers { customer_id: 1 }\n expect big for shopper 1', False,
     "TE101", 13, 17, "expected the entity `customer`"),
    ('test "t"\n given customers { customer_id: 1 }\n expect big for customer "1"', True,
     "TE201", 13, 26, "whole number values"),
    ('test "t"\n given customers { customer_id: 1 }\n as_of 2024-01-01\n as_of 2024-02-01\n'
     " expect big", False, "TE501", 14, 2, "one `as_of`"),
    ('test "t"\n given customers { customer_id: 1 }', False, "TE501", 11, 6, "expects nothing"),
    ('test "t"\n given customers { customer_id: 1, gender: "F", gender: "M" }\n expect big',
     False, "TE102", 12, 49, "given twice in this row"),
    ('test "t"\n given customers { customer_id: 1 }\n expect big\n'
     'test "t"\n given customers { customer_id: 1 }\n expect big', False, "TE102", 14, 6,
     "two tests"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "with_schema", "code", "line", "column", "words"), CHECKS)
def test_checker_reports_mistakes_in_tests(source, with_schema, code, line, column, words):
    diags = load(source).check(SCHEMA if with_schema else None)
    assert diags, "expected a diagnostic"
    found = [(d.code, d.span.line, d.span.column) for d in diags]
    assert (code, line, column) in found, [(d.code, d.span, d.message) for d in diags]
    d = next(d for d in diags if (d.code, d.span.line, d.span.column) == (code, line, column))
    assert words in d.message + " " + (d.hint or ""), (d.message, d.hint)
    assert d.hint, "every diagnostic about a test carries a hint"


def test_a_good_test_checks_clean_with_and_without_schema():
    src = (
        'test "t"\n  given customers { customer_id: 1, gender: "F", age: 30 }\n'
        "  given orders { customer_id: 1, order_date: 2024-12-01, amount: 2000, returned: false }\n"
        "  as_of 2024-12-31\n"
        '  expect big, female, life == "active", spend == 2000, last_order == 2024-12-01\n'
        "  expect rank_spend == 1 for customer 1\n"
    )
    for schema in (None, SCHEMA):
        assert [d for d in load(src).check(schema) if d.is_error] == []


def test_evaluation_ignores_test_blocks():
    plain = tagengine.load(HEADER)
    with_tests = load('test "t"\n given customers { customer_id: 1 }\n expect nonsense\n')
    assert [d.code for d in with_tests.check()] == ["TE101"]  # check() reports it ...
    customers = pl.DataFrame({"customer_id": [1, 2], "gender": ["F", "M"]})
    orders = pl.DataFrame(
        {
            "customer_id": [1],
            "order_date": [dt.date(2024, 12, 1)],
            "amount": [5000.0],
            "returned": [False],
        }
    )
    tables = {"customers": customers, "orders": orders}
    as_of = dt.date(2024, 12, 31)
    a = plain.evaluate(tables, as_of=as_of)
    b = with_tests.evaluate(tables, as_of=as_of)  # ... but evaluation never sees it
    assert a.equals(b)
    assert a.columns == [
        "customer_id",
        "spend",
        "last_order",
        "female",
        "big",
        "rank_spend",
        "life",
    ]


# ---- running --------------------------------------------------------------------------

PASSING = """
test "a big spender"
  given customers { customer_id: 1, gender: "F" }
  given orders
    { customer_id: 1, order_date: 2024-12-01, amount: 800, returned: false }
    { customer_id: 1, order_date: 2024-12-02, amount: 700, returned: false }
    { customer_id: 1, order_date: 2024-12-03, amount: 9000, returned: true }
  as_of 2024-12-31
  expect big, female, spend == 1500, spend > 1000, spend <= 1500
  expect life == "active", last_order == 2024-12-03
"""

FAILING = """
test "two customers"
  given customers { customer_id: 1, gender: "M" } { customer_id: 2 }
  given orders { customer_id: 2, order_date: 2024-01-01, amount: 50.5, returned: false }
  as_of 2024-12-31
  expect female
  expect spend == 50.5, life == "active", last_order == missing for customer 2
  expect rank_spend == 1 for customer 1
"""


def test_passing_and_failing_blocks_with_expected_and_actual():
    report = run_tests(load(PASSING + FAILING))
    assert not report.ok
    good, bad = report.results
    assert (good.name, good.status, good.failures) == ("a big spender", "passed", ())
    assert good.as_of == dt.date(2024, 12, 31)
    assert len(good.outcomes) == 7
    assert bad.status == "failed"
    got = [(o.text, o.key, o.expected, o.actual, o.span.line) for o in bad.failures]
    assert got == [
        ("female", 1, "set", "not set", 26),
        ("female", 2, "set", "not set", 26),
        ("spend == 50.5", 2, "50.5", "0", 27),  # dated before the 90-day window
        ('life == "active"', 2, '"active"', '"other"', 27),
        ("last_order == missing", 2, "missing", "2024-01-01", 27),
    ]
    passed = [o for o in bad.outcomes if o.passed]
    assert [(o.text, o.key) for o in passed] == [("rank_spend == 1", 1)]


def test_failure_output_names_place_expected_and_actual(tmp_path):
    path = tmp_path / "r.tags"
    path.write_text(HEADER + FAILING, "utf-8")
    result = invoke("test", path)
    assert result.exit_code == 1
    text = result.output
    assert "FAIL  two customers" in text
    assert f"{path}:17:10" in text and "expect spend == 50.5" in text
    assert "customer 2: expected 50.5, got 0" in text
    assert "1 test: 0 passed, 1 failed, 0 errors" in text


def test_comparisons_follow_the_rules_of_the_language():
    src = """
test "values"
  given customers { customer_id: 1, gender: missing }
  given orders { customer_id: 1, order_date: 2024-12-30, amount: 0.1, returned: false }
               { customer_id: 1, order_date: 2024-12-31, amount: 0.2, returned: false }
  as_of 2024-12-31
  expect spend == 0.3, spend != 0.4, spend >= 30%, spend < 1
  expect not female, female == false, life != missing, last_order > 2024-12-30
"""
    (result,) = run_tests(load(src)).results
    assert result.status == "passed", [(o.text, o.actual) for o in result.failures]


def test_tables_are_typed_by_the_schema_when_known():
    src = (
        'test "t"\n  given customers { customer_id: 1, age: 30 }\n'
        "  given orders { customer_id: 1, amount: 5, order_date: 2024-12-01 }\n"
        "  as_of 2024-12-31\n  expect not big\n"
    )
    (typed,) = run_tests(load(src), SCHEMA).results
    assert typed.status == "passed"
    for table, schema in SCHEMA.items():
        assert dict(typed.tables[table].schema) == schema  # every column, the data's types
    (inferred,) = run_tests(load(src)).results
    assert inferred.status == "passed"
    assert inferred.tables["customers"].schema["age"] == pl.Int64
    assert inferred.tables["orders"].schema["amount"] == pl.Int64
    assert inferred.tables["orders"].schema["returned"] == pl.Null  # used, not given


def test_a_test_that_cannot_run_is_an_error_not_a_crash():
    src = 'test "text where a number belongs"\n given customers { customer_id: 1 }\n'
    src += ' given orders { customer_id: 1, amount: "a lot", order_date: 2024-12-01 }\n'
    src += " as_of 2024-12-31\n expect big\n"
    report = run_tests(load(src))
    (result,) = report.results
    assert result.status == "error"
    codes = [d.code for d in result.diagnostics]
    assert codes[0] == "TE501" and "TE204" in codes  # sum() of text, at the rule
    checked = run_tests(load(src), SCHEMA).results[0]  # with the schema: the checker says so
    assert [d.code for d in checked.diagnostics] == ["TE201"]
    small_keys = {**SCHEMA, "customers": {**SCHEMA["customers"], "customer_id": pl.Int8}}
    big = 'test "t"\n given customers { customer_id: 1000 }\n expect not big\n'
    (overflow,) = run_tests(load(big), small_keys).results
    assert overflow.status == "error" and overflow.diagnostics[-1].code == "TE201"
    assert "does not fit" in overflow.diagnostics[-1].message


def test_errors_in_the_rules_stop_every_test():
    rules = tagengine.load(HEADER + "tag broken when 1\n" + PASSING)
    report = run_tests(rules)
    assert report.results == () and not report.ok
    assert [d.code for d in report.diagnostics] == ["TE202"]


def test_match_selects_tests_and_as_of_defaults():
    rules = load(PASSING + FAILING.replace("  as_of 2024-12-31\n", ""))
    report = run_tests(rules, match="TWO", as_of=dt.date(2024, 1, 15))
    (only,) = report.results
    assert only.name == "two customers" and only.as_of == dt.date(2024, 1, 15)
    spend = next(o for o in only.outcomes if o.text == "spend == 50.5")
    assert spend.passed  # on 2024-01-15, the order is inside the 90-day window


# ---- JUnit ----------------------------------------------------------------------------


def test_junit_xml_has_suites_cases_failures_and_errors():
    broken = 'test "cannot run"\n given orders { customer_id: 1 }\n expect big\n'
    report = run_tests(load(PASSING + FAILING + broken))
    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "<rules>"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a big spender", "two customers", "cannot run"]
    assert all(float(c.get("time")) >= 0 and c.get("line") for c in cases)
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    (failure,) = cases[1].findall("failure")
    assert failure.get("message") == "expect female: expected set, got not set"
    assert len(failure.text.splitlines()) == 5
    (err,) = cases[2].findall("error")
    assert err.get("type") == "TE501" and "gives no row of `customers`" in err.text


def test_junit_reports_errors_in_the_rules_as_one_error():
    report = run_tests(tagengine.load(HEADER + "tag broken when 1\n"))
    root = ET.fromstring(junit_xml(report))
    assert (root.get("tests"), root.get("errors")) == ("1", "1")
    assert root.find("testsuite/testcase/error") is not None


# ---- the command ------------------------------------------------------------------------


def test_cli_runs_the_example_tests_with_and_without_data(example_dir, tmp_path):
    junit = tmp_path / "report.xml"
    result = invoke("test", RULES, "--junit", junit)
    assert result.exit_code == 0, result.output
    assert "PASS " in result.output and "FAIL" not in result.output
    root = ET.parse(junit).getroot()
    assert int(root.get("tests")) >= 5 and root.get("failures") == "0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xml"]  # no temporary left
    result = invoke("test", RULES, "--data", example_dir)
    assert result.exit_code == 0, result.output


def test_cli_exit_codes_and_json(tmp_path):
    path = tmp_path / "r.tags"
    path.write_text(HEADER + PASSING + FAILING, "utf-8")
    result = invoke("test", path, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["summary"] == {"tests": 2, "passed": 1, "failed": 1, "errors": 0}
    bad = data["tests"][1]
    assert bad["status"] == "failed" and bad["as_of"] == "2024-12-31"
    first = next(e for e in bad["expectations"] if not e["passed"])
    assert first == {
        "expect": "female",
        "key": 1,
        "expected": "set",
        "actual": "not set",
        "passed": False,
        "file": str(path),
        "line": 26,
        "column": 10,
    }
    assert invoke("test", path, "-k", "big spender").exit_code == 0
    assert invoke("test", path, "--format", "xml").exit_code == 2
    broken = tmp_path / "broken.tags"
    broken.write_text(HEADER + 'test "t"\n  given customers { a 1 }\n', "utf-8")
    result = invoke("test", broken)
    assert result.exit_code == 1 and "TE001" in result.output
    result = invoke("test", path, "--junit", tmp_path / "no" / "such" / "r.xml")
    assert result.exit_code == 1 and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_check_command_reports_mistakes_in_tests(tmp_path):
    path = tmp_path / "r.tags"
    path.write_text(
        HEADER + 'test "t"\n  given customers { customer_id: 1 }\n  expect bog\n', "utf-8"
    )
    result = invoke("check", path)
    assert result.exit_code == 1
    assert "error[TE101]: unknown rule `bog`" in result.output
    assert "did you mean `big`?" in result.output
