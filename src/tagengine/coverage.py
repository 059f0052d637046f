"""TE411 / TE412: what a run found about its tags — one no customer has, or every one has.

A tag that matches nobody (`member_level == "gold"` when the data says `金卡`) or
everybody (`age >= 0`) is valid, and almost certainly not what was meant; only the result
shows it. Counted from the result frame, so it costs one sum per tag; said only when
there is more than one customer (with one, every tag is all or nothing).
"""

from __future__ import annotations

import polars as pl

from tagengine import ir
from tagengine.diagnostics import Diagnostic, warning


def tag_coverage(table: pl.DataFrame, program: ir.Program) -> list[Diagnostic]:
    """TE411 for each tag in `table` (a run's result) that no entity has, TE412 for each
    that every entity has; in the order the tags are written."""
    total = table.height
    if total < 2:
        return []
    tags = [
        name
        for name in program.outputs
        if name in table.columns and program.rule(name).kind == "tag"
    ]
    if not tags:
        return []
    counts = table.select(pl.col(tags).sum()).row(0, named=True)
    entity = program.entity.name
    out = []
    for name in tags:
        rule = program.rule(name)
        n = int(counts[name] or 0)
        if n == 0:
            out.append(
                warning(
                    "TE411",
                    f"tag `{name}` matches no {entity} (0 of {total:,})",
                    rule.span,
                    "check its condition against the data: `tagengine explain --tag "
                    f"{name}` shows where the {entity}s drop out, `tagengine profile` "
                    "what the columns hold",
                    "matches nobody",
                )
            )
        elif n == total:
            out.append(
                warning(
                    "TE412",
                    f"tag `{name}` matches every {entity} ({total:,} of {total:,})",
                    rule.span,
                    "a tag everyone has tells no one apart: check its condition "
                    f"(`tagengine explain --tag {name}` shows each part's count)",
                    "matches everybody",
                )
            )
    return out
