"""The explain answer as data: what `--format json` prints and `RuleSet.explain` returns.

The schema is versioned (`SCHEMA_VERSION`); a change that removes or renames a field
bumps it. `tagengine explain --json-schema` prints the JSON Schema of `Explanation`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = "1"

Verdict = Literal["true", "false", "unknown"]
# A value as JSON: decimals and dates travel as exact strings.
Value = bool | int | float | str | None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    """Where an aggregate's value came from: the related rows it read."""

    table: str
    rows: int = Field(description="rows that passed the window and the `where` filter")
    of: int | None = Field(None, description="for `share`: the rows in the window, all told")
    first: str | None = Field(None, description="date of the earliest of those rows")
    last: str | None = Field(None, description="date of the latest of those rows")


class Population(_Model):
    """For a ranking: how many customers it ranked among."""

    ranked: int = Field(description="customers with a known value, the ones ranked")
    total: int


class Node(_Model):
    """One clause or value of a rule, evaluated for one customer."""

    text: str = Field(description="the clause as written in the rule file")
    kind: str = Field(
        description="and, or, not, compare, in, between, missing, text, column, rule, "
        "aggregate, ranking, call, arithmetic, literal, branch"
    )
    value: Value = None
    shown: str = Field(description="the value as a person reads it")
    verdict: Verdict | None = Field(None, description="for conditions: true, false or unknown")
    missing: list[str] = Field(
        default_factory=list, description="for unknown: the values that are missing"
    )
    gap: str | None = Field(None, description="for a false comparison: how far off it is")
    rule: str | None = Field(None, description="the rule this node refers to")
    source: Source | None = None
    population: Population | None = None
    children: list[Node] = Field(default_factory=list)


class Obstacle(_Model):
    """One reason a tag is not set (or a segment branch did not match)."""

    clause: str
    verdict: Verdict
    reason: str = Field(description="e.g. 'spend_90d is 3,200.00; needs > 5,000 — 1,800.01 short'")
    via: list[str] = Field(
        default_factory=list, description="the rules followed to reach the clause"
    )
    alternatives: int | None = Field(
        None, description="inside an `or`: this is the closest of that many alternatives"
    )


class Branch(_Model):
    """A segment branch: tried in order, the first true one wins."""

    label: str
    status: Literal["matched", "failed", "not tried"]
    otherwise: bool = Field(False, description="the `else` branch")
    verdict: Verdict | None = None
    tree: Node | None = None
    obstacles: list[Obstacle] = Field(default_factory=list)


class RuleExplanation(_Model):
    name: str
    kind: Literal["feature", "tag", "score", "segment"]
    label: str | None = None
    value: Value = None
    shown: str
    tree: Node | None = Field(None, description="tags, features and scores")
    obstacles: list[Obstacle] = Field(
        default_factory=list, description="for a tag that is not set: what stands in the way"
    )
    branches: list[Branch] = Field(default_factory=list, description="for segments")
    declassified: str | None = Field(
        None,
        description="the reason its `declassify` line gives: its value is shown although "
        "it may carry a private column",
    )


class CustomerExplanation(_Model):
    """`explain --id`: every asked-for rule for one customer."""

    view: Literal["customer"] = "customer"
    schema_version: str = SCHEMA_VERSION
    as_of: str
    entity: str
    key: str
    id: Value
    rules: list[RuleExplanation]


class Counts(_Model):
    true: int
    false: int
    unknown: int


class FunnelStep(_Model):
    clause: str
    alone: Counts = Field(description="customers by this clause's own verdict")
    so_far: Counts = Field(description="by the verdict of this clause and all before it")


class Bucket(_Model):
    """A segment value, or a score or feature value, and how many customers have it."""

    value: Value
    shown: str
    count: int
    share: float


class Dependency(_Model):
    name: str
    kind: str = Field(
        description="feature, tag, score, segment, column, related column or related table"
    )
    label: str | None = None
    uses: list[Dependency] = Field(default_factory=list)


class RuleFunnel(_Model):
    name: str
    kind: Literal["feature", "tag", "score", "segment"]
    label: str | None = None
    metadata: dict[str, str] = Field(
        default_factory=dict, description="the rule's metadata lines (owner, category, ...)"
    )
    combine: Literal["all", "any", "single"] | None = Field(
        None, description="for tags: how the funnel's clauses combine (and / or)"
    )
    steps: list[FunnelStep] = Field(default_factory=list)
    count: int = Field(description="customers with the tag set, or with a value")
    share: float
    buckets: list[Bucket] = Field(
        default_factory=list, description="segment values (in branch order) or score values"
    )
    dependencies: Dependency
    declassified: str | None = Field(
        None, description="the reason its `declassify` line gives (buckets shown by decision)"
    )


class PopulationExplanation(_Model):
    """`explain --tag` without `--id`: how each rule cuts the population."""

    view: Literal["population"] = "population"
    schema_version: str = SCHEMA_VERSION
    as_of: str
    entity: str
    population: int
    rules: list[RuleFunnel]


Explanation = Annotated[CustomerExplanation | PopulationExplanation, Field(discriminator="view")]
ExplanationAdapter: TypeAdapter[CustomerExplanation | PopulationExplanation] = TypeAdapter(
    Explanation
)


def json_schema() -> dict[str, object]:
    schema = ExplanationAdapter.json_schema()
    schema["title"] = f"tagengine explain output, schema version {SCHEMA_VERSION}"
    return schema
