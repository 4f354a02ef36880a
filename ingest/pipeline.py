"""Ingest runs: read -> clean -> chunk -> embed -> upsert, incrementally and safely.

Unchanged pages (same content hash, all chunks present) are skipped before any
embedding, which is the slow part. A page is rewritten by upserting its new chunks
first and deleting its stale ones last; a run killed half-way leaves that page
"incomplete" in the store, and the next run redoes it, so a re-run always ends in
the same store as one clean run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ingest.chunk import chunk_page
from ingest.clean import to_page
from ingest.read import RawDoc, Skipped, iter_files, read_file
from kb.errors import IngestLocked
from kb.settings import Settings
from kb.store import Store
from kb.types import Page


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # near-duplicate source -> kept source
    chunks_written: int = 0
    total_chunks: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.skipped)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = [asdict(s) for s in self.skipped]
        out["counts"] = {k: len(getattr(self, k)) for k in ("added", "updated", "unchanged", "removed", "skipped",
                                                            "aliases")}
        return out


def lock_for(settings: Settings, wait: float):
    """One ingest at a time per store; the second waits `wait` seconds, then stops."""
    from filelock import FileLock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(settings.data_dir / "ingest.lock"), timeout=wait)


def load_docs(paths: Iterable[str], report: IngestReport) -> list[RawDoc]:
    docs: list[RawDoc] = []
    for item in iter_files(paths):
        got = item if isinstance(item, Skipped) else read_file(item)
        if isinstance(got, Skipped):
            report.skipped.append(got)
        else:
            docs.append(got)
    return docs


def run_ingest(
    paths: Sequence[str],
    settings: Settings,
    store: Store,
    embedder: Any | Callable[[], Any],
    *,
    prune: bool = False,
    progress: bool | None = None,
    wait: float = 0,
    extra_docs: Sequence[RawDoc] = (),
    extra_skipped: Sequence[Skipped] = (),
) -> IngestReport:
    """Ingest files/folders (and already fetched docs, e.g. URLs) into the store.

    `embedder` may be a zero-argument loader so a run with nothing to embed never
    loads the model.
    """
    import time

    from filelock import Timeout

    started = time.perf_counter()
    report = IngestReport(skipped=list(extra_skipped))
    try:
        with lock_for(settings, wait):
            docs = load_docs(paths, report) + list(extra_docs)
            _ingest_docs(docs, report, settings, store, embedder, progress)
            if prune:
                _prune(paths, docs, report, store)
    except Timeout:
        raise IngestLocked(
            f"another `kb ingest` is writing to {store.location}; wait for it to finish "
            "(or pass --wait SECONDS to queue behind it)"
        ) from None
    report.total_chunks = store.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _ingest_docs(docs: list[RawDoc], report: IngestReport, settings: Settings, store: Store,
                 embedder: Any, progress: bool | None) -> None:
    from tqdm import tqdm

    from ingest.dedupe import collapse_duplicates

    known = store.pages()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    pages: list[Page] = []
    seen: set[str] = set()
    for doc in docs:
        if doc.source in seen:
            continue
        seen.add(doc.source)
        try:
            page = to_page(doc)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run
            report.skipped.append(Skipped(doc.source, f"could not be parsed: {exc}"))
            continue
        if not page.text.strip():
            report.skipped.append(Skipped(doc.source, "no text left after cleaning"))
            continue
        pages.append(page)
    pages, aliases = collapse_duplicates(pages)
    for alias, kept in aliases.items():
        report.aliases[alias] = kept
        if alias in known:
            store.delete_source(alias)
            report.removed.append(alias)
    show = sys.stderr.isatty() if progress is None else progress
    model = None
    for page in tqdm(pages, desc="ingest", unit="page", disable=not show):
        chunks = chunk_page(page, ingested=now)
        rec = known.get(page.source)
        if rec and rec.complete and chunks and rec.page_hash == chunks[0].page_hash:
            report.unchanged.append(page.source)
            continue
        if not chunks:
            report.skipped.append(Skipped(page.source, "no text left after cleaning"))
            continue
        if model is None:
            model = embedder() if callable(embedder) and not hasattr(embedder, "encode") else embedder
        vectors = model.encode([c.embed_text() for c in chunks], batch_size=32, normalize_embeddings=True,
                               show_progress_bar=False)
        store.upsert(chunks, vectors)
        new_ids = {c.id for c in chunks}
        stale = [cid for cid in store.chunk_ids(page.source) if cid not in new_ids]
        store.delete_ids(stale)
        report.chunks_written += len(chunks)
        (report.updated if rec else report.added).append(page.source)


def _prune(paths: Sequence[str], docs: list[RawDoc], report: IngestReport, store: Store) -> None:
    """Remove pages under the given folders that no longer exist in the source."""
    roots = [str(Path(p).expanduser().resolve()) for p in paths if not str(p).startswith(("http://", "https://"))]
    present = {d.source for d in docs} | {s.source for s in report.skipped} | set(report.aliases)
    for source in store.pages():
        inside = any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)
        if inside and source not in present:
            store.delete_source(source)
            report.removed.append(source)
