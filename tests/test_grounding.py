"""Grounding: retrieval routing, the refusal floor, and the sentence checks that decide what kb prints.

These drive kb's real verification with the real embedder over the sample store;
the drafts are the kinds of output the 135M model really produces (paraphrase,
contradiction, invention, repetition, prompt echo, its own [n] marks).
"""

from __future__ import annotations

import re

import pytest

from kb.answer import compose
from kb.retrieve import question_terms
from kb.verify import Checker, contradiction, is_degenerate

MOE_Q = "What is a mixture of experts model?"


def draft_answer(engine, question: str, draft: str):
    hits = engine.search(question, engine.settings.top_k)
    checker = Checker(engine.embedder, hits)
    text, citations, checks, mode = compose(question, draft, hits, checker, question_terms(question),
                                            engine.settings.min_support)
    return hits, text, citations, checks, mode


@pytest.mark.parametrize("question,terms", [
    ("What is a base model?", ["base model"]),
    ("define RLHF", ["RLHF"]),
    ("what's the difference between an instruct and an MoE model?", ["instruct", "MoE model"]),
    ("base model vs instruct model", ["base model", "instruct model"]),
    ("How is a chat model different from an instruct model?", ["chat model", "instruct model"]),
    ("why not deploy a base model?", ["base model"]),
    ("how do I pick hardware for serving?", []),
])
def test_question_terms(question, terms):
    assert question_terms(question) == terms


def test_comparison_retrieves_each_term(sample_engine):
    hits = sample_engine.search("what's the difference between an instruct and an MoE model?", 4)
    top = [h.chunk.source for h in hits[:3]]
    assert any(s.endswith("instruct-model.md") for s in top), top
    assert any(s.endswith("mixture-of-experts.md") for s in top), top


def test_faithful_sentence_is_kept_and_cited(sample_engine):
    draft = "An MoE model sends each token to only a few experts, so only a fraction of its parameters is active."
    hits, text, citations, checks, mode = draft_answer(sample_engine, MOE_Q, draft)
    assert mode == "generated"
    assert checks[0].action == "kept" and checks[0].citation == 1
    assert citations[0].source.endswith("mixture-of-experts.md")
    passage = next(h.chunk.text for h in hits if h.chunk.id == citations[0].chunk_id)
    assert all(part in " ".join(passage.split()) for part in re.split(r"(?<=[.!?])\s+", citations[0].quote))


@pytest.mark.parametrize("draft,why", [
    ("An MoE model activates all of its parameters for every token.", "all"),
    ("Mixture of experts was invented in 2023 by OpenAI.", "names/numbers"),
    ("Linguistic Reinforcement Learning is the main type of MoE model used by Mixtral-9000.", "names/numbers"),
])
def test_unsupported_sentences_are_dropped(sample_engine, draft, why):
    _, text, citations, checks, mode = draft_answer(sample_engine, MOE_Q, draft)
    assert checks[0].action == "dropped" and why in checks[0].reason
    assert draft not in text
    assert mode == "quoted" and citations  # answered from quotes instead
    assert all(c.source.endswith("mixture-of-experts.md") for c in citations)


@pytest.mark.parametrize("draft", ["1.1.1.1.1.1.1.1.1.1.", "", "Passages: [1] Mixture of experts ... Question: what",
                                   "experts experts experts experts experts experts experts"])
def test_degenerate_drafts_fall_back_to_quotes(sample_engine, draft):
    _, text, citations, _, mode = draft_answer(sample_engine, MOE_Q, draft)
    assert mode == "quoted"
    assert text.startswith("\u201c") and citations
    assert sorted({int(n) for n in re.findall(r"\[(\d+)\]", text)}) == [c.id for c in citations]


def test_model_marks_are_replaced_by_computed_citations(sample_engine):
    draft = "A router scores the experts for each token [7]. The weather is sunny today [1]."
    _, text, citations, checks, _ = draft_answer(sample_engine, MOE_Q, draft)
    assert "[7]" not in text and "sunny" not in text
    assert checks[0].action == "kept" and checks[1].action == "dropped"
    assert [c.id for c in citations] == list(range(1, len(citations) + 1))


def test_contradiction_rules():
    assert contradiction("An MoE model uses every parameter for each token.",
                         "Only a fraction of the parameters is active for each token.")
    assert contradiction("A base model follows instructions.", "A base model does not follow instructions.")
    assert not contradiction("A base model completes text.", "A base model continues the text it is given.")
    assert is_degenerate("the the the the the the the the") and not is_degenerate("A base model completes text.")


@pytest.mark.parametrize("question", ["What is the capital of Peru?", "How do I bake sourdough bread at home?",
                                      "What is the office wifi password?", "Who won the 2018 World Cup?"])
def test_out_of_scope_falls_below_the_relevance_floor(sample_engine, question):
    hits = sample_engine.search(question, 4)
    assert max(h.dense for h in hits) < sample_engine.settings.min_relevance


@pytest.mark.parametrize("question", ["What is a closed model?", "What does RLHF or alignment add to a model?"])
def test_in_scope_seed_questions_clear_the_floor(shared_engine, question):
    hits = shared_engine.search(question, 4)
    assert max(h.dense for h in hits) >= shared_engine.settings.min_relevance
