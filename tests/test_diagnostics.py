"""Every diagnostic code at its place, in its words, with a hint; the warnings; `check
--strict`, `check --schema` and `tagengine schema`; a golden rendering read by eye.

Update the golden file with `TAGENGINE_UPDATE_GOLDEN=1 pytest tests/test_diagnostics.py`
and review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError, did_you_mean, render_human
from tagengine.project import load_project
from tagengine.schema import parse_type, read_schema_file, to_json, type_name
from tagengine.sources import schema_of

GOLDEN = Path(__file__).parent / "golden" / "diagnostics"
H = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)
CUSTOMERS = {
    "customer_id": pl.Int64,
    "name": pl.String,
    "age": pl.Int32,
    "city": pl.String,
    "spend": pl.Float64,
    "signup_date": pl.Date,
    "vip": pl.Boolean,
    "tags": pl.List(pl.String),
    "tier": pl.Enum(["gold", "silver", "bronze"]),
}
ORDERS = {
    "customer_id": pl.Int64,
    "order_date": pl.Date,
    "amount": pl.Decimal(12, 2),  # money (a float would draw TE306)
    "channel": pl.String,
}
SCHEMA = {"customers": CUSTOMERS, "orders": ORDERS}
runner = CliRunner()

# ---- one case per code found in rules: exactly that diagnostic, there, in those words ----

RULE_CASES = [
    # (code, whole file, (line, column, end line, end column), message); line 3 is the first
    # rule after the two header lines
    (
        "TE001",
        H + "tag a when age = 1",
        (3, 16, 3, 17),
        "to compare, write `==`",
    ),
    (
        "TE003",
        H + 'tag a when age > 1\n  team "crm"',
        (4, 3, 4, 7),
        "unknown metadata key `team`",
    ),
    (
        "TE002",
        H + "tag a when signup_date > 2024-02-30",
        (3, 26, 3, 36),
        "`2024-02-30` is not a valid date",
    ),
    ("TE101", H + "tag a when agee > 1", (3, 12, 3, 16), "unknown name `agee`"),
    ("TE102", H + "tag a when age > 1\ntag a when age > 2", (4, 5, 4, 6), "`a` is defined twice"),
    (
        "TE103",
        H + "feature a = b + 1\nfeature b = a + 1\ntag c when a > 1",
        (3, 9, 3, 10),
        "rules depend on each other in a circle: a → b → a",
    ),
    ("TE104", H + "feature f = sqrt(spend)", (3, 13, 3, 17), "unknown function `sqrt`"),
    (
        "TE105",
        H + "feature f = days_between(signup_date)",
        (3, 13, 3, 38),
        "`days_between` takes 2 arguments, not 1",
    ),
    ("TE106", "tag a when age > 1", (1, 1, 1, 6), "no entity declared"),
    (
        "TE107",
        "entity customer table customers key id\ntag a when age > 1",
        (1, 37, 1, 39),
        "the key `id` is not a column of `customers`",
    ),
    (
        "TE108",
        H + "tag a when tags is missing",
        (3, 12, 3, 16),
        "column `tags` holds List(String) values, which rules cannot use",
    ),
    ("TE201", H + "tag a when city > 3", (3, 12, 3, 20), "cannot compare text with whole number"),
    (
        "TE202",
        H + "tag a when age",
        (3, 12, 3, 15),
        "the condition of tag `a` must be true or false, but this is a whole number",
    ),
    ("TE203", H + "score s = city", (3, 11, 3, 15), "score `s` must be a number, not a text"),
    (
        "TE204",
        H + "feature f = upper(age)",
        (3, 19, 3, 22),
        "argument 1 of `upper` must be text, not a whole number",
    ),
    (
        "TE205",
        H + 'tag a when name matches "(x"',
        (3, 25, 3, 29),
        "invalid regular expression: unclosed group",
    ),
    (
        "TE206",
        H + 'tag a when city == ["a"]',
        (3, 20, 3, 25),
        "a list can only follow `in` or `not in`",
    ),
    (
        "TE207",
        H + "feature f = abs(spend where spend > 0)",
        (3, 13, 3, 39),
        "`where` and `over` belong to aggregates, not to `abs`",
    ),
    (
        "TE208",
        H + "feature f = max(orders.amount - avg(orders.amount))",
        (3, 33, 3, 51),
        "an aggregate cannot be inside another aggregate",
    ),
    (
        "TE209",
        H + "feature f = orders.amount",
        (3, 13, 3, 26),
        "`orders.amount` is a column of `orders`, usable only inside an aggregate of it",
    ),
    (
        "TE210",
        "entity customer table customers key customer_id\nrelated orders key customer_id\n"
        "feature n = count(orders) over last 90 days",
        (3, 27, 3, 44),
        "a window needs the time column of `orders`",
    ),
    (
        "TE301",
        H + 'feature age "年龄" = 3',
        (3, 9, 3, 12),
        "`age` is both a column and a rule; the rule wins",
    ),
    (
        "TE302",
        H + "feature double_age = age * 2",
        (3, 9, 3, 19),
        "feature `double_age` is not used by any rule",
    ),
    (
        "TE303",
        H + 'segment s\n  "a" when age > 30\n  "b" when age > 30',
        (5, 3, 5, 20),
        'branch "b" of segment `s` can never match: branch "a" before it has the same condition',
    ),
    (
        "TE304",
        H + "tag a when age between 30 and 20",
        (3, 12, 3, 33),
        "this condition is never true, so tag `a` is never set",
    ),
    (
        "TE305",
        H + 'tag a when tier == "glod"',
        (3, 20, 3, 26),
        '"glod" is not one of the categories of `tier`, so it never matches',
    ),
    (
        "TE501",
        H + 'tag a when age > 1\ntest "adults"\n  given customers { customer_id: 1, age: 30 }',
        (4, 6, 4, 14),
        'test "adults" expects nothing',
    ),
]


@pytest.mark.parametrize(
    ("code", "source", "span", "message"), RULE_CASES, ids=[f"{c[0]}" for c in RULE_CASES]
)
def test_each_code_at_its_place_with_a_hint(code, source, span, message):
    diags = tagengine.load(source).check(SCHEMA)
    assert [d.code for d in diags] == [code], [(d.code, d.message) for d in diags]
    (d,) = diags
    assert (d.span.line, d.span.column, d.span.end_line, d.span.end_column) == span
    assert d.message == message
    assert d.hint, "every diagnostic says what to do"
    assert d.severity == ("warning" if code.startswith("TE3") else "error")


def _invalid_project(tmp_path: Path) -> None:
    bad = tmp_path / "tagengine.toml"
    bad.write_text("rules = [\n", "utf-8")
    load_project(bad)


def _run(df: pl.DataFrame) -> None:
    tagengine.load(H.splitlines()[0] + "\ntag a when age > 1").evaluate({"customers": df})


def _explain(id_: object) -> None:
    rules = tagengine.load(H.splitlines()[0] + "\ntag a when age > 1")
    df = pl.DataFrame({"customer_id": [1, 2], "age": [30, 10]})
    rules.explain({"customers": df}, id=id_, as_of=dt.date(2024, 12, 31))


def _broken_parquet(tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    path.write_bytes(b"PAR1 not really")
    schema_of({"customers": pl.scan_parquet(path)})


def _bad_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text('{"customers": {"age": "int65"}}', "utf-8")
    read_schema_file(path)


# code -> (what causes it, words the message starts with)
INPUT_CASES = {
    "TE401": (lambda _: tagengine.load("no/such.tags"), "no such rule file: `no/such.tags`"),
    "TE402": (_broken_parquet, "cannot read table `customers`: "),
    "TE403": (_invalid_project, "`{tmp}/tagengine.toml` is not valid TOML: "),
    "TE404": (
        lambda _: _run(pl.DataFrame({"customer_id": [1, None], "age": [3, 4]})),
        "1 row of `customers` has no `customer_id`",
    ),
    "TE405": (
        lambda _: _run(pl.DataFrame({"customer_id": [1, 1], "age": [3, 4]})),
        "1 key value of `customers.customer_id` appears more than once (e.g. 1)",
    ),
    "TE406": (lambda _: _explain("abc"), "`customer_id` holds whole numbers; `abc` is not one"),
    "TE407": (lambda _: _explain(9), "no row of `customers` has customer_id = 9"),
    "TE408": (
        _bad_schema_file,
        "`{tmp}/schema.json`: column `customers.age` has an invalid type: unknown type `int65`",
    ),
}


@pytest.mark.parametrize("code", sorted(INPUT_CASES))
def test_each_input_problem_names_its_cause_with_a_hint(code, tmp_path):
    cause, words = INPUT_CASES[code]
    with pytest.raises(TagEngineError) as caught:
        cause(tmp_path)
    (d,) = caught.value.diagnostics
    assert d.code == code
    assert d.message.startswith(words.format(tmp=tmp_path)), d.message
    assert d.hint
    assert d.span is None  # nothing in the rules to point at


def test_files_that_cannot_be_read_point_at_the_place(tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_bytes(H.encode() + b'tag a when city == "\xff"\n')
    with pytest.raises(TagEngineError) as caught:
        tagengine.load(rules)
    (d,) = caught.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("TE402", 3, 21)
    project = tmp_path / "tagengine.toml"
    project.write_text('rules = ["r.tags"]\nas_of = \n', "utf-8")
    with pytest.raises(TagEngineError) as caught:
        load_project(project)
    (d,) = caught.value.diagnostics
    assert (d.code, d.span.file, d.span.line, d.span.column) == ("TE403", str(project), 2, 9)


def test_invalid_schema_json_points_at_its_place(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text('{\n  "customers": {"age": "int64",}\n}\n', "utf-8")
    with pytest.raises(TagEngineError) as caught:
        read_schema_file(path)
    (d,) = caught.value.diagnostics
    assert (d.code, d.span.file, d.span.line, d.span.column) == ("TE408", str(path), 2, 32)
    assert "is not valid JSON" in d.message


# ---- the three mistakes business users make most --------------------------------------


@pytest.mark.parametrize(
    ("rule", "code", "column", "message", "hint"),
    [
        (
            "tag big when spnd > 1000",
            "TE101",
            14,
            "unknown name `spnd`",
            "did you mean `spend`?",
        ),
        (
            "tag big when spend_90 > 1000",
            "TE101",
            14,
            "unknown name `spend_90`",
            "did you mean `spend_90d`?",
        ),
        (
            "tag bj when city == 北京",
            "TE101",
            21,
            "unknown name `北京`",
            'text goes in double quotes: "北京"',  # a value, most likely
        ),
        (
            "tag big when city > 3",
            "TE201",
            14,
            "cannot compare text with whole number",
            '`city` holds text: put the value in double quotes, `"3"`',
        ),
        (
            'tag adult when age >= "18"',
            "TE201",
            16,
            "cannot compare whole number with text",
            "remove the quotes: `18`",
        ),
        (
            "tag big spend > 1000",
            "TE001",
            9,
            "a tag needs `when` before its condition",
            "write `tag big when spend > 1000`",
        ),
        (
            'tag big "大客户" spend > 1000',
            "TE001",
            15,
            "a tag needs `when` before its condition",
            'write `tag big "大客户" when spend > 1000`',
        ),
        (
            "tag big = spend > 1000",
            "TE001",
            9,
            "a tag takes `when` and a condition, not `=`",
            "write `tag big when spend > 1000`; for a value rather than a yes/no tag, "
            "`feature big = ...`",
        ),
    ],
)
def test_common_mistakes_get_one_message_at_the_spot_with_the_fix(
    rule, code, column, message, hint
):
    source = H + 'feature spend_90d "90天消费" = sum(orders.amount) over last 90 days\n' + rule
    diags = tagengine.load(source).check(SCHEMA)
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [(code, 4, column)]
    assert (diags[0].message, diags[0].hint) == (message, hint)


def test_segment_branch_without_when():
    (d,) = tagengine.load(H + 'segment s\n  "old" age > 60').check(SCHEMA)
    assert (d.code, d.span.line, d.span.column) == ("TE001", 4, 9)
    assert d.message == "a segment's branch needs `when` before its condition"
    assert d.hint == 'write `"old" when age > 60`'


@pytest.mark.parametrize(
    ("name", "candidates", "guess"),
    [
        ("spnd", ["spend", "spend_90d"], "spend"),
        ("glod", ["gold", "silver"], "gold"),  # two letters swapped: one edit
        ("Age", ["age"], "age"),
        ("xyz", ["spend"], None),
        ("spend_d", ["spend_9d", "spend_3d"], "spend_3d"),  # a tie: the first by name
    ],
)
def test_did_you_mean_by_edit_distance(name, candidates, guess):
    assert did_you_mean(name, candidates) == guess


# ---- warnings ----------------------------------------------------------------------------


def warnings_of(rules: str, schema: dict | None = SCHEMA) -> list[tuple[str, int, int]]:
    diags = tagengine.load(H + rules).check(schema)
    assert all(not d.is_error for d in diags), [d.message for d in diags]
    return [(d.code, d.span.line, d.span.column) for d in diags]


@pytest.mark.parametrize(
    ("rules", "found"),
    [
        ("feature f = age * 2", [("TE302", 3, 9)]),
        ('feature f "标签" = age * 2', []),  # a display label publishes it
        ('feature f = age * 2\n  owner "crm"', []),  # so does any metadata
        ("feature f = age * 2\ntag a when f > 60", []),
        ("feature f = age * 2\nfeature g = f + 1\ntag a when g > 1", []),
        ("score s = ntile(age, 5)", []),  # scores, tags and segments are outputs
        ("tag a when age > 1", []),
        (
            'feature f = age * 2\ntest "t"\n  given customers { customer_id: 1, age: 3 }\n'
            "  expect f == 6",
            [],
        ),  # a feature a test checks is an output
    ],
)
def test_unused_feature(rules, found):
    assert warnings_of(rules) == found


def test_unused_feature_is_not_reported_beside_errors():
    diags = tagengine.load(H + "feature f = age * 2\ntag a when f >").check(SCHEMA)
    assert [d.code for d in diags] == ["TE001"]  # the broken tag may be what uses `f`
    diags = tagengine.load(H + "feature f = age * 2\ntag a when agee > 1").check(SCHEMA)
    assert [d.code for d in diags] == ["TE101"]


@pytest.mark.parametrize(
    ("rules", "found"),
    [
        ('segment s\n  "a" when age > 30\n  "b" when age > 30', [("TE303", 5, 3)]),
        ('segment s\n  "a" when age > 30\n  "b" when age  >  30', [("TE303", 5, 3)]),
        (
            'segment s\n  "a" when true\n  "b" when age > 1\n  "c" when vip',
            [
                ("TE303", 5, 3),
                ("TE303", 6, 3),
            ],
        ),
        (
            'segment s\n  "a" when age > 1 or true\n  "b" when vip',
            [("TE304", 4, 12), ("TE303", 5, 3)],
        ),
        ('segment s\n  "a" when age > 30\n  "b" when age > 20\n  else "c"', []),
        ('segment s\n  "a" when age > 30\n  "b" when age >= 30', []),
        ('segment s\n  "a" when age > 30 and vip\n  "b" when vip and age > 30', []),
    ],
)
def test_unreachable_segment_branch(rules, found):
    assert warnings_of(rules) == found


@pytest.mark.parametrize(
    ("condition", "column", "message"),
    [
        ("1 > 2", 12, "this condition is always false, so tag `a` is never set"),
        ("age > 3 or true", 12, "this condition is always true, so every customer gets tag `a`"),
        ("age between 30 and 20", 12, "this condition is never true, so tag `a` is never set"),
        ("age not between 30 and 20", None, None),  # true, or unknown for a missing age
        ("vip and (1 + 1 == 3)", 12, "this condition is always false, so tag `a` is never set"),
        ("vip or 2024-01-01 > 2025-01-01", 19, "this condition is always false"),
        ('age > 18 and (1 > 2 or city == "x")', 26, "this condition is always false"),
        ("age in []", 12, "this condition is never true, so tag `a` is never set"),
        ("3 is missing", 12, "this condition is always false, so tag `a` is never set"),
        ("not (1 < 2)", 12, "this condition is always false, so tag `a` is never set"),
        ("1 / 0 > 1", None, None),  # division by zero is missing: unknown, not folded
        ('"b" > "a" and vip', 12, "this condition is always true"),
        ("true", None, None),  # a bare `true` is written on purpose
        ("false", None, None),
        ("age > 3 and age < 2", None, None),  # ranges over columns are not analysed
        ("signup_date > 2024-01-01", None, None),
    ],
)
def test_constant_condition(condition, column, message):
    diags = tagengine.load(H + f"tag a when {condition}").check(SCHEMA)
    found = [(d.span.column, d.message) for d in diags if d.code == "TE304"]
    assert found == ([] if column is None else [(column, message)])


def test_constant_condition_inside_a_feature_and_a_filter():
    rules = (
        "feature n = count(orders where orders.amount > 10 or true) over last 30 days\n"
        "tag a when n > 1"
    )
    (d,) = tagengine.load(H + rules).check(SCHEMA)
    assert (d.code, d.span.column, d.message) == ("TE304", 32, "this condition is always true")


def test_between_hint_swaps_the_bounds():
    (d,) = tagengine.load(H + "tag a when spend between 5000 and 100").check(SCHEMA)
    assert d.hint == "`between` takes the smaller bound first: `spend between 100 and 5000`"


@pytest.mark.parametrize(
    ("rules", "found"),
    [
        ('tag a when tier == "glod"', [(3, 20, 'did you mean "gold"?')]),
        ('tag a when "platinum" != tier', [(3, 12, None)]),
        ('tag a when tier in ["gold", "silvr"]', [(3, 29, 'did you mean "silver"?')]),
        ('feature t "等级" = tier\ntag a when t == "glod"', [(4, 17, 'did you mean "gold"?')]),
        ('tag a when tier == "gold"', []),
        ('tag a when city == "glod"', []),  # a String column: any value may be there
    ],
)
def test_value_outside_enum_categories(rules, found):
    diags = tagengine.load(H + rules).check(SCHEMA)
    assert [d.code for d in diags] == ["TE305"] * len(found)
    for d, (line, column, guess) in zip(diags, found, strict=True):
        assert (d.span.line, d.span.column) == (line, column)
        assert d.hint.endswith('"gold", "silver", "bronze")' if guess else '"bronze"')
        assert d.hint.startswith(guess or "the categories of `tier`: ")


def test_categorical_columns_have_no_known_categories():
    schema = {"customers": {**CUSTOMERS, "tier": pl.Categorical()}, "orders": ORDERS}
    assert warnings_of('tag a when tier == "glod"', schema) == []


def test_enum_categories_of_a_related_column():
    schema = {"customers": CUSTOMERS, "orders": {**ORDERS, "channel": pl.Enum(["web", "app"])}}
    rules = 'feature n "单数" = count(orders where orders.channel == "store")'
    (d,) = tagengine.load(H + rules).check(schema)
    assert d.code == "TE305" and "categories of `orders.channel`" in d.message


# ---- the human rendering, read by eye ----------------------------------------------------

SEVERAL_ERRORS = """\
entity customer table customers key customer_id
related orders key customer_id time order_date

feature spend_90d "90天消费额" = sum(orders.amount) over last 90 days
tag high_value "高价值客户" when spend_90 > 5000
tag beijing "北京客户" when city == 北京 and age >= "18"
tag big spend_90d > 1000
tag young when age between 30 and 20
segment value_tier
  "gold" when spend_90d > 5000
  "silver" when spend_90d > 5000
  else "bronze"
score s = ntile(city, 5)
"""


def test_golden_rendering_of_several_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("retail.tags").write_text(SEVERAL_ERRORS, "utf-8")
    rules = tagengine.load("retail.tags")
    got = render_human(rules.check(SCHEMA), rules.sources)
    path = GOLDEN / "several_errors.txt"
    if os.environ.get("TAGENGINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, "utf-8")
    assert path.exists(), f"{path} missing: run with TAGENGINE_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text("utf-8")


# ---- the command line: --strict, --schema, `tagengine schema` -----------------------------


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_strict_makes_warnings_fail(tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_text(H + "feature helper = 1\ntag a when true\n", "utf-8")
    result = invoke("check", rules)
    assert result.exit_code == 0, result.output
    assert "warning[TE302]" in result.output and "0 errors, 1 warning" in result.output
    result = invoke("check", rules, "--strict")
    assert result.exit_code == 1
    result = invoke("check", rules, "--strict", "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["severity"]) for d in json.loads(result.stdout)] == [("TE302", "warning")]
    result = invoke("check", rules, "--format", "github")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"::warning file={rules},line=3,col=9,")


ROUND_TRIP = [
    # (dtype, values, a rule that says something about the column's type)
    (pl.Int16, [1, None], 'tag x when c > "1"'),
    (pl.Int64, [1, 2], 'tag x when c > "1"'),
    (pl.UInt32, [1, 2], 'tag x when c > "1"'),
    (pl.Float32, [1.5, None], 'tag x when c > "1"'),
    (pl.Float64, [1.5, None], 'tag x when c > "1"'),
    (pl.Decimal(12, 2), [Decimal("1.25"), None], 'feature x = round(c, 1) + "a"'),
    (pl.String, ["a", None], "tag x when c > 1"),
    (pl.Categorical(), ["a", "b"], 'tag x when c > 1 or c == "zz"'),
    (pl.Enum(["金卡", 'a, "b"']), ["金卡", None], 'tag x when c > 1 or c == "银卡"'),
    (pl.Boolean, [True, None], "tag x when c > 1"),
    (pl.Date, [dt.date(2024, 1, 1), None], "tag x when c > 1"),
    (pl.Datetime("ms", "Asia/Shanghai"), [dt.datetime(2024, 1, 1), None], "tag x when c > 1"),
    (pl.Datetime("us"), [dt.datetime(2024, 1, 1), None], 'tag x when c contains "1"'),
    (pl.Duration("us"), [dt.timedelta(days=1), None], "tag x when c > 1"),
    (pl.Null, [None, None], 'tag x when c > 1 and c contains "a"'),
    (pl.List(pl.Int64), [[1], None], "tag x when c is missing"),
]


@pytest.mark.parametrize(
    ("dtype", "values", "rule"), ROUND_TRIP, ids=[str(r[0]) for r in ROUND_TRIP]
)
def test_schema_file_checks_like_the_data(dtype, values, rule, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    df = pl.DataFrame({"customer_id": [1, 2], "c": pl.Series(values, dtype=dtype)})
    df.write_parquet(data / "customers.parquet")
    rules = tmp_path / "r.tags"
    rules.write_text(H.splitlines()[0] + "\n" + rule + "\n", "utf-8")

    result = invoke("schema", "--data", data)
    assert result.exit_code == 0, result.output
    (tmp_path / "schema.json").write_text(result.stdout, "utf-8")
    assert json.loads(result.stdout) == {
        "customers": {"customer_id": "int64", "c": type_name(dtype)}
    }
    assert parse_type(type_name(dtype)) == dtype

    with_data = invoke("check", rules, "--data", data, "--format", "json")
    with_file = invoke("check", rules, "--schema", tmp_path / "schema.json", "--format", "json")
    assert with_file.exit_code == with_data.exit_code
    assert json.loads(with_file.stdout) == json.loads(with_data.stdout)
    assert with_data.exit_code == (0 if dtype == pl.Null else 1)  # each rule finds something


def test_schema_file_of_the_example_data(example_dir, tmp_path):
    result = invoke("schema", "--data", example_dir)
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert list(schema) == ["customers", "orders"]
    assert schema["customers"]["customer_id"] == "int64"
    assert schema["orders"]["order_date"] == "date"
    path = tmp_path / "schema.json"
    path.write_text(result.stdout, "utf-8")
    rules = Path(__file__).parent.parent / "rules" / "retail.tags"
    result = invoke("check", rules, "--schema", path, "--strict")
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_schema_of_a_single_file_is_named_by_the_rules(tmp_path):
    data = tmp_path / "people.csv"
    data.write_text("id,age\n1,30\n", "utf-8")
    rules = tmp_path / "r.tags"
    rules.write_text("entity person table people key id\ntag adult when age >= 18\n", "utf-8")
    result = invoke("schema", rules, "--data", data)
    assert json.loads(result.stdout) == {"people": {"id": "int64", "age": "int64"}}
    result = invoke("schema", "--data", data)
    assert list(json.loads(result.stdout)) == ["customers"]


def test_to_json_keeps_the_order_of_tables_and_columns():
    text = to_json({"b": {"z": pl.Int8, "a": pl.String}, "a": {"k": pl.Date}})
    assert text.splitlines() == [
        "{",
        '  "b": {',
        '    "z": "int8",',
        '    "a": "string"',
        "  },",
        '  "a": {',
        '    "k": "date"',
        "  }",
        "}",
    ]


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("int", pl.Int64),
        ("float", pl.Float64),
        ("datetime", pl.Datetime("us")),
        ("duration", pl.Duration("us")),
        ("decimal( 10 , 3 )", pl.Decimal(10, 3)),
        ('enum["a", "b"]', pl.Enum(["a", "b"])),
        ("array[int8, 3]", pl.Array(pl.Int8, 3)),
        ('struct{"a": "list[string]"}', pl.Struct({"a": pl.List(pl.String)})),
        ("datetime[ns, America/New_York]", pl.Datetime("ns", "America/New_York")),
    ],
)
def test_type_strings_written_by_hand(text, dtype):
    assert parse_type(text) == dtype


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "is not valid JSON"),
        ("[]", "must map each table to its columns"),
        ('{"customers": {"age": "int65"}}', "column `customers.age` has an invalid type"),
        ('{"customers": {"age": 3}}', "a type is written as text, not 3"),
        ('{"customers": {"t": "enum[1]"}}', "an enum lists its categories as texts"),
        ('{"customers": {"a": "int64", "a": "string"}}', "`a` is listed twice"),
        ('{"customers": {"a": "datetime[xs]"}}', "time unit `xs` is not one of ms, us, ns"),
    ],
)
def test_invalid_schema_file_is_a_usage_error_naming_the_file(content, words, tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(content, "utf-8")
    rules = tmp_path / "r.tags"
    rules.write_text(H + "tag a when age > 1\n", "utf-8")
    result = invoke("check", rules, "--schema", path)
    assert result.exit_code == 2
    assert "error[TE408]" in result.output and str(path) in result.output
    assert words in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--schema", "no/such.json"], "no such schema file: `no/such.json`"),
        (["--schema", "S", "--data", "D"], "give --schema, or --data/--table, not both"),
    ],
)
def test_schema_option_usage_errors(args, words, tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_text(H + "tag a when age > 1\n", "utf-8")
    (tmp_path / "s.json").write_text("{}", "utf-8")
    args = [
        str(tmp_path / "s.json") if a == "S" else str(tmp_path) if a == "D" else a for a in args
    ]
    result = invoke("check", rules, *args)
    assert result.exit_code == 2
    assert words in result.output


def test_schema_command_needs_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("schema")
    assert result.exit_code == 2
    assert "name the data" in result.output
    result = invoke("schema", "--data", "no/such/dir")
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_check_with_a_schema_file_finds_missing_tables(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text('{"people": {"customer_id": "int64"}}', "utf-8")
    rules = tmp_path / "r.tags"
    rules.write_text(H.splitlines()[0] + "\ntag a when age > 1\n", "utf-8")
    result = invoke("check", rules, "--schema", path, "--format", "json")
    assert result.exit_code == 1
    (d,) = json.loads(result.stdout)
    assert (d["code"], d["message"]) == ("TE107", "no data for table `customers`")


def test_github_annotations_escape_their_properties():
    from tagengine.diagnostics import render_github, warning
    from tagengine.syntax.ast import Span

    d = warning("TE302", "100% unused\nreally", Span("a,b:c.tags", 2, 3, 2, 5), "remove it")
    assert render_github([d]) == (
        "::warning file=a%2Cb%3Ac.tags,line=2,col=3,endLine=2,endColumn=5,title=TE302"
        "::100%25 unused%0Areally (help: remove it)"
    )


def test_every_diagnostic_in_the_source_has_a_hint():
    """Each `error("TE...", message, span, hint)` / `warning(...)` / `fail(...)` in src/
    passes a hint: no problem is reported without saying what to do."""
    import ast as pyast

    missing = []
    for path in sorted((Path(__file__).parent.parent / "src").rglob("*.py")):
        for node in pyast.walk(pyast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, pyast.Call) and node.args):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[0]
            if name not in ("error", "warning", "fail") or not (
                isinstance(first, pyast.Constant) and str(first.value).startswith("TE")
            ):
                continue
            hint = node.args[3] if len(node.args) > 3 else None
            hint = hint or next((k.value for k in node.keywords if k.arg == "hint"), None)
            if hint is None or (isinstance(hint, pyast.Constant) and not hint.value):
                missing.append(f"{path.name}:{node.lineno} {first.value}")
    assert not missing, missing


# ---- SQL habits: one targeted message each, with the line rewritten ------------------------

SQL_HABITS = [
    'tag bj_sms when city == "北京" AND vip',
    'tag bj_or when city == "北京" OR vip',
    "tag thirties when age BETWEEN 30 AND 40",
    'tag not_bj when city <> "北京"',
    'tag not_bj2 when city NOT IN ["北京"]',
    "tag has_name when name IS NOT NULL",
    "tag no_name when name is null",
    "tag no_name2 when name = NULL",
    "tag has_name2 when name <> null",
    'tag bj_older when city == "北京" AND age > 30',
    'tag bj_older2 when city = "北京" AND age > 30',
    'tag north when city LIKE "北%"',
    'tag not_north when city NOT LIKE "北%"',
    'tag zhang when name like "%张%"',
    'tag bj_sh when city in ("北京", "上海")',
    "tag both when vip && age > 30",
    "tag either when vip || age > 30",
    "tag not_vip when NOT vip",
    "tag bj3 when city == '北京'",
    'feature band "年龄段" = CASE WHEN age > 30 THEN "old" '
    "WHEN age > 20 THEN 'mid' ELSE \"young\" END",
    "score s = CASE WHEN age > 30 THEN 2 ELSE 1 END",
]


def test_golden_rendering_of_sql_habits(tmp_path, monkeypatch):
    """Each habit alone in a file: exactly one error, TE001, naming the habit, with a hint
    that rewrites the line (or, for CASE WHEN, says what to write instead)."""
    monkeypatch.chdir(tmp_path)
    rendered, fixed = [], 0
    for i, line in enumerate(SQL_HABITS):
        name = f"habit{i + 1:02}.tags"
        Path(name).write_text(H + line + "\n", "utf-8")
        rules = tagengine.load(name)
        diags = rules.check(SCHEMA)
        assert [d.code for d in diags] == ["TE001"], (line, diags)
        assert "docs/language.md" in diags[0].hint and diags[0].span.line == 3, line
        fix = re.fullmatch(r"write `([^`]*)`; see .*", diags[0].hint)
        if fix:  # the rewritten line is right: it checks clean
            Path(name).write_text(H + fix.group(1) + "\n", "utf-8")
            assert [d for d in tagengine.load(name).check(SCHEMA) if d.is_error] == [], fix
            fixed += 1
        rendered.append(render_human(diags, rules.sources))
    assert fixed >= len(SQL_HABITS) - 1  # all but a CASE WHEN of numbers
    got = "\n".join(rendered)
    path = GOLDEN / "sql_habits.txt"
    if os.environ.get("TAGENGINE_UPDATE_GOLDEN"):
        path.write_text(got, "utf-8")
    assert path.exists(), f"{path} missing: run with TAGENGINE_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text("utf-8")
