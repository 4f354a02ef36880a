"""Hybrid retrieval: dense (Chroma) and BM25 fused by reciprocal rank, with glossary routing.

Dense search finds paraphrases; BM25 finds exact terms ("MoE", "DPO") that a
small embedder blurs. Questions about a named term ("what is X", "X vs Y") are
routed so each term's defining page comes first. A passage that repeats one ranked
above it (a near-copy from the same page, the same text on another page) is dropped,
so a duplicate can never fill the context twice while similar pages each keep theirs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kb.scope import key_words
from kb.store import Store
from kb.text import content_words, defined_terms, term_key, tokens_for_bm25
from kb.types import Chunk, Hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankWeights:
    """Every number that fuses and ranks retrieval's candidates, in one place.

    Tuned on the sample, shared and realdocs sets together (docs/eval.md, "Realdocs retrieval:
    which page ranks first (r13p)"): a change is kept only when realdocs hit@1 / MRR rise and
    neither of the other two sets drops.
    """

    rrf_k: int = 60  # reciprocal-rank constant: 10-100 ranked every set the same
    dense: float = 1.0  # weight of the dense (embedding) ranking in the fusion
    lexical: float = 1.0  # weight of the BM25 ranking; 0.8 raised realdocs hit@1 0.872 -> 0.885 but moved the
    # passages below the first and lost key facts (realdocs key-fact recall 0.750 -> 0.735), so not kept
    term_query: float = 0.8  # weight of each term's own query for "X vs Y" (the question itself weighs 1)
    entry: float = 2.0  # a glossary entry of an asked term, in RRF units at rank 1: comes first
    defining: float = 0.5  # a page titled by (or aliased to) an asked term, per passage, falling with position
    defining_first: float = 3.0  # ... times this for the page's first passage
    definition: float = 3.0  # a passage opening a paragraph with "X is a ...", for "what is X?" when X has no
    # glossary entry and its own page has no such sentence: realdocs "What is LoRA?" found a config page's
    # rank-pattern section first and "What is ORPO?" a page that lists its dataset formats (2 of 167 questions
    # moved to the defining passage; key-fact recall 0.804 -> 0.818; sample, seed pages and the held-out set
    # unchanged). Below 3 the LoRA passage stayed second.
    absent: float = 0.003  # choosing the first passage (`Retriever._lead`): its fused score less this times the
    # IDF share of the question's key words that its page never uses ("torchtune", "Mistral", "vLLM"):
    # realdocs hit@1 0.872 -> 0.899, MRR 0.921 -> 0.937; seed pages hit@1 0.952 -> 0.968; sample same.
    # 0.002-0.004 scored within 0.007 of it. A page lacking a fifth of the question's weight pays 0.0006,
    # about one place in both rankings near the top (1/61 - 1/62 = 0.00026 per ranking): it decides near-ties.


WEIGHTS = RankWeights()
CACHE_VERSION = 6  # bump when tokenization or the saved fields change: saved indexes are rebuilt
MAX_DEFINITIONS = 20  # a term defined in more passages than this is common enough for fusion to rank alone
CACHE_MIN = 2_000  # smaller stores build their index faster than a cache pays back
# Up to this many passages, dense search is exact (one matrix product over the stored vectors) rather than
# Chroma's HNSW graph, which each process loads slightly differently: on realdocs (1,459 passages) 5-8 of
# 167 questions missed one of their 20 nearest passages, a different few in each process, so the same
# question could get another answer in the next run. The product costs ~0.2 ms at 1,459 passages and grows
# with the store (50,000: ~16 ms on one busy AMD EPYC core, 77 MB of vectors); above EXACT_MAX the graph is
# faster, and bench/scale.py's 100k-passage figures stay the graph's.
EXACT_MAX = 20_000
DEFINE = re.compile(r"^\s*(?:what(?:'s| is| are)|define|definition of|explain|describe|tell me about|"
                    r"what does)\s+(?:an?\s+|the\s+)?(.+?)(?:\s+mean|\s+stand for)?"
                    r"(?:\s+in\s+(?:an?\s+|the\s+)?[\w.+-]+(?:\s+[\w.+-]+)?)?\s*\??\s*$", re.I)
# what follows the term: a second question ('and why ...'), the question after a colon ('X vs Y: how do they
# differ?'), a use asked about ('used for ...'), 'mean ...' / 'stand for ...' with where it is used
TERM_TAIL = re.compile(r"(?:\s+and\s+(?:why|how|what|when|where|which|who)\b|\s*:\s|\s+used\s+(?:for|to|in)\b|"
                       r"\s+(?:mean|stand\s+for)\b).*$", re.I)
PRONOUN_TERM = re.compile(r"^(?:it|they|them|this|that|these|those|each|one)$", re.I)
DOES = re.compile(r"^\s*what\s+does\b", re.I)
MEANS = re.compile(r"\b(?:mean|stand for)\b", re.I)
COMPARE = [
    re.compile(r"difference(?:s)?\s+between\s+(?:an?\s+|the\s+)?(.+?)\s+and\s+(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
    re.compile(r"^(?:.*?\b)?(?:an?\s+|the\s+)?([\w\s-]+?)\s+(?:vs\.?|versus|compared (?:to|with))\s+"
               r"(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
    re.compile(r"\b(?:how (?:is|are|does|do))\s+(?:an?\s+|the\s+)?(.+?)\s+differ(?:ent)?\s+from\s+"
               r"(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
    # 'Are serving and inference the same thing?', 'How do X and Y differ?', 'Is X the same as Y?'
    re.compile(r"^\s*(?:are|is)\s+(?:an?\s+|the\s+)?(.+?)\s+and\s+(?:an?\s+|the\s+)?(.+?)\s+"
               r"(?:the same(?: thing)?|different|any different)\s*\??$", re.I),
    re.compile(r"^\s*how\s+do\s+(?:an?\s+|the\s+)?(.+?)\s+and\s+(?:an?\s+|the\s+)?(.+?)\s+differ\s*\??$", re.I),
    re.compile(r"^\s*(?:is|are)\s+(?:an?\s+|the\s+)?(.+?)\s+the same(?: thing)? as\s+(?:an?\s+|the\s+)?(.+?)\s*\??$",
               re.I),
    # 'Distillation or quantization: how do they differ?'
    re.compile(r"^\s*(?:an?\s+|the\s+)?([\w\s-]+?)\s+or\s+(?:an?\s+|the\s+)?([\w\s-]+?)\s*:\s*(?:how|what)\b.*"
               r"\b(?:differ|difference)", re.I),
]
WHY_NOT = re.compile(r"\bwhy (?:not|shouldn't|should not|can't|cannot|don't|do not)\b.*?\b(?:an?|the)\s+(.+?)\s*\??$",
                     re.I)


def question_terms(question: str) -> list[str]:
    """The glossary terms a question is about, or [] when it names none plainly."""
    q = question.strip()
    for pattern in COMPARE:
        m = pattern.search(q)
        if m:
            first = _clean_term(m.group(1))
            if PRONOUN_TERM.match(first):  # 'What is DPO and how does it differ from RLHF?': 'it' is DPO
                named = DEFINE.match(q.split(" and ", 1)[0] + "?")
                first = _clean_term(named.group(1)) if named else first
            return [first, _clean_term(m.group(2))]
    m = WHY_NOT.search(q)
    if m:
        return [_clean_term(m.group(1))]
    m = DEFINE.match(q)
    if m:
        term = m.group(1)
        # 'what does the KV cache hold?': the subject, then the verb asked about (not 'mean' / 'stand for')
        if DOES.match(q) and not MEANS.search(q) and 2 <= len(term.split()) <= 3:
            term = term.rsplit(None, 1)[0]
        term = _clean_term(term)
        return [] if PRONOUN_TERM.match(term) else [term]  # 'what does it mean when ...' names no term
    return []


def _clean_term(term: str) -> str:
    """The term without what the question goes on to ask about it: 'KV cache offloading and why bother',
    'TPOT: what does each measure', 'small language models used for', 'preemption mean in an engine',
    "s the maximum context length of X" (from "What's")."""
    term = TERM_TAIL.sub("", term.strip(" ?.!\"'"))
    term = re.sub(r"^s \s*(?:the\s+)?", "", term)
    return re.sub(r"\s+", " ", term).strip(" ?.!,;\"'")


@dataclass
class Corpus:
    """What retrieval keeps in memory: the BM25 index, the chunk ids it ranks, and the
    glossary terms. Chunk texts stay in the store and are read for hits only.

    Building the index means reading and stemming every chunk (tens of seconds at
    100k chunks), so it is saved under cache_dir, keyed by the store's generation,
    and memory-mapped by the next process instead of being rebuilt.
    """

    store: Store
    ids: list[str]
    bm25: Any
    terms: dict[str, set[str]]  # term key -> sources that define it
    generation: str = ""
    entries: dict[str, set[str]] = field(default_factory=dict)  # term key -> chunk ids of glossary entries
    definitions: dict[str, dict[str, str]] = field(default_factory=dict)  # term key -> {chunk id: page} of
    # passages with a paragraph opening "<term> is a ..." (kb.text.defined_terms)
    sources: list[str] = field(default_factory=list)  # the pages, each once
    page_of: Any = None  # numpy int32 array: chunk index (as in `ids`) -> index into `sources`
    _words: dict[str, set[str]] | None = field(default=None, repr=False)
    _where: dict[str, int] | None = field(default=None, repr=False)  # source -> index into `sources`, built once
    _matrix: Any = field(default=None, repr=False)  # the stored vectors, rows as `ids`: read on first exact search

    @classmethod
    def load(cls, store: Store, cache_dir: Path | None = None) -> Corpus:
        generation = store.generation()
        folder = _cache_folder(store, cache_dir) if cache_dir is not None and generation else None
        if folder is not None:
            cached = cls._read(store, folder, generation)
            if cached is not None:
                return cached
        corpus = cls.build(store, generation or f"count:{store.count()}")
        if folder is not None and len(corpus.ids) >= CACHE_MIN:
            corpus._write(folder)
        return corpus

    @classmethod
    def build(cls, store: Store, generation: str) -> Corpus:
        bm25s = _bm25s()
        chunks = store.all_chunks()
        bm25 = bm25s.BM25()
        if chunks:
            bm25.index([tokens_for_bm25(c.embed_text()) or ["_"] for c in chunks], show_progress=False)
        terms: dict[str, set[str]] = {}
        entries: dict[str, set[str]] = {}
        definitions: dict[str, dict[str, str]] = {}
        for c in chunks:
            for paragraph in c.text.split("\n\n"):
                for key in defined_terms(paragraph):
                    definitions.setdefault(key, {})[c.id] = c.source
            for name in str(c.metadata.get("entries", "")).split(";"):  # a glossary page's entry (ingest/rst.py)
                if term_key(name):
                    entries.setdefault(term_key(name), set()).add(c.id)
            names = [c.title, str(c.metadata.get("term", ""))]
            names += [a for a in str(c.metadata.get("aliases", "")).split(",") if a.strip()]
            for name in names:
                key = term_key(re.sub(r"^what is\s+", "", name, flags=re.I))
                if key:
                    terms.setdefault(key, set()).add(c.source)
        sources = list(dict.fromkeys(c.source for c in chunks))
        where = {src: i for i, src in enumerate(sources)}
        return cls(store=store, ids=[c.id for c in chunks], bm25=bm25, terms=terms, generation=generation,
                   entries=entries, definitions=definitions, sources=sources,
                   page_of=_int_array([where[c.source] for c in chunks]))

    def stale(self) -> bool:
        generation = self.store.generation()
        return generation != self.generation if generation else self.generation != f"count:{self.store.count()}"

    def _write(self, folder: Path) -> None:
        """Best effort: a cache that cannot be written only costs the next process a rebuild."""
        import json
        import os
        import shutil

        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            if self.ids:
                self.bm25.save(str(tmp))
            (tmp / "corpus.json").write_text(json.dumps({
                "version": CACHE_VERSION, "generation": self.generation, "ids": self.ids,
                "terms": {k: sorted(v) for k, v in self.terms.items()},
                "entries": {k: sorted(v) for k, v in self.entries.items()},
                "definitions": self.definitions,
                "sources": self.sources, "page_of": [int(i) for i in self.page_of]}))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            log.warning("cannot save the BM25 index under %s (%s): every process will build it again; "
                        "point KB_CACHE_DIR at a writable folder", folder.parent, exc.strerror or exc)

    @classmethod
    def _read(cls, store: Store, folder: Path, generation: str) -> Corpus | None:
        import json

        try:
            meta = json.loads((folder / "corpus.json").read_text())
            if meta.get("version") != CACHE_VERSION or meta.get("generation") != generation:
                return None
            bm25 = _bm25s().BM25.load(str(folder), mmap=True) if meta["ids"] else _bm25s().BM25()
        except (OSError, ValueError, KeyError):
            return None
        return cls(store=store, ids=meta["ids"], bm25=bm25, generation=generation,
                   terms={k: set(v) for k, v in meta["terms"].items()},
                   entries={k: set(v) for k, v in meta.get("entries", {}).items()},
                   definitions=meta.get("definitions", {}),
                   sources=meta.get("sources", []), page_of=_int_array(meta.get("page_of", [])))

    def bm25_ranked(self, query: str, k: int) -> list[tuple[str, float]]:
        """Ids and BM25 scores of the k best chunks (score > 0), without reading their texts."""
        toks = tokens_for_bm25(query)
        if not self.ids or not toks:
            return []
        import numpy as np

        scores = self.bm25.get_scores(toks)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return [(self.ids[int(i)], float(scores[i])) for i in top[np.argsort(-scores[top])] if scores[i] > 0]

    @property
    def size(self) -> int:
        return len(self.ids)

    def nearest(self, qvec: Sequence[float], k: int) -> list[tuple[Chunk, float]]:
        """The k passages most similar to the query vector, exactly, best first (ties in index order), as
        `Store.dense_query` returns them. The vectors are read from the store once per corpus."""
        import numpy as np

        if self._matrix is None:
            self._matrix = self.store.vectors(self.ids)
        if not self.ids or k <= 0:
            return []
        sims = self._matrix @ np.asarray(qvec, dtype=np.float32)
        k = min(k, len(sims))
        top = np.sort(np.argpartition(-sims, k - 1)[:k])
        top = top[np.argsort(-sims[top], kind="stable")]
        chunks = self.store.get_chunks([self.ids[int(i)] for i in top])
        return [(chunks[self.ids[int(i)]], float(sims[i])) for i in top if self.ids[int(i)] in chunks]

    def document_frequency(self, word: str) -> int:
        """How many passages hold this stemmed word (kb/scope.py: a question's key word no passage uses
        is evidence it is out of scope). Read from the BM25 index: one column per word."""
        vocab = getattr(self.bm25, "vocab_dict", None) or {}
        col = vocab.get(word)
        if col is None or not self.ids:
            return 0
        indptr = self.bm25.scores["indptr"]
        return int(indptr[col + 1] - indptr[col])

    def pages_using(self, word: str) -> Any:
        """Which pages have a passage holding this stemmed word: a numpy bool array over `sources`,
        read from the BM25 index's column for the word (no page text is read; O(passages holding it))."""
        import numpy as np

        used = np.zeros(len(self.sources), dtype=bool)
        vocab = getattr(self.bm25, "vocab_dict", None) or {}
        col = vocab.get(word)
        if col is None or not self.ids or self.page_of is None:
            return used
        indptr = self.bm25.scores["indptr"]
        used[self.page_of[np.asarray(self.bm25.scores["indices"][indptr[col]:indptr[col + 1]])]] = True
        return used

    def absent_share(self, question: str, sources: list[str]) -> dict[str, float]:
        """For each page, the IDF-weighted share of the question's key words (kb/scope.py `key_words`)
        that none of its passages uses; words no passage uses are left out, as they tell no page apart.

        A page that never names what the question names ('torchtune', 'Mistral', '70B') is about
        something else, however close its wording: a reference page that summarises a guide of
        another tool, a generic overview beside the product's own page.
        """
        import numpy as np

        if self._where is None:
            self._where = {src: i for i, src in enumerate(self.sources)}
        wanted = np.asarray([self._where.get(src, -1) for src in sources], dtype=np.int64)
        known = wanted >= 0
        missing = np.zeros(len(sources))
        total = 0.0
        n = len(self.ids)
        for word in key_words(question):
            df = self.document_frequency(word)
            if not df:
                continue
            idf = math.log(1 + n / (1 + df))
            total += idf
            missing[known] += idf * ~self.pages_using(word)[wanted[known]]
        # a page the index does not know (written since it was loaded) has no evidence against it
        return {src: float(m / total) if total else 0.0 for src, m in zip(sources, missing, strict=True)}

    def bm25_search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        ranked = self.bm25_ranked(query, k)
        found = self.store.get_with_vectors([cid for cid, _ in ranked])
        return [(found[cid][0], score) for cid, score in ranked if cid in found]

    def defining_sources(self, term: str) -> set[str]:
        key = term_key(term)
        if not key:
            return set()
        if key in self.terms:
            return self.terms[key]
        # 'mixture of experts (moe)' ~ 'mixture expert', 'moe'
        if len(key) < 3:
            return set()
        keys = set.intersection(*(self._term_index().get(w, set()) for w in key.split()))
        return {s for k in keys for s in self.terms[k]}

    def defining_passages(self, term: str) -> list[str]:
        """Passages that define a term no glossary entry and no page of its own defines in a sentence:
        "What is LoRA?" over pages where LoRA's own page is a config reference and the definition
        opens a tutorial's section. [] when the term has an entry or its one own page says what it is;
        with several own pages (titled 'RLHF', '... (RLHF) reference'), those of them that say it."""
        key = term_key(term)
        found = self.definitions.get(key, {})
        if not found or len(found) > MAX_DEFINITIONS or key in self.entries:
            return []
        own = self.defining_sources(term)
        if len(own) > 1:  # several pages are titled by the term: the one that says what it is
            return sorted(cid for cid, page in found.items() if page in own)
        return [] if set(found.values()) & own else sorted(found)

    def _term_index(self) -> dict[str, set[str]]:
        """word -> term keys holding it, built once: a 100k-chunk store has ~20k titles to scan."""
        if self._words is None:
            self._words = {}
            for k in self.terms:
                for w in k.split():
                    self._words.setdefault(w, set()).add(k)
        return self._words


class Retriever:
    def __init__(self, store: Store, embedder: Any, corpus: Corpus, candidates: int = 20,
                 weights: RankWeights = WEIGHTS) -> None:
        self.store = store
        self.embedder = embedder
        self.corpus = corpus
        self.candidates = candidates
        self.weights = weights

    def embed(self, text: str) -> list[float]:
        return self.embedder.encode([text], normalize_embeddings=True, show_progress_bar=False)[0].tolist()

    def retrieve(self, question: str, k: int) -> list[Hit]:
        terms = question_terms(question)
        queries = [question] + ([t if len(terms) == 1 else f"{t}" for t in terms] if len(terms) > 1 else [])
        w = self.weights
        fused: dict[str, Hit] = {}
        qvec: list[float] = []
        for qi, query in enumerate(queries):
            weight = 1.0 if qi == 0 else w.term_query
            vec = self._fuse(query, weight, fused, max(self.candidates, k))  # -k 30 needs 30 candidates
            qvec = qvec or vec  # the question's own embedding
        self._route_entries(terms, qvec, fused)
        if len(terms) == 1 and DEFINE.match(question.strip()) and not WHY_NOT.search(question):
            self._route(self.corpus.defining_passages(terms[0]), qvec, fused, self.weights.definition)
        for term in terms:
            for source in self.corpus.defining_sources(term):
                for hit in fused.values():
                    if hit.chunk.source == source:
                        first = w.defining_first if hit.chunk.position == 0 else 1.0
                        hit.score += w.defining / (w.rrf_k + hit.chunk.position + 1) * first
        ranked = self._lead(question, sorted(fused.values(), key=lambda h: -h.score))
        if len(terms) > 1:
            ranked = _interleave_terms(ranked, terms, self.corpus)
        return collapse_near_duplicates(ranked, limit=k)

    def _route_entries(self, terms: list[str], qvec: list[float], fused: dict[str, Hit]) -> None:
        """A term that is an entry of a glossary page: that entry's chunk comes first, found or not."""
        for term in terms:
            self._route(sorted(self.corpus.entries.get(term_key(term), set())), qvec, fused, self.weights.entry)

    def _route(self, ids: list[str], qvec: list[float], fused: dict[str, Hit], weight: float) -> None:
        """These passages gain `weight` RRF units at rank 1, read from the store when fusion missed them."""
        import numpy as np

        new = self.store.get_with_vectors([cid for cid in ids if cid not in fused]) if ids else {}
        for cid in ids:
            if cid not in fused:
                if cid not in new:
                    continue
                chunk, vector = new[cid]
                dense = float(np.asarray(vector, dtype=np.float32) @ np.asarray(qvec, dtype=np.float32))
                fused[cid] = Hit(chunk=chunk, score=0.0, dense=dense)
            fused[cid].score += weight / (self.weights.rrf_k + 1)

    def _lead(self, question: str, ranked: list[Hit]) -> list[Hit]:
        """The passage that comes first: the best by fused score less `absent` times the share of the
        question's key words its page never uses; the others keep the fusion's order.

        Fusion ranks passages by their own wording; on real documentation a passage of a page about
        another product often reads as close as the one that answers ("What learning rate does
        Mistral suggest ...?" can find another tool's learning-rate section first). The page is the
        unit that names the product, so its vocabulary (the BM25 index, one column per question word)
        decides near-ties for the first place. Only the first place: reordering the passages below
        it moved which quotes fill an answer without evidence that they were better (the seed
        pages' key-fact recall fell 0.921 -> 0.913 when the penalty reordered every passage).
        Fused scores are left as they were, so `kb search --explain` shows what fusion found.
        """
        if not self.weights.absent or len(ranked) < 2:
            return ranked
        shares = self.corpus.absent_share(question, list(dict.fromkeys(h.chunk.source for h in ranked)))
        lead = max(ranked, key=lambda h: h.score - self.weights.absent * shares.get(h.chunk.source, 0.0))
        return [lead] + [h for h in ranked if h is not lead]

    def _fuse(self, query: str, weight: float, fused: dict[str, Hit], candidates: int) -> list[float]:
        import numpy as np

        w = self.weights
        qvec = self.embed(query)
        n = min(candidates, len(self.corpus.ids))
        dense = (self.corpus.nearest(qvec, n) if self.corpus.size <= EXACT_MAX
                 else self.store.dense_query(qvec, n, checked=True))
        for rank, (chunk, cos) in enumerate(dense):
            hit = fused.setdefault(chunk.id, Hit(chunk=chunk, score=0.0))
            hit.score += weight * w.dense / (w.rrf_k + rank + 1)
            hit.dense = max(hit.dense, cos)
        lexical = self.corpus.bm25_ranked(query, candidates)
        # lexical-only hits need text and a similarity: one read of what ingest stored
        new = self.store.get_with_vectors([cid for cid, _ in lexical if cid not in fused])
        q = np.asarray(qvec, dtype=np.float32)
        for rank, (cid, score) in enumerate(lexical):
            if cid not in fused:
                if cid not in new:
                    continue
                chunk, vector = new[cid]
                fused[cid] = Hit(chunk=chunk, score=0.0, dense=float(np.asarray(vector, dtype=np.float32) @ q))
            hit = fused[cid]
            hit.score += weight * w.lexical / (w.rrf_k + rank + 1)
            hit.lexical = max(hit.lexical, score)
        return qvec


def _int_array(values: list[int]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.int32)


def _bm25s() -> Any:
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s forces DEBUG on import
    return bm25s


def _cache_folder(store: Store, cache_dir: Path) -> Path:
    where = store.settings.chroma_url or str(Path(store.settings.store).resolve())
    key = hashlib.sha1(f"{where}|{store.settings.collection}".encode()).hexdigest()[:16]
    return cache_dir / "bm25" / key


def _interleave_terms(ranked: list[Hit], terms: list[str], corpus: Corpus) -> list[Hit]:
    """For 'X vs Y', make sure the best passage for each term is near the top."""
    firsts: list[Hit] = []
    for term in terms:
        srcs = corpus.defining_sources(term)
        key = set(term_key(term).split())
        for hit in ranked:
            if hit in firsts:
                continue
            text_words = set(content_words(hit.chunk.embed_text()))
            if (srcs and hit.chunk.source in srcs) or (not srcs and key and key <= text_words):
                firsts.append(hit)
                break
    return firsts + [h for h in ranked if h not in firsts]


def page_neighbours(ranked: list[Hit], k: int, pages: int) -> list[Hit]:
    """The first k hits, then the later ones from the first `pages` pages among them, marked `neighbour`.

    A page that answers is often split over many passages, and the one with the number or the step
    ranks below passages of other pages; read as quote candidates only, the page's further passages
    cannot pull the answer to another page, and the ranking stays what retrieval made it."""
    keep = set(list(dict.fromkeys(hit.chunk.source for hit in ranked[:k]))[:pages])
    more = [replace(hit, neighbour=True) for hit in ranked[k:] if hit.chunk.source in keep]
    return ranked[:k] + more


def ranked_only(hits: list[Hit]) -> list[Hit]:
    """The hits retrieval ranked, without the page neighbours fetched only for their sentences: whether the
    knowledge base covers the question, which pages rank and what they name are read from these; a top page's
    extra passages would add words to its side only."""
    return [hit for hit in hits if not hit.neighbour]


def collapse_near_duplicates(hits: list[Hit], threshold: float = 0.8, limit: int | None = None) -> list[Hit]:
    """Drop a hit that repeats one ranked above it: a near-copy from the same page, or the same text elsewhere.

    Within a page, overlapping pieces (a section and its split-off tail, a FAQ shown twice)
    say one thing, so the second is dropped when most (`threshold`) of its content words are
    in the first. Across pages only an exact copy (same words, whitespace and case aside) is
    dropped: similar pages (200 runbooks from one template) are each a distinct answer, and
    ingest has already folded near-copies of whole pages into one (ingest/dedupe.py), so
    `-k N` gives N hits when N distinct passages exist.
    """
    kept: list[tuple[Hit, set[str]]] = []
    texts: set[str] = set()
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        text = " ".join(hit.chunk.text.lower().split())
        words = set(content_words(hit.chunk.text))
        if text in texts or any(words and h.chunk.source == hit.chunk.source
                                and len(words & w) / max(1, min(len(words), len(w))) >= threshold
                                for h, w in kept):
            continue
        kept.append((hit, words))
        texts.add(text)
    return [h for h, _ in kept]
