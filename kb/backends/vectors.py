"""Which embedder a store's vectors need.

A question's vector is only comparable with chunk vectors made by the same model run the same
way. torch and fp32 ONNX give the same vectors (cosine >= 0.9999, tests/test_runtime.py); the
int8 export (per-channel weights) moves them a little (cosine ~0.99 to fp32, about int8's own noise
from batch to batch), so a store is queried the way it was embedded. Each ingest records its
embedder on the store (kb/store.py EmbedderRecord); `auto` follows that record, new stores get
fp32 (int8 ingests in ~0.8x the time but lost one realdocs question from the top 3:
docs/bench-speed.md), and an explicit KB_EMBED_BACKEND that disagrees with the record is an error
that names the fix, never a silently worse retrieval.

Stores written before the record existed were embedded with fp32 (onnx or torch, the default
then). A few of them were built with `KB_EMBED_BACKEND=onnx-int8`; for those the vectors
themselves tell: a few short chunks are embedded again and compared with what is stored.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import BUNDLED_EMBED, resolve_embed_model
from kb.errors import EmbedderMismatch
from kb.store import EmbedderRecord

if TYPE_CHECKING:
    from kb.settings import Settings
    from kb.store import Store

log = logging.getLogger(__name__)

SAME_VECTORS = {"torch": "fp32", "onnx": "fp32"}  # backends not listed give vectors of their own
PROBE_CHUNKS = 8  # chunks re-embedded to tell which embedder wrote an unrecorded store
PROBE_PIECES = 64  # only chunks this short: below any ingest cap, so the cap they were cut at does not matter
# Median cosine of re-embedded chunks to their stored vectors that says "this embedder wrote them". fp32 is
# deterministic (torch vs ONNX >= 0.9999). int8 quantizes activations with each batch's own range, so one
# text embedded in two batches gives 0.986-0.995 (realdocs); per-tensor int8 (before 2026-11-30's per-channel
# export) vs fp32 gave 0.93-0.98, per-channel int8 vs fp32 gives 0.98-0.995: fp32's bar sits above all of
# these, int8's cannot tell per-channel int8 from fp32 (and need not: the vectors are as close as int8's own).
PROBE_MATCH = {"fp32": 0.999}
PROBE_MATCH_OTHER = 0.985
LEGACY_BACKEND = "onnx"  # what an unrecorded store's vectors are taken to be


def vectors_of(backend: str) -> str:
    """The kind of vectors a backend computes: backends with the same kind can share a store."""
    return SAME_VECTORS.get(backend, backend)


def same_vectors(a: EmbedderRecord, b: EmbedderRecord) -> bool:
    return a.model == b.model and vectors_of(a.backend) == vectors_of(b.backend)


def identity(embedder: Any) -> EmbedderRecord | None:
    """What `load_embedder` tagged the embedder with; None for one built by other code (tests' stand-ins)."""
    return getattr(embedder, "kb_embedder", None)


def onnx_possible(settings: Settings) -> bool:
    """ONNX Runtime can run the model: it is a local folder (the bundled MiniLM is) and onnxruntime is installed."""
    folder = Path(resolve_embed_model(settings.embed_model))
    return folder.is_dir() and importlib.util.find_spec("onnxruntime") is not None


def auto_backend(settings: Settings, record: EmbedderRecord | None = None) -> str:
    """`auto` for a store with this record (None: a new store).

    A new store gets fp32 ONNX for a local model folder (the bundled MiniLM included), else torch: the
    same vectors either way. Not int8, although it ingests in ~0.8x the CPU time: on realdocs it lost
    hit@3 (0.980 -> 0.973 per-channel, 0.953 per-tensor), refused one more answerable question and its
    vectors depend on the batch they are computed in (docs/bench-speed.md); `KB_EMBED_BACKEND=onnx-int8` opts in. A
    recorded store keeps its kind of vectors: fp32 ones are computed with ONNX when possible (no torch
    import at query time).
    """
    onnx = onnx_possible(settings)
    if record is not None and record.model == settings.embed_model:
        if vectors_of(record.backend) == "fp32":
            return "onnx" if onnx else "torch"
        return record.backend
    return "onnx" if onnx else "torch"


def load_for_store(settings: Settings, store: Store, load: Callable[[Settings, str], Any]) -> Any:
    """The embedder for queries on and ingests into `store`; `load(settings, backend)` loads a tagged one.

    Raises EmbedderMismatch when KB_EMBED_BACKEND / KB_EMBED_MODEL compute other vectors than the store holds.
    """
    record = store.embedder_record()
    choice = settings.embed_backend
    if choice != "auto":
        embedder = load(settings, choice)
        check_store(store, embedder, settings)
        return embedder
    if record is not None or store.count() == 0:
        embedder = load(settings, auto_backend(settings, record))
        check_store(store, embedder, settings, record)
        return embedder
    return _load_for_unrecorded(settings, store, load)


def _load_for_unrecorded(settings: Settings, store: Store, load: Callable[[Settings, str], Any]) -> Any:
    """auto on a store written before the record: fp32, unless its vectors show it was built with int8."""
    fp32 = load(settings, auto_backend(settings, EmbedderRecord(settings.embed_model, LEGACY_BACKEND)))
    if probe(store, fp32) is not False or not (onnx_possible(settings) and settings.embed_model in BUNDLED_EMBED):
        return fp32
    int8 = load(settings, "onnx-int8")
    if probe(store, int8):
        log.info("the store at %s has no embedder record; its vectors are onnx-int8 ones", store.location)
        return int8
    log.warning("the store at %s has no embedder record and neither fp32 nor int8 MiniLM reproduces its vectors; "
                "querying it with fp32 (re-ingest into a new store if answers look off)", store.location)
    return fp32


def check_store(store: Store, embedder: Any, settings: Settings | None = None,
                record: EmbedderRecord | None | bool = False) -> None:
    """Raise EmbedderMismatch when `embedder` would be compared with (or add to) another embedder's vectors.

    An embedder without a tag (built by code that chose it on purpose) is not checked. `record`: the store's,
    when the caller has just read it.
    """
    have = identity(embedder)
    if have is None:
        return
    stored = store.embedder_record() if record is False else record
    if stored is None:
        if store.count() == 0:
            return
        fits_it = probe(store, embedder)
        if vectors_of(have.backend) == vectors_of(LEGACY_BACKEND):  # what unrecorded stores are taken to hold
            if fits_it is False:
                log.warning("the store at %s has no embedder record and %s does not reproduce its vectors; if it "
                            "was built with KB_EMBED_BACKEND=onnx-int8, set that (or auto)", store.location, have)
            return
        if fits_it is not False:
            return
        stored = EmbedderRecord(have.model, f"{LEGACY_BACKEND}, assumed: written before kb recorded the embedder")
    if not same_vectors(stored, have):
        raise EmbedderMismatch(mismatch_message(store, stored, have, settings))


def fits(store: Store, embedder: Any) -> bool:
    """Whether `embedder` may be used on `store` (check_store would not raise)."""
    try:
        check_store(store, embedder)
    except EmbedderMismatch:
        return False
    return True


def mismatch_message(store: Store, stored: EmbedderRecord, have: EmbedderRecord, settings: Settings | None) -> str:
    if stored.model != have.model:
        fix = f"set KB_EMBED_MODEL={stored.model}"
    else:
        backend = stored.backend.split(",")[0]
        fix = f"set KB_EMBED_BACKEND={backend} (or auto, which follows the store)"
    return (f"the store at {store.location} holds vectors from {stored}, but this embedder is {have}, whose "
            f"vectors differ, so retrieval would be wrong: {fix}, or ingest into a new store "
            f"(--store DIR / KB_STORE) to use {have.backend}")


def probe(store: Store, embedder: Any) -> bool | None:
    """Whether `embedder` reproduces the store's vectors, judged on a few short chunks; None when no
    chunk is short enough to tell."""
    import numpy as np

    from kb.store import chunk_from_meta

    got = store.collection.get(limit=200, include=["documents", "metadatas", "embeddings"])
    texts = [chunk_from_meta(cid, doc or "", meta or {}).embed_text()
             for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
    if not texts:
        return None
    try:
        pieces = [len(ids) for ids in embedder.tokenizer(texts)["input_ids"]]
    except Exception:  # noqa: BLE001 - an embedder without a tokenizer cannot be probed
        return None
    short = sorted((i for i in range(len(texts)) if pieces[i] <= PROBE_PIECES), key=lambda i: pieces[i])
    short = short[-PROBE_CHUNKS:]  # the longest of the short ones: the most words to differ on
    if not short:
        return None
    new = np.asarray(embedder.encode([texts[i] for i in short], normalize_embeddings=True, show_progress_bar=False))
    old = np.asarray([got["embeddings"][i] for i in short], dtype=np.float32)
    old = old / np.clip(np.linalg.norm(old, axis=1, keepdims=True), 1e-12, None)
    have = identity(embedder)
    bar = PROBE_MATCH.get(vectors_of(have.backend), PROBE_MATCH_OTHER) if have else PROBE_MATCH_OTHER
    return bool(np.median((new * old).sum(axis=1)) >= bar)
