"""Where a citation links to: the page's own web address, else a file path.

People click sources, and a path on the server that runs kb opens nothing. A page's
address is, first found wins: its front matter `url:` (kept in chunk metadata by
ingest), the URL it was fetched from (its source), or `source_urls`, a setting that
maps a local folder to the base URL the same files are published under (a docs site,
a Git host's file view). Only http(s) addresses are links: a front matter value like
`javascript:...` is ignored, so a page cannot plant one in Slack or a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from kb.text import is_url
from kb.types import Chunk

MARKUP_SUFFIXES = (".md", ".mdx", ".markdown", ".rst", ".txt", ".html", ".htm", ".qmd", ".ipynb", ".pdf", ".docx")


def link_for(chunk: Chunk, source_urls: Mapping[str, str] | None = None) -> str:
    """The web address of the chunk's page, or '' when it has none (a bare local file)."""
    declared = str(chunk.metadata.get("url") or "").strip()
    if is_url(declared):
        return declared
    if is_url(chunk.source):
        return chunk.source
    return mapped_url(chunk.source, source_urls or {})


def mapped_url(path: str, source_urls: Mapping[str, str]) -> str:
    """`path` under the longest matching folder of `source_urls`, as a URL below that folder's base.

    A base with `{path}` gets the path relative to the folder ('guide/intro.md'), with
    `{stem}` the same without a markup suffix ('guide/intro', for sites that drop it);
    any other base gets the relative path appended ('https://git.example.com/docs/blob/main/'
    + 'guide/intro.md').
    """
    best = ""
    for folder in source_urls:
        root = folder.rstrip("/")
        if (path == root or path.startswith(root + "/")) and len(root) > len(best.rstrip("/")):
            best = folder
    if not best:
        return ""
    relative = path[len(best.rstrip("/")):].lstrip("/")
    base = source_urls[best]
    stem = relative
    suffix = PurePosixPath(relative).suffix.lower()
    if suffix in MARKUP_SUFFIXES:
        stem = relative[: -len(suffix)]
    if "{path}" in base or "{stem}" in base:
        return base.replace("{path}", relative).replace("{stem}", stem)
    return base.rstrip("/") + "/" + relative if relative else base
