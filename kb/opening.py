"""Answer-first: which of the picked quotes opens the answer (issue 13).

A reader takes the first sentence as the answer, so it should be the one that answers the question's
kind: the definition for "what is X", the reason for "why", the verdict or the advice for "should I /
can I / does it", the difference for "X vs Y", the mechanism for "how". `best_quotes` (kb/quotes.py)
picks the quotes by relevance; this module only changes which of them comes first. The sentences
stay verbatim and the set of quotes stays the same.

Each rule reads the question's kind from its words and the quote's form from its own words (a
definition 'X is a ...', a reason 'because ...', a contrast 'unlike ...', an instruction 'Use X when
...'), never from a page or an eval question. A quote that cannot stand first (it leans on a
sentence before it, 'This process ...'; it is a lead-in or a bare fragment) only opens when nothing
else can.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol

from kb.text import (
    DEFINITION_FORM,
    IS_A,
    STOPWORDS,
    VERB,
    content_words,
    defined_terms,
    expands,
    question_names,
    sentences,
    term_key,
)


class Quote(Protocol):
    text: str


# -- the question's kind -----------------------------------------------------------------------
WHY = re.compile(r"^\s*why\b", re.I)
COMPARES = re.compile(r"\b(?:vs\.?|versus|differ(?:ence|ent|s)?|compared?)\b", re.I)
# 'should I ...', 'can we ...', 'which model should I ...', 'when should I ...', 'is it worth ...'
ADVICE = re.compile(r"^\s*(?:(?:should|can|could|may|must|do|would)\s+(?:i|we|you)\b|(?:which|what|when)\b[^?]*?"
                    r"\b(?:should|must)\s+(?:i|we|you)\b|is\s+it\s+(?:ok|okay|safe|worth|better|wise|a good idea)\b)",
                    re.I)
# 'does an MoE model use ...?', 'are base models ...?', 'can a base model ...?': a yes/no about a thing
YES_NO = re.compile(r"^\s*(?:does|do|is|are|can|could|will|would|did|was|were|has|have)\s+(?!i\b|we\b|you\b)",
                    re.I)
EITHER = re.compile(r"\w\s+or\s+(?:just\s+|rather\s+|instead\s+)?\w", re.I)
# a direct verdict: 'No. LLMs can be built ...', 'Not always.', 'It depends on the task.'
VERDICT_OPENER = re.compile(r"^(?:yes|no|not (?:always|necessarily|quite|really|exactly|usually)|it depends)\b", re.I)
ASKS_AMOUNT = re.compile(r"^\s*how (?:many|much|long|big|large)\b", re.I)
# a question that wants a number: 'how large is X?', 'what context length does X use by default?'
ASKS_NUMBER = re.compile(r"\b(?:how (?:many|much|long|big|large|fast|small)|(?:size|number|count|length|limit|"
                         r"default|maximum|minimum|dimensions?|context (?:window|length))\b)", re.I)
BARE_WHAT = re.compile(r"^\s*what(?:'s|\s+is|\s+are)\s+(?:an?\s+|the\s+)?[\w\s-]{1,40}\?*\s*$", re.I)  # 'what is X?'
# a number or a range ('10-14'); its unit is read after it (RATIO, BYTES)
AMOUNT = re.compile(r"(?<![\w.-])\d[\d,.]*(?:\s?[-\u2013]\s?\d[\d,.]*)?")
MEMORY = re.compile(r"\b(?:memory|v?ram|disk|storage|weights?|file size)\b", re.I)  # asked in bytes
BYTES = re.compile(r"\s?(?:[kmgt]i?b|bytes?)\b", re.I)  # after a number: an amount of memory ('10-14 GB')
RATIO = re.compile(r"\s?(?:%|x\b|\u00d7|times\b)", re.I)  # after a number: a share or a multiple, not an amount
# a question that asks for a share or a multiple: 'how much faster', 'how much memory does X save'
COMPARATIVE = re.compile(r"\b(?:faster|slower|sav(?:e|es|ed|ing|ings)|reduc\w*|smaller|bigger|larger|more|less|"
                         r"fewer|efficien\w*|speed-?ups?|compress\w*|shrinks?|percent(?:age)?|share|fraction|ratio)\b",
                         re.I)
# the part of an extracted term that is the question's, not the term's: 'KV offloading and why bother'
TERM_TAIL = re.compile(r"\s+(?:and\s+(?:why|how|what|when|where|which|who)\b|mean\b|do\b|stand\s+for\b).*$", re.I)
DOES_DO = re.compile(r"^\s*what\s+(?:does|do)\s+.+\s+do\s*\??\s*$", re.I)
COPULA = re.compile(r"^(?:is|are|was|were|has|have|had|can|may|might|will|would|also)$", re.I)
# a glossary entry's definition without its subject: 'The strategy where ...', 'A technique that ...'
GENUS = re.compile(r"^(?:a|an|the)\s+(?:[\w-]+\s+){0,5}?(?:where|that|which|in which|whose|used to|used for)\b",
                   re.I)
# what a thing is made of or holds: 'what does X (need to) contain / hold / include?', 'which fields does X have?'
CONTENTS = re.compile(r"^\s*(?:what|which\s+(?:fields|columns|keys|parts)?)\s*(?:does|do|must|should)\s+.+?\s+"
                      r"(?:(?:need|have)\s+to\s+)?(?:contain|include|hold|store|consist\s+of|have)\s*\??\s*$", re.I)
HOLDS = re.compile(r"\b(?:contains?|containing|includes?|including|holds?|stores?|consists? of|(?:has|have|with) "
                   r"(?:two|three|four|\d+) (?:columns|fields|keys|parts)|columns?|fields?|expected to have)\b", re.I)
HOW = re.compile(r"^\s*how\s+(?:does|do|is|are|can|could|should|would|did|to)\b", re.I)
# 'what is the downside of X': asks for a drawback, not for X's definition
DRAWBACK = re.compile(r"\b(?:downsides?|drawbacks?|disadvantages?|weakness(?:es)?|limitations?|limits?|risks?|"
                      r"costs?|trade-?offs?|problems?|cons)\b", re.I)
ASKS_WHAT = re.compile(r"^\s*(?:what|which)\b", re.I)
ASKS_DEFINITION = re.compile(r"^\s*(?:what(?:'s|\s+is|\s+are)|define|what\s+does\s+.+\s+(?:mean|stand\s+for))\b",
                             re.I)

# -- the quote's form ----------------------------------------------------------------------------
# a term given as a label and then described: 'Vector stores (VS). Hold embeddings for search.'
LABEL = re.compile(r"^(?P<subject>[A-Z][^.:;]{0,60}?)(?:\s*\([^)]*\))?\.\s+(?:[A-Z]\w*\s+){0,2}?[A-Z]?\w+", re.S)
# 'Fine-tuning is a poor way to add facts' has a definition's shape but judges instead of defining;
# 'X is also called Y' names it
JUDGES = re.compile(r"^(?:poor|good|bad|better|best|worse|worst|common|simple|simpler|easy|easier|hard|harder|"
                    r"usually|often|also|not|only|always|never|very|more|less|still|too|rarely|sometimes|right|"
                    r"wrong|ideal|key|main|powerful|important|useful|called|known|especially|particularly|generally|"
                    r"typically)$", re.I)
# what says what the thing is: a genus with a clause that tells it apart ('a model that ...', 'in which')
DIFFERENTIA = re.compile(r"\b(?:that|which|who|whose|where|in which|used (?:to|for)|for|of|with|by|from|on)\b",
                         re.I)
REASON = re.compile(r"\b(?:because|since|so|therefore|thus|as a result|which means|due to|in order to|to avoid|"
                    r"so that|this means|that is why|the reason)\b", re.I)
CONTRAST = re.compile(r"\b(?:whereas|while|unlike|instead|rather than|than|but|only|difference|versus|however|"
                      r"alternative|different(?:ly)? from|compared (?:to|with))\b", re.I)
VERDICT = re.compile(r"\b(?:not|never|no|only|always|instead|avoid|should|must|better|best|right choice|"
                     r"recommended|ideal|poor|bad|mistake|wrong)\b", re.I)
# an instruction: 'Use X when ...', 'Choose a dense model when ...', 'Do not ...'
ADVISE_VERBS = ("use", "choose", "pick", "prefer", "avoid", "start", "deploy", "keep", "try", "do", "don't",
                "never", "always", "consider", "run", "select")
# how a thing works; 'by' before a name is its maker ('Gemini Diffusion by Google DeepMind'), not a way
MECHANISM = re.compile(r"\b(?:by(?!\s+(?-i:[A-Z]))|through|using|via|first|then|each|every|step|turns?|sends?|"
                       r"scores?|routes?|selects?|combines?|trains?|computes?|maps?)\b", re.I)
WORSE = re.compile(r"\b(?:loss|lose|loses|lower|weaker|worse|slower|less|cannot|can't|limited|limits?|costs?|"
                   r"risks?|harder|fails?|drops?|degrades?|struggles?|expensive|only)\b", re.I)
# a sentence that leans on the one before it, or cannot open: 'This process ...', 'They ...', 'But ...'
LEANS = re.compile(r"^(?:this|these|that|those|it|its|they|their|them|such|he|she|but|and|or|also|so|then|"
                   r"however|here|there are (?:several|various|many)|for these reasons?|"
                   r"in (?:this|that) case|other|another|both)\b", re.I)
# a flattened table row ('Method: X; Cost: low; Best for: Y'): cells, not a sentence that answers
TABLE_ROW = re.compile(r"^[^;:.]{1,40}:\s[^;]*;\s*[^;:.]{1,40}:\s")
ROW = re.compile(r"^[^:.]{1,30}:\s+\S+(?:\s+\S+){0,3}$")  # '24-48 GiB VRAM: 32k context': a list row
# a pointer to elsewhere, not an answer: 'Learn more about ...', 'See the guide.', 'Note: ...', 'Here are ...'
POINTER = re.compile(r"^(?:(?:learn more|see|read|check out|refer to|for (?:more|details|further|an? (?:extended|"
                     r"detailed|deeper))|below|here (?:is|are)|let's|let us|we'll|we will)\b|(?:note|tip):)", re.I)
QUESTION_WORDS = re.compile(r"^\s*(?:(?:how|why|when|where|which|what|who)(?:\s+(?:kind|type|sort)s?\s+of\s+\w+)?"
                            r"(?:'s)?\s+)?(?:(?:does|do|is|are|can|could|should|would|will|did|was|were|has|have)(?:n't|\s+not)?)?\s*",
                            re.I)
ATTRIBUTE_OF = re.compile(r"^(?:main\s+|biggest\s+)?(?:downsides?|drawbacks?|disadvantages?|weakness(?:es)?|"
                          r"limitations?|limits?|risks?|costs?|trade-?offs?|problems?|advantages?|benefits?|"
                          r"strengths?|purpose|point|goal|role|uses?|size|number)\s+of\s+(?:an?\s+|the\s+)?", re.I)
PARTICIPLE = re.compile(r"\s+(?:\w+ed|made|built|done|given|chosen|known|run|taken|written)$", re.I)
CAPITALISED = re.compile(r"[A-Z][\w-]*(?:\s+(?:of|and|for|to)\s+[A-Z][\w-]*|\s+[A-Z][\w-]*)+")
GENERIC = frozenset(content_words("model models language llm llms system thing"))
PRONOUN = re.compile(r"^(?:i|we|you)\s+", re.I)
SUBJECT_END = re.compile(r"\s(?:in|of|for|on|with|from|to|when|during|than|as|at|into|after|before|rather|"
                         r"and|or|if|that|which|directly|really|actually|usually)\s", re.I)


def _words(text: str) -> set[str]:
    return set(content_words(text))


def _names(term: str, text: str) -> bool:
    """Whether `text` names the term: each word of its head ('token' for 'token in a language model')
    as a word of its own, so 'tokenizer' does not name 'token'; or the term as written."""
    head = re.split(r"\s+(?:in|of|for|on|with|from|used|when)\s+", term.lower(), maxsplit=1)[0]
    words = [w for w in re.findall(r"[a-z0-9][a-z0-9-]*", head) if w not in STOPWORDS]
    low = text.lower()
    return bool(words) and (all(re.search(rf"\b{re.escape(w)}(?:s|es)?\b", low) for w in words)
                            or term.lower() in low)


def opening(text: str, limit: int = 8) -> str:
    """The words before a sentence's first verb (at most `limit`): roughly its subject, what it is about."""
    words = text.split()[:limit]
    head = " ".join(words)
    m = VERB.search(head)
    return head[:m.start()] if m and m.start() > 0 else head


def question_subject(question: str) -> tuple[set[str], str]:
    """The thing a question asks about, as content words, and its verb when the asker is the subject.

    'How does the router in a mixture of experts decide ...?' -> ({'router'}, ''); 'Should I fine-tune
    from a base model ...?' -> ({'base'}, 'fine-tune'): the asker is no subject, so the thing is what
    follows the verb. A capitalised name adds its initials, marked '|' ('Mixture of Experts' -> '|moe').
    """
    rest = QUESTION_WORDS.sub("", question.strip(), count=1)
    verb = ""
    if PRONOUN.match(rest):
        rest = PRONOUN.sub("", rest, count=1)
        verb, _, rest = rest.partition(" ")
        rest = re.sub(r"^(?:out|up|off|down|over)\s+", "", rest)  # 'work out the batch size'
        rest = re.sub(r"^(?:\w+\s+){0,1}?(?:from|with|for|on|to|in)\s+", "", rest)  # 'fine-tune from a base model'
    rest = re.sub(r"^(?:an?|the)\s+", "", rest, flags=re.I)
    rest = ATTRIBUTE_OF.sub("", rest, count=1)  # 'the weaknesses of small models' is about small models
    m = SUBJECT_END.search(f" {rest} ")
    phrase = f" {rest} "[:m.start()] if m else rest
    phrase = opening(phrase, limit=3)  # the words before its verb: 'LoRA need less memory' -> 'LoRA'
    phrase = PARTICIPLE.sub("", phrase.strip())  # 'how is an instruct model made' -> 'instruct model'
    words = content_words(phrase)
    specific = [w for w in words if w not in GENERIC]  # 'a model' is what every sentence here is about
    subject = set(specific[:2])  # only generic words ('a model'): every sentence is about that
    name = CAPITALISED.match(rest)  # 'Mixture of Experts models' is also 'MoE models'
    if name and subject:
        subject.add("|" + "".join(w[0] for w in name.group(0).split()).lower())
    return subject, verb.lower()


def how_verb(question: str, subject: set[str]) -> str:
    """The verb a "how does X <verb> ...?" question asks about ('grow' in 'How does the KV cache grow as the
    context gets longer?'): the word right after the subject, past generic words ('language models'); ''
    when a preposition follows the subject ('the router in a mixture of experts decide ...')."""
    words = re.findall(r"[\w'-]+", QUESTION_WORDS.sub("", question.strip(), count=1))
    stems = [set(content_words(w)) for w in words]
    last = max((i for i, st in enumerate(stems) if st & subject), default=-1)
    if last < 0:
        return ""
    for word, st in zip(words[last + 1:], stems[last + 1:], strict=True):
        if word.lower() in STOPWORDS:
            return ""
        if not st <= GENERIC:
            return word.lower() if word.isalpha() else ""
    return ""


def is_about(subject: set[str], text: str) -> bool:
    """Whether the sentence's own subject is the question's: a question about the router is answered by a
    sentence on the router, not by one on the experts that mentions the router's scores."""
    return _holds(subject, opening(text))


def _holds(subject: set[str], text: str) -> bool:
    """Whether `text` holds all of the subject's words, or its initials ('MoE')."""
    words = _words(text)
    plain = {w for w in subject if not w.startswith("|")}
    short = {w[1:] for w in subject if w.startswith("|")}
    return bool(plain) and (plain <= words or bool(short & words))


def leans_back(text: str) -> bool:
    """Whether a quote leans on a sentence before it ('This process ...', 'They ...', 'But ...'): it may
    keep the first place the ranking gave it, but is never moved there."""
    return bool(LEANS.match(text.lstrip("\u201c\"'(")))


def stands_alone(text: str) -> bool:
    """Whether a quote can open the answer at all: not a fragment (a lower-case start), not a lead-in
    left without its list, not a pointer to elsewhere ('See ...', 'Learn more ...', 'Note: ...'), and
    saying something (five words or more)."""
    first = text.split("\n", 1)[0].strip().lstrip("\u201c\"'(")
    if first[:1].islower() or len(first.split()) < 5 or POINTER.match(first):
        return False
    if first.rstrip("\u201d\"')").endswith("?"):  # a question the page asks ('Paired preference data?') answers none
        return False
    return not (first.endswith(":") and "\n" not in text)


def definition_fit(term_or_subject: str | set[str], text: str) -> int:
    """How plainly the sentence defines the thing (0-3): 'X is a Y that ...' (3), 'X is a Y' (2),
    'X is also called ...' / 'X is a poor way ...' (1: it names or judges instead), else 0.
    The thing is a term ('mixture of experts') or, without one, the question's subject words."""
    def names(subject: str) -> bool:
        if isinstance(term_or_subject, str):
            return _names(term_or_subject, subject)
        return _holds(term_or_subject, subject)

    # the term asked by its initials or its full name, the sentence using the other ('What is RLHF?':
    # 'Reinforcement Learning from Human Feedback is a method ...')
    aliased = isinstance(term_or_subject, str) and term_key(term_or_subject) in defined_terms(text)
    m = DEFINITION_FORM.match(text)
    if m and (names(m.group("subject")) or aliased):
        if JUDGES.match(m.group("head")):
            return 1
        return 3 if DIFFERENTIA.search(m.group("rest")[:80]) else 2
    m = LABEL.match(text)
    if m and names(m.group("subject")) and len(m.group("subject").split()) <= 6:
        return 2
    return 0


def _instructs(verb: str, text: str) -> bool:
    """Whether the sentence is an instruction: it opens (after a 'For X, ' or 'When X, ') with the asked
    verb or a usual one ('use', 'choose', 'avoid', 'do not')."""
    first = re.sub(r"^(?:for|in|when|if)\b[^,]{0,80},\s*", "", text.lower())  # 'For user-facing apps, use ...'
    first = re.sub(r"^you\s+(?:can|should|could|may|need to|have to|must)\s+", "", first)  # 'you can use X to ...'
    word = first.split(" ", 1)[0] if first else ""
    return word in ADVISE_VERBS or (bool(verb) and word == verb.lower()) or first.startswith(("do not ", "don't "))


def advice_fit(question: str, subject: set[str], verb: str, text: str) -> int:
    """A "should I / can I" opener (0-3): an instruction with the asked verb or a usual one ('Fine-tune
    from X when ...', 'Use X instead') on what was asked (a word of the question besides its verb), a
    verdict with its reason ('X is not ideal for Y because ...'), or a verdict on the asked thing."""
    low = text.lower()
    asked = _words(question) - _words(verb) - GENERIC
    if _instructs(verb, text) and asked & _words(text):
        return 3
    verdict = bool(VERDICT.search(low))
    if verdict and REASON.search(low) and (is_about(subject, text) or not subject):
        return 3
    if verdict and is_about(subject, text):
        return 2
    return 1 if verdict else 0


def answer_fit(question: str, terms: list[str], text: str) -> int:
    """How well a quote answers the question's kind as its first sentence (0: no better than any).

    - "X vs Y": a sentence naming both, more with a contrast ('whereas', 'unlike', 'than').
    - "why": a reason ('because', 'so', 'as a result') about the question's subject.
    - "should I / can I / which should I": an instruction ('Use X when ...'), a verdict with its reason.
    - "does X ...? / is X ...?": a quote that opens with the verdict ('No.', 'Not always.'); else the
      ranking's order, which held the best verdict on every set; "... A or B?" takes a contrast.
    - "how many / how large": a sentence with the asked amount (beside the asked words, in bytes for memory,
      a share or a multiple only for "how much faster"), above any amount; a lead-in whose list holds one;
      a table row holding the asked amount, below a sentence that says it.
    - "what does X (need to) contain / hold?": a sentence on what X holds ('X are expected to have two columns'),
      about X first.
    - "what is the downside of X": a sentence about a loss or a limit ('loses', 'slower', 'costs').
    - "what is X": X's definition, 'X is a Y that ...' above 'X is a Y' above 'X is also called Y'; an
      acronym spelled out ('IR: Intermediate Representation') as plainly as the first;
      "what does X do": X doing something.
    - "how does X ...": a sentence about X that says how ('by', 'each', 'first', 'routes').
    A fragment, a lead-in without its list, a pointer ('See ...'), a question, or a table row for a
    "what is / why / how" question scores -1: it never opens while another can. A quote that leans on
    the sentence before ('This ...') scores at most 0: it keeps a first place the ranking gave it,
    but is never moved there.
    """
    first = text.split("\n", 1)[0]
    if VERDICT_OPENER.match(first) and (ADVICE.match(question) or YES_NO.match(question)
                                        or ASKS_AMOUNT.match(question)):
        return 3  # the yes/no (or 'it depends') first, its reason after it in the same quote
    if not stands_alone(text):
        return -1
    row = bool(TABLE_ROW.match(first))
    if row and _wants_prose(question, terms):
        return -1
    if row and ASKS_NUMBER.search(question):  # 'Model Size: 7-8B; QLoRA: 10-14 GB' for 'how much'
        found = _amounts(question, first)
        return 2 if found and _near_asked(question, first, found) else 0  # below prose that says as much
    fit = _kind_fit(question, terms, first, text)
    return min(fit, 0) if leans_back(first) or row else fit


def asked_part(question: str) -> str:
    """The sentence that asks, when the question tells its situation first ('I only have a few hundred
    examples. Which model should I fine-tune from?'). Only the advice rule reads it: elsewhere the situation
    names what is asked about ('OpenVINO docs used to talk about plugins. What are they called now?')."""
    parts = sentences(question)
    return parts[-1] if len(parts) > 1 else question


def _wants_prose(question: str, terms: list[str]) -> bool:
    """Whether the question asks what a thing is, why, or how it works: a table row ('Method: ORPO;
    Config Key: ...') names values and says none of these, so it opens such an answer only when
    nothing else can. Rows still open comparisons and questions for a number."""
    if len(terms) >= 2 or COMPARES.search(question) or ASKS_NUMBER.search(question):
        return False
    return bool(WHY.match(question) or ASKS_DEFINITION.match(question) or HOW.match(question))


def _kind_fit(question: str, terms: list[str], first: str, text: str) -> int:
    """answer_fit by the question's kind, for a quote that can open (`first`: its first line; `text`: the
    whole quote, a lead-in with its list included)."""
    subject, verb = question_subject(question)
    if len(terms) >= 2 or COMPARES.search(question):
        named = sum(_names(t, first) for t in terms)
        if named:
            return 2 * named + bool(CONTRAST.search(first))
        return int(bool(CONTRAST.search(first)) and is_about(subject, first))
    if WHY.match(question):  # a reason about something else ('A longer input costs more, because ...') does not
        if IS_A.match(first):  # 'X is the process of ..., so that ...' defines X; it does not say why
            return 0
        about = is_about(subject, first) or bool(terms and _names(terms[0], opening(first)))
        return 2 * bool(REASON.search(first) and (about or not subject))
    asked = asked_part(question)  # 'I only have a few hundred examples. Which model should I fine-tune from?'
    if ADVICE.match(asked):
        if asked != question:
            question, (subject, verb) = asked, question_subject(asked)
        fit = advice_fit(question, subject, verb, first)
        if EITHER.search(question) and CONTRAST.search(first):  # 'should I X or Y?': what tells them apart
            fit = max(fit, 2)
        return fit
    if ASKS_NUMBER.search(question) and not YES_NO.match(question) and not BARE_WHAT.match(question):
        return _number_fit(question, first, text)
    if YES_NO.match(question):  # the ranking's first (the asked words, most similar) was the best verdict
        return 2 * bool(EITHER.search(question) and CONTRAST.search(first))  # '... X or Y?': what sets them apart
    if CONTENTS.match(question):  # 'what does a preference dataset need to contain?': what it holds
        holds = bool(HOLDS.search(first))
        return 3 if holds and is_about(subject, first) else int(holds)
    if ASKS_WHAT.match(question) and DRAWBACK.search(question):
        return 2 * bool(WORSE.search(first)) + is_about(subject, first)
    if terms or ASKS_DEFINITION.match(question):
        term = TERM_TAIL.sub("", terms[0]) if terms else ""  # 'X and why bother' / 'X mean in Y' -> 'X'
        if DOES_DO.match(question) and term:  # 'what does X do?': X doing something, before what X is
            m = re.match(rf"\s*(?:the\s+|an?\s+)?{re.escape(term)}s?\s+(\w+)", first, re.I)
            if m and not COPULA.match(m.group(1)):
                return 3
            return min(2, definition_fit(term, first) or 2 * bool(GENUS.match(first)))
        if term and expands(term.split()[0], text):  # 'What does IR stand for?': 'IR: Intermediate Representation'
            return 3
        fit = definition_fit(term or subject, first)
        return fit or 2 * bool(GENUS.match(first))
    if HOW.match(question):
        if IS_A.match(first):  # what the thing is does not say how it works
            return 0
        if verb and _instructs(verb, first):  # 'how do I shard it?': 'Shard it by ...' / 'Use ...'
            return 3
        # 'how does the KV cache grow?': 'the KV cache grows linearly ...' (not 'how do I ...': the asker's verb)
        asked = "" if verb else how_verb(question, subject)
        if asked and _holds(subject, first) and re.search(rf"\b{re.escape(asked)}(?:s|es|ed|d|ing)?\b", first, re.I):
            return 3
        # the steps of a lead-in's list say how ('... runs in a loop:' / '- The draft model predicts ...')
        return 2 * bool(is_about(subject, first) and MECHANISM.search(text))
    return 0


def _amounts(question: str, text: str) -> list[re.Match[str]]:
    """The numbers in `text` that can answer a 'how much / how many' question: a share or a multiple
    ('~30% more efficient', '4x reduction') only when the question asks for one ('how much faster')."""
    ratios = bool(COMPARATIVE.search(question))
    return [m for m in AMOUNT.finditer(text) if ratios or not RATIO.match(text, m.end())]


def _near_asked(question: str, text: str, found: list[re.Match[str]], window: int = 3) -> bool:
    """Whether a number stands within `window` content words of a word the question asks about ('130k
    vocab' for 'how large is the vocabulary?', 'defaults to 1536' for 'by default'), or is an amount of
    bytes for a question about memory: the number is the asked one, not any number on the page. The
    question's names ('Tekken') are no such word: every number on their page stands near them."""
    memory, ratios = bool(MEMORY.search(question)), bool(COMPARATIVE.search(question))
    if ratios:  # 'how much faster is the parser?': '12 files' stands near 'parser' but says nothing of speed
        asked = {w[:5] for w in content_words(" ".join(COMPARATIVE.findall(question)))}
    else:
        asked = {w[:5] for w in _words(question) - question_names(question) - GENERIC}
    for m in found:
        if ratios and RATIO.match(text, m.end()):  # 'how much faster': '3x faster'
            return True
        if memory:  # a memory figure is in bytes: '13B+ models' stands near 'full' but is no amount of memory
            if BYTES.match(text, m.end()):
                return True
            continue
        near = content_words(text[:m.start()])[-window:] + content_words(text[m.end():])[:window]
        if asked & {w[:5] for w in near}:
            return True
    return False


def _number_fit(question: str, first: str, text: str) -> int:
    """A 'how many / how large' opener: a sentence with an amount (2), more when it is the asked amount
    (`_near_asked`: 3); a lead-in whose list holds one (2). Whether the sentence is about the asked thing
    does not count: 'Tekken was trained on 100 languages' is about Tekken, but not its vocabulary's size."""
    found = _amounts(question, first) if first[:1].isalnum() and not ROW.match(first) else []  # not a list row
    if found:
        return 2 + _near_asked(question, first, found)
    items = text.split("\n", 1)[1] if "\n" in text else ""  # a lead-in's list ('- < 24 GiB VRAM: 4k context')
    return 2 * bool(_amounts(question, items))


def answer_first(question: str, terms: list[str], quotes: Sequence[Quote], headings: Sequence[str] = ()) -> list:
    """The quotes with the one that best fits the question's kind first (answer-first: "what is an MoE
    model?" opened with "MoE models are harder to fine-tune" before the definition); the others keep
    their order, and a tie keeps the best-ranked quote first, unless no quote fits the kind at all: then
    the one holding more of the question's rarer words opens (`_most_distinct`). Only the order changes,
    never the pick. `headings`: each quote's section, for `entry_fits`."""
    quotes = list(quotes)
    if len(quotes) < 2:
        return quotes
    fits = entry_fits(question, terms, quote_fits(question, terms, [q.text for q in quotes]), headings)
    best = max(range(len(quotes)), key=lambda i: (fits[i], -i))
    if fits[best] <= 0:  # no quote fits the question's kind: the one holding the question's own rarer words
        best = _most_distinct(question, [q.text for q in quotes], [i for i, f in enumerate(fits) if f == fits[best]])
    return [quotes[best], *quotes[:best], *quotes[best + 1:]] if fits[best] > fits[0] or best else quotes


def quote_fits(question: str, terms: list[str], texts: list[str]) -> list[int]:
    """answer_fit of each quote, SIZE_BONUS more for a quote that names the model size the question names, where
    not every quote does: 'Can I fine-tune a 70B model on gaming GPUs?' is answered by the sentence on
    training a 70b model, not by the one on fine-tuning large models in general."""
    fits = [answer_fit(question, terms, t) for t in texts]
    sizes = {m.lower() for m in SIZE.findall(question)}
    if sizes:
        held = [bool(sizes & {m.lower() for m in SIZE.findall(t)}) for t in texts]
        if not all(held):
            fits = [f + SIZE_BONUS if h and f >= 0 else f for f, h in zip(fits, held, strict=True)]
    return fits


def entry_fits(question: str, terms: list[str], fits: list[int], headings: Sequence[str]) -> list[int]:
    """The fits with ENTRY_BONUS more for a quote under a heading that is the asked term itself, for "what is X",
    where not every quote is: a glossary's entry 'Preemption' ('KV cache eviction under memory pressure ...')
    opens its answer, not a definition of PagedAttention from a page on the same topic."""
    if not headings or len(terms) != 1 or not ASKS_DEFINITION.match(question):
        return fits
    key = term_key(terms[0])
    own = [bool(key) and term_key(h) == key for h in headings]
    if not any(own) or all(own):
        return fits
    return [f + ENTRY_BONUS if o and f >= 0 else f for f, o in zip(fits, own, strict=True)]


ENTRY_BONUS = 2  # realdocs first-sentence recall 0.724 -> 0.731 (one answer; 3 the same), other sets unchanged
SIZE_BONUS = 3
SIZE = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?[bmk]\b", re.I)  # a model's size: '70B', '7-8B'
DISTINCT_MARGIN = 1.2  # about one word of the question that no other quote holds (realdocs: 1.2 and 0.7 alike)


def _most_distinct(question: str, texts: list[str], tied: list[int]) -> int:
    """Among quotes that tie on fit, the one holding more of the question's words, each weighted by how few
    of the quotes hold it, when it beats the first by DISTINCT_MARGIN; else the first. 'Is there a way to
    speculate tokens with no draft model and no extra heads?' is answered by the sentence on drafting
    'without running a separate draft model or adding trained prediction heads', not by the list of draft
    models the ranking put first: the words every quote shares (the topic) weigh nothing, the asked
    condition weighs most."""
    asked = _words(question) - GENERIC
    held = [_words(t.split("\n", 1)[0]) & asked for t in texts]
    idf = {w: math.log(1 + len(texts) / (1 + sum(w in h for h in held))) for w in asked}
    weight = [sum(idf[w] for w in h) for h in held]
    best = max(tied, key=lambda i: (weight[i], -i))
    return best if best != tied[0] and weight[best] >= weight[tied[0]] + DISTINCT_MARGIN else tied[0]


def extra_opener(question: str, terms: list[str], main: list, extra: list) -> tuple[list, list]:
    """The extra quotes (past the answer's four; kb/quotes.py EXTRA_QUOTES) add detail and do not open the
    answer, except one that fits the question's kind plainly (3: 'What does PagedAttention do?' ->
    'PagedAttention breaks this big chunk into smaller blocks ...') where no main quote fits as well.
    Such a quote joins the main ones, and answer_first puts it first. A weaker fit from an extra (a
    definition of a related thing, an aside) stays an extra: its similarity to the question was lower."""
    if not main or not extra:
        return main, extra
    every = quote_fits(question, terms, [q.text for q in [*main, *extra]])
    fits = every[len(main):]
    best = max(range(len(extra)), key=lambda i: (fits[i], -i))
    if fits[best] < 3 or fits[best] <= max(every[:len(main)]):
        return main, extra
    return [extra[best], *main], extra[:best] + extra[best + 1:]
