"""`round(x, n)` means one thing on every engine (docs/language.md, "Rounding").

Adversarial floats go through the Polars, DuckDB and Spark engines and each answer must
be, bit for bit, what a plain-Python reference gives: Python's `decimal` rounding the
float's shortest text (`repr`) half away from zero. Postgres runs the same SQL on a
throwaway server (conftest.py). The reference shares no code with the backends
(tagengine's arithmetic lives in backends/rounding.py)."""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import polars as pl
import pytest

import pg_server
import tagengine

AS_OF = dt.date(2024, 12, 31)
DIGITS = (0, 1, 2, 3, 6, 15, 22)
DIVISORS = (3, 7, 10, 100, 1000)


def reference_round(x: float, n: int) -> float:
    """The documented definition, in Python's decimal arithmetic."""
    if math.isinf(x) or abs(Fraction(x)) * 10**n >= Fraction(2**52, 10):
        return x  # no digit to spare at the (n+1)-th place: as it is
    with localcontext() as context:
        context.prec = 1000
        rounded = Decimal(repr(x)).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)
    return float(rounded)


def adversarial() -> list[float]:
    """Every x.x5 from 0.05 to 99.95 and their negatives; ties at other places; the
    classic traps; huge, tiny and random floats of every magnitude."""
    values = [i / 100 for i in range(5, 10_000, 10)]
    values += [float(f"{i}.{j:02d}5") for i in (0, 1, 2, 9, 99, 12345) for j in range(100)]
    values += [2.675, 1.005, 22.95, 0.1 + 0.2, 0.615, 1.45, 2.5, 0.5, 1.5, 8.345, 1.0005]
    values += [82.05, 25.45, 0.285, 1.115, 4.35, 10.075, 0.045, 5e-324, 1e-300, 2.2e-308]
    values += [1.7976931348623157e308, 1e300, 9007199254740993.0, 4503599627370495.5]
    values += [450359962737049.56, 45035996273704.96, 45035996273704.95, 4.5e13, 1e15 + 0.3]
    rng = random.Random(15)
    for _ in range(1500):
        values.append(rng.uniform(-1, 1) * 10.0 ** rng.randint(-25, 18))
        digits, n = rng.randint(1, 15), rng.randint(0, 8)
        values.append(float(f"{rng.randint(0, 10**digits)}5e-{n + 1}"))
    values += [-v for v in values] + [0.0, -0.0, math.inf, -math.inf]
    return values


VALUES = adversarial()
RULES = "\n".join(
    [
        "entity customer table customers key customer_id",
        *(f"feature r{n} = round(x, {n})" for n in DIGITS),
        "feature r = round(x)",
        *(f"feature d{k} = x / {k}" for k in DIVISORS),
    ]
)


def bits(x: float | None) -> bytes | None:
    return None if x is None else struct.pack("<d", x)


def expected(name: str, x: float) -> float | None:
    if name == "r":
        return reference_round(x, 0)
    if name.startswith("r"):
        return reference_round(x, int(name[1:]))
    quotient = x / int(name[1:])  # IEEE division, as SQL engines do
    return None if math.isnan(quotient) else quotient


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": range(1, len(VALUES) + 2), "x": [*VALUES, None]},
        schema={"customer_id": pl.Int64, "x": pl.Float64},
    )


def assert_reference(out: pl.DataFrame, customers: pl.DataFrame) -> None:
    xs = customers.get_column("x").to_list()
    for name in out.columns[1:]:
        got = out.get_column(name).to_list()
        wrong = [
            (x, g, expected(name, x))
            for x, g in zip(xs, got, strict=True)
            if (g is not None if x is None else bits(g) != bits(expected(name, x)))
        ]
        assert not wrong, f"`{name}` (x, engine, reference): {wrong[:5]} of {len(wrong)}"


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_round_and_division_match_the_reference(engine, customers):
    rules = tagengine.load(RULES)
    out = rules.evaluate({"customers": customers}, as_of=AS_OF, engine=engine)
    assert_reference(out, customers)


def test_round_and_division_match_the_reference_in_polars_streaming(customers):
    rules = tagengine.load(RULES)
    out = rules.evaluate({"customers": customers}, as_of=AS_OF, streaming=True)
    assert_reference(out, customers)


@pytest.mark.slow
def test_round_and_division_match_the_reference_on_spark(customers, spark_session):
    out = tagengine.load(RULES).evaluate({"customers": customers}, as_of=AS_OF, engine="spark")
    assert_reference(out, customers)


def test_round_and_division_match_the_reference_on_postgres(customers, postgres_uri, tmp_path):
    # Postgres stops the query on a float result that underflows to 0 (`5e-324 / 7`), an
    # error docs/scale.md states; the values that do are left out here
    underflows = pl.any_horizontal((pl.col("x") / k == 0) & (pl.col("x") != 0) for k in DIVISORS)
    customers = customers.filter(underflows.not_() | pl.col("x").is_null())
    rules = tagengine.load(RULES)
    out, _ = pg_server.evaluate(postgres_uri, rules, {"customers": customers}, AS_OF, tmp_path)
    assert_reference(out, customers)


@pytest.mark.parametrize(
    ("x", "n", "want"),
    [
        (2.675, 2, 2.68),  # the float is 2.67499999999999982236431605997495353221893310546875
        (1.005, 2, 1.01),
        (22.95, 1, 23.0),
        (-22.95, 1, -23.0),
        (0.1 + 0.2, 2, 0.3),
        (82.05, 1, 82.1),
        (2.5, 0, 3.0),
        (-0.5, 0, -1.0),
        (0.004, 2, 0.0),
        (45035996273704.99, 2, 45035996273704.99),  # at the limit: as it is
    ],
)
def test_round_examples_of_the_documentation(x, n, want):
    assert reference_round(x, n) == want
    customers = pl.DataFrame({"customer_id": [1], "x": [x]})
    rules = tagengine.load(
        f"entity customer table customers key customer_id\nfeature r = round(x, {n})"
    )
    assert rules.evaluate({"customers": customers}, as_of=AS_OF).item(0, "r") == want


def test_round_of_a_float_to_more_than_22_places_is_refused():
    rules = tagengine.load(
        "entity customer table customers key customer_id\nfeature r = round(x, 23)"
    )
    customers = pl.DataFrame({"customer_id": [1], "x": [1.5]})
    with pytest.raises(tagengine.TagEngineError, match="22"):
        rules.evaluate({"customers": customers}, as_of=AS_OF)
