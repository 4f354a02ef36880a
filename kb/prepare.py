"""One-off model conversions, done at install time (`kb prepare`, run by `make demo`) instead of
inside the first answer: the embedder's ONNX export, the GGUF's safetensors copy and the LLM's
onnxruntime-genai export, each cached in `cache_dir/models/`. Re-running costs well under a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import KbError
from kb.settings import Settings


@dataclass
class Step:
    what: str
    status: str  # done | cached | skipped | failed
    seconds: float = 0.0
    detail: str = ""


@dataclass
class PrepareReport:
    steps: list[Step] = field(default_factory=list)
    llm_runtime: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [asdict(s) for s in self.steps], "llm_runtime": self.llm_runtime}


def prepare(settings: Settings, echo: Callable[[str], None] = lambda _: None, retry: bool = True) -> PrepareReport:
    """Convert what the configured models need, once; `echo` gets one progress line per step."""
    from kb.backends import onnx_genai
    from kb.backends.registry import load_embedder, pick_runtime
    from kb.backends.sources import resolve_llm_model
    from kb.backends.transformers_llm import _gguf_cache

    report = PrepareReport()

    def step(what: str, fn: Callable[[], Any], cached: bool) -> Any:
        echo(f"kb prepare: {what}{' (cached)' if cached else ' ...'}")
        t0 = time.perf_counter()
        try:
            out = fn()
        except KbError as exc:
            report.steps.append(Step(what, "failed", round(time.perf_counter() - t0, 1), str(exc)))
            echo(f"kb prepare: {what} failed: {exc}")
            return None
        seconds = round(time.perf_counter() - t0, 1)
        report.steps.append(Step(what, "cached" if cached else "done", seconds))
        if not cached:
            echo(f"kb prepare: {what} done in {seconds:.1f}s")
        return out

    step(f"embedding model {settings.embed_model} ({_embed_backend(settings)} backend)",
         lambda: load_embedder(settings), cached=False)
    if settings.llm_url:
        report.llm_runtime = "endpoint"
        report.steps.append(Step("LLM", "skipped", 0.0, f"endpoint {settings.llm_url}"))
        return report
    src = resolve_llm_model(settings.llm_model)
    runtime = pick_runtime(settings, src)
    report.llm_runtime = runtime
    if src.gguf_file and runtime in ("transformers", onnx_genai.RUNTIME):
        hf = Path(settings.cache_dir) / "models"
        cached = any((p / "model.safetensors").is_file() for p in hf.glob(f"{Path(src.gguf_file).stem}-*"))
        step(f"converting {src.gguf_file} to safetensors (once)",
             lambda: _gguf_cache(src, settings.cache_dir), cached=cached)
    if runtime == onnx_genai.RUNTIME:
        got = step(f"exporting the LLM to ONNX {onnx_genai.PRECISION} for onnxruntime-genai (once)",
                   lambda: onnx_genai.export_folder(settings, src, retry=retry), cached=False)
        if got is None:
            report.llm_runtime = "transformers"
            echo("kb prepare: answers will use the transformers runtime")
    return report


def _embed_backend(settings: Settings) -> str:
    """The backend a new store gets (auto: fp32 ONNX for the bundled MiniLM, exported here once; with
    KB_EMBED_BACKEND=onnx-int8 also quantized here)."""
    from kb.backends.vectors import auto_backend

    if settings.embed_backend != "auto":
        return settings.embed_backend
    try:
        return auto_backend(settings)
    except KbError:
        return settings.embed_backend  # load_embedder will report it as the step's failure
