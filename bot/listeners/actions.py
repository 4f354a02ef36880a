"""The helpful / not-helpful buttons under each answer."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot import format

log = logging.getLogger(__name__)


def register(app: Any, bot: Any) -> None:
    @app.action(re.compile("^(?:" + "|".join(format.FEEDBACK_ACTIONS) + ")$"))
    def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        ack()
        helpful = action["action_id"] == format.FEEDBACK_HELPFUL
        user = (body.get("user") or {}).get("id", "")
        try:
            known = bot.feedback.record_vote(action.get("value", ""), user, helpful)
        except Exception:  # noqa: BLE001 - tell the person, log for the admins
            log.exception("could not store feedback in %s", bot.feedback.path)
            known = None
        if known:
            text = "Thanks, noted as helpful." if helpful else (
                "Thanks, noted as not helpful. The question goes on the list of things kb should answer better.")
        elif known is False:
            text = "Sorry, kb no longer has a record of that answer, so the vote was not stored."
        else:
            text = "Sorry, kb could not store your vote just now."
        respond(response_type="ephemeral", replace_original=False, text=text)
