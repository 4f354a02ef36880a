"""Which runtime loads the LLM and the embedder: a registry per kind, keyed by the runtime's name.

Each value is "module:function", imported only when chosen (so `kb --help` and the
settings never import torch); the function takes the Settings and returns an
object with the interface in kb/backends/__init__.py (`LLM`, `Embedder`).
Adding a runtime is one module with a `load(settings)` function and one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import LLMSource, _offline_unless_remote, resolve_embed_model, resolve_llm_model
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

LLM_RUNTIMES: dict[str, str] = {
    "transformers": "kb.backends.transformers_llm:load",
    "llama-cpp": "kb.backends.llama_cpp_llm:load",
    "openai": "kb.backends.openai_llm:load",  # chosen by KB_LLM_URL
}
EMBED_BACKENDS: dict[str, str] = {
    "torch": "kb.backends.st_embed:load",
    "onnx": "kb.backends.onnx_embed:load",
    "onnx-int8": "kb.backends.onnx_embed:load_int8",
}


def _loader(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def load_embedder(settings: Settings) -> Any:
    """A SentenceTransformer or a drop-in (KB_EMBED_BACKEND), offline; errors name the setting."""
    _offline_unless_remote()
    backend = settings.embed_backend.strip().lower()
    if backend != "auto" and backend not in EMBED_BACKENDS:
        raise ModelNotFound(f"KB_EMBED_BACKEND {settings.embed_backend!r}: use auto, "
                            f"{', '.join(EMBED_BACKENDS)}")
    if backend == "auto":  # same vectors either way; ONNX Runtime spares a query process the torch import
        target = resolve_embed_model(settings.embed_model)
        backend = "onnx" if Path(target).is_dir() and importlib.util.find_spec("onnxruntime") else "torch"
    return _loader(EMBED_BACKENDS[backend])(settings)


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def pick_runtime(settings: Settings, src: LLMSource) -> str:
    """The registered runtime for a local model; auto: llama-cpp for a .gguf when installed, else transformers.
    Errors name KB_LLM_RUNTIME."""
    choice = settings.llm_runtime.strip().lower().replace("_", "-")
    if choice != "auto" and choice not in LLM_RUNTIMES:
        raise ModelNotFound(f"KB_LLM_RUNTIME {settings.llm_runtime!r}: use auto, {', '.join(LLM_RUNTIMES)}")
    if choice == "openai":
        raise ModelNotFound("KB_LLM_RUNTIME=openai needs KB_LLM_URL (an OpenAI-compatible endpoint)")
    if choice == "llama-cpp":
        if not src.gguf_file:
            raise ModelNotFound(f"KB_LLM_RUNTIME=llama-cpp needs a .gguf model, not {src.label} (KB_LLM_MODEL)")
        if not llama_cpp_available():
            raise ModelNotFound("KB_LLM_RUNTIME=llama-cpp but llama-cpp-python is not installed: run `make speedup`")
        return "llama-cpp"
    if choice == "auto":
        return "llama-cpp" if src.gguf_file and llama_cpp_available() else "transformers"
    return choice


def load_llm(settings: Settings) -> Any:
    """The instruct model: the endpoint at KB_LLM_URL, else the local model on the chosen runtime."""
    if settings.llm_url:
        return _loader(LLM_RUNTIMES["openai"])(settings)
    runtime = pick_runtime(settings, resolve_llm_model(settings.llm_model))
    return _loader(LLM_RUNTIMES[runtime])(settings)
