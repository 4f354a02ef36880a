"""Bolt listeners, one module per kind of request; `register_all` wires them to an App."""

from __future__ import annotations

import re
from typing import Any

from bot.listeners import actions, assistant, commands, messages


def register_all(app: Any, bot: Any) -> None:
    assistant.register(app, bot)  # a middleware: it sees DM thread messages before the `message` listener
    messages.register(app, bot)
    commands.register(app, bot)
    actions.register(app, bot)
    # Last: any other event the app is subscribed to gets a 200 instead of Bolt's 404,
    # because Slack counts non-200 replies against the event subscription.
    app.event(re.compile(".*"))(ignore_event)


def ignore_event() -> None:
    """Events kb does not act on (acknowledged automatically)."""
