"""The compute precision of training: bf16 mixed precision where it is supported and measured faster.

``training.precision: auto`` picks bf16 on a GPU that supports it (fp16 mixed
precision on older GPUs, as before) and, on a CPU, bf16 only when the CPU has
native bf16 matrix instructions (AVX512_BF16 or AMX) *and* a bf16 matmul of a
typical LoRA-layer shape is measurably faster than float32 on this machine
now; otherwise float32. bf16 here means autocast: weights and optimizer state
stay float32, matmuls run in bf16, and the 4-bit base layers dequantize
straight to bf16.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.train.spec import TrainingError

MIN_SPEEDUP = 1.2  # below this the bf16 rounding is not worth it
PROBE_SHAPE = (512, 576, 1536)  # (tokens, in, out): SmolLM2-135M's MLP projection, half a batch of rows


@dataclass
class Precision:
    """What training computes in: ``bf16``, ``fp16`` (GPU mixed precision) or ``fp32``, and why."""

    name: str
    reason: str
    probe: dict = field(default_factory=dict)


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot-product instructions (AVX512_BF16 or AMX-BF16)."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        return False
    words = set(flags.split())
    return "avx512_bf16" in words or "amx_bf16" in words


def bf16_matmul_speedup(shape: tuple[int, int, int] = PROBE_SHAPE, repeat: int = 7) -> dict:
    """Best-of-``repeat`` ms of one LoRA-layer-sized matmul in float32 and bf16 autocast, on 1 thread."""
    import torch

    tokens, d_in, d_out = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, d_in, generator=gen)
    w = torch.randn(d_out, d_in, generator=gen)

    def once(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            started = time.perf_counter()
            torch.nn.functional.linear(x, w)
            return time.perf_counter() - started

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the instruction set's speed: threads waiting on busy cores would swamp it
    try:
        once(True)  # the first bf16 call initialises oneDNN's kernels
        runs = [(once(False), once(True)) for _ in range(repeat)]  # interleaved: other load hits both alike
    finally:
        torch.set_num_threads(threads)
    fp32, bf16 = (min(r[i] for r in runs) * 1000 for i in (0, 1))
    return {"shape": list(shape), "fp32_ms": round(fp32, 3), "bf16_ms": round(bf16, 3),
            "speedup": round(fp32 / bf16, 2) if bf16 else 0.0}


def resolve_precision(requested: str, *, cuda: bool, cuda_bf16: bool) -> Precision:
    """The precision for ``training.precision`` (``auto``, ``bf16`` or ``fp32``) on this device."""
    if requested == "fp32":
        return Precision("fp32", "training.precision: fp32")
    if cuda:
        if cuda_bf16:
            return Precision("bf16", "GPU with bf16 support")
        if requested == "bf16":
            raise TrainingError("training.precision: bf16, but this GPU does not support bf16.",
                                hint="use precision: auto (fp16 mixed precision here) or fp32")
        return Precision("fp16", "GPU without bf16: fp16 mixed precision")
    if not cpu_has_bf16():
        if requested == "bf16":
            raise TrainingError("training.precision: bf16, but this CPU has no bf16 instructions "
                                "(AVX512_BF16 or AMX).", hint="use precision: auto or fp32")
        return Precision("fp32", "CPU without bf16 instructions")
    if requested == "bf16":
        return Precision("bf16", "training.precision: bf16")
    probe = bf16_matmul_speedup()
    if probe["speedup"] >= MIN_SPEEDUP:
        return Precision("bf16", f"bf16 matmul measured {probe['speedup']}x faster than float32", probe)
    return Precision("fp32", f"bf16 matmul measured only {probe['speedup']}x float32", probe)
