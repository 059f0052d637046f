"""Running in-file `test` blocks: build the given tables, evaluate, compare expectations.

    report = run_tests(tagengine.load("rules/"), schema)   # schema: None, or the data's
    report.ok, report.results[0].failures

Each block's tables are Polars frames typed by the data's schema when it is known (every
column of the schema is there, missing where the test gives no value), else typed from
the values written (and the columns the rules use but the test does not give are
missing). The rule set is evaluated with the block's `as_of` through the public API
(`RuleSet.evaluate`), exactly as `tagengine run` evaluates it.

Results are data (`TestReport` → `TestResult` → `Outcome`); `render_human`, `render_json`
and `junit_xml` are views of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal as Kind

import polars as pl
from rich.console import Group, RenderableType
from rich.text import Text

from tagengine import ir
from tagengine.check.resolve import check as check_program
from tagengine.check.tests import TestContext, check_test, context
from tagengine.diagnostics import MASK, Diagnostic, TagEngineError, error, mask, sort_key
from tagengine.diagnostics import render_human as render_diagnostics
from tagengine.privacy import Privacy
from tagengine.ruleset import RuleSet
from tagengine.safe_text import json_text, quoted, xml_text
from tagengine.safe_text import shown as visible
from tagengine.schema import Schema
from tagengine.syntax import ast
from tagengine.wording import plural

Status = Kind["passed", "failed", "error"]


@dataclass(frozen=True)
class Outcome:
    """One expectation for one entity: what was expected, what the rules gave."""

    expectation: ast.Expectation
    text: str  # the expectation as written, e.g. `lifecycle == "active"`
    key: object  # the entity's key
    expected: str  # in words: `set`, `not set`, `"active"`, `missing`, `> 5000`
    actual: str  # in words: `not set`, `"lapsing"`, `missing`, `3200`
    value: object  # the actual value
    passed: bool

    @property
    def span(self) -> ast.Span:
        return self.expectation.span


@dataclass(frozen=True)
class TestResult:
    """One test block's result. `tables` and `as_of` are what the rules were run on."""

    __test__ = False  # not a pytest test class

    test: ast.Test
    status: Status
    outcomes: tuple[Outcome, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()  # why the block could not run
    seconds: float = 0.0
    as_of: dt.date | None = None
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.test.name

    @property
    def span(self) -> ast.Span:
        return self.test.name_span

    @property
    def failures(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)


@dataclass(frozen=True)
class TestReport:
    """Every test block run. `diagnostics`: errors in the rules, which stop every test."""

    __test__ = False  # not a pytest test class

    results: tuple[TestResult, ...]
    diagnostics: tuple[Diagnostic, ...] = ()
    entity: str = "customer"
    private: tuple[str, ...] = ()  # the project's `pii`: failures show `***` for their values

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.diagnostics and all(r.status == "passed" for r in self.results)


# ---- running ------------------------------------------------------------------------


def run_tests(
    rules: RuleSet,
    schema: Schema | None = None,
    as_of: dt.date | None = None,
    match: str | None = None,
    private: Sequence[str] = (),
) -> TestReport:
    """Run the test blocks of `rules` (those whose title contains `match`, if given).

    `schema` is the data's (e.g. `{"customers": df.schema}`), to type the given tables as
    the real data is typed; `as_of` is used by blocks that give none (default: today).
    A failure of a rule whose value carries a `private` column shows `***` for the
    expected and actual values, as explain does."""
    typed, diags = check_program(rules.ast, schema)
    errors = sorted([d for d in [*rules.parse_diagnostics, *diags] if d.is_error], key=sort_key)
    entity = rules.ast.entities[0].name if rules.ast.entities else "customer"
    if errors or typed is None:
        return TestReport((), tuple(errors), entity)
    ctx = context(rules.ast, schema, typed)
    hidden = frozenset(Privacy.of(typed, private).withheld(typed.outputs)) if private else None
    results = []
    for test in rules.ast.tests:
        if match is None or match.lower() in test.name.lower():
            result = run_test(rules, test, ctx, typed, schema, as_of)
            results.append(_masked(result, hidden, private) if hidden is not None else result)
    return TestReport(tuple(results), (), entity, tuple(private))


def _masked(result: TestResult, hidden: frozenset[str], private: Sequence[str]) -> TestResult:
    """`result` with the values of private rules and data errors' private values masked."""
    outcomes = tuple(
        replace(
            o,
            text=f"{o.expectation.name} {o.expectation.op} {MASK}",
            expected=MASK,
            actual=MASK,
            value=None,
        )
        if o.expectation.name in hidden and o.expected not in ("set", "not set")
        else o
        for o in result.outcomes
    )
    return replace(result, outcomes=outcomes, diagnostics=tuple(mask(result.diagnostics, private)))


def run_test(
    rules: RuleSet,
    test: ast.Test,
    ctx: TestContext,
    typed: ir.Program,
    schema: Schema | None,
    default_as_of: dt.date | None = None,
) -> TestResult:
    started = time.perf_counter()
    problems = [d for d in check_test(test, ctx) if d.is_error]
    if problems:
        return TestResult(test, "error", diagnostics=tuple(problems))
    as_of = test.as_of.value.value if test.as_of else (default_as_of or dt.date.today())
    assert isinstance(as_of, dt.date)
    try:
        tables = build_tables(test, typed, schema)
        out = rules.evaluate(tables, as_of=as_of)
    except TagEngineError as exc:
        note = error(
            "TE501",
            f'the rules cannot run on what test "{test.name}" gives',
            test.name_span,
            "the values given must be of the types the rules expect; see below",
        )
        return TestResult(test, "error", diagnostics=(note, *exc.diagnostics), as_of=as_of)
    key = typed.entity.key
    keys = out.get_column(key).to_list()
    rows = {k: i for i, k in enumerate(keys)}
    outcomes: list[Outcome] = []
    for clause in test.expects:
        subjects = [clause.subject.key.value] if clause.subject else keys
        for item in clause.items:
            column = out.get_column(item.name)
            for k in subjects:
                outcomes.append(_outcome(item, k, column[rows[k]]))
    status: Status = "passed" if all(o.passed for o in outcomes) else "failed"
    seconds = time.perf_counter() - started
    return TestResult(test, status, tuple(outcomes), (), seconds, as_of, tables)


def build_tables(
    test: ast.Test, program: ir.Program, schema: Schema | None
) -> dict[str, pl.DataFrame]:
    """The entity table and every related table, as the test gives them."""
    entity = program.entity
    used = _used_columns(program)
    out: dict[str, pl.DataFrame] = {}
    for table in [entity.table, *(r.name for r in program.related)]:
        rows = [row for g in test.givens if g.table == table for row in g.rows]
        known = schema.get(table) if schema is not None else None
        names = list(known) if known is not None else []
        for name in [*used.get(table, ()), *(c.column for r in rows for c in r.cells)]:
            if name not in names:
                names.append(name)
        columns = []
        for name in names:
            cells = [next((c for c in r.cells if c.column == name), None) for r in rows]
            dtype = known.get(name) if known is not None else None
            columns.append(_column(table, name, cells, dtype))
        out[table] = pl.DataFrame(columns) if columns else pl.DataFrame()
    return _align_keys(out, program)


def _used_columns(program: ir.Program) -> dict[str, list[str]]:
    """Per table, the columns the rules read (keys and time columns included)."""
    used: dict[str, list[str]] = {program.entity.table: list(program.columns)}
    for rel in program.related:
        used[rel.name] = [rel.key, *([rel.time] if rel.time else [])]
    for rule in program.rules:
        for node in ir.walk(rule.expr):
            if isinstance(node, ir.RelatedColumn) and node.name not in used[node.table]:
                used[node.table].append(node.name)
    return used


def _column(
    table: str, name: str, cells: Sequence[ast.Cell | None], dtype: pl.DataType | None
) -> pl.Series:
    values = [c.value.value if c is not None and c.value is not None else None for c in cells]
    if dtype is None or dtype == pl.Null:
        return pl.Series(name, _plain(values), dtype=_inferred(values))
    target = dtype() if isinstance(dtype, type) else dtype
    try:
        return _typed(name, values, target)
    except (pl.exceptions.PolarsError, OverflowError, TypeError, ValueError):
        culprit = next(
            (c for c, v in zip(cells, values, strict=True) if not _fits(v, target)),
            next(c for c in cells if c is not None),
        )
        assert culprit is not None and culprit.value is not None
        raise TagEngineError(
            error(
                "TE201",
                f"`{culprit.value.text}` does not fit `{table}.{name}` ({target})",
                culprit.value.span,
                "give a value the column can hold",
            )
        ) from None


def _fits(value: object, dtype: pl.DataType) -> bool:
    try:
        _typed("x", [value], dtype)
    except (pl.exceptions.PolarsError, OverflowError, TypeError, ValueError):
        return False
    return True


def _typed(name: str, values: list[object], dtype: pl.DataType) -> pl.Series:
    """`values` (test literals) as a Series of exactly `dtype`."""
    if dtype.is_float():
        values = [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
    elif isinstance(dtype, pl.Decimal):
        values = [None if v is None else Decimal(v) for v in values]  # type: ignore[arg-type]
    elif isinstance(dtype, pl.Datetime):
        stamps = [_midnight(v) for v in values]
        naive = pl.Series(name, stamps, dtype=pl.Datetime(dtype.time_unit or "us"))
        return naive.dt.replace_time_zone(dtype.time_zone) if dtype.time_zone else naive
    if isinstance(dtype, pl.Enum | pl.Categorical):
        return pl.Series(name, values, dtype=pl.String).cast(dtype, strict=True)
    return pl.Series(name, values, dtype=dtype, strict=True)


def _midnight(v: object) -> object:
    return dt.datetime.combine(v, dt.time()) if type(v) is dt.date else v


def _inferred(values: list[object]) -> pl.DataType:
    """The dtype of a column known only from the values a test writes."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pl.Null()
    if kinds == {bool}:
        return pl.Boolean()
    if kinds == {int}:
        return pl.Int64()
    if kinds <= {int, Decimal}:
        return pl.Float64()
    if kinds == {dt.date}:
        return pl.Date()
    if kinds <= {dt.date, dt.datetime}:
        return pl.Datetime("us")
    return pl.String()  # the checker has reported any other mix (TE201)


def _plain(values: list[object]) -> list[object]:
    kinds = {type(v) for v in values if v is not None}
    if Decimal in kinds:
        return [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
    if dt.datetime in kinds:
        return [_midnight(v) for v in values]
    return values


def _align_keys(tables: dict[str, pl.DataFrame], program: ir.Program) -> dict[str, pl.DataFrame]:
    """Related keys and time columns the test leaves empty take the entity key's type and
    the date type, so that joins and windows work on a table the test gives no rows of."""
    entity = program.entity
    key_type = tables[entity.table].schema.get(entity.key, pl.Int64())
    if key_type == pl.Null:
        key_type = pl.Int64()
    for rel in program.related:
        frame = tables[rel.name]
        fixes = []
        if frame.schema.get(rel.key) == pl.Null:
            fixes.append(pl.col(rel.key).cast(key_type))
        if rel.time and frame.schema.get(rel.time) == pl.Null:
            fixes.append(pl.col(rel.time).cast(pl.Date))
        if fixes:
            tables[rel.name] = frame.with_columns(fixes)
    return tables


# ---- comparing ------------------------------------------------------------------------


def _outcome(item: ast.Expectation, key: object, value: object) -> Outcome:
    if isinstance(value, float) and math.isnan(value):
        value = None
    text = expectation_text(item)
    if item.op in ("set", "not set"):
        want = item.op == "set"
        actual = "missing" if value is None else ("set" if value else "not set")
        passed = value is True if want else value is not True
        return Outcome(item, text, key, item.op, actual, value, passed)
    expected = "missing" if item.value is None else shown(item.value.value)
    if item.op != "==":
        expected = f"{item.op} {expected}"
    if item.value is None:
        passed = (value is None) == (item.op == "==")
    elif value is None:
        passed = False  # unknown, as any comparison with a missing value
    else:
        order = _order(value, item.value.value)
        passed = {
            "==": order == 0,
            "!=": order != 0,
            "<": order < 0,
            "<=": order <= 0,
            ">": order > 0,
            ">=": order >= 0,
        }[item.op]
    return Outcome(item, text, key, expected, shown(value), value, passed)


def _order(actual: object, expected: object) -> int:
    """-1, 0 or 1 as `actual` is below, equal to or above `expected`. Floats equal within
    a relative 1e-9 (aggregates of floats are not exact: docs/semantics.md#determinism)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        a, b = int(bool(actual)), int(bool(expected))
    elif isinstance(actual, int | float | Decimal) and isinstance(expected, int | Decimal):
        if isinstance(actual, float) and math.isclose(
            actual, float(expected), rel_tol=1e-9, abs_tol=1e-12
        ):
            return 0
        a, b = Decimal(repr(actual)) if isinstance(actual, float) else actual, expected  # type: ignore[assignment]
    elif isinstance(actual, dt.date) and isinstance(expected, dt.date):
        a, b = _midnight(actual), _midnight(expected)  # type: ignore[assignment]
    else:
        a, b = str(actual), str(expected)  # type: ignore[assignment]
    return (a > b) - (a < b)  # type: ignore[operator]


def expectation_text(item: ast.Expectation) -> str:
    """The expectation as written (canonical spacing)."""
    if item.op == "set":
        return item.name
    if item.op == "not set":
        return f"not {item.name}"
    value = "missing" if item.value is None else item.value.text
    return f"{item.name} {item.op} {value}"


def shown(value: object) -> str:
    """A value in the words of the rule language."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quoted(value)  # `"a\x07b"`: hidden characters escaped (safe_text.py)
    if isinstance(value, float):
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---- rendering ------------------------------------------------------------------------


def explanation(
    rules: RuleSet, result: TestResult, failure: Outcome, private: Sequence[str] = ()
) -> RenderableType | None:
    """Why the rule of a failing expectation came out as it did, for that one entity: its
    explain tree (`tagengine.explain`), indented under the failure."""
    from rich.padding import Padding

    from tagengine.diagnostics import TagEngineError
    from tagengine.explain import render

    try:
        report = rules.explain(
            result.tables,
            id=failure.key,
            tags=[failure.expectation.name],
            as_of=result.as_of,
            private=private,
        )
    except TagEngineError:
        return None  # the failure itself already says what is wrong
    assert report.view == "customer"
    return Padding(Group(*(render.rule(r) for r in report.rules)), (0, 0, 0, 8), expand=False)


def render_human(
    report: TestReport, sources: Mapping[str, str], rules: RuleSet | None = None
) -> RenderableType:
    """PASS / FAIL / ERROR per test; for a failure, each failing expectation with its place,
    the entity, expected and actual; then a summary line."""
    parts: list[RenderableType] = []
    if report.diagnostics:
        parts.append(Text(render_human_diagnostics(report.diagnostics, sources)))
        n = len(report.diagnostics)
        parts.append(Text(f"{plural(n, 'error')} in the rules; no test ran", "red"))
        return Group(*parts)
    for result in report.results:
        style, word = {
            "passed": ("green", "PASS "),
            "failed": ("red", "FAIL "),
            "error": ("red", "ERROR"),
        }[result.status]
        line = Text()
        line.append(word, style=f"bold {style}")
        line.append(f" {visible(result.name)}")
        line.append(f"  {visible(result.span.file)}:{result.span.line}", style="dim")
        parts.append(line)
        if result.diagnostics:
            text = render_human_diagnostics(result.diagnostics, sources)
            parts.append(Text("\n".join("      " + ln if ln else "" for ln in text.split("\n"))))
        for failure in result.failures:
            parts.append(_failure(report, failure))
            extra = explanation(rules, result, failure, report.private) if rules else None
            if extra is not None:
                parts.append(extra)
    parts.append(summary(report))
    return Group(*parts)


def _failure(report: TestReport, o: Outcome) -> Text:
    s = o.span
    text = Text("      ")
    text.append(f"{visible(s.file)}:{s.line}:{s.column}", style="dim")
    text.append(f"  expect {visible(o.text)}\n", style="bold")
    text.append(f"        {report.entity} {visible(str(o.key))}: expected ")
    text.append(visible(o.expected), style="green")
    text.append(", got ")
    text.append(visible(o.actual), style="red")
    return text


def render_human_diagnostics(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str]) -> str:
    return render_diagnostics(diagnostics, sources).rstrip("\n")


def summary(report: TestReport) -> Text:
    n = len(report.results)
    passed, failed, errors = (report.count(s) for s in ("passed", "failed", "error"))
    words = f"{plural(n, 'test')}: {passed:,} passed, {failed:,} failed, {plural(errors, 'error')}"
    if n == 0:
        words = "no test blocks found"
    return Text(words, style="green" if report.ok else "red")


def to_dict(report: TestReport) -> dict[str, object]:
    """The report as JSON-ready data (what `tagengine test --format json` prints)."""
    return {
        "ok": report.ok,
        "summary": {
            "tests": len(report.results),
            "passed": report.count("passed"),
            "failed": report.count("failed"),
            "errors": report.count("error"),
        },
        "diagnostics": [d.to_dict() for d in report.diagnostics],
        "tests": [
            {
                "name": r.name,
                "status": r.status,
                "file": r.span.file,
                "line": r.span.line,
                "as_of": r.as_of.isoformat() if r.as_of else None,
                "seconds": round(r.seconds, 6),
                "diagnostics": [d.to_dict() for d in r.diagnostics],
                "expectations": [
                    {
                        "expect": o.text,
                        "key": o.key if isinstance(o.key, int | str) else str(o.key),
                        "expected": o.expected,
                        "actual": o.actual,
                        "passed": o.passed,
                        "file": o.span.file,
                        "line": o.span.line,
                        "column": o.span.column,
                    }
                    for o in r.outcomes
                ],
            }
            for r in report.results
        ],
    }


def render_json(report: TestReport) -> str:
    return json_text(json.dumps(to_dict(report), ensure_ascii=False, indent=2))


def junit_xml(report: TestReport, sources: Mapping[str, str] | None = None) -> str:
    """JUnit XML: one <testsuite> per rule file, one <testcase> per test block; a failed
    block has one <failure> listing its failing expectations, a block that could not run
    an <error>. Errors in the rules themselves give one failing testcase `rules`.

    Always well-formed XML 1.0: characters XML cannot hold (most control characters,
    U+FFFE, lone surrogates), and the others a terminal would act on, are written as
    escapes (`\x01`, `\u202e`: safe_text.py) in every name, message and text."""
    root = ET.Element("testsuites", name="tagengine")
    by_file: dict[str, list[TestResult]] = {}
    for r in report.results:
        by_file.setdefault(r.span.file, []).append(r)
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    if report.diagnostics:
        suite = ET.SubElement(root, "testsuite", name="rules")
        case = ET.SubElement(suite, "testcase", classname="rules", name="rules check")
        text = render_human_diagnostics(report.diagnostics, sources or {})
        err = ET.SubElement(case, "error", message="the rules have errors", type="diagnostics")
        err.text = text
        _totals(suite, 1, 0, 1, 0.0)
        totals.update(tests=1, errors=1)
    for file, results in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=file)
        failures = errors = 0
        seconds = 0.0
        for r in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=file,
                name=r.name,
                file=file,
                line=str(r.span.line),
                time=f"{r.seconds:.6f}",
            )
            seconds += r.seconds
            if r.status == "failed":
                failures += 1
                first = r.failures[0]
                node = ET.SubElement(
                    case,
                    "failure",
                    message=f"expect {first.text}: expected {first.expected}, got {first.actual}",
                    type="expectation",
                )
                node.text = "\n".join(
                    f"{o.span.file}:{o.span.line}:{o.span.column}: expect {o.text}: "
                    f"{report.entity} {o.key}: expected {o.expected}, got {o.actual}"
                    for o in r.failures
                )
            elif r.status == "error":
                errors += 1
                node = ET.SubElement(
                    case,
                    "error",
                    message=r.diagnostics[0].message if r.diagnostics else "error",
                    type=r.diagnostics[0].code if r.diagnostics else "error",
                )
                node.text = render_human_diagnostics(r.diagnostics, sources or {})
        _totals(suite, len(results), failures, errors, seconds)
        totals["tests"] += len(results)
        totals["failures"] += failures
        totals["errors"] += errors
        totals["time"] += seconds
    _totals(
        root,
        int(totals["tests"]),
        int(totals["failures"]),
        int(totals["errors"]),
        float(totals["time"]),
    )
    for node in root.iter():
        node.attrib.update((k, xml_text(v)) for k, v in node.attrib.items())
        if node.text:
            node.text = xml_text(node.text)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _totals(node: ET.Element, tests: int, failures: int, errors: int, seconds: float) -> None:
    node.set("tests", str(tests))
    node.set("failures", str(failures))
    node.set("errors", str(errors))
    node.set("skipped", "0")
    node.set("time", f"{seconds:.6f}")
