"""A large, valid, seeded rule file over the benchmark schema, to time compilation.

    python bench/gen_rules.py 1000 bench/data/rules_1000.tags

The mix follows bench/workload.tags: a third attribute tags, a third windowed
aggregates, the rest rule tags over earlier rules, scores and segments. Rules only
use rules defined before them, so the file has no cycles; every rule is distinct
(numbered names, varied thresholds), so nothing is deduplicated away.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HEADER = """entity customer table customers key customer_id
related orders key customer_id time order_date
"""
CITIES = ["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆"]
CATEGORIES = ["服装", "数码", "食品", "美妆", "家居", "母婴", "图书", "运动"]
CHANNELS = ["online", "store", "app"]
WINDOWS = [7, 14, 30, 60, 90, 180, 365, 730]


def attribute(rng: random.Random, i: int) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        lo = rng.randrange(16, 60)
        return f"tag attr_{i} when age between {lo} and {lo + rng.randrange(5, 20)}"
    if choice == 1:
        cities = ", ".join(f'"{c}"' for c in rng.sample(CITIES, rng.randrange(1, 5)))
        return f"tag attr_{i} when city in [{cities}]"
    if choice == 2:
        return f'tag attr_{i} when gender == "{rng.choice("FM")}" and is_vip'
    if choice == 3:
        return f"tag attr_{i} when model_score >= {rng.randrange(1, 99) / 100}"
    if choice == 4:
        return f"tag attr_{i} when days_between(signup_date, as_of) <= {rng.randrange(30, 2000)}"
    return f'tag attr_{i} when phone starts with "1{rng.randrange(3, 10)}"'


def aggregate(rng: random.Random, i: int) -> tuple[str, str]:
    """A windowed aggregate feature and whether it is a number or a count."""
    window = f"over last {rng.choice(WINDOWS)} days"
    where = rng.choice(
        [
            "",
            " where not orders.returned",
            f' where orders.category == "{rng.choice(CATEGORIES)}"',
            f' where orders.channel == "{rng.choice(CHANNELS)}"',
            f" where orders.amount >= {rng.randrange(50, 1000)}",
        ]
    )
    func = rng.choice(["sum", "count", "avg", "max", "count_distinct", "share"])
    if func == "count":
        return f"feature agg_{i} = count(orders{where}) {window}", "count"
    if func == "share":
        cond = where.removeprefix(" where ") or "orders.returned"
        return f"feature agg_{i} = share(orders where {cond}) {window}", "ratio"
    if func == "count_distinct":
        return f"feature agg_{i} = count_distinct(orders.category{where}) {window}", "count"
    return f"feature agg_{i} = {func}(orders.amount{where}) {window}", "amount"


THRESHOLDS = {"count": (1, 20), "ratio": (5, 95), "amount": (100, 20_000)}


def condition(rng: random.Random, features: list[tuple[str, str]], tags: list[str]) -> str:
    name, kind = rng.choice(features)
    lo, hi = THRESHOLDS[kind]
    value = rng.randrange(lo, hi)
    test = f"{name} >= {value}%" if kind == "ratio" else f"{name} > {value}"
    if tags and rng.random() < 0.6:
        joiner = rng.choice(["and", "or", "and not"])
        test = f"{test} {joiner} {rng.choice(tags)}"
    return test


def generate(count: int, seed: int = 6) -> str:
    rng = random.Random(seed)
    lines = [HEADER]
    features: list[tuple[str, str]] = []
    tags: list[str] = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.33 or not features:
            lines.append(attribute(rng, i))
            tags.append(f"attr_{i}")
        elif kind < 0.66 or len(features) < 3:
            line, feature_kind = aggregate(rng, i)
            lines.append(line)
            features.append((f"agg_{i}", feature_kind))
        elif kind < 0.90:
            lines.append(f"tag rule_{i} when {condition(rng, features, tags)}")
            tags.append(f"rule_{i}")
        elif kind < 0.96:
            name, _ = rng.choice(features)
            direction = ", descending" if rng.random() < 0.5 else ""
            lines.append(f"score score_{i} = ntile({name}, {rng.choice([4, 5, 10])}{direction})")
        else:
            branches = [
                f'  "{label}" when {condition(rng, features, tags)}'
                for label in ("a", "b", "c")[: rng.randrange(2, 4)]
            ]
            lines.append("\n".join([f"segment seg_{i}", *branches, '  else "other"']))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    count, path = int(argv[0]), Path(argv[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(count), encoding="utf-8")
    print(f"wrote {count} rules to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
