"""Compose a cited Answer from retrieved passages and the model's draft.

The model drafts; code decides what is printed. Citations are attached per
sentence after generation (ALCE's post-hoc mode): each kept sentence cites the
passage holding the source sentence that supports it, and that source sentence
is the citation's quote. Supported sentences come first; the best source
sentences the draft did not cover follow as quotes, marked as quotes, up to four
sentences, then up to two more from pages already quoted (kb/quotes.py EXTRA_QUOTES). When the draft
is unusable, the answer is quotes alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.passages import SourceSentence, continues
from kb.quotes import EXTRA_QUOTES, MAX_SENTENCES, best_quotes
from kb.text import GAP
from kb.types import Answer, Citation, Hit, SentenceCheck
from kb.verify import Checker, Verdict, check_draft


@dataclass
class Composed:
    """What compose made of a draft: the answer text, its citations, a check per sentence, and the mode."""

    text: str
    citations: list[Citation]
    checks: list[SentenceCheck]
    mode: str  # generated (a draft sentence was kept) | quoted (quotes only)


class CitationBook:
    """Numbers citations in order of first use and merges quotes from one passage."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits
        self.by_hit: dict[int, Citation] = {}  # the citation a passage's next quote joins
        self.all: list[Citation] = []

    def cite(self, src: SourceSentence, score: float) -> int:
        cit = self.by_hit.get(src.hit_index)
        if cit is None:
            chunk = self.hits[src.hit_index].chunk
            cit = Citation(id=len(self.all) + 1, source=chunk.source, title=chunk.title, section=chunk.section,
                           quote=src.text, score=round(score, 3), chunk_id=chunk.id,
                           ingested=str(chunk.metadata.get("ingested", "")),
                           modified=str(chunk.metadata.get("modified", "")))
            self.by_hit[src.hit_index] = cit
            self.all.append(cit)
        elif src.text not in cit.quote:
            # a row and the next row would read as one sentence: not adjacent then
            adjacent = continues(cit.quote, src.text, self.hits[src.hit_index].chunk.text)
            if not adjacent and not SENTENCE_END.search(cit.quote):
                # a gap after a table row or list item ('... 17.04 GB ... LoRA Layers: ...') reads as one
                # sentence to the splitter, which no page holds: the quote gets a number of its own instead
                del self.by_hit[src.hit_index]
                return self.cite(src, score)
            cit.quote = f"{cit.quote}{' ' if adjacent else GAP}{src.text}"
            cit.score = round(max(cit.score, score), 3)
        return cit.id

    @property
    def citations(self) -> list[Citation]:
        return sorted(self.all, key=lambda c: c.id)


SENTENCE_END = re.compile(r"[.!?][\"'\u201d)\]]*\s*$")  # what kb/text.py GAP_MARK needs before a gap


def cite_draft(question: str, verdicts: list[Verdict], hits: list[Hit], checker: Checker, terms: list[str],
               focus: list[SourceSentence] | None = None) -> Composed:
    """The answer: the kept draft sentences, each citing its source sentence, then quotes of what they missed.

    With nothing kept from the draft, the quotes are the ones the prompt was built from (`focus`).
    """
    book = CitationBook(hits)
    checks: list[SentenceCheck] = []
    kept: list[str] = []
    supported: list[SourceSentence] = []
    for v in verdicts:
        if v.source is None:
            checks.append(SentenceCheck(v.text, "dropped", round(v.support, 3), None, v.reason))
            continue
        n = book.cite(v.source, v.support)
        more = [book.cite(src, v.support) for src in v.also]  # a merge cites each sentence it joins
        kept.append(_with_mark(v.text, n, *more))
        supported += [v.source, *v.also]
        checks.append(SentenceCheck(v.text, "kept", round(v.support, 3), n))
    quotes = focus if focus is not None and not supported else best_quotes(checker, question, terms,
                                                                            limit=MAX_SENTENCES, exclude=supported,
                                                                            extra=EXTRA_QUOTES)
    parts = list(kept)
    scores = quote_scores(question, quotes, checker)
    for src, score in zip(quotes, scores, strict=True):
        n = book.cite(src, score)
        parts.append(f"\u201c{src.text}\u201d [{n}]")
        checks.append(SentenceCheck(src.text, "quoted", round(score, 3), n, "quoted from the source"))
    return Composed(" ".join(parts), book.citations, checks, "generated" if kept else "quoted")


def quote_scores(question: str, quotes: list[SourceSentence], checker: Checker) -> list[float]:
    """A quote's score: its similarity to the question (how strongly it bears on what was asked).

    A quote is its own support, so a support score would always be 1.0 and tell a reader
    nothing; the similarity ranks a definition (~0.7) above a sentence that merely shares
    the topic (~0.3). A quote joined with its neighbour (kb/passages.py `with_context`)
    scores as its best part.
    """
    if not quotes:
        return []
    sims = {src.text: sim for sim, src in checker.ranked_sources(question)}
    out = []
    for src in quotes:
        score = sims.get(src.text)
        if score is None:
            score = max((sim for text, sim in sims.items() if text in src.text), default=0.0)
        out.append(max(0.0, min(1.0, score)))
    return out


def compose(question: str, raw: str, hits: list[Hit], checker: Checker, terms: list[str],
            min_support: float, focus: list[SourceSentence] | None = None, min_coverage: float = 0.0,
            ) -> Composed:
    """check_draft, then cite_draft: the answer made of the draft's supported sentences, then quotes.

    A draft sentence is kept when a source sentence supports it (`min_support`) and
    it keeps at least `min_coverage` of that sentence's content words.
    """
    verdicts = check_draft(question, raw, hits, checker, min_support, min_coverage)
    return cite_draft(question, verdicts, hits, checker, terms, focus)


def _with_mark(sentence: str, n: int, *more: int) -> str:
    sentence = sentence.strip()
    mark = "[" + ", ".join(str(i) for i in dict.fromkeys((n, *more))) + "]"
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} {mark}{sentence[-1]}"
    return f"{sentence} {mark}."


def refusal(question: str, hits: list[Hit], model: str, timings: dict[str, float]) -> Answer:
    topics: list[str] = []
    for hit in sorted(hits, key=lambda h: -h.dense):
        if hit.chunk.title not in topics:
            topics.append(hit.chunk.title)
    topics = topics[:3]
    text = "The knowledge base does not cover this."
    if topics:
        text += " Closest topics it has: " + "; ".join(topics) + "."
    return Answer(question=question, answer=text, refused=True, citations=[], model=model, timings=timings,
                  hits=hits, mode="refused", closest_topics=topics)
