"""Dirty data (issue 7, part 3): under bad input the engine keeps working where that is
safe, and otherwise says exactly what is wrong — file, line, column — with a hint; never
a traceback. docs/project.md, "Dirty data", describes each case."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine import csvfiles
from tagengine.cli import app
from tagengine.csvfiles import CsvOptions
from tagengine.diagnostics import TagEngineError
from tagengine.sources import collect, scan, tables_from

AS_OF = "2024-12-31"
ADULT = "entity customer table customers key customer_id\ntag adult when age >= 18\n"
runner = CliRunner()


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    return path


def cli(folder: Path, *args: str, rules: str = ADULT) -> tuple[int, str]:
    """Run `tagengine ARGS` in `folder` (holding `rules.tags`): (exit code, output)."""
    write(folder, "rules.tags", rules)
    old = Path.cwd()
    try:
        os.chdir(folder)
        result = runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def run(folder: Path, *args: str, rules: str = ADULT) -> tuple[int, str, pl.DataFrame | None]:
    code, output = cli(
        folder, "run", "rules.tags", "--as-of", AS_OF, "-o", "out.csv", "-q", *args, rules=rules
    )
    out = folder / "out.csv"
    return code, output, (pl.read_csv(out) if code == 0 and out.exists() else None)


def failure(call) -> tuple[str, str, str]:
    """(code, message, hint) of the one diagnostic `call()` raises."""
    with pytest.raises(TagEngineError) as caught:
        call()
    (d,) = caught.value.diagnostics
    return d.code, d.message, d.hint or ""


def read(path: Path, **options) -> pl.DataFrame:
    (df,) = collect([scan(path, CsvOptions(**options) if options else None)])
    return df


# ---- malformed rows --------------------------------------------------------------------

MALFORMED = [
    (
        "id,age,city\n1,30,A\n2,40\n3,50,C,extra\n4,60,D\n",
        "has 2 malformed rows, where the header (line 1) has 3 fields: "
        "line 3 has 2 fields; line 4 has 4 fields",
        [(1, 30, "A"), (4, 60, "D")],
        "(lines 3, 4)",
    ),
    (  # a quote opened and never closed would swallow the rest of the file
        'id,age,city\n1,30,"A\n2,40,B\n3,50,C\n',
        'has 1 malformed row, where the header (line 1) has 3 fields: line 2 has a quote (") '
        "that is never closed",
        [(2, 40, "B"), (3, 50, "C")],
        "(line 2)",
    ),
    (  # a quote inside an unquoted field, text after a closing quote
        'id,age,city\n1,30,5\'10"\n2,40,"B"x\n3,50,C\n',
        'has 2 malformed rows, where the header (line 1) has 3 fields: line 2 has a quote (") '
        'that is never closed; line 3 has a quote (") in the wrong place',
        [(3, 50, "C")],
        "(lines 2, 3)",
    ),
]


@pytest.mark.parametrize(("text", "message", "kept", "lines"), MALFORMED)
def test_malformed_rows_fail_naming_file_and_lines_or_are_skipped(
    tmp_path, text, message, kept, lines
):
    path = write(tmp_path, "customers.csv", text)
    code, said, hint = failure(lambda: read(path))
    assert code == "TE701"
    assert said == f"`{path}` {message}"
    assert hint == (
        "fix those lines, or leave such rows out with --bad-rows skip "
        '(`bad_rows = "skip"` in tagengine.toml)'
    )
    warnings: list[str] = []
    (df,) = collect([scan(path, CsvOptions(bad_rows="skip"), warnings=warnings)])
    assert df.rows() == kept
    n = len(text.splitlines()) - 1 - len(kept)
    rows = "1 malformed row" if n == 1 else f"{n} malformed rows"
    assert warnings == [f"skipped {rows} of `{path}` {lines}"]


def test_many_malformed_rows_show_the_first_three_and_a_count(tmp_path):
    rows = "".join(f"{i},{i}\n" if i % 2 else f"{i}\n" for i in range(1, 21))
    path = write(tmp_path, "c.csv", "id,age\n" + rows)
    _, message, _ = failure(lambda: read(path))
    assert message == (
        f"`{path}` has 10 malformed rows, where the header (line 1) has 2 fields: "
        "line 3 has 1 field; line 5 has 1 field; line 7 has 1 field; and 7 more"
    )


def test_bad_rows_skip_from_the_command_line_warns_per_file(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,30\n2\n3,40,x\n4,10\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert "error[TE701]: `customers.csv` has 2 malformed rows" in output
    code, output, df = run(tmp_path, "--data", "customers.csv", "--bad-rows", "skip")
    assert code == 0, output
    assert "warning: skipped 2 malformed rows of `customers.csv` (lines 3, 4)" in output
    assert df is not None and df.rows() == [(1, True), (4, False)]


def test_bad_rows_skip_in_the_project_file_and_per_table(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,30\n2\n")
    write(tmp_path, "tagengine.toml", 'bad_rows = "skip"\n[tables]\ncustomers = "customers.csv"\n')
    code, output, df = run(tmp_path)
    assert code == 0, output
    assert df is not None and df.height == 1
    write(
        tmp_path,
        "tagengine.toml",
        'bad_rows = "skip"\n[csv.customers]\nbad_rows = "fail"\n'
        '[tables]\ncustomers = "customers.csv"\n',
    )
    assert run(tmp_path)[0] == 1  # the table's own setting wins over the top level
    assert run(tmp_path, "--bad-rows", "skip")[0] == 0  # the command line wins over both


def test_quoted_fields_over_lines_and_blank_lines_are_fine(tmp_path):
    text = 'id,note,n\n1,"two\nlines, one field",5\n\n2,"say ""hi""",6\n3,,7\n\n\n'
    df = read(write(tmp_path, "c.csv", text))
    assert df.rows() == [(1, "two\nlines, one field", 5), (2, 'say "hi"', 6), (3, None, 7)]


def test_a_line_after_a_multiline_field_is_named_by_its_own_number(tmp_path):
    text = 'id,note,n\n1,"two\nlines",5\n\n2,x\n'
    path = write(tmp_path, "c.csv", text)
    _, message, _ = failure(lambda: read(path))
    assert message.endswith("line 5 has 2 fields")


def test_lines_are_counted_in_the_file_as_written(tmp_path):
    """Blank lines, fields over two lines and skipped rows do not shift the numbers."""
    rows = "".join(f"{i},x,{i}\n" for i in range(1, 30))
    text = 'id,note,n\n1,"two\nlines",5\n\n2,x\n' + rows + "99,y,N/A\n"
    path = write(tmp_path, "c.csv", text)
    _, message, _ = failure(lambda: read(path, bad_rows="skip"))
    assert message == (
        f"`{path}` line 35, column `n`: `N/A` is not a whole number; the column is read as "
        "whole numbers as most of its values are"
    )
    assert text.splitlines()[34] == "99,y,N/A"


def test_windows_line_endings(tmp_path):
    df = read(write(tmp_path, "c.csv", 'id,city,n\r\n1,"A, B",2\r\n\r\n2,C,3\r\n'))
    assert df.rows() == [(1, "A, B", 2), (2, "C", 3)]


def test_an_empty_file_and_a_blank_header(tmp_path):
    for text, what in (("", "the file is empty"), ("\n1,2\n", "line 1 is blank")):
        path = write(tmp_path, "c.csv", text)
        assert failure(lambda p=path: read(p))[:2] == ("TE701", f"`{path}` has no header: {what}")


# ---- encodings -------------------------------------------------------------------------

CHINESE = "customer_id,city,age\n1,北京,30\n2,上海,17\n"


def test_a_gbk_file_without_encoding_names_byte_line_and_the_likely_encoding(tmp_path):
    write(tmp_path, "customers.csv", CHINESE.encode("gbk"))
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert (
        "error[TE702]: `customers.csv` is not UTF-8 text: byte 23 (0xB1, line 2) cannot be read\n"
        "  = help: it looks like GBK / GB18030 (Simplified Chinese; for Traditional Chinese try "
        'big5): pass --encoding gbk (or `encoding = "gbk"` in tagengine.toml)'
    ) in output


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5", "utf-16", "utf-8-sig"])
def test_encodings_are_transcoded_to_utf8(tmp_path, encoding):
    text = CHINESE.replace("上海", "台北") if encoding == "big5" else CHINESE
    write(tmp_path, "customers.csv", text.encode(encoding))
    rules = ADULT + 'tag capital when city in ["北京", "台北"]\n'
    code, output, df = run(tmp_path, "--data", "customers.csv", "--encoding", encoding, rules=rules)
    assert code == 0, output
    assert df is not None and df.rows() == [(1, True, True), (2, False, encoding == "big5")]


def test_csv_settings_apply_to_the_sql_engines_too(tmp_path):
    pytest.importorskip("duckdb")
    write(tmp_path, "customers.csv", CHINESE.encode("gbk"))
    code, output, df = run(tmp_path, "--data", "customers.csv", "--encoding", "gbk", "-e", "duckdb")
    assert code == 0, output
    assert df is not None and df.rows() == [(1, True), (2, False)]


def test_latin1_and_the_guess_for_it(tmp_path):
    path = write(tmp_path, "c.csv", "id,name\n1,José\n".encode("latin-1"))
    _, message, hint = failure(lambda: read(path))
    assert message == f"`{path}` is not UTF-8 text: byte 13 (0xE9, line 2) cannot be read"
    assert hint.startswith("it looks like Windows-1252 (Western European): pass --encoding cp1252")
    assert read(path, encoding="latin-1").rows() == [(1, "José")]


def test_a_wrong_encoding_is_told_with_the_right_one(tmp_path):
    path = write(tmp_path, "c.csv", "id,city\n1,上海市\n")
    code, message, hint = failure(lambda: read(path, encoding="ascii"))
    assert code == "TE702"
    assert message == (
        f"`{path}` cannot be read as ascii: byte 10 (0xE4, line 2) is not ascii text"
    )
    assert hint == "it looks like UTF-8: leave out --encoding (and `encoding` in tagengine.toml)"


def test_encoding_in_the_project_file_and_per_table(tmp_path):
    write(tmp_path, "customers.csv", CHINESE.encode("gbk"))
    write(tmp_path, "orders.csv", "customer_id,city\n1,上海\n")  # UTF-8
    rules = ADULT + "related orders key customer_id\nfeature n = count(orders)\n"
    write(
        tmp_path,
        "tagengine.toml",
        'encoding = "gbk"\n[csv.orders]\nencoding = "utf-8"\n'
        '[tables]\ncustomers = "customers.csv"\norders = "orders.csv"\n',
    )
    code, output, df = run(tmp_path, rules=rules)
    assert code == 0, output
    assert df is not None and df.get_column("n").to_list() == [1, 0]


def test_unknown_encodings_are_usage_errors(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,2\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv", "--encoding", "gbkk")
    assert code == 2
    assert "--encoding: unknown encoding `gbkk` (e.g. utf-8, gbk, gb18030, big5" in output
    write(tmp_path, "tagengine.toml", 'encoding = "gbkk"\n')
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1 and "error[TE403]" in output and "unknown encoding `gbkk`" in output


def test_temporary_copies_are_removed_when_the_process_ends(tmp_path):
    path = write(tmp_path, "c.csv", CHINESE.encode("gbk"))
    file = csvfiles.prepare(str(path), CsvOptions(encoding="gbk"))
    copy = Path(file.path)
    assert copy != path and copy.read_text("utf-8") == CHINESE
    assert copy.parent.name.startswith("tagengine-")  # a TemporaryDirectory: removed at exit


# ---- empty tables ----------------------------------------------------------------------

SPEND = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
    "feature spend = sum(orders.amount)\n"
    "feature n = count(orders)\n"
    "tag adult when age >= 18\n"
    "tag big when spend > 100\n"
)


def test_an_entity_table_with_only_a_header_gives_an_empty_output_and_a_warning(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n")
    write(tmp_path, "orders.csv", "customer_id,order_date,amount\n1,2024-01-01,5\n")
    code, output, df = run(tmp_path, "--data", ".", rules=SPEND)
    assert code == 0, output
    assert "warning: the entity table `customers` has no rows: the output has none either" in (
        output
    )
    assert "1 row of `orders` has a key that matches no row of `customers`; it counts" in output
    assert df is not None and df.height == 0
    assert df.columns == ["customer_id", "spend", "n", "adult", "big"]


def test_an_empty_parquet_entity_table(tmp_path):
    pl.DataFrame(schema={"customer_id": pl.Int64, "age": pl.Int64}).write_parquet(
        tmp_path / "customers.parquet"
    )
    code, output, df = run(tmp_path, "--data", "customers.parquet")
    assert code == 0, output
    assert "has no rows" in output
    assert df is not None and df.height == 0


def test_an_empty_related_table_gives_the_defaults(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,30\n2,10\n")
    write(tmp_path, "orders.csv", "customer_id,order_date,amount\n")
    code, output, df = run(tmp_path, "--data", ".", rules=SPEND)
    assert code == 0, output
    assert df is not None
    assert df.rows() == [(1, 0, 0, True, False), (2, 0, 0, False, False)]


def test_a_column_empty_in_every_row_is_unknown_and_works_end_to_end(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age,vip,joined\n1,,,\n2,,,\n")
    rules = (
        "entity customer table customers key customer_id\n"
        "tag adult when age >= 18\n"
        "tag no_age when age is missing\n"
        'tag gold when vip == "gold"\n'
        "feature tenure = days_between(joined, as_of)\n"
    )
    code, output, df = run(tmp_path, "--data", "customers.csv", rules=rules)
    assert code == 0, output
    assert df is not None
    assert df.rows() == [(1, False, True, False, None), (2, False, True, False, None)]


def test_a_value_after_ten_thousand_empty_rows_is_an_error_naming_it(tmp_path):
    rows = "".join(f"{i},\n" for i in range(1, 10_001))
    path = write(tmp_path, "customers.csv", "customer_id,note\n" + rows + "10001,late\n")
    code, message, hint = failure(lambda: read(path))
    assert (code, message) == (
        "TE704",
        f"`{path}` line 10,002, column `note`: `late`, where the column's first 10,000 rows "
        "are all empty, so it was read as an empty column",
    )
    assert hint == (
        'declare the column\'s type in tagengine.toml: [columns.customers] note = "string"'
    )


# ---- NaN, infinity, huge numbers -------------------------------------------------------

NUMBERS = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id\n"
    "feature spend = sum(orders.amount)\n"
    "feature paid = count(orders.amount)\n"
    "feature mean = avg(orders.amount)\n"
    "feature top = max(orders.amount)\n"
    "tag high when credit > 5\n"
    "tag no_credit when credit is missing\n"
    "score r = ntile(credit, 2)\n"
)


def test_nan_is_missing_and_infinity_a_value_everywhere(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,credit\n1,NaN\n2,7\n3,inf\n4,-inf\n5,\n")
    write(
        tmp_path,
        "orders.csv",
        "customer_id,amount\n1,nan\n1,5\n2,inf\n2,-inf\n3,1.5\n3,inf\n4,NaN\n",
    )
    code, output, df = run(tmp_path, "--data", ".", rules=NUMBERS)
    assert code == 0, output
    assert df is not None
    inf = float("inf")
    assert df.rows() == [
        # NaN: not summed, not counted, not compared (unknown), not ranked
        (1, 5.0, 1, 5.0, 5.0, False, True, None),
        # inf + -inf is undefined: missing, not the 0 of no rows
        (2, None, 2, None, inf, True, False, 1),
        (3, inf, 2, inf, inf, True, False, 2),
        (4, 0.0, 0, None, None, False, False, 1),  # -inf is a value; NaN rows count 0
        (5, 0.0, 0, None, None, False, True, None),
    ]


def test_explain_tells_nan_as_missing(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,credit\n1,NaN\n2,7\n")
    write(tmp_path, "orders.csv", "customer_id,amount\n1,nan\n1,5\n")
    code, output = cli(
        tmp_path,
        *("explain", "rules.tags", "--data", ".", "--as-of", AS_OF, "--id", "1"),
        *("--tag", "high,spend,r"),
        rules=NUMBERS,
    )
    assert code == 0, output
    assert "? credit > 5  unknown (credit missing)" in output
    assert "sum(orders.amount) = 5 — from 2 rows of orders" in output
    assert "ntile(credit, 2) = missing — among 1 of 2 with a known value" in output


def test_nan_in_a_frame_is_missing_too():
    rules = tagengine.load(NUMBERS)
    customers = pl.DataFrame({"customer_id": [1, 2], "credit": [float("nan"), 9.0]})
    orders = pl.DataFrame({"customer_id": [1, 1], "amount": [float("nan"), 2.0]})
    df = rules.evaluate({"customers": customers, "orders": orders}, as_of=dt.date(2024, 12, 31))
    assert df.row(0) == (1, 2.0, 1, 2.0, 2.0, False, True, None)


def test_whole_numbers_beyond_int64_in_csv_are_read_and_compared(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,card\n1,99999999999999999999\n2,12\n")
    rules = "entity customer table customers key customer_id\ntag long when card > 10000\n"
    code, output, df = run(tmp_path, "--data", "customers.csv", rules=rules)
    assert code == 0, output
    assert df is not None and df.get_column("long").to_list() == [True, False]


def test_a_sum_beyond_int64_is_an_error_not_a_wrapped_number(tmp_path):
    write(tmp_path, "customers.csv", "customer_id\n1\n2\n")
    write(tmp_path, "orders.csv", f"customer_id,qty\n1,{2**63 - 1}\n1,2\n2,1\n")
    rules = (
        "entity customer table customers key customer_id\n"
        "related orders key customer_id\n"
        "feature total = sum(orders.qty)\n"
        "feature mean = avg(orders.qty)\n"
    )
    code, output, _ = run(tmp_path, "--data", ".", rules=rules)
    assert code == 1
    assert (
        "error[TE706]: a sum of whole numbers is beyond their range (±9.2×10¹⁸) for 1 "
        "customer, e.g. 9223372036854775809\n"
        "  = help: check the summed column for wrong values; if they are right, declare it as "
        'a decimal or a float in tagengine.toml ([columns.TABLE] COLUMN = "decimal(0)")'
    ) in output
    write(tmp_path, "tagengine.toml", '[columns.orders]\nqty = "decimal(0)"\n')
    code, output, df = run(tmp_path, "--data", ".", rules=rules)
    assert code == 0, output
    assert df is not None and df.get_column("total").cast(pl.String).to_list() == [
        str(2**63 + 1),
        "1",
    ]


def test_an_average_of_large_whole_numbers_does_not_wrap(tmp_path):
    rules = tagengine.load(
        "entity customer table customers key customer_id\n"
        "related orders key customer_id\n"
        "feature mean = avg(orders.qty)\n"
    )
    big = 2**62
    df = rules.evaluate(
        {
            "customers": pl.DataFrame({"customer_id": [1]}),
            "orders": pl.DataFrame({"customer_id": [1, 1, 1], "qty": [big, big, big]}),
        }
    )
    assert df.get_column("mean").to_list() == [float(big)]


# ---- keys and headers ------------------------------------------------------------------


def test_duplicate_entity_keys_show_examples_and_the_row_count(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,30\n2,40\n2,41\n5,1\n5,2\n5,3\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert (
        "error[TE405]: 2 key values of `customers.customer_id` appear more than once "
        "(e.g. 2, 5), on 5 rows in all\n"
        "  = help: the entity table needs one row per key; deduplicate it"
    ) in output


def test_duplicate_column_names_in_a_csv_header(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age,city,age\n1,30,A,31\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert (
        "error[TE703]: `customers.csv` has two columns named `age` (columns 2 and 4 of the "
        "header)\n  = help: rename one of them in the file's first line; tagengine would not "
        "know which one the rules mean"
    ) in output


# ---- mixed types -----------------------------------------------------------------------


def test_text_after_ten_thousand_numbers_names_line_column_and_value(tmp_path):
    rows = "".join(f"{i},{20 + i % 50}\n" for i in range(1, 10_001))
    write(tmp_path, "customers.csv", "customer_id,age\n" + rows + "10001,unknown\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert (
        "error[TE704]: `customers.csv` line 10,002, column `age`: `unknown` is not a whole "
        "number; the column is read as whole numbers from its first 10,000 rows\n"
        "  = help: fix the value (an empty cell is missing), or declare the column's type in "
        'tagengine.toml: [columns.customers] age = "string"'
    ) in output


def test_a_decimal_after_whole_numbers_hints_float(tmp_path):
    rows = "".join(f"{i},{i}\n" for i in range(1, 10_001))
    path = write(tmp_path, "orders.csv", "customer_id,qty\n" + rows + "10001,2.5\n")
    _, message, hint = failure(lambda: read(path))
    assert message.endswith(
        "`2.5` is not a whole number; the column is read as whole numbers from its first "
        "10,000 rows"
    )
    assert hint.endswith('[columns.orders] qty = "float64"')
    tables = tables_from(path, "orders", types={"orders": {"qty": pl.Float64()}})
    assert collect([tables["orders"]])[0].get_column("qty").tail(1).to_list() == [2.5]


def test_numbers_with_a_few_placeholders_fail_only_where_used(tmp_path):
    rows = "".join(f"{i},{i % 90},{i * 1.5}\n" for i in range(1, 40))
    write(tmp_path, "customers.csv", "customer_id,age,spend\n" + rows + "40,N/A,-\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")  # uses age only
    assert code == 1
    assert (
        "error[TE704]: `customers.csv` line 41, column `age`: `N/A` is not a whole number; "
        "the column is read as whole numbers as most of its values are"
    ) in output
    rules = "entity customer table customers key customer_id\ntag rich when spend > 50\n"
    code, output, _ = run(tmp_path, "--data", "customers.csv", rules=rules)
    assert code == 1 and "line 41, column `spend`: `-` is not a number" in output
    rules = "entity customer table customers key customer_id\ntag one when customer_id == 1\n"
    code, output, _ = run(tmp_path, "--data", "customers.csv", rules=rules)
    assert code == 0, output  # `age` and `spend` are not read at all


def test_phone_numbers_read_as_numbers_hint_declaring_text(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,phone\n1,13800138000\n2,13900139000\n")
    rules = 'entity customer table customers key customer_id\ntag cm when phone starts with "138"\n'
    code, output = cli(tmp_path, "check", "rules.tags", "--data", "customers.csv", rules=rules)
    assert code == 1
    assert (
        "= help: if `phone` holds codes such as phone numbers, read it as text: declare "
        '[columns.customers] phone = "string" in tagengine.toml'
    ) in output
    write(tmp_path, "tagengine.toml", '[columns.customers]\nphone = "string"\n')
    code, output, df = run(tmp_path, "--data", "customers.csv", rules=rules)
    assert code == 0, output
    assert df is not None and df.get_column("cm").to_list() == [True, False]


def test_codes_with_leading_zeros_stay_text(tmp_path):
    df = read(write(tmp_path, "c.csv", "id,zip,n\n1,0755,007\n2,1234,10\n"))
    assert df.schema == pl.Schema({"id": pl.Int64, "zip": pl.String, "n": pl.String})
    assert df.rows() == [(1, "0755", "007"), (2, "1234", "10")]


def test_files_of_one_glob_that_disagree_on_a_type(tmp_path):
    (tmp_path / "orders").mkdir()
    write(tmp_path, "orders/a.csv", "customer_id,amount\n1,5\n")
    write(tmp_path, "orders/b.csv", "customer_id,amount\n1,2.5\n2,\n")
    write(tmp_path, "orders/c.csv", "customer_id,amount\n1,\n")
    df = read(tmp_path / "orders" / "*.csv")
    assert df.schema["amount"] == pl.Float64 and df.height == 4
    write(tmp_path, "orders/d.csv", "customer_id,amount\n1,five\n")
    glob = tmp_path / "orders" / "*.csv"
    assert failure(lambda: read(glob))[:2] == (
        "TE704",
        f"column `amount` holds whole numbers in `{tmp_path}/orders/a.csv` but text in "
        f"`{tmp_path}/orders/d.csv` (files of `{glob}`)",
    )


# ---- dates -----------------------------------------------------------------------------

DATED = (
    "entity customer table customers key customer_id\n"
    "feature joined_year = year(joined)\n"
    "tag new when days_between(joined, as_of) <= 30\n"
)


@pytest.mark.parametrize(
    ("written", "options"),
    [
        ("2024-12-05", []),  # ISO: no option needed
        ("2024/12/05", []),
        ("05.12.2024", []),
        ("2024年12月5日", []),
        ("12/05/2024", ["--date-format", "%m/%d/%Y"]),
        ("05/12/2024", ["--date-format", "%d/%m/%Y"]),
        ("5-Dec-2024", ["--date-format", "%d-%b-%Y"]),
    ],
)
def test_dates_in_several_formats(tmp_path, written, options):
    write(tmp_path, "customers.csv", f"customer_id,joined\n1,{written}\n2,\n")
    code, output, df = run(tmp_path, "--data", "customers.csv", *options, rules=DATED)
    assert code == 0, output
    assert df is not None and df.row(0) == (1, 2024, True)


def test_day_first_or_month_first_must_be_said(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,joined\n1,01/05/2024\n2,03/04/2024\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv", rules=DATED)
    assert code == 1
    assert (
        "error[TE705]: column `joined` of `customers.csv` holds dates like `01/05/2024`: "
        "day first or month first?\n"
        '  = help: give the format: --date-format "%d/%m/%Y" (day first) or "%m/%d/%Y" '
        '(month first), or in tagengine.toml [columns.customers] joined = "date(%d/%m/%Y)"'
    ) in output
    write(tmp_path, "tagengine.toml", '[columns.customers]\njoined = "date(%m/%d/%Y)"\n')
    code, output, df = run(tmp_path, "--data", "customers.csv", rules=DATED)
    assert code == 0, output
    assert df is not None and df.get_column("joined_year").to_list() == [2024, 2024]


def test_a_date_that_cannot_be_read_names_line_column_and_value(tmp_path):
    rows = "".join(f"{i},2024-01-{1 + i % 28:02d}\n" for i in range(1, 20))
    write(tmp_path, "customers.csv", "customer_id,joined\n" + rows + "20,2024-02-30\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv", rules=DATED)
    assert code == 1
    assert (
        "error[TE705]: `customers.csv` line 21, column `joined`: `2024-02-30` is not a date "
        'written as "%Y-%m-%d"\n'
        "  = help: fix the value (an empty cell is missing); or, if the column is no date, "
        'declare it [columns.customers] joined = "string"'
    ) in output


def test_a_date_in_another_format_hints_that_format(tmp_path):
    rows = "".join(f"{i},2024-01-{1 + i % 28:02d}\n" for i in range(1, 20))
    path = write(tmp_path, "customers.csv", "customer_id,joined\n" + rows + "20,31.01.2024\n")
    code, message, hint = failure(lambda: read(path))
    assert code == "TE705"
    assert message.endswith(
        'line 21, column `joined`: `31.01.2024` is not a date written as "%Y-%m-%d"'
    )
    assert hint == (
        "fix the value (an empty cell is missing); if the column is written like that, give "
        'the format: --date-format "%d.%m.%Y" or [columns.customers] joined = "date(%d.%m.%Y)"'
    )


def test_a_declared_date_format_reads_text_in_any_source(tmp_path):
    pl.DataFrame({"customer_id": [1], "joined": ["05.12.2024"]}).write_parquet(
        tmp_path / "customers.parquet"
    )
    write(tmp_path, "tagengine.toml", '[columns.customers]\njoined = "date(%d.%m.%Y)"\n')
    code, output, df = run(tmp_path, "--data", "customers.parquet", rules=DATED)
    assert code == 0, output
    assert df is not None and df.row(0) == (1, 2024, True)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('bad_rows = "maybe"', "bad_rows: Input should be 'fail' or 'skip'"),
        ('date_format = "YYYY-MM-DD"', "`YYYY-MM-DD` is not a date format"),
        ('[columns.customers]\njoined = "date(%Q)"', "`%Q` is not a date format"),
        ('[csv.customers]\nencodign = "gbk"', "csv.customers.encodign: Extra inputs"),
    ],
)
def test_invalid_csv_settings_in_the_project_file(tmp_path, toml, words):
    write(tmp_path, "customers.csv", "customer_id,age\n1,2\n")
    write(tmp_path, "tagengine.toml", toml + "\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code == 1
    assert "error[TE403]" in output and words in output, output


def test_an_invalid_date_format_option_is_a_usage_error(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,age\n1,2\n")
    code, output, _ = run(tmp_path, "--data", "customers.csv", "--date-format", "dd.mm.yyyy")
    assert code == 2
    assert "--date-format: `dd.mm.yyyy` is not a date format" in output


# ---- never a traceback -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\xff\xfe",
        b"id,age\n1,2\n\xff\xfe\x00",
        b'"""\n',
        b'id,"age\n',
        b"id\r\n1\r\n\r\n",
        b"id;age\n1;2\n",
        "id,名前\n1,太郎\n".encode("shift_jis"),
    ],
)
def test_garbage_never_gives_a_traceback(tmp_path, content):
    write(tmp_path, "customers.csv", content)
    code, output, _ = run(tmp_path, "--data", "customers.csv")
    assert code in (0, 1), output
    assert "Traceback" not in output and "internal error" not in output


def test_repeated_keys_far_apart_in_an_unsorted_table_are_found():
    # the check compares neighbours of the key-sorted result: the sort must bring the
    # repeats together wherever they stood in the input
    rules = tagengine.load("entity customer table customers key customer_id\ntag a when x > 0\n")
    ids = [9, *range(100, 200), 9, 3]
    with pytest.raises(tagengine.TagEngineError) as info:
        rules.evaluate({"customers": pl.DataFrame({"customer_id": ids, "x": range(len(ids))})})
    assert info.value.diagnostics[0].code == "TE405"
    assert "(e.g. 9), on 2 rows" in info.value.diagnostics[0].message
