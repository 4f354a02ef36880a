"""Which source sentences answer the question best: `best_quotes` and its ranking."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kb.opening import ASKS_DEFINITION, POINTER, answer_first, extra_opener
from kb.passages import SourceSentence, continues, leans_back, with_context
from kb.retrieve import ranked_only
from kb.text import DEFINITION_SENTENCE, content_words, defined_terms, question_names, term_key
from kb.verify import Checker

MAX_SENTENCES = 4  # kept model sentences plus quotes that fill in what they missed
EXTRA_QUOTES = 2  # more quotes past MAX_SENTENCES, each only from a page already quoted (best_quotes `extra`)


@dataclass(frozen=True)
class QuoteWeights:
    """Every number that ranks quotes, in one place (tuned on both eval sets with bench/answers.py).

    A candidate's value is its similarity to the question plus the bonuses below; quotes are
    then picked by maximal marginal relevance (relevance against redundancy).
    """

    rank: float = 0.2  # bonus of the top-ranked passage, falling linearly to ~0 for the last (quotes stay on top hits)
    lexical: float = 0.3  # times the IDF-weighted share of the question's words in the sentence or its heading
    heading: float = 0.15  # times the question/heading overlap: quote-only key-fact recall 0.870 -> 0.878 (sample),
    # 0.884 -> 0.905 (seed pages)
    definition: float = 0.08  # a definition-shaped sentence ('X is ...') when the question names a term
    defines_term: float = 0.3  # ... more when it defines the asked term under its other name ('What is RLHF?':
    # 'Reinforcement Learning from Human Feedback is a method ...'), which neither the embedder nor the
    # word overlap sees: realdocs key-fact recall 0.818 -> 0.824 (0.15 the same), other sets unchanged
    other_page: float = 0.12  # penalty of a sentence from a page below the top one: it must earn its place
    specific: float = 0.25  # times the share of the question's names the top page lacks ('Mixtral') in the sentence
    number: float = 0.1  # a sentence with a number, for a question asking for one ('how many', 'context window')
    under_heading: float = 0.5  # share of a sentence's similarity read under its heading, when the heading holds a
    # word of the question the sentence leaves to it (`_read_under_heading`)
    relevance: float = 0.75  # MMR: weight of a candidate's value
    redundancy: float = 0.25  # MMR: weight of its similarity to the quotes already picked


WEIGHTS = QuoteWeights()
QUOTE_PAGES = 3  # quotes may come from the pages of the first three hits (the page that answers may rank 2nd)
ASKS_NUMBER = re.compile(r"\b(?:how (?:many|much|long|big|large|fast|small)|what(?:'s| is| are)? (?:the )?"
                         r"(?:size|number|count|length|limit|default|maximum|minimum|context (?:window|length))|"
                         r"context (?:window|length)|how many)\b", re.I)
DIGIT = re.compile(r"\d")
GOES_ON = 1  # more sentences `with_next` may add when each leans on the one before: 'It then uses a lookup table
# to keep track of these blocks.' (PagedAttention), 'Instead, it sets a time window ...' (dynamic batching)
GOES_ON_FROM = re.compile(r"(?:instead|rather|in other words|otherwise)\b", re.I)


def _question_overlap(question: str, checker: Checker, pool: list[SourceSentence]) -> list[float]:
    """IDF-weighted share of the question's words found in each sentence or its section heading.

    A small embedder ranks "Base models are powerful but raw." close to any base-model
    question; the words the question is really about ("mistakes", "deploy") are rarer
    in the page, so they weigh more.
    """
    qwords = set(content_words(question))
    if not pool or not qwords:
        return [0.0] * len(pool)
    bags = []
    for src in pool:
        chunk = checker.hits[src.hit_index].chunk
        bags.append(set(content_words(src.match_text)) | set(content_words(chunk.section)))
    idf = {w: math.log(1 + len(bags) / (1 + sum(w in b for b in bags))) for w in qwords}
    total = sum(idf.values()) or 1.0
    return [sum(idf[w] for w in qwords & bag) / total for bag in bags]


def _read_under_heading(checker: Checker, question: str, ranked: list[tuple[float, SourceSentence]],
                        share: float) -> list[tuple[float, SourceSentence]]:
    """Similarities of sentences that leave a word of the question to their heading, read under it.

    "The only way to use these models is to pay for access." says what closed models cost only under
    its heading 'Closed models'; alone, the embedder cannot tell which models it is about. Such a
    sentence is also compared with the question as 'heading: sentence', and the two similarities are
    blended. A sentence that names the asked words itself keeps its own similarity: read under a heading
    about the question's topic, every sentence of a page would look like the answer."""
    if not share:
        return ranked
    qwords = set(content_words(question))
    given = [qwords & set(content_words(hit.chunk.heading)) for hit in checker.hits]  # once per passage
    leaves = [i for i, (_, src) in enumerate(ranked) if given[src.hit_index] - set(content_words(src.match_text))]
    if not leaves:
        return ranked
    heads = [f"{checker.hits[ranked[i][1].hit_index].chunk.heading}: {ranked[i][1].match_text}" for i in leaves]
    out = list(ranked)
    for i, sim in zip(leaves, checker.similarities(question, heads), strict=True):
        out[i] = ((1 - share) * ranked[i][0] + share * sim, ranked[i][1])
    return sorted(out, key=lambda t: -t[0])


def _heading_match(qwords: set[str], heading: str) -> float:
    """Jaccard overlap of the question's and a section heading's content words: a section
    titled like the question ('Why not deploy a base model') is its answer."""
    hwords = set(content_words(heading))
    return len(qwords & hwords) / len(qwords | hwords) if qwords and hwords else 0.0


def _contained(src: SourceSentence, picked: list[SourceSentence]) -> bool:
    """Whether a picked quote already holds this sentence (a list item of a quoted lead-in and its list)."""
    return any(src.text in p.text for p in picked)


def _overlaps(a: SourceSentence, b: SourceSentence) -> bool:
    """Whether one quote holds the other (an item and the lead-in quoted with its list)."""
    return a.text in b.text or b.text in a.text


def quotable_pages(checker: Checker) -> list[str]:
    """The hits' pages in rank order, those with no quotable sentence left out: a top hit that is only
    markup or code (an MDX import line) would otherwise make the top page one with nothing to quote,
    and every other page would need evidence against it, so the answer came out empty."""
    has = {checker.hits[src.hit_index].chunk.source for src in checker.sources}
    pages: list[str] = []
    for hit in ranked_only(checker.hits):
        if hit.chunk.source in has and hit.chunk.source not in pages:
            pages.append(hit.chunk.source)
    return pages


def _names_by_page(question: str, checker: Checker, pages: set[str]) -> dict[str, set[str]]:
    """The question's specific names (`question_names`) each page's retrieved passages hold."""
    asked = question_names(question)
    held: dict[str, set[str]] = {}
    for hit in ranked_only(checker.hits):
        if asked and hit.chunk.source in pages:
            held.setdefault(hit.chunk.source, set()).update(asked & set(content_words(hit.chunk.embed_text())))
    return held


def _covering_pages(question: str, checker: Checker, pages: list[str], top: set[str]) -> set[str]:
    """Lower pages whose retrieved passages (with title and headings) hold more of the question's words,
    IDF-weighted, than the top page's: evidence that they, not the top page, are about what was asked."""
    qwords = set(content_words(question))
    bags: dict[str, set[str]] = {}
    for hit in ranked_only(checker.hits):
        if hit.chunk.source in pages:
            bags.setdefault(hit.chunk.source, set()).update(content_words(hit.chunk.embed_text()))
    if not qwords or not bags:
        return set()
    idf = {w: math.log(1 + len(bags) / (1 + sum(w in b for b in bags.values()))) for w in qwords}
    cover = {p: sum(idf[w] for w in qwords & bag) for p, bag in bags.items()}
    best_top = max((cover.get(p, 0.0) for p in top), default=0.0)
    return {p for p in pages if p not in top and cover.get(p, 0.0) > best_top + 1e-9}


def ranked_candidates(checker: Checker, question: str, terms: list[str],
                      exclude: list[SourceSentence] = (),  # type: ignore[assignment]
                      weights: QuoteWeights = WEIGHTS) -> list[tuple[float, SourceSentence]]:
    """Every sentence `best_quotes` may quote, with its value (similarity plus the `QuoteWeights` bonuses),
    before maximal marginal relevance picks among them. See `best_quotes` for which pages qualify."""
    w = weights
    ranked = _read_under_heading(checker, question, checker.ranked_sources(question), w.under_heading)
    pages = quotable_pages(checker)
    top = set(pages[:max(1, len(terms))])
    keep = set(pages[:max(QUOTE_PAGES, len(terms))])
    n = max(1, len(checker.hits))  # neighbours (past top_k) continue the ranks they were read at
    # names the top page never mentions: the evidence that another page is the one that answers, when
    # that page names more of them than the top page ("load a LoRA adapter into Ollama": a LoRA tutorial
    # names LoRA, which the Ollama page lacks, but not Ollama)
    named = _names_by_page(question, checker, keep)  # top is within keep
    names = question_names(question) - {word for p in top for word in named.get(p, ())}
    most_in_top = max((len(named.get(p, ())) for p in top), default=0)
    asks_number = bool(ASKS_NUMBER.search(question))
    covering = _covering_pages(question, checker, pages[:max(QUOTE_PAGES, len(terms))], top)

    def evidence(src: SourceSentence) -> tuple[set[str], bool]:
        chunk = checker.hits[src.hit_index].chunk
        number = asks_number and bool(DIGIT.search(src.match_text))
        if not names or len(named.get(chunk.source, ())) <= most_in_top:
            return set(), number
        return names & set(content_words(f"{src.match_text} {chunk.section}")), number

    pool = []
    for sim, src in ranked:
        source = checker.hits[src.hit_index].chunk.source
        if source not in keep or src in exclude:
            continue
        held, number = evidence(src)
        # a lower page offering only what the top page has would dilute; a number alone is no evidence that
        # a lower page answers: "how many dimensions do mistral-embed vectors have?" drew another tool's
        # "typically 384-1024 dimensions" (realdocs citation precision 0.895 -> 0.908, recall unchanged)
        if source in top or source in covering or held:
            pool.append((sim, src, held, number))
    overlap = _question_overlap(question, checker, [src for _, src, _, _ in pool])
    qwords = set(content_words(question))
    term_keys = {term_key(terms[0])} if len(terms) == 1 and ASKS_DEFINITION.match(question) else set()
    term_words = set(content_words(terms[0])) if terms else set()
    heading = [_heading_match(qwords, hit.chunk.section) for hit in checker.hits]  # once per passage
    candidates = []
    for (sim, src, held, number), lex in zip(pool, overlap, strict=True):
        bonus = w.rank * (n - src.hit_index) / n + w.lexical * lex + w.heading * heading[src.hit_index]
        if terms and DEFINITION_SENTENCE.match(src.text):
            bonus += w.definition
            if term_keys and not term_words <= set(content_words(src.text)) and \
                    term_keys & set(defined_terms(src.text)):
                bonus += w.defines_term
        if checker.hits[src.hit_index].chunk.source not in top:
            bonus -= w.other_page
        if names:
            bonus += w.specific * len(held) / len(names)
        if number:
            bonus += w.number
        candidates.append((sim + bonus, src))
    return candidates


def best_quotes(checker: Checker, question: str, terms: list[str], limit: int = 4,
                exclude: list[SourceSentence] = (),  # type: ignore[assignment]
                weights: QuoteWeights = WEIGHTS, extra: int = 0) -> list[SourceSentence]:
    """Source sentences that together answer the question best.

    Candidates come from the pages of the first QUOTE_PAGES hits that have something to
    quote: the top-ranked page (one per term for "X vs Y") is preferred; a sentence from a
    lower page is a candidate only with evidence the top page lacks (the question's specific
    names, 'Mixtral', that the top page never mentions, on a page naming more of them than
    the top page; or its page holding more of the question's words, `_covering_pages`),
    and pays `other_page`. So "what is Mixtral's context window?"
    quotes the sentence with Mixtral's number over a glossary's generic definition of
    a context window, and quotes never drift to a page that merely mentions the topic.
    Sentences are picked by maximal marginal relevance: similarity to the
    question, nudged towards higher-ranked passages, definition-shaped sentences
    and sections whose heading reads like the question, minus redundancy with
    what was already picked. Past `limit`, up to `extra` more quotes, each from a page
    already quoted and not already inside a picked quote, follow the answer-first quotes:
    on realdocs most lost key facts sat in the top page's 5th-8th best sentences. Tuned on both
    eval sets (bench/answers.py): 4 sentences, one page, recall ~0.8, source
    precision ~0.97. The numbers are in `QuoteWeights`.
    """
    w = weights
    candidates = ranked_candidates(checker, question, terms, exclude, w)
    index = {id(src): i for i, src in enumerate(checker.sources)}
    chosen: list[SourceSentence] = list(exclude)
    picked: list[SourceSentence] = []
    def value(item: tuple[float, SourceSentence]) -> float:
        redundancy = max((float(checker._vecs[index[id(item[1])]] @ checker._vecs[index[id(c)]])
                          for c in chosen if id(c) in index), default=0.0)
        return w.relevance * item[0] - w.redundancy * redundancy

    while candidates and len(chosen) < limit + extra:
        if len(chosen) >= limit:  # past the limit, only what adds to a page already quoted
            quoted = {checker.hits[c.hit_index].chunk.source for c in picked}
            candidates = [c for c in candidates if checker.hits[c[1].hit_index].chunk.source in quoted
                          and not _contained(c[1], picked)]
            if not candidates:
                break
        best = max(candidates, key=value)
        candidates.remove(best)
        chosen.append(best[1])
        picked.append(best[1])
        # a list item of a picked lead-in, or a lead-in whose list holds a picked item, would say it twice
        candidates = [c for c in candidates if not _overlaps(c[1], best[1])]
    main = max(0, limit - len(exclude))  # the extras add detail after the answer (kb/opening.py extra_opener)
    out: list[SourceSentence] = []
    for src in picked[:main]:
        out.append(with_context(src, index[id(src)], checker.sources, picked[:main] + out))
    more: list[SourceSentence] = []
    for src in picked[main:]:
        if not any(src.text in o.text for o in out):  # already quoted as the context of a sentence above
            more.append(with_context(src, index[id(src)], checker.sources, picked + out + more))
    opening, rest = extra_opener(question, terms, *joined_runs(out + more, checker, len(out)))
    headings = [checker.hits[q.hit_index].chunk.section for q in opening]
    ordered, rest = with_next(answer_first(question, terms, opening, headings), rest, checker, question)
    return in_page_order([*ordered, *rest], checker)


def in_page_order(quotes: list[SourceSentence], checker: Checker) -> list[SourceSentence]:
    """Past the opening quote, quotes of one passage in the order the page gives them, in the places they
    already hold: 'Start the Ollama application from the Start menu.' came before 'First quit Ollama by
    clicking on it in the task bar.', a procedure read backwards. Which quotes, and what opens, stay."""
    if len(quotes) < 3:
        return quotes

    def place(q: SourceSentence) -> int:  # a joined quote sits where its first sentence does
        return next((i for i, s in enumerate(checker.sources) if s.hit_index == q.hit_index
                     and q.text.startswith(s.text)), len(checker.sources))

    rest = quotes[1:]
    out = list(rest)
    for hit in {q.hit_index for q in rest}:
        slots = [i for i, q in enumerate(rest) if q.hit_index == hit]
        for slot, q in zip(slots, sorted((rest[i] for i in slots), key=place), strict=True):
            out[slot] = q
    return [quotes[0], *out]


def with_next(ordered: list[SourceSentence], rest: list[SourceSentence], checker: Checker,
              question: str) -> tuple[list[SourceSentence], list[SourceSentence]]:
    """The opening quote goes on with the sentence after it in its passage, when that is prose, quotable
    and not quoted elsewhere: a definition is followed by how the thing works or what sets it apart
    ('X is a Y. It splits ...'), and a reader takes the first quote as the answer. Realdocs key facts
    sat there (first-sentence recall 0.511 -> 0.545, key-fact recall 0.750 -> 0.774), at ~6 more words.
    Up to GOES_ON more follow when each leans on the one before: realdocs key-fact recall 0.845 -> 0.851,
    first-sentence 0.690 -> 0.697, other sets unchanged. A quote picked elsewhere in the answer that the opening
    quote now runs into joins it, and leaves its place: the page says them in that order ('Presence penalty: ...
    It encourages ...' then 'Frequency penalty: ...'). Returns the quotes and the extra quotes (`rest`)."""
    if not ordered or "\n" in ordered[0].text:
        return ordered, rest
    first = ordered[0]
    ordered, rest = list(ordered[1:]), list(rest)
    seq = [s for s in checker.sources if s.hit_index == first.hit_index]
    passage = checker.hits[first.hit_index].chunk.text
    step = 0
    while step <= GOES_ON:
        nxt = _next_of(first, seq)
        if nxt is None:
            break
        picked = next((q for q in ordered + rest if q.hit_index == first.hit_index and q.text.startswith(nxt.text)
                       and "\n" not in q.text), None)
        if picked is not None:
            if not continues(first.text, picked.text, passage):
                break
            first = SourceSentence(f"{first.text} {picked.text}", first.hit_index)
            (ordered if picked in ordered else rest).remove(picked)
            continue
        # it goes on about what was asked or what the opening quote is about, or leans on it ('It ...');
        # past the first, only a sentence that cannot stand without the ones before ('It then ...', 'Instead, ...')
        about = set(content_words(question)) | set(content_words(first.text))
        leans = leans_back(nxt.text) or bool(GOES_ON_FROM.match(nxt.text))
        if step and not leans:
            break
        on_topic = leans or bool(about & set(content_words(nxt.text)))
        if (not on_topic or "\n" in nxt.text or POINTER.match(nxt.text)
                or any(nxt.text in q.text for q in ordered + rest)
                or not continues(first.text, nxt.text, passage)):
            break
        first = SourceSentence(f"{first.text} {nxt.text}", first.hit_index)
        step += 1
    return [first, *ordered], rest


def _next_of(quote: SourceSentence, seq: list[SourceSentence]) -> SourceSentence | None:
    """The sentence after the quote's last one in its passage (`seq`: the passage's sentences), if any."""
    for k, src in enumerate(seq[:-1]):
        if quote.text.endswith(src.text):
            return seq[k + 1]
    return None


def joined_runs(quotes: list[SourceSentence], checker: Checker,
                main: int) -> tuple[list[SourceSentence], list[SourceSentence]]:
    """Picked quotes that follow each other in their passage, joined into one quote in the page's order,
    at the place of the better-ranked one: the answer reads as the stretch of the page it is, and the
    sentence after a definition ('X is a Y. It works by ...') opens the answer with it instead of three
    quotes later. The runs holding one of the first `main` quotes come first (answer-first orders them),
    then the others. A lead-in quoted with its list is never joined (its list would read as prose)."""
    units = [(q, i < main) for i, q in enumerate(quotes)]
    joined = True
    while joined:
        joined = False
        for a, b in ((a, b) for a in range(len(units)) for b in range(len(units)) if a != b):
            (qa, ma), (qb, mb) = units[a], units[b]
            if qa.hit_index != qb.hit_index or "\n" in qa.text or "\n" in qb.text:
                continue
            if continues(qa.text, qb.text, checker.hits[qa.hit_index].chunk.text):
                units[min(a, b)] = (SourceSentence(f"{qa.text} {qb.text}", qa.hit_index), ma or mb)
                del units[max(a, b)]
                joined = True
                break
    return [q for q, m in units if m], [q for q, m in units if not m]

