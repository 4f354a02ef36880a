"""The quotable source sentences of retrieved passages: labels joined, lists kept with their lead-in,
and a sentence that leans on the one before quoted with it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.junk import is_junk, without_code
from kb.text import VERB, paragraphs, sentences, split_paragraph
from kb.types import Hit


@dataclass
class SourceSentence:
    text: str
    hit_index: int  # index into the hits list
    key: str = ""  # what is compared with questions and drafts, when not the text (a list's lead-in)

    @property
    def match_text(self) -> str:
        return self.key or self.text


MIN_WORDS = 4  # a shorter sentence is never quoted alone (a held label, an FAQ line, a closing sentence too)


def source_sentences(hits: list[Hit]) -> list[SourceSentence]:
    """Quotable sentences of each hit.

    A short label ('**Small models**. Used for ...') is joined to the sentence after
    it, so no quote is a bare heading. A lead-in ('... tasks, including:') is quoted
    with the list it introduces, one '- item' line each: alone it answers nothing.
    The items stay quotable on their own too. Code blocks and junk (kb/junk.py: a lead-in
    whose list is not there, filler, markup) are never quotable.
    """
    out: list[SourceSentence] = []
    for i, hit in enumerate(hits):
        paras = paragraphs(without_code(hit.chunk.text))
        pending = ""
        asked = ""  # the 'Q: ...' paragraph an FAQ's 'A: ...' paragraph answers
        for k, (para, item) in enumerate(paras):
            if item or (k and paras[k - 1][1]):  # labels are not joined across list items
                _add_held(out, pending, i)
                pending = ""
            if FAQ_QUESTION.match(para):  # a question is no answer: quoted only with the answer after it
                _add_held(out, pending, i)
                asked, pending = para, ""
                continue
            if asked and FAQ_ANSWER.match(para):
                _faq_answer(out, asked, split_paragraph(para), i)
                asked = ""
                continue
            asked = ""
            sents = split_paragraph(para)
            for j, s in enumerate(sents):
                s = f"{pending} {s}".strip() if pending else s
                pending = ""
                if len(s.split()) < LABEL_WORDS and not VERB.search(s):
                    if j and j == len(sents) - 1 and s[-1] in ".!?" and len(s.split()) >= MIN_WORDS:
                        # a short closing sentence ('Quality matters more than quantity.'), not a label: a
                        # label opens its paragraph; held as one, it was joined to nothing and lost
                        _add(out, SourceSentence(s, i))
                        continue
                    pending = s
                    continue
                if len(s.split()) < MIN_WORDS:
                    continue
                if j == len(sents) - 1 and s.endswith(":"):
                    # ranked by the lead-in alone: a list of names is close to every question about them
                    _add(out, SourceSentence(with_list(s, paras[k + 1:]), i, key=s))
                elif POINTS_BACK.search(s) and out and out[-1].hit_index == i:
                    # 'There are various methods for this, ...' is about the sentence before it
                    _add(out, SourceSentence(s, i, key=f"{out[-1].match_text} {s}"))
                else:
                    _add(out, SourceSentence(s, i))
        _add_held(out, pending, i)  # the passage's last line, short and verbless, is still quotable
    return out


def _add_held(out: list[SourceSentence], pending: str, i: int) -> None:
    """A short verbless line held to be joined to the next sentence, when nothing follows it to join: still
    quotable from MIN_WORDS words on."""
    if len(pending.split()) >= MIN_WORDS:
        _add(out, SourceSentence(pending, i))


FAQ_QUESTION = re.compile(r"^(?:Q|Question)\s*[:.]\s")
FAQ_ANSWER = re.compile(r"^(?:A|Answer)\s*[:.]\s")


def _faq_answer(out: list[SourceSentence], asked: str, sents: list[str], i: int) -> None:
    """An FAQ's answer ('Q: exitcode: -9' / 'A: This usually happens when you run out of system RAM.'):
    its first sentence is quoted with the question, and every sentence of it is ranked with the question,
    which says what it is about ('This ...' alone is about nothing)."""
    for j, s in enumerate(sents):
        text = f"{asked} {s}" if j == 0 else s
        if len(text.split()) >= MIN_WORDS:
            _add(out, SourceSentence(text, i, key=f"{asked} {s}" if j else ""))


def _add(out: list[SourceSentence], src: SourceSentence) -> None:
    if not is_junk(src.text):
        out.append(src)


LIST_WORDS = 80  # a lead-in and its list stay a readable quote (~100 tokens)


def with_list(lead: str, rest: list[tuple[str, bool]]) -> str:
    """The lead-in followed by the list items right after it, as many as fit LIST_WORDS."""
    items: list[str] = []
    words = len(lead.split())
    for para, item in rest:
        words += len(para.split())
        if not item or (items and words > LIST_WORDS):
            break
        items.append(para)
    return lead + "".join(f"\n- {it}" for it in items)


LABEL_WORDS = 6  # a shorter line without a verb is a label, joined to the sentence after it
ANAPHOR = re.compile(r"^(?:for (?:these|this|that) reasons?|this|these|that|those|it|they|such|therefore|thus|"
                     r"as a result|because of this|in (?:this|that) case)\b", re.I)
POINTS_BACK = re.compile(r"\b(?:for|of|like|with|about|to|from|by|on) (?:this|that|these|those)\s*[,.;:]", re.I)


def leans_back(text: str) -> bool:
    return bool(ANAPHOR.match(text) or POINTS_BACK.search(text))


def with_context(src: SourceSentence, i: int, sources: list[SourceSentence],
                 taken: list[SourceSentence]) -> SourceSentence:
    """A sentence that leans on the one before ('For these reasons, ...') is quoted with it
    (sources[i] is src)."""
    text = src.text
    for _ in range(2):
        if i == 0 or not leans_back(text):
            break
        prev = sources[i - 1]
        if prev.hit_index != src.hit_index or any(prev.text in t.text for t in taken):
            break
        text, i = f"{prev.text} {text}", i - 1
        if not leans_back(prev.text):
            break
    return src if text == src.text else SourceSentence(text, src.hit_index)


def adjacent_in(quote: str, text: str, passage: str) -> bool:
    """Whether `text` starts with the sentence that follows `quote`'s last one in the passage: only
    then are they one stretch of it; otherwise a joined quote shows the gap ('A. ... C.'), so it
    never reads as if the page said them together."""
    seq = sentences(passage)
    last, first = (sentences(quote) or [quote])[-1], (sentences(text) or [text])[0]
    return any(a == last and b == first for a, b in zip(seq, seq[1:], strict=False))


def continues(quote: str, text: str, passage: str) -> bool:
    """Whether `text` can be joined onto `quote` as one stretch of the passage: it is the next sentence
    there, and the two still read as separate sentences once joined."""
    return adjacent_in(quote, text, passage) and reads_apart(quote, text)


def reads_apart(first: str, then: str) -> bool:
    """Whether `first` and `then` joined by a space still split into their own sentences: a list item or
    table row without a full stop, or a sentence opening with `code`, would run into the next one as a
    sentence no page holds."""
    return sentences(f"{first} {then}") == sentences(first) + sentences(then)
