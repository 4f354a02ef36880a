"""The ask step every front end uses (CLI, `kb serve`, the Slack bot, eval).

`ask` answers, then logs a refusal for `kb gaps`; `answer_json` is the object
`kb ask --json` prints, with the --explain payload (passages, scores, sentence
checks) when asked. A new front end calls these and renders the Answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kb.followup import condense
from kb.gaps import log_refusal
from kb.types import Answer, Progress

if TYPE_CHECKING:
    from kb.engine import Engine
    from kb.settings import Settings


def ask(engine: Engine, settings: Settings, question: str, *, via: str, log_gap: bool = True,
        follow_up_of: Sequence[str] = (), progress: Callable[[Progress], None] | None = None) -> Answer:
    """Answer the question; a refusal is logged for `kb gaps` (tagged `via`) unless `log_gap` is False.

    With `follow_up_of` (the conversation's earlier questions, oldest first) the question is a
    follow-up: it is rewritten to stand alone (kb/followup.py) and that is what is retrieved,
    prompted, verified and logged; the Answer keeps what the person typed as its question.
    `progress` sees the answer on its way (Engine.ask).
    """
    earlier = [q for q in follow_up_of if q and q.strip()]
    standalone = condense(question, earlier) if earlier else question
    answer = engine.ask(standalone, progress) if progress is not None else engine.ask(standalone)
    if earlier:
        answer.question, answer.follow_up_of, answer.standalone = question, earlier, standalone
    if answer.refused and log_gap:
        log_refusal(settings, standalone, answer.closest_topics, via=via)
    return answer


def explain_payload(answer: Answer) -> dict[str, Any]:
    """What --explain adds: the retrieved passages, the raw draft, the mode and each sentence's check."""
    from kb.render import hit_dict

    out = {"hits": [hit_dict(h) for h in answer.hits], "raw": answer.raw, "mode": answer.mode,
           "checks": [vars(c) for c in answer.checks]}
    if answer.follow_up_of:
        out["standalone_question"] = answer.standalone
    return out


def answer_json(answer: Answer, explain: bool = False) -> dict[str, Any]:
    """The `kb ask --json` object (the caller adds `via`)."""
    out = answer.to_dict()
    if explain:
        out["explain"] = explain_payload(answer)
    return out
