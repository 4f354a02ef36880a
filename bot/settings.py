"""The Slack bot's settings, next to the bot: the core Settings plus the Slack ones.

Secrets come from the environment only (SLACK_BOT_TOKEN, SLACK_APP_TOKEN,
SLACK_SIGNING_SECRET). kb/settings.py lists this class in FRONT_END_SETTINGS, so
`kb config show` and the README settings table include these fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from kb.settings import Settings, load_settings, split_list


class SlackSettings(Settings):
    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN",
                                              description="Slack bot token (xoxb-...), env SLACK_BOT_TOKEN.")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN",
                                              description="Slack app token for Socket Mode (xapp-...).")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET",
                                                   description="Slack signing secret (HTTP mode).")
    slack_api_url: str | None = Field(None, validation_alias="SLACK_API_URL",
                                      description="Replaces https://slack.com/api/ (proxy or test stand-in).")
    slack_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Channel ids the bot answers in, comma-separated or a JSON list (empty: all).")

    slack_scopes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Channel id -> the collection kb answers from in that channel, as a JSON "
        "object or `C1=coll,C2=coll` (fill each with `kb --collection NAME ingest PATH`); other channels, DMs "
        "and the assistant panel use slack_default_scope.")
    slack_default_scope: str | None = Field(None, description="Collection for DMs, the assistant panel and "
                                            "channels not in slack_scopes (unset: `collection`).")

    slack_retry_max_wait: float = Field(30.0, ge=0, description="Longest wait in seconds before retrying a Slack "
                                        "call that got 429 (whatever Retry-After says) or 5xx; 4 retries at most.")
    slack_resume_limit: float = Field(900.0, ge=0, description="Seconds: after a restart, acknowledged questions "
                                      "younger than this are answered; older ones get 'kb restarted, ask again'.")

    @field_validator("slack_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        return split_list(value)


    @field_validator("slack_scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: Any) -> Any:
        """`{"C1": "ml-platform"}` (JSON or kb.toml table) or `C1=ml-platform,C2=sales` from the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                import json

                return json.loads(text)
            pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError("write channel=collection pairs, e.g. C0123=ml-platform,C0456=sales")
            return {k.strip(): v.strip() for k, v in pairs}
        return value

    @field_validator("slack_scopes")
    @classmethod
    def _check_scopes(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, name in value.items():
            check_collection_name(name, f"slack_scopes[{channel!r}]")
        return value

    @field_validator("slack_default_scope")
    @classmethod
    def _check_default_scope(cls, value: str | None) -> str | None:
        return check_collection_name(value, "slack_default_scope") if value else None


def check_collection_name(name: str, where: str) -> str:
    """Chroma's rule for collection names, checked at start-up instead of at the first question."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", name or ""):
        raise ValueError(f"{where}: {name!r} is not a collection name (3-512 characters: letters, digits, . _ -, "
                         "starting and ending with a letter or digit)")
    return name


def load_slack_settings(**overrides: Any) -> SlackSettings:
    """Build the bot's settings once; errors name the variable to fix."""
    return load_settings(SlackSettings, **overrides)  # type: ignore[return-value]
