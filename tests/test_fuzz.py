"""Hostile or broken rule files never crash the engine: they give diagnostics, or run.

Every input goes through `fuzzing.exercise`: parse, check (with and without a schema),
render the diagnostics, format, compile, and evaluate on small tables when the rules
compile. The only outcomes allowed are diagnostics and success: any other exception, a
`RecursionError` or a hang fails the test.

- hypothesis: random text; the programs of `strategies.programs()` (with and without an
  entity); those programs mutated (tokens deleted, repeated and swapped; random bytes,
  brackets left open, deep nesting, huge literals, odd Unicode, NUL, CR, byte-order
  marks); well-typed programs with data (`strategies.typed_cases()`), evaluated;
- the inputs that once crashed it (`REGRESSIONS` and tests/fuzz/crashes/), and the
  coverage-guided fuzzer's seeds (tests/fuzz/seeds/);
- atheris, coverage-guided, for a few seconds (marker `fuzz`; TAGENGINE_FUZZ_SECONDS=600
  for a long run; see tests/fuzz/atheris_target.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagengine
from fuzzing import SCHEMA, exercise, sample_tables
from strategies import expressions, programs, typed_cases
from tagengine import TagEngineError

FUZZ = Path(__file__).resolve().parent / "fuzz"
HEADER = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)


def fast(examples: int) -> settings:
    """`examples` inputs, with no deadline: some take a while (a 12,000-character name)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---- mutations ---------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`\n]*`|\w+|\s+|.', re.DOTALL)
ODD = [
    "\x00",
    "\r",
    "\r\n",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x0b",
    "\f",
    "\u202e",  # right-to-left override
    "e\u0301",  # a combining accent
    "𝔸",
    "中",
    "\t",
    "\\",
    '"',
    "`",
    "#",
    "'",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "==",
    "%",
    "-",
    ".",
    "not",
    "when",
    "tag t when",
    "over last",
    "2024-02-30",
    "2024-12-31T25:61",
    "0.000000000000000000000000000000000000001",
    "9223372036854775808",
    "9" * 30,
    "9" * 5_000,
    '"' + "x" * 12_000 + '"',
    "`" + "n" * 12_000 + "`",
    "99999999999 days",
    "over last 99999999999 years",
    "ntile(spend, 99999999999)",
    "round(spend, 99999999999)",
]


@st.composite
def mutants(draw) -> str:
    """A program of `programs()` (sometimes after a header), mutated one to four times."""
    text = draw(programs(max_statements=4))
    if draw(st.booleans()):
        text = HEADER + text
    tokens = _TOKEN.findall(text) or [""]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(tokens)))
        here = min(at, len(tokens) - 1)
        match draw(st.integers(0, 7)):
            case 0 if len(tokens) > 1:
                del tokens[here]
            case 1:
                tokens.insert(at, tokens[here])
            case 2:
                other = draw(st.integers(0, len(tokens) - 1))
                tokens[here], tokens[other] = tokens[other], tokens[here]
            case 3:
                tokens.insert(at, draw(st.sampled_from(ODD)))
            case 4:
                tokens.insert(at, draw(st.binary(max_size=8)).decode("latin-1"))
            case 5:
                opener = draw(st.sampled_from(["(", "[", "not ", "-", "abs(", "{", "`"]))
                tokens.insert(at, opener * draw(st.integers(50, 3_000)))
            case 6:
                tokens.insert(at, draw(st.text(max_size=6)))
            case _:
                tokens.insert(at, " " + draw(expressions(depth=3)) + " ")
    return "".join(tokens)


# ---- hypothesis ---------------------------------------------------------------------------


@fast(150)
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_random_text_gives_diagnostics_not_crashes(text):
    exercise(text)


@fast(80)
@given(programs(), st.booleans())
def test_generated_programs_never_crash(text, header):
    exercise(HEADER + text if header else text)


@fast(200)
@given(mutants())
def test_mutated_programs_never_crash(text):
    exercise(text)


@fast(40)
@given(typed_cases(max_rules=5))
def test_typed_programs_compile_and_evaluate(case):
    schema, text, tables, _ = case
    rules = exercise(text, schema, tables)
    errors = [d for d in rules.check(schema) if d.is_error]
    assert not errors, [(d.code, d.message) for d in errors]  # typed_programs check clean


# ---- inputs that once crashed or hung the engine -------------------------------------------

# (what went wrong, the rules after HEADER); every one now ends in diagnostics or a result
REGRESSIONS = [
    # RecursionError: the tree-to-AST transformer and the checker recurse (TE602 now)
    ("deep not", "tag t when " + "not " * 3_000 + "vip"),
    ("deep minus", "tag t when " + "-" * 3_000 + "1 > 0"),
    ("long sum", "tag t when " + " + ".join(["spend"] * 3_000) + " > 0"),
    ("deep lists", "tag t when 1 in " + "[" * 3_000 + "1" + "]" * 3_000),
    ("deep calls", "feature f = " + "abs(" * 3_000 + "spend" + ")" * 3_000),
    # RecursionError: the syntax error message read the last token by recursion
    ("error after a long sum", "feature f = " + " + ".join(["spend"] * 3_000) + ")"),
    # ValueError: a number of 5,000 digits (Python converts at most 4,300); TE002 now
    ("5,000 digits", "tag t when age > " + "9" * 5_000),
    # Polars: an integer literal past 64 bits; TE002 now
    ("past int64", "tag t when age > 9223372036854775808"),
    ("far past int64", "tag t when age > 99999999999999999999"),
    # OverflowError: round's decimals past 32 bits; TE204 now
    ("round digits", "feature f = round(spend, 4294967296)"),
    # hang (a list of 4 billion quantile levels): qcut's buckets; TE204 now
    ("qcut buckets", "score s = qcut(spend, 4294967296)"),
    ("ntile buckets", "score s = ntile(spend, 9223372036854775807)"),
    # OverflowError / Polars: durations past what a timedelta holds; TE002 now
    ("long duration", "tag t when (signup_date - signup_date) > 99999999999 days"),
    ("long weeks", "tag t when (signup_date - signup_date) > 999999999 weeks"),
    ("long window", "feature f = sum(orders.amount) over last 99999999999 years"),
    ("far shift", "tag t when signup_date + 99999999999 days > as_of"),
    # TypeError: a date and a date-time in one list
    ("date in datetimes", "tag t when signup_date in [2024-01-01, 2024-01-01T00:00]"),
    ("datetime in dates", "tag t when last_login in [2024-12-01, 2024-12-01T08:00]"),
    # hang: Polars doubled these at every level of nesting
    ("float sum chain", "feature f = " + " + ".join(["spend"] * 99)),
    ("nested division", "feature f = " + "1 / (" * 49 + "spend" + ")" * 49),
    ("nested abs of sums", "feature f = " + "abs(spend + " * 49 + "spend" + ")" * 49),
    ("nested qcut", "score s = " + "qcut(" * 20 + "spend" + ", 3)" * 20),
    ("nested between", "tag t when " + "(" * 49 + "vip" + ") between true and true" * 49),
    ("nested in", "tag t when " + "(" * 99 + "vip" + ") in [true]" * 99),
    # the byte-order mark of a Windows editor: a syntax error, then a crash in `fmt`
    ("byte-order mark", "\ufefftag t when vip"),
]


@pytest.mark.parametrize(("why", "rules"), REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_inputs_that_once_crashed(why, rules):
    exercise(HEADER + rules)


def _files(folder: str) -> list[Path]:
    return sorted(
        p for p in (FUZZ / folder).iterdir() if not p.name.startswith(".") and p.suffix != ".md"
    )


@pytest.mark.parametrize("path", _files("crashes") + _files("seeds"), ids=lambda p: p.name)
def test_kept_inputs(path):
    """tests/fuzz/crashes/: inputs the fuzzers found; seeds/: the fuzzer's starting points."""
    exercise(path.read_bytes().decode("utf-8", "replace"))


def test_a_segment_of_thousands_of_branches_runs():
    """Polars plans `when/then/when/...` in quadratic time: 1,000 branches took 9 s."""
    branches = "".join(f'  "b{i}" when age > {i}\n' for i in range(3_000))
    df = tagengine.load(HEADER + "segment s\n" + branches).evaluate(sample_tables())
    assert df.get_column("s").to_list() == ["b0", "b0", None]


def test_load_of_odd_strings_gives_diagnostics():
    """`load` takes a path or rule text: neither kind of string may crash it."""
    for source in ["\x00", "a\x00b.tags", "x" * 5_000, "x" * 5_000 + ".tags", "", " "]:
        try:
            rules = tagengine.load(source)
        except TagEngineError:
            continue
        rules.check(SCHEMA)


# ---- coverage-guided: atheris --------------------------------------------------------------


@pytest.mark.fuzz
def test_atheris(tmp_path):
    """libFuzzer through atheris over parse → check → format → compile → evaluate, for
    TAGENGINE_FUZZ_SECONDS (default 5). A crash fails the test and names the input kept."""
    pytest.importorskip("atheris")
    seconds = int(os.environ.get("TAGENGINE_FUZZ_SECONDS", "5"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    args = [
        sys.executable,
        str(FUZZ / "atheris_target.py"),
        str(corpus),
        str(FUZZ / "seeds"),
        f"-dict={FUZZ / 'tagengine.dict'}",
        f"-max_total_time={seconds}",
        "-timeout=60",
        "-rss_limit_mb=4096",
        "-max_len=4096",
        f"-artifact_prefix={tmp_path}/",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 300)
    found = sorted(p for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-")))
    kept = {p.name: p.read_bytes()[:2_000] for p in found}
    tail = "\n".join(done.stderr.splitlines()[-40:])
    assert done.returncode == 0 and not found, f"inputs: {kept}\n{tail}"
