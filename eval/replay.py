"""Replay an earlier eval run's drafts through today's answer pipeline (`kb eval --replay RESULTS.json`).

For every question of the run's set, retrieval and prompt building run for real
(the set's corpus ingested into a fresh store, the configured embedder); the LLM
is a stand-in that records the prompt messages it is given and returns the raw
draft that RESULTS.json recorded for that question. The output holds, per
question, the prompt messages, the answer and its scores, with nothing that
varies between runs or checkouts (no timings or ingest dates; sources relative to
the corpus folder, chunk ids as source#position), so two replays of the same
drafts can be compared byte for byte: a change to retrieval, prompts,
verification or citation shows up as a diff, with no model call.

Without RESULTS.json (`python -m eval.replay --set sample`), every draft is
empty: the prompts are still recorded and the answers are the quote-only ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from eval.cases import EvalError, load_set, resolve_set
from kb.settings import Settings


class ReplayLLM:
    """An LLM that returns a recorded draft and keeps the messages it was asked with."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.draft = ""
        self.messages: list[dict[str, str]] | None = None

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, int]:
        self.messages = [dict(m) for m in messages]
        return self.draft, len(self.draft.split())


def recorded_drafts(results: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(set name, model label, {question id: raw draft}) from a results.json of `kb eval` (first run)."""
    runs = results.get("runs") or []
    if not runs:
        raise EvalError("--replay: the results file has no runs")
    run = runs[0]
    drafts = {q["id"]: q["answer"].get("raw", "") for q in run["questions"]}
    return results["set"]["name"], run["model"], drafts


def replay(settings: Settings, set_name: str, drafts: dict[str, str] | None = None, label: str = "",
           store: Path | None = None) -> dict[str, Any]:
    """Answer every question of the set with the recorded drafts; return the comparable record."""
    from eval.gate import load_thresholds
    from eval.metrics import QuoteSupport, aggregate, score_answer
    from eval.runner import answer_record, eval_store
    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder
    from kb.engine import Engine
    from kb.followup import condense
    from kb.store import Store

    evalset = load_set(resolve_set(set_name))
    th = load_thresholds(None, evalset.name)
    llm = ReplayLLM(label or settings.llm_model)
    questions = []
    corpus = evalset.require_corpus().resolve()
    with eval_store(settings, store) as eval_settings:
        kb_store = Store(eval_settings)
        embedder = load_embedder(eval_settings, store=kb_store)  # a kept --store keeps its embedder
        support = QuoteSupport(embedder)
        report = run_ingest([str(corpus)], eval_settings, kb_store, embedder, progress=False)
        if report.failed:
            raise EvalError(f"{evalset.path}: the corpus did not ingest cleanly")
        engine = Engine(eval_settings, store=kb_store, embedder=embedder, llm=llm)
        for case in evalset.cases:
            llm.draft, llm.messages = (drafts or {}).get(case.id, ""), None
            asked = condense(case.question, case.follow_up_of) if case.follow_up_of else case.question
            answer = engine.ask(asked)  # a follow-up is answered as the standalone question kb makes of it
            answer.timings = {}  # wall-clock times differ on every run
            hit_sources = None if answer.hits else [h.chunk.source for h in engine.search(asked, 5)]
            scores = score_answer(case, answer, support, support_threshold=th.support_threshold,
                                  min_recall=th.correct_min_fact_recall, hit_sources=hit_sources)
            record = answer_record(answer)
            record.pop("timings", None)
            for cit in record["citations"]:
                cit.pop("ingested", None), cit.pop("modified", None)
            questions.append({"id": case.id, "question": case.question, "messages": llm.messages,
                              "answer": record, "scores": scores})
        ids = {c.id: f"{_relative(c.source, corpus)}#{c.position}" for c in kb_store.all_chunks()}
    record = {"set": evalset.name, "model": llm.label, "drafts": drafts is not None,
              "metrics": aggregate([q["scores"] for q in questions]), "questions": questions}
    return _portable(record, corpus, ids)


def _relative(source: str, corpus: Path) -> str:
    return source[len(str(corpus)) + 1:] if source.startswith(str(corpus) + "/") else source


def _portable(record: dict[str, Any], corpus: Path, ids: dict[str, str]) -> dict[str, Any]:
    """The record without the checkout's paths: sources relative to the corpus, chunk ids as source#position."""
    text = json.dumps(record, ensure_ascii=False, default=str)
    for chunk_id, name in ids.items():
        text = text.replace(chunk_id, name)
    return json.loads(text.replace(str(corpus) + "/", ""))


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, int]:
    """How many questions have identical prompts, and identical answers and scores, in two replays."""
    bq = {q["id"]: q for q in b["questions"]}
    same_prompt = same_answer = 0
    for q in a["questions"]:
        other = bq.get(q["id"])
        if other is None:
            continue
        same_prompt += q["messages"] == other["messages"]
        same_answer += (q["answer"], q["scores"]) == (other["answer"], other["scores"])
    return {"questions": len(a["questions"]), "same_prompt": same_prompt, "same_answer_and_scores": same_answer}


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n"


def main(argv: list[str] | None = None) -> None:
    from kb.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="sample", help="eval set (ignored with --drafts: the run's own set)")
    parser.add_argument("--drafts", type=Path, help="results.json of an earlier `kb eval` run")
    parser.add_argument("--out", type=Path, required=True, help="where to write the replay record (JSON)")
    parser.add_argument("--compare", type=Path, help="an earlier replay record: print how many questions match")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.drafts:
        set_name, label, drafts = recorded_drafts(json.loads(args.drafts.read_text(encoding="utf-8")))
        record = replay(settings, set_name, drafts, label)
    else:
        record = replay(settings, args.set)
    args.out.write_text(dumps(record), encoding="utf-8")
    if args.compare:
        print(json.dumps(compare(record, json.loads(args.compare.read_text(encoding="utf-8")))))


if __name__ == "__main__":
    main()
