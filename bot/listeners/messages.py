"""Mentions in channels and messages in DMs: parse the question, then hand it to the Answerer.

A reply in a thread where kb answered is a follow-up: the thread's earlier questions go with
it (bot/thread.py). Replies there that do not mention kb count too when the app is
subscribed to message.channels / message.groups (docs/slack.md).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot import format
from bot.thread import earlier_questions
from bot.worker import Question

log = logging.getLogger(__name__)

USER_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
CHANNEL_LINK = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
URL_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
HELP_WORDS = {"help", "-h", "--help", "?", "usage"}


def question_text(text: str, bot_user_id: str | None) -> str:
    """Slack's wire format to the question a person typed: no bot mention, links as their labels."""
    text = USER_MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else "@" + (m.group(2) or m.group(1)), text)
    text = CHANNEL_LINK.sub(lambda m: "#" + m.group(1), text)
    text = URL_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split()).strip(" ,:")


def is_help(text: str) -> bool:
    return not text or text.lower() in HELP_WORDS


def take_message(bot: Any, event: dict[str, Any], context: Any, client: Any, via: str) -> None:
    """A message event (mention, DM, assistant thread) to a queued question, help, or nothing."""
    user = event.get("user")
    if event.get("subtype") or event.get("bot_id") or not user or user == context.bot_user_id:
        return  # edits, joins, files, other bots and kb itself
    channel = event["channel"]
    if not bot.seen.first_time(f"message:{channel}:{event['ts']}") and not context.get("kb_replay"):
        return  # the same message as another event type (e.g. a mention inside a DM)
    thread_ts = event.get("thread_ts") or event["ts"]
    if not bot.allowed(channel):
        client.chat_postEphemeral(channel=channel, user=user, text=bot.not_here_text())
        return
    text = question_text(event.get("text") or "", context.bot_user_id)
    if is_help(text):
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=format.HELP)
        return

    def parse(raw: str) -> str:
        q = question_text(raw, context.bot_user_id)
        return "" if is_help(q) else q

    earlier = earlier_questions(client, bot.seen, event, context.bot_user_id, context.get("bot_id"), parse)
    bot.answerer.take(Question(text=text, asker=user, channel=channel, via=via, thread_ts=thread_ts,
                               key=context.get("kb_journal_key"), follow_up_of=earlier))


def register(app: Any, bot: Any) -> None:
    def handle(event: dict[str, Any], context: Any, client: Any, via: str) -> None:
        take_message(bot, event, context, client, via)

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], context: Any, client: Any) -> None:
        handle(event, context, client, "mention")
        bot.settle(context)

    @app.event("message")
    def on_message(event: dict[str, Any], context: Any, client: Any) -> None:
        if event.get("channel_type") == "im":
            handle(event, context, client, "dm")
        elif is_unmentioned_reply(event, context.bot_user_id) and bot.seen.answered_in(event["channel"],
                                                                                     event["thread_ts"]):
            handle(event, context, client, "thread")
        bot.settle(context)


def is_unmentioned_reply(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """A channel message in a thread that does not mention kb (a mention arrives as app_mention too)."""
    thread_ts = event.get("thread_ts")
    return bool(thread_ts and thread_ts != event.get("ts") and event.get("channel")
                and not (bot_user_id and f"<@{bot_user_id}" in (event.get("text") or "")))
