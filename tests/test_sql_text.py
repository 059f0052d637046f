"""`compile --to sql` keeps every character of a label or value: the printed SQL, run by
the engine it is for, gives exactly what the Polars engine gives, whatever the text holds
(control characters, ESC, quotes, backslashes, `%` and `_`, line breaks, characters
beyond the BMP, U+202E). The hidden ones are spelled by their codes, so the printed SQL
holds none of them itself (safe_text.py)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

import pg_server
import tagengine
from tagengine.cli import app
from tagengine.safe_text import hidden

AS_OF = dt.date(2024, 12, 31)
VALUES = [
    "\x1b[2J\x1b[31mred",  # clear the screen, then red
    "it's",
    'say "hi"',
    "back\\slash",
    "ends\\",
    "100%",
    "a_b",
    "%_\\%",
    "two\nlines",
    "tab\there",
    "cr\rhere",
    "𠀀 and 😀",
    "\u202eevil",
    "c1\x85\x9b",
    "sep\u2028",
    "bom\ufeff",
    "tag\U000e0041",
    "",
    "''",
    "\\'",
    "\\0" + "12",  # a backslash, 0, 1, 2: no octal escape
    "高价值",
    "nul\x00" + "12",  # NUL then digits (Spark would read `\012` as a line break)
]
NO_NUL = [v for v in VALUES if "\x00" not in v]


def literal(text: str) -> str:
    """`text` as a string literal of the rule language."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        elif hidden(char) and ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)  # a hidden character beyond the BMP, written as itself
    return '"' + "".join(out) + '"'


def rules_for(values: list[str]) -> tagengine.RuleSet:
    branches = "\n".join(
        f"  {literal(values[(i + 1) % len(values)] + '·')} when name == {literal(v)}"
        for i, v in enumerate(values)
    )
    listed = ", ".join(literal(v) for v in values[1:6])
    return tagengine.load(
        "entity customer table customers key customer_id\n"
        f'segment label_of "标签\\u001b[31m"\n{branches}\n  else "none\\u001b\\u202e"\n'
        'tag has_esc when name contains "\\u001b"\n'
        'tag rlo_first when name starts with "\\u202e"\n'
        'tag separated when name ends with "\\u2028"\n'
        f"tag listed when name in [{listed}]\n"
        'tag wildcard when name contains "%_" or name contains "_"\n'
        'tag quoted when name starts with "\\\\" or name contains "\'"\n'
        'tag c1 when name matches "c1\\u0085"\n'
        "feature tidy = trim(name)\n"
        "feature size = length(name)\n"
        "feature louder = upper(name)\n"
    )


def tables_for(values: list[str]) -> dict[str, pl.DataFrame]:
    ids = list(range(1, len(values) + 2))
    return {"customers": pl.DataFrame({"customer_id": ids, "name": [*values, None]})}


def schema_for(values: list[str]) -> dict[str, pl.Schema]:
    return {name: df.schema for name, df in tables_for(values).items()}


def assert_same_values(polars: pl.DataFrame, sql: pl.DataFrame, text: str) -> None:
    assert sql.columns == polars.columns, text
    for name in polars.columns:
        want, got = polars.get_column(name).to_list(), sql.get_column(name).to_list()
        assert got == want, f"{name}: {[(w, g) for w, g in zip(want, got, strict=True) if w != g]}"


def test_the_printed_sql_holds_no_hidden_character():
    rules = rules_for(VALUES)
    for dialect in ("duckdb", "spark", "postgres", "bigquery", "snowflake"):
        values = VALUES if dialect != "postgres" else NO_NUL
        text = rules_for(values).sql(schema_for(values), as_of=AS_OF, dialect=dialect)
        assert not [c for c in text if hidden(c) and c not in "\n\t"], dialect
        assert "CHR(27)" in text or "UNHEX('1B')" in text
    assert rules  # the same rules run below


def test_printed_duckdb_sql_gives_the_polars_answer(tmp_path):
    rules, tables = rules_for(VALUES), tables_for(VALUES)
    want = rules.evaluate(tables, as_of=AS_OF)
    assert want.get_column("has_esc").sum() == 1  # the data does reach the rules
    path = tmp_path / "r.tags"
    path.write_text(rules_source(rules), "utf-8")
    tables["customers"].write_parquet(tmp_path / "customers.parquet")
    printed = CliRunner().invoke(
        app,
        ["compile", str(path), "--to", "sql", "--data", str(tmp_path), "--as-of", "2024-12-31"],
        color=True,  # click strips ANSI sequences when told there is no terminal
        catch_exceptions=False,
    )
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == rules.sql(schema_for(VALUES), as_of=AS_OF) + "\n"
    con = duckdb.connect()
    con.register("customers", tables["customers"].to_arrow())
    got = con.sql(printed.stdout).pl()
    assert_same_values(want, got, printed.stdout)
    engine = rules.evaluate(tables, as_of=AS_OF, engine="duckdb")
    assert_same_values(want, engine, "--engine duckdb")


def rules_source(rules: tagengine.RuleSet) -> str:
    (text,) = rules.sources.values()
    return text


def test_printed_postgres_sql_gives_the_polars_answer(postgres_uri, tmp_path):
    rules, tables = rules_for(NO_NUL), tables_for(NO_NUL)
    got, text = pg_server.evaluate(postgres_uri, rules, tables, AS_OF, tmp_path)
    assert_same_values(rules.evaluate(tables, as_of=AS_OF), got, text)


def test_postgres_cannot_hold_nul_and_says_so():
    rules = rules_for(["a\x00b"])
    with pytest.raises(tagengine.TagEngineError) as caught:
        rules.sql(schema_for(["a\x00b"]), as_of=AS_OF, dialect="postgres")
    (d,) = {d.code: d for d in caught.value.diagnostics}.values()
    assert d.code == "TE510" and "U+0000" in d.message and d.span is not None


@pytest.mark.slow
def test_printed_spark_sql_gives_the_polars_answer(spark_session):
    from tagengine.engines.spark import SparkSession

    rules, tables = rules_for(VALUES), tables_for(VALUES)
    text = rules.sql(schema_for(VALUES), as_of=AS_OF, dialect="spark")
    with SparkSession() as session:
        session.register("customers", tables["customers"])
        got = session.query(text)
    assert_same_values(rules.evaluate(tables, as_of=AS_OF), got, text)
