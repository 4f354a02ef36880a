"""An OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server) through LlamaIndex's OpenAILike."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kb.backends.sources import _short
from kb.errors import LLMUnavailable

if TYPE_CHECKING:
    from kb.settings import Settings


def load(settings: Settings) -> RemoteLLM:
    return RemoteLLM(settings)

class RemoteLLM:
    """An OpenAI-compatible chat endpoint through LlamaIndex's OpenAILike."""

    def __init__(self, settings: Settings) -> None:
        from llama_index.llms.openai_like import OpenAILike

        model = settings.llm_model if not settings.llm_model.startswith("bundled:") else "default"
        self.label = f"{model} @ {settings.llm_url}"
        self.url = settings.llm_url
        self.llm = OpenAILike(
            model=model,
            api_base=settings.llm_url,
            api_key=settings.llm_api_key.get_secret_value(),
            is_chat_model=True,
            timeout=settings.llm_timeout,
            max_retries=1,
            temperature=0.0,
            context_window=8192,
        )

    streams = True  # chat(..., on_text=) asks the endpoint to stream (kb.engine shows verified sentences early)

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int,
             on_text: Callable[[str], None] | None = None) -> tuple[str, int]:
        from llama_index.core.llms import ChatMessage

        msgs = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        if on_text is not None:
            return self._stream(msgs, max_new_tokens, on_text)
        try:
            resp = self.llm.chat(msgs, max_tokens=max_new_tokens)
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            raise LLMUnavailable(f"LLM endpoint {self.url} (KB_LLM_URL) failed: {_short(exc)}") from exc
        text = (resp.message.content or "").strip()
        usage = (getattr(resp, "raw", None) or {})
        tokens = 0
        if isinstance(usage, dict):
            tokens = int((usage.get("usage") or {}).get("completion_tokens") or 0)
        else:
            tokens = int(getattr(getattr(usage, "usage", None), "completion_tokens", 0) or 0)
        return text, tokens or len(text.split())

    def _stream(self, msgs: list, max_new_tokens: int, on_text: Callable[[str], None]) -> tuple[str, int]:
        """The same completion, streamed; `on_text` gets the text so far whenever a chunk ends a sentence.
        Token usage is not reported while streaming, so the count is the word count."""
        text = ""
        try:
            for resp in self.llm.stream_chat(msgs, max_tokens=max_new_tokens):
                text = resp.message.content or ""
                if any(mark in (resp.delta or "") for mark in ".!?\n"):
                    on_text(text)
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            raise LLMUnavailable(f"LLM endpoint {self.url} (KB_LLM_URL) failed: {_short(exc)}") from exc
        text = text.strip()
        return text, len(text.split())
