"""Text from rules and data as people see it (safe_text.py): hidden characters escaped,
everything else, Chinese above all, exactly as it is."""

from __future__ import annotations

import json
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from tagengine.safe_text import clipped, hidden, json_text, quoted, shown, xml_text

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("高价值客户", "高价值客户"),
        ("plain ascii, 100% [red]", "plain ascii, 100% [red]"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # clear screen, red
        ("abc\u202edef", "abc\\u202edef"),  # right-to-left override
        ("\u2066x\u2069 \u200e \u200f \u061c", "\\u2066x\\u2069 \\u200e \\u200f \\u061c"),
        ("a\u200bb", "a\\u200bb"),  # zero-width space: "ab" and "a\u200bb" look alike
        ("a\u200cb\u2060c\ufeffd\xade", "a\\u200cb\\u2060c\\ufeffd\\xade"),
        ("a\u200db", "a\\u200db"),  # a zero-width joiner between letters
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # one emoji: kept
        ("❤\ufe0f\u200d🔥", "❤\ufe0f\u200d🔥"),
        ("tag\U000e0041\U000e0042", "tag\\U000e0041\\U000e0042"),  # invisible tag letters
        ("\x00\x07\x7f\x85\x9b", "\\x00\\x07\\x7f\\x85\\x9b"),  # C0, DEL, C1
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\ud800 \ufffe \uffff \U0010ffff", "\\ud800 \\ufffe \\uffff \\U0010ffff"),
        ("全角\u3000空格 nbsp\xa0", "全角\u3000空格 nbsp\xa0"),  # spaces stay spaces
        ("𠀀 emoji 😀 é", "𠀀 emoji 😀 é"),  # beyond the BMP, accents
        ("back\\slash \\x1b", "back\\slash \\x1b"),  # as is: not a value in quotes
    ],
)
def test_shown(text, want):
    assert shown(text) == want


def test_lines_keep_their_breaks_and_tabs():
    assert shown("a\nb\tc\rd\x1b", lines=True) == "a\nb\tc\\rd\\x1b"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("gold", '"gold"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\x1bb", '"a\\\\x1bb"'),  # a backslash never passes for an escape
        ("a\x1bb", '"a\\x1bb"'),
        ("金卡\n", '"金卡\\n"'),
    ],
)
def test_quoted(text, want):
    assert quoted(text) == want


def test_clipped_keeps_start_and_end_within_the_width():
    assert clipped("short", 10) == "short"
    cut = clipped("x" * 1000 + "END", 50)
    assert cell_len(cut) == 50 and cut.endswith("END") and "…" in cut
    wide = clipped("高" * 1000, 51)
    assert cell_len(wide) <= 51 and wide.startswith("高高")


@given(ANY_TEXT)
def test_shown_leaves_no_hidden_character(text):
    out = shown(text)
    assert not any(hidden(c) for c in out if c != "\u200d")
    assert shown(out) == out  # escaping twice changes nothing
    if text.isprintable():
        assert out == text


@given(st.text())
def test_json_text_is_exact_and_visible(text):
    dumped = json_text(json.dumps({"v": text}, ensure_ascii=False, indent=2))
    assert json.loads(dumped) == {"v": text}
    assert not any(hidden(c) for c in dumped if c not in "\n")


@given(ANY_TEXT)
def test_xml_text_is_always_well_formed_xml(text):
    root = ET.Element("t", name=xml_text(text))
    root.text = xml_text(text)
    parsed = ET.fromstring(ET.tostring(root, encoding="unicode"))
    assert parsed.get("name") == xml_text(text)


def test_hidden_is_the_documented_set():
    assert all(hidden(chr(c)) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
    bidi = [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
    assert all(hidden(chr(c)) for c in [*bidi, 0x200E, 0x200F, 0x061C])
    assert not any(hidden(c) for c in " 高价值a1_-.,;:'\"\\😀𠀀\u3000\xa0")
    # every format character (Cf) is hidden
    assert all(hidden(chr(c)) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf")
