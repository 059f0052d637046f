"""How long `check` takes on a 1,000-rule file (parse, resolve, type, warnings).

    .venv/bin/python bench/check_1000.py            # prints the timings
    .venv/bin/python bench/check_1000.py --write rules_1000.tags   # also keeps the file

The rules are a realistic mix over the example data's schema (customers + orders):
features with aggregates and windows, attribute and rule tags, scores and segments, each
rule using earlier ones, so the dependency graph is as deep and wide as a real rule set.
No data is read: the schema is given as Polars dtypes, as `tagengine check --schema` does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import tagengine
from tagengine.example_data import CUSTOMERS_SCHEMA, ORDERS_SCHEMA

# the bundled example data's tables, which the generated rules are written against
SCHEMA = {"customers": CUSTOMERS_SCHEMA, "orders": ORDERS_SCHEMA}

HEADER = """\
entity customer table customers key customer_id
related orders key customer_id time order_date
"""


def generate(n: int = 1000) -> str:
    """`n` rules: a quarter features, half tags, the rest scores and segments."""
    lines = [HEADER]
    features: list[str] = []
    tags: list[str] = []
    for i in range(n):
        kind = i % 8
        if kind in (0, 1) or not features:
            name = f"spend_{i}d"
            days = 30 + i % 365
            if kind == 0:
                expr = (
                    f"sum(orders.amount where not orders.returned and "
                    f'orders.channel != "store") over last {days} days'
                )
            else:
                expr = f"count(orders where orders.amount > {i % 500}) over last {days} days"
            lines.append(f'feature {name} "消费{i}" = {expr}\n  owner "bench"')
            features.append(name)
        elif kind in (2, 3, 4, 5):
            name = f"tag_{i}"
            f = features[i % len(features)]
            cond = {
                2: f'{f} > {i * 10} and city in ["北京", "上海", "广州"]',
                3: f"age between {18 + i % 20} and {40 + i % 30} and {f} >= {i}",
                4: f'gender == "F" and days_between(signup_date, as_of) <= {i % 400 + 1}',
                5: f'({tags[-1]} or {f} > 100) and email contains "@"' if tags else f"{f} > 1",
            }[kind]
            lines.append(f"tag {name} when {cond}")
            tags.append(name)
        elif kind == 6:
            f = features[i % len(features)]
            lines.append(f"score score_{i} = ntile({f}, {2 + i % 9}, descending)")
        else:
            f = features[i % len(features)]
            lines.append(
                f'segment seg_{i}\n  "high" when {f} >= {1000 + i}\n'
                f'  "mid" when {f} >= {100 + i}\n  "low" when {f} > 0\n  else "none"'
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000, help="how many rules (1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (5)")
    parser.add_argument("--write", type=Path, help="also write the generated rule file here")
    args = parser.parse_args()

    text = generate(args.rules)
    if args.write:
        args.write.write_text(text, "utf-8")
    tagengine.load(text).check(SCHEMA)  # warm up: grammar compiled once per process

    parse_times, check_times = [], []
    diagnostics: list = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rules = tagengine.load(text)
        t1 = time.perf_counter()
        diagnostics = rules.check(SCHEMA)
        t2 = time.perf_counter()
        parse_times.append(t1 - t0)
        check_times.append(t2 - t1)
    n_rules = len(tagengine.load(text).ast.rules)
    errors = [d for d in diagnostics if d.is_error]
    total = [p + c for p, c in zip(parse_times, check_times, strict=True)]
    print(f"{n_rules} rules, {len(text.splitlines())} lines, {len(diagnostics)} diagnostics")
    print(f"parse  median {statistics.median(parse_times) * 1000:7.1f} ms")
    print(f"check  median {statistics.median(check_times) * 1000:7.1f} ms")
    print(
        f"total  median {statistics.median(total) * 1000:7.1f} ms  (best {min(total) * 1000:.1f})"
    )
    if errors:
        print("the generated rules have errors:", *errors[:3], sep="\n", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
