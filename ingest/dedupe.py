"""Collapse near-duplicate pages (a truncated copy of another page, a mirror).

Answers must never cite two copies of one passage, so only one page of a
near-duplicate group is kept and the others are recorded as its aliases. Pages
are compared by their body text (headings left out) as 5-word shingles: page A
is a near-copy of B when most of A's shingles occur in B. The longest page of a
group is kept (ties: the smaller source name), so the outcome does not depend on
the order pages are listed or ingested in. Shingles shared by many pages are
site template, not evidence of copying, and are ignored.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from kb.types import Page

SHINGLE = 5
THRESHOLD = 0.8  # share of the smaller page's shingles found in the larger one
MAX_SHARED = 8  # a shingle on more pages than this is template text


def body_words(text: str) -> list[str]:
    """Words of the text without Markdown heading lines (chunks store bodies only)."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return re.findall(r"\w+", body.lower())


def shingles(words: Sequence[str]) -> set[int]:
    return {zlib.crc32(" ".join(words[i:i + SHINGLE]).encode()) for i in range(max(0, len(words) - SHINGLE + 1))}


def collapse_duplicates(pages: Sequence[Page], stored: Mapping[str, str] | None = None
                        ) -> tuple[list[Page], dict[str, str]]:
    """Keep one page of each near-duplicate group; return (kept pages of this run, {alias: kept source}).

    `stored` maps sources already in the store but not in this run to their text,
    so a copy ingested on its own later is still recognised (either way round).
    """
    items: dict[str, list[str]] = {p.source: body_words(p.text) for p in pages}
    for source, text in (stored or {}).items():
        items.setdefault(source, body_words(text))
    order = sorted(items, key=lambda s: (-len(items[s]), s))
    sets = {s: shingles(items[s]) for s in order}
    spread = Counter(sh for s in order for sh in sets[s])
    index: dict[int, list[str]] = defaultdict(list)  # shingle -> kept sources holding it
    aliases: dict[str, str] = {}
    for source in order:
        own = {sh for sh in sets[source] if spread[sh] <= MAX_SHARED}
        hits = Counter(k for sh in own for k in index.get(sh, ()))
        match = next((k for k, n in sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
                      if n / len(own) >= THRESHOLD), None)
        if match is None:
            for sh in own:
                index[sh].append(source)
        else:
            aliases[source] = match
    return [p for p in pages if p.source not in aliases], aliases
