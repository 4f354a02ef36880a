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
The words can all be there while the asked fact is not: "What is Mixtral 8x7B's context
window?" on pages that name Mixtral only in a download table and define "context window" in a
glossary. A question about a named thing asks for that thing's attribute, so a passage that
states it holds the name and the attribute words together. Hence the third test (`fact_evidence`):
when the question names something specific (a name-shaped word few passages use), some window of
FACT_WINDOW consecutive sentences of a retrieved passage that holds the name must also hold at
least `fact_share` of the IDF weight of the question's other words; otherwise kb refuses. For "how many
X" that window must also give a number of X ('2 experts'): a number elsewhere counts something else.

Thresholds live in kb/settings.py, calibrated on the sample, shared and realdocs sets
together (docs/eval.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from kb.text import STOPWORDS, WORD, content_words, name_phrases, sentences, stem
from kb.types import Chunk, Hit

SCOPE_MIN_PASSAGES = 500
# words that say what kind of answer is wanted, not what it is about
QUESTION_WORDS = frozenset(content_words(
    "difference differ differs compare comparison versus vs better worse best good bad work works working "
    "explain describe mean means meaning exactly actually really need want know tell show give help example "
    "examples happen happens step steps instead choose choosing pick recommend recommended right wrong "
    "possible able okay ok main idea stand"))
# a name held by at most this share of the passages is a specific thing (Mixtral: 18 of 1,439 realdocs
# passages), not a topic the pages are about (Ollama: 145, LoRA: 120); only the former gets the fact test
NAME_MAX_SHARE = 0.02
# sentences in one window of the fact test: a name and its attribute are often one sentence apart
# ("Medusa ... It ..."); three keeps every in-scope question of the three sets, two did not (docs/eval.md)
FACT_WINDOW = 3
FACT_POOL = 20  # BM25 passages searched besides the retrieved ones: the stating passage may rank lower
# 'how many experts does X route each token to?': the stated fact is a number of experts, so some window must
# put a number next to the word counted ('2 experts', 'top-2 experts', 'experts per token: 2')
HOW_MANY = re.compile(r"^\s*how\s+(?:many|much)\s+([A-Za-z][\w-]*)", re.I)  # and the word it counts
AMOUNT = re.compile(r"^(?:\d|[a-z]+-\d)|^(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
                    r"twenty|thirty|forty|fifty|hundreds?|thousands?|millions?|billions?|trillions?|single|half|"
                    r"twice|double|pair)$", re.I)
AMOUNT_REACH = 3  # tokens between the number and the word it counts


class Vocabulary(Protocol):
    """What scope needs from the BM25 index (kb/retrieve.py Corpus)."""

    def document_frequency(self, word: str) -> int: ...

    def bm25_search(self, query: str, k: int) -> list[tuple[Chunk, float]]: ...

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
    fact: float | None = None  # fact evidence (fact_evidence), None when the question names nothing specific


def key_words(question: str) -> list[str]:
    """The question's content words; a hyphenated compound counts as its parts only
    ('code-completion' is 'code' and 'completion': the joined form is rarely written)."""
    words = content_words(re.sub(r"['\u2019]s\b", "", question).replace("-", " "))
    return [w for w in dict.fromkeys(words) if w not in QUESTION_WORDS]


def judge(question: str, hits: list[Hit], vocab: Vocabulary | None, min_relevance: float,
          scope_relevance: float, missing_share: float, fact_share: float = 0.0) -> Scope:
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
    fact = fact_evidence(question, hits, vocab, df, idf)
    if fact is not None and fact[0] < fact_share:
        return Scope(False, best, missing, absent, f"no passage states what is asked about {fact[1]!r}: its "
                     f"sentences hold {fact[0]:.0%} of the question's other words and the best passage's "
                     f"similarity is only {best:.2f}", fact=fact[0])
    return Scope(True, best, missing, absent, fact=None if fact is None else fact[0])


def fact_evidence(question: str, hits: list[Hit], vocab: Vocabulary, df: dict[str, int],
                  idf: dict[str, float]) -> tuple[float, str] | None:
    """How much of what the question asks about its rarest name some passage states next to that name.

    The anchor is the rarest name-shaped question word that passages use, when at most NAME_MAX_SHARE
    of them do; its name ('Mixtral 8x7B') is left out, the rest is the attribute asked for ('context
    window'). The evidence is the largest share of the rest's IDF weight in one window of FACT_WINDOW
    sentences that holds the anchor, over the retrieved passages and the BM25 best for the question's
    words. None when the question names nothing specific (the test does not apply).
    """
    present = [w for w in df if df[w]]
    runs = [[w for w in run if df.get(w)] for run in name_phrases(question)]
    named = [w for run in runs for w in run]
    if not named:
        return None
    anchor = min(named, key=lambda w: (df[w], w))
    if df[anchor] > NAME_MAX_SHARE * vocab.size:
        return None
    name = next(run for run in runs if anchor in run)
    rest = {w: idf[w] for w in present if w not in name}
    if not rest:
        return None
    total = sum(rest.values())
    chunks = {h.chunk.id: h.chunk for h in hits}
    for chunk, _ in vocab.bm25_search(" ".join(present), FACT_POOL):
        chunks.setdefault(chunk.id, chunk)
    counted = _counted(question)
    best = 0.0
    for chunk in chunks.values():
        for window, text in _windows(chunk.text):
            if anchor in window and (counted is None or _counts(text, counted, name)):
                best = max(best, sum(v for w, v in rest.items() if w in window) / total)
    return best, " ".join(name)


def _counted(question: str) -> str | None:
    """The stem of what a 'how many X / how much X' question counts; None for other questions (and for
    'how much does it cost', which names no counted word)."""
    m = HOW_MANY.match(question)
    if not m or m.group(1).lower() in STOPWORDS:
        return None
    return stem(m.group(1))


def _counts(text: str, counted: str, name: list[str]) -> bool:
    """Whether a number stands within AMOUNT_REACH tokens of the counted word in one sentence, not counting
    the numbers in the asked-about name itself (Mixtral-8x7B's '8' is not a number of experts)."""
    own = set(name)
    for sentence in sentences(text):
        tokens = WORD.findall(sentence)
        amounts = [i for i, t in enumerate(tokens) if AMOUNT.match(t) and not set(content_words(t)) & own]
        if any(abs(i - j) <= AMOUNT_REACH for j, t in enumerate(tokens) if stem(t) == counted for i in amounts):
            return True
    return False


def _windows(text: str) -> list[tuple[set[str], str]]:
    """The content words and text of each run of FACT_WINDOW consecutive sentences (a hyphenated
    compound as its parts too: 'Codestral-Mamba' holds 'mamba')."""
    sents = sentences(text)
    out = []
    for i in range(max(1, len(sents) - FACT_WINDOW + 1)):
        part = " ".join(sents[i:i + FACT_WINDOW])
        out.append((set(content_words(part)) | set(content_words(part.replace("-", " "))), part))
    return out
