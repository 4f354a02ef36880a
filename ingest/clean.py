"""Turn raw Markdown/MDX, HTML and text dumps into a Page with '#' headings.

Everything downstream (chunking, citations) relies on one shape: plain sentences
under Markdown headings, with page facts (title, description, keywords, term,
aliases) in metadata rather than in the text.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.read import RawDoc
from kb.types import Page

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
MDX_STATEMENT = re.compile(r"^\s*(import|export)\s")
JSX_TAG = re.compile(r"</?[A-Z][\w.]*(\s[^<>]*?)?/?>")
HTML_TAG = re.compile(r"</?[a-z][\w-]*(\s[^<>]*?)?/?>")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(\s+\"[^\"]*\")?\)")
MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


def to_page(raw: RawDoc) -> Page:
    if raw.kind == "html":
        title, text, meta = clean_html(raw.text)
    elif raw.kind == "md" or looks_like_markdown(raw.text):
        title, text, meta = clean_markdown(raw.text)
    else:
        title, text, meta = clean_text(raw.text)
    title = title or _title_from_source(raw.source)
    return Page(source=raw.source, title=title, text=text, kind=raw.kind, metadata=meta,
                modified=raw.modified, content_hash=raw.content_hash)


def looks_like_markdown(text: str) -> bool:
    """Text dumps of docs sites are often Markdown/MDX saved as .txt."""
    if FRONT_MATTER.match(text):
        return True
    return sum(1 for line in text.splitlines() if HEADING.match(line)) >= 2


def _title_from_source(source: str) -> str:
    name = source.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"\.(md|mdx|markdown|html?|txt)$", "", name, flags=re.I)
    return name.replace("-", " ").replace("_", " ").strip().capitalize() or source


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return meta, text[match.end():]


def clean_markdown(text: str) -> tuple[str, str, dict[str, Any]]:
    """Front matter to metadata; MDX import/export lines and JSX tags out, their text kept."""
    front, body = parse_front_matter(text)
    lines: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            lines.append(line)
            continue
        if in_fence:
            lines.append(line)
            continue
        if MDX_STATEMENT.match(line) and not line.strip().endswith((".", "?", "!")):
            continue
        line = JSX_TAG.sub(lambda m: _jsx_text(m.group(0)), line)
        line = HTML_TAG.sub("", line)
        line = MD_LINK.sub(lambda m: m.group(1), line)
        line = MD_EMPHASIS.sub(r"\2", line)
        lines.append(line.rstrip())
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = str(front.get("title") or "").strip()
    if not title:
        for line in body.splitlines():
            m = HEADING.match(line)
            if m and len(m.group(1)) == 1:
                title = m.group(2)
                break
    meta = {k: v for k, v in front.items() if isinstance(v, (str, int, float, bool, list))}
    return title, body, meta


def _jsx_text(tag: str) -> str:
    """Keep link targets and labels that live in JSX attributes, drop the rest of the tag."""
    parts = re.findall(r'(?:label|title|text)=["\']([^"\']+)["\']', tag)
    return " ".join(parts)


def clean_html(html: str) -> tuple[str, str, dict[str, Any]]:
    """Main content via trafilatura (scripts, nav, footers gone), headings kept as '#'."""
    import trafilatura

    text = trafilatura.extract(html, output_format="markdown", include_formatting=True, include_links=False,
                               include_comments=False, include_tables=True, favor_recall=True) or ""
    meta_obj = trafilatura.extract_metadata(html)
    title = (meta_obj.title if meta_obj and meta_obj.title else "") or ""
    meta: dict[str, Any] = {}
    if meta_obj and meta_obj.description:
        meta["description"] = meta_obj.description
    _title, body, _ = clean_markdown(text)
    return title or _title, body, meta


def clean_text(text: str) -> tuple[str, str, dict[str, Any]]:
    """Plain text: the first line is the title; short unpunctuated lines become headings."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines]
    while lines and not lines[0]:
        lines.pop(0)
    title = lines[0] if lines else ""
    out = [f"# {title}"] if title else []
    for i, line in enumerate(lines[1:], start=1):
        nxt = next((line2 for line2 in lines[i + 1:] if line2), "")
        if is_text_heading(line, nxt):
            out.extend(["", f"## {line}", ""])
        else:
            out.append(line)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return title, body, {}


def is_text_heading(line: str, following: str) -> bool:
    if not line or len(line) > 70 or len(line.split()) > 9:
        return False
    if line[-1] in ".,;:!)\"'”" or line.startswith(("-", "*", "•")):
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    return len(following) > len(line)
