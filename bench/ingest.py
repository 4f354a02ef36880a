"""Ingest throughput: kb versus LlamaIndex's default VectorStoreIndex.from_documents.

Both systems get the same generated glossary corpus (bench/synth.py), the same
embedding model (the bundled all-MiniLM-L6-v2 folder) and an on-disk Chroma
store. Each runs in its own subprocess, so peak memory is that process's max RSS
(resource.getrusage; tracemalloc does not see torch's allocations). The model is
loaded before the clock starts; reading, cleaning, chunking, embedding and
writing are timed. kb is then run again on the unchanged corpus, in-process and
as a fresh `kb ingest` command, which is what a user waits for.

Usage: python -m bench.ingest [--pages 2000] [--seed 0] [--out docs/bench-ingest.md]
       python -m bench.ingest --corpus ../shared/realdocs --rounds 2 --out docs/bench-ingest-realdocs.md
       python -m bench.ingest --corpus ../shared/realdocs --variant int8:KB_EMBED_BACKEND=onnx-int8

With --corpus, both systems read the same files: those of the folder whose type kb
reads (ingest/read.py SUPPORTED), copied to a temp folder; the table says how many
of the folder's files that is. The systems run interleaved, `--rounds` times each
(ABBA order: kb, LlamaIndex, LlamaIndex, kb, ...), so on a shared machine both see
the same load; the ratio column pairs each kb run with the LlamaIndex run next to it.
`--variant NAME:ENV=VALUE[,ENV=VALUE]` adds a kb run with other settings.

The LlamaIndex side needs llama-index-embeddings-huggingface (`pip install -e '.[bench]'`,
which `make bench` does); it loads the bundled model folder, nothing is downloaded.
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


def _cut(model, texts: list[str], limit: int = 0) -> tuple[int, int]:
    """(texts longer than the model reads, word pieces it reads): a cut text's tail is never embedded."""
    limit = min(limit or model.max_seq_length, model.max_seq_length)
    lengths = [len(ids) for ids in _token_ids(model, texts)]
    return sum(n > limit for n in lengths), sum(min(n, limit) for n in lengths)


def _token_ids(model, texts: list[str]) -> list[list[int]]:
    """Untruncated word-piece ids (the tokenizer files may truncate at 128 on their own)."""
    tok = getattr(model, "_tok", None)
    if tok is not None:  # kb's OnnxEmbedder: a tokenizers.Tokenizer
        tok = tok.__class__.from_str(tok.to_str())
        tok.no_truncation()
        return [e.ids for e in tok.encode_batch(texts)]
    return model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]


def worker_kb(corpus: Path, store: Path) -> dict:
    t0 = time.perf_counter()  # "model load" includes importing torch & co., as for LlamaIndex
    # kb's store writes LlamaIndex node metadata: llama_index is imported before the clock, as in that worker
    import llama_index.core.schema  # noqa: F401

    from ingest.pipeline import run_ingest
    from kb.backends import load_embedder
    from kb.cpu import ingest_threads
    from kb.settings import load_settings
    from kb.store import Store

    settings = load_settings(store=store, embed_model=EMBED)
    settings = settings.model_copy(update={"threads": ingest_threads(settings, answering=False)})  # as `kb ingest`
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
    cut, pieces = _cut(embedder, [c.embed_text() for c in store_obj.all_chunks()], settings.ingest_max_tokens)
    return {"pages": len(report.added), "chunks": store_obj.count(), "seconds": seconds, "cpu": cpu,
            "pieces": pieces, "threads": _threads(settings), "backend": getattr(embedder, "label", "torch"),
            "load": (load, os.getloadavg()[0]), "model_load": loaded,
            "reingest": reingest, "skipped": len(report.skipped), "aliases": len(report.aliases),
            "peak_rss_mb": peak, "peak_rss_after_reingest_mb": _peak_rss_mb(), "cut": cut,
            "max_tokens": settings.ingest_max_tokens}


def _threads(settings) -> int:
    from kb.cpu import inference_threads

    return inference_threads(settings)


def worker_llamaindex(corpus: Path, store: Path) -> dict:
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError:
        raise SystemExit("the LlamaIndex baseline needs llama-index-embeddings-huggingface: "
                         "pip install -e '.[bench]' (make bench installs it)") from None
    import torch

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
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    # what it embedded: the default splitter's nodes with their embed metadata (file path and name),
    # cut again outside the clock (Chroma keeps the text without that metadata)
    embedded = [n.get_content(metadata_mode=MetadataMode.EMBED)
                for n in SentenceSplitter().get_nodes_from_documents(docs)]
    cut, pieces = _cut(embed._model, embedded)
    return {"pages": len(docs), "chunks": collection.count(), "seconds": seconds, "cpu": cpu,
            "load": (load, os.getloadavg()[0]), "model_load": loaded, "pieces": pieces,
            "threads": torch.get_num_threads(), "backend": "sentence-transformers (torch fp32)",
            "peak_rss_mb": peak, "cut": cut}


WORKERS = {"kb": worker_kb, "llamaindex": worker_llamaindex}


def run_worker(name: str, corpus: Path, store: Path, env: dict[str, str] | None = None) -> dict:
    import shutil

    shutil.rmtree(store, ignore_errors=True)  # every round starts from an empty store
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", "--worker", name, "--worker-corpus", str(corpus),
                           "--store", str(store)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """'int8:KB_EMBED_BACKEND=onnx-int8,KB_THREADS=2' -> ('int8', {...})."""
    name, _, pairs = text.partition(":")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if "=" in pair)
    if not name or not env:
        raise SystemExit(f"--variant {text!r}: use NAME:ENV=VALUE[,ENV=VALUE]")
    return name, env


def interleaved(systems: list[tuple[str, str, dict[str, str]]], corpus: Path, tmp: Path,
                rounds: int) -> dict[str, list[dict]]:
    """Each system `rounds` times, in ABBA order, so drifting machine load hits all of them alike."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in systems}
    for r in range(rounds):
        for label, worker, env in (systems if r % 2 == 0 else systems[::-1]):
            print(f"round {r + 1}/{rounds}: {label} ...", file=sys.stderr, flush=True)
            runs[label].append(run_worker(worker, corpus, tmp / f"store-{label}", env))
            print(f"  {label}: {json.dumps(runs[label][-1])}", file=sys.stderr, flush=True)  # kept if a later run dies
    return runs


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


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def table(pages: int, seed: int, runs: dict[str, list[dict]], cli_reingest: float, corpus_line: str = "",
          command: str = "", labels: dict[str, str] | None = None) -> str:
    """One row per system: medians over its rounds; the ratio pairs round i of kb with round i of LlamaIndex."""
    labels = labels or {}
    li = runs["llamaindex"]
    lines = [
        f"Command: `{command or f'python -m bench.ingest --pages {pages} --seed {seed}'}`  ",
        f"Machine: {machine()}  ",
        corpus_line or f"Corpus: {pages} generated glossary pages (bench/synth.py, seed {seed}); embedding model "
        f"{EMBED} on CPU for both; on-disk Chroma for both.",
        "",
        "| system | pages | chunks | word pieces embedded | threads | ingest s (wall, median) | CPU s (median) "
        "| pages/s | time / LlamaIndex's (paired rounds) | peak RSS MB | model load s (imports included) "
        "| chunks cut by the model's limit | load avg (start → end, each round) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rs in runs.items():
        r = rs[0]
        wall, cpu = _median([x["seconds"] for x in rs]), _median([x["cpu"] for x in rs])
        ratio = ("1 (baseline)" if name == "llamaindex" else
                 " / ".join(f"{x['seconds'] / y['seconds']:.2f}" for x, y in zip(rs, li, strict=False)))
        loads = "; ".join(f"{x['load'][0]:.1f} → {x['load'][1]:.1f}" for x in rs)
        lines.append(f"| {labels.get(name, name)} | {r['pages']} | {r['chunks']} | {r['pieces']:,} | {r['threads']} "
                     f"| {wall:.1f} | {cpu:.1f} | {r['pages'] / wall:.2f} | {ratio} | {r['peak_rss_mb']:.0f} "
                     f"| {r['model_load']:.1f} | {r['cut']} ({100 * r['cut'] / max(r['chunks'], 1):.0f}%) | {loads} |")
    kb = runs["kb"][0]
    lines += [
        "",
        f"The machine has {os.cpu_count()} cores; a load average above that means other work shared the CPU "
        "during the run, which stretches wall times (CPU seconds and the paired ratio are the steadier comparison).",
        "kb embeds with the threads `kb ingest` takes (`KB_THREADS`; 0: every core idle when the ingest starts, one "
        "kept back while a `kb serve` or `kb slack` runs); LlamaIndex with torch's default, every core.",
        "",
        f"kb re-ingest with nothing changed: {kb['reingest']:.2f} s in-process; "
        f"{cli_reingest:.2f} s for a fresh `kb ingest` command (Python start-up and imports included; "
        "the embedding model is never loaded).",
        "LlamaIndex's `from_documents` has no change detection: running it again embeds every page again "
        "(and, with Chroma, adds a second copy of every chunk).",
        "",
        f"Chunks differ by design: kb cuts each page at its headings into passages of at most 150 words and embeds "
        f"the first {kb['max_tokens']} word pieces of each (`KB_INGEST_MAX_TOKENS`; BM25 indexes every word); "
        "LlamaIndex's default SentenceSplitter makes chunks of up to 1024 tokens, and MiniLM reads the first 256 "
        "word pieces of each, so the tail of a longer chunk is in neither of its indexes.",
        f"Peak RSS is the worker process's max RSS after its ingest (kb's rises to "
        f"{kb['peak_rss_after_reingest_mb']:.0f} MB after the second, no-change run, which reads the whole store "
        "back from Chroma).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="Runs of each system, interleaved (ABBA).")
    parser.add_argument("--variant", action="append", default=[], help="NAME:ENV=VALUE[,ENV=VALUE]: another kb run.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-ingest.md")
    parser.add_argument("--corpus", dest="real", type=Path, help="A folder of real pages instead of generated ones.")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--worker-corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.worker_corpus, args.store)))
        return

    from bench.synth import write_corpus

    corpus_line = ""
    command = "python -m bench.ingest " + " ".join(sys.argv[1:])
    systems = [("kb", "kb", {}), ("llamaindex", "llamaindex", {})]
    labels = {"kb": "kb (`run_ingest`: clean, dedupe, section chunks), defaults",
              "llamaindex": "LlamaIndex `VectorStoreIndex.from_documents` (defaults)"}
    for text in args.variant:
        name, env = parse_variant(text)
        systems.append((name, "kb", env))
        labels[name] = f"kb, {' '.join(f'{k}={v}' for k, v in env.items())}"
    with tempfile.TemporaryDirectory(prefix="kb-bench-ingest-") as tmp:
        corpus = Path(tmp) / "corpus"
        if args.real:
            n, total, exts = same_files(args.real.resolve(), corpus)
            args.pages = n
            corpus_line = (f"Corpus: {args.real} — the {n} of its {total} files whose type kb reads "
                           f"({' '.join(exts)}), the same files for both systems; embedding model {EMBED} on CPU "
                           "for both (kb: its default backend); on-disk Chroma for both.")
        else:
            write_corpus(corpus, args.pages, seed=args.seed)
        runs = interleaved(systems, corpus, Path(tmp), args.rounds)
        cli_reingest = kb_cli_reingest(corpus, Path(tmp) / "store-kb")
    text = table(args.pages, args.seed, runs, cli_reingest, corpus_line, command, labels)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Ingest benchmark\n\n" + text + "\n")


if __name__ == "__main__":
    main()
