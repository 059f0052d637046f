"""One measurement in a fresh process; bench/run.py starts it and reads its peak RSS.

    python bench/worker.py evaluate IMPL DATA_DIR AS_OF [OUT.parquet]
    python bench/worker.py compile RULES DATA_DIR AS_OF
    python bench/worker.py explain RULES DATA_DIR AS_OF CUSTOMER_ID

Prints one JSON object. Times are taken after the imports, so they compare the work
itself; the parent also measures the whole process (interpreter start and imports).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
import time
from pathlib import Path

# The implementations import their siblings (workload_spec) as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

IMPLS = {
    "tagengine": "tagengine_impl",
    "polars": "handwritten_polars",
    "duckdb": "duckdb_sql",
    "pandas": "pandas_impl",
}


def evaluate(impl: str, data_dir: str, as_of: str, out: str | None = None) -> dict:
    module = importlib.import_module(IMPLS[impl])
    started = time.perf_counter()
    df = module.evaluate(Path(data_dir), dt.date.fromisoformat(as_of))
    wall = time.perf_counter() - started
    if out:
        df.write_parquet(out)
    return {"wall": wall, "rows": df.height, "columns": df.width}


def compile_rules(rules: str, data_dir: str, as_of: str) -> dict:
    """load (parse), check (names, types, cycles against the data's schema), compile
    (typed program), plan (the Polars LazyFrame): what every run pays before reading rows."""
    from tagengine_impl import tables

    import tagengine

    lazy = tables(Path(data_dir))
    schema = {name: frame.collect_schema() for name, frame in lazy.items()}
    times = {}
    started = time.perf_counter()
    ruleset = tagengine.load(rules)
    times["load"] = time.perf_counter() - started
    diagnostics = ruleset.check(schema)
    times["check"] = time.perf_counter() - started - times["load"]
    ruleset.compile(schema)
    times["compile"] = time.perf_counter() - started - times["load"] - times["check"]
    ruleset.plan(lazy, dt.date.fromisoformat(as_of))
    times["wall"] = time.perf_counter() - started
    times["plan"] = times["wall"] - times["load"] - times["check"] - times["compile"]
    errors = [d.code for d in diagnostics if d.is_error]
    return {**times, "errors": errors, "diagnostics": len(diagnostics)}


def explain(rules: str, data_dir: str, as_of: str, customer_id: str) -> dict:
    """Explain every rule for one customer, from loading the rules to the answer."""
    from tagengine_impl import tables

    import tagengine

    started = time.perf_counter()
    ruleset = tagengine.load(rules)
    ruleset.explain(tables(Path(data_dir)), id=int(customer_id), as_of=dt.date.fromisoformat(as_of))
    return {"wall": time.perf_counter() - started}


def peak_rss_kib() -> int | None:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: on Linux that
    keeps the parent's high-water mark across fork + exec, so a child started by a big
    parent would report the parent's size (measured: 1 GiB for an 8 MiB child)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) if line else None


def main(argv: list[str]) -> int:
    command, *args = argv
    actions = {"evaluate": evaluate, "compile": compile_rules, "explain": explain}
    result = actions[command](*args)
    print(json.dumps({**result, "peak_rss_kib": peak_rss_kib()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
