"""`tagengine run` on each engine, timed as whole processes (docs/scale.md, "Measured").

    python bench/engines.py --size 1m --repeat 5 [--engines polars streaming duckdb spark]

Each run is the command a user types — start-up, imports, reading, the query, writing
the file — in a fresh process, the engines round-robin. Peak RSS is the child's own
(from wait4); for spark it leaves out the JVM. The output files must be byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from larger_than_memory import MemoryCage, measure  # noqa: E402

FLAGS = {
    "polars": [],
    "streaming": ["--streaming"],
    "duckdb": ["--engine", "duckdb"],
    "spark": ["--engine", "spark"],
}


def run_once(engine: str, data: Path, out: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB and the output's sha256 of one run."""
    tagengine = str(Path(sys.executable).with_name("tagengine"))
    argv = [tagengine, "run", str(HERE / "workload.tags"), "--data", str(data)]
    argv += ["--as-of", generate.AS_OF.isoformat(), "--out", str(out), "-q", *FLAGS[engine]]
    run = measure(engine, argv, MemoryCage(None), "none")
    if run.outcome != "ok":
        raise SystemExit(f"{engine}: {run.outcome}; run {' '.join(argv)}")
    return run.wall_s, run.peak_rss_mib, hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(generate.SIZES), default="1m")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engines", nargs="+", choices=list(FLAGS), default=list(FLAGS)[:3])
    args = parser.parse_args(argv)
    data = generate.ensure(args.size)
    out_dir = data / "results"
    out_dir.mkdir(exist_ok=True)
    runs: dict[str, list[tuple[float, float, str]]] = {e: [] for e in args.engines}
    for engine in args.engines:  # warm-up: the file cache, the parser cache
        run_once(engine, data, out_dir / f"engine-{engine}.parquet")
    for round_no in range(1, args.repeat + 1):
        for engine in args.engines:
            runs[engine].append(run_once(engine, data, out_dir / f"engine-{engine}.parquet"))
            wall, rss, _ = runs[engine][-1]
            print(f"  round {round_no}/{args.repeat} {engine:10s} {wall:6.2f} s {rss:7.0f} MiB")
    print("| engine | runs | median s | min s | peak RSS MiB (median) |")
    print("| --- | --- | --- | --- | --- |")
    for engine, rs in runs.items():
        walls = [r[0] for r in rs]
        median, rss = statistics.median(walls), statistics.median(r[1] for r in rs)
        print(f"| {engine} | {len(rs)} | {median:.2f} | {min(walls):.2f} | {rss:.0f} |")
    digests = {r[2] for rs in runs.values() for r in rs}
    print("outputs:", "byte-identical" if len(digests) == 1 else f"{len(digests)} different files")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
