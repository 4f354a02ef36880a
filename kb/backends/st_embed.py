"""The sentence-transformers (torch) embedder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.backends.sources import _short, quiet_progress_bars, resolve_embed_model
from kb.cpu import apply_torch_threads
from kb.errors import ModelNotFound

if TYPE_CHECKING:
    from kb.settings import Settings


def load(settings: Settings) -> Any:
    """KB_EMBED_BACKEND=torch: the model named by KB_EMBED_MODEL, offline."""
    return _load_st_embedder(settings, resolve_embed_model(settings.embed_model))


def _load_st_embedder(settings: Settings, target: str) -> Any:
    from sentence_transformers import SentenceTransformer

    quiet_progress_bars()
    apply_torch_threads(settings)
    kwargs: dict[str, Any] = {"device": "cpu"}
    try:
        return SentenceTransformer(target, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any load failure is the same user problem
        raise ModelNotFound(
            f"cannot load embedding model {settings.embed_model!r} (KB_EMBED_MODEL): {_short(exc)}"
        ) from exc
