"""Answer benchmark: kb vs LlamaIndex's default query engine, same model, same questions.

    python bench/answers.py [--sets sample shared] [--limit N]

Both systems use the bundled SmolLM2-135M-Instruct (through transformers) and the
bundled MiniLM. The baseline is `VectorStoreIndex.from_documents(...).as_query_engine()`
with default chunking and prompt. Scores come from the eval's own scoring
functions (eval/metrics.py): key-fact recall, citation precision, refusal accuracy.
The baseline prints no [n] marks, so each of its sentences is credited with its
top source node as the citation (a generous reading).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine  # noqa: E402

REFUSAL_HINTS = ("does not cover", "not provide", "not mentioned", "no information", "cannot answer", "don't know",
                 "do not know", "not contain")


def llamaindex_llm(local: Any) -> Any:
    """kb's local transformers model as a LlamaIndex LLM, so the baseline runs the same weights."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    class LocalAsLlamaIndex(CustomLLM):
        model: Any = None
        max_new_tokens: int = 80

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=8192, num_output=self.max_new_tokens, model_name=local.label)

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            text, _ = self.model.chat([{"role": "user", "content": prompt}], self.max_new_tokens)
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
            yield self.complete(prompt)

    return LocalAsLlamaIndex(model=local)


def baseline_engine(corpus: Path, local: Any) -> Any:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from kb.backends.sources import resolve_embed_model

    docs = [Document(text=p.read_text(encoding="utf-8", errors="replace"),
                     metadata={"source": str(p.resolve()), "title": p.stem})
            for p in sorted(corpus.rglob("*")) if p.is_file()]
    embed = HuggingFaceEmbedding(model_name=resolve_embed_model("bundled:all-MiniLM-L6-v2"), device="cpu")
    index = VectorStoreIndex.from_documents(docs, embed_model=embed)
    return index.as_query_engine(llm=llamaindex_llm(local))


def baseline_answer(engine: Any, question: str) -> Any:
    from kb.text import sentences
    from kb.types import Answer, Chunk, Citation, Hit

    start = time.perf_counter()
    resp = engine.query(question)
    total = time.perf_counter() - start
    nodes = resp.source_nodes or []
    hits = [Hit(chunk=Chunk(id=n.node.node_id, text=n.node.get_content(), source=n.node.metadata["source"],
                            title=n.node.metadata.get("title", ""), section="", position=0), score=n.score or 0)
            for n in nodes]
    text = str(resp).strip()
    refused = any(h in text.lower() for h in REFUSAL_HINTS)
    citations, marked = [], text
    if hits and not refused:
        top = hits[0].chunk
        citations = [Citation(id=1, source=top.source, title=top.title, section="", quote=top.text, score=1.0,
                              chunk_id=top.id)]
        marked = " ".join(f"{s} [1]" for s in sentences(text))
    return Answer(question=question, answer=marked, refused=refused, citations=citations, model="llamaindex-default",
                  timings={"total_s": total}, hits=hits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["sample", "shared"])
    ap.add_argument("--limit", type=int, default=0, help="Questions per set (0: all).")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "answers.json"))
    args = ap.parse_args()

    from eval.cases import load_set, resolve_set
    from eval.metrics import QuoteSupport, aggregate, score_answer
    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder, load_llm
    from kb.engine import Engine
    from kb.settings import load_settings
    from kb.store import Store

    base = load_settings()
    embedder, local = load_embedder(base), load_llm(base)
    support = QuoteSupport(embedder)
    rows = []
    for name in args.sets:
        eval_set = load_set(resolve_set(name))
        corpus = Path(eval_set.corpus)
        corpus = corpus if corpus.is_absolute() else (ROOT / corpus).resolve()
        if not corpus.is_dir():
            print(f"skip {name}: {corpus} is absent")
            continue
        cases = eval_set.cases[: args.limit] if args.limit else eval_set.cases
        with tempfile.TemporaryDirectory() as tmp:
            s = load_settings(store=Path(tmp) / "store")
            store = Store(s)
            run_ingest([str(corpus)], s, store, embedder, progress=False)
            kb_engine = Engine(s, store=store, embedder=embedder, llm=local)
            systems = {"kb": kb_engine.ask, "LlamaIndex default query engine": None}
            li = baseline_engine(corpus, local)
            systems["LlamaIndex default query engine"] = lambda q, li=li: baseline_answer(li, q)
            for label, ask in systems.items():
                records = [score_answer(c, ask(c.question), support) for c in cases]
                agg = aggregate(records)
                accuracy = sum(r["refused"] == r["expect_refusal"] for r in records) / len(records)
                rows.append({"set": name, "system": label, "questions": len(cases), **agg,
                             "refusal_accuracy": accuracy})
                print(json.dumps({k: rows[-1].get(k) for k in ("set", "system", "fact_recall", "citation_precision",
                                                               "refusal_accuracy")}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2, default=str))
    print(f"\nMachine: {machine()}\nCommand: python bench/answers.py --sets {' '.join(args.sets)}"
          + (f" --limit {args.limit}" if args.limit else "") + "\n")
    print("| set | system | key-fact recall | citation precision | refusal accuracy | p50 s |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        acc = r["refusal_accuracy"]
        print(f"| {r['set']} ({r['questions']} q) | {r['system']} | {_f(r.get('fact_recall'))} | "
              f"{_f(r.get('citation_precision'))} | {_f(acc)} | {_f(r.get('latency_p50'), 1)} |")


def _f(v: Any, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


if __name__ == "__main__":
    main()
