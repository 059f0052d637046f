"""Table schemas: what the checker knows about the data before any row is read."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from tagengine import ir
from tagengine.diagnostics import TagEngineError, error
from tagengine.safe_text import json_text
from tagengine.syntax.ast import Span

# table name -> column name -> Polars dtype
Schema = Mapping[str, Mapping[str, pl.DataType]]


def type_of(dtype: pl.DataType) -> ir.Type | None:
    """Our type for a Polars dtype, or None when rules cannot use such a column."""
    if dtype == pl.Null:  # an all-missing column (e.g. empty in every CSV row) fits anything
        return ir.UNKNOWN
    if dtype == pl.Boolean:
        return ir.BOOL
    if dtype.is_integer():
        return ir.INT
    if dtype.is_float():
        return ir.FLOAT
    if isinstance(dtype, pl.Decimal):
        return ir.decimal(dtype.scale)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return ir.STRING
    if dtype == pl.Date:
        return ir.DATE
    if isinstance(dtype, pl.Datetime):
        return ir.DATETIME
    if isinstance(dtype, pl.Duration):
        return ir.DURATION
    return None


def column_types(columns: Mapping[str, pl.DataType]) -> dict[str, ir.Type]:
    """Our type of every column; one rules cannot use is typed `unsupported <dtype>`."""
    out: dict[str, ir.Type] = {}
    for name, dtype in columns.items():
        t = type_of(dtype)
        out[name] = t if t is not None else ir.Type(f"unsupported {dtype}")
    return out


def categories(dtype: pl.DataType) -> tuple[str, ...] | None:
    """The fixed categories of an Enum column. None for any other dtype: a Categorical's
    categories are whatever values the data holds, unknown before it is read."""
    if isinstance(dtype, pl.Enum):
        return tuple(dtype.categories.to_list())
    return None


# ---- schema files ------------------------------------------------------------------
# `tagengine schema` writes, and `tagengine check --schema` reads, a JSON object
# {table: {column: type}}; the type strings are those of `type_name` (docs/ci.md).

_SIMPLE: dict[str, pl.DataType] = {
    "bool": pl.Boolean(),
    "string": pl.String(),
    "categorical": pl.Categorical(),
    "date": pl.Date(),
    "time": pl.Time(),
    "null": pl.Null(),
    "binary": pl.Binary(),
    "object": pl.Object(),
    "int": pl.Int64(),  # shorthands for hand-written files
    "float": pl.Float64(),
    **{
        name.lower(): getattr(pl, name)()
        for name in (
            *(f"{s}Int{b}" for s in ("", "U") for b in (8, 16, 32, 64, 128)),
            *(f"Float{b}" for b in (16, 32, 64)),
        )
        if hasattr(pl, name)
    },
}
_NAMES = {dtype: name for name, dtype in _SIMPLE.items() if name not in ("int", "float")}
_TIME_UNITS = ("ms", "us", "ns")
TYPE_NAMES = (
    "bool, int8 … int64, uint8 … uint64, float32, float64, decimal(P,S), string, "
    'categorical, enum["a", "b"], date, datetime[us], datetime[us, TIME_ZONE], '
    'duration[us], time, null, binary, list[T], array[T, N], struct{"field": "T"}'
)


def type_name(dtype: pl.DataType) -> str:
    """A Polars dtype as a schema-file type string; `parse_type` reads it back."""
    if isinstance(dtype, type):  # a dtype class such as `pl.Int64`, as schemas may hold
        dtype = dtype()
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Enum):
        return "enum" + json.dumps(dtype.categories.to_list(), ensure_ascii=False)
    if isinstance(dtype, pl.Datetime):
        zone = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"datetime[{dtype.time_unit}{zone}]"
    if isinstance(dtype, pl.Duration):
        return f"duration[{dtype.time_unit}]"
    if isinstance(dtype, pl.Array):
        return f"array[{type_name(dtype.inner)}, {dtype.size}]"
    if isinstance(dtype, pl.List):
        return f"list[{type_name(dtype.inner)}]"
    if isinstance(dtype, pl.Struct):
        fields = {f.name: type_name(f.dtype) for f in dtype.fields}
        return "struct" + json.dumps(fields, ensure_ascii=False)
    if isinstance(dtype, pl.Categorical):
        return "categorical"
    return _NAMES.get(dtype, "object")


def parse_type(text: str) -> pl.DataType:
    """A schema-file type string as a Polars dtype; ValueError if it is not one."""
    reader = _TypeReader(text)
    dtype = reader.type()
    reader.skip_space()
    if reader.pos != len(text):
        raise ValueError(f"unexpected `{text[reader.pos :]}`")
    return dtype


_WORD = re.compile(r"[A-Za-z0-9_]+")


class _TypeReader:
    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def rest(self) -> str:
        rest = self.text[self.pos :].strip()
        return f"`{rest}`" if rest else "the end"

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def word(self) -> str:
        self.skip_space()
        m = _WORD.match(self.text, self.pos)
        if not m:
            raise ValueError(f"expected a type name at {self.rest()}")
        self.pos = m.end()
        return m.group()

    def take(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.take(char):
            raise ValueError(f"expected `{char}` at {self.rest()}")

    def number(self) -> int:
        word = self.word()
        if not word.isdigit():
            raise ValueError(f"expected a whole number, not `{word}`")
        return int(word)

    def json(self) -> object:
        self.skip_space()
        try:
            value, self.pos = json.JSONDecoder().raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON after the type name: {exc.msg}") from None
        return value

    def time_unit(self, default: str = "us") -> str:
        if not self.take("["):
            return default
        unit = self.word()
        if unit not in _TIME_UNITS:
            raise ValueError(f"time unit `{unit}` is not one of {', '.join(_TIME_UNITS)}")
        return unit

    def type(self) -> pl.DataType:
        name = self.word().lower()
        if name in _SIMPLE:
            return _SIMPLE[name]
        if name == "decimal":
            self.expect("(")
            precision = self.number()
            self.expect(",")
            scale = self.number()
            self.expect(")")
            return pl.Decimal(precision, scale)
        if name == "enum":
            values = self.json()
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise ValueError('an enum lists its categories as texts: enum["a", "b"]')
            if len(set(values)) != len(values):
                raise ValueError("an enum lists each category once")
            return pl.Enum(values)
        if name == "datetime":
            bracket = self.text.startswith("[", self.pos)
            unit = self.time_unit()
            zone = None
            if bracket and self.take(","):
                self.skip_space()
                end = self.text.find("]", self.pos)
                zone = self.text[self.pos : end if end >= 0 else len(self.text)].strip()
                self.pos = end if end >= 0 else len(self.text)
            if bracket:
                self.expect("]")
            return pl.Datetime(unit, zone or None)  # type: ignore[arg-type]
        if name == "duration":
            bracket = self.text.startswith("[", self.pos)
            unit = self.time_unit()
            if bracket:
                self.expect("]")
            return pl.Duration(unit)  # type: ignore[arg-type]
        if name in ("list", "array"):
            self.expect("[")
            inner = self.type()
            size = None
            if name == "array":
                self.expect(",")
                size = self.number()
            self.expect("]")
            return pl.List(inner) if size is None else pl.Array(inner, size)
        if name == "struct":
            fields = self.json()
            if not (isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())):
                raise ValueError('a struct maps its fields to types: struct{"a": "int64"}')
            return pl.Struct({k: parse_type(v) for k, v in fields.items()})
        raise ValueError(f"unknown type `{name}`")


def to_json(schema: Schema) -> str:
    """The schema file for `schema`: tables and columns in their order, one per line."""
    tables = {
        table: {column: type_name(dtype) for column, dtype in columns.items()}
        for table, columns in schema.items()
    }
    return json_text(json.dumps(tables, ensure_ascii=False, indent=2)) + "\n"


def read_schema_file(path: str | Path) -> tuple[dict[str, dict[str, pl.DataType]], str]:
    """The tables' schemas in a schema file, and its text (for showing errors in it).
    Raises `TagEngineError`: TE401 if the file is missing, TE408 if it is not a schema."""
    file = str(path)
    if not Path(path).is_file():
        raise TagEngineError(
            error(
                "TE401", f"no such schema file: `{file}`", None, "write one with `tagengine schema`"
            )
        )
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TagEngineError(
            error("TE408", f"cannot read the schema file `{file}`: {exc}", None, _SCHEMA_HINT)
        ) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        span = Span(file, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        raise TagEngineError(
            error("TE408", f"`{file}` is not valid JSON: {exc.msg}", span, _SCHEMA_HINT, "here")
        ) from None
    except ValueError as exc:
        raise TagEngineError(error("TE408", f"`{file}`: {exc}", None, _SCHEMA_HINT)) from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise TagEngineError(
            error(
                "TE408",
                f"`{file}` must map each table to its columns: "
                '{"customers": {"customer_id": "int64", ...}}',
                None,
                _SCHEMA_HINT,
            )
        )
    schema: dict[str, dict[str, pl.DataType]] = {}
    problems = []
    for table, columns in data.items():
        schema[table] = {}
        for column, text_type in columns.items():
            try:
                if not isinstance(text_type, str):
                    raise ValueError(f"a type is written as text, not {json.dumps(text_type)}")
                schema[table][column] = parse_type(text_type)
            except ValueError as exc:
                problems.append(
                    error(
                        "TE408",
                        f"`{file}`: column `{table}.{column}` has an invalid type: {exc}",
                        None,
                        f"types: {TYPE_NAMES}",
                    )
                )
    if problems:
        raise TagEngineError(problems)
    return schema, text


_SCHEMA_HINT = "write it with `tagengine schema --data ...`; the format is in docs/ci.md"


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"`{key}` is listed twice")
        out[key] = value
    return out
