"""One place that feeds rule text through every stage, for the fuzz tests.

    from fuzzing import exercise

`exercise(text)` parses, checks (with and without a schema), renders the diagnostics,
formats, compiles and, when the rules compile, evaluates them on small tables and runs
their in-file tests. A hostile
or broken rule file may only ever give diagnostics: any other exception propagates, so
the caller (hypothesis, atheris) sees it as a crash. Used by `tests/test_fuzz.py` and by
the coverage-guided fuzzer `tests/fuzz/atheris_target.py`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from decimal import Decimal

import polars as pl
from rich.console import Console

from tagengine import RuleSet, TagEngineError, testing
from tagengine.diagnostics import Diagnostic, render_github, render_human, render_json
from tagengine.syntax.format import format_source
from tagengine.syntax.parser import parse
from tagengine.testing import run_tests

FILE = "fuzz.tags"
AS_OF = dt.date(2024, 12, 31)

# Every kind of column, under the names the strategies, the docs and the seeds use.
SCHEMA: dict[str, dict[str, pl.DataType]] = {
    "customers": {
        "customer_id": pl.Int64(),
        "name": pl.String(),
        "gender": pl.String(),
        "age": pl.Int64(),
        "city": pl.String(),
        "spend": pl.Float64(),
        "signup_date": pl.Date(),
        "last_login": pl.Datetime("us"),
        "vip": pl.Boolean(),
        "member_level": pl.Enum(["普通", "银卡", "金卡"]),
        "amount": pl.Decimal(12, 2),
        "x": pl.Int64(),
    },
    "orders": {
        "customer_id": pl.Int64(),
        "order_date": pl.Date(),
        "amount": pl.Float64(),
        "channel": pl.String(),
        "returned": pl.Boolean(),
        "qty": pl.Int64(),
    },
}


def sample_tables() -> dict[str, pl.DataFrame]:
    """Three customers of `SCHEMA` (one all missing, NaN spend) and four orders."""
    customers = pl.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "name": ["Zhang Wei", "", None],
            "gender": ["F", "M", None],
            "age": [30, 17, None],
            "city": ["北京", "上海", None],
            "spend": [6000.5, float("nan"), None],
            "signup_date": [dt.date(2024, 1, 1), dt.date(2020, 2, 29), None],
            "last_login": [dt.datetime(2024, 12, 1, 8), dt.datetime(2023, 1, 1), None],
            "vip": [True, False, None],
            "member_level": ["金卡", "普通", None],
            "amount": [Decimal("1.25"), Decimal(0), None],
            "x": [1, 0, None],
        },
        schema=SCHEMA["customers"],
    )
    orders = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 9],
            "order_date": [dt.date(2024, 12, 1), dt.date(2025, 1, 5), None, dt.date(2024, 1, 1)],
            "amount": [6000.0, 10.0, float("nan"), None],
            "channel": ["online", "store", None, "app"],
            "returned": [False, True, None, False],
            "qty": [1, 2, None, 3],
        },
        schema=SCHEMA["orders"],
    )
    return {"customers": customers, "orders": orders}


def _diagnostics(found: object) -> list[Diagnostic]:
    assert isinstance(found, list), type(found)
    assert all(isinstance(d, Diagnostic) for d in found), found
    return found


def _render(diagnostics: list[Diagnostic], sources: Mapping[str, str]) -> None:
    render_human(diagnostics, sources)
    render_json(diagnostics)
    render_github(diagnostics)


def exercise(
    text: str,
    schema: Mapping[str, Mapping[str, pl.DataType]] | None = None,
    tables: Mapping[str, pl.DataFrame] | None = None,
    evaluate: bool = True,
) -> RuleSet:
    """Run `text` through every stage (see the module doc). Returns the rule set."""
    schema = SCHEMA if schema is None else schema
    program, diags = parse(text, FILE)
    rules = RuleSet(program, {FILE: text}, _diagnostics(diags))
    _render(_diagnostics(rules.check(schema)), rules.sources)
    _render(_diagnostics(rules.check(None)), rules.sources)
    if not any(d.is_error for d in diags):
        formatted = format_source(text, FILE)
        _render(list(formatted.diagnostics), rules.sources)
    try:
        rules.compile(schema)
    except TagEngineError as exc:
        _render(_diagnostics(exc.diagnostics), rules.sources)
        return rules
    if evaluate:
        try:
            df = rules.evaluate(tables if tables is not None else sample_tables(), AS_OF)
        except TagEngineError as exc:
            _render(_diagnostics(exc.diagnostics), rules.sources)
        else:
            assert isinstance(df, pl.DataFrame)
        if rules.ast.tests:  # the in-file tests, as `tagengine test` runs them
            for known in (schema, None):
                report = run_tests(rules, known, AS_OF)
                Console(file=io.StringIO()).print(testing.render_human(report, rules.sources))
                json.dumps(testing.to_dict(report), default=str)
    return rules
