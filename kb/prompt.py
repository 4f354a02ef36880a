"""The messages the model drafts from: a few short, numbered passages."""

from __future__ import annotations

from kb.passages import SourceSentence, source_sentences
from kb.quotes import MAX_SENTENCES, best_quotes
from kb.types import Hit
from kb.verify import Checker

PROMPT_PASSAGES = 4  # without focus: the first 90 words of the top passages

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages. "
    "Answer in one to three short, plain sentences. Do not add facts that are not in the passages."
)


def build_messages(question: str, hits: list[Hit], focus: list[SourceSentence] | None = None,
                   max_words: int = 90, sources: list[SourceSentence] | None = None) -> list[dict[str, str]]:
    """Few, short, numbered passages: a 135M model loses the thread in long prompts.

    With `focus` (the source sentences kb would quote), each passage shows only those
    sentences, in page order (`sources`: the hits' sentences, when the caller has them
    already). The prompt shrinks to ~200 tokens, which halves the
    prefill time on a CPU, and the model paraphrases exactly what the checks accept.
    """
    blocks = []
    if focus:
        order = {src.text: i for i, src in enumerate(sources or source_sentences(hits))}
        by_hit: dict[int, list[SourceSentence]] = {}
        for src in focus:
            by_hit.setdefault(src.hit_index, []).append(src)
        for n, hit_index in enumerate(sorted(by_hit), start=1):
            chunk = hits[hit_index].chunk
            text = " ".join(s.text for s in sorted(by_hit[hit_index], key=lambda s: order.get(s.text, 0)))
            blocks.append(f"[{n}] {chunk.title} - {chunk.section}: {text}")
    else:
        for i, hit in enumerate(hits[:PROMPT_PASSAGES], start=1):
            words = hit.chunk.text.split()
            text = " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")
            blocks.append(f"[{i}] {hit.chunk.title} - {hit.chunk.section}: {text}")
    user = "Passages:\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\nAnswer:"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prompt(question: str, hits: list[Hit], checker: Checker, terms: list[str],
           focused: bool) -> tuple[list[dict[str, str]], list[SourceSentence] | None]:
    """The messages for the model and, when focused, the quotes they were built from
    (compose reuses those instead of picking them again)."""
    focus = best_quotes(checker, question, terms, limit=MAX_SENTENCES) if focused else None
    return build_messages(question, hits, focus, sources=checker.sources), focus
