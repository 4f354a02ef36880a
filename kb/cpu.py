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


def idle_cores(sample_s: float = 0.25) -> float | None:
    """Cores the whole machine left idle over `sample_s` seconds (two reads of /proc/stat); None off Linux.

    The load average lags by a minute and counts waiting threads; this is what is free right now."""
    import time

    def read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # total, idle + iowait

    first = read()
    time.sleep(sample_s)
    second = read()
    if not first or not second or second[0] <= first[0]:
        return None
    return (second[1] - first[1]) / (second[0] - first[0]) * (os.cpu_count() or 1)


def ingest_threads(settings: Settings, answering: bool) -> int:
    """Threads for `kb ingest`'s embedding: KB_THREADS when set; else every usable core that is idle now,
    one kept back when a `kb serve` or `kb slack` answers from this data folder (`answering`, from
    kb/answering.py), at least one.

    One embedding thread on two idle cores made kb's ingest no faster than LlamaIndex's, which takes
    every core (docs/bench-speed.md); two on a core another process keeps busy wait for each other."""
    if settings.threads > 0:
        return settings.threads
    cores = usable_cores()
    idle = idle_cores()
    free = cores if idle is None else min(cores, int(idle + 0.5))
    return max(1, free - (1 if answering else 0))


def apply_torch_threads(settings: Settings) -> None:
    """torch's intra-op pool is process-wide: size it once, before the first model runs."""
    import torch

    n = inference_threads(settings)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
