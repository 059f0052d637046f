"""The shell and Python blocks of README.md and docs/ run as printed.

Every ```sh (bash, shell) and ```python (py) block of those pages says on the line above
its fence whether it runs:

    <!-- runnable -->              run it; every command exits 0
    <!-- runnable: exit 1 -->      ... except the last, which exits 1 (a block about failures)
    <!-- not runnable: why -->     never run, for the reason given

A block without either fails `test_every_block_says_whether_it_runs`, so that a new
example cannot be skipped by accident. Blocks whose info string says more (```sh bad in
docs/diagnostics.md) belong to tests/test_diagnostics_doc.py, and docs/language.md's
```tags / ```expect blocks to tests/test_docs.py.

Each block runs in a fresh folder laid out as a clone after `make demo`: `rules/` (a
copy), `build/demo/` (example data from `tagengine example-data`, made once per session,
smaller than the demo's), and `.venv` (the environment running the tests, whose `bin`
also comes first on PATH). A shell block runs in one bash, command after command (a
command may go on over lines ending in `\\`), and each command's exit status is kept; a
Python block runs with the environment's interpreter. Each `tagengine` command is a
process of its own (about a second), so running every block is marked `slow`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import docpages
from docpages import ROOT

SHELL = {"sh", "bash", "shell"}
PYTHON = {"python", "py"}
CUSTOMERS = 300  # customer 42 is there; the demo has 5,000
TIMEOUT = 600


@dataclass(frozen=True)
class Runnable:
    page: Path
    block: docpages.Block
    runs: bool
    exit: int  # the last command's exit status
    why: str  # for a block that does not run

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.block.line}"


_MARKER = re.compile(r"^(not runnable|runnable)\s*(?::\s*(.*))?$")


def read_marker(page: Path, block: docpages.Block) -> Runnable | None:
    """The block's marker, or None when it has none. A malformed marker is an error."""
    m = _MARKER.match(block.marker or "")
    if not m:
        return None
    kind, rest = m.group(1), (m.group(2) or "").strip()
    if kind == "not runnable":
        assert rest, f"{page}:{block.line}: say why the block does not run"
        return Runnable(page, block, False, 0, rest)
    if not rest:
        return Runnable(page, block, True, 0, "")
    m = re.fullmatch(r"exit (\d+)", rest)
    assert m, f"{page}:{block.line}: unknown option `{rest}` (`exit N` is the one there is)"
    return Runnable(page, block, True, int(m.group(1)), "")


def candidates() -> list[tuple[Path, docpages.Block]]:
    """The shell and Python blocks of README.md and docs/**/*.md."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (page, block)
        for page in pages
        for block in docpages.blocks(page.read_text("utf-8"))
        if block.info in SHELL | PYTHON  # `sh bad` and the like: other tests' blocks
    ]


BLOCKS = [r for page, block in candidates() if (r := read_marker(page, block)) is not None]
RUNNABLE = [pytest.param(r, id=r.id) for r in BLOCKS if r.runs]


def commands(body: str) -> list[str]:
    """A shell block's commands: lines joined where one ends in `\\`; blank lines and
    comment lines left out."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines():
        if pending:
            line = pending + "\n" + line
            pending = ""
        if line.rstrip().endswith("\\"):
            pending = line
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            assert "<<" not in line, f"here-documents are not supported: {line}"
            out.append(line)
    assert not pending, f"the block ends in a `\\`: {pending}"
    return out


# ---- the folder a block runs in ------------------------------------------------------------


@pytest.fixture(scope="session")
def example_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runnable-docs-data") / "demo"
    tagengine = Path(sys.executable).parent / "tagengine"
    done = subprocess.run(
        [str(tagengine), "example-data", str(folder), "--customers", str(CUSTOMERS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return folder


def _venv(folder: Path) -> Path:
    """The environment as `.venv`; if it has no `activate` (not a virtual environment),
    a stand-in that puts its `bin` on PATH."""
    prefix, link = Path(sys.prefix), folder / ".venv"
    if (prefix / "bin" / "activate").is_file():
        link.symlink_to(prefix, target_is_directory=True)
    else:
        (link / "bin").mkdir(parents=True)
        bindir = shlex.quote(str(Path(sys.executable).parent))
        (link / "bin" / "activate").write_text(f'PATH={bindir}:"$PATH"; export PATH\n')
    return Path(sys.executable).parent


@pytest.fixture
def clone(tmp_path, example_data) -> tuple[Path, dict[str, str]]:
    """A folder as a clone after `make demo`, and the environment to run commands in."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(example_data, tmp_path / "build" / "demo")
    bindir = _venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    return tmp_path, env


# ---- running ---------------------------------------------------------------------------------


def run_shell(body: str, folder: Path, env: dict[str, str]) -> tuple[list[str], list[int], str]:
    """Run the commands in one bash; their exit statuses, and everything they printed."""
    cmds = commands(body)
    status = folder / ".statuses"
    script = ["set +e"]
    for cmd in cmds:
        script += [cmd, f'echo "$?" >> {shlex.quote(str(status))}']
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    codes = [int(n) for n in status.read_text().split()] if status.exists() else []
    return cmds, codes, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("runnable", RUNNABLE)
def test_block_runs(runnable: Runnable, clone):
    folder, env = clone
    body = runnable.block.body
    if runnable.block.info in PYTHON:
        (folder / "block.py").write_text(body, "utf-8")
        done = subprocess.run(
            [sys.executable, "block.py"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == runnable.exit, done.stdout + done.stderr
        return
    cmds, codes, printed = run_shell(body, folder, env)
    wanted = [0] * (len(cmds) - 1) + [runnable.exit]
    failed = [
        f"  exit {c}: {cmd}" for cmd, c, w in zip(cmds, codes, wanted, strict=False) if c != w
    ]
    assert codes == wanted, "\n".join([*failed, printed[-3000:]])


# ---- the markers ---------------------------------------------------------------------------


def test_every_block_says_whether_it_runs():
    unmarked = [
        f"{page.relative_to(ROOT)}:{block.line}: ```{block.info}"
        for page, block in candidates()
        if read_marker(page, block) is None
    ]
    assert unmarked == [], "mark each with <!-- runnable --> or <!-- not runnable: why -->"


def test_the_readme_and_docs_have_runnable_blocks():
    readme = [r for r in BLOCKS if r.runs and r.page.name == "README.md"]
    assert {r.block.info for r in readme} == {"sh", "python"}
    assert len([r for r in BLOCKS if r.runs]) >= 8


def test_markers_and_commands_are_read(tmp_path):
    page = tmp_path / "README.md"
    text = (
        "<!-- runnable -->\n```sh\na \\\n  --b\n# note\n\nc  # why\n```\n\n"
        "<!-- runnable: exit 1 -->\n\n```python\nx\n```\n"
        "<!-- not runnable: needs a database -->\n```sh\nd\n```\n"
        "```sh\ne\n```\n"
    )
    got = [read_marker(page, b) for b in docpages.blocks(text)]
    assert [(r.runs, r.exit, r.why) if r else None for r in got] == [
        (True, 0, ""),
        (True, 1, ""),
        (False, 0, "needs a database"),
        None,
    ]
    assert commands(got[0].block.body) == ["a \\\n  --b", "c  # why"]  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match="unknown option"):
        read_marker(page, docpages.Block("sh", 1, "", "runnable: slow"))


def test_each_command_is_held_to_its_exit_status(tmp_path):
    _, codes, printed = run_shell(
        "cd sub || true\necho one\nfalse\nexit_code() { return 3; }; exit_code\n",
        tmp_path,
        dict(os.environ),
    )
    assert codes == [0, 0, 1, 3] and "one" in printed
