"""Are the quote-ranking weights the limit? A random search over kb/quotes.py's QuoteWeights.

    python bench/weights.py [--configs 240] [--seed 7] [--sets realdocs sample shared] [--stores DIR]

Every eval set's corpus is ingested once (into DIR/<set>, kept between runs), every question is
retrieved once, and every text is embedded once (a memo in front of the embedder), so one quote-only
answer of a whole set (no LLM, as `kb eval` answers with the bundled model) costs a few milliseconds a
question. Each configuration scales every weight by one of 0, 0.5, 0.75, 1, 1.25, 1.5 or 2 (drawn at
random, 1 twice as often), answers every set with it and scores the answers with the eval's own
functions (eval/metrics.py). The report is the best realdocs scores reached, and how many configurations
keep the sample and seed-page scores within 0.005 of today's weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine  # noqa: E402

KEYS = ("fact_recall", "first_fact_recall", "citation_precision")
FACTORS = (0, 0.5, 0.75, 1, 1, 1.25, 1.5, 2)
SCALED = ("rank", "lexical", "heading", "definition", "defines_term", "other_page", "specific", "number",
          "under_heading", "redundancy")


class MemoEmbedder:
    """The embedder with a memo per text: the same sentences are embedded for every configuration."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memo: dict[str, Any] = {}

    def encode(self, texts: Any, **kw: Any) -> Any:
        import numpy as np

        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        missing = [t for t in dict.fromkeys(items) if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, (np.asarray(v) for v in self.inner.encode(missing, **kw)), strict=True))
        out = np.stack([self.memo[t] for t in items])
        return out[0] if single else out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def prepare(name: str, stores: Path) -> dict[str, Any]:
    """The set's store (ingested once), its engine with a memo embedder, and each question's hits."""
    from eval.cases import load_set, resolve_set
    from eval.gate import load_thresholds
    from eval.metrics import QuoteSupport
    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder
    from kb.engine import Engine
    from kb.settings import load_settings
    from kb.store import Store

    evalset = load_set(resolve_set(name))
    settings = load_settings().model_copy(update={"store": stores / name, "chroma_url": None, "draft": "never"})
    store = Store(settings)
    embedder = MemoEmbedder(load_embedder(settings, store=store))
    if not store.all_chunks():
        run_ingest([str(evalset.require_corpus().resolve())], settings, store, embedder.inner, progress=False)
    engine = Engine(settings, store=store, embedder=embedder)
    cases = [c for c in evalset.cases if not c.follow_up_of]
    hits = {c.id: engine.passages(c.question) for c in cases}  # as Engine.ask reads them
    return {"cases": cases, "engine": engine, "support": QuoteSupport(embedder), "hits": hits,
            "thresholds": load_thresholds(None, evalset.name)}


def answer_all(prep: dict[str, Any], weights: Any) -> dict[str, float]:
    """Quote-only answers of every question with these weights, scored as `kb eval` scores them."""
    from eval.metrics import aggregate, score_answer
    from kb import quotes

    th = prep["thresholds"]
    quotes.best_quotes.__defaults__ = (4, (), weights, 0)  # limit, exclude, weights, extra: as the engine calls it
    try:
        records = [score_answer(c, prep["engine"].answer_from_hits(c.question, prep["hits"][c.id], 0.0),
                                prep["support"], support_threshold=th.support_threshold,
                                min_recall=th.correct_min_fact_recall)
                   for c in prep["cases"]]
    finally:
        quotes.best_quotes.__defaults__ = (4, (), quotes.WEIGHTS, 0)
    metrics = aggregate(records)
    return {k: round(metrics[k], 3) for k in KEYS}


def draws(n: int, seed: int) -> list[dict[str, float]]:
    from kb.quotes import WEIGHTS

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = {k: round(getattr(WEIGHTS, k) * rng.choice(FACTORS), 3) for k in SCALED}
        w["under_heading"] = min(w["under_heading"], 0.8)  # a share: 1.0 would drop the sentence's own similarity
        out.append(w)
    return out


def main() -> None:
    from kb.quotes import WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sets", nargs="+", default=["realdocs", "sample", "shared"])
    parser.add_argument("--stores", type=Path, help="where the sets' stores are kept (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write every configuration's scores here")
    args = parser.parse_args()
    main_set, guarded = args.sets[0], args.sets[1:]
    with tempfile.TemporaryDirectory(prefix="kb-weights-") as tmp:
        stores = args.stores or Path(tmp)
        start = time.perf_counter()
        preps = {s: prepare(s, stores) for s in args.sets}
        print(f"# {machine()}; sets prepared in {time.perf_counter() - start:.0f} s", flush=True)
        today = {s: answer_all(preps[s], WEIGHTS) for s in args.sets}
        print(f"today's weights: {json.dumps(today)}", flush=True)
        rows = []
        for i, w in enumerate(draws(args.configs, args.seed), start=1):
            weights = dataclasses.replace(WEIGHTS, **w)
            rows.append({"weights": w, "scores": {s: answer_all(preps[s], weights) for s in args.sets}})
            if i % 20 == 0:
                print(f"{i} configurations, {time.perf_counter() - start:.0f} s", flush=True)
    keeps = [r for r in rows if all(r["scores"][s][k] >= today[s][k] - 0.005 for s in guarded for k in KEYS)]
    print(f"\n| {main_set} | today | best of {len(rows)} | best keeping {', '.join(guarded)} within 0.005 "
          f"({len(keeps)} configurations) |\n|---|---|---|---|")
    for k in KEYS:
        best = max(r["scores"][main_set][k] for r in rows)
        kept = max((r["scores"][main_set][k] for r in keeps), default=None)
        print(f"| {k} | {today[main_set][k]} | {best} | {kept if kept is not None else '-'} |")
    if args.json:
        args.json.write_text(json.dumps({"today": today, "configs": rows}, indent=1))


if __name__ == "__main__":
    main()
