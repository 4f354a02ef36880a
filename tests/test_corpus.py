"""The BM25 corpus: saved under cache_dir and mapped by later processes, rebuilt when the store changes."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import SAMPLE_CORPUS


@pytest.fixture
def small_store(tmp_path, embedder, model_cache):
    from ingest.pipeline import run_ingest
    from kb.settings import load_settings
    from kb.store import Store

    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("base-model.md", "instruct-model.md", "mixture-of-experts.md"):
        shutil.copy(next(SAMPLE_CORPUS.rglob(name)), pages / name)
    s = load_settings(store=tmp_path / "store", cache_dir=tmp_path / "cache")
    store = Store(s)
    run_ingest([str(pages)], s, store, embedder, progress=False)
    return s, store, pages


def test_index_is_saved_and_reused_by_the_next_load(small_store, monkeypatch):
    from kb import retrieve

    s, store, _ = small_store
    monkeypatch.setattr(retrieve, "CACHE_MIN", 0)
    built = retrieve.Corpus.load(store, s.cache_dir)
    assert list((s.cache_dir / "bm25").glob("*/corpus.json")), "the index was not saved"

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt although the saved index is current")

    monkeypatch.setattr(retrieve.Corpus, "build", classmethod(no_rebuild))
    cached = retrieve.Corpus.load(store, s.cache_dir)
    query = "experts router tokens"
    assert [(c.id, round(x, 4)) for c, x in cached.bm25_search(query, 5)] == \
        [(c.id, round(x, 4)) for c, x in built.bm25_search(query, 5)]
    assert cached.bm25_search(query, 5), "the query should match the MoE page"
    assert cached.terms == built.terms


def test_a_write_makes_the_corpus_stale_even_at_the_same_size(small_store, embedder):
    """A daemon outlives ingests: a page rewritten with as many chunks must not leave BM25 on the old text."""
    from ingest.pipeline import run_ingest
    from kb.engine import Engine

    s, store, pages = small_store
    engine = Engine(s, store=store, embedder=embedder)
    before = engine.corpus()
    assert not engine.corpus().stale()
    assert not before.bm25_search("zanzibarian", 3)
    count = store.count()
    page = pages / "base-model.md"
    page.write_text(page.read_text().replace("base model", "zanzibarian base model", 1))
    run_ingest([str(pages)], s, store, embedder, progress=False)
    assert store.count() == count
    assert before.stale()
    after = engine.corpus()
    assert after is not before
    assert [c.source for c, _ in after.bm25_search("zanzibarian", 3)] == [str(page.resolve())]


def test_an_unwritable_cache_dir_is_reported_and_retrieval_still_works(small_store, monkeypatch, caplog):
    from kb import retrieve

    s, store, _ = small_store
    monkeypatch.setattr(retrieve, "CACHE_MIN", 0)
    blocked = s.cache_dir.parent / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level("WARNING", logger="kb.retrieve"):
        corpus = retrieve.Corpus.load(store, blocked)
    assert corpus.bm25_search("experts router tokens", 5)  # answers anyway
    assert any("KB_CACHE_DIR" in r.getMessage() for r in caplog.records), caplog.text
