"""Reading the project's Markdown pages: fenced blocks, headings and their anchors, links.

Shared by tests/test_runnable_docs.py (the blocks that run) and tests/test_doc_links.py
(the links and paths that must exist). Only the CommonMark that our pages use: fences of
backticks or tildes, ATX headings (`## ...`), inline links and reference definitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pages() -> list[Path]:
    """Every page a user reads: README.md, CHANGELOG.md, docs/**/*.md, bench/*.md."""
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    found += sorted((ROOT / "bench").glob("*.md"))
    return found


@dataclass(frozen=True)
class Block:
    info: str  # the fence's info string: "sh", "python", "tags bad", ""
    line: int  # 1-based line of the opening fence
    body: str
    marker: str | None  # the HTML comment on the nearest non-blank line above, if any

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info.split() else ""


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_COMMENT = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")


def _opening(line: str) -> tuple[str, str] | None:
    m = _FENCE.match(line)
    if not m:
        return None
    fence, info = m.group(1), m.group(2).strip()
    if fence[0] == "`" and "`" in info:  # ```` ```tags ```` in a sentence: code, no fence
        return None
    return fence, info


def _closes(line: str, fence: str) -> bool:
    m = _FENCE.match(line)
    return bool(
        m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip()
    )


def split(text: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """The page's fenced blocks, and its other lines (number, text) — prose, headings,
    tables — in order."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opened = _opening(lines[i])
        if opened is None:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        fence, info = opened
        start, body = i, []
        i += 1
        while i < len(lines) and not _closes(lines[i], fence):
            body.append(lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        m = _COMMENT.match(before)
        blocks.append(Block(info, start + 1, "\n".join(body) + "\n", m.group(1) if m else None))
        i += 1  # the closing fence (or the end of an unclosed block)
    return blocks, prose


def blocks(text: str) -> list[Block]:
    return split(text)[0]


# ---- headings and anchors --------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>]+>")


def heading_text(raw: str) -> str:
    """A heading as it reads: links by their text, no HTML tags, no backticks."""
    text = _LINK_TEXT.sub(r"\1", raw)
    text = _HTML_TAG.sub("", text)
    return text.replace("`", "").strip()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case; every character that is not a letter,
    digit, `_`, `-` or space dropped (Chinese characters are letters; full-width
    punctuation such as `（` and `：` is dropped); each space a `-`."""
    text = heading_text(heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(text: str) -> list[str]:
    """The page's headings (outside code blocks), as they read."""
    found = []
    for _, line in split(text)[1]:
        m = _HEADING.match(line)
        if m:
            found.append(heading_text(m.group(2)))
    return found


def anchors(text: str) -> set[str]:
    """Every anchor GitHub gives the page's headings; a repeated heading gets `-1`, `-2`."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in headings(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


# ---- links ---------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)


def _paragraphs(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each run of non-blank lines outside code blocks."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    first = previous = 0
    for number, line in [*split(text)[1], (-1, "")]:
        if line.strip() and number == previous + 1 and current:
            current.append(line)
        else:
            if current:
                out.append((first, "\n".join(current)))
            current, first = ([line], number) if line.strip() else ([], 0)
        previous = number
    return out


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every link and image outside code: `[x](path#anchor)`,
    `![x](path)`, `[x]: path` — link texts may wrap onto the next line."""
    found = []
    for first, paragraph in _paragraphs(text):
        # code spans blanked out, line breaks kept so that positions still give lines
        prose = _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), paragraph)
        for m in [*_INLINE_LINK.finditer(prose), *_REFERENCE.finditer(prose)]:
            found.append((first + prose.count("\n", 0, m.start()), m.group(1)))
    return sorted(found)
