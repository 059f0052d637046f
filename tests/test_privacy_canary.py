"""Canaries: recognisable values planted in every private column of the example data are
found in no output of any command, unless `--include-pii` or `declassify` lets them out.

The example data gets, for one customer, a credit score of 9,173.37 (the generator's
are whole numbers up to 850, and no id reaches 9,173), a sign-up date of 2008-02-29 (its
dates start in 2019), an e-mail address and a phone number no generator makes, and a
single order of 6,382.91.
A rule file generated from the language's registries (every function, aggregate and
ranking, and the operators and windows) puts them through everything it can; `COMMANDS`
runs every command that prints or writes values, and everything printed (stdout and
stderr) or written (each output format, read back, and its metadata) is searched for
every rendering of the canaries: numbers rounded, scaled or with thousands separators,
text in any case, dates in every format output uses and as day numbers.

Two controls prove the search finds what it looks for: `run --include-pii`, and the same
rules with `declassify` lines on rules that are the private columns themselves.

To add a command (the `test` command's failure messages, data errors), append a
`Command` to `COMMANDS`: it is run in the project folder (`data/` holds the tables), and
whatever it prints and the files it names in `writes` are searched; `exit_code` says how
it must end.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import tagengine
from tagengine import example_data, ir
from tagengine.check.functions import RANKING, SCALAR
from tagengine.check.types import AGGREGATES as AGGREGATE_NAMES
from tagengine.cli import app
from tagengine.diagnostics import TagEngineError
from tagengine.privacy import AGGREGATES, FUNCTIONS, RANKINGS, Flow

CANARY_ID = 42
CREDIT = 9173.37
SIGNUP = dt.date(2008, 2, 29)
EMAIL = "Canary.Zhao@PII-Canary.Example"
PHONE = "PHONE-Canary-13987650719"
AMOUNT = Decimal("6382.91")
AS_OF = dt.date(2024, 12, 31)
PII = ["credit_score", "signup_date", "email", "phone", "orders.amount"]

_DAY = (SIGNUP - dt.date(1970, 1, 1)).days  # 13938, Polars' physical date
_TENURE = (AS_OF - SIGNUP).days  # 6150: days_between(signup_date, as_of)
_EPOCH_S = _DAY * 86_400

# Every rendering of a canary: kind -> patterns, searched case-insensitively in the text
# as printed and with line breaks, spaces and table borders taken out (a wrapped cell).
RENDERINGS: dict[str, list[str]] = {
    "number": [
        r"(?<!\d)9,?1\.?7\.?3\.?3\.?7",  # 9173.37, 9,173.37, 917337 (cents), 9173.3700001
        r"(?<![\d.])9,?173(?:\.0*|\.4\d*)?(?![\d])",  # 9173, 9,173, 9173.00, 9173.4
        r"9\.17337e\+?0*3",
    ],
    "text": [
        re.escape(EMAIL),
        r"pii-canary\.example",
        r"canary\.zhao",
        re.escape(PHONE),
        r"13987650719",
    ],
    "date": [
        r"2008-0?2-29",
        r"2008/0?2/29",
        r"20080229",
        r"29[./-]0?2[./-]2008",
        r"0?2/29/2008",
        rf"(?<![\d.]){_DAY}(?![\d])",  # days since 1970-01-01
        rf"(?<!\d){_EPOCH_S}",  # seconds (and ms, us) since 1970
        r"(?<![\d.])2008[-/]\d\d?[-/]\d\d?",  # a date of its year: shifted by days
        rf"(?<![\d.]){_TENURE}(?![\d])",  # days to as_of
        rf"(?<![\d.]){_TENURE // 1000},{_TENURE % 1000:03d}(?![\d])",  # 6,150
    ],
    "amount": [
        r"(?<!\d)6,?3\.?8\.?2\.?9\.?1",  # 6382.91, 6,382.91, 638291 (cents), 6.38291e3
        r"(?<![\d.])6,?383(?:\.0*)?(?![\d])",  # rounded
        r"(?<![\d.])6,?382(?:\.0*|\.9\d*)?(?![\d])",  # floored, one decimal
    ],
}
_PATTERNS = {
    kind: [re.compile(p, re.IGNORECASE) for p in patterns] for kind, patterns in RENDERINGS.items()
}
# bytes a binary file may hold them as (a float, text), and what to report them as
_RAW = {struct.pack("<d", CREDIT): str(CREDIT), EMAIL.encode(): EMAIL, PHONE.encode(): PHONE}
_SQUEEZE = re.compile(r"[\s\u2500-\u257f]+")  # spaces, line breaks, box-drawing borders


def found(text: str, printed: bool = True) -> dict[str, list[str]]:
    """The canary kinds whose renderings occur in `text`, with what matched; in `printed`
    text also those a table cell or a tree wrapped over lines."""
    hits: dict[str, list[str]] = {}
    for candidate in (text, _SQUEEZE.sub("", text)) if printed else (text,):
        for kind, patterns in _PATTERNS.items():
            for p in patterns:
                if m := p.search(candidate):
                    hits.setdefault(kind, []).append(m.group(0))
    return hits


# ---- the data ------------------------------------------------------------------------


def canary_tables() -> dict[str, pl.DataFrame]:
    tables = example_data.generate(customers=300, seed=7)
    mine = pl.col("customer_id") == CANARY_ID
    customers = tables["customers"].with_columns(
        pl.when(mine).then(pl.lit(CREDIT)).otherwise("credit_score").alias("credit_score"),
        pl.when(mine).then(pl.lit(SIGNUP)).otherwise("signup_date").alias("signup_date"),
        pl.when(mine).then(pl.lit(EMAIL)).otherwise("email").alias("email"),
        pl.when(mine).then(pl.lit(PHONE)).otherwise("phone").alias("phone"),
    )
    orders = tables["orders"]
    one = pl.DataFrame(
        {
            "order_id": [orders["order_id"].max() + 1],
            "customer_id": [CANARY_ID],
            "order_date": [dt.date(2024, 12, 1)],
            "amount": [AMOUNT],
            "category": ["食品"],
            "channel": ["app"],
            "returned": [False],
        },
        schema=orders.schema,
    )
    orders = pl.concat([orders.filter(~mine), one])  # the canary's one order
    return {"customers": customers, "orders": orders}


def _legit_values_are_no_canaries(tables: dict[str, pl.DataFrame]) -> None:
    """The search would not find a canary in the data without them."""
    for name, df in tables.items():
        others = df.filter(pl.col("customer_id") != CANARY_ID)
        text = others.write_csv() + others.write_ndjson()
        hits = found(text, printed=False)
        assert not hits, (name, hits)


# ---- the rules, from the registries ---------------------------------------------------

HEADER = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)


@dataclass(frozen=True)
class Input:
    text: str
    type: ir.Type


# the private values, and private values made by an aggregate
INPUTS = [
    Input("credit_score", ir.FLOAT),
    Input("signup_date", ir.DATE),
    Input("email", ir.STRING),
    Input("phone", ir.STRING),
    Input("sum(orders.amount)", ir.decimal(2)),
    Input("last(orders.amount)", ir.decimal(2)),
]
RELATED = [Input("orders.amount", ir.decimal(2))]  # inside an aggregate
# arguments that are not private, for the parameters the input does not take: each
# choice gives a call (`least(x, 100000)` and `greatest(x, -100000)` are x)
OTHERS = [
    [Input("100000", ir.INT), Input("as_of", ir.DATE), Input('"x"', ir.STRING)],
    [Input("-100000", ir.INT), Input("age", ir.INT)],
    [Input("2", ir.INT)],  # a number of decimals
]


@dataclass(frozen=True)
class Rule:
    name: str
    text: str  # the rule as written, without its name
    construct: str  # what it exercises: a function, aggregate, ranking or operator
    flow: Flow  # what the table says it does with its private input


def _calls(func: str, inputs: list[Input]) -> Iterator[str]:
    """Calls of `func` with a private input in each place it fits: alone among other
    arguments, and in every place it fits."""
    sig = SCALAR[func]
    for leave_out in sorted({0, sig.optional}):
        params = sig.params[: len(sig.params) - leave_out]
        for x in inputs:
            places = [i for i, (_, check) in enumerate(params) if check(x.type)]
            for chosen in [*({p} for p in places), set(places)] if places else []:
                for others in OTHERS:
                    alike = sorted(others, key=lambda o: o.type.kind != x.type.kind)
                    args = [
                        x.text
                        if i in chosen
                        else next((o.text for o in alike if check(o.type)), None)
                        for i, (_, check) in enumerate(params)
                    ]
                    if None not in args:
                        yield f"{func}({', '.join(args)})"  # type: ignore[arg-type]


def _candidates() -> Iterator[tuple[str, str, Flow]]:
    """(expression, construct, flow): more than compile; `canary_rules` keeps those that
    do. Features and tags only: every one of them is an output."""
    for func in sorted(SCALAR):
        flow = FUNCTIONS.get(func, Flow.CARRIES)
        for call in _calls(func, INPUTS):
            yield call, func, flow
        for call in _calls(func, RELATED):  # inside an aggregate of the related rows
            yield f"max({call})", func, Flow.CARRIES
            yield f"count_distinct({call})", func, Flow.NOTHING
    for func in sorted(AGGREGATE_NAMES):
        flow = AGGREGATES.get(func, Flow.CARRIES)
        for inside in ("orders.amount", "orders.amount where orders.amount > 0", "orders"):
            yield f"{func}({inside})", func, flow
        yield f"{func}(orders where orders.amount > 100)", func, flow
        for window in (
            "last 90 days",
            "last 12 weeks",
            "last 6 months",
            "last 1 year",
            "2024-01-01 to 2024-12-31",
        ):
            yield f"{func}(orders.amount) over {window}", f"{func} over", flow
    for func in sorted(RANKING):
        takes_n = RANKING[func][0]
        for x in INPUTS:
            for order in ("", ", descending"):
                n = ", 10" if takes_n else ""
                yield f"{func}({x.text}{n}{order})", func, RANKINGS.get(func, Flow.CARRIES)
    operators = {
        "credit_score + 0": "arithmetic",
        "credit_score - 0": "arithmetic",
        "credit_score * 1": "arithmetic",
        "credit_score / 1": "arithmetic",
        "-credit_score": "negation",
        "-sum(orders.amount)": "negation",
        "sum(orders.amount) / count(orders)": "arithmetic",
        "signup_date + 30 days": "arithmetic",
        "signup_date - 1 year": "arithmetic",
        # not `as_of - signup_date`: a duration, which `run` cannot write to CSV
    }
    for text, construct in operators.items():
        yield text, construct, Flow.CARRIES


# verdicts on private values, and rules that carry nothing: written, and never a canary
VERDICTS = """
tag t_credit when credit_score > 900
tag t_range when credit_score between 900 and 1000 or round(credit_score) in [1, 2]
tag t_signup when signup_date < 2010-01-01 and days_between(signup_date, as_of) > 30
tag t_email when email contains "canary" or email ends with ".example"
tag t_phone when phone matches "^PHONE" and not (phone starts with "13")
tag t_phone_x when phone == "13800000000"
tag t_missing when email is missing or signup_date is not missing
tag t_spend when sum(orders.amount) over last 90 days > 6000
segment s_credit "信用段"
  "high" when credit_score > 900
  "mid" when credit_score > 600
  else "low"
feature f_orders = count(orders)
feature f_age = age + 1
"""
# the private columns themselves: declassified in the control
PLAIN = {
    "plain_credit": "credit_score",
    "plain_signup": "signup_date",
    "plain_email": "email",
    "plain_phone": "phone",
    "plain_amount": "last(orders.amount)",
}


def canary_rules(schema: dict, declassify: bool = False) -> tuple[str, list[Rule]]:
    """The rule file, and what each of its generated rules exercises."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for expr, construct, flow in _candidates():
        if expr in seen:
            continue
        seen.add(expr)
        try:
            tagengine.load(f"{HEADER}feature t = {expr}\n").compile(schema)
        except TagEngineError:
            continue  # this input does not fit this function
        slug = re.sub(r"\W+", "_", construct).strip("_")
        name = f"g{len(rules)}_{slug}"
        rules.append(Rule(name, expr, construct, flow))
    lines = [HEADER, VERDICTS]
    lines += [f'feature {r.name} "{r.construct}" = {r.text}\n' for r in rules]
    for name, expr in PLAIN.items():
        lines.append(f'feature {name} "the column" = {expr}\n')
        if declassify:
            lines.append('  declassify "the control: canaries must be found"\n')
    return "".join(lines), rules


# ---- the commands ------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]
    writes: tuple[str, ...] = ()  # files it writes: read back and searched
    exit_code: int = 0  # 1 for a command that reports failures (tests, data errors)

    @property
    def name(self) -> str:
        return " ".join(self.args)

    @property
    def runs(self) -> bool:
        """A `run` that writes its output (not one stopped by bad data)."""
        return self.args[0] == "run" and self.exit_code == 0

    @property
    def fails(self) -> bool:
        """A command that reports a failure: of an in-file test, or of bad data."""
        return self.exit_code != 0


def _duckdb() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


_OUTPUTS = ["out.parquet", "out.csv", "out.tsv", "out.ndjson", "out.arrow", "out.sqlite#tags"]
if _duckdb():
    _OUTPUTS.append("out.duckdb#tags")


def _sidecar(target: str) -> tuple[str, ...]:
    if "#" in target or target.endswith(".parquet"):
        return (target,)
    return (target, f"{target}.meta.json")


COMMANDS: list[Command] = [
    *(Command(("run", "--out", t), _sidecar(t)) for t in _OUTPUTS),
    Command(("run", "--out", "long.csv", "--format", "long"), _sidecar("long.csv")),
    *(  # the SQL engines compute the same values their own way
        [Command(("run", "--out", "sql.parquet", "--engine", "duckdb"), ("sql.parquet",))]
        if _duckdb()
        else []
    ),
    Command(("explain", "--id", str(CANARY_ID))),
    Command(("explain", "--id", str(CANARY_ID), "--format", "json")),
    Command(("explain", "--tag", "ALL")),  # ALL: every rule, filled in when run
    Command(("explain", "--tag", "ALL", "--format", "json")),
    Command(("check",)),
    Command(("check", "--data", "data", "--format", "json")),
    Command(("check", "--format", "github")),
    Command(("profile",)),
    Command(("profile", "--format", "json", "--top", "1000")),
    Command(("profile", "customers.email", "customers.credit_score", "orders.amount")),
    Command(("schema",)),
    Command(("compile",)),
    # an in-file test failing on private values: terminal, JSON and JUnit
    Command(("test", "tests.tags", "--junit", "junit.xml"), ("junit.xml",), exit_code=1),
    Command(("test", "tests.tags", "--format", "json"), exit_code=1),
    # a bad CSV cell of a private column: a number column holding the canary e-mail
    # (TE704), a date column holding the canary date with words after it (TE705)
    Command(("run", "bad.tags", "--data", "bad_number", "--out", "bad.parquet"), exit_code=1),
    Command(("run", "bad.tags", "--data", "bad_date", "--out", "bad.parquet"), exit_code=1),
]


def _read(path: Path) -> str:
    """A written file as text: tables decoded row by row (binary formats hide numbers),
    their metadata, and the raw bytes."""
    target = str(path)
    parts: list[str] = []
    if "#" in target:
        file, _, table = target.partition("#")
        for name in (table, f"{table}__meta"):
            parts.append(_database_table(Path(file), name).write_ndjson())
        return "\n".join(parts)
    raw = path.read_bytes()
    parts.append(raw.decode("latin-1"))
    parts += [f"(as bytes: {shown})" for needle, shown in _RAW.items() if needle in raw]
    if path.suffix == ".parquet":
        df = pl.read_parquet(path)
        parts.append(json.dumps(pl.read_parquet_metadata(path), ensure_ascii=False))
    elif path.suffix == ".arrow":
        df = pl.read_ipc(path)
    else:
        return "\n".join(parts)
    parts += [df.write_csv(), df.write_ndjson(), repr(df.rows())]
    return "\n".join(parts)


def _database_table(file: Path, table: str) -> pl.DataFrame:
    if file.suffix == ".sqlite":
        db = sqlite3.connect(file)
    else:
        import duckdb

        db = duckdb.connect(str(file), read_only=True)
    try:
        cursor = db.execute(f'select * from "{table}"')
        names = [d[0] for d in cursor.description]
        rows = [[str(v) for v in row] for row in cursor.fetchall()]
        return pl.DataFrame(rows, schema=names, orient="row")
    finally:
        db.close()


@dataclass
class Seen:
    printed: str
    written: dict[str, str]  # file -> its text

    def leaks(self, command: str, printed: bool = True) -> dict[str, dict[str, list[str]]]:
        """Where a canary shows (the command's output, each file it wrote): what."""
        texts = [(command, self.printed, True)] if printed else []
        texts += [(f"{command} → {file}", t, False) for file, t in self.written.items()]
        return {where: hits for where, text, p in texts if (hits := found(text, p))}


def run_all(
    folder: Path,
    commands: list[Command],
    every_rule: str,
    extra: Callable[[Command], list[str]] = lambda c: [],
) -> dict[str, Seen]:
    """Run `commands` in `folder` (each with `extra` arguments): what each printed and
    wrote. `ALL` in a command's arguments stands for `every_rule`."""
    seen: dict[str, Seen] = {}
    runner = CliRunner()
    for command in commands:
        for target in command.writes:
            Path(folder, target.partition("#")[0]).unlink(missing_ok=True)
        args = [every_rule if a == "ALL" else a for a in command.args] + extra(command)
        result = runner.invoke(app, args)
        assert result.exit_code == command.exit_code, (command.name, result.output)
        printed = (result.stdout + result.stderr).replace(str(folder), "<folder>")
        written = {t: _read(folder / t) for t in command.writes}
        seen[command.name] = Seen(printed, written)
    return seen


@dataclass(frozen=True)
class Project:
    folder: Path
    rules: list[Rule]  # the generated ones
    every_rule: str  # all the file's rules, comma-separated


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canary")
    tables = canary_tables()
    _legit_values_are_no_canaries(tables)
    example_data.write(folder / "data", tables)  # apart from the outputs
    schema = {name: df.schema for name, df in tables.items()}
    text, rules = canary_rules(schema)
    (folder / "rules.tags").write_text(text, "utf-8")
    (folder / "declassified.tags").write_text(canary_rules(schema, declassify=True)[0], "utf-8")
    (folder / "tagengine.toml").write_text(
        f'rules = "rules.tags"\nas_of = {AS_OF}\npii = {json.dumps(PII)}\n'
        '[tables]\ncustomers = "data/customers.parquet"\norders = "data/orders.parquet"\n',
        "utf-8",
    )
    every_rule = ",".join(re.findall(r"^(?:tag|feature|segment) (\w+)", text, re.M))
    (folder / "tests.tags").write_text(FAILING_TEST, "utf-8")
    (folder / "bad.tags").write_text(
        "entity customer table customers key customer_id\n"
        "tag good_credit when credit_score > 700\ntag old_hand when signup_date < 2015-01-01\n",
        "utf-8",
    )
    _bad_csv(folder / "bad_number", tables, "credit_score", EMAIL)
    _bad_csv(folder / "bad_date", tables, "signup_date", f"{SIGNUP} noon")
    return Project(folder, rules, every_rule)


# expectations that fail on private values: both values and the given rows are canaries
FAILING_TEST = f"""entity customer table customers key customer_id
related orders key customer_id time order_date
feature credit2 = credit_score + 1
feature contact = lower(email)
feature spent = sum(orders.amount)
feature signed = signup_date
test "private values"
  given customers {{ customer_id: {CANARY_ID}, credit_score: {CREDIT},
                    email: "{EMAIL}", signup_date: {SIGNUP} }}
  given orders {{ customer_id: {CANARY_ID}, order_date: 2024-12-01, amount: {AMOUNT} }}
  as_of {AS_OF}
  expect credit2 == 1, contact == "x", spent == 2, signed == 2000-01-01
"""


def _bad_csv(folder: Path, tables: dict[str, pl.DataFrame], column: str, cell: str) -> None:
    """The canary tables with `column` as CSV text, the canary's cell replaced by `cell`."""
    folder.mkdir()
    customers = tables["customers"].with_columns(
        pl.when(pl.col("customer_id") == CANARY_ID)
        .then(pl.lit(cell))
        .otherwise(pl.col(column).cast(pl.String))
        .alias(column)
    )
    customers.write_csv(folder / "customers.csv")
    tables["orders"].write_parquet(folder / "orders.parquet")


@pytest.fixture(scope="module")
def plain(project) -> dict[str, Seen]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project.folder)
        return run_all(project.folder, COMMANDS, project.every_rule)


def test_the_rules_use_every_function_aggregate_and_ranking(project):
    rules = project.rules
    used = {r.construct.removesuffix(" over") for r in rules}
    missing = (set(SCALAR) | set(AGGREGATE_NAMES) | set(RANKING)) - used
    assert not missing, f"no canary rule applies {sorted(missing)} to a private value"
    assert {r.construct for r in rules} >= {"arithmetic", "negation", "sum over", "count over"}


def test_no_canary_in_any_output(plain):
    leaks = {
        where: hits
        for command, seen in plain.items()
        for where, hits in seen.leaks(command).items()
    }
    assert not leaks, leaks


def test_rules_that_carry_are_left_out_and_the_rest_written(project, plain):
    rules = project.rules
    written = set(pl.read_parquet(project.folder / "out.parquet").columns)
    carrying = {r.name for r in rules if r.flow is Flow.CARRIES}
    nothing = {r.name for r in rules if r.flow is Flow.NOTHING}
    assert carrying and nothing
    assert not carrying & written, sorted(carrying & written)
    assert nothing <= written, sorted(nothing - written)
    assert not set(PLAIN) & written
    assert {"t_credit", "t_signup", "t_email", "t_phone", "s_credit", "f_orders"} <= written
    summary = plain["run --out out.parquet"].printed
    assert "not written, as their values show private columns" in summary


def test_the_control_include_pii_shows_every_canary_in_every_format(project, plain):
    runs = [c for c in COMMANDS if c.runs]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project.folder)
        seen = run_all(project.folder, runs, project.every_rule, lambda c: ["--include-pii", "-q"])
    for command in runs:
        written = seen[command.name].leaks(command.name, printed=False)
        assert set().union(*written.values()) == set(RENDERINGS), command.name


def test_the_control_declassified_rules_show_every_canary(project, plain):
    shown = [c for c in COMMANDS if c.runs or c.args[:2] == ("explain", "--id")]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project.folder)
        seen = run_all(project.folder, shown, project.every_rule, lambda c: ["declassified.tags"])
    for command in shown:
        kinds = set().union(*seen[command.name].leaks(command.name).values())
        assert kinds == set(RENDERINGS), command.name
    assert "declassified: the control" in seen[f"explain --id {CANARY_ID}"].printed
    assert "written although their values show private columns, as they are declassified" in (
        " ".join(seen["run --out out.parquet"].printed.split())
    )


def test_the_control_without_pii_failures_and_data_errors_show_canaries(project, plain):
    """The test failures and data errors above show no canary only because of `pii`:
    without it, each shows the values (the search would find a leak)."""
    failing = [c for c in COMMANDS if c.fails]
    assert len(failing) >= 4
    text = (project.folder / "tagengine.toml").read_text("utf-8")
    (project.folder / "public.toml").write_text(re.sub(r"^pii = .*\n", "", text, flags=re.M))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project.folder)
        seen = run_all(project.folder, failing, project.every_rule, lambda c: ["-p", "public.toml"])
    for command in failing:
        assert seen[command.name].leaks(command.name), command.name
    for command in failing[2:]:  # the data errors: the cell itself, as TE704 and TE705
        assert re.search(r"error\[TE70[45]\]", seen[command.name].printed), command.name
        assert re.search(r"error\[TE70[45]\]: .*`\*\*\*`", plain[command.name].printed)
