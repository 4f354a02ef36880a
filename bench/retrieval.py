"""Retrieval benchmark: BM25 alone vs LlamaIndex's default dense retriever vs kb's hybrid.

    python bench/retrieval.py [--sets sample shared]

Same questions (the in-scope items of each eval set), same embedding model.
LlamaIndex's default: SimpleDirectoryReader-style Documents, default
SentenceSplitter chunking, VectorStoreIndex in memory, top-3 retriever.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_set, machine, rank_of, retrieval_scores  # noqa: E402


def kb_system(corpus: Path, tmp: Path, embedder):
    from ingest.pipeline import run_ingest
    from kb.engine import Engine
    from kb.settings import load_settings
    from kb.store import Store

    s = load_settings(store=tmp / "kb-store")
    store = Store(s)
    run_ingest([str(corpus)], s, store, embedder, progress=False)
    engine = Engine(s, store=store, embedder=embedder)
    bm25 = engine.corpus()

    def kb_search(q: str) -> list[str]:
        return [h.chunk.source for h in engine.search(q, 5)]

    def bm25_search(q: str) -> list[str]:
        return [c.source for c, _ in bm25.bm25_search(q, 5)]

    return kb_search, bm25_search


def llamaindex_default(corpus: Path):
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from kb.backends.sources import resolve_embed_model

    docs = [Document(text=p.read_text(encoding="utf-8", errors="replace"), metadata={"source": str(p.resolve())})
            for p in sorted(corpus.rglob("*")) if p.is_file()]
    embed = HuggingFaceEmbedding(model_name=resolve_embed_model("bundled:all-MiniLM-L6-v2"), device="cpu")
    index = VectorStoreIndex.from_documents(docs, embed_model=embed)
    retriever = index.as_retriever(similarity_top_k=5)

    def search(q: str) -> list[str]:
        return [n.node.metadata["source"] for n in retriever.retrieve(q)]

    return search


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["sample", "shared"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.backends import load_embedder
    from kb.settings import load_settings

    embedder = load_embedder(load_settings())
    rows = []
    for name in args.sets:
        corpus, items = load_set(name)
        if not corpus.is_dir():
            print(f"skip {name}: {corpus} is absent")
            continue
        items = [i for i in items if not i.get("refuse")]
        with tempfile.TemporaryDirectory() as tmp:
            kb_search, bm25_search = kb_system(corpus, Path(tmp), embedder)
            systems = {"BM25 alone": bm25_search, "LlamaIndex default dense": llamaindex_default(corpus),
                       "kb hybrid": kb_search}
            for label, search in systems.items():
                t0 = time.perf_counter()
                ranks = [rank_of(search(i["question"]), i["sources"]) for i in items]
                ms = (time.perf_counter() - t0) / len(items) * 1000
                misses = [i["id"] for i, r in zip(items, ranks, strict=True) if not r or r > 3]
                rows.append({"set": name, "system": label, **retrieval_scores(ranks), "ms/query": round(ms, 1),
                             "questions": len(items), "misses@3": misses})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"Machine: {machine()}\nCommand: python bench/retrieval.py --sets {' '.join(args.sets)}\n")
    print("| set | system | hit@1 | hit@3 | MRR | ms/query |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} ({r['questions']} q) | {r['system']} | {r['hit@1']:.3f} | {r['hit@3']:.3f} | "
              f"{r['mrr']:.3f} | {r['ms/query']} |")
    for r in rows:
        if r["system"] == "kb hybrid" and r["misses@3"]:
            print(f"kb misses@3 on {r['set']}: {', '.join(r['misses@3'])}")


if __name__ == "__main__":
    main()
