"""Pure scoring functions for one answer and for a whole run.

Everything here reads only the public `Answer`/`Hit`/`Citation` fields, so it
keeps working while retrieval and verification change underneath. The checks
run offline: retrieval, key facts, forbidden claims, citation validity and
refusals are exact string/regex tests (these gate nightly runs); whether a
quote *supports* a sentence uses kb.verify's similarity-plus-lexical check
with the bundled MiniLM (advisory, see CHECKING.md).

Per question, `score_answer` returns a flat dict of scores ("record");
`aggregate` turns a list of records into the run's metrics. Both are pure, so
a baseline's stored records can be re-aggregated on exactly the questions of
today's run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kb.junk import junk_reason
from kb.text import sentences
from kb.types import Answer, Chunk, Citation, Hit

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "incorrect", "not_attempted"
MARKS = re.compile(r"(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-"})

SupportFn = Callable[[str, Citation], float]


# -- text -------------------------------------------------------------------
def normalise(text: str) -> str:
    """Lower case, plain quotes and dashes, no citation marks, single spaces."""
    return " ".join(MARKS.sub(" ", text.translate(QUOTES)).lower().split())


# -- retrieval ----------------------------------------------------------------
def source_matches(source: str, expected: Iterable[str]) -> bool:
    return any(source.endswith(suffix) for suffix in expected)


def first_hit_rank(sources: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based rank of the first passage from an expected page, or None."""
    expected = tuple(expected)
    for rank, source in enumerate(sources, start=1):
        if source_matches(source, expected):
            return rank
    return None


def retrieval_scores(sources: Sequence[str], expected: Iterable[str]) -> dict[str, Any]:
    rank = first_hit_rank(sources, expected)
    return {"rank": rank, "hit_at_1": float(rank == 1), "hit_at_3": float(rank is not None and rank <= 3),
            "rr": 1.0 / rank if rank else 0.0}


# -- key facts and forbidden claims --------------------------------------------
def fact_recall(text: str, facts: Sequence[Sequence[str]]) -> tuple[float, list[list[str]]]:
    """Share of facts with at least one accepted alternative in the text, and the missing facts."""
    if not facts:
        return 1.0, []
    norm = normalise(text)
    missing = [list(fact) for fact in facts if not any(normalise(alt) in norm for alt in fact)]
    return 1.0 - len(missing) / len(facts), missing


def forbidden_claims(text: str, patterns: Iterable[str]) -> list[str]:
    """The forbidden-claim patterns the text matches (case-insensitive)."""
    norm = normalise(text)
    return [p for p in patterns if re.search(p, norm, re.I)]


def first_sentence(text: str) -> str:
    """The answer's first sentence as a reader meets it: a leading quotation whole (a lead-in quoted
    with its list is one unit), else the first sentence of the text."""
    m = QUOTATION.match(text.lstrip())
    if m:
        return m.group(1)
    parts = sentences(MARKS.sub("", text))
    return parts[0] if parts else ""


def first_fact_recall(text: str, facts: Sequence[Sequence[str]]) -> float:
    """Share of the key facts found in the answer's first sentence: answer-first, the definition for
    "what is", the reason for "why", the difference for "X vs Y" opens the answer."""
    return fact_recall(first_sentence(text), facts)[0]


# -- junk quotes ------------------------------------------------------------------
QUOTATION = re.compile(r"\u201c(.+?)\u201d(?=\s*\[\d)", re.S)  # how kb/cite.py prints a quote: \u201c...\u201d [n]


def junk_quotes(text: str) -> list[str]:
    """The answer's quotes that kb/junk.py's rule says must never be quoted, each with why."""
    return [f"{junk_reason(q)}: {q[:80]}" for q in QUOTATION.findall(text) if junk_reason(q)]


# -- citations ------------------------------------------------------------------
@dataclass
class CitedSentence:
    text: str
    ids: list[int]


def cited_sentences(text: str) -> list[CitedSentence]:
    """Split an answer into sentences and the [n] marks that follow each.

    Works for both shapes kb prints: 'Claim [1]. Claim [2].' and
    '“Quote.” [1] “Quote.” [2]'. Sentences without a mark get no ids.
    """
    out: list[CitedSentence] = []
    pos = 0
    for match in MARKS.finditer(text):
        _add_segment(out, text[pos:match.start()], [int(n) for n in re.findall(r"\d+", match.group())])
        pos = match.end()
    _add_segment(out, text[pos:], [])
    return out


def _add_segment(out: list[CitedSentence], segment: str, ids: list[int]) -> None:
    """A mark cites the sentence it follows, or the whole quotation when it follows a
    closing quote ('\u201cLead-in:\n- item\n- item\u201d [2]' is one quoted passage)."""
    segment = segment.lstrip(" .!?,;:\n")
    quotation = segment.startswith("\u201c") and segment.rstrip().endswith("\u201d")
    parts = sentences(segment)
    for i, part in enumerate(parts):
        clean = part.strip().strip("\"'\u201c\u201d").strip()
        if re.search(r"[A-Za-z0-9]", clean):
            out.append(CitedSentence(clean, ids if quotation or i == len(parts) - 1 else []))


def quote_in_passage(quote: str, passage: str) -> bool:
    """Every sentence of the quote occurs verbatim (up to spacing/case) in the passage."""
    norm_passage = normalise(passage)
    parts = sentences(quote) or [quote]  # a gap mark between non-adjacent sentences ('A. ... C.') is no sentence
    return all(normalise(p) in norm_passage for p in parts)


def citation_scores(answer: Answer, expected: Sequence[str], support: SupportFn,
                    threshold: float) -> dict[str, Any]:
    """Citation validity, precision and recall for one answer (None for refusals).

    - validity: share of citations that come from an expected page and whose quote
      is really in the retrieved passage it points at (exact; gated);
    - precision: share of (sentence, cited passage) pairs where the passage is from
      an expected page and its quote supports the sentence (similarity; advisory);
    - recall: share of answer sentences with at least one supporting citation.
    """
    if answer.refused:
        return {"citation_validity": None, "citation_precision": None, "citation_recall": None, "sentences": [],
                "citations": []}
    by_id = {c.id: c for c in answer.citations}
    passages = {h.chunk.id: h.chunk.text for h in answer.hits}
    cits = []
    for c in answer.citations:
        passage = passages.get(c.chunk_id)
        in_passage = quote_in_passage(c.quote, passage) if passage is not None else None
        expected_page = source_matches(c.source, expected)
        cits.append({"id": c.id, "source": c.source, "expected_page": expected_page, "quote_in_passage": in_passage,
                     "valid": expected_page and in_passage is not False})
    sents = []
    pairs = precise = supported_sentences = 0
    for sent in cited_sentences(answer.answer):
        scores = {}
        for n in sent.ids:
            cit = by_id.get(n)
            scores[n] = round(support(sent.text, cit), 3) if cit is not None else 0.0
            pairs += 1
            precise += cit is not None and scores[n] >= threshold and source_matches(cit.source, expected)
        ok = any(s >= threshold for s in scores.values())
        supported_sentences += ok
        sents.append({"text": sent.text, "cites": sent.ids, "support": scores, "supported": ok})
    return {
        "citation_validity": sum(c["valid"] for c in cits) / len(cits) if cits else 0.0,
        "citation_precision": precise / pairs if pairs else 0.0,
        "citation_recall": supported_sentences / len(sents) if sents else 0.0,
        "sentences": sents,
        "citations": cits,
    }


class QuoteSupport:
    """support(sentence, citation): kb.verify's check of the sentence against that citation's quote only.

    Uses the embedder already loaded for retrieval; checkers are cached per quote.
    """

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._checkers: dict[tuple[str, str, str], Any] = {}

    def __call__(self, sentence: str, citation: Citation) -> float:
        from kb.verify import Checker

        key = (citation.quote, citation.title, citation.section)
        checker = self._checkers.get(key)
        if checker is None:
            chunk = Chunk(id=citation.chunk_id or "quote", text=citation.quote, source=citation.source,
                          title=citation.title, section=citation.section, position=0)
            checker = self._checkers[key] = Checker(self.embedder, [Hit(chunk=chunk, score=0.0)])
        if normalise(sentence) in normalise(citation.quote):
            return 1.0  # quoted word for word from the cited text (also a list item too short to check)
        if not checker.sources:  # a quote too short to hold a checkable sentence
            return 0.0
        return float(checker.support(sentence).score)


# -- one question -----------------------------------------------------------------
def grade(refuse_expected: bool, refused: bool, recall: float | None, forbidden_found: bool,
          min_recall: float = 1.0) -> str:
    """Three-way grade (openai simple-evals): a refusal of an answerable question is 'not attempted'."""
    if refuse_expected:
        return CORRECT if refused else INCORRECT
    if refused:
        return NOT_ATTEMPTED
    return CORRECT if (recall or 0.0) >= min_recall and not forbidden_found else INCORRECT


def score_answer(case: Any, answer: Answer, support: SupportFn, *, support_threshold: float = 0.6,
                 min_recall: float = 1.0, hit_sources: Sequence[str] | None = None) -> dict[str, Any]:
    """Every score for one question; `case` is an eval.cases.Case.

    `hit_sources` (ranked passage sources) defaults to the answer's own hits.
    """
    sources = list(hit_sources) if hit_sources is not None else [h.chunk.source for h in answer.hits]
    t = answer.timings or {}
    rec: dict[str, Any] = {"expect_refusal": case.refuse, "refused": answer.refused, "mode": answer.mode,
                           "total_s": t.get("total_s"), "generate_s": t.get("generate_s"), "tokens": t.get("tokens")}
    # an answered question whose answer keeps a sentence the model wrote (mode 'generated'), not only quotes
    rec["model_kept"] = None if case.refuse or answer.refused else float(answer.mode == "generated")
    if case.refuse:
        rec.update(rank=None, hit_at_1=None, hit_at_3=None, rr=None, fact_recall=None, missing_facts=[],
                   forbidden=None, forbidden_found=[], first_fact_recall=None)
        rec.update(citation_validity=None, citation_precision=None, citation_recall=None, sentences=[],
                   citations=[])
    else:
        rec.update(retrieval_scores(sources, case.sources))
        recall, missing = fact_recall("" if answer.refused else answer.answer, case.facts)
        found = forbidden_claims(answer.answer, case.forbidden) if not answer.refused else []
        first = None if answer.refused or not case.facts else first_fact_recall(answer.answer, case.facts)
        rec.update(fact_recall=recall, missing_facts=missing, forbidden_found=found, first_fact_recall=first,
                   forbidden=(float(bool(found)) if case.forbidden and not answer.refused else None))
        rec.update(citation_scores(answer, case.sources, support, support_threshold))
    junk = [] if answer.refused else junk_quotes(answer.answer)
    rec.update(junk_quotes=junk, junk_quote=None if answer.refused else float(bool(junk)))
    rec["grade"] = grade(case.refuse, answer.refused, rec["fact_recall"], bool(rec["forbidden_found"]), min_recall)
    return rec


# -- a whole run ---------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    key: str | None  # per-question record key it averages (None: computed over the run)
    higher_is_better: bool = True
    unit: str = ""


METRICS: list[Metric] = [
    Metric("hit_at_1", "retrieval hit@1", "hit_at_1"),
    Metric("hit_at_3", "retrieval hit@3", "hit_at_3"),
    Metric("mrr", "retrieval MRR", "rr"),
    Metric("fact_recall", "key-fact recall", "fact_recall"),
    Metric("first_fact_recall", "first-sentence key-fact recall", "first_fact_recall"),
    Metric("forbidden_rate", "forbidden-claim rate", "forbidden", higher_is_better=False),
    Metric("junk_rate", "junk-quote rate", "junk_quote", higher_is_better=False),
    Metric("citation_validity", "citation validity", "citation_validity"),
    Metric("citation_precision", "citation precision", "citation_precision"),
    Metric("citation_recall", "citation recall", "citation_recall"),
    # issue 18: the share of answers with a kept model sentence is shown next to the checker's precision on the
    # claims set's held-out half (eval/claims.py); a change that raises the first must not lower the second
    Metric("model_share", "answers with a kept model sentence", "model_kept"),
    Metric("checker_precision", "checker precision (claims, held-out)", None),
    Metric("refusal_precision", "refusal precision", None),
    Metric("refusal_recall", "refusal recall", None),
    Metric("correct", "graded correct", None),
    Metric("incorrect", "graded incorrect", None, higher_is_better=False),
    Metric("not_attempted", "not attempted", None, higher_is_better=False),
    Metric("correct_given_attempted", "correct given attempted", None),
    Metric("f_score", "F (simple-evals)", None),
    Metric("latency_p50", "latency p50", None, higher_is_better=False, unit="s"),
    Metric("latency_p95", "latency p95", None, higher_is_better=False, unit="s"),
    Metric("tokens_per_s", "generation tokens/s", None, unit="tok/s"),
]
METRIC_BY_NAME = {m.name: m for m in METRICS}


def mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """Linear-interpolated percentile (p in 0..100), as numpy's default."""
    vals = sorted(float(v) for v in values if v is not None)
    if not vals:
        return None
    pos = (len(vals) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def aggregate(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The run's metrics from per-question records (None where no question applies)."""
    out: dict[str, float | None] = {"n": float(len(records))}
    for m in METRICS:
        if m.key:
            out[m.name] = mean(r.get(m.key) for r in records)
    refused = [r for r in records if r["refused"]]
    expected = [r for r in records if r["expect_refusal"]]
    out["refusal_precision"] = (sum(r["expect_refusal"] for r in refused) / len(refused)) if refused else None
    out["refusal_recall"] = (sum(r["refused"] for r in expected) / len(expected)) if expected else None
    n = len(records)
    for g in (CORRECT, INCORRECT, NOT_ATTEMPTED):
        out[g] = sum(r["grade"] == g for r in records) / n if n else None
    attempted = n - sum(r["grade"] == NOT_ATTEMPTED for r in records)
    cga = sum(r["grade"] == CORRECT for r in records) / attempted if attempted else None
    out["correct_given_attempted"] = cga
    c, cga0 = out[CORRECT] or 0.0, cga or 0.0
    out["f_score"] = (2 * c * cga0 / (c + cga0) if c + cga0 > 0 else 0.0) if n else None
    out["latency_p50"] = percentile((r.get("total_s") for r in records), 50)
    out["latency_p95"] = percentile((r.get("total_s") for r in records), 95)
    gen = [r for r in records if r.get("tokens") and r.get("generate_s")]
    gen_s = sum(r["generate_s"] for r in gen)
    out["tokens_per_s"] = sum(r["tokens"] for r in gen) / gen_s if gen_s else None
    return out


def failing_questions(records: Sequence[dict[str, Any]], ids: Sequence[str], metric: str) -> list[str]:
    """Questions that pull a metric down: not perfect on its per-question score."""
    m = METRIC_BY_NAME[metric]
    out = []
    for qid, r in zip(ids, records, strict=True):
        if metric == "refusal_recall":
            bad = r["expect_refusal"] and not r["refused"]
        elif metric == "refusal_precision":
            bad = r["refused"] and not r["expect_refusal"]
        elif metric in (CORRECT, "correct_given_attempted", "f_score"):
            bad = r["grade"] != CORRECT
        elif m.key and r.get(m.key) is not None:
            bad = r[m.key] > 0 if not m.higher_is_better else r[m.key] < 1
        else:
            bad = False
        if bad:
            out.append(qid)
    return out


def flipped_questions(records: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]],
                      metric: str) -> list[str]:
    """Questions (by id) that score worse on a metric than in the baseline run."""
    m = METRIC_BY_NAME[metric]
    out = []
    for qid, r in records.items():
        b = baseline.get(qid)
        if b is None:
            continue
        if m.key:
            now, before = r.get(m.key), b.get(m.key)
            if now is None or before is None:
                continue
            worse = now < before if m.higher_is_better else now > before
        elif metric.startswith("refusal"):
            worse = (r["refused"] != r["expect_refusal"]) and (b["refused"] == b["expect_refusal"])
        else:
            worse = b["grade"] == CORRECT and r["grade"] != CORRECT
        if worse:
            out.append(qid)
    return out
