"""Fetch pages over HTTP with timeouts and a size cap; each URL gets its own outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ingest.read import MAX_BYTES, RawDoc, Skipped, decode

TIMEOUT = 15.0


def _kind(url: str, content_type: str) -> str | None:
    ct = content_type.split(";")[0].strip().lower()
    if "html" in ct:
        return "html"
    if ct in ("text/markdown", "text/x-markdown") or url.lower().endswith((".md", ".mdx", ".markdown")):
        return "md"
    if ct.startswith("text/"):
        return "txt"
    return None


def fetch_one(client, url: str) -> RawDoc | Skipped:
    import httpx

    try:
        with client.stream("GET", url) as resp:
            if resp.status_code >= 400:
                return Skipped(url, f"HTTP {resp.status_code}")
            kind = _kind(url, resp.headers.get("content-type", ""))
            if kind is None:
                return Skipped(url, f"unsupported content type {resp.headers.get('content-type', '?')!r}")
            data = b""
            for part in resp.iter_bytes():
                data += part
                if len(data) > MAX_BYTES:
                    return Skipped(url, f"too large (> {MAX_BYTES // 1024} KiB)")
            modified = resp.headers.get("last-modified") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    except httpx.TimeoutException:
        return Skipped(url, f"timed out after {TIMEOUT:.0f}s")
    except httpx.HTTPError as exc:
        return Skipped(url, f"fetch failed: {exc}")
    return decode(url, data, kind, _iso(modified))


def _iso(value: str) -> str:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).astimezone(timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return value


def sitemap_urls(client, url: str) -> list[str] | Skipped:
    import xml.etree.ElementTree as ET

    got = client.get(url)
    if got.status_code >= 400:
        return Skipped(url, f"sitemap HTTP {got.status_code}")
    try:
        root = ET.fromstring(got.content)
    except ET.ParseError as exc:
        return Skipped(url, f"sitemap is not XML: {exc}")
    return [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]


def fetch_urls(urls: Sequence[str], sitemaps: Sequence[str] = ()) -> tuple[list[RawDoc], list[Skipped]]:
    import httpx

    docs: list[RawDoc] = []
    failed: list[Skipped] = []
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True, headers={"User-Agent": "kb-ingest/0.1"}) as client:
        targets = list(urls)
        for sm in sitemaps:
            try:
                got = sitemap_urls(client, sm)
            except httpx.HTTPError as exc:
                got = Skipped(sm, f"sitemap fetch failed: {exc}")
            if isinstance(got, Skipped):
                failed.append(got)
            else:
                targets.extend(got)
        for url in dict.fromkeys(targets):
            got = fetch_one(client, url)
            (failed if isinstance(got, Skipped) else docs).append(got)  # type: ignore[arg-type]
    return docs, failed
