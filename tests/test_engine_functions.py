"""Every function and operator the SQL backend lends from an engine gives tagengine's own
answer, on every engine: adversarial values through Polars, DuckDB and Spark, each
engine's answer compared with a plain-Python reference of the documented definition
(docs/language.md; the table in docs/scale.md, "One answer per function").

Values are compared exactly: a float by its bits (so -0.0 is not 0.0), NaN is never an
answer (it is missing). Each domain (numbers, aggregates, rankings, dates, text, patterns)
is one table and one rule set, so Spark runs one query per domain, in one session.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

import polars as pl
import pytest

import tagengine
from tagengine.backends import casemap
from tagengine.diagnostics import TagEngineError

AS_OF = dt.date(2024, 12, 31)
HEADER = "entity customer table customers key customer_id\n"
INF, NAN = float("inf"), float("nan")


@dataclass
class Domain:
    """One table of customers (and orders), rules, and per rule the reference: a function
    of the customer's row (a dict; `orders`: the customer's order rows)."""

    columns: dict[str, list]
    rules: dict[str, tuple[str, Callable[[dict], object]]]
    orders: dict[str, list] | None = None
    related: str = ""
    # (rule, engine) -> reference for that engine alone: a documented exception
    exceptions: dict[tuple[str, str], Callable[[dict], object]] = field(default_factory=dict)

    def ruleset(self) -> tagengine.RuleSet:
        body = "".join(f"feature {name} = {text}\n" for name, (text, _) in self.rules.items())
        return tagengine.load(HEADER + self.related + body)

    def tables(self) -> dict[str, pl.DataFrame]:
        tables = {"customers": pl.DataFrame(self.columns, strict=False)}
        if self.orders is not None:
            tables["orders"] = pl.DataFrame(self.orders, strict=False)
        return tables

    def rows(self) -> list[dict]:
        rows = self.tables()["customers"].to_dicts()
        if self.orders is not None:
            orders = self.tables()["orders"].to_dicts()
            for row in rows:
                row["orders"] = [o for o in orders if o["customer_id"] == row["customer_id"]]
        return rows


def same(x: object, y: object) -> bool:
    """Equal, and of one type; floats bit for bit (-0.0 is not 0.0; NaN is never right)."""
    if isinstance(x, float) and isinstance(y, float):
        return struct.pack("<d", x) == struct.pack("<d", y) and not math.isnan(x)
    return type(x) is type(y) and x == y


def check(domain: Domain, engine: str, out: pl.DataFrame | None = None) -> None:
    if out is None:
        out = domain.ruleset().evaluate(domain.tables(), as_of=AS_OF, engine=engine)
    bad = []
    for i, row in enumerate(domain.rows()):
        for name, (text, reference) in domain.rules.items():
            reference = domain.exceptions.get((name, engine), reference)
            want, got = reference(row), out[name][i]
            if not same(want, got):
                inputs = {k: v for k, v in row.items() if k != "orders"}
                bad.append(f"{name} = {text} at {inputs}: want {want!r}, {engine} {got!r}")
    assert not bad, "\n".join(bad[:20]) + f"\n({len(bad)} differences)"


# ---- the plain-Python reference --------------------------------------------------------------


def number(v: float | None) -> float | None:
    """A float result: NaN is missing (docs/semantics.md#empty-aggregates-and-division)."""
    return None if v is None or math.isnan(v) else v


def op(f: Callable[..., float]) -> Callable[..., float | None]:
    """`f` of the arguments, missing if one is; a NaN result is missing."""
    return lambda *a: None if any(v is None for v in a) else number(f(*a))


def divide(a: float, b: float) -> float:
    """True division of the arguments as doubles; by zero: missing."""
    return NAN if b == 0 else float(a) / float(b)


def ieee(f: Callable[[float], int]) -> Callable[[float], float]:
    """math.floor / math.ceil as IEEE 754's: infinities stay, a zero keeps x's sign."""

    def whole(x: float) -> float:
        if math.isinf(x) or math.isnan(x):
            return x
        r = float(f(x))
        return math.copysign(0.0, x) if r == 0 else r

    return whole


def extreme(pick: Callable) -> Callable[..., float | None]:
    """least / greatest: the smallest (largest) of the known arguments; of equal ones
    (0.0 and -0.0) the first."""

    def f(*args: float | None) -> float | None:
        known = [a for a in args if a is not None]
        if not known:
            return None
        best = known[0]
        for a in known[1:]:
            if pick(a, best):
                best = a
        return best

    return f


least = extreme(lambda a, b: a < b)
greatest = extreme(lambda a, b: a > b)


def shift_months(d: dt.date | None, months: int) -> dt.date | None:
    """The same day `months` later (earlier), or the month's last day."""
    if d is None:
        return None
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(d.day, last))


# ---- numbers -----------------------------------------------------------------------------------

VALUES = [0.0, -0.0, 1.0, -1.0, 2.5, -0.5, 3.0, 1e308, -1e308, 5e-324, INF, -INF, None]
PAIRS = list(product(VALUES, VALUES))

NUMBERS = Domain(
    columns={
        "customer_id": list(range(len(PAIRS))),
        "x": [a for a, _ in PAIRS],
        "y": [b for _, b in PAIRS],
    },
    rules={
        "add": ("x + y", lambda r: op(lambda a, b: a + b)(r["x"], r["y"])),
        "sub": ("x - y", lambda r: op(lambda a, b: a - b)(r["x"], r["y"])),
        "mul": ("x * y", lambda r: op(lambda a, b: a * b)(r["x"], r["y"])),
        "div": ("x / y", lambda r: op(divide)(r["x"], r["y"])),
        "chain": (
            "x * y - x / y + y - x",
            lambda r: op(lambda a, b: a * b - divide(a, b) + b - a)(r["x"], r["y"]),
        ),
        "neg": ("-(x - y)", lambda r: op(lambda a, b: -(a - b))(r["x"], r["y"])),
        "abs": ("abs(x - y)", lambda r: op(lambda a, b: abs(a - b))(r["x"], r["y"])),
        "floor": ("floor(x)", lambda r: op(ieee(math.floor))(r["x"])),
        "ceil": ("ceil(x)", lambda r: op(ieee(math.ceil))(r["x"])),
        "floor_diff": (
            "floor(x - y)",
            lambda r: op(lambda a, b: ieee(math.floor)(a - b))(r["x"], r["y"]),
        ),
        "ceil_div": (
            "ceil(x / y)",
            lambda r: op(lambda a, b: ieee(math.ceil)(divide(a, b)))(r["x"], r["y"]),
        ),
        "least": ("least(x, y)", lambda r: least(r["x"], r["y"])),
        "greatest": ("greatest(x, y)", lambda r: greatest(r["x"], r["y"])),
        "least_nan": (
            "least(x - y, y)",
            lambda r: least(op(lambda a, b: a - b)(r["x"], r["y"]), r["y"]),
        ),
        "greatest_nan": (
            "greatest(x * y, 0.5)",
            lambda r: greatest(op(lambda a, b: a * b)(r["x"], r["y"]), 0.5),
        ),
        "gone": ("(x - y) is missing", lambda r: op(lambda a, b: a - b)(r["x"], r["y"]) is None),
    },
)

CONSTANT_DIVISOR = Domain(
    columns={"customer_id": [1, 2, 3], "x": [2.5, 1.0, 7.0]},
    rules={
        "third": ("x / 3.0", lambda r: op(divide)(r["x"], 3.0)),
        "tenth": ("x / 10", lambda r: op(divide)(r["x"], 10)),
    },
)

WHOLE = [7, -7, 2, -2, 0, 3, 2**53 + 1, -(2**62), None]
WHOLE_PAIRS = list(product(WHOLE, WHOLE))
INTEGERS = Domain(
    columns={
        "customer_id": list(range(len(WHOLE_PAIRS))),
        "i": [a for a, _ in WHOLE_PAIRS],
        "j": [b for _, b in WHOLE_PAIRS],
    },
    rules={
        "div": ("i / j", lambda r: op(divide)(r["i"], r["j"])),
        "floor_div": (
            "floor(i / j)",
            lambda r: op(lambda a, b: ieee(math.floor)(divide(a, b)))(r["i"], r["j"]),
        ),
        "ceil_div": (
            "ceil(i / j)",
            lambda r: op(lambda a, b: ieee(math.ceil)(divide(a, b)))(r["i"], r["j"]),
        ),
        "floor": ("floor(i)", lambda r: op(lambda a: float(a))(r["i"])),
        "abs": ("abs(j)", lambda r: op(abs)(r["j"])),
        "least": ("least(i, j)", lambda r: least(r["i"], r["j"])),
        "half": ("i / 2", lambda r: op(divide)(r["i"], 2)),
    },
)


# ---- aggregates ------------------------------------------------------------------------------

GROUPS: dict[int, list[float | None]] = {
    1: [INF, -INF],
    2: [INF, INF],
    3: [],
    4: [None, None],
    5: [NAN],
    6: [1.0, -0.0],
    7: [-INF, 1.0],
    8: [NAN, 2.0],
    9: [-0.0],
}


def _known(r: dict) -> list[float]:
    return [v for v in (o["amount"] for o in r["orders"]) if v is not None and not math.isnan(v)]


def _fsum(values: list[float]) -> float:
    """The exact sum, rounded once; inf and -inf together: NaN."""
    if INF in values and -INF in values:
        return NAN
    return math.fsum(values)


def _sum(r: dict) -> float | None:
    known = _known(r)
    return number(_fsum(known)) if known else 0.0  # sum of no (known) values: 0


def _avg(r: dict) -> float | None:
    known = _known(r)
    return number(_fsum(known) / len(known)) if known else None


AGGREGATES = Domain(
    columns={"customer_id": list(GROUPS)},
    orders={
        "customer_id": [k for k, vs in GROUPS.items() for _ in vs],
        "amount": [v for vs in GROUPS.values() for v in vs],
        "n": [1 if v is not None else None for vs in GROUPS.values() for v in vs],
    },
    related="related orders key customer_id\n",
    rules={
        "total": ("sum(orders.amount)", _sum),
        "mean": ("avg(orders.amount)", _avg),
        "low": ("min(orders.amount)", lambda r: min(_known(r), default=None)),
        "high": ("max(orders.amount)", lambda r: max(_known(r), default=None)),
        "known": ("count(orders.amount)", lambda r: len(_known(r))),
        "n_total": ("sum(orders.n)", lambda r: sum(o["n"] or 0 for o in r["orders"])),
        "double_total": (
            "sum(orders.amount * 2)",
            lambda r: number(2 * _sum(r)) if _sum(r) is not None else None,
        ),
        "spread": (
            "sum(orders.amount) - avg(orders.amount)",
            lambda r: op(lambda a, b: a - b)(_sum(r), _avg(r)),
        ),
    },
)

# min/max of 1.0 and -0.0, 0.0 and -0.0: the order the rows come in must not matter, so
# a group mixing zeros of both signs is kept out of min/max (docs/scale.md)
AGGREGATES.exceptions = {}


# ---- rankings -------------------------------------------------------------------------------

RANKED = [INF, -INF, 0.0, INF, 1.0, None, -INF, 1.0, 2.5]


def _rank(values: list, desc: bool = False) -> list[int | None]:
    known = [v for v in values if v is not None]
    return [
        None if v is None else 1 + sum((w > v) if desc else (w < v) for w in known) for v in values
    ]


def _percent_rank(values: list) -> list[float | None]:
    m = sum(v is not None for v in values)
    return [None if r is None else (r - 1) / max(m - 1, 1) for r in _rank(values)]


def _ntile(values: list, n: int) -> list[int | None]:
    """SQL NTILE over (value, position); the first m % n buckets one larger."""
    order = sorted((v, i) for i, v in enumerate(values) if v is not None)
    m = len(order)
    size, large = divmod(m, n)
    out: list[int | None] = [None] * len(values)
    for pos, (_, i) in enumerate(order):
        out[i] = (
            pos // (size + 1) + 1 if pos < large * (size + 1) else (pos - large) // max(size, 1) + 1
        )
    return out


def _ranking(f: Callable[[list], list], column: str = "x") -> Callable[[dict], object]:
    def reference(r: dict) -> object:
        return f(RANKINGS.columns[column])[r["customer_id"]]

    return reference


RANKINGS = Domain(
    columns={"customer_id": list(range(len(RANKED))), "x": RANKED, "one": [None] * 8 + [4.0]},
    rules={
        "r": ("rank(x)", _ranking(_rank)),
        "r_desc": ("rank(x, descending)", _ranking(lambda v: _rank(v, desc=True))),
        "pr": ("percent_rank(x)", _ranking(_percent_rank)),
        "pr_one": ("percent_rank(one)", _ranking(_percent_rank, "one")),
        "nt": ("ntile(x, 3)", _ranking(lambda v: _ntile(v, 3))),
        "nt_many": ("ntile(x, 20)", _ranking(lambda v: _ntile(v, 20))),
        "nt_diff": (
            "ntile(x - x, 2)",
            _ranking(lambda v: _ntile([op(lambda a: a - a)(a) for a in v], 2)),
        ),
    },
)


# ---- dates ---------------------------------------------------------------------------------

DAYS = [
    dt.date(2024, 1, 31),
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 31),
    dt.date(2023, 2, 28),
    dt.date(2024, 12, 31),
    dt.date(2025, 3, 30),
    dt.date(2000, 2, 29),
    dt.date(1970, 1, 1),
    None,
]

DATES = Domain(
    columns={"customer_id": list(range(len(DAYS))), "d": DAYS},
    rules={
        "plus_month": ("d + 1 month", lambda r: shift_months(r["d"], 1)),
        "minus_month": ("d - 1 month", lambda r: shift_months(r["d"], -1)),
        "plus_13": ("d + 13 months", lambda r: shift_months(r["d"], 13)),
        "plus_year": ("d + 1 year", lambda r: shift_months(r["d"], 12)),
        "minus_year": ("d - 1 year", lambda r: shift_months(r["d"], -12)),
        "minus_100y": ("d - 100 years", lambda r: shift_months(r["d"], -1200)),
        "plus_week": ("d + 1 week", lambda r: r["d"] and r["d"] + dt.timedelta(weeks=1)),
        "days": ("days_between(d, as_of)", lambda r: r["d"] and (AS_OF - r["d"]).days),
        "days_back": ("days_between(as_of, d)", lambda r: r["d"] and (r["d"] - AS_OF).days),
        "weekday": ("weekday(d)", lambda r: r["d"] and r["d"].isoweekday()),
        "quarter": ("quarter(d)", lambda r: r["d"] and (r["d"].month - 1) // 3 + 1),
    },
)


# ---- text --------------------------------------------------------------------------------

TEXTS = [
    "Straße",
    "ŉ ǰ ΐ",
    "ﬁﬂﬀ ﬃ",
    "İstanbul",
    "ıi Iİ",
    "ΟΔΥΣΣΕΥΣ",
    "ΣΑ ΑΣ Σ. aΣb",
    "Ａａｚ",
    "Привет МИР",
    "և Եւ",
    "ᾳ ᾼ ῳ",
    "ǅ ǆ Ǆ",
    "ẞ",
    "中文字",
    "👍🏽 👨‍👩‍👧",
    "e\u0301",
    "ASCII abc XYZ 123",
    "",
    None,
]


def _text(f: Callable[[str], object]) -> Callable[[dict], object]:
    return lambda r: None if r["s"] is None else f(r["s"])


TEXT = Domain(
    columns={"customer_id": list(range(len(TEXTS))), "s": TEXTS},
    rules={
        # Unicode's full case mapping (Python's str.upper / str.lower), Σ always σ
        "up": ("upper(s)", _text(str.upper)),
        "lo": ("lower(s)", _text(lambda s: s.replace("Σ", "σ").lower())),
        "lo_up": ("lower(upper(s))", _text(lambda s: s.upper().replace("Σ", "σ").lower())),
        "n": ("length(s)", _text(len)),  # code points
        "n_up": ("length(upper(s))", _text(lambda s: len(s.upper()))),
    },
)


# ---- regular expressions -----------------------------------------------------------------

# (pattern, text, whether Rust's `regex` finds a match): written out by hand from Rust's
# documented semantics, not computed
REGEX_CASES = [
    # \d \w \s are Unicode classes
    (r"^\d+$", "١٢٣", True),
    (r"^\d+$", "123", True),
    (r"^\d+$", "²", False),
    (r"\D", "١", False),
    (r"[\d]", "٣", True),
    (r"^\w+$", "中文", True),
    (r"^\w+$", "éa_1", True),
    (r"^\w+$", "Ⓐ", True),
    (r"^\w+$", "a-b", False),
    (r"^\w+$", "²", False),
    (r"\W", "中", False),
    (r"\W", "中 文", True),
    (r"[^\w]", "中文", False),
    (r"\s", "a\u3000b", True),
    (r"\s", "a\xa0b", True),
    (r"\s", "a\u200bb", False),
    (r"\S", " \t\n", False),
    # `.` is any character but \n
    ("a.b", "a\nb", False),
    ("a.b", "a\rb", True),
    ("a.b", "a\u2028b", True),
    ("a.b", "a\x85b", True),
    ("(?s)a.b", "a\nb", True),
    ("a.b", "a中b", True),
    ("^.$", "👍", True),
    ("^.{2}$", "👍🏽", True),
    ("^.$", "e\u0301", False),
    # ^ and $ are the text's ends; with (?m) the lines', at \n only
    ("x$", "x\n", False),
    ("^x$", "x", True),
    ("(?m)^b$", "a\nb\nc", True),
    ("(?m)^b$", "a\rb\rc", False),
    ("(?m)a$", "a\r\nb", False),
    ("(?m)a$", "a\u2028b", False),
    (r"\Ax", "yx", False),
    (r"x\z", "x\n", False),
    # (?i): Unicode simple case folding
    ("(?i)école", "ÉCOLE", True),
    ("ÉCOLE", "école", False),
    ("(?i)σ", "Σ", True),
    ("(?i)σ", "ς", True),
    ("(?i)k", "\u212a", True),
    ("(?i)straße", "STRASSE", False),
    ("(?i)ß", "ẞ", True),
    ("(?i)^[a-z]+$", "ÀB", False),
    ("(?i)^[a-z]+$", "\u212a", True),
    ("(?i)[à-ÿ]", "À", True),
    ("(?i)привет", "ПРИВЕТ", True),
    ("(?i)i", "İ", False),
    ("(?i)i", "ı", False),
    ("(?i)ǆ", "ǅ", True),
    # properties, escapes
    (r"\p{Han}", "漢", True),
    (r"\p{Greek}", "λ", True),
    (r"\pL", "ж", True),
    (r"\p{Lu}", "ж", False),
    (r"\x{4e2d}", "中", True),
    (r"a\vb", "a\x0bb", True),
    (r"a\vb", "a\nb", False),
    (r"[a-z&&[^aeiou]]", "e", False),
    # word boundaries: Unicode (RE2 has only ASCII ones: refused there)
    (r"\bcat\b", "a cat!", True),
    (r"\bcat\b", "concat", False),
    (r"\b中", "x 中", True),
    (r"\b中", "x中", False),
    (r"é\b", "café au", True),
    (r"\Bat", "cat", True),
]

# what an engine refuses (TE510) rather than answer differently
REFUSED = {"duckdb": ("\\b", "\\B", "&&")}
# Java's case-insensitive matching compares upper and lower cases of single characters,
# not Unicode's case folding: documented (docs/scale.md)
SPARK_CASE_FOLDING = {("(?i)ß", "ẞ"): False, ("(?i)i", "İ"): True, ("(?i)i", "ı"): True}


def regex_cases(engine: str) -> list[tuple[str, str, bool]]:
    refused = REFUSED.get(engine, ())
    return [c for c in REGEX_CASES if not any(r in c[0] for r in refused)]


def regex_domain(engine: str) -> Domain:
    cases = regex_cases(engine)
    texts = sorted({t for _, t, _ in cases})
    patterns = sorted({p for p, _, _ in cases})
    expected = {(p, t): want for p, t, want in cases}
    if engine == "spark":
        expected.update(SPARK_CASE_FOLDING)

    def reference(p: str) -> Callable[[dict], object]:
        def f(r: dict) -> object:
            t = texts[r["customer_id"]]
            return expected.get((p, t), REGEX_ANY)

        return f

    return Domain(
        columns={"customer_id": list(range(len(texts))), "s": texts},
        rules={
            f"m{i}": (f"s matches {json.dumps(p, ensure_ascii=False)}", reference(p))
            for i, p in enumerate(patterns)
        },
    )


class _Any:
    """A (pattern, text) pair the table says nothing about: any answer will do."""

    def __eq__(self, other: object) -> bool:
        return True


REGEX_ANY = _Any()


def check_regex(domain: Domain, engine: str, out: pl.DataFrame | None = None) -> None:
    if out is None:
        out = domain.ruleset().evaluate(domain.tables(), as_of=AS_OF, engine=engine)
    bad = []
    for i, row in enumerate(domain.rows()):
        for name, (text, reference) in domain.rules.items():
            want = reference(row)
            if want is not REGEX_ANY and out[name][i] is not want:
                bad.append(f"{text} on {row['s']!r}: want {want}, {engine} {out[name][i]}")
    assert not bad, "\n".join(bad)


# ---- the tests: Polars and DuckDB ---------------------------------------------------------

DOMAINS = {
    "numbers": NUMBERS,
    "integers": INTEGERS,
    "aggregates": AGGREGATES,
    "rankings": RANKINGS,
    "dates": DATES,
    "text": TEXT,
}


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_each_function_gives_the_defined_answer(domain, engine):
    check(DOMAINS[domain], engine)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_division_by_a_constant_is_ieee_division(engine):
    check(CONSTANT_DIVISOR, engine)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_patterns_match_as_rust_regex_does(engine):
    check_regex(regex_domain(engine), engine)


@pytest.mark.parametrize("pattern", [r"\bcat", r"a\B", "[a-z&&b]", "(?x) a", "[a--b]"])
def test_what_re2_cannot_say_is_refused(pattern):
    rules = tagengine.load(HEADER + f"tag t when s matches {json.dumps(pattern)}\n")
    with pytest.raises(TagEngineError) as info:
        rules.sql({"customers": {"customer_id": pl.Int64, "s": pl.String}}, AS_OF, "duckdb")
    assert info.value.diagnostics[0].code == "TE510"


def test_the_table_of_expanding_upper_cases_is_unicodes():
    """backends/casemap.py keeps the characters whose upper case is longer: derived again
    from Python's Unicode tables here."""
    chars = (chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    expanding = [c for c in chars if len(c.upper()) > 1]
    assert "".join(expanding) == casemap.UPPER_EXPANDING
    assert [c for c in map(chr, range(0x110000)) if len(c.lower()) > 1] == ["\u0130"]
    # every replacement is in its case already: the order of replacements is free
    assert all(t.upper() == t for t in casemap.UPPER_SPECIAL.values())
    assert unicodedata.unidata_version >= "14"


def test_a_window_that_ends_before_it_starts_is_an_error():
    rules = tagengine.load(
        HEADER + "related orders key customer_id time order_date\n"
        "feature h = sum(orders.amount) over 2024-06-30 to 2024-01-01\n"
    )
    assert [d.code for d in rules.check()] == ["TE002"]


def test_sum_of_only_missing_values_is_zero_on_every_engine():
    domain = Domain(
        columns={"customer_id": [1, 2]},
        orders={"customer_id": [1, 1], "amount": [None, None], "n": [None, None]},
        related="related orders key customer_id\n",
        rules={
            "total": ("sum(orders.amount)", lambda r: 0.0),
            "n": ("sum(orders.n)", lambda r: 0),
            "mean": ("avg(orders.amount)", lambda r: None),
        },
    )
    domain.orders = {  # typed: a float column and a whole-number one, all missing
        "customer_id": pl.Series([1, 1], dtype=pl.Int64),
        "amount": pl.Series([None, None], dtype=pl.Float64),
        "n": pl.Series([None, None], dtype=pl.Int64),
    }
    for engine in ("polars", "duckdb"):
        check(domain, engine)


# ---- Spark: one session, one query per domain ---------------------------------------------


@pytest.mark.slow
def test_spark_gives_the_defined_answers():
    from tagengine.engines import spark

    problem = spark.java_missing()
    if problem:
        pytest.fail(f"{problem}: install Java 17 (the Spark tests do not skip)")
    spark.session()
    try:
        failures = []
        for name, domain in DOMAINS.items():
            try:
                check(domain, "spark")
            except AssertionError as exc:
                failures.append(f"{name}: {exc}")
        try:
            check_regex(regex_domain("spark"), "spark")
        except AssertionError as exc:
            failures.append(f"patterns: {exc}")
        assert not failures, "\n\n".join(failures)
    finally:
        spark.stop()
