"""Whether the knowledge base covers a question: the similarity floor plus word evidence.

One cosine floor cannot separate scope on a broad technical corpus: "How do I run YOLOv8
on a Jetson Orin?" is as close (0.31-0.60) to pages about running models as a plainly
worded in-scope question. What the similarity misses, the vocabulary knows: "YOLOv8",
"Jetson" and "Orin" occur in no passage. So a question is out of scope when

- its best passage is below `min_relevance` (nothing is close), or
- it is only moderately close (below `scope_relevance`) and at least `missing_share` of
  its IDF weight is on words no passage uses.

Absence is evidence only in a large vocabulary: five pages lack most English words
("big", "stand", "memorised"), a thousand technical passages do not. The word test
therefore applies from SCOPE_MIN_PASSAGES passages on; below that, the floor alone
decides (on the sample and seed sets every out-of-scope question is under it).
Thresholds live in kb/settings.py, calibrated on the sample, shared and realdocs sets
together (docs/eval.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from kb.text import content_words
from kb.types import Hit

SCOPE_MIN_PASSAGES = 500
# words that say what kind of answer is wanted, not what it is about
QUESTION_WORDS = frozenset(content_words(
    "difference differ differs compare comparison versus vs better worse best good bad work works working "
    "explain describe mean means meaning exactly actually really need want know tell show give help example "
    "examples happen happens step steps instead choose choosing pick recommend recommended right wrong "
    "possible able okay ok"))


class Vocabulary(Protocol):
    """What scope needs from the BM25 index (kb/retrieve.py Corpus)."""

    def document_frequency(self, word: str) -> int: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class Scope:
    """The evidence behind a scope decision."""

    in_scope: bool
    best: float  # the best passage's question similarity
    missing: float = 0.0  # share of the question's IDF weight on words no passage uses
    missing_words: tuple[str, ...] = ()
    reason: str = ""


def key_words(question: str) -> list[str]:
    """The question's content words; a hyphenated compound counts as its parts only
    ('code-completion' is 'code' and 'completion': the joined form is rarely written)."""
    words = content_words(question.replace("-", " "))
    return [w for w in dict.fromkeys(words) if w not in QUESTION_WORDS]


def judge(question: str, hits: list[Hit], vocab: Vocabulary | None, min_relevance: float,
          scope_relevance: float, missing_share: float) -> Scope:
    best = max((h.dense for h in hits), default=0.0)
    if not hits or best < min_relevance:
        return Scope(False, best, reason=f"the best passage's similarity {best:.2f} is under {min_relevance:.2f}")
    words = key_words(question)
    if vocab is None or not words or best >= scope_relevance or vocab.size < SCOPE_MIN_PASSAGES:
        return Scope(True, best)
    n = vocab.size
    df = {w: vocab.document_frequency(w) for w in words}
    idf = {w: math.log(1 + n / (1 + d)) for w, d in df.items()}
    absent = tuple(w for w in words if df[w] == 0)
    missing = sum(idf[w] for w in absent) / (sum(idf.values()) or 1.0)
    if absent and missing >= missing_share:
        return Scope(False, best, missing, absent, f"{missing:.0%} of the question's weight is on words no "
                     f"passage uses ({', '.join(absent)}) and the best passage's similarity is only {best:.2f}")
    return Scope(True, best, missing, absent)
