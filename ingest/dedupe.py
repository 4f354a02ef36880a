"""Collapse near-duplicate pages (a truncated copy of another page, a mirror).

Answers must never cite two copies of one passage, so only one page of a
near-duplicate group is kept and the others are recorded as its aliases.
"""

from __future__ import annotations

import re

from kb.types import Page

SHINGLE = 5
THRESHOLD = 0.8  # share of the smaller page's shingles found in the larger one


def shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i:i + SHINGLE])) for i in range(max(0, len(words) - SHINGLE + 1))}


def collapse_duplicates(pages: list[Page]) -> tuple[list[Page], dict[str, str]]:
    """Keep the longest page of each near-duplicate group; return {alias: kept}."""
    order = sorted(pages, key=lambda p: len(p.text), reverse=True)
    kept: list[tuple[Page, set[int]]] = []
    aliases: dict[str, str] = {}
    for page in order:
        sh = shingles(page.text)
        match = None
        for other, osh in kept:
            if sh and len(sh & osh) / len(sh) >= THRESHOLD:
                match = other
                break
        if match is None:
            kept.append((page, sh))
        else:
            aliases[page.source] = match.source
            dup = match.metadata.get("duplicates")
            match.metadata["duplicates"] = ", ".join(filter(None, [str(dup or ""), page.source]))
    keep = {p.source for p, _ in kept}
    return [p for p in pages if p.source in keep], aliases
