"""The benchmark workload on data that does not fit in the memory it is given.

    python bench/larger_than_memory.py --size 20m --limit 8       # GiB; needs root
    python bench/larger_than_memory.py --size 1m --limit 1 --json out.json

Runs, each in a fresh process, one after the other:
- `tagengine run bench/workload.tags --streaming`, the command a user types;
- `tagengine run` without --streaming (Polars' default engine, "auto");
- the hand-written Polars (bench/handwritten_polars.py) on the streaming engine, and on
  the in-memory engine, which loads the tables whole.

With `--limit GiB` each process runs in a cgroup (v1 memory controller, so root) whose
memory may not exceed the limit: a process that needs more is killed by the kernel,
which is what "does not fit" means here. Without a limit (or without the permission)
the runs are unconstrained and only their peak memory is reported.

Reported: the input's size on disk and in memory (the Arrow size of the tables, measured
on their first row group and scaled to all rows), and per run its wall time, peak
resident memory (the child's own, from wait4) and outcome.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
GIB = 1024**3


@dataclass
class Run:
    name: str
    command: str
    wall_s: float
    peak_rss_mib: float
    outcome: str  # "ok", "killed: out of memory (limit ...)", or the error's last line


# ---- the input -----------------------------------------------------------------------


def input_size(data: Path) -> dict[str, dict[str, float]]:
    """Per table: rows, MiB on disk, and estimated MiB in memory once read."""
    sizes = {}
    for table in ("customers", "orders"):
        path = data / f"{table}.parquet"
        meta = pq.ParquetFile(path).metadata
        sample = pl.read_parquet(path, n_rows=meta.row_group(0).num_rows)
        per_row = sample.estimated_size() / max(sample.height, 1)
        sizes[table] = {
            "rows": meta.num_rows,
            "disk_mib": path.stat().st_size / 2**20,
            "memory_mib": per_row * meta.num_rows / 2**20,
        }
    return sizes


# ---- running under a memory limit ------------------------------------------------------


class MemoryCage:
    """A cgroup v1 memory group with a hard limit; processes join it as they start."""

    def __init__(self, limit_bytes: int | None):
        self.path: Path | None = None
        if limit_bytes is None:
            return
        path = CGROUP_ROOT / f"tagengine-bench-{os.getpid()}"
        try:
            path.mkdir()
            (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            swap = path / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no swapping around the limit either
                swap.write_text(str(limit_bytes))
        except OSError as exc:
            print(f"no memory limit: cannot make a cgroup under {CGROUP_ROOT} ({exc})")
            return
        self.path = path

    def join(self) -> None:
        """Called in the child between fork and exec."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_kills(self) -> int:
        if self.path is None:
            return 0
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def remove(self) -> None:
        if self.path is not None:
            self.path.rmdir()


def measure(name: str, argv: list[str], cage: MemoryCage, limit: str) -> Run:
    """Run argv in a fresh process inside the cage: wall time, its own peak RSS."""
    kills_before = cage.oom_kills()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child never blocks
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=cage.join)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if cage.oom_kills() > kills_before:
        outcome = f"killed: out of memory (limit {limit})"
    elif child.returncode != 0:
        lines = [x for x in stderr.splitlines() if x.strip()]
        outcome = f"failed ({child.returncode}): {lines[-1] if lines else 'no message'}"
    else:
        outcome = "ok"
    shown = " ".join(a if a.startswith("-") or "/" not in a else Path(a).name for a in argv)
    return Run(name, shown, wall, usage.ru_maxrss / 1024, outcome)


# ---- the runs -----------------------------------------------------------------------------


def hand_written(data: Path, as_of: dt.date, engine: str, out: Path) -> None:
    """In the child: bench/handwritten_polars.py's plan on one Polars engine."""
    import handwritten_polars as hand

    hand.evaluate(data, as_of, engine).write_parquet(out)


def runs(data: Path, as_of: dt.date, out: Path) -> dict[str, list[str]]:
    tagengine = str(Path(sys.executable).with_name("tagengine"))
    te = [tagengine, "run", str(HERE / "workload.tags"), "--data", str(data)]
    te += ["--as-of", as_of.isoformat(), "--out", str(out), "-q"]
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    where = [str(data), as_of.isoformat(), str(out)]
    return {
        "tagengine --streaming": [*te, "--streaming"],
        "tagengine (default engine)": te,
        "hand-written, streaming engine": [*me, "streaming", *where],
        "hand-written, in-memory engine": [*me, "in-memory", *where],
    }


def table(results: list[Run]) -> str:
    lines = ["| run | wall s | peak RSS MiB | outcome |", "| --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.name} | {r.wall_s:.1f} | {r.peak_rss_mib:,.0f} | {r.outcome} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        engine, data, as_of, out = argv[1:]
        hand_written(Path(data), dt.date.fromisoformat(as_of), engine, Path(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(generate.SIZES), default="20m")
    parser.add_argument("--limit", type=float, metavar="GiB", help="memory limit per run")
    parser.add_argument("--only", nargs="+", metavar="RUN", help="run names to run (prefixes)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)

    data = generate.ensure(args.size)
    sizes = input_size(data)
    for table_name, s in sizes.items():
        print(
            f"{table_name}: {s['rows']:,} rows, {s['disk_mib']:,.0f} MiB on disk, "
            f"about {s['memory_mib']:,.0f} MiB in memory"
        )
    limit = f"{args.limit:g} GiB" if args.limit else "none"
    cage = MemoryCage(int(args.limit * GIB) if args.limit else None)
    if cage.path is None:
        limit = "none"
    print(f"memory limit per run: {limit}", flush=True)
    out = data / "results" / "larger_than_memory.parquet"
    out.parent.mkdir(exist_ok=True)
    results = []
    try:
        for name, command in runs(data, generate.AS_OF, out).items():
            if args.only and not any(name.startswith(p) for p in args.only):
                continue
            results.append(measure(name, command, cage, limit))
            r = results[-1]
            print(f"  {name}: {r.wall_s:.1f} s, {r.peak_rss_mib:,.0f} MiB, {r.outcome}", flush=True)
    finally:
        cage.remove()
        out.unlink(missing_ok=True)
    print(table(results))
    if args.json:
        report = {"size": args.size, "limit": limit, "input": sizes}
        report["runs"] = [asdict(r) for r in results]
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
