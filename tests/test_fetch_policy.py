"""Issue 14, item 3: where `kb ingest URL` may go, and how long it may take.

Loopback servers only: 127.0.0.1 is "our" host; `localhost` (the same machine, another host
name) plays the other origin.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.network

PAGE = b"<html><head><title>Ours</title></head><body><main><h1>Ours</h1><p>Our page text about widgets, " \
       b"which are small reusable parts of a larger system.</p></main></body></html>"
THEIRS = b"<html><head><title>Theirs</title></head><body><main><h1>Theirs</h1><p>Text from another origin that " \
         b"must never be stored under our URL.</p></main></body></html>"


class Site:
    def __init__(self) -> None:
        site = self
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                status, headers, body = site.routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for k, v in {"Content-Type": "text/html", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.other = f"http://localhost:{self.port}"  # same server, another host name
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def fetch(urls, sitemaps=(), **kw):
    from ingest.fetch import fetch_urls

    docs, skipped = fetch_urls(urls, sitemaps, timeout=kw.pop("timeout", 10), **kw)
    return {d.source: d for d in docs}, {s.source: s.reason for s in skipped}


def test_redirects_stay_on_the_host_unless_allowed(site):
    site.routes["/ours"] = (200, {}, PAGE)
    site.routes["/theirs"] = (200, {}, THEIRS)
    site.routes["/moved"] = (301, {"Location": "/ours"}, b"")
    site.routes["/away"] = (302, {"Location": f"{site.other}/theirs"}, b"")
    site.routes["/file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    site.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    docs, skipped = fetch([f"{site.url}/moved", f"{site.url}/away", f"{site.url}/file", f"{site.url}/loop"])
    assert set(docs) == {f"{site.url}/moved"}
    assert "another host (localhost)" in skipped[f"{site.url}/away"] and "--allow-host" in skipped[f"{site.url}/away"]
    assert "only http(s) redirects" in skipped[f"{site.url}/file"]
    assert "redirects" in skipped[f"{site.url}/loop"]
    docs, skipped = fetch([f"{site.url}/away"], allow_hosts=["localhost"])
    assert set(docs) == {f"{site.url}/away"} and not skipped


def test_cli_allow_host_and_other_origin_text_never_stored(site, tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli
    from kb.settings import load_settings
    from kb.store import Store

    site.routes["/theirs"] = (200, {}, THEIRS)
    site.routes["/away"] = (302, {"Location": f"{site.other}/theirs"}, b"")
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", f"{site.url}/away", "--json"])
    assert res.exit_code == 1
    assert "another host" in json.loads(res.stdout)["skipped"][0]["reason"]
    assert Store(load_settings()).count() == 0
    res = runner.invoke(cli, ["ingest", f"{site.url}/away", "--allow-host", "localhost", "--json"])
    assert res.exit_code == 0, res.output
    assert "another origin" in "\n".join(c.text for c in Store(load_settings()).all_chunks())


def test_sitemap_entries_only_on_the_sitemaps_host(site):
    site.routes["/ours"] = (200, {}, PAGE)
    site.routes["/theirs"] = (200, {}, THEIRS)
    locs = "".join(f"<url><loc>{u}</loc></url>" for u in (f"{site.url}/ours", f"{site.other}/theirs",
                                                          "file:///etc/passwd"))
    site.routes["/sitemap.xml"] = (200, {"Content-Type": "application/xml"},
                                   f'<?xml version="1.0"?><urlset>{locs}</urlset>'.encode())
    docs, skipped = fetch([], [f"{site.url}/sitemap.xml"])
    assert set(docs) == {f"{site.url}/ours"}
    assert "not on its host" in skipped[f"{site.other}/theirs"]
    assert "file:///etc/passwd" in skipped


def test_one_deadline_for_a_server_that_drips_its_headers():
    """The server sends a header byte every 0.2 s for 30 s: each read is quick, the fetch is not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(4096)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(150):
                    if stop.is_set():
                        break
                    conn.sendall(b"X")
                    time.sleep(0.2)
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=drip, daemon=True).start()
    try:
        start = time.monotonic()
        docs, skipped = fetch([f"http://127.0.0.1:{port}/slow"], timeout=2)
        took = time.monotonic() - start
    finally:
        stop.set()
        listener.close()
    assert not docs and "timed out after 2s" in skipped[f"http://127.0.0.1:{port}/slow"]
    assert took < 15, took  # one 2 s deadline (generous margin for a loaded machine), not 30 s
