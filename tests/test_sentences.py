"""One sentence splitter for ingest and query (kb/text.py): the cases real pages broke.

Pure text rules, no models. Every sentence here is invented for the test.
"""

from __future__ import annotations

import pytest

from kb.text import paragraphs, sentences, split_paragraph, split_sentences


@pytest.mark.parametrize("text, expected", [
    # abbreviations never end a sentence
    ("Pick a small model, e.g. Pebble-2 with 90M weights. It fits on a phone.",
     ["Pick a small model, e.g. Pebble-2 with 90M weights.", "It fits on a phone."]),
    ("Routers pick two experts, i.e. Top-2 routing. That halves the compute.",
     ["Routers pick two experts, i.e. Top-2 routing.", "That halves the compute."]),
    ("Dr. Smith tuned the router. It converged.", ["Dr. Smith tuned the router.", "It converged."]),
    ("The U.S. Army funded the survey. Results came later.",
     ["The U.S. Army funded the survey.", "Results came later."]),
    ("The next release ships in Jan. 2027. Until then, pin the old one.",
     ["The next release ships in Jan. 2027.", "Until then, pin the old one."]),
    ("Compare the loss curves (cf. Fig. 3). They diverge early.",
     ["Compare the loss curves (cf. Fig. 3).", "They diverge early."]),
    # "etc." ends a sentence only when a capitalised word follows
    ("Bring tokens, masks, etc. The loader does the rest.",
     ["Bring tokens, masks, etc.", "The loader does the rest."]),
    ("Bring tokens, masks, etc. and the loader does the rest.",
     ["Bring tokens, masks, etc. and the loader does the rest."]),
    # initials
    ("A. B. Quill wrote the tokenizer. She also wrote the docs.",
     ["A. B. Quill wrote the tokenizer.", "She also wrote the docs."]),
    # decimals, version numbers and URLs have no space after their dots
    ("Perplexity fell from 3.5 to 2.75 points. That is a large gain.",
     ["Perplexity fell from 3.5 to 2.75 points.", "That is a large gain."]),
    ("Upgrade to v1.2.3 of the trainer. Older ones leak memory.",
     ["Upgrade to v1.2.3 of the trainer.", "Older ones leak memory."]),
    ("Read https://docs.example.org/v2.1/guide.html first. Then run the setup.",
     ["Read https://docs.example.org/v2.1/guide.html first.", "Then run the setup."]),
    # ellipses: an ellipsis before a capital ends a sentence, one inside a sentence does not
    ("Loading takes a while... Then the prompt appears. The model is ... quite slow.",
     ["Loading takes a while...", "Then the prompt appears.", "The model is ... quite slow."]),
    # closing quotes stay with their sentence; '?' and '!' end sentences
    ('The log said "ready." Then it stopped. Is it done? Yes!',
     ['The log said "ready."', "Then it stopped.", "Is it done?", "Yes!"]),
    # the gap mark between quoted sentences that were not adjacent is a boundary, not a sentence
    ("Experts are small networks. ... The router picks two of them.",
     ["Experts are small networks.", "The router picks two of them."]),
])
def test_sentence_boundaries(text, expected):
    assert sentences(text) == expected


def test_list_items_and_markdown_bullets_are_sentences_of_their_own():
    text = ("Steps to follow:\n1. Load the shards. Check their hashes.\n2) Start the trainer.\n"
            "- A dash item. It has two sentences.\n* A star item\n+ A plus item\n• A dot item")
    assert sentences(text) == ["Steps to follow:", "Load the shards.", "Check their hashes.", "Start the trainer.",
                               "A dash item.", "It has two sentences.", "A star item", "A plus item", "A dot item"]
    assert [item for _, item in paragraphs(text)] == [False, True, True, True, True, True, True]


def test_a_list_number_is_not_a_sentence():
    assert split_paragraph("1. Load the shards.") == ["1. Load the shards."]
    assert split_paragraph("The answer is 42. Next, train.") == ["The answer is 42.", "Next, train."]


def test_ingest_cuts_chunks_where_query_splits_sentences():
    """ingest/chunk.py's pieces are the query's sentences, list marks kept: a chunk is never cut
    at "e.g." (the cut that gave real quotes such as "8), where each expert is a network.")."""
    text = ("Sparse layers route tokens to experts (e.g. 8), where each expert is a network. It is small.\n"
            "- First item. More on it.\n2. Second item")
    assert split_sentences(text) == [
        "Sparse layers route tokens to experts (e.g. 8), where each expert is a network.", "It is small.",
        "- First item.", "More on it.", "2. Second item"]
    assert [s.lstrip("-2. ") for s in split_sentences(text)] == sentences(text)


# -- answer-first (kb/quotes.py): only the order of the picked quotes changes -----------------------
def _quotes(*texts: str):
    from kb.passages import SourceSentence

    return [SourceSentence(t, 0) for t in texts]


@pytest.mark.parametrize("question, terms, texts, first", [
    ("What is a router network?", ["router network"],
     ["Router networks are hard to train.", "A router network is a small layer that scores experts.",
      "A router is cheap."], 1),
    ("What is a token in a language model?", ["token in a language model"],
     ["A tokenizer is the part that splits text.", "A token is a small piece of text."], 1),
    ("What is GRPO?", ["GRPO"],
     ["GRPO is usually run after tuning.", "Group relative policy optimization (GRPO) is a method that ranks samples."],
     1),
    ("What is the difference between a sparse layer and a dense layer?", ["sparse layer", "dense layer"],
     ["A sparse layer is new.", "A sparse layer runs a few experts, whereas a dense layer runs all of them."], 1),
    ("Why is the cache flushed at night?", [],
     ["The cache holds pages.", "The cache is flushed at night because traffic is low then."], 1),
    ("Should I pin the version?", [], ["Pin the version for release builds.", "Do not pin the version for tests."],
     0),  # a tie: ranking kept
    ("What is a router network?", ["router network"], ["Nothing here defines it.", "Nor here."], 0),
])
def test_the_quote_that_fits_the_question_opens_the_answer(question, terms, texts, first):
    from kb.quotes import answer_first

    quotes = _quotes(*texts)
    got = answer_first(question, terms, quotes)
    assert got[0].text == texts[first]
    assert sorted(q.text for q in got) == sorted(texts)  # the same quotes, reordered
    assert [q.text for q in got[1:]] == [t for i, t in enumerate(texts) if i != first]
