"""The benchmark of issue 6: tagengine against the same workload written by hand.

    python bench/run.py --size 1m [--repeat 5] [--impl tagengine polars ...] [--json out.json]

1. Generates bench/data/<size>/ if it is missing (bench/generate.py).
2. Verifies: every implementation's table must equal tagengine's (bench/verify.py).
   tagengine is also run twice, to show how far it agrees with itself.
3. Times every implementation in a fresh process each time, round-robin, --repeat times:
   wall time of the work (after imports), of the whole process, CPU time, peak RSS.
4. Times loading + checking + compiling a generated 1,000-rule file, and explaining
   one customer (if this tagengine has `RuleSet.explain`).

Other processes on the machine skew timings, so before each run the harness waits (up
to --idle-wait seconds) for the CPUs to go quiet, and reports the CPU time others used
during each run ("others %").
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_rules  # noqa: E402
import generate  # noqa: E402
import verify  # noqa: E402
from worker import IMPLS  # noqa: E402

BASELINE = "polars"
REFERENCE = "tagengine"
WORKER = HERE / "worker.py"
RULES = HERE / "workload.tags"
BIG_RULES = 1000
SECOND_RUN = f"{REFERENCE} (2nd run)"


# ---- running one measurement ---------------------------------------------------


@dataclass
class Measured:
    impl: str
    wall: float  # the work itself, measured inside the process after its imports
    process: float  # the whole process, interpreter start to exit
    cpu: float  # user + system CPU seconds of the process
    rss_mib: float  # peak resident set size of the process
    others: float | None  # CPU share other processes used meanwhile, 0..1 of all cores
    result: dict
    retries: int = 0  # runs discarded before this one because others were busy


def busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (Linux), to measure contention."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_worker(impl: str, *args: str) -> Measured:
    """Run bench/worker.py in a fresh process. CPU time comes from wait4 on its pid (this
    child's alone, not a maximum over earlier children); peak RSS from the child itself."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy_before, started = busy_seconds(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(WORKER), *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        process = time.perf_counter() - started
        busy_after = busy_seconds()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} failed ({' '.join(args)}):\n{stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(busy_after - busy_before - cpu, 0.0) / (process * (os.cpu_count() or 1))
    result = json.loads(stdout.strip().splitlines()[-1])
    # the child's own VmHWM (see worker.peak_rss_kib); ru_maxrss only where /proc is absent
    rss = (result.get("peak_rss_kib") or usage.ru_maxrss) / 1024
    return Measured(impl, result.get("wall", process), process, cpu, rss, others, result)


def wait_for_idle(max_wait: float, threshold: float = 0.10) -> float:
    """Wait until the machine's CPUs are at most `threshold` busy over one second, or
    `max_wait` seconds pass; the seconds waited."""
    waited = 0.0
    while waited < max_wait:
        before = busy_seconds()
        time.sleep(1.0)
        after = busy_seconds()
        waited += 1.0
        if before is None or after is None:
            break
        if (after - before) / (os.cpu_count() or 1) <= threshold:
            break
    return waited


# ---- verification ----------------------------------------------------------------


def verify_all(impls: list[str], data: Path, as_of: dt.date) -> dict[str, verify.Outcome]:
    """Each implementation's table against tagengine's, plus tagengine against itself.
    These runs also warm the file cache for the timed ones."""
    out_dir = data / "results"
    out_dir.mkdir(exist_ok=True)
    names = {REFERENCE: REFERENCE, **{i: i for i in impls}, SECOND_RUN: REFERENCE}
    paths = {}
    for name, impl in names.items():
        slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
        paths[name] = out_dir / f"{slug}.parquet"
        run_worker(impl, "evaluate", impl, str(data), as_of.isoformat(), str(paths[name]))
    expected = pl.read_parquet(paths.pop(REFERENCE))
    outcomes = {}
    for name, path in paths.items():
        outcomes[name] = verify.compare(expected, pl.read_parquet(path))
        print(f"  {name:20s} {outcomes[name].summary()}", flush=True)
    return outcomes


# ---- timing ------------------------------------------------------------------------


def time_all(
    impls: list[str],
    data: Path,
    as_of: dt.date,
    repeat: int,
    idle_wait: float,
    max_others: float,
) -> list[Measured]:
    """Round-robin, so that a slow spell of the machine hits every implementation."""
    runs = []
    for round_ in range(1, repeat + 1):
        for impl in impls:
            args = ("evaluate", impl, str(data), str(as_of))
            m = quiet_run(impl, idle_wait, max_others, *args)
            runs.append(m)
            print(
                f"  round {round_}/{repeat} {impl:10s} {m.wall:7.2f} s  {m.rss_mib:7.0f} MiB"
                f"  others {pct(m.others)}{'  (retried)' if m.retries else ''}",
                flush=True,
            )
    return runs


def quiet_run(
    label: str, idle_wait: float, max_others: float, *args: str, retries: int = 3
) -> Measured:
    """A run during which other processes used at most `max_others` of the CPUs; after
    `retries` noisy attempts, the least disturbed one."""
    attempts = []
    for _ in range(retries + 1):
        wait_for_idle(idle_wait)
        attempts.append(run_worker(label, *args))
        if (attempts[-1].others or 0.0) <= max_others:
            break
    best = min(attempts, key=lambda m: m.others or 0.0)
    best.retries = len(attempts) - 1
    return best


def summarize(runs: list[Measured], impls: list[str], max_others: float) -> list[dict]:
    """Per implementation: figures over all runs, and the median over the quiet runs
    (others used at most `max_others` of the CPUs), which a busy machine skews least."""
    rows = []
    for impl in impls:
        mine = [r for r in runs if r.impl == impl]
        others = [r.others for r in mine if r.others is not None]
        quiet = [r.wall for r in mine if (r.others or 0.0) <= max_others]
        rows.append(
            {
                "impl": impl,
                "median_s": statistics.median(r.wall for r in mine),
                "min_s": min(r.wall for r in mine),
                "quiet_median_s": statistics.median(quiet) if quiet else None,
                "quiet_runs": len(quiet),
                "runs": len(mine),
                "process_s": statistics.median(r.process for r in mine),
                "cpu_s": statistics.median(r.cpu for r in mine),
                "peak_rss_mib": max(r.rss_mib for r in mine),
                "others": statistics.median(others) if others else None,
                "discarded_noisy_runs": sum(r.retries for r in mine),
            }
        )
    base = next((r for r in rows if r["impl"] == BASELINE), None)
    for row in rows:
        row["wall_ratio"] = row["median_s"] / base["median_s"] if base else None
        row["cpu_ratio"] = row["cpu_s"] / base["cpu_s"] if base else None
        row["rss_ratio"] = row["peak_rss_mib"] / base["peak_rss_mib"] if base else None
        both = base and row["quiet_median_s"] and base["quiet_median_s"]
        row["quiet_ratio"] = row["quiet_median_s"] / base["quiet_median_s"] if both else None
    return rows


def time_compile(
    data: Path, as_of: dt.date, repeat: int, idle_wait: float, max_others: float
) -> dict:
    """Load + check + compile + plan of a generated 1,000-rule file, and of the workload."""
    big = data.parent / f"rules_{BIG_RULES}.tags"
    big.write_text(gen_rules.generate(BIG_RULES), encoding="utf-8")
    out = {}
    for label, path in ((f"{BIG_RULES} rules", big), ("workload.tags", RULES)):
        runs = []
        args = ("compile", str(path), str(data), as_of.isoformat())
        for _ in range(repeat):
            runs.append(quiet_run("compile", idle_wait, max_others, *args))
        errors = runs[0].result["errors"]
        if errors:
            raise RuntimeError(f"{path} does not check clean: {errors}")
        stages = ("load", "check", "compile", "plan", "wall")
        out[label] = {s: statistics.median(r.result[s] for r in runs) for s in stages}
        out[label]["peak_rss_mib"] = max(r.rss_mib for r in runs)
    return out


def time_explain(
    data: Path, as_of: dt.date, repeat: int, idle_wait: float, max_others: float
) -> dict:
    """Explaining every rule for one customer, in a fresh process (rules loaded too)."""
    import tagengine

    if not hasattr(tagengine.RuleSet, "explain"):
        return {"skipped": "tagengine.RuleSet has no `explain` method yet"}
    customers = pl.scan_parquet(data / "customers.parquet").select(pl.len()).collect().item()
    customer_id = customers // 2 + 1
    runs = []
    args = ("explain", str(RULES), str(data), as_of.isoformat(), str(customer_id))
    for _ in range(repeat):
        try:
            runs.append(quiet_run("explain", idle_wait, max_others, *args))
        except RuntimeError as exc:  # explain is being built; report, don't abort the run
            return {"failed": str(exc).strip().splitlines()[-1]}
    return {
        "customer_id": customer_id,
        "customers": customers,
        "median_s": statistics.median(r.wall for r in runs),
        "min_s": min(r.wall for r in runs),
        "peak_rss_mib": max(r.rss_mib for r in runs),
    }


# ---- reporting ---------------------------------------------------------------------


def machine() -> dict:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    mem_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        mem_kib = int(meminfo.read_text().split("\n", 1)[0].split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        **{p: version(p) for p in ("tagengine", "polars", "duckdb", "pandas", "numpy", "pyarrow")},
        "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "(default)"),
        "load_average": os.getloadavg(),
    }


def pct(share: float | None) -> str:
    return "   -" if share is None else f"{100 * share:3.0f}%"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    head = (
        "| impl | median s | min s | quiet median s (runs) | process s | CPU s "
        f"| peak RSS MiB | wall / {BASELINE} | quiet / {BASELINE} | CPU / {BASELINE} "
        f"| RSS / {BASELINE} | others |"
    )
    lines = [head, "|" + " --- |" * 12]
    for r in rows:
        quiet = "-" if r["quiet_median_s"] is None else f"{r['quiet_median_s']:.2f}"
        lines.append(
            f"| {r['impl']} | {r['median_s']:.2f} | {r['min_s']:.2f} "
            f"| {quiet} ({r['quiet_runs']}/{r['runs']}) | {r['process_s']:.2f} "
            f"| {r['cpu_s']:.2f} | {r['peak_rss_mib']:.0f} | {ratio(r['wall_ratio'])} "
            f"| {ratio(r['quiet_ratio'])} | {ratio(r['cpu_ratio'])} | {ratio(r['rss_ratio'])} "
            f"| {pct(r['others'])} |"
        )
    return "\n".join(lines)


def compile_table(figures: dict) -> str:
    lines = ["| rules | load s | check s | compile s | plan s | total s | peak RSS MiB |"]
    lines.append("|" + " --- |" * 7)
    for label, f in figures.items():
        lines.append(
            f"| {label} | {f['load']:.3f} | {f['check']:.3f} | {f['compile']:.3f} "
            f"| {f['plan']:.3f} | {f['wall']:.3f} | {f['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="tagengine benchmark (issue 6)")
    parser.add_argument("--size", choices=list(generate.SIZES), default="1m")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--impl", nargs="+", choices=list(IMPLS), default=list(IMPLS))
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=generate.AS_OF)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for other processes to go "
        "quiet (0: never wait)",
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.10,
        help="rerun (up to 3 times) a run during which other processes used more than "
        "this share of the CPUs",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the equality check")
    parser.add_argument(
        "--keep-going", action="store_true", help="time the implementations even if one differs"
    )
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="only print the tables of a --json file"
    )
    parser.add_argument("--skip-extras", action="store_true", help="no compile/explain timings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print_report(json.loads(args.report.read_text(encoding="utf-8")), args.max_others)
        return 0
    impls = [REFERENCE, *[i for i in args.impl if i != REFERENCE]]
    report: dict = {"size": args.size, "as_of": args.as_of.isoformat(), "repeat": args.repeat}
    report["machine"] = machine()
    print(f"data: {generate.ensure(args.size)}", flush=True)
    data = generate.data_dir(args.size)

    failed = False
    if not args.no_verify:
        print("verifying against tagengine:", flush=True)
        outcomes = verify_all([i for i in impls if i != REFERENCE], data, args.as_of)
        report["verification"] = {name: o.as_dict() for name, o in outcomes.items()}
        failed = any(not o.equal for o in outcomes.values())
        if failed and not args.keep_going:
            print("an implementation disagrees with tagengine; not timing (see --keep-going)")
            write_json(args.json, report)
            return 1

    print(f"timing ({args.repeat} rounds, fresh process per run):", flush=True)
    runs = time_all(impls, data, args.as_of, args.repeat, args.idle_wait, args.max_others)
    report["runs"] = [asdict(r) for r in runs]
    report["summary"] = summarize(runs, impls, args.max_others)
    print(table(report["summary"]))

    if not args.skip_extras:
        quiet = (args.repeat, args.idle_wait, args.max_others)
        report["compile"] = time_compile(data, args.as_of, *quiet)
        print(compile_table(report["compile"]))
        report["explain"] = time_explain(data, args.as_of, *quiet)
        print(explain_line(report["explain"]))
    report["machine"]["load_average_end"] = os.getloadavg()
    write_json(args.json, report)
    return 1 if failed else 0


def explain_line(figures: dict) -> str:
    if "skipped" in figures:
        return f"explain: skipped ({figures['skipped']})"
    if "failed" in figures:
        return f"explain: FAILED ({figures['failed']})"
    return (
        f"explain one customer (id {figures['customer_id']} of {figures['customers']:,}): "
        f"median {figures['median_s']:.2f} s, min {figures['min_s']:.2f} s, "
        f"peak RSS {figures['peak_rss_mib']:.0f} MiB"
    )


def print_report(report: dict, max_others: float) -> None:
    """The tables of a saved run, re-summarized (e.g. with another --max-others)."""
    runs = [Measured(**r) for r in report["runs"]]
    impls = list(dict.fromkeys(r.impl for r in runs))
    print(f"size {report['size']}, {report['repeat']} rounds, machine {report['machine']}")
    for name, outcome in report.get("verification", {}).items():
        print(f"  {name:20s} {outcome['summary']}")
    print(table(summarize(runs, impls, max_others)))
    if "compile" in report:
        print(compile_table(report["compile"]))
    if "explain" in report:
        print(explain_line(report["explain"]))


def write_json(path: Path | None, report: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
