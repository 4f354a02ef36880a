"""Check each generated sentence against the passages.

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
from kb.extractive import compression_mismatch
from kb.passages import SourceSentence, source_sentences
from kb.text import VERB, WORD, content_words, sentences
from kb.types import Hit

NEGATIONS = {"not", "no", "never", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "without",
             "neither", "nor"}
ALL_WORDS = {"all", "every", "entire", "whole", "always"}
FEW_WORDS = {"only", "few", "fraction", "subset", "some", "small", "sparse", "part", "never", "selected"}
# a later part of a merge that opens with a pronoun: the join points it at the first part's subject
ANAPHOR = re.compile(r"^(?:it|its|this|that|these|those|they|their|them|such|he|she|his|her)\b", re.I)
PROMPT_ECHO = re.compile(r"\b(passages?|question|answer|context|\[\d+\])\s*:|^\s*(sure|here is|here's)\b", re.I)


@dataclass
class Support:
    score: float
    source: SourceSentence | None
    reason: str = ""
    also: list[SourceSentence] = field(default_factory=list)  # a merge: the sentences its other clauses need


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
        """Batches of 8: a batch is padded to its longest text, and one list quoted with its lead-in made a
        batch of 32 short sentences cost as much as 32 long ones (realdocs, one thread: 0.46 -> 0.25 s a
        question for the source sentences; the vectors are identical)."""
        return self.embedder.encode(texts, normalize_embeddings=True, show_progress_bar=False, batch_size=8)

    def similarities(self, text: str, others: list[str]) -> list[float]:
        """Cosine similarity of `text` to each of `others` (texts that are not source sentences)."""
        if not others:
            return []
        vecs = self._encode([text, *others])
        return [float(v) for v in vecs[1:] @ vecs[0]]

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
            for part in parts[1:]:
                if ANAPHOR.match(part):  # 'X is A, and it needs B': 'it' now means X, whatever it meant in B's source
                    return Support(0.0, None, f"in '{part[:50]}': a pronoun that the join points at another subject")
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
                return bool(words) and len(words & src_words) / len(words) >= SHORTENING

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
               or subject_mismatch(sentence, src.text) or compression_mismatch(sentence, src.text))
        return why, []


MODEL_MARK = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")  # the model's own [n] marks: kb cites by itself
SHORTENING = 0.85  # share of a draft's words from its source sentence that makes it a shortening of it
# (source_coverage; and Checker.support prefers, among passing sources, one the draft shortens)


ASIDE = re.compile(r"\([^)]*\)|,\s*(?:also (?:called|known as)|such as|for example|e\.g\.|i\.e\.|like)\b[^,]*(?:,|$)",
                   re.I)


def source_coverage(sentence: str, source: str) -> float:
    """How much of the source sentence a draft sentence keeps, or 1.0 when it only shortens it.

    The share of the source sentence's content words the draft keeps, asides ('(SFT)',
    ', also called a gating network,', ', such as ...') not counted. A draft whose words
    nearly all come from that one sentence is a faithful shortening whatever it leaves out;
    a draft that keeps little of its source and brings words from elsewhere is how a 135M
    model merges two sentences into a wrong one.
    """
    words = set(content_words(sentence))
    full = set(content_words(source))
    if words and len(words & full) / len(words) >= SHORTENING:
        return 1.0
    core = set(content_words(ASIDE.sub(" ", source)))
    return len(core & words) / len(core) if core else 1.0


@dataclass
class Verdict:
    """What the checks decided for one draft sentence: kept with its source sentence, or dropped and why."""

    text: str
    support: float  # how well the best source sentence supports it (0 when not checked)
    source: SourceSentence | None = None  # set when the sentence is kept
    reason: str = ""  # why it was dropped
    also: list[SourceSentence] = field(default_factory=list)  # a kept merge: the other sentences it joins, cited too


def check_draft(question: str, raw: str, hits: list[Hit], checker: Checker, min_support: float,
                min_coverage: float = 0.0) -> list[Verdict]:
    """A verdict per draft sentence, in draft order (a degenerate draft: one verdict for all of it).

    A draft sentence is kept when a source sentence supports it (`min_support`) and
    it keeps at least `min_coverage` of that sentence's content words.
    """
    verdicts: list[Verdict] = []
    why_unusable = is_degenerate(raw)
    if why_unusable:
        return [Verdict(raw[:200], 0.0, None, why_unusable)]
    seen: set[str] = set()
    drafts = sentences(MODEL_MARK.sub("", raw))
    for i, sent in enumerate(drafts):
        sent = strip_heading_echo(sent, hits)
        norm = " ".join(sent.lower().split())
        last = i == len(drafts) - 1
        why = "repeated sentence" if norm in seen else unusable_sentence(sent, hits, last, question)
        if why:
            verdicts.append(Verdict(sent, 0.0, None, why))
            continue
        seen.add(norm)
        sup = checker.support(sent)
        if sup.source is None or sup.score < min_support:
            verdicts.append(Verdict(sent, sup.score, None, sup.reason or f"support {sup.score:.2f} < {min_support}"))
            continue
        covered = source_coverage(sent, sup.source.text)
        if covered < min_coverage:
            # close to a source sentence but says far less than it: how a 135M model merges two
            # sentences into a wrong one ("a chat model is a type of base model that uses RL")
            verdicts.append(Verdict(sent, sup.score, None, f"keeps only {covered:.0%} of the source sentence "
                                    "that supports it and adds words from elsewhere"))
            continue
        verdicts.append(Verdict(sent, sup.score, sup.source, also=sup.also))
    return verdicts
