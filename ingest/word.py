"""Word (.docx) files to a Markdown page, through python-docx (MIT, no models).

Heading styles carry the document's structure, so they become Markdown headings and
chunking gets one passage per section: `Title` is `#`, `Heading 1` `##`, `Heading 2`
`###` ... (a document without a Title style starts at `Heading 1` = `#`). List styles
become `- ` / `1. ` items; tables follow the RST reader's rule (a two-column row is
`term: definition`, a wider row `Header: value; Header: value`). The document's title
property, when set, is the page title. Body and tables are read in document order;
headers, footers and comments are left out (page chrome, not content).
"""

from __future__ import annotations

import io
import json
import re

HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)


def docx_to_markdown(data: bytes) -> str:
    """The document as Markdown; ValueError (the reason) when it is not a readable .docx."""
    import zipfile

    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        doc = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"could not be parsed: not a valid .docx ({exc or type(exc).__name__}); "
                         "an old .doc or an encrypted file must be saved as .docx first") from None
    items = list(doc.iter_inner_content())
    has_title = any(_style(p) == "title" for p in items if hasattr(p, "style"))
    blocks: list[str] = []
    for item in items:
        block = _paragraph(item, has_title) if hasattr(item, "style") and hasattr(item, "runs") else _table(item)
        if block:
            blocks.append(block)
    title = (doc.core_properties.title or "").strip()
    front = f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\n\n" if title else ""
    return front + _join_lists(blocks) + "\n"


def _style(paragraph) -> str:
    try:
        return (paragraph.style.name or "").strip().lower() if paragraph.style is not None else ""
    except (KeyError, AttributeError):
        return ""


def _paragraph(paragraph, has_title: bool) -> str:
    text = " ".join(paragraph.text.split())
    if not text:
        return ""
    style = _style(paragraph)
    if style == "title":
        return f"# {text}"
    heading = HEADING_STYLE.match(style)
    if heading:
        return "#" * min(int(heading.group(1)) + (1 if has_title else 0), 6) + " " + text
    if style.startswith("list number"):
        return f"1. {text}"
    if style.startswith("list"):
        return f"- {text}"
    return "\\" + text if text.startswith(("#", "<", ":::")) else text


def _table(table) -> str:
    rows = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or text != cells[-1]:  # a merged cell repeats itself across the columns it spans
                cells.append(text)
        rows.append(cells)
    if not rows:
        return ""
    header, lines = rows[0], []
    for cells in rows[1:] if len(rows) > 1 and len(header) > 2 else rows:
        if len(cells) == 2 and all(cells):
            lines.append(f"{cells[0]}: {cells[1]}")
        elif len(cells) > 2:
            lines.append("; ".join(f"{h}: {v}" if h else v for h, v in zip(header, cells, strict=False) if v))
        elif any(cells):
            lines.append(" ".join(c for c in cells if c))
    return "\n\n".join(line for line in lines if line)


def _join_lists(blocks: list[str]) -> str:
    """List items sit on consecutive lines (one list), everything else is a paragraph of its own."""
    out = ""
    for i, block in enumerate(blocks):
        item = block.startswith(("- ", "1. "))
        if i:
            out += "\n" if item and blocks[i - 1].startswith(("- ", "1. ")) else "\n\n"
        out += block
    return out
