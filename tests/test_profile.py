"""`tagengine profile`: what the data holds, column by column (src/tagengine/profile.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from decimal import Decimal

import polars as pl
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from tagengine import profile as profiling
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def column(p: profiling.Profile, table: str, name: str) -> profiling.ColumnProfile:
    t = next(t for t in p.tables if t.name == table)
    return next(c for c in t.columns if c.column == name)


# ---- the example data -----------------------------------------------------------------


def test_the_example_data_shows_member_level_values(example_dir):
    result = invoke("profile", "--data", example_dir, "customers.member_level")
    assert result.exit_code == 0, result.output
    counts = pl.read_parquet(example_dir / "customers.parquet")["member_level"].value_counts()
    lines = result.stdout.splitlines()
    ends = set()
    for value, n in counts.iter_rows():
        (line,) = [line for line in lines if f" {value} " in line]
        assert f"{n:,}" in line
        ends.add(cell_len(line[: line.index(f"{n:,}") + len(f"{n:,}")]))
    assert {"金卡", "银卡", "普通", "钻石"} <= set(counts["member_level"].to_list())
    assert len(ends) == 1  # the counts line up, whatever the width of the Chinese text
    assert "customers · 2,000 rows" in result.stdout and "orders" not in result.stdout


def test_every_table_and_every_kind_of_column(example_dir):
    result = invoke("profile", "--data", example_dir)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for words in ("customers · 2,000 rows", "orders · ", "signup_date", "min  2019-", "true/false"):
        assert words in text, words
    assert "and 1,7" in text  # names: most are listed as "and N more values"


def test_csv_files_give_the_same_profile_as_parquet(tmp_path):
    assert invoke("example-data", tmp_path / "pq", "--customers", 300).exit_code == 0
    assert (
        invoke("example-data", tmp_path / "csv", "--customers", 300, "--format", "csv").exit_code
        == 0
    )
    args = ["orders.channel", "orders.category", "customers.member_level", "customers.age"]
    a = invoke("profile", "--data", tmp_path / "pq", *args, "-f", "json")
    b = invoke("profile", "--data", tmp_path / "csv", *args, "-f", "json")
    assert a.exit_code == b.exit_code == 0, a.output + b.output

    def values(text: str) -> list[dict]:  # the file types differ: int32 in Parquet, int64 in CSV
        columns = [c for t in json.loads(text)["tables"] for c in t["columns"]]
        return [{k: v for k, v in c.items() if k != "type"} for c in columns]

    assert values(a.stdout) == values(b.stdout)
    level = next(c for c in values(a.stdout) if c["column"] == "member_level")
    assert level["values"][0]["value"] == "普通" and level["rows"] == 300


def test_json_is_byte_identical_across_runs_and_sorted(example_dir):
    first = invoke("profile", "--data", example_dir, "--format", "json")
    second = invoke("profile", "--data", example_dir, "--format", "json")
    assert first.exit_code == 0, first.output
    assert first.stdout.encode() == second.stdout.encode()
    data = json.loads(first.stdout)
    assert [t["table"] for t in data["tables"]] == ["customers", "orders"]
    assert first.stdout == json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    customers = pl.read_parquet(example_dir / "customers.parquet")
    assert [c["column"] for c in data["tables"][0]["columns"]] == customers.columns
    level = next(c for c in data["tables"][0]["columns"] if c["column"] == "member_level")
    assert [v["value"] for v in level["values"]][:2] == ["普通", "银卡"]
    amount = next(c for c in data["tables"][1]["columns"] if c["column"] == "amount")
    assert {"min", "p25", "p50", "p75", "max"} <= set(amount) and amount["type"] == "decimal(12,2)"


def test_top_limits_the_values_listed(example_dir):
    result = invoke("profile", "-d", example_dir, "customers.city", "--top", "3", "-f", "json")
    city = json.loads(result.stdout)["tables"][0]["columns"][0]
    assert len(city["values"]) == 3 and city["more_values"] == city["distinct"] - 3
    human = invoke("profile", "-d", example_dir, "customers.city", "--top", "3")
    assert f"and {city['distinct'] - 3} more values" in human.stdout


# ---- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "code", "words"),
    [
        ("custmers", 2, "no table `custmers` in the data\n  = help: did you mean `customers`?"),
        ("member_level", 2, "did you mean `customers.member_level`?"),
        ("customers.member_lvl", 2, "did you mean `customers.member_level`?"),
        ("orders.nope", 2, "`orders` has no column `nope`"),
        ("nothing.at_all", 2, "tables in the data: customers, orders"),
    ],
)
def test_a_bad_target_is_a_usage_error_with_a_suggestion(example_dir, target, code, words):
    result = invoke("profile", "--data", example_dir, target)
    assert result.exit_code == code
    assert "error[TE101]" in result.stderr and words in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("profile")
    assert result.exit_code == 2 and "name the data" in result.stderr
    result = invoke("profile", "--data", tmp_path / "no" / "such")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr
    assert "Traceback" not in result.output


def test_the_project_files_tables_and_table_option(example_dir, tmp_path, monkeypatch):
    shutil.copy(example_dir / "customers.parquet", tmp_path / "people.parquet")
    (tmp_path / "tagengine.toml").write_text('[tables]\ncustomers = "people.parquet"\n', "utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("profile", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [t["table"] for t in json.loads(result.stdout)["tables"]] == ["customers"]
    result = invoke("profile", "--table", f"o={example_dir / 'orders.parquet'}", "o.channel")
    assert result.exit_code == 0, result.output
    assert "store" in result.stdout


# ---- the library ----------------------------------------------------------------------


def sample() -> dict[str, pl.DataFrame]:
    return {
        "customers": pl.DataFrame(
            {
                "customer_id": [1, 2, 3, 4, 5, 6],
                "level": ["银卡", "金卡", "银卡", "金卡", None, "普通"],
                "note": ["", " x", "x", "a[b]", None, None],
                "score": [0.5, float("nan"), 2.5, None, 1.0, 4.0],
                "spend": [Decimal("1.10"), Decimal("2.20"), None, None, None, Decimal("3.30")],
                "joined": [dt.date(2024, 1, d) for d in (5, 1, 3, 2, 4, 6)],
                "vip": [True, False, True, None, True, False],
                "city": pl.Series(["b", "a", "b", "a", "c", "c"], dtype=pl.Categorical),
                "tags": [["a"], [], None, ["b"], None, None],
                "nothing": pl.Series([None] * 6, dtype=pl.Null),
            },
            schema_overrides={"spend": pl.Decimal(10, 2)},
        )
    }


def test_values_most_frequent_first_ties_by_value():
    p = profiling.profile(sample(), top=2)
    level = column(p, "customers", "level")
    assert level.values == (profiling.ValueCount("金卡", 2), profiling.ValueCount("银卡", 2))
    assert (level.distinct, level.more, level.missing, level.rows) == (3, 1, 1, 6)
    city = column(p, "customers", "city")  # categories sorted as text
    assert [v.value for v in city.values] == ["a", "b"] and city.more == 1
    vip = column(p, "customers", "vip")
    assert vip.values == (profiling.ValueCount(True, 3), profiling.ValueCount(False, 2))


def test_ranges_count_nan_as_missing_and_keep_the_columns_type():
    p = profiling.profile(sample())
    score = column(p, "customers", "score")
    assert (score.missing, score.distinct) == (2, 4)
    # 0.5, 1.0, 2.5, 4.0: each quantile the nearest value held
    assert dict(score.range) == {"min": 0.5, "25%": 1.0, "50%": 2.5, "75%": 2.5, "max": 4.0}
    spend = column(p, "customers", "spend")
    assert dict(spend.range)["max"] == Decimal("3.30") and spend.missing == 3
    joined = dict(column(p, "customers", "joined").range)
    assert joined["min"] == dt.date(2024, 1, 1) and joined["50%"] == dt.date(2024, 1, 4)
    assert type(joined["25%"]) is dt.date
    data = json.loads(p.to_json())["tables"][0]["columns"]
    as_json = {c["column"]: c for c in data}
    assert as_json["spend"]["max"] == "3.30" and as_json["joined"]["p50"] == "2024-01-04"
    assert as_json["score"]["missing_share"] == round(2 / 6, 6)


def test_other_kinds_and_columns_without_values():
    p = profiling.profile(sample())
    tags, nothing = column(p, "customers", "tags"), column(p, "customers", "nothing")
    assert (tags.view, tags.missing, tags.distinct, tags.values) == ("counts", 3, None, ())
    assert (nothing.missing, nothing.distinct) == (6, None)
    empty = profiling.profile({"customers": sample()["customers"].clear()})
    level = column(empty, "customers", "level")
    assert (level.rows, level.missing, level.distinct, level.values) == (0, 0, 0, ())
    assert column(empty, "customers", "score").range == ()
    text = _rendered(empty)
    assert "(no values)" in text


def test_the_human_view_shows_text_as_the_rules_write_it():
    text = _rendered(profiling.profile(sample(), ["customers.note", "customers.level"]))
    assert '""' in text and '" x"' in text and "a[b]" in text  # no rich markup taken
    assert "and 1 more value" not in text
    assert text.index("level") < text.index("note")  # the table's own order


def test_private_columns_show_counts_only():
    p = profiling.profile(sample(), private=["level", "customers.score"])
    for name in ("level", "score"):
        c = column(p, "customers", name)
        assert c.private and c.values == () and c.range == () and c.distinct is None
    assert "银卡" not in p.to_json() and "private: values hidden" in _rendered(p)


def test_select_resolves_targets():
    schema = {
        "orders": {"id": pl.Int64, "x": pl.String},
        "customers": {"a": pl.Int64, "b": pl.String},
    }
    assert profiling.select(schema) == {"customers": ["a", "b"], "orders": ["id", "x"]}
    assert profiling.select(schema, ["orders.x", "customers.b", "orders.id", "orders.x"]) == {
        "customers": ["b"],
        "orders": ["id", "x"],
    }
    assert profiling.select(schema, ["orders.x", "orders"]) == {"orders": ["id", "x"]}
    with pytest.raises(TagEngineError) as exc:
        profiling.select(schema, ["order", "customers.c"])
    assert [d.code for d in exc.value.diagnostics] == ["TE101", "TE101"]


def _rendered(p: profiling.Profile) -> str:
    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(profiling.render(p))
    return console.export_text()
