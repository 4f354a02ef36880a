"""Slack's assistant panel (slack-bolt's Assistant middleware): a greeting with suggested prompts
when a thread opens, then each message in the thread is a question for the same answer queue.

The panel shows a status line ("kb is looking it up…") instead of a placeholder message,
and the answer appears as soon as the model's first sentence passes verification, then
is edited into the full answer with sources and the feedback buttons (bot/worker.py).
Threads opened in the panel are remembered in the journal, so a reply in an ordinary DM
thread is still answered the ordinary way, with a placeholder.
"""

from __future__ import annotations

from typing import Any

from bot import format
from bot.listeners.messages import take_message


def thread_key(channel: str, thread_ts: str) -> str:
    return f"assistant:{channel}:{thread_ts}"


def register(app: Any, bot: Any) -> None:
    from slack_bolt import Assistant

    assistant = Assistant()

    @assistant.thread_started
    def on_thread_started(payload: dict[str, Any], client: Any, context: Any) -> None:
        thread = payload.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts:
            return
        bot.seen.first_time(thread_key(channel, thread_ts))
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=format.GREETING)
        prompts = bot.prompts()
        if prompts:
            client.assistant_threads_setSuggestedPrompts(channel_id=channel, thread_ts=thread_ts,
                                                         title=format.PROMPTS_TITLE, prompts=prompts)

    @assistant.thread_context_changed
    def on_context_changed() -> None:
        """The person switched channels with the panel open: answers keep coming from the default scope,
        so there is nothing to store (Bolt's default would write the context into the greeting)."""

    @assistant.user_message
    def on_user_message(payload: dict[str, Any], context: Any, client: Any) -> None:
        panel = bot.seen.known(thread_key(payload.get("channel", ""), payload.get("thread_ts", "")))
        take_message(bot, payload, context, client, "assistant" if panel else "dm")
        bot.settle(context)

    app.assistant(assistant)
