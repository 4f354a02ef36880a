"""`kb sync`: kb.toml sources re-ingested incrementally, their status in `kb status`, and a running
`kb serve` answering from what a sync added without a restart.

Everything is real: a git origin and its clone on disk (pulled by `kb sync`), a sitemap and pages
served over loopback HTTP, the real embedder and store, the `kb` command in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import KB, Recorder, run_kb, wait_for

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

PAGES = {
    "kettle.md": "# Kettle\n\nA kettle boils water for tea in about three minutes on a gas hob.\n",
    "teapot.md": "# Teapot\n\nA teapot keeps brewed tea warm; rinse it with hot water before the leaves go in.\n",
}
NEW_PAGE = ("# Samovar\n\nA samovar is a tall urn that keeps water hot for many cups of tea, "
            "heated by charcoal in a central pipe.\n")


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repos(tmp_path):
    """A bare origin with two pages, a working copy that pushes to it, and the clone kb syncs."""
    origin, work, clone = tmp_path / "origin.git", tmp_path / "work", tmp_path / "clone"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    for name, text in PAGES.items():
        (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "pages", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    git("clone", "-q", "-b", "main", str(origin), str(clone), cwd=tmp_path)
    return {"origin": origin, "work": work, "clone": clone}


def write_config(path: Path, body: str) -> dict[str, str]:
    path.write_text(body)
    return {"KB_CONFIG": str(path)}


def names(paths: list[str]) -> list[str]:
    return sorted(Path(p).name for p in paths)


def test_sync_pulls_a_git_clone_and_adds_updates_and_removes_pages(tmp_path, repos):
    env = write_config(tmp_path / "kb.toml", f'''
[[sources]]
name = "tea-wiki"
path = "{repos['clone']}"
git_pull = true
exclude = ["drafts/"]
''')
    first = run_kb("sync", "--json", env=env)
    assert first.returncode == 0, first.stderr
    entry = json.loads(first.stdout)["sources"][0]
    assert entry["name"] == "tea-wiki" and entry["kind"] == "git" and entry["outcome"] == "ok"
    assert entry["counts"]["added"] == 2 and entry["counts"]["removed"] == 0

    # upstream: a new page, an edited one, a deleted one
    (repos["work"] / "samovar.md").write_text(NEW_PAGE)
    (repos["work"] / "kettle.md").write_text(PAGES["kettle.md"].replace("three", "four"))
    (repos["work"] / "teapot.md").unlink()
    git("add", "-A", ".", cwd=repos["work"])
    git("commit", "-q", "-m", "more tea", cwd=repos["work"])
    git("push", "-q", "origin", "HEAD:main", cwd=repos["work"])

    second = run_kb("sync", "--json", env=env)
    assert second.returncode == 0, second.stderr
    counts = json.loads(second.stdout)["sources"][0]["counts"]
    assert (counts["added"], counts["updated"], counts["removed"], counts["unchanged"]) == (1, 1, 1, 0)
    assert (repos["clone"] / "samovar.md").is_file()  # kb sync did pull

    status = json.loads(run_kb("status", "--json", env=env).stdout)
    assert status["pages"] == 2
    [line] = status["sources"]
    assert line["name"] == "tea-wiki" and line["outcome"] == "ok" and line["counts"]["added"] == 1
    assert line["last_run"] >= entry["last_run"]
    text = run_kb("status", env=env).stdout
    assert "source      tea-wiki (git): ok at " in text and "added 1, updated 1" in text
    sync_file = Path(status["store"]) / "sync.json"
    assert stat.S_IMODE(sync_file.stat().st_mode) == 0o600

    third = run_kb("sync", "--json", env=env)  # nothing changed: nothing embedded
    counts = json.loads(third.stdout)["sources"][0]["counts"]
    assert counts["unchanged"] == 2 and counts["added"] == counts["updated"] == counts["removed"] == 0


def test_a_failed_pull_or_a_missing_folder_keeps_what_was_ingested(tmp_path, repos):
    env = write_config(tmp_path / "kb.toml", f'''
[[sources]]
name = "tea-wiki"
path = "{repos['clone']}"
git_pull = true
''')
    assert run_kb("sync", env=env).returncode == 0
    shutil.rmtree(repos["origin"])  # the remote is gone: the pull fails, the checkout is still ingested
    proc = run_kb("sync", "--json", env=env)
    assert proc.returncode == 1
    entry = json.loads(proc.stdout)["sources"][0]
    assert entry["outcome"] == "failed" and "git pull failed" in entry["message"]
    assert entry["counts"]["unchanged"] == 2

    moved = tmp_path / "elsewhere"
    repos["clone"].rename(moved)  # an unmounted disk, a renamed folder: nothing is pruned
    proc = run_kb("sync", "--json", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no such folder" in json.loads(proc.stdout)["sources"][0]["message"]
    assert json.loads(run_kb("status", "--json", env=env).stdout)["pages"] == 2


def test_sync_fetches_urls_and_sitemaps_and_drops_pages_that_left_the_sitemap(tmp_path):
    pages = {"/kettle": PAGES["kettle.md"], "/samovar": NEW_PAGE}
    sitemap_up = [True]

    def handler(method, path, headers, body):
        if path == "/sitemap.xml":
            if not sitemap_up[0]:
                return 503, {}, b"down"
            urls = "".join(f"<url><loc>{server.url}{p}</loc></url>" for p in pages)
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return 200, {"content-type": "application/xml"}, xml.encode()
        if path in pages:
            return 200, {"content-type": "text/markdown"}, pages[path].encode()
        return 404, {}, b"not here"

    with Recorder(handler) as server:
        env = write_config(tmp_path / "kb.toml", f'''
[[sources]]
name = "site"
sitemap = "{server.url}/sitemap.xml"

[[sources]]
urls = ["{server.url}/gone"]
''')
        proc = run_kb("sync", "--json", env=env)
        assert proc.returncode == 1, proc.stderr  # the second source's page is a 404
        site, gone = json.loads(proc.stdout)["sources"]
        assert site["kind"] == "sitemap" and site["outcome"] == "ok" and site["counts"]["added"] == 2
        assert gone["name"] == f"{server.url}/gone" and gone["outcome"] == "failed" and "404" in gone["message"]
        assert "listed" not in site  # bookkeeping, not shown

        sitemap_up[0] = False
        del pages["/samovar"]
        down = json.loads(run_kb("sync", "--json", "--source", "site", env=env).stdout)["sources"][0]
        assert down["outcome"] == "failed" and down["counts"]["removed"] == 0  # an unread sitemap removes nothing
        assert json.loads(run_kb("status", "--json", env=env).stdout)["pages"] == 2

        sitemap_up[0] = True
        back = json.loads(run_kb("sync", "--json", "--source", "site", env=env).stdout)["sources"][0]
        assert back["outcome"] == "ok" and back["counts"]["removed"] == 1 and back["counts"]["unchanged"] == 1
        status = json.loads(run_kb("status", "--json", env=env).stdout)
        assert status["pages"] == 1 and [s["name"] for s in status["sources"]] == ["site", f"{server.url}/gone"]


def test_sync_every_runs_again_and_bad_config_is_one_clear_line(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(PAGES["kettle.md"])
    env = write_config(tmp_path / "kb.toml", f'[[sources]]\npath = "{docs}"\n')
    proc = run_kb("sync", "--every", "1s", "--runs", "2", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    runs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["sources"][0]["counts"]["added"] for r in runs] == [1, 0]
    assert runs[1]["sources"][0]["counts"]["unchanged"] == 1 and "next run in" in proc.stderr

    bad = run_kb("sync", "--every", "soon", env=env)
    assert bad.returncode == 2 and "90s, 30m, 1h" in bad.stderr
    typo = run_kb("sync", env=write_config(tmp_path / "typo.toml", '[[sources]]\npth = "docs"\n'))
    assert typo.returncode != 0 and "sources" in typo.stderr and "Traceback" not in typo.stderr
    none = run_kb("sync", env=write_config(tmp_path / "none.toml", ""))
    assert none.returncode == 2 and "[[sources]]" in none.stderr
    twice = run_kb("sync", env=write_config(tmp_path / "twice.toml",
                                            f'[[sources]]\npath = "{docs}"\n[[sources]]\npath = "{docs}"\n'))
    assert twice.returncode != 0 and "distinct" in twice.stderr


@pytest.mark.llm
def test_running_kb_serve_answers_from_pages_kb_sync_added(tmp_path, model_cache):
    """The daemon is started once; a page added by `kb sync` is cited at the next question, no restart."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(PAGES["kettle.md"])
    store = tmp_path / "store"
    env = {**write_config(tmp_path / "kb.toml", f'[[sources]]\nname = "tea"\npath = "{docs}"\n'),
           "KB_STORE": str(store), "KB_CACHE_DIR": str(model_cache), "KB_MAX_NEW_TOKENS": "24"}
    assert run_kb("sync", env=env).returncode == 0
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*KB, "serve"], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **env})
    try:
        assert wait_for(lambda: (store / "serve.json").is_file() or proc.poll() is not None, timeout=600)
        assert proc.poll() is None, log.read_text()
        question = "what is a samovar?"
        before = json.loads(run_kb("ask", "--json", question, env=env).stdout)
        assert before["via"] == "daemon"
        assert not any(c["source"].endswith("samovar.md") for c in before["citations"])
        (docs / "samovar.md").write_text(NEW_PAGE)
        assert run_kb("sync", env=env).returncode == 0
        after = json.loads(run_kb("ask", "--json", question, env=env).stdout)
        assert after["via"] == "daemon" and proc.poll() is None  # the same process
        assert not after["refused"] and any(c["source"].endswith("samovar.md") for c in after["citations"])
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_sync_every_sees_what_another_ingest_wrote_between_runs(tmp_path):
    """A long-lived `kb sync --every` and a `kb ingest` between its runs: a page the other process already
    brought up to date is `unchanged` at the next run, and a page that process added stays findable after
    the sync writes again. (With chromadb 1.5.9 this also passes without the reload under the lock that
    run_ingest(reopen=True) does; the reload is kept for the stale-client case docs/operations.md describes.)"""
    docs, other = tmp_path / "docs", tmp_path / "other"
    docs.mkdir()
    other.mkdir()
    (docs / "kettle.md").write_text(PAGES["kettle.md"])
    (other / "samovar.md").write_text(NEW_PAGE)
    env = {**os.environ, **write_config(tmp_path / "kb.toml", f'[[sources]]\npath = "{docs}"\n')}
    proc = subprocess.Popen([*KB, "sync", "--every", "45s", "--runs", "2", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["sources"][0]["counts"]["added"] == 1
        (docs / "kettle.md").write_text(PAGES["kettle.md"].replace("three", "five"))
        (docs / "teapot.md").write_text(PAGES["teapot.md"])
        ingest = run_kb("ingest", "--json", str(docs / "kettle.md"), str(other), env=env)
        assert ingest.returncode == 0 and len(json.loads(ingest.stdout)["updated"]) == 1
        second = json.loads(proc.stdout.readline())
        counts = second["sources"][0]["counts"]
        assert (counts["unchanged"], counts["updated"], counts["added"]) == (1, 0, 1)
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
        proc.wait()
    found = run_kb("search", "--json", "-k", "3", "tall urn heated by charcoal", env=env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["source"].endswith("samovar.md")
    assert json.loads(run_kb("status", "--json", env=env).stdout)["pages"] == 3
