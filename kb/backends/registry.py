"""Which runtime loads the LLM and the embedder: a registry per kind, keyed by the runtime's name.

Each value is "module:function", imported only when chosen (so `kb --help` and the
settings never import torch); the function takes the Settings and returns an
object with the interface in kb/backends/__init__.py (`LLM`, `Embedder`).
Adding a runtime is one module with a `load(settings)` function and one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import LLMSource, _offline_unless_remote, resolve_llm_model
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings
    from kb.store import Store

log = logging.getLogger(__name__)

LLM_RUNTIMES: dict[str, str] = {
    "transformers": "kb.backends.transformers_llm:load",
    "llama-cpp": "kb.backends.llama_cpp_llm:load",
    "onnx-genai": "kb.backends.onnx_genai:load",
    "openai": "kb.backends.openai_llm:load",  # chosen by KB_LLM_URL
}
# Runtimes whose drafts kb's checker has not kept, measured: `draft=auto` does not wait for their draft and
# answers with quotes (kb/engine.py). onnx-genai runs an int4 re-quantization of the bundled model: 0 of 64
# sample-eval answers kept a draft sentence (int8 and fp32-activation exports: 0 of 16; docs/bench-speed.md),
# where llama.cpp's Q4_1 kept one in 18 of 64. Re-check with `KB_DRAFT=always kb eval --set sample` (the
# report's "answers using a model sentence") after a change to the runtime or the checker; remove the name
# when its drafts survive.
DRAFTS_NOT_KEPT: frozenset[str] = frozenset({"onnx-genai"})
# Models whose drafts the checker keeps too rarely to wait for, on any runtime (docs/eval.md, issues 13 and 18):
# since the extractive rule (kb/extractive.py) the bundled 135M model's plain drafts kept 0 of 22 sentences on the
# sample and seed sets, and even drafts decoded from the source's words only kept a sentence in 2 of 60 realdocs
# answers. With `draft=auto` its answers are quotes and it is never loaded; KB_DRAFT=always still asks it.
DRAFTS_NOT_KEPT_MODELS: frozenset[str] = frozenset({"bundled:SmolLM2-135M-Instruct"})
EMBED_BACKENDS: dict[str, str] = {
    "torch": "kb.backends.st_embed:load",
    "onnx": "kb.backends.onnx_embed:load",
    "onnx-int8": "kb.backends.onnx_embed:load_int8",
}


def _loader(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def load_embedder(settings: Settings, store: Store | None = None) -> Any:
    """A SentenceTransformer or a drop-in (KB_EMBED_BACKEND), offline; errors name the setting.

    With `store`: the embedder whose vectors that store holds (auto follows the store's record;
    an explicit backend that disagrees raises EmbedderMismatch, kb/backends/vectors.py). Without:
    the one a new store gets. The result carries `kb_embedder` (model and backend), which ingest
    records on the store it writes.
    """
    _offline_unless_remote()
    backend = settings.embed_backend.strip().lower()
    if backend != "auto" and backend not in EMBED_BACKENDS:
        raise ModelNotFound(f"KB_EMBED_BACKEND {settings.embed_backend!r}: use auto, "
                            f"{', '.join(EMBED_BACKENDS)}")
    from kb.backends.vectors import auto_backend, load_for_store

    if store is not None:
        return load_for_store(settings, store, _load_tagged)
    return _load_tagged(settings, auto_backend(settings) if backend == "auto" else backend)


def _load_tagged(settings: Settings, backend: str) -> Any:
    """Load a registered backend and tag the result with what it really runs (the ONNX loader falls back
    to sentence-transformers when the export cannot be made: that is torch's vectors, not int8's)."""
    from kb.store import EmbedderRecord

    embedder = _loader(EMBED_BACKENDS[backend])(settings)
    ran = getattr(embedder, "kb_backend", None) or backend
    try:
        embedder.kb_embedder = EmbedderRecord(settings.embed_model, ran)
    except AttributeError:  # an object that takes no new attributes is simply not checked
        pass
    return embedder


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def onnx_genai_available() -> bool:
    return importlib.util.find_spec("onnxruntime_genai") is not None


def pick_runtime(settings: Settings, src: LLMSource) -> str:
    """The registered runtime for a local model; errors name KB_LLM_RUNTIME.

    auto: llama.cpp when `make speedup` installed it and the model is a .gguf, else
    onnx-genai when onnxruntime-genai is installed and the model is on disk (a .gguf or
    a folder), else transformers.
    """
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
    if choice == "onnx-genai":
        if not onnx_genai_available():
            raise ModelNotFound("KB_LLM_RUNTIME=onnx-genai but onnxruntime-genai is not installed: "
                                "pip install onnxruntime-genai")
        if not Path(src.folder).is_dir():
            raise ModelNotFound(f"KB_LLM_RUNTIME=onnx-genai needs a model on disk, not {src.label} (KB_LLM_MODEL)")
        return "onnx-genai"
    if choice == "auto":
        if src.gguf_file and llama_cpp_available():
            return "llama-cpp"
        if Path(src.folder).is_dir() and onnx_genai_available():
            return "onnx-genai"
        return "transformers"
    return choice


def drafts_kept(settings: Settings) -> bool:
    """Whether a draft by the model and runtime `load_llm` would pick can survive the checker (see DRAFTS_NOT_KEPT
    and DRAFTS_NOT_KEPT_MODELS).

    Decided without loading the model. An endpoint (KB_LLM_URL) and an unknown model are given the benefit
    of the doubt; when auto picked onnx-genai and its export failed, the export's transformers stand-in is
    still skipped (its answers are then quotes, as they would be with onnx-genai).
    """
    if settings.llm_url:
        return True
    if settings.llm_model in DRAFTS_NOT_KEPT_MODELS:
        return False
    try:
        runtime = pick_runtime(settings, resolve_llm_model(settings.llm_model))
    except ModelNotFound:
        return True  # load_llm will say what is wrong
    return runtime not in DRAFTS_NOT_KEPT


def load_llm(settings: Settings) -> Any:
    """The instruct model: the endpoint at KB_LLM_URL, else the local model on the chosen runtime.

    When auto picked onnx-genai and its export or load fails, the transformers runtime
    answers instead (the reason is logged); an explicit KB_LLM_RUNTIME raises.
    """
    if settings.llm_url:
        return _loader(LLM_RUNTIMES["openai"])(settings)
    runtime = pick_runtime(settings, resolve_llm_model(settings.llm_model))
    if runtime == "onnx-genai" and settings.llm_runtime.strip().lower() == "auto":
        try:
            return _loader(LLM_RUNTIMES[runtime])(settings)
        except ModelNotFound as exc:
            log.warning("%s; answering with the transformers runtime instead", exc)
            runtime = "transformers"
    return _loader(LLM_RUNTIMES[runtime])(settings)
