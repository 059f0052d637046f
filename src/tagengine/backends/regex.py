"""Regular expressions of the rule language (Rust `regex` syntax, as Polars runs them)
rewritten for the engines of the SQL dialects, so that `matches` finds the same texts.

Rust's `\\d`, `\\s` and `\\w` are Unicode classes; RE2 (DuckDB, BigQuery) reads them as
ASCII, so they are spelled out (`\\p{Nd}`, the White_Space characters, the letters, marks,
digits and connectors of a word). Java (Spark) gets its Unicode mode `(?U)`, its
Unix-lines mode `(?d)` (only `\\n` ends a line, for `.` `^` `$`), `$` as `\\z` (Java's
`$` also matches before a final line break) and `\\v` as the vertical tab it is in Rust.
What an engine cannot say at all (RE2's `\\b` is an ASCII word boundary, RE2 has no
`(?x)`, Rust's class set operations `&&` `--` `~~`) is refused with the reason, never
approximated. Postgres gets `.` as `[^\\n]` and its own spellings of `\\b` `\\B` `\\z`
(`\\y` `\\Y` `\\Z`); its classes follow the database's locale. Snowflake reads the
pattern as written (see docs/scale.md).
"""

from __future__ import annotations

import re

# Rust's \d, \s, \w in RE2 syntax; equal to Polars' on every character of Unicode 14
# (newer characters follow each library's tables)
_RE2_CLASSES = {
    "d": r"\p{Nd}",
    "s": r"\t-\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}",
    "w": r"\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200c}\x{200d}\x{24b6}-\x{24e9}"
    r"\x{1f130}-\x{1f149}\x{1f150}-\x{1f169}\x{1f170}-\x{1f189}",
}
_FLAGS = re.compile(r"\(\?([a-zA-Z-]*)([:)])")


class Unsupported(ValueError):
    """The pattern cannot be said in that engine's syntax; the message says why."""


def translate(pattern: str, engine: str) -> str:
    """`pattern` for `engine`: `re2`, `java`, `are` (Postgres' advanced regular
    expressions), or anything else (returned as written)."""
    if engine in ("re2", "are"):
        return _Rewriter(pattern, engine).run()
    if engine == "java":
        multiline = any("m" in m.group(1).split("-")[0] for m in _FLAGS.finditer(pattern))
        # U: Unicode classes, word boundaries and case folding; d: only \n ends a line
        # (for `.`, `^` and `$`), as in Rust (Java's `.` also stops at \r, \u0085, \u2028)
        return "(?Ud)" + _Rewriter(pattern, engine, multiline).run()
    return pattern


class _Rewriter:
    def __init__(self, pattern: str, engine: str, multiline: bool = False):
        self.p, self.engine, self.multiline = pattern, engine, multiline
        self.out: list[str] = []
        self.depth = 0  # inside how many [...] classes

    def run(self) -> str:
        p, i = self.p, 0
        while i < len(p):
            c = p[i]
            if c == "\\" and i + 1 < len(p):
                i = self.escape(i)
                continue
            if c == "[":
                i = self.open_class(i)
                continue
            java_and = self.engine == "java" and p.startswith("&&", i)  # Java's is Rust's
            if self.depth and p.startswith(("&&", "--", "~~"), i) and not java_and:
                raise Unsupported(
                    f"`{p[i : i + 2]}` inside a class (Rust's set operations) means "
                    "something else here"
                )
            if c == "]" and self.depth:
                self.depth -= 1
            elif c == "." and not self.depth and self.engine == "are":
                c = r"[^\n]"  # Postgres' `.` also matches a line break
            elif c == "$" and not self.depth and self.engine == "java" and not self.multiline:
                c = r"\z"  # the very end, as Rust's `$`
            elif c == "(" and p.startswith("(?P<", i) and self.engine == "java":
                self.out.append("(?<")
                i += 4
                continue
            elif c == "(" and p.startswith("(?", i) and not self.depth:
                m = _FLAGS.match(p, i)
                if m and "u" in m.group(1).split("-")[-1] and "-" in m.group(1):
                    raise Unsupported("Unicode mode cannot be switched off (`(?-u)`) here")
                known = "imsU-" if self.engine == "re2" else "imsUux-"
                if m and set(m.group(1)) - set(known):
                    raise Unsupported(f"the flags `{m.group(1)}` cannot be said here")
            self.out.append(c)
            i += 1
        return "".join(self.out)

    def open_class(self, i: int) -> int:
        p = self.p
        if self.depth and p.startswith("[:", i) and p.find(":]", i + 2) > 0:  # [[:alpha:]]
            end = p.find(":]", i + 2)
            if self.engine == "java":
                raise Unsupported("Java has no POSIX classes such as `[[:alpha:]]`")
            self.out.append(p[i : end + 2])
            return end + 2
        if self.depth and self.engine == "re2":
            raise Unsupported("RE2 has no classes inside classes (`[a[bc]]`)")
        self.depth += 1
        self.out.append("[")
        i += 1
        if p.startswith("^", i):
            self.out.append("^")
            i += 1
        if p.startswith("]", i):  # a `]` first is a literal
            self.out.append(r"\]")
            i += 1
        return i

    def escape(self, i: int) -> int:
        p, letter = self.p, self.p[i + 1]
        if letter in "pP" and self.engine == "java" and p.startswith("{", i + 2):
            end = p.index("}", i + 2)
            name = p[i + 3 : end]
            if not (name.startswith(("Is", "In")) or "=" in name):
                name = "Is" + name  # Java: \p{IsHan}, \p{IsL}
            self.out.append(f"\\{letter}{{{name}}}")
            return end + 1
        if self.engine == "re2" and letter.lower() in _RE2_CLASSES:
            body = _RE2_CLASSES[letter.lower()]
            negated = letter.isupper()
            if letter.lower() == "d":
                self.out.append(r"\P{Nd}" if negated else body)
            elif self.depth and negated:
                raise Unsupported(f"RE2 cannot say `\\{letter}` inside a class")
            elif self.depth:
                self.out.append(body)
            else:
                self.out.append(f"[{'^' if negated else ''}{body}]")
            return i + 2
        if self.engine == "are" and letter in "bBz" and not self.depth:
            # Postgres: \b is a backspace; its word boundaries are \y \Y, the end \Z
            self.out.append("\\" + {"b": "y", "B": "Y", "z": "Z"}[letter])
            return i + 2
        if self.engine == "java" and letter == "v":  # Java's \v: any vertical space
            self.out.append(r"\x0B")
            return i + 2
        if self.engine == "re2" and letter in "bB" and not self.depth:
            raise Unsupported(
                f"RE2's `\\{letter}` looks at ASCII word characters only; write the "
                "boundary out, e.g. `(^|[^\\w])word([^\\w]|$)`"
            )
        self.out.append(p[i : i + 2])
        return i + 2
