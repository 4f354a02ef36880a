"""The text rules ingest and query share: sentences, content words, terms, definitions, URLs.

Where ingest and query use a different rule for the same thing, both live here,
side by side, with why they differ: changing one changes what is stored (chunk
boundaries, glossary metadata: a re-ingest), the other what is quoted or
retrieved, and the eval numbers rest on each as it is.
"""

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


# -- sentences for chunking (ingest) -----------------------------------------------
CHUNK_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'“(\[])")


def split_sentences(text: str) -> list[str]:
    """Sentences to cut an over-long paragraph into chunk-sized pieces (ingest/chunk.py).

    Differs from `paragraphs`/`split_paragraph` (what query quotes and checks): a
    sentence ending in a closing quote or bracket ('... "done." Next') is not split
    there; a line starting with '-', '*', '•' or 'N.' starts a new piece even without
    a space after the mark; list marks are kept. It only decides where a chunk may be
    cut; changing it moves chunk boundaries, so every store would need a re-ingest.
    """
    parts: list[str] = []
    for para in re.split(r"\n\s*\n|\n(?=\s*[-*•]|\s*\d+\.)", text):
        para = " ".join(para.split())
        if para:
            parts.extend(s.strip() for s in CHUNK_SENTENCE_END.split(para) if s.strip())
    return parts


# -- terms -------------------------------------------------------------------------
ARTICLE = re.compile(r"^(?:an?|the)\s+", re.I)


def glossary_key(text: str) -> str:
    """A term as ingest compares it with a page's sentences and aliases (ingest/glossary.py):
    lower case, no leading article, a plural 's' trimmed, no stemming, every word kept.

    Differs from `term_key` (query): ingest matches a term inside sentences word for
    word, so 'model' must stay; query matches a question's term against stored titles
    and aliases, where the stemmed content words without the generic 'model' match more.
    """
    words = re.findall(r"[a-z0-9]+", ARTICLE.sub("", text.strip()).lower())
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


def term_key(text: str) -> str:
    """Normalised form of a term for matching titles and aliases ('Instruct models' ~ 'instruct model')."""
    words = content_words(text.replace("(", " ").replace(")", " "))
    return " ".join(w for w in words if w not in ("what", "model", "llm"))


# -- "is a definition" ---------------------------------------------------------------
# Three tests, each tuned where it is used; they differ on purpose:
# - DEFINITION_SENTENCE (kb/quotes.py): a capitalised sentence whose verb comes within 80
#   characters, for the small bonus a definition-shaped quote gets on "what is X" questions.
# - DEFINES_AFTER_TERM (ingest/glossary.py): the text right after a term's name ('(SFT) is ...',
#   ', or X, means ...') reads as its definition; more verbs, because it only checks the start.
# - DEFINITION_LINE (ingest/boilerplate.py): a line that defines something is never boilerplate,
#   whatever its case; the subject is at most seven words and is captured, so pronouns can be excluded.
DEFINITION_SENTENCE = re.compile(r"^[A-Z][^.]{0,80}?\b(is|are|refers to|means)\b")
DEFINES_AFTER_TERM = re.compile(
    r"^\s*(?:\([^)]*\)\s*|,[^,]*,\s*)?(?:is|are|refers\s+to|means|describes|denotes|stands\s+for)\b", re.I)
DEFINITION_LINE = re.compile(r"^\W*(?:(?:a|an|the)\s+)?(\S+)(?:\s+\S+){0,6}?\s+(?:is|are|refers to|means)\s+\S",
                             re.I)


# -- URLs ----------------------------------------------------------------------------
def is_url(text: str) -> bool:
    """A web address kb fetches (http or https), as opposed to a file path."""
    return text.startswith(("http://", "https://"))
