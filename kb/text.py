"""Small text helpers shared by retrieval, verification and eval: sentences and content words."""

from __future__ import annotations

import functools
import re

SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”)\]]*\s+(?=[A-Z0-9\"'“(\[])")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+-]*")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not of off on once only or other our ours ourselves out over own same she should so some such than that
the their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves use used
using uses one ones may might must shall often usually typically called also like e.g i.e etc s t get gets
make makes many much way ways thing things something
""".split())


LIST_MARK = re.compile(r"^(?:[-*•]|\d+\.)\s+")


def paragraphs(text: str) -> list[tuple[str, bool]]:
    """Paragraphs and list items of a passage, whitespace-normalised, each with whether it is a list item."""
    out: list[tuple[str, bool]] = []
    for para in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+\.)\s)", text):
        para = " ".join(para.split())
        item = bool(LIST_MARK.match(para))
        para = LIST_MARK.sub("", para)
        if para:
            out.append((para, item))
    return out


def split_paragraph(para: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(para) if s.strip()]


def sentences(text: str) -> list[str]:
    """Sentences of a passage; list items and paragraphs end sentences too."""
    return [s for para, _ in paragraphs(text) for s in split_paragraph(para)]


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer (Snowball), installed with bm25s

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem, so 'prediction'/'predict' and 'tuned'/'tuning' match."""
    return _stemmer().stemWord(word.lower().strip("'-"))


def content_words(text: str) -> list[str]:
    """Stemmed non-stopwords. A hyphenated compound counts as its parts and as one word, so
    'pre-training' matches 'pretraining' as well as 'training'."""
    out = []
    for w in WORD.findall(text):
        parts = [p for p in w.split("-") if p]
        if len(parts) > 1:
            out.extend(stem(p) for p in parts if p.lower() not in STOPWORDS and len(p) > 1)
            out.append(stem("".join(parts)))
        elif parts and parts[0].lower() not in STOPWORDS and len(parts[0]) > 1:
            out.append(stem(parts[0]))
    return out


def tokens_for_bm25(text: str) -> list[str]:
    return content_words(text)


VERB = re.compile(r"\b(is|are|was|were|has|have|had|can|could|does|do|did|will|would|should|must|may|"
                  r"uses?|needs?|activates?|sends?|runs?|learns?|follows?|completes?|predicts?|scores?|"
                  r"maps?|stores?|reduces?|makes?|adds?|produces?|continues?|answers?|means?|refers?)\b", re.I)
