"""Follow-ups in Slack threads: the questions asked earlier in a thread where kb answered.

A reply in such a thread ("why?", "and how is MoE different?") is answered as a
follow-up of those questions (kb/followup.py turns it into a standalone question).
The thread is read from Slack (conversations.replies: needs channels:history,
groups:history or im:history for where the thread is); when Slack will not give it
(a missing scope, an outage), the journal's record of the questions kb queued in that
thread stands in, so a follow-up still works after a restart and with fewer scopes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_EARLIER = 3  # the last few questions carry the subject; older ones only add noise to the rewrite


def earlier_questions(client: Any, journal: Any, event: dict[str, Any], bot_user_id: str | None,
                      bot_id: str | None, parse: Callable[[str], str]) -> list[str]:
    """The questions asked before `event` in its thread, oldest first; [] when the message is not a
    reply in a thread where kb answered. `parse` turns a message's text into its question ('' for none)."""
    thread_ts, ts, channel = event.get("thread_ts"), event.get("ts"), event.get("channel")
    if not thread_ts or thread_ts == ts or not channel:
        return []
    try:
        found = from_slack(client, channel, thread_ts, ts, bot_user_id, bot_id, parse,
                           dm=event.get("channel_type") == "im" or channel.startswith("D"))
    except Exception as exc:  # noqa: BLE001 - SlackApiError (missing_scope...), network: fall back to the journal
        log.warning("could not read thread %s in %s (%s); using kb's journal of the thread", thread_ts, channel, exc)
        found = journal.thread_questions(channel, thread_ts) if journal is not None else None
    return (found or [])[-MAX_EARLIER:]


def from_slack(client: Any, channel: str, thread_ts: str, before_ts: str | None, bot_user_id: str | None,
               bot_id: str | None, parse: Callable[[str], str], dm: bool) -> list[str] | None:
    """Earlier questions from conversations.replies, or None when kb has not answered in the thread.

    In a channel only messages that mention kb are questions to it (people also talk to each
    other in threads); in a DM every message from the person is.
    """
    messages: list[dict[str, Any]] = []
    cursor = None
    while True:
        resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=200, cursor=cursor)
        messages += resp.get("messages") or []
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor or len(messages) >= 1000:
            break
    by_kb = [m for m in messages if _is_kb(m, bot_user_id, bot_id)]
    if not by_kb:
        return None
    out = []
    for m in messages:
        if _is_kb(m, bot_user_id, bot_id) or m.get("subtype") or m.get("bot_id") or not m.get("user"):
            continue
        if before_ts and _ts(m.get("ts")) >= _ts(before_ts):
            continue
        raw = m.get("text") or ""
        if not dm and bot_user_id and f"<@{bot_user_id}" not in raw:
            continue
        text = parse(raw)
        if text:
            out.append(text)
    return out


def _is_kb(message: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> bool:
    return bool((bot_id and message.get("bot_id") == bot_id) or (bot_user_id and message.get("user") == bot_user_id))


def _ts(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
