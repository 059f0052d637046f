"""CSV files as other systems export them: in a legacy encoding, with malformed or blank
lines, numbers and dates mixed with text. Each file is checked before Polars reads it, so
that a problem is told by file, line and column, with what to do about it (docs/project.md,
"Dirty data").

A file goes through three steps:

1. its encoding: a file that is not UTF-8 is transcoded, streaming, to a temporary UTF-8
   copy (removed when the process ends); undecodable bytes are reported by offset and line;
2. its structure: one pass of Polars over its lines counts each line's fields (quoted
   separators aside); rows with the wrong number of fields, unclosed or misplaced quotes
   are an error, or with `bad_rows="skip"` left out (reported as a warning); blank lines
   hold nothing and are left out;
3. its column types, from the first 10,000 rows read as text: Polars' inference, plus
   dates in known formats (or the one given), numbers among a few text values, NaN and
   infinity as numbers, codes with leading zeros kept as text, columns empty in every
   sampled row typed `unknown`. A value later in the file that does not fit fails the
   read; `diagnose` then finds its line and says which value in which column.

Line numbers count from 1, the header being line 1, as a text editor shows them.
"""

from __future__ import annotations

import atexit
import bisect
import codecs
import csv
import io
import itertools
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tagengine.diagnostics import VALUE, Diagnostic, TagEngineError, error, quoting
from tagengine.wording import plural

SAMPLE_ROWS = 10_000  # rows read to decide each column's type
CHUNK = 1 << 20  # bytes per step when transcoding or searching a file
SHOWN = 3  # problems listed in one message
BAD_ROWS = ("fail", "skip")


@dataclass(frozen=True)
class CsvOptions:
    """How to read CSV files: `encoding` (any Python codec name: utf-8, gbk, gb18030,
    big5, latin-1, utf-16, ...), `bad_rows` (`fail`: malformed rows are an error;
    `skip`: they are left out and reported), `date_format` (a strftime format such as
    `%Y/%m/%d` for text columns holding dates; ISO dates need none)."""

    encoding: str = "utf-8"
    bad_rows: str = "fail"
    date_format: str | None = None

    def __post_init__(self) -> None:
        encoding_name(self.encoding)
        if self.bad_rows not in BAD_ROWS:
            raise ValueError(f"bad_rows is `fail` or `skip`, not `{self.bad_rows}`")
        if self.date_format is not None:
            check_date_format(self.date_format)


def encoding_name(text: str) -> str:
    """The codec's canonical name (`GBK` → `gbk`, `latin-1` → `iso8859-1`); ValueError
    for an encoding Python does not know."""
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise ValueError(
            f"unknown encoding `{text}` (e.g. utf-8, gbk, gb18030, big5, latin-1, utf-16)"
        ) from None


_DIRECTIVE = re.compile(r"%(?:[-_0^#]?[a-zA-Z%+]|\.?[369]?f|:z|#z)")
_TIME_PARTS = re.compile(r"%[-_0]?[HIklMSTRXcsfpP]|%\.?[369]?f")


def check_date_format(fmt: str) -> None:
    """ValueError unless `fmt` is a strftime-style format with at least a date part."""
    if not re.search(r"%[-_0]?[YyCdejmbBhDFx]", fmt):
        raise ValueError(f'`{fmt}` is not a date format: write it with %Y, %m, %d, e.g. "%Y/%m/%d"')
    rest = _DIRECTIVE.sub("", fmt)
    if "%" in rest:
        raise ValueError(f"`{fmt}` has an unknown %-code; see the strftime codes")


def date_dtype(fmt: str) -> pl.DataType:
    """Date, or Datetime when `fmt` has a time of day."""
    return pl.Datetime("us") if _TIME_PARTS.search(fmt) else pl.Date()


# ---- the files Polars reads, and what is known about them -----------------------------


@dataclass
class CsvFile:
    """One CSV file made ready for Polars."""

    source: str  # as the user named it
    path: str  # what Polars reads: the source, or a UTF-8 or cleaned copy
    separator: str
    header: list[str]
    n_rows: int | None  # rows to read (None: all), to leave out trailing blank lines
    skipped: list[tuple[int, str]]  # malformed lines left out: (line, what is wrong)
    not_rows: list[int]  # lines that are no row of `path`: left out, blank, continued
    expect: dict[str, Expect] = field(default_factory=dict)  # column -> how it is read
    table: str = ""  # the table it was last read as, for hints

    def line_of_row(self, row: int) -> int:
        """The line (header = 1) where data row `row` (from 0) of `path` starts."""
        line = row + 2
        for gap in self.not_rows:  # sorted: each gap at or before the line pushes it on
            if gap <= line:
                line += 1
        return line


@dataclass(frozen=True)
class Expect:
    """How a column's text becomes values: its dtype, a date format, and why."""

    dtype: pl.DataType
    date_format: str | None = None
    why: str = "inferred"  # inferred | declared | empty | mostly


_READY: dict[tuple, CsvFile] = {}  # (file, size, mtime, options) -> the file made ready
_BY_PATH: dict[str, CsvFile] = {}  # path Polars reads -> the file, to explain failures
_TEMP: list[tempfile.TemporaryDirectory] = []


def _temp_dir() -> Path:
    """A folder for UTF-8 and cleaned copies, removed when the process ends."""
    if not _TEMP:
        folder = tempfile.TemporaryDirectory(prefix="tagengine-")
        atexit.register(folder.cleanup)  # explicitly, so that no ResourceWarning is due
        _TEMP.append(folder)
    return Path(_TEMP[0].name)


def _temp_file(source: Path) -> Path:
    fd, name = tempfile.mkstemp(suffix=".csv", prefix=source.stem + "-", dir=_temp_dir())
    os.close(fd)
    return Path(name)


def scan(
    path: str,
    options: CsvOptions | None = None,
    separator: str = ",",
    table: str | None = None,
    types: Mapping[str, pl.DataType] | None = None,
    formats: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> pl.LazyFrame:
    """A lazy scan of one CSV file, checked and typed as the module docstring says.
    `types` and `formats`: declared column types and date formats (they win over what
    the data suggests); `warnings` receives a line per file whose bad rows were skipped."""
    options = options or CsvOptions()
    file = prepare(path, options, separator)
    if file.skipped and warnings is not None:
        count = len(file.skipped)
        lines = ", ".join(str(n) for n, _ in file.skipped[:5])
        more = ", ..." if count > 5 else ""
        warnings.append(
            f"skipped {plural(count, 'malformed row')} of `{path}` "
            f"({'line' if count == 1 else 'lines'} {lines}{more})"
        )
    return _frame(file, options, table or Path(path).stem, types or {}, formats or {})


def prepare(path: str, options: CsvOptions, separator: str = ",") -> CsvFile:
    """`path` transcoded and cleaned as needed, its structure checked (cached per process
    while the file is unchanged)."""
    source = Path(path)
    stat = source.stat()
    key = (str(source.resolve()), stat.st_size, stat.st_mtime_ns, options, separator)
    if key in _READY and Path(_READY[key].path).exists():
        return _READY[key]
    encoding = encoding_name(options.encoding)
    utf8 = source
    if encoding not in ("utf-8", "utf-8-sig"):
        utf8 = _transcode(source, encoding, path)
    try:
        header = _header(utf8, separator, path)
        shape = _structure(utf8, separator, len(header), path)
        if shape.bad and options.bad_rows == "fail":
            raise TagEngineError(_malformed(path, shape.bad, len(header)))
    except BaseException:
        if utf8 != source:
            utf8.unlink(missing_ok=True)
        raise
    bad = shape.bad
    drop = sorted({n for n, _ in bad} | set(shape.blank))
    n_rows = None
    read = utf8
    trailing = drop and drop == list(range(shape.n_lines - len(drop) + 1, shape.n_lines + 1))
    if drop and trailing and not bad:
        n_rows = shape.n_lines - 1 - len(drop) - len(shape.continued)
    elif drop:
        read = _without_lines(utf8, drop, source)
        if utf8 != source:
            utf8.unlink()
    file = CsvFile(
        path,
        str(read),
        separator,
        header,
        n_rows,
        bad,
        sorted(set(drop) | set(shape.continued)),
    )
    _READY[key] = file
    _BY_PATH[file.path] = file
    return file


# ---- encodings -------------------------------------------------------------------------


def _transcode(source: Path, encoding: str, shown: str) -> Path:
    """A UTF-8 copy of `source`, decoded chunk by chunk; TE702 at the first bad byte."""
    target = _temp_file(source)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    try:
        with source.open("rb") as raw, target.open("w", encoding="utf-8", newline="") as out:
            while chunk := raw.read(CHUNK):
                pending = len(decoder.getstate()[0])
                try:
                    out.write(decoder.decode(chunk))
                except UnicodeDecodeError as exc:
                    raise TagEngineError(
                        _undecodable(source, shown, encoding, offset - pending + exc.start)
                    ) from None
                offset += len(chunk)
            pending = len(decoder.getstate()[0])
            try:
                out.write(decoder.decode(b"", final=True))
            except UnicodeDecodeError as exc:
                raise TagEngineError(
                    _undecodable(source, shown, encoding, offset - pending + exc.start)
                ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _first_bad_utf8(source: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0
    with source.open("rb") as raw:
        while chunk := raw.read(CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start
            offset += len(chunk)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset - pending
    return None


_GUESSES = (  # in this order: UTF-8 is strict enough that decoding means something
    ("utf-16", "UTF-16", ""),
    ("utf-8", "UTF-8", ""),
    ("gb18030", "GBK / GB18030 (Simplified Chinese; for Traditional Chinese try big5)", "han"),
    ("big5", "Big5 (Traditional Chinese)", "han"),
    ("shift_jis", "Shift-JIS (Japanese)", "kana"),
    ("cp1252", "Windows-1252 (Western European)", ""),
)
_SCRIPTS = {"han": r"[\u4e00-\u9fff]", "kana": r"[\u3040-\u30ff]"}


def guess_encoding(data: bytes, exclude: str | None = None) -> tuple[str, str] | None:
    """A likely encoding of `data` (bytes from where a file stops being readable):
    (the name to pass to --encoding, a description), or None."""
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        data[:200].count(0) > len(data[:200]) // 4
    )
    for name, words, script in _GUESSES[:1] if utf16 else _GUESSES[1:]:
        if exclude and encoding_name(name) == exclude:
            continue
        try:
            text = codecs.getincrementaldecoder(name)(errors="strict").decode(data)
        except UnicodeDecodeError:
            continue
        if script and not re.search(_SCRIPTS[script], text):
            continue  # decodes, but reads as none of that script: something else
        return ("gbk" if name == "gb18030" else name), words
    return None


def _position(source: Path, offset: int) -> tuple[int, bytes]:
    """The line holding byte `offset`, and up to 64 KiB of the file from that line on."""
    newlines, start, done = 0, 0, 0
    with source.open("rb") as raw:
        while done < offset:
            chunk = raw.read(min(CHUNK, offset - done))
            if not chunk:
                break
            if (i := chunk.rfind(b"\n")) >= 0:
                start = done + i + 1
            newlines += chunk.count(b"\n")
            done += len(chunk)
        raw.seek(start)
        around = raw.read(1 << 16)
    return newlines + 1, around


def _undecodable(source: Path, shown: str, encoding: str, offset: int) -> Diagnostic:
    line, around = _position(source, offset)
    with source.open("rb") as raw:
        raw.seek(offset)
        byte = raw.read(1)
    where = f"byte {offset:,} (0x{byte.hex().upper()}, line {line})"
    if encoding == "utf-8":
        message = f"`{shown}` is not UTF-8 text: {where} cannot be read"
    else:
        message = f"`{shown}` cannot be read as {encoding}: {where} is not {encoding} text"
    guess = guess_encoding(around, exclude=encoding)
    if guess is None:
        hint = (
            "name the file's encoding with --encoding (e.g. gbk, gb18030, big5, latin-1, "
            "utf-16), or save it as UTF-8"
        )
    elif guess[0] == "utf-8":
        hint = "it looks like UTF-8: leave out --encoding (and `encoding` in tagengine.toml)"
    else:
        name, words = guess
        hint = (
            f"it looks like {words}: pass --encoding {name} "
            f'(or `encoding = "{name}"` in tagengine.toml)'
        )
    return error("TE702", message, None, hint)


# ---- structure -------------------------------------------------------------------------


def _header(path: Path, separator: str, shown: str) -> list[str]:
    """The column names on line 1 (TE701 for an empty file, TE703 for a name twice)."""
    with path.open("rb") as raw:
        first = raw.readline(1 << 20)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    try:
        text = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise TagEngineError(_not_utf8(path, shown)) from None
    if not text.strip():
        raise TagEngineError(
            error(
                "TE701",
                f"`{shown}` has no header: "
                + ("the file is empty" if not first else "line 1 is blank"),
                None,
                "a CSV file starts with a line of column names, e.g. `customer_id,age`",
            )
        )
    fields = _split(text, separator)
    if fields is None:
        raise TagEngineError(
            error(
                "TE701",
                f'`{shown}` line 1 (the header) has a quote (") that is not closed',
                None,
                "fix the header: column names are separated by "
                + ("tabs" if separator == "\t" else f"`{separator}`"),
            )
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(fields, 1):
        if name in seen:
            raise TagEngineError(
                error(
                    "TE703",
                    f"`{shown}` has two columns named `{name}` "
                    f"(columns {seen[name]} and {i} of the header)",
                    None,
                    "rename one of them in the file's first line; "
                    "tagengine would not know which one the rules mean",
                )
            )
        seen[name] = i
    return fields


def _field_re(separator: str) -> str:
    sep = re.escape(separator) if separator not in (",", "\t") else separator
    return rf'(?:"(?:[^"]|"")*"|[^"{sep}]*)'


def _row_re(separator: str) -> str:
    sep = re.escape(separator) if separator not in (",", "\t") else separator
    f = _field_re(separator)
    return rf"^{f}(?:{sep}{f})*$"


def _split(text: str, separator: str) -> list[str] | None:
    """The fields of one record's text, or None if its quotes are not well formed."""
    if not re.fullmatch(_row_re(separator), text, re.S):
        return None
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [""])


@dataclass
class _Shape:
    n_lines: int
    bad: list[tuple[int, str]]  # (line, what is wrong), sorted
    blank: list[int]
    continued: list[int]  # lines inside a quoted field that started on an earlier line


def _structure(path: Path, separator: str, width: int, shown: str) -> _Shape:
    """Every line's field count in one Polars pass; quoted fields over several lines
    (an odd number of quotes on their first and last line) checked exactly.

    Lines without quotes are checked by counting separators; only the few lines that
    have quotes, the wrong count or look blank go through the costlier tests."""
    raw = pl.col("line")
    lines = pl.scan_lines(str(path)).with_row_index("n", offset=1)
    suspect = lines.with_columns(
        quoted=raw.str.contains('"', literal=True),
        plain=raw.str.count_matches(separator, literal=True) + 1,
    ).filter(
        (pl.col("n") > 1)
        & (pl.col("quoted") | (pl.col("plain") != width) | (raw.str.len_bytes() <= 1))
    )
    line = raw.str.strip_suffix("\r")
    sep = re.escape(separator) if separator not in (",", "\t") else separator
    # each field of a well-formed line, after a separator put in front of the first
    counted = (pl.lit(separator) + line).str.count_matches(sep + _field_re(separator))
    flagged = suspect.select(
        "n",
        odd=line.str.count_matches('"', literal=True) % 2 == 1,
        blank=line.str.strip_chars() == "",
        fields=pl.when("quoted").then(counted).otherwise("plain"),
        well_formed=~pl.col("quoted") | line.str.contains(_row_re(separator)),
    ).filter(pl.col("odd") | pl.col("blank") | ~pl.col("well_formed") | (pl.col("fields") != width))
    try:
        found, count = pl.collect_all([flagged, lines.select(pl.len())])
    except pl.exceptions.ComputeError as exc:
        if "utf8" in str(exc).lower() or "utf-8" in str(exc).lower():
            raise TagEngineError(_not_utf8(path, shown)) from None
        raise
    n_lines = int(count.item())
    blank = set(found.filter(pl.col("blank")).get_column("n").to_list())
    odd = found.filter(pl.col("odd")).get_column("n").to_list()
    flagged_lines = found.get_column("n").to_list()
    bad: dict[int, str] = {}
    continued: set[int] = set()
    records = _multiline(path, odd, flagged_lines, separator, width)
    for start, end in records.accepted:
        continued.update(range(start + 1, end + 1))
    bad.update(records.bad)
    for n, is_odd, is_blank, n_fields, ok in found.iter_rows():
        if n in continued or n in bad or is_odd or is_blank:
            continue
        if not ok:
            bad[n] = 'has a quote (") in the wrong place'
        elif n_fields != width:
            bad[n] = f"has {plural(n_fields, 'field')}"
    blank -= continued
    return _Shape(n_lines, sorted(bad.items()), sorted(blank), sorted(continued))


@dataclass
class _Records:
    accepted: list[tuple[int, int]]  # quoted fields over lines start..end, well formed
    bad: dict[int, str]


def _multiline(
    path: Path, odd: list[int], flagged: list[int], separator: str, width: int
) -> _Records:
    """Pair the lines with an odd number of quotes: a field opened on one is closed on
    the next. A pair is a record if the lines between hold nothing that reads as a row
    of its own and the whole reads as `width` fields; else the first line's quote is
    taken as never closed, and the second line may open the next pair."""
    out = _Records([], {})
    if not odd:
        return out

    def between(a: int, b: int) -> int:  # flagged lines strictly between a and b
        return bisect.bisect_left(flagged, b) - bisect.bisect_right(flagged, a)

    plausible = [(a, b) for a, b in itertools.pairwise(odd) if between(a, b) == b - a - 1]
    texts: dict[int, str] = {}
    if plausible:
        wanted = sorted({n for a, b in plausible for n in range(a, b + 1)})
        rows = (
            pl.scan_lines(str(path))
            .with_row_index("n", offset=1)
            .filter(pl.col("n").is_in(wanted))
            .collect()
        )
        texts = {n: text.removesuffix("\r") for n, text in rows.iter_rows()}
    pairs = set(plausible)
    i = 0
    while i < len(odd):
        a = odd[i]
        b = odd[i + 1] if i + 1 < len(odd) else None
        if b is not None and (a, b) in pairs:
            record = "\n".join(texts[n] for n in range(a, b + 1))
            fields = _split(record, separator)
            if fields is not None and len(fields) == width:
                out.accepted.append((a, b))
                i += 2
                continue
        out.bad[a] = 'has a quote (") that is never closed'
        i += 1
    return out


def _malformed(shown: str, bad: list[tuple[int, str]], width: int) -> Diagnostic:
    listed = "; ".join(f"line {n} {what}" for n, what in bad[:SHOWN])
    more = f"; and {len(bad) - SHOWN:,} more" if len(bad) > SHOWN else ""
    return error(
        "TE701",
        f"`{shown}` has {plural(len(bad), 'malformed row')}, where the header (line 1) has "
        f"{plural(width, 'field')}: {listed}{more}",
        None,
        "fix those lines, or leave such rows out with --bad-rows skip "
        '(`bad_rows = "skip"` in tagengine.toml)',
    )


def _without_lines(path: Path, drop: list[int], source: Path) -> Path:
    """A copy of `path` without the lines `drop` (sorted, from 1)."""
    target = _temp_file(source)
    todo = iter(drop)
    next_drop = next(todo, None)
    with path.open("rb") as raw, target.open("wb") as out:
        for n, text in enumerate(raw, 1):
            if n == next_drop:
                next_drop = next(todo, None)
                continue
            out.write(text)
    return target


def _not_utf8(path: Path, shown: str) -> Diagnostic:
    offset = _first_bad_utf8(path)
    return _undecodable(path, shown, "utf-8", offset or 0)


# ---- column types from a sample --------------------------------------------------------

_AUTO_DATES = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%Y",
    "%Y年%m月%d日",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)
_DAY_OR_MONTH_FIRST = ("%d/%m/%Y", "%m/%d/%Y")
_LEADING_ZERO = r"^[+-]?0\d"
_DATE_LIKE = r"^\s*\d{1,4}[-/.年]\d{1,2}[-/.月]\d{1,4}"  # what an automatic format can read


def _frame(
    file: CsvFile,
    options: CsvOptions,
    table: str,
    types: Mapping[str, pl.DataType],
    formats: Mapping[str, str],
) -> pl.LazyFrame:
    rows = SAMPLE_ROWS if file.n_rows is None else min(SAMPLE_ROWS, file.n_rows)
    head = io.BytesIO(_head(Path(file.path), rows))
    try:
        # the names are the header's as `_header` reads it: Polars keeps the doubled
        # quote of `"na""me"` (a column `na"me`) in the name
        text = pl.read_csv(
            head, separator=file.separator, infer_schema=False, new_columns=file.header
        )
        head.seek(0)
        typed = pl.read_csv(
            head, separator=file.separator, infer_schema_length=None, new_columns=file.header
        ).schema
    except pl.exceptions.PolarsError as exc:
        from tagengine.sources import first_line

        # the reader's words may quote a cell: masked if any column is private
        raise TagEngineError(
            quoting(
                "TE402",
                f"cannot read `{file.source}`: {VALUE}",
                first_line(exc),
                None,
                "check that the file is a complete CSV file",
            )
        ) from None
    schema: dict[str, pl.DataType] = {}
    convert: list[pl.Expr] = []
    file.expect, file.table = {}, table
    for name in file.header:
        values = text.get_column(name).drop_nulls()
        reader, expect = _column(
            file, table, name, values, typed[name], types, formats, options.date_format
        )
        schema[name] = reader
        file.expect[name] = expect
        if expect.dtype != reader:
            convert.append(_conversion(pl.col(name), expect))
    frame = pl.scan_csv(
        file.path,
        glob=False,  # the very file checked, even if its name looks like a glob
        separator=file.separator,
        schema=schema,
        has_header=False,  # named by `schema`, which has the header's names (see above)
        skip_rows=1,
        n_rows=file.n_rows,
        # rows that are too short were found above; Polars fills them as it always does
        truncate_ragged_lines=False,
    )
    return frame.with_columns(convert) if convert else frame


def _head(path: Path, rows: int) -> bytes:
    """The header and the first `rows` rows of a checked file, as bytes (a row may span
    lines inside quotes)."""
    out = bytearray()
    inside = False
    with path.open("rb") as raw:
        for line in raw:
            out += line
            inside ^= line.count(b'"') % 2 == 1
            if not inside:
                rows -= 1  # the header counts too: it ends at rows == -1
                if rows < 0:
                    break
    return bytes(out)


def _conversion(col: pl.Expr, expect: Expect) -> pl.Expr:
    if expect.dtype == pl.Null:
        return col.cast(pl.Null, strict=True)
    text = col.str.strip_chars()
    if expect.date_format is not None:
        return text.str.strptime(expect.dtype, expect.date_format, strict=True)
    if isinstance(expect.dtype, pl.Decimal):  # half away from zero, as declare() rounds
        exact = text.cast(_WIDE_DECIMAL, strict=True)
        return exact.round(expect.dtype.scale or 0, mode="half_away_from_zero").cast(expect.dtype)
    return text.cast(expect.dtype, strict=True)


_WIDE_DECIMAL = pl.Decimal(38, 18)  # a decimal's text as written, before rounding


def _column(
    file: CsvFile,
    table: str,
    name: str,
    values: pl.Series,
    inferred: pl.DataType,
    types: Mapping[str, pl.DataType],
    formats: Mapping[str, str],
    date_format: str | None,
) -> tuple[pl.DataType, Expect]:
    """(the dtype Polars reads the column as, how its values are to end up)."""
    declared = types.get(name)
    if declared is not None:
        if declared == pl.Date or isinstance(declared, pl.Datetime):
            fmt = formats.get(name) or date_format or _iso(declared)
            return pl.String(), Expect(declared, fmt, "declared")
        if isinstance(declared, pl.Decimal):  # from the text, exactly, then rounded
            return pl.String(), Expect(declared, None, "declared")
        return declared, Expect(declared, None, "declared")
    if values.len() == 0:  # empty in every sampled row: fits any use (docs/semantics.md#types)
        return pl.String(), Expect(pl.Null(), None, "empty")
    if inferred.is_integer() and values.str.contains(_LEADING_ZERO).any():
        return pl.String(), Expect(pl.String())  # codes such as 0755: kept as written
    if inferred != pl.String:
        return inferred, Expect(inferred)
    date = _date_format(file, table, name, values, date_format)
    if date is not None:
        fmt, share = date
        return pl.String(), Expect(date_dtype(fmt), fmt, "mostly" if share < 1 else "inferred")
    number = _number(values)
    if number is not None:
        dtype, share = number
        return pl.String(), Expect(dtype, None, "mostly" if share < 1 else "inferred")
    return pl.String(), Expect(pl.String())


def _iso(dtype: pl.DataType) -> str:
    return "%Y-%m-%d" if dtype == pl.Date else "%Y-%m-%dT%H:%M:%S%.f"


def _parsed(values: pl.Series, fmt: str) -> int:
    dtype = date_dtype(fmt)
    parsed = values.str.strip_chars().str.strptime(dtype, fmt, strict=False)
    return int(parsed.is_not_null().sum())


def _date_format(
    file: CsvFile,
    table: str,
    name: str,
    values: pl.Series,
    given: str | None,
) -> tuple[str, float] | None:
    """The date format of a text column: (format, share of values it reads), or None
    when fewer than half of the values are dates. Day-first or month-first dates that
    both readings fit (`01/05/2024`) are an error unless a format is given."""
    n = values.len()
    if values.str.contains(_DATE_LIKE).sum() < n / 2 and (
        given is None or _parsed(values, given) < n / 2
    ):
        return None  # most values are no date in any format at hand: skip the formats
    counts = {fmt: _parsed(values, fmt) for fmt in (*([given] if given else []), *_AUTO_DATES)}
    if given is None:
        both = {fmt: _parsed(values, fmt) for fmt in _DAY_OR_MONTH_FIRST}
        day, month = both.values()
        if max(day, month) > 0 and day == month and day >= n / 2:
            sample = values.filter(values.str.contains("/")).head(1).item()
            raise TagEngineError(
                quoting(
                    "TE705",
                    f"column `{name}` of `{file.source}` holds dates like `{VALUE}`: "
                    "day first or month first?",
                    sample,
                    f"{table}.{name}",
                    'give the format: --date-format "%d/%m/%Y" (day first) or "%m/%d/%Y" '
                    f"(month first), or in tagengine.toml [columns.{table}] {name} = "
                    '"date(%d/%m/%Y)"',
                )
            )
        counts.update(both)
    fmt, best = max(counts.items(), key=lambda kv: kv[1])  # first of the best: given wins
    if best == 0 or best < n / 2:
        return None
    return fmt, best / n


def _number(values: pl.Series) -> tuple[pl.DataType, float] | None:
    """Numbers in a column Polars read as text: all of them (NaN, inf are numbers), or
    nine in ten with at most three other values (`N/A`, `-`: an error if used)."""
    if values.str.contains(_LEADING_ZERO).any():
        return None
    as_float = values.str.strip_chars().cast(pl.Float64, strict=False)
    n, ok = values.len(), int(as_float.is_not_null().sum())
    if ok < n and (ok < 0.9 * n or values.filter(as_float.is_null()).n_unique() > 3):
        return None
    numbers = values.filter(as_float.is_not_null()).str.strip_chars()
    whole = numbers.cast(pl.Int64, strict=False).is_not_null().all()
    return (pl.Int64() if whole else pl.Float64()), ok / n


# ---- explaining a failed read ----------------------------------------------------------

_READ_ERROR = re.compile(r"could not parse `(.*?)` as dtype `([^`]*)` at column '(.*?)'", re.S)
_CAST_ERROR = re.compile(
    r"conversion from `([^`]*)` to `([^`]*)` failed in column '(.*?)' for (\d+) out of "
    r"\d+ values: \[(.*?)\]",
    re.S,
)


def diagnose(exc: BaseException) -> Diagnostic | None:
    """A Polars failure while reading or evaluating the data, said in words: which value
    of which column on which line of which CSV file does not fit, and what to do."""
    text = str(exc)
    if m := _CAST_ERROR.search(text):
        source, target, column, count, values = m.groups()
        if (source, target) == ("i128", "i64"):  # only a sum of whole numbers (aggregate.py)
            return _overflow(int(count), values)
        value = _first_value(values)
        return _locate(column, value, int(count)) or _unplaced(column, value, source, target)
    if m := _READ_ERROR.search(text):
        value, dtype, column = m.groups()
        return _locate(column, value, None) or _unplaced(column, value, "str", dtype)
    return None


def _unplaced(column: str, value: str | None, source: str, target: str) -> Diagnostic:
    """A value of `column` that does not convert, in a file that is no CSV (or no longer
    there): said with the value as a field, so a private column's is masked."""
    return quoting(
        "TE402",
        f"could not read or evaluate the data: a value of column `{column}` does not "
        f"convert from `{source}` to `{target}`: `{VALUE}`",
        value if value is not None else "?",
        column,  # its table is not known here
        "check the column's type: declare it in tagengine.toml ([columns.TABLE])",
    )


def _first_value(values: str) -> str | None:
    m = re.match(r'\s*"((?:[^"\\]|\\.)*)"', values)
    return m.group(1) if m else None


def _overflow(count: int, values: str) -> Diagnostic:
    first = values.split(",")[0].strip()
    # which column was summed is not known here: the value is masked if any is private
    return quoting(
        "TE706",
        f"a sum of whole numbers is beyond their range (±9.2×10¹⁸) for "
        f"{plural(count, 'customer')}, e.g. {VALUE}",
        first,
        None,
        "check the summed column for wrong values; if they are right, declare it as a "
        'decimal or a float in tagengine.toml ([columns.TABLE] COLUMN = "decimal(0)")',
    )


def _locate(column: str, value: str | None, count: int | None) -> Diagnostic | None:
    """Find the first value of `column` that does not fit, in the CSV files read."""
    for file in reversed(list(_BY_PATH.values())):
        expect = file.expect.get(column)
        if expect is None or not Path(file.path).exists():
            continue
        found = _first_misfit(file, column, expect)
        if found is not None:
            row, raw = found
            return _misfit(file, column, expect, file.line_of_row(row), raw)
    return None


def _first_misfit(file: CsvFile, column: str, expect: Expect) -> tuple[int, str] | None:
    raw = pl.col(column)
    if expect.dtype == pl.Null:
        fits = raw.is_null()
    elif expect.date_format is not None:
        text = raw.str.strip_chars()
        fits = text.str.strptime(expect.dtype, expect.date_format, strict=False).is_not_null()
    else:
        wide = _WIDE_DECIMAL if isinstance(expect.dtype, pl.Decimal) else expect.dtype
        fits = raw.str.strip_chars().cast(wide, strict=False).is_not_null()
    found = (
        pl.scan_csv(
            file.path,
            glob=False,
            separator=file.separator,
            infer_schema=False,
            n_rows=file.n_rows,
            new_columns=file.header,
        )
        .select(column)
        .with_row_index("row")
        .filter(raw.is_not_null() & ~fits)
        .head(1)
        .collect()
    )
    if found.height == 0:
        return None
    row, value = found.row(0)
    return int(row), value


def kind_words(dtype: pl.DataType) -> str:
    """`dtype` in words, as a column's contents: `whole numbers`, `dates`, `text`..."""
    words = {
        "a whole number": "whole numbers",
        "a number": "numbers",
        "true or false": "true/false values",
        "a date": "dates",
        "a date and time": "dates and times",
    }
    return "nothing (empty)" if dtype == pl.Null else words.get(_kind(dtype), "text")


_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "date": "a date",
    "datetime": "a date and time",
    "string": "text",
}


def _kind(dtype: pl.DataType) -> str:
    """`dtype` in words, as one value: `a whole number`, `a date`, ..."""
    if dtype.is_integer():
        return _KINDS["int"]
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return _KINDS["float"]
    if dtype == pl.Boolean:
        return _KINDS["bool"]
    if dtype == pl.Date:
        return _KINDS["date"]
    if isinstance(dtype, pl.Datetime):
        return _KINDS["datetime"]
    return _KINDS["string"]


def _is_number(value: str) -> bool:
    return pl.Series([value]).str.strip_chars().cast(pl.Float64, strict=False).item() is not None


def _misfit(file: CsvFile, column: str, expect: Expect, line: int, value: str) -> Diagnostic:
    table = file.table or Path(file.source).stem
    where = f"`{file.source}` line {line:,}, column `{column}`"
    declare = f"[columns.{table}] {column}"
    if expect.date_format is not None:
        other = next(
            (f for f in (*_AUTO_DATES, *_DAY_OR_MONTH_FIRST) if _parsed(pl.Series([value]), f)),
            None,
        )
        kind = "date and time" if isinstance(expect.dtype, pl.Datetime) else "date"
        fix = (
            f'; if the column is written like that, give the format: --date-format "{other}" '
            f'or {declare} = "{"datetime" if kind != "date" else "date"}({other})"'
            if other
            else f'; or, if the column is no date, declare it {declare} = "string"'
        )
        return quoting(
            "TE705",
            f'{where}: `{VALUE}` is not a {kind} written as "{expect.date_format}"',
            value,
            f"{table}.{column}",
            "fix the value (an empty cell is missing)" + fix,
        )
    if expect.why == "empty":
        return quoting(
            "TE704",
            f"{where}: `{VALUE}`, where the column's first {SAMPLE_ROWS:,} rows are all "
            "empty, so it was read as an empty column",
            value,
            f"{table}.{column}",
            f"declare the column's type in tagengine.toml: {declare} = "
            + ('"float64"' if _is_number(value) else '"string"'),
        )
    because = {
        "declared": "as tagengine.toml declares",
        "mostly": "as most of its values are",
    }.get(expect.why, f"from its first {SAMPLE_ROWS:,} rows")
    kind = _kind(expect.dtype)
    if expect.dtype.is_integer() and re.fullmatch(r"[+-]?\d+", value.strip()):
        kind = "a whole number in range (±9.2×10¹⁸)"
        suggestion = "string"  # such long numbers are codes, not quantities
    elif _is_number(value) and expect.dtype.is_numeric():
        suggestion = "float64"
    else:
        suggestion = "string"
    hint = (
        f"fix the value (an empty cell is missing), or declare the column's type in "
        f'tagengine.toml: {declare} = "{suggestion}"'
    )
    if expect.why == "declared":
        hint = f"fix the value (an empty cell is missing), or change {declare} in tagengine.toml"
    return quoting(
        "TE704",
        f"{where}: `{VALUE}` is not {kind}; the column is read as "
        f"{kind_words(expect.dtype)} {because}",
        value,
        f"{table}.{column}",
        hint,
    )
