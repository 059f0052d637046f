"""End to end: the `tagengine` command on the bundled example data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tagengine.cli import app

RULES = str(Path(__file__).parent.parent / "rules" / "retail.tags")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_run_writes_one_row_per_customer_sorted(example_dir, tmp_path):
    out = tmp_path / "tags.parquet"
    result = invoke("run", RULES, "--data", example_dir, "--as-of", "2024-12-31", "--out", out)
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    customers = pl.read_parquet(example_dir / "customers.parquet")
    assert df.height == customers.height
    assert df["customer_id"].is_sorted()
    assert df.columns[:3] == ["customer_id", "tenure_days", "signup_year"]
    orders = pl.read_parquet(example_dir / "orders.parquet")
    recent = orders.filter(
        pl.col("order_date").is_between(pl.date(2024, 10, 3), pl.date(2024, 12, 31))
    )
    expected = (
        customers.select("customer_id")
        .join(recent.group_by("customer_id").len(), on="customer_id", how="left")
        .fill_null(0)
        .sort("customer_id")
    )
    assert df["orders_90d"].to_list() == expected["len"].to_list()
    for tag in ("female", "tier1_city", "churn_risk", "winback_target"):
        assert df[tag].dtype == pl.Boolean and df[tag].null_count() == 0
    assert "2024-12-31" in result.output and "一线城市" in result.output
    meta = pq.read_metadata(out).metadata
    assert meta[b"tagengine.as_of"] == b"2024-12-31"


@pytest.mark.parametrize("suffix", ["parquet", "csv", "ndjson", "arrow"])
def test_run_output_is_byte_identical_across_runs(example_dir, tmp_path, suffix):
    paths = [tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"]
    for p in paths:
        result = invoke("run", RULES, "-d", example_dir, "--as-of", "2024-12-31", "-o", p, "-q")
        assert result.exit_code == 0, result.output
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].stat().st_size > 1000


def test_run_long_format_and_select(example_dir, tmp_path):
    out = tmp_path / "long.csv"
    result = invoke(
        "run",
        RULES,
        "-d",
        example_dir,
        "--as-of",
        "2024-12-31",
        "-o",
        out,
        "--format",
        "long",
        "--select",
        "churn_risk,age_group",
        "-q",
    )
    assert result.exit_code == 0, result.output
    df = pl.read_csv(out, infer_schema=False)
    assert df.columns == ["customer_id", "name", "value"]
    assert df["name"].unique().sort().to_list() == ["age_group", "churn_risk"]
    assert df.height == 2 * 2000
    meta = json.loads((tmp_path / "long.csv.meta.json").read_text())
    assert meta["tagengine.as_of"] == "2024-12-31"


def test_select_unknown_rule_is_a_clear_error(example_dir, tmp_path):
    result = invoke(
        "run", RULES, "-d", example_dir, "-o", tmp_path / "x.parquet", "--select", "churn_rsk"
    )
    assert result.exit_code == 1
    assert "did you mean `churn_risk`?" in result.output


def test_table_option_binds_the_entity_file(example_dir, tmp_path):
    out = tmp_path / "t.parquet"
    ipc = tmp_path / "people.arrow"
    pl.read_parquet(example_dir / "customers.parquet").write_ipc(ipc)
    result = invoke(
        "run",
        RULES,
        "--table",
        f"customers={ipc}",
        "--table",
        f"orders={example_dir / 'orders.parquet'}",
        "--as-of",
        "2024-12-31",
        "-o",
        out,
        "-q",
    )
    assert result.exit_code == 0, result.output
    again = tmp_path / "u.parquet"
    invoke("run", RULES, "-d", example_dir, "--as-of", "2024-12-31", "-o", again, "-q")
    a, b = pl.read_parquet(out), pl.read_parquet(again)
    assert a.equals(b)


def test_check_clean_rules_against_data(example_dir):
    result = invoke("check", RULES, "--data", example_dir)
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_check_reports_every_error_with_a_caret(tmp_path, example_dir):
    bad = tmp_path / "bad.tags"
    bad.write_text(
        "entity customer table customers key customer_id\n"
        "tag a when agee > 3\ntag b when city > 3\ntag c when x = 1\n",
        "utf-8",
    )
    result = invoke("check", bad, "--data", example_dir)
    assert result.exit_code == 1
    text = result.output
    assert f"{bad}:2:12" in text and "did you mean `age`?" in text
    assert "cannot compare text with whole number" in text
    assert "to compare, write `==`" in text
    assert "^^^^" in text
    assert "3 errors" in text


def test_check_json_and_github_formats(tmp_path):
    bad = tmp_path / "bad.tags"
    bad.write_text("entity customer table customers key customer_id\ntag a when b = 1\n")
    result = invoke("check", bad, "--format", "json")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert (item["code"], item["line"], item["column"]) == ("TE001", 2, 14)
    result = invoke("check", bad, "--format", "github")
    assert result.stdout.startswith(f"::error file={bad},line=2,col=14,")


def test_compile_prints_polars_expressions(example_dir):
    result = invoke("compile", RULES, "--data", example_dir, "--as-of", "2024-12-31")
    assert result.exit_code == 0, result.output
    assert "tier1_city = " in result.output and "is_in" in result.output


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["run", RULES, "-o", "x.parquet", "--as-of", "31/12/2024"], 2, "--as-of takes a date"),
        (["run", RULES, "-o", "x.parquet", "--table", "oops"], 2, "NAME=SOURCE"),
        (["run", RULES, "-o", "x.parquet", "--data", "no/such/dir"], 1, "no such file or folder"),
        (["run", "no/such.tags", "-o", "x.parquet"], 1, "no such rule file"),
        (["run", RULES, "-o", "x.xlsx", "--data", "DATA"], 1, "cannot tell the output format"),
        (["check", RULES, "--data", "DATA", "--format", "xml"], 2, "xml"),
    ],
)
def test_user_errors_exit_cleanly(args, code, words, example_dir):
    args = [str(example_dir) if a == "DATA" else a for a in args]
    result = invoke(*args)
    assert result.exit_code == code
    assert words in result.output
    assert "Traceback" not in result.output


def test_failed_run_keeps_previous_output(example_dir, tmp_path):
    out = tmp_path / "tags.parquet"
    assert invoke("run", RULES, "-d", example_dir, "-o", out, "-q").exit_code == 0
    before = out.read_bytes()
    broken = tmp_path / "customers.parquet"
    pl.read_parquet(example_dir / "customers.parquet").head(3).with_columns(
        customer_id=pl.lit(1, pl.Int64)
    ).write_parquet(broken)  # duplicate keys, found only after evaluation
    result = invoke(
        "run", RULES, "-d", example_dir, "--table", f"customers={broken}", "-o", out, "-q"
    )
    assert result.exit_code == 1
    assert "appears more than once" in result.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.parquet", "tags.parquet"]


def test_duplicate_keys_are_reported_with_examples(tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_text("entity c table customers key id\ntag a when x > 1\n")
    data = tmp_path / "customers.csv"
    data.write_text("id,x\n1,1\n2,2\n2,3\n5,1\n5,0\n")
    result = invoke("run", rules, "--data", data, "-o", tmp_path / "o.parquet")
    assert result.exit_code == 1
    assert "2 key values of `customers.id` appear more than once (e.g. 2, 5)" in result.output


def test_console_script_never_shows_a_traceback(tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_text("entity c table customers key id\ntag a when x >\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tagengine", "check", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "error[TE001]" in proc.stderr and "Traceback" not in proc.stderr


def test_help_shows_an_example():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "tagengine run rules/retail.tags" in result.output


# ---- what the data says about the rules (TE410-TE412) ----------------------------------


def test_check_with_data_warns_of_text_the_data_never_holds(example_dir, tmp_path):
    rules = tmp_path / "gold.tags"
    rules.write_text(
        'entity customer table customers key customer_id\ntag g when member_level == "gold"\n',
        "utf-8",
    )
    result = invoke("check", rules, "--data", example_dir)
    assert result.exit_code == 0, result.output
    assert (
        'warning[TE410]: "gold" never occurs in `member_level`, so this comparison is never true'
        in result.stderr
    )
    levels = pl.read_parquet(example_dir / "customers.parquet")["member_level"].value_counts()
    for value, n in levels.drop_nulls().iter_rows():
        assert f'"{value}" ({n:,})' in result.stderr  # 金卡, 银卡, 普通, 钻石 with counts
    assert "1 warning" in result.stderr
    assert invoke("check", rules, "--data", example_dir, "--strict").exit_code == 1
    (item,) = json.loads(invoke("check", rules, "--data", example_dir, "-f", "json").stdout)
    assert (item["code"], item["line"], item["column"]) == ("TE410", 2, 28)

    rules.write_text(rules.read_text("utf-8").replace('"gold"', '"金卡"'), "utf-8")
    result = invoke("check", rules, "--data", example_dir, "--strict")
    assert result.exit_code == 0, result.output
    assert "TE410" not in result.output and "0 warnings" in result.output


def test_run_warns_of_tags_that_match_nobody_or_everybody(example_dir, tmp_path):
    rules = tmp_path / "r.tags"
    rules.write_text(
        "entity customer table customers key customer_id\n"
        'tag nobody when member_level == "gold"\n'
        "tag everybody when customer_id > 0\n"
        'tag some when member_level == "金卡"\n',
        "utf-8",
    )
    out = tmp_path / "o.parquet"
    result = invoke("run", rules, "-d", example_dir, "--as-of", "2024-12-31", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "warning[TE411]: tag `nobody` matches no customer (0 of 2,000)" in result.stderr
    assert "warning[TE412]: tag `everybody` matches every customer (2,000 of 2,000)" in (
        result.stderr
    )
    assert f"{rules}:2:1" in result.stderr and "some" not in result.stderr
    assert pl.read_parquet(out).height == 2000


@pytest.mark.parametrize(
    ("ages", "expected"),
    [
        ([30, 40], [("TE412", "adult"), ("TE411", "old")]),
        ([30, 10], [("TE411", "old")]),
        ([95, 10], []),
        ([30], []),  # one customer: every tag is all or nothing
        ([], []),
    ],
)
def test_tag_coverage_is_counted_from_the_result(ages, expected):
    import tagengine

    rules = tagengine.load(
        "entity customer table customers key customer_id\n"
        "tag adult when age >= 18\ntag old when age > 90\nfeature n = age + 1\n"
    )
    df = pl.DataFrame(
        {"customer_id": range(len(ages)), "age": ages},
        schema={"customer_id": pl.Int64, "age": pl.Int64},
    )
    found = [(d.code, d.message.split("`")[1]) for d in rules.run({"customers": df}).warnings]
    assert found == expected
