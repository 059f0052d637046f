"""Files tagengine writes get the permissions any new file gets: 0o666 less the umask;
a file it replaces keeps its mode. (Not mkstemp's 0o600, which no colleague can read.)"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tagengine import example_data, output
from tagengine.cli import app

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

RULES = str(Path(__file__).parent.parent / "rules" / "retail.tags")
FRAME = pl.DataFrame({"customer_id": [1, 2], "vip": [True, False]})
META = {"tagengine.as_of": "2024-12-31"}
SUFFIXES = ["parquet", "csv", "ndjson", "arrow"]


@pytest.fixture
def umask():
    """Set the process umask for one test; restore it afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def written(path: Path) -> list[Path]:
    """`path`, and its .meta.json sidecar where the format has no metadata of its own."""
    sidecar = path.with_name(path.name + ".meta.json")
    return [path] + ([sidecar] if path.suffix != ".parquet" else [])


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_new_file_follows_the_umask(tmp_path, umask, mask, want, suffix):
    umask(mask)
    out = tmp_path / f"tags.{suffix}"
    output.write(FRAME, out, META)
    for path in written(out):
        assert path.exists() and mode(path) == want, path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written(out))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, suffix):
    umask(0o022)
    out = tmp_path / f"tags.{suffix}"
    for path in written(out):
        path.write_bytes(b"the previous run's output")
        path.chmod(0o640)
    output.write(FRAME, out, META)
    for path in written(out):
        assert mode(path) == 0o640, path.name
        assert path.read_bytes() != b"the previous run's output"


def test_a_replaced_file_keeps_a_mode_the_umask_would_not_give(tmp_path, umask):
    umask(0o077)
    out = tmp_path / "tags.csv"
    out.write_text("old\n")
    out.chmod(0o664)
    output.atomic_write(out, lambda tmp: tmp.write_text("new\n"))
    assert mode(out) == 0o664 and out.read_text() == "new\n"


def test_the_temporary_file_already_has_the_final_mode(tmp_path, umask):
    """A private file stays private while it is written, whatever the umask."""
    umask(0o022)
    out = tmp_path / "secret.csv"
    out.write_text("old\n")
    out.chmod(0o600)
    seen = []
    output.atomic_write(out, lambda tmp: seen.append(mode(tmp)) or tmp.write_text("new\n"))
    assert seen == [0o600] and mode(out) == 0o600


def test_example_data_follows_the_umask(tmp_path, umask):
    umask(0o002)
    paths = example_data.write(tmp_path, example_data.generate(customers=20, seed=1))
    assert paths and all(mode(p) == 0o664 for p in paths)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_the_command_line(example_dir, tmp_path, umask, suffix):
    umask(0o022)
    out = tmp_path / f"tags.{suffix}"
    args = ["run", RULES, "-d", str(example_dir), "--as-of", "2024-12-31", "-o", str(out), "-q"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [mode(p) for p in written(out)] == [0o644] * len(written(out))
    for path in written(out):
        path.chmod(0o640)
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [mode(p) for p in written(out)] == [0o640] * len(written(out))


def test_the_command_in_a_process_of_its_own(example_dir, tmp_path):
    """The umask a shell gives the command, not one set inside this test process."""
    out = tmp_path / "tags.ndjson"
    cmd = [sys.executable, "-m", "tagengine", "run", RULES, "-d", str(example_dir)]
    cmd += ["--as-of", "2024-12-31", "-o", str(out), "-q"]
    proc = subprocess.run(
        ["sh", "-c", 'umask 027 && exec "$@"', "sh", *cmd], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert [mode(p) for p in written(out)] == [0o640, 0o640]
