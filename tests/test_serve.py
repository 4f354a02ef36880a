"""`kb serve`: a real daemon in a subprocess over the sample store; `kb ask` goes through it."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import KB, ROOT, run_kb, wait_for

IN_SCOPE = "what is a mixture of experts model?"
OUT_OF_SCOPE = "what is the capital of France?"


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def daemon(sample_store, model_cache, tmp_path_factory):
    """`kb serve` on the sample store; short answers keep 20 questions cheap."""
    settings, _, _ = sample_store
    env = {**os.environ, "KB_STORE": str(settings.store), "KB_CACHE_DIR": str(model_cache), "KB_MAX_NEW_TOKENS": "8",
           "KB_EMBED_BACKEND": "auto",
           "HOME": str(tmp_path_factory.mktemp("home"))}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*KB, "-v", "serve"], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    state = Path(settings.store) / "serve.json"
    try:
        assert wait_for(lambda: state.is_file() or proc.poll() is not None, timeout=600), "kb serve did not start"
        assert proc.poll() is None, log.read_text()
        info = json.loads(state.read_text())
        from kb.answering import others_answering

        assert others_answering(settings.data_dir) == 1  # marked, as `kb ingest` checks before taking every core
        yield {"env": env, "proc": proc, "state": state, "log": log, "url": info["url"], "token": info["token"]}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert not state.exists(), "kb serve left serve.json behind after SIGTERM"


def test_kb_ask_goes_through_the_daemon(daemon):
    res = run_kb("ask", "--json", IN_SCOPE, env=daemon["env"])
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["via"] == "daemon"
    assert not out["refused"] and out["citations"]
    assert "answered in" in daemon["log"].read_text()


def test_text_output_and_refusal_through_the_daemon(daemon):
    res = run_kb("ask", OUT_OF_SCOPE, env=daemon["env"])
    assert res.returncode == 0, res.stderr
    assert "Sources:" not in res.stdout
    gaps = Path(daemon["env"]["KB_STORE"]) / "gaps.jsonl"
    assert OUT_OF_SCOPE in gaps.read_text()


def test_follow_up_through_the_daemon(daemon):
    """The daemon gets the earlier question too: it answers the standalone question, not the bare reply."""
    res = run_kb("ask", "--json", "--follow-up-of", OUT_OF_SCOPE, "and of Peru?", env=daemon["env"])
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["via"] == "daemon" and out["refused"]
    assert out["follow_up_of"] == [OUT_OF_SCOPE] and out["standalone_question"] == "what is the capital of Peru?"


def test_no_daemon_answers_in_process(daemon):
    res = run_kb("ask", "--json", "--no-daemon", OUT_OF_SCOPE, env=daemon["env"])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["via"] == "process"


def test_twenty_simultaneous_questions_are_all_answered(daemon):
    """Two bursts of 20: every question answered both times; the second burst does not grow memory
    (the first one pays for one-off allocations: thread pools, ONNX arenas, the first generate)."""
    from kb.serve import ask_daemon

    # mostly refusals (retrieval only) so the test stays cheap on a busy 2-core box; 4 reach the model
    questions = [IN_SCOPE, OUT_OF_SCOPE, "what is the capital of Spain?", "what is the capital of Italy?",
                 "who painted the Mona Lisa?"] * 4
    rss = []
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=20) as pool:
            replies = list(pool.map(lambda q: ask_daemon(daemon["url"], q, explain=False, token=daemon["token"]),
                                    questions))
        rss.append(_rss_kb(daemon["proc"].pid))
        assert len(replies) == 20
        for q, reply in zip(questions, replies, strict=True):
            assert reply is not None and reply["json"]["question"] == q and reply["json"]["via"] == "daemon"
        assert any(r["json"]["refused"] for r in replies) and any(not r["json"]["refused"] for r in replies)
    grown_mb = (rss[1] - rss[0]) / 1024
    assert grown_mb < 100, f"daemon memory grew {grown_mb:.0f} MB over the second burst of 20 questions"


def test_bad_requests_get_json_errors(daemon):
    import urllib.error
    import urllib.request

    auth = {"Authorization": f"Bearer {daemon['token']}"}
    req = urllib.request.Request(daemon["url"] + "/ask", data=b'{"question": "  "}', method="POST", headers=auth)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 400 and "empty" in json.loads(err.value.read())["error"]
    with urllib.request.urlopen(urllib.request.Request(daemon["url"] + "/health", headers=auth), timeout=30) as resp:
        assert json.loads(resp.read())["ok"] is True


def test_stale_state_file_falls_back_to_in_process(sample_store, tmp_path, model_cache):
    """A daemon that died without cleaning up must not break `kb ask`."""
    import shutil

    from kb.serve import identity
    from kb.settings import load_settings
    from tests.helpers import free_port

    store = tmp_path / "copy"
    shutil.copytree(sample_store[0].store, store, ignore=shutil.ignore_patterns("serve.json", "gaps.jsonl"))
    s = load_settings(store=store, cache_dir=model_cache)
    (store / "serve.json").write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": 1,
                                                  **identity(s)}))
    res = run_kb("ask", "--json", OUT_OF_SCOPE, env={"KB_STORE": str(store)})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["via"] == "process"


def test_daemon_for_another_store_is_not_used(tmp_path, model_cache):
    from kb.serve import find_daemon, identity
    from kb.settings import load_settings

    mine = load_settings(store=tmp_path / "a", cache_dir=model_cache)
    other = load_settings(store=tmp_path / "b", cache_dir=model_cache)
    mine.data_dir.mkdir(parents=True)
    (mine.data_dir / "serve.json").write_text(json.dumps({"url": "http://127.0.0.1:9", **identity(other)}))
    assert find_daemon(mine) is None
    (mine.data_dir / "serve.json").write_text(json.dumps({"url": "http://127.0.0.1:9", **identity(mine)}))
    assert find_daemon(mine) == "http://127.0.0.1:9"


# -- issue 14: what a local user or a web page can reach -----------------------------------

def _raw(daemon, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    import http.client
    from urllib.parse import urlparse

    u = urlparse(daemon["url"])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_token_host_and_origin_are_checked(daemon):
    host = daemon["url"].removeprefix("http://")
    ask = json.dumps({"question": OUT_OF_SCOPE}).encode()
    good = {"Host": host, "Authorization": f"Bearer {daemon['token']}", "Content-Type": "application/json"}
    assert _raw(daemon, "POST", "/ask", good, ask)[0] == 200
    # no token, a wrong token: 401 (any local user can connect to the port, only the owner reads serve.json)
    assert _raw(daemon, "POST", "/ask", {**good, "Authorization": ""}, ask)[0] == 401
    assert _raw(daemon, "POST", "/ask", {**good, "Authorization": "Bearer nope"}, ask)[0] == 401
    assert _raw(daemon, "GET", "/health", {"Host": host})[0] == 401
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host
    port = host.split(":")[1]
    assert _raw(daemon, "POST", "/ask", {**good, "Host": f"evil.example:{port}"}, ask)[0] == 403
    # any web page's request carries an Origin
    assert _raw(daemon, "POST", "/ask", {**good, "Origin": "http://evil.example"}, ask)[0] == 403
    assert _raw(daemon, "POST", "/ask", {**good, "Host": f"localhost:{port}"}, ask)[0] == 200


def test_data_files_are_private(daemon):
    import stat

    assert stat.S_IMODE(daemon["state"].stat().st_mode) == 0o600
    assert stat.S_IMODE((Path(daemon["env"]["KB_STORE"]) / "gaps.jsonl").stat().st_mode) == 0o600
    assert daemon["token"] and daemon["token"] not in daemon["log"].read_text()


def test_too_long_question_is_turned_away(daemon):
    from kb.errors import KbError
    from kb.serve import ask_daemon

    with pytest.raises(KbError, match="KB_MAX_QUESTION_CHARS"):
        ask_daemon(daemon["url"], "why " * 25_000, explain=False, token=daemon["token"])
    res = run_kb("ask", "--no-daemon", "why " * 25_000, env=daemon["env"])
    assert res.returncode == 1 and "KB_MAX_QUESTION_CHARS" in res.stderr and "Traceback" not in res.stderr
