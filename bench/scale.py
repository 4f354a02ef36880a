"""Scale: a generated corpus of N chunks in the embedded store and behind `chroma run`.

    python -m bench.scale [--chunks 100000] [--queries 50] [--keep DIR]

Chunks are synthetic glossary-like passages (words drawn from the sample corpus's
vocabulary) with random-but-realistic vectors: unit 384-d vectors around a few
hundred topic centres, like real MiniLM embeddings cluster. Writing goes through
kb's Store.upsert. Each phase runs in its own process so its memory is its own:

1. build   - insert N chunks; time, disk size.
2. query   - embedded store: query embedding (ONNX) + dense top-20 through
             LlamaIndex's ChromaVectorStore, p50/p95; kb's BM25 corpus build
             time and memory (Corpus.load); full hybrid retrieval p50/p95.
3. server  - the same store served by `chroma run` on loopback, same queries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, machine

DIM = 384


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _vocab() -> list[str]:
    import re

    text = " ".join(p.read_text(errors="replace") for p in sorted((ROOT / "corpus").rglob("*.md*")))
    words = sorted(set(re.findall(r"[A-Za-z][a-z]{2,}", text)))
    return words or ["model", "token", "expert"]


def build(store: Path, n: int, seed: int = 0) -> dict:
    import numpy as np

    from kb.settings import load_settings
    from kb.store import Store
    from kb.types import Chunk

    rng = np.random.default_rng(seed)
    vocab = _vocab()
    centres = rng.standard_normal((300, DIM)).astype(np.float32)
    s = load_settings(store=store)
    st = Store(s)
    t0 = time.perf_counter()
    batch = 2000
    for start in range(0, n, batch):
        m = min(batch, n - start)
        topic = rng.integers(0, len(centres), m)
        vecs = centres[topic] + 0.9 * rng.standard_normal((m, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = []
        for j in range(m):
            i = start + j
            words = rng.choice(vocab, 180)
            page = i // 5
            chunks.append(Chunk(id=f"c{i}", text=" ".join(words), source=f"/synthetic/page{page}.md",
                                title=f"Term {page} {words[0]}", section=f"Section {i % 5}", position=i % 5,
                                page_hash=f"h{page}", page_chunks=5, metadata={"ingested": "2026-01-01T00:00:00"}))
        st.upsert(chunks, vecs)
    seconds = time.perf_counter() - t0
    return {"chunks": st.count(), "insert_s": round(seconds, 1), "insert_chunks_per_s": round(n / seconds),
            "rss_mb": _rss_mb()}


def query(store: Path, url: str | None, queries: int, hybrid: bool) -> dict:
    import numpy as np

    from kb.backends import load_embedder
    from kb.settings import load_settings
    from kb.store import Store

    base = _rss_mb()
    s = load_settings(store=store, chroma_url=url, embed_backend="onnx")
    embedder = load_embedder(s)
    after_model = _rss_mb()
    st = Store(s)
    rng = np.random.default_rng(1)
    vocab = _vocab()
    qs = [f"what is {' '.join(rng.choice(vocab, 3))}?" for _ in range(queries)]
    st.dense_query(embedder.encode([qs[0]], normalize_embeddings=True)[0], 20)  # loads the index
    out: dict = {"mode": "server" if url else "embedded", "rss_model_mb": round(after_model - base, 1)}
    times = []
    k = min(20, st.count())  # counted once, as the Retriever does (len of its corpus)
    for q in qs:
        t0 = time.perf_counter()
        vec = embedder.encode([q], normalize_embeddings=True)[0]
        st.dense_query(vec, k, checked=True)
        times.append((time.perf_counter() - t0) * 1000)
    out.update(dense_p50_ms=round(float(np.percentile(times, 50)), 1),
               dense_p95_ms=round(float(np.percentile(times, 95)), 1),
               rss_store_mb=round(_rss_mb() - after_model, 1))
    if hybrid:
        from kb.retrieve import Corpus, Retriever

        cache = Path(tempfile.mkdtemp(prefix="kb-scale-cache-"))
        t0 = time.perf_counter()
        Corpus.load(st, cache)  # builds the index and saves it
        out["bm25_build_s"] = round(time.perf_counter() - t0, 1)
        before = _rss_mb()
        t0 = time.perf_counter()
        corpus = Corpus.load(st, cache)  # what every later process does: map the saved index
        out.update(bm25_load_cached_s=round(time.perf_counter() - t0, 2), bm25_rss_mb=round(_rss_mb() - before, 1))
        shutil.rmtree(cache, ignore_errors=True)
        r = Retriever(st, embedder, corpus, candidates=s.candidates)
        times = []
        for q in qs[:max(10, queries // 2)]:
            t0 = time.perf_counter()
            r.retrieve(q, s.top_k)
            times.append((time.perf_counter() - t0) * 1000)
        out.update(hybrid_p50_ms=round(float(np.percentile(times, 50)), 1),
                   hybrid_p95_ms=round(float(np.percentile(times, 95)), 1))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _child(*args: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "bench.scale", *args], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--keep", help="Build (or reuse) the store in this folder instead of a temp one.")
    ap.add_argument("--phase", choices=["build", "query"], help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--no-hybrid", action="store_true", help="Skip the BM25 corpus and full hybrid retrieval.")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.phase == "build":
        print(json.dumps(build(Path(args.store), args.chunks)))
        return
    if args.phase == "query":
        print(json.dumps(query(Path(args.store), args.url, args.queries, not args.no_hybrid)))
        return

    print(f"Machine: {machine()}; load average {open('/proc/loadavg').read().split()[0]}\n"
          f"Command: python -m bench.scale {' '.join(sys.argv[1:])}\n")
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kb-scale-"))
    store = tmp / "store"
    try:
        if not (store / "chroma.sqlite3").is_file():
            b = _child("--phase", "build", "--store", str(store), "--chunks", str(args.chunks))
        else:
            b = {"chunks": "reused"}
        disk = _du_mb(store)
        n = args.chunks
        print(f"build: {b}; disk {disk} MB = {round(disk / n * 10_000, 1)} MB per 10k chunks", flush=True)
        hyb = [] if not args.no_hybrid else ["--no-hybrid"]
        emb = _child("--phase", "query", "--store", str(store), "--queries", str(args.queries), *hyb)
        print(f"embedded: {emb}", flush=True)
        port = _free_port()
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        server = subprocess.Popen([chroma, "run", "--path", str(store), "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import urllib.request

            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise SystemExit("chroma run did not start") from None
                    time.sleep(0.5)
            srv = _child("--phase", "query", "--store", str(store), "--url", f"http://127.0.0.1:{port}",
                         "--queries", str(args.queries), *hyb)
            srv["server_rss_mb"] = round(int(next(line.split()[1] for line in
                                                  Path(f"/proc/{server.pid}/status").read_text().splitlines()
                                                  if line.startswith("VmRSS:"))) / 1024, 1)
            print(f"server: {srv}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
        per10k = {"disk_mb_per_10k": round(disk / n * 10_000, 1),
                  "embedded_store_rss_mb_per_10k": round(emb["rss_store_mb"] / n * 10_000, 1),
                  "bm25_rss_mb_per_10k": round(emb.get("bm25_rss_mb", 0) / n * 10_000, 1),
                  "server_rss_mb_per_10k": round(srv["server_rss_mb"] / n * 10_000, 1)}
        print(f"per 10k chunks: {per10k}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
