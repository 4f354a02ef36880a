"""Speed on a small CPU: cold `kb ask`, decode speed, warm answers through `kb serve`, embedding.

Each part runs the plain approach and the faster one side by side in one run:

    python -m bench.speed cold    [--runs 5]      # new `kb ask` process, p50 wall time
    python -m bench.speed decode  [--tokens 60]   # tokens/s per LLM runtime / dtype
    python -m bench.speed warm    [--runs 10]     # `kb serve` answers, p50
    python -m bench.speed embed                   # chunks/s of 256-token chunks, hit@3 per backend
    python -m bench.speed demo                    # first answer after `make demo`'s steps, empty cache
    python -m bench.speed all

Uses a store of the sample corpus in a temp folder (ingested once) and the
configured cache folder for converted weights. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, load_set, machine, rank_of, retrieval_scores

QUESTION = "what is a mixture of experts model?"
KB = [sys.executable, "-m", "kb"]

# plain: what kb ran before the speed work, the draft included (draft=auto no longer asks the bundled model)
PLAIN = {"KB_LLM_RUNTIME": "transformers", "KB_LLM_DTYPE": "float32", "KB_EMBED_BACKEND": "torch", "KB_DRAFT": "always"}
DEFAULT = {"KB_LLM_RUNTIME": "onnx-genai", "KB_EMBED_BACKEND": "auto"}  # what the default install runs
FAST = {"KB_LLM_RUNTIME": "llama-cpp", "KB_EMBED_BACKEND": "onnx"}


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 2)


def _sample_store(tmp: Path) -> Path:
    """fp32 vectors, so every config (torch included) may query it; a question's embedding costs
    milliseconds either way, and a new store would get int8 (kb/backends/vectors.py)."""
    store = tmp / "store"
    env = {**os.environ, "KB_STORE": str(store), "KB_EMBED_BACKEND": "onnx"}
    subprocess.run([*KB, "ingest", str(ROOT / "corpus")], check=True, env=env, capture_output=True)
    return store


def _have_llama_cpp() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def _have_genai() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime_genai") is not None


ONLY: list[str] = []  # --only: keep the configs whose label contains one of these


def configs() -> dict[str, dict[str, str]]:
    out = _all_configs()
    return {k: v for k, v in out.items() if not ONLY or any(o in k for o in ONLY)}


def _all_configs() -> dict[str, dict[str, str]]:
    out = {"plain (transformers fp32, torch embedder)": PLAIN,
           "transformers bf16 + onnx embedder": {"KB_LLM_RUNTIME": "transformers", "KB_LLM_DTYPE": "bfloat16",
                                                 "KB_DRAFT": "always",
                                                 "KB_EMBED_BACKEND": "onnx"}}
    if _have_genai():
        # KB_DRAFT=auto does not wait for onnx-genai's draft (its drafts were never kept); `always` is the path
        # before that budget, measured beside it
        out["default install, draft always (onnx-genai int4 + onnx embedder)"] = {**DEFAULT, "KB_DRAFT": "always"}
        out["default install (onnx-genai int4 + onnx embedder, draft auto: quotes)"] = DEFAULT
    if _have_llama_cpp():
        out["fast (llama.cpp + onnx embedder)"] = FAST
    return out


def bench_demo() -> list[dict]:
    """`make demo` from a fresh clone: install-time `kb prepare`, ingest the sample corpus, first `kb ask`.

    Each config gets an empty cache folder, so every one-off conversion is paid where it really happens:
    plain converts the GGUF inside the first answer; the default install converts in `kb prepare`.
    """
    rows = []
    demo_q = "why not deploy a base model?"
    todo = {"plain (transformers, conversion inside the first answer)": (PLAIN, False)}
    if _have_genai():
        todo["default install (`kb prepare` at install, then auto)"] = ({"KB_LLM_RUNTIME": "auto",
                                                                          "KB_EMBED_BACKEND": "auto"}, True)
    todo = {k: v for k, v in todo.items() if not ONLY or any(o in k for o in ONLY)}
    for label, (cfg, prepare) in todo.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, **cfg, "KB_CACHE_DIR": str(Path(tmp) / "cache"), "KB_STORE": str(Path(tmp) / "s")}
            prep_s = 0.0
            if prepare:
                t0 = time.perf_counter()
                subprocess.run([*KB, "prepare"], env=env, check=True, capture_output=True)
                prep_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run([*KB, "ingest", str(ROOT / "corpus")], env=env, check=True, capture_output=True)
            ingest_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = subprocess.run([*KB, "ask", "--json", "--no-daemon", demo_q], env=env, capture_output=True,
                                 text=True)
            first = time.perf_counter() - t0
            if res.returncode != 0:
                raise SystemExit(f"{label}: {res.stderr[-2000:]}")
            t0 = time.perf_counter()
            subprocess.run([*KB, "ask", "--no-daemon", demo_q], env=env, capture_output=True)
            second = time.perf_counter() - t0
            rows.append({"config": label, "install-time prepare_s": round(prep_s, 1),
                         "ingest_s": round(ingest_s, 1), "first answer_s": round(first, 2),
                         "second answer_s": round(second, 2), "load": _load()})
    return rows


def bench_cold(store: Path, runs: int) -> list[dict]:
    """Every config `runs` times, interleaved run by run, so a change in machine load hits them alike."""
    envs = {label: {**os.environ, "KB_STORE": str(store), **cfg} for label, cfg in configs().items()}
    for env in envs.values():
        subprocess.run([*KB, "ask", "--no-daemon", QUESTION], env=env, capture_output=True)  # caches, page cache
    walls: dict[str, list[float]] = {label: [] for label in envs}
    parts: dict[str, list[dict]] = {label: [] for label in envs}
    loads = []
    for _ in range(runs):
        loads.append(_load())
        for label, env in envs.items():
            t0 = time.perf_counter()
            res = subprocess.run([*KB, "ask", "--json", "--no-daemon", QUESTION], env=env, capture_output=True,
                                 text=True)
            walls[label].append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"{label}: {res.stderr}")
            parts[label].append(json.loads(res.stdout)["timings"])
    rows = [{"config": label, "p50_s": p50(walls[label]), "min_s": round(min(walls[label]), 2),
             "generate_p50_s": p50([t["generate_s"] for t in parts[label]]),
             "total_p50_s (in-process: retrieval, draft, checks)": p50([t["total_s"] for t in parts[label]]),
             "tokens": parts[label][-1].get("tokens"), "load": f"{loads[0]}-{_load()}"} for label in envs]
    # where a cold process spends its time before answering
    env = {**os.environ, "KB_STORE": str(store), **FAST}
    t0 = time.perf_counter()
    subprocess.run([*KB, "--help"], env=env, capture_output=True)
    rows.append({"config": "`kb --help` (interpreter + click)", "p50_s": round(time.perf_counter() - t0, 2)})
    t0 = time.perf_counter()
    subprocess.run([*KB, "search", QUESTION], env=env, capture_output=True)
    rows.append({"config": "`kb search` (fast config, no LLM)", "p50_s": round(time.perf_counter() - t0, 2)})
    return rows


def _messages(store: Path):
    from kb.engine import Engine
    from kb.prompt import prompt
    from kb.retrieve import question_terms
    from kb.settings import load_settings
    from kb.verify import Checker

    s = load_settings(store=store, embed_backend="onnx")
    engine = Engine(s)
    hits = engine.search(QUESTION)
    messages, _ = prompt(QUESTION, hits, Checker(engine.embedder, hits), question_terms(QUESTION), s.focused_prompt)
    return messages  # what Engine.ask sends


def bench_decode(store: Path, tokens: int, reps: int = 3) -> list[dict]:
    from kb.backends import load_llm
    from kb.settings import load_settings

    messages = _messages(store)
    variants = [("transformers", "float32"), ("transformers", "bfloat16"), ("transformers", "int8")]
    if _have_genai():
        variants.append(("onnx-genai", "int4 ONNX"))
    if _have_llama_cpp():
        variants.append(("llama-cpp", "Q4_1 gguf"))
    rows = []
    short = [{"role": "user", "content": "Write a long story about a cat."}]
    for runtime, dtype in variants:
        s = load_settings(store=store, llm_runtime=runtime,
                          llm_dtype=dtype if runtime == "transformers" else "float32")
        t0 = time.perf_counter()
        llm = load_llm(s)
        load_s = time.perf_counter() - t0
        llm.chat(short, 4)  # warm-up
        rates, rag = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            _, n = llm.chat(short, tokens)  # short prompt: decode speed
            rates.append(n / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            _, n2 = llm.chat(messages, tokens)  # the real answer prompt: prefill + decode
            rag.append((time.perf_counter() - t0, n2))
        rate = statistics.median(rates)
        answer_s = statistics.median(r[0] for r in rag)
        n_answer = rag[-1][1]
        rows.append({"runtime": runtime, "weights": dtype, "load_s": round(load_s, 2),
                     "decode_tok_s": round(rate, 1), "answer_prompt_s": round(answer_s, 2),
                     "answer_tokens": n_answer,
                     # the model may stop early: what the same prompt costs with exactly `tokens` tokens
                     f"answer_{tokens}_tok_s": round(answer_s + (tokens - n_answer) / rate, 2),
                     "load": _load()})
        del llm
    return rows


def bench_warm(store: Path, runs: int) -> list[dict]:
    from kb.serve import ask_daemon

    questions = [QUESTION, "what is a base model?", "what is DPO?", "why not deploy a base model?"]
    rows = []
    for label, cfg in configs().items():
        env = {**os.environ, "KB_STORE": str(store), "KB_MAX_NEW_TOKENS": "60", **cfg}
        proc = subprocess.Popen([*KB, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = store / "serve.json"
        try:
            t0 = time.perf_counter()
            while not state.is_file():
                if proc.poll() is not None or time.perf_counter() - t0 > 600:
                    raise SystemExit(f"kb serve ({label}) did not start")
                time.sleep(0.2)
            serve_state = json.loads(state.read_text())
            url, token = serve_state["url"], serve_state.get("token", "")
            start_s = time.perf_counter() - t0
            ask_daemon(url, QUESTION, False, token=token)  # first answer warms caches
            walls, toks, gens = [], [], []
            for i in range(runs):
                t0 = time.perf_counter()
                reply = ask_daemon(url, questions[i % len(questions)], False, token=token)
                walls.append(time.perf_counter() - t0)
                toks.append(reply["json"]["timings"].get("tokens", 0))
                gens.append(reply["json"]["timings"].get("generate_s", 0))
            t0 = time.perf_counter()
            subprocess.run([*KB, "ask", QUESTION], env=env, capture_output=True)
            cli_s = time.perf_counter() - t0
            # 20 at once: all answered, memory before/after
            from concurrent.futures import ThreadPoolExecutor

            rss0 = _rss_mb(proc.pid)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(20) as pool:
                got = list(pool.map(lambda q, u=url, t=token: ask_daemon(u, q, False, token=t), questions * 5))
            burst_s = time.perf_counter() - t0
            rows.append({"config": label, "start_s": round(start_s, 1), "p50_s": p50(walls),
                         "max_s": round(max(walls), 2), "tokens_p50": statistics.median(toks), "tokens_max": max(toks),
                         "generate_p50_s": p50(gens), "kb_ask_cli_s": round(cli_s, 2),
                         "burst20_answered": sum(1 for g in got if g and g["json"]["answer"]),
                         "burst20_s": round(burst_s, 1), "rss_mb_before_after": f"{rss0} -> {_rss_mb(proc.pid)}",
                         "load": _load()})
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return rows


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _chunks_256(n: int) -> list[str]:
    """n texts of exactly ~256 model tokens, cut from the sample corpus."""
    from kb.backends import load_embedder
    from kb.settings import load_settings

    words = " ".join(p.read_text(errors="replace") for p in sorted((ROOT / "corpus").rglob("*.md*"))).split()
    tok = load_embedder(load_settings(embed_backend="onnx"))
    out, i = [], 0
    while len(out) < n:
        piece = words[i % len(words):][:400] or words[:400]
        ids = tok.tokenizer([" ".join(piece)], add_special_tokens=False)["input_ids"][0][:254]
        out.append(tok._tok.decode(ids))
        i += 173
    return out


def bench_embed(chunks: int) -> list[dict]:
    from kb.backends import load_embedder
    from kb.settings import load_settings

    texts = _chunks_256(chunks)
    rows = []
    for backend in ("torch", "onnx", "onnx-int8"):
        model = load_embedder(load_settings(embed_backend=backend))
        model.encode(texts[:16], batch_size=16)
        t0 = time.perf_counter()
        model.encode(texts, batch_size=16, normalize_embeddings=True)
        rate = len(texts) / (time.perf_counter() - t0)
        row = {"backend": backend, "chunks_per_s": round(rate, 1), "load": _load()}
        for name in ("sample", "shared"):
            row[f"hit@3 {name}"] = _hit3(name, model)
        rows.append(row)
    return rows


def _hit3(set_name: str, embedder) -> float | str:
    from ingest.pipeline import run_ingest
    from kb.engine import Engine
    from kb.settings import load_settings
    from kb.store import Store

    corpus, items = load_set(set_name)
    if not corpus.is_dir():
        return "absent"
    items = [i for i in items if not i.get("refuse")]
    with tempfile.TemporaryDirectory() as tmp:
        s = load_settings(store=Path(tmp) / "store")
        store = Store(s)
        run_ingest([str(corpus)], s, store, embedder, progress=False)
        engine = Engine(s, store=store, embedder=embedder)
        ranks = [rank_of([h.chunk.source for h in engine.search(i["question"], 5)], i["sources"]) for i in items]
    return retrieval_scores(ranks)["hit@3"]


def table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["cold", "decode", "warm", "embed", "demo", "all"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--chunks", type=int, default=256)
    ap.add_argument("--only", action="append", default=[], help="Only configs whose label contains this text.")
    args = ap.parse_args()
    ONLY.extend(args.only)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"Machine: {machine()}; load average at start {_load()}\n"
          f"Command: python -m bench.speed {' '.join(sys.argv[1:])}\n")
    with tempfile.TemporaryDirectory() as tmp:
        store = _sample_store(Path(tmp)) if args.part not in ("embed", "demo") else Path(tmp)
        parts = ["demo", "cold", "decode", "warm", "embed"] if args.part == "all" else [args.part]
        for part in parts:
            if part == "cold":
                rows = bench_cold(store, args.runs)
            elif part == "decode":
                rows = bench_decode(store, args.tokens)
            elif part == "warm":
                rows = bench_warm(store, args.runs)
            elif part == "demo":
                rows = bench_demo()
            else:
                rows = bench_embed(args.chunks)
            print(f"### {part}\n\n{table(rows)}\n", flush=True)


if __name__ == "__main__":
    main()
