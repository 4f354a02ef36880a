"""No lost questions: the bot's durable answer journal, in SQLite next to the feedback DB.

Slack is acknowledged before kb answers, and Slack does not resend what it saw
acknowledged, so anything kept only in memory is lost when the process dies. The
journal keeps, in `<data folder>/bot-journal.sqlite` (mode 0600):

- every event id and message key kb has handled (`seen`), so a Slack retry that
  arrives after a restart is still recognised and not answered twice;
- every question-bearing request (mention, DM, slash command), written by a Bolt
  middleware *before* the listener runs and acknowledges it (`received`), then the
  parsed question with its placeholder (`queued`), then `done` once the answer (or
  apology) was delivered.

On start-up `resume` finishes what a killed process left: queued questions are put
back on the answer queue (their placeholder is edited into the answer), requests
that never reached the listener are dispatched to the app again, and anything older
than `slack_resume_limit` gets "kb restarted, ask again" instead of a stale answer.
It wraps whatever queue answers questions: it only needs `take(question)` and
`deliver(question, text, blocks)` from it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.private import private_file

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

JOURNAL_FILE = "bot-journal.sqlite"
SEEN_TTL = 7 * 24 * 3600.0  # Slack retries within minutes; a week of keys is a few MB at most
RESTARTED = (":arrows_counterclockwise: kb restarted before it could answer this question; "
             "please ask again.")

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
    key TEXT PRIMARY KEY,            -- event:<event_id> | command:<trigger_id>
    received REAL NOT NULL,          -- when Slack's request arrived (unix time)
    body TEXT NOT NULL,              -- the request body as Bolt parsed it (JSON)
    question TEXT,                   -- the parsed Question (JSON) once queued
    state TEXT NOT NULL,             -- received | queued | done
    outcome TEXT NOT NULL DEFAULT ''
);
"""


def journal_path(settings: Settings) -> Path:
    return settings.data_dir / JOURNAL_FILE


def request_key(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(journal key, whether the request can carry a question) for a Slack request body."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        event = body.get("event") or {}
        asks = event.get("type") in ("app_mention", "message") and not event.get("subtype") \
            and not event.get("bot_id") and bool(event.get("user"))
        return f"event:{body['event_id']}", asks
    if body.get("command") and body.get("trigger_id"):
        return f"command:{body['trigger_id']}", True
    return None, False


class Journal:
    """One small SQLite file; a connection per call keeps it safe across Bolt's threads."""

    def __init__(self, path: Path, ttl: float = SEEN_TTL, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        with self._db() as con:
            con.execute("DELETE FROM seen WHERE at < ?", (self.clock() - ttl,))
            con.execute("DELETE FROM questions WHERE state = 'done' AND received < ?", (self.clock() - ttl,))

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(private_file(self.path), timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")  # a stored question survives a power cut, not only kill -9
            con.executescript(SCHEMA)
            yield con
        finally:
            con.close()

    # -- dedupe that survives restarts (the interface of bot.dedupe.Seen) -------------------
    def first_time(self, key: str) -> bool:
        """Record `key`; True only the first time it is seen (within the TTL), across restarts."""
        with self._lock, self._db() as con:
            cur = con.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, self.clock()))
            return cur.rowcount == 1

    def known(self, key: str) -> bool:
        """Whether `key` was recorded (within the TTL), without recording it."""
        with self._lock, self._db() as con:
            return con.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    # -- the life of a question --------------------------------------------------------------
    def receive(self, key: str, body: dict[str, Any], asks: bool) -> bool:
        """Before the ack: remember the key (False when it was seen before) and, for a request that
        can carry a question, the request itself, in one transaction."""
        with self._lock, self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, self.clock())).rowcount != 1:
                    con.execute("ROLLBACK")
                    return False
                if asks:
                    con.execute("INSERT OR REPLACE INTO questions (key, received, body, state) VALUES (?, ?, ?, ?)",
                                (key, self.clock(), json.dumps(body, ensure_ascii=False), "received"))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return True

    def queued(self, key: str | None, question: Any) -> None:
        if key:
            self._set(key, "UPDATE questions SET question = ?, state = 'queued' WHERE key = ? AND state != 'done'",
                      json.dumps(asdict(question), ensure_ascii=False))

    def done(self, key: str | None, outcome: str = "answered") -> None:
        if key:
            self._set(key, "UPDATE questions SET state = 'done', outcome = ? WHERE key = ?", outcome)

    def settle(self, key: str | None, outcome: str = "no question") -> None:
        """The listener finished without queueing a question (help, ignored, not allowed here)."""
        if key:
            self._set(key, "UPDATE questions SET state = 'done', outcome = ? WHERE key = ? AND state = 'received'",
                      outcome)

    def _set(self, key: str, sql: str, value: str) -> None:
        try:
            with self._lock, self._db() as con:
                con.execute(sql, (value, key))
        except sqlite3.Error:  # the answer still goes out; only its durability is lost
            log.exception("could not update the journal %s", self.path)

    def unfinished(self) -> list[dict[str, Any]]:
        with self._lock, self._db() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM questions WHERE state != 'done' ORDER BY received").fetchall()
        return [dict(r) for r in rows]

    def thread_questions(self, channel: str, thread_ts: str) -> list[str]:
        """The questions kb queued in a thread, oldest first (follow-ups when Slack's history is unavailable).
        Only as old as the journal keeps finished questions (SEEN_TTL)."""
        try:
            with self._lock, self._db() as con:
                rows = con.execute(
                    "SELECT question FROM questions WHERE question IS NOT NULL AND "
                    "json_extract(question, '$.channel') = ? AND json_extract(question, '$.thread_ts') = ? "
                    "ORDER BY received", (channel, thread_ts)).fetchall()
        except sqlite3.Error:
            log.exception("could not read the journal %s", self.path)
            return []
        return [q["text"] for (raw,) in rows for q in [json.loads(raw)] if q.get("text")]

    def answered_in(self, channel: str, thread_ts: str) -> bool:
        """Whether kb took a question in this thread (a reply there without a mention is a follow-up)."""
        return bool(self.thread_questions(channel, thread_ts))

    def state(self, key: str) -> str | None:
        with self._lock, self._db() as con:
            row = con.execute("SELECT state FROM questions WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- Bolt wiring -----------------------------------------------------------------------------
    def middleware(self) -> Callable[..., Any]:
        """A global Bolt middleware: dedupe by event id and store question-bearing requests, both
        before any listener acknowledges Slack. Replaces bot.dedupe.dedupe_middleware."""

        def journal_then_ack(body: dict[str, Any], request: Any, next: Callable[[], Any]) -> Any:
            key, asks = request_key(body)
            if key and not request.context.get("kb_replay"):
                if not self.receive(key, body, asks):
                    retry = (request.headers.get("x-slack-retry-num") or [None])[0]
                    log.info("ignoring repeated request %s (retry %s)", key, retry)
                    return request.context.ack()
            request.context["kb_journal_key"] = key if asks else None
            return next()

        return journal_then_ack

    def resume(self, app: Any, answerer: Any, limit: float) -> int:
        """Finish what a killed process left; returns how many questions were picked up."""
        from bot.worker import Question

        rows = self.unfinished()
        for row in rows:
            key, age = row["key"], self.clock() - row["received"]
            try:
                if row["state"] == "queued" and row["question"]:
                    q = Question(**json.loads(row["question"]))
                    if age > limit:
                        log.warning("telling %s to ask again (question %.0fs old): %s", q.asker, age, q.text[:80])
                        from bot.format import simple_blocks

                        if answerer.deliver(q, RESTARTED, simple_blocks(RESTARTED)) is not False:
                            self.done(key, "restarted")
                    else:
                        log.warning("answering a question left by the previous process: %s", q.text[:80])
                        answerer.take(q)
                elif age > limit:
                    self._tell_restarted(app, json.loads(row["body"]))
                    self.done(key, "restarted")
                else:
                    from slack_bolt.request import BoltRequest

                    log.warning("replaying a request the previous process acknowledged: %s", key)
                    app.dispatch(BoltRequest(body=json.loads(row["body"]), mode="socket_mode",
                                             context={"kb_replay": True}))
            except Exception:  # noqa: BLE001 - one bad row must not stop the others
                log.exception("could not resume %s", key)
        return len(rows)

    def _tell_restarted(self, app: Any, body: dict[str, Any]) -> None:
        from slack_sdk.webhook import WebhookClient

        if body.get("response_url"):
            WebhookClient(body["response_url"], retry_handlers=list(app.client.retry_handlers)).send(
                text=RESTARTED, response_type="ephemeral")
            return
        event = body.get("event") or {}
        if event.get("channel"):
            app.client.chat_postMessage(channel=event["channel"], thread_ts=event.get("thread_ts") or event.get("ts"),
                                        text=RESTARTED)
