"""Stricter checks of a draft sentence against the source sentence that supports it.

A draft made of the source's own words can still say something else (issue 18,
CHECKING.md): a number or quantity changed ("under 1 billion" for "under a few
billion"), another predicate noun in a definition ("a hallucination is a language
model" for "... is output"), a trailing clause taken from a sentence about something
else, or nothing at all ("X is related to the Y"). Word overlap and similarity do not
see these; the rules here do, each on one source sentence:

- quantities: every number and quantity word in the sentence is in its source sentence;
- copulas: "X is a P" needs the source to say that X is a P (same predicate noun);
- clauses: each clause's words come from one source sentence about the same subject
  (so a merge of two sentences passes only with both sentences, and both are cited);
- vacuous: a sentence must tell more than the question and its own subject.
"""

from __future__ import annotations

import re

from kb.text import STOPWORDS, WORD, content_words, stem

# Number and quantity words: each must be in the source sentence as written (a class of
# equivalent words counts as one: "each" = "every").
QUANTITY_CLASSES = [
    {"few", "handful"}, {"many", "numerous"}, {"most", "majority"}, {"all", "every", "each", "per", "entire", "whole"},
    {"several"}, {"some"}, {"always"}, {"never"}, {"none"}, {"half"}, {"single", "one"}, {"both", "two"},
    {"three"}, {"four"}, {"five"}, {"six"}, {"seven"}, {"eight"}, {"nine"}, {"ten"}, {"dozens"}, {"hundreds"},
    {"thousands"}, {"millions", "million"}, {"billions", "billion"}, {"trillions", "trillion"}, {"once"}, {"twice"},
    {"fewer"}, {"more"}, {"less"}, {"least"}, {"only"}, {"large", "huge", "massive", "big"}, {"larger", "bigger"},
    {"largest", "biggest"}, {"small", "tiny"}, {"smaller"}, {"smallest"}, {"minority"},
]
SUBJECT_QUANTITY = {"many", "most", "some", "few", "several", "only", "other"}  # 'Many X are Y' is not 'X are Y'
QUANTITY = {w: i for i, cls in enumerate(QUANTITY_CLASSES) for w in cls}
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _key(word: str) -> str:
    w = word.lower()
    return f"#{QUANTITY[w]}" if w in QUANTITY else stem(w)


def quantity_mismatch(sentence: str, source: str) -> str:
    """A number or quantity word of the sentence that its source sentence does not use the same way.

    Numbers must occur in the source. A quantity word must occur there (or an equivalent)
    next to the same word on its left or right: 'a few experts' may stand for 'only a few
    of those experts', but 'only many of those experts' may not. A quantity on the
    source's subject ('Many released instruct models ...') must stay on the sentence's.
    """
    src_numbers = set(NUMBER.findall(source))
    for num in NUMBER.findall(sentence):
        if num not in src_numbers:
            return f"the number {num} is not in the source sentence"
    toks = [_key(w) for w in WORD.findall(sentence)]
    src = [_key(w) for w in WORD.findall(source)]
    pairs = set(zip(src, src[1:], strict=False))
    for i, (w, k) in enumerate(zip(WORD.findall(sentence), toks, strict=True)):
        if not k.startswith("#"):
            continue
        if k not in src:
            return f"says '{w}', which the source sentence does not"
        left = i > 0 and (toks[i - 1], k) in pairs
        right = i + 1 < len(toks) and (k, toks[i + 1]) in pairs
        if not (left or right):
            return f"says '{w}' where the source sentence uses it of something else"
    src_subject = [w.lower() for w in WORD.findall(_subject_text(source))]
    said = {w.lower() for w in WORD.findall(sentence)}
    for w in src_subject[:2]:  # 'Many released models ...', not 'A router with many layers ...'
        if w in SUBJECT_QUANTITY and w not in said:
            return f"drops '{w}' from the source's subject"
    return ""


NEGATION = {"not", "no", "never", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "without",
            "neither", "nor", "n't"}
SKIP = STOPWORDS | {"yet", "always", "necessarily", "just", "even", "really", "a", "an", "the"}


def _negated_words(text: str) -> tuple[list[str], set[str], set[str]]:
    """(stems of the text's words, stems that follow a negation within three words, all stems)."""
    words = [w.lower() for w in WORD.findall(text)]
    stems = [stem(w) for w in words]
    negated: set[str] = set()
    for i, w in enumerate(words):
        if w in NEGATION or w.endswith("n't"):
            for j in range(i + 1, min(i + 4, len(words))):
                if words[j] not in SKIP and words[j] not in NEGATION:
                    negated.add(stems[j])
                    break
    return stems, negated, set(stems)


def negation_mismatch(sentence: str, source: str) -> str:
    """A word the sentence negates that the source does not, or one the source negates and the sentence
    states plainly ('Pretraining is not self-supervised' against '... is self-supervised: ... no human labels')."""
    _, neg_s, all_s = _negated_words(sentence)
    _, neg_o, all_o = _negated_words(source)
    for w in neg_s:
        if w in all_o and w not in neg_o:
            return f"negates '{w}', which the source does not"
    for w in neg_o:
        if w in all_s and w not in neg_s:
            return f"drops the source's negation of '{w}'"
    if neg_s and not (neg_s & all_o) and not neg_o:
        return "adds a negation the source does not have"
    return ""


RELATION = re.compile(r"\b(than|instead of|rather than|versus|vs\.?|into|from)\s+(?:the |a |an )?([\w-]+)", re.I)


def order_mismatch(sentence: str, source: str) -> str:
    """'more memory than LoRA' against 'more LoRA than memory': what follows 'than' / 'instead of'
    must be what follows it in the source."""
    src = {(m.group(1).lower(), stem(m.group(2))) for m in RELATION.finditer(source)}
    src_rel = {r for r, _ in src}
    for m in RELATION.finditer(sentence):
        rel = m.group(1).lower()
        if rel in src_rel and (rel, stem(m.group(2))) not in src:
            return f"swaps what comes after '{rel}'"
    return ""


COPULA = re.compile(r"^(?P<subj>[^,;:]{2,80}?)\s+(?:is|are|was|were)\s+(?:also\s+|often\s+|usually\s+)?"
                    r"(?:(?:called|known as|referred to as)\s+)?(?P<pred>[^,;:]+)", re.I)
NP_END = re.compile(r"(?<![\w-])(?:that|which|who|whose|with|where|when|used|trained|for|in|of|to|on|by|from|"
                    r"because|so|and|or|but|than|after|before|while|rather|instead|at|as|into|like|such|during|within|across|"
                    r"through|over|under|without|about)(?![\w-])|"
                    r"[,;.(]", re.I)


def _head(phrase: str) -> str:
    """The head word of a noun phrase, stemmed: its last word before 'of', 'that', a comma...;
    a gerund ('Putting a base model ...') heads its phrase."""
    words = [w for w in WORD.findall(phrase) if w.lower() not in ("not", "no")]
    if words and words[0].lower().endswith("ing") and words[0][0].isupper() and len(words) > 1:
        return stem(words[0])
    np = NP_END.split(phrase, maxsplit=1)[0]
    words = [w for w in WORD.findall(np) if w.lower() not in STOPWORDS and w.lower() not in ("not", "no")]
    return stem(words[-1].replace("-", "")) if words else ""


def predicate_noun(sentence: str) -> tuple[set[str], str]:
    """(subject stems, the stem of the predicate's head word) of 'X is (a) P ...', or (set(), '')."""
    m = COPULA.match(sentence)
    if not m:
        return set(), ""
    head = _head(m.group("pred"))
    return (set(content_words(m.group("subj"))), head) if head else (set(), "")


def predicate_mismatch(sentence: str, source: str) -> str:
    """'X is a P' whose source does not call X a P: the source's own predicate differs, or lacks P."""
    subj, head = predicate_noun(sentence)
    if not head:
        return ""
    src_subj, src_head = predicate_noun(source)
    if src_head and subj & src_subj:
        m, ms = COPULA.match(source), COPULA.match(sentence)
        assert m is not None and ms is not None
        if _head(ms.group("subj")) != _head(m.group("subj")):
            return f"says it of '{_head(ms.group('subj'))}' where the source says it of '{_head(m.group('subj'))}'"
        src_np = set(content_words(NP_END.split(m.group("pred"), maxsplit=1)[0]))
        np_words = set(content_words(NP_END.split(ms.group("pred"), maxsplit=1)[0]))
        if head not in src_np and src_head not in np_words:  # 'the right default choice' for 'the right default'
            return f"says it is a '{head}' where the source says '{src_head}'"
        return ""
    if head not in set(content_words(source)):
        return f"calls it a '{head}', which the source sentence does not"
    return ""


CLAUSE = re.compile(r",\s*(?=(?:which|and|but|so|while|whereas|because|since|making|allowing|meaning|where|"
                    r"it|they|this|these)\b)|;\s*|\s+(?=and\s+(?:is|are|can|has|have|was|were|it|they|uses?|needs?|"
                    r"makes?|also)\b)", re.I)
INDEPENDENT = re.compile(r"(?:,\s*(?:and|but|while|whereas)|;)\s+(?!(?:is|are|was|were|can|cannot|could|has|have|"
                         r"does|do|must|may|might|will|needs?|uses?|makes?|lets?|gives?|so|then|also|not)\b)")
CLAUSE_VERB = re.compile(r"\b(?:is|are|was|were|can|cannot|could|has|have|does|do|must|may|might|will|needs?|uses?|"
                         r"makes?|lets?|gives?|sends?|runs?|learns?|adds?|keeps?|reduces?|produces?|requires?|"
                         r"costs?|scores?|maps?|turns?|changes?|limits?|covers?|means?|\w+s)\b")


def independent_parts(sentence: str) -> list[str]:
    """Two sentences joined by ', and' / ';' ('X does A, and Y is B'), each a claim of its own; else [sentence]."""
    for m in INDEPENDENT.finditer(sentence):
        left, right = sentence[:m.start()].strip(), sentence[m.end():].strip()
        if len(left.split()) >= 4 and len(right.split()) >= 4 and CLAUSE_VERB.search(right) \
                and CLAUSE_VERB.search(left):
            right = right[:1].upper() + right[1:]
            return [left.rstrip(",;") + ".", *independent_parts(right)]
    return [sentence]
CLAUSE_COVERAGE = 0.8  # share of a clause's own words that one source sentence must hold


def clauses(sentence: str) -> list[str]:
    return [c.strip() for c in CLAUSE.split(sentence) if c and c.strip()]


def subject_mismatch(sentence: str, source: str) -> str:
    """The head word of the sentence's subject must be written in the source as it is (or as its plural):
    'A hallucination ...' is not supported by 'Small language models hallucinate ...'."""
    subj = _subject_text(sentence)
    if not subj:
        return ""
    np = NP_END.split(subj, maxsplit=1)[0]
    words = [w.lower() for w in WORD.findall(np) if w.lower() not in STOPWORDS]
    if not words:
        return ""
    head = words[0] if words[0].endswith("ing") and len(words) > 1 else words[-1]
    src = {w.lower().replace("-", "") for w in WORD.findall(source)}
    head = head.replace("-", "")
    forms = {head, head + "s", head + "es", head[:-1] if head.endswith("s") else head, head.rstrip("-")}
    if head.endswith("ies"):
        forms.add(head[:-3] + "y")
    if head.endswith("y"):
        forms.add(head[:-1] + "ies")
    if not forms & src and not any(head in w.split("-") for w in src):
        return f"its subject '{head}' is not the source sentence's"
    return ""


def unsupported_clause(sentence: str, main: str, subject: set[str]) -> str:
    """A clause after the first ('..., which ...', '..., so ...') whose words its source sentence lacks.

    The first clause is judged by the support check; a trailing clause must come from the
    same source sentence (one taken from a sentence about something else is how a 135M
    model makes a false merge: 'an embedding model is a text-to-vector, which can be trained
    to generate paraphrases'). Two whole sentences joined by ', and' are split before this
    (independent_parts), each checked against its own source sentence and cited.
    """
    main_words = set(content_words(main))
    parts = clauses(sentence)
    for part in parts[1:] + (parts[:1] if len(parts) > 1 else []):  # with a second clause, the first one too
        words = set(content_words(part)) - subject
        if len(words) < 2:
            continue
        missing = words - main_words
        allowed = max(1 if len(words) >= 4 else 0, int((1 - CLAUSE_COVERAGE) * len(words)))
        if len(missing) > allowed:  # one paraphrased word in a clause of four or more
            return f"no source sentence supports '{_short(part)}'"
    return ""


SUBJECT_END = re.compile(r"\s(?:is|are|was|were|has|have|can|could|does|do|will|would|should|must|may|uses?|"
                         r"needs?|sends?|runs?|learns?|makes?|predicts?|completes?|follows?|activates?|produces?|"
                         r"maps?|stores?|reduces?|adds?|means?|refers?|continues?|answers?)\b", re.I)


SINGULAR_VERB = re.compile(r"^(?:A|An|The|Each|Every)\s+(?:[\w-]+\s+){0,3}?[\w-]+\s+(?=[a-z]+[^su\W]s\b)")


def _subject_text(sentence: str) -> str:
    """The words before the main verb, or '' when the verb is not found."""
    parts = SUBJECT_END.split(sentence, maxsplit=1)
    words = parts[0].split()
    if len(parts) > 1 and len(words) < 12:
        return " ".join(words[:8])
    m = SINGULAR_VERB.match(sentence)  # 'A raster editor draws ...': a singular subject, then a verb in -s
    return m.group(0).strip() if m else ""


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


VAGUE_PREDICATE = re.compile(r"\b(?:is|are|be|been|was|were)\s+(?:\w+ly\s+)?(?:related|associated|connected|"
                             r"linked|relevant)\s+(?:to|with)\b|\bcan be used (?:for|in|to|with) (?:a |an |the )?\w+",
                             re.I)
FRAGMENT = re.compile(r"^(?:For|In|With|When|If|Because|Although|While|After|Before|Given)\s+(?:a|an|the|any)?\s*"
                      r"[\w-]+\s+(?:that|which|who)\b")
ANAPHOR_COPULA = re.compile(r"^(?:This|That|These|Those|It|They)(?:\s+[a-z-]+)?\s+(?:is|are|was|were)\s+(?:also\s+)?"
                            r"(?:a|an|the)\b")
VAGUE_WORDS = {stem(w) for w in ("related relate associated type kind important role part aspect concept term "
                                 "process certain various specific general different relevant").split()}


def vacuous(sentence: str, question: str = "", source: str = "") -> str:
    """Why the sentence tells a reader nothing, or ''.

    A vague link ('X is related to the Y', 'X can be used for X') the source does not make,
    or fewer than two words beyond its own subject, the question and vague words.
    """
    if ANAPHOR_COPULA.match(sentence):
        return "says what 'this'/'it' is without saying what it is"
    if FRAGMENT.match(sentence) and "," not in sentence:
        return "no main clause ('For an application that ...')"
    m = VAGUE_PREDICATE.search(sentence)
    if m and not (source and VAGUE_PREDICATE.search(source)):
        return "a vague link the source does not make ('related to', 'used for')"
    subject = set(content_words(_subject_text(sentence)))
    told = {stem(w) for w in WORD.findall(sentence.lower()) if w not in STOPWORDS}
    rest = told - subject - VAGUE_WORDS - {"model", "languag", "llm", ""}
    if not rest:
        return "says nothing beyond its own subject"
    return ""
