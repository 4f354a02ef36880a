"""PDF files to a Markdown page with headings, through pypdf (BSD, pure Python, no models).

Chunking needs headings: one passage per section. A PDF has no markup, so headings
come from what the file does say, in this order:

1. font sizes: a short line set larger than the body text (the size most characters
   use) is a heading, the largest size `#`, the next `##`, and so on;
2. the outline (bookmarks): each entry becomes a heading at the top of its page;
3. else one section per page (`## Page 3`), so a long PDF is never one passage.

Visual lines are joined into paragraphs (a gap wider than one and a half lines starts
a new one; a word hyphenated across lines is joined). The document's Title property,
when set, is the page title. A password-protected or text-less (scanned) PDF raises
ValueError with the reason ingest reports; nothing is ever OCRed or downloaded.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass

HEADING_RATIO = 1.15  # a line this much larger than the body text is a heading
MAX_HEADING_WORDS = 15
PARAGRAPH_GAP = 1.5  # a vertical gap of this many line heights starts a new paragraph


@dataclass
class Line:
    text: str
    size: float
    y: float | None
    page: int


def pdf_to_markdown(data: bytes) -> str:
    """The PDF's text as Markdown; ValueError (the reason) when it cannot be read."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes ("EOF marker not found") are not news
    try:
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader)
        lines = [line for number, page in enumerate(reader.pages, 1) for line in _page_lines(page, number)]
    except PdfReadError as exc:
        raise ValueError(f"could not be parsed: not a readable PDF ({exc})") from None
    if not any(line.text.strip() for line in lines):
        raise ValueError("no text layer (a scanned PDF?); run OCR first (for example ocrmypdf) and ingest the result")
    title = _title(reader)
    body = _with_font_headings(lines) or _with_outline_headings(lines, _outline(reader)) or _by_page(lines)
    front = f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\n\n" if title else ""
    return front + body + "\n"


def _unlock(reader) -> None:
    """An owner-password-only PDF opens with the empty password; one that needs a user password is skipped."""
    if not reader.is_encrypted:
        return
    from pypdf.errors import DependencyError

    try:
        ok = reader.decrypt("")
    except DependencyError as exc:  # AES without the cryptography package
        raise ValueError(f"encrypted PDF that cannot be decrypted here ({exc}); save an unencrypted copy") from None
    if not ok:
        raise ValueError("encrypted PDF (it needs a password); save an unencrypted copy and ingest that")


def _page_lines(page, number: int) -> list[Line]:
    """Visual lines of one page with their font size and height on the page, from pypdf's text visitor."""
    lines: list[Line] = []
    parts: list[tuple[str, float, float | None]] = []

    def end_line() -> None:
        text = " ".join("".join(p[0] for p in parts).split())
        if text:
            sizes = Counter()
            for t, size, _ in parts:
                sizes[round(size, 1)] += len(t.strip())
            y = next((y for t, _, y in parts if t.strip() and y is not None), None)
            lines.append(Line(text, sizes.most_common(1)[0][0], y, number))
        parts.clear()

    def visit(text, cm, tm, font_dict, font_size) -> None:
        scale = abs(tm[3] or 1) * abs(cm[3] or 1)
        y = tm[5] * (cm[3] or 1) + cm[5]
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                end_line()
            if piece:
                parts.append((piece, float(font_size or 0) * scale, y if piece.strip() else None))

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _title(reader) -> str:
    try:
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except Exception:  # noqa: BLE001 - a damaged info dictionary only costs the title
        return ""
    return "" if re.search(r"\.(docx?|pdf|pptx?)$|^untitled", title, re.I) else title


def _body_size(lines: list[Line]) -> float:
    sizes: Counter = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    return sizes.most_common(1)[0][0]


def _with_font_headings(lines: list[Line]) -> str:
    """Markdown with headings from font sizes, or '' when every line has the body's size."""
    body = _body_size(lines)
    if body <= 0:
        return ""

    def is_heading(line: Line) -> bool:
        words = line.text.split()
        return (line.size >= body * HEADING_RATIO and len(words) <= MAX_HEADING_WORDS
                and any(c.isalpha() for c in line.text) and not line.text.endswith((".", ",", ";")))

    sizes = sorted({line.size for line in lines if is_heading(line)}, reverse=True)
    if not sizes:
        return ""
    level = {size: min(i + 1, 6) for i, size in enumerate(sizes)}
    blocks: list[str] = []
    paragraph: list[Line] = []
    heading: list[Line] = []

    def flush() -> None:
        if heading:
            blocks.append("#" * level[heading[0].size] + " " + " ".join(h.text for h in heading))
            heading.clear()
        if paragraph:
            blocks.append(_join(paragraph))
            paragraph.clear()

    for line in lines:
        if is_heading(line):
            if paragraph or (heading and (heading[-1].size != line.size or _gap(heading[-1], line) > PARAGRAPH_GAP)):
                flush()
            heading.append(line)  # a heading wrapped over two lines is one heading
        else:
            if heading or (paragraph and _gap(paragraph[-1], line) > PARAGRAPH_GAP):
                flush()
            paragraph.append(line)
    flush()
    return "\n\n".join(blocks)


def _gap(above: Line, below: Line) -> float:
    """Vertical distance between two lines in line heights (a new page counts as a new paragraph)."""
    if above.page != below.page or above.y is None or below.y is None or not above.size:
        return PARAGRAPH_GAP + 1 if above.page != below.page else 0.0
    return abs(above.y - below.y) / above.size


def _join(lines: list[Line]) -> str:
    """One paragraph from its visual lines; a word hyphenated across a line break is joined."""
    text = ""
    for line in lines:
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line.text[:1].islower():
            text = text[:-1] + line.text
        else:
            text = f"{text} {line.text}" if text else line.text
    return _escape(text)


def _escape(text: str) -> str:
    """A paragraph that starts like Markdown markup is text, not a heading or a tag."""
    return "\\" + text if text.startswith(("#", "<", ":::")) else text


def _paragraphs(lines: list[Line]) -> list[str]:
    out: list[str] = []
    current: list[Line] = []
    for line in lines:
        if current and _gap(current[-1], line) > PARAGRAPH_GAP:
            out.append(_join(current))
            current = []
        current.append(line)
    if current:
        out.append(_join(current))
    return out


def _outline(reader) -> dict[int, list[str]]:
    """Page number (1-based) -> the outline entries that point at it, in order."""
    out: dict[int, list[str]] = {}

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            try:
                number = reader.get_destination_page_number(item) + 1
            except Exception:  # noqa: BLE001 - an entry pointing nowhere is left out
                continue
            title = " ".join(str(item.title or "").split())
            if title:
                out.setdefault(number, []).append(title)

    try:
        walk(reader.outline)
    except Exception:  # noqa: BLE001 - a damaged outline only costs its headings
        return {}
    return out


def _with_outline_headings(lines: list[Line], outline: dict[int, list[str]]) -> str:
    if not outline:
        return ""
    blocks: list[str] = []
    for number in sorted({line.page for line in lines} | set(outline)):
        blocks += [f"## {_escape(title)}" for title in outline.get(number, [])]
        blocks += _paragraphs([line for line in lines if line.page == number])
    return "\n\n".join(blocks)


def _by_page(lines: list[Line]) -> str:
    blocks: list[str] = []
    for number in sorted({line.page for line in lines}):
        blocks.append(f"## Page {number}")
        blocks += _paragraphs([line for line in lines if line.page == number])
    return "\n\n".join(blocks)
