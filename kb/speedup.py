"""`make speedup`: build llama-cpp-python for the CPU it runs on, and prove it generates before kb uses it.

ggml's default native build (-march=native) crashed on generate on an AVX-512 EPYC
guest, and a portable build leaves AVX-512/AMX unused on the CPUs that have them
(decode was 30 tokens/s on a Sapphire Rapids where Zen 4 did 88). So the flags are
picked from /proc/cpuinfo, one explicit ggml option per instruction set the CPU
reports (never GGML_NATIVE), and the build is checked with a one-token generate of
the bundled GGUF in a child process: a build that crashes or fails there is rebuilt
with the portable flags, and if that fails too llama-cpp-python is uninstalled, so
`llm_runtime=auto` keeps using onnx-genai. Every step prints one line.

    python -m kb.speedup              # pick, build, check (what `make speedup` runs)
    python -m kb.speedup --dry-run    # print the tier and CMAKE_ARGS only
    python -m kb.speedup --cpuinfo FILE --dry-run   # the same for a recorded /proc/cpuinfo
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "llama-cpp-python"
# Never native: -march=native is what crashed. Each level below names its instruction sets.
PORTABLE = ("-DGGML_NATIVE=OFF", "-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF",
            "-DGGML_AMX_BF16=OFF")
AVX2 = ("-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
        "-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF")
# cpuinfo flag -> the ggml option that uses it, added on top of AVX2 when the CPU has AVX-512F/BW/VL
AVX512_EXTRAS = (("avx512_vnni", "-DGGML_AVX512_VNNI=ON"), ("avx512_bf16", "-DGGML_AVX512_BF16=ON"),
                 ("avx512vbmi", "-DGGML_AVX512_VBMI=ON"))
AMX = (("amx_tile", "-DGGML_AMX_TILE=ON"), ("amx_int8", "-DGGML_AMX_INT8=ON"), ("amx_bf16", "-DGGML_AMX_BF16=ON"))
CHECK_TIMEOUT = 300  # seconds for the one-token generate (model load included), generous for a loaded machine


@dataclass
class Build:
    tier: str  # amx | avx512 | avx2 | portable
    cmake_args: tuple[str, ...]

    @property
    def env(self) -> str:
        return " ".join(self.cmake_args)


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor in a /proc/cpuinfo text (x86 'flags'; empty elsewhere)."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def pick_build(flags: set[str]) -> Build:
    """The fastest flag set this CPU can run: AMX > AVX-512 > AVX2 > portable (ggml's own defaults, no AVX-512)."""
    if not {"avx2", "fma", "f16c"} <= flags:
        return Build("portable", PORTABLE)
    if not {"avx512f", "avx512bw", "avx512vl"} <= flags:
        args = AVX2 + (("-DGGML_AVX_VNNI=ON",) if "avx_vnni" in flags else ())
        return Build("avx2", args)
    args = [a for a in AVX2 if not a.startswith(("-DGGML_AVX512=", "-DGGML_AMX_"))] + ["-DGGML_AVX512=ON"]
    args += [opt for flag, opt in AVX512_EXTRAS if flag in flags]
    if all(flag in flags for flag, _ in AMX):
        return Build("amx", tuple(args + [opt for _, opt in AMX]))
    return Build("avx512", tuple(args + ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]))


RUNTIME_DEPS = ("diskcache>=5.6.1",)  # what llama_cpp imports beyond kb's own dependencies


def install(build: Build) -> bool:
    """pip builds llama-cpp-python from source with these flags (a fresh build: no cached wheel of other flags)."""
    print(f"speedup: building {PACKAGE} for this CPU ({build.tier}): CMAKE_ARGS=\"{build.env}\" "
          "(~4-25 minutes, depending on load)", flush=True)
    # --no-deps keeps pip from moving numpy & co. under kb; the one dependency kb lacks is installed on its own
    # (without it `import llama_cpp` failed the one-token check after a 12-minute build)
    deps = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *RUNTIME_DEPS])
    if deps.returncode != 0:
        return False
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--force-reinstall",
                           "--no-deps", PACKAGE], env={**os.environ, "CMAKE_ARGS": build.env, "FORCE_CMAKE": "1"})
    return proc.returncode == 0


CHECK = """
import sys
from llama_cpp import Llama
m = Llama(model_path=sys.argv[1], n_threads=1, n_ctx=256, verbose=False)
out = m.create_completion("The capital of France is", max_tokens=1, temperature=0.0)
assert out["choices"][0]["text"] is not None
print("ok")
"""


def one_token(gguf: Path) -> str:
    """'' when the installed llama_cpp generates one token from `gguf` in a child process, else why not."""
    try:
        proc = subprocess.run([sys.executable, "-c", CHECK, str(gguf)], capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"no token within {CHECK_TIMEOUT} s"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return ""
    if proc.returncode < 0:
        return f"crashed with signal {-proc.returncode} (an instruction this CPU lacks?)"
    return (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:300]


def bundled_gguf() -> Path:
    from kb.backends.sources import resolve_llm_model
    from kb.settings import DEFAULT_LLM

    src = resolve_llm_model(DEFAULT_LLM)
    return Path(src.folder) / (src.gguf_file or "")


def uninstall() -> None:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", PACKAGE])


def speedup(build: Build, gguf: Path) -> int:
    """Build, check, fall back to portable, else uninstall; 0 when a checked llama_cpp is installed."""
    tries = [build] if build.tier == "portable" else [build, Build("portable", PORTABLE)]
    for attempt in tries:
        if not install(attempt):
            print(f"speedup: the {attempt.tier} build failed", flush=True)
            continue
        why = one_token(gguf)
        if not why:
            print(f"speedup: llama.cpp ({attempt.tier} build) generated a token from {gguf.name}; "
                  "kb uses it from now on (KB_LLM_RUNTIME=auto)", flush=True)
            return 0
        print(f"speedup: the {attempt.tier} build failed its one-token check: {why}", flush=True)
    uninstall()
    print(f"speedup: {PACKAGE} uninstalled: no build passed the check, so kb keeps answering with onnx-genai "
          "(or transformers)", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpuinfo", type=Path, default=Path("/proc/cpuinfo"), help="A recorded /proc/cpuinfo.")
    ap.add_argument("--dry-run", action="store_true", help="Print the tier and CMAKE_ARGS, build nothing.")
    ap.add_argument("--portable", action="store_true", help="Skip the CPU-specific build.")
    args = ap.parse_args(argv)
    try:
        text = args.cpuinfo.read_text()
    except OSError:
        text = ""  # not Linux: ggml's portable defaults
    build = Build("portable", PORTABLE) if args.portable else pick_build(cpu_flags(text))
    if args.dry_run:
        print(f"tier {build.tier}\nCMAKE_ARGS=\"{build.env}\"")
        return 0
    return speedup(build, bundled_gguf())


if __name__ == "__main__":
    sys.exit(main())
