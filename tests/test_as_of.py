"""as_of is never a surprise: every run says which date it used and why, `--as-of latest`
takes the data's last date, and TE413/TE414 warn when the data's dates do not fit it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine import asof
from tagengine.cli import app
from tagengine.engines import spark
from tagengine.project import Project

RULES = Path(__file__).parent.parent / "rules" / "retail.tags"
TODAY = dt.date(2026, 12, 4)
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def words(text: str) -> str:
    """The output with runs of white space as one space: a table title may wrap."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(asof, "today", lambda: TODAY)


@pytest.fixture(scope="module")
def latest_order(example_dir) -> dt.date:
    orders = pl.read_parquet(example_dir / "orders.parquet")
    return orders.get_column("order_date").max()


# ---- the command line, on the example data ----------------------------------------------


def test_without_as_of_the_run_says_today_and_why_and_warns(example_dir, tmp_path, latest_order):
    result = invoke("run", RULES, "--data", example_dir, "--out", tmp_path / "t.parquet")
    assert result.exit_code == 0, result.output
    text = words(result.output)
    assert (
        "2,000 customers · as of 2026-12-04 (today, because neither --as-of nor "
        "tagengine.toml's as_of is set)" in text
    )
    assert "warning[TE413]: as_of 2026-12-04 (today, because" in text
    assert f"after the last orders.order_date (dates from 2023-01-02 to {latest_order})" in text
    assert "the longest the rules use being `over last 365 days`" in text
    assert f"= help: pass --as-of {latest_order} (the last orders.order_date), or --as-of" in text


def test_quiet_keeps_the_warning_and_drops_the_summary(example_dir, tmp_path):
    result = invoke("run", RULES, "-d", example_dir, "-o", tmp_path / "t.parquet", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning[TE413]: ")
    assert "customers ·" not in result.output


@pytest.mark.parametrize(
    "engine", ["polars", "duckdb", pytest.param("spark", marks=pytest.mark.slow)]
)
def test_latest_is_the_last_order_date_and_runs_as_that_date(
    example_dir, tmp_path, latest_order, engine
):
    if engine == "spark" and spark.java_missing():
        pytest.fail(f"{spark.java_missing()}: install Java 17 (the Spark tests do not skip)")
    common = ("run", RULES, "-d", example_dir, "--engine", engine)
    latest = invoke(*common, "--as-of", "latest", "-o", tmp_path / "latest.parquet")
    assert latest.exit_code == 0, latest.output
    assert (
        f"as of {latest_order} (the last orders.order_date in the data, by --as-of latest)"
        in words(latest.output)
    )
    assert "TE413" not in latest.output and "TE414" not in latest.output
    given = invoke(*common, "--as-of", latest_order, "-o", tmp_path / "given.parquet", "-q")
    assert given.exit_code == 0, given.output
    assert (tmp_path / "latest.parquet").read_bytes() == (tmp_path / "given.parquet").read_bytes()


def test_as_of_before_every_order_is_te414(example_dir, tmp_path):
    result = invoke(
        "run", RULES, "-d", example_dir, "--as-of", "2022-06-30", "-o", tmp_path / "t.csv"
    )
    assert result.exit_code == 0, result.output
    text = words(result.output)
    assert (
        "warning[TE414]: as_of 2022-06-30 (given with --as-of) is before the first "
        "orders.order_date (dates from 2023-01-02 to" in text
    )
    assert "no row of `orders` counts" in text
    assert "TE413" not in text


def test_the_intended_date_gives_no_warning(example_dir, tmp_path):
    result = invoke(
        "run", RULES, "-d", example_dir, "--as-of", "2024-12-31", "-o", tmp_path / "t.csv"
    )
    assert result.exit_code == 0, result.output
    assert "TE413" not in result.output and "TE414" not in result.output
    assert "2,000 customers · as of 2024-12-31 (given with --as-of)" in words(result.output)


def test_explain_says_the_date_and_its_source(example_dir):
    result = invoke("explain", RULES, "-d", example_dir, "--id", "2", "--tag", "high_value")
    assert result.exit_code == 0, result.output
    text = words(result.output)
    assert "warning[TE413]" in text and "`over last 90 days`" in text  # high_value's window
    assert "customer customer_id = 2 · as of 2026-12-04 (today, because neither" in text
    funnel = invoke("explain", RULES, "-d", example_dir, "--tag", "high_value", "--as-of", "latest")
    assert funnel.exit_code == 0, funnel.output
    assert "in all · as of " in funnel.output and "by --as-of latest)" in funnel.output


def test_explain_json_stays_json(example_dir):
    result = runner.invoke(
        app, ["explain", str(RULES), "-d", str(example_dir), "--id", "2", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith("{")
    assert "TE413" in result.stderr


def test_check_with_the_data_warns_and_says_the_date(example_dir):
    result = invoke("check", RULES, "--data", example_dir)
    assert result.exit_code == 0, result.output
    text = words(result.output)
    assert "warning[TE413]" in text
    assert "dates checked as of 2026-12-04 (today, because neither" in text
    assert "0 errors, 1 warning" in text
    strict = invoke("check", RULES, "--data", example_dir, "--as-of", "2024-12-31", "--strict")
    assert strict.exit_code == 0, strict.output
    assert "dates checked as of 2024-12-31 (given with --as-of)" in strict.output
    early = invoke("check", RULES, "--data", example_dir, "--as-of", "2020-01-01", "--strict")
    assert early.exit_code == 1 and "warning[TE414]" in early.output


def test_check_without_the_data_reads_no_dates(example_dir):
    result = invoke("check", RULES)
    assert result.exit_code == 0, result.output
    assert "TE413" not in result.output and "dates checked" not in result.output


def project(tmp_path: Path, example_dir: Path, as_of: str) -> Path:
    (tmp_path / "data").mkdir()
    for name in ("customers", "orders"):
        shutil.copy(example_dir / f"{name}.parquet", tmp_path / "data" / f"{name}.parquet")
    (tmp_path / "tagengine.toml").write_text(
        f'rules = "retail.tags"\nas_of = {as_of}\noutput = "tags.csv"\n'
        '[tables]\ncustomers = "data/customers.parquet"\norders = "data/orders.parquet"\n',
        "utf-8",
    )
    shutil.copy(RULES, tmp_path / "retail.tags")
    return tmp_path / "tagengine.toml"


def test_the_project_file_is_named_as_the_source(example_dir, tmp_path, latest_order):
    toml = project(tmp_path, example_dir, "2026-06-30")
    result = invoke("run", "--project", toml)
    assert result.exit_code == 0, result.output
    text = words(result.output)
    assert f"as of 2026-06-30 (from as_of in {toml})" in text
    assert f"warning[TE413]: as_of 2026-06-30 (from as_of in {toml})" in text
    assert (
        f"= help: set as_of = {latest_order} (the last orders.order_date) or "
        f'as_of = "latest" in {toml}' in text
    )
    overridden = invoke("run", "--project", toml, "--as-of", "2024-12-31")
    assert overridden.exit_code == 0, overridden.output
    assert "(given with --as-of)" in words(overridden.output)


def test_latest_in_the_project_file(example_dir, tmp_path, latest_order):
    toml = project(tmp_path, example_dir, '"latest"')
    result = invoke("run", "--project", toml)
    assert result.exit_code == 0, result.output
    assert (
        f'as of {latest_order} (the last orders.order_date in the data, by as_of = "latest" '
        f"in {toml})" in words(result.output)
    )
    tests = invoke("test", "--project", toml)  # test blocks have no data to take it from
    assert tests.exit_code == 0, tests.output


def test_a_project_as_of_that_is_no_date_names_both_forms(tmp_path):
    toml = tmp_path / "tagengine.toml"
    toml.write_text('as_of = "yesterday"\n', "utf-8")
    result = invoke("check", "--project", toml)
    assert result.exit_code == 1
    assert 'write as_of = 2024-12-31, or as_of = "latest"' in result.output


NO_TIME = "entity customer table customers key customer_id\nrelated orders key customer_id\n"


@pytest.mark.parametrize(
    ("rules", "args", "message"),
    [
        (
            NO_TIME + "feature n = count(orders)\n",
            ["run", "--data", "{data}", "-o", "{tmp}/t.csv", "--as-of", "latest"],
            "--as-of latest takes the latest date of the related tables' time columns, but "
            "no related table has one",
        ),
        (
            NO_TIME.replace("orders key customer_id", "orders key customer_id time order_date")
            + "feature n = count(orders)\n",
            ["explain", "--data", "{tmp}/empty", "--id", "1", "--as-of", "latest"],
            "--as-of latest: there is no date in orders.order_date (no rows, or every date "
            "is missing)",
        ),
        (
            NO_TIME + "feature n = count(orders)\n",
            ["compile", "--as-of", "latest"],
            "--as-of latest needs the data (--data, --table or [tables])",
        ),
    ],
    ids=["no-time-column", "no-rows", "no-data"],
)
def test_latest_without_a_date_is_a_clear_usage_error(example_dir, tmp_path, rules, args, message):
    (tmp_path / "empty").mkdir()
    pl.read_parquet(example_dir / "customers.parquet").write_parquet(
        tmp_path / "empty" / "customers.parquet"
    )
    pl.read_parquet(example_dir / "orders.parquet").head(0).write_parquet(
        tmp_path / "empty" / "orders.parquet"
    )
    (tmp_path / "r.tags").write_text(rules, "utf-8")
    filled = [a.format(data=example_dir, tmp=tmp_path) for a in args]
    result = invoke(filled[0], tmp_path / "r.tags", *filled[1:])
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in words(result.output)
    assert "= help: " in result.output and "Traceback" not in result.output


def test_as_of_must_be_a_date_or_latest(example_dir, tmp_path):
    result = invoke(
        "run", RULES, "-d", example_dir, "-o", tmp_path / "t.csv", "--as-of", "2024/12/31"
    )
    assert result.exit_code == 2
    assert "--as-of takes a date like 2024-12-31, or `latest`; not `2024/12/31`" in result.output


# ---- the library ------------------------------------------------------------------------

HEADER = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)
FIRST, LAST = dt.date(2024, 1, 10), dt.date(2024, 12, 20)
ORDERS = {"customer_id": [1, 1, 2], "order_date": [FIRST, LAST, dt.date(2024, 6, 1)]}


def observed(rules: str, as_of: asof.Asked, orders: dict = ORDERS, **kw) -> asof.Observation:
    tables = {
        "customers": pl.DataFrame({"customer_id": [1, 2]}),
        "orders": pl.DataFrame(orders),
    }
    return asof.observe(tagengine.load(HEADER + rules), tables, as_of, **kw)


def days(n: int) -> dt.date:
    return LAST + dt.timedelta(days=n)


@pytest.mark.parametrize(
    ("rules", "as_of", "code"),
    [
        # every window empty once the last date is on or before as_of - the longest window
        ("feature n = count(orders) over last 90 days\n", days(89), None),
        ("feature n = count(orders) over last 90 days\n", days(90), "TE413"),
        ("feature n = count(orders) over last 2 weeks\n", days(14), "TE413"),
        ("feature n = count(orders) over last 2 weeks\n", days(13), None),
        # the longest window counts, whichever rule has it
        (
            "feature a = count(orders) over last 30 days\n"
            "feature b = sum(orders.customer_id) over last 1 years\n",
            days(300),
            None,
        ),
        # months by the calendar, as the aggregates count them: 2025-01-20 - 1 month
        ("feature n = count(orders) over last 1 months\n", dt.date(2025, 1, 20), "TE413"),
        ("feature n = count(orders) over last 1 months\n", dt.date(2025, 1, 19), None),
        # no window: more than a year
        ("feature n = count(orders)\n", days(365), None),
        ("feature n = count(orders)\n", days(366), "TE413"),
        ("feature last = max(orders.order_date)\n", days(500), "TE413"),
        # a fixed window does not move with as_of: as without one
        ("feature n = count(orders) over 2024-01-01 to 2024-03-31\n", days(100), None),
        # before the first date: nothing is visible
        ("feature n = count(orders)\n", FIRST - dt.timedelta(days=1), "TE414"),
        ("feature n = count(orders) over last 7 days\n", FIRST, None),
        ("feature n = count(orders)\n", LAST, None),
        # a table no rule aggregates over is not checked
        ("feature n = customer_id\n", days(1000), None),
    ],
)
def test_warnings(rules, as_of, code):
    found = observed(rules, as_of).warnings
    assert [d.code for d in found] == ([code] if code else []), [d.message for d in found]
    assert all(not d.is_error for d in found)


def test_only_the_selected_rules_windows_count():
    rules = (
        "feature short = count(orders) over last 7 days\n"
        "feature long = count(orders) over last 365 days\n"
        "tag recent when short > 0\n"
    )
    assert observed(rules, days(30)).warnings == ()
    (warning,) = observed(rules, days(30), select=["recent"]).warnings
    assert warning.code == "TE413" and "`over last 7 days`" in warning.message
    # a name that is no rule is the run's to report
    assert observed(rules, days(30), select=["nope"]).warnings == ()


def test_the_message_names_the_column_its_dates_the_date_and_its_source():
    (warning,) = observed("feature n = count(orders) over last 30 days\n", days(40)).warnings
    assert warning.message == (
        "as_of 2025-01-29 (given with --as-of) is 40 days after the last orders.order_date "
        "(dates from 2024-01-10 to 2024-12-20): every `over last` window on `orders` is "
        "empty, the longest the rules use being `over last 30 days`"
    )
    assert warning.hint == "pass --as-of 2024-12-20 (the last orders.order_date), or --as-of latest"


def test_latest_is_the_last_date_of_any_related_table_on_its_calendar_day():
    rules = (
        "related visits key customer_id time seen\n"
        "feature n = count(orders)\nfeature v = count(visits)\n"
    )
    tables = {
        "customers": pl.DataFrame({"customer_id": [1, 2]}),
        "orders": pl.DataFrame(ORDERS),
        "visits": pl.DataFrame(
            {"customer_id": [2, None], "seen": [dt.datetime(2025, 1, 3, 23, 59), None]}
        ),
    }
    found = asof.observe(tagengine.load(HEADER + rules), tables, "latest")
    assert found.as_of == asof.AsOf(
        dt.date(2025, 1, 3), asof.Source.LATEST, "tagengine.toml", "visits.seen"
    )
    assert [(r.name, r.first, r.last) for r in found.ranges] == [
        ("orders.order_date", FIRST, LAST),
        ("visits.seen", dt.date(2025, 1, 3), dt.date(2025, 1, 3)),
    ]
    # orders end 14 days before visits do: the rules use no window on them, so no warning
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("asked", "project", "source", "words_"),
    [
        (dt.date(2024, 12, 31), Project(as_of=dt.date(2020, 1, 1)), "given", "given with --as-of"),
        (None, Project(as_of=dt.date(2020, 1, 1), file="p/tagengine.toml"), "project",
         "from as_of in p/tagengine.toml"),
        (None, Project(), "today",
         "today, because neither --as-of nor tagengine.toml's as_of is set"),
        (None, None, "today", "today, because neither --as-of nor tagengine.toml's as_of is set"),
        ("latest", Project(as_of=dt.date(2020, 1, 1)), "latest",
         "the last orders.order_date in the data, by --as-of latest"),
        (None, Project(as_of="latest", file="p.toml"), "latest",
         'the last orders.order_date in the data, by as_of = "latest" in p.toml'),
    ],
)  # fmt: skip
def test_which_date_wins_and_how_it_is_described(asked, project, source, words_):
    ranges = [asof.TimeRange("orders", "order_date", FIRST, LAST)]
    chosen = asof.resolve(asked, project, ranges)
    assert chosen.source == source
    assert chosen.describe() == words_
    expected = {"today": TODAY, "latest": LAST, "project": dt.date(2020, 1, 1)}
    assert chosen.date == expected.get(source, asked)


def test_time_ranges_read_files_as_the_sql_engines_get_them(example_dir, latest_order):
    """The SQL engines get paths, not frames: the dates come from a scan of the file."""
    rules = tagengine.load(RULES)
    paths = {name: example_dir / f"{name}.parquet" for name in ("customers", "orders")}
    found = asof.observe(rules, paths, "latest")
    assert found.as_of.date == latest_order
    assert found.as_of.column == "orders.order_date"


@pytest.mark.parametrize(("as_of", "code"), [("2026-06-30", "TE413"), ("2020-01-01", "TE414")])
def test_a_private_time_column_gets_the_warning_without_its_dates(
    example_dir, tmp_path, latest_order, as_of, code
):
    """`pii` covers the warnings too: that as_of lies outside the dates, never the dates."""
    toml = project(tmp_path, example_dir, as_of)
    text = toml.read_text("utf-8").replace("[tables]", 'pii = ["orders.order_date"]\n[tables]')
    toml.write_text(text, "utf-8")
    first = pl.read_parquet(example_dir / "orders.parquet")["order_date"].min()
    for command in ("run", "check"):
        result = invoke(command, "--project", toml)
        assert result.exit_code == 0, result.output
        assert f"warning[{code}]" in result.output
        assert "its dates are not shown" in words(result.output)
        assert str(latest_order) not in result.output and str(first) not in result.output
