"""Split a page into section-aware chunks that fit the embedder's window.

MiniLM reads 256 word pieces; past that it silently truncates. A chunk is one
heading's section, split at paragraph and then sentence boundaries when longer
than MAX_WORDS, so every chunk is embedded whole and quotes stay inside a section.
"""

from __future__ import annotations

import hashlib
import json
import re

from ingest.clean import FENCE, HEADING
from ingest.fences import code_lines
from kb.text import split_sentences
from kb.types import Chunk, Page

MAX_WORDS = 150  # ~200 word pieces of English, under MiniLM's 256 with the title prefix
MIN_WORDS = 8
CHUNKER_VERSION = "4"  # 4: one sentence splitter for ingest and query (kb/text.py); code blocks whole
PAGE_KEYS = ("description", "keywords", "term", "aliases", "duplicates", "url")
TIME_KEYS = ("ingested", "modified")
def sections(page: Page) -> list[tuple[str, str]]:
    """(heading, body) pairs in page order; text before the first heading gets the title.

    A body that ends in a lead-in ('There are three main types:') whose list is the
    subsections that follow gets their headings as its list, so the lead-in's chunk
    answers 'what are the types' on its own.
    """
    found: list[tuple[int, str, str]] = []
    level, heading, buf = 0, page.title, []
    lines = page.text.splitlines()
    for line, code in zip(lines, code_lines(lines), strict=True):
        m = None if code else HEADING.match(line)  # a '# comment' in a code block is no heading
        if m:
            found.append((level, heading, "\n".join(buf).strip()))
            level, heading, buf = len(m.group(1)), m.group(2).strip() or heading, []
        else:
            buf.append(line)
    found.append((level, heading, "\n".join(buf).strip()))
    out = []
    for k, (level, heading, body) in enumerate(found):
        if body.endswith(":"):
            body += "".join(f"\n{item}" for item in _subsection_list(level, found[k + 1:]))
        if body:
            out.append((heading, body))
    return out


NUMBERED = re.compile(r"^\d+[.)]\s")
LIST_START = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s")


def _subsection_list(level: int, following: list[tuple[int, str, str]]) -> list[str]:
    """List lines for the headings a lead-in announces: the numbered ones right after it
    (plain-text pages have no heading levels), or else its child headings."""
    items: list[str] = []
    numbered = bool(following) and bool(NUMBERED.match(following[0][1]))
    child = following[0][0] if following else 0
    for lvl, heading, _ in following:
        if lvl > child:
            continue  # a grandchild
        if lvl != child or (numbered and not NUMBERED.match(heading)) or (not numbered and lvl <= level):
            break
        items.append(heading if numbered else f"- {heading}")
    return items


def _pieces(body: str) -> list[str]:
    """Paragraph-aligned pieces of at most MAX_WORDS words (a longer sentence stands alone, and so
    does a longer code block: cut inside, its lines would read as prose in the next chunk)."""
    pieces: list[str] = []
    cur: list[str] = []
    count = 0
    for para in _code_whole(re.split(r"\n\s*\n", body)):
        code = any(FENCE.match(line) for line in para.splitlines())
        units = [para] if code or len(para.split()) <= MAX_WORDS else split_sentences(para)
        for unit in units:
            words = len(unit.split())
            if cur and count + words > MAX_WORDS:
                # a lead-in ('They compare as follows:') goes with the list it introduces: left at the end of
                # a piece without it, it could only be dropped as junk (kb/junk.py), and the list lost its label
                carry = [cur.pop()] if len(cur) > 1 and cur[-1].endswith(":") and LIST_START.match(unit) else []
                pieces.append("\n\n".join(cur))
                cur, count = carry, sum(len(c.split()) for c in carry)
            cur.append(unit.strip())
            count += words
    if cur:
        pieces.append("\n\n".join(cur))
    return [p for p in pieces if p.strip()]


def _code_whole(paras: list[str]) -> list[str]:
    """Paragraphs with a fenced code block's blank-line-separated parts joined back into one."""
    out: list[str] = []
    open_fence = False
    for para in paras:
        if open_fence:
            out[-1] += "\n\n" + para
        else:
            out.append(para)
        open_fence ^= sum(1 for line in para.splitlines() if FENCE.match(line)) % 2 == 1
    return out


def chunk_id(source: str, position: int) -> str:
    return hashlib.sha1(f"{source}\x00{position}".encode()).hexdigest()[:24]


def chunk_page(page: Page, ingested: str = "") -> list[Chunk]:
    texts: list[tuple[str, str]] = []
    for heading, body in sections(page):
        for piece in _pieces(body):
            if texts and len(piece.split()) < MIN_WORDS and texts[-1][0] == heading:
                texts[-1] = (heading, texts[-1][1] + "\n\n" + piece)
            else:
                texts.append((heading, piece))
    # stored form already (lists comma-joined), so fingerprints match what the store gives back
    meta = {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
            for k, v in page.metadata.items() if k in PAGE_KEYS and v not in ("", None, [])}
    meta.update({"modified": page.modified, "ingested": ingested, "kind": page.kind,
                 "content_hash": page.content_hash})
    chunks = [
        Chunk(id=chunk_id(page.source, i), text=text, source=page.source, title=page.title, section=heading,
              position=i, page_chunks=len(texts), metadata=dict(meta))
        for i, (heading, text) in enumerate(texts)
    ]
    _tag_entries(chunks, page.metadata.get("glossary_entries") or [])
    return stamp(chunks)


def _tag_entries(chunks: list[Chunk], entries: list[list[str]]) -> None:
    """A glossary page's chunks name the entries they hold (`entries`: 'name; other name; ...').

    An entry is held by the chunk under its heading, or by the chunk with its
    `term: definition` line (a table row). Retrieval routes "what is X" to it.
    """
    if not entries:
        return
    for c in chunks:
        starts = {line.split(": ", 1)[0].strip() for line in c.text.splitlines() if ": " in line}
        names = [n for shown, *rest in entries if shown == c.section or shown in starts for n in (rest or [shown])]
        if names:
            c.metadata["entries"] = "; ".join(dict.fromkeys(names))


def stamp(chunks: list[Chunk]) -> list[Chunk]:
    """Fingerprint one page's chunks: `page_hash` covers what is embedded, `meta_hash` the rest.

    A page whose fingerprints match the store is unchanged; a page whose text
    matches but metadata does not (e.g. a new duplicate recorded) is rewritten
    without embedding it again.
    """
    text = hashlib.sha1(CHUNKER_VERSION.encode())
    meta = hashlib.sha1()
    for c in chunks:
        text.update(c.embed_text().encode() + b"\x00")
        kept = {k: v for k, v in c.metadata.items() if k not in TIME_KEYS + ("meta_hash",)}
        meta.update(json.dumps([c.id, c.position, c.page_chunks, kept], sort_keys=True, default=str).encode())
    for c in chunks:
        c.page_hash = text.hexdigest()[:16]
        c.metadata["meta_hash"] = meta.hexdigest()[:16]
    return chunks
