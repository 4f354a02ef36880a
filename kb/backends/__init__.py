"""Model runtimes behind two small interfaces, found through a registry (kb/backends/registry.py).

An LLM runtime is a module with `load(settings) -> LLM`; an embedder runtime a
module with `load(settings) -> Embedder`; each is registered by name in
registry.py (LLM_RUNTIMES, EMBED_BACKENDS), and KB_LLM_RUNTIME / KB_EMBED_BACKEND
pick one. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from kb.backends.registry import EMBED_BACKENDS, LLM_RUNTIMES, load_embedder, load_llm


@runtime_checkable
class LLM(Protocol):
    """An instruct model: greedy chat completion."""

    label: str  # shown with every answer, e.g. 'bundled:SmolLM2-135M-Instruct'

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, int]:
        """The completion for OpenAI-style messages, and how many tokens were generated.

        A runtime that can show its draft while it writes sets `streams = True` and accepts
        `on_text=callback`, called with the completion so far (kb.engine verifies it as it grows)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """The part of SentenceTransformer kb uses."""

    def encode(self, sentences: Any, batch_size: int = 32, normalize_embeddings: bool = False,
               show_progress_bar: bool | None = None, **kwargs: Any) -> Any:
        """A numpy array: one row per text (one vector for a single string)."""
        ...


__all__ = ["EMBED_BACKENDS", "LLM", "LLM_RUNTIMES", "Embedder", "load_embedder", "load_llm"]
