"""Run an eval set against one or more LLMs and write results, reports, history and trend.

The set's corpus is ingested into a fresh temporary store (or `--store`), one
Engine per `--llm` value answers the same questions over it, every answer is
scored (eval.metrics), the run is gated (eval.gate), and the outputs land in
`--out`: results.json, report.md, report.html, history.jsonl (appended) and
trend.png.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.cases import ROOT, Case, EvalError, EvalSetError, load_set, resolve_set
from eval.gate import Failure, check_run, load_baseline, load_thresholds
from eval.metrics import QuoteSupport, aggregate, score_answer
from kb.settings import Settings
from kb.text import is_url
from kb.types import Answer

log = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    set: str = "sample"
    out: Path | None = None
    baseline: Path | None = None
    history: Path | None = None
    llms: tuple[str, ...] = ()
    limit: int | None = None
    only: tuple[str, ...] = ()
    store: Path | None = None
    thresholds: Path | None = None
    seed: int = 0
    progress: bool | None = None  # None: only on a terminal


@dataclass
class EvalOutcome:
    results: dict[str, Any]
    out_dir: Path
    paths: dict[str, Path]
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def select_cases(cases: list[Case], only: tuple[str, ...] = (), limit: int | None = None) -> list[Case]:
    if only:
        known = {c.id for c in cases}
        unknown = [q for q in only if q not in known]
        if unknown:
            raise EvalError(f"--only: no question with id {', '.join(unknown)}")
        cases = [c for c in cases if c.id in only]
    if limit is not None:
        if limit < 1:
            raise EvalError("--limit must be at least 1")
        cases = cases[:limit]
    return cases


def with_llm(settings: Settings, llm: str) -> Settings:
    """Settings for one --llm value: a model id/folder/.gguf, or 'MODEL@http://endpoint/v1'."""
    if not llm:
        return settings
    name, sep, url = llm.partition("@")
    if sep and is_url(url):
        return settings.model_copy(update={"llm_model": name or settings.llm_model, "llm_url": url})
    return settings.model_copy(update={"llm_model": llm, "llm_url": None})


@contextmanager
def eval_store(settings: Settings, store: Path | None) -> Iterator[Settings]:
    """Settings pointing at the store the eval answers from: --store, else a fresh temporary one."""
    if store is not None:
        yield settings.model_copy(update={"store": Path(store).resolve(), "chroma_url": None})
        return
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        yield settings.model_copy(update={"store": Path(tmp) / "store", "chroma_url": None})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy comes with the models
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    sha = git("rev-parse", "HEAD") or os.environ.get("GITHUB_SHA", "") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": sha, "dirty": dirty, "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def answer_record(answer: Answer) -> dict[str, Any]:
    out = answer.to_dict()
    out.update(mode=answer.mode, raw=answer.raw, closest_topics=answer.closest_topics,
               hits=[{"source": h.chunk.source, "title": h.chunk.title, "section": h.chunk.section,
                      "chunk_id": h.chunk.id, "score": round(h.score, 6), "similarity": round(h.dense, 4)}
                     for h in answer.hits])
    return out


def run_eval(settings: Settings, opts: EvalOptions) -> EvalOutcome:
    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder
    from kb.engine import Engine
    from kb.service import ask
    from kb.store import Store

    evalset = load_set(resolve_set(opts.set))
    cases = select_cases(evalset.cases, opts.only, opts.limit)
    corpus = evalset.require_corpus()
    th = load_thresholds(opts.thresholds, evalset.name)
    baseline = load_baseline(opts.baseline) if opts.baseline else None
    out_dir = Path(opts.out) if opts.out else Path("eval") / "out" / evalset.name
    history_path = Path(opts.history) if opts.history else out_dir / "history.jsonl"
    started = datetime.now(UTC)
    llms = list(dict.fromkeys(opts.llms)) or [""]

    runs: list[dict[str, Any]] = []
    failures: list[Failure] = []
    with eval_store(settings, opts.store) as eval_settings:
        store = Store(eval_settings)
        embedder = load_embedder(eval_settings, store=store)  # a kept --store keeps its embedder
        support = QuoteSupport(embedder)
        ingest_report = run_ingest([str(corpus)], eval_settings, store, embedder, progress=False)
        if ingest_report.failed:
            why = "; ".join(f"{s.source}: {s.reason}" for s in ingest_report.skipped)
            raise EvalError(f"{evalset.path}: the corpus {corpus} did not ingest cleanly: {why}")
        bar = _progress(len(cases) * len(llms), opts.progress, evalset.name)
        try:
            for llm in llms:
                engine = Engine(with_llm(eval_settings, llm), store=store, embedder=embedder)
                seed_everything(opts.seed)
                questions = []
                for case in cases:
                    bar.set_postfix_str(case.id, refresh=False)
                    # only unexpected refusals are coverage gaps; out-of-scope items are refused by design
                    answer = ask(engine, settings, case.question, via="eval", log_gap=not case.refuse,
                                 follow_up_of=case.follow_up_of)
                    asked = answer.standalone or case.question  # a follow-up is retrieved as its standalone form
                    hit_sources = None if answer.hits else [h.chunk.source for h in engine.search(asked, 5)]
                    scores = score_answer(case, answer, support, support_threshold=th.support_threshold,
                                          min_recall=th.correct_min_fact_recall, hit_sources=hit_sources)
                    questions.append({"id": case.id, "question": case.question, "kind": case.kind,
                                      **({"follow_up_of": list(case.follow_up_of)} if case.follow_up_of else {}),
                                      "facts": [list(f) for f in case.facts], "forbidden": list(case.forbidden),
                                      "sources": list(case.sources), "refuse": case.refuse,
                                      "answer": answer_record(answer), "scores": scores})
                    bar.update()
                label = _unique_label(questions[0]["answer"]["model"] if questions else engine.model_label,
                                      [r["model"] for r in runs])
                records = {q["id"]: q["scores"] for q in questions}
                metrics = aggregate(list(records.values()))
                run_failures = check_run(label, records, metrics, th, _baseline_for(baseline, label))
                failures += run_failures
                runs.append({"llm": llm or eval_settings.llm_model, "model": label, "metrics": metrics,
                             "failures": [f.to_dict() for f in run_failures], "questions": questions})
                del engine  # frees this model before the next one loads
        finally:
            bar.close()
        settings_used = eval_settings.describe()
    checker = _checker_precision(settings, embedder)
    for run in runs:
        run["metrics"]["checker_precision"] = checker.get("precision")

    results = {
        "schema": 1,
        "set": {"name": evalset.name, "path": str(evalset.path), "corpus": str(corpus), "items": len(evalset.cases)},
        "date": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        **git_info(),
        "n_questions": len(cases),
        "partial": len(cases) < len(evalset.cases),
        "limit": opts.limit,
        "only": list(opts.only),
        "seed": opts.seed,
        "embed_model": settings.embed_model,
        "models": [r["model"] for r in runs],
        "settings": settings_used,
        "store": str(opts.store) if opts.store else "temporary",
        "ingest": ingest_report.to_dict()["counts"],
        "thresholds": th.to_dict(),
        "baseline": str(opts.baseline) if opts.baseline else None,
        "passed": not failures,
        "failures": [f.to_dict() for f in failures],
        "runs": runs,
    }
    return EvalOutcome(results, out_dir, write_outputs(results, out_dir, history_path, th), failures)


def _checker_precision(settings: Any, embedder: Any) -> dict[str, Any]:
    """The checker's held-out precision on the claims set (eval/claims.py), or {} when it cannot be scored."""
    from eval.claims import checker_precision

    try:
        return checker_precision(settings, embedder)
    except (OSError, EvalSetError) as exc:
        log.warning("checker precision not scored: %s", exc)
        return {}


def write_outputs(results: dict[str, Any], out_dir: Path, history_path: Path, th: Any) -> dict[str, Path]:
    from eval.report import write_html, write_markdown
    from eval.trend import append_history, draw_trend, history_line, read_history

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report_md": out_dir / "report.md",
             "report_html": out_dir / "report.html", "history": history_path, "trend": out_dir / "trend.png"}
    paths["results"].write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    append_history(history_path, history_line(results))
    draw_trend(read_history(history_path), paths["trend"], th)
    write_markdown(results, paths["report_md"], th)
    write_html(results, paths["report_html"], th, paths["trend"])
    return paths


def _baseline_for(baseline: dict[str, dict[str, Any]] | None, label: str) -> dict[str, Any] | None:
    """The baseline run of the same model; with a single-model baseline, that run (a model swap is a change too)."""
    if not baseline:
        return None
    if label in baseline:
        return baseline[label]
    return next(iter(baseline.values())) if len(baseline) == 1 else None


def _unique_label(label: str, taken: list[str]) -> str:
    n, out = 1, label
    while out in taken:
        n += 1
        out = f"{label} #{n}"
    return out


def _progress(total: int, show: bool | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"eval {desc}", unit="q", disable=not (sys.stderr.isatty() if show is None
                                                                              else show))
