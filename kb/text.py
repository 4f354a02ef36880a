"""The text rules ingest and query share: sentences, content words, terms, definitions, URLs.

Where ingest and query use a different rule for the same thing, both live here,
side by side, with why they differ: changing one changes what is stored (chunk
boundaries, glossary metadata: a re-ingest), the other what is quoted or
retrieved, and the eval numbers rest on each as it is.
"""

from __future__ import annotations

import functools
import re

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


# -- sentences (one rule for ingest and query) --------------------------------------
# ingest/chunk.py cuts over-long paragraphs with `split_sentences`, kb/passages.py quotes and
# kb/verify.py checks `paragraphs` + `split_paragraph`: both rest on `split_paragraph`, so a
# chunk is never cut where a quote would not end (real pages cut at "e.g." gave quotes such
# as "8), where each expert is a neural network.").
LIST_MARK = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+")
ITEM_START = re.compile(r"\n(?=[ \t]*(?:[-*+•]|\d{1,3}[.)])\s)")
BOUNDARY = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]*[A-Z0-9])")
GAP = " ... "  # joins quotes of sentences that are not adjacent in their passage (kb/cite.py)
GAP_MARK = re.compile(r"(?<=[.!?\"'\u201d)\]])\s+(?:\.\.\.|\u2026)\s+(?=\S)")
# Words that end in "." without ending a sentence: the next word is never a new sentence
# ("e.g. GPT-4", "Dr. Smith", "Fig. 3", "Jan. 2027", "approx. 7B").
ABBREVIATIONS = frozenset("""
e.g eg i.e ie cf viz vs al approx ca esp incl resp dept fig figs eq eqs mr mrs ms dr prof sr jr inc ltd corp
jan feb mar apr jun jul aug sep sept oct nov dec
""".split())
# Ends a sentence only when what follows cannot continue it ("..., pears, etc. The next ...").
SOFT_ABBREVIATIONS = frozenset({"etc", "al"})
INITIALS = re.compile(r"(?:^|[\s(\[\"'])((?:[A-Za-z]\.){2,}|[A-Z]\.)$")  # "U.S.", "J.", "e.g." spelled with dots


def _ends_sentence(before: str, mark: str, after: str) -> bool:
    """Whether the '.', '!' or '?' (with any closing quote) at the end of `before` ends a sentence,
    given the text `after` it (which starts with an upper-case letter, a digit or an opening quote)."""
    if mark[0] in "!?\u2026" or mark.startswith(".."):
        return True
    word = re.search(r"(\S+)$", before)
    token = word.group(1) if word else ""
    bare = token.rstrip(".").lower().lstrip("([\"'\u201c")
    if bare in SOFT_ABBREVIATIONS:
        return after[:1].isupper() and mark == "."
    if bare in ABBREVIATIONS or bare.replace(".", "") in ABBREVIATIONS:
        return False
    if INITIALS.search(before) and (after[:1].isupper() or after[:1].isdigit()):
        # "U.S. Army", "J. R. R. Tolkien"; a dotted acronym at the end of a sentence followed by a
        # capitalised word is indistinguishable, and keeping the two together loses nothing.
        return False
    if re.fullmatch(r"\d{1,3}", token.rstrip(".")) and not before[:-len(token)].strip():
        return False  # "1. Load the data": a list number, not a sentence
    return True


def split_paragraph(para: str) -> list[str]:
    """The sentences of one paragraph: ends at '.', '!', '?', '…' followed by a capitalised word,
    a digit or an opening quote, except after abbreviations and initials. Decimals ("3.5"), version
    numbers ("v1.2.3") and URLs never split, as no space follows their dots; a gap mark between
    quoted sentences (GAP) is a boundary and is dropped."""
    out: list[str] = []
    for part in GAP_MARK.split(para):
        start = 0
        for m in BOUNDARY.finditer(part):
            after = part[m.end():].lstrip().lstrip("\"'\u201c\u2018([")
            if _ends_sentence(part[start:m.start() + 1], m.group(), after):
                out.append(part[start:m.end()].strip())
                start = m.end()
        out.append(part[start:].strip())
    return [s for s in out if s and s not in ("...", "\u2026")]


def _blocks(text: str) -> list[tuple[str, str]]:
    """Paragraphs and list items of a passage, whitespace-normalised, each with its list mark ('' for none)."""
    out: list[tuple[str, str]] = []
    for para in re.split(r"\n\s*\n|" + ITEM_START.pattern, text):
        para = " ".join(para.split())
        mark = LIST_MARK.match(para)
        if para:
            out.append((para[mark.end():], mark.group().strip()) if mark else (para, ""))
    return [(p, m) for p, m in out if p]


def paragraphs(text: str) -> list[tuple[str, bool]]:
    """Paragraphs and list items of a passage, whitespace-normalised, each with whether it is a list item."""
    return [(para, bool(mark)) for para, mark in _blocks(text)]


def sentences(text: str) -> list[str]:
    """Sentences of a passage; list items and paragraphs end sentences too."""
    return [s for para, _ in paragraphs(text) for s in split_paragraph(para)]


def split_sentences(text: str) -> list[str]:
    """Sentences to cut an over-long paragraph into chunk-sized pieces (ingest/chunk.py): the same
    sentences kb quotes, with each list item's mark kept on its first sentence."""
    out: list[str] = []
    for para, mark in _blocks(text):
        sents = split_paragraph(para)
        out.extend(f"{mark} {s}" if mark and k == 0 else s for k, s in enumerate(sents))
    return out


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


def name_phrases(text: str) -> list[list[str]]:
    """The names a question is about, each as the content words of one run of adjacent name-shaped
    tokens: 'What is Mixtral 8x7B's context window?' -> [['mixtral', '8x7b']]. A token is
    name-shaped when it is capitalised after the first word, has a capital inside ('DeepSeek',
    'vLLM') or mixes letters and digits ('8x7B', 'V3'); the first word counts only by the last two
    signs, since every question starts with a capital (kb/scope.py: a named thing and its attribute)."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, token in enumerate(WORD.findall(text)):
        token = re.sub(r"['\u2019]s$", "", token)
        parts = [p for p in token.split("-") if len(p) > 1]
        if any(_name_shaped(p, first=i == 0) for p in parts):
            current += [w for p in parts for w in content_words(p)]
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [run for run in runs if run]


def _name_shaped(part: str, first: bool) -> bool:
    inner_capital = any(c.isupper() for c in part[1:])
    letters_and_digits = any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
    return inner_capital or letters_and_digits or (part[0].isupper() and not first)


def tokens_for_bm25(text: str) -> list[str]:
    return content_words(text)


VERB = re.compile(r"\b(is|are|was|were|has|have|had|can|could|does|do|did|will|would|should|must|may|"
                  r"uses?|needs?|activates?|sends?|runs?|learns?|follows?|completes?|predicts?|scores?|"
                  r"maps?|stores?|reduces?|makes?|adds?|produces?|continues?|answers?|means?|refers?)\b", re.I)


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
    """Normalised form of a term for matching titles and aliases ('Instruct models' ~ 'instruct model'). A
    hyphen is a space here: 'a mixture-of-experts model' is asked for the glossary's 'Mixture of Experts'
    (content_words would add the joined 'mixtureofexpert', which no spaced title has)."""
    words = content_words(text.replace("(", " ").replace(")", " ").replace("-", " "))
    return " ".join(w for w in words if w not in ("what", "model", "llm"))


# -- "is a definition" ---------------------------------------------------------------
# Six tests, each tuned where it is used; they differ on purpose:
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
# - DEFINES_SUBJECT (kb/retrieve.py): a paragraph that opens by saying what its subject is ('LoRA is an
#   adapter-based method ...', 'Note: ORPO is an alternative ...', 'Mixture of experts (MoE) is a ...'):
#   the subject (at most five words) and its bracketed alias are captured, and 'is' must be followed by
#   an article, so 'Quantization is not the only way' and 'X is supervised ...' are not read as one.
DEFINES_SUBJECT = re.compile(
    r"^(?:(?:note|tip|important|info|warning):\s+)?(?:(?:the|a|an)\s+)?"
    r"(?P<subject>[A-Za-z0-9][\w.+/-]*(?:[ -][\w.+/-]+){0,4}?)"
    r"(?:\s*\((?P<alias>[^)]{1,80})\))?\s+(?:is|are|refers to|stands for|means)\s+(?:a|an|the|one)\s", re.I)
# - IS_A (kb/opening.py): 'X is a/the Y ...' says what X is, which answers neither "why" nor "how": such a
#   quote does not open a why- or how-answer. Any subject of up to 80 characters, an article after the verb.
IS_A = re.compile(r"^[^,.;:]{1,80}?\s(?:is|are|refers to|means)\s+(?:a|an|the|one)\s", re.I)
# - DEFINITION_FORM (kb/opening.py `definition_fit`): how plainly a quote defines the asked thing, read from
#   its parts: the subject (after an optional 'Label: '), the head noun after the verb (judged by JUDGES:
#   'a poor way' judges instead of defining) and the rest (a differentia 'that ...' makes the best opening).
DEFINITION_FORM = re.compile(
    r"^(?:[A-Z][\w ]{0,30}:\s+)?(?P<subject>[^,.:;()]{1,60}?(?:\s*\([^)]*\))?(?:\s+model)?)\s+"
    r"(?:is|are|refers to|means|stands for)\s+(?:(?:a|an|the|one|any)\s+)?(?P<head>\w+)"
    r"(?P<rest>.*)", re.I | re.S)
NOT_A_SUBJECT = re.compile(r"^(?:this|that|these|those|it|they|there|here|which|what|each|every|one|some|all|another|"
                           r"our|your|its|their|we|you|i)\b", re.I)


def defined_terms(paragraph: str) -> list[str]:
    """The term keys a paragraph defines by its opening sentence: its subject, its bracketed alias, and for a
    capitalised name the initials it is asked by ('Reinforcement Learning from Human Feedback' -> 'RLHF',
    'Mixture of Experts' -> 'MoE'), or []."""
    m = DEFINES_SUBJECT.match(paragraph.lstrip())
    if not m or NOT_A_SUBJECT.match(m.group("subject")):
        return []
    names = [m.group("subject"), m.group("alias") or "", *initials(m.group("subject"))]
    keys = [term_key(name) for name in names]
    return [k for k in dict.fromkeys(keys) if k]


def expands(acronym: str, text: str) -> bool:
    """Whether `text` spells the acronym out as a glossary row does: 'IR: Intermediate Representation',
    'NCHW: Number of images, Channels, Height, Width' (the capitalised words' initials begin with it).
    The answer to "what does IR stand for?" that no 'X is a Y' test sees."""
    if len(acronym) < 2 or not acronym.isupper():
        return False
    for m in re.finditer(rf"(?:^|\s){re.escape(acronym)}:\s+((?:[A-Z][\w-]*,?\s*(?:(?:of|and|for|to|the|in)\s+"
                         r"[\w-]+,?\s*)?){2,8})", text):
        words = [w for w in re.split(r"[\s,]+", m.group(1)) if w[:1].isupper()]
        if "".join(w[0] for w in words).lower().startswith(acronym.lower()):
            return True
    return False


def initials(name: str) -> list[str]:
    """Acronyms of a name of two or more capitalised words, lower-cased: of its capitalised words
    ('Direct Preference Optimization' -> 'dpo', 'Parameter-Efficient Fine-Tuning' -> 'peft') and of all
    its words ('Mixture of Experts' -> 'moe'). [] for other names."""
    words = [w for w in re.split(r"[\s-]+", name) if w]
    caps = [w for w in words if w[:1].isupper()]
    if len(caps) < 2 or len(words) > 6:
        return []
    return list(dict.fromkeys("".join(w[0] for w in ws).lower() for ws in (caps, words)))


# -- URLs ----------------------------------------------------------------------------
def is_url(text: str) -> bool:
    """A web address kb fetches (http or https), as opposed to a file path."""
    return text.startswith(("http://", "https://"))


# -- names in a question ----------------------------------------------------------------
NAME = re.compile(r"(?<!^)(?<![.?!] )\b(?:[A-Z][\w.-]*[A-Z0-9][\w.-]*|[A-Z][a-z]+[\w-]*|\w*\d\w*)\b")


def question_names(question: str) -> set[str]:
    """The specific names a question is about: capitalised or digit-bearing words past its first
    ('Mixtral', 'DeepSeek-V3', '8x7B'), as content words. A sentence holding them is about the
    thing asked, not only its topic."""
    found = " ".join(m.group(0) for m in NAME.finditer(question.strip()))
    return set(content_words(found))
