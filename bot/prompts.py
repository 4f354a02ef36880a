"""Suggested prompts for the assistant panel: the glossary terms people ask about most.

The questions kb answered in Slack are in the feedback store; each one that names a
glossary term ("what is LoRA?", "MoE vs dense?") counts for that term's page. The
most-asked pages come first, and pages nobody asked about yet fill the rest, so a new
install still offers real topics from its own store. A prompt reads "What is <page
title>?" because a definition is what a glossary page answers best.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MAX_PROMPTS = 4  # Slack shows at most four suggested prompts


def suggested_prompts(engine: Any, asked: list[str], limit: int = MAX_PROMPTS) -> list[dict[str, str]]:
    """[{"title", "message"}] for assistant.threads.setSuggestedPrompts, most-asked first."""
    from kb.retrieve import question_terms

    corpus = engine.corpus()
    titles = page_titles(engine, corpus)
    counts: Counter[str] = Counter()
    for question in asked:
        for term in question_terms(question):
            for source in sorted(corpus.defining_sources(term)):
                if source in titles:
                    counts[source] += 1
    ranked = [s for s, _ in counts.most_common()] + sorted(s for s in titles if s not in counts)
    prompts = []
    for source in ranked:
        question = as_question(titles[source])
        if all(p["message"] != question for p in prompts):
            prompts.append({"title": question, "message": question})
        if len(prompts) == limit:
            break
    return prompts


_TITLES: dict[tuple[int, str], dict[str, str]] = {}


def page_titles(engine: Any, corpus: Any) -> dict[str, str]:
    """source -> title of the pages that define a glossary term, read once per store generation."""
    key = (id(engine), corpus.generation)
    if key not in _TITLES:
        defining = {s for sources in corpus.terms.values() for s in sources}
        _TITLES.clear()
        _TITLES[key] = {s: rec.title for s, rec in engine.store.pages().items() if s in defining and rec.title}
    return _TITLES[key]


def as_question(title: str) -> str:
    """'Base model' -> 'What is a base model?'; 'LoRA (low-rank adaptation)' and 'Quantization' get
    no article (an acronym, a mass noun), and 'LoRA' or 'RLHF' keep their capitals."""
    title = " ".join(title.split())
    first, _, rest = title.partition(" ")
    if first[:1].isupper() and first[1:].islower():
        first = first.lower()
    else:
        return f"What is {title}?"
    head = f"{first} {rest}".strip().split(" (")[0]
    mass = head.endswith(("ing", "tion", "sion", "ness", "s")) and not head.startswith("mixture")
    article = "" if mass else ("an " if head[:1] in "aeiou" else "a ")
    return f"What is {article}{first} {rest}".rstrip() + "?"
