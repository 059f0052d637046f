"""How big a rule file may be, and the checks that keep every stage within it.

A hostile or broken rule file must end in diagnostics, never in a crash, a
`RecursionError` or an endless run. The stages after Lark's (iterative) LALR parser
recurse over expressions (the tree-to-AST transformer, the checker, the backends,
Polars itself), so the parse tree is measured, iteratively, before any of them sees it:
a statement over a limit is reported and left out. The limits are generous for real
rule files (a file of 1,000 rules is far inside every one of them) and are documented
in docs/language.md ("Limits") and docs/diagnostics.md (TE601-TE606).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lark import Token, Tree

from tagengine.diagnostics import Diagnostic, error
from tagengine.syntax import ast

MAX_SOURCE_BYTES = 5_000_000  # one rule file, in UTF-8 bytes (TE601)
MAX_DEPTH = 100  # levels of nesting in one expression (TE602)
MAX_RULES = 20_000  # features, tags, scores and segments in one rule set (TE603)
MAX_ITEMS = 10_000  # items of a list, arguments of a call, branches of a segment (TE604)
MAX_TOKEN_CHARS = 10_000  # characters of one name, text, number or date (TE605)
MAX_RULE_CHAIN = 100  # rules built on rules built on rules ... (TE606)

# Not limits of the language but bounds on values, reported as malformed values (TE002)
# or wrong arguments (TE204):
MAX_WHOLE = 2**63 - 1  # whole numbers are 64-bit
MAX_DURATION = {"days": 3_652_425, "weeks": 521_775, "months": 120_000, "years": 10_000}
MAX_BUCKETS = 10_000  # ntile(x, n), qcut(x, n)
MAX_ROUND_DIGITS = 38  # round(x, digits)
MAX_FLOAT_ROUND_DIGITS = 22  # round(x, digits) of a float: 10^22 is the last exact double

# After a syntax error the parser reads the file again to find the next one (see
# syntax/parser.py); it stops once it has read this many characters in all.
MAX_REPARSED_CHARS = 10_000_000

# Parse-tree nodes that are no level of nesting of their own: the wrapper of a name or
# number, and the parts of a statement or call that hold an expression.
_NOT_A_LEVEL = frozenset(
    {"name", "number", "label", "meta", "branch", "else_branch", "where", "related_time"}
)
_WHAT = {"list": "items", "call": "arguments", "segment": "branches"}


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def source_problem(text: str, file: str) -> Diagnostic | None:
    """TE601 when `text` is longer than a rule file may be."""
    if len(text) * 4 <= MAX_SOURCE_BYTES:  # a character is at most 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_SOURCE_BYTES:
        return None
    return error(
        "TE601",
        f"the rule file is {_mb(size)}; a file may be at most {_mb(MAX_SOURCE_BYTES)}",
        ast.Span(file, 1, 1, 1, 1),
        "split the rules over several files in one folder (`tagengine check rules/`)",
    )


def prune(tree: Tree, file: str) -> list[Diagnostic]:
    """Leave out of `tree` (a parsed file) every statement over a limit; say why."""
    kept: list[Tree | Token] = []
    problems: list[Diagnostic] = []
    for statement in tree.children:
        problem = statement_problem(statement, file) if isinstance(statement, Tree) else None
        if problem is None:
            kept.append(statement)
        else:
            problems.append(problem)
    tree.children = kept
    return problems


def statement_problem(statement: Tree, file: str) -> Diagnostic | None:
    """The first limit one statement's parse tree goes over (TE602, TE604, TE605)."""
    stack: list[tuple[Tree | Token, int]] = [(statement, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Token):
            if len(node) > MAX_TOKEN_CHARS:
                return _too_long(node, file)
            continue
        if node.data not in _NOT_A_LEVEL and node is not statement:
            depth += 1
            if depth > MAX_DEPTH:
                return _too_deep(node, statement, file)
        count = _count(node)
        if count > MAX_ITEMS:
            return _too_many(node, statement, count, file)
        stack.extend((child, depth) for child in node.children)
    return None


def _count(node: Tree) -> int:
    """How many items, arguments or branches `node` has (0: not a list, call or segment)."""
    match node.data:
        case "list":
            return len(node.children)
        case "call":  # the function's name, then arguments, `where` and window
            return sum(1 for c in node.children[1:] if not _is_part(c))
        case "segment":
            return sum(1 for c in node.children if isinstance(c, Tree) and c.data == "branch")
    return 0


def _is_part(child: Tree | Token) -> bool:
    return isinstance(child, Tree) and (child.data == "where" or child.data.startswith("window"))


def _span(node: Tree | Token, fallback: Tree, file: str) -> ast.Span:
    for where in (node if isinstance(node, Token) else node.meta, fallback.meta):
        line = getattr(where, "line", None)
        if line is not None:
            return ast.Span(file, line, where.column, where.end_line, where.end_column)
    return ast.Span(file, 1, 1, 1, 1)  # pragma: no cover - a statement always has a place


def _start(span: ast.Span) -> ast.Span:
    """Only the first line of `span`: a caret under a whole statement reads badly."""
    end = span.end_column if span.end_line == span.line else span.column + 1
    return ast.Span(span.file, span.line, span.column, span.line, end)


def _too_deep(node: Tree, statement: Tree, file: str) -> Diagnostic:
    return error(
        "TE602",
        f"this expression is nested more than {MAX_DEPTH} levels deep",
        _start(_span(node, statement, file)),
        "split it: give a part its own `feature` and use that name; a long chain of "
        "`or`s comparing one value reads better as `x in [...]`",
        f"level {MAX_DEPTH + 1}",
    )


def _too_many(node: Tree, statement: Tree, count: int, file: str) -> Diagnostic:
    what = _WHAT[node.data]
    hint = {
        "items": "split the list over several rules, or keep the values in a table",
        "arguments": "split the call over several features",
        "branches": "split the segment into several, or keep the mapping in a table",
    }[what]
    return error(
        "TE604",
        f"{count:,} {what}; at most {MAX_ITEMS:,} are allowed",
        _start(_span(node, statement, file)),
        hint,
    )


def _too_long(token: Token, file: str) -> Diagnostic:
    return error(
        "TE605",
        f"a name or value {len(token):,} characters long; at most {MAX_TOKEN_CHARS:,} are allowed",
        ast.Span(file, token.line, token.column, token.line, token.column + 1),
        "shorten it; long texts belong in the data, not in the rules",
    )


def rules_problem(rules: tuple[ast.Rule, ...]) -> Diagnostic | None:
    """TE603 when a rule set has more rules than it may."""
    if len(rules) <= MAX_RULES:
        return None
    first = rules[MAX_RULES]
    return error(
        "TE603",
        f"{len(rules):,} rules; a rule set may have at most {MAX_RULES:,}",
        first.span.to(first.name_span),
        "split the rules into several rule sets (folders) and run them one by one",
        f"rule {MAX_RULES + 1:,}",
    )


def chain_problem(
    order: Iterable[str], deps: Mapping[str, set[str]], rules: Mapping[str, ast.Rule]
) -> Diagnostic | None:
    """TE606 when a rule is built on rules built on rules ... more than MAX_RULE_CHAIN
    deep (`order`: the rules in dependency order; `deps`: the rules each one uses)."""
    level: dict[str, int] = {}
    below: dict[str, str] = {}  # the rule one level down on the longest chain
    for name in order:
        used = [d for d in deps.get(name, ()) if d in level]
        top = max(used, key=lambda d: (level[d], d), default=None)
        level[name] = 1 + (level[top] if top is not None else 0)
        if top is not None:
            below[name] = top
        if level[name] > MAX_RULE_CHAIN:
            chain = [name]
            while chain[-1] in below and len(chain) < 4:
                chain.append(below[chain[-1]])
            rule = rules[name]
            return error(
                "TE606",
                f"`{name}` is built on a chain of more than {MAX_RULE_CHAIN} rules "
                f"({' → '.join(f'`{n}`' for n in chain)} → ...)",
                rule.name_span,
                "compute the steps in fewer rules; each rule may use any other, "
                f"but no chain of rules may be longer than {MAX_RULE_CHAIN}",
            )
    return None
