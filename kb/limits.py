"""Bounds on what one question may cost: its length, and the prompt built from it.

A 100k-character question would go into the prompt whole (~25k tokens, beyond the
bundled model's context) and hold the single model worker for minutes. Questions
longer than `max_question_chars` are turned away with a message before any work
(CLI, `kb serve`, Slack), and every prompt is clipped to fit the model's context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.errors import QuestionTooLong

if TYPE_CHECKING:
    from kb.settings import Settings

CHARS_PER_TOKEN = 2.5  # conservative for English (~4); code, URLs and other scripts use more tokens per char
DEFAULT_CONTEXT = 2048  # tokens, when the runtime does not say (llama.cpp is opened with n_ctx=2048)

__all__ = ["QuestionTooLong", "check_question", "fit_prompt", "context_tokens"]


def check_question(question: str, settings: Settings) -> None:
    limit = settings.max_question_chars
    if len(question) > limit:
        raise QuestionTooLong(
            f"the question is {len(question):,} characters long; kb takes questions of up to {limit:,} "
            "characters (KB_MAX_QUESTION_CHARS). Ask it in a sentence or two."
        )


def context_tokens(llm: Any) -> int:
    """The model's context window in tokens, as far as the runtime tells."""
    for name in ("context_tokens", "n_ctx"):
        value = getattr(llm, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT


def fit_prompt(messages: list[dict[str, str]], context: int, max_new_tokens: int) -> list[dict[str, str]]:
    """Clip the last (user) message so the whole prompt fits `context` minus the answer's tokens.

    Token counts are estimated from characters (CHARS_PER_TOKEN, erring towards more
    tokens); the clip keeps the head of the message (the passages) and its tail (the
    question and the 'Answer:' cue), cutting the middle.
    """
    budget = int((context - max_new_tokens - 32) * CHARS_PER_TOKEN)
    used = sum(len(m["content"]) for m in messages[:-1])
    room = max(200, budget - used)
    last = messages[-1]["content"]
    if len(last) <= room:
        return messages
    tail = min(len(last) // 2, room // 2)
    clipped = last[: room - tail - 5] + "\n...\n" + last[-tail:]
    return [*messages[:-1], {**messages[-1], "content": clipped}]
