"""Every example in docs/language.md runs, and gives the results the page says it gives.

The page holds fenced blocks of four kinds:

- ```tags        a whole rule file; it must check without errors, and its in-file
                 `test` blocks, if any, must pass.
- ```expect      right after a ```tags block: input data and expected results:

      data: customer_id=1,2,3; age=30,null,12      (columns of `customers`, `; ` between)
      orders: customer_id=1,1; amount=5,7          (optional: any other table, by name)
      as_of: 2024-12-31                            (optional)
      adult: true,false,false                      (one line per rule checked, key order)

  Table lines (`data:` and `NAME: column=...; ...`) come before the first result line;
  a result line whose first value holds a `=` must quote it.

  Values: `null`; `true`/`false`; integers; decimals; `NaN` (a float NaN, for input);
  dates `YYYY-MM-DD`; date-times `YYYY-MM-DDTHH:MM[:SS]`; anything else is text, and
  "double quotes" make text of anything (spaces at the ends, commas, `1`).
- ```tags-error  a rule file with a mistake, checked against the sample tables of the
                 page (`customers` after `<!-- sample-table -->`, any other table
                 after `<!-- sample-table NAME -->`) ...
- ```error       ... right after it: the diagnostic code `check()` must report.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import tagengine

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
TABLE = "customers"

# ---- reading the page --------------------------------------------------------------


@dataclass
class Block:
    info: str  # the fence's info string: tags, expect, tags-error, error, text, ...
    line: int  # 1-based line of the opening fence
    body: str


@dataclass
class Example:
    kind: str  # "tags" or "tags-error"
    line: int
    source: str
    follow: Block | None  # the `expect` / `error` block right after it, if any


_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w-]*)")


def read_blocks(text: str) -> list[tuple[Block, bool]]:
    """Every fenced block, with whether it starts right after the previous one
    (only blank lines between the closing fence and the next opening fence)."""
    blocks: list[tuple[Block, bool]] = []
    lines = text.splitlines()
    i, adjacent = 0, False
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                adjacent = False
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"line {start + 1}: the block is never closed"
        blocks.append((Block(info, start + 1, "\n".join(body) + "\n"), adjacent))
        adjacent = True
        i += 1
    return blocks


def read_examples(text: str) -> list[Example]:
    blocks = read_blocks(text)
    examples: list[Example] = []
    for n, (block, adjacent) in enumerate(blocks):
        if block.info in ("expect", "error"):
            prev = blocks[n - 1][0] if n else None
            wanted = "tags" if block.info == "expect" else "tags-error"
            assert adjacent and prev is not None and prev.info == wanted, (
                f"line {block.line}: an `{block.info}` block must follow a `{wanted}` block"
            )
        if block.info not in ("tags", "tags-error"):
            continue
        nxt = blocks[n + 1] if n + 1 < len(blocks) else None
        follow = nxt[0] if nxt is not None and nxt[1] else None
        if follow is not None and follow.info not in ("expect", "error"):
            follow = None
        examples.append(Example(block.info, block.line, block.body, follow))
    return examples


TEXT = DOC.read_text("utf-8")
EXAMPLES = read_examples(TEXT)
RUNNABLE = [e for e in EXAMPLES if e.kind == "tags"]
MISTAKES = [e for e in EXAMPLES if e.kind == "tags-error"]

# ---- values and data ---------------------------------------------------------------

_INT = re.compile(r"-?\d+")
_DEC = re.compile(r"-?\d+\.\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class Text:
    """A value written in double quotes: always text."""

    value: str


def split_values(text: str) -> list[str]:
    """`a, "b, c", x` -> [`a`, `"b, c"`, `x`]: commas split, except inside a value that
    starts with a double quote; spaces around a value are dropped."""
    items: list[str] = []
    current, quoted = "", False
    for ch in text:
        if quoted:
            current += ch
            quoted = ch != '"'
        elif ch == '"' and not current.strip():
            current, quoted = '"', True
        elif ch == ",":
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    return items


def parse_value(raw: str) -> object:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return Text(raw[1:-1])
    if raw == "null":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "NaN":
        return math.nan
    if _INT.fullmatch(raw):
        return int(raw)
    if _DEC.fullmatch(raw):
        return float(raw)
    if _DATE.fullmatch(raw):
        return dt.date.fromisoformat(raw)
    if _DATETIME.fullmatch(raw):
        return dt.datetime.fromisoformat(raw)
    return raw


def column(name: str, values: list[object]) -> pl.Series:
    """A Series whose dtype follows the values written (an all-null column is text)."""
    known = [v for v in values if v is not None]
    kinds = {
        "text" if isinstance(v, Text | str) else type(v).__name__ for v in known
    }  # bool, int, float, date, datetime, text
    plain = [v.value if isinstance(v, Text) else v for v in values]
    if not kinds or kinds == {"text"}:
        return pl.Series(name, plain, dtype=pl.String)
    if kinds == {"bool"}:
        return pl.Series(name, plain, dtype=pl.Boolean)
    if kinds == {"int"}:
        return pl.Series(name, plain, dtype=pl.Int64)
    if kinds <= {"int", "float"}:
        return pl.Series(name, [None if v is None else float(v) for v in plain], pl.Float64)
    if kinds == {"date"}:
        return pl.Series(name, plain, dtype=pl.Date)
    if kinds <= {"date", "datetime"}:
        stamps = [dt.datetime.combine(v, dt.time()) if type(v) is dt.date else v for v in plain]
        return pl.Series(name, stamps, dtype=pl.Datetime("us"))
    raise AssertionError(f"column `{name}` mixes {sorted(kinds)}; quote text values")


@dataclass
class Expectation:
    tables: dict[str, pl.DataFrame]  # the `customers` table (`data:`) and any other
    as_of: dt.date | None
    results: dict[str, list[object]]

    @property
    def data(self) -> pl.DataFrame:
        return self.tables[TABLE]


def read_table(rest: str) -> pl.DataFrame:
    cols = []
    for part in rest.split("; "):
        name, eq, values = part.partition("=")
        assert eq, f"`{part}` is not `column=v1,v2,...`"
        cols.append(column(name.strip(), [parse_value(v) for v in split_values(values)]))
    return pl.DataFrame(cols)


def _is_table_line(key: str, rest: str) -> bool:
    """`data: ...` always; `NAME: column=...` when the first value holds a `=`."""
    if key == "data":
        return True
    first = split_values(rest.split("; ")[0])[0]
    return "=" in first and not first.startswith('"')


def read_expect(body: str) -> Expectation:
    tables: dict[str, pl.DataFrame] = {}
    as_of = None
    results: dict[str, list[object]] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        assert sep, f"`{line}` is not `name: values`"
        key, rest = key.strip(), rest.strip()
        if key == "as_of" and as_of is None:
            as_of = dt.date.fromisoformat(rest)
        elif not results and _is_table_line(key, rest):
            name = TABLE if key == "data" else key
            assert name not in tables, f"table `{key}` is given twice"
            tables[name] = read_table(rest)
        else:
            assert key not in results, f"`{key}` is listed twice"
            results[key] = [parse_value(v) for v in split_values(rest)]
    assert TABLE in tables, "an expect block needs a `data:` line"
    assert results, "an expect block needs at least one `rule: values` line"
    return Expectation(tables, as_of, results)


def same(actual: object, expected: object) -> bool:
    if isinstance(expected, Text):
        return actual == expected.value
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(actual, Decimal):
        actual = float(actual)
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if isinstance(expected, float) and math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        return actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if isinstance(expected, dt.datetime) or isinstance(actual, dt.datetime):
        return type(expected) is type(actual) and expected == actual
    return expected == actual


# ---- the sample table the mistakes are checked against -----------------------------

_TYPE_WORDS = {
    "whole number": pl.Int64,
    "number": pl.Float64,
    "text": pl.String,
    "date": pl.Date,
    "date and time": pl.Datetime("us"),
    "true/false": pl.Boolean,
}


_SAMPLE = re.compile(r"<!-- sample-table(?: (\w+))? -->")


def sample_schemas(text: str) -> dict[str, dict[str, pl.DataType]]:
    """The tables after `<!-- sample-table -->` (customers) and `<!-- sample-table NAME -->`
    (any other table): rows `| `column` | type | ... |`."""
    schemas: dict[str, dict[str, pl.DataType]] = {}
    for marker in _SAMPLE.finditer(text):
        name = marker.group(1) or TABLE
        assert name not in schemas, f"two sample tables for `{name}`"
        schema: dict[str, pl.DataType] = {}
        for line in text[marker.end() :].lstrip("\n").splitlines():
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip("|").split("|")]
            m = re.fullmatch(r"`([^`]+)`", cells[0])
            if m and cells[1] in _TYPE_WORDS:
                schema[m.group(1)] = _TYPE_WORDS[cells[1]]
        assert schema, f"the sample table for `{name}` lists no columns"
        schemas[name] = schema
    assert TABLE in schemas, "the page needs a sample table marked `<!-- sample-table -->`"
    assert "customer_id" in schemas[TABLE], "the sample table lists no `customer_id`"
    return schemas


# ---- the tests -----------------------------------------------------------------------


def _id(e: Example) -> str:
    return f"line{e.line}"


def errors(rules: tagengine.RuleSet, schemas: dict | None) -> list[str]:
    diags = rules.check(schemas)
    return [
        f"{d.code} {d.message} (line {d.span.line if d.span else '?'})" for d in diags if d.is_error
    ]


def test_the_page_has_examples():
    assert len(RUNNABLE) >= 20, f"found only {len(RUNNABLE)} ```tags blocks in {DOC}"
    assert len(MISTAKES) >= 6, f"found only {len(MISTAKES)} ```tags-error blocks in {DOC}"
    assert sum(e.follow is not None for e in RUNNABLE) >= 15


@pytest.mark.parametrize("example", RUNNABLE, ids=_id)
def test_example_runs(example: Example):
    rules = tagengine.load(example.source)
    if example.follow is None:
        assert errors(rules, None) == []
        return
    want = read_expect(example.follow.body)
    assert errors(rules, {name: dict(df.schema) for name, df in want.tables.items()}) == []
    out = rules.evaluate(want.tables, as_of=want.as_of)
    assert out.height == want.data.height
    for name, values in want.results.items():
        assert name in out.columns, f"`{name}` is not in the output: {out.columns}"
        got = out.get_column(name).to_list()
        assert len(got) == len(values), f"{name}: {len(values)} values listed, {len(got)} rows"
        bad = [
            (i, g, w) for i, (g, w) in enumerate(zip(got, values, strict=True)) if not same(g, w)
        ]
        assert not bad, f"{name}: got {got}, expected {values}"


@pytest.mark.parametrize("example", MISTAKES, ids=_id)
def test_mistake_is_reported(example: Example):
    assert example.follow is not None and example.follow.info == "error", (
        "a ```tags-error block must be followed by an ```error block"
    )
    lines = [ln.strip() for ln in example.follow.body.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.fullmatch(r"TE\d{3}", lines[0]), example.follow.body
    rules = tagengine.load(example.source)
    found = [d.code for d in rules.check(sample_schemas(TEXT))]
    assert lines[0] in found, f"expected {lines[0]}, check() said {found}"


WITH_TESTS = [e for e in RUNNABLE if re.search(r"^test ", e.source, re.MULTILINE)]


@pytest.mark.parametrize("example", WITH_TESTS, ids=_id)
def test_in_file_tests_of_examples_pass(example: Example):
    """A ```tags block holding `test` blocks: `tagengine test` passes on it."""
    from tagengine.testing import run_tests

    report = run_tests(tagengine.load(example.source))
    assert report.results and not report.diagnostics, report.diagnostics
    failures = [(r.name, r.status, r.diagnostics, r.failures) for r in report.results]
    assert report.ok, failures


# ---- the reader itself ----------------------------------------------------------------


def test_reader_pairs_blocks_and_parses_values():
    page = (
        "text\n```tags\nentity c table customers key id\n```\n```expect\ndata: id=1\n"
        "id: 1\n```\n\n```tags-error\ntag\n```\nwords\n```text\nx\n```\n"
    )
    (ok, bad) = read_examples(page)
    assert (ok.kind, ok.line, ok.follow and ok.follow.info) == ("tags", 2, "expect")
    assert (bad.kind, bad.follow) == ("tags-error", None)
    with pytest.raises(AssertionError, match="must follow"):
        read_examples("```tags\nx\n```\nwords\n```expect\ndata: id=1\n```\n")
    assert split_values('a, "b, c" ,"",x y') == ["a", '"b, c"', '""', "x y"]
    assert [parse_value(v) for v in ["null", "true", "-3", "1.50", "2024-12-31", "北京"]] == [
        None,
        True,
        -3,
        1.5,
        dt.date(2024, 12, 31),
        "北京",
    ]
    assert parse_value('"1"') == Text("1")
    assert column("x", [None, None]).dtype == pl.String
    assert column("x", [1, 2.5]).dtype == pl.Float64
    assert same(2.0, 2) and not same(1, True) and not same(None, False)


def test_reader_reads_other_tables():
    want = read_expect(
        "data: customer_id=1,2\nevents: customer_id=2,2; day=2024-01-01,2024-01-02\n"
        "as_of: 2024-12-31\nn: 0,2\nseg: a=b,c\n"
    )
    assert sorted(want.tables) == [TABLE, "events"]
    assert want.tables["events"].schema == {"customer_id": pl.Int64, "day": pl.Date}
    assert want.results == {"n": [0, 2], "seg": ["a=b", "c"]}
    with pytest.raises(AssertionError, match="given twice"):
        read_expect("data: customer_id=1\ndata: customer_id=2\nn: 1\n")
    page = (
        "<!-- sample-table -->\n| `customer_id` | whole number |\n\n"
        "<!-- sample-table orders -->\n| `amount` | number |\n| `day` | date |\n"
    )
    assert sample_schemas(page) == {
        TABLE: {"customer_id": pl.Int64},
        "orders": {"amount": pl.Float64, "day": pl.Date},
    }
