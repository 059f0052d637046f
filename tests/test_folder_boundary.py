"""The project folder's boundary (docs/security.md, "The project file cannot reach outside
its folder") holds for every file a value leads to: each file a glob matches, each folder
it lists, each rule file of a rules folder, the file of a local database URI. Real files
and real symbolic links; the files outside are not valid data, so that a reader that
opened one would fail otherwise than with TE409."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine import databases
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError
from tagengine.engines import sources as engine_sources
from tagengine.project import load_project
from tagengine.sources import tables_from

RULES = "entity customer table customers key customer_id\ntag adult when age >= 18\n"
GARBAGE = b"PAR1 not data: a reader that opens this fails\n"


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """tmp/project (the current folder: rules.tags, data/customers.parquet, rules2/ok.tags)
    and tmp/outside (files that must not be read, and a folder of them)."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "data").mkdir(parents=True)
    (project / "rules2").mkdir()
    (project / "rules.tags").write_text(RULES, "utf-8")
    (project / "rules2" / "ok.tags").write_text(RULES, "utf-8")
    pl.DataFrame({"customer_id": [1], "age": [30]}).write_parquet(
        project / "data" / "customers.parquet"
    )
    (outside / "folder").mkdir(parents=True)
    for name in ("customers.parquet", "customers.csv", "crm.db", "shop.duckdb", "evil.tags"):
        (outside / name).write_bytes(GARBAGE)
        (outside / "folder" / name).write_bytes(GARBAGE)
    monkeypatch.chdir(project)
    return project


def _toml(root: Path, tables: str = "", rules: str = "rules.tags", extra: str = "") -> None:
    (root / "tagengine.toml").write_text(
        f'rules = "{rules}"\nas_of = 2024-12-31\n{extra}\n[tables]\n{tables}\n', "utf-8"
    )


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _refused() -> str:
    with pytest.raises(TagEngineError) as info:
        load_project(None)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "TE409", diagnostic
    assert "is outside the project folder" in diagnostic.message
    assert "allow_outside" in (diagnostic.hint or "")
    return diagnostic.message


# (what the project file says, links to make in the project: name -> target under
# outside/, what TE409 names)
REFUSED = [
    pytest.param(
        'customers = "data/link*.parquet"',
        {"data/link.parquet": "customers.parquet"},
        "customers = `data/link*.parquet` matches `data/link.parquet`",
        id="glob-star",
    ),
    pytest.param(
        'customers = "data/[l]ink.parquet"',
        {"data/link.parquet": "customers.parquet"},
        "customers = `data/[l]ink.parquet` matches `data/link.parquet`",
        id="glob-class",
    ),
    pytest.param(
        'customers = "data/*.parquet"',
        {"data/link.parquet": "customers.parquet"},
        "matches `data/link.parquet`",
        id="glob-beside-a-good-file",
    ),
    pytest.param(
        'customers = "data/**/*.parquet"',
        {"data/a/b/link.parquet": "customers.parquet"},
        "customers = `data/**/*.parquet` matches `data/a/b/link.parquet`",
        id="glob-any-depth",
    ),
    pytest.param(
        'customers = "data/*/customers.parquet"',
        {"data/ext": "folder"},
        "matches `data/ext/customers.parquet`, which is outside",
        id="linked-folder",
    ),
    pytest.param(
        'customers = "data/**/*.parquet"',
        {"data/ext": "folder"},
        "reaches the folder `data/ext`, which is outside",
        id="linked-folder-any-depth",
    ),
    pytest.param(
        'customers = "data/year=*/*.parquet"',
        {"data/year=2024": "folder"},
        "reaches the folder `data/year=2024`",
        id="hive-partition-linked",
    ),
    pytest.param(
        'customers = "data/*.csv"',
        {"data/link.csv": "customers.csv"},
        "matches `data/link.csv`",
        id="csv-glob",
    ),
    pytest.param(
        'customers = "data/../../outside/*.parquet"',
        {},
        "customers = `data/../../outside/*.parquet` is outside",
        id="dotdot-before-the-glob",
    ),
    pytest.param(
        'customers = "data/*/../../../outside/customers.parquet"',
        {"data/sub": None},  # a folder
        "matches `data/sub/../../../outside/customers.parquet`",
        id="dotdot-after-the-glob",
    ),
    pytest.param(
        'customers = "data/link.parquet"',
        {"data/link.parquet": "customers.parquet"},
        "customers = `data/link.parquet` is outside the project folder",
        id="link-no-glob",
    ),
    pytest.param(
        'customers = "sqlite:///{outside}/crm.db#customers"',
        {},
        "reads `{outside}/crm.db`",
        id="sqlite-uri",
    ),
    pytest.param(
        'customers = "sqlite://../outside/crm.db#customers"',
        {},
        "reads `../outside/crm.db`",
        id="sqlite-uri-relative",
    ),
    pytest.param(
        'customers = " SQLite+x:////{outside}/cr%6D.db#customers"',
        {},
        "reads `{outside}/crm.db`",
        id="sqlite-uri-disguised",
    ),
    pytest.param(
        'customers = "sqlite:///{project}/data/crm.db#customers"',
        {"data/crm.db": "crm.db"},
        "reads `{project}/data/crm.db`, which is outside the project folder",
        id="sqlite-uri-through-a-link",
    ),
    pytest.param(
        'customers = "duckdb:///{outside}/shop.duckdb#customers"',
        {},
        "reads `{outside}/shop.duckdb`",
        id="duckdb-uri",
    ),
    pytest.param(
        'customers = "data/crm.sqlite#customers"',
        {"data/crm.sqlite": "crm.db"},
        "customers = `data/crm.sqlite#customers` is outside",
        id="sqlite-file-link",
    ),
]


@pytest.mark.parametrize(("tables", "links", "named"), REFUSED)
def test_every_file_a_table_leads_to_stays_inside(here, tables, links, named):
    outside = here.parent / "outside"
    for name, target in links.items():
        if target is None:
            (here / name).mkdir()
        else:
            _link(here / name, outside / target)
    fill = {"outside": str(outside), "project": str(here)}
    _toml(here, tables.format(**fill))
    message = _refused()
    assert named.format(**fill) in message, message
    if any(links.values()):
        assert f"it leads to `{outside}" in message, message


def test_a_rule_file_linked_into_a_rules_folder_stays_outside(here):
    _link(here / "rules2" / "evil.tags", here.parent / "outside" / "evil.tags")
    _toml(here, 'customers = "data/customers.parquet"', rules="rules2/")
    message = _refused()
    assert "rules = `rules2/` holds `rules2/evil.tags`, which is outside" in message, message


@pytest.mark.parametrize(
    "tables",
    [
        'customers = "data/link*.parquet"',
        'customers = "data/**/*.parquet"',
        'customers = "sqlite:///{outside}/crm.db#customers"',
    ],
)
def test_the_command_stops_before_reading_anything(here, tables):
    outside = here.parent / "outside"
    _link(here / "data" / "link.parquet", outside / "customers.parquet")
    _toml(here, tables.format(outside=outside))
    result = CliRunner().invoke(app, ["run", "--out", "tags.parquet"])
    assert result.exit_code == 1, result.output
    assert "TE409" in result.output and "TE402" not in result.output, result.output
    assert not (here / "tags.parquet").exists()


# ---- what may be read ------------------------------------------------------------------


def _outside_data(outside: Path) -> None:
    """Real data outside (the test of the opt-out reads it): customer 2, a SQLite table."""
    pl.DataFrame({"customer_id": [2], "age": [40]}).write_parquet(outside / "customers.parquet")
    (outside / "crm.db").unlink()
    with sqlite3.connect(outside / "crm.db") as con:
        con.execute("CREATE TABLE customers (customer_id INTEGER, age INTEGER)")
        con.execute("INSERT INTO customers VALUES (3, 50)")


def _run(*args: str) -> list[int]:
    result = CliRunner().invoke(app, ["run", "--out", "tags.parquet", "-q", *args])
    assert result.exit_code == 0, result.output
    return sorted(pl.read_parquet("tags.parquet")["customer_id"].to_list())


def test_links_globs_and_databases_inside_are_fine(here):
    data = here / "data"
    (data / "customers.parquet").rename(data / "customers-2024.parquet")
    _link(data / "current" / "customers.parquet", Path("../customers-2024.parquet"))
    _link(here / "rules2" / "same.tags", Path("ok.tags"))
    _toml(here, 'customers = "data/*/customers.parquet"', rules="rules2/")
    assert _run() == [1]
    with sqlite3.connect(data / "crm.db") as con:
        con.execute("CREATE TABLE customers (customer_id INTEGER, age INTEGER)")
        con.execute("INSERT INTO customers VALUES (5, 50)")
    _toml(here, f'customers = "sqlite:///{data}/crm.db#customers"')
    assert _run() == [5]
    _toml(here, 'customers = "data/crm.db#customers"')
    assert _run() == [5]


@pytest.mark.parametrize(
    ("allow", "tables", "read"),
    [
        ('"../outside"', 'customers = "data/*.parquet"', [1, 2]),
        ('["../outside/*.parquet"]', 'customers = "data/*.parquet"', [1, 2]),
        ('["{outside}/customers.parquet"]', 'customers = "data/link.parquet"', [2]),
        ('["{outside}/**"]', 'customers = "../outside/*.parquet"', [2]),
        ('["../outside/*.db"]', 'customers = "sqlite:///{outside}/crm.db#customers"', [3]),
        ('["../outside/crm.db"]', 'customers = "../outside/crm.db#customers"', [3]),
    ],
)
def test_allow_outside_lets_the_project_read_a_place_it_names(here, allow, tables, read):
    outside = here.parent / "outside"
    _outside_data(outside)
    _link(here / "data" / "link.parquet", outside / "customers.parquet")
    _toml(
        here,
        tables.format(outside=outside),
        extra=f"allow_outside = {allow}".format(outside=outside),
    )
    assert _run() == read
    # what it does not name stays out
    _toml(here, tables.format(outside=outside), extra='allow_outside = ["../outside/*.ndjson"]')
    _refused()


def test_allow_outside_paths_lifts_the_boundary_for_one_command(here):
    outside = here.parent / "outside"
    _outside_data(outside)
    _link(here / "data" / "link.parquet", outside / "customers.parquet")
    _link(here / "rules2" / "evil.tags", here / "rules.tags")  # inside: fine
    _toml(here, 'customers = "data/*.parquet"')
    assert _run("--allow-outside-paths") == [1, 2]
    _toml(here, f'customers = "sqlite:///{outside}/crm.db#customers"')
    assert _run("--allow-outside-paths") == [3]


def test_files_named_on_the_command_line_are_the_callers_choice(here):
    outside = here.parent / "outside"
    _outside_data(outside)
    _link(here / "data" / "link.parquet", outside / "customers.parquet")
    _toml(here)
    assert _run("--table", "customers=data/*.parquet") == [1, 2]
    assert _run("--table", f"customers=sqlite:///{outside}/crm.db#customers") == [3]


# ---- the files checked are the files read ----------------------------------------------


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_a_glob_is_expanded_once(here, engine):
    """A link made after the project was loaded is not read: the readers get the files
    that were checked, not the glob."""
    outside = here.parent / "outside"
    _outside_data(outside)
    _toml(here, 'customers = "data/*.parquet"', rules="rules2/")
    project = load_project(None)
    _link(here / "data" / "later.parquet", outside / "customers.parquet")
    _link(here / "rules2" / "later.tags", outside / "evil.tags")
    rules = tagengine.load(project.rule_paths())
    assert not rules.check()
    if engine == "polars":
        tables = tables_from(None, "customers", base=project.table_sources())
    else:
        tables = engine_sources(None, "customers", base=project.table_sources())
    got = rules.evaluate(tables, as_of=None, engine=engine)
    assert got["customer_id"].to_list() == [1]


def _write(fmt: str, path: Path, customer: int) -> None:
    frame = pl.DataFrame({"customer_id": [customer], "age": [30]})
    getattr(frame, f"write_{fmt}")(path)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_a_file_named_like_a_glob_is_read_as_itself(here, fmt, engine):
    """`[[]l]ink` matches the file `[l]ink` only; a reader that globbed that name again
    would read `link`, a link out of the folder."""
    outside = here.parent / "outside"
    _write(fmt, here / "data" / f"[l]ink.{fmt}", 7)
    _write(fmt, outside / f"c.{fmt}", 8)
    _link(here / "data" / f"link.{fmt}", outside / f"c.{fmt}")
    _toml(here, f'customers = "data/[[]l]ink.{fmt}"', extra='allow_outside = ["../outside"]')
    found = load_project(None).table_sources()["customers"]
    tables = (tables_from if engine == "polars" else engine_sources)(
        None, "customers", base={"customers": found}
    )
    got = tagengine.load(RULES).evaluate(tables, as_of=None, engine=engine)
    assert got["customer_id"].to_list() == [7]


@pytest.mark.parametrize("name", ["~/customers.parquet", "file:///{outside}/customers.parquet"])
def test_a_name_like_a_url_or_a_home_folder_is_a_file_in_the_project(here, name, monkeypatch):
    """Polars and DuckDB read `~/x` from the home folder and `file:///x` as a URL; the
    project's file of that name is what was checked, and what is read."""
    outside = here.parent / "outside"
    _outside_data(outside)
    monkeypatch.setenv("HOME", str(outside))
    name = name.format(outside=outside)
    local = here / Path(name)  # `file:///x` is the relative path `file:/x`
    local.parent.mkdir(parents=True)
    pl.DataFrame({"customer_id": [9], "age": [30]}).write_parquet(local)
    _toml(here, f'customers = "{name}"')
    assert _run() == [9]
    assert _run("--engine", "duckdb") == [9]


# ---- local database URIs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "file"),
    [
        ("sqlite:///srv/crm.db#t", "/srv/crm.db"),
        ("sqlite:////srv/crm.db#t", "/srv/crm.db"),
        ("sqlite://crm.db#t", "crm.db"),
        ("SQLITE://../crm.db#t", "../crm.db"),
        (" sqlite+x:///srv/c%72m.db#t", "/srv/crm.db"),
        ("sq\tlite:///srv/crm.db#t", "/srv/crm.db"),
        ("sqlite:///srv/crm.db?mode=ro#t", "/srv/crm.db?mode=ro"),
        ("duckdb:///srv/shop.duckdb#t", "/srv/shop.duckdb"),
        ("data/shop.duckdb#t", "data/shop.duckdb"),
        ("postgresql://user@host/db#t", None),
        ("mysql://host/db#t", None),
    ],
)
def test_the_local_file_of_a_database_source(source, file):
    assert databases.local_file(source) == file


def test_a_missing_sqlite_file_is_not_created(here):
    target = here / "none.db"
    with pytest.raises(TagEngineError) as info:
        tables_from(None, "t", {"t": f"sqlite://{target}#t"})
    assert "no such file" in info.value.diagnostics[0].message
    assert not target.exists()
