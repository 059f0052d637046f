"""The project file binds tables and sets defaults; the command line overrides it."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from typer.testing import CliRunner

from tagengine.cli import app

RULES = Path(__file__).parent.parent / "rules" / "retail.tags"


def make_project(root: Path, example_dir: Path, extra: str = "") -> None:
    (root / "data").mkdir()
    for name in ("customers", "orders"):
        shutil.copy(example_dir / f"{name}.parquet", root / "data" / f"{name}.parquet")
    shutil.copytree(RULES.parent, root / "rules")
    (root / "out").mkdir()
    (root / "tagengine.toml").write_text(
        'rules = "rules/"\nas_of = 2024-12-31\noutput = "out/tags.parquet"\n'
        + extra
        + '[tables]\ncustomers = "data/customers.parquet"\norders = "data/orders*.parquet"\n',
        "utf-8",
    )


def test_project_file_alone_runs_everything(example_dir, tmp_path, monkeypatch):
    make_project(tmp_path, example_dir)
    (tmp_path / "data" / "orders.parquet").rename(tmp_path / "data" / "orders_2024.parquet")
    monkeypatch.chdir(tmp_path)
    # the glob now matches customers too; bind orders precisely instead
    text = (
        (tmp_path / "tagengine.toml").read_text().replace("data/*.parquet", "data/orders_*.parquet")
    )
    (tmp_path / "tagengine.toml").write_text(text)
    result = CliRunner().invoke(app, ["run", "-q"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "tags.parquet"
    assert pq.read_metadata(out).metadata[b"tagengine.as_of"] == b"2024-12-31"
    assert pl.read_parquet(out).height == 2000


def test_command_line_overrides_the_project(example_dir, tmp_path):
    make_project(tmp_path, example_dir)
    toml = tmp_path / "tagengine.toml"
    out = tmp_path / "mine.csv"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--project",
            str(toml),
            "--as-of",
            "2025-06-30",
            "-o",
            str(out),
            "-q",
            "--table",
            f"customers={example_dir / 'customers.parquet'}",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = (tmp_path / "mine.csv.meta.json").read_text()
    assert "2025-06-30" in meta


def test_check_uses_the_project_tables(example_dir, tmp_path):
    make_project(tmp_path, example_dir)
    toml = tmp_path / "tagengine.toml"
    result = CliRunner().invoke(app, ["check", "--project", str(toml)])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_bad_project_files_are_clear(tmp_path):
    bad = tmp_path / "tagengine.toml"
    bad.write_text('rulez = "x"\nas_of = "someday"\n')
    result = CliRunner().invoke(app, ["check", "--project", str(bad)])
    assert result.exit_code == 1
    assert "as_of" in result.output and "rulez" in result.output
    bad.write_text("rules = [\n")
    result = CliRunner().invoke(app, ["check", "--project", str(bad)])
    assert result.exit_code == 1 and "not valid TOML" in result.output
    result = CliRunner().invoke(app, ["check", "--project", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "no such project file" in result.output


def test_no_rules_anywhere_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 2
    assert "name the rule files" in result.output


def test_entity_and_related_tables_may_be_declared_in_the_project(example_dir, tmp_path):
    make_project(tmp_path, example_dir)
    rules = tmp_path / "rules" / "retail.tags"
    text = rules.read_text("utf-8")
    text = text.replace("entity customer table customers key customer_id\n", "")
    text = text.replace("related orders key customer_id time order_date\n", "")
    rules.write_text(text, "utf-8")
    toml = tmp_path / "tagengine.toml"
    toml.write_text(
        toml.read_text() + '[entity]\ntable = "customers"\nkey = "customer_id"\n'
        '[related.orders]\nkey = "customer_id"\ntime = "order_date"\n'
    )
    result = CliRunner().invoke(app, ["run", "--project", str(toml), "-q"])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.parquet"
    CliRunner().invoke(
        app,
        [
            "run",
            str(RULES),
            "-d",
            str(example_dir),
            "--as-of",
            "2024-12-31",
            "-o",
            str(again),
            "-q",
        ],
    )
    assert pl.read_parquet(tmp_path / "out" / "tags.parquet").equals(pl.read_parquet(again))


def _with_columns(root: Path, example_dir: Path, columns: str) -> None:
    make_project(root, example_dir)
    floats = pl.read_parquet(root / "data" / "orders.parquet").with_columns(
        pl.col("amount").cast(pl.Float64)
    )
    floats.write_parquet(root / "data" / "orders.parquet")
    path = root / "tagengine.toml"
    path.write_text(path.read_text("utf-8") + columns, "utf-8")


def test_declared_decimal_columns_are_exact(example_dir, tmp_path, monkeypatch):
    _with_columns(tmp_path, example_dir, '[columns.orders]\namount = "decimal(2)"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "-q"])
    assert result.exit_code == 0, result.output
    got = pl.read_parquet(tmp_path / "out" / "tags.parquet")
    assert got.schema["spend_90d"] == pl.Decimal(38, 2)
    # the same as on data that is decimal to begin with
    args = ["run", str(RULES), "--data", str(example_dir), "--as-of", "2024-12-31"]
    direct = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "direct.parquet"), "-q"])
    assert direct.exit_code == 0, direct.output
    assert got.equals(pl.read_parquet(tmp_path / "direct.parquet"))


def test_float_money_is_warned_about_until_declared(example_dir, tmp_path, monkeypatch):
    _with_columns(tmp_path, example_dir, "")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", "--strict"])
    assert result.exit_code == 1
    assert "TE306" in result.output and "[columns.orders] amount" in result.output


def test_bad_column_declarations_name_the_problem(example_dir, tmp_path, monkeypatch):
    _with_columns(tmp_path, example_dir, '[columns.orders]\namout = "decimal(2)"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "-q"])
    assert result.exit_code == 1
    assert "declares `orders.amout`" in result.output and "did you mean `amount`" in result.output
    path = tmp_path / "tagengine.toml"
    path.write_text(path.read_text("utf-8").replace('"decimal(2)"', '"money"'), "utf-8")
    result = CliRunner().invoke(app, ["run", "-q"])
    assert result.exit_code == 1
    assert "TE403" in result.output and "orders.amout = 'money'" in result.output
