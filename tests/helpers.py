"""Test helpers: free ports, loopback servers, running the kb CLI, small stores of written pages."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "kb"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_kb(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `kb` in a new process (what users run), capturing output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*KB, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT)


def wait_for(check: Callable[[], bool], timeout: float = 30, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


class Recorder:
    """A loopback HTTP server whose handler is a plain function of (method, path, body) -> (status, headers, body)."""

    def __init__(self, handler: Callable[[str, str, dict, bytes], tuple[int, dict, bytes]]) -> None:
        self.calls: list[dict] = []
        self.handler = handler
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.calls.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                status, headers, payload = recorder.handler(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def chat_completion(text: str, model: str = "stand-in") -> bytes:
    return json.dumps({
        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }).encode()


def chat_completion_stream(text: str, model: str = "stand-in") -> bytes:
    """The same answer as server-sent events, one word per chunk, as an endpoint streams it."""
    words = text.split(" ")
    chunks = [{"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": w if i == 0 else " " + w},
                            "finish_reason": None}]} for i, w in enumerate(words)]
    chunks.append({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"


def engine_over_pages(pages: dict[str, str], folder: Path, settings: Any, embedder: Any) -> Any:
    """An Engine over a real store holding these pages (file name -> text), ingested like `kb ingest`."""
    from ingest.pipeline import run_ingest
    from kb.engine import Engine
    from kb.store import Store

    docs = folder / "docs"
    docs.mkdir()
    for name, text in pages.items():
        (docs / name).write_text(text)
    store = Store(settings)
    run_ingest([str(docs)], settings, store, embedder, progress=False)
    return Engine(settings, store=store, embedder=embedder)


def retriever_with(engine: Any, **weights: float) -> Any:
    """The engine's retriever with some `RankWeights` changed: a rule switched off shows what it is for."""
    from dataclasses import replace

    from kb.retrieve import WEIGHTS, Retriever

    return Retriever(engine.store, engine.embedder, engine.corpus(), weights=replace(WEIGHTS, **weights))
