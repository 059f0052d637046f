"""What `pip install tagengine` gives works, and an extra it lacks is a clear message.

The suite's own environment has every extra (the test extra brings numpy, pandas, duckdb,
pyarrow, connectorx, pyspark), so it cannot see a module that only it has. Here the
wheel is built, installed in fresh virtual environments with the lock's versions of the
core dependencies only, or of the core and one extra, and the installed `tagengine` is
run as a user runs it. uv installs everything from its cache (`--offline`): `make test`
put the packages there, and this test never reaches the network.

The tests marked `slow` build the wheel (about 80 s in all when the machine is idle);
the others check `extras.require`, the one way in to an extra, in this process.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tagengine import extras
from tagengine.diagnostics import TagEngineError

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "retail.tags"
AS_OF = "2024-12-31"
CUSTOMERS = 300
# modules the core install must not bring: each belongs to an extra or to the tests
NOT_CORE = ("numpy", "pandas", "pyarrow", "duckdb", "connectorx", "pyspark")

# ---- extras.require, in this process --------------------------------------------------


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make `import NAME` fail here, as it does where NAME is not installed."""

    def hide(name: str) -> None:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError

    return hide


@pytest.mark.parametrize(
    ("extra", "hidden"),
    [
        ("duckdb", "duckdb"),
        ("duckdb", "pyarrow"),
        ("db", "connectorx"),
        ("db", "pyarrow"),
        ("spark", "pyspark"),
        ("spark", "pyarrow"),
    ],
)
def test_require_names_the_missing_package_and_the_extra(extra, hidden, hide):
    hide(hidden)
    with pytest.raises(TagEngineError) as info:
        extras.require(extra, "doing it", "TE511")
    (d,) = info.value.diagnostics
    assert (d.code, d.message) == ("TE511", f"doing it needs the {hidden} package")
    assert d.hint == f"pip install 'tagengine[{extra}]'"


def test_require_gives_the_main_module():
    import duckdb

    assert extras.require("duckdb", "doing it", "TE511") is duckdb


def test_the_extras_are_the_ones_pyproject_declares():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    optional = declared["optional-dependencies"]
    for extra, modules in extras.EXTRAS.items():
        names = {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in optional[extra]}
        assert set(modules) == names, extra


@pytest.mark.parametrize(
    ("args", "code", "extra"),
    [
        (["--engine", "duckdb"], "TE511", "duckdb"),
        (["--table", "orders=shop.duckdb#orders"], "TE401", "duckdb"),
        (["--table", "orders=sqlite:///nowhere.db#orders"], "TE401", "db"),
    ],
)
def test_a_missing_extra_is_a_diagnostic_in_the_cli(
    args, code, extra, hide, example_dir, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from tagengine.cli import app

    hide(extras.EXTRAS[extra][0])
    (tmp_path / "shop.duckdb").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "tags.parquet")
    run = ["run", str(RULES), "--data", str(example_dir), "--as-of", AS_OF, "--out", out]
    result = CliRunner().invoke(app, [*run, *args])
    assert result.exit_code == 1, result.output
    assert f"error[{code}]" in result.output
    assert f"pip install 'tagengine[{extra}]'" in result.output


# ---- the built wheel, in fresh virtual environments -----------------------------------


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.is_file() else shutil.which("uv")


def _clean_env() -> dict[str, str]:
    """This process's environment without its virtual environment and uv's project
    settings, uv never fetching a Python or reaching the network."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith("UV_")
    }
    env.update(UV_PYTHON_DOWNLOADS="never", UV_OFFLINE="1", UV_NO_PROGRESS="1")
    if os.environ.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
    return env


def _sh(args: list[str | Path], **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("env", _clean_env())
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def uv() -> str:
    found = _uv()
    if found is None:
        pytest.skip("no uv: neither .tools/bin/uv (make test installs it) nor `uv` on PATH")
    return found


@pytest.fixture(scope="module")
def wheel(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (a build writes into its folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", source / "src", ignore=junk)
    dist = tmp_path_factory.mktemp("dist")
    _sh([uv, "build", "--wheel", "--quiet", "--python", sys.executable, "-o", dist, source])
    (built,) = dist.glob("tagengine-*.whl")
    return built


def _install(uv: str, wheel: Path, folder: Path, extra: str | None) -> Path:
    """A fresh virtual environment with the wheel and the lock's versions of the core
    dependencies (and of `extra`'s); its bin folder."""
    pins = folder / "requirements.txt"
    _sh(
        [uv, "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--quiet"]
        + ["--format", "requirements.txt", "-o", pins]
        + (["--extra", extra] if extra else []),
        cwd=ROOT,
    )
    env = folder / "venv"
    _sh([uv, "venv", "--quiet", "--python", sys.executable, env])
    python = env / "bin" / "python"
    # the pins are the whole closure: no resolution, so nothing is needed but the cache
    _sh([uv, "pip", "install", "--quiet", "--no-deps", "--python", python, "-r", pins, wheel])
    _sh([uv, "pip", "check", "--quiet", "--python", python])  # the wheel's requirements hold
    return env / "bin"


@pytest.fixture(scope="module")
def core(uv: str, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(uv, wheel, tmp_path_factory.mktemp("core"), None)


def _tagengine(bin: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin / "tagengine"), *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**_clean_env(), "COLUMNS": "200"},
    )


def _ok(bin: Path, work: Path, *args: str) -> str:
    done = _tagengine(bin, work, *args)
    assert done.returncode == 0, f"tagengine {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


RUN = ("run", "retail.tags", "--data", "data", "--as-of", AS_OF)
EXPLAIN = ("explain", "retail.tags", "--data", "data", "--as-of", AS_OF)

# every command, as the README shows it, and words its output must hold
CORE_COMMANDS = [
    pytest.param(("check", "retail.tags", "--data", "data"), "0 errors", id="check"),
    pytest.param(("schema", "--data", "data"), '"customer_id": "int64"', id="schema"),
    pytest.param(("profile", "--data", "data", "customers.member_level"), "金卡", id="profile"),
    pytest.param(
        ("check", "retail.tags", "--schema", "schema.json", "--strict"),
        "0 errors",
        id="check-schema",
    ),
    pytest.param((*RUN, "--out", "out/tags.parquet"), f"{CUSTOMERS} customers", id="run"),
    pytest.param(
        (*RUN, "--out", "out/long.csv", "--format", "long"),
        f"{CUSTOMERS} customers",
        id="run-csv-long",
    ),
    pytest.param(
        (*RUN, "--out", "out/tags.sqlite#tags"), f"{CUSTOMERS} customers", id="run-to-sqlite"
    ),
    pytest.param(
        (*RUN, "--table", "orders=shop.sqlite#orders", "--out", "out/from_sqlite.parquet"),
        f"{CUSTOMERS} customers",
        id="run-from-sqlite",
    ),
    pytest.param((*EXPLAIN, "--id", "42"), "customer customer_id = 42", id="explain-id"),
    pytest.param(
        (*EXPLAIN, "--id", "42", "--format", "json"), '"view": "customer"', id="explain-json"
    ),
    pytest.param((*EXPLAIN, "--tag", "high_value"), f"{CUSTOMERS} in all", id="explain-tag"),
    pytest.param(("compile", "retail.tags", "--data", "data"), "group_by", id="compile"),
    pytest.param(
        ("compile", "retail.tags", "--to", "sql", "--data", "data"), "SELECT", id="compile-sql"
    ),
    pytest.param(
        ("compile", "retail.tags", "--to", "sql", "--dialect", "spark", "--data", "data"),
        "SELECT",
        id="compile-spark-sql",
    ),
    pytest.param(("test", "retail.tags", "--junit", "out/junit.xml"), "PASS", id="test"),
    pytest.param(("fmt", "--check", "retail.tags"), "left unchanged", id="fmt-check"),
    pytest.param(("fmt", "messy.tags"), "1 file reformatted", id="fmt"),
]


@pytest.fixture(scope="module")
def work(core: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the rules, the example data made by the core install, its orders
    in a SQLite file (`shop.sqlite`), and a DuckDB file the core install cannot read."""
    folder = tmp_path_factory.mktemp("work")
    shutil.copy2(RULES, folder / "retail.tags")
    text = RULES.read_text("utf-8")
    (folder / "messy.tags").write_text(text.replace(" when ", "   when "), "utf-8")
    made = _ok(core, folder, "example-data", "data", "--customers", str(CUSTOMERS))
    assert "customers.parquet" in made and "orders.parquet" in made
    (folder / "schema.json").write_text(_ok(core, folder, "schema", "--data", "data"), "utf-8")
    orders = pl.read_parquet(folder / "data" / "orders.parquet")
    assert orders.height > CUSTOMERS
    with sqlite3.connect(folder / "shop.sqlite") as con:
        con.execute(
            "CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, order_date DATE, "
            "amount DECIMAL(12,2), category TEXT, channel TEXT, returned BOOLEAN)"
        )
        con.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
            orders.with_columns(
                pl.col("order_date").cast(pl.String), pl.col("amount").cast(pl.String)
            ).rows(),
        )
    (folder / "shop.duckdb").write_bytes(b"")  # reading it needs the duckdb extra
    (folder / "out").mkdir()
    return folder


@pytest.mark.slow
def test_the_core_install_has_no_extra(core: Path):
    listing = _sh(
        [
            core / "python",
            "-c",
            "import importlib.metadata as m; "
            "print(*sorted(d.metadata['Name'].lower() for d in m.distributions()))",
        ]
    )
    names = set(listing.stdout.split())
    assert {"tagengine", "polars", "lark", "pydantic", "rich", "sqlglot", "typer"} <= names
    assert not names & set(NOT_CORE)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "words"), CORE_COMMANDS)
def test_every_core_command_runs_without_an_extra(core: Path, work: Path, args, words):
    assert words in _ok(core, work, *args)


# what needs an extra, run where it is missing: (arguments, code, extra)
NEEDS_AN_EXTRA = [
    pytest.param(
        (*RUN, "--out", "out/x.parquet", "--engine", "duckdb"),
        "TE511",
        "duckdb",
        id="engine-duckdb",
    ),
    pytest.param(
        (*RUN, "--out", "out/x.parquet", "--engine", "spark"), "TE511", "spark", id="engine-spark"
    ),
    pytest.param(
        (*RUN, "--out", "out/x.parquet", "--table", "orders=shop.duckdb#orders"),
        "TE401",
        "duckdb",
        id="read-duckdb",
    ),
    pytest.param(
        ("check", "retail.tags", "--data", "data", "--table", "orders=shop.duckdb#orders"),
        "TE401",
        "duckdb",
        id="check-duckdb",
    ),
    pytest.param((*RUN, "--out", "out/x.duckdb#tags"), "TE403", "duckdb", id="write-duckdb"),
    pytest.param(
        (*RUN, "--out", "out/x.parquet", "--table", "orders=sqlite:///shop.sqlite#orders"),
        "TE401",
        "db",
        id="read-uri",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "extra"), NEEDS_AN_EXTRA)
def test_what_needs_an_extra_says_which(core: Path, work: Path, args, code, extra):
    done = _tagengine(core, work, *args)
    output = done.stdout + done.stderr
    assert done.returncode in (1, 2), output
    assert f"error[{code}]" in output
    assert f"pip install 'tagengine[{extra}]'" in output
    assert "internal error" not in output and "Traceback" not in output


def _frame(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path)


@pytest.mark.slow
def test_the_duckdb_extra(uv: str, wheel: Path, work: Path, tmp_path_factory):
    bin = _install(uv, wheel, tmp_path_factory.mktemp("duckdb"), "duckdb")
    _sh(
        [
            bin / "python",
            "-c",
            "import duckdb; duckdb.connect('warehouse.duckdb').execute("
            "\"CREATE TABLE orders AS SELECT * FROM 'data/orders.parquet'\")",
        ],
        cwd=work,
    )
    assert f"{CUSTOMERS} customers" in _ok(
        bin, work, *RUN, "--out", "out/duckdb_engine.parquet", "--engine", "duckdb"
    )
    assert _frame(work / "out" / "duckdb_engine.parquet").height == CUSTOMERS
    source = ("--table", "orders=warehouse.duckdb#orders")
    _ok(bin, work, *RUN, *source, "--out", "out/from_duckdb.parquet")
    _ok(bin, work, *RUN, *source, "--out", "out/from_duckdb_engine.parquet", "--engine", "duckdb")
    _ok(bin, work, *RUN, "--out", "out/tags.duckdb#tags")
    _ok(bin, work, *RUN, "--out", "out/reference.parquet")
    reference = _frame(work / "out" / "reference.parquet")
    assert_frame_equal(_frame(work / "out" / "from_duckdb.parquet"), reference)
    assert _frame(work / "out" / "from_duckdb_engine.parquet").height == CUSTOMERS


@pytest.mark.slow
def test_the_db_extra(uv: str, wheel: Path, work: Path, tmp_path_factory):
    bin = _install(uv, wheel, tmp_path_factory.mktemp("db"), "db")
    uri = f"orders=sqlite://{work / 'shop.sqlite'}#orders"
    assert f"{CUSTOMERS} customers" in _ok(
        bin, work, *RUN, "--table", uri, "--out", "out/from_uri.parquet"
    )
    _ok(bin, work, *RUN, "--out", "out/reference_db.parquet")
    # SQLite has no decimals: connectorx reads the amounts as floats
    reference = _frame(work / "out" / "reference_db.parquet")
    reference = reference.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    assert_frame_equal(_frame(work / "out" / "from_uri.parquet"), reference, check_exact=False)


@pytest.mark.slow
def test_the_spark_extra(uv: str, wheel: Path, work: Path, tmp_path_factory):
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Spark needs Java 17: no `java` on PATH and no JAVA_HOME")
    bin = _install(uv, wheel, tmp_path_factory.mktemp("spark"), "spark")
    assert f"{CUSTOMERS} customers" in _ok(
        bin, work, *RUN, "--out", "out/spark.parquet", "--engine", "spark"
    )
    assert _frame(work / "out" / "spark.parquet").height == CUSTOMERS
