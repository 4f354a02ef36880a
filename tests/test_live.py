"""Long-lived processes see every ingest (issue 14, item 1).

A real `kb serve` and a real `kb slack --http` (talking to the stand-in Slack Web API of
tests/test_bot.py) answer from a copy of the sample store while a real `kb ingest` adds
a page to it. Every question asked before, during and after the ingest is answered
(no HTTP 5xx, no apology in Slack), and afterwards both answer from the new page
without a restart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import KB, ROOT, run_kb, wait_for
from tests.test_bot import BOT_TOKEN, SECRET, BotUnderTest, SlackStandIn, in_thread, mention, text_of

pytestmark = pytest.mark.network

NEW_PAGE = """---
title: Zorblax
---
# Zorblax

A zorblax is a checkpoint format that stores a model's weights as one file per layer.

## Why use a zorblax

A zorblax lets a server load only the layers it needs, so loading a zorblax is faster than loading a whole model.
"""
NEW_QUESTION = "what is a zorblax?"
OLD_QUESTION = "what is a mixture of experts model?"


def _daemon_ask(state: Path, question: str) -> dict:
    from kb.serve import ask_daemon

    info = json.loads(state.read_text())
    reply = ask_daemon(info["url"], question, explain=False, token=info.get("token"))
    assert reply is not None
    return reply["json"]


@pytest.fixture
def live(sample_store, model_cache, tmp_path):
    """`kb serve` and `kb slack --http` on a private copy of the sample store."""
    store = tmp_path / "store"
    shutil.copytree(sample_store[0].store, store, ignore=shutil.ignore_patterns("serve.json", "*.sqlite", "gaps.jsonl"))
    slack = SlackStandIn()
    env = {**os.environ, "KB_STORE": str(store), "KB_CACHE_DIR": str(model_cache), "KB_MAX_NEW_TOKENS": "8",
           "KB_EMBED_BACKEND": "auto", "HOME": str(tmp_path / "home"), "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}
    env.pop("SLACK_APP_TOKEN", None)
    serve_log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen([*KB, "-v", "serve"], stdout=serve_log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    bot = subprocess.Popen([*KB, "-v", "slack", "--http", "--host", "127.0.0.1", "--port", "0"], env=env, cwd=ROOT,
                           stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(bot.stderr.readline, "")), daemon=True).start()
    try:
        state = store / "serve.json"
        assert wait_for(lambda: state.is_file() or serve.poll() is not None, timeout=600), "kb serve did not start"
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()
        assert wait_for(lambda: any("answering Slack at" in ln for ln in lines) or bot.poll() is not None,
                        timeout=600), "kb slack did not start"
        assert bot.poll() is None, "".join(lines)
        url = re.search(r"(http://\S+/slack/events)", next(ln for ln in lines if "answering Slack at" in ln)).group(1)
        yield {"env": env, "state": state, "slack": slack, "bot": BotUnderTest(url, None), "tmp": tmp_path,
               "bot_log": lines}
    finally:
        for proc in (serve, bot):
            proc.terminate()
            proc.wait(timeout=60)
        serve_log.close()
        slack.close()


def test_ingest_while_serve_and_slack_answer(live):
    state, slack, bot = live["state"], live["slack"], live["bot"]
    assert not _daemon_ask(state, OLD_QUESTION)["refused"]
    from kb.answering import others_answering

    assert others_answering(state.parent) == 2  # kb serve and kb slack: `kb ingest` leaves them a core

    pages = live["tmp"] / "new-pages"
    pages.mkdir()
    (pages / "zorblax.md").write_text(NEW_PAGE)
    errors: list[str] = []
    asked: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:  # questions keep arriving while the ingest writes
        i = 0
        while not done.is_set():
            i += 1
            try:
                _daemon_ask(state, OLD_QUESTION)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"kb serve: {exc}")
            ts = f"1000.{i:06d}"
            status, _ = bot.event(mention(OLD_QUESTION, ts), f"EvLive{i}")
            if status != 200:
                errors.append(f"slack event got HTTP {status}")
            asked.append(ts)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        res = run_kb("ingest", str(pages), env={k: v for k, v in live["env"].items() if k.startswith(("KB_", "HOME"))})
    finally:
        done.set()
        asker.join(timeout=600)
    assert res.returncode == 0, res.stderr

    # after the ingest: the daemon answers from the new page, without a restart
    out = _daemon_ask(state, NEW_QUESTION)
    assert not out["refused"], out
    assert any(c["source"].endswith("zorblax.md") for c in out["citations"]), out["citations"]

    # and so does the bot
    assert bot.event(mention(NEW_QUESTION, "2000.000001"), "EvLiveNew")[0] == 200
    placeholder = slack.wait_for(in_thread("C1", "2000.000001"), what="placeholder")[0]
    ts = placeholder["reply"]["ts"]
    update = slack.wait_for(lambda c: c["method"] == "chat.update" and c["body"].get("ts") == ts, what="answer")[0]
    assert "zorblax.md" in text_of(update), text_of(update)

    # every question asked during the ingest was answered, none with an apology
    for t in asked:
        placeholder = slack.wait_for(in_thread("C1", t), what=f"placeholder for {t}")[0]
        ts = placeholder["reply"]["ts"]
        slack.wait_for(lambda c, ts=ts: c["method"] == "chat.update" and c["body"].get("ts") == ts, what="answer")
    apologies = slack.find(lambda c: c["method"] == "chat.update" and "Sorry" in text_of(c))
    assert not errors and not apologies, (errors, [text_of(c) for c in apologies], "".join(live["bot_log"])[-3000:])
