"""The acceptance rule for a model sentence: an extractive compression of one source sentence.

kb's other checks (kb/verify.py, kb/exact.py) look for known ways a sentence made of the
source's own words goes wrong: a changed number, another predicate noun, a trailing
clause from elsewhere. Each was a patch for errors seen on the claims set's dev half,
and the held-out half kept finding ones no patch named (issue 18). This rule is the
other way round: it says which sentences are *allowed*, and everything else falls back
to a quote (the answer stays correct; only the model's share drops).

A draft sentence is accepted when it is the source sentence with pieces deleted:

- its words, read in order, are the source sentence's words in order (a word may change
  inflection, 'models'/'model', 'is'/'are'; articles come and go; nothing else is
  inserted and no word is replaced by another);
- each deleted piece is one a reader can drop without changing what is left:
  a parenthesis, an aside between commas, the rest of the sentence from a comma or a
  clause word ('which', 'because', 'so', 'rather than', ...), a prepositional phrase, or
  a word or two of modifier; never the start of the sentence (a condition, a subject),
  and never a piece that carries a negation, a number, a quantity ('only', 'a few',
  'most'), a modal or hedge ('can', 'usually'), a comparison or condition ('than', 'if',
  'unless', 'before'), nor the head noun of the source's subject or of its copula
  predicate ('X is output that ...' must not lose 'output');
- what is left says something: the vacuous check (kb/exact.py) runs before this.

Two sentences joined by ', and' are split before this rule (kb.exact.independent_parts),
and each part must be a compression of its own source sentence, which is then cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.exact import NP_END, QUANTITY, _subject_text
from kb.text import STOPWORDS

TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[(),;:]|[—–]|(?<=\s)-(?=\s)")
ARTICLES = {"a", "an", "the"}
INFLECTION = {"is": "#be", "are": "#be", "was": "#was", "were": "#was", "has": "#have", "have": "#have",
              "does": "#do", "do": "#do"}
INSERTABLE = {"also"}  # a word a compression may add: it asserts nothing new

NEGATION = {"not", "no", "never", "cannot", "without", "neither", "nor", "none", "nothing"}
MODAL = {"can", "could", "may", "might", "must", "should", "would", "will", "usually", "often", "typically",
         "sometimes", "rarely", "generally", "roughly", "about", "approximately", "nearly", "almost", "mostly",
         "mainly", "largely", "partly", "still", "even", "yet"}
RELATION = {"than", "instead", "rather", "versus", "vs", "unless", "except", "if", "only", "before", "after",
            "until", "but", "although", "though", "or", "either", "whether", "between"}
# judgements and comparisons: 'a poor way to add facts' is not 'a way to add facts'
EVALUATIVE = {"good", "bad", "poor", "better", "worse", "best", "worst", "right", "wrong", "safe", "unsafe", "common",
              "rare", "main", "key", "easy", "easier", "hard", "harder", "difficult", "simple", "simpler", "fast",
              "faster", "slow", "slower", "cheap", "cheaper", "expensive", "costly", "strong", "weak", "high", "higher",
              "low", "lower", "same", "different", "similar", "separate", "standard", "default", "preferred",
              "recommended", "necessary", "optional", "required", "mistake", "risky", "useful", "useless"}
# where a trailing piece may start (after which the whole rest of the sentence is dropped)
CLAUSE_START = {"which", "that", "who", "whose", "because", "so", "since", "while", "whereas", "using",
                "for", "such", "including", "as", "with", "by", "to", "in", "on", "and", "rather", "instead",
                "via", "through", "from", "at", "like", "e", "i", "counting", "making", "allowing", "meaning", "when",
                "where", "if", "unless", "but", "only",  # these only to say that they limit what is left
                "across", "during", "within", "into", "per", "over"}  # a trailing prepositional phrase
# a trailing piece that starts with one of these, or holds a condition or contrast anywhere, limits what
# is left: dropping it overstates the claim ('draws curves, but only when the grid is on')
LIMITING_START = {"only", "not", "never", "without", "before", "after", "than", "where"}
CONDITION = {"unless", "except", "if", "when", "whenever", "but", "although", "though", "provided", "until",
             "however"}
SUBORDINATE = {"because", "which", "that", "who", "whose", "when", "if", "than", "while", "since", "so", "unless",
               "where", "whereas", "although", "though"}  # a subject ends before these
PREPOSITION = {"on", "in", "with", "for", "during", "from", "at", "by", "across", "within", "over", "under", "via",
               "through", "into", "per"}
STRUCTURE = {"and", "or", "of", "that", "which", "who", "whose", "than", "to", "as", "so", "because", "while"} \
    | PREPOSITION
PUNCT = {"(", ")", ",", ";", ":", "—", "–", "-"}
# what may open an aside between commas: another name, an example, a description ('a problem called ...')
ASIDE_START = {"also", "such", "for", "e", "i", "like", "including", "especially", "which", "who", "whose", "a", "an",
               "the", "or", "often", "usually", "typically", "called", "known"}
# a word after which a dropped word may have been a clause's subject ('... and the tokenizer maps')
CLAUSE_JOIN = {"and", "or", "but", "that", "which", "who", "so", "because", "while", "when", "if", "since", "whereas"}
DISCOURSE = {"however", "also", "so", "thus", "therefore", "then", "moreover", "furthermore", "additionally", "and"}
PAIRED = {"both", "either", "between", "neither"}  # 'both A and B' must keep 'and B'
MAX_MODIFIER = 2  # words of a modifier that may be dropped inside a phrase ('small low-rank matrices')
MAX_PHRASE = 5  # words of a prepositional phrase that may be dropped ('on narrow data')


@dataclass
class Tok:
    text: str  # lower case
    key: str  # what is compared: stem, inflection class or quantity class

    @property
    def punct(self) -> bool:
        return self.text in PUNCT


def number(word: str) -> str:
    """A word without its plural or third-person -s: 'models' = 'model', 'needs' = 'need', 'studies' = 'study'.

    Only that: a stemmer would also make 'tokenizer' a 'token' and 'distillation' 'distill', and a
    compression may change a word's number, never which word it is."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _tokens(text: str) -> list[Tok]:
    out = []
    for raw in TOKEN.findall(text):
        low = raw.lower()
        if low.endswith("'s"):
            low = low[:-2]
        key = low if low in PUNCT else INFLECTION.get(low) or (f"#q{QUANTITY[low]}" if low in QUANTITY else number(low))
        out.append(Tok(low, key))
    return out


def _words(text: str) -> list[Tok]:
    """The draft's words: articles and punctuation say nothing the alignment needs."""
    return [t for t in _tokens(text) if not t.punct and t.text not in ARTICLES]


def _protected(tok: Tok) -> bool:
    w = tok.text
    return (w in NEGATION or w.endswith("n't") or any(ch.isdigit() for ch in w) or w in QUANTITY
            or w in MODAL or w in RELATION or w in EVALUATIVE)


def _align(draft: list[Tok], source: list[Tok]) -> list[int] | None:
    """For each draft word, the index of its source token, in increasing order; None when impossible.

    Among the alignments, the one that keeps deleted pieces fewest (as a tie-break, the
    earliest match) is taken: a longest-common-subsequence table over the keys."""
    n, m = len(draft), len(source)
    inf = 10 ** 6
    # best[i][j]: fewest gaps aligning draft[i:] with draft[i] matched at source[j] (inf when not possible)
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    nxt: list[list[int]] = [[-1] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        best[n][j] = 0
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if source[j].key != draft[i].key:
                continue
            if i == n - 1:
                best[i][j], nxt[i][j] = 0, m
                continue
            for k in range(j + 1, m):
                if best[i + 1][k] < inf:
                    gap = 0 if all(s.text in ARTICLES or s.punct for s in source[j + 1:k]) else 1
                    if best[i + 1][k] + gap < best[i][j]:
                        best[i][j], nxt[i][j] = best[i + 1][k] + gap, k
    starts = [j for j in range(m) if n and best[0][j] < inf]
    if not starts:
        return None
    j = min(starts, key=lambda s: (best[0][s] + (0 if all(t.text in ARTICLES or t.punct for t in source[:s]) else 1),
                                   s))
    out = []
    for i in range(n):
        out.append(j)
        j = nxt[i][j]
    return out


def _head_word(phrase: str) -> str:
    np = NP_END.split(phrase, maxsplit=1)[0]
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", np) if w.lower() not in STOPWORDS]
    return number(words[-1]) if words else ""


COPULA = re.compile(r"^(?P<subj>[^,;:]{2,80}?)\s+(?:is|are|was|were)\s+(?:also\s+)?(?P<pred>[^,;:]+)", re.I)


def _copula(source: str) -> re.Match[str] | None:
    """'X is (a) P ...' whose X reads as a subject: at most eight words, no clause inside it."""
    m = COPULA.match(source)
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", m.group("subj"))] if m else []
    return m if m and len(words) <= 8 and not SUBORDINATE & set(words) else None


def _lead(src: list[Tok]) -> int:
    """Tokens of discourse words and punctuation that open the sentence ('However, ...')."""
    i = 0
    while i < len(src) and (src[i].text in DISCOURSE or src[i].punct):
        i += 1
    return i


SINGULAR_START = {"a", "an", "the", "each", "every"}


def _subject_span(source: str) -> int:
    """How many tokens of the source sentence its subject takes (with a leading 'However,').

    The words before the main verb (kb.exact's estimate; for 'A/The X ...', the first word in -s
    outside brackets), cut at the first punctuation that does not open a parenthesis or an aside
    closed within them: 'RLHF requires ... rankings, which is slow' has no listed verb before
    ', which', and its subject must not run past it. When no verb is found, the whole first
    clause counts as the subject: nothing in it may go."""
    src = _tokens(source)
    lead = _lead(src)
    rest = " ".join(t.text for t in src[lead:])
    m = _copula(rest)
    toks = _tokens((m.group("subj") if m else _subject_text(rest)) or rest)
    if not m and toks and toks[0].text in SINGULAR_START:
        depth = 0
        for i, t in enumerate(toks[2:], 2):
            depth += (t.text == "(") - (t.text == ")")
            if depth == 0 and not t.punct and t.text not in STOPWORDS and number(t.text) != t.text \
                    and not t.text.endswith(("ss", "us", "is")):
                toks = toks[:i]
                break
    i = 0
    while i < len(toks):
        if toks[i].text in ("(", ",", "—", "–", "-"):
            close = ")" if toks[i].text == "(" else toks[i].text
            end = next((k for k in range(i + 1, len(toks)) if toks[k].text == close), None)
            if end is None:
                return lead + i
            i = end + 1
        elif toks[i].punct or toks[i].text in SUBORDINATE:
            return lead + i
        else:
            i += 1
    return lead + len(toks)


def _head_positions(source: str, src: list[Tok]) -> list[int]:
    """Tokens that must survive a compression: the head nouns of the subject and of a copula's predicate
    (their first occurrence in the subject, resp. after it)."""
    lead = _lead(src)
    m = _copula(" ".join(t.text for t in src[lead:]))
    n_subj = _subject_span(source)
    subject = " ".join(t.text for t in src[lead:n_subj])
    predicate = m.group("pred") if m else ""
    out = []
    for head, lo, hi in ((_head_word(subject), lead, n_subj), (_head_word(predicate), n_subj, len(src))):
        at = next((j for j in range(lo, hi) if head and src[j].key == head), None)
        if at is not None:
            out.append(at)
    return out


def _parenthesis(piece: list[Tok]) -> bool:
    """One parenthesis, perhaps with the comma after it: '(e.g., GPU),' in 'across every device (e.g.,
    GPU), expert parallelism ...' (the draft keeps or drops the comma; its punctuation is not compared)."""
    if len(piece) > 2 and piece[-1].text == ",":
        piece = piece[:-1]
    if piece[0].text != "(" or piece[-1].text != ")":
        return False
    depth = 0
    for i, t in enumerate(piece):
        depth += (t.text == "(") - (t.text == ")")
        if depth == 0 and i < len(piece) - 1:
            return False  # '(a) b (c)': two parentheses and what stands between them
    return True


def _is_aside(piece: list[Tok]) -> bool:
    """A parenthesis, or a piece between two commas or dashes that opens like an aside (', also called
    ...,', ', such as ...,', ', a problem called ...,'), not like a clause of its own."""
    first, last = piece[0].text, piece[-1].text
    if _parenthesis(piece):
        return True
    return first in (",", "—", "–", "-") and last == first and len(piece) > 2 and piece[1].text in ASIDE_START


def _negated_clause(piece: list[Tok], preceding: list[Tok]) -> str:
    """The negation whose clause the deleted piece belongs to, or ''.

    Under a negation, leaving words out widens the claim: 'do not support FP8 in hardware' denies
    hardware support only, 'do not support FP8' denies any. A piece that opens a clause of its own
    (', which ...', 'because ...') is outside the negation's reach; so is one after a clause boundary."""
    if piece[0].text in (",", ";", ":", "—", "–") or piece[0].text in SUBORDINATE:
        return ""
    for t in reversed(preceding):
        if t.punct and t.text not in ("(", ")"):
            return ""
        if t.text in CLAUSE_JOIN or t.text in SUBORDINATE:
            return ""
        if t.text in NEGATION or t.text.endswith("n't"):
            return t.text
    return ""


def _deletion_ok(piece: list[Tok], before: Tok | None, after: Tok | None, in_subject: bool,
                 kept_before: list[Tok], preceding: list[Tok]) -> str:
    """'' when this deleted piece of the source can be dropped, else why not (`preceding`: the source's
    tokens before the piece)."""
    words = [t for t in piece if not t.punct and t.text not in ARTICLES]
    if not words:
        return ""
    said = _short(" ".join(t.text for t in piece))
    negates = any(t.text in NEGATION or t.text.endswith("n't") for t in words)
    negation = _negated_clause(piece, preceding)
    if negation:  # 'do not support FP8 in hardware' is not 'do not support FP8'
        return f"widens what '{negation}' denies ('{said}')"
    if _parenthesis(piece) or (piece[0].text == "(" and after is None):
        return f"drops a negation ('{said}')" if negates else ""  # '(MoE)', '(for example ...)'
    if before is None:
        if all(t.text in DISCOURSE for t in words):
            return ""  # 'However, ...'
        return f"drops the start of its source sentence ('{said}')"
    if in_subject:  # 'Full fine-tuning updates every weight' is not 'Fine-tuning updates every weight'
        return "" if _is_aside(piece) and not negates else f"changes its source sentence's subject ('{said}')"
    if after is None:  # the rest of the sentence, from a comma or a clause word on
        first = words[0].text
        if not (piece[0].punct or first in CLAUSE_START):
            return f"cuts its source sentence mid-phrase ('{said}')"
        limits = [t.text for t in _clause_starts(piece) if t.text in CONDITION | LIMITING_START]
        if first in ("and", "or") and PAIRED & {t.text for t in kept_before}:
            limits.append(first)
        if limits:
            return f"drops a limit on what is left ('{limits[0]}': '{said}')"
        if not piece[0].punct and before.text in MODAL | RELATION:  # '... speed up training, even [on ...]'
            return f"detaches '{before.text}' from what it was said of ('{said}')"
        return ""
    bad = [t.text for t in words if _protected(t)]
    if bad:
        return f"drops '{bad[0]}' ('{said}')"
    if _protected(before) or _protected(after):  # 'more memory than LoRA' -> 'more than LoRA'
        return f"detaches '{before.text if _protected(before) else after.text}' from what it was said of ('{said}')"
    if _is_aside(piece):
        return ""  # ', also called a gating network,'
    if any(t.punct for t in piece):
        return f"drops a piece across punctuation ('{said}')"
    if before.text in CLAUSE_JOIN:
        return f"drops what follows '{before.text}', maybe a clause's subject ('{said}')"
    if words[0].text in PREPOSITION and len(words) <= MAX_PHRASE and not any(t.text in STRUCTURE for t in words[1:]):
        return ""  # a prepositional phrase ('on narrow data')
    if len(words) <= MAX_MODIFIER and not any(t.text in STRUCTURE for t in words) \
            and after.text not in STOPWORDS and not after.punct:
        return ""  # a modifier of the word after it ('small', 'original model'), not that word's head
    return f"drops a piece that holds the sentence together ('{said}')"


def _clause_starts(piece: list[Tok]) -> list[Tok]:
    """The words that open the piece or follow a punctuation mark in it (and the word after such an
    'and'/'but'): where a condition that limits the words before it would stand. A condition deeper
    inside a dropped clause (', so it is a good fit when memory is short') limits only that clause."""
    out: list[Tok] = []
    opens = True
    for t in piece:
        if t.punct:
            opens = True
        elif opens and t.text not in ARTICLES:
            out.append(t)
            opens = t.text in ("and", "but", "or")
    return out


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


ABBREVIATION = re.compile(r"\(([A-Z][A-Za-z]{1,7})\)")


def _abbreviated(source: str) -> list[str]:
    """The source with a term replaced by the abbreviation it introduces: 'A mixture-of-experts (MoE)
    model ...' also reads 'A MoE model ...', so 'An MoE model ...' may shorten it."""
    out = []
    for m in ABBREVIATION.finditer(source):
        abbr = m.group(1).lower()
        words = list(re.finditer(r"[A-Za-z0-9]+", source[:m.start()]))
        for n in range(1, min(len(words), 8) + 1):
            run = words[-n:]
            initials = "".join(w.group(0)[0].lower() for w in run)
            content = "".join(w.group(0)[0].lower() for w in run if w.group(0).lower() not in STOPWORDS)
            if abbr in (initials, content) and run[0].group(0).lower() not in STOPWORDS:
                out.append(source[:run[0].start()] + m.group(1) + source[m.end():])
                break
    return out


def compression_mismatch(sentence: str, source: str) -> str:
    """Why the sentence is not an extractive compression of the source sentence, or ''.

    A term may also be shortened to the abbreviation the source introduces for it."""
    why = _compression_mismatch(sentence, source)
    for variant in _abbreviated(source) if why else []:
        if not _compression_mismatch(sentence, variant):
            return ""
    return why


def _compression_mismatch(sentence: str, source: str) -> str:
    draft = _words(sentence)
    src = _tokens(source)
    if not draft:
        return "no words"
    at = _align(draft, src)
    if at is None:  # 'also' added: it asserts nothing new
        draft = [t for t in draft if t.text not in INSERTABLE]
        at = _align(draft, src) if draft else None
    if at is None:
        extra = [t.text for t in draft if t.key not in {s.key for s in src}]
        return f"says '{extra[0]}', which is not in its source sentence" if extra else \
            "its words are not in the source sentence's order"
    kept = sorted(set(at))
    for j in _head_positions(source, src):
        if j not in kept:
            return f"drops '{src[j].text}', the head of its source sentence's subject or predicate"
    n_subj = _subject_span(source)
    start, prev = 0, None
    for j in [*kept, len(src)]:
        if j > start:
            why = _deletion_ok(src[start:j], prev, src[j] if j < len(src) else None, start < n_subj,
                               [src[k] for k in kept if k < start], src[:start])
            if why:
                return why
        if j < len(src):
            prev = src[j]
        start = j + 1
    return ""
