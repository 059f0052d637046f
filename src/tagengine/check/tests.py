"""Checking in-file `test` blocks: what they give and expect must fit the rules and data.

Rules never see test blocks (the resolver checks `program.rules` only); this module
checks the blocks themselves, against the rule set and, when known, the data's schema:

- given tables are the entity table or a declared related table (TE101), their columns
  exist when the schema is known (TE101), values fit the columns' types (TE201), each row
  of the entity table has a key and no key is given twice (TE501);
- expected names are rules (TE101, with "did you mean"), `expect x` / `expect not x` is
  about a true/false rule (TE202), a compared value fits the rule's type (TE201), a
  segment is compared with one of its labels (TE101);
- `for customer 2` names the entity (or its key) and a customer the test gives (TE501);
- a test has one `as_of` at most, at least one row of the entity table and one `expect`
  (TE501); two tests do not share a title (TE102).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tagengine import ir
from tagengine.check.types import comparable, literal_type
from tagengine.diagnostics import Diagnostic, did_you_mean, error, suggestion_budget
from tagengine.schema import Schema, column_types
from tagengine.syntax import ast

_ORDERED = ("<", "<=", ">", ">=")


@dataclass
class TestContext:
    """What a test block is checked against: the rules' types, the tables and schema."""

    __test__ = False  # not a pytest test class

    entity: ast.Entity | None
    related: dict[str, ast.Related]
    rule_types: dict[str, ir.Type]
    rule_kinds: dict[str, str]
    segment_labels: dict[str, tuple[str, ...]]
    columns: dict[str, dict[str, ir.Type] | None] = field(default_factory=dict)

    @property
    def tables(self) -> list[str]:
        head = [self.entity.table] if self.entity else []
        return [*head, *self.related]

    def key_of(self, table: str) -> str | None:
        if self.entity is not None and table == self.entity.table:
            return self.entity.key
        rel = self.related.get(table)
        return rel.key if rel else None


def context(
    program: ast.Program, schema: Schema | None, typed: ir.Program | None = None
) -> TestContext:
    """The context for checking `program`'s tests. `typed` is the checked program (None when
    the rules have errors: rule types then follow from their kind)."""
    entity = program.entities[0] if program.entities else None
    related: dict[str, ast.Related] = {}
    for rel in program.related:
        related.setdefault(rel.name, rel)
    kinds = {r.name: r.kind for r in program.rules}
    by_kind = {"tag": ir.BOOL, "segment": ir.STRING}
    types = {name: by_kind.get(kind, ir.UNKNOWN) for name, kind in kinds.items()}
    if typed is not None:
        types.update({r.name: r.type for r in typed.rules})
    labels = {
        r.name: (*(b.value for b in r.branches), *([r.otherwise] if r.otherwise else []))
        for r in program.rules
        if isinstance(r, ast.Segment)
    }
    ctx = TestContext(entity, related, types, kinds, labels)
    for table in ctx.tables:
        data = schema.get(table) if schema is not None else None
        ctx.columns[table] = column_types(data) if data is not None else None
    return ctx


def check_tests(
    program: ast.Program, schema: Schema | None, typed: ir.Program | None = None
) -> list[Diagnostic]:
    """Every problem in every test block of `program`."""
    if not program.tests:
        return []
    with suggestion_budget():
        return _check_tests(program, schema, typed)


def _check_tests(
    program: ast.Program, schema: Schema | None, typed: ir.Program | None
) -> list[Diagnostic]:
    ctx = context(program, schema, typed)
    diags: list[Diagnostic] = []
    seen: dict[str, ast.Test] = {}
    for test in program.tests:
        first = seen.setdefault(test.name, test)
        if first is not test:
            diags.append(
                error(
                    "TE102",
                    f'two tests are called "{test.name}"',
                    test.name_span,
                    f"the first is at {first.name_span}; give each test its own title",
                )
            )
        diags += check_test(test, ctx)
    return diags


def check_test(test: ast.Test, ctx: TestContext) -> list[Diagnostic]:
    """The problems of one test block."""
    if ctx.entity is None:
        return []  # TE106 is reported for the rules already
    diags: list[Diagnostic] = []
    keys = _check_givens(test, ctx, diags)
    as_ofs = [c for c in test.clauses if isinstance(c, ast.TestAsOf)]
    for extra in as_ofs[1:]:
        diags.append(
            error(
                "TE501",
                "a test has one `as_of`",
                extra.span,
                f"the first is at {as_ofs[0].span}; remove one",
            )
        )
    if not test.expects:
        diags.append(
            error(
                "TE501",
                f'test "{test.name}" expects nothing',
                test.name_span,
                "add what the rules should give, e.g. `expect high_value` or "
                '`expect lifecycle == "active"`',
            )
        )
    for clause in test.expects:
        for item in clause.items:
            _check_expectation(item, ctx, diags)
        if clause.subject is not None:
            _check_subject(clause.subject, ctx, keys, diags)
    return diags


# ---- given ----------------------------------------------------------------------------


def _check_givens(test: ast.Test, ctx: TestContext, diags: list[Diagnostic]) -> list[object]:
    """Check the given rows; return the keys of the entity rows given."""
    assert ctx.entity is not None
    entity_table, key = ctx.entity.table, ctx.entity.key
    keys: dict[object, ast.Cell] = {}
    entity_rows = 0
    inferred: dict[tuple[str, str], tuple[ir.Type, ast.Cell]] = {}
    for given in test.givens:
        if given.table not in ctx.tables:
            guess = did_you_mean(given.table, ctx.tables)
            hint = (
                f"did you mean `{guess}`?"
                if guess
                else "a test gives rows of the entity table or of a related table: "
                + ", ".join(f"`{t}`" for t in ctx.tables)
            )
            diags.append(
                error(
                    "TE101",
                    f"unknown table `{given.table}`",
                    given.table_span,
                    hint,
                    "not the entity table or a related table",
                )
            )
            continue
        columns = ctx.columns.get(given.table)
        table_key = ctx.key_of(given.table)
        for row in given.rows:
            seen: set[str] = set()
            for cell in row.cells:
                if cell.column in seen:
                    diags.append(
                        error(
                            "TE102",
                            f"`{cell.column}` is given twice in this row",
                            cell.column_span,
                            "give each column once per row",
                        )
                    )
                seen.add(cell.column)
                _check_cell(given.table, cell, columns, inferred, diags)
            if table_key is not None and table_key not in seen:
                diags.append(
                    error(
                        "TE501",
                        f"this row of `{given.table}` has no `{table_key}`",
                        row.span,
                        f"add `{table_key}: ...`, the "
                        + ("customer's key" if given.table == entity_table else "entity's key"),
                    )
                )
            if given.table != entity_table:
                continue
            entity_rows += 1
            cell = next((c for c in row.cells if c.column == key), None)
            if cell is None:
                continue
            if cell.value is None:
                diags.append(
                    error("TE501", f"`{key}` cannot be missing", cell.span, "give every row a key")
                )
                continue
            value = cell.value.value
            if value in keys:
                diags.append(
                    error(
                        "TE501",
                        f"`{key}` {cell.value.text} is given twice",
                        cell.span,
                        f"the first is at {keys[value].span}; each row of "
                        f"`{entity_table}` needs its own key",
                    )
                )
            keys.setdefault(value, cell)
    if entity_rows == 0:
        diags.append(
            error(
                "TE501",
                f'test "{test.name}" gives no row of `{entity_table}`',
                test.name_span,
                f"add e.g. `given {entity_table} {{ {key}: 1, ... }}`",
            )
        )
    return list(keys)


def _check_cell(
    table: str,
    cell: ast.Cell,
    columns: Mapping[str, ir.Type] | None,
    inferred: dict[tuple[str, str], tuple[ir.Type, ast.Cell]],
    diags: list[Diagnostic],
) -> None:
    if columns is not None and cell.column not in columns:
        guess = did_you_mean(cell.column, columns)
        hint = (
            f"did you mean `{guess}`?"
            if guess
            else f"columns of `{table}`: " + ", ".join(list(columns)[:20])
        )
        diags.append(
            error(
                "TE101",
                f"`{table}` has no column `{cell.column}`",
                cell.column_span,
                hint,
                f"not a column of `{table}`",
            )
        )
        return
    if cell.value is None:
        return
    given = literal_type(cell.value.value)
    if columns is not None and columns[cell.column].kind != "unknown":
        want = columns[cell.column]
        problem = value_problem(cell.value, want)
        if problem:
            diags.append(
                error(
                    "TE201",
                    f"`{table}.{cell.column}` holds {want} values, not {problem}",
                    cell.value.span,
                    _fix_hint(cell.value, want),
                    f"a {given} value",
                )
            )
        return
    before = inferred.get((table, cell.column))
    if before is None:
        inferred[(table, cell.column)] = (given, cell)
    elif not _mixable(before[0], given):
        diags.append(
            error(
                "TE201",
                f"`{table}.{cell.column}` is given {_article(str(given))} {given} value here "
                f"but {_article(str(before[0]))} {before[0]} value at {before[1].span}",
                cell.value.span,
                "give a column values of one kind",
            )
        )


def value_problem(value: ast.Literal, want: ir.Type) -> str | None:
    """Why the fixed `value` cannot be stored in a column of type `want`, or None."""
    got = literal_type(value.value)
    match want.kind:
        case "unknown":
            ok = True
        case "int":
            ok = got.kind == "int"
        case "float" | "decimal":
            ok = got.numeric
        case "datetime":
            ok = got.temporal
        case "bool" | "string" | "date":
            ok = got.kind == want.kind
        case _:  # durations, and columns rules cannot use
            ok = False
    return None if ok else f"{_article(str(got))} {got} (`{value.text}`)"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _mixable(a: ir.Type, b: ir.Type) -> bool:
    return (a.numeric and b.numeric) or (a.temporal and b.temporal) or a.kind == b.kind


def _fix_hint(value: ast.Literal, want: ir.Type) -> str:
    if want.kind == "string":
        return "put the value in double quotes"
    if isinstance(value.value, str):
        return "remove the quotes if you meant a number or date"
    if want.kind == "int":
        return "give a whole number"
    if want.kind == "date":
        return "give a date like 2024-12-31"
    if want.kind == "bool":
        return "give `true` or `false`"
    return f"give a {want} value, or `missing`"


# ---- expect ---------------------------------------------------------------------------


def _check_expectation(item: ast.Expectation, ctx: TestContext, diags: list[Diagnostic]) -> None:
    if item.name not in ctx.rule_types:
        guess = did_you_mean(item.name, ctx.rule_types)
        is_column = any(item.name in (cols or {}) for cols in ctx.columns.values())
        if guess:
            hint = f"did you mean `{guess}`?"
        elif is_column:
            hint = "a test checks rules; to check a column, define a feature for it"
        else:
            hint = "tests check the rules (tags, features, scores, segments) of the rule set"
        diags.append(
            error("TE101", f"unknown rule `{item.name}`", item.name_span, hint, "not a rule")
        )
        return
    rule_type = ctx.rule_types[item.name]
    kind = ctx.rule_kinds[item.name]
    if item.op in ("set", "not set"):
        if rule_type.kind not in ("bool", "unknown"):
            diags.append(
                error(
                    "TE202",
                    f"`{item.name}` is a {kind} giving {rule_type} values, not true/false",
                    item.span,
                    f"compare it with a value: `expect {item.name} == ...`",
                    f"a {rule_type}",
                )
            )
        return
    if item.value is None:
        if item.op not in ("==", "!="):
            diags.append(
                error(
                    "TE201",
                    f"`{item.op}` cannot compare with missing",
                    item.span,
                    f"write `expect {item.name} == missing` or `!= missing`",
                )
            )
        return
    value_type = literal_type(item.value.value)
    if not comparable(rule_type, value_type):
        if value_type.kind == "string":
            hint = "remove the quotes if you meant a number or date"
        elif rule_type.kind == "string":
            hint = "put the value in double quotes"
        else:
            hint = f"compare `{item.name}` with {_article(str(rule_type))} {rule_type} value"
        diags.append(
            error(
                "TE201",
                f"cannot compare {kind} `{item.name}` ({rule_type}) with {value_type}",
                item.value.span,
                hint,
                f"{rule_type} vs {value_type}",
            )
        )
        return
    if rule_type.kind == "bool" and item.op in _ORDERED:
        diags.append(
            error(
                "TE201",
                "true/false values can only be compared with == or !=",
                item.span,
                f"write `expect {item.name}` or `expect not {item.name}`",
            )
        )
        return
    labels = ctx.segment_labels.get(item.name)
    if labels is not None and item.op in ("==", "!=") and item.value.value not in labels:
        guess = did_you_mean(str(item.value.value), labels)
        listing = ", ".join(f'"{v}"' for v in labels)
        diags.append(
            error(
                "TE101",
                f'segment `{item.name}` has no label "{item.value.value}"',
                item.value.span,
                f'did you mean "{guess}"?' if guess else f"its labels: {listing}",
                "no branch gives this",
            )
        )


def _check_subject(
    subject: ast.Subject, ctx: TestContext, keys: list[object], diags: list[Diagnostic]
) -> None:
    assert ctx.entity is not None
    entity = ctx.entity
    if subject.name not in (entity.name, entity.key):
        diags.append(
            error(
                "TE101",
                f"`for {subject.name}`: expected the entity `{entity.name}`",
                subject.name_span,
                f"write `for {entity.name} KEY`, e.g. `for {entity.name} 1`",
            )
        )
        return
    key_type = (ctx.columns.get(entity.table) or {}).get(entity.key)
    problem = value_problem(subject.key, key_type) if key_type is not None else None
    if problem:
        diags.append(
            error(
                "TE201",
                f"`{entity.table}.{entity.key}` holds {key_type} values, not {problem}",
                subject.key.span,
                _fix_hint(subject.key, key_type),  # type: ignore[arg-type]
            )
        )
        return
    if keys and subject.key.value not in keys:
        shown = ", ".join(str(k) for k in keys[:10])
        diags.append(
            error(
                "TE501",
                f"the test gives no {entity.name} with `{entity.key}` {subject.key.text}",
                subject.key.span,
                f"keys given: {shown}",
            )
        )
