"""Names, types, dependency order, cycles and duplicates — each problem at its span."""

from __future__ import annotations

import polars as pl
import pytest

import tagengine
from conftest import HEADER, codes

SCHEMA = {
    "customer_id": pl.Int64,
    "age": pl.Int32,
    "name": pl.String,
    "spend": pl.Float64,
    "signup": pl.Date,
    "seen": pl.Datetime("us"),
    "vip": pl.Boolean,
    "balance": pl.Decimal(12, 2),
    "city": pl.Categorical(),
    "tags": pl.List(pl.String),
}

DIAGNOSTICS = [
    # (rules, code, line, column) — line 1 is the entity header
    ("tag a when spend_90 > 1", "TE101", 2, 12),
    ("tag a when name > 1", "TE201", 2, 12),
    ("tag a when age", "TE202", 2, 12),
    ("score s = name", "TE203", 2, 11),
    ("tag a when x > 1\ntag a when y > 1", "TE101", 2, 12),
    ("tag a when age > 1\ntag a when age > 2", "TE102", 3, 5),
    ("feature a = b + 1\nfeature b = a + 1", "TE103", 2, 9),
    ("tag a when foo(age) > 1", "TE104", 2, 12),
    ("feature f = days_between(signup)", "TE105", 2, 13),
    ("feature f = upper(age)", "TE204", 2, 19),
    ('tag a when name matches "(unclosed"', "TE205", 2, 25),
    ("feature f = [1, 2]", "TE206", 2, 13),
    ("tag a when age in [1, age]", "TE206", 2, 23),
    ("score s = ntile(age, 0)", "TE204", 2, 22),
    ("score s = ntile(age)", "TE105", 2, 11),
    ("score s = qcut(name, 4)", "TE204", 2, 16),
    ("tag a when signup > 30", "TE201", 2, 12),
    ("tag a when signup - as_of > 3 months", "TE201", 2, 29),
    ("feature f = name * 2", "TE201", 2, 13),
    ("tag a when vip > true", "TE201", 2, 12),
    ("tag a when age and vip", "TE202", 2, 12),
    ("tag a when tags is missing", "TE108", 2, 12),
    ('tag a when age contains "1"', "TE201", 2, 12),
    ("feature customer_id = 1", "TE102", 2, 9),
]


@pytest.mark.parametrize(("rules", "code", "line", "column"), DIAGNOSTICS)
def test_diagnostics(rules, code, line, column):
    diags = tagengine.load(HEADER + rules).check({"customers": SCHEMA})
    found = [(d.code, d.span.line, d.span.column) for d in diags if d.span]
    assert (code, line, column) in found, found


def test_unknown_name_suggests_the_closest_name():
    diags = tagengine.load(HEADER + "feature spend_90d = spend\ntag a when spend_90 > 1").check(
        {"customers": SCHEMA}
    )
    (d,) = diags
    assert d.message == "unknown name `spend_90`"
    assert d.hint == "did you mean `spend_90d`?"


def test_unknown_column_suggestion_includes_columns():
    (d,) = tagengine.load(HEADER + "tag a when agee > 1").check({"customers": SCHEMA})
    assert d.hint == "did you mean `age`?"


def test_cycle_names_every_rule_on_it():
    rules = "feature a = b + 1\nfeature b = c + 1\nfeature c = a + 1\nfeature d = a"
    diags = tagengine.load(HEADER + rules).check({"customers": SCHEMA})
    cycle = [d for d in diags if d.code == "TE103"]
    assert len(cycle) == 1
    assert "a → b → c → a" in cycle[0].message


def test_self_reference_is_a_cycle():
    assert "TE103" in codes("feature a = a + 1", SCHEMA)


def test_duplicate_names_both_places():
    (d,) = tagengine.load(HEADER + "tag a when age > 1\nfeature a = 2").check({"customers": SCHEMA})
    assert d.code == "TE102" and d.span.line == 3
    assert "<rules>:2:5" in d.hint


def test_all_errors_reported_at_once():
    rules = 'tag a when nme > 1\ntag b when age > "x"\nscore c = ntile(name, 3)\ntag d when e'
    found = codes(rules, SCHEMA)
    assert found.count("TE101") == 2 and "TE201" in found and "TE204" in found


def test_rules_may_be_written_in_any_order():
    rules = "tag b when a > 1\nfeature a = age * 2"
    assert codes(rules, SCHEMA) == []
    program = tagengine.load(HEADER + rules).compile({"customers": SCHEMA})
    assert [r.name for r in program.rules] == ["a", "b"]
    assert program.outputs == ("b", "a")


def test_rule_shadowing_a_column_warns():
    diags = tagengine.load(HEADER + 'feature age "年龄" = 3').check({"customers": SCHEMA})
    assert [(d.code, d.severity) for d in diags] == [("TE301", "warning")]


def test_without_schema_only_structure_is_checked():
    assert codes("tag a when whatever > 1\nfeature b = b") == ["TE103"]


def test_missing_entity_declaration():
    diags = tagengine.load("tag a when x > 1").check(None)
    assert [d.code for d in diags] == ["TE106"]


def test_key_must_be_a_column():
    diags = tagengine.load("entity c table customers key id\ntag a when age > 1").check(
        {"customers": SCHEMA}
    )
    assert [d.code for d in diags] == ["TE107"]


def test_missing_table():
    diags = tagengine.load(HEADER + "tag a when age > 1").check({"people": SCHEMA})
    assert [d.code for d in diags] == ["TE107"]


TYPED = [
    ("feature f = age + 1", "int"),
    ("feature f = age / 2", "float"),
    ("feature f = balance + 1", "decimal"),
    ("feature f = spend + balance", "float"),
    ("feature f = signup - as_of", "duration"),
    ("feature f = signup + 30 days", "date"),
    ("feature f = seen - 1 week", "datetime"),
    ("feature f = coalesce(age, 0)", "int"),
    ("feature f = coalesce(age, spend)", "float"),
    ("feature f = city", "string"),
    ("score f = percent_rank(age)", "float"),
    ("score f = rank(signup)", "int"),
    ("feature f = round(balance, 1)", "decimal"),
]


@pytest.mark.parametrize(("rules", "kind"), TYPED)
def test_types_inferred_from_schema(rules, kind):
    program = tagengine.load(HEADER + rules).compile({"customers": SCHEMA})
    assert program.rule("f").type.kind == kind


def test_date_and_datetime_compare():
    assert codes("tag a when seen > signup and seen < 2025-01-01", SCHEMA) == []


@pytest.mark.parametrize(
    "rule",
    [
        "tag recent when signup_date + 1 days > as_of",
        "tag old when as_of - signup_date > 30 days",
        "tag soon when 7 days + signup_date >= as_of",
    ],
)
def test_date_arithmetic_on_a_column_of_unknown_type_is_not_an_error(rule):
    # without a schema `signup_date` may be a date: nothing to report until it is known
    assert codes(rule + "\n") == []
    assert codes(rule + "\n", {"customer_id": pl.Int64, "signup_date": pl.Date}) == []
    assert "TE201" in codes(rule + "\n", {"customer_id": pl.Int64, "signup_date": pl.Int64})


# ---- TE410: text compared with a column whose data never holds it ----------------------

RELATED = "related orders key customer_id time order_date\n"


def _data() -> dict[str, pl.DataFrame]:
    import datetime as dt

    return {
        "customers": pl.DataFrame(
            {
                "customer_id": [1, 2, 3, 4, 5],
                "member_level": ["金卡", "银卡", "银卡", "普通", None],
                "city": pl.Series(
                    ["上海", "北京", "上海", None, "Gold Coast"], dtype=pl.Categorical
                ),
                "tier": pl.Series(["a", "a", "b", "a", "a"], dtype=pl.Enum(["a", "b", "c"])),
                "empty": pl.Series([None] * 5, dtype=pl.String),
            }
        ),
        "orders": pl.DataFrame(
            {
                "customer_id": [1, 1, 2],
                "order_date": [dt.date(2024, 1, 1)] * 3,
                "channel": ["store", "app", "app"],
            }
        ),
    }


def unseen(rules: str) -> list[tuple[int, int, str, str | None]]:
    diags = tagengine.load(HEADER + RELATED + rules).check(data=_data())
    assert not [d for d in diags if d.is_error], diags
    return [(d.span.line, d.span.column, d.message, d.hint) for d in diags if d.code == "TE410"]


@pytest.mark.parametrize(
    "rules",
    [
        'tag a when member_level == "gold"',
        'tag a when "gold" == member_level',
        'tag a when member_level != "gold"',
        'tag a when member_level in ["金卡", "gold"]',
        'tag a when member_level not in ["gold"]',
        'feature f "f" = member_level == "gold"',
        'score s = count(orders where orders.channel in ["app", "gold"])',
        'segment s\n  "g" when member_level == "gold"\n  else "x"',
        'feature n "n" = count(orders where orders.channel != "gold")',
        'feature lvl "l" = member_level\ntag a when lvl == "gold"',
        'feature last_channel "c" = last(orders.channel)\ntag a when last_channel == "gold"',
        'tag a when city == "gold"',  # a Categorical column
        'tag a when tier == "c"',  # an Enum category no row has
    ],
)
def test_text_never_in_the_data_is_reported_where_it_is_written(rules):
    (found,) = unseen(rules)
    text = '"c"' if "tier" in rules else '"gold"'
    line = next(i for i, line in enumerate(rules.splitlines()) if text in line)
    column = rules.splitlines()[line].index(text) + 1
    assert found[:2] == (3 + line, column), found
    assert "never occurs in" in found[2]


@pytest.mark.parametrize(
    "rules",
    [
        'tag a when member_level == "金卡"',
        'tag a when member_level in ["银卡", "普通"]',
        'tag a when city != "上海"',
        'feature n "n" = count(orders where orders.channel == "store")',
        'tag a when tier == "b"',
        'tag a when tier == "zz"',  # not a category at all: TE305's, not TE410's
        'tag a when upper(member_level) == "gold"',  # not the column itself: not checked
        'tag a when member_level contains "gold"',
        "tag a when customer_id == 1",
    ],
)
def test_text_in_the_data_or_not_compared_with_a_column_is_not_reported(rules):
    assert unseen(rules) == []


def test_the_hint_lists_the_most_frequent_values_and_a_near_match():
    ((*_, message, hint),) = unseen('tag a when member_level == "gold"')
    assert message == '"gold" never occurs in `member_level`, so this comparison is never true'
    assert hint == 'the most frequent values of `member_level`: "银卡" (2), "普通" (1), "金卡" (1)'
    ((*_, message, hint),) = unseen('tag a when member_level != " 银卡"')
    assert message.endswith("so this comparison is true wherever `member_level` has a value")
    assert hint.startswith('did you mean "银卡"? (the most frequent values')
    for text in ("GOLD COAST", "gold coast ", "Ｇｏｌｄ Ｃｏａｓｔ", "Gold Coats"):
        ((*_, hint),) = unseen(f'tag a when city == "{text}"')
        assert hint.startswith('did you mean "Gold Coast"?'), (text, hint)
    ((*_, message, hint),) = unseen('tag a when empty == "x"')
    assert hint == "`empty` has no values at all: every row is missing"


def test_the_hint_lists_five_values_and_where_to_see_all():
    df = pl.DataFrame({"customer_id": range(8), "city": [f"c{i % 7}" for i in range(8)]})
    diags = tagengine.load(HEADER + 'tag a when city == "x"').check(data={"customers": df})
    (hint,) = [d.hint for d in diags]
    assert hint == (
        'the most frequent values of `city`: "c0" (2), "c1" (1), "c2" (1), "c3" (1), "c4" (1); '
        "see all 7 with `tagengine profile customers.city`"
    )


def test_values_of_private_columns_are_never_listed():
    for private in (["member_level"], ["customers.member_level"]):
        diags = tagengine.load(HEADER + 'tag a when member_level == "银 卡"').check(
            data=_data(), private=private
        )
        (d,) = diags
        assert d.code == "TE410" and "银卡" not in d.message + str(d.hint)
        assert d.hint == "`member_level` is private (the project's `pii`): its values are not shown"


def test_unseen_values_need_the_data_and_rules_without_errors():
    rules = tagengine.load(HEADER + 'tag a when member_level == "gold"')
    schema = {n: df.schema for n, df in _data().items()}
    assert [d.code for d in rules.check(schema)] == []
    assert [d.code for d in rules.check(data=_data())] == ["TE410"]
    broken = tagengine.load(HEADER + 'tag a when member_level == "gold"\ntag b when nope > 1')
    assert [d.code for d in broken.check(data=_data())] == ["TE101"]


def test_null_as_a_name_points_at_is_missing():
    """`email == null` parses (`null` could be a column) and fails as an unknown name; the
    hint is the SQL habit's, not a did-you-mean."""
    rules = tagengine.load(
        "entity customer table customers key customer_id\ntag t when email == null\n"
    )
    (d,) = rules.check({"customers": {"customer_id": pl.Int64, "email": pl.String}})
    assert d.code == "TE101" and "`is missing`" in d.hint
