"""Which runtime loads the LLM and the embedder: a registry per kind, keyed by the runtime's name.

Adding a runtime is one module with a `load(settings)` function and one line here.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import LLMSource, _offline_unless_remote, resolve_embed_model, resolve_llm_model
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

def load_embedder(settings: Settings) -> Any:
    """A SentenceTransformer or its ONNX Runtime drop-in (KB_EMBED_BACKEND), offline; errors name the setting."""
    _offline_unless_remote()
    target = resolve_embed_model(settings.embed_model)
    backend = settings.embed_backend.strip().lower()
    if backend not in ("auto", "torch", "onnx", "onnx-int8"):
        raise ModelNotFound(f"KB_EMBED_BACKEND {settings.embed_backend!r}: use auto, torch, onnx or onnx-int8")
    if backend == "auto":  # same vectors either way; ONNX Runtime spares a query process the torch import
        backend = "onnx" if Path(target).is_dir() and importlib.util.find_spec("onnxruntime") else "torch"
    if backend != "torch":
        return _load_onnx_embedder(settings, target, quantize=backend == "onnx-int8")
    return _load_st_embedder(settings, target)


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def pick_runtime(settings: Settings, src: LLMSource) -> str:
    """transformers | llama-cpp for a local model; errors name KB_LLM_RUNTIME."""
    choice = settings.llm_runtime.strip().lower().replace("_", "-")
    if choice not in ("auto", "transformers", "llama-cpp"):
        raise ModelNotFound(f"KB_LLM_RUNTIME {settings.llm_runtime!r}: use auto, transformers or llama-cpp")
    if choice == "llama-cpp":
        if not src.gguf_file:
            raise ModelNotFound(f"KB_LLM_RUNTIME=llama-cpp needs a .gguf model, not {src.label} (KB_LLM_MODEL)")
        if not llama_cpp_available():
            raise ModelNotFound("KB_LLM_RUNTIME=llama-cpp but llama-cpp-python is not installed: run `make speedup`")
        return "llama-cpp"
    if choice == "auto" and src.gguf_file and llama_cpp_available():
        return "llama-cpp"
    return "transformers"


def load_llm(settings: Settings) -> LocalLLM | RemoteLLM | LlamaCppLLM:
    if settings.llm_url:
        return RemoteLLM(settings)
    src = resolve_llm_model(settings.llm_model)
    if pick_runtime(settings, src) == "llama-cpp":
        return _load_llama_cpp(settings, src)
    return _load_local_llm(settings)
