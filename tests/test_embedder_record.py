"""The store records which embedder wrote its vectors, and kb queries it the same way.

New stores get fp32 ONNX (int8 is opt-in: KB_EMBED_BACKEND=onnx-int8); stores built before the record keep
fp32 (or int8, when their vectors show it); an explicit backend that disagrees with the store is an error
naming the fix (kb/backends/vectors.py). Real Chroma, real ONNX embedders.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from ingest.pipeline import run_ingest
from kb.backends import load_embedder
from kb.cli import cli
from kb.errors import EmbedderMismatch
from kb.settings import DEFAULT_EMBED
from kb.store import GENERATION, EmbedderRecord, Store

PAGES = {
    "widget.md": "# Widget\n\nA widget is a small reusable part of a dashboard page that shows one number.\n",
    "gadget.md": "# Gadget\n\nA gadget is a tool that exports a dashboard as a PDF report every Monday.\n",
    "sprocket.md": "# Sprocket\n\nA sprocket is the scheduler that refreshes dashboard data every five minutes.\n",
}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text)
    return folder


def _settings(settings, backend: str, store=None):
    return settings.model_copy(update={"embed_backend": backend, **({"store": store} if store else {})})


def _ingest(s, paths):
    """What `kb ingest` does: the embedder is chosen for the store it writes."""
    store = Store(s)
    return store, run_ingest([str(p) for p in paths], s, store, lambda: load_embedder(s, store=store), progress=False)


def _forget_record(store: Store) -> None:
    """Make the store look like one written before kb recorded its embedder."""
    store.collection.modify(metadata={GENERATION: "before-records"})
    assert store.embedder_record() is None


def _status(store_dir, backend="auto") -> dict:
    res = CliRunner().invoke(cli, ["status", "--json"], env={"KB_STORE": str(store_dir), "KB_EMBED_BACKEND": backend})
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["embedder"]


def test_new_store_records_fp32_by_default(settings, docs):
    s = _settings(settings, "auto")
    assert _status(s.store) == {"model": DEFAULT_EMBED, "backend": "onnx", "recorded": False,
                                "note": "empty store: what the first ingest will use"}
    store, report = _ingest(s, [docs])
    assert report.chunks_written == 3
    assert store.embedder_record() == EmbedderRecord(DEFAULT_EMBED, "onnx")
    assert _status(s.store) == {"model": DEFAULT_EMBED, "backend": "onnx", "recorded": True, "note": ""}


def test_int8_store_records_int8_and_auto_queries_use_it(settings, docs):
    from kb.engine import Engine

    store, report = _ingest(_settings(settings, "onnx-int8"), [docs])
    s = _settings(settings, "auto")
    assert report.chunks_written == 3
    assert store.embedder_record() == EmbedderRecord(DEFAULT_EMBED, "onnx-int8")
    before = store.generation()
    (docs / "widget.md").write_text(PAGES["widget.md"] + "\nWidgets can be resized by dragging a corner.\n")
    _ingest(s, [docs])
    assert store.generation() != before, "a write stamps a new generation"
    assert store.embedder_record() == EmbedderRecord(DEFAULT_EMBED, "onnx-int8"), "and keeps the record"
    engine = Engine(s)
    assert engine.search("which tool exports a PDF report?", 1)[0].chunk.source.endswith("gadget.md")
    assert engine.embedder.kb_embedder.backend == "onnx-int8"
    assert _status(s.store) == {"model": DEFAULT_EMBED, "backend": "onnx-int8", "recorded": True, "note": ""}


def test_store_without_record_keeps_fp32_onnx(settings, docs, tmp_path):
    from kb.engine import Engine

    s = _settings(settings, "onnx")
    store, _ = _ingest(s, [docs / "widget.md", docs / "gadget.md"])
    _forget_record(store)
    auto = _settings(settings, "auto")
    engine = Engine(auto)
    assert engine.embedder.kb_embedder.backend == "onnx"
    assert engine.search("which tool exports a PDF report?", 1)[0].chunk.source.endswith("gadget.md")
    assert _status(s.store)["backend"] == "onnx" and _status(s.store)["recorded"] is False
    # a later ingest with auto adds fp32 vectors and records them, not int8 ones
    store, report = _ingest(auto, [docs / "sprocket.md"])
    assert report.chunks_written == 1
    assert store.embedder_record() == EmbedderRecord(DEFAULT_EMBED, "onnx")
    # asking for int8 on such a store is allowed: per-channel int8 vectors sit within int8's own batch noise
    # of fp32 ones (cosine ~0.99), so the probe cannot and need not tell them apart
    _forget_record(store)
    assert load_embedder(_settings(settings, "onnx-int8"), store=store).kb_embedder.backend == "onnx-int8"


def test_store_without_record_built_with_int8_is_recognised(settings, docs):
    """Stores built with KB_EMBED_BACKEND=onnx-int8 before the record existed: the vectors tell. Each page
    is embedded in a batch of its own, as pages of a real ingest are (int8 vectors depend on the batch)."""
    from kb.backends.vectors import probe

    s = _settings(settings, "onnx-int8")
    for page in sorted(docs.iterdir()):
        store, _ = _ingest(s, [page])
    _forget_record(store)
    assert probe(store, load_embedder(_settings(settings, "onnx"))) is False
    assert load_embedder(_settings(settings, "auto"), store=store).kb_embedder.backend == "onnx-int8"
    assert load_embedder(s, store=store).kb_embedder.backend == "onnx-int8"


def test_explicit_backend_that_differs_from_the_store_is_an_error(settings, docs):
    from kb.backends.vectors import check_store
    from kb.engine import Engine

    s = _settings(settings, "onnx-int8")
    store, _ = _ingest(s, [docs])
    fp32 = _settings(settings, "onnx")
    with pytest.raises(EmbedderMismatch) as err:
        load_embedder(fp32, store=store)
    assert "KB_EMBED_BACKEND=onnx-int8" in str(err.value) and "new store" in str(err.value)
    # ingest with it writes nothing
    (docs / "extra.md").write_text("# Extra\n\nAn extra page about dashboard colour themes and fonts.\n")
    count = store.count()
    with pytest.raises(EmbedderMismatch):
        _ingest(fp32, [docs])
    assert store.count() == count
    # an embedder handed to the Engine is checked at the first retrieval
    onnx = load_embedder(fp32)
    with pytest.raises(EmbedderMismatch):
        Engine(s, store=store, embedder=onnx).search("what is a widget?")
    # the command line says it in one line, with a non-zero exit
    res = CliRunner().invoke(cli, ["search", "what is a widget?"], env={"KB_STORE": str(s.store),
                                                                        "KB_EMBED_BACKEND": "onnx"})
    assert res.exit_code != 0 and "KB_EMBED_BACKEND=onnx-int8" in res.output
    # torch and fp32 ONNX give the same vectors: a store recorded with torch takes the ONNX embedder
    store.record_embedder(EmbedderRecord(DEFAULT_EMBED, "torch"))
    check_store(store, onnx)
    with pytest.raises(EmbedderMismatch):
        check_store(store, load_embedder(s))  # the int8 one a new store gets
    # another model: the fix names the model setting
    store.record_embedder(EmbedderRecord("some/other-model", "onnx"))
    with pytest.raises(EmbedderMismatch, match="KB_EMBED_MODEL=some/other-model"):
        check_store(store, onnx)


def test_prepare_makes_the_int8_model(settings, tmp_path):
    """With KB_EMBED_BACKEND=onnx-int8, `kb prepare` quantizes the embedder, with a progress line, so no answer
    pays for it."""
    from kb.prepare import prepare

    cache = tmp_path / "cache"
    for done in (settings.cache_dir / "models").glob("*-onnx-*"):  # the fp32 export (torch, slow) is reused
        if (done / "model.onnx").is_file():
            shutil.copytree(done, cache / "models" / done.name, ignore=shutil.ignore_patterns("model_int8*.onnx"))
    assert list((cache / "models").glob("*-onnx-*/model.onnx")), "the test cache holds the fp32 export"
    s = settings.model_copy(update={"cache_dir": cache, "embed_backend": "onnx-int8",
                                    "llm_url": "http://127.0.0.1:9/v1"})  # an endpoint: no LLM export
    lines: list[str] = []
    report = prepare(s, echo=lines.append)
    assert list((cache / "models").glob("*-onnx-*/model_int8c.onnx"))
    assert report.steps[0].status == "done"
    assert any("onnx-int8 backend" in line and "done in" in line for line in lines), lines
