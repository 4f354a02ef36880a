"""Shared fixtures: real models loaded once per session, stores on temp folders.

Every test gets KB_STORE / KB_CACHE_DIR / HOME pointed at tmp_path (autouse), so
nothing touches the user's real store. The converted LLM cache is shared across
the session (converting the GGUF costs ~15 s, once).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = ROOT / "corpus"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Converted model weights, shared by the whole session (and reused across runs if KB_TEST_CACHE is set)."""
    env = os.environ.get("KB_TEST_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch, model_cache):
    monkeypatch.setenv("KB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("KB_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for name in ("KB_CHROMA_URL", "KB_LLM_URL", "KB_LLM_MODEL", "KB_EMBED_MODEL", "KB_CONFIG", "KB_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def settings(tmp_path, model_cache):
    from kb.settings import load_settings

    return load_settings(store=tmp_path / "store", cache_dir=model_cache)


@pytest.fixture(scope="session")
def embedder():
    from kb.backends import load_embedder
    from kb.settings import load_settings

    return load_embedder(load_settings())


@pytest.fixture(scope="session")
def llm(model_cache):
    from kb.backends import load_llm
    from kb.settings import load_settings

    return load_llm(load_settings(cache_dir=model_cache))


def build_store(path: Path, corpus: Path, embedder, model_cache: Path):
    from ingest.pipeline import run_ingest
    from kb.settings import load_settings
    from kb.store import Store

    s = load_settings(store=path, cache_dir=model_cache)
    store = Store(s)
    report = run_ingest([str(corpus)], s, store, embedder, progress=False)
    return s, store, report


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory, embedder, model_cache):
    """The project's sample corpus, ingested once; tests must not write to it."""
    return build_store(tmp_path_factory.mktemp("sample-store"), SAMPLE_CORPUS, embedder, model_cache)


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory, embedder, model_cache):
    if not SHARED_CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return build_store(tmp_path_factory.mktemp("shared-store"), SHARED_CORPUS, embedder, model_cache)


@pytest.fixture(scope="session")
def sample_engine(sample_store, embedder, llm):
    from kb.engine import Engine

    s, store, _ = sample_store
    return Engine(s, store=store, embedder=embedder, llm=llm)


@pytest.fixture(scope="session")
def shared_engine(shared_store, embedder, llm):
    from kb.engine import Engine

    s, store, _ = shared_store
    return Engine(s, store=store, embedder=embedder, llm=llm)
