"""How many threads kb's local inference uses: never more than the cores it may share.

On a 2-core machine with one other busy process, llama.cpp with 2 threads decodes
12x slower than with 1 (issue 14: 0.9 vs ~10 tokens/s): its threads wait for each
other at every step and one of them always shares a core. So `threads=0` (the
default) means all usable cores but one, at least one; the measurements behind
this are in docs/operations.md. Every runtime (torch for the transformers LLM and
the sentence-transformers embedder, ONNX Runtime, llama.cpp) takes its count from
here, and so does `kb ingest`'s embedding, so an answering bot and a concurrent
ingest share the cores instead of each claiming all of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.settings import Settings


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's cpuset), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None) -> int:
    cores = usable_cores() if cores is None else cores
    return max(1, cores - 1)


def inference_threads(settings: Settings) -> int:
    """settings.threads when set (> 0), else all usable cores but one."""
    return settings.threads if settings.threads > 0 else default_threads()


def apply_torch_threads(settings: Settings) -> None:
    """torch's intra-op pool is process-wide: size it once, before the first model runs."""
    import torch

    n = inference_threads(settings)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
