"""AST program → IR program: one entity, unique names, dependency order, no cycles, types.

Every problem is collected, so one run reports all of them.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from tagengine import ir, limits
from tagengine.check import lint
from tagengine.check.types import RelatedInfo, Typer, comparable
from tagengine.diagnostics import Diagnostic, error, suggestion_budget, warning
from tagengine.schema import Schema, column_types
from tagengine.syntax import ast


def check(
    program: ast.Program, schema: Schema | None, complete: bool = True
) -> tuple[ir.Program | None, list[Diagnostic]]:
    """Resolve and type `program` against `schema` (None: no data known, names are columns).
    `complete` is False when some statements did not parse: then no rule is reported unused."""
    if (too_many := limits.rules_problem(program.rules)) is not None:
        return None, [too_many]
    with suggestion_budget():  # "did you mean" takes seconds at most, whatever the file
        return _check(program, schema, complete)


def _check(
    program: ast.Program, schema: Schema | None, complete: bool
) -> tuple[ir.Program | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    entity = _entity(program, diags)
    rules = _unique_rules(program.rules, diags)
    if entity is not None and entity.key in rules:
        clash = rules.pop(entity.key)
        diags.append(
            error(
                "TE102",
                f"`{clash.name}` is the entity key; a rule cannot take its name",
                clash.name_span,
                "rename the rule",
            )
        )
    for reserved in [n for n in rules if n == "as_of"]:
        clash = rules.pop(reserved)
        diags.append(
            error(
                "TE102",
                "`as_of` is the observation date; a rule cannot take its name",
                clash.name_span,
                "rename the rule",
            )
        )
    columns = _columns(entity, schema, diags) if entity else None
    related = _related(program.related, schema, diags)
    if entity is not None and columns is not None and entity.key in columns:
        key_type = columns[entity.key]
        for rel in program.related:
            rel_cols = related[rel.name].columns if rel.name in related else None
            rel_type = rel_cols.get(rel.key) if rel_cols else None
            if rel_type is not None and not comparable(key_type, rel_type):
                diags.append(
                    error(
                        "TE201",
                        f"`{rel.name}.{rel.key}` holds {rel_type} values but the key "
                        f"`{entity.table}.{entity.key}` holds {key_type} values",
                        rel.key_span,
                        "the two key columns must hold the same kind of value",
                    )
                )

    names = set(rules)
    deps = {r.name: _names_used(r) & names for r in rules.values()}
    order = _order(rules, deps, diags)
    if (too_deep := limits.chain_problem(order, deps, rules)) is not None:
        diags.append(too_deep)

    rule_types: dict[str, ir.Type] = {}
    visible = dict.fromkeys(rules, ir.UNKNOWN)  # every rule's type, known once it is typed
    typed: list[ir.Rule] = []
    for name in order:
        node = rules[name]
        table = entity.table if entity else "the entity table"
        typer = Typer(columns, visible, table, related)
        rule = _type_rule(node, typer)
        diags += typer.diagnostics
        rule_types[name] = visible[name] = rule.type
        typed.append(rule)
        if columns is not None and name in columns:
            diags.append(
                warning(
                    "TE301",
                    f"`{name}` is both a column and a rule; the rule wins",
                    node.name_span,
                    "rename the rule to keep the column visible",
                )
            )
    if entity is not None:
        complete = complete and len(typed) == len(rules) and not any(d.is_error for d in diags)
        expected = {i.name for t in program.tests for e in t.expects for i in e.items}
        diags += lint.warnings(rules, typed, schema, entity, complete, expected)
    if entity is None or any(d.is_error for d in diags):
        return None, diags
    used = {c.name for r in typed for c in ir.walk(r.expr) if isinstance(c, ir.Column)}
    cols = (entity.key, *sorted(used - {entity.key}))
    ir_entity = ir.Entity(entity.name, entity.table, entity.key)
    outputs = tuple(r.name for r in program.rules if r.name in rule_types)
    ir_related = tuple(ir.Related(r.name, r.key, r.time) for r in program.related)
    return ir.Program(ir_entity, ir_related, tuple(typed), cols, outputs), diags


def _related(
    declared: tuple[ast.Related, ...], schema: Schema | None, diags: list[Diagnostic]
) -> dict[str, RelatedInfo]:
    """Each `related` table's columns and time column, checked against the schema."""
    out: dict[str, RelatedInfo] = {}
    for rel in declared:
        if rel.name in out:
            diags.append(
                error(
                    "TE102",
                    f"table `{rel.name}` is declared twice",
                    rel.name_span,
                    f"keep one `related {rel.name} ...` line",
                )
            )
            continue
        columns: dict[str, ir.Type] | None = None
        if schema is not None:
            table = schema.get(rel.name)
            if table is None:
                diags.append(_no_data(schema, f"related table `{rel.name}`", rel.name_span))
            else:
                columns = column_types(table)
                listing = "columns: " + ", ".join(list(columns)[:20])
                if rel.key not in columns:
                    diags.append(
                        error(
                            "TE107",
                            f"the key `{rel.key}` is not a column of `{rel.name}`",
                            rel.key_span,
                            listing,
                        )
                    )
                if rel.time is not None and rel.time not in columns:
                    diags.append(
                        error(
                            "TE107",
                            f"the time column `{rel.time}` is not a column of `{rel.name}`",
                            rel.time_span,
                            listing,
                        )
                    )
                elif rel.time is not None and columns[rel.time].kind not in (
                    "date",
                    "datetime",
                    "unknown",
                ):
                    diags.append(
                        error(
                            "TE108",
                            f"the time column `{rel.name}.{rel.time}` holds "
                            f"{columns[rel.time]} values, not dates",
                            rel.time_span,
                            "name a date or date-and-time column",
                        )
                    )
        out[rel.name] = RelatedInfo(columns, rel.time)
    return out


def _entity(program: ast.Program, diags: list[Diagnostic]) -> ast.Entity | None:
    entities = program.entities
    if not entities:
        first = program.rules[0] if program.rules else None
        diags.append(
            error(
                "TE106",
                "no entity declared",
                first.span.to(first.name_span) if first else None,
                "start the rules with e.g. `entity customer table customers key customer_id`",
            )
        )
        return None
    for extra in entities[1:]:
        diags.append(
            error(
                "TE106",
                f"a second entity `{extra.name}`; a rule set has one",
                extra.span,
                f"the first is `{entities[0].name}` at {entities[0].span}",
            )
        )
    return entities[0]


def _unique_rules(rules: tuple[ast.Rule, ...], diags: list[Diagnostic]) -> dict[str, ast.Rule]:
    seen: dict[str, ast.Rule] = {}
    for rule in rules:
        first = seen.get(rule.name)
        if first is None:
            seen[rule.name] = rule
            continue
        diags.append(
            error(
                "TE102",
                f"`{rule.name}` is defined twice",
                rule.name_span,
                f"first defined at {first.name_span} ({first.kind}); rename one",
                "defined again here",
            )
        )
    return seen


def _no_data(schema: Schema, what: str, span: ast.Span) -> Diagnostic:
    known = ", ".join(sorted(schema)) or "none"
    return error("TE107", f"no data for {what}", span, f"tables given: {known}")


def _columns(
    entity: ast.Entity, schema: Schema | None, diags: list[Diagnostic]
) -> dict[str, ir.Type] | None:
    if schema is None:
        return None
    table = schema.get(entity.table)
    if table is None:
        diags.append(_no_data(schema, f"table `{entity.table}`", entity.span))
        return None
    columns = column_types(table)
    if entity.key not in columns:
        diags.append(
            error(
                "TE107",
                f"the key `{entity.key}` is not a column of `{entity.table}`",
                entity.key_span,
                "columns: " + ", ".join(list(columns)[:20]),
            )
        )
    return columns


def _names_used(rule: ast.Rule) -> set[str]:
    return {n.name for root in _roots(rule) for n in ast.walk(root) if isinstance(n, ast.Name)}


def _roots(rule: ast.Rule) -> list[ast.Expr]:
    match rule:
        case ast.Feature(expr=e) | ast.Score(expr=e) | ast.Tag(condition=e):
            return [e]
        case ast.Segment(branches=branches):
            return [b.condition for b in branches]
    return []


def _order(
    rules: dict[str, ast.Rule], deps: dict[str, set[str]], diags: list[Diagnostic]
) -> list[str]:
    """Dependency order, stable by source position; a cycle is reported with its members."""
    position = {n: i for i, n in enumerate(rules)}
    remaining = {n: set(d) for n, d in deps.items()}
    order: list[str] = []
    while remaining:
        sorter = TopologicalSorter(remaining)
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = exc.args[1][:-1]
            start = min(cycle, key=position.__getitem__)
            i = cycle.index(start)
            cycle = cycle[i:] + cycle[:i]
            # graphlib lists a cycle from dependency to dependent; show "uses" order
            path = " → ".join([start, *reversed(cycle[1:]), start])
            diags.append(
                error(
                    "TE103",
                    f"rules depend on each other in a circle: {path}",
                    rules[start].name_span,
                    "break the circle: one of these rules must not use the next",
                    "part of the circle",
                )
            )
            for n in cycle:
                remaining.pop(n, None)
            for d in remaining.values():
                d.difference_update(cycle)
            continue
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        break
    return order


def _type_rule(node: ast.Rule, typer: Typer) -> ir.Rule:
    match node:
        case ast.Tag(condition=cond):
            expr = typer.condition(cond, f"the condition of tag `{node.name}`")
            rtype = ir.BOOL
        case ast.Feature(expr=e):
            expr = typer.expr(e)
            rtype = expr.type
            if rtype.kind == "list":
                typer.fail(
                    "TE201",
                    "a feature cannot be a list",
                    e.span,
                    "a list can only follow `in` or `not in`",
                )
        case ast.Score(expr=e):
            expr = typer.expr(e)
            rtype = expr.type
            if not rtype.numeric:
                typer.fail(
                    "TE203",
                    f"score `{node.name}` must be a number, not a {rtype}",
                    e.span,
                    "use a feature for non-numeric values",
                )
        case ast.Segment(branches=branches, otherwise=otherwise):
            cases = tuple(
                (
                    typer.condition(b.condition, f'branch "{b.value}" of segment `{node.name}`'),
                    ir.Literal(ir.STRING, b.span, b.value),
                )
                for b in branches
            )
            other = ir.Literal(ir.STRING, node.span, otherwise) if otherwise is not None else None
            expr = ir.Case(ir.STRING, node.span, cases, other)
            rtype = ir.STRING
        case _:  # pragma: no cover
            raise AssertionError(node)
    typer.calendar_durations(expr)
    return ir.Rule(
        node.name,
        node.kind,
        expr,
        rtype,
        node.label,
        node.meta,
        node.span,
        tuple(sorted(typer.used_rules)),
    )
