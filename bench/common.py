"""Shared bits for benchmarks: the machine line, eval-set loading, temp stores."""

from __future__ import annotations

import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# CPU features that decide which kernels the runtimes use (llama.cpp, ONNX Runtime int4/int8, bf16)
SPEED_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni",
               "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags() -> list[str]:
    """The speed-relevant flags of this CPU as lscpu/cpuinfo lists them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in SPEED_FLAGS if f in have]
    except OSError:
        pass
    return []


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = " ".join(cpu_flags()) or "none of " + " ".join(SPEED_FLAGS[:3])
    return f"{os.cpu_count()} cores, {cpu} (flags: {flags}), Python {platform.python_version()}"


def load_set(name: str) -> tuple[Path, list[dict]]:
    import yaml

    data = yaml.safe_load((ROOT / "eval" / "sets" / f"{name}.yaml").read_text())
    return (ROOT / data["corpus"]).resolve(), data["items"]


def source_matches(source: str, expected: list[str]) -> bool:
    return any(source.endswith(e) for e in expected)


def rank_of(sources: list[str], expected: list[str]) -> int | None:
    for i, src in enumerate(sources, start=1):
        if source_matches(src, expected):
            return i
    return None


def retrieval_scores(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "hit@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "hit@3": round(sum(1 for r in ranks if r and r <= 3) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }
