"""Build the kb Slack app: `create_app(settings, engine=None)` returns a ready Bolt App.

Nothing is built at import time. Start-up checks the settings, asks Slack who the
token belongs to (a bad token fails here, with one clear line), loads and warms
the Engine once, then wires the listeners. Serving is separate: `serve_http`
(a threaded WSGI server, events at /slack/events) or `serve_socket_mode`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.feedback import FeedbackStore, feedback_path
from bot.journal import Journal, journal_path
from bot.listeners import register_all
from bot.retry import retry_handlers
from bot.scopes import Scopes
from bot.settings import SlackSettings
from bot.worker import Answerer
from kb.errors import SettingsError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
DEFAULT_API_URL = "https://slack.com/api/"


@dataclass
class Bot:
    """What the listeners share: the answer queue, the feedback store, the dedupe memory, the allow-list,
    the channel scopes."""

    answerer: Answerer
    feedback: FeedbackStore
    seen: Journal  # first_time(key): event ids and messages already handled, across restarts
    scopes: Scopes
    channels: list[str] = field(default_factory=list)

    suggested: list[dict[str, str]] = field(default_factory=list)

    def prompts(self) -> list[dict[str, str]]:
        """The assistant panel's suggested prompts, as last worked out (listeners never touch the Engine)."""
        return list(self.suggested)

    def update_prompts(self) -> None:
        """Work out the suggested prompts again: the most-asked glossary pages of the default scope.
        Called at start-up and by the answer worker after each answer, the one thread that uses the
        Engine, so a store reloaded after an ingest is never reopened from two threads at once."""
        from bot.prompts import suggested_prompts

        try:
            self.suggested = suggested_prompts(self.scopes.engine(self.scopes.default), self.feedback.asked())
        except Exception:  # noqa: BLE001 - the panel still works with the prompts it had
            log.exception("could not work out the suggested prompts")

    def settle(self, context: Any, outcome: str = "no question") -> None:
        """A listener is done with a request that queued no question (help, not allowed here...)."""
        self.seen.settle(context.get("kb_journal_key"), outcome)

    def allowed(self, channel: str) -> bool:
        """The allow-list limits channels; direct messages (ids starting with D) are always answered."""
        return not self.channels or channel in self.channels or channel.startswith("D")

    def not_here_text(self) -> str:
        where = ", ".join(f"<#{c}>" for c in self.channels)
        return f"kb answers only in {where}, or in a direct message."


def check_settings(settings: SlackSettings, *, socket_mode: bool) -> None:
    """Fail fast, naming the variable to set, before anything slow happens."""
    bot_token = secret(settings.slack_bot_token)
    if not bot_token:
        raise SettingsError("SLACK_BOT_TOKEN is not set: export the app's Bot User OAuth Token (xoxb-...); "
                            "see docs/slack.md")
    if not bot_token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be the Bot User OAuth Token, starting with xoxb-")
    if socket_mode:
        app_token = secret(settings.slack_app_token)
        if not app_token:
            raise SettingsError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                                "with connections:write, or run `kb slack --http` with SLACK_SIGNING_SECRET")
        if not app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN must be an app-level token, starting with xapp-")
    elif not secret(settings.slack_signing_secret):
        raise SettingsError("SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's signing secret "
                            "(Basic Information > App Credentials), or set SLACK_APP_TOKEN for Socket Mode")


def secret(value: Any) -> str:
    """A SecretStr setting's value, '' when unset."""
    return value.get_secret_value().strip() if value is not None else ""


def api_url(settings: SlackSettings) -> str:
    url = settings.slack_api_url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def web_client(settings: SlackSettings) -> WebClient:
    """The Web API client: SLACK_API_URL as base URL; connection errors, 429s and 5xx are retried,
    each wait capped at slack_retry_max_wait (bot/retry.py)."""
    return WebClient(
        token=secret(settings.slack_bot_token) or None,
        base_url=api_url(settings),
        retry_handlers=retry_handlers(settings.slack_retry_max_wait),
    )


def who_am_i(client: WebClient) -> dict[str, Any]:
    """auth.test, with failures turned into one line naming the setting to fix."""
    try:
        return dict(client.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        raise SettingsError(f"Slack rejected SLACK_BOT_TOKEN ({error}) at {client.base_url}auth.test: "
                            "copy the Bot User OAuth Token again, or reinstall the app") from None
    except Exception as exc:  # noqa: BLE001 - URLError, timeouts, refused connections...
        raise SettingsError(f"cannot reach the Slack Web API at {client.base_url} ({exc}); "
                            "check the network, or SLACK_API_URL") from None


def warm(engine: Any) -> None:
    """Load store, embedder and LLM now, so the first question costs a warm ask."""
    engine.ensure_not_empty()
    engine.search("warm up", 1)
    if engine.wants_draft():  # KB_DRAFT=auto with onnx-genai answers with quotes: no model to load
        engine.llm  # noqa: B018 - loading is the point


def create_app(settings: SlackSettings, engine: Any = None) -> App:
    """A Bolt App answering mentions, DMs, the assistant panel, the slash command and feedback clicks."""
    client = web_client(settings)
    identity = who_am_i(client)  # Bolt repeats auth.test below; this one turns failures into one clear line
    log.info("Slack token belongs to %s in %s", identity.get("user"), identity.get("team"))
    if engine is None:
        from kb.engine import Engine

        engine = Engine(settings)
    scopes = Scopes(settings, engine)
    scopes.check()  # every scope's collection holds pages
    warm(scopes.engine(scopes.default))

    app = App(
        client=client,
        signing_secret=secret(settings.slack_signing_secret),
        name="kb",
        process_before_response=False,  # ack first; answers are posted later by the Answerer
    )
    feedback = FeedbackStore(feedback_path(settings))
    journal = Journal(journal_path(settings))
    answerer = Answerer(settings, scopes, client, feedback, journal=journal)
    bot = Bot(answerer=answerer, feedback=feedback, seen=journal, scopes=scopes,
              channels=list(settings.slack_channels))
    bot.update_prompts()
    answerer.after_answer = bot.update_prompts
    app.use(journal.middleware())  # dedupe and store each question before it is acknowledged
    register_all(app, bot)
    app.error(never_5xx)
    # what a killed process left unanswered: resumed once the listeners are wired
    threading.Thread(target=journal.resume, args=(app, answerer, settings.slack_resume_limit),
                     name="kb-journal-resume", daemon=True).start()
    return app


def never_5xx(error: Exception, response: BoltResponse | None, logger: logging.Logger) -> None:
    """Log the traceback; Slack still gets 200, since repeated 5xx replies disable the event subscription."""
    logger.error("listener failed: %s", error, exc_info=error)
    if response is not None and response.status >= 500:
        response.status = 200
        response.body = ""


# -- serving ---------------------------------------------------------------------

class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # listen backlog: the default 5 resets connections when Slack delivers a burst of events
    # at once (seen in CI: one of 20 simultaneous questions got "connection reset by peer")
    request_queue_size = 128


class LoggingHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)


def http_server(app: App, host: str = "0.0.0.0", port: int = 3000) -> WSGIServer:
    """A threaded WSGI server with Bolt at /slack/events (events, commands and interactivity)."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        # Bolt parses the body before checking the signature, and a body that is not
        # Slack's JSON or form payload raises there: answer 400, not the server's 500.
        try:
            return bolt(environ, start_response)
        except Exception:  # noqa: BLE001
            log.warning("unreadable request to %s", environ.get("PATH_INFO"), exc_info=True)
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Bad Request"]

    return make_server(host, port, wsgi, server_class=ThreadingWSGIServer, handler_class=LoggingHandler)


def socket_mode_handler(app: App, settings: SlackSettings) -> Any:
    """Connects out to Slack over a WebSocket: no public URL needed."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token=secret(settings.slack_app_token))


def connect_socket_mode(handler: Any) -> None:
    """Open the Socket Mode connection; a rejected app token becomes one clear line."""
    try:
        handler.connect()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        raise SettingsError(f"Slack rejected SLACK_APP_TOKEN ({error}): create an app-level token with "
                            "connections:write under Basic Information > App-Level Tokens") from None
