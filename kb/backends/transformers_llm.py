"""The transformers runtime: a causal LM with its chat template (a .gguf is dequantized once and cached)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import (
    LLMSource,
    _llm_label,
    _offline_unless_remote,
    _short,
    quiet_progress_bars,
    resolve_llm_model,
)
from kb.cpu import apply_torch_threads
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

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


def load(settings: Settings) -> LocalLLM:
    return _load_local_llm(settings)


def _load_local_llm(settings: Settings) -> LocalLLM:
    """Load with transformers; a GGUF is dequantized once and cached as safetensors.

    Turning a GGUF into torch tensors costs ~15 s per process; the cached copy
    loads in about a second.
    """
    _offline_unless_remote()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_progress_bars()

    apply_torch_threads(settings)
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
