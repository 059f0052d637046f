"""docs/semantics.md, case by case (its worked cases). Test names say which section."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import evaluate

# ---- missing values: Kleene three-valued logic (#missing-values) ---------------------

# x missing, y = 5 (docs/semantics.md#missing-values)
KLEENE_CASES = [
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
    ("not (x in [1, 2])", False),
    ("x not in [1, 2]", False),
    ("not (x between 1 and 9)", False),
    ("x is not missing", False),
    ("y / 0 is missing", True),
]


@pytest.mark.parametrize(("condition", "is_set"), KLEENE_CASES)
def test_missing_values_kleene_cases(condition, is_set):
    df = evaluate(f"tag t when {condition}", {"customer_id": [1], "x": [None], "y": [5]})
    assert df.get_column("t").to_list() == [is_set]


BOOLS = [True, False, None]


def _kleene_and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _kleene_or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def test_missing_values_truth_tables_for_and_or_not():
    pairs = [(a, b) for a in BOOLS for b in BOOLS]
    data = {
        "customer_id": list(range(len(pairs))),
        "a": [p[0] for p in pairs],
        "b": [p[1] for p in pairs],
    }
    rules = """
feature f_and = a and b
feature f_or = a or b
feature f_not = not a
tag t_and when a and b
tag t_or when a or b
tag t_not when not a
"""
    df = evaluate(rules, data)
    assert df["f_and"].to_list() == [_kleene_and(a, b) for a, b in pairs]
    assert df["f_or"].to_list() == [_kleene_or(a, b) for a, b in pairs]
    assert df["f_not"].to_list() == [None if a is None else not a for a, _ in pairs]
    assert df["t_and"].to_list() == [_kleene_and(a, b) is True for a, b in pairs]
    assert df["t_or"].to_list() == [_kleene_or(a, b) is True for a, b in pairs]
    assert df["t_not"].to_list() == [a is False for a, _ in pairs]


COMPARISONS = [
    # (expression, x values -> feature values); x = 1, 5, missing
    ("x == 5", [False, True, None]),
    ("x != 5", [True, False, None]),
    ("x < 5", [True, False, None]),
    ("x <= 5", [True, True, None]),
    ("x > 1", [False, True, None]),
    ("x >= 1", [True, True, None]),
    ("x in [5, 7]", [False, True, None]),
    ("x not in [5, 7]", [True, False, None]),
    ("x between 1 and 4", [True, False, None]),
    ("x not between 1 and 4", [False, True, None]),
    ("x is missing", [False, False, True]),
    ("x is not missing", [True, True, False]),
]


@pytest.mark.parametrize(("expression", "expected"), COMPARISONS)
def test_missing_values_comparisons_are_unknown(expression, expected):
    df = evaluate(
        f"feature f = {expression}\ntag t when {expression}",
        {"customer_id": [1, 2, 3], "x": [1, 5, None]},
    )
    assert df["f"].to_list() == expected
    assert df["t"].to_list() == [v is True for v in expected]


def test_missing_values_tag_columns_never_null():
    df = evaluate(
        'tag t when x > 1\ntag u when not t\ntag v when s contains "a"',
        {"customer_id": [1, 2, 3], "x": [None, 2, 0], "s": [None, "a", "b"]},
    )
    for name in ("t", "u", "v"):
        assert df[name].null_count() == 0
        assert df[name].dtype == pl.Boolean
    # a tag whose condition was unknown is simply not set; rules using it see false
    assert df["t"].to_list() == [False, True, False]
    assert df["u"].to_list() == [True, False, True]


def test_missing_values_text_tests_with_missing_text():
    df = evaluate(
        'feature f = s starts with "a"\nfeature g = s matches "^a+$"',
        {"customer_id": [1, 2, 3], "s": [None, "aa", "ba"]},
    )
    assert df["f"].to_list() == [None, True, False]
    assert df["g"].to_list() == [None, True, False]


# ---- division by zero and NaN (#empty-aggregates-and-division) -----------------------


def test_division_by_zero_is_missing_never_nan_or_inf():
    df = evaluate(
        "feature q = a / b\nfeature r = 1.5 / 0",
        {"customer_id": [1, 2, 3, 4], "a": [1, 0, -3, None], "b": [0, 0, 2, 2]},
    )
    assert df["q"].to_list() == [None, None, -1.5, None]
    assert df["r"].to_list() == [None] * 4
    assert not df["q"].is_nan().any()


def test_division_is_true_division():
    df = evaluate("feature q = a / b", {"customer_id": [1], "a": [7], "b": [2]})
    assert df["q"].to_list() == [3.5]


def test_nan_input_counts_as_missing():
    df = evaluate(
        "tag t when x > 0\ntag m when x is missing\nfeature d = x * 2",
        {"customer_id": [1, 2], "x": [float("nan"), 1.0]},
    )
    assert df["t"].to_list() == [False, True]
    assert df["m"].to_list() == [True, False]
    assert df["d"].to_list() == [None, 2.0]


# ---- as_of (#as_of) ------------------------------------------------------------------


def test_as_of_is_usable_in_expressions():
    import datetime as dt

    df = evaluate(
        "feature age_days = days_between(signup, as_of)\ntag new when signup >= as_of - 30 days",
        {"customer_id": [1, 2], "signup": [dt.date(2024, 12, 1), dt.date(2024, 11, 1)]},
    )
    assert df["age_days"].to_list() == [30, 60]
    assert df["new"].to_list() == [True, False]


def test_as_of_changes_the_answer():
    import datetime as dt

    data = {"customer_id": [1], "signup": [dt.date(2024, 12, 1)]}
    rules = "tag new when days_between(signup, as_of) <= 30"
    assert evaluate(rules, data, as_of=dt.date(2024, 12, 31))["new"].to_list() == [True]
    assert evaluate(rules, data, as_of=dt.date(2025, 1, 31))["new"].to_list() == [False]


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_as_of_rows_without_a_time_count_nowhere(engine):
    """A row whose time is missing cannot be placed before as_of; a related table
    declared without `time` has no dates, so all its rows count."""
    import datetime as dt

    import tagengine
    from conftest import AS_OF, HEADER

    orders = pl.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "order_date": [None, dt.date(2024, 1, 1), dt.date(2025, 1, 1)],
            "amount": [5, 7, 11],
        }
    )
    tables = {"customers": pl.DataFrame({"customer_id": [1]}), "orders": orders}
    rules = "feature n = count(orders)\nfeature s = sum(orders.amount)\n"
    timed = tagengine.load(HEADER + "related orders key customer_id time order_date\n" + rules)
    assert timed.evaluate(tables, as_of=AS_OF, engine=engine).row(0) == (1, 1, 7)
    undated = tagengine.load(HEADER + "related orders key customer_id\n" + rules)
    assert undated.evaluate(tables, as_of=AS_OF, engine=engine).row(0) == (1, 3, 23)


# ---- rankings (#rankings) ------------------------------------------------------------


def test_ranking_ntile_worked_case_through_the_engine():
    data = {"customer_id": [7, 6, 5, 4, 3, 2, 1, 8], "x": [60, 50, 40, 30, 20, 20, 10, None]}
    df = evaluate("score a = ntile(x, 5)\nscore d = ntile(x, 5, descending)", data)
    assert df["customer_id"].to_list() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert df["a"].to_list() == [1, 1, 2, 2, 3, 4, 5, None]
    assert df["d"].to_list() == [5, 3, 4, 2, 2, 1, 1, None]


def test_ranking_qcut_worked_cases_through_the_engine():
    xs = [1, 1, 1, 2, 3, 4, 5, 5, 6, 100, None]
    df = evaluate(
        "score q = qcut(x, 4)\nscore d = qcut(x, 4, descending)",
        {"customer_id": list(range(1, 12)), "x": xs},
    )
    assert df["q"].to_list() == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, None]
    assert df["d"].to_list() == [4, 4, 4, 3, 3, 2, 2, 2, 1, 1, None]


def test_ranking_rank_and_percent_rank():
    df = evaluate(
        "score r = rank(x)\nscore p = percent_rank(x)\nscore rd = rank(x, descending)",
        {"customer_id": [1, 2, 3, 4, 5], "x": [10, 20, 20, 30, None]},
    )
    assert df["r"].to_list() == [1, 2, 2, 4, None]
    assert df["rd"].to_list() == [4, 2, 2, 1, None]
    assert df["p"].to_list()[:4] == pytest.approx([0.0, 1 / 3, 1 / 3, 1.0])
    assert df["p"].to_list()[4] is None


def test_ranking_ties_by_key_whatever_the_input_order():
    data = {"customer_id": [3, 1, 2], "x": [5, 5, 5]}
    df = evaluate("score n = ntile(x, 3)", data)
    assert df["n"].to_list() == [1, 2, 3]


# ---- segments (#segments) ------------------------------------------------------------

SEGMENT = 'segment tier\n  "gold" when spend > 1000\n  "silver" when spend > 100\n'


def test_segments_first_match_wins():
    df = evaluate(SEGMENT, {"customer_id": [1, 2, 3], "spend": [5000, 50, None]})
    assert df["tier"].to_list() == ["gold", None, None]


def test_segments_else_catches_the_rest():
    df = evaluate(
        SEGMENT + '  else "bronze"', {"customer_id": [1, 2, 3], "spend": [5000, 50, None]}
    )
    assert df["tier"].to_list() == ["gold", "bronze", "bronze"]


def test_segments_unknown_branch_falls_through():
    rules = 'segment s\n  "a" when x > 1\n  "b" when y > 1\n  else "c"'
    df = evaluate(rules, {"customer_id": [1, 2], "x": [None, None], "y": [5, 0]})
    assert df["s"].to_list() == ["b", "c"]


# ---- determinism (#determinism) ------------------------------------------------------


def test_determinism_rows_sorted_by_key_whatever_the_input_order():
    df = evaluate("tag t when x > 1", {"customer_id": [3, 1, 2], "x": [5, 0, 2]})
    assert df["customer_id"].to_list() == [1, 2, 3]
    assert df["t"].to_list() == [False, True, True]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-5, 5) | st.none(), st.integers(-5, 5) | st.none()),
        min_size=1,
        max_size=30,
    )
)
def test_determinism_same_answer_for_shuffled_input(rows):
    ids = list(range(len(rows)))
    data = {"customer_id": ids, "x": [r[0] for r in rows], "y": [r[1] for r in rows]}
    rules = (
        "score n = ntile(x, 3)\nscore q = qcut(y, 2)\ntag t when x > y or x is missing\n"
        'segment s\n  "a" when x > 0\n  "b" when y > 0'
    )
    first = evaluate(rules, data)
    rev = {k: v[::-1] for k, v in data.items()}
    second = evaluate(rules, rev)
    assert first.equals(second)


# ---- types (#types) ------------------------------------------------------------------


def test_types_are_known_before_rows_are_read():
    import tagengine
    from tagengine.diagnostics import TagEngineError

    rules = tagengine.load("entity c table customers key id\ntag t when name > 3")
    lazy = pl.LazyFrame({"id": [1], "name": ["a"]}).select(
        pl.col("id"), pl.col("name").map_batches(lambda s: 1 / 0, return_dtype=pl.String)
    )
    with pytest.raises(TagEngineError) as info:
        rules.evaluate({"customers": lazy})
    assert info.value.diagnostics[0].code == "TE201"
