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
from typing import Any

import pytest

from tests.helpers import ROOT, chat_completion, chat_completion_stream, wait_for
from tests.helpers import Recorder as LoopbackServer

pytestmark = pytest.mark.network

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
BOT_USER = "UKBBOT"
BOT_ID = "BKBBOT"
IN_CORPUS = "What is a base model?"
OFF_TOPIC = "How long should sourdough bread proof before baking?"
DEADLINE = 180.0  # seconds; generous, the CI box is shared. Polls return as soon as the call is seen.


# -- stand-ins on loopback (servers from tests/helpers.py) ---------------------------------

class Calls:
    """Thread-safe record of the calls a stand-in answered, with a poll-until-deadline helper."""

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
        if wait_for(lambda: len(self.find(pred)) >= n, timeout=DEADLINE, interval=0.05):
            return self.find(pred)
        with self.lock:
            seen = [(c["method"], c.get("status"), str(c.get("body"))[:200]) for c in self.calls]
        raise AssertionError(f"no {what} within {DEADLINE}s; recorded: {seen}")


def header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


class SlackStandIn(Calls):
    """Answers the Web API methods the bot uses; `/hooks/...` stands in for response_urls.

    `fail_once[method] = (status, headers)` makes the next call of that method fail once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_once: dict[str, tuple[int, dict[str, str]]] = {}
        self.auth_error: str | None = None
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (channel, thread ts) -> its messages
        self.replies_error: str | None = None  # e.g. "missing_scope": conversations.replies refuses
        self.ws_url = ""
        self.ts = 1700000000.0
        self.http = LoopbackServer(self.handle).__enter__()
        self.api_url = self.http.url + "/api/"

    def close(self) -> None:
        self.http.__exit__(None, None, None)

    def handle(self, verb: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        text = raw.decode()
        if "json" in header(headers, "Content-Type"):
            body = json.loads(text or "{}")
        else:
            body = {k: v[0] for k, v in urllib.parse.parse_qs(text).items()}
        method = path.removeprefix("/api/").strip("/")
        status, extra, reply = self.reply(method, body, header(headers, "Authorization"))
        self.add({"method": method, "body": body, "status": status, "reply": reply, "at": time.monotonic()})
        if isinstance(reply, dict):
            return status, {"Content-Type": "application/json", **extra}, json.dumps(reply).encode()
        return status, {"Content-Type": "text/plain", **extra}, reply.encode()

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
        if method == "apps.connections.open":
            if auth != "Bearer xapp-test":
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            return 200, {}, {"ok": True, "url": self.ws_url}
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
        if method == "conversations.replies":
            if self.replies_error:
                return 200, {}, {"ok": False, "error": self.replies_error}
            found = self.threads.get((body.get("channel"), body.get("ts")))
            if found is None:
                return 200, {}, {"ok": False, "error": "thread_not_found"}
            return 200, {}, {"ok": True, "messages": found, "has_more": False}
        if method in ("assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts"):
            if not body.get("channel_id") or not body.get("thread_ts"):
                return 200, {}, {"ok": False, "error": "invalid_arguments"}
            return 200, {}, {"ok": True}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def hook_url(self, name: str) -> str:
        return f"{self.http.url}/hooks/{name}"


class LLMStandIn(Calls):
    """An OpenAI-compatible /v1/chat/completions: HTTP 500 while `failing`, then a plain answer."""

    def __init__(self, content: str) -> None:
        super().__init__()
        self.failing = True
        self.content = content
        self.http = LoopbackServer(self.handle).__enter__()
        self.url = self.http.url + "/v1"

    def close(self) -> None:
        self.http.__exit__(None, None, None)

    def handle(self, verb: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        failing = self.failing
        body = json.loads(raw or b"{}")
        self.add({"method": path, "body": body, "status": 500 if failing else 200})
        if failing:
            return 500, {"Content-Type": "application/json"}, b'{"error": {"message": "boom", "type": "server_error"}}'
        if body.get("stream"):
            return 200, {"Content-Type": "text/event-stream"}, chat_completion_stream(self.content)
        return 200, {"Content-Type": "application/json"}, chat_completion(self.content)


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
    from bot.settings import load_slack_settings

    return load_slack_settings(store=store, slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET, **extra)


@pytest.fixture
def slack() -> Any:
    standin = SlackStandIn()
    yield standin
    standin.close()


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


def edit_of(placeholder_ts: str) -> Callable[[dict[str, Any]], bool]:
    """Any successful edit of the placeholder: progress (the quotes so far) or the answer."""
    return lambda c: c["method"] == "chat.update" and c["body"].get("ts") == placeholder_ts and c["status"] == 200


def final_update(placeholder_ts: str) -> Callable[[dict[str, Any]], bool]:
    """The edit that makes the placeholder the answer: the one with blocks (progress edits are text only)."""
    return lambda c: edit_of(placeholder_ts)(c) and bool(c["body"].get("blocks"))


def finals(c: dict[str, Any]) -> bool:
    return c["method"] == "chat.update" and bool(c["body"].get("blocks"))


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
    assert len(slack.find(finals)) == 1


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
    assert len(slack.find(finals)) == 3


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
    import yaml

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
    result = invoke_kb(["feedback", "--json"])
    assert result.exit_code == 0, result.output
    votes = json.loads(result.output)["votes"]
    assert len(votes) == 1
    vote = votes[0]
    assert (vote["question"], vote["user"], vote["asker"], vote["helpful"]) == (IN_CORPUS, "URATER", "UASKER", False)
    assert vote["citations"] and vote["citations"][0]["source"].endswith("base-model.md")
    assert vote["answer"] and "[1]" in vote["answer"]

    result = invoke_kb(["feedback", "--as-eval-yaml"])
    assert result.exit_code == 0, result.output
    assert "marked not helpful by URATER" in result.output
    draft = yaml.safe_load("items:\n" + result.output)["items"]
    assert [(i["question"], i["kind"]) for i in draft] == [(IN_CORPUS, "definition")]
    assert draft[0]["id"].startswith("feedback-")
    # once a person fills in facts and sources, the eval accepts the item as it is
    from eval.cases import parse_case

    case = parse_case({**draft[0], "facts": [["next token"]], "sources": ["base-model.md"]}, ROOT / "set.yaml", 0)
    assert case.question == IN_CORPUS


def test_failure_while_answering_apologises_and_keeps_serving(start_bot, slack, sample_store, embedder, caplog):
    from kb.engine import Engine
    from kb.settings import load_settings

    s, store, _ = sample_store
    llm = LLMStandIn("A base model is trained to predict the next token on a large amount of text.")
    try:
        engine = Engine(load_settings(store=s.store, llm_url=llm.url, llm_timeout=10),
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
        llm.close()


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
    from bot.settings import load_slack_settings

    monkeypatch.setenv("KB_SLACK_CHANNELS", '["CALLOWED"]')
    assert load_slack_settings().slack_channels == ["CALLOWED"]  # the env format the docs give
    bot, _ = start_bot(sample_engine, slack_channels=["CALLOWED"])
    assert bot.event(mention("help", "700.000001", channel="COTHER"), "EvNotAllowed")[0] == 200
    note = slack.wait_for(lambda c: c["method"] == "chat.postEphemeral", what="not-here note")[0]
    assert note["body"]["user"] == "U1" and "<#CALLOWED>" in note["body"]["text"]
    assert bot.event(mention("help", "700.000002", channel="CALLOWED"), "EvAllowed")[0] == 200
    help_reply = slack.wait_for(in_thread("CALLOWED", "700.000002"), what="help reply")[0]
    assert "/kb QUESTION" in help_reply["body"]["text"]
    assert slack.find(in_thread("COTHER", "700.000001")) == []


def test_twenty_simultaneous_questions_are_queued_not_lost(start_bot, slack, sample_engine):
    bot, _ = start_bot(sample_engine)
    statuses: list[int] = []

    def ask(i: int) -> None:
        statuses.append(bot.event(dm(f"{OFF_TOPIC} ({i})", f"900.{i:06d}"), f"EvBurst{i}")[0])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 20
    updates = slack.wait_for(lambda c: c["method"] == "chat.update", n=20, what="20 answers")
    placeholders = slack.find(lambda c: c["method"] == "chat.postMessage")
    assert sorted(p["body"]["thread_ts"] for p in placeholders) == [f"900.{i:06d}" for i in range(20)]
    assert sorted(u["body"]["ts"] for u in updates) == sorted(p["reply"]["ts"] for p in placeholders)
    assert all("does not cover this" in u["body"]["text"] for u in updates)
    assert any("ahead of yours" in p["body"]["text"] for p in placeholders)  # people see they are queued


def nth_answer(slack: SlackStandIn, channel: str, thread_ts: str, n: int) -> dict:
    """The update that answered the n-th question (1-based) of a thread."""
    placeholder = slack.wait_for(in_thread(channel, thread_ts), n=n, what=f"placeholder {n} in {thread_ts}")[n - 1]
    return slack.wait_for(final_update(placeholder["reply"]["ts"]), what=f"answer {n} in {thread_ts}")[0]


def test_reply_in_a_thread_kb_answered_is_a_follow_up(start_bot, slack, sample_engine):
    """The thread is read back through conversations.replies; the earlier question's subject carries over.
    With source_urls set, the sources link to the published pages instead of naming files."""
    from kb.engine import Engine

    corpus = (ROOT / "corpus").resolve()
    linked = sample_engine.settings.model_copy(update={"source_urls": {str(corpus): "https://kb.example.com/"}})
    bot, _ = start_bot(Engine(linked, store=sample_engine.store, embedder=sample_engine.embedder,
                              llm=sample_engine.llm))
    root = "1100.000001"
    slack.threads[("C1", root)] = [
        {"type": "message", "user": "U1", "text": f"<@{BOT_USER}> What is a base model?", "ts": root},
        {"type": "message", "user": "U2", "text": "I wondered about tokenizers too", "ts": "1100.000002",
         "thread_ts": root},  # people talking to each other: not a question to kb
        {"type": "message", "bot_id": BOT_ID, "user": BOT_USER, "text": "A base model ... [1]", "ts": "1100.000003",
         "thread_ts": root},
        {"type": "message", "user": "U1", "text": f"<@{BOT_USER}> how is it trained?", "ts": "1100.000004",
         "thread_ts": root},
    ]
    assert bot.event(dict(mention("how is it trained?", "1100.000004"), thread_ts=root), "EvFollow1")[0] == 200
    _, update = answered(slack, "C1", root)
    read = slack.find(lambda c: c["method"] == "conversations.replies")
    assert read and read[0]["body"]["channel"] == "C1" and read[0]["body"]["ts"] == root
    text = text_of(update)
    assert "follow-up, read as \u201chow is a base model trained?\u201d" in text, text
    # retrieved for the earlier question's subject, and linked: no file names
    assert "<https://kb.example.com/glossary/base-model.md|" in text or \
        "<https://kb.example.com/glossary/pretraining.md|" in text, text
    assert "[1]" in text and "*Sources*" in text and ".md`" not in text


def test_follow_up_without_history_scope_uses_the_journal(start_bot, slack, sample_engine):
    """conversations.replies refused (a scope missing): the journal knows what was asked in the thread.
    Out-of-scope questions keep it quick: refusals never run the model, and the rewrite shows either way."""
    bot, _ = start_bot(sample_engine)
    slack.replies_error = "missing_scope"
    assert bot.event(dm(OFF_TOPIC, "1200.000001"), "EvJournal1")[0] == 200
    answered(slack, "D1", "1200.000001")
    assert bot.event(dm("why?", "1200.000002", thread_ts="1200.000001"), "EvJournal2")[0] == 200
    text = text_of(nth_answer(slack, "D1", "1200.000001", 2))
    assert f"read as \u201c{OFF_TOPIC} why?\u201d" in text, text
    assert "does not cover this" in text  # same refusal rule as any question
    assert slack.find(lambda c: c["method"] == "conversations.replies" and c["reply"]["error"] == "missing_scope")

    # in a channel (with message.channels subscribed), a reply without a mention counts only in kb's threads
    assert bot.event(mention(OFF_TOPIC, "1200.000010"), "EvJournal3")[0] == 200
    answered(slack, "C1", "1200.000010")
    chatter = {"type": "message", "channel_type": "channel", "channel": "C1", "user": "U2", "text": "why not?",
               "ts": "1200.000021", "thread_ts": "1200.000020"}
    assert bot.event(chatter, "EvJournal4")[0] == 200
    reply = dict(chatter, ts="1200.000011", thread_ts="1200.000010", user="U1")
    assert bot.event(reply, "EvJournal5")[0] == 200
    text = text_of(nth_answer(slack, "C1", "1200.000010", 2))
    assert f"read as \u201c{OFF_TOPIC} why not?\u201d" in text, text
    assert slack.find(in_thread("C1", "1200.000020")) == []


# -- the assistant panel ----------------------------------------------------------------------

def thread_started(channel: str, thread_ts: str) -> dict[str, Any]:
    return {"type": "assistant_thread_started", "event_ts": thread_ts,
            "assistant_thread": {"user_id": "U1", "channel_id": channel, "thread_ts": thread_ts,
                                 "context": {"channel_id": "C1", "team_id": "T1"}}}


def test_assistant_thread_gets_prompts_status_and_the_answer_as_it_is_verified(start_bot, slack, sample_engine,
                                                                               tmp_path):
    from bot.feedback import FeedbackStore, feedback_path
    from kb.types import Answer

    # what people asked before: LoRA twice, MoE once; answered questions count, refusals do not
    store = FeedbackStore(feedback_path(bot_settings(tmp_path / "bot-data")))
    for q, refused in [("What is LoRA?", False), ("what's lora used for", False), ("How is MoE different "
                       "from a dense model?", False), ("What is LoRA?", False), ("What is sourdough?", True)]:
        store.record_answer(Answer(q, "", refused, [], "m"), asker="U1", channel="D1", via="dm")
    bot, settings = start_bot(sample_engine)

    assert bot.event(thread_started("D7", "1000.000001"), "EvThread1")[0] == 200
    greeting = slack.wait_for(in_thread("D7", "1000.000001"), what="greeting")[0]
    assert "glossary" in greeting["body"]["text"]
    call = slack.wait_for(lambda c: c["method"] == "assistant.threads.setSuggestedPrompts", what="prompts")[0]
    assert call["status"] == 200 and call["reply"]["ok"], call
    prompts = call["body"]["prompts"]
    assert call["body"]["thread_ts"] == "1000.000001" and 1 <= len(prompts) <= 4
    messages = [p["message"] for p in prompts]
    assert messages[0].startswith("What is LoRA") and "mixture of experts" in messages[1], messages
    assert all(p["title"] and p["message"].endswith("?") for p in prompts)

    # a question in the thread: status first, no placeholder, then the answer (edited as it is verified)
    q = dm(IN_CORPUS, "1000.000002", thread_ts="1000.000001")
    q["channel"] = "D7"
    assert bot.event(q, "EvThread2")[0] == 200
    answer_post = slack.wait_for(lambda c: in_thread("D7", "1000.000001")(c) and c is not greeting, what="answer")[0]
    statuses = slack.find(lambda c: c["method"] == "assistant.threads.setStatus")
    assert statuses and statuses[0]["at"] < answer_post["at"]
    assert statuses[0]["body"]["thread_ts"] == "1000.000001" and "looking it up" in statuses[0]["body"]["status"]
    assert "Looking that up" not in answer_post["body"]["text"]
    # first the sentences kb will quote, verbatim, while the model writes; then the whole answer in their place
    early = answer_post["body"]["text"]
    assert not answer_post["body"].get("blocks") and early.startswith("From *") and "\n>" in early, early
    final = slack.wait_for(final_update(answer_post["reply"]["ts"]), what="the final answer")[0]
    text = text_of(final)
    assert "[1]" in text and "base-model.md" in text
    assert set(buttons(final)) == {"kb_feedback_helpful", "kb_feedback_unhelpful"}
    first_quote = early.split("\n>")[1].split("\n")[0]
    assert first_quote[:40] in text  # what was shown early is in the answer or its sources
    # the status was set while the question waited, and only in the assistant thread
    assert {c["body"]["channel_id"] for c in statuses} == {"D7"}
    assert not slack.find(lambda c: "Looking that up" in str(c["body"].get("text")))

    # switching channels with the panel open is acknowledged and changes nothing; the manifest's own
    # prompt ("help") gets the usage text in the thread
    before = len(slack.calls)
    changed = dict(thread_started("D7", "1000.000001"), type="assistant_thread_context_changed")
    assert bot.event(changed, "EvThread3")[0] == 200
    help_q = dict(dm("help", "1000.000003", thread_ts="1000.000001"), channel="D7")
    assert bot.event(help_q, "EvThread4")[0] == 200
    reply = slack.wait_for(lambda c: in_thread("D7", "1000.000001")(c) and "/kb QUESTION" in c["body"]["text"],
                           what="help in the assistant thread")[0]
    assert [c["method"] for c in slack.calls[before:]] == ["chat.postMessage"] and reply in slack.calls[before:]


def test_progress_reaches_slack_in_channel_threads_too(start_bot, slack, sample_engine):
    """A mention's placeholder is edited as the answer is made: the quotes first, the answer last."""
    bot, _ = start_bot(sample_engine)
    assert bot.event(mention(IN_CORPUS, "1100.000001"), "EvProgress1")[0] == 200
    placeholder, _ = answered(slack, "C1", "1100.000001")
    ts = placeholder["reply"]["ts"]
    updates = slack.wait_for(final_update(ts), what="answer")
    edits = slack.find(edit_of(ts))
    assert len(edits) >= 2 and edits[0]["body"]["text"].startswith("From *") and not edits[0]["body"].get("blocks")
    assert edits[-1] is updates[-1] and "[1]" in text_of(edits[-1])


def test_progress_never_changes_the_answer_even_when_the_listener_fails(sample_engine, caplog):
    """Engine.ask with a progress listener gives the same Answer as without one; a listener that
    raises only stops the progress."""
    plain = sample_engine.ask(IN_CORPUS)
    heard: list[str] = []

    def listener(p: Any) -> None:
        heard.append(p.stage)
        raise RuntimeError("a front end's bug")

    with caplog.at_level("WARNING", logger="kb.engine"):
        shown = sample_engine.ask(IN_CORPUS, listener)
    assert heard == ["quoted"]  # told once, then left alone
    assert "progress stopped" in caplog.text
    assert (shown.answer, shown.mode, [c.to_dict() for c in shown.citations]) == (
        plain.answer, plain.mode, [c.to_dict() for c in plain.citations])


def test_a_rate_limited_progress_edit_is_skipped_not_retried(start_bot, slack, sample_engine):
    """Progress is best effort: a 429 on it must not hold the worker for Retry-After seconds."""
    bot, _ = start_bot(sample_engine)
    slack.fail_once["chat.update"] = (429, {"Retry-After": "20"})  # the first edit: the quotes
    assert bot.event(mention(IN_CORPUS, "1120.000001"), "EvHint429")[0] == 200
    placeholder, final = answered(slack, "C1", "1120.000001")
    edits = slack.find(lambda c: c["method"] == "chat.update")
    assert edits[0]["status"] == 429 and edits[0]["body"]["text"].startswith("From *")
    assert not any(e["body"] == edits[0]["body"] for e in edits[1:])  # not sent again
    assert edits[-1] is final and "[1]" in text_of(final)

def test_verified_model_sentences_replace_the_quotes_before_the_answer(start_bot, slack, sample_store, embedder):
    """With an endpoint that streams, a model sentence that passes verification is shown while the
    model writes; one that fails it never is. The LLM is a stand-in endpoint on loopback."""
    from kb.engine import Engine
    from kb.settings import load_settings

    s, store, _ = sample_store
    kept = "A base model completes text rather than following instructions."
    invented = "A base model was invented in 1887 by a Dutch baker."
    llm = LLMStandIn(f"{kept} {invented}")
    llm.failing = False
    try:
        engine = Engine(load_settings(store=s.store, llm_url=llm.url, llm_timeout=10), store=store, embedder=embedder)
        bot, _ = start_bot(engine)
        assert bot.event(mention(IN_CORPUS, "1150.000001"), "EvVerified1")[0] == 200
        placeholder, final = answered(slack, "C1", "1150.000001")
        edits = [c["body"]["text"] for c in slack.find(edit_of(placeholder["reply"]["ts"]))]
        assert llm.find(lambda c: c["body"].get("stream") is True)
        assert edits[0].startswith("From *")  # the quotes, before the model was asked
        shown = [e for e in edits[1:-1] if "checking the rest" in e]
        assert shown and shown[0].startswith(kept), edits
        assert not any("1887" in e for e in edits)  # the invented sentence was never shown
        assert kept.rstrip(".") in text_of(final) and "1887" not in text_of(final)
    finally:
        llm.close()


# -- channel scopes ---------------------------------------------------------------------------

BAKERY_PAGE = """---
title: Proofing sourdough
---
# Proofing sourdough

Proofing is the last rise of a shaped sourdough loaf before it goes into the oven.
At a warm room temperature a sourdough loaf usually proofs for three to five hours.
A loaf proofed overnight in the fridge develops a sourer flavour and is easier to score.
The loaf is ready when a floured finger dent springs back slowly and only part of the way.
"""


@pytest.fixture
def scoped_store(tmp_path, embedder, model_cache):
    """Two collections in one store: the glossary's base-model page for ml, a bread page for the bakery."""
    from ingest.pipeline import run_ingest
    from kb.settings import load_settings
    from kb.store import Store

    bakery = tmp_path / "bakery"
    bakery.mkdir()
    (bakery / "proofing.md").write_text(BAKERY_PAGE)
    store = tmp_path / "bot-data"
    for collection, pages in (("ml-pages", [ROOT / "corpus" / "glossary" / "base-model.md",
                                            ROOT / "corpus" / "glossary" / "instruct-model.md"]),
                              ("bakery", [bakery])):
        s = load_settings(store=store, cache_dir=model_cache, collection=collection)
        run_ingest([str(p) for p in pages], s, Store(s), embedder, progress=False)
    return store


def test_scoped_channels_answer_only_from_their_collection(start_bot, slack, scoped_store, embedder, llm):
    from kb.engine import Engine
    from kb.settings import load_settings

    engine = Engine(load_settings(store=scoped_store), embedder=embedder, llm=llm)  # `collection` itself is empty
    bot, _ = start_bot(engine, slack_scopes={"CML": "ml-pages", "CBAKE": "bakery"}, slack_default_scope="ml-pages")
    bread = "How long should a sourdough loaf proof at room temperature?"
    asks = [("CML", IN_CORPUS, "1200.000001"), ("CBAKE", IN_CORPUS, "1200.000002"),
            ("CBAKE", bread, "1200.000003"), ("CML", bread, "1200.000004"), ("D1", bread, "1200.000005")]
    for i, (channel, question, ts) in enumerate(asks):
        event = mention(question, ts, channel=channel) if channel != "D1" else dm(question, ts)
        assert bot.event(event, f"EvScope{i}")[0] == 200
    texts = {}
    for channel, _, ts in asks:
        _, update = answered(slack, channel, ts)
        texts[ts] = text_of(update)
    assert "[1]" in texts["1200.000001"] and "base-model.md" in texts["1200.000001"]
    assert "does not cover this" in texts["1200.000002"]  # the glossary page is not in #bakery's scope
    assert "[1]" in texts["1200.000003"] and "proofing.md" in texts["1200.000003"]
    assert "does not cover this" in texts["1200.000004"]  # nor the bread page in #ml's
    assert "does not cover this" in texts["1200.000005"]  # DMs use the default scope, ml-pages
    assert all("base-model.md" not in t for t in (texts["1200.000002"], texts["1200.000003"]))


def test_scope_settings_and_an_empty_scope_fail_at_start(tmp_path, slack, sample_engine, monkeypatch):
    from bot.app import create_app
    from bot.settings import load_slack_settings
    from kb.errors import SettingsError

    monkeypatch.setenv("KB_SLACK_SCOPES", '{"C1": "ml-platform", "C2": "sales"}')
    assert load_slack_settings().slack_scopes == {"C1": "ml-platform", "C2": "sales"}
    monkeypatch.setenv("KB_SLACK_SCOPES", "C1=ml-platform, C2=sales")
    assert load_slack_settings().slack_scopes == {"C1": "ml-platform", "C2": "sales"}
    for bad, why in (("C1", "channel=collection"), ("C1=x", "not a collection name")):
        monkeypatch.setenv("KB_SLACK_SCOPES", bad)
        with pytest.raises(SettingsError, match=why):
            load_slack_settings()
    monkeypatch.delenv("KB_SLACK_SCOPES")
    (tmp_path / "kb.toml").write_text('slack_scopes = { C9 = "nobody-filled-this" }\n')  # cwd is tmp_path
    settings = bot_settings(tmp_path / "bot-data", slack_api_url=slack.api_url)
    assert settings.slack_scopes == {"C9": "nobody-filled-this"}
    with pytest.raises(SettingsError, match=r"collection 'nobody-filled-this' .* is empty \(slack_scopes maps C9 "
                       r"to it\): fill it with `kb --collection nobody-filled-this ingest PATH...`"):
        create_app(settings, engine=sample_engine)


def test_kb_slack_bad_scope_is_one_line():
    result = invoke_kb(["slack"], env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                                       "KB_SLACK_SCOPES": "C1=ml-platform,C2"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "KB_SLACK_SCOPES" in lines[0] and "C0123=ml-platform" in lines[0], result.output


# -- socket mode ------------------------------------------------------------------------------

class SocketModeStandIn:
    """Slack's Socket Mode side: a WebSocket on loopback that pushes one envelope and records the ack."""

    def __init__(self, envelope: dict[str, Any]) -> None:
        from websockets.sync.server import serve

        self.acks: list[dict[str, Any]] = []

        def handler(ws: Any) -> None:
            ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}}))
            ws.send(json.dumps(envelope))
            try:
                for message in ws:
                    self.acks.append(json.loads(message))
            except Exception:  # noqa: BLE001 - the client closing is the normal end
                pass

        self.server = serve(handler, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_socket_mode_acks_the_envelope_and_answers_in_the_thread(tmp_path, slack, sample_engine):
    pytest.importorskip("websockets.sync.server")
    from bot.app import connect_socket_mode, create_app, socket_mode_handler

    event = {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "EvSocket1",
             "event": mention(OFF_TOPIC, "950.000001"),
             "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}]}
    ws = SocketModeStandIn({"envelope_id": "env-1", "type": "events_api", "accept_response_payload": False,
                            "retry_attempt": 0, "retry_reason": "", "payload": event})
    slack.ws_url = ws.url
    settings = bot_settings(tmp_path / "bot-data", slack_api_url=slack.api_url, slack_app_token="xapp-test")
    handler = socket_mode_handler(create_app(settings, engine=sample_engine), settings)
    try:
        connect_socket_mode(handler)
        answered(slack, "C1", "950.000001")
        end = time.monotonic() + DEADLINE
        while not ws.acks and time.monotonic() < end:
            time.sleep(0.05)
        assert ws.acks[0]["envelope_id"] == "env-1"
        opened = slack.find(lambda c: c["method"] == "apps.connections.open")
        assert opened and opened[0]["status"] == 200
    finally:
        handler.close()
        ws.server.shutdown()


def test_socket_mode_rejected_app_token_is_one_clear_error(tmp_path, slack, sample_engine):
    from bot.app import connect_socket_mode, create_app, socket_mode_handler
    from kb.errors import SettingsError

    settings = bot_settings(tmp_path / "bot-data", slack_api_url=slack.api_url, slack_app_token="xapp-revoked")
    handler = socket_mode_handler(create_app(settings, engine=sample_engine), settings)
    with pytest.raises(SettingsError, match=r"Slack rejected SLACK_APP_TOKEN \(invalid_auth\)"):
        connect_socket_mode(handler)
    handler.close()


# -- kb slack / kb feedback on the command line -------------------------------------------------

@pytest.fixture(autouse=True)
def no_slack_env(monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "KB_SLACK_CHANNELS",
                 "KB_SLACK_SCOPES", "KB_SLACK_DEFAULT_SCOPE"):
        monkeypatch.delenv(name, raising=False)


def invoke_kb(args: list[str], env: dict[str, str] | None = None):
    from click.testing import CliRunner

    from kb.cli import cli

    return CliRunner().invoke(cli, args, env=env)


def test_kb_slack_without_tokens_exits_nonzero_with_one_line():
    result = invoke_kb(["slack"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN" in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("env, args, expected", [
    ({"SLACK_BOT_TOKEN": BOT_TOKEN}, ["slack", "--http"], "SLACK_SIGNING_SECRET is not set"),
    ({"SLACK_BOT_TOKEN": BOT_TOKEN}, ["slack"], "SLACK_SIGNING_SECRET is not set"),
    ({"SLACK_BOT_TOKEN": "xapp-wrong-kind", "SLACK_SIGNING_SECRET": SECRET}, ["slack"], "starting with xoxb-"),
    ({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-wrong-kind"}, ["slack"], "starting with xapp-"),
    ({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": "http://127.0.0.1:9/api/"},
     ["slack", "--http"], "cannot reach the Slack Web API at http://127.0.0.1:9/api/"),
])
def test_kb_slack_settings_errors_are_one_line(env, args, expected):
    result = invoke_kb(args, env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


def test_kb_slack_rejected_bot_token_fails_before_loading_models(slack):
    slack.auth_error = "invalid_auth"
    result = invoke_kb(["slack", "--http"], env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                                            "SLACK_API_URL": slack.api_url})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: Slack rejected SLACK_BOT_TOKEN (invalid_auth) at {slack.api_url}auth.test: copy the Bot User "
        "OAuth Token again, or reinstall the app"]


def test_kb_feedback_when_empty(tmp_path):
    result = invoke_kb(["feedback", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["votes"] == []
    result = invoke_kb(["feedback"])
    assert result.exit_code == 0 and "no feedback yet" in result.output


def test_kb_slack_http_process_serves_signed_requests(slack, sample_store, model_cache):
    """`kb slack --http` as a user runs it: a real process, models loaded at start-up."""
    import os
    import re
    import subprocess
    import sys

    s, _, _ = sample_store
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": slack.api_url, "KB_STORE": str(s.store), "KB_CACHE_DIR": str(model_cache)}
    proc = subprocess.Popen([sys.executable, "-m", "kb", "slack", "--http", "--host", "127.0.0.1", "--port", "0"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while proc.poll() is None and "answering Slack at" not in line:
            line = proc.stderr.readline()
        assert proc.poll() is None, f"kb slack exited: {line}{proc.stderr.read()}"
        url = re.search(r"(http://\S+/slack/events)", line).group(1)
        bot = BotUnderTest(url, None)
        assert bot.event(mention("help", "990.000001"), "EvProc1", signed=False)[0] == 401
        assert bot.event(mention("help", "990.000002"), "EvProc2")[0] == 200
        reply = slack.wait_for(in_thread("C1", "990.000002"), what="help reply")[0]
        assert "/kb QUESTION" in reply["body"]["text"]
        assert slack.find(in_thread("C1", "990.000001")) == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- pieces -----------------------------------------------------------------------------------

MANIFEST_EVENTS = {  # a manifest bot event -> an event body of that kind, as Slack sends it
    "app_mention": mention("hi", "1.000001"),
    "message.im": dm("hi", "1.000002"),
    "assistant_thread_started": {"type": "assistant_thread_started", "event_ts": "1.000003",
                                 "assistant_thread": {"user_id": "U1", "channel_id": "D1", "thread_ts": "1.000003",
                                                      "context": {}}},
    "assistant_thread_context_changed": {"type": "assistant_thread_context_changed", "event_ts": "1.000004",
                                         "assistant_thread": {"user_id": "U1", "channel_id": "D1",
                                                              "thread_ts": "1.000003", "context": {}}},
}


def kb_listeners(app: Any) -> list[tuple[str, Any]]:
    """(name, listener) for every event listener kb wired, the Assistant middleware's included;
    the catch-all that only acknowledges other events is left out."""
    from slack_bolt.middleware.assistant import Assistant

    found = [(lis.ack_function.__name__, lis) for lis in app._listeners if lis.ack_function.__name__ != "ignore_event"]
    for mw in app._middleware_list:
        if isinstance(mw, Assistant):
            for group in (mw._thread_started_listeners, mw._thread_context_changed_listeners,
                          mw._user_message_listeners, mw._bot_message_listeners):
                found += [(lis.ack_function.__name__, lis) for lis in group or []]
    return found


def test_manifest_is_valid_and_subscribes_to_what_the_listeners_handle(tmp_path):
    """bot/manifest.yml against Slack's manifest schema (tests/data, from slackapi/manifest-schema, MIT),
    then both ways: every subscribed event reaches a kb listener, and every kb event listener is reached
    by a subscribed event (a listener without its subscription never runs; a subscription without a
    listener is an event kb is sent for nothing)."""
    import jsonschema
    import yaml
    from slack_bolt import App
    from slack_bolt.request import BoltRequest
    from slack_bolt.response import BoltResponse

    from bot.app import EVENTS_PATH, Bot
    from bot.feedback import FeedbackStore
    from bot.journal import Journal
    from bot.listeners import register_all

    text = (ROOT / "bot" / "manifest.yml").read_text()
    manifest = yaml.safe_load(text)
    schema = json.loads((ROOT / "tests" / "data" / "slack-manifest.schema.1.0.0.json").read_text())
    jsonschema.validate(manifest, schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict enough to catch a typo
        jsonschema.validate({**manifest, "features": {**manifest["features"], "assistant_veiw": {}}}, schema)

    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) == set(MANIFEST_EVENTS)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"app_mentions:read", "assistant:write", "chat:write",
                                                              "commands", "im:history", "channels:history",
                                                              "groups:history"}
    assert manifest["features"]["assistant_view"]["assistant_description"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/kb"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert EVENTS_PATH in text  # the HTTP-mode hint names the path

    app = App(token=BOT_TOKEN, signing_secret=SECRET, token_verification_enabled=False)
    register_all(app, Bot(answerer=None, feedback=FeedbackStore(tmp_path / "f.sqlite"),  # type: ignore[arg-type]
                          seen=Journal(tmp_path / "j.sqlite"), scopes=None))  # type: ignore[arg-type]
    listeners = kb_listeners(app)
    reached: set[str] = set()
    for name in events:
        body = {"type": "event_callback", "team_id": "T1", "event_id": f"Ev{name}", "event": MANIFEST_EVENTS[name],
                "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}]}
        if name in ("message.im",):  # in a thread it is an assistant message; top level, a DM
            threaded = {**body, "event": {**body["event"], "thread_ts": "1.000001"}}
            bodies = [body, threaded]
        else:
            bodies = [body]
        for b in bodies:
            req = BoltRequest(body=b, mode="socket_mode")
            matched = [n for n, lis in listeners if lis.matches(req=req, resp=BoltResponse(status=200))]
            assert matched, f"manifest event {name} reaches no kb listener"
            reached.update(matched)
    assert reached == {n for n, _ in listeners} - {"on_feedback", "on_command"}, (reached, listeners)


def test_question_text_from_slack_wire_format():
    from bot.listeners.messages import question_text

    assert question_text(f"<@{BOT_USER}> what is &lt;MoE&gt; &amp; why?", BOT_USER) == "what is <MoE> & why?"
    assert question_text(f"<@{BOT_USER}>: ask <@U2|ana> about <https://x.io/p|this page> in <#C9|ml>",
                         BOT_USER) == "ask @ana about this page in #ml"
    assert question_text(f"<@{BOT_USER}>", BOT_USER) == ""


def test_format_sources_and_refusal():
    from bot.format import answer_blocks, answer_text
    from kb.types import Answer, Citation

    cites = [Citation(1, "https://wiki.example.com/moe", "MoE <draft>", "Routing", "Experts & a router.", 0.9),
             Citation(2, "/srv/kb/corpus/glossary/lora.md", "LoRA", "LoRA", "Low-rank adapters.", 0.8)]
    ans = Answer("q", "A router picks experts [1]. Adapters are small [2].", False, cites, "m1",
                 timings={"total_s": 4.21})
    blocks = answer_blocks(ans, "abc")
    sources = blocks[1]["text"]["text"]
    assert "*[1]* <https://wiki.example.com/moe|MoE ‹draft›> — Routing\n>Experts &amp; a router." in sources
    assert "*[2]* LoRA · `lora.md`\n>Low-rank adapters." in sources  # a file: its name, not the server path
    assert blocks[2]["elements"][0]["text"] == "m1 · 4.2 s"
    assert [e["value"] for e in blocks[3]["elements"]] == ["abc", "abc"]
    refused = Answer("q", "x", True, [], "m1", closest_topics=["LoRA", "Fine-tuning"])
    assert answer_text(refused).endswith("Closest topics it does cover: *LoRA*, *Fine-tuning*.")
    assert len(answer_blocks(refused)) == 2  # no sources, no buttons without an id


def test_format_links_each_source_kind_and_names_the_follow_up():
    from bot.format import answer_blocks, answer_text
    from kb.types import Answer, Citation

    cites = [Citation(1, "/srv/docs/guide/a.md", "Guide", "Setup", "Run it.", 0.9, url="https://docs.example.com/guide/a"),
             Citation(2, "https://wiki.example.com/p?a=1&b=2", "Wiki", "Wiki", "Fetched.", 0.8),
             Citation(3, "/srv/kb/notes.md", "Notes", "Notes", "Local.", 0.7),
             Citation(4, "/srv/kb/evil.md", "Evil", "Evil", "x", 0.7, url="javascript:alert(1)")]
    ans = Answer("why?", "Run it [1].", False, cites, "m1", timings={"total_s": 1.0}, follow_up_of=["what is <b>?"],
                 standalone="what is <b>? why?")
    blocks = answer_blocks(ans)
    sources = blocks[1]["text"]["text"]
    assert "*[1]* <https://docs.example.com/guide/a|Guide> — Setup" in sources  # front matter url / source_urls
    assert "*[2]* <https://wiki.example.com/p?a=1&amp;b=2|Wiki>" in sources  # the fetched URL
    assert "*[3]* Notes · `notes.md`" in sources  # no URL: the file name
    assert "*[4]* Evil · `evil.md`" in sources and "javascript" not in sources  # only http(s) is a link
    assert blocks[2]["elements"][0]["text"] == "m1 · 1.0 s · follow-up, read as \u201cwhat is &lt;b&gt;? why?\u201d"
    assert "Run it" in answer_text(ans)


def test_seen_forgets_after_ttl_and_size():
    from bot.dedupe import Seen

    now = [0.0]
    seen = Seen(ttl=10, max_size=3, clock=lambda: now[0])
    assert seen.first_time("a") and not seen.first_time("a")
    now[0] = 11
    assert seen.first_time("a")  # expired
    for k in "bcd":
        assert seen.first_time(k)
    assert seen.first_time("a")  # pushed out by the size bound when "d" came
    assert not seen.first_time("d")


def test_eval_candidates_one_per_question():
    from bot.feedback import eval_candidates, guess_kind

    votes = [{"helpful": False, "question": "What is X?", "answer_id": "a" * 32, "user": "U1", "time": "2026-01-02",
              "refused": True, "answer": "", "citations": []},
             {"helpful": False, "question": "what is  x?", "answer_id": "b" * 32, "user": "U2", "time": "2026-01-03",
              "refused": False, "answer": "X is y [1].", "citations": [{"source": "x.md"}]},
             {"helpful": True, "question": "What is Y?", "answer_id": "c" * 32, "user": "U1", "time": "2026-01-02",
              "refused": False, "answer": "Y [1].", "citations": []}]
    items = eval_candidates(votes)
    assert [i["question"] for i in items] == ["What is X?"]
    assert items[0]["id"] == "feedback-aaaaaaaa" and "kb refused" in items[0]["note"]
    assert [guess_kind(q) for q in ("How do I quantize?", "MoE vs dense?", "What is LoRA?")] == [
        "howto", "comparison", "definition"]


def test_kb_help_does_not_import_slack():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from kb.cli import cli; "
            "assert CliRunner().invoke(cli, ['slack', '--help']).exit_code == 0; "
            "assert CliRunner().invoke(cli, ['feedback', '--help']).exit_code == 0; "
            "print(','.join(m for m in ('slack_bolt', 'slack_sdk', 'torch', 'bot.app') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
