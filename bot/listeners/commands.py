"""`/kb QUESTION` answers ephemerally through the response_url; `/kb help` explains usage.

Any slash command of the app lands here, so renaming `/kb` in the manifest needs no code change.
"""

from __future__ import annotations

import re
from typing import Any

from bot import format
from bot.listeners.messages import is_help, question_text
from bot.worker import Question


def register(app: Any, bot: Any) -> None:
    @app.command(re.compile(r"^/"))
    def on_command(ack: Any, command: dict[str, Any], context: Any) -> None:
        text = question_text(command.get("text") or "", context.bot_user_id)
        if is_help(text):
            bot.settle(context, "help")
            ack(response_type="ephemeral", text=format.HELP)
            return
        channel = command.get("channel_id") or ""
        if not bot.allowed(channel):
            bot.settle(context, "not allowed here")
            ack(response_type="ephemeral", text=bot.not_here_text())
            return
        ack(response_type="ephemeral", text=format.placeholder(bot.answerer.ahead()))
        bot.answerer.take(Question(text=text, asker=command["user_id"], channel=channel, via="command",
                                   response_url=command["response_url"], key=context.get("kb_journal_key")))
