"""Issue 14, item 5: no lost questions in the Slack bot.

Slack's 5xx and 429 answers are retried with capped waits (the real Bolt app against the
stand-in Slack Web API of tests/test_bot.py); a real `kb slack --http` process killed with
-9 while it answers picks the question up again after a restart, answers it once, still
recognises the event id, and tells the asker to ask again when the question is too old.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.helpers import KB, ROOT, Recorder, chat_completion, wait_for
from tests.test_bot import (
    BOT_TOKEN,
    IN_CORPUS,
    OFF_TOPIC,
    SECRET,
    BotUnderTest,
    SlackStandIn,
    answered,
    dm,
    final_update,
    in_thread,
    mention,
    start_bot,  # noqa: F401 - fixture
    text_of,
)

pytestmark = pytest.mark.network


class FlakySlack(SlackStandIn):
    """`failures[method]` is a list of (status, headers) answers given before the method works."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, list[tuple[int, dict[str, str]]]] = {}

    def reply(self, method: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            queue = self.failures.get(method)
            failure = queue.pop(0) if queue else None
        if failure:
            status, headers = failure
            return status, headers, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}
        return super().reply(method, body, auth)


@pytest.fixture
def slack():
    standin = FlakySlack()
    yield standin
    standin.close()


def test_one_500_from_chat_update_is_retried(start_bot, slack, sample_engine):  # noqa: F811
    slack.failures["chat.update"] = [(500, {})]
    bot, _ = start_bot(sample_engine)
    assert bot.event(dm(OFF_TOPIC, "100.000001"), "EvFive1")[0] == 200
    _, update = answered(slack, "D1", "100.000001")
    assert "does not cover this" in text_of(update)
    assert [c["status"] for c in slack.find(lambda c: c["method"] == "chat.update")] == [500, 200]


def test_repeated_429_waits_are_capped(start_bot, slack, sample_engine):  # noqa: F811
    slack.failures["chat.update"] = [(429, {"Retry-After": "3600"})] * 3 + [(503, {})]
    bot, _ = start_bot(sample_engine, slack_retry_max_wait=1.0)
    assert bot.event(dm(OFF_TOPIC, "200.000001"), "EvRate1")[0] == 200
    answered(slack, "D1", "200.000001")  # within the test deadline, not after 3 x 3600 s
    updates = slack.find(lambda c: c["method"] == "chat.update")
    assert [c["status"] for c in updates] == [429, 429, 429, 503, 200]
    assert all(b["at"] - a["at"] < 60 for a, b in zip(updates, updates[1:], strict=False))


def test_journal_dedupes_across_instances(tmp_path):
    import stat

    from bot.journal import Journal

    j = Journal(tmp_path / "j.sqlite")
    body = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "user": "U1"}}
    assert j.receive("event:Ev1", body, True)
    assert not j.receive("event:Ev1", body, True)
    again = Journal(tmp_path / "j.sqlite")  # a restarted process
    assert not again.receive("event:Ev1", body, True) and not again.first_time("event:Ev1")
    assert [r["state"] for r in again.unfinished()] == ["received"]
    again.settle("event:Ev1")
    assert again.unfinished() == []
    assert stat.S_IMODE((tmp_path / "j.sqlite").stat().st_mode) == 0o600


class HoldingLLM:
    """An OpenAI-compatible endpoint that holds each request while `hold` is set."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.release = threading.Event()
        self.requests = 0
        self.server = Recorder(self.handle).__enter__()
        self.url = self.server.url + "/v1"

    def handle(self, *args: Any) -> tuple[int, dict, bytes]:
        self.requests += 1
        if self.hold.is_set():
            self.release.wait(300)
        return 200, {"Content-Type": "application/json"}, chat_completion(
            "A base model is trained to predict the next token.")

    def close(self) -> None:
        self.release.set()
        self.server.__exit__(None, None, None)


def start_kb_slack(env: dict[str, str]) -> tuple[subprocess.Popen, BotUnderTest]:
    proc = subprocess.Popen([*KB, "-v", "slack", "--http", "--host", "127.0.0.1", "--port", "0"], env=env,
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    assert wait_for(lambda: any("answering Slack at" in ln for ln in lines) or proc.poll() is not None,
                    timeout=600), "kb slack did not start"
    assert proc.poll() is None, "".join(lines)
    url = re.search(r"(http://\S+/slack/events)", next(ln for ln in lines if "answering Slack at" in ln)).group(1)
    return proc, BotUnderTest(url, None)


def test_kill_9_while_answering_then_restart(slack, sample_store, model_cache, tmp_path):
    import shutil

    llm = HoldingLLM()
    store = tmp_path / "store"
    shutil.copytree(sample_store[0].store, store, ignore=shutil.ignore_patterns("serve.json", "*.sqlite", "gaps.jsonl"))
    env = {**os.environ, "KB_STORE": str(store), "KB_CACHE_DIR": str(model_cache), "KB_EMBED_BACKEND": "auto",
           "KB_LLM_URL": llm.url, "KB_LLM_MODEL": "stand-in", "HOME": str(tmp_path / "home"),
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}
    env.pop("SLACK_APP_TOKEN", None)
    procs: list[subprocess.Popen] = []
    try:
        # 1. a question is acknowledged, its placeholder posted, and the process dies while answering
        llm.hold.set()
        proc, bot = start_kb_slack(env)
        procs.append(proc)
        assert bot.event(mention(IN_CORPUS, "300.000001"), "EvKill1")[0] == 200
        placeholder = slack.wait_for(in_thread("C1", "300.000001"), what="placeholder")[0]
        assert wait_for(lambda: llm.requests >= 1, timeout=300), "the bot never reached the model"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        llm.hold.clear()
        llm.release.set()

        # 2. after the restart the same placeholder turns into the answer: nothing lost, nothing posted twice
        proc, bot = start_kb_slack(env)
        procs.append(proc)
        update = slack.wait_for(final_update(placeholder["reply"]["ts"]), what="the resumed answer")[0]
        assert "[1]" in text_of(update) and "Looking that up" not in text_of(update)
        # Slack's retry of the same event after the restart is recognised
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert bot.event(mention(IN_CORPUS, "300.000001"), "EvKill1", headers=retry)[0] == 200
        assert bot.event(dm(OFF_TOPIC, "300.000002"), "EvKill2")[0] == 200
        answered(slack, "D1", "300.000002")  # answered after anything queued before it
        assert len(slack.find(in_thread("C1", "300.000001"))) == 1
        assert len(slack.find(final_update(placeholder["reply"]["ts"]))) == 1

        # 3. a question left too long by a dead process is not answered late: the asker is told to ask again
        llm.hold.set()
        llm.release.clear()
        asked = llm.requests
        assert bot.event(mention(IN_CORPUS, "300.000003"), "EvKill3")[0] == 200
        old = slack.wait_for(in_thread("C1", "300.000003"), what="placeholder")[0]
        assert wait_for(lambda: llm.requests > asked, timeout=300), "the bot never reached the model"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        llm.hold.clear()
        llm.release.set()
        time.sleep(1.5)
        proc, bot = start_kb_slack({**env, "KB_SLACK_RESUME_LIMIT": "1"})
        procs.append(proc)
        note = slack.wait_for(final_update(old["reply"]["ts"]), what="ask-again note")[0]
        assert "ask again" in text_of(note)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
        llm.close()
