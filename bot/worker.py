"""Answer questions one at a time, after Slack has been acknowledged.

Listeners acknowledge Slack at once, post a placeholder in the thread, and hand a
`Question` to the `Answerer`. One worker thread owns the Engine: the model is
CPU-bound, so running two answers at once only makes both slower, and a burst of
questions waits in the queue instead of being lost. Whatever goes wrong while
answering, the asker gets a short apology, the log gets the traceback, and the
worker carries on with the next question.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot import format
from bot.feedback import FeedbackStore
from kb.answer_queue import AnswerQueue
from kb.errors import QuestionTooLong
from kb.service import ask
from kb.settings import Settings
from kb.types import Progress

log = logging.getLogger(__name__)


@dataclass
class Question:
    text: str
    asker: str
    channel: str
    via: str  # mention | dm | command | thread (a reply in a kb thread without a mention) | assistant (panel)
    thread_ts: str | None = None  # the thread the answer goes to (mentions, DMs)
    placeholder_ts: str | None = None  # the "looking it up" message the answer replaces
    response_url: str | None = None  # slash commands answer here, ephemerally
    key: str | None = None  # its entry in the journal (bot/journal.py), which outlives the process
    follow_up_of: list[str] = field(default_factory=list)  # earlier questions of the thread (bot/thread.py)


class Answerer:
    """`scopes` (bot/scopes.py) gives the Engine for a question's channel."""

    def __init__(self, settings: Settings, scopes: Any, client: WebClient, feedback: FeedbackStore,
                 journal: Any = None) -> None:
        self.settings = settings
        self.journal = journal
        self.scopes = scopes
        self.client = client
        # progress and status are best effort: a 429 or 5xx skips that edit instead of holding the
        # worker (and every question queued behind it) for Retry-After seconds
        self.hint_client = WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout,
                                     retry_handlers=[])
        self.feedback = feedback
        self._queue = AnswerQueue(name="kb-answerer")  # the one kb serve uses
        self.after_answer: Any = None  # called on the worker thread after each question (the bot's prompts)

    def ahead(self) -> int:
        """Questions that will be answered before one submitted now."""
        return self._queue.ahead()

    def take(self, q: Question) -> None:
        """Show the asker that kb is on it, then queue the question (called right after ack)."""
        if q.via == "assistant":
            # the panel shows a status line instead of a placeholder; posting any reply clears it
            self.status(q, format.status(self.ahead()))
        elif q.response_url is None and q.placeholder_ts is None:
            try:
                resp = self.client.chat_postMessage(channel=q.channel, thread_ts=q.thread_ts,
                                                    text=format.placeholder(self.ahead()))
                q.placeholder_ts = resp.get("ts")
            except Exception:  # noqa: BLE001 - the answer can still be posted on its own
                log.exception("could not post the placeholder in %s", q.channel)
        if self.journal:
            self.journal.queued(q.key, q)
        self._queue.submit(lambda: self._handle(q))

    def _handle(self, q: Question) -> None:
        try:
            if self.answer(q) is not False and self.journal:
                self.journal.done(q.key)  # undelivered questions stay in the journal for the next start
            if self.after_answer is not None:
                self.after_answer()
        except Exception:  # noqa: BLE001 - the worker must outlive any single question
            log.exception("unexpected failure while handling %r", q.text)

    def answer(self, q: Question) -> bool:
        """Answer and deliver; False when the answer could not be delivered."""
        log.info("question from %s in %s (%s): %s", q.asker, q.channel, q.via, q.text)
        try:
            engine = self.scopes.engine_for(q.channel)
            answer = ask(engine, self.settings, q.text, via="slack", follow_up_of=q.follow_up_of,
                         progress=lambda p: self.progress(q, p))
        except QuestionTooLong as exc:  # the message says what to do; nothing went wrong
            text = f":straight_ruler: {format.escape(str(exc))}"
            return self.deliver(q, text, format.simple_blocks(text))
        except Exception:  # noqa: BLE001 - any failure: apologise, log, keep serving
            log.exception("answering %r from %s in %s failed", q.text, q.asker, q.channel)
            return self.deliver(q, format.APOLOGY, format.simple_blocks(format.APOLOGY))
        log.info("%s in %.1fs: %s", "refused" if answer.refused else f"answered ({answer.mode})",
                 answer.timings.get("total_s", 0.0), answer.answer[:200])
        try:
            answer_id: str | None = self.feedback.record_answer(answer, asker=q.asker, channel=q.channel, via=q.via)
        except Exception:  # noqa: BLE001 - an answer without buttons beats no answer
            log.exception("could not record the answer in %s", self.feedback.path)
            answer_id = None
        return self.deliver(q, format.answer_text(answer), format.answer_blocks(answer, answer_id))

    def progress(self, q: Question, p: Progress) -> None:
        """Show the answer on its way: the pages being read, the quotes kb picked, the model's sentences
        verified so far.
        Best effort: a failed update only means the asker waits for the final answer."""
        if q.response_url:
            return  # an ephemeral slash-command answer is replaced once, at the end
        try:
            if p.stage == "retrieved":
                if q.via == "assistant":
                    self.status(q, format.reading_status(p.sources))
                elif q.placeholder_ts:
                    self.hint_client.chat_update(channel=q.channel, ts=q.placeholder_ts,
                                                 text=format.reading(p.sources))
                return
            text = format.partial(p.sentences) if p.stage == "verified" else format.quoted(p.sentences, p.sources)
            if q.placeholder_ts:
                self.hint_client.chat_update(channel=q.channel, ts=q.placeholder_ts, text=text)
            else:  # the assistant thread's first reply: from now on the answer edits this message
                resp = self.hint_client.chat_postMessage(channel=q.channel, thread_ts=q.thread_ts, text=text)
                q.placeholder_ts = resp.get("ts")
                if self.journal:
                    self.journal.queued(q.key, q)  # after a restart, the answer replaces this message
        except Exception:  # noqa: BLE001
            log.warning("could not show progress in %s", q.channel, exc_info=True)

    def status(self, q: Question, text: str) -> None:
        """assistant.threads.setStatus: the panel's 'kb is thinking...' line."""
        try:
            self.hint_client.assistant_threads_setStatus(channel_id=q.channel, thread_ts=q.thread_ts or "", status=text)
        except Exception:  # noqa: BLE001 - cosmetic; the answer still comes
            log.warning("could not set the assistant status in %s", q.channel, exc_info=True)

    def deliver(self, q: Question, text: str, blocks: list[dict[str, Any]]) -> bool:
        """One message per question: replace the placeholder, else post in the thread or the response_url."""
        try:
            if q.response_url:
                hook = WebhookClient(q.response_url, retry_handlers=list(self.client.retry_handlers))
                resp = hook.send(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)
                if resp.status_code != 200:
                    log.error("response_url answered %s: %s", resp.status_code, resp.body[:200])
                    return False
            elif q.placeholder_ts:
                self.client.chat_update(channel=q.channel, ts=q.placeholder_ts, text=text, blocks=blocks)
            else:
                self.client.chat_postMessage(channel=q.channel, thread_ts=q.thread_ts, text=text, blocks=blocks)
        except Exception:  # noqa: BLE001 - logged loudly; the journal keeps the question for the next start
            log.exception("could not post the answer to %s (kept in the journal)", q.channel)
            return False
        return True
