"""Compose a cited Answer from retrieved passages and the model's draft.

The model drafts; code decides what is printed. Citations are attached per
sentence after generation (ALCE's post-hoc mode): each kept sentence cites the
passage holding the source sentence that supports it, and that source sentence
is the citation's quote. Supported sentences come first; the best source
sentences the draft did not cover follow as quotes, marked as quotes, up to four
sentences. When the draft is unusable, the answer is quotes alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.passages import SourceSentence
from kb.quotes import MAX_SENTENCES, best_quotes
from kb.text import sentences
from kb.types import Answer, Citation, Hit, SentenceCheck
from kb.verify import (
    MODEL_MARK,
    Checker,
    is_degenerate,
    source_coverage,
    strip_heading_echo,
    unusable_sentence,
)


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
        self.by_hit: dict[int, Citation] = {}

    def cite(self, src: SourceSentence, score: float) -> int:
        cit = self.by_hit.get(src.hit_index)
        if cit is None:
            chunk = self.hits[src.hit_index].chunk
            cit = Citation(id=len(self.by_hit) + 1, source=chunk.source, title=chunk.title, section=chunk.section,
                           quote=src.text, score=round(score, 3), chunk_id=chunk.id,
                           ingested=str(chunk.metadata.get("ingested", "")),
                           modified=str(chunk.metadata.get("modified", "")))
            self.by_hit[src.hit_index] = cit
        elif src.text not in cit.quote:
            cit.quote = f"{cit.quote} {src.text}"
            cit.score = round(max(cit.score, score), 3)
        return cit.id

    @property
    def citations(self) -> list[Citation]:
        return sorted(self.by_hit.values(), key=lambda c: c.id)


def compose(question: str, raw: str, hits: list[Hit], checker: Checker, terms: list[str],
            min_support: float, focus: list[SourceSentence] | None = None, min_coverage: float = 0.0,
            ) -> Composed:
    """The answer made of the draft's supported sentences, then quotes of what they missed.

    A draft sentence is kept when a source sentence supports it (`min_support`) and
    it keeps at least `min_coverage` of that sentence's content words.
    """
    book = CitationBook(hits)
    checks: list[SentenceCheck] = []
    kept: list[str] = []
    supported: list[SourceSentence] = []
    why_unusable = is_degenerate(raw)
    if why_unusable:
        checks.append(SentenceCheck(raw[:200], "dropped", 0.0, None, why_unusable))
    else:
        seen: set[str] = set()
        drafts = sentences(MODEL_MARK.sub("", raw))
        for i, sent in enumerate(drafts):
            sent = strip_heading_echo(sent, hits)
            norm = " ".join(sent.lower().split())
            last = i == len(drafts) - 1
            why = "repeated sentence" if norm in seen else unusable_sentence(sent, hits, last, question)
            if why:
                checks.append(SentenceCheck(sent, "dropped", 0.0, None, why))
                continue
            seen.add(norm)
            sup = checker.support(sent)
            if sup.source is None or sup.score < min_support:
                checks.append(SentenceCheck(sent, "dropped", round(sup.score, 3), None,
                                            sup.reason or f"support {sup.score:.2f} < {min_support}"))
                continue
            covered = source_coverage(sent, sup.source.text)
            if covered < min_coverage:
                # close to a source sentence but says far less than it: how a 135M model merges two
                # sentences into a wrong one ("a chat model is a type of base model that uses RL")
                checks.append(SentenceCheck(sent, "dropped", round(sup.score, 3), None,
                                            f"keeps only {covered:.0%} of the source sentence that supports it and "
                                            "adds words from elsewhere"))
                continue
            n = book.cite(sup.source, sup.score)
            kept.append(_with_mark(sent, n))
            supported.append(sup.source)
            checks.append(SentenceCheck(sent, "kept", round(sup.score, 3), n))
    # with nothing kept from the draft, the quotes are the ones the prompt was built from
    quotes = focus if focus is not None and not supported else best_quotes(checker, question, terms,
                                                                            limit=MAX_SENTENCES, exclude=supported)
    parts = list(kept)
    for src in quotes:
        n = book.cite(src, 1.0)
        parts.append(f"\u201c{src.text}\u201d [{n}]")
        checks.append(SentenceCheck(src.text, "quoted", 1.0, n, "quoted from the source"))
    return Composed(" ".join(parts), book.citations, checks, "generated" if kept else "quoted")


def _with_mark(sentence: str, n: int) -> str:
    sentence = sentence.strip()
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


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
