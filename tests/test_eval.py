"""The answer-quality eval: sets, scoring functions, gates, gaps, and one real end-to-end run.

Scoring functions are pure, so they are tested on hand-made Answers (those are
inputs, not fakes of the world). Support checks use the real bundled MiniLM.
One end-to-end run goes through `kb eval` with the real engine and LLM; it asks
four questions (three generate, one is refused without generating) plus one more.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cases import ROOT, EvalSetError, load_set, parse_set, resolve_set
from eval.gate import Thresholds, check_run, load_baseline, load_thresholds
from eval.metrics import (
    CORRECT,
    INCORRECT,
    NOT_ATTEMPTED,
    QuoteSupport,
    aggregate,
    citation_scores,
    cited_sentences,
    fact_recall,
    failing_questions,
    first_hit_rank,
    flipped_questions,
    forbidden_claims,
    grade,
    percentile,
    retrieval_scores,
    score_answer,
)
from kb.types import Answer, Chunk, Citation, Hit

SETS = {name: ROOT / "eval" / "sets" / f"{name}.yaml"
        for name in ("sample", "shared", "realdocs", "followups", "realdocs-holdout")}


# -- helpers: hand-made answers ----------------------------------------------------------
def hit(source: str, text: str, cid: str = "") -> Hit:
    return Hit(chunk=Chunk(id=cid or source, text=text, source=source, title="T", section="S", position=0),
               score=1.0, dense=0.8)


def cite(n: int, source: str, quote: str, cid: str = "") -> Citation:
    return Citation(id=n, source=source, title="T", section="S", quote=quote, score=1.0, chunk_id=cid or source)


def answer(text: str, citations=(), hits=(), refused=False, **timings) -> Answer:
    return Answer(question="q", answer=text, refused=refused, citations=list(citations), model="m",
                  timings=timings, hits=list(hits), mode="refused" if refused else "generated")


def case(**kw):
    from eval.cases import Case

    defaults = {"id": "q1", "question": "What is MoE?", "kind": "definition", "facts": (("experts",), ("subset",)),
                "forbidden": (r"activates? all (the )?parameters",), "sources": ("glossary/moe.md",), "refuse": False}
    defaults.update(kw)
    return Case(**defaults)


MOE = ("MoE models route each token to a few experts. Only a subset of the parameters is active for a token.\n\n"
       "Dense models use every parameter for every token.")


# -- retrieval ------------------------------------------------------------------------------
def test_retrieval_rank_is_first_passage_from_an_expected_page():
    sources = ["/c/glossary/dense.md", "/c/guides/x.md", "/c/glossary/moe.md", "/c/glossary/moe.md"]
    assert first_hit_rank(sources, ["glossary/moe.md"]) == 3
    assert first_hit_rank(sources, ["moe.md", "x.md"]) == 2
    assert retrieval_scores(sources, ["glossary/moe.md"]) == {"rank": 3, "hit_at_1": 0.0, "hit_at_3": 1.0,
                                                              "rr": pytest.approx(1 / 3)}
    assert retrieval_scores(sources, ["glossary/rag.md"]) == {"rank": None, "hit_at_1": 0.0, "hit_at_3": 0.0,
                                                              "rr": 0.0}
    assert retrieval_scores(sources[:1], ["dense.md"])["hit_at_1"] == 1.0
    # a suffix, not a substring: 'oe.md' would be a different page name in practice, 'moe' alone is no suffix
    assert first_hit_rank(["/c/glossary/moe.md.bak"], ["moe.md"]) is None


# -- key facts and forbidden claims -------------------------------------------------------------
def test_fact_recall_accepts_any_alternative_case_insensitively():
    text = "An \u201cMoE\u201d model sends each token to a few EXPERTS [1]. Only a sub-set is active [2]."
    recall, missing = fact_recall(text, [["experts"], ["subset", "sub-set"], ["router", "gating network"]])
    assert recall == pytest.approx(2 / 3)
    assert missing == [["router", "gating network"]]
    assert fact_recall("", [["a"]]) == (0.0, [["a"]])
    # citation marks and curly quotes do not break a phrase
    assert fact_recall("next [1] token \u2019s", [["next token 's"]])[0] == 1.0


def test_forbidden_claims_are_regexes_matched_case_insensitively():
    pats = [r"MoE (models )?(activate|use)s? all (of its |the )?parameters", r"base models? (are|is) lower quality"]
    assert forbidden_claims("MoE models activate all the parameters [1].", pats) == [pats[0]]
    assert forbidden_claims("MoE models activate only a subset of parameters.", pats) == []
    assert forbidden_claims("Base models are LOWER quality.", pats) == [pats[1]]


# -- citations -------------------------------------------------------------------------------------
def test_cited_sentences_reads_both_answer_shapes():
    generated = "MoE routes tokens to experts [1]. Only a subset is active [1][2]. Dense models differ."
    assert [(s.text, s.ids) for s in cited_sentences(generated)] == [
        ("MoE routes tokens to experts", [1]), ("Only a subset is active", [1, 2]), ("Dense models differ.", [])]
    quoted = "\u201cMoE models route each token to a few experts.\u201d [1] \u201cDense models use all.\u201d [2]"
    assert [(s.text, s.ids) for s in cited_sentences(quoted)] == [
        ("MoE models route each token to a few experts.", [1]), ("Dense models use all.", [2])]
    mixed = "A kept model sentence [1]. \u201cA quote that fills a gap.\u201d [2]"
    assert [(s.text, s.ids) for s in cited_sentences(mixed)] == [
        ("A kept model sentence", [1]), ("A quote that fills a gap.", [2])]
    quotation = ("\u201cLabel. A sentence after it.\u201d [1] "
                 "\u201cTasks include:\n- Chat: talk\n- RAG: retrieve\u201d [2]")
    assert [(s.text, s.ids) for s in cited_sentences(quotation)] == [  # a mark after a quote cites all of it
        ("Label.", [1]), ("A sentence after it.", [1]), ("Tasks include:", [2]), ("Chat: talk", [2]),
        ("RAG: retrieve", [2])]
    two_then_mark = "First claim here. Second claim here [3]."
    assert [(s.text, s.ids) for s in cited_sentences(two_then_mark)] == [
        ("First claim here.", []), ("Second claim here", [3])]
    assert cited_sentences("") == []


def test_citation_scores_validity_precision_recall():
    hits = [hit("/c/glossary/moe.md", MOE), hit("/c/glossary/dense.md", "Dense models use every parameter.")]
    cits = [cite(1, "/c/glossary/moe.md", "Only a subset of the parameters is active for a token."),
            cite(2, "/c/glossary/dense.md", "Dense models use every parameter."),
            cite(3, "/c/glossary/moe.md", "A sentence the passage never had.")]
    text = "Only a subset of parameters is active [1]. Dense models use every parameter [2]. Made up [3]. Uncited."

    def support(sentence, citation):  # stands in for the MiniLM check: quote supports what it was written for
        return 0.9 if citation.id in (1, 2) else 0.1

    s = citation_scores(answer(text, cits, hits), ["glossary/moe.md"], support, threshold=0.6)
    # [1] valid; [2] is a real quote but not from an expected page; [3] quote is not in its passage
    assert [c["valid"] for c in s["citations"]] == [True, False, False]
    assert s["citations"][2]["quote_in_passage"] is False
    assert s["citation_validity"] == pytest.approx(1 / 3)
    # pairs: (s1,[1]) precise; (s2,[2]) supports but wrong page; (s3,[3]) unsupported
    assert s["citation_precision"] == pytest.approx(1 / 3)
    # sentences with a supporting citation: s1, s2 of 4
    assert s["citation_recall"] == pytest.approx(2 / 4)
    assert [x["supported"] for x in s["sentences"]] == [True, True, False, False]


def test_citation_to_a_missing_number_counts_against_precision_and_refusals_have_no_citation_scores():
    hits = [hit("/c/glossary/moe.md", MOE)]
    a = answer("Claim [7].", [cite(1, "/c/glossary/moe.md", "Dense models use every parameter for every token.")],
               hits)
    s = citation_scores(a, ["moe.md"], lambda sent, c: 1.0, 0.6)
    assert s["citation_precision"] == 0.0 and s["citation_recall"] == 0.0 and s["citation_validity"] == 1.0
    r = citation_scores(answer("The knowledge base does not cover this.", refused=True), ["moe.md"],
                        lambda sent, c: 1.0, 0.6)
    assert r["citation_validity"] is r["citation_precision"] is r["citation_recall"] is None


def test_quote_support_uses_the_bundled_minilm_and_catches_contradictions(embedder):
    support = QuoteSupport(embedder)
    c = cite(1, "/c/glossary/moe.md", "During inference, only a subset of the experts is activated.")
    assert support("During inference, only a subset of the experts is activated.", c) >= 0.9
    assert support("During inference, only a subset of experts is activated.", c) >= 0.6
    # a reordering is no shortening of the quote (kb/extractive.py, issue 18): the answer drops it, the eval agrees
    assert support("Only a subset of experts is activated during inference.", c) < 0.6
    assert support("During inference, every expert is activated.", c) < 0.6
    assert support("During inference, the experts are not activated.", c) < 0.6
    assert support("MoE was invented in 2023 by OpenAI.", c) < 0.6
    short = cite(2, "/c/x.md", "Use LoRA.")
    assert support("Use LoRA.", short) == 1.0 and support("Use QLoRA.", short) == 0.0
    listed = cite(3, "/c/x.md", "Tasks include:\n- Chat: talk to a model\n- RAG: retrieve and generate text")
    assert support("RAG: retrieve and generate text", listed) == 1.0  # word for word from the quote


# -- grades and per-question records ------------------------------------------------------------------
def test_three_way_grade_does_not_count_a_refusal_as_wrong():
    assert grade(False, True, 0.0, False) == NOT_ATTEMPTED
    assert grade(False, False, 1.0, False) == CORRECT
    assert grade(False, False, 0.5, False) == INCORRECT
    assert grade(False, False, 0.5, False, min_recall=0.5) == CORRECT
    assert grade(False, False, 1.0, True) == INCORRECT  # a forbidden claim spoils a complete answer
    assert grade(True, True, None, False) == CORRECT
    assert grade(True, False, None, False) == INCORRECT


def test_score_answer_records():
    hits = [hit("/c/glossary/dense.md", "Dense."), hit("/c/glossary/moe.md", MOE)]
    good = answer("MoE sends tokens to experts; only a subset is active [1].",
                  [cite(1, "/c/glossary/moe.md", "Only a subset of the parameters is active for a token.")], hits,
                  total_s=2.0, generate_s=1.5, tokens=30)
    rec = score_answer(case(), good, lambda s, c: 0.8)
    assert rec["rank"] == 2 and rec["rr"] == 0.5 and rec["hit_at_3"] == 1.0
    assert rec["fact_recall"] == 1.0 and rec["forbidden"] == 0.0 and rec["grade"] == CORRECT
    assert rec["citation_validity"] == 1.0 and rec["tokens"] == 30

    bad = answer("MoE activates all the parameters [1].", good.citations, hits)
    rec = score_answer(case(), bad, lambda s, c: 0.8)
    assert rec["forbidden"] == 1.0 and rec["missing_facts"] == [["experts"], ["subset"]] and rec["grade"] == INCORRECT

    refused = answer("The knowledge base does not cover this.", hits=hits, refused=True, total_s=0.1)
    rec = score_answer(case(), refused, lambda s, c: 0.8)
    assert rec["grade"] == NOT_ATTEMPTED and rec["fact_recall"] == 0.0 and rec["forbidden"] is None
    assert rec["rank"] == 2  # retrieval is still scored on what was found

    oos = case(id="oos", kind="out_of_scope", facts=(), forbidden=(), sources=(), refuse=True)
    assert score_answer(oos, refused, lambda s, c: 0.8)["grade"] == CORRECT
    rec = score_answer(oos, good, lambda s, c: 0.8)
    assert rec["grade"] == INCORRECT and rec["hit_at_3"] is None and rec["citation_validity"] is None

    # a search call's ranking can stand in for the answer's hits
    assert score_answer(case(), good, lambda s, c: 0.8, hit_sources=["/c/glossary/moe.md"])["rank"] == 1


def test_the_share_of_answers_that_keep_a_model_sentence_is_reported_beside_the_checkers_precision():
    from eval.report import metric_rows

    hits = [hit("/c/glossary/moe.md", MOE)]
    quoted = answer("\u201cOnly a subset is active.\u201d [1]", hits=hits)
    quoted.mode = "quoted"
    refused = answer("The knowledge base does not cover this.", hits=hits, refused=True)
    recs = [score_answer(case(), a, lambda s, c: 0.8)
            for a in (answer("MoE sends tokens to experts [1].", hits=hits), quoted, refused)]
    assert [r["model_kept"] for r in recs] == [1.0, 0.0, None]  # a refusal has no answer to keep a sentence in
    metrics = aggregate(recs)
    assert metrics["model_share"] == 0.5
    metrics["checker_precision"] = 0.97  # set by the runner from eval/claims.py's held-out half
    _, rows = metric_rows({"runs": [{"model": "m", "metrics": metrics}]}, load_thresholds(None))
    labels = [r[0] for r in rows]
    at = labels.index("answers with a kept model sentence")
    assert labels[at + 1] == "checker precision (claims, held-out)"
    assert rows[at + 1][1].startswith("0.970") and "low" in rows[at + 1][1] and rows[at + 1][2] == ">= 0.980"


def rec(grade_, refused=False, expect=False, **kw):
    base = {"grade": grade_, "refused": refused, "expect_refusal": expect, "hit_at_1": None, "hit_at_3": None,
            "rr": None, "fact_recall": None, "forbidden": None, "citation_validity": None,
            "citation_precision": None, "citation_recall": None, "total_s": None, "generate_s": None, "tokens": None}
    base.update(kw)
    return base


def test_aggregate_metrics():
    records = [
        rec(CORRECT, hit_at_1=1.0, hit_at_3=1.0, rr=1.0, fact_recall=1.0, forbidden=0.0, citation_validity=1.0,
            total_s=1.0, generate_s=2.0, tokens=40),
        rec(INCORRECT, hit_at_1=0.0, hit_at_3=1.0, rr=0.5, fact_recall=0.5, forbidden=1.0, citation_validity=0.5,
            total_s=3.0, generate_s=2.0, tokens=20),
        rec(NOT_ATTEMPTED, refused=True, hit_at_1=0.0, hit_at_3=0.0, rr=0.0, fact_recall=0.0, total_s=0.2),
        rec(CORRECT, refused=True, expect=True, total_s=0.2),
        rec(INCORRECT, refused=False, expect=True, total_s=5.0, generate_s=1.0, tokens=10),
    ]
    m = aggregate(records)
    assert m["n"] == 5
    assert m["hit_at_3"] == pytest.approx(2 / 3) and m["mrr"] == pytest.approx(0.5)
    assert m["fact_recall"] == pytest.approx(0.5)
    assert m["forbidden_rate"] == pytest.approx(0.5)  # over answers to items that define forbidden claims
    assert m["citation_validity"] == pytest.approx(0.75) and m["citation_precision"] is None
    assert m["refusal_precision"] == pytest.approx(0.5)  # 2 refusals, 1 expected
    assert m["refusal_recall"] == pytest.approx(0.5)  # 2 expected, 1 refused
    assert (m["correct"], m["incorrect"], m["not_attempted"]) == (0.4, 0.4, 0.2)
    assert m["correct_given_attempted"] == pytest.approx(0.5)
    assert m["f_score"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert m["latency_p50"] == pytest.approx(1.0) and m["latency_p95"] == pytest.approx(4.6)
    assert m["tokens_per_s"] == pytest.approx(70 / 5)
    assert aggregate([rec(CORRECT)])["refusal_precision"] is None


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None], 95) == pytest.approx(9.55)


def test_failing_and_flipped_questions():
    now = {"a": rec(CORRECT, hit_at_3=1.0, fact_recall=1.0), "b": rec(INCORRECT, hit_at_3=0.0, fact_recall=0.5),
           "c": rec(CORRECT, refused=False, expect=True)}
    before = {"a": rec(CORRECT, hit_at_3=1.0, fact_recall=0.5), "b": rec(CORRECT, hit_at_3=1.0, fact_recall=1.0),
              "c": rec(CORRECT, refused=True, expect=True)}
    assert failing_questions(list(now.values()), list(now), "hit_at_3") == ["b"]
    assert failing_questions(list(now.values()), list(now), "refusal_recall") == ["c"]
    assert failing_questions(list(now.values()), list(now), "correct") == ["b"]
    assert flipped_questions(now, before, "fact_recall") == ["b"]
    assert flipped_questions(now, before, "refusal_recall") == ["c"]
    assert flipped_questions(now, before, "correct") == ["b"]


# -- gates ------------------------------------------------------------------------------------------------
def test_gate_names_the_metric_and_the_questions():
    th = Thresholds(gate_min={"hit_at_3": 0.8}, gate_max={"forbidden_rate": 0.0}, margin=0.05)
    records = {"a": rec(CORRECT, hit_at_3=1.0, forbidden=0.0), "b": rec(INCORRECT, hit_at_3=0.0, forbidden=1.0)}
    failures = check_run("m", records, aggregate(list(records.values())), th)
    assert {f.metric for f in failures} == {"hit_at_3", "forbidden_rate"}
    assert all(f.questions == ["b"] for f in failures)
    msg = failures[0].message()
    assert "hit_at_3" in msg and "below threshold 0.800" in msg and "questions: b" in msg


def test_gate_against_a_baseline_compares_the_same_questions():
    th = Thresholds(gate_min={"fact_recall": 0.0}, margin=0.05)
    now = {f"q{i}": rec(CORRECT, fact_recall=1.0) for i in range(20)}
    now["q0"] = rec(INCORRECT, fact_recall=0.0)
    base = {qid: rec(CORRECT, fact_recall=1.0) for qid in now}
    base["extra"] = rec(INCORRECT, fact_recall=0.0)  # not in today's run: ignored
    # one flip of 20 = 0.05 drop: within the margin
    assert check_run("m", now, aggregate(list(now.values())), th, base) == []
    now["q1"] = rec(INCORRECT, fact_recall=0.0)
    (failure,) = check_run("m", now, aggregate(list(now.values())), th, base)
    assert failure.metric == "fact_recall" and failure.questions == ["q0", "q1"]
    assert "worse than baseline 1.000" in failure.message()


def test_thresholds_file_and_per_set_overrides(tmp_path):
    th = load_thresholds()
    assert "hit_at_3" in th.gated and "forbidden_rate" in th.gate_max
    assert "citation_precision" not in th.gated  # similarity-based: advisory
    p = tmp_path / "t.toml"
    p.write_text("margin = 0.1\n[gate.min]\nmrr = 0.5\n[sets.shared.gate.min]\nmrr = 0.3\n")
    assert load_thresholds(p, "sample").gate_min == {"mrr": 0.5}
    assert load_thresholds(p, "shared").gate_min == {"mrr": 0.3} and load_thresholds(p).margin == 0.1
    p.write_text("[gate.min]\nhit_at_9 = 0.5\n")
    with pytest.raises(Exception, match="unknown metric 'hit_at_9'"):
        load_thresholds(p)


# -- eval sets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sample", "shared", "realdocs", "realdocs-holdout"])
def test_real_sets_load_and_meet_the_issue(name):
    s = load_set(SETS[name])
    assert s.name == name and len(s.cases) >= 40
    assert sum(c.refuse for c in s.cases) >= 8
    assert {c.kind for c in s.cases} == {"definition", "comparison", "howto", "paraphrase", "out_of_scope"}
    assert resolve_set(name) == SETS[name]


@pytest.mark.parametrize("name", ["sample", "shared", "realdocs", "followups", "realdocs-holdout"])
def test_every_fact_is_in_an_expected_source_page(name):
    """Guards against eval-set rot: a page edit that drops a fact, or a renamed page, fails here."""
    from eval.metrics import normalise

    s = load_set(SETS[name])
    if s.corpus_path is None:
        pytest.skip(f"corpus {s.corpus} is absent")
    pages = {str(p): normalise(p.read_text(encoding="utf-8", errors="replace"))
             for p in s.corpus_path.rglob("*") if p.is_file()}
    problems = []
    for c in s.cases:
        for suffix in c.sources:
            if not any(p.endswith(suffix) for p in pages):
                problems.append(f"{c.id}: no page ends with {suffix}")
        texts = [t for p, t in pages.items() if any(p.endswith(x) for x in c.sources)]
        for fact in c.facts:
            if not any(normalise(alt) in t for alt in fact for t in texts):
                problems.append(f"{c.id}: fact {fact} is in none of {list(c.sources)}")
        for pattern in c.forbidden:  # the corpus itself must never make a claim we forbid
            if any(re.search(pattern, t, re.I) for t in pages.values()):
                problems.append(f"{c.id}: forbidden {pattern!r} matches the corpus")
    assert not problems, "\n".join(problems)


def test_realdocs_set_spreads_over_the_real_pages():
    """Issue 13: >= 60 answerable and >= 15 out-of-scope questions, answered from >= 35 pages in all four formats,
    the multi-term glossaries among them. Loads without the pages; the page checks skip when they are absent."""
    s = load_set(SETS["realdocs"])
    answerable = [c for c in s.cases if not c.refuse]
    assert len(answerable) >= 60 and sum(c.refuse for c in s.cases) >= 15
    assert s.corpus == "../shared/realdocs"
    sources = {x for c in answerable for x in c.sources}
    assert len(sources) >= 35
    assert {x.rsplit(".", 1)[1] for x in sources} >= {"md", "mdx", "rst", "qmd"}
    assert {"inferencesim__glossary.md", "openvino__glossary.rst"} <= sources
    assert all(1 <= len(c.facts) <= 3 for c in answerable)
    if s.corpus_path is None:
        pytest.skip(f"corpus {s.corpus} is absent")
    names = {p.name for p in s.corpus_path.iterdir()}
    assert sources <= names, sorted(sources - names)


def test_realdocs_holdout_is_a_separate_set_over_the_same_pages():
    """Task h13w: a held-out set over the realdocs pages, >= 45 answerable and >= 12 out-of-scope questions from
    >= 30 pages of every page family, sharing no question and no fact wording with realdocs.yaml (which is tuned
    on), and gated by realdocs' floors. Loads without the pages; the page checks skip when they are absent."""
    from eval.metrics import normalise

    held, tuned = load_set(SETS["realdocs-holdout"]), load_set(SETS["realdocs"])
    answerable = [c for c in held.cases if not c.refuse]
    assert len(answerable) >= 45 and sum(c.refuse for c in held.cases) >= 12
    assert held.corpus == tuned.corpus == "../shared/realdocs"
    assert resolve_set("realdocs-holdout") == SETS["realdocs-holdout"]
    sources = {x for c in answerable for x in c.sources}
    assert len(sources) >= 30
    families = {"axolotl", "bentoml", "deepseekv3", "inferencesim", "mistral", "ollama", "openinstruct",
                "openvino", "torchao", "torchtune"}
    assert {x.split("__")[0].split("-")[0] for x in sources} == families
    assert all(1 <= len(c.facts) <= 3 for c in answerable)
    assert not {normalise(c.question) for c in held.cases} & {normalise(c.question) for c in tuned.cases}
    tuned_facts = {normalise(a) for c in tuned.cases for fact in c.facts for a in fact}
    shared = sorted({a for c in answerable for fact in c.facts for a in fact if normalise(a) in tuned_facts})
    assert not shared, f"fact wordings also in realdocs.yaml: {shared}"
    th, th_tuned = load_thresholds(None, "realdocs-holdout"), load_thresholds(None, "realdocs")
    # its own floors, under its own runs (eval/thresholds.toml), gating what realdocs gates and never above it
    refusal = {"refusal_recall", "refusal_precision"}
    assert set(th.gate_min) - refusal == set(th_tuned.gate_min) - refusal
    assert all(th.gate_min[k] <= th_tuned.gate_min.get(k, th.gate_min[k]) for k in th.gate_min)
    assert (th.gate_max, th.advisory_min) == (th_tuned.gate_max, th_tuned.advisory_min)
    if held.corpus_path is None:
        pytest.skip(f"corpus {held.corpus} is absent")
    names = {p.name for p in held.corpus_path.iterdir()}
    assert sources <= names, sorted(sources - names)


GOOD_ITEM = {"id": "x", "question": "What?", "kind": "definition", "facts": [["a"]], "sources": ["p.md"]}


@pytest.mark.parametrize("change, message", [
    ({"facts": []}, "item 'x': needs 'facts'"),
    ({"sources": []}, "item 'x': needs 'sources'"),
    ({"kind": "trivia"}, "item 'x': 'kind' must be one of"),
    ({"facts": [["a"], []]}, "item 'x': fact 2 must be a non-empty list"),
    ({"forbidden": ["(unclosed"]}, "item 'x': forbidden pattern '(unclosed' is not a valid regex"),
    ({"refuse": True}, "item 'x': a 'refuse: true' item cannot also have facts or sources"),
    ({"question": " "}, "item 'x': 'question' must be a non-empty string"),
    ({"answer": "y"}, "item 'x': unknown keys ['answer']"),
    ({"id": ""}, "item 1: 'id' must be a non-empty string"),
])
def test_bad_items_name_the_file_and_the_item(change, message):
    item = {**GOOD_ITEM, **change}
    with pytest.raises(EvalSetError) as exc:
        parse_set({"name": "t", "corpus": "c", "items": [item]}, Path("sets/t.yaml"))
    assert str(exc.value).startswith("sets/t.yaml: ") and message in str(exc.value)


def test_bad_set_files(tmp_path):
    with pytest.raises(EvalSetError, match="duplicate id"):
        parse_set({"name": "t", "corpus": "c", "items": [GOOD_ITEM, GOOD_ITEM]}, Path("t.yaml"))
    with pytest.raises(EvalSetError, match="missing top-level key 'corpus'"):
        parse_set({"name": "t", "items": [GOOD_ITEM]}, Path("t.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(EvalSetError, match=r"bad.yaml: not valid YAML"):
        load_set(bad)
    with pytest.raises(EvalSetError, match="give a YAML file or one of: .*sample"):
        resolve_set("nope")
    missing = parse_set({"name": "t", "corpus": "no/such/dir", "items": [GOOD_ITEM]}, tmp_path / "t.yaml")
    with pytest.raises(EvalSetError, match="corpus 'no/such/dir' not found"):
        missing.require_corpus()


# -- gaps -----------------------------------------------------------------------------------------------------
def test_kb_gaps_groups_near_identical_questions(settings):
    from eval.gaps import group_gaps, log_path, read_log
    from kb.cli import cli
    from kb.gaps import log_refusal

    for q, via in [("What is the office wifi password?", "cli"), ("what's the office wifi password", "slack"),
                   ("How do I bake sourdough?", "cli"), ("Office WiFi password?", "slack"),
                   ("How do I bake sourdough bread?", "eval")]:
        log_refusal(settings, q, ["Base model", "RAG"], via=via)
    log_path(settings).open("a").write('{"question": "half a line\n')  # a crash mid-write is skipped
    gaps = group_gaps(read_log(log_path(settings)))
    assert [(g.count, g.question) for g in gaps] == [(3, "Office WiFi password?"),
                                                    (2, "How do I bake sourdough bread?")]
    assert gaps[0].via == {"cli": 1, "slack": 2} and gaps[0].closest_topics == ["Base model", "RAG"]
    assert gaps[0].phrasings == ["what's the office wifi password", "What is the office wifi password?"]

    runner = CliRunner()
    out = runner.invoke(cli, ["--store", str(settings.store), "gaps", "--json", "--via", "slack"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["refusals"] == 2 and [g["count"] for g in data["gaps"]] == [2]
    text = runner.invoke(cli, ["--store", str(settings.store), "gaps", "--limit", "1"])
    assert "Office WiFi password?" in text.output and "sourdough" not in text.output


def test_kb_gaps_with_no_log(settings):
    from kb.cli import cli

    out = CliRunner().invoke(cli, ["--store", str(settings.store), "gaps"])
    assert out.exit_code == 0 and "No refused questions" in out.output


# -- trend ---------------------------------------------------------------------------------------------------------
def test_trend_plot_from_history(tmp_path):
    from eval.trend import append_history, draw_trend, read_history

    hist = tmp_path / "h.jsonl"
    for i, partial in enumerate([False, True, False]):
        append_history(hist, {"date": f"2026-01-0{i + 1}T03:17:00", "commit": "abc", "set": "s", "partial": partial,
                              "models": {"a": {"hit_at_3": 0.8 + i / 20, "latency_p50": 3.0 + i},
                                         "b": {"hit_at_3": 0.7}}})
    hist.open("a").write("not json\n")
    lines = read_history(hist)
    assert len(lines) == 3
    draw_trend(lines, tmp_path / "t.png", load_thresholds())
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- end to end: the real engine and LLM ------------------------------------------------------------------------------
@pytest.mark.llm
def test_kb_eval_end_to_end(tmp_path, settings):
    """`kb eval` on four sample questions: outputs, history, trend, gaps, and a baseline it cannot meet."""
    from kb.cli import cli

    s = load_set(SETS["sample"])
    answerable = [c.id for c in s.cases if not c.refuse][:3]
    oos = next(c.id for c in s.cases if c.refuse)
    out = tmp_path / "out"
    no_gates = tmp_path / "no-gates.toml"
    no_gates.write_text("margin = 0.05\n")
    runner = CliRunner()
    base_args = ["--store", str(settings.store), "eval", "--set", "sample", "--out", str(out)]

    first = runner.invoke(cli, [*base_args, "--thresholds", str(no_gates), *sum((["--only", q] for q in
                                                                                  [*answerable, oos]), [])])
    assert first.exit_code == 0, first.output
    for name in ("results.json", "report.md", "report.html", "history.jsonl", "trend.png"):
        assert (out / name).is_file(), name
    assert (out / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert results["n_questions"] == 4 and results["partial"] and results["commit"]
    (run,) = results["runs"]
    assert run["model"] == "bundled:SmolLM2-135M-Instruct"
    assert [q["id"] for q in run["questions"]] == [q for q in [c.id for c in s.cases] if q in {*answerable, oos}]
    for q in run["questions"]:
        assert q["answer"]["answer"] and {"grade", "hit_at_3", "fact_recall", "citation_validity"} <= set(q["scores"])
    assert run["metrics"]["n"] == 4 and run["metrics"]["latency_p50"] > 0
    assert 0 <= run["metrics"]["checker_precision"] <= 1  # the claims set's held-out half, beside model_share
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    failing = [q["id"] for q in run["questions"] if q["scores"]["grade"] != CORRECT]
    if failing and len(failing) < 4:  # failing questions come first in the report
        assert html.index(f"<b>{failing[0]}</b>") < html.index("<details class='q good'>")
    # the eval logs its unexpected refusals (answerable questions it refused) for `kb gaps`
    from eval.gaps import read_log

    logged = [e["question"] for e in read_log(settings.data_dir / "gaps.jsonl") if e["via"] == "eval"]
    assert logged == [q["question"] for q in run["questions"] if q["scores"]["refused"] and not q["refuse"]]

    # a baseline nobody can reach: the run fails, naming the metric and the question that dropped
    baseline = json.loads((out / "results.json").read_text())
    for q in baseline["runs"][0]["questions"]:
        q["scores"].update(hit_at_3=2.0, rr=2.0, fact_recall=2.0, citation_validity=2.0)
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    assert set(load_baseline(tmp_path / "baseline.json")) == {run["model"]}
    second = runner.invoke(cli, [*base_args, "--only", answerable[0], "--baseline", str(tmp_path / "baseline.json"),
                                 "--json"])
    assert second.exit_code == 1
    assert "fact_recall (key-fact recall)" in second.output and "worse than baseline 2.000" in second.output
    assert f"questions: {answerable[0]}" in second.output
    assert len((out / "history.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "results.json").read_text())["passed"] is False


def test_kb_eval_answers_follow_ups_as_follow_ups(tmp_path, settings):
    """`kb eval --set followups`: each item is asked after its earlier question, and scored on the answer."""
    from kb.cli import cli

    out = tmp_path / "out"
    no_gates = tmp_path / "no-gates.toml"
    no_gates.write_text("margin = 0.05\n")
    result = CliRunner().invoke(cli, ["--store", str(settings.store), "eval", "--set", "followups", "--out", str(out),
                                      "--thresholds", str(no_gates), "--only", "fu-lora-then-qlora",
                                      "--only", "fu-oos-sourdough"])
    assert result.exit_code == 0, result.output
    questions = {q["id"]: q for q in json.loads((out / "results.json").read_text())["runs"][0]["questions"]}
    qlora, oos = questions["fu-lora-then-qlora"], questions["fu-oos-sourdough"]
    assert qlora["follow_up_of"] == ["What is LoRA?"] and qlora["answer"]["standalone_question"] == "What is QLoRA?"
    assert qlora["scores"]["hit_at_3"] == 1.0 and not qlora["scores"]["refused"]  # asked cold, "and QLoRA?" is vague
    assert oos["answer"]["standalone_question"] == "What is a sourdough starter?" and oos["scores"]["refused"]


def test_nightly_script_keeps_history_and_baseline_and_fails_on_a_gate(tmp_path):
    """scripts/nightly-eval with the real kb on a one-question set (a refusal: no generation)."""
    import os
    import subprocess
    import sys

    kb = Path(sys.executable).parent / "kb"
    if not kb.exists():
        pytest.skip("the kb entry point is not installed beside this Python")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("name: tiny\ncorpus: corpus\nitems:\n  - id: oos\n    question: What is the capital of Peru?\n"
                    "    kind: out_of_scope\n    refuse: true\n")
    absent = tmp_path / "absent.yaml"
    absent.write_text(tiny.read_text().replace("corpus: corpus", "corpus: no/such/corpus"))
    state = tmp_path / "state"
    env = {**os.environ, "KB": str(kb), "KB_EVAL_DIR": str(state), "KB_EVAL_SETS": f"{absent} {tiny}"}

    def nightly(gates: str) -> subprocess.CompletedProcess:
        (tmp_path / "gates.toml").write_text(gates)
        return subprocess.run([str(ROOT / "scripts" / "nightly-eval")], env={
            **env, "KB_EVAL_ARGS": f"--thresholds {tmp_path / 'gates.toml'}"}, capture_output=True, text=True,
            timeout=600)

    first = nightly("margin = 0.05\n")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "skipped absent (no corpus)" in first.stdout and "passed tiny" in first.stdout
    (day,) = [p for p in state.iterdir() if p.name[:2] == "20"]
    assert {"results.json", "report.md", "report.html", "trend.png"} <= {p.name for p in (day / "tiny").iterdir()}
    baseline = (state / "tiny" / "baseline.json").read_text()
    assert json.loads(baseline)["passed"] is True

    second = nightly("[gate.min]\nrefusal_recall = 1.5\n")
    assert second.returncode == 1
    assert "refusal_recall" in second.stderr and "FAILED tiny" in second.stdout
    assert (state / "tiny" / "baseline.json").read_text() == baseline  # a failing run never becomes the baseline
    assert len((state / "tiny" / "history.jsonl").read_text().splitlines()) == 2


def _question(qid: str, grade_: str, refuse: bool = False) -> dict:
    scores = rec(grade_, refused=refuse, expect=refuse, hit_at_3=None if refuse else 1.0,
                 fact_recall=None if refuse else (1.0 if grade_ == CORRECT else 0.5), rank=None if refuse else 1)
    scores.update(missing_facts=[] if grade_ == CORRECT or refuse else [["subset", "a few"]], forbidden_found=[],
                  sentences=[], citations=[])
    return {"id": qid, "question": f"question {qid}?", "kind": "definition", "refuse": refuse, "sources": ["p.md"],
            "answer": {"answer": f"answer <{qid}>", "citations": [{"id": 1, "source": "/c/p.md", "section": "S",
                                                                   "quote": "a quote"}], "timings": {}},
            "scores": scores}


def test_reports_put_failing_questions_first_and_models_side_by_side(tmp_path):
    from eval.report import write_html, write_markdown

    def run(model, grades):
        qs = [_question(f"q{i}", g) for i, g in enumerate(grades)] + [_question("oos", CORRECT, refuse=True)]
        return {"model": model, "metrics": aggregate([q["scores"] for q in qs]), "questions": qs, "failures": []}

    results = {"set": {"name": "s", "corpus": "/c", "items": 9}, "date": "2026-01-01T03:17:00", "commit": "abc" * 5,
               "dirty": False, "seconds": 1.0, "n_questions": 3, "partial": True, "models": ["small", "big"],
               "embed_model": "e", "baseline": None, "passed": False,
               "failures": [{"message": "[small] fact_recall below threshold; questions: q1"}],
               "runs": [run("small", [CORRECT, INCORRECT]), run("big", [CORRECT, CORRECT])]}
    th = load_thresholds()
    write_markdown(results, tmp_path / "r.md", th)
    md = (tmp_path / "r.md").read_text()
    assert "| metric | small | big | threshold | kind |" in md and "## Grades side by side" in md
    assert "| q1 | definition | incorrect | correct |" in md
    assert "missing facts: subset / a few" in md and "**FAILED**" in md
    # where the scores are lost, by the set's kinds of question: both answerable ones, the refused one counted
    assert "## By kind of question: small" in md and "| definition | 3 | 0.750 |" in md and "| 1 of 3 |" in md
    assert "| definition | 3 | 1.000 |" in md  # the big model's run
    write_html(results, tmp_path / "r.html", th, trend=None)
    html = (tmp_path / "r.html").read_text()
    assert html.index("<b>q1</b>") < html.index("q0")  # the failing question comes first
    assert "answer &lt;q1&gt;" in html and "<q1>" not in html  # answers are escaped
    assert "<h2>By kind of question: small</h2>" in html
    assert not re.search(r"""(src|href)=['"]?https?:""", html)  # self-contained


def test_kb_cli_does_not_import_eval():
    import subprocess
    import sys

    code = "import sys, kb.cli; sys.exit(any(m == 'eval' or m.startswith('eval.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
