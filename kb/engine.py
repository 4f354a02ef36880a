"""The query path: retrieve, refuse or draft, verify, cite.

`Engine` owns the loaded models and the store for one process (CLI run, bot,
eval), so a long-lived process pays for loading once. `answer_from_hits` reads
top to bottom as the answer is made: passages -> quotes -> prompt -> LLM ->
verify -> cite. kb/llamaindex.py wraps an Engine as LlamaIndex components.
"""

from __future__ import annotations

import time
from typing import Any

from kb.cite import cite_draft, refusal
from kb.errors import EmptyStore
from kb.guard import without_injections
from kb.limits import check_question, context_tokens, fit_prompt
from kb.prompt import build_messages
from kb.quotes import MAX_SENTENCES, best_quotes
from kb.retrieve import Corpus, Retriever, question_terms
from kb.scope import Scope, judge
from kb.settings import Settings
from kb.store import Store
from kb.types import Answer, Hit
from kb.verify import Checker, check_draft


class Engine:
    def __init__(self, settings: Settings, *, store: Store | None = None, embedder: Any = None,
                 llm: Any = None) -> None:
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._llm = llm
        self._corpus: Corpus | None = None

    # -- lazily loaded parts: `kb search` never loads the LLM, refusals never call it
    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings)
        return self._store

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from kb.backends import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from kb.backends import load_llm

            self._llm = load_llm(self.settings)
        return self._llm

    @property
    def model_label(self) -> str:
        if self._llm is not None:
            return str(self._llm.label)
        if self.settings.llm_url:
            return f"{self.settings.llm_model} @ {self.settings.llm_url}"
        return self.settings.llm_model

    def corpus(self) -> Corpus:
        """The BM25 corpus, reloaded (with the store) when the store was written since; see `refresh`."""
        if self._corpus is None:
            self._corpus = Corpus.load(self.store, self.settings.cache_dir)
        else:
            self.refresh()
        return self._corpus

    def refresh(self) -> None:
        """Before each retrieval: when another process wrote the store since it was loaded (`kb ingest`
        stamps a new generation on every write), reopen the Chroma client and reload the BM25
        corpus together, so both see the same chunks. While an ingest still holds the lock, keep
        answering from the last complete state instead of a half-written one."""
        if self._corpus is None or not self._corpus.stale():
            return
        from kb.store import ingest_running

        if ingest_running(self.settings):
            return
        self.store.reopen()
        self._corpus = Corpus.load(self.store, self.settings.cache_dir)

    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.corpus(), candidates=self.settings.candidates)

    def ensure_not_empty(self) -> None:
        if self.store.count() == 0:
            raise EmptyStore(
                f"the knowledge base at {self.store.location} is empty. "
                "Fill it with `kb ingest PATH...` (for example `kb ingest corpus/`)."
            )

    # -- public API ---------------------------------------------------------
    def search(self, question: str, k: int | None = None) -> list[Hit]:
        self.ensure_not_empty()
        return self.retriever().retrieve(question, k or self.settings.top_k)

    def ask(self, question: str) -> Answer:
        check_question(question, self.settings)
        self.ensure_not_empty()
        start = time.perf_counter()
        hits = self.retriever().retrieve(question, self.settings.top_k)
        return self.answer_from_hits(question, hits, time.perf_counter() - start)

    def scope(self, question: str, hits: list[Hit]) -> Scope:
        """Whether the knowledge base covers the question: similarity, then word evidence (kb/scope.py)."""
        s = self.settings
        vocab = self.corpus() if hits and s.scope_relevance > s.min_relevance else None
        return judge(question, hits, vocab, s.min_relevance, s.scope_relevance, s.missing_share)

    def answer_from_hits(self, question: str, hits: list[Hit], retrieve_s: float) -> Answer:
        start = time.perf_counter()
        hits = without_injections(hits)  # page text is content: prompt-like paragraphs are never quoted
        timings = {"retrieve_s": round(retrieve_s, 3)}
        scope = self.scope(question, hits)
        if not scope.in_scope:
            timings.update(generate_s=0.0, total_s=round(retrieve_s + time.perf_counter() - start, 3))
            return refusal(question, hits, self.model_label, timings)
        # passages: the hits' quotable sentences, embedded once (the checker scores drafts against them)
        checker = Checker(self.embedder, hits)
        # quotes: the source sentences kb would quote; the focused prompt shows only these
        terms = question_terms(question)
        focus = best_quotes(checker, question, terms, limit=MAX_SENTENCES) if self.settings.focused_prompt else None
        # prompt -> LLM (clipped to the model's context)
        messages = build_messages(question, hits, focus, sources=checker.sources)
        messages = fit_prompt(messages, context_tokens(self.llm), self.settings.max_new_tokens)
        gen_start = time.perf_counter()
        raw, n_tokens = self.llm.chat(messages, self.settings.max_new_tokens)
        generate_s = time.perf_counter() - gen_start
        # verify: a verdict per draft sentence
        verdicts = check_draft(question, raw, hits, checker, self.settings.min_support, self.settings.min_coverage)
        # cite: the kept sentences with their citations, then quotes of what they missed
        out = cite_draft(question, verdicts, hits, checker, terms, focus)
        timings.update(generate_s=round(generate_s, 3), total_s=round(retrieve_s + time.perf_counter() - start, 3),
                       tokens=n_tokens, tokens_per_s=round(n_tokens / generate_s, 1) if generate_s else 0.0)
        return Answer(question=question, answer=out.text, refused=False, citations=out.citations,
                      model=self.model_label, timings=timings, hits=hits, checks=out.checks, raw=raw, mode=out.mode)
