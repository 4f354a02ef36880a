"""Fetch pages over HTTP with a time limit and a size cap; each URL gets its own outcome.

The time limit is one deadline for the whole fetch of one URL (connect, every
redirect, headers and body): every socket read and write waits at most until that
deadline, so a server that drips its headers or body a byte at a time cannot hold
a run. The size cap is checked while reading, so a huge page is never held in memory.

Where a fetch may go: redirects are followed only to the URL's own host (or the
hosts in `allow_hosts`: `kb ingest --allow-host`, KB_FETCH_ALLOW_HOSTS) and only to
http(s) URLs, so another origin's text is never stored under the original URL and
a redirect never reaches file:// or other schemes. A sitemap's entries are fetched
only when they are on the sitemap's own host, as the sitemaps protocol requires.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlparse

from ingest.read import MAX_BYTES, RawDoc, Skipped, decode

TIMEOUT = 15.0
MAX_SITEMAP_URLS = 50_000
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


def _host(url: str) -> str:
    return (urlparse(url).hostname or "").lower()


class _Deadline:
    """The deadline of the fetch in progress; every socket operation is held to it."""

    def __init__(self) -> None:
        self.at = float("inf")

    def clamp(self, timeout: float | None, what: str) -> float:
        import httpcore

        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise (httpcore.ConnectTimeout if what == "connect" else httpcore.ReadTimeout)("fetch deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


def _deadline_transport(deadline: _Deadline) -> Any:
    """An httpx transport whose sockets never wait past `deadline` (httpx's own timeouts are per
    operation: a byte every few seconds would otherwise keep a fetch alive forever)."""
    import httpcore
    import httpx

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self.inner.read(max_bytes, deadline.clamp(timeout, "read"))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.inner.write(buffer, deadline.clamp(timeout, "write"))

        def close(self) -> None:
            self.inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:
            return Stream(self.inner.start_tls(ssl_context, server_hostname, deadline.clamp(timeout, "connect")))

        def get_extra_info(self, info: str) -> Any:
            return self.inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Iterable[Any] | None = None) -> Any:
            return Stream(self.inner.connect_tcp(host, port, deadline.clamp(timeout, "connect"), local_address,
                                                 socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Iterable[Any] | None = None) -> Any:
            return Stream(self.inner.connect_unix_socket(path, deadline.clamp(timeout, "connect"), socket_options))

    transport = httpx.HTTPTransport()
    transport._pool._network_backend = Backend()  # httpx has no public hook for the socket layer
    return transport


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _kind(url: str, content_type: str) -> str | None:
    ct = content_type.split(";")[0].strip().lower()
    path = url.lower().split("?", 1)[0].split("#", 1)[0]
    if ct == "application/pdf" or (ct in ("application/octet-stream", "") and path.endswith(".pdf")):
        return "pdf"
    if ct == DOCX_TYPE or (ct in ("application/octet-stream", "") and path.endswith(".docx")):
        return "docx"
    if "html" in ct:
        return "html"
    if ct in ("text/markdown", "text/x-markdown") or url.lower().endswith((".md", ".mdx", ".markdown")):
        return "md"
    if ct.startswith("text/"):
        return "txt"
    return None


def _read_capped(client, url: str, timeout: float, max_bytes: int,
                 allow_hosts: Sequence[str] = ()) -> tuple[int, dict, bytes] | Skipped:
    """(status, headers, body) of a GET, or why it failed; the body stops at max_bytes.

    Redirects are followed here, by hand, to the URL's own host and `allow_hosts` only."""
    import httpx

    deadline = time.monotonic() + timeout
    clock = getattr(client, "kb_deadline", None)
    if clock is not None:
        clock.at = deadline
    hosts = {_host(url), *(h.lower() for h in allow_hosts)}
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            got = _get_once(client, url, current, deadline, timeout, max_bytes)
            if not isinstance(got, str):
                return got
            target = urljoin(current, got)
            if urlparse(target).scheme not in ("http", "https"):
                return Skipped(url, f"redirected to {target[:200]!r}: only http(s) redirects are followed")
            if _host(target) not in hosts:
                return Skipped(url, f"redirected to another host ({_host(target)}): not followed "
                               f"(allow it with kb ingest --allow-host {_host(target)} or KB_FETCH_ALLOW_HOSTS)")
            current = target
        return Skipped(url, f"more than {MAX_REDIRECTS} redirects")
    except httpx.TimeoutException:
        return Skipped(url, f"timed out after {timeout:g}s (KB_FETCH_TIMEOUT)")
    except httpx.HTTPError as exc:
        return Skipped(url, f"fetch failed: {exc or type(exc).__name__}")
    finally:
        if clock is not None:
            clock.at = float("inf")


def _get_once(client, url: str, current: str, deadline: float, timeout: float,
              max_bytes: int) -> tuple[int, dict, bytes] | Skipped | str:
    """One GET: the response, why it failed, or (a str) the Location it redirects to."""
    with client.stream("GET", current, timeout=timeout, follow_redirects=False) as resp:
        if resp.status_code in REDIRECTS and resp.headers.get("location"):
            return str(resp.headers["location"])
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


def fetch_one(client, url: str, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES,
              allow_hosts: Sequence[str] = ()) -> RawDoc | Skipped:
    got = _read_capped(client, url, timeout, max_bytes, allow_hosts)
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
    """Page URLs listed in a sitemap (a sitemap index is followed one level down); entries on
    another host than the sitemap's are skipped, with the reason."""
    import xml.etree.ElementTree as ET

    got = _read_capped(client, url, timeout, max_bytes)
    if isinstance(got, Skipped):
        return [], [Skipped(url, f"sitemap: {got.reason}")]
    try:
        root = ET.fromstring(got[2])
    except ET.ParseError as exc:
        return [], [Skipped(url, f"sitemap is not XML: {exc}")]
    listed = [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text][:MAX_SITEMAP_URLS]
    locs = [loc for loc in listed if _host(loc) == _host(url) and urlparse(loc).scheme in ("http", "https")]
    elsewhere = [Skipped(loc, f"listed in {url} but not on its host ({_host(url)}): not fetched")
                 for loc in listed if loc not in locs]
    if not root.tag.endswith("sitemapindex"):
        return locs, elsewhere
    if depth >= 1:
        return [], [Skipped(url, "sitemap index nested too deep")]
    urls: list[str] = []
    failed: list[Skipped] = list(elsewhere)
    for loc in locs:
        more, bad = sitemap_urls(client, loc, timeout, max_bytes, depth + 1)
        urls += more
        failed += bad
    return urls, failed


def fetch_urls(urls: Sequence[str], sitemaps: Sequence[str] = (), *, timeout: float = TIMEOUT,
               max_bytes: int = MAX_BYTES, allow_hosts: Sequence[str] = ()) -> tuple[list[RawDoc], list[Skipped]]:
    import httpx

    docs: list[RawDoc] = []
    failed: list[Skipped] = []
    deadline = _Deadline()
    with httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": "kb-ingest/0.1"},
                      transport=_deadline_transport(deadline)) as client:
        client.kb_deadline = deadline  # type: ignore[attr-defined]
        targets = list(urls)
        for sm in sitemaps:
            more, bad = sitemap_urls(client, sm, timeout, max_bytes)
            targets += more
            failed += bad
        for url in dict.fromkeys(targets):
            got = fetch_one(client, url, timeout, max_bytes, allow_hosts)
            (failed if isinstance(got, Skipped) else docs).append(got)  # type: ignore[arg-type]
    return docs, failed
