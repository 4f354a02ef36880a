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
        default_factory=list, description="Channel ids the bot answers in, comma-separated or a JSON list (empty: all).")

    slack_retry_max_wait: float = Field(30.0, ge=0, description="Longest wait in seconds before retrying a Slack "
                                        "call that got 429 (whatever Retry-After says) or 5xx; 4 retries at most.")
    slack_resume_limit: float = Field(900.0, ge=0, description="Seconds: after a restart, acknowledged questions "
                                      "younger than this are answered; older ones get 'kb restarted, ask again'.")

    @field_validator("slack_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        return split_list(value)


def load_slack_settings(**overrides: Any) -> SlackSettings:
    """Build the bot's settings once; errors name the variable to fix."""
    return load_settings(SlackSettings, **overrides)  # type: ignore[return-value]
