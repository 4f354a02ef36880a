"""Hybrid retrieval: dense (Chroma) and BM25 fused by reciprocal rank, with glossary routing.

Dense search finds paraphrases; BM25 finds exact terms ("MoE", "DPO") that a
small embedder blurs. Questions about a named term ("what is X", "X vs Y") are
routed so each term's defining page comes first. Near-identical passages are
collapsed so a duplicated page can never fill the context twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kb.store import Store
from kb.text import content_words, tokens_for_bm25
from kb.types import Chunk, Hit

RRF_K = 60
DEFINE = re.compile(r"^\s*(?:what(?:'s| is| are)|define|definition of|explain|describe|tell me about|"
                    r"what does)\s+(?:an?\s+|the\s+)?(.+?)(?:\s+mean|\s+stand for)?\s*\??\s*$", re.I)
COMPARE = [
    re.compile(r"difference(?:s)?\s+between\s+(?:an?\s+|the\s+)?(.+?)\s+and\s+(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
    re.compile(r"^(?:.*?\b)?(?:an?\s+|the\s+)?([\w\s-]+?)\s+(?:vs\.?|versus|compared (?:to|with))\s+"
               r"(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
    re.compile(r"\b(?:how (?:is|are|does|do))\s+(?:an?\s+|the\s+)?(.+?)\s+differ(?:ent)?\s+from\s+"
               r"(?:an?\s+|the\s+)?(.+?)\s*\??$", re.I),
]
WHY_NOT = re.compile(r"\bwhy (?:not|shouldn't|should not|can't|cannot|don't|do not)\b.*?\b(?:an?|the)\s+(.+?)\s*\??$",
                     re.I)


def question_terms(question: str) -> list[str]:
    """The glossary terms a question is about, or [] when it names none plainly."""
    q = question.strip()
    for pattern in COMPARE:
        m = pattern.search(q)
        if m:
            return [_clean_term(m.group(1)), _clean_term(m.group(2))]
    m = WHY_NOT.search(q)
    if m:
        return [_clean_term(m.group(1))]
    m = DEFINE.match(q)
    if m:
        return [_clean_term(m.group(1))]
    return []


def _clean_term(term: str) -> str:
    term = re.sub(r"\b(models?|llms?)\b$", lambda m: m.group(0), term.strip(" ?.!\"'"))
    return re.sub(r"\s+", " ", term)


def term_key(text: str) -> str:
    """Normalised form of a term for matching titles and aliases ('Instruct models' ~ 'instruct model')."""
    words = content_words(text.replace("(", " ").replace(")", " "))
    return " ".join(w for w in words if w not in ("what", "model", "llm"))


@dataclass
class Corpus:
    """Everything retrieval needs in memory: the chunks and their BM25 index."""

    chunks: list[Chunk]
    bm25: Any
    by_id: dict[str, int]
    terms: dict[str, set[str]]  # term key -> sources that define it

    @classmethod
    def load(cls, store: Store) -> Corpus:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s forces DEBUG on import
        chunks = store.all_chunks()
        bm25 = bm25s.BM25()
        if chunks:
            bm25.index([tokens_for_bm25(c.embed_text()) or ["_"] for c in chunks], show_progress=False)
        terms: dict[str, set[str]] = {}
        for c in chunks:
            names = [c.title, str(c.metadata.get("term", ""))]
            names += [a for a in str(c.metadata.get("aliases", "")).split(",") if a.strip()]
            for name in names:
                key = term_key(re.sub(r"^what is\s+", "", name, flags=re.I))
                if key:
                    terms.setdefault(key, set()).add(c.source)
        return cls(chunks=chunks, bm25=bm25, by_id={c.id: i for i, c in enumerate(chunks)}, terms=terms)

    def bm25_search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        toks = tokens_for_bm25(query)
        if not self.chunks or not toks:
            return []
        import numpy as np

        scores = self.bm25.get_scores(toks)
        order = np.argsort(-scores)[:k]
        return [(self.chunks[i], float(scores[i])) for i in order if scores[i] > 0]

    def defining_sources(self, term: str) -> set[str]:
        key = term_key(term)
        if not key:
            return set()
        if key in self.terms:
            return self.terms[key]
        # 'mixture of experts (moe)' ~ 'mixture expert', 'moe'
        return {s for k, srcs in self.terms.items() for s in srcs if k and (k == key or set(key.split()) <= set(k.split())
                                                                     and len(key) >= 3)}


class Retriever:
    def __init__(self, store: Store, embedder: Any, corpus: Corpus, candidates: int = 20) -> None:
        self.store = store
        self.embedder = embedder
        self.corpus = corpus
        self.candidates = candidates

    def embed(self, text: str) -> list[float]:
        return self.embedder.encode([text], normalize_embeddings=True, show_progress_bar=False)[0].tolist()

    def retrieve(self, question: str, k: int) -> list[Hit]:
        terms = question_terms(question)
        queries = [question] + ([t if len(terms) == 1 else f"{t}" for t in terms] if len(terms) > 1 else [])
        fused: dict[str, Hit] = {}
        for qi, query in enumerate(queries):
            weight = 1.0 if qi == 0 else 0.8
            self._fuse(query, weight, fused)
        for term in terms:
            for source in self.corpus.defining_sources(term):
                for hit in fused.values():
                    if hit.chunk.source == source:
                        hit.score += 0.5 / (RRF_K + hit.chunk.position + 1) * (3 if hit.chunk.position == 0 else 1)
        ranked = sorted(fused.values(), key=lambda h: -h.score)
        if len(terms) > 1:
            ranked = _interleave_terms(ranked, terms, self.corpus)
        return collapse_near_duplicates(ranked)[:k]

    def _fuse(self, query: str, weight: float, fused: dict[str, Hit]) -> None:
        qvec = self.embed(query)
        dense = self.store.dense_query(qvec, self.candidates)
        lexical = self.corpus.bm25_search(query, self.candidates)
        for rank, (chunk, cos) in enumerate(dense):
            hit = fused.setdefault(chunk.id, Hit(chunk=chunk, score=0.0))
            hit.score += weight / (RRF_K + rank + 1)
            hit.dense = max(hit.dense, cos)
        for rank, (chunk, score) in enumerate(lexical):
            hit = fused.setdefault(chunk.id, Hit(chunk=chunk, score=0.0))
            hit.score += weight / (RRF_K + rank + 1)
            hit.lexical = max(hit.lexical, score)
        missing = [h for h in fused.values() if h.dense == 0.0]
        if missing:  # lexical-only hits need a similarity too: read the vectors ingest stored
            import numpy as np

            got = self.store.collection.get(ids=[h.chunk.id for h in missing], include=["embeddings"])
            vectors = dict(zip(got["ids"], got["embeddings"], strict=True))
            q = np.asarray(qvec, dtype=np.float32)
            for h in missing:
                if h.chunk.id in vectors:
                    h.dense = float(np.asarray(vectors[h.chunk.id], dtype=np.float32) @ q)


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


def collapse_near_duplicates(hits: list[Hit], threshold: float = 0.8) -> list[Hit]:
    kept: list[tuple[Hit, set[str]]] = []
    for hit in hits:
        words = set(content_words(hit.chunk.text))
        if any(words and len(words & w) / max(1, min(len(words), len(w))) >= threshold for _, w in kept):
            continue
        kept.append((hit, words))
    return [h for h, _ in kept]
