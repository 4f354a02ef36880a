"""Threads vs a busy core: how fast one answer decodes with 1 and 2 threads, alone and beside a
CPU-bound process (issue 14, item 8; the figures are in docs/operations.md).

    python -m bench.threads [--tokens 48] [--rounds 3] [--runtime transformers|llama-cpp]
    python -m bench.threads --answers STORE [--draft never|always] [--rounds 3]

`--answers STORE` times whole answers instead (Engine.ask on a store built with
`kb --store STORE ingest corpus`: retrieval, checks and, with `--draft always`, the
model's draft through the settings' runtime): the median over five sample questions,
after one warm-up answer, in a fresh process per configuration, with the CPU seconds the
answer used (flat CPU with a longer wall: the answer waited for a core; growing CPU:
threads spinning against each other).

Each configuration runs in a fresh process (torch sizes its thread pool once per process):
the bundled SmolLM2 generates `--tokens` tokens for a fixed ~200-token prompt, three times,
and the best decode rate and the median wall time are kept. "busy" starts
`python -c 'while True: pass'` beside it. The rounds interleave the configurations, so
each comparison is taken back to back; on a shared machine the absolute numbers move,
the ratios much less. Prints a Markdown table with the CPU model and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = [{"role": "system", "content": "You answer questions using only the numbered passages."},
          {"role": "user", "content": "Passages:\n[1] Mixture of experts - Overview: A mixture of experts model "
           "routes each token to a few expert feed-forward networks chosen by a router, so only part of the "
           "model runs for each token. This keeps the compute per token low while the total parameter count "
           "is high. [2] Dense model - Overview: A dense model runs all of its parameters for every token.\n\n"
           "Question: what is a mixture of experts model?\nAnswer:"}]


def child(threads: int, tokens: int, runtime: str) -> None:
    os.environ["KB_THREADS"] = str(threads)
    os.environ["KB_LLM_RUNTIME"] = runtime
    from kb.backends import load_llm
    from kb.settings import load_settings

    llm = load_llm(load_settings())
    llm.chat(PROMPT, 4)  # warm
    start = time.perf_counter()
    _, n = llm.chat(PROMPT, tokens)
    took = time.perf_counter() - start
    print(json.dumps({"seconds": took, "tokens": n}))


QUESTIONS = ["what is a mixture of experts model?", "what is a base model?", "what is quantization?",
             "what is LoRA?", "what is a dense model?"]


def answer_child(threads: int, store: str, draft: str, tokens: int) -> None:
    import statistics as stats

    os.environ.update({"KB_THREADS": str(threads), "KB_DRAFT": draft, "KB_MAX_NEW_TOKENS": str(tokens)})
    from kb.engine import Engine
    from kb.settings import load_settings

    engine = Engine(load_settings(store=store))
    engine.ask(QUESTIONS[-1])  # warm: models, BM25 index
    times, cpu = [], []
    for q in QUESTIONS:
        start, used = time.perf_counter(), time.process_time()
        engine.ask(q)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - used)
    llm = f"{engine.model_label} via {type(engine._llm).__name__}" if engine._llm is not None else "no LLM loaded"
    print(json.dumps({"seconds": stats.median(times), "cpu": stats.median(cpu), "tokens": len(times), "runtime": llm}))


def run(threads: int, busy: bool, tokens: int, runtime: str, answers: str = "", draft: str = "never") -> dict:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    what = ["--answers", answers, "--draft", draft] if answers else ["--runtime", runtime]
    try:
        out = subprocess.run([sys.executable, "-m", "bench.threads", "--child", str(threads), "--tokens", str(tokens),
                              *what], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name"))
    except (OSError, StopIteration):
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", type=int)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", default="transformers")
    ap.add_argument("--answers", default="", help="a store: time whole answers (Engine.ask) instead of decoding")
    ap.add_argument("--draft", default="never", help="with --answers: KB_DRAFT (never: quotes only; always)")
    args = ap.parse_args()
    if args.child is not None:
        if args.answers:
            return answer_child(args.child, args.answers, args.draft, args.tokens)
        return child(args.child, args.tokens, args.runtime)
    configs = [(1, False), (2, False), (1, True), (2, True)]
    results: dict[tuple[int, bool], list[dict]] = {c: [] for c in configs}
    loads = []
    for _ in range(args.rounds):
        for threads, busy in configs:
            loads.append(float(open("/proc/loadavg").read().split()[0]))
            results[(threads, busy)].append(run(threads, busy, args.tokens, args.runtime, args.answers, args.draft))
    what = (f"whole answers, KB_DRAFT={args.draft}, {results[configs[0]][0]['runtime']}" if args.answers
            else f"runtime {args.runtime}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; {what}; {args.tokens} new tokens; "
          f"load average during the runs {min(loads):.1f}-{max(loads):.1f}\n")
    if args.answers:
        # CPU seconds tell a thread pool that collapses (CPU time grows) from a process that only
        # waits for a core other programs hold (CPU time flat, wall time grows)
        print("| threads | beside a busy process | seconds per answer (median of rounds) | CPU seconds | "
              "vs same threads alone |")
        print("|---|---|---|---|---|")
        for threads, busy in configs:
            med = statistics.median(r["seconds"] for r in results[(threads, busy)])
            cpu = statistics.median(r["cpu"] for r in results[(threads, busy)])
            alone = statistics.median(r["seconds"] for r in results[(threads, False)])
            print(f"| {threads} | {'yes' if busy else 'no'} | {med:.2f} | {cpu:.2f} | {med / alone:.2f}x |")
        return None
    print("| threads | beside a busy process | tokens/s (best) | seconds (median) | vs same threads alone |")
    print("|---|---|---|---|---|")
    for threads, busy in configs:
        rs = results[(threads, busy)]
        tps = max(r["tokens"] / r["seconds"] for r in rs)
        med = statistics.median(r["seconds"] for r in rs)
        alone = statistics.median(r["seconds"] for r in results[(threads, False)])
        print(f"| {threads} | {'yes' if busy else 'no'} | {tps:.1f} | {med:.2f} | {med / alone:.2f}x |")


if __name__ == "__main__":
    main()
