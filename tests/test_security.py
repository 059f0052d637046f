"""What a rule file or a project file cannot do (docs/security.md): read files outside the
project, name data sources from rules, or leave a half-written output behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine.cli import app

RULES = "entity customer table customers key customer_id\ntag adult when age >= 18\n"


def _project(root: Path, tables: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rules.tags").write_text(RULES, "utf-8")
    (root / "tagengine.toml").write_text(
        f'rules = "rules.tags"\nas_of = 2024-12-31\n[tables]\n{tables}\n', "utf-8"
    )


@pytest.mark.parametrize(
    "binding",
    [
        'customers = "../outside/customers.parquet"',
        'customers = "{outside}/customers.parquet"',
        'customers = "../outside/*.parquet"',
        'customers = "link/customers.parquet"',  # a symbolic link out of the folder
        'customers = "../outside/shop.duckdb#customers"',
    ],
)
def test_project_files_stay_inside_the_project_folder(tmp_path, monkeypatch, binding):
    outside = tmp_path / "outside"
    outside.mkdir()
    pl.DataFrame({"customer_id": [1], "age": [30]}).write_parquet(outside / "customers.parquet")
    project = tmp_path / "project"
    _project(project, binding.replace("{outside}", str(outside)))
    (project / "link").symlink_to(outside)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["run", "--out", "tags.parquet"])
    assert result.exit_code == 1
    assert "TE409" in result.output and "is outside the project folder" in result.output
    assert "--allow-outside-paths" in result.output
    assert not (project / "tags.parquet").exists()
    if "duckdb" not in binding:
        allowed = ["run", "--out", "tags.parquet", "--allow-outside-paths", "-q"]
        result = CliRunner().invoke(app, allowed)
        assert result.exit_code == 0, result.output


def test_inside_paths_and_database_uris_are_fine(tmp_path, monkeypatch):
    project = tmp_path / "project"
    _project(project, 'customers = "data/customers.parquet"\nx = "postgresql://h/db#t"')
    (project / "data").mkdir()
    pl.DataFrame({"customer_id": [1], "age": [30]}).write_parquet(
        project / "data" / "customers.parquet"
    )
    monkeypatch.chdir(project)
    from tagengine.project import load_project

    assert load_project(None).tables["x"] == "postgresql://h/db#t"  # not a file: allowed


@pytest.mark.parametrize(
    "text",
    [
        'entity customer table "/etc/passwd" key id\n',
        'entity customer table customers key id\nrelated "file:///etc/passwd" key id\n',
        'entity customer table customers key id\nfeature f = read("/etc/passwd")\n',
    ],
)
def test_rule_files_cannot_name_files_or_databases(text):
    """The language has no way to name a file, a URI or to call out: tables are names,
    bound to sources only by the project file or the command line."""
    codes = {d.code for d in tagengine.load(text).check()}
    assert codes & {"TE001", "TE104"}, codes


def _big_data(root: Path) -> None:
    folder = root / "data"
    folder.mkdir()
    n = 400_000
    pl.DataFrame({"customer_id": range(n), "age": [i % 90 for i in range(n)]}).write_parquet(
        folder / "customers.parquet"
    )
    pl.DataFrame(
        {"customer_id": [i % n for i in range(8 * n)], "amount": [1.5] * (8 * n)}
    ).write_parquet(folder / "orders.parquet")
    rules = (
        RULES
        + "related orders key customer_id\n"
        + "".join(
            f"feature f{i} = sum(orders.amount where orders.amount > {i})\n" for i in range(200)
        )
    )
    (root / "rules.tags").write_text(rules, "utf-8")


def _wait_for_cpu(pid: int, seconds: float) -> None:
    """Until the process has used `seconds` of CPU: a load-independent "well under way"."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / tick >= seconds:  # utime + stime
            return
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_run_leaves_the_previous_output_intact(tmp_path, how):
    _big_data(tmp_path)
    previous = b"the previous run's output"
    out = tmp_path / "tags.parquet"
    out.write_bytes(previous)
    cmd = [sys.executable, "-m", "tagengine", "run", "rules.tags", "--data", "data", "--out"]
    proc = subprocess.Popen(
        [*cmd, "tags.parquet", "--as-of", "2024-12-31", "-q"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_cpu(proc.pid, seconds=1.0)  # past start-up (imports, the 200 rules)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0, "the run finished before it was interrupted; make it bigger"
    assert out.read_bytes() == previous
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tags.parquet")]
    assert leftovers == [] or how == signal.SIGKILL  # SIGKILL cannot clean up after itself
    if how == signal.SIGINT:
        assert b"interrupted" in stderr and b"Traceback" not in stderr
    if how == signal.SIGTERM:
        assert b"Traceback" not in stderr


def test_output_is_renamed_into_place(tmp_path, monkeypatch):
    """A failure while writing leaves the old file and no temporary one."""
    from tagengine import output

    target = tmp_path / "tags.parquet"
    target.write_bytes(b"old")

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        output.atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["tags.parquet"]
