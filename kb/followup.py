"""Follow-up questions: a short reply in a conversation, made into a question that stands alone.

"what's an instruct model?" then "and how is MoE different?" or "why?" cannot be
retrieved or answered on their own. Retrieval, the prompt and verification all take
one question, so the follow-up is rewritten into one ("how is MoE different from an
instruct model?") before the Engine sees it, and `--explain` shows the rewrite.

The rewrite is rules, not the LLM: the bundled 135M model rewrites questions badly
(it answers them, or drops the subject), and a rule's output can be read, tested and
reproduced. The rules carry the earlier question's subject into the follow-up:

- a pronoun ("how is *it* trained?", "what are *its* limits?") becomes the subject;
- a comparison without its second half ("how is MoE *different*?") gets "from <subject>";
- "what about X?" / "and X?" asks the earlier question again about X ("and for CPU?" swaps or adds
  the closing "for ..." phrase);
- a question without a subject of its own ("what are the downsides?") gets "of <subject>";
- a bare reply ("why?", "how so?", "example?") is joined to the earlier question;
- anything else already stands alone and is left as it is.

Which phrase is the subject: the term a "what is X" / "X vs Y" question names
(kb.retrieve.question_terms), else the noun phrase after its last article.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from kb.text import content_words

LEAD = re.compile(r"^\s*(?:(?:and|but|so|ok|okay|also|then|hmm|right|thanks|great)\b[\s,:]*)+", re.I)
ABOUT = re.compile(r"^\s*(?:what|how)\s+about\s+(.+?)\s*\??\s*$|^\s*(?:and|or)\s+(?!(?:how|what|why|when|where|"
                   r"which|who|is|are|does|do|did|can|could|should|would|will|it|its|they|this|that)\b)(.+?)\s*\??\s*$",
                   re.I)
PREPOSITION = re.compile(r"^(?:for|on|in|of|with|without|at|to|from|under|over|during|by|per|about|into)\b", re.I)
# a pronoun or "this model" standing for the earlier subject; "that"/"this" only where they
# cannot be a relative pronoun or a determiner of some other noun
REFERENT = re.compile(
    r"\b(?:(?:this|that|these|those|the same)\s+(?:models?|methods?|techniques?|approach(?:es)?|ones?|things?|"
    r"ideas?|kinds?|types?|terms?)|(?:it|they|them|its|their)\b|(?:this|that)(?=\s*(?:[?.!,]|$|\s+(?:is|are|was|"
    r"does|do|mean|means|matters?|works?|helps?|happens?)\b)))", re.I)
WHICH_ONE = re.compile(r"\bwhich(?: one)?(?= (?:is|are|does|do|should|would|can|works?|needs?|costs?|runs?)\b)", re.I)
INSTEAD = re.compile(r"\binstead\b(?! of)", re.I)
COMPARE_WORD = re.compile(r"\b(?:different|differ|differs|difference|compare|compares|compared|better|worse|"
                          r"faster|slower|cheaper|smaller|larger|bigger)\b", re.I)
COMPARE_OTHER = re.compile(r"\b(?:from|than|to|with|vs\.?|versus|between|and)\b", re.I)
# words that carry no subject: "why?", "how so?", "can you explain more?", "any examples?"
BARE_WORDS = frozenset("""why how so what when where really explain elaborate more detail details example examples
mean meaning matter matters please tell say said again sure come exactly okay ok go further else instance
can could would you me us give show""".split())
FILLER = frozenset("is that it the a an do does not this".split())
NEEDS_OBJECT = re.compile(r"^\s*(?:what|which|how many|any|list|name)\b.*\b(?:the|any|some)?\s*"
                          r"(?:downsides?|drawbacks?|limits?|limitations?|risks?|costs?|benefits?|advantages?|"
                          r"disadvantages?|alternatives?|examples?|uses?|use cases?|steps?|types?|kinds?|"
                          r"requirements?|pros|cons|trade-?offs?|problems?|issues?)\s*\??\s*$", re.I)
LAST_PHRASE = re.compile(r"\b(?:an?|the)\s+([\w+-]+(?:\s+[\w+-]+){0,3}?)\s*\??\s*$", re.I)


def condense(question: str, earlier: Sequence[str]) -> str:
    """The question to retrieve and answer for `question`, asked after `earlier` (oldest first).

    Each earlier question is first made standalone against the ones before it, so a
    chain of follow-ups keeps the conversation's subject. Without earlier questions,
    or when the question names its own subject, it is returned unchanged.
    """
    context = ""
    for prior in [q for q in earlier if q and q.strip()]:
        context = _one(prior.strip(), context) if context else prior.strip()
    return _one(question.strip(), context) if context else question.strip()


def _one(question: str, earlier: str) -> str:
    subject = subject_of(earlier)
    body = LEAD.sub("", question).strip() or question
    about = ABOUT.match(question)
    if about and not REFERENT.search(body):
        other = (about.group(1) or about.group(2) or "").strip()
        if other and len(other.split()) <= 5:
            if PREPOSITION.match(other) or not subject:
                return _with_phrase(earlier, other)
            return _question(_replace(earlier, subject, other))
    if " and " in subject and WHICH_ONE.search(body):
        return _question(WHICH_ONE.sub(f"which of {subject}", body, count=1))
    if subject and REFERENT.search(body):
        return _question(_sub_referent(body, subject))
    if subject and INSTEAD.search(body):
        return _question(INSTEAD.sub(f"instead of {subject}", body, count=1))
    if subject and _open_comparison(body):
        return f"{_strip_q(body)} {'from' if re.search('differ', body, re.I) else 'than'} {subject}?"
    if is_bare(body):
        return f"{_question(earlier)} {_question(body)}"
    if subject and NEEDS_OBJECT.match(body):
        return f"{_strip_q(body)} of {subject}?"
    return question


def is_bare(question: str) -> bool:
    """True when the question names nothing of its own ("why?", "how so?", "can you explain more?")."""
    words = re.findall(r"[a-z']+", question.lower())
    return not content_words(question) or all(w in BARE_WORDS for w in words if w not in FILLER)


def _open_comparison(text: str) -> bool:
    """'how is MoE different?', 'is it faster?': a comparison word with nothing to compare against after it."""
    m = COMPARE_WORD.search(text)
    return bool(m) and not COMPARE_OTHER.search(text[m.end():])


def subject_of(question: str) -> str:
    """The phrase the question is about, with its article ("an instruct model"), or '' when none is found."""
    from kb.retrieve import question_terms

    terms = [t for t in question_terms(question) if t]
    if len(terms) >= 2:
        return f"{_with_article(question, terms[0])} and {_with_article(question, terms[1])}"
    if terms:
        return _with_article(question, terms[0])
    m = LAST_PHRASE.search(question)
    if m:
        return m.group(0).strip(" ?")
    words = [w for w in re.findall(r"[\w+-]+", question) if content_words(w)]
    return " ".join(words[-3:])


def _with_article(question: str, term: str) -> str:
    m = re.search(r"\b((?:an?|the)\s+)" + re.escape(term), question, re.I)
    return (m.group(1).lower() + term) if m else term


def _sub_referent(text: str, subject: str) -> str:
    """Replace the first pronoun (or 'this model') with the subject; 'its' becomes "<subject>'s"."""
    def repl(m: re.Match[str]) -> str:
        word = m.group(0).lower()
        return f"{subject}'s" if word in ("its", "their") else subject

    out = REFERENT.sub(repl, text, count=1)
    return out[0].upper() + out[1:] if out and text[:1].isupper() and out[:1].islower() else out


def _with_phrase(earlier: str, other: str) -> str:
    """The earlier question with a prepositional phrase ("for CPU", "of Peru"): it replaces the earlier
    question's closing phrase with the same preposition, else it is added at the end."""
    prep = other.split()[0]
    m = re.search(rf"\b{re.escape(prep)}\s+[^?]+?\s*\??\s*$", earlier, re.I) if PREPOSITION.match(other) else None
    if m:
        return f"{earlier[:m.start()]}{other}?"
    return f"{_strip_q(earlier)} {other}?"


def _replace(earlier: str, subject: str, other: str) -> str:
    """The earlier question about `other` instead of `subject` (the first subject when it names two)."""
    first = subject.split(" and ")[0]
    if first and first.lower() in earlier.lower():
        start = earlier.lower().index(first.lower())
        return earlier[:start] + other + earlier[start + len(first):]
    return f"{_strip_q(earlier)}: {other}"


def _strip_q(text: str) -> str:
    return text.strip().rstrip("?.! ").strip()


def _question(text: str) -> str:
    text = _strip_q(text)
    return text + "?" if text else text


def history_questions(turns: Iterable[tuple[str, bool]]) -> list[str]:
    """The questions asked before, from a conversation's (text, by_kb) turns, oldest first: kb's own
    messages (answers, placeholders) are not questions."""
    return [text for text, by_kb in turns if not by_kb and text.strip()]
