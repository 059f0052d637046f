"""Explain: one customer's trees agree with `run`, funnels agree with direct filters, and
the rendered trees of the example rules match reviewed golden files."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

import tagengine
from tagengine.diagnostics import TagEngineError
from tagengine.explain import render
from tagengine.explain.model import Dependency, ExplanationAdapter

AS_OF = dt.date(2024, 12, 31)
GOLDEN = Path(__file__).parent / "golden" / "explain"
EXAMPLE_RULES = Path(__file__).parents[1] / "rules" / "retail.tags"

RULES = """
entity customer table customers key customer_id
related orders key customer_id time order_date

feature spend_30d = sum(orders.amount where not orders.returned) over last 30 days
feature n_orders = count(orders)
feature last_order = max(orders.order_date)
feature recency = days_between(last_order, as_of)
feature avg_amount = avg(orders.amount)
feature returns = share(orders where orders.returned) over last 60 days
tag adult when age >= 18
tag big when spend_30d > 100 and n_orders >= 2
tag near when city in ["A", "B"] or recency <= 10
tag odd when not (age between 20 and 40) and avg_amount / n_orders > 5
tag named when city starts with "A" or city is missing
score q = ntile(spend_30d, 3)
score pr = percent_rank(avg_amount, descending)
tag top when q == 3 or big
segment seg
  "a" when adult and big
  "b" when recency is missing
  "c" when model > 0.5
"""


def _console() -> Console:
    return Console(file=io.StringIO(), width=110, color_system=None, legacy_windows=False)


def text_of(renderable) -> str:
    console = _console()
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


# ---- explain agrees with run --------------------------------------------------

customers = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 80)),
        st.one_of(st.none(), st.sampled_from(["A", "B", "Cx", "Ay"])),
        st.one_of(st.none(), st.just(float("nan")), st.floats(0, 1)),
    ),
    min_size=1,
    max_size=8,
)
orders = st.lists(
    st.tuples(
        st.integers(0, 9),  # customer index (some match no one)
        st.integers(-90, 5),  # days from as_of (some after it)
        st.one_of(st.none(), st.sampled_from([0.0, 10.0, 50.5, 99.99, 120.0])),
        st.booleans(),
    ),
    max_size=25,
)


def _tables(cs, os_) -> dict[str, pl.DataFrame]:
    customers_df = pl.DataFrame(
        {
            "customer_id": list(range(1, len(cs) + 1)),
            "age": [c[0] for c in cs],
            "city": [c[1] for c in cs],
            "model": [c[2] for c in cs],
        },
        schema={"customer_id": pl.Int64, "age": pl.Int64, "city": pl.String, "model": pl.Float64},
    )
    orders_df = pl.DataFrame(
        {
            "customer_id": [o[0] + 1 for o in os_],
            "order_date": [AS_OF + dt.timedelta(days=o[1]) for o in os_],
            "amount": [o[2] for o in os_],
            "returned": [o[3] for o in os_],
        },
        schema={
            "customer_id": pl.Int64,
            "order_date": pl.Date,
            "amount": pl.Float64,
            "returned": pl.Boolean,
        },
    )
    return {"customers": customers_df, "orders": orders_df}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers, orders)
def test_explain_verdicts_equal_run(cs, os_):
    rules = tagengine.load(RULES)
    tables = _tables(cs, os_)
    ran = rules.evaluate(tables, as_of=AS_OF)
    for row in ran.iter_rows(named=True):
        report = rules.explain(tables, id=row["customer_id"], as_of=AS_OF)
        for r in report.rules:
            expected = row[r.name]
            if isinstance(expected, dt.date):
                expected = expected.isoformat()
            assert r.value == pytest.approx(expected, nan_ok=True), (row["customer_id"], r.name)
            if r.kind == "tag":
                assert (r.tree.verdict == "true") == expected
                assert bool(r.obstacles) == (not expected)
            if r.kind == "segment":
                matched = [b.label for b in r.branches if b.status == "matched"]
                assert matched == ([expected] if expected is not None else [])


def test_unknown_names_the_missing_value():
    rules = tagengine.load(RULES)
    tables = _tables([(None, "A", 0.5)], [])
    report = rules.explain(tables, id=1, tags=["adult", "odd"], as_of=AS_OF)
    adult, odd = report.rules
    assert adult.tree.verdict == "unknown" and adult.tree.missing == ["age"]
    assert adult.obstacles[0].reason == "unknown: age is missing"
    assert odd.tree.verdict == "unknown"
    assert set(odd.tree.missing) == {"age", "avg_amount"}


def test_why_not_distances():
    rules = tagengine.load(RULES)
    tables = _tables([(17, "C", 0.2)], [(0, -20, 50.5, False), (0, -40, 10.0, False)])
    report = rules.explain(tables, id=1, tags=["adult", "big", "near", "seg"], as_of=AS_OF)
    adult, big, near, seg = report.rules
    assert adult.obstacles[0].reason == "age is 17; needs >= 18 — 1 short"
    # spend_30d is a float sum: a strict comparison says "more than"
    assert [o.reason for o in big.obstacles] == [
        "spend_30d is 50.5; needs > 100 — more than 49.50 short"
    ]
    # `or`: the closest alternative (the only failing part of either one counts)
    (closest,) = near.obstacles
    assert closest.alternatives == 2
    assert closest.reason == 'city is "C"; needs one of "A", "B"'
    assert [b.status for b in seg.branches] == ["failed", "failed", "failed"]
    assert seg.shown == "missing (no branch matched)"


def test_date_distance_and_provenance():
    rules = tagengine.load(
        HEADER_ORDERS + "tag recent when last_order >= 2024-12-25\n"
        "feature last_order = max(orders.order_date)\n"
        "feature spend = sum(orders.amount) over last 30 days\n"
    )
    tables = _tables([(30, "A", None)], [(0, -10, 5.0, False), (0, -20, 7.0, True)])
    recent, spend = rules.explain(tables, id=1, tags=["recent", "spend"], as_of=AS_OF).rules
    reason = "last_order is 2024-12-21; needs >= 2024-12-25 — 4 days too early"
    assert recent.obstacles[0].reason == reason
    last_order = recent.tree.children[0].children[0]  # the reference, then its definition
    assert last_order.text == "max(orders.order_date)"
    assert (last_order.source.rows, last_order.source.first) == (2, "2024-12-11")
    agg = spend.tree
    assert agg.kind == "aggregate" and agg.shown == "12"
    assert agg.source.model_dump() == {
        "table": "orders",
        "rows": 2,
        "of": None,
        "first": "2024-12-11",
        "last": "2024-12-21",
    }


HEADER_ORDERS = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)


def test_rankings_are_over_everyone():
    rules = tagengine.load(RULES)
    cs = [(30, "A", None)] * 6
    os_ = [(i, -1, 10.0 * (i + 1), False) for i in range(6)]
    tables = _tables(cs, os_)
    ran = rules.evaluate(tables, as_of=AS_OF, select=["q"])
    for cid, q in ran.iter_rows():
        (rule,) = rules.explain(tables, id=cid, tags=["q"], as_of=AS_OF).rules
        assert rule.value == q
        assert rule.tree.population.model_dump() == {"ranked": 6, "total": 6}


def test_unknown_id_and_bad_id_are_errors():
    rules = tagengine.load(RULES)
    tables = _tables([(30, "A", None)], [])
    with pytest.raises(TagEngineError) as exc:
        rules.explain(tables, id=99, as_of=AS_OF)
    assert exc.value.diagnostics[0].code == "TE407"
    assert "customer_id = 99" in exc.value.diagnostics[0].message
    with pytest.raises(TagEngineError) as exc:
        rules.explain(tables, id="forty-two", as_of=AS_OF)
    assert exc.value.diagnostics[0].code == "TE406"
    with pytest.raises(TagEngineError) as exc:
        rules.explain(tables, id=1, tags=["bigg"], as_of=AS_OF)
    assert exc.value.diagnostics[0].code == "TE101"
    assert "did you mean `big`" in exc.value.diagnostics[0].hint


def test_only_the_customers_rows_are_read(tmp_path):
    """The key filter reaches the Parquet scans (row groups of others are skipped)."""
    from tagengine.backends import polars as backend
    from tagengine.explain import evaluate

    frames = _tables([(30, "A", None), (40, "B", None)], [(0, -1, 5.0, False)])
    for name, df in frames.items():
        df.write_parquet(tmp_path / f"{name}.parquet")
    tables = {n: pl.scan_parquet(tmp_path / f"{n}.parquet") for n in frames}
    rules = tagengine.load(RULES)
    program = rules.compile({n: t.collect_schema() for n, t in tables.items()})
    one = evaluate._one_customer(program, tables, pl.Int64(), 2)
    plan, _ = backend.rule_frame(program, one, AS_OF, [program.rule("spend_30d")])
    text = plan.explain()
    assert text.count('SELECTION: col("customer_id") == 2') == 1  # customers scan
    assert '(col("customer_id") == 2) & (col("order_date") <= 2024-12-31)' in text


# ---- the funnel -----------------------------------------------------------------


def test_funnel_counts_equal_direct_filters(example_dir):
    rules = tagengine.load(EXAMPLE_RULES)
    tables = {n: pl.scan_parquet(example_dir / f"{n}.parquet") for n in ("customers", "orders")}
    report = rules.explain(tables, tags=["churn_risk_rfm", "contactable", "lifecycle"], as_of=AS_OF)
    df = rules.evaluate(tables, as_of=AS_OF)
    assert report.population == df.height
    churn, contactable, lifecycle = report.rules

    recency, orders = pl.col("recency") > 180, pl.col("orders_365d") >= 2

    def counts(expr: pl.Expr) -> dict[str, int]:
        row = df.select(
            true=expr.fill_null(False).sum(),
            false=(~expr).fill_null(False).sum(),
            unknown=expr.is_null().sum(),
        ).row(0, named=True)
        return {k: int(v) for k, v in row.items()}

    assert churn.combine == "all"
    assert [s.clause for s in churn.steps] == ["recency > 180", "orders_365d >= 2"]
    assert churn.steps[0].alone.model_dump() == counts(recency)
    assert churn.steps[1].alone.model_dump() == counts(orders)
    assert churn.steps[1].so_far.model_dump() == counts(recency & orders)
    assert churn.count == int(df["churn_risk_rfm"].sum())
    assert churn.steps[1].so_far.true == churn.count
    assert churn.share == pytest.approx(churn.count / df.height)

    assert contactable.combine == "any"
    either = (pl.col("has_phone") & pl.col("sms_opt_in")) | pl.col("has_email")
    assert contactable.steps[-1].so_far.model_dump() == counts(either)

    expected = df.group_by("lifecycle").len()
    by_value = {b.value: b.count for b in lifecycle.buckets}
    assert by_value == {v: n for v, n in expected.iter_rows() if n}
    assert [b.value for b in lifecycle.buckets][:4] == ["new", "active", "lapsing", "lost"]

    deps = churn.dependencies
    assert [d.name for d in deps.uses] == ["recency", "orders_365d"]
    assert deps.uses[0].uses[0].name == "last_order"
    assert deps.uses[1].uses == [Dependency(name="orders", kind="related table")]


# ---- golden trees of the example rules ------------------------------------------

# case name -> (rules to explain, how to choose the customer from `run`'s output)
CASES = {
    "tag_set": (["high_value"], pl.col("high_value")),
    "why_not_distance": (
        ["high_value", "churn_risk_rfm"],
        ~pl.col("high_value") & (pl.col("spend_90d") > 1000),
    ),
    "unknown": (["young", "senior", "age_group"], pl.col("age").is_null()),
    "segment_branch": (["lifecycle", "value_tier"], pl.col("lifecycle") == "lapsing"),
    "or_closest": (["winback_target"], pl.col("churn_risk") & ~pl.col("winback_target")),
    "scores": (["champion"], pl.col("r_score") >= 4),
}


@pytest.fixture(scope="module")
def example_run(example_dir):
    rules = tagengine.load(EXAMPLE_RULES)
    tables = {n: pl.scan_parquet(example_dir / f"{n}.parquet") for n in ("customers", "orders")}
    df = rules.evaluate(tables, as_of=AS_OF)
    ages = pl.read_parquet(example_dir / "customers.parquet", columns=["customer_id", "age"])
    return rules, tables, df.join(ages, on="customer_id")


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_tree(case, example_run):
    rules, tables, df = example_run
    names, chooser = CASES[case]
    chosen = df.filter(chooser).sort("customer_id")
    assert chosen.height, f"no customer fits case {case}"
    report = rules.explain(tables, id=chosen["customer_id"][0], tags=names, as_of=AS_OF)
    got = text_of(render.customer(report)).replace(str(EXAMPLE_RULES), "rules/retail.tags")
    path = GOLDEN / f"{case}.txt"
    if os.environ.get("TAGENGINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, "utf-8")
    assert path.exists(), f"{path} missing: run with TAGENGINE_UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text("utf-8")


def test_json_round_trips_through_the_schema(example_run):
    rules, tables, _ = example_run
    report = rules.explain(tables, id=1, as_of=AS_OF)
    assert ExplanationAdapter.validate_json(report.model_dump_json()) == report
    funnel = rules.explain(tables, tags=["champion"], as_of=AS_OF)
    assert ExplanationAdapter.validate_json(funnel.model_dump_json()) == funnel


# ---- the command ----------------------------------------------------------------


def test_cli_explain(example_dir):
    from typer.testing import CliRunner

    from tagengine.cli import app

    runner = CliRunner()
    base = ["explain", str(EXAMPLE_RULES), "--data", str(example_dir), "--as-of", "2024-12-31"]
    result = runner.invoke(app, [*base, "--id", "7", "--tag", "high_value,lifecycle"])
    assert result.exit_code == 0, result.output
    assert "high_value" in result.output and "lifecycle" in result.output

    result = runner.invoke(app, [*base, "--id", "7", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["view"] == "customer" and data["schema_version"] == "1" and data["id"] == 7

    result = runner.invoke(app, [*base, "--tag", "champion", "--plan"])
    assert result.exit_code == 0
    assert "r_score >= 4" in result.output and "built on" in result.output
    assert "query plan" in result.output and "AGGREGATE" in result.output

    assert runner.invoke(app, [*base]).exit_code == 2  # neither --id nor --tag
    result = runner.invoke(app, [*base, "--id", "999999"])
    assert result.exit_code == 1 and "TE407" in result.output

    result = runner.invoke(app, ["explain", "--json-schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "schema version 1" in schema["title"]


def test_docs_name_every_json_field():
    """docs/explain.md documents the JSON schema: every field of every model appears."""
    from pydantic import BaseModel

    from tagengine.explain import model

    text = (Path(__file__).parents[1] / "docs" / "explain.md").read_text("utf-8")
    models = [
        m
        for m in vars(model).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == model.__name__
    ]
    assert len(models) > 10
    missing = [
        f"{m.__name__}.{f}"
        for m in models
        for f in m.model_fields
        if f"`{f}`" not in text and not m.__name__.startswith("_")
    ]
    assert missing == []


def test_readme_shows_real_output(tmp_path):
    """The README's explain example is what `make demo`'s data gives today."""
    import re

    from tagengine import example_data

    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    block = re.search(r"```\n\$ tagengine explain (.*?)\n(.*?)```", readme, re.S)
    assert block, "README lost its explain example"
    args, shown = block.group(1).split(), block.group(2)
    assert args[args.index("--id") + 1] == "42"
    tables = example_data.generate(customers=5000, seed=7)  # as `make demo`
    rules = tagengine.load(EXAMPLE_RULES)
    tags = args[args.index("--tag") + 1].split(",")
    report = rules.explain(tables, id=42, tags=tags, as_of=AS_OF)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render.customer(report))
    assert console.file.getvalue() == shown


def test_a_failing_in_file_test_shows_the_explain_tree(tmp_path):
    from typer.testing import CliRunner

    from tagengine.cli import app

    rules = tmp_path / "t.tags"
    rules.write_text(
        HEADER_ORDERS + "feature spend = sum(orders.amount) over last 90 days\n"
        "tag big when spend > 5000 and age >= 18\n"
        'test "big spender"\n'
        "  given customers { customer_id: 1, age: 30 }\n"
        "  given orders { customer_id: 1, amount: 3200, order_date: 2024-12-01 }\n"
        "  as_of 2024-12-31\n"
        "  expect big\n",
        "utf-8",
    )
    result = CliRunner().invoke(app, ["test", str(rules)])
    assert result.exit_code == 1
    assert "expected set, got not set" in result.output
    assert "spend is 3200; needs > 5000 — 1801 short" in result.output
    assert "from 1 row of orders, 2024-12-01 .. 2024-12-01" in result.output
