"""Which pages quotes may come from (kb/quotes.py `_covering_pages`, `_top_pages`), over small made-up pages.

The top-ranked page is quoted freely; a lower page only with evidence that it, not the top page, answers.
These use the real embedder (the `embedder` fixture); each test names the rule it pins.
"""

from __future__ import annotations

from kb.quotes import best_quotes
from kb.retrieve import question_terms
from kb.types import Chunk, Hit
from kb.verify import Checker


def _page_hit(text: str, source: str, title: str, dense: float = 0.6) -> Hit:
    return Hit(chunk=Chunk(id=source, text=text, source=source, title=title, section=title, position=0,
                           page_hash="h", page_chunks=1, metadata={}), score=1.0, dense=dense)


def _quote_pages(embedder, hits: list[Hit], question: str, limit: int = 3) -> set[int]:
    """The hits (by index) the quotes for the question come from."""
    quotes = best_quotes(Checker(embedder, hits), question, question_terms(question), limit=limit)
    return {src.hit_index for src in quotes}


def test_a_lower_page_that_trades_the_asked_word_for_others_is_not_quoted(embedder):
    """The top page holds the asked word ('spillover'); a lower page holds more of the question's other
    words ('batch', 'queue') but never 'spillover'. It covers more of the question by weight, yet it is
    about something else, so it is no evidence against the top page and is not quoted."""
    top = _page_hit("Spillover moves a waiting request to another engine when its own engine is full. "
                    "It keeps the wait short under load.", "/g.md", "Glossary", dense=0.7)
    other = _page_hit("A batch queue holds requests before the engine runs them. The queue drains in batch "
                      "order, oldest first.", "/q.md", "Queues", dense=0.65)
    assert _quote_pages(embedder, [top, other], "What does spillover mean in a batch queue engine?") == {0}


def test_a_lower_page_lacking_only_a_word_any_question_uses_is_still_quoted(embedder):
    """The words the lower page must share with the top page are the question's key words: 'better' (kb/scope.py
    QUESTION_WORDS) on the top page alone does not keep out a page holding more of what was asked."""
    top = _page_hit("Serving is better with a large batch. Large batches fill the device.", "/s.md", "Serving",
                    dense=0.7)
    other = _page_hit("Warm the cache before serving: the first requests then find their prefixes cached.",
                      "/w.md", "Cache warm-up", dense=0.65)
    assert 1 in _quote_pages(embedder, [top, other], "Is it better to warm up the cache before serving?")


def test_a_lower_page_covering_the_question_and_holding_its_name_takes_the_top_pages_place(embedder):
    """Retrieval ranks another tool's tutorial first; the named tool's own page holds every question word the
    tutorial holds, and the name besides ('Zephyrtune'). It becomes the top page, and the tutorial, now a
    lower page with no evidence of its own, is not quoted."""
    tutorial = _page_hit("The tutorial sets the learning rate to 3e-4 for adapters. Lower learning rates "
                         "trained slower in our runs.", "/t.md", "Tutorial", dense=0.7)
    own = _page_hit("For adapters we suggest a learning rate of 1e-4. The learning rate follows a cosine "
                    "schedule.", "/z.md", "Zephyrtune FAQ", dense=0.65)
    q = "What learning rate does Zephyrtune suggest for adapters?"
    assert _quote_pages(embedder, [tutorial, own], q) == {1}
    # without the name, the tutorial stays the top page
    assert 0 in _quote_pages(embedder, [tutorial, own], "What learning rate is suggested for adapters?")


def test_a_name_most_retrieved_pages_hold_is_the_topic_and_no_evidence(embedder):
    """'LLM' in "What is spillover in LLM serving?" is what the pages share, not what sets one apart: the
    glossary entry that answers never says LLM, and two serving pages below it do. Holding the topic's name
    is no evidence that they answer, so only the entry is quoted. A name one lower page holds of three
    pages ('Zephyrq') still is."""
    entry = _page_hit("Spillover moves a waiting request to another replica when its own replica is full. "
                      "It trades a little latency for a shorter wait.", "/g.md", "Spillover", dense=0.7)
    serving = _page_hit("LLM serving keeps a model loaded and answers requests as they come. An LLM server "
                        "batches requests to use the GPU well.", "/s.md", "Serving", dense=0.62)
    cache = _page_hit("An LLM keeps a cache of past tokens for each request. The cache grows with the "
                      "context.", "/c.md", "KV cache", dense=0.6)
    assert _quote_pages(embedder, [entry, serving, cache], "What is spillover in LLM serving?") == {0}
    named = _page_hit("Zephyrq serving moves waiting requests on to another replica when one is full.",
                      "/z.md", "Zephyrq", dense=0.62)
    q = "What is spillover in Zephyrq serving?"
    assert 1 in _quote_pages(embedder, [entry, named, cache], q)


def test_the_second_page_of_x_vs_y_is_a_top_page_only_holding_a_term_word_the_first_lacks(embedder):
    """For "X vs Y" the first two pages are quoted freely, one per term. When the first page already holds
    both terms' words, the second is a lower page like any other and needs evidence: a general page on
    deployment below a tool's page describing both of its modes is not quoted. When the first page never
    says 'server', a second page that does stays a top page."""
    both = _page_hit("In batch mode, Zephyrd loads the model once and runs a whole file of prompts. In server "
                     "mode, Zephyrd waits for clients and answers each request as it comes.", "/z.md", "Zephyrd",
                     dense=0.7)
    general = _page_hit("Many tools support two deployment patterns. The choice depends on how your application "
                        "calls the model.", "/d.md", "Deployment", dense=0.65)
    q = "Batch mode vs server mode: what is the difference?"
    assert _quote_pages(embedder, [both, general], q) == {0}
    batch = _page_hit("In batch mode, Zephyrd loads the model once and runs a whole file of prompts.", "/b.md",
                      "Zephyrd batch", dense=0.7)
    server = _page_hit("A server mode keeps the model loaded and answers each request as it comes.", "/s.md",
                       "Serving", dense=0.65)
    assert _quote_pages(embedder, [batch, server], q) == {0, 1}
