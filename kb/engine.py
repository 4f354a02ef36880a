"""The query path: retrieve, refuse or draft, verify, cite.

`Engine` owns the loaded models and the store for one process (CLI run, bot,
eval), so a long-lived process pays for loading once. `answer_from_hits` reads
top to bottom as the answer is made: passages -> quotes -> prompt -> LLM ->
verify -> cite. kb/llamaindex.py wraps an Engine as LlamaIndex components.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb.cite import cite_draft, refusal
from kb.errors import EmptyStore
from kb.guard import without_injections
from kb.limits import check_question, context_tokens, fit_prompt
from kb.links import link_for
from kb.prompt import build_messages
from kb.quotes import EXTRA_QUOTES, MAX_SENTENCES, QUOTE_PAGES, best_quotes
from kb.retrieve import Corpus, Retriever, page_neighbours, question_terms, ranked_only
from kb.scope import Scope, judge
from kb.settings import Settings
from kb.store import Store
from kb.text import sentences
from kb.types import Answer, Hit, Progress
from kb.verify import Checker, check_draft

log = logging.getLogger(__name__)
CLONE = Path(__file__).resolve().parent.parent  # where `make demo` puts its store (.kb-demo)


class Engine:
    def __init__(self, settings: Settings, *, store: Store | None = None, embedder: Any = None,
                 llm: Any = None) -> None:
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._llm = llm
        self._corpus: Corpus | None = None
        self._draft_auto: bool | None = None  # draft=auto's decision, made once per Engine
        self._llm_given = llm is not None  # handed in by the caller (not loaded from the settings): it drafts
        self._embedder_checked = embedder is None  # one loaded here is checked against the store as it loads

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

            self._embedder = load_embedder(self.settings, store=self.store)
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
        corpus together, so both see the same chunks. While an ingest still holds the lock, keep the
        loaded indexes and reload once it ends. That is not a snapshot: chunk texts come from SQLite as
        they are now, so chunks the ingest removed are missing until then and chunks it rewrote in
        place may read in their new wording (docs/operations.md)."""
        if self._corpus is None or not self._corpus.stale():
            return
        from kb.store import ingest_running

        if ingest_running(self.settings):
            return
        self.store.reopen()
        self._corpus = Corpus.load(self.store, self.settings.cache_dir)

    def retriever(self) -> Retriever:
        if not self._embedder_checked:  # an embedder handed in must compute the vectors the store holds
            from kb.backends.vectors import check_store

            check_store(self.store, self._embedder, self.settings)
            self._embedder_checked = True
        return Retriever(self.store, self.embedder, self.corpus(), candidates=self.settings.candidates)

    def ensure_not_empty(self) -> None:
        if self.store.count() == 0:
            raise EmptyStore(empty_store_message(self.store.location, self.settings))

    # -- public API ---------------------------------------------------------
    def search(self, question: str, k: int | None = None) -> list[Hit]:
        self.ensure_not_empty()
        return self.retriever().retrieve(question, k or self.settings.top_k)

    def passages(self, question: str) -> list[Hit]:
        """What an answer reads: the top_k passages retrieval ranks, then the page neighbours, passages ranked
        past them on one of the top pages (`page_passages`; kb/retrieve.py page_neighbours)."""
        self.ensure_not_empty()
        s = self.settings
        return page_neighbours(self.retriever().retrieve(question, s.top_k + s.page_passages), s.top_k, QUOTE_PAGES)

    def ask(self, question: str, progress: Callable[[Progress], None] | None = None) -> Answer:
        """`progress`, when given, hears when the passages are found and, with a runtime that streams,
        each time the draft's verified sentences grow; the Answer is the same either way."""
        check_question(question, self.settings)
        start = time.perf_counter()
        hits = self.passages(question)
        return self.answer_from_hits(question, hits, time.perf_counter() - start, progress)

    def scope(self, question: str, hits: list[Hit]) -> Scope:
        """Whether the knowledge base covers the question: similarity, word evidence, fact evidence (kb/scope.py)."""
        s = self.settings
        vocab = self.corpus() if hits and s.scope_relevance > s.min_relevance else None
        return judge(question, hits, vocab, s.min_relevance, s.scope_relevance, s.missing_share, s.fact_share)

    def wants_draft(self) -> bool:
        """`draft` setting: always / never, or auto: only from a runtime whose drafts the checker can keep.

        Without a draft the answer is the quotes the prompt would have shown (what `cite_draft`
        returns when no draft sentence is kept), so it costs retrieval and checks only, and the
        LLM is never loaded. auto judges the runtime the settings pick (kb/backends/registry.py
        DRAFTS_NOT_KEPT); an LLM handed to the Engine (tests, eval replay) was chosen on purpose
        and always drafts.
        """
        mode = self.settings.draft
        if mode == "auto":
            if self._draft_auto is None:
                if self._llm_given:
                    return True
                from kb.backends.registry import drafts_kept

                self._draft_auto = drafts_kept(self.settings)
            return self._draft_auto
        return mode == "always"

    def answer_from_hits(self, question: str, hits: list[Hit], retrieve_s: float,
                         progress: Callable[[Progress], None] | None = None) -> Answer:
        start = time.perf_counter()
        hits = without_injections(hits)  # page text is content: prompt-like paragraphs are never quoted
        timings = {"retrieve_s": round(retrieve_s, 3)}
        scope = self.scope(question, ranked_only(hits))
        if not scope.in_scope:
            timings.update(generate_s=0.0, total_s=round(retrieve_s + time.perf_counter() - start, 3))
            return refusal(question, hits, self.model_label, timings)
        # passages: the hits' quotable sentences, embedded once (the checker scores drafts against them)
        checker = Checker(self.embedder, hits)
        # quotes: the source sentences kb would quote; the focused prompt shows only these
        terms = question_terms(question)
        focus = best_quotes(checker, question, terms, limit=MAX_SENTENCES,
                            extra=EXTRA_QUOTES) if self.settings.focused_prompt else None
        raw, n_tokens, generate_s = "", 0, 0.0
        if self.wants_draft():
            # prompt -> LLM (clipped to the model's context)
            messages = build_messages(question, hits, focus, sources=checker.sources)
            messages = fit_prompt(messages, context_tokens(self.llm), self.settings.max_new_tokens)
            gen_start = time.perf_counter()
            raw, n_tokens = self._draft(messages, question, hits, checker, focus, progress)
            generate_s = time.perf_counter() - gen_start
        # verify: a verdict per draft sentence
        verdicts = check_draft(question, raw, hits, checker, self.settings.min_support, self.settings.min_coverage)
        # cite: the kept sentences with their citations, then quotes of what they missed
        out = cite_draft(question, verdicts, hits, checker, terms, focus)
        if not out.text.strip():  # nothing kept and nothing quotable (markup, code, filler): no answer to give
            timings.update(generate_s=round(generate_s, 3), total_s=round(retrieve_s + time.perf_counter() - start, 3))
            return refusal(question, hits, self.model_label, timings)
        chunks = {h.chunk.id: h.chunk for h in hits}
        for c in out.citations:  # the link a reader follows (kb/links.py)
            c.url = link_for(chunks[c.chunk_id], self.settings.source_urls) if c.chunk_id in chunks else ""
        timings.update(generate_s=round(generate_s, 3), total_s=round(retrieve_s + time.perf_counter() - start, 3),
                       tokens=n_tokens, tokens_per_s=round(n_tokens / generate_s, 1) if generate_s else 0.0)
        return Answer(question=question, answer=out.text, refused=False, citations=out.citations,
                      model=self.model_label, timings=timings, hits=hits, checks=out.checks, raw=raw, mode=out.mode)

    def _draft(self, messages: list[dict[str, str]], question: str, hits: list[Hit], checker: Checker,
               focus: list[Any] | None, progress: Callable[[Progress], None] | None) -> tuple[str, int]:
        """The LLM's draft. A listener first hears the quotes kb picked (source sentences, true by
        construction; when the model's sentences fail verification they are the answer), then, with a
        runtime that streams, the model's finished sentences as they pass the same check as the final
        answer (a listener that fails only stops the progress, never the answer)."""
        if progress is None:
            return self.llm.chat(messages, self.settings.max_new_tokens)
        titles = list(dict.fromkeys(h.chunk.title or h.chunk.source for h in hits))
        shown: list[str] = []
        stopped: list[bool] = []

        def tell(p: Progress) -> None:
            if stopped:
                return
            try:
                progress(p)
            except Exception:  # noqa: BLE001 - showing progress must never cost the answer
                log.warning("progress stopped for %r", question, exc_info=True)
                stopped.append(True)

        if focus:
            pages = list(dict.fromkeys(hits[q.hit_index].chunk.title or hits[q.hit_index].chunk.source for q in focus))
            tell(Progress("quoted", pages, [q.text for q in focus]))
        else:
            tell(Progress("retrieved", titles))
        if not getattr(self.llm, "streams", False):
            return self.llm.chat(messages, self.settings.max_new_tokens)

        def on_text(text: str) -> None:
            if stopped:
                return
            try:
                done = sentences(text)[:-1] if not text.rstrip().endswith((".", "!", "?")) else sentences(text)
                verdicts = check_draft(question, " ".join(done), hits, checker, self.settings.min_support,
                                       self.settings.min_coverage) if done else []
            except Exception:  # noqa: BLE001
                log.warning("progress stopped for %r", question, exc_info=True)
                stopped.append(True)
                return
            kept = [v.text for v in verdicts if v.source is not None]
            if kept and kept != shown:
                shown[:] = kept
                tell(Progress("verified", titles, list(kept)))

        return self.llm.chat(messages, self.settings.max_new_tokens, on_text=on_text)


def demo_store(clone: Path = CLONE) -> str | None:
    """The store `make demo` fills (.kb-demo in the clone kb runs from), when it exists.

    After `make demo`, a plain `kb ask` uses the per-user store: the message then names the
    folder that does hold pages, so the user does not think the demo lost them.
    """
    folder = clone / ".kb-demo"
    return str(folder) if (folder / "chroma.sqlite3").is_file() else None


def empty_store_message(location: str, settings: Settings, clone: Path = CLONE) -> str:
    """Why there is nothing to answer from, and the three ways out: ingest, --store/KB_STORE, the demo store."""
    text = (f"the knowledge base at {location} is empty. Fill it with `kb ingest PATH...` (for example "
            "`kb ingest corpus/`), or point kb at another store with `kb --store FOLDER ...` or KB_STORE=FOLDER.")
    demo = demo_store(clone)
    if demo and not settings.chroma_url and Path(demo) != Path(settings.store).resolve():
        text += f" The demo store (`make demo`) is at {demo}: kb --store {demo} ask \"...\""
    return text
