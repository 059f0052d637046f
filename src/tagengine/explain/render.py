"""Explanations as rich trees and tables, for people."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tagengine.explain.model import (
    Branch,
    Counts,
    CustomerExplanation,
    Dependency,
    Node,
    Obstacle,
    PopulationExplanation,
    RuleExplanation,
    RuleFunnel,
)
from tagengine.privacy import MASK
from tagengine.safe_text import shown
from tagengine.wording import plural

MARKS = {"true": ("✓", "green"), "false": ("✗", "red"), "unknown": ("?", "yellow")}


def customer(report: CustomerExplanation, as_of_source: str | None = None) -> RenderableType:
    """The rules' trees for one customer; `as_of_source` says where as_of came from."""
    head = Text(shown(f"{report.entity} {report.key} = {report.id} · as of {report.as_of}"), "bold")
    if as_of_source:
        head.append(f" ({shown(as_of_source)})")
    return Group(head, *(rule(r) for r in report.rules))


def rule(r: RuleExplanation) -> Tree:
    head = Text()
    head.append(shown(r.name), "bold")
    if r.label:
        head.append(f' "{shown(r.label)}"')
    if r.kind == "tag":
        head.append(" — ")
        head.append(
            shown(r.shown), "bold" if r.value == MASK else "green bold" if r.value else "red bold"
        )
    else:
        head.append(f" ({r.kind}) = ")
        head.append(shown(r.shown), "bold")
    if r.declassified is not None:
        head.append(f" (declassified: {shown(r.declassified)})", "yellow")
    tree = Tree(head)
    if r.tree is not None:
        _node(tree, r.tree)
    for b in r.branches:
        _branch(tree, b)
    if r.obstacles and not _said_above(r):
        why = tree.add(Text("why not:", "bold"))
        for o in r.obstacles:
            why.add(_obstacle(o))
    return tree


def _said_above(r: RuleExplanation) -> bool:
    """A lone obstacle that is the tree's own top clause adds nothing to the tree."""
    (first, *rest) = r.obstacles
    return not rest and not first.via and r.tree is not None and first.clause == r.tree.text


def _node(parent: Tree, node: Node) -> None:
    line = Text()
    if node.verdict is not None:
        mark, style = MARKS[node.verdict]
        line.append(f"{mark} ", style)
        line.append(shown(node.text))
        line.append(f"  {node.verdict}", style)
        if node.verdict == "unknown" and node.missing:
            line.append(f" ({shown(', '.join(node.missing))} missing)", style)
        if node.gap:
            line.append(f" — {shown(node.gap)}", "dim")
    else:
        line.append(f"{shown(node.text)} = ")
        line.append(shown(node.shown), "bold")
    if node.source is not None:
        s = node.source
        rows = f"{s.rows:,} of {plural(s.of, 'row')}" if s.of is not None else plural(s.rows, "row")
        line.append(f" — from {rows} of {shown(s.table)}", "dim")
        if s.first is not None:
            line.append(f", {shown(s.first)} .. {shown(s.last or '')}", "dim")
    if node.population is not None:
        p = node.population
        line.append(f" — among {p.ranked:,} of {p.total:,} with a known value", "dim")
    branch = parent.add(line)
    for child in node.children:
        _node(branch, child)


def _branch(parent: Tree, b: Branch) -> None:
    line = Text()
    if b.status == "matched":
        line.append("✓ ", "green")
    elif b.status == "failed":
        mark, style = MARKS[b.verdict or "false"]
        line.append(f"{mark} ", style)
    else:
        line.append("· ", "dim")
    line.append(f'"{shown(b.label)}"' + (" (else)" if b.otherwise else ""))
    status = "failed (unknown)" if b.verdict == "unknown" else b.status
    line.append(f"  {status}", "dim" if b.status == "not tried" else "")
    node = parent.add(line)
    if b.tree is not None:
        _node(node, b.tree)


def _obstacle(o: Obstacle) -> Text:
    line = Text()
    if o.via:
        line.append(f"{shown(' → '.join(o.via))}: ", "dim")
    line.append(shown(o.reason))
    if o.alternatives:
        line.append(f" (the closest of {o.alternatives} alternatives)", "dim")
    return line


# ---- population --------------------------------------------------------------


def population(report: PopulationExplanation, as_of_source: str | None = None) -> RenderableType:
    """A funnel per rule over everyone; `as_of_source` says where as_of came from."""
    entity = shown(report.entity)
    head = Text(f"{entity}: {report.population:,} in all · as of {report.as_of}", "bold")
    if as_of_source:
        head.append(f" ({shown(as_of_source)})")
    return Group(head, *(part for f in report.rules for part in funnel(f, report.population)))


def funnel(f: RuleFunnel, total: int) -> list[RenderableType]:
    head = Text()
    head.append(shown(f.name), "bold")
    if f.label:
        head.append(f' "{shown(f.label)}"')
    what = "set for" if f.kind == "tag" else "has a value for"
    head.append(f" ({f.kind}) — {what} {f.count:,} of {total:,} ({f.share:.1%})")
    if f.declassified is not None:
        head.append(f" (declassified: {f.declassified})", "yellow")
    parts: list[RenderableType] = [Text(""), head]
    if f.metadata:
        parts.append(Text(shown(" · ".join(f"{k} {v}" for k, v in f.metadata.items())), "dim"))
    if f.steps:
        word = {"all": "and", "any": "or", "single": ""}[f.combine or "single"]
        table = Table(box=None, pad_edge=False, show_edge=False)
        table.add_column("#", justify="right")
        table.add_column("clause")
        for title in ("alone", f"with the ones above ({word})") if word else ("alone",):
            table.add_column(f"{title}: true", justify="right")
            table.add_column("unknown", justify="right")
        for i, step in enumerate(f.steps, 1):
            cells = _cells(step.alone, total)
            if word:
                cells += _cells(step.so_far, total)
            table.add_row(str(i), Text(shown(step.clause)), *cells)
        parts.append(table)
    if f.buckets:
        table = Table(box=None, pad_edge=False, show_edge=False)
        table.add_column("value")
        table.add_column("customers", justify="right")
        table.add_column("share", justify="right")
        for b in f.buckets:
            table.add_row(Text(shown(b.shown)), f"{b.count:,}", f"{b.share:.1%}")
        parts.append(table)
    tree = Tree(Text("built on:", "bold"))
    for dep in f.dependencies.uses:
        _dependency(tree, dep)
    parts.append(tree)
    return parts


def _cells(c: Counts, total: int) -> tuple[str, str]:
    share = f" ({c.true / total:.1%})" if total else ""
    return f"{c.true:,}{share}", f"{c.unknown:,}"


def _dependency(parent: Tree, d: Dependency) -> None:
    line = Text(shown(d.name), "bold" if d.kind not in ("column", "related column") else "")
    line.append(f" ({d.kind}" + (f', "{shown(d.label)}"' if d.label else "") + ")", "dim")
    node = parent.add(line)
    for u in d.uses:
        _dependency(node, u)
