"""Answers the bot gave and what people thought of them, in SQLite.

Every answer the bot posts is recorded (question, answer, citations, who asked,
where, when) under an id that the helpful / not-helpful buttons carry. A click
records one vote per person and answer (clicking again changes the vote).
`kb feedback` lists the votes; `eval_candidates` turns the unhelpful ones into
draft eval items, so the questions people found answered badly become tests.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.types import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    time TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL,          -- JSON list of Citation dicts
    model TEXT NOT NULL,
    asker TEXT NOT NULL,
    channel TEXT NOT NULL,
    via TEXT NOT NULL                 -- mention | dm | command
);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL REFERENCES answers(id),
    user TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (answer_id, user)
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """One small SQLite file; a connection per call keeps it safe across the bot's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        from kb.private import private_file

        con = sqlite3.connect(private_file(self.path), timeout=10)
        con.row_factory = sqlite3.Row
        try:
            con.executescript(SCHEMA)
            with con:
                yield con
        finally:
            con.close()

    def record_answer(self, answer: Answer, *, asker: str, channel: str, via: str) -> str:
        """Store an answer about to be posted; return the id its feedback buttons carry."""
        answer_id = uuid.uuid4().hex
        with self._db() as con:
            con.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, now(), answer.question, answer.answer, int(answer.refused),
                 json.dumps([c.to_dict() for c in answer.citations], ensure_ascii=False), answer.model,
                 asker, channel, via),
            )
        return answer_id

    def record_vote(self, answer_id: str, user: str, helpful: bool) -> bool:
        """Store (or change) one person's vote; False when the answer is unknown."""
        with self._db() as con:
            if con.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            con.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?) ON CONFLICT(answer_id, user) "
                "DO UPDATE SET helpful = excluded.helpful, time = excluded.time",
                (answer_id, user, int(helpful), now()),
            )
        return True

    def asked(self, limit: int = 2000) -> list[str]:
        """The questions kb answered (not refused), most recent first: what people actually ask."""
        if not self.path.exists():
            return []
        with self._db() as con:
            rows = con.execute("SELECT question FROM answers WHERE refused = 0 ORDER BY time DESC LIMIT ?",
                               (limit,)).fetchall()
        return [r["question"] for r in rows]

    def votes(self, *, unhelpful_only: bool = False) -> list[dict[str, Any]]:
        """Votes joined with the answers they judge, oldest first."""
        if not self.path.exists():
            return []
        where = "WHERE f.helpful = 0" if unhelpful_only else ""
        with self._db() as con:
            rows = con.execute(
                "SELECT f.time, f.user, f.helpful, a.id AS answer_id, a.question, a.answer, a.refused, "
                "a.citations, a.model, a.asker, a.channel, a.via, a.time AS answered "
                f"FROM feedback f JOIN answers a ON a.id = f.answer_id {where} ORDER BY f.time, a.id"
            ).fetchall()
        return [{**dict(r), "helpful": bool(r["helpful"]), "refused": bool(r["refused"]),
                 "citations": json.loads(r["citations"])} for r in rows]


def feedback_path(settings: Any) -> Path:
    return Path(settings.data_dir) / "feedback.sqlite"


def guess_kind(question: str) -> str:
    """A first guess at the eval item's kind; the person filling in the facts checks it."""
    q = question.lower()
    if " vs" in q or "differ" in q or "compare" in q or "better than" in q:
        return "comparison"
    if q.startswith(("how ", "how do", "how can", "when should", "should ")):
        return "howto"
    return "definition"


def eval_candidates(votes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Draft eval items (the shape of eval/sets/*.yaml items) from not-helpful votes, one per question.

    `facts` and `sources` are left for a person to fill in: a bad answer's citations
    are exactly what cannot be trusted. `note` (not an eval key; `eval_yaml` prints
    it as a comment) says who found the answer unhelpful and what kb said.
    """
    items: dict[str, dict[str, Any]] = {}
    for v in votes:
        if v["helpful"]:
            continue
        key = " ".join(v["question"].lower().split())
        if key in items:
            continue
        cited = sorted({c["source"] for c in v["citations"]})
        what = "refused" if v["refused"] else "answered: " + " ".join(v["answer"].split())[:300]
        items[key] = {
            "id": f"feedback-{v['answer_id'][:8]}",
            "question": v["question"],
            "kind": guess_kind(v["question"]),
            "facts": [],
            "sources": [],
            "note": f"marked not helpful by {v['user']} on {v['time'][:10]}; kb {what}"
                    + (f" (cited: {', '.join(cited)})" if cited else ""),
        }
    return list(items.values())


def eval_yaml(votes: list[dict[str, Any]]) -> str:
    """The candidates as YAML list entries, indented to paste under an eval set's `items:`."""
    import yaml

    out = []
    for item in eval_candidates(votes):
        fields = {k: v for k, v in item.items() if k != "note"}
        out.append(f"  # {item['note']}\n")
        out.append("  # TODO: check kind; add facts and sources (or refuse: true with kind out_of_scope)\n")
        entry = yaml.safe_dump([fields], sort_keys=False, allow_unicode=True, width=100)
        out.extend(f"  {line}\n" for line in entry.splitlines())
        out.append("\n")
    return "".join(out)
