"""make speedup's build-flag choice (kb/speedup.py), on recorded /proc/cpuinfo flag lines; no build is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import speedup

# this project's test machine (AMD EPYC KVM guest: AVX2, AVX-512 hidden), recorded 2026-11-30
EPYC_GUEST = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht "
              "syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid "
              "extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt "
              "tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a "
              "misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 "
              "smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves clzero "
              "xsaveerptr wbnoinvd arat umip pku ospke vaes vpclmulqdq rdpid fsrm")
# Sapphire Rapids (the 2-vCPU Intel Xeon): AVX-512 and AMX
SAPPHIRE_RAPIDS = ("fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c avx2 bmi1 bmi2 "
                   "avx512f avx512dq avx512cd avx512bw avx512vl avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni "
                   "avx512_bitalg avx512_vpopcntdq avx_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8")
# Zen 4 (the issue-7 machine): AVX-512 with VNNI and BF16, no AMX
ZEN4 = ("fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq avx512cd avx512bw avx512vl "
        "avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq avx512_bf16")
OLD = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx"


def cpuinfo(flags: str) -> str:
    return f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"


@pytest.mark.parametrize(("flags", "tier", "on", "off"), [
    (EPYC_GUEST, "avx2", ["-DGGML_AVX2=ON", "-DGGML_FMA=ON"], ["-DGGML_AVX512=ON", "-DGGML_AMX_INT8=ON"]),
    (SAPPHIRE_RAPIDS, "amx", ["-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON",
                              "-DGGML_AMX_TILE=ON", "-DGGML_AMX_INT8=ON", "-DGGML_AMX_BF16=ON"], []),
    (ZEN4, "avx512", ["-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX512_VBMI=ON"],
     ["-DGGML_AMX_INT8=ON"]),
    (OLD, "portable", [], ["-DGGML_AVX2=ON", "-DGGML_AVX512=ON"]),
])
def test_build_flags_follow_the_cpu(flags, tier, on, off):
    build = speedup.pick_build(speedup.cpu_flags(cpuinfo(flags)))
    assert build.tier == tier
    assert "-DGGML_NATIVE=OFF" in build.cmake_args  # -march=native is what crashed
    assert set(on) <= set(build.cmake_args) and not set(off) & set(build.cmake_args)
    names = [a.split("=")[0] for a in build.cmake_args]
    assert len(names) == len(set(names)), build.cmake_args  # each option once, no contradictions


def test_dry_run_prints_the_flags(tmp_path, capsys):
    f = tmp_path / "cpuinfo"
    f.write_text(cpuinfo(SAPPHIRE_RAPIDS))
    assert speedup.main(["--cpuinfo", str(f), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tier amx" in out and "-DGGML_AMX_INT8=ON" in out


def test_a_build_that_fails_its_check_is_rebuilt_portable_then_uninstalled(monkeypatch, capsys):
    built, removed = [], []
    monkeypatch.setattr(speedup, "install", lambda b: built.append(b.tier) or True)
    monkeypatch.setattr(speedup, "uninstall", lambda: removed.append(True))
    checks = iter(["crashed with signal 4 (an instruction this CPU lacks?)", ""])
    monkeypatch.setattr(speedup, "one_token", lambda gguf: next(checks))
    amx = speedup.pick_build(speedup.cpu_flags(cpuinfo(SAPPHIRE_RAPIDS)))
    assert speedup.speedup(amx, Path("m.gguf")) == 0
    assert built == ["amx", "portable"] and not removed
    built.clear()
    monkeypatch.setattr(speedup, "one_token", lambda gguf: "crashed with signal 4")
    assert speedup.speedup(amx, Path("m.gguf")) == 1
    assert built == ["amx", "portable"] and removed
    assert "uninstalled" in capsys.readouterr().out
