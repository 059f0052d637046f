"""Private columns (the project file's `pii`): which values would show them.

A rule that tests a private column (`tag has_phone when phone is not missing`) reveals
nothing; a feature that is the column, or text made from it (`feature contact =
lower(email)`), or its first/last/min/max over related rows, carries it. Carried values
are shown as `***` by explain and summaries, and `run` leaves such rules out of the
output unless `--include-pii` is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tagengine import ir

MASK = "***"
_CARRYING_AGGREGATES = ("first", "last", "min", "max")


@dataclass
class Privacy:
    """`columns`: private entity columns by name, related ones as `table.column`."""

    program: ir.Program
    columns: frozenset[str]
    _memo: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, program: ir.Program, columns: Iterable[str]) -> Privacy:
        entity = program.entity.table
        names = {c.removeprefix(f"{entity}.") for c in columns}
        return cls(program, frozenset(names))

    def carries(self, e: ir.Expr) -> bool:
        """Whether the value of `e` shows (part of) a private column's value."""
        if not self.columns:
            return False
        match e:
            case ir.Column(name=name):
                return name in self.columns
            case ir.RelatedColumn(table=table, name=name):
                return f"{table}.{name}" in self.columns
            case ir.Aggregate(func=func, value=value):
                return func in _CARRYING_AGGREGATES and value is not None and self.carries(value)
            case ir.RuleRef(name=name):
                return self.rule_carries(name)
            case ir.Ranking() | ir.Case():
                return False
        if e.type.kind == "bool" or (e.type.numeric and isinstance(e, ir.Call)):
            return False  # a verdict, or a number computed from the text (its length)
        return any(self.carries(c) for c in ir.children(e))

    def rule_carries(self, name: str) -> bool:
        if name not in self._memo:
            self._memo[name] = False  # cycles are reported elsewhere
            self._memo[name] = self.carries(self.program.rule(name).expr)
        return self._memo[name]

    def withheld(self, names: Iterable[str]) -> list[str]:
        """The rules among `names` whose values carry a private column."""
        return [n for n in names if self.rule_carries(n)]


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\[[^\]]*\]")


def redact(text: str, columns: Iterable[str]) -> str:
    """`text` (an error message) with every quoted value and value list masked, when it
    speaks of a private column: data errors quote the offending values."""
    names = {c.rsplit(".", 1)[-1] for c in columns}
    if not any(re.search(rf"\b{re.escape(n)}\b", text) for n in names):
        return text

    def mask(m: re.Match[str]) -> str:
        inner = m.group(0)[1:-1]
        return m.group(0) if inner in names else MASK  # keep the column's own name

    return _QUOTED.sub(mask, text)
