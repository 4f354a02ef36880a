"""The Slack bot end to end: the real Bolt app behind the same threaded HTTP server `kb slack --http`
uses, on loopback, talking to a stand-in Slack Web API (also on loopback, via SLACK_API_URL)
that records every call. Requests are signed with the v0 scheme, exactly as Slack signs them.

Answers come from the real Engine over the sample corpus with the bundled LLM, except in the
failure test, where the LLM is a stand-in OpenAI-compatible endpoint that returns HTTP 500 until
told to recover (the edge of the world is the only thing faked).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytestmark = pytest.mark.network

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
BOT_USER = "UKBBOT"
BOT_ID = "BKBBOT"
IN_CORPUS = "What is a base model?"
OFF_TOPIC = "How long should sourdough bread proof before baking?"
DEADLINE = 180.0  # seconds; generous, the CI box is shared. Polls return as soon as the call is seen.


# -- stand-ins on loopback ----------------------------------------------------------

class Recorder:
    """Thread-safe record of calls, with a poll-until-deadline helper."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(call)

    def find(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if pred(c)]

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], n: int = 1, what: str = "call") -> list[dict]:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            found = self.find(pred)
            if len(found) >= n:
                return found
            time.sleep(0.05)
        with self.lock:
            seen = [(c["method"], c.get("status"), str(c.get("body"))[:200]) for c in self.calls]
        raise AssertionError(f"no {what} within {DEADLINE}s; recorded: {seen}")


class Server:
    """A ThreadingHTTPServer on 127.0.0.1:0 running in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SlackStandIn(Recorder):
    """Answers the Web API methods the bot uses; `/hooks/...` stands in for response_urls.

    `fail_once[method] = (status, headers)` makes the next call of that method fail once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_once: dict[str, tuple[int, dict[str, str]]] = {}
        self.auth_error: str | None = None
        self.ts = 1700000000.0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                method = self.path.removeprefix("/api/").strip("/")
                status, headers, reply = standin.reply(method, body, self.headers.get("Authorization", ""))
                standin.add({"method": method, "body": body, "status": status, "reply": reply, "at": time.monotonic()})
                data = json.dumps(reply).encode() if isinstance(reply, dict) else reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if isinstance(reply, dict) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = Server(Handler)
        self.api_url = self.server.url + "/api/"

    def next_ts(self) -> str:
        with self.lock:
            self.ts += 1
            return f"{self.ts:.6f}"

    def reply(self, method: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, str], Any]:
        if method in self.fail_once:
            status, headers = self.fail_once.pop(method)
            return status, headers, {"ok": False, "error": "ratelimited"}
        if method.startswith("hooks/"):
            return 200, {}, "ok"
        if auth != f"Bearer {BOT_TOKEN}" and "token" not in body:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if method == "auth.test":
            if self.auth_error:
                return 200, {}, {"ok": False, "error": self.auth_error}
            return 200, {}, {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "kb",
                             "team_id": "T1", "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "chat.postMessage":
            ts = self.next_ts()
            return 200, {}, {"ok": True, "channel": body.get("channel"), "ts": ts,
                             "message": {"text": body.get("text"), "ts": ts, "bot_id": BOT_ID}}
        if method == "chat.update":
            return 200, {}, {"ok": True, "channel": body.get("channel"), "ts": body.get("ts"), "text": body.get("text")}
        if method == "chat.postEphemeral":
            return 200, {}, {"ok": True, "message_ts": self.next_ts()}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def hook_url(self, name: str) -> str:
        return f"{self.server.url}/hooks/{name}"


class LLMStandIn(Recorder):
    """An OpenAI-compatible /v1/chat/completions: HTTP 500 while `failing`, then a plain answer."""

    def __init__(self, content: str) -> None:
        super().__init__()
        self.failing = True
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                failing = standin.failing
                standin.add({"method": self.path, "body": body, "status": 500 if failing else 200})
                if failing:
                    data = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
                    self.send_response(500)
                else:
                    data = json.dumps({
                        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": "stand-in",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
                    }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = Server(Handler)


# -- the bot under test -----------------------------------------------------------------

def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 of 'v0:{timestamp}:{body}'."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class BotUnderTest:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             signed: bool = True) -> tuple[int, str]:
        hdrs = {"Content-Type": content_type, **(sign(body) if signed else {}), **(headers or {})}
        req = urllib.request.Request(self.url, data=body.encode(), headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event(self, event: dict[str, Any], event_id: str, headers: dict[str, str] | None = None,
              **kw: Any) -> tuple[int, str]:
        body = json.dumps({"token": "unused", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                           "event_id": event_id, "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}]})
        return self.post(body, "application/json", headers, **kw)

    def form(self, fields: dict[str, str], **kw: Any) -> tuple[int, str]:
        return self.post(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded", **kw)


def mention(text: str, ts: str, channel: str = "C1", user: str = "U1") -> dict[str, Any]:
    return {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts, "channel": channel,
            "event_ts": ts}


def dm(text: str, ts: str, user: str = "U1", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "channel": "D1", "user": user, "text": text, "ts": ts,
            "event_ts": ts, **extra}


def bot_settings(store, **extra: Any):
    from kb.settings import load_settings

    return load_settings(store=store, slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET, **extra)


@pytest.fixture
def slack() -> Any:
    standin = SlackStandIn()
    yield standin
    standin.server.close()


@pytest.fixture
def start_bot(tmp_path, slack):
    """Start create_app(...) behind bot.app.http_server on a free loopback port."""
    from bot.app import http_server

    servers = []

    def start(engine, **settings_extra: Any) -> tuple[BotUnderTest, Any]:
        from bot.app import create_app

        settings = bot_settings(tmp_path / "bot-data", slack_api_url=slack.api_url, **settings_extra)
        app = create_app(settings, engine=engine)
        server = http_server(app, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return BotUnderTest(f"http://127.0.0.1:{server.server_port}/slack/events", app), settings

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def text_of(call: dict[str, Any]) -> str:
    """Everything a person would read in a posted message: text plus block texts."""
    body = call["body"]
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    parts = [body.get("text") or ""]
    for b in blocks:
        if "text" in b:
            parts.append(b["text"]["text"])
        for el in b.get("elements", []):
            parts.append(el.get("text", "") if isinstance(el.get("text"), str) else el.get("text", {}).get("text", ""))
    return "\n".join(parts)


def buttons(call: dict[str, Any]) -> dict[str, str]:
    blocks = call["body"].get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return {el["action_id"]: el["value"] for b in blocks if b["type"] == "actions" for el in b["elements"]}


def in_thread(channel: str, ts: str) -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["method"] == "chat.postMessage" and c["body"].get("channel") == channel \
        and c["body"].get("thread_ts") == ts


def final_update(placeholder_ts: str) -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["method"] == "chat.update" and c["body"].get("ts") == placeholder_ts and c["status"] == 200


def answered(slack: SlackStandIn, channel: str, ts: str) -> tuple[dict, dict]:
    """Wait for the placeholder in the question's thread and the update that turns it into the answer."""
    placeholder = slack.wait_for(in_thread(channel, ts), what=f"placeholder in thread {ts}")[0]
    reply_ts = placeholder["reply"]["ts"]
    update = slack.wait_for(final_update(reply_ts), what=f"answer replacing {reply_ts}")[0]
    return placeholder, update


# -- tests ------------------------------------------------------------------------------------

def test_mention_gets_one_threaded_answer_with_citations(start_bot, slack, sample_engine):
    bot, settings = start_bot(sample_engine)
    status, _ = bot.event(mention(IN_CORPUS, "100.000001"), "EvMention1")
    assert status == 200
    placeholder, update = answered(slack, "C1", "100.000001")
    assert "Looking that up" in placeholder["body"]["text"]

    text = text_of(update)
    assert "[1]" in text, text  # the answer carries citation marks
    assert "*Sources*" in text and "*[1]*" in text
    assert "base-model.md" in text  # the glossary page on base models is cited
    assert sample_engine.model_label in text  # context line names the model
    assert set(buttons(update)) == {"kb_feedback_helpful", "kb_feedback_unhelpful"}
    # exactly one message in the thread, then edited once into the answer
    assert len(slack.find(in_thread("C1", "100.000001"))) == 1
    assert len(slack.find(lambda c: c["method"] == "chat.update")) == 1


def test_retry_and_repeated_event_id_never_answer_twice(start_bot, slack, sample_engine):
    bot, _ = start_bot(sample_engine)
    event = mention(OFF_TOPIC, "200.000001")
    assert bot.event(event, "EvRetry1")[0] == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert bot.event(event, "EvRetry1", headers=retry)[0] == 200
    assert bot.event(event, "EvRetry1")[0] == 200  # same id again without the header (Socket Mode redelivery)
    # an event id is never handled twice, whatever it carries
    assert bot.event(mention(OFF_TOPIC, "200.000009"), "EvRetry1", headers=retry)[0] == 200
    # a mention inside a DM arrives twice, as app_mention and as message.im: one answer
    in_dm = dm(f"<@{BOT_USER}> {OFF_TOPIC}", "200.000005")
    assert bot.event(dict(in_dm, type="app_mention"), "EvRetry2")[0] == 200
    assert bot.event(in_dm, "EvRetry4")[0] == 200
    answered(slack, "C1", "200.000001")
    answered(slack, "D1", "200.000005")
    # a later question is answered after anything queued before it, so once it is answered,
    # a duplicate would already have shown up
    assert bot.event(mention(OFF_TOPIC, "200.000002"), "EvRetry3")[0] == 200
    answered(slack, "C1", "200.000002")
    assert len(slack.find(in_thread("C1", "200.000001"))) == 1
    assert slack.find(in_thread("C1", "200.000009")) == []
    assert len(slack.find(in_thread("D1", "200.000005"))) == 1
    assert len(slack.find(lambda c: c["method"] == "chat.update")) == 3


def test_forged_or_stale_signature_gets_401_and_no_post(start_bot, slack, sample_engine):
    bot, _ = start_bot(sample_engine)
    body = json.dumps({"type": "event_callback", "event_id": "EvForged", "team_id": "T1",
                       "event": mention("help", "300.000001")})
    forged = {**sign(body, secret="not-the-secret")}
    assert bot.post(body, "application/json", headers=forged, signed=False)[0] == 401
    stale = sign(body, timestamp=int(time.time()) - 600)
    assert bot.post(body, "application/json", headers=stale, signed=False)[0] == 401
    assert bot.post(body, "application/json", signed=False)[0] == 401  # no signature at all
    # a properly signed request afterwards is served: proves the 401s were about the signature
    assert bot.event(mention("help", "300.000002"), "EvSigned")[0] == 200
    slack.wait_for(in_thread("C1", "300.000002"), what="help reply")
    assert slack.find(in_thread("C1", "300.000001")) == []
    assert [c["method"] for c in slack.calls if c["method"].startswith("chat.")] == ["chat.postMessage"]


def test_dm_refused_question_names_closest_topics_and_429_is_retried(start_bot, slack, sample_engine):
    bot, settings = start_bot(sample_engine)
    slack.fail_once["chat.update"] = (429, {"Retry-After": "1"})
    # kb's own message and other bots, edits: ignored
    assert bot.event(dm("Looking that up", "400.000001", user=BOT_USER, bot_id=BOT_ID), "EvSelf")[0] == 200
    assert bot.event(dm("beep", "400.000002", user="U9", bot_id="BOTHER"), "EvOtherBot")[0] == 200
    assert bot.event(dm(OFF_TOPIC, "400.000003", subtype="message_changed"), "EvEdit")[0] == 200
    assert bot.event(dm(OFF_TOPIC, "400.000004"), "EvDM")[0] == 200

    placeholder, update = answered(slack, "D1", "400.000004")
    text = text_of(update)
    assert "does not cover this" in text
    topics = [t for t in sample_engine.ask(OFF_TOPIC).closest_topics]
    assert topics and all(f"*{t}*" in text for t in topics)
    # the 429 was honoured: the same update was sent again, at least Retry-After later
    updates = slack.find(lambda c: c["method"] == "chat.update")
    assert [c["status"] for c in updates] == [429, 200]
    assert updates[1]["at"] - updates[0]["at"] >= 1.0
    assert updates[0]["body"] == updates[1]["body"]
    # only the real question was answered
    assert len(slack.find(lambda c: c["method"] == "chat.postMessage")) == 1
    # and the refusal is logged for page owners
    gaps = (settings.data_dir / "gaps.jsonl").read_text().splitlines()
    assert json.loads(gaps[-1])["question"] == OFF_TOPIC and json.loads(gaps[-1])["via"] == "slack"


def test_slash_command_answers_ephemerally_and_help(start_bot, slack, sample_engine):
    bot, _ = start_bot(sample_engine)
    status, body = bot.form({"command": "/kb", "text": "help", "user_id": "U1", "channel_id": "C1",
                             "team_id": "T1", "response_url": slack.hook_url("help"), "trigger_id": "t1"})
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral" and "/kb QUESTION" in reply["text"]

    status, body = bot.form({"command": "/kb", "text": IN_CORPUS, "user_id": "U1", "channel_id": "C1",
                             "team_id": "T1", "response_url": slack.hook_url("ask"), "trigger_id": "t2"})
    assert status == 200
    assert json.loads(body)["response_type"] == "ephemeral"
    hook = slack.wait_for(lambda c: c["method"] == "hooks/ask", what="answer on the response_url")[0]
    assert hook["body"]["response_type"] == "ephemeral" and hook["body"]["replace_original"] is True
    assert "[1]" in text_of(hook) and "base-model.md" in text_of(hook)
    # nothing was posted publicly, and help did not use the response_url
    assert slack.find(lambda c: c["method"] in ("chat.postMessage", "chat.update", "hooks/help")) == []


def test_feedback_click_is_stored_and_listed(start_bot, slack, sample_engine, monkeypatch):
    from click.testing import CliRunner

    from kb.cli import cli

    bot, settings = start_bot(sample_engine)
    assert bot.event(mention(IN_CORPUS, "500.000001", user="UASKER"), "EvFb1")[0] == 200
    _, update = answered(slack, "C1", "500.000001")
    answer_id = buttons(update)["kb_feedback_unhelpful"]

    payload = {"type": "block_actions", "user": {"id": "URATER"}, "team": {"id": "T1"},
               "channel": {"id": "C1"}, "api_app_id": "A1", "trigger_id": "t3",
               "response_url": slack.hook_url("vote"), "container": {"type": "message"},
               "actions": [{"type": "button", "action_id": "kb_feedback_unhelpful", "block_id": "kb_feedback",
                            "value": answer_id, "action_ts": "1"}]}
    assert bot.form({"payload": json.dumps(payload)})[0] == 200
    thanks = slack.wait_for(lambda c: c["method"] == "hooks/vote", what="thanks for the vote")[0]
    assert "not helpful" in thanks["body"]["text"] and thanks["body"]["response_type"] == "ephemeral"

    monkeypatch.setenv("KB_STORE", str(settings.store))
    result = CliRunner().invoke(cli, ["feedback", "--json"])
    assert result.exit_code == 0, result.output
    votes = json.loads(result.output)["votes"]
    assert len(votes) == 1
    vote = votes[0]
    assert (vote["question"], vote["user"], vote["asker"], vote["helpful"]) == (IN_CORPUS, "URATER", "UASKER", False)
    assert vote["citations"] and vote["citations"][0]["source"].endswith("base-model.md")
    assert vote["answer"] and "[1]" in vote["answer"]

    result = CliRunner().invoke(cli, ["feedback", "--as-eval-yaml"])
    assert result.exit_code == 0, result.output
    import yaml

    items = yaml.safe_load(result.output)["items"]
    assert [i["question"] for i in items] == [IN_CORPUS]
    assert items[0]["id"].startswith("feedback-") and "URATER" in items[0]["note"]


def test_failure_while_answering_apologises_and_keeps_serving(start_bot, slack, sample_store, embedder, caplog):
    from kb.engine import Engine
    from kb.settings import load_settings

    s, store, _ = sample_store
    llm = LLMStandIn("A base model is trained to predict the next token on a large amount of text.")
    try:
        engine = Engine(load_settings(store=s.store, llm_url=llm.server.url + "/v1", llm_timeout=10),
                        store=store, embedder=embedder)
        bot, _ = start_bot(engine)
        with caplog.at_level("ERROR", logger="bot.worker"):
            assert bot.event(mention(IN_CORPUS, "600.000001"), "EvFail1")[0] == 200
            _, apology = answered(slack, "C1", "600.000001")
        assert "Sorry, something went wrong" in text_of(apology)
        assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
        assert "LLMUnavailable" in caplog.text
        assert llm.find(lambda c: c["status"] == 500)

        llm.failing = False
        assert bot.event(mention(IN_CORPUS, "600.000002"), "EvFail2")[0] == 200
        _, update = answered(slack, "C1", "600.000002")
        text = text_of(update)
        assert "Sorry" not in text and "[1]" in text and "*Sources*" in text
        assert llm.find(lambda c: c["status"] == 200)
    finally:
        llm.server.close()


def test_failures_in_bolt_or_junk_bodies_never_get_5xx(start_bot, slack, sample_engine, caplog):
    bot, _ = start_bot(sample_engine)

    def explode(body, next):
        if body.get("event", {}).get("type") == "kb_test_explode":
            raise RuntimeError("middleware blew up")
        return next()

    bot.app.use(explode)
    with caplog.at_level("ERROR"):
        status, _ = bot.event({"type": "kb_test_explode"}, "EvBoom")
    assert status == 200
    assert "middleware blew up" in caplog.text
    # an event type kb does not act on is acknowledged with 200, not Bolt's 404
    assert bot.event({"type": "reaction_added", "user": "U1", "reaction": "eyes"}, "EvOther")[0] == 200
    # bodies that are not Slack payloads: 400, signed or not
    assert bot.post("[]", "application/json")[0] == 400
    assert bot.post("{", "application/json", signed=False)[0] == 400
    assert bot.post("payload=notjson", "application/x-www-form-urlencoded")[0] == 400
    # the bot still serves
    assert bot.event(mention("help", "800.000001"), "EvAfterJunk")[0] == 200
    slack.wait_for(in_thread("C1", "800.000001"), what="help reply")


def test_channel_allow_list(start_bot, slack, sample_engine, monkeypatch):
    from kb.settings import load_settings

    monkeypatch.setenv("KB_SLACK_CHANNELS", '["CALLOWED"]')
    assert load_settings().slack_channels == ["CALLOWED"]  # the env format the docs give
    bot, _ = start_bot(sample_engine, slack_channels=["CALLOWED"])
    assert bot.event(mention("help", "700.000001", channel="COTHER"), "EvNotAllowed")[0] == 200
    note = slack.wait_for(lambda c: c["method"] == "chat.postEphemeral", what="not-here note")[0]
    assert note["body"]["user"] == "U1" and "<#CALLOWED>" in note["body"]["text"]
    assert bot.event(mention("help", "700.000002", channel="CALLOWED"), "EvAllowed")[0] == 200
    help_reply = slack.wait_for(in_thread("CALLOWED", "700.000002"), what="help reply")[0]
    assert "/kb QUESTION" in help_reply["body"]["text"]
    assert slack.find(in_thread("COTHER", "700.000001")) == []
