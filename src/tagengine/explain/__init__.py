"""Explain: why one customer has a rule's value, what stands in the way of a tag, and how
a rule cuts the whole population — computed by the same backend as `run`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl

from tagengine import ir
from tagengine.explain import evaluate
from tagengine.explain.customer import CustomerExplainer, Snippets
from tagengine.explain.model import (
    SCHEMA_VERSION,
    CustomerExplanation,
    PopulationExplanation,
    json_schema,
)
from tagengine.explain.population import population
from tagengine.privacy import Privacy

__all__ = [
    "SCHEMA_VERSION",
    "CustomerExplanation",
    "PopulationExplanation",
    "explain",
    "json_schema",
]


def explain(
    program: ir.Program,
    tables: Mapping[str, pl.LazyFrame],
    as_of: dt.date,
    sources: Mapping[str, str],
    id: object | None = None,
    rules: Sequence[str] | None = None,
    private: Sequence[str] = (),
) -> CustomerExplanation | PopulationExplanation:
    """With `id`: the named rules (default: all) for that customer. Without: how each
    named rule cuts the population. Values that show a `private` column are `***`."""
    snippets = Snippets(sources)
    privacy = Privacy.of(program, private)
    names = list(rules) if rules else list(program.outputs)
    asked = [program.rule(n) for n in names]
    if id is None:
        return population(program, tables, as_of, asked, lambda e: snippets(e.span), privacy)
    needed = program.closure(names)
    in_order = [r for r in program.rules if r.name in needed]
    values = evaluate.customer(program, tables, as_of, id, in_order)
    explainer = CustomerExplainer(program, values, snippets, privacy)
    return CustomerExplanation(
        as_of=as_of.isoformat(),
        entity=program.entity.name,
        key=program.entity.key,
        id=values.id if isinstance(values.id, int | str) else str(values.id),
        rules=[explainer.rule(r) for r in asked],
    )
