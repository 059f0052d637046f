"""Private columns (the project's `pii`) are never printed, and not written unless asked."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app
from tagengine.privacy import MASK, Privacy

RULES = """
entity customer table customers key customer_id
related orders key customer_id time order_date
feature contact = lower(email)
feature email_length = length(email)
feature last_channel = last(orders.channel)
feature age_next_year = age + 1
tag has_phone when phone is not missing and phone starts with "13"
tag gmail when email ends with "@gmail.com"
"""
AS_OF = dt.date(2024, 12, 31)


def _tables() -> dict[str, pl.DataFrame]:
    return {
        "customers": pl.DataFrame(
            {
                "customer_id": [1, 2],
                "email": ["Ann@Gmail.com", None],
                "phone": ["13800001111", "15900002222"],
                "age": [30, 40],
            }
        ),
        "orders": pl.DataFrame(
            {
                "customer_id": [1],
                "order_date": [dt.date(2024, 12, 1)],
                "channel": ["app"],
            }
        ),
    }


def test_which_rules_carry_a_private_value():
    rules = tagengine.load(RULES)
    program = rules.compile({n: df.schema for n, df in _tables().items()})
    privacy = Privacy.of(program, ["email", "customers.phone", "orders.channel"])
    assert privacy.withheld(program.outputs) == ["contact", "last_channel"]
    # a verdict, a length and plain arithmetic on other columns carry nothing
    assert not privacy.rule_carries("has_phone") and not privacy.rule_carries("email_length")
    assert Privacy.of(program, ["age"]).withheld(program.outputs) == ["age_next_year"]


def test_explain_masks_private_values():
    rules = tagengine.load(RULES)
    report = rules.explain(_tables(), id=1, as_of=AS_OF, private=["email", "phone"])
    text = report.model_dump_json()
    assert "13800001111" not in text and "Ann@Gmail.com" not in text.replace("\\", "")
    assert "ann@gmail.com" not in text
    contact = next(r for r in report.rules if r.name == "contact")
    assert contact.value == MASK and contact.shown == MASK
    has_phone = next(r for r in report.rules if r.name == "has_phone")
    assert has_phone.value is True  # the verdict is not private
    phone = has_phone.tree.children[0].children[0]
    assert (phone.text, phone.value, phone.shown) == ("phone", MASK, MASK)
    not_gmail = rules.explain(_tables(), id=2, tags=["gmail"], as_of=AS_OF, private=["email"])
    assert not_gmail.rules[0].obstacles[0].reason == "unknown: email is missing"


def test_funnel_shows_no_private_values():
    rules = tagengine.load(RULES)
    report = rules.explain(_tables(), tags=["contact", "gmail"], as_of=AS_OF, private=["email"])
    contact, gmail = report.rules
    assert contact.buckets == [] and contact.count == 1
    assert gmail.count == 0  # "Ann@Gmail.com": ends with is case-sensitive


def test_run_leaves_private_values_out_unless_asked(tmp_path, monkeypatch):
    for name, df in _tables().items():
        df.write_parquet(tmp_path / f"{name}.parquet")
    (tmp_path / "rules.tags").write_text(RULES, "utf-8")
    (tmp_path / "tagengine.toml").write_text(
        'rules = "rules.tags"\nas_of = 2024-12-31\npii = ["email", "phone"]\n'
        '[tables]\ncustomers = "customers.parquet"\norders = "orders.parquet"\n',
        "utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--out", "tags.csv"])
    assert result.exit_code == 0, result.output
    assert "not written, as their values show private columns: contact" in result.output
    written = (tmp_path / "tags.csv").read_text("utf-8")
    assert "gmail" in written.splitlines()[0] and "contact" not in written
    assert "ann@gmail.com" not in result.output

    result = CliRunner().invoke(app, ["run", "--out", "all.csv", "--include-pii", "-q"])
    assert result.exit_code == 0
    assert "ann@gmail.com" in (tmp_path / "all.csv").read_text("utf-8")

    result = CliRunner().invoke(app, ["explain", "--id", "1", "--format", "json"])
    assert result.exit_code == 0
    assert "13800001111" not in result.output and "ann@gmail.com" not in result.output
    assert json.loads(result.output)["rules"][0]["shown"] == MASK


def test_example_rules_with_private_contact_columns(example_dir, tmp_path):
    """On the example data, every explained value of phone and email is masked."""
    shutil.copy(example_dir / "customers.parquet", tmp_path / "customers.parquet")
    customers = pl.read_parquet(tmp_path / "customers.parquet")
    rules = tagengine.load(Path(__file__).parents[1] / "rules" / "retail.tags")
    tables = {"customers": customers, "orders": pl.read_parquet(example_dir / "orders.parquet")}
    report = rules.explain(tables, id=3, as_of=AS_OF, private=["phone", "email"])
    text = report.model_dump_json()
    row = customers.filter(pl.col("customer_id") == 3).row(0, named=True)
    for column in ("phone", "email"):
        if row[column]:
            assert row[column] not in text


def test_errors_about_private_columns_show_no_values(tmp_path, monkeypatch):
    pl.DataFrame({"customer_id": [1, 2], "phone": ["13800001111", "abc"]}).write_parquet(
        tmp_path / "customers.parquet"
    )
    (tmp_path / "r.tags").write_text(
        "entity customer table customers key customer_id\ntag p when phone > 5\n", "utf-8"
    )
    project = (
        'rules = "r.tags"\nas_of = 2024-12-31\npii = ["phone"]\n'
        '[tables]\ncustomers = "customers.parquet"\n[columns.customers]\nphone = "int64"\n'
    )
    (tmp_path / "tagengine.toml").write_text(project, "utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--out", "x.parquet"])
    assert result.exit_code == 1
    assert "column `phone`" in result.output and "`***`" in result.output
    assert "abc" not in result.output
    (tmp_path / "tagengine.toml").write_text(project.replace('pii = ["phone"]\n', ""), "utf-8")
    result = CliRunner().invoke(app, ["run", "--out", "x.parquet"])
    assert "`abc`" in result.output  # the control: without `pii` the value is shown


CANARIES = ("PII-CANARY-13800138000", "PII-CANARY-13900139000", "CARD-CANARY-6222020000")


def test_canary_values_of_private_columns_appear_in_no_output(tmp_path, monkeypatch):
    """Distinctive values planted in private columns: neither `profile` (human, JSON) nor
    the warnings of `check --data` and `run` (human, JSON, GitHub) print them, on stdout
    or stderr; the control without `pii` shows they would be seen."""
    pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "phone": [CANARIES[0], CANARIES[1], CANARIES[1], None],
            "member_level": ["金卡", "银卡", "金卡", "普通"],
        }
    ).write_parquet(tmp_path / "customers.parquet")
    pl.DataFrame(
        {
            "customer_id": [1, 2],
            "order_date": [dt.date(2024, 12, 1)] * 2,
            "card_no": [CANARIES[2], CANARIES[2]],
        }
    ).write_parquet(tmp_path / "orders.parquet")
    (tmp_path / "rules.tags").write_text(
        "entity customer table customers key customer_id\n"
        "related orders key customer_id time order_date\n"
        'tag near_phone when phone == "PII-CANARY-13800138009"\n'  # a close spelling
        'tag not_phone when phone != "pii-canary-13900139000 "\n'  # case and spaces
        'tag card when count(orders where orders.card_no in ["CARD-CANARY-622202000"]) > 0\n'
        'feature last_card = last(orders.card_no)\ntag lc when last_card == "x"\n',
        "utf-8",
    )
    project = (
        'rules = "rules.tags"\nas_of = 2024-12-31\npii = ["phone", "orders.card_no"]\n'
        '[tables]\ncustomers = "customers.parquet"\norders = "orders.parquet"\n'
    )
    (tmp_path / "tagengine.toml").write_text(project, "utf-8")
    monkeypatch.chdir(tmp_path)
    commands = [
        ["profile"],
        ["profile", "--format", "json"],
        ["profile", "customers.phone", "orders.card_no", "--top", "50"],
        ["check"],
        ["check", "--format", "json"],
        ["check", "--format", "github"],
        ["run", "--out", "tags.csv"],
    ]

    def outputs() -> dict[str, str]:
        seen = {}
        for args in commands:
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            seen[" ".join(args)] = result.stdout + result.stderr
        return seen

    seen = outputs()
    for command, text in seen.items():
        for canary in CANARIES:
            assert canary not in text, (command, canary)
    assert "private: values hidden" in seen["profile"]
    profiled = json.loads(seen["profile --format json"])
    phone = next(c for c in profiled["tables"][0]["columns"] if c["column"] == "phone")
    assert phone == {
        "column": "phone",
        "kind": "text",
        "missing": 1,
        "missing_share": 0.25,
        "private": True,
        "rows": 4,
        "type": "string",
    }
    assert seen["check"].count("warning[TE410]") == 4
    assert "its values are not shown" in seen["check"]
    assert "warning[TE411]: tag `near_phone`" in seen["run --out tags.csv"]

    # the control: the same commands, nothing private, show the values
    (tmp_path / "tagengine.toml").write_text(project.replace("pii = [", "# ["), "utf-8")
    seen = outputs()
    assert CANARIES[0] in seen["profile"] and CANARIES[2] in seen["profile --format json"]
    assert f'did you mean "{CANARIES[0]}"?' in seen["check"]
    assert f'did you mean "{CANARIES[1]}"?' in seen["check"]


@pytest.mark.parametrize(
    ("cells", "declared", "code"),
    [
        ([f"1234567{i:02}" for i in range(19)] + ["SSN-123-45-6789"], "", "TE704"),
        ([f"2024-01-{i:02}" for i in range(1, 20)] + ["SSN-2024-13-45"], 'ssn = "date"', "TE705"),
    ],
)
def test_a_bad_cell_of_a_private_column_is_masked_by_field(
    tmp_path, monkeypatch, cells, declared, code
):
    """The value is a field of the diagnostic: `***` in its place, and the rest of the
    message and the hint word for word as without `pii` (no pattern masks them)."""
    rows = ["customer_id,ssn"] + [f"{i + 1},{c}" for i, c in enumerate(cells)]
    (tmp_path / "customers.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "r.tags").write_text(
        "entity customer table customers key customer_id\ntag t when ssn is missing\n", "utf-8"
    )
    base = (
        'rules = "r.tags"\nas_of = 2024-12-31\n[tables]\ncustomers = "customers.csv"\n'
        f"[columns.customers]\n{declared}\n"
    )
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for private in (False, True):
        project = base.replace("[tables]", 'pii = ["ssn"]\n[tables]') if private else base
        (tmp_path / "tagengine.toml").write_text(project, "utf-8")
        result = CliRunner().invoke(app, ["run", "--out", "x.parquet"])
        assert result.exit_code == 1, result.output
        assert f"error[{code}]" in result.output
        outputs[private] = result.output
    bad = cells[-1]
    assert bad in outputs[False] and bad not in outputs[True]
    assert "SSN" not in outputs[True]
    assert outputs[True] == outputs[False].replace(f"`{bad}`", "`***`")  # only the value


def test_a_diagnostic_masks_only_its_value():
    from tagengine.diagnostics import VALUE, quoting

    d = quoting("TE704", f"line 1, column `ssn`: `{VALUE}` is not 1", "1", "customers.ssn", "h 1")
    assert d.message == "line 1, column `ssn`: `1` is not 1"
    masked = d.masked(["ssn"])
    assert masked.message == "line 1, column `ssn`: `***` is not 1" and masked.hint == "h 1"
    assert d.masked(["customers.ssn"]).value == "***"
    assert d.masked(["orders.ssn"]).message == d.message  # another table's column
    assert d.masked([]) is d
    unknown = quoting("TE402", f"engine: {VALUE}", "x 'abc'", None)
    assert "abc" not in unknown.masked(["any"]).message  # a value of no known column
    assert unknown.masked([]).message == "engine: x 'abc'"


def test_a_failing_test_of_a_private_value_shows_no_value(tmp_path, monkeypatch):
    """`tagengine test`: a failure of a rule that carries a private column shows `***` for
    what was expected and what came out, in the terminal, JSON and JUnit, explain tree
    included; without `pii` (the control) the values show."""
    rules = (
        "entity customer table customers key customer_id\n"
        "feature score2 = credit_score * 2\n"
        'test "score"\n'
        "  given customers { customer_id: 1, credit_score: 359.81 }\n"
        "  expect score2 == 123.45\n"
    )
    (tmp_path / "r.tags").write_text(rules, "utf-8")
    monkeypatch.chdir(tmp_path)
    seen = {}
    for private in (False, True):
        pii = 'pii = ["credit_score"]\n' if private else ""
        (tmp_path / "tagengine.toml").write_text(f'rules = "r.tags"\n{pii}', "utf-8")
        text = ""
        for fmt in ("human", "json"):
            result = CliRunner().invoke(
                app, ["test", "--format", fmt, "--junit", str(tmp_path / "junit.xml")]
            )
            assert result.exit_code == 1, result.output
            text += result.output + (tmp_path / "junit.xml").read_text("utf-8")
        seen[private] = text
    for value in ("719.62", "123.45", "359.81"):
        assert value in seen[False], value
        assert value not in seen[True], value
    assert "***" in seen[True]
