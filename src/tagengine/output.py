"""Writing results: by file extension, atomically (a failed run leaves no half-written file)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from tagengine import databases, interrupt
from tagengine.diagnostics import TagEngineError, error
from tagengine.sources import file_format

ROW_GROUP_ROWS = 262_144  # Polars' default for one chunk; fixed, whatever the chunks


def write(df: pl.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
    """Write `df` to `path` (format from the extension) through a temporary file + rename.

    Parquet carries `metadata` in its key-value metadata; other formats get it in a
    `<path>.meta.json` sidecar written the same way. `FILE.duckdb#TABLE` and
    `FILE.sqlite#TABLE` replace that table in one transaction.
    """
    if databases.is_database(str(path)):
        databases.write_table(df, str(path), dict(metadata or {}))
        return
    path = Path(path)
    fmt = file_format(path)
    if fmt is None:
        raise TagEngineError(
            error(
                "TE403",
                f"cannot tell the output format of `{path}`",
                None,
                "end the file name in .parquet, .csv, .ndjson or .arrow, or write "
                "FILE.duckdb#TABLE or FILE.sqlite#TABLE",
            )
        )
    if not path.parent.exists():
        raise TagEngineError(
            error("TE403", f"the folder `{path.parent}` does not exist", None, "create it first")
        )
    meta = dict(metadata or {})

    def write_table(tmp: Path) -> None:
        # The same rows give the same bytes (docs/semantics.md#determinism) however the
        # engine happened to chunk them: Parquet row groups of a fixed size, Arrow in one
        # record batch.
        if fmt == "parquet":
            df.write_parquet(tmp, metadata=meta or None, row_group_size=ROW_GROUP_ROWS)
        elif fmt == "csv":
            df.write_csv(tmp, separator="\t" if path.suffix.lower() == ".tsv" else ",")
        elif fmt == "ndjson":
            df.write_ndjson(tmp)
        else:
            df.rechunk().write_ipc(tmp)

    files: dict[Path, Callable[[Path], object]] = {path: write_table}
    if meta and fmt != "parquet":
        text = json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        files[path.with_name(path.name + ".meta.json")] = lambda t: t.write_text(text, "utf-8")
    atomic_write_all(files)  # the table and its sidecar: both or neither (on a stop)


def atomic_write(path: Path, writer: Callable[[Path], object]) -> None:
    """Call `writer(tmp)` on a temporary file beside `path`, then rename it over `path`.

    The one way tagengine writes a file a user keeps (tables, sidecars, reports, rule
    files, example data): readers never see half a file, and a failure or a stop
    (interrupt.py) leaves the old one and no temporary file. The result has the
    permissions a user expects: a new file those of any new file under the umask (0o666 &
    ~umask, set by the kernel, so default ACLs apply too); a replaced file keeps its own
    mode.
    """
    atomic_write_all({path: writer})


def atomic_write_all(writers: Mapping[Path, Callable[[Path], object]]) -> None:
    """`atomic_write` for several files, renamed into place together once all are
    written; a stop (interrupt.py) comes before all the renames or after them."""
    with contextlib.ExitStack() as stack:
        staged = []
        for path, writer in writers.items():
            # the temporary file is in a private folder of its own, which a stop removes
            tmp = _new_file_in(stack.enter_context(interrupt.scratch(path)), path)
            writer(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            staged.append((tmp, path))
        with interrupt.commit(*writers):
            for tmp, path in staged:
                os.replace(tmp, path)


def _new_file_in(folder: Path, path: Path) -> Path:
    """Create an empty file named as `path` in `folder` with `path`'s mode, or with 0o666
    less the umask when `path` is new.

    Not `tempfile.mkstemp`: that makes every file 0o600, whatever the umask.
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    tmp = folder / path.name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    if mode is not None:
        with contextlib.suppress(OSError):  # a filesystem without modes: nothing to keep
            os.chmod(tmp, mode)
    return tmp


def to_long(df: pl.DataFrame, key: str) -> pl.DataFrame:
    """(key, name, value) rows, value as text, ordered by key then rule order."""
    names = [c for c in df.columns if c != key]
    order = {n: i for i, n in enumerate(names)}
    cast = df.select(key, *[pl.col(n).cast(pl.String) for n in names])
    long = cast.unpivot(on=names, index=key, variable_name="name", value_name="value")
    return (
        long.with_columns(pl.col("name").replace_strict(order, return_dtype=pl.Int32).alias("_o"))
        .sort(key, "_o")
        .drop("_o")
    )
