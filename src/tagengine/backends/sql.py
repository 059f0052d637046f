"""IR → SQL: the whole rule set as one query, built as a sqlglot expression tree.

The query, one CTE per step, data flowing down:

    <table>_rows     only with `first`/`last`: the table's rows up to as_of, numbered by
                     time within each entity
    <table>_agg      per related table: its rows up to as_of grouped by the key, each
                     aggregate a conditional aggregate (`SUM(CASE WHEN <where and window>
                     THEN x END)`)
    base             the entity table's used columns, left-joined to every <table>_agg
                     (count, sum and count_distinct of no rows are 0)
    level_1 .. n     the rules, level by level (a rule uses only rules of earlier levels)
    qcut_<k>_values  for each `qcut`: the known values in order, then their quantile
    qcut_<k>_edges   edges as one row, cross-joined where the bins are numbered

    SELECT key, rules ... ORDER BY key

Semantics are those of docs/semantics.md exactly as `backends/polars.py` implements them, so
the engines agree: Kleene logic (SQL's own), tags never null (`COALESCE(cond, FALSE)`), `/`
true division with division by zero NULL, NaN in float columns NULL, rankings over the
entities with a known value ordered by (x, key), as_of a DATE literal and calendar months
by interval arithmetic on dates. A duration is carried as a whole number of microseconds.
What a dialect cannot express is a TE510 diagnostic, never different SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlglot import exp

from tagengine import ir
from tagengine.backends import aggregate as aggregates
from tagengine.backends import casemap, regex, rounding
from tagengine.backends.polars import levels
from tagengine.backends.ranking import _pandas_quantile_levels
from tagengine.diagnostics import Diagnostic, TagEngineError, error
from tagengine.safe_text import clipped, piece, quoted, shown
from tagengine.schema import Schema, type_of

DIALECTS = ("duckdb", "spark", "postgres", "bigquery", "snowflake")
DAY_MICROS = 86_400_000_000
# char::is_whitespace in Rust: what Polars' `strip_chars()` (our `trim`) removes
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
WHITESPACE += "\u2028\u2029\u202f\u205f\u3000"
POSTGRES_MAX_IDENTIFIER = 63  # bytes; longer names are cut short without an error

_SIMPLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_RESERVED_WORDS = """
all analyse analyze and any array as asc asymmetric at authorization between binary
    both by case cast check collate collation column concurrently constraint create cross
    cube current_catalog current_date current_role current_schema current_time
    current_timestamp current_user default deferrable desc distinct do else end enum except
    exclude exists extract false fetch filter following for foreign freeze from full glob
    grant group grouping groups having ilike in initially inner intersect interval into is
    isnull join lateral leading left like limit localtime localtimestamp natural new no not
    notnull null nulls of offset on only or order outer over overlaps partition pivot placing
    preceding primary qualify range recursive references respect returning right rollup row
    rows select semi session_user set similar some struct symmetric table tablesample then to
    trailing true try_cast union unique unknown unnest unpivot user using values variadic
    verbose when where window with within"""
_RESERVED = frozenset(_RESERVED_WORDS.split())  # reserved in one of the dialects


# ---- the dialects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL dialects, beyond what sqlglot's generator handles."""

    name: str

    @property
    def timestamp(self) -> exp.DataType:
        if self.name in ("spark", "snowflake"):
            return exp.DataType.build("TIMESTAMPNTZ")  # a wall-clock time, as Polars' Datetime
        return exp.DataType.build("TIMESTAMP")  # BigQuery: DATETIME

    def ident(self, name: str) -> exp.Identifier:
        """Quoted only where needed, so that unquoted names keep each warehouse's own case
        rules (Snowflake upper-cases them, Postgres lower-cases them)."""
        plain = _SIMPLE_NAME.fullmatch(name) is not None and name not in _RESERVED
        return exp.to_identifier(name, quoted=not plain)

    def text(self, value: str, span=None) -> exp.Expression:
        """A text constant holding exactly `value`, every character kept. A hidden
        character (safe_text.py: a control character, a bidirectional or zero-width one)
        is not written into the SQL as itself, which a terminal showing the SQL would obey
        (and which sqlglot writes differently per dialect, or not at all), but spelled by
        its code: `('a' || CHR(27) || '[2J')`. Spark's CHR knows ASCII only: there a run
        of them is `DECODE(UNHEX('1B'), 'UTF-8')`, its UTF-8 bytes. Line breaks and tabs
        stay in the literal, as the text has them."""
        if value.isprintable():
            return exp.Literal.string(value)
        parts: list[exp.Expression] = []
        plain, codes = [], []  # the current run of shown characters, of hidden ones
        for i, char in enumerate(value):
            if piece(value, i, lines=True) == char:
                if codes:
                    parts += self._codes("".join(codes), value, span)
                    codes = []
                plain.append(char)
            else:
                if plain:
                    parts.append(exp.Literal.string("".join(plain)))
                    plain = []
                codes.append(char)
        if codes:
            parts += self._codes("".join(codes), value, span)
        if plain:
            parts.append(exp.Literal.string("".join(plain)))
        if len(parts) == 1:
            return parts[0]
        joined = parts[0]
        for part in parts[1:]:
            joined = exp.DPipe(this=joined, expression=part)
        return exp.Paren(this=joined)

    def _codes(self, chars: str, value: str, span) -> list[exp.Expression]:
        """Hidden characters of a text constant, spelled by their codes."""
        if self.name == "spark":
            data = exp.Unhex(
                this=exp.Literal.string(chars.encode("utf-8", "surrogatepass").hex().upper())
            )
            return [exp.Decode(this=data, charset=exp.Literal.string("UTF-8"))]
        if "\x00" in chars and self.name == "postgres":
            raise _Unsupported(
                error(
                    "TE510",
                    "postgres text cannot hold the character U+0000 (NUL), which "
                    f"{clipped(quoted(value), 60)} holds",
                    span,
                    "take the character out of the rule, or compile for another dialect",
                )
            )
        # not exp.Chr, which sqlglot prints as `CHR(  27)` in some dialects
        return [exp.Anonymous(this="CHR", expressions=[exp.Literal.number(ord(c))]) for c in chars]

    def not_nan(self, x: exp.Expression) -> exp.Expression:
        """`x` (a double) with NaN as NULL: NaN counts as missing
        (docs/semantics.md#empty-aggregates-and-division)."""
        if self.name in ("postgres", "snowflake"):  # no ISNAN; NaN = NaN is true there
            return exp.Nullif(this=x, expression=exp.cast(exp.Literal.string("NaN"), DOUBLE))
        # DuckDB: NULLIF(x, 'NaN') can be folded away by the statistics of a Parquet
        # column (whose min and max leave NaN out): ISNAN is asked
        return exp.Case(ifs=[exp.If(this=exp.IsNan(this=x), true=exp.null())], default=x.copy())

    def nan_to_null(self, x: exp.Expression) -> exp.Expression:
        """A computed double (`inf - inf`, `0 * inf`, a sum of inf and -inf) with NaN as
        NULL. Spark reads `x` once here (NaN = NaN is true there, whatever the NaN);
        DuckDB and BigQuery ask ISNAN, reading it twice: it is done once per chain of
        arithmetic, as in the Polars backend."""
        if self.name == "spark":
            return exp.Nullif(this=x, expression=exp.cast(exp.Literal.string("NaN"), DOUBLE))
        return self.not_nan(x)

    def shift(self, x: exp.Expression, amount: int, unit: str, kind: str) -> exp.Expression:
        """`x` (a date or date and time) moved by a whole number of days, weeks, months or
        years; months and years move to the same day, or the month's last day."""
        n, unit = (amount * 7, "DAY") if unit == "weeks" else (amount, _UNIT[unit])
        number = exp.Literal.number(n)
        if kind == "date":
            node = exp.DateAdd if n >= 0 else exp.DateSub
            number = exp.Literal.number(abs(n))
            shifted: exp.Expression = node(this=x, expression=number, unit=exp.var(unit))
            if self.name in ("duckdb", "postgres"):  # date + interval is a timestamp there
                shifted = exp.cast(shifted, "DATE")
            return shifted
        if self.name in ("duckdb", "postgres"):  # timestamp ± interval
            node = exp.DateAdd if n >= 0 else exp.DateSub
            return node(this=x, expression=exp.Literal.number(abs(n)), unit=exp.var(unit))
        if self.name == "spark":
            return exp.Anonymous(this="TIMESTAMPADD", expressions=[exp.var(unit), number, x])
        if self.name == "bigquery":
            node = exp.DatetimeAdd if n >= 0 else exp.DatetimeSub
            return node(this=x, expression=exp.Literal.number(abs(n)), unit=exp.var(unit))
        return exp.TimestampAdd(this=x, expression=number, unit=exp.var(unit))

    def add_micros(self, ts: exp.Expression, micros: exp.Expression) -> exp.Expression:
        if self.name == "spark":
            args = [exp.var("MICROSECOND"), micros, ts]
            return exp.Anonymous(this="TIMESTAMPADD", expressions=args)
        if self.name == "bigquery":
            return exp.DatetimeAdd(this=ts, expression=micros, unit=exp.var("MICROSECOND"))
        return exp.TimestampAdd(this=ts, expression=micros, unit=exp.var("MICROSECOND"))

    def days_between(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        """Whole days from date `a` to date `b`."""
        if self.name == "spark":
            return exp.Anonymous(this="DATEDIFF", expressions=[b, a])
        if self.name == "postgres":
            return exp.Sub(this=b, expression=a)
        return exp.DateDiff(this=b, expression=a, unit=exp.var("DAY"))

    def micros_between(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        """Microseconds from timestamp `a` to timestamp `b`."""
        if self.name == "postgres":
            epoch = exp.Extract(this=exp.var("EPOCH"), expression=exp.Sub(this=b, expression=a))
            return exp.cast(exp.Mul(this=epoch, expression=exp.Literal.number(10**6)), "BIGINT")
        if self.name == "bigquery":
            return exp.DatetimeDiff(this=b, expression=a, unit=exp.var("MICROSECOND"))
        return exp.TimestampDiff(this=b, expression=a, unit=exp.var("MICROSECOND"))

    def date_part(self, part: str, x: exp.Expression) -> exp.Expression:
        if part == "weekday":  # 1 = Monday .. 7 = Sunday
            if self.name == "bigquery":  # DAYOFWEEK: 1 = Sunday
                dow = exp.Extract(this=exp.var("DAYOFWEEK"), expression=x)
                shifted = exp.Add(this=dow, expression=exp.Literal.number(5))
                mod = exp.Mod(this=shifted, expression=exp.Literal.number(7))
                return exp.Add(this=mod, expression=exp.Literal.number(1))
            field_name = {"spark": "DAYOFWEEK_ISO", "snowflake": "DAYOFWEEKISO"}.get(
                self.name, "ISODOW"
            )
        else:
            field_name = part.upper()
        out: exp.Expression = exp.Extract(this=exp.var(field_name), expression=x)
        return exp.cast(out, "BIGINT") if self.name == "postgres" else out  # numeric there

    def matches(self, x: exp.Expression, pattern: str, span) -> exp.Expression:
        """The regular expression finds a match anywhere in `x`."""
        engine = {"duckdb": "re2", "bigquery": "re2", "spark": "java", "postgres": "are"}.get(
            self.name, ""
        )
        try:
            pattern = regex.translate(pattern, engine)
        except regex.Unsupported as exc:
            raise _Unsupported(
                error(
                    "TE510",
                    f"{self.name} cannot run this regular expression as written: {exc}",
                    span,
                    "rewrite the pattern, or compile for another dialect",
                )
            ) from None
        if self.name == "snowflake":
            flags = None
            if pattern.startswith("(?i)"):
                pattern, flags = pattern[4:], "i"
            _no_inline_flags(pattern, self.name, span, "only `(?i)` at the very start")
            args = [x, self.text(pattern, span)]
            if flags:
                args += [*map(exp.Literal.number, (1, 1, 0)), exp.Literal.string(flags)]
            found = exp.Anonymous(this="REGEXP_INSTR", expressions=args)
            return exp.GT(this=found, expression=exp.Literal.number(0))
        if self.name == "postgres":
            _no_inline_flags(pattern.removeprefix("(?i)"), self.name, span, "`(?i)` at the start")
        return exp.RegexpLike(this=x, expression=self.text(pattern, span))

    def ends_with(self, x: exp.Expression, suffix: str, span=None) -> exp.Expression:
        if self.name == "postgres":  # no ENDS_WITH
            right = exp.Right(this=x, expression=exp.Literal.number(len(suffix)))
            return exp.EQ(this=right, expression=self.text(suffix, span))
        return exp.EndsWith(this=x, expression=self.text(suffix, span))

    def extreme(self, func: str, args: list[exp.Expression]) -> exp.Expression:
        """LEAST / GREATEST ignoring missing arguments (NULL only when all are)."""
        node = exp.Least if func == "least" else exp.Greatest
        if self.name == "bigquery":  # NULL as soon as one is: stand in another argument
            args = [exp.Coalesce(this=a, expressions=[b for b in args if b is not a]) for a in args]
            return node(this=args[0], expressions=args[1:])
        return node(this=args[0], expressions=args[1:], ignore_nulls=True)

    def round(self, x: exp.Expression, digits: int) -> exp.Expression:
        """tagengine's rounding of a double, in IEEE arithmetic every engine performs alike,
        never the engine's ROUND (see backends/rounding.py)."""
        a = exp.Abs(this=x)
        p = _double_literal(rounding.scale(digits))
        k = exp.cast(exp.Floor(this=exp.Mul(this=a.copy(), expression=p.copy())), DOUBLE)
        two = _double_literal(2.0)
        midpoint = exp.Div(
            this=exp.Add(
                this=exp.Mul(this=k.copy(), expression=two.copy()),
                expression=_double_literal(1.0),
            ),
            expression=exp.Mul(this=p.copy(), expression=two),
            typed=True,
        )
        up = exp.Case(
            ifs=[
                exp.If(this=exp.GTE(this=a.copy(), expression=midpoint), true=_double_literal(1.0))
            ],
            default=_double_literal(0.0),
        )
        r = exp.Div(this=exp.paren(exp.Add(this=k, expression=up)), expression=p, typed=True)
        limit = exp.or_(  # as it is; zero keeps its sign
            exp.GTE(this=a, expression=_double_literal(rounding.limit(digits))),
            exp.EQ(this=a.copy(), expression=_double_literal(0.0)),
        )
        negative = exp.LT(this=x.copy(), expression=exp.Literal.number(0))
        return exp.Case(
            ifs=[
                exp.If(this=limit, true=x.copy()),
                exp.If(this=negative, true=exp.Neg(this=exp.paren(r.copy()))),
            ],
            default=r,
        )

    def whole(self, func: str, x: exp.Expression) -> exp.Expression:
        """FLOOR / CEIL of a double, as a double, as IEEE 754 defines them (and Polars and
        DuckDB compute them): infinities stay, `ceil(-0.5)` is -0.0. Spark's are BIGINT:
        beyond 2^63 an overflow error, and no negative zero; there a double of 2^52 or
        more (already whole) is kept as it is, and a whole part of 0 takes `x`'s sign
        (`x * 0.0`)."""
        node = exp.Floor if func == "floor" else exp.Ceil
        if self.name != "spark":
            return node(this=x)
        big = exp.Not(
            this=exp.LT(this=exp.Abs(this=x.copy()), expression=exp.Literal.number(2**52))
        )
        zero = exp.EQ(this=node(this=x.copy()), expression=exp.Literal.number(0))
        signed_zero = exp.Mul(this=x.copy(), expression=_double_literal(0.0))
        return exp.Case(
            ifs=[exp.If(this=big, true=x.copy()), exp.If(this=zero, true=signed_zero)],
            default=exp.cast(node(this=x), DOUBLE),
        )

    def text_order(self, x: exp.Expression, kind: str) -> exp.Expression:
        """Text compared by code point, as Polars does (Postgres: not by the locale)."""
        if self.name == "postgres" and kind == "string":
            return exp.Collate(this=x, expression=exp.to_identifier("C", quoted=True))
        return x

    def bool_max(self, x: exp.Expression) -> exp.Expression:
        return exp.LogicalOr(this=x) if self.name in ("postgres", "snowflake") else exp.Max(this=x)


DOUBLE = exp.DataType.build("DOUBLE")


def _double_literal(value: float) -> exp.Expression:
    """A double read from its shortest text, which every engine reads back exactly (a bare
    `100.0` is a DECIMAL in DuckDB and Postgres)."""
    return exp.cast(exp.Literal.string(repr(value)), DOUBLE)


_UNIT = {"days": "DAY", "months": "MONTH", "years": "YEAR"}
_INLINE_FLAGS = re.compile(r"\(\?[a-zA-Z-]*[:)]")


def _no_inline_flags(pattern: str, dialect: str, span, allowed: str) -> None:
    if _INLINE_FLAGS.search(pattern):
        raise _Unsupported(
            error(
                "TE510",
                f"{dialect} cannot express the flags inside this regular expression",
                span,
                f"in {dialect}, a pattern may carry {allowed}; or choose another dialect",
            )
        )


class _Unsupported(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def _prec(node: exp.Expression) -> int:
    """How tightly `node` binds when printed (higher: tighter)."""
    if isinstance(node, exp.Or):
        return 1
    if isinstance(node, exp.And):
        return 2
    if isinstance(node, exp.Not):
        return 3
    if isinstance(node, (exp.Predicate, exp.Between, exp.In, exp.Is, exp.RegexpLike)):
        return 4
    if isinstance(node, (exp.Add, exp.Sub)):
        return 5
    if isinstance(node, (exp.Mul, exp.Div, exp.Mod)):
        return 6
    if isinstance(node, (exp.Neg, exp.Collate)):
        return 7
    if isinstance(node, exp.DPipe):  # a text constant spelled in parts (Dialect.text)
        return 8
    return 9


def _needs_parens(node: exp.Expression) -> bool:
    parent, key = node.parent, node.arg_key
    if parent is None or isinstance(node, exp.Paren):
        return False
    mine, theirs = _prec(node), _prec(parent)
    if isinstance(parent, exp.Neg):  # `- -x` would print as the comment `--x`
        negative = isinstance(node, exp.Literal) and node.name.startswith("-")
        return mine < 9 or negative
    if isinstance(parent, (exp.Not, exp.Collate)):
        return mine < theirs
    if isinstance(parent, (exp.Between, exp.In, exp.Is)):
        return key in ("this", "low", "high") and mine <= 4
    if isinstance(parent, exp.Binary) and key in ("this", "expression"):
        if mine < theirs:
            return True
        if mine == theirs:  # left to right, as built: `a + (b - c)` keeps its parentheses
            return theirs == 4 or key == "expression"
    return False


def _parenthesize(tree: exp.Expression) -> exp.Expression:
    """Parentheses where precedence needs them: sqlglot prints trees exactly as built."""
    for node in reversed(list(tree.walk())):  # inner nodes first: a copy keeps their fix
        if _needs_parens(node):
            node.replace(exp.Paren(this=node.copy()))
    return tree


def _lit(value: object) -> exp.Expression:
    match value:
        case bool():
            return exp.true() if value else exp.false()
        case int():
            return exp.Literal.number(value)
        case str():
            return exp.Literal.string(value)
    raise AssertionError(value)


# ---- names -------------------------------------------------------------------------------


class _Names:
    """Column (or CTE) names that are unique as SQL sees them: case-insensitively."""

    def __init__(self, taken: Sequence[str] = ()):
        self.taken = {t.casefold() for t in taken}

    def claim(self, preferred: str) -> str:
        name, n = preferred, 1
        while name.casefold() in self.taken:
            n += 1
            name = f"{preferred}_{n}"
        self.taken.add(name.casefold())
        return name


# ---- the query's steps -------------------------------------------------------------------


@dataclass
class _Stage:
    """One `SELECT <kept columns>, <new columns> FROM <source> [CROSS JOIN <edges>...]`."""

    name: str
    source: str
    new: dict[str, exp.Expression]  # column -> expression
    joins: list[str] = field(default_factory=list)  # one-row CTEs (qcut edges)
    join_columns: set[str] = field(default_factory=set)


@dataclass
class _Qcut:
    """The CTEs giving one qcut's edges, read from stage `source`."""

    values: str
    edges: str
    source: str
    x: exp.Expression  # the ranked value, over `source`'s columns
    buckets: int
    columns: list[str]  # the edge columns e0 .. en


def to_sql(
    program: ir.Program,
    as_of: dt.date,
    dialect: str = "duckdb",
    select: Sequence[str] | None = None,
    tables: Mapping[str, str] | None = None,
    schema: Schema | None = None,
    pretty: bool = True,
) -> str:
    """The rule set as one SQL query in `dialect`. `tables` maps a table name of the rules
    to the name to read in the warehouse (`orders` -> `sales.fact_orders`); `schema` (the
    one the program was checked against) tells a related table's date column from a
    date-and-time one (without it, both are cast to DATE)."""
    query = build(program, as_of, dialect, select, tables, schema)
    _check_names_show(query)
    return query.sql(dialect=dialect, pretty=pretty)


def build(
    program: ir.Program,
    as_of: dt.date,
    dialect: str = "duckdb",
    select: Sequence[str] | None = None,
    tables: Mapping[str, str] | None = None,
    schema: Schema | None = None,
    row_counts: bool = False,
) -> exp.Select:
    """The query as a sqlglot tree; `TagEngineError` (TE510) for what `dialect` cannot say.

    With `row_counts`, a `__<table>__rows` column per related table counts each entity's
    rows visible at as_of (the run's report of rows matching no entity)."""
    if dialect not in DIALECTS:
        raise TagEngineError(
            error(
                "TE511", f"unknown SQL dialect `{dialect}`", None, f"one of {', '.join(DIALECTS)}"
            )
        )
    kinds = time_kinds(program, schema)
    try:
        query = _Builder(program, as_of, Dialect(dialect), select, tables or {}, kinds, row_counts)
        tree = _parenthesize(query.build())
    except _Unsupported as problem:
        raise TagEngineError(problem.diagnostic) from None
    if dialect == "postgres":
        _check_identifier_lengths(tree, program)
    return tree


def time_kinds(program: ir.Program, schema: Schema | None) -> dict[str, str]:
    """Per related table with a time column: `date`, `datetime` (or `unknown`)."""
    kinds = {}
    for rel in program.related:
        dtype = (schema or {}).get(rel.name, {}).get(rel.time or "")
        t = type_of(dtype) if dtype is not None else None
        if rel.time is not None and t is not None:
            kinds[rel.name] = t.kind
    return kinds


def visible_rows_query(
    program: ir.Program,
    as_of: dt.date,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    schema: Schema | None = None,
) -> exp.Select:
    """One row: per related table, how many of its rows are visible at as_of."""
    d = Dialect(dialect)
    kinds = time_kinds(program, schema)
    counts = []
    for rel in program.related:
        table = _table(d, rel.name, tables or {})
        sub = exp.select(exp.Count(this=exp.Star())).from_(table)
        if rel.time is not None:
            sub = sub.where(_visible(d, rel, as_of, kinds.get(rel.name)))
        counts.append(exp.Subquery(this=sub).as_(d.ident(rel.name)))
    return exp.select(*counts) if counts else exp.select(exp.Literal.number(0).as_("none"))


def _table(d: Dialect, name: str, tables: Mapping[str, str]) -> exp.Table:
    if name in tables:
        return exp.to_table(tables[name], dialect=d.name)
    return exp.Table(this=d.ident(name))


def _day(d: Dialect, rel: ir.Related, kind: str | None) -> exp.Expression:
    """The row's calendar day (a date and time counts on its day)."""
    assert rel.time is not None
    day: exp.Expression = exp.column(d.ident(rel.time))
    return day if kind == "date" else exp.cast(day, "DATE")


def _visible(d: Dialect, rel: ir.Related, as_of: dt.date, kind: str | None) -> exp.Expression:
    """Rows dated after as_of are invisible to every aggregate (docs/semantics.md#as_of)."""
    return exp.LTE(this=_day(d, rel, kind), expression=_date(as_of))


def _date(value: dt.date) -> exp.Expression:
    return exp.cast(exp.Literal.string(value.isoformat()), "DATE")


class _Builder:
    def __init__(
        self,
        program: ir.Program,
        as_of: dt.date,
        dialect: Dialect,
        select: Sequence[str] | None,
        tables: Mapping[str, str],
        time_kinds: Mapping[str, str],
        row_counts: bool,
    ):
        self.program, self.as_of, self.d = program, as_of, dialect
        self.tables = tables
        self.time_kinds = time_kinds
        self.row_counts = row_counts
        self.row_count_columns: dict[str, str] = {}  # __<table>__rows -> its column
        wanted = program.closure(list(select)) if select else {r.name for r in program.rules}
        self.rules = [r for r in program.rules if r.name in wanted]
        chosen = set(select) if select else wanted
        self.outputs = [n for n in program.outputs if n in chosen]
        key = program.entity.key
        self.ctes: list[tuple[str, exp.Expression]] = []
        # CTE names never hide a table the query reads
        self.cte_names = _Names([program.entity.table, *(r.name for r in program.related)])
        used = sorted(
            {c.name for r in self.rules for c in ir.walk(r.expr) if isinstance(c, ir.Column)}
            - {key}
        )
        self.names = _Names()
        self.key = self.names.claim(key)
        self.columns = {c: self.names.claim(c) for c in used}  # beside the key
        self.column_types = {
            c.name: c.type.kind
            for r in self.rules
            for c in ir.walk(r.expr)
            if isinstance(c, ir.Column)
        }
        self.rule_columns = {r.name: self.names.claim(r.name) for r in self.rules}
        self.stages: list[_Stage] = []
        self.qcuts: list[_Qcut] = []

    # ---- the whole query ----------------------------------------------------------

    def build(self) -> exp.Select:
        groups = aggregates.collect(self.program, self.rules)
        agg_columns: dict[tuple, str] = {}
        joins = []
        for group in groups:
            name, columns = self._aggregate_cte(group)
            agg_columns.update(columns)
            joins.append((group, name))
        base = self._base(joins, agg_columns)
        compiler = _Compiler(self, agg_columns)
        source = base
        for n, level in enumerate(levels(self.rules), 1):
            source = self._level(level, source, compiler, n)
        return self._final(source)

    def _final(self, source: str) -> exp.Select:
        key = exp.column(self.d.ident(self.key))
        items: list[exp.Expression] = [_as(key, self.key, self.program.entity.key, self.d)]
        needed = {self.key}
        for name in self.outputs:
            column = self.rule_columns[name]
            needed.add(column)
            items.append(_as(exp.column(self.d.ident(column)), column, name, self.d))
        if self.row_counts:
            for rel in self.program.related:
                column = f"__{rel.name}__rows"
                if column in self.row_count_columns:
                    needed.add(self.row_count_columns[column])
                    sql = exp.column(self.d.ident(self.row_count_columns[column]))
                    items.append(_as(sql, self.row_count_columns[column], column, self.d))
        self._emit_stages(needed)
        query = exp.select(*items).from_(exp.to_identifier(source, quoted=False))
        query = query.order_by(exp.Ordered(this=exp.column(self.d.ident(self.key))))
        for name, body in self.ctes:
            query = query.with_(self.d.ident(name), as_=body)
        return query

    # ---- related tables -------------------------------------------------------------

    def _aggregate_cte(self, group: aggregates.TableAggregates) -> tuple[str, dict[tuple, str]]:
        rel, d = group.related, self.d
        kind = self.time_kinds.get(rel.name)
        source: exp.Expression = _table(d, rel.name, self.tables)
        where = _visible(d, rel, self.as_of, kind) if rel.time else None
        ordered = [n for n in group.nodes.values() if n.func in ("first", "last")]
        columns: dict[tuple, str] = {}
        rel_compiler = _Compiler(self, {}, related=rel)
        numbered: dict[tuple, str] = {}
        if ordered:  # number each entity's rows by time for first/last
            rows = self.cte_names.claim(f"{rel.name}_rows")
            used = {rel.key, *([rel.time] if rel.time else [])}
            for node in group.nodes.values():
                used |= {c.name for c in ir.walk(node) if isinstance(c, ir.RelatedColumn)}
            items: list[exp.Expression] = [exp.column(d.ident(c)) for c in sorted(used)]
            row_names = _Names(sorted(used))
            for node in ordered:
                fp = ir.fingerprint(node)
                if fp in numbered:
                    continue
                numbered[fp] = row_names.claim(f"{node.func}_{len(numbered) + 1}")
                items.append(
                    self._row_number(node, rel, rel_compiler, kind).as_(d.ident(numbered[fp]))
                )
            body = exp.select(*items).from_(source)
            if where is not None:
                body = body.where(where)
            self.ctes.append((rows, body))
            source, where = exp.Table(this=d.ident(rows)), None
        key = exp.column(d.ident(rel.key))
        items = [_as(key, rel.key, self.key, d)]
        rule_of = {
            ir.fingerprint(r.expr): r.name
            for r in self.rules
            if isinstance(r.expr, ir.Aggregate) and r.kind != "tag"
        }
        for fp, node in group.nodes.items():
            preferred = rule_of.get(fp)
            if preferred is not None and self.rule_columns[preferred] != preferred:
                preferred = None
            if preferred is not None:
                column = self.rule_columns[preferred]  # the rule *is* this aggregate
            else:
                column = self.names.claim(f"{node.func}_{rel.name}_{len(columns) + 1}")
            columns[fp] = column
            value = self._aggregation(node, rel, rel_compiler, kind, numbered.get(fp))
            items.append(value.as_(d.ident(column)))
        if self.row_counts:
            column = self.names.claim(f"__{rel.name}__rows")
            self.row_count_columns[f"__{rel.name}__rows"] = column
            items.append(exp.Count(this=exp.Star()).as_(d.ident(column)))
        body = exp.select(*items).from_(source)
        if where is not None:
            body = body.where(where)
        body = body.group_by(key)
        name = self.cte_names.claim(f"{rel.name}_agg")
        self.ctes.append((name, body))
        return name, columns

    def _masks(
        self, node: ir.Aggregate, rel: ir.Related, compiler: _Compiler, kind: str | None
    ) -> tuple[exp.Expression | None, exp.Expression | None]:
        """(its window alone, window and `where` together), as in `aggregate.row_masks`."""
        d = self.d
        masks: list[exp.Expression] = []
        if node.window is not None and rel.time is not None:
            day = _day(d, rel, kind)
            w = node.window
            if w.start is not None and w.end is not None:
                masks.append(exp.Between(this=day, low=_date(w.start), high=_date(w.end)))
            else:
                assert w.amount is not None and w.unit is not None
                start = d.shift(_date(self.as_of), -w.amount, w.unit, "date")
                masks.append(exp.GT(this=day, expression=start))
        window = masks[0] if masks else None
        if node.where is not None:
            masks.append(compiler.typed(node.where, "bool"))
        mask = None
        for m in masks:
            mask = m if mask is None else exp.And(this=mask, expression=m)
        return window, mask

    def _row_number(
        self, node: ir.Aggregate, rel: ir.Related, compiler: _Compiler, kind: str | None
    ) -> exp.Expression:
        """Rows numbered per entity: first the rows this `first`/`last` reads, by time and
        then by value (descending for `last`), so row 1 is the answer."""
        assert node.value is not None and rel.time is not None
        _, mask = self._masks(node, rel, compiler, kind)
        value = compiler.expr(node.value)
        keep = _keep(value, mask)
        rank = exp.Case(
            ifs=[exp.If(this=keep, true=exp.Literal.number(0))], default=exp.Literal.number(1)
        )
        desc = node.func == "last"
        time = exp.column(self.d.ident(rel.time))
        order = exp.Order(
            expressions=[
                exp.Ordered(this=rank),
                exp.Ordered(this=time, desc=desc or None),
                exp.Ordered(this=self.d.text_order(value, node.value.type.kind), desc=desc or None),
            ]
        )
        over = exp.Window(
            this=exp.RowNumber(), partition_by=[exp.column(self.d.ident(rel.key))], order=order
        )
        return over

    def _aggregation(
        self,
        node: ir.Aggregate,
        rel: ir.Related,
        compiler: _Compiler,
        kind: str | None,
        numbered: str | None,
    ) -> exp.Expression:
        d = self.d
        window, mask = self._masks(node, rel, compiler, kind)
        func = node.func

        def when(mask: exp.Expression | None, value: exp.Expression) -> exp.Expression:
            if mask is None:
                return value
            return exp.Case(ifs=[exp.If(this=mask, true=value)])

        if func == "share":
            hits = exp.Count(this=when(mask, exp.Literal.number(1)))
            total = (
                exp.Count(this=when(window, exp.Literal.number(1)))
                if window is not None
                else exp.Count(this=exp.Star())
            )
            return _divide(hits, total)
        if node.value is None:  # count(orders)
            if mask is None:
                return exp.Count(this=exp.Star())
            return exp.Count(this=when(mask, exp.Literal.number(1)))
        value = compiler.expr(node.value)
        value_kind = node.value.type.kind
        if func in ("first", "last"):
            assert numbered is not None
            first_row = exp.EQ(this=exp.column(d.ident(numbered)), expression=exp.Literal.number(1))
            pick = when(exp.And(this=first_row, expression=_keep(value, mask)), value)
            return d.bool_max(pick) if value_kind == "bool" else exp.Max(this=pick)
        value = when(mask, value)
        if func == "count":
            return exp.Count(this=value)
        if func == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[value]))
        if func == "sum":
            total: exp.Expression = exp.Sum(this=value)
            return exp.cast(total, "BIGINT") if value_kind == "int" else total
        if func == "avg":
            # the exact total divided once, as the Polars backend does
            # (docs/semantics.md#exact-money)
            mean = _divide(exp.Sum(this=value), exp.Count(this=value.copy()))
            return d.nan_to_null(mean) if value_kind == "float" else mean  # inf and -inf
        ordered = d.text_order(value, value_kind)
        return exp.Min(this=ordered) if func == "min" else exp.Max(this=ordered)

    def _base(self, joins: list, agg_columns: dict[tuple, str]) -> str:
        """The entity's used columns and every aggregate, one row per entity."""
        d = self.d
        entity = exp.to_identifier("e")
        key = exp.column(d.ident(self.program.entity.key), table=entity)
        items: list[exp.Expression] = [_as(key, self.program.entity.key, self.key, d)]
        for name, column in self.columns.items():
            value: exp.Expression = exp.column(d.ident(name), table=entity)
            if self.column_types.get(name) == "float":
                # NaN counts as missing (docs/semantics.md#empty-aggregates-and-division)
                value = d.not_nan(value)
            items.append(_as(value, name, column, d))
        source = exp.select().from_(
            exp.alias_(_table(d, self.program.entity.table, self.tables), entity)
        )
        for n, (group, cte) in enumerate(joins, 1):
            alias = exp.to_identifier(f"a{n}")
            source = source.join(
                exp.alias_(exp.Table(this=d.ident(cte)), alias),
                on=exp.EQ(this=key, expression=exp.column(d.ident(self.key), table=alias)),
                join_type="LEFT",
            )
            for fp in group.nodes:
                sql = exp.column(d.ident(agg_columns[fp]), table=alias)
                node = group.nodes[fp]
                if node.func in aggregates.ZERO_WHEN_EMPTY:
                    sql = exp.Coalesce(this=sql, expressions=[exp.Literal.number(0)])
                if (
                    node.func == "sum"
                    and node.value is not None
                    and node.value.type.kind == "float"
                ):
                    sql = d.nan_to_null(sql)  # a sum of inf and -inf: missing, not 0
                items.append(sql.as_(d.ident(agg_columns[fp])))
            rows = (
                self.row_count_columns.get(f"__{group.related.name}__rows")
                if self.row_counts
                else None
            )
            if rows:
                sql = exp.column(d.ident(rows), table=alias)
                items.append(
                    exp.Coalesce(this=sql, expressions=[exp.Literal.number(0)]).as_(d.ident(rows))
                )
        name = self.cte_names.claim("base")
        self.base_query = source.select(*items)
        self.base_name = name
        return name

    # ---- rules, level by level ---------------------------------------------------------

    def _level(self, rules: list[ir.Rule], source: str, compiler: _Compiler, n: int) -> str:
        rankings: dict[tuple, ir.Ranking] = {}
        for rule in rules:
            for node in ir.walk(rule.expr):
                if isinstance(node, ir.Ranking):
                    rankings.setdefault(ir.fingerprint(node), node)
        nested: dict[tuple, int] = {}  # rankings inside another ranking -> depth

        def depth(node: ir.Ranking) -> int:
            inner = [x for x in ir.walk(node.operand) if isinstance(x, ir.Ranking)]
            return 1 + max((depth(x) for x in inner), default=0)

        for node in rankings.values():
            for inner in ir.walk(node.operand):
                if isinstance(inner, ir.Ranking):
                    nested[ir.fingerprint(inner)] = depth(inner)
        for level in range(1, max(nested.values(), default=0) + 1):
            stage = _Stage(self.cte_names.claim(f"level_{n}_ranks_{level}"), source, {})
            for fp, depth_of in nested.items():
                if depth_of == level:
                    column = self.names.claim(f"rank_{len(compiler.precomputed) + 1}")
                    stage.new[column] = self._ranking(rankings[fp], stage, compiler)
                    compiler.precomputed[fp] = column
            self.stages.append(stage)
            source = stage.name
        stage = _Stage(self.cte_names.claim(f"level_{n}"), source, {})
        compiler.stage = stage
        for rule in rules:
            column = self.rule_columns[rule.name]
            value = compiler.rule(rule)
            if isinstance(value, exp.Column) and value.name == column:
                continue  # already there (an aggregate computed as this rule)
            stage.new[column] = value
        compiler.stage = None
        self.stages.append(stage)
        return stage.name

    def _ranking(self, node: ir.Ranking, stage: _Stage, compiler: _Compiler) -> exp.Expression:
        compiler.stage = stage
        try:
            return compiler.ranking(node)
        finally:
            compiler.stage = None

    def qcut(self, node: ir.Ranking, x: exp.Expression, stage: _Stage) -> list[str]:
        """The edge columns of `qcut(x, n)` over `stage`'s source; joins them to `stage`."""
        k = len(self.qcuts) + 1
        assert node.buckets is not None
        columns = [self.names.claim(f"qcut_{k}_e{j}") for j in range(node.buckets + 1)]
        q = _Qcut(
            self.cte_names.claim(f"qcut_{k}_values"),
            self.cte_names.claim(f"qcut_{k}_edges"),
            stage.source,
            x,
            node.buckets,
            columns,
        )
        self.qcuts.append(q)
        stage.joins.append(q.edges)
        stage.join_columns |= set(columns)
        return columns

    # ---- emitting the stages, keeping only the columns used later ----------------------

    def _emit_stages(self, needed_at_end: set[str]) -> None:
        d = self.d
        needed: dict[str, set[str]] = {}  # stage -> columns later steps read from it
        last = self.stages[-1].name if self.stages else self.base_name
        needed[last] = set(needed_at_end)
        qcut_by_edges = {q.edges: q for q in self.qcuts}
        for stage in reversed(self.stages):
            want = needed.get(stage.name, set())
            refs = set().union(*(_refs(e) for e in stage.new.values())) if stage.new else set()
            passed = (want - set(stage.new)) | refs
            passed -= stage.join_columns
            needed.setdefault(stage.source, set()).update(passed)
            for edges in stage.joins:
                q = qcut_by_edges[edges]
                needed.setdefault(q.source, set()).update(_refs(q.x))
        # base
        base_items = [
            i
            for i in self.base_query.expressions
            if i.alias_or_name in needed.get(self.base_name, set()) | {self.key}
        ]
        self.ctes.append((self.base_name, self.base_query.select(*base_items, append=False)))
        available = {self.base_name: [i.alias_or_name for i in base_items]}
        emitted_qcuts: set[str] = set()
        for stage in self.stages:
            for edges in stage.joins:
                q = qcut_by_edges[edges]
                if q.edges not in emitted_qcuts:
                    self._emit_qcut(q)
                    emitted_qcuts.add(q.edges)
            keep = [
                c
                for c in available[stage.source]
                if (c in needed.get(stage.name, set()) or c == self.key) and c not in stage.new
            ]
            items: list[exp.Expression] = [exp.column(d.ident(c)) for c in keep]
            items += [e.as_(d.ident(c)) for c, e in stage.new.items()]
            body = exp.select(*items).from_(exp.Table(this=d.ident(stage.source)))
            for edges in stage.joins:
                body = body.join(exp.Table(this=d.ident(edges)), join_type="CROSS")
            self.ctes.append((stage.name, body))
            available[stage.name] = [*keep, *stage.new]

    def _emit_qcut(self, q: _Qcut) -> None:
        """numpy's linear quantiles at pandas' levels, step for step as `ranking.qcut`:
        the known values numbered in order, then for each level j the values below and
        above its position (`lo`, `hi`) and the edge between them."""
        d = self.d
        x = exp.cast(q.x, DOUBLE)
        v, i, top = exp.column("v"), exp.column("i"), exp.column("i_max")
        one = exp.Literal.number(1)
        number = exp.Window(
            this=exp.RowNumber(), order=exp.Order(expressions=[exp.Ordered(this=x)])
        )
        values = (
            exp.select(
                x.as_("v"),
                exp.Sub(this=number, expression=one).as_("i"),
                exp.Sub(this=exp.Window(this=exp.Count(this=exp.Star())), expression=one).as_(
                    "i_max"
                ),
            )
            .from_(exp.Table(this=d.ident(q.source)))
            .where(exp.Not(this=exp.Is(this=(q.x), expression=exp.null())))
        )
        self.ctes.append((q.values, values))
        points: list[exp.Expression] = [exp.Max(this=top).as_("i_max")]
        edges: list[exp.Expression] = []
        for j, level in enumerate(_pandas_quantile_levels(q.buckets)):
            q_j = exp.cast(exp.Literal.string(repr(level)), DOUBLE)
            # the position's whole part, from each row's i_max (the same on every row)
            below = exp.cast(
                exp.Floor(this=exp.Mul(this=exp.cast(top, DOUBLE), expression=q_j)), "BIGINT"
            )
            lo_index = below  # never above i_max: every level is at most 1
            hi_index = exp.Least(
                this=exp.Add(this=below.copy(), expression=one),
                expressions=[top],
                ignore_nulls=True,
            )
            for name, index in ((f"lo{j}", lo_index), (f"hi{j}", hi_index)):
                pick = exp.Case(ifs=[exp.If(this=exp.EQ(this=i, expression=index), true=v)])
                points.append(exp.Max(this=pick).as_(name))
            virtual = exp.Mul(this=exp.cast(top, DOUBLE), expression=q_j.copy())
            fraction = exp.Sub(this=virtual, expression=exp.Floor(this=virtual.copy()))
            points.append(exp.Max(this=fraction).as_(f"g{j}"))  # the same on every row
            lo, hi, g = exp.column(f"lo{j}"), exp.column(f"hi{j}"), exp.column(f"g{j}")
            diff = exp.Sub(this=hi, expression=lo)
            edge = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.GTE(this=g, expression=exp.Literal.number("0.5")),
                        true=exp.Sub(
                            this=hi.copy(),
                            expression=exp.Mul(
                                this=diff, expression=exp.Sub(this=one.copy(), expression=g.copy())
                            ),
                        ),
                    )
                ],
                default=exp.Add(
                    this=lo.copy(), expression=exp.Mul(this=diff.copy(), expression=g.copy())
                ),
            )
            edges.append(edge.as_(d.ident(q.columns[j])))
        inner = exp.select(*points).from_(exp.Table(this=d.ident(q.values)))
        self.ctes.append((q.edges, exp.select(*edges).from_(inner.subquery("p"))))


def _as(value: exp.Expression, current: str, wanted: str, d: Dialect) -> exp.Expression:
    if isinstance(value, exp.Column) and current == wanted:
        return value
    return value.as_(d.ident(wanted))


def _refs(e: exp.Expression) -> set[str]:
    return {c.name for c in e.find_all(exp.Column)}


def _keep(value: exp.Expression, mask: exp.Expression | None) -> exp.Expression:
    present = exp.Not(this=exp.Is(this=value, expression=exp.null()))
    return present if mask is None else exp.And(this=mask, expression=present)


def _divide(
    a: exp.Expression, b: exp.Expression, nonzero: bool = False, doubles: bool = False
) -> exp.Expression:
    """True division in doubles (`doubles`: `a` and `b` are already); by zero gives NULL
    (docs/semantics.md#empty-aggregates-and-division)."""
    if not doubles:
        a, b = exp.cast(a, DOUBLE), exp.cast(b, DOUBLE)
    if not nonzero:
        b = exp.Nullif(this=b, expression=exp.Literal.number(0))
    return exp.Div(this=a, expression=b, typed=True)


def _double(sql: exp.Expression, e: ir.Expr) -> exp.Expression:
    """`sql` as a double, as Polars casts to Float64 (a float is one already)."""
    return sql if e.type.kind == "float" else exp.cast(sql, DOUBLE)


def _nonzero(e: ir.Expr) -> bool:
    return isinstance(e, ir.Literal) and not isinstance(e.value, bool) and e.value != 0


# ---- expressions ---------------------------------------------------------------------------


class _Compiler:
    """Compiles IR expressions over the columns of the stage being built."""

    def __init__(
        self,
        builder: _Builder,
        aggregate_columns: dict[tuple, str],
        related: ir.Related | None = None,
    ):
        self.b = builder
        self.d = builder.d
        self.aggregates = aggregate_columns
        self.related = related
        self.precomputed: dict[tuple, str] = {}  # rankings computed by an earlier stage
        self.stage: _Stage | None = None

    def col(self, name: str) -> exp.Column:
        return exp.column(self.d.ident(name))

    def rule(self, rule: ir.Rule) -> exp.Expression:
        if rule.kind == "tag":  # unknown is not set (docs/semantics.md#missing-values)
            return exp.Coalesce(this=self.typed(rule.expr, "bool"), expressions=[exp.false()])
        return self.expr(rule.expr)

    def typed(self, e: ir.Expr, kind: str) -> exp.Expression:
        """`e`, cast when its type is unknown (an all-missing column)."""
        out = self.expr(e)
        if e.type.kind == "unknown":
            return exp.cast(out, _SQL_TYPES[kind])
        return out

    def expr(self, e: ir.Expr) -> exp.Expression:
        d = self.d
        match e:
            case ir.Column(name=name):
                return self.col(self.b.columns.get(name, self.b.key))  # else: the key
            case ir.RuleRef(name=name):
                return self.col(self.b.rule_columns[name])
            case ir.RelatedColumn(name=name, type=t):
                column: exp.Expression = self.col(name)
                return d.not_nan(column) if t.kind == "float" else column
            case ir.Aggregate():
                return self.col(self.aggregates[ir.fingerprint(e)])
            case ir.AsOf():
                return _date(self.b.as_of)
            case ir.Literal():
                return self.literal(e)
            case ir.DurationLit(amount=n, unit=unit):
                days = n * 7 if unit == "weeks" else n
                return exp.Literal.number(days * DAY_MICROS)  # months: only shift dates
            case ir.Not(operand=o):
                return exp.Not(this=(self.typed(o, "bool")))
            case ir.Neg(operand=o):
                return exp.Neg(this=self.expr(o))
            case ir.BoolOp(op=op, left=a, right=b):
                node = exp.And if op == "and" else exp.Or
                return node(this=self.typed(a, "bool"), expression=self.typed(b, "bool"))
            case ir.Compare(op=op, left=a, right=b):
                ea, eb = self.aligned(a, b)
                if op not in ("==", "!="):
                    ea, eb = d.text_order(ea, a.type.kind), d.text_order(eb, b.type.kind)
                return _COMPARE[op](this=ea, expression=eb)
            case ir.Arith():
                return self.arith(e)
            case ir.InList(operand=x, values=values, negated=negated):
                test = self.in_list(x, values)
                return exp.Not(this=test) if negated else test
            case ir.Between(operand=x, low=lo, high=hi, negated=negated):
                xe, loe = self.aligned(x, lo)
                xe, hie = self.aligned(x, hi)
                kind = x.type.kind
                test = exp.Between(
                    this=d.text_order(xe, kind),
                    low=d.text_order(loe, lo.type.kind),
                    high=d.text_order(hie, hi.type.kind),
                )
                return exp.Not(this=exp.Paren(this=test)) if negated else test
            case ir.IsMissing(operand=x, negated=negated):
                test = exp.Is(this=self.expr(x), expression=exp.null())
                return exp.Not(this=test) if negated else test
            case ir.TextTest(op=op, operand=x, pattern=pattern):
                return self.text_test(op, self.typed(x, "string"), pattern, e.span)
            case ir.Call():
                return self.call(e)
            case ir.Ranking() if ir.fingerprint(e) in self.precomputed:
                return self.col(self.precomputed[ir.fingerprint(e)])
            case ir.Ranking():
                return self.ranking(e)
            case ir.Case(branches=branches, otherwise=other):
                ifs = [
                    exp.If(this=self.typed(cond, "bool"), true=self.d.text(value.value, e.span))
                    for cond, value in branches
                ]
                default = self.d.text(other.value, e.span) if other else None
                return exp.Case(ifs=ifs, default=default)
        raise AssertionError(f"no SQL translation for {type(e).__name__}")

    def literal(self, e: ir.Literal) -> exp.Expression:
        v = e.value
        match v:
            case str():
                return self.d.text(v, e.span)
            case bool() | int():
                return _lit(v)
            case Decimal() | float():  # a double, as in Polars (SQL would make 1.5 exact)
                return exp.cast(exp.Literal.number(repr(float(v))), DOUBLE)
            case dt.datetime():
                text = v.isoformat(sep=" ")
                return exp.cast(exp.Literal.string(text), self.d.timestamp)
            case dt.date():
                return _date(v)
        raise AssertionError(v)

    def aligned(self, a: ir.Expr, b: ir.Expr) -> tuple[exp.Expression, exp.Expression]:
        """Both sides comparable: a date with a date and time is its midnight."""
        ea, eb = self.expr(a), self.expr(b)
        if {a.type.kind, b.type.kind} == {"date", "datetime"}:
            ea, eb = self.timestamp(ea, a), self.timestamp(eb, b)
        return ea, eb

    def timestamp(self, sql: exp.Expression, e: ir.Expr) -> exp.Expression:
        return exp.cast(sql, self.d.timestamp) if e.type.kind != "datetime" else sql

    def arith(self, e: ir.Arith, nan: bool = True) -> exp.Expression:
        """`nan=False`: a double's NaN is left as it is (for an operand of float
        arithmetic: NaN in, NaN out, so it is made NULL once, at the end of the chain)."""
        d = self.d
        a, b, op = e.left, e.right, e.op
        float_chain = e.type.kind == "float"

        def operand(x: ir.Expr) -> exp.Expression:
            chained = float_chain and isinstance(x, ir.Arith)
            return self.arith(x, nan=False) if chained else self.expr(x)

        if isinstance(b, ir.DurationLit) and a.type.temporal:
            amount = -b.amount if op == "-" else b.amount
            return d.shift(self.expr(a), amount, b.unit, a.type.kind)
        if isinstance(a, ir.DurationLit) and b.type.temporal:
            return d.shift(self.expr(b), a.amount, a.unit, b.type.kind)
        if a.type.temporal and b.type.temporal:  # a duration, in microseconds
            if a.type.kind == b.type.kind == "date":
                days = d.days_between(self.expr(b), self.expr(a))
                return exp.Mul(this=days, expression=exp.Literal.number(DAY_MICROS))
            ea, eb = self.aligned(a, b)
            return d.micros_between(eb, ea)
        if a.type.temporal or b.type.temporal:  # a date and time plus a duration
            when, micros = (a, b) if a.type.temporal else (b, a)
            amount = self.expr(micros)
            if op == "-":
                amount = exp.Neg(this=amount)
            moved = d.add_micros(self.timestamp(self.expr(when), when), amount)
            return exp.cast(moved, "DATE") if when.type.kind == "date" else moved
        ea, eb = operand(a), operand(b)
        if op == "/":
            out = _divide(_double(ea, a), _double(eb, b), _nonzero(b), doubles=True)
        else:
            out = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[op](this=ea, expression=eb)
        # inf - inf, 0 * inf, inf / inf: missing, checked once per chain
        # (docs/semantics.md#empty-aggregates-and-division)
        return d.nan_to_null(out) if float_chain and nan else out

    def in_list(self, x: ir.Expr, values: tuple[ir.Literal, ...]) -> exp.Expression:
        xe = self.expr(x)
        kinds = {x.type.kind} | {v.type.kind for v in values}
        items = [self.literal(v) for v in values]
        if "datetime" in kinds:
            xe = self.timestamp(xe, x)
            items = [self.timestamp(i, v) for i, v in zip(items, values, strict=True)]
        elif x.type.kind == "unknown" and values:
            xe = exp.cast(xe, _SQL_TYPES.get(values[0].type.kind, "VARCHAR"))
        return exp.In(this=xe, expressions=items)

    def text_test(self, op: str, x: exp.Expression, pattern: str, span) -> exp.Expression:
        d = self.d
        if op != "matches" and pattern == "":  # every text contains "", starts with it...
            return exp.Case(
                ifs=[exp.If(this=exp.Is(this=x, expression=exp.null()), true=exp.null())],
                default=exp.true(),
            )
        if op == "contains":
            found = exp.StrPosition(this=x, substr=d.text(pattern, span))
            return exp.GT(this=found, expression=exp.Literal.number(0))
        if op == "starts with":
            return exp.StartsWith(this=x, expression=d.text(pattern, span))
        if op == "ends with":
            return d.ends_with(x, pattern, span)
        return d.matches(x, pattern, span)

    def call(self, e: ir.Call) -> exp.Expression:
        d, f = self.d, e.func
        if f in ("days_between", "year", "quarter", "month", "day", "weekday"):
            args = [self.typed(a, "date") for a in e.args]
        elif f in ("lower", "upper", "trim", "length"):
            args = [self.typed(a, "string") for a in e.args]
        else:
            args = [self.expr(a) for a in e.args]
        if f == "days_between":
            a, b = (
                exp.cast(x, "DATE") if t.type.kind != "date" else x
                for x, t in zip(args, e.args, strict=True)
            )
            return d.days_between(a, b)
        if f in ("year", "quarter", "month", "day", "weekday"):
            return d.date_part(f, args[0])
        if f == "abs":
            return exp.Abs(this=args[0])
        if f == "round":
            digits = int(e.args[1].value) if len(e.args) > 1 else 0  # type: ignore[attr-defined]
            if e.args[0].type.kind == "decimal":
                return exp.Round(this=args[0], decimals=exp.Literal.number(digits))
            return d.round(_double(args[0], e.args[0]), digits)
        if f in ("floor", "ceil"):
            return d.whole(f, _double(args[0], e.args[0]))
        if f in ("coalesce", "least", "greatest"):
            if e.type.kind == "datetime":
                args = [self.timestamp(x, a) for x, a in zip(args, e.args, strict=True)]
            if f == "coalesce":
                return exp.Coalesce(this=args[0], expressions=args[1:])
            return d.extreme(f, args)
        if f == "lower":
            return self.case_mapped(exp.Lower, args[0], casemap.LOWER_SPECIAL, e.span)
        if f == "upper":
            if d.name == "spark":  # Java's toUpperCase maps full already
                return exp.Upper(this=args[0])
            return self.case_mapped(exp.Upper, args[0], casemap.UPPER_SPECIAL, e.span)
        if f == "trim":
            return exp.Trim(this=args[0], expression=d.text(WHITESPACE), position="BOTH")
        if f == "length":
            return exp.Length(this=args[0])
        raise AssertionError(f"no SQL translation for function {f}")

    def case_mapped(
        self, node: type[exp.Func], x: exp.Expression, table: Mapping[str, str], span
    ) -> exp.Expression:
        """The engine's UPPER or LOWER after the characters of `table` are replaced by
        their full mapping (backends/casemap.py). The hundred REPLACEs run only on a text
        holding one of them: on every text they made `upper` 25 times slower in DuckDB."""
        replaced = x.copy()
        for char, text in table.items():
            replaced = exp.Anonymous(
                this="REPLACE",
                expressions=[replaced, self.d.text(char), self.d.text(text)],
            )
        special = self.d.matches(x.copy(), "[" + "".join(table) + "]", span)
        return exp.Case(ifs=[exp.If(this=special, true=node(this=replaced))], default=node(this=x))

    def ranking(self, e: ir.Ranking) -> exp.Expression:
        """Over the entities with a known value: nulls are a partition of their own, and
        get NULL; ties are ordered by the key (docs/semantics.md#rankings)."""
        assert self.stage is not None, "rankings are computed in a stage"
        d = self.d
        x = self.expr(e.operand)
        known = exp.Not(this=exp.Is(this=x, expression=exp.null()))
        if e.func == "qcut":
            assert e.buckets is not None
            if e.buckets == 1:
                return exp.Case(ifs=[exp.If(this=known, true=exp.Literal.number(1))])
            edges = self.b.qcut(e, x, self.stage)
            value = exp.cast(x, DOUBLE)
            bins: exp.Expression = exp.Literal.number(1)
            last = exp.column(d.ident(edges[-1]))
            for j in range(1, e.buckets):
                ej = exp.column(d.ident(edges[j]))
                split = exp.And(
                    this=exp.GT(this=ej, expression=exp.column(d.ident(edges[j - 1]))),
                    expression=exp.LT(this=ej, expression=last),
                )
                side = (
                    exp.GTE(this=ej, expression=value)
                    if e.descending
                    else exp.LT(this=ej, expression=value)
                )
                counts = exp.Case(
                    ifs=[
                        exp.If(
                            this=exp.And(this=split, expression=side), true=exp.Literal.number(1)
                        )
                    ],
                    default=exp.Literal.number(0),
                )
                bins = exp.Add(this=bins, expression=counts)
            return exp.Case(ifs=[exp.If(this=known, true=bins)])
        order = [exp.Ordered(this=x, desc=e.descending or None)]
        if e.func == "ntile":
            func: exp.Expression = exp.Anonymous(
                this="NTILE", expressions=[exp.Literal.number(e.buckets)]
            )
            order.append(exp.Ordered(this=self.col(self.b.key)))
        elif e.func == "rank":
            func = exp.Anonymous(this="RANK", expressions=[])
        else:
            func = exp.Anonymous(this="PERCENT_RANK", expressions=[])
        over = exp.Window(
            this=func,
            partition_by=[exp.Is(this=x, expression=exp.null())],
            order=exp.Order(expressions=order),
        )
        return exp.Case(ifs=[exp.If(this=known, true=over)])


_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_SQL_TYPES = {
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "date": "DATE",
    "int": "BIGINT",
    "float": "DOUBLE",
}


def _check_names_show(tree: exp.Expression) -> None:
    """TE510 for a name (a column's, in back-quotes in the rules) holding a character a
    terminal would act on: a quoted SQL name cannot spell it by its code, and the SQL is
    printed. The engines still run such a rule set; only its printed SQL is refused."""
    problems = []
    seen: set[str] = set()
    for node in tree.find_all(exp.Identifier):
        name = node.name
        if name not in seen and shown(name) != name:
            seen.add(name)
            problems.append(
                error(
                    "TE510",
                    f"the name `{shown(name)}` holds a control or formatting character, "
                    "which printed SQL cannot spell visibly",
                    None,
                    "rename the column (or table) without it; --engine duckdb and "
                    "--engine spark run these rules as they are",
                )
            )
    if problems:
        raise TagEngineError(problems)


def _check_identifier_lengths(tree: exp.Expression, program: ir.Program) -> None:
    spans = {r.name: r.span for r in program.rules}
    problems = []
    seen: set[str] = set()
    for node in tree.find_all(exp.Identifier):
        name = node.name
        if len(name.encode("utf-8")) > POSTGRES_MAX_IDENTIFIER and name not in seen:
            seen.add(name)
            problems.append(
                error(
                    "TE510",
                    f"postgres cuts names longer than {POSTGRES_MAX_IDENTIFIER} bytes short: "
                    f"`{name}` has {len(name.encode('utf-8'))}",
                    spans.get(name),
                    "choose a shorter name (a display label may stay long)",
                )
            )
    if problems:
        raise TagEngineError(problems)
