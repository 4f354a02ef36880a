"""Fetch pages over HTTP with a time limit and a size cap; each URL gets its own outcome.

The time limit is for the whole fetch of one URL (connect, headers and body), so
a server that drips bytes cannot hold a run; the size cap is checked while
reading, so a huge page is never held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.read import MAX_BYTES, RawDoc, Skipped, decode

TIMEOUT = 15.0
MAX_SITEMAP_URLS = 50_000


def _kind(url: str, content_type: str) -> str | None:
    ct = content_type.split(";")[0].strip().lower()
    if "html" in ct:
        return "html"
    if ct in ("text/markdown", "text/x-markdown") or url.lower().endswith((".md", ".mdx", ".markdown")):
        return "md"
    if ct.startswith("text/"):
        return "txt"
    return None


def _read_capped(client, url: str, timeout: float, max_bytes: int) -> tuple[int, dict, bytes] | Skipped:
    """(status, headers, body) of a GET, or why it failed; the body stops at max_bytes."""
    import httpx

    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url, timeout=timeout) as resp:
            if resp.status_code >= 400:
                return Skipped(url, f"HTTP {resp.status_code}")
            declared = int(resp.headers.get("content-length") or 0)
            if declared > max_bytes:
                return Skipped(url, f"too large ({declared // 1024} KiB > {max_bytes // 1024} KiB)")
            parts: list[bytes] = []
            size = 0
            for part in resp.iter_bytes():
                parts.append(part)
                size += len(part)
                if size > max_bytes:
                    return Skipped(url, f"too large (> {max_bytes // 1024} KiB)")
                if time.monotonic() > deadline:
                    return Skipped(url, f"timed out after {timeout:g}s (KB_FETCH_TIMEOUT)")
            return resp.status_code, dict(resp.headers), b"".join(parts)
    except httpx.TimeoutException:
        return Skipped(url, f"timed out after {timeout:g}s (KB_FETCH_TIMEOUT)")
    except httpx.HTTPError as exc:
        return Skipped(url, f"fetch failed: {exc or type(exc).__name__}")


def fetch_one(client, url: str, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> RawDoc | Skipped:
    got = _read_capped(client, url, timeout, max_bytes)
    if isinstance(got, Skipped):
        return got
    _, headers, data = got
    kind = _kind(url, headers.get("content-type", ""))
    if kind is None:
        return Skipped(url, f"unsupported content type {headers.get('content-type', '?')!r}")
    modified = headers.get("last-modified") or datetime.now(UTC).isoformat(timespec="seconds")
    return decode(url, data, kind, _iso(modified))


def _iso(value: str) -> str:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).astimezone(UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return value


def sitemap_urls(client, url: str, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES,
                 depth: int = 0) -> tuple[list[str], list[Skipped]]:
    """Page URLs listed in a sitemap (a sitemap index is followed one level down)."""
    import xml.etree.ElementTree as ET

    got = _read_capped(client, url, timeout, max_bytes)
    if isinstance(got, Skipped):
        return [], [Skipped(url, f"sitemap: {got.reason}")]
    try:
        root = ET.fromstring(got[2])
    except ET.ParseError as exc:
        return [], [Skipped(url, f"sitemap is not XML: {exc}")]
    locs = [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text][:MAX_SITEMAP_URLS]
    if not root.tag.endswith("sitemapindex"):
        return locs, []
    if depth >= 1:
        return [], [Skipped(url, "sitemap index nested too deep")]
    urls: list[str] = []
    failed: list[Skipped] = []
    for loc in locs:
        more, bad = sitemap_urls(client, loc, timeout, max_bytes, depth + 1)
        urls += more
        failed += bad
    return urls, failed


def fetch_urls(urls: Sequence[str], sitemaps: Sequence[str] = (), *, timeout: float = TIMEOUT,
               max_bytes: int = MAX_BYTES) -> tuple[list[RawDoc], list[Skipped]]:
    import httpx

    docs: list[RawDoc] = []
    failed: list[Skipped] = []
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": "kb-ingest/0.1"}) as client:
        targets = list(urls)
        for sm in sitemaps:
            more, bad = sitemap_urls(client, sm, timeout, max_bytes)
            targets += more
            failed += bad
        for url in dict.fromkeys(targets):
            got = fetch_one(client, url, timeout, max_bytes)
            (failed if isinstance(got, Skipped) else docs).append(got)  # type: ignore[arg-type]
    return docs, failed
