"""The Slack bot's settings, next to the bot: the core Settings plus the Slack ones.

Secrets come from the environment only (SLACK_BOT_TOKEN, SLACK_APP_TOKEN,
SLACK_SIGNING_SECRET). kb/settings.py lists this class in FRONT_END_SETTINGS, so
`kb config show` and the README settings table include these fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from kb.settings import Settings, load_settings


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
        default_factory=list, description="Channel ids the bot answers in, comma-separated or a JSON list (empty: all).")

    @field_validator("slack_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        """Accept `C1,C2` as well as `["C1", "C2"]` from the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


def load_slack_settings(**overrides: Any) -> SlackSettings:
    """Build the bot's settings once; errors name the variable to fix."""
    return load_settings(SlackSettings, **overrides)  # type: ignore[return-value]
