"""Ingest runs: read -> clean -> collapse duplicates -> chunk -> embed -> upsert, incrementally and safely.

Unchanged pages (same chunk fingerprints, all chunks present) are skipped before
any embedding, which is the slow part. A page is rewritten by upserting its new
chunks first and deleting its stale ones last; a run killed half-way leaves that
page "incomplete" (or "mixed") in the store, and the next run redoes it, so a
re-run always ends in the same store as one clean run. One ingest writes to a
store at a time (an flock, released by the kernel even when a run is killed).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.boilerplate import drop_lines, repeated_across_pages
from ingest.chunk import chunk_page, stamp
from ingest.clean import clean_doc
from ingest.dedupe import collapse_duplicates
from ingest.read import EMPTY, NO_TEXT, RawDoc, Skipped, iter_files, read_file, reason_key, source_id
from kb.errors import IngestLocked
from kb.settings import Settings
from kb.store import PageRecord, Store
from kb.text import is_url
from kb.types import Chunk, Page

log = logging.getLogger(__name__)

EMBED_BATCH = 64  # chunks embedded per call (pages are never split across calls)
ONNX_BATCH = 4  # texts per ONNX Runtime run within such a call (see embed_texts)
Batch = list[tuple[list[Chunk], PageRecord | None]]  # whole pages, each with its stored record (None: new)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # near-duplicate source -> kept source
    boilerplate_lines: int = 0  # lines cleaning dropped from the pages of this run
    chunks_written: int = 0
    total_chunks: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """A page that could not be read; what a documented rule leaves out (an image, an --exclude) is not."""
        return any(not s.rule for s in self.skipped)

    def skipped_by_reason(self) -> dict[str, int]:
        """How many were skipped for each reason ('unsupported file type '.png'': 3), most first."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            key = reason_key(s.reason)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = [asdict(s) for s in self.skipped]
        out["counts"] = {k: len(getattr(self, k)) for k in ("added", "updated", "unchanged", "removed", "skipped",
                                                            "aliases")}
        out["skipped_by_reason"] = self.skipped_by_reason()
        return out


@contextmanager
def ingest_lock(settings: Settings, store: Store, paths: Sequence[str], wait: float) -> Iterator[None]:
    """One ingest at a time per store; the second waits `wait` seconds (-1: forever), then stops.

    The lock is an flock on `<data_dir>/ingest.lock`: the kernel drops it when its
    process dies, even by SIGKILL, so a crashed ingest never blocks the next one.
    Who holds it is written beside it, for the message the second ingest shows.
    """
    from filelock import FileLock, Timeout

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "ingest.lock"), timeout=wait)
    owner = settings.data_dir / "ingest.owner.json"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _describe_owner(owner)
        if wait != 0:
            log.warning("waiting %s for another `kb ingest` (%s) to finish",
                        "as long as it takes" if wait < 0 else f"up to {wait:g}s", holder)
        try:
            if wait == 0:
                raise
            lock.acquire(timeout=wait)
        except Timeout:
            raise IngestLocked(
                f"another `kb ingest` ({holder}) is writing to {store.location}; wait for it to finish, "
                "or pass --wait SECONDS to queue behind it"
            ) from None
    try:
        owner.write_text(json.dumps({"pid": os.getpid(), "started": _now(), "paths": [str(p) for p in paths][:3]}))
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def _describe_owner(owner: Path) -> str:
    try:
        info = json.loads(owner.read_text())
    except (OSError, ValueError):
        return "pid unknown"
    what = ", ".join(info.get("paths") or []) or "URLs"
    return f"pid {info.get('pid')}, started {info.get('started')}, ingesting {what}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_docs(paths: Sequence[str], report: IngestReport, max_bytes: int, include: Sequence[str] = (),
              exclude: Sequence[str] = ()) -> list[RawDoc]:
    docs: list[RawDoc] = []
    index = {s.source: i for i, s in enumerate(report.skipped)}
    for item in iter_files(paths, include, exclude):
        got = item if isinstance(item, Skipped) else read_file(item, max_bytes)
        if isinstance(got, RawDoc):
            docs.append(got)
        elif got.source in index:  # a folder's file also named on its own: one outcome, the stricter
            if not got.rule:
                report.skipped[index[got.source]] = got
        else:
            index[got.source] = len(report.skipped)
            report.skipped.append(got)
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
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    remove: Sequence[str] = (),
    reopen: bool = False,
) -> IngestReport:
    """Ingest files/folders (and already fetched docs, e.g. URLs) into the store.

    `embedder` may be a zero-argument loader so a run with nothing to embed never
    loads the model. With `prune`, stored pages under the given folders whose
    file is gone are removed. `include`/`exclude` are globs for what a folder
    holds (matched against the path inside the folder, or the file name). `remove` names stored
    pages to delete in the same locked run (a sync's pages that left their sitemap). `reopen`
    reloads the store once the lock is held, for a long-lived caller (`kb sync --every`) whose
    client would not see what other processes wrote since it opened the store.
    """
    import time

    started = time.perf_counter()
    report = IngestReport(skipped=list(extra_skipped))
    with ingest_lock(settings, store, list(paths) + [d.source for d in extra_docs], wait):
        if reopen:
            store.reopen()
        docs = load_docs(paths, report, settings.max_page_bytes, include, exclude) + list(extra_docs)
        run = Run(store, report, embedder, progress, max_tokens=settings.ingest_max_tokens)
        run.ingest(docs, prune_roots=_roots(paths) if prune else None, remove=remove)
    roots = _roots(paths)
    report.skipped = [_nothing_to_index(s, roots) for s in report.skipped]
    report.total_chunks = store.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _roots(paths: Sequence[str]) -> list[str]:
    return [source_id(Path(p).expanduser()) for p in paths if not is_url(str(p))]


NOTHING_TO_INDEX = (EMPTY, NO_TEXT)


def _nothing_to_index(skipped: Skipped, roots: Sequence[str]) -> Skipped:
    """A folder's page with nothing to index (an empty file, a Sphinx index.rst that is only a toctree) is
    reported by rule, not a failure: real docs folders hold such pages, and every run over them (and
    every `kb sync`) would exit 1 for a page that was read fine. A file named on its own still fails."""
    if skipped.reason in NOTHING_TO_INDEX and skipped.source not in roots and _inside(skipped.source, roots):
        return replace(skipped, rule=True)
    return skipped


def _inside(source: str, roots: Sequence[str]) -> bool:
    return any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)


class Run:
    """One ingest run against the store's state as it was when the run began."""

    def __init__(self, store: Store, report: IngestReport, embedder: Any, progress: bool | None,
                 max_tokens: int = 0) -> None:
        self.store = store
        self.max_tokens = max_tokens
        self.report = report
        self.embedder = embedder
        self.model: Any = None
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.known_chunks = store.all_chunks()
        self.known: dict[str, PageRecord] = store.pages(self.known_chunks)
        self.stored: dict[str, list[Chunk]] = {}
        for chunk in sorted(self.known_chunks, key=lambda c: c.position):
            self.stored.setdefault(chunk.source, []).append(chunk)
        self.now = _now()

    def ingest(self, docs: Sequence[RawDoc], prune_roots: list[str] | None, remove: Sequence[str] = ()) -> None:
        pages = self.clean(docs)
        seen = {d.source for d in docs} | {s.source for s in self.report.skipped}
        gone = {s for s in remove if s in self.known and s not in seen}
        if prune_roots is not None:
            gone |= {s for s in self.known if _inside(s, prune_roots) and s not in seen}
        pages = self.collapse(pages, seen, gone)
        self.drop_repeated_lines(pages)
        self.write(pages)
        for source in sorted(gone):
            self.store.delete_source(source)
            self.report.removed.append(source)

    def clean(self, docs: Sequence[RawDoc]) -> list[Page]:
        pages: list[Page] = []
        seen: set[str] = set()
        for doc in docs:
            if doc.source in seen:
                continue
            seen.add(doc.source)
            try:
                page, removed = clean_doc(doc)
            except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run
                self.report.skipped.append(Skipped(doc.source, f"could not be parsed: {exc}"))
                continue
            self.report.boilerplate_lines += len(removed)
            if not page.text.strip():
                self.report.skipped.append(Skipped(doc.source, NO_TEXT))
                continue
            pages.append(page)
        return pages

    def collapse(self, pages: list[Page], seen: set[str], gone: set[str]) -> list[Page]:
        """Drop near-copies (also of pages stored by earlier runs) and record them on the kept page."""
        run = {p.source for p in pages}
        stored_only = {s: self._stored_text(s) for s in self.known if s not in run and s not in gone}
        kept, aliases = collapse_duplicates(pages, stored_only)
        self.report.aliases.update(aliases)
        for alias in sorted(aliases):
            if alias in self.known:
                self.store.delete_source(alias)
                self.report.removed.append(alias)
        new: dict[str, set[str]] = {}
        for alias, target in aliases.items():
            new.setdefault(target, set()).add(alias)
        by_source = {p.source: p for p in kept}
        for target in sorted(set(new) | {s for s in by_source if s in self.known} | set(stored_only)):
            rec = self.known.get(target)
            earlier = {a.strip() for a in (rec.duplicates if rec else "").split(",") if a.strip()}
            # Copies an earlier run recorded and this run did not look at stay recorded.
            dups = ", ".join(sorted(new.get(target, set()) | {a for a in earlier if a not in seen and a not in gone}))
            if target in by_source:
                by_source[target].metadata["duplicates"] = dups
            elif rec and dups != rec.duplicates and target not in aliases:
                self._rewrite_stored(target, dups)
        return kept

    def _stored_text(self, source: str) -> str:
        return "\n\n".join(c.text for c in self.stored[source])

    def _rewrite_stored(self, source: str, duplicates: str) -> None:
        chunks = self.stored[source]
        for c in chunks:
            c.metadata.pop("duplicates", None)
            if duplicates:
                c.metadata["duplicates"] = duplicates
        self.store.rewrite(stamp(chunks))

    def drop_repeated_lines(self, pages: list[Page]) -> None:
        """Short lines found on several pages of this run are site chrome (footers, link lists)."""
        keys = repeated_across_pages({p.source: p.text for p in pages})
        for page in pages:
            page.text, removed = drop_lines(page.text, keys, "repeated across pages")
            self.report.boilerplate_lines += len(removed)

    def write(self, pages: list[Page]) -> None:
        """Chunk, embed and store the pages, the store writes of one batch overlapping the embedding of
        the next: Chroma's upsert (~2.5 ms a chunk, one core) would otherwise leave a core idle for
        about a tenth of the run (docs/bench-speed.md, "Ingest, 2026-11-30 late")."""
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        pending: Batch = []
        embedding: tuple[Any, Batch] | None = None  # the batch being embedded, with its future
        # leaving the block waits for an embedding still running, also when a write failed
        with ThreadPoolExecutor(1, thread_name_prefix="kb-ingest-embed") as background:
            for page in tqdm(pages, desc="ingest", unit="page", disable=not self.progress):
                chunks = chunk_page(page, ingested=self.now)
                if not chunks:
                    self.report.skipped.append(Skipped(page.source, NO_TEXT))
                    continue
                rec = self.known.get(page.source)
                if rec and rec.complete and rec.page_hash == chunks[0].page_hash:
                    if rec.meta_hash == chunks[0].metadata["meta_hash"]:
                        self.report.unchanged.append(page.source)
                    else:  # same text, new metadata (e.g. a duplicate recorded): no embedding needed
                        self.store.rewrite(chunks)
                        self.report.updated.append(page.source)
                    continue
                pending.append((chunks, rec))
                if sum(len(c) for c, _ in pending) >= EMBED_BATCH:
                    embedding = self.flush(pending, embedding, background)
                    pending = []
            embedding = self.flush(pending, embedding, background)
            if embedding is not None:
                self.store_batch(embedding[1], embedding[0].result())

    def flush(self, pending: Batch, embedding: tuple[Any, Batch] | None,
              background: Any) -> tuple[Any, Batch] | None:
        """Start embedding `pending` in the background, then store the batch embedded before it."""
        if not pending:
            return embedding
        if self.model is None:
            embedder = self.embedder
            self.model = embedder() if callable(embedder) and not hasattr(embedder, "encode") else embedder
            self.own_vectors()
        texts = [c.embed_text() for page_chunks, _ in pending for c in page_chunks]
        started = background.submit(embed_texts, self.model, texts, self.max_tokens)
        if embedding is not None:
            self.store_batch(embedding[1], embedding[0].result())
        return started, pending

    def store_batch(self, pending: Batch, vectors: Any) -> None:
        """Write a batch of whole pages, then delete what each page no longer has."""
        chunks = [c for page_chunks, _ in pending for c in page_chunks]
        self.store.upsert(chunks, vectors)
        for page_chunks, rec in pending:
            source = page_chunks[0].source
            if rec:
                new_ids = {c.id for c in page_chunks}
                self.store.delete_ids([i for i in rec.ids if i not in new_ids])
            self.report.chunks_written += len(page_chunks)
            (self.report.updated if rec else self.report.added).append(source)

    def own_vectors(self) -> None:
        """Before the first write: the model must compute the store's kind of vectors (else
        EmbedderMismatch), and a store without a record gets this model's, so later queries and
        ingests use (or are checked against) the same embedder (kb/backends/vectors.py)."""
        from kb.backends.vectors import check_store, identity

        check_store(self.store, self.model)
        have = identity(self.model)
        if have is not None and self.store.embedder_record() is None:
            self.store.record_embedder(have)


def embed_texts(model: Any, texts: list[str], max_tokens: int = 0) -> Any:
    """Unit vectors for chunk texts, each read up to `max_tokens` word pieces (0: the model's limit).

    Embedding is ~90% of an ingest and its cost grows with the word pieces read, so
    the cap (`ingest_max_tokens`) is the main lever on ingest time; BM25 still
    indexes the whole chunk. The ONNX embedder cuts the ids itself; a
    SentenceTransformer gets its `max_seq_length` lowered for the call.
    """
    onnx = getattr(model, "cuts_tokens", False)  # kb.backends.onnx_embed.OnnxEmbedder
    # ONNX Runtime runs MiniLM fastest in batches of 4: 128-piece texts in batches of 16 took ~1.2x the CPU
    # time, 32 ~1.35x (the attention tensors outgrow the CPU cache; docs/bench-speed.md, "Ingest, evening
    # of 2026-11-30")
    kwargs: dict[str, Any] = {"batch_size": ONNX_BATCH if onnx else 16, "normalize_embeddings": True,
                              "show_progress_bar": False}
    if not max_tokens or max_tokens >= getattr(model, "max_seq_length", 0):
        return model.encode(texts, **kwargs)
    if onnx:
        return model.encode(texts, max_tokens=max_tokens, **kwargs)
    before = model.max_seq_length
    model.max_seq_length = max_tokens
    try:
        return model.encode(texts, **kwargs)
    finally:
        model.max_seq_length = before
