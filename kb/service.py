"""The ask step every front end uses (CLI, `kb serve`, the Slack bot, eval).

`ask` answers, then logs a refusal for `kb gaps`; `answer_json` is the object
`kb ask --json` prints, with the --explain payload (passages, scores, sentence
checks) when asked. A new front end calls these and renders the Answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kb.gaps import log_refusal
from kb.types import Answer, Progress

if TYPE_CHECKING:
    from kb.engine import Engine
    from kb.settings import Settings


def ask(engine: Engine, settings: Settings, question: str, *, via: str, log_gap: bool = True,
        progress: Callable[[Progress], None] | None = None) -> Answer:
    """Answer the question; a refusal is logged for `kb gaps` (tagged `via`) unless `log_gap` is False.
    `progress` sees the answer on its way (Engine.ask)."""
    answer = engine.ask(question, progress) if progress is not None else engine.ask(question)
    if answer.refused and log_gap:
        log_refusal(settings, question, answer.closest_topics, via=via)
    return answer


def explain_payload(answer: Answer) -> dict[str, Any]:
    """What --explain adds: the retrieved passages, the raw draft, the mode and each sentence's check."""
    from kb.render import hit_dict

    return {"hits": [hit_dict(h) for h in answer.hits], "raw": answer.raw, "mode": answer.mode,
            "checks": [vars(c) for c in answer.checks]}


def answer_json(answer: Answer, explain: bool = False) -> dict[str, Any]:
    """The `kb ask --json` object (the caller adds `via`)."""
    out = answer.to_dict()
    if explain:
        out["explain"] = explain_payload(answer)
    return out
