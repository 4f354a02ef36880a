"""Ingest throughput: kb versus LlamaIndex's default VectorStoreIndex.from_documents.

Both systems get the same generated glossary corpus (bench/synth.py), the same
embedding model (the bundled all-MiniLM-L6-v2 folder) and an on-disk Chroma
store. Each runs in its own subprocess, so peak memory is that process's max RSS
(resource.getrusage; tracemalloc does not see torch's allocations). The model is
loaded before the clock starts; reading, cleaning, chunking, embedding and
writing are timed. kb is then run again on the unchanged corpus, in-process and
as a fresh `kb ingest` command, which is what a user waits for.

Usage: python -m bench.ingest [--pages 2000] [--seed 0] [--out docs/bench-ingest.md]
       python -m bench.ingest --corpus ../shared/realdocs --out docs/bench-ingest-realdocs.md

With --corpus, both systems read the same files: those of the folder whose type kb
reads (ingest/read.py SUPPORTED), copied to a temp folder; the table says how many
of the folder's files that is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, machine

EMBED = "bundled:all-MiniLM-L6-v2"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (less sensitive than wall time to other load)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _cut(model, texts: list[str]) -> int:
    """How many texts are longer than the model reads (their tail is never embedded)."""
    limit = model.max_seq_length
    return sum(len(ids) > limit for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"])


def worker_kb(corpus: Path, store: Path) -> dict:
    t0 = time.perf_counter()  # "model load" includes importing torch & co., as for LlamaIndex
    # kb's store writes LlamaIndex node metadata: llama_index is imported before the clock, as in that worker
    import llama_index.core.schema  # noqa: F401

    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder
    from kb.settings import load_settings
    from kb.store import Store

    settings = load_settings(store=store, embed_model=EMBED)
    embedder = load_embedder(settings)
    loaded = time.perf_counter() - t0
    store_obj = Store(settings)
    load = os.getloadavg()[0]
    t1, c1 = time.perf_counter(), _cpu_s()
    report = run_ingest([str(corpus)], settings, store_obj, embedder, progress=False)
    seconds, cpu = time.perf_counter() - t1, _cpu_s() - c1
    peak = _peak_rss_mb()  # comparable with LlamaIndex's single run
    t2 = time.perf_counter()
    again = run_ingest([str(corpus)], settings, store_obj, embedder, progress=False)
    reingest = time.perf_counter() - t2
    assert not again.added and not again.updated, "the second run should change nothing"
    cut = _cut(embedder, [c.embed_text() for c in store_obj.all_chunks()])
    return {"pages": len(report.added), "chunks": store_obj.count(), "seconds": seconds, "cpu": cpu,
            "load": (load, os.getloadavg()[0]), "model_load": loaded,
            "reingest": reingest, "skipped": len(report.skipped), "aliases": len(report.aliases),
            "peak_rss_mb": peak, "peak_rss_after_reingest_mb": _peak_rss_mb(), "cut": cut}


def worker_llamaindex(corpus: Path, store: Path) -> dict:
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from kb.backends.sources import resolve_embed_model

    embed = HuggingFaceEmbedding(model_name=resolve_embed_model(EMBED), device="cpu")
    loaded = time.perf_counter() - t0
    client = chromadb.PersistentClient(path=str(store), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("bench")
    load = os.getloadavg()[0]
    t1, c1 = time.perf_counter(), _cpu_s()
    docs = SimpleDirectoryReader(str(corpus), recursive=True).load_data()
    context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex.from_documents(docs, storage_context=context, embed_model=embed)
    seconds, cpu = time.perf_counter() - t1, _cpu_s() - c1
    peak = _peak_rss_mb()
    texts = [d for d in collection.get(include=["documents"])["documents"] if d]
    return {"pages": len(docs), "chunks": collection.count(), "seconds": seconds, "cpu": cpu,
            "load": (load, os.getloadavg()[0]), "model_load": loaded,
            "peak_rss_mb": peak, "cut": _cut(embed._model, texts)}


WORKERS = {"kb": worker_kb, "llamaindex": worker_llamaindex}


def run_worker(name: str, corpus: Path, store: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", "--worker", name, "--corpus", str(corpus),
                           "--store", str(store)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def kb_cli_reingest(corpus: Path, store: Path) -> float:
    """Wall time of a fresh `kb ingest` process on the unchanged corpus (imports included)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "--embed-model", EMBED, "ingest",
                           str(corpus), "--json"], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    counts = json.loads(proc.stdout)["counts"]
    if proc.returncode != 0 or counts["added"] or counts["updated"]:
        raise SystemExit(f"kb re-ingest changed something or failed: {counts} {proc.stderr[-1000:]}")
    return wall


def same_files(src: Path, dest: Path) -> tuple[int, int, list[str]]:
    """Copy the files of `src` that kb reads into `dest`; (copied, all files, suffixes copied)."""
    import shutil

    from ingest.read import SUPPORTED

    files = [p for p in sorted(src.rglob("*")) if p.is_file()]
    kept = [p for p in files if p.suffix.lower() in SUPPORTED]
    for p in kept:
        target = dest / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    return len(kept), len(files), sorted({p.suffix.lower() for p in kept})


def table(pages: int, seed: int, results: dict[str, dict], cli_reingest: float, corpus_line: str = "",
          command: str = "") -> str:
    kb, li = results["kb"], results["llamaindex"]
    rows = [
        ("kb (`run_ingest`: clean, dedupe, section chunks)", kb),
        ("LlamaIndex `VectorStoreIndex.from_documents` (defaults)", li),
    ]
    lines = [
        f"Command: `{command or f'python -m bench.ingest --pages {pages} --seed {seed}'}`  ",
        f"Machine: {machine()}  ",
        corpus_line or f"Corpus: {pages} generated glossary pages (bench/synth.py, seed {seed}); embedding model "
        f"{EMBED} on CPU for both; on-disk Chroma for both.",
        "",
        "| system | pages | chunks | ingest s (wall) | CPU s | pages/s | chunks/s | pages per CPU s | peak RSS MB "
        "| model load s (imports included) | chunks longer than the model reads | load avg (start → end) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        lines.append(f"| {label} | {r['pages']} | {r['chunks']} | {r['seconds']:.1f} | {r['cpu']:.1f} | "
                     f"{r['pages'] / r['seconds']:.1f} | {r['chunks'] / r['seconds']:.1f} | "
                     f"{r['pages'] / r['cpu']:.2f} | {r['peak_rss_mb']:.0f} | {r['model_load']:.1f} | "
                     f"{r['cut']} ({100 * r['cut'] / max(r['chunks'], 1):.0f}%) | "
                     f"{r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    lines += [
        "",
        f"The machine has {os.cpu_count()} cores; a load average above that means other work shared the CPU "
        "during the run, which stretches wall times (CPU seconds are the steadier comparison).",
        "",
        f"kb re-ingest with nothing changed: {kb['reingest']:.2f} s in-process; "
        f"{cli_reingest:.2f} s for a fresh `kb ingest` command (Python start-up and imports included; "
        "the embedding model is never loaded).",
        "LlamaIndex's `from_documents` has no change detection: running it again embeds every page again "
        "(and, with Chroma, adds a second copy of every chunk).",
        "",
        "Chunks differ by design: kb cuts each page at its headings into passages of at most 150 words, "
        "because MiniLM reads 256 word pieces and silently drops the rest; LlamaIndex's default SentenceSplitter "
        "makes chunks of up to 1024 tokens, so a page is one chunk and, where it is longer than 256 word pieces "
        "(last column), its tail is never embedded. kb embeds every word of every page, which is why it embeds "
        "more text per page.",
        f"Peak RSS is the worker process's max RSS after its ingest (kb's rises to "
        f"{kb['peak_rss_after_reingest_mb']:.0f} MB after the second, no-change run, which reads the whole store "
        "back from Chroma).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-ingest.md")
    parser.add_argument("--corpus", dest="real", type=Path, help="A folder of real pages instead of generated ones.")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.corpus, args.store)))
        return

    from bench.synth import write_corpus

    corpus_line = command = ""
    with tempfile.TemporaryDirectory(prefix="kb-bench-ingest-") as tmp:
        corpus = Path(tmp) / "corpus"
        if args.real:
            n, total, exts = same_files(args.real.resolve(), corpus)
            args.pages = n
            command = f"python -m bench.ingest --corpus {args.real} --out {args.out.name}"
            corpus_line = (f"Corpus: {args.real} — the {n} of its {total} files whose type kb reads "
                           f"({' '.join(exts)}), the same files for both systems; embedding model {EMBED} on CPU "
                           "for both (kb: its default backend); on-disk Chroma for both.")
        else:
            write_corpus(corpus, args.pages, seed=args.seed)
        results = {}
        for name in ("kb", "llamaindex"):
            print(f"running {name} on {args.pages} pages ...", file=sys.stderr, flush=True)
            results[name] = run_worker(name, corpus, Path(tmp) / f"store-{name}")
        cli_reingest = kb_cli_reingest(corpus, Path(tmp) / "store-kb")
    text = table(args.pages, args.seed, results, cli_reingest, corpus_line, command)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Ingest benchmark\n\n" + text + "\n")


if __name__ == "__main__":
    main()
