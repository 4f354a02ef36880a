"""`kb serve`: keep the models loaded and answer `kb ask` over loopback HTTP.

A cold `kb ask` pays for imports and model loading every time; the daemon pays
once. It listens on 127.0.0.1 only and writes `serve.json` (url, pid, store) into
the data folder (mode 0600, with a random token every request must carry as
`Authorization: Bearer TOKEN`), which is how `kb ask` finds it. Requests whose Host
is not the loopback address (DNS rebinding) or that come from a web page (an
Origin header) are refused with 403. Requests are queued and answered
one at a time by a single model worker, so 20 simultaneous questions all get an
answer and memory stays flat (one model, one KV cache). Protocol, JSON in and out:

    GET  /health  -> {"ok": true, "pid": ..., "queued": n, "answered": n}
    POST /ask     {"question": str, "explain": bool, "via": str, "follow_up_of": [str]}
                  -> {"json": <what `kb ask --json` prints>, "text": <what `kb ask` prints>}
                  errors: {"error": message, "kind": KbError subclass}, HTTP 4xx/5xx
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.answer_queue import AnswerQueue
from kb.errors import KbError

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

STATE_FILE = "serve.json"


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def identity(settings: Settings) -> dict[str, Any]:
    """What must match for a daemon to answer for this caller: same store, same models."""
    return {
        "store": None if settings.chroma_url else str(Path(settings.store).resolve()),
        "chroma_url": settings.chroma_url, "collection": settings.collection,
        "embed_model": settings.embed_model, "llm_model": settings.llm_model, "llm_url": settings.llm_url,
    }


def ask_payload(engine: Any, settings: Settings, question: str, explain: bool, via: str,
                follow_up_of: list[str] | None = None) -> dict[str, Any]:
    """Answer one question (a follow-up of `follow_up_of`); the `kb ask` output in both forms."""
    from kb.render import answer_text
    from kb.service import answer_json, ask

    answer = ask(engine, settings, question, via=via, follow_up_of=follow_up_of or ())
    return {"json": answer_json(answer, explain), "text": answer_text(answer, explain=explain)}


class Worker:
    """One thread owns the Engine; requests wait in the shared bounded answer queue."""

    def __init__(self, engine: Any, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.queue = AnswerQueue(maxsize=settings.serve_queue, name="kb-model-worker")

    @property
    def answered(self) -> int:
        return self.queue.answered

    def submit(self, request: dict[str, Any]) -> Future:
        return self.queue.submit(lambda: self._answer(request))  # queue.Full -> HTTP 503

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            earlier = request.get("follow_up_of") or []
            result = ask_payload(self.engine, self.settings, request["question"],
                                 bool(request.get("explain")), str(request.get("via") or "cli"),
                                 [str(q) for q in earlier] if isinstance(earlier, list) else [str(earlier)])
            result["json"]["via"] = "daemon"
            return result
        finally:
            log.info("answered in %.2fs (%d waiting): %s", time.perf_counter() - t0, self.queue.waiting(),
                     request.get("question", "")[:80])

    def stop(self) -> None:
        self.queue.stop()


def make_handler(worker: Worker, token: str = "", port: int = 0) -> type[BaseHTTPRequestHandler]:
    import hmac

    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _refused(self) -> bool:
            """403 for a browser page (DNS rebinding: wrong Host; any Origin), 401 without the token."""
            if port and (self.headers.get("Host") or "").lower() not in hosts:
                self._send(403, {"error": "kb serve answers requests to 127.0.0.1 only"})
                return True
            if self.headers.get("Origin") is not None:
                self._send(403, {"error": "kb serve does not answer web pages"})
                return True
            given = self.headers.get("Authorization") or ""
            if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self._send(401, {"error": "missing or wrong token: kb ask reads it from serve.json"})
                return True
            return False

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self._refused():
                return
            if self.path != "/health":
                return self._send(404, {"error": f"no such path {self.path}"})
            self._send(200, {"ok": True, "pid": os.getpid(), "queued": worker.queue.waiting(),
                             "answered": worker.answered})

        def do_POST(self) -> None:  # noqa: N802
            if self._refused():
                return
            if self.path != "/ask":
                return self._send(404, {"error": f"no such path {self.path}"})
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                question = str(request.get("question") or "").strip()
            except (ValueError, AttributeError):
                return self._send(400, {"error": "body must be a JSON object with a question"})
            if not question:
                return self._send(400, {"error": "question is empty"})
            from kb.limits import QuestionTooLong, check_question

            try:
                check_question(question, worker.settings)
            except QuestionTooLong as exc:
                return self._send(413, {"error": str(exc), "kind": type(exc).__name__})
            try:
                fut = worker.submit({**request, "question": question})
            except queue.Full:
                return self._send(503, {"error": f"kb serve is busy ({worker.queue.waiting()} questions waiting); "
                                        "try again shortly"})
            try:
                self._send(200, fut.result())
            except KbError as exc:
                self._send(422, {"error": str(exc), "kind": type(exc).__name__})
            except Exception as exc:  # noqa: BLE001
                log.exception("answer failed")
                self._send(500, {"error": f"{type(exc).__name__}: {exc}", "kind": "internal"})

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # listen backlog; the default 5 resets a burst of 20 simultaneous questions
    daemon_threads = True


def serve(settings: Settings, port: int | None = None, ready: Any = None) -> None:
    """Load everything, then answer until interrupted. `ready(url)` is called once listening."""
    from kb.engine import Engine

    engine = Engine(settings)
    t0 = time.perf_counter()
    engine.ensure_not_empty()
    engine.corpus()  # BM25 index
    engine.embedder  # noqa: B018 - warm the lazily loaded models now, not on the first question
    if engine.wants_draft():  # KB_DRAFT=auto with onnx-genai answers with quotes: no model to load
        engine.llm  # noqa: B018
    log.info("models and corpus loaded in %.1fs", time.perf_counter() - t0)
    import secrets

    from kb.answering import answering
    from kb.private import write_private

    worker = Worker(engine, settings)
    token = secrets.token_urlsafe(32)
    server = _Server(("127.0.0.1", settings.serve_port if port is None else port), make_handler(worker))
    server.RequestHandlerClass = make_handler(worker, token, server.server_address[1])
    url = f"http://127.0.0.1:{server.server_address[1]}"
    state = state_path(settings)
    with answering(settings.data_dir):  # marked before serve.json names it: `kb ingest` leaves this process a core
        write_private(state, json.dumps({"url": url, "pid": os.getpid(), "token": token, **identity(settings)}))
        if ready:
            ready(url)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` cleans up like Ctrl-C
        try:
            server.serve_forever()
        finally:
            worker.stop()
            server.server_close()
            try:
                if json.loads(state.read_text()).get("pid") == os.getpid():
                    state.unlink()
            except (OSError, ValueError):
                pass


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def read_state(settings: Settings) -> dict[str, Any]:
    """serve.json's contents; {} when there is none or it cannot be read."""
    try:
        state = json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def find_daemon(settings: Settings) -> str | None:
    """The URL of a running `kb serve` for the same store and models, or None."""
    state = read_state(settings)
    if not state:
        return None
    if any(state.get(k) != v for k, v in identity(settings).items()):
        return None
    return str(state.get("url") or "") or None


def daemon_token(settings: Settings) -> str:
    """The token of the running `kb serve` (from serve.json), '' when there is none."""
    return str(read_state(settings).get("token") or "")


def ask_daemon(url: str, question: str, explain: bool, via: str = "cli",
               timeout: float = 600.0, token: str | None = None,
               follow_up_of: list[str] | None = None) -> dict[str, Any] | None:
    """POST the question; None when nobody listens there (the caller answers in-process)."""
    import http.client
    from urllib.parse import urlparse

    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=2.0)
    try:
        conn.connect()
    except OSError:
        return None  # stale serve.json: the daemon is gone
    conn.sock.settimeout(timeout)
    try:
        payload: dict[str, Any] = {"question": question, "explain": explain, "via": via}
        if follow_up_of:
            payload["follow_up_of"] = follow_up_of
        body = json.dumps(payload)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", "/ask", body=body, headers=headers)
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise KbError(f"kb serve at {url} failed mid-answer: {exc}; retry, or use --no-daemon") from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise KbError(f"kb serve: {data.get('error', f'HTTP {resp.status}')}")
    return data
