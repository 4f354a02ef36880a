"""Check each generated sentence against the passages, and find supporting quotes.

A 135M model invents names, lists and numbers, and cannot judge its own claims
(it scores at chance as a yes/no judge). Cosine similarity alone misses
contradictions. So a sentence is kept only when three signals agree: it is close
in meaning to one specific source sentence, nearly all its content words occur in
that passage, and it adds no names/numbers and flips no negation or quantifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kb.exact import (
    independent_parts,
    negation_mismatch,
    order_mismatch,
    predicate_mismatch,
    quantity_mismatch,
    subject_mismatch,
    unsupported_clause,
    vacuous,
)
from kb.text import WORD, content_words, paragraphs, split_paragraph
from kb.types import Hit

NEGATIONS = {"not", "no", "never", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "without",
             "neither", "nor"}
ALL_WORDS = {"all", "every", "entire", "whole", "always"}
FEW_WORDS = {"only", "few", "fraction", "subset", "some", "small", "sparse", "part", "never", "selected"}
PROMPT_ECHO = re.compile(r"\b(passages?|question|answer|context|\[\d+\])\s*:|^\s*(sure|here is|here's)\b", re.I)


@dataclass
class SourceSentence:
    text: str
    hit_index: int  # index into the hits list
    key: str = ""  # what is compared with questions and drafts, when not the text (a list's lead-in)

    @property
    def match_text(self) -> str:
        return self.key or self.text


@dataclass
class Support:
    score: float
    source: SourceSentence | None
    reason: str = ""
    also: list[SourceSentence] = field(default_factory=list)  # a merge: the sentences its other clauses need


def source_sentences(hits: list[Hit]) -> list[SourceSentence]:
    """Quotable sentences of each hit.

    A short label ('**Small models**. Used for ...') is joined to the sentence after
    it, so no quote is a bare heading. A lead-in ('... tasks, including:') is quoted
    with the list it introduces, one '- item' line each: alone it answers nothing.
    The items stay quotable on their own too.
    """
    out = []
    for i, hit in enumerate(hits):
        paras = paragraphs(hit.chunk.text)
        pending = ""
        for k, (para, item) in enumerate(paras):
            if item or (k and paras[k - 1][1]):  # labels are not joined across list items
                if len(pending.split()) >= 4:
                    out.append(SourceSentence(pending, i))
                pending = ""
            sents = split_paragraph(para)
            for j, s in enumerate(sents):
                s = f"{pending} {s}".strip() if pending else s
                pending = ""
                if len(s.split()) < LABEL_WORDS and not VERB.search(s):
                    pending = s
                    continue
                if len(s.split()) < 4:
                    continue
                if j == len(sents) - 1 and s.endswith(":"):
                    # ranked by the lead-in alone: a list of names is close to every question about them
                    out.append(SourceSentence(with_list(s, paras[k + 1:]), i, key=s))
                elif POINTS_BACK.search(s) and out and out[-1].hit_index == i:
                    # 'There are various methods for this, ...' is about the sentence before it
                    out.append(SourceSentence(s, i, key=f"{out[-1].match_text} {s}"))
                else:
                    out.append(SourceSentence(s, i))
    return out


LIST_WORDS = 80  # a lead-in and its list stay a readable quote (~100 tokens)


def with_list(lead: str, rest: list[tuple[str, bool]]) -> str:
    """The lead-in followed by the list items right after it, as many as fit LIST_WORDS."""
    items: list[str] = []
    words = len(lead.split())
    for para, item in rest:
        words += len(para.split())
        if not item or (items and words > LIST_WORDS):
            break
        items.append(para)
    return lead + "".join(f"\n- {it}" for it in items)


LABEL_WORDS = 6
ANAPHOR = re.compile(r"^(?:for (?:these|this|that) reasons?|this|these|that|those|it|they|such|therefore|thus|"
                     r"as a result|because of this|in (?:this|that) case)\b", re.I)
POINTS_BACK = re.compile(r"\b(?:for|of|like|with|about|to|from|by|on) (?:this|that|these|those)\s*[,.;:]", re.I)


def leans_back(text: str) -> bool:
    return bool(ANAPHOR.match(text) or POINTS_BACK.search(text))


def with_context(src: SourceSentence, i: int, sources: list[SourceSentence],
                 taken: list[SourceSentence]) -> SourceSentence:
    """A sentence that leans on the one before ('For these reasons, ...') is quoted with it
    (sources[i] is src)."""
    text = src.text
    for _ in range(2):
        if i == 0 or not leans_back(text):
            break
        prev = sources[i - 1]
        if prev.hit_index != src.hit_index or any(prev.text in t.text for t in taken):
            break
        text, i = f"{prev.text} {text}", i - 1
        if not leans_back(prev.text):
            break
    return src if text == src.text else SourceSentence(text, src.hit_index)


def is_degenerate(text: str, prompt_passages: str = "") -> str:
    """Why a model output cannot be used at all, or '' when it can."""
    words = WORD.findall(text.lower())
    if len(words) < 3:
        return "empty output"
    grams = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    if grams and max(grams.count(g) for g in set(grams)) >= 3:
        return "repetition"
    if len(set(words)) / len(words) < 0.35:
        return "repetition"
    if re.search(r"(\b\d+\.)\1{2,}|(.{2,8})\2{3,}", text):
        return "repetition"
    if PROMPT_ECHO.search(text):
        return "prompt echo"
    return ""


def strip_heading_echo(sentence: str, hits: list[Hit]) -> str:
    """Drop a leading 'Title - Section:' copied from the prompt's passage labels."""
    for _ in range(2):  # 'Base Model - Why It Matters: ...' may be echoed as two labels
        stripped = _strip_one_label(sentence, hits)
        if stripped == sentence:
            break
        sentence = stripped
    return sentence


def _strip_one_label(sentence: str, hits: list[Hit]) -> str:
    for hit in hits:
        for label in (f"{hit.chunk.title} - {hit.chunk.section}", hit.chunk.title, hit.chunk.section):
            if label and sentence.lower().startswith(label.lower()):
                rest = sentence[len(label):]
                if re.match(r"\s*[:\-–—]\s", rest):
                    return re.sub(r"^\s*[:\-–—]\s*", "", rest)
    return sentence


def unusable_sentence(sentence: str, hits: list[Hit], last: bool, question: str = "") -> str:
    """Why a draft sentence is not a claim worth checking, or '' when it is.

    A 135M model echoes the question, passage labels and headings, and stops
    mid-sentence at the token limit; such pieces can pass a word-overlap check
    while saying nothing, so they are dropped before it.
    """
    text = sentence.strip()
    if text.endswith("?"):
        return "a question, not an answer"
    if len(WORD.findall(text)) < 5:
        return "a fragment"
    heading_words = {w for hit in hits for w in content_words(f"{hit.chunk.title} {hit.chunk.section}")}
    words = set(content_words(text))
    if words <= heading_words:
        return "only heading words"
    if words <= heading_words | set(content_words(question)) and _flags(text) == _flags(question):
        return "restates the question"  # 'A model learns during its pretraining phase.'
    if last and not re.search(r"[.!)\"”':]\s*$", text):
        return "cut off at the token limit"
    if text.endswith(":"):
        return "a lead-in without its list"
    return vacuous(text, question)


def novel_specifics(sentence: str, passage: str) -> list[str]:
    """Numbers and capitalised names in the sentence that the passage never mentions."""
    passage_low = passage.lower()
    out = []
    for i, word in enumerate(WORD.findall(sentence)):
        is_number = any(ch.isdigit() for ch in word)
        is_name = i > 0 and word[0].isupper() and word.lower() not in ("i",)
        if (is_number or is_name) and word.lower() not in passage_low:
            out.append(word)
    return out


def _flags(text: str) -> tuple[bool, bool, bool]:
    words = {w.lower() for w in WORD.findall(text)}
    return bool(words & NEGATIONS or "n't" in text), bool(words & ALL_WORDS), bool(words & FEW_WORDS)


VERB = re.compile(r"\b(is|are|was|were|has|have|had|can|could|does|do|did|will|would|should|must|may|"
                  r"uses?|needs?|activates?|sends?|runs?|learns?|follows?|completes?|predicts?|scores?|"
                  r"maps?|stores?|reduces?|makes?|adds?|produces?|continues?|answers?|means?|refers?)\b", re.I)
GENERIC = {"model", "languag", "llm", "network", "neural", "system"}


def subject_words(sentence: str) -> set[str]:
    """Content words before the main verb: who the sentence is about."""
    head = VERB.split(sentence, maxsplit=1)[0]
    return set(content_words(" ".join(head.split()[:8]))) - GENERIC


SUBJECT_SWAP = "says of one thing what the source says of another"


def contradiction(sentence: str, source: str) -> str:
    subj_s, subj_o = subject_words(sentence), subject_words(source)
    if subj_s and subj_o and not subj_s & subj_o:
        return SUBJECT_SWAP
    neg_s, all_s, few_s = _flags(sentence)
    neg_o, all_o, few_o = _flags(source)
    why = negation_mismatch(sentence, source)
    if why:
        return why
    said, src_words = {w.lower() for w in WORD.findall(sentence)}, {w.lower() for w in WORD.findall(source)}
    for a, b in OPPOSITES:
        for x, y in ((a, b), (b, a)):
            if x in said and y not in said and y in src_words and x not in src_words:
                return f"says '{x}' where the source says '{y}'"
    if all_s and few_o and not all_o:
        return "says 'all' where the source says 'only/few'"
    return ""


OPPOSITES = [("same", "different"), ("more", "fewer"), ("more", "less"), ("larger", "smaller"),
             ("faster", "slower"), ("before", "after"), ("better", "worse"), ("higher", "lower"),
             ("increases", "reduces"), ("increases", "decreases"), ("supervised", "unsupervised"),
             ("cheaper", "costlier")]
CANDIDATES = 8  # source sentences tried per draft sentence, most similar first (5 before kb.exact's rules)
RANK_TIEBREAK = 0.1  # a supporting sentence from the top passage beats a 0.1-more-similar one from the last


class Checker:
    """Scores support with the embedding model already loaded for retrieval."""

    def __init__(self, embedder: Any, hits: list[Hit]) -> None:
        self.embedder = embedder
        self.hits = hits
        self.sources = source_sentences(hits)
        self._vecs = self._encode([s.match_text for s in self.sources]) if self.sources else None

    def _encode(self, texts: list[str]) -> Any:
        return self.embedder.encode(texts, normalize_embeddings=True, show_progress_bar=False)

    def ranked_sources(self, text: str) -> list[tuple[float, SourceSentence]]:
        if self._vecs is None:
            return []
        vec = self._encode([text])[0]
        sims = self._vecs @ vec
        return sorted(((float(s), src) for s, src in zip(sims, self.sources, strict=True)), key=lambda t: -t[0])

    def support(self, sentence: str) -> Support:
        """The best-supporting source sentence among the CANDIDATES most similar ones.

        A candidate that clashes (new names/numbers, flipped negation, quantifier or opposite,
        another subject) scores 0; the reason of the most similar candidate is kept
        so --explain can say why a sentence was dropped.
        """
        norm = " ".join(sentence.lower().split())
        for src in self.sources:
            if " ".join(src.text.lower().split()) == norm:
                return Support(1.0, src)  # a source sentence word for word
        parts = independent_parts(sentence)
        if len(parts) > 1:  # 'X does A, and Y is B': each part needs its own source sentence, and cites it
            sups = [self.support(p) for p in parts]
            for part, sup in zip(parts, sups, strict=True):
                if sup.reason or sup.source is None:
                    return Support(0.0, sup.source, f"in '{part[:50]}': {sup.reason or 'no source'}")
            also: list[SourceSentence] = []
            for sup in sups[1:]:
                if sup.source is not None and all(sup.source is not s for s in [sups[0].source, *also]):
                    also.append(sup.source)
            return Support(min(s.score for s in sups), sups[0].source, "", also)
        ranked = self.ranked_sources(sentence)
        if not ranked:
            return Support(0.0, None, "no passages")
        words = set(content_words(sentence))
        best: Support | None = None
        passing: list[Support] = []
        for rank, (sim, src) in enumerate(ranked[:CANDIDATES]):
            context = self.hits[src.hit_index].chunk.embed_text()
            passage_words = set(content_words(context))
            coverage = len(words & passage_words) / len(words) if words else 0.0
            novel = novel_specifics(sentence, context)
            clash = contradiction(sentence, src.text)
            if novel:
                reason, score = f"names/numbers not in the source: {', '.join(novel[:3])}", 0.0
            elif clash and rank == 0 and clash != SUBJECT_SWAP:
                # the closest source sentence says the opposite about the same subject: a
                # weaker match elsewhere must not rescue the claim
                return Support(0.0, src, clash)
            elif clash:
                reason, score = clash, 0.0
            elif coverage < 0.7:
                reason, score = f"only {coverage:.0%} of its words are in the source", sim * coverage
            else:
                reason, score = "", sim
            also: list[SourceSentence] = []
            if score > 0:  # also when a low word coverage only lowers the score: it may still be kept
                why, also = self.exact(sentence, src)
                reason, score = (why, 0.0) if why else (reason, score)
            candidate = Support(score, src, reason, also)
            if not reason:  # passes: prefer the higher-ranked passage among near-equals
                passing.append(candidate)
            elif best is None or score > best.score:
                best = candidate
        if passing:
            # a sentence that holds nearly all of the draft's words is its source ('sends each token to only a
            # few experts' is a shortening of the definition, not of a closer sentence about 'per token')
            def holds(c: Support) -> bool:
                src_words = set(content_words(c.source.text)) if c.source else set()
                return bool(words) and len(words & src_words) / len(words) >= 0.85

            return max(passing, key=lambda c: (holds(c), c.score - RANK_TIEBREAK * c.source.hit_index / len(self.hits)))
        assert best is not None
        if best.score == 0.0 and not best.reason:
            best.reason = "not similar to any source sentence"
        return best


    @staticmethod
    def exact(sentence: str, src: SourceSentence) -> tuple[str, list[SourceSentence]]:
        """kb.exact's rules against this source sentence: (why not, or '', further sentences cited)."""
        why = (unsupported_clause(sentence, src.text, subject_words(sentence)) or quantity_mismatch(sentence, src.text)
               or predicate_mismatch(sentence, src.text) or order_mismatch(sentence, src.text)
               or subject_mismatch(sentence, src.text))
        return why, []


DEFINITION = re.compile(r"^[A-Z][^.]{0,80}?\b(is|are|refers to|means)\b")


LEXICAL_WEIGHT = 0.3


def _question_overlap(question: str, checker: Checker, pool: list[SourceSentence]) -> list[float]:
    """IDF-weighted share of the question's words found in each sentence or its section heading.

    A small embedder ranks "Base models are powerful but raw." close to any base-model
    question; the words the question is really about ("mistakes", "deploy") are rarer
    in the page, so they weigh more.
    """
    import math

    qwords = set(content_words(question))
    if not pool or not qwords:
        return [0.0] * len(pool)
    bags = []
    for src in pool:
        chunk = checker.hits[src.hit_index].chunk
        bags.append(set(content_words(src.match_text)) | set(content_words(chunk.section)))
    idf = {w: math.log(1 + len(bags) / (1 + sum(w in b for b in bags))) for w in qwords}
    total = sum(idf.values()) or 1.0
    return [sum(idf[w] for w in qwords & bag) / total for bag in bags]


HEADING_WEIGHT = 0.15  # quote-only key-fact recall 0.870 -> 0.878 (sample), 0.884 -> 0.905 (seed pages)


def _heading_match(qwords: set[str], heading: str) -> float:
    """Jaccard overlap of the question's and a section heading's content words: a section
    titled like the question ('Why not deploy a base model') is its answer."""
    hwords = set(content_words(heading))
    return len(qwords & hwords) / len(qwords | hwords) if qwords and hwords else 0.0


def best_quotes(checker: Checker, question: str, terms: list[str], limit: int = 4,
                exclude: list[SourceSentence] = ()) -> list[SourceSentence]:  # type: ignore[assignment]
    """Source sentences that together answer the question best.

    Candidates come from the top-ranked page only (one page per term for "X vs Y"
    questions), so quotes never drift to a page that merely mentions the topic.
    Sentences are picked by maximal marginal relevance: similarity to the
    question, nudged towards higher-ranked passages, definition-shaped sentences
    and sections whose heading reads like the question, minus redundancy with
    what was already picked. Tuned on both
    eval sets (bench/answers.py): 4 sentences, one page, recall ~0.8, source
    precision ~0.97.
    """
    ranked = checker.ranked_sources(question)
    pages: list[str] = []
    for hit in checker.hits:
        if hit.chunk.source not in pages:
            pages.append(hit.chunk.source)
    keep = set(pages[:max(1, len(terms))])
    n = max(1, len(checker.hits))
    index = {id(src): i for i, src in enumerate(checker.sources)}
    pool = [(sim, src) for sim, src in ranked
            if checker.hits[src.hit_index].chunk.source in keep and src not in exclude]
    overlap = _question_overlap(question, checker, [src for _, src in pool])
    qwords = set(content_words(question))
    heading = [_heading_match(qwords, hit.chunk.section) for hit in checker.hits]  # once per passage
    candidates = []
    for (sim, src), lex in zip(pool, overlap, strict=True):
        bonus = 0.2 * (n - src.hit_index) / n + LEXICAL_WEIGHT * lex + HEADING_WEIGHT * heading[src.hit_index]
        if terms and DEFINITION.match(src.text):
            bonus += 0.08
        candidates.append((sim + bonus, src))
    chosen: list[SourceSentence] = list(exclude)
    picked: list[SourceSentence] = []
    while candidates and len(chosen) < limit:
        def value(item: tuple[float, SourceSentence]) -> float:
            redundancy = max((float(checker._vecs[index[id(item[1])]] @ checker._vecs[index[id(c)]])
                              for c in chosen if id(c) in index), default=0.0)
            return 0.75 * item[0] - 0.25 * redundancy

        best = max(candidates, key=value)
        candidates.remove(best)
        chosen.append(best[1])
        picked.append(best[1])
    out: list[SourceSentence] = []
    for src in picked:
        out.append(with_context(src, index[id(src)], checker.sources, picked + out))
    return out
