"""The llama.cpp runtime (llama-cpp-python, `make speedup`): the .gguf file, no torch."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import LLMSource, _llm_label, _short, resolve_llm_model
from kb.cpu import inference_threads
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

class LlamaCppLLM:
    """The GGUF file run by llama.cpp (llama-cpp-python): no torch, ~5x faster decoding on a CPU.

    Optional: `make speedup` installs it. Greedy decoding with the same repetition
    penalty as the transformers path; the chat template comes from the GGUF.
    """

    def __init__(self, model: Any, label: str) -> None:
        self.model = model
        self.label = label

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, int]:
        self.model.reset()  # answers must not depend on the previous question's cache
        out = self.model.create_chat_completion(
            messages=messages, max_tokens=max_new_tokens, temperature=0.0, top_k=1, repeat_penalty=1.15,
        )
        text = (out["choices"][0]["message"]["content"] or "").strip()
        return text, int(out.get("usage", {}).get("completion_tokens", 0))


def load(settings: Settings) -> LlamaCppLLM:
    return _load_llama_cpp(settings, resolve_llm_model(settings.llm_model))


def _load_llama_cpp(settings: Settings, src: LLMSource) -> LlamaCppLLM:
    from llama_cpp import Llama

    t0 = time.perf_counter()
    path = str(Path(src.folder) / src.gguf_file)  # type: ignore[operator]
    try:
        model = Llama(model_path=path, n_threads=inference_threads(settings), n_ctx=2048,
                      verbose=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"llama.cpp cannot load {path} (KB_LLM_MODEL): {_short(exc)}. "
                            "Set KB_LLM_RUNTIME=transformers to use the torch path.") from exc
    log.info("loaded %s with llama.cpp in %.1fs", src.label, time.perf_counter() - t0)
    return LlamaCppLLM(model, label=_llm_label(settings, src))
