"""A log of refused questions, so page owners see what the knowledge base lacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.settings import Settings


def log_refusal(settings: Settings, question: str, closest: list[str], via: str) -> None:
    """Append one JSON line; a failure to log must never fail the answer."""
    try:
        from kb.private import private_file

        with open(private_file(settings.data_dir / "gaps.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"time": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "question": question, "closest": closest, "via": via}) + "\n")
    except OSError:
        pass
