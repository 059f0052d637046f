"""Stopping a command mid-way: Ctrl-C and SIGTERM end it at once, whatever it computes,
and leave every output as it was (docs/security.md, "Nothing is lost").

Python runs a signal handler in the main thread, between two of its own instructions. A
command spends its time in one long call into Polars (Rust), DuckDB (C++) or Spark (a JVM
behind a socket), and a signal would wait for that call to return: minutes, for a rule
that makes the engine work hard. So `call` runs the command in a worker thread and the
main thread only waits for it: the signal handler runs at once, and the command is
abandoned. (Polars, DuckDB and Py4J let go of the GIL while they compute, so the main
thread can run.) A thread inside native code cannot be stopped or joined, so the process
then ends with `os._exit`, after removing its temporary files (`end`).

For the files, two rules. Every temporary output is made in a folder from `scratch`,
which a stop removes, with whatever is in it (a writer that creates its file after that
finds no folder to create it in). Every step that makes an output visible (a rename over
the target, a database's COMMIT) runs under `commit`: once a stop is acknowledged, no
commit starts; one that has started ends first, and the stop reports what it wrote.

The Python API (`RuleSet.run`, `RuleSet.evaluate`) computes in the caller's thread, and a
Ctrl-C there is the caller's to handle: in the main thread it arrives only when Polars
returns. `call(lambda: rules.evaluate(tables))` gives a caller the command's behaviour: a
prompt `Interrupted` (a KeyboardInterrupt), the computation left running in the
background until it ends or the process does, and nothing it would still write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

WORKER_STACK_BYTES = 64 * 1024 * 1024  # at least the main thread's (8 MB on Linux)
_POLL_SECONDS = 0.25  # the wait returns at once on a signal; this is only a safety net


class Stopped(BaseException):
    """Raised in an abandoned command when it tries to write: the stop came first.
    A BaseException, so that no `except Exception` on the way goes on writing."""


class Interrupted(KeyboardInterrupt):
    """A signal stopped `call`: its temporary files are gone, no commit follows.

    `cause` is the signal handler's exception (KeyboardInterrupt for Ctrl-C, SystemExit
    for a handler that exits); `written` the outputs committed before the stop."""

    def __init__(self, cause: BaseException, written: list[str]):
        super().__init__(str(cause))
        self.cause, self.written = cause, written

    @property
    def exit_code(self) -> int:
        code = getattr(self.cause, "code", None)
        return code if isinstance(code, int) else 128 + signal.SIGINT


class _Run:
    """One `call`: its scratch folders and commits, and whether it was stopped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopped = False
        self.folders: set[Path] = set()
        self.written: list[str] = []

    def stop(self) -> list[str]:
        with self.lock:  # waits for a commit under way: it is done or not begun
            self.stopped = True
            folders, written = list(self.folders), list(self.written)
        for folder in folders:
            _remove(folder)
        return written


_local = threading.local()
_NO_RUN = _Run()  # writes outside `call`: never stopped


def _current() -> _Run:
    return getattr(_local, "run", _NO_RUN)


def call(fn: Callable[[], T]) -> T:
    """`fn()`, computed in a worker thread while this thread waits, so that a signal
    handler runs at once: what `fn` returns or raises, or `Interrupted` if the handler
    raised. Outside the main thread (where no handler runs) it simply calls `fn`."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    run = _Run()
    done = threading.Event()
    outcome: dict[str, object] = {}

    def work() -> None:
        _local.run = run
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the waiting thread, SystemExit included
            outcome["error"] = exc
        finally:
            done.set()

    try:
        previous = threading.stack_size(WORKER_STACK_BYTES)
        try:
            worker = threading.Thread(target=work, name="tagengine-command", daemon=True)
            worker.start()
        finally:
            threading.stack_size(previous)
        while not done.wait(_POLL_SECONDS):
            pass
    except (KeyboardInterrupt, SystemExit) as exc:  # from a signal handler
        raise Interrupted(exc, run.stop()) from exc
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


_at_end: list[Callable[[], object]] = []


def at_end(fn: Callable[[], object]) -> None:
    """Also call `fn` when `end` ends the process, which runs no atexit handler: a quick
    clean-up that takes no lock the abandoned command may hold (removing a folder)."""
    _at_end.append(fn)


def end(message: str, code: int) -> None:
    """End the process now: `message` on stderr, exit status `code`. No clean-up beyond
    `call`'s and `at_end`'s (no atexit handlers, no flushing of buffered output): the
    abandoned thread may hold any lock, and must not be waited for. (A Spark JVM started
    by the command sees its standard input close, and ends with its own clean-up.)"""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
    for fn in _at_end:
        with contextlib.suppress(Exception):
            fn()
    text = message + "\n"
    if sys.stderr is not None and sys.stderr.isatty():
        text = "\r\x1b[2K\x1b[?25h" + text  # clear a spinner's line, show the cursor again
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))
    os._exit(code)


@contextlib.contextmanager
def scratch(beside: Path) -> Iterator[Path]:
    """A new private folder beside `beside` (`.NAME.XXXXXXXXXXXX.tmp`, same filesystem, so
    a rename out of it is atomic), removed with its contents when the block ends or the
    command is stopped. Raises `Stopped` after a stop."""
    run = _current()
    with run.lock:
        if run.stopped:
            raise Stopped
        folder = _new_folder(beside)
        run.folders.add(folder)
    try:
        yield folder
    finally:
        # removed while still listed: a stop that comes meanwhile removes it too, and so
        # never returns (and exits) with the folder still there
        _remove(folder)
        with run.lock:
            run.folders.discard(folder)


@contextlib.contextmanager
def commit(*targets: str | Path) -> Iterator[None]:
    """Make `targets` visible (rename, COMMIT) in this block, which a stop cannot cut in
    two: it runs whole before the stop is acknowledged, or not at all (`Stopped`)."""
    run = _current()
    with run.lock:
        if run.stopped:
            raise Stopped
        yield
        run.written.extend(str(t) for t in targets)


def _new_folder(beside: Path) -> Path:
    for _ in range(100):
        folder = beside.with_name(f".{beside.name}.{secrets.token_hex(6)}.tmp")
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free temporary name beside {beside}")


def _remove(folder: Path) -> None:
    """Remove `folder` and the files in it. A file created meanwhile (by a writer that
    was just opening it) makes the folder not empty: then again."""
    for _ in range(100):
        try:
            for entry in os.scandir(folder):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:
            continue
