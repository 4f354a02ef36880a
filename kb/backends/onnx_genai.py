"""The onnxruntime-genai runtime (`KB_LLM_RUNTIME=onnx-genai`): the local instruct model as int4 ONNX.

onnxruntime-genai installs as a prebuilt wheel, so the default install gets a
fast runtime without compiling anything. Its model builder turns a Hugging Face
folder (for the bundled GGUF: the safetensors copy kb converts once) into an
ONNX model with int4 (or int8) weights. That export is made once into
`cache_dir/models/<folder>-genai-<precision>-<key>/` (`kb prepare`, which
`make demo` runs at install time), checked with a one-token generate in a child
process, and only then put in place, so a build that crashes on this CPU never
becomes the runtime. A failed export is remembered beside it; `auto` then uses
transformers at once, with the reason in the log, instead of retrying on
every question.

Decoding is greedy with the transformers path's repetition penalty, and the
prompt is the same chat template rendered the same way, so answers stay
comparable across runtimes; afterwards a question needs neither torch nor
transformers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.backends.sources import LLMSource, _llm_label, _short, resolve_llm_model
from kb.cpu import inference_threads
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

log = logging.getLogger(__name__)

RUNTIME = "onnx-genai"
# int4 weights (block 32, symmetric) with int8 activations in the matmuls (the builder's CPU default);
# see docs/bench-speed.md for the draft comparison against the transformers path
PRECISION = "int4"
BUILDER_OPTIONS: tuple[str, ...] = ()  # --extra_options of the model builder (part of the cache key)
REPETITION_PENALTY = 1.15  # as LocalLLM and LlamaCppLLM
FAILED = "export-failed.txt"  # written instead of a model when the export or its check failed


class ExportFailed(RuntimeError):
    """The ONNX export (or its one-token check) did not work on this machine."""


def _version() -> str:
    from importlib.metadata import version

    return version("onnxruntime-genai")


def target_dir(hf_folder: Path, cache_dir: Path, precision: str = PRECISION) -> Path:
    """Where the export of this folder lives: keyed by the weights' identity, the precision and the builder."""
    weights = hf_folder / "model.safetensors"
    st = weights.stat() if weights.is_file() else (hf_folder / "config.json").stat()
    key = hashlib.sha1(f"{hf_folder.resolve()}:{st.st_size}:{int(st.st_mtime)}:{precision}:{_version()}"
                       f"{':'.join(('', *BUILDER_OPTIONS))}".encode()).hexdigest()[:16]
    return cache_dir / "models" / f"{hf_folder.name}-genai-{precision}-{key}"


def exported(target: Path) -> bool:
    return (target / "genai_config.json").is_file() and (target / "model.onnx").is_file()


def failure(target: Path) -> str | None:
    """Why an earlier export of this model failed, if it did (kb prepare tries again)."""
    path = target.with_name(target.name + "." + FAILED)
    return path.read_text().strip() or "unknown reason" if path.is_file() else None


def export(hf_folder: str | Path, cache_dir: Path, precision: str = PRECISION, *, retry: bool = False) -> Path:
    """The checked ONNX export of a Hugging Face model folder, built on first use (~10-30 s).

    The builder runs in a child process (it imports torch and prints per-tensor
    progress); the result is checked by a one-token generate in another child
    process, so a runtime that crashes on this CPU is caught before it is used.
    """
    hf_folder = Path(hf_folder)
    target = target_dir(hf_folder, cache_dir, precision)
    if exported(target):
        return target
    failed = target.with_name(target.name + "." + FAILED)
    if failed.is_file() and not retry:
        raise ExportFailed(failure(target) or "unknown reason")
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _build(hf_folder, tmp, precision)
        _check(tmp)
    except ExportFailed as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.write_text(str(exc) + "\n")
        raise
    failed.unlink(missing_ok=True)
    if exported(target):  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def _run(cmd: list[str], what: str, timeout: float) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ExportFailed(f"{what} took more than {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
        tail = lines[-1][:300] if lines else ""
        signal = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        raise ExportFailed(f"{what} failed ({signal}): {tail}")


def _build(hf_folder: Path, out: Path, precision: str) -> None:
    scratch = out.with_name(out.name + "-scratch")
    try:
        _run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_folder), "-o", str(out),
              "-p", precision, "-e", "cpu", "-c", str(scratch),
              *(["--extra_options", *BUILDER_OPTIONS] if BUILDER_OPTIONS else [])],
             "the onnxruntime-genai model builder", 900)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not exported(out):
        raise ExportFailed(f"the model builder left no genai_config.json/model.onnx in {out}")
    for name in ("tokenizer.json", "chat_template.jinja", "tokenizer_config.json"):
        src = hf_folder / name
        if src.is_file():  # the prompt is rendered from the same files the transformers path uses
            shutil.copyfile(src, out / name)


CHECK = """
import sys
import onnxruntime_genai as og
model = og.Model(sys.argv[1])
params = og.GeneratorParams(model)
params.set_search_options(max_length=4, do_sample=False)
gen = og.Generator(model, params)
gen.append_tokens([1, 2, 3])
gen.generate_next_token()
print(int(gen.get_next_tokens()[0]))
"""


def _check(out: Path) -> None:
    """One token from the new export, in a child process: a crash (SIGILL, SIGSEGV) lands there."""
    _run([sys.executable, "-c", CHECK, str(out)], "a one-token generate with the exported model", 300)


def _chat_template(folder: Path) -> Any:
    """The folder's chat template compiled the way transformers compiles it (trim/lstrip blocks, sandboxed)."""
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    path = folder / "chat_template.jinja"
    if path.is_file():
        text = path.read_text()
    else:
        cfg = json.loads((folder / "tokenizer_config.json").read_text())
        text = cfg["chat_template"]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    return env.from_string(text)


class OrtGenaiLLM:
    """Greedy decoding with onnxruntime-genai; the same prompt and penalty as the transformers path."""

    def __init__(self, folder: str | Path, label: str, threads: int = 0) -> None:
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        folder = Path(folder)
        self._og = og
        config = og.Config(str(folder))
        config.clear_providers()  # CPU
        # load() passes kb.cpu.inference_threads (KB_THREADS, 0: all usable cores but one);
        # genai's config has no switch for ORT's spin-waiting
        options = {"intra_op_num_threads": threads or os.cpu_count() or 1, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.model = og.Model(config)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.template = _chat_template(folder)
        genai = json.loads((folder / "genai_config.json").read_text())
        self.context = int(genai["model"].get("context_length") or 2048)
        self.label = label
        self.folder = folder

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.template.render(messages=messages, add_generation_prompt=True)
        return list(self.tokenizer.encode(text, add_special_tokens=True).ids)

    streams = True  # chat(..., on_text=) sees the draft grow (kb.engine shows verified sentences early)

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int,
             on_text: Callable[[str], None] | None = None) -> tuple[str, int]:
        """Return the completion and the number of generated tokens; `on_text` gets the text so far
        whenever a token ends a sentence (decoding the whole draft each time: 80 tokens at most)."""
        og = self._og
        ids = self.prompt_ids(messages)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=min(len(ids) + max_new_tokens, self.context), do_sample=False,
                                  repetition_penalty=REPETITION_PENALTY)
        generator = og.Generator(self.model, params)
        generator.append_tokens(ids)
        out: list[int] = []
        while not generator.is_done():
            generator.generate_next_token()
            out.append(int(generator.get_next_tokens()[0]))
            if on_text is not None:
                piece = self.tokenizer.decode(out[-1:], skip_special_tokens=True)
                if any(mark in piece for mark in ".!?\n"):
                    on_text(self.tokenizer.decode(out, skip_special_tokens=True))
        return self.tokenizer.decode(out, skip_special_tokens=True).strip(), len(out)


def load(settings: Settings) -> OrtGenaiLLM:
    """The checked export of KB_LLM_MODEL (made once, `kb prepare` does it at install), loaded for CPU."""
    src = resolve_llm_model(settings.llm_model)
    folder = export_folder(settings, src)
    t0 = time.perf_counter()
    try:
        llm = OrtGenaiLLM(folder, _llm_label(settings, src), inference_threads(settings))
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFound(f"onnxruntime-genai cannot load {folder}: {_short(exc)} "
                            "(KB_LLM_RUNTIME=transformers skips it)") from exc
    log.info("loaded %s with onnxruntime-genai in %.1fs", folder.name, time.perf_counter() - t0)
    return llm


def export_folder(settings: Settings, src: LLMSource, retry: bool = False) -> Path:
    """The checked onnxruntime-genai export of the model, converting once (`kb prepare` does this at install).

    A .gguf goes through the transformers runtime's safetensors copy first.
    """
    from kb.backends.transformers_llm import _gguf_cache

    try:
        hf = Path(_gguf_cache(src, settings.cache_dir) if src.gguf_file else src.folder)
        return export(hf, settings.cache_dir, retry=retry)
    except ExportFailed as exc:
        raise ModelNotFound(f"onnxruntime-genai cannot run {src.label}: {exc} (KB_LLM_RUNTIME=transformers skips "
                            "it; `kb prepare` tries the export again)") from exc
