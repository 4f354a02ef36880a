"""A deterministic, glossary-like Markdown corpus of any size, for benchmarks and crash tests.

Each page defines one made-up term (front matter, a definition, "How it works",
"Example", "Related terms" and a site footer), about 250 words, so pages look
like the real glossary without copying any real page. Same (pages, seed) -> same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

ADJECTIVES = """sparse dense latent adaptive quantized streaming cached sharded federated distilled pruned
gated causal bidirectional contrastive retrieval-augmented speculative multimodal hierarchical recurrent
residual rotary grouped sliding low-rank mixed-precision paged batched instruction-tuned aligned
synthetic curriculum tokenized weighted calibrated greedy beam-searched fused parallel""".split()
NOUNS = """attention router tokenizer embedding adapter cache decoder encoder sampler scheduler optimizer
checkpoint gradient kernel index reranker retriever prompt template evaluator guardrail buffer pipeline
projection normalizer vocabulary context-window head layer ensemble""".split()
VERBS = ["reduces", "controls", "stores", "predicts", "ranks", "splits", "compresses", "routes", "filters",
         "schedules", "balances", "tracks", "caches", "measures", "selects", "rewrites", "aligns", "merges"]
OBJECTS = ["the memory used at inference time", "how many tokens reach the model", "the order of candidate passages",
           "the cost of each training step", "latency under heavy load", "which expert handles a token",
           "the size of the key-value cache", "the precision of the weights", "the length of generated answers",
           "the share of requests served from cache", "errors in long documents", "the variance of the gradients",
           "the number of shards per node", "the quality of retrieved context", "throughput on small GPUs"]
CLAUSES = ["when the batch size grows", "without changing the model weights", "before the first token is produced",
           "for every request in a queue", "on commodity hardware", "during fine-tuning", "in production systems",
           "while keeping accuracy stable", "across several machines", "at the cost of extra memory",
           "for long inputs", "in most open-source toolkits"]
CATEGORIES = ["technique", "component", "training method", "serving strategy", "data structure",
              "evaluation practice", "model design"]


def term_name(i: int) -> str:
    adj = ADJECTIVES[i % len(ADJECTIVES)]
    noun = NOUNS[(i // len(ADJECTIVES)) % len(NOUNS)]
    cycle = i // (len(ADJECTIVES) * len(NOUNS))
    return f"{adj} {noun}" + (f" v{cycle + 1}" if cycle else "")


def _sentence(rng: random.Random, subject: str) -> str:
    return f"{subject.capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(CLAUSES)}."


def page_text(i: int, pages: int, seed: int = 0) -> str:
    rng = random.Random(seed * 1_000_003 + i)
    term = term_name(i)
    title = term[0].upper() + term[1:]
    alias = f"{term.split()[0]} {rng.choice(NOUNS)}"
    category = rng.choice(CATEGORIES)
    related = sorted({rng.randrange(pages) for _ in range(3)} - {i})
    how = [" ".join(_sentence(rng, rng.choice([term, "it", f"the {term}"])) for _ in range(4)) for _ in range(2)]
    example = " ".join(_sentence(rng, rng.choice(["the team", "a serving stack", f"the {term}"])) for _ in range(4))
    lines = [
        "---",
        f"title: {title}",
        f"description: What {term} means and when to use it.",
        f"aliases: [{alias}]",
        "---",
        "",
        f"# {title}",
        "",
        f"A {term} is a {category} that {rng.choice(VERBS)} {rng.choice(OBJECTS)}. "
        f"It is also called a {alias}. " + _sentence(rng, term),
        "",
        "## How it works",
        "",
        how[0],
        "",
        how[1],
        "",
        "## Example",
        "",
        example,
        "",
        "## Related terms",
        "",
        *[f"- [{term_name(j)}](./{term_name(j).replace(' ', '-')}.md)" for j in related],
        "",
        "Was this page helpful? Edit it on the docs site.",
        "",
    ]
    return "\n".join(lines)


def write_corpus(folder: Path, pages: int, seed: int = 0) -> list[Path]:
    """Write `pages` glossary pages into folder (created); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(pages):
        path = folder / f"{i:05d}-{term_name(i).replace(' ', '-')}.md"
        path.write_text(page_text(i, pages, seed), encoding="utf-8")
        paths.append(path)
    return paths
