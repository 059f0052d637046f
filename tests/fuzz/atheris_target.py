"""Coverage-guided fuzzing of the rule engine (atheris, i.e. libFuzzer, for Python).

Each input is rule text, run through every stage by `fuzzing.exercise`: parse, check,
format, compile and, when the rules compile, evaluate on small tables. Anything but
diagnostics (an exception other than `TagEngineError`, a hang, running out of memory) is
a crash: libFuzzer stops and writes the input to `crash-*` (or `timeout-*`, `oom-*`).

`tests/test_fuzz.py::test_atheris` runs it for a few seconds (marker `fuzz`); for a long
run, set TAGENGINE_FUZZ_SECONDS (e.g. `TAGENGINE_FUZZ_SECONDS=600 pytest -m fuzz`), or
run it by hand:

    mkdir -p /tmp/corpus
    .venv/bin/python tests/fuzz/atheris_target.py /tmp/corpus tests/fuzz/seeds \\
        -dict=tests/fuzz/tagengine.dict -max_total_time=600 -timeout=30

A crash found is a bug: fix it, and keep the input in tests/fuzz/crashes/ (every file
there is run by the default suite).

An input starting with a byte 0x01-0x03 gets a prefix (the entity and orders declared;
then `tag t when `, or `feature f = `), so that the fuzzer reaches the checker and the
backend without having to discover a whole entity declaration first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for fuzzing.py

import polars  # noqa: F401 - imported before instrumenting: big, and not ours

with atheris.instrument_imports(include=["tagengine", "lark", "fuzzing"]):
    from fuzzing import exercise

HEADER = (
    "entity customer table customers key customer_id\n"
    "related orders key customer_id time order_date\n"
)
PREFIXES = {1: HEADER, 2: HEADER + "tag t when ", 3: HEADER + "feature f = "}


def text_of(data: bytes) -> str:
    prefix = ""
    if data and data[0] in PREFIXES:
        prefix, data = PREFIXES[data[0]], data[1:]
    return prefix + data.decode("utf-8", "replace")


def test_one_input(data: bytes) -> None:
    exercise(text_of(data))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
