"""Which dtype a local model computes in: ``auto`` becomes bfloat16 where the hardware runs it fast.

bfloat16 matmuls run 4-6x faster than float32 on CPUs with AVX512_BF16 or
AMX (oneDNN kernels), and natively on CUDA GPUs that support it. Elsewhere
bfloat16 is emulated and slower than float32, so ``auto`` stays float32.
The resolved name, not ``auto``, goes into fingerprints, so cached results
of the two dtypes never mix and both arms of a compare are checked to match.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The bfloat16 instruction sets this CPU reports (``avx512_bf16``, ``amx_bf16``), from /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return [flag for flag in BF16_CPU_FLAGS if flag in flags]
    return []


@lru_cache(maxsize=1)
def auto_choice() -> tuple[str, str]:
    """What ``auto`` resolves to on this machine, and why: (dtype name, reason)."""
    import torch

    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return "bfloat16", "the CUDA GPU supports bfloat16"
        return "float32", "the CUDA GPU has no bfloat16 support"
    flags = cpu_bf16_flags()
    if not flags:
        capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
        if "AMX" in capability.upper():
            flags = ["amx"]
    if flags:
        return "bfloat16", f"this CPU has {', '.join(f.upper() for f in flags)}"
    return "float32", "this CPU has no bfloat16 instructions (AVX512_BF16 or AMX)"


def resolve_dtype(name: str) -> str:
    """The dtype a spec's ``dtype`` setting computes in: ``auto`` resolved for this machine, else itself."""
    return auto_choice()[0] if name == "auto" else name


def describe_dtype(name: str) -> str:
    """``float32``, or for auto e.g. ``bfloat16 (auto: this CPU has AVX512_BF16)``: the resolved dtype."""
    if name != "auto":
        return name
    resolved, reason = auto_choice()
    return f"{resolved} (auto: {reason})"
