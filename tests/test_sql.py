"""The SQL backend: one query per rule set, in five dialects, with the semantics
(docs/semantics.md) kept.

What each dialect is given for the constructs where they differ, the worked cases of
docs/semantics.md run on DuckDB, and what a dialect cannot say (TE510)."""

# ruff: noqa: E501  (the tables below keep one case per line)
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import sqlglot
from typer.testing import CliRunner

import tagengine
from tagengine.backends import regex
from tagengine.backends.sql import DIALECTS
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2024, 12, 31)
HEADER = "entity customer table customers key customer_id\n"
RELATED = "related orders key customer_id time order_date\n"
SCHEMA = {
    "customers": {
        "customer_id": pl.Int64,
        "age": pl.Int32,
        "spend": pl.Float64,
        "name": pl.String,
        "signup_date": pl.Date,
        "last_login": pl.Datetime("us"),
        "vip": pl.Boolean,
    },
    "orders": {
        "customer_id": pl.Int64,
        "order_date": pl.Date,
        "amount": pl.Decimal(12, 2),
        "channel": pl.String,
    },
}


def sql(rules: str, dialect: str = "duckdb", **kw) -> str:
    return tagengine.load(HEADER + RELATED + rules).sql(SCHEMA, AS_OF, dialect, **kw)


def duck(rules: str, data: dict, as_of: dt.date = AS_OF, **tables) -> pl.DataFrame:
    frames = {"customers": pl.DataFrame(data, strict=False)}
    frames.update({k: pl.DataFrame(v, strict=False) for k, v in tables.items()})
    header = HEADER + (RELATED if "orders" in tables else "")
    return tagengine.load(header + rules).evaluate(frames, as_of=as_of, engine="duckdb")


# ---- one query, every dialect ------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("rules", ["rules/retail.tags", "bench/workload.tags"])
def test_the_shipped_rules_compile_to_sql_that_parses(dialect, rules):
    from tagengine.example_data import generate

    schema = {name: df.schema for name, df in generate(customers=10).items()}
    if "workload" in rules:  # the benchmark's own columns
        schema["customers"] = {
            **schema["customers"],
            "province": pl.String,
            "is_vip": pl.Boolean,
            "model_score": pl.Float64,
        }
    text = tagengine.load(ROOT / rules).sql(schema, AS_OF, dialect)
    tree = sqlglot.parse_one(text, read=dialect)
    assert tree.find(sqlglot.exp.Order) is not None
    assert text.count("WITH") == 1  # one query: CTEs, then the answer


# (dialect, rule, a piece of the SQL it gives)
PIECES = [
    ("duckdb", "feature m = signup_date + 6 months", "CAST(signup_date + INTERVAL 6 MONTH AS DATE)"),
    ("spark", "feature m = signup_date + 6 months", "ADD_MONTHS(signup_date, 6)"),
    ("postgres", "feature m = signup_date + 6 months", "CAST(signup_date + INTERVAL '6 MONTH' AS DATE)"),
    ("bigquery", "feature m = signup_date + 6 months", "DATE_ADD(signup_date, INTERVAL 6 MONTH)"),
    ("snowflake", "feature m = signup_date + 6 months", "DATEADD(MONTH, 6, signup_date)"),
    ("spark", "feature m = last_login + 1 year", "TIMESTAMPADD(YEAR, 1, last_login)"),
    ("bigquery", "feature m = last_login - 2 days", "DATETIME_SUB(last_login, INTERVAL 2 DAY)"),
    ("duckdb", "feature m = last_login - 2 weeks", "last_login - INTERVAL 14 DAY"),
    ("duckdb", "feature d = days_between(signup_date, as_of)", "DATE_DIFF('DAY', signup_date, CAST('2024-12-31' AS DATE))"),
    ("spark", "feature d = days_between(signup_date, as_of)", "DATEDIFF(CAST('2024-12-31' AS DATE), signup_date)"),
    ("postgres", "feature d = days_between(signup_date, as_of)", "CAST('2024-12-31' AS DATE) - signup_date"),
    ("duckdb", "feature w = weekday(signup_date)", "EXTRACT(ISODOW FROM signup_date)"),
    ("spark", "feature w = weekday(signup_date)", "EXTRACT(DAYOFWEEK_ISO FROM signup_date)"),
    ("bigquery", "feature w = weekday(signup_date)", "MOD(EXTRACT(DAYOFWEEK FROM signup_date) + 5, 7) + 1"),
    ("postgres", "feature y = year(signup_date)", "CAST(EXTRACT(YEAR FROM signup_date) AS BIGINT)"),
    ("duckdb", "tag t when age > 30", "COALESCE(age > 30, FALSE) AS t"),
    ("duckdb", "feature r = spend / age", "spend / NULLIF(CAST(age AS DOUBLE), 0)"),
    ("duckdb", "feature h = spend * 1.5", "spend * CAST(1.5 AS DOUBLE)"),
    ("duckdb", "feature s = spend", "CASE WHEN ISNAN(e.spend) THEN NULL ELSE e.spend END AS spend"),
    ("postgres", "feature s = spend", "NULLIF(e.spend, CAST('NaN' AS DOUBLE PRECISION)) AS spend"),
    ("postgres", 'tag t when name < "b"', "name COLLATE \"C\" < 'b'"),
    ("duckdb", 'tag t when name ends with "ei"', "ENDS_WITH(name, 'ei')"),
    ("postgres", 'tag t when name ends with "ei"', "RIGHT(name, 2) = 'ei'"),
    ("duckdb", 'tag t when name matches "^\\d+$"', "REGEXP_MATCHES(name, '^\\p{Nd}+$')"),
    ("spark", 'tag t when name matches "^\\d+$"', "name RLIKE '(?Ud)^\\\\d+\\\\z'"),
    ("snowflake", 'tag t when name matches "(?i)^zh"', "REGEXP_INSTR(name, '^zh', 1, 1, 0, 'i') > 0"),
    ("duckdb", "feature l = least(age, 3)", "LEAST(age, 3)"),
    ("bigquery", "feature l = least(age, 3)", "LEAST(COALESCE(age, 3), COALESCE(3, age))"),
    ("snowflake", "feature l = least(age, 3)", "LEAST_IGNORE_NULLS(age, 3)"),
    ("duckdb", "feature r = round(spend, 1)", "FLOOR(ABS(spend) * CAST('10.0' AS DOUBLE))"),
    ("spark", "feature r = round(spend, 1)", "CAST(FLOOR(ABS(spend) * CAST('10.0' AS DOUBLE)) AS DOUBLE)"),
    ("duckdb", "feature r = round(spend, 1)", ">= CAST('45035996273704.96' AS DOUBLE)"),
    ("duckdb", "score q = ntile(spend, 4, descending)", "NTILE(4) OVER (PARTITION BY spend IS NULL ORDER BY spend DESC, customer_id)"),
    ("duckdb", "feature n = count(orders) over last 90 days", "order_date > CAST(CAST('2024-12-31' AS DATE) - INTERVAL 90 DAY AS DATE)"),
    ("duckdb", "feature n = sum(orders.amount)", "COALESCE(a1.n, 0) AS n"),
    ("duckdb", "feature n = sum(orders.amount)", "WHERE\n    order_date <= CAST('2024-12-31' AS DATE)"),
    ("duckdb", 'feature n = count(orders where orders.channel == "app")', "COUNT(CASE WHEN channel = 'app' THEN 1 END)"),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "rule", "piece"), PIECES)
def test_each_dialect_gets_its_own_words(dialect, rule, piece):
    assert piece in sql(rule, dialect)


def test_tables_are_read_by_their_names_or_the_names_given():
    text = sql("feature n = count(orders)", "spark", tables={"orders": "sales.fact_orders"})
    assert "FROM sales.fact_orders" in text
    assert "FROM customers AS e" in text


def test_names_are_quoted_only_where_needed():
    text = tagengine.load(
        HEADER + "tag `high value` when `total spend` > 5\ntag 高价值 when vip\n"
    ).sql({"customers": {"customer_id": pl.Int64, "total spend": pl.Float64, "vip": pl.Boolean}})
    assert '"total spend"' in text and 'AS "high value"' in text and 'AS "高价值"' in text
    assert "customer_id" in text and '"customer_id"' not in text


def test_names_equal_but_for_case_do_not_collide():
    df = duck(
        "tag Vip when vip\ntag VIP2 when not vip", {"customer_id": [1, 2], "vip": [True, None]}
    )
    assert df.columns == ["customer_id", "Vip", "VIP2"]
    assert df.rows() == [(1, True, False), (2, False, False)]


def test_select_compiles_only_what_is_needed():
    text = sql("feature a = age + 1\nfeature b = a * 2\nfeature c = spend", select=["b"])
    assert "AS b" in text and "AS c" not in text and "spend" not in text


# ---- what a dialect cannot say: TE510 -----------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "rule"),
    [
        ("postgres", "tag " + "a" * 64 + " when age > 3"),
        ("snowflake", 'tag t when name matches "a(?i)b"'),
        ("postgres", 'tag t when name matches "a(?i)b"'),
        ("duckdb", 'tag t when name matches "\\bvip\\b"'),
        ("bigquery", 'tag t when name matches "[a[bc]]"'),
        ("spark", 'tag t when name matches "[[:alpha:]]"'),
    ],
)
def test_what_a_dialect_cannot_say_is_an_error(dialect, rule):
    with pytest.raises(TagEngineError) as info:
        sql(rule, dialect)
    (diag,) = info.value.diagnostics
    assert diag.code == "TE510" and dialect in diag.message
    assert diag.span is not None and diag.span.line == 3


def test_sql_needs_the_column_types():
    with pytest.raises(TagEngineError) as info:
        tagengine.load(HEADER + "tag t when age > 3").sql(None)
    assert info.value.diagnostics[0].code == "TE511"


@pytest.mark.parametrize(
    ("pattern", "engine", "expected"),
    [
        (r"^\d+$", "re2", r"^\p{Nd}+$"),
        (r"[\d_]", "re2", r"[\p{Nd}_]"),
        (r"\s", "re2", r"[\t-\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"),
        (r"[]a]", "re2", r"[\]a]"),
        (r"\p{Han}", "java", r"(?Ud)\p{IsHan}"),
        (r"(?P<n>a)$", "java", r"(?Ud)(?<n>a)\z"),
        (r"(?m)a$", "java", r"(?Ud)(?m)a$"),
        (r"[$]", "java", r"(?Ud)[$]"),
        (r"a$", "postgres", r"a$"),
    ],
)  # fmt: skip
def test_regular_expressions_are_rewritten_for_each_engine(pattern, engine, expected):
    assert regex.translate(pattern, engine) == expected


# ---- docs/semantics.md on DuckDB: its worked cases -----------------------------------------


@pytest.mark.parametrize(
    ("condition", "is_set"),
    [
        ("x > 3", False),
        ("not (x > 3)", False),
        ("x > 3 or y > 3", True),
        ("x > 3 and y > 3", False),
        ("x > 3 and y > 9", False),
        ("x in [1, 2]", False),
        ("x between 1 and 9", False),
        ("x is missing", True),
        ("x + 1 > 0", False),
        ("y / 0 > 0", False),
    ],
)
def test_kleene_cases(condition, is_set):
    df = duck(f"tag t when {condition}", {"customer_id": [1], "x": [None], "y": [5]})
    assert df.get_column("t").to_list() == [is_set]


def test_empty_aggregates_and_windows():
    rules = (
        "feature n = count(orders)\nfeature s = sum(orders.amount)\n"
        "feature a = avg(orders.amount)\nfeature lo = min(orders.amount)\n"
        "feature f = first(orders.amount)\nfeature l = last(orders.amount)\n"
        "feature d = count_distinct(orders.cat)\nfeature w = count(orders) over last 90 days\n"
    )
    days = [dt.date(2024, 10, 2), dt.date(2024, 10, 3), AS_OF, dt.date(2025, 1, 1)]
    orders = {
        "customer_id": [1] * 4,
        "order_date": days,
        "amount": [1.0, 2, 3, 4],
        "cat": list("abca"),
    }
    df = duck(rules, {"customer_id": [1, 7]}, orders=orders)
    assert df.row(0) == (1, 3, 6.0, 2.0, 1.0, 1.0, 3.0, 3, 2)
    assert df.row(1) == (7, 0, 0.0, None, None, None, None, 0, 0)


def test_ntile_qcut_rank_worked_cases():
    x = [10, 20, 20, 30, 40, 50, 60, None]
    df = duck(
        "score u = ntile(x, 5)\nscore d = ntile(x, 5, descending)\nscore r = rank(x)\n"
        "score p = percent_rank(x)",
        {"customer_id": list(range(1, 9)), "x": x},
    )
    assert df["u"].to_list() == [1, 1, 2, 2, 3, 4, 5, None]
    assert df["d"].to_list() == [5, 3, 4, 2, 2, 1, 1, None]
    assert df["r"].to_list() == [1, 2, 2, 4, 5, 6, 7, None]
    assert df["p"].to_list()[:2] == [0.0, 1 / 6]
    q = duck(
        "score q = qcut(x, 4)\nscore qd = qcut(x, 4, descending)",
        {"customer_id": list(range(1, 12)), "x": [1, 1, 1, 2, 3, 4, 5, 5, 6, 100, None]},
    )
    assert q["q"].to_list() == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, None]
    assert q["qd"].to_list() == [4, 4, 4, 3, 3, 2, 2, 2, 1, 1, None]
    merged = duck("score q = qcut(x, 4)", {"customer_id": list(range(8)), "x": [1] * 6 + [2, 3]})
    assert merged["q"].to_list() == [1] * 6 + [2, 2]


def test_segments_first_match_and_exact_money():
    df = duck(
        'segment tier\n  "gold" when spend > 1000\n  "silver" when spend > 100\n'
        "feature total = sum(orders.amount)\ntag one when sum(orders.amount) >= 1",
        {"customer_id": [1, 2, 3], "spend": [5000, 50, None]},
        orders={
            "customer_id": [1] * 10,
            "order_date": [AS_OF] * 10,
            "amount": pl.Series(["0.10"] * 10).cast(pl.Decimal(12, 2)),
        },
    )
    assert df["tier"].to_list() == ["gold", None, None]
    assert df["one"].to_list() == [True, False, False]
    assert str(df["total"][0]) == "1.00"


# ---- the command line ------------------------------------------------------------------------

runner = CliRunner()


def test_compile_to_sql_from_the_command_line(tmp_path):
    (tmp_path / "schema.json").write_text(
        '{"customers": {"customer_id": "int64", "age": "int64"},'
        ' "orders": {"customer_id": "int64", "order_date": "date"}}'
    )
    (tmp_path / "r.tags").write_text(HEADER + RELATED + "tag t when age > count(orders)\n")
    args = ["compile", str(tmp_path / "r.tags"), "--to", "sql", "--as-of", "2024-12-31"]
    schema = ["--schema", str(tmp_path / "schema.json")]
    result = runner.invoke(
        app, [*args, "--dialect", "spark", *schema, "--table", "orders=dw.orders"]
    )
    assert result.exit_code == 0, result.output
    assert "FROM dw.orders" in result.output and "ORDER BY" in result.output
    missing = runner.invoke(app, args)
    assert missing.exit_code == 1 and "TE511" in missing.output
    wrong = runner.invoke(app, ["compile", str(tmp_path / "r.tags"), "--dialect", "spark"])
    assert wrong.exit_code == 2


# ---- docs/scale.md shows what the compiler gives ---------------------------------------------


def test_the_sql_shown_in_the_docs_is_what_compile_gives():
    import json
    import re

    from tagengine.schema import parse_type

    page = (ROOT / "docs" / "scale.md").read_text("utf-8")
    rules = re.search(r"```text\n(entity .*?)```", page, re.S).group(1)
    types = json.loads(re.search(r"```json\n(.*?)```", page, re.S).group(1))
    schema = {t: {c: parse_type(v) for c, v in cols.items()} for t, cols in types.items()}
    shown = re.search(r"```sql\n(.*?)```", page, re.S).group(1)
    ruleset = tagengine.load(rules)
    assert ruleset.sql(schema, AS_OF, "duckdb").strip() == shown.strip()
    table = page[page.index("The other dialects differ") : page.index("How the semantics are kept")]
    rows = re.findall(r"^\| (duckdb|spark|postgres|bigquery|snowflake) \| (.*) \|$", table, re.M)
    assert [dialect for dialect, _ in rows] == list(DIALECTS)
    for dialect, cells in rows:
        text = ruleset.sql(schema, AS_OF, dialect)
        for piece in re.findall(r"`([^`]+)`", cells):
            assert piece in text, (dialect, piece)
