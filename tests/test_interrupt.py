"""Ctrl-C and SIGTERM stop a command at once, whatever Polars or DuckDB is computing, and
leave the previous output as it was (interrupt.py; docs/security.md, "Nothing is lost").

The commands are real `tagengine` processes on a rule that keeps the engine busy for many
minutes; the module's parts are tested in this process, with a signal of the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from tagengine import interrupt, output

# Six times `a{1000}` against 100,000 a's: the Rust `regex` crate and RE2 both take about
# 4 s a row, O(pattern × text) as they document; 400 rows are half an hour of CPU.
SLOW = "a{1000}" * 6 + "c"
ROWS = 400
PREVIOUS = b"the previous run's output"
STOPPED_WITHIN = 5.0  # seconds from the signal to the exit; about 0.02 s measured


@pytest.fixture(scope="module")
def slow_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    texts = ["a" * 100_000 + str(i) for i in range(ROWS)]
    pl.DataFrame({"id": range(ROWS), "s": texts}).write_parquet(root / "customers.parquet")
    (root / "slow.tags").write_text(
        f'entity customer table customers key id\ntag slow when s matches "{SLOW}"\n', "utf-8"
    )
    return root


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time process `pid` has used (Linux), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The child processes of `pid`, whichever of its threads started them (Linux)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []


def _stop_while_computing(
    args: list[str], how: signal.Signals, wait: float | None = None
) -> tuple[float, bytes, int]:
    """Start `tagengine ARGS`, wait until it is computing (or `wait` seconds), send `how`:
    the seconds it took to exit after the signal, its stderr, its exit status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tagengine", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Computing: more CPU than the start (imports, reading the rules and data) takes,
        # about 1.5 s; where it cannot be read, some seconds of waiting.
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < (wait or 120):
            cpu = _cpu_seconds(proc.pid)
            if wait is None and (
                (cpu or 0) >= 4 or (cpu is None and time.monotonic() - started > 8)
            ):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1].decode()
        children = _children(proc.pid)
        sent = time.monotonic()
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=120)
        took = time.monotonic() - sent
        for _ in range(600):  # a Spark JVM ends once its standard input closes
            if not any(Path(f"/proc/{child}").exists() for child in children):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"child processes left running: {children}")
        return took, stderr, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_run_within_a_second(slow_project, tmp_path, engine, how):
    out = tmp_path / "tags.parquet"
    out.write_bytes(PREVIOUS)
    args = ["run", str(slow_project / "slow.tags"), "--data", str(slow_project)]
    args += ["--as-of", "2024-12-31", "--out", str(out), "--engine", engine, "-q"]
    took, stderr, status = _stop_while_computing(args, how)
    assert took < STOPPED_WITHIN, f"{took:.2f} s after the signal"
    assert status == 128 + how  # 130 after Ctrl-C, 143 after SIGTERM
    assert stderr.decode() == "interrupted: nothing was written\n"
    assert out.read_bytes() == PREVIOUS
    assert os.listdir(tmp_path) == ["tags.parquet"]  # no temporary file or folder


@pytest.mark.slow
def test_a_signal_stops_explain_within_a_second(slow_project):
    args = ["explain", str(slow_project / "slow.tags"), "--data", str(slow_project)]
    args += ["--as-of", "2024-12-31", "--tag", "slow"]
    took, stderr, status = _stop_while_computing(args, signal.SIGINT)
    assert took < STOPPED_WITHIN, f"{took:.2f} s after the signal"
    assert (status, stderr.decode()) == (130, "interrupted: nothing was written\n")


@pytest.mark.slow
def test_a_signal_stops_a_run_on_spark_and_its_jvm(slow_project, tmp_path):
    pytest.importorskip("pyspark")
    from tagengine.engines.spark import java_missing

    if java_missing():
        pytest.skip(java_missing())
    out = tmp_path / "tags.parquet"
    out.write_bytes(PREVIOUS)
    args = ["run", str(slow_project / "slow.tags"), "--data", str(slow_project)]
    args += ["--as-of", "2024-12-31", "--out", str(out), "--engine", "spark", "-q"]
    # the JVM's start takes much CPU too: a fixed wait, past Spark's start (a quick run on
    # this data takes about 20 s, start included)
    took, stderr, status = _stop_while_computing(args, signal.SIGTERM, wait=30)
    assert took < STOPPED_WITHIN, f"{took:.2f} s after the signal"
    assert (status, stderr.decode()) == (143, "interrupted: nothing was written\n")
    assert out.read_bytes() == PREVIOUS
    assert os.listdir(tmp_path) == ["tags.parquet"]


# ---- the parts, in this process ---------------------------------------------------------
# A signal of the test's own (SIGUSR1), whose handler exits as cli.main's SIGTERM handler
# does, sent from a helper thread once the command has reached the point under test.


@pytest.fixture
def signal_when():
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: sys.exit(128 + signum))
    helpers = []

    def send(ready: threading.Event, then: threading.Event | None = None) -> None:
        def helper() -> None:
            ready.wait(30)
            os.kill(os.getpid(), signal.SIGUSR1)
            if then is not None:
                time.sleep(0.3)  # the stop is waiting for the commit under way
                then.set()

        helpers.append(threading.Thread(target=helper, daemon=True))
        helpers[-1].start()

    yield send
    for helper in helpers:
        helper.join(30)
    signal.signal(signal.SIGUSR1, previous)


def _join_abandoned() -> None:
    """Wait for the command a stop abandoned (in these tests it does end)."""
    for thread in threading.enumerate():
        if thread.name == "tagengine-command":
            thread.join(30)


def test_a_stop_removes_the_temporary_file_and_no_rename_follows(tmp_path, signal_when):
    target = tmp_path / "tags.parquet"
    target.write_bytes(PREVIOUS)
    written, go = threading.Event(), threading.Event()

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"new")
        written.set()
        go.wait(30)  # the signal comes here

    signal_when(written)
    with pytest.raises(interrupt.Interrupted) as stop:
        interrupt.call(lambda: output.atomic_write(target, writer))
    assert (stop.value.written, stop.value.exit_code) == ([], 128 + signal.SIGUSR1)
    assert os.listdir(tmp_path) == ["tags.parquet"]
    go.set()  # the abandoned command goes on to its rename, which must not happen
    _join_abandoned()
    assert target.read_bytes() == PREVIOUS
    assert os.listdir(tmp_path) == ["tags.parquet"]
    interrupt.call(lambda: output.atomic_write(target, lambda tmp: tmp.write_bytes(b"next")))
    assert target.read_bytes() == b"next"  # a stop ends its own command, not the next one


def test_a_writer_that_opens_its_file_after_the_stop_leaves_nothing(tmp_path, signal_when):
    """Polars opens the file by its name: after the stop there is no folder to open it in."""
    target = tmp_path / "tags.csv"
    target.write_bytes(PREVIOUS)
    given, go = threading.Event(), threading.Event()

    def writer(tmp: Path) -> None:
        given.set()
        go.wait(30)  # the signal comes here
        pl.DataFrame({"a": [1]}).write_csv(tmp)

    signal_when(given)
    with pytest.raises(interrupt.Interrupted):
        interrupt.call(lambda: output.atomic_write(target, writer))
    go.set()
    _join_abandoned()
    assert target.read_bytes() == PREVIOUS
    assert os.listdir(tmp_path) == ["tags.csv"]


def test_a_stop_during_the_rename_waits_for_it_and_says_so(tmp_path, signal_when, monkeypatch):
    target = tmp_path / "tags.csv"
    target.write_bytes(PREVIOUS)
    renaming, go = threading.Event(), threading.Event()
    rename = os.replace

    def held_rename(src, dst):
        renaming.set()
        go.wait(30)  # set by the helper once the stop waits for the commit
        rename(src, dst)

    monkeypatch.setattr(os, "replace", held_rename)
    signal_when(renaming, then=go)
    df = pl.DataFrame({"a": [1]})
    with pytest.raises(interrupt.Interrupted) as stop:
        interrupt.call(lambda: output.write(df, target, {"tagengine.as_of": "2024-12-31"}))
    sidecar = tmp_path / "tags.csv.meta.json"
    assert stop.value.written == [str(target), str(sidecar)]  # both, in one commit
    assert target.read_bytes() == b"a\n1\n"
    assert sorted(os.listdir(tmp_path)) == ["tags.csv", "tags.csv.meta.json"]


def test_call_gives_what_the_command_gives():
    assert interrupt.call(lambda: 42) == 42
    with pytest.raises(SystemExit) as exited:
        interrupt.call(lambda: sys.exit(2))
    assert exited.value.code == 2
    with pytest.raises(ValueError, match="bad"):
        interrupt.call(lambda: int("bad"))


def test_outside_the_main_thread_call_computes_in_place():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(interrupt.call(threading.current_thread)))
    thread.start()
    thread.join()
    assert seen == [thread]
