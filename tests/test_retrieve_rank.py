"""Which passage comes first (kb/retrieve.py `RankWeights`, `Retriever._lead`, `Corpus.absent_share`).

Two small pages written for these tests, ingested into a real store with the real embedder:
a Quillbox tuning page whose learning-rate section reads like the question, and a Zephyrkit
page that answers it in other words. Fusion alone puts Quillbox first; the page that names
what the question names (Zephyrkit) must lead.
"""

from __future__ import annotations

import pytest

from tests.helpers import engine_over_pages, retriever_with

QUESTION = "What learning rate does Zephyrkit recommend for adapters?"
PAGES = {
    "quillbox-tuning.md": (
        "# Tuning adapters with Quillbox\n\n## Learning rate for adapters\n\n"
        "A learning rate of 3e-4 with a cosine schedule and a short warmup is a good start for adapter "
        "training. Lower it when the loss jumps in the first hundred steps.\n\n"
        "## Batch size\n\nQuillbox packs short examples together so that each batch holds the same number "
        "of tokens.\n"),
    "zephyrkit-faq.md": (
        "# Zephyrkit questions\n\n## Hyperparameters\n\n"
        "Zephyrkit recommends 1e-4 for adapter runs and keeps that value constant until the final tenth of "
        "the run, then decays it linearly to zero.\n\n"
        "## Schedules\n\nThe learning rate warms up over the first fifty steps in every Zephyrkit recipe.\n\n"
        "## Data\n\nUnlike Quillbox, Zephyrkit never packs short examples into one batch: it reads conversation "
        "files in which every line is one JSON record.\n"),
}


@pytest.fixture
def two_tools(tmp_path, settings, embedder):
    return engine_over_pages(PAGES, tmp_path, settings, embedder)


def _page(hit) -> str:
    return hit.chunk.source.rsplit("/", 1)[-1]


def test_the_page_that_names_what_is_asked_leads(two_tools):
    """Without the rule the Quillbox section (closest wording, no 'Zephyrkit' anywhere on its page)
    comes first; with it, the Zephyrkit page does, and the engine's default search agrees."""
    off = retriever_with(two_tools, absent=0.0).retrieve(QUESTION, 4)
    assert _page(off[0]) == "quillbox-tuning.md"  # the case the rule is for: fusion alone picks the wrong page
    on = retriever_with(two_tools).retrieve(QUESTION, 4)
    assert _page(on[0]) == "zephyrkit-faq.md"
    assert _page(two_tools.search(QUESTION, 4)[0]) == "zephyrkit-faq.md"


def test_only_the_first_place_moves(two_tools):
    """The passages under the lead keep the fusion's order (reordering them moved quotes, docs/eval.md),
    and no fused score is changed by the rule."""
    off = retriever_with(two_tools, absent=0.0).retrieve(QUESTION, 4)
    on = retriever_with(two_tools).retrieve(QUESTION, 4)
    assert on[0].chunk.id != off[0].chunk.id
    assert [h.chunk.id for h in on[1:]] == [h.chunk.id for h in off if h.chunk.id != on[0].chunk.id][:3]
    assert {h.chunk.id: h.score for h in on} == {h.chunk.id: h.score for h in off if h.chunk.id in
                                                 {x.chunk.id for x in on}}


@pytest.mark.parametrize("question", [QUESTION, "How does Quillbox fill each batch?",
                                      "Which file format does Zephyrkit read?",
                                      "When should I lower the learning rate?"])
def test_the_lead_scored_at_most_absent_below_the_fused_best(two_tools, question):
    """The rule weighs evidence against fusion, it does not filter: the passage it puts first scored at
    most `absent` below the fused best."""
    from kb.retrieve import WEIGHTS

    off = retriever_with(two_tools, absent=0.0).retrieve(question, 5)
    on = retriever_with(two_tools).retrieve(question, 5)
    assert on[0].score >= off[0].score - WEIGHTS.absent


def test_a_small_weight_keeps_the_fused_order(two_tools):
    """With a weight far under the fused gap the better-worded page keeps the first place: the page's
    missing words are a penalty in proportion, not a veto."""
    hits = retriever_with(two_tools, absent=0.0001).retrieve(QUESTION, 4)
    assert _page(hits[0]) == "quillbox-tuning.md"


def test_absent_share_weighs_the_question_words_a_page_never_uses(two_tools):
    corpus = two_tools.corpus()
    sources = sorted(corpus.sources)
    shares = corpus.absent_share(QUESTION, sources + ["/nowhere/unknown.md"])
    by_name = {s.rsplit("/", 1)[-1]: v for s, v in shares.items()}
    assert by_name["zephyrkit-faq.md"] == 0.0  # it uses every key word of the question
    assert 0.0 < by_name["quillbox-tuning.md"] < 1.0  # it never names Zephyrkit
    assert by_name["unknown.md"] == 0.0  # a page the index does not know: no evidence against it
    # a word no passage uses tells no page apart, so it changes nothing
    assert corpus.absent_share(QUESTION.replace("?", " on a Blorptastic?"), sources) == \
        corpus.absent_share(QUESTION, sources)


def test_saved_index_keeps_the_pages(two_tools, tmp_path):
    """The page of every passage is saved with the BM25 index, so a process that reads the cache
    judges pages as the one that built it."""
    from kb.retrieve import Corpus

    corpus = two_tools.corpus()
    corpus._write(tmp_path / "bm25")
    read = Corpus._read(two_tools.store, tmp_path / "bm25", corpus.generation)
    assert read is not None and read.sources == corpus.sources
    assert list(read.page_of) == list(corpus.page_of)
    sources = sorted(corpus.sources)
    assert read.absent_share(QUESTION, sources) == corpus.absent_share(QUESTION, sources)
