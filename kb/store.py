"""The Chroma collection that holds every chunk, embedded or behind a server.

Chunks are written in LlamaIndex's node format (so its ChromaVectorStore reads
them back as nodes) but with `upsert` and stable ids, so writing the same page
twice changes nothing. Page bookkeeping (hash, chunk count, times) lives in each
chunk's metadata: the store stays the single source of truth, which is what makes
an interrupted ingest repairable by simply running it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.errors import StoreUnavailable
from kb.types import Chunk

if TYPE_CHECKING:
    from kb.settings import Settings

BATCH = 1000
GENERATION = "kb_generation"  # collection metadata key, changed on every write
EMBED_MODEL = "kb_embed_model"  # collection metadata: the embedding model the stored vectors came from
EMBED_BACKEND = "kb_embed_backend"  # ... and the runtime that computed them (onnx-int8 moves vectors; see registry)
INGEST_LOCK = "ingest.lock"  # flock held by `kb ingest` while it writes (ingest/pipeline.py)
META_FIELDS = ("source", "title", "section", "position", "page_hash", "page_chunks")


@dataclass(frozen=True)
class EmbedderRecord:
    """Which embedder wrote a store's vectors: a query must be embedded the same way to be compared with them."""

    model: str
    backend: str

    def __str__(self) -> str:
        return f"{self.model} ({self.backend})"


@dataclass
class PageRecord:
    source: str
    title: str
    page_hash: str
    chunks: int
    expected: int
    ingested: str
    modified: str
    duplicates: str = ""  # sources collapsed into this page as near-duplicates
    meta_hash: str = ""  # fingerprint of the page's metadata (see ingest.chunk.stamp)
    content_hash: str = ""  # sha256 of the source bytes when ingested (drift check)
    ids: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.chunks == self.expected


def open_client(settings: Settings) -> Any:
    """An embedded PersistentClient, or an HttpClient when chroma_url is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise StoreUnavailable(f"KB_CHROMA_URL {settings.chroma_url!r} is not a URL like http://localhost:8000")
        try:
            client = chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                         ssl=url.scheme == "https", settings=chroma_settings)
            client.heartbeat()
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(
                f"Chroma server at {settings.chroma_url} does not answer (KB_CHROMA_URL / --chroma-url): "
                f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}. "
                "Start it with `chroma run --path DIR` or unset KB_CHROMA_URL to use the embedded store."
            ) from exc
        return client
    check_store_file(settings)
    try:
        settings.store.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.store), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001
        raise StoreUnavailable(f"cannot open the store at {settings.store} (KB_STORE / --store): {exc}") from exc


SQLITE_HEADER = b"SQLite format 3\x00"


def check_store_file(settings: Settings) -> None:
    """Raise StoreDamaged when the store's chroma.sqlite3 is empty, truncated or not SQLite.

    Chroma would open a 0-byte file as a new, empty database, and kb would then report an
    empty store: a damaged one must say so, and say what to do.
    """
    path = settings.store / "chroma.sqlite3"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(100)
    except FileNotFoundError:
        return  # a new store
    except OSError as exc:
        raise StoreUnavailable(f"cannot read {path} (KB_STORE / --store): {exc.strerror or exc}") from None
    why = ""
    if size == 0:
        why = "is 0 bytes"
    elif len(head) < 100 or not head.startswith(SQLITE_HEADER):
        why = "is not an SQLite database"
    else:
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        valid = head[24:28] == head[92:96]  # the in-header page count is only meaningful when these match
        wal = path.with_name(path.name + "-wal")
        if valid and pages and size < page_size * pages and not (wal.exists() and wal.stat().st_size):
            why = f"is truncated ({size:,} of {page_size * pages:,} bytes)"
    if why:
        from kb.errors import StoreDamaged

        raise StoreDamaged(
            f"the store at {settings.store} is damaged: {path.name} {why}. Restore the folder from a backup, or "
            f"move it aside and rebuild it with `kb ingest PATH...` (KB_STORE / --store)."
        )


class Store:
    """One collection of chunks; every read and write of the knowledge base goes through here."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or open_client(settings)
        try:
            self.collection = self.client.get_or_create_collection(
                settings.collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(
                f"cannot open collection {settings.collection!r} (KB_COLLECTION / --collection): "
                f"{str(exc).splitlines()[0][:300]}"
            ) from exc

    def reopen(self) -> None:
        """Open a fresh client on the same store.

        An embedded Chroma client keeps its vector index in memory and does not see
        another process's writes: after `kb ingest` elsewhere, fetching a new chunk's
        vector fails with "Error finding id". Chroma shares one client per folder in a
        process; that shared instance is dropped (not stopped: a test or another Store may
        still hold it) so the next client loads the store as it is on disk now.
        """
        if not self.settings.chroma_url:
            from chromadb.api.shared_system_client import SharedSystemClient

            ident = getattr(self.client, "_identifier", None) or str(self.settings.store)
            SharedSystemClient._identifier_to_system.pop(ident, None)
            SharedSystemClient._identifier_to_refcount.pop(ident, None)
        fresh = Store(self.settings)
        self.client, self.collection = fresh.client, fresh.collection

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.store)

    def count(self) -> int:
        return int(self.collection.count())

    # -- writing -----------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        for start in range(0, len(chunks), BATCH):
            part = chunks[start:start + BATCH]
            metas = []
            for chunk in part:
                node = TextNode(id_=chunk.id, text=chunk.text, metadata=_flat_meta(chunk))
                meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
                metas.append({k: ("" if v is None else v) for k, v in meta.items()})
            self.collection.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                metadatas=metas,
                embeddings=[list(map(float, e)) for e in embeddings[start:start + BATCH]],
            )
        if chunks:
            self._bump()

    def rewrite(self, chunks: Sequence[Chunk]) -> None:
        """Write chunks whose text is unchanged with new metadata, keeping their stored embeddings."""
        ids = [c.id for c in chunks]
        got = self.collection.get(ids=ids, include=["embeddings"])
        vectors = dict(zip(got["ids"], got["embeddings"], strict=True))
        self.upsert(chunks, [vectors[i] for i in ids])

    def delete_ids(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), BATCH):
            self.collection.delete(ids=ids[start:start + BATCH])
        if ids:
            self._bump()

    def _bump(self) -> None:
        import uuid

        self._set_metadata({GENERATION: uuid.uuid4().hex})

    def _metadata(self) -> dict[str, Any]:
        return dict(self.client.get_collection(self.settings.collection, embedding_function=None).metadata or {})

    def _set_metadata(self, update: dict[str, Any]) -> None:
        """modify() replaces the whole metadata, so kb's own keys are carried over. The distance function
        lives in the collection's configuration: 'hnsw:' keys are left out (Chroma refuses to change them)."""
        meta = {k: v for k, v in self._metadata().items() if k in (GENERATION, EMBED_MODEL, EMBED_BACKEND)}
        self.collection.modify(metadata={**meta, **update})

    def generation(self) -> str:
        """A token that changes with every write, so caches built from the store (the
        BM25 index, a daemon's corpus) know when they are stale. '' for stores written
        before kb stamped one."""
        return str(self._metadata().get(GENERATION, ""))

    def embedder_record(self) -> EmbedderRecord | None:
        """The embedder recorded by the ingest that wrote the vectors; None for stores written before kb
        recorded it (those were embedded with onnx fp32 or torch, which give the same vectors)."""
        meta = self._metadata()
        if not meta.get(EMBED_BACKEND):
            return None
        return EmbedderRecord(str(meta.get(EMBED_MODEL, "")), str(meta[EMBED_BACKEND]))

    def record_embedder(self, record: EmbedderRecord) -> None:
        """Stamp the embedder on the collection, so later queries and ingests pick or check the same one."""
        self._set_metadata({EMBED_MODEL: record.model, EMBED_BACKEND: record.backend})

    def delete_source(self, source: str) -> int:
        ids = self.collection.get(where={"source": source}, include=[])["ids"]
        self.delete_ids(ids)
        return len(ids)

    # -- reading -----------------------------------------------------------
    def _read_all(self, include: list[str]) -> Iterator[dict[str, Any]]:
        """The whole collection in reads of 5,000 chunks."""
        for offset in range(0, self.count(), 5000):
            yield self.collection.get(include=include, limit=5000, offset=offset)

    def all_chunks(self) -> list[Chunk]:
        """Every chunk (text and metadata), for BM25 and page listings."""
        return [chunk_from_meta(cid, doc or "", meta or {})
                for got in self._read_all(["documents", "metadatas"])
                for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]

    def vectors(self, ids: Sequence[str]) -> Any:
        """Every stored embedding as a float32 matrix whose rows follow `ids` (kb/retrieve.py exact search).
        An id the store no longer holds (removed by an ingest still running, while the engine keeps its corpus)
        gets a zero row: `get_chunks` does not find it, so it is never a hit, as the graph would not find it."""
        import numpy as np

        rows: dict[str, Any] = {}
        for got in self._read_all(["embeddings"]):
            rows.update(zip(got["ids"], got["embeddings"], strict=True))
        dim = len(next(iter(rows.values()))) if rows else 0
        return np.asarray([rows.get(cid, [0.0] * dim) for cid in ids], dtype=np.float32).reshape(len(ids), -1)

    def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id, in one read."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {cid: chunk_from_meta(cid, doc or "", meta or {})
                for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}

    def get_with_vectors(self, ids: Sequence[str]) -> dict[str, tuple[Chunk, Any]]:
        """Chunks and their stored embeddings by id, in one read."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        return {cid: (chunk_from_meta(cid, doc or "", meta or {}), vec)
                for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"],
                                               strict=True)}

    def pages(self, chunks: list[Chunk] | None = None) -> dict[str, PageRecord]:
        pages: dict[str, PageRecord] = {}
        for chunk in chunks if chunks is not None else self.all_chunks():
            rec = pages.get(chunk.source)
            meta = chunk.metadata
            if rec is None:
                rec = pages[chunk.source] = PageRecord(
                    source=chunk.source, title=chunk.title, page_hash=chunk.page_hash, chunks=0,
                    expected=chunk.page_chunks, ingested=str(meta.get("ingested", "")),
                    modified=str(meta.get("modified", "")), duplicates=str(meta.get("duplicates", "")),
                    meta_hash=str(meta.get("meta_hash", "")), content_hash=str(meta.get("content_hash", "")),
                )
            elif rec.page_hash != chunk.page_hash or rec.meta_hash != str(meta.get("meta_hash", "")):
                rec.page_hash = "mixed"  # a page half-rewritten by an interrupted ingest
            rec.chunks += 1
            rec.ids.append(chunk.id)
        return pages

    def dense_query(self, embedding: Sequence[float], k: int, checked: bool = False) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity, straight from the Chroma collection.

        Not through LlamaIndex's ChromaVectorStore: importing llama_index.core costs ~2.5 s of a cold
        `kb ask` (its package init loads every index type), and the query is one call either way.
        `checked`: the caller already capped k at the chunk count (counting costs ~8 ms at 100k chunks)."""
        k = k if checked else min(k, self.count())
        if k <= 0:
            return []
        res = self.collection.query(query_embeddings=[list(map(float, embedding))], n_results=k,
                                    include=["documents", "metadatas", "distances"])
        ids, docs = res["ids"][0], (res.get("documents") or [[]])[0]
        metas, dists = (res.get("metadatas") or [[]])[0], (res.get("distances") or [[]])[0]
        # the collection's space is cosine: distance = 1 - cosine similarity
        return [(chunk_from_meta(cid, doc or "", dict(meta or {})), 1.0 - float(dist))
                for cid, doc, meta, dist in zip(ids, docs, metas, dists, strict=False)]


def ingest_running(settings: Settings) -> bool:
    """True while a `kb ingest` holds the store's lock (probed with a shared, non-blocking flock
    that is let go at once, so an ingest starting now is not held up)."""
    import fcntl
    import os

    try:
        fd = os.open(settings.data_dir / INGEST_LOCK, os.O_RDONLY)
    except OSError:
        return False  # no ingest ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _flat_meta(chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": chunk.source, "title": chunk.title, "section": chunk.section,
        "position": chunk.position, "page_hash": chunk.page_hash, "page_chunks": chunk.page_chunks,
    }
    for key, value in chunk.metadata.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        if isinstance(value, (str, int, float, bool)):
            meta[key] = value
    return meta


def chunk_from_meta(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    extra = {k: v for k, v in meta.items() if k not in META_FIELDS and not k.startswith("_")
             and k not in ("doc_id", "document_id", "ref_doc_id")}
    return Chunk(
        id=cid, text=text, source=str(meta.get("source", "")), title=str(meta.get("title", "")),
        section=str(meta.get("section", "")), position=int(meta.get("position", 0) or 0),
        page_hash=str(meta.get("page_hash", "")), page_chunks=int(meta.get("page_chunks", 0) or 0),
        metadata=extra,
    )
