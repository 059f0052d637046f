"""Text from rule files and data, shown to people without acting on their terminal.

A label in a rule file or a value in a data file may hold characters that a terminal
obeys instead of showing: ESC starts a sequence that clears the screen or paints the
text red, U+202E (right-to-left override) prints what follows backwards, a zero-width
space makes two different values look the same. Every human output passes such text
through `shown` (or `quoted` for a value in quotes), which writes these characters as
Python writes them in a string: `\\x1b`, `\\u202e`, `\\U000e0001`. Everything else is
left as it is: Chinese, emoji, accents, other scripts.

The characters written as escapes (`hidden`): the control characters (C0 but a line
break or tab where one is meant, DEL, C1), the format characters (Unicode category Cf:
the bidirectional controls U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C, the
zero-width space, joiner and non-joiner, the word joiner, the byte order mark, the soft
hyphen, the tag characters U+E0000-U+E007F, ...), the line and paragraph separators
U+2028 and U+2029, lone surrogates and the noncharacters (U+FFFE, U+FFFF, ...). The
one exception is the zero-width joiner between two pictographs: it makes one emoji of
several (👨‍👩‍👧), and changes nothing else.

Machine outputs keep every character exactly: JSON writes the hidden ones as `\\uXXXX`
escapes (`json_text`), the SQL of `compile --to sql` spells them with the dialect's own
functions (backends/sql.py), and JUnit XML shows them as `shown` does (`xml_text`),
since XML 1.0 cannot hold most of them at all.
"""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len

ELLIPSIS = "…"
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ZWJ = "\u200d"
_PICTOGRAPH_CATEGORIES = frozenset({"So", "Sk"})  # emoji, and the skin-tone modifiers
_EMOJI_PRESENTATION = "\ufe0f"


def hidden(char: str) -> bool:
    """Whether a terminal would act on `char` (or hide it) rather than show it."""
    code = ord(char)
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:  # noncharacters
        return True
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def escape(char: str) -> str:
    """One character as Python writes it in a string: `\\x1b`, `\\u202e`, `\\U000e0001`."""
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(text: str, lines: bool = False) -> str:
    """`text` with every hidden character escaped. `lines`: the text is made of lines by
    design (a message body), and its line breaks and tabs stay as they are."""
    if text.isprintable():  # fast: printable text has no hidden character
        return text
    return "".join(piece(text, i, lines) for i in range(len(text)))


def piece(text: str, i: int, lines: bool = False) -> str:
    """How `shown` writes the character `text[i]` (which may depend on its neighbours)."""
    char = text[i]
    if char.isprintable() or not hidden(char):
        return char
    if lines and char in "\n\t":
        return char
    if char == _ZWJ and _joins_pictographs(text, i):
        return char
    return escape(char)


def _joins_pictographs(text: str, i: int) -> bool:
    if i == 0 or i + 1 == len(text):
        return False
    before, after = text[i - 1], text[i + 1]
    if before == _EMOJI_PRESENTATION and i > 1:
        before = text[i - 2]
    return (
        unicodedata.category(before) in _PICTOGRAPH_CATEGORIES
        and unicodedata.category(after) in _PICTOGRAPH_CATEGORIES
    )


def quoted(text: str) -> str:
    """A text value in double quotes as the rule language writes it (`"a \\"b\\" \\\\"`),
    its hidden characters escaped: a value that holds a backslash never looks like one
    that holds an escaped character."""
    return '"' + shown(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def clipped(text: str, limit: int) -> str:
    """`text` if it is at most `limit` cells wide, else its start and end with `…` between
    them (two thirds of the room for the start)."""
    if len(text) <= limit // 2 or cell_len(text) <= limit:
        return text
    room = limit - 1
    head = _fit(text, room * 2 // 3)
    tail = _fit(text[::-1], room - cell_len(head))[::-1]
    return head + ELLIPSIS + tail


def _fit(text: str, cells: int) -> str:
    """The longest start of `text` at most `cells` wide."""
    width = 0
    for i, char in enumerate(text):
        width += cell_len(char)
        if width > cells:
            return text[:i]
    return text


def json_text(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with every hidden character
    written as a `\\uXXXX` escape, which JSON reads back as the same character: outside
    strings JSON holds only ASCII, so only characters inside strings change."""
    if text.isprintable() or not any(not c.isprintable() and hidden(c) for c in text):
        return text
    out = []
    for char in text:
        if char.isprintable() or char in "\n " or not hidden(char):
            out.append(char)  # JSON's own line breaks and indentation
        else:
            code = ord(char)
            if code >= 0x10000:  # a surrogate pair, as JSON writes one
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
    return "".join(out)


def xml_text(text: str) -> str:
    """Text for an XML 1.0 document: hidden characters escaped as `shown` does, line breaks
    and tabs kept (XML holds those; it cannot hold most other control characters, lone
    surrogates, U+FFFE or U+FFFF, even as character references)."""
    return shown(text, lines=True)
