"""Ingest end to end: duplicates, incremental runs, bad files, locking, crashes and URLs.

Real Chroma stores on temp folders, the real embedding model (session fixture),
real `kb` processes where concurrency or crashes are the point, and a real HTTP
server on loopback standing in for a website.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.synth import write_corpus
from ingest.pipeline import run_ingest
from kb.cli import cli
from kb.settings import load_settings
from kb.store import Store
from tests.helpers import KB, ROOT, run_kb, wait_for

SHARED = ROOT.parent / "shared" / "corpus"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpus is absent")
TIME_KEYS = {"ingested", "modified", "_node_content"}  # _node_content repeats the metadata, times included


def ingest(paths, store_dir: Path, embedder, **kw):
    settings = load_settings(store=store_dir)
    store = Store(settings)
    report = run_ingest([str(p) for p in paths], settings, store, embedder, progress=False, **kw)
    return report, store


def snapshot(store: Store) -> dict[str, tuple[str, dict]]:
    """Every chunk: id -> (document, metadata apart from times)."""
    got = store.collection.get(include=["documents", "metadatas"])
    return {cid: (doc, {k: v for k, v in meta.items() if k not in TIME_KEYS})
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}


def sources(store: Store) -> set[str]:
    return {c.source for c in store.all_chunks()}


def seed(prefix: str) -> Path:
    """A seed page by its number, as the absolute path kb records (symlinks resolved)."""
    return next(SHARED.glob(f"{prefix}_*.txt")).resolve()


def never_loaded():
    raise AssertionError("the embedder was loaded although nothing needed embedding")


# -- near-duplicates -------------------------------------------------------------------------

@needs_shared
def test_truncated_copy_is_an_alias_and_search_never_cites_both(tmp_path, embedder):
    report, store = ingest([SHARED], tmp_path / "store", embedder)
    truncated, full = str(seed("000")), str(seed("001"))
    assert report.aliases == {truncated: full}
    assert truncated not in sources(store) and full in sources(store)
    full_chunks = [c for c in store.all_chunks() if c.source == full]
    assert all(c.metadata["duplicates"] == truncated for c in full_chunks)
    by_source = {c.source: c.metadata for c in store.all_chunks()}
    glossary = by_source[str(seed("002"))]
    assert glossary["term"] == "Base Model"
    assert {"foundation model", "pre-trained model"} <= {a.strip() for a in glossary["aliases"].split(",")}
    assert by_source[str(seed("003"))]["term"] == "Base Model"
    assert "term" not in by_source[full]
    # freshness travels with every chunk
    assert all(c.metadata["ingested"] and c.metadata["modified"] for c in store.all_chunks())

    runner = CliRunner()
    env = {"KB_STORE": str(tmp_path / "store")}
    for query in ("what are base models also called", "mixture of experts routing",
                  "instruction-tuned models follow prompts", "choosing the right model type"):
        res = runner.invoke(cli, ["search", query, "-k", "10", "--json"], env=env)
        assert res.exit_code == 0, res.output
        hits = json.loads(res.stdout)["hits"]
        assert hits
        found = {h["source"] for h in hits}
        assert truncated not in found
        assert not (truncated in found and full in found)


@needs_shared
def test_duplicates_end_in_the_same_store_in_any_order(tmp_path, embedder):
    folder = tmp_path / "pages"
    folder.mkdir()
    truncated, full = (Path(shutil.copy(seed(p), folder)).resolve() for p in ("000", "001"))

    _, together = ingest([folder], tmp_path / "together", embedder)
    _, reversed_args = ingest([full, truncated], tmp_path / "args", embedder)
    short_first = tmp_path / "short-first"
    ingest([truncated], short_first, embedder)
    second, short_first_store = ingest([full], short_first, embedder)
    assert second.aliases == {str(truncated): str(full)} and second.removed == [str(truncated)]
    long_first = tmp_path / "long-first"
    ingest([full], long_first, embedder)
    second, long_first_store = ingest([truncated], long_first, embedder)
    assert second.aliases == {str(truncated): str(full)} and second.chunks_written == 0

    expected = snapshot(together)
    assert {m["source"] for _, m in expected.values()} == {str(full)}
    for store in (reversed_args, short_first_store, long_first_store):
        assert snapshot(store) == expected

    # the copy recorded by an earlier run stays recorded when the kept page is ingested alone
    again, _ = ingest([full], long_first, embedder=never_loaded)
    assert again.unchanged == [str(full)]
    assert snapshot(long_first_store) == expected

    # with only one copy left (and --prune), the survivor is a page of its own
    full.unlink()
    after, store = ingest([folder], together.settings.store, embedder, prune=True)
    assert after.removed == [str(full)] and after.added == [str(truncated)] and not after.aliases
    assert sources(store) == {str(truncated)}
    assert all("duplicates" not in c.metadata for c in store.all_chunks())


# -- incremental runs ---------------------------------------------------------------------------

def test_incremental_counts_updates_prune_and_drift(tmp_path, embedder):
    folder = tmp_path / "pages"
    paths = write_corpus(folder, 6)
    store_dir = tmp_path / "store"
    first, store = ingest([folder], store_dir, embedder)
    assert len(first.added) == 6 and first.chunks_written == store.count() > 0

    # nothing changed: every page is skipped before anything is embedded
    same, _ = ingest([folder], store_dir, embedder=never_loaded)
    assert len(same.unchanged) == 6 and same.chunks_written == 0 and not same.added + same.updated

    # a touched file is not a change, and not drift
    os.utime(paths[0], (time.time() + 5, time.time() + 5))
    runner = CliRunner()
    env = {"KB_STORE": str(store_dir)}
    status = json.loads(runner.invoke(cli, ["status", "--json"], env=env).stdout)
    assert status["drift"] == [] and status["pages"] == 6

    # an edited page: drift until re-ingested, then updated with its old chunks gone
    target = paths[1]
    before = {c.id: c.text for c in store.all_chunks() if c.source == str(target.resolve())}
    lines = target.read_text().splitlines()
    how, example, related = (lines.index(h) for h in ("## How it works", "## Example", "## Related terms"))
    # new text under one heading, and a whole section (one chunk) gone
    target.write_text("\n".join(lines[:how + 2] + ["A short paragraph replaces the old explanation here.", ""]
                                + lines[related:]) + "\n")
    assert example < related
    os.utime(target, (time.time() + 10, time.time() + 10))
    status = json.loads(runner.invoke(cli, ["status", "--json"], env=env).stdout)
    assert [d["source"] for d in status["drift"]] == [str(target.resolve())]
    changed, store = ingest([folder], store_dir, embedder)
    assert changed.updated == [str(target.resolve())] and len(changed.unchanged) == 5
    after = {c.id: c.text for c in store.all_chunks() if c.source == str(target.resolve())}
    assert any("short paragraph replaces" in t for t in after.values())
    assert not any("short paragraph replaces" in t for t in before.values())
    assert len(after) < len(before)  # one chunk fewer: the stale one was deleted
    assert not (set(before) - set(after)) & {c.id for c in store.all_chunks()}
    assert store.count() == changed.total_chunks

    # a deleted page stays until --prune, which reports it removed (CLI, --json counts)
    paths[2].unlink()
    kept = runner.invoke(cli, ["ingest", str(folder), "--json"], env=env)
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["counts"]["removed"] == 0
    pruned = runner.invoke(cli, ["ingest", str(folder), "--prune", "--json"], env=env)
    assert pruned.exit_code == 0, pruned.output
    counts = json.loads(pruned.stdout)["counts"]
    assert counts == {"added": 0, "updated": 0, "unchanged": 5, "removed": 1, "skipped": 0, "aliases": 0}
    assert str(paths[2].resolve()) not in sources(Store(load_settings(store=store_dir)))


def test_bad_files_each_get_an_outcome_and_the_rest_is_ingested(tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "good.md").write_text("# Widget\n\nA widget is a small part of a screen that shows one value.\n")
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "empty.md").write_text("  \n\n")
    (folder / "latin1.txt").write_bytes("Caf\u00e9 menus are short lists of dishes.".encode("latin-1"))
    (folder / "big.md").write_text("# Big\n\n" + "word " * 3000)
    (folder / "picture.png").write_bytes(b"\x89PNG")  # not a page type: reported, but not a failure
    named = tmp_path / "notes.pptx"
    named.write_bytes(b"%PDF-1.4")
    res = CliRunner().invoke(cli, ["ingest", str(folder), str(named), "--json"],
                             env={"KB_MAX_PAGE_BYTES": "10000"})
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert reasons["binary.md"].startswith("binary")
    assert reasons["empty.md"] == "empty"
    assert reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["big.md"].startswith("too large")
    assert reasons["notes.pptx"].startswith("unsupported file type")
    assert reasons["picture.png"].startswith("unsupported file type '.png'")
    assert [s["rule"] for s in report["skipped"] if s["source"].endswith("picture.png")] == [True]
    assert [Path(s).name for s in report["added"]] == ["good.md"]


def test_a_folder_page_with_nothing_to_index_is_reported_not_a_failure(tmp_path):
    """Real docs folders hold pages with nothing to say (a Sphinx index.rst that is only a toctree, an empty
    placeholder): each run over the folder, and each `kb sync`, exited 1 for them. Named on its own, such a file
    is still a failure: the user asked for that page."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text("# Widget\n\nA widget is a small part of a screen that shows one value.\n")
    (folder / "placeholder.md").write_text("\n")
    (folder / "index.rst").write_text("Docs\n====\n\n.. toctree::\n   :maxdepth: 2\n\n   good\n")
    store = str(tmp_path / "s")
    res = CliRunner().invoke(cli, ["--store", store, "ingest", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    outcome = {Path(s["source"]).name: (s["reason"], s["rule"]) for s in report["skipped"]}
    assert outcome == {"placeholder.md": ("empty", True), "index.rst": ("no text left after cleaning", True)}
    assert [Path(s).name for s in report["added"]] == ["good.md"]
    for named in ("placeholder.md", "index.rst"):
        res = CliRunner().invoke(cli, ["--store", store, "ingest", str(folder / named)])
        assert res.exit_code == 1, (named, res.output)


# -- two ingests at once, and a killed one --------------------------------------------------------

def _owner_pid(store_dir: Path) -> int | None:
    try:
        return json.loads((store_dir / "ingest.owner.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_second_ingest_stops_or_waits_for_the_first(tmp_path):
    folder = tmp_path / "pages"
    write_corpus(folder, 20)
    store_dir = tmp_path / "store"
    env = {**os.environ, "KB_STORE": str(store_dir)}
    first = subprocess.Popen([*KB, "ingest", str(folder), "--wait", "60"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _owner_pid(store_dir) == first.pid or first.poll() is not None, 120, 0.02)
        os.kill(first.pid, signal.SIGSTOP)  # hold the lock for as long as the test needs
        assert first.poll() is None, "the first ingest finished before it could be paused"

        second = run_kb("ingest", str(folder), env={"KB_STORE": str(store_dir)}, timeout=120)
        assert second.returncode == 1
        assert "another `kb ingest`" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        log = tmp_path / "third.err"
        with log.open("w") as err:
            third = subprocess.Popen([*KB, "ingest", str(folder), "--wait", "300", "--json"], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=err, text=True)
        assert wait_for(lambda: "waiting up to 300s" in log.read_text() or third.poll() is not None, 120, 0.02)
        assert third.poll() is None and f"pid {first.pid}" in log.read_text()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "added 20" in out
    assert "page/s" not in err and "it/s" not in err  # no progress bars when stderr is not a terminal
    third_out, _ = third.communicate(timeout=300)
    assert third.returncode == 0
    assert json.loads(third_out)["counts"]["unchanged"] == 20


def test_sigkill_half_way_then_rerun_equals_one_clean_run(tmp_path, embedder):
    folder = tmp_path / "pages"
    write_corpus(folder, 40, seed=7)
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([*KB, "ingest", str(folder)], env={**os.environ, "KB_STORE": str(killed_dir)}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stored() -> int:
        try:
            with sqlite3.connect(f"file:{killed_dir / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=1) as db:
                return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        except sqlite3.Error:
            return 0

    try:
        assert wait_for(lambda: stored() > 0 or proc.poll() is not None, 300, 0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = stored()
    assert partial > 0
    assert (killed_dir / "ingest.lock").exists()  # the dead process's lock file is still there...

    clean_report, clean = ingest([folder], tmp_path / "clean", embedder)
    assert partial < clean_report.total_chunks, "the ingest finished before it was killed"
    # ...but its flock died with it: the re-run takes the lock at once (no --wait)
    rerun, repaired = ingest([folder], killed_dir, embedder)
    assert rerun.added and len(rerun.added) + len(rerun.unchanged) + len(rerun.updated) == 40
    assert snapshot(repaired) == snapshot(clean)
    assert not [p for p in repaired.pages().values() if not p.complete]


class FailsOnCall:
    """The real embedder, except that its `n`-th encode call fails (a model or runtime error mid-run)."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def encode(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("embedding failed")
        return self.inner.encode(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_embedding_error_mid_run_stores_only_whole_pages_and_a_rerun_finishes(tmp_path, embedder):
    """Batch k is stored while batch k+1 embeds (ingest/pipeline.py Run.write): when an embedding fails,
    the error reaches the caller, the batches embedded before it are stored whole, nothing of the failed
    one is, and the next run ends in the store one clean run makes."""
    folder = tmp_path / "pages"
    write_corpus(folder, 60, seed=3)
    failing = FailsOnCall(embedder, 3)
    with pytest.raises(RuntimeError, match="embedding failed"):
        ingest([folder], tmp_path / "broken", failing)
    broken = Store(load_settings(store=tmp_path / "broken"))
    pages = broken.pages()
    assert failing.calls >= 3  # at least two batches embedded before the failure, so some were stored
    assert pages and all(p.complete for p in pages.values())
    clean_report, clean = ingest([folder], tmp_path / "clean", embedder)
    assert broken.count() < clean_report.total_chunks
    rerun, repaired = ingest([folder], tmp_path / "broken", embedder)
    assert len(rerun.unchanged) == len(pages) and rerun.added
    assert snapshot(repaired) == snapshot(clean)


# -- URLs --------------------------------------------------------------------------------------

GOOD_HTML = b"""<!doctype html><html><head><title>Widget | Example Docs</title>
<script>window.analytics = "tracking-code";</script></head><body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing plans</a> <a href="/careers">Careers</a></nav>
<main><article><h1>Widget</h1>
<p>A widget is a small reusable part of a user interface that shows one piece of live information.</p>
<h2>How it works</h2>
<p>Each widget asks the server for fresh data every minute and redraws itself when the data changes.</p>
</article></main>
<footer>Copyright 2024 Example Inc. Imprint and legal notice.</footer></body></html>"""
OTHER_HTML = GOOD_HTML.replace(b"Widget", b"Gadget").replace(b"widget", b"gadget")


class Site:
    """A tiny website on loopback: good pages, a 404, a slow page and an oversized one."""

    def __init__(self, slow_seconds: float) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/slow.html":
                    time.sleep(slow_seconds)
                if self.path == "/big.html":  # no Content-Length: the cap must hold while streaming
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    for _ in range(100):
                        self.wfile.write(b"<p>" + b"x" * 1000 + b"</p>")
                    return
                body, ctype = site.pages.get(self.path, (None, ""))
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b"not found"
                self.send_header("Content-Type", ctype or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        urls = "".join(f"<url><loc>{self.url}/{p}</loc></url>"
                       for p in ("good.html", "other.html", "missing.html", "slow.html", "big.html"))
        self.pages = {
            "/good.html": (GOOD_HTML, "text/html; charset=utf-8"),
            "/other.html": (OTHER_HTML, "text/html; charset=utf-8"),
            "/slow.html": (GOOD_HTML, "text/html"),
            "/sitemap.xml": (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                             f"{urls}</urlset>".encode(), "application/xml"),
        }

    def __enter__(self) -> Site:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.network
def test_url_and_sitemap_ingest_report_each_failure_and_keep_the_rest(tmp_path):
    runner = CliRunner()
    env = {"KB_FETCH_TIMEOUT": "0.5", "KB_MAX_PAGE_BYTES": "50000"}
    with Site(slow_seconds=3) as site:
        one = runner.invoke(cli, ["ingest", f"{site.url}/good.html", "--json"], env=env)
        assert one.exit_code == 0, one.output
        assert json.loads(one.stdout)["added"] == [f"{site.url}/good.html"]
        store = Store(load_settings())
        chunks = store.all_chunks()
        text = "\n".join(c.text for c in chunks)
        assert "A widget is a small reusable part" in text
        assert {c.section for c in chunks} >= {"How it works"}
        for dropped in ("tracking-code", "Pricing plans", "Careers", "Copyright", "Imprint"):
            assert dropped not in text
        assert chunks[0].title == "Widget" and chunks[0].metadata["term"] == "Widget"

        res = runner.invoke(cli, ["ingest", "--sitemap", f"{site.url}/sitemap.xml", "--json"], env=env)
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    reasons = {s["source"].rsplit("/", 1)[1]: s["reason"] for s in report["skipped"]}
    assert reasons["missing.html"] == "HTTP 404"
    assert reasons["slow.html"].startswith("timed out after 0.5s")
    assert reasons["big.html"].startswith("too large")
    assert report["unchanged"] == [f"{site.url}/good.html"]
    assert report["added"] == [f"{site.url}/other.html"]
