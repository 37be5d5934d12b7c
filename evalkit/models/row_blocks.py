"""Batch-invariant half-precision linear layers on CPU: every GEMM runs on blocks of a fixed row count.

oneDNN picks its bfloat16 GEMM kernel, and with it how each output's dot product is blocked and
summed, from the matrix shape. On CPUs with AMX the choice changes with the number of rows, so
a token's logits differ in the last bits with the batch it ran in (measured on a Xeon with
AMX_BF16: the rows of a 1536x576 product at 9-32 rows differ from the same rows at 600), and
greedy decoding turns those bits into different answers. Running every product on blocks of
exactly :data:`ROW_BLOCK` rows (the last one padded with zero rows, which change no other row)
gives each row one kernel whatever the batch: results are bitwise batch-invariant by
construction. The block is 128 rows: on one core of that Xeon, 128-row blocks of the default
model's products run at 367-659 GFLOP/s against 144-284 at 32 rows and 22-111 for float32, so a
128-row decode step costs about what two 32-row blocks did, and prefill twice as little per token
(a smaller batch pays for the padding: at most 32 rows cost about 1.9x what a 32-row block did).

In a model that computes in half precision every plain CPU ``nn.Linear`` is blocked, the
float32 ones included: peft keeps a LoRA adapter's A/B matrices in float32 beside a bfloat16
base, and MKL's float32 kernel changes with the row count too (measured on that Xeon: a
576-wide rank-16 product at 12 rows differs from the same rows at 300), so an unblocked adapter
gave a tuned arm's answers that changed with the batch while the base's did not. A float32
model is left alone (MKL's float32 GEMMs keep the engine's padded row counts invariant on the
machines the engine was measured on, see :mod:`evalkit.models.kv_attention`), as are quantized
layers (bitsandbytes' ``Linear4bit``/``Linear8bitLt`` subclass ``nn.Linear``; only exact
``nn.Linear`` modules are blocked) and layers off the CPU.

A short remainder (a decode step of 32 prompts, the tail of a batch) need not pay for a whole
block: the kernel oneDNN runs depends on the shape, not on the values, so a smaller block that
gives every row the bits it gets in a 128-row block, at every position, on random data, gives
them on any data. :func:`short_blocks` probes each weight shape once per thread count for such
blocks among :data:`SHORT_BLOCKS`, and a remainder of ``r`` rows runs on the smallest one that
holds it. The numbers are those of 128-row blocks, bit for bit, so the fingerprint does not
change (on the Xeon above, 64-row blocks qualify for every product of the default model and
cost about 0.65x a 128-row one; 32-row blocks do not).

The thread count must not choose the bits either (:mod:`evalkit.models.threads` changes it with
the machine's load): a kernel that splits a block's sums across threads differs from one
thread (MKL's float32 576x1536 product at 64-160 rows does on that Xeon). The same probe runs
each whole block on one thread as well, and a product whose bits change runs on one thread.
"""

from __future__ import annotations

import contextlib
import types
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch

__all__ = ["ROW_BLOCK", "SHORT_BLOCKS", "block_half_precision_linears", "blocked_linear", "short_blocks"]

ROW_BLOCK = 128  # part of a half-precision arm's fingerprint (evalkit.models.fingerprint); torch loads lazily
SHORT_BLOCKS = (8, 16, 32, 64)  # smaller blocks a remainder may run on where they give ROW_BLOCK's bits
_PROBE_DRAWS = 2
_MARK = "_evalkit_row_blocked"
_probed: dict[tuple, _Probe] = {}


class _Probe(NamedTuple):
    """One weight shape's probe: the short blocks that qualify, and whether to run on one thread."""

    short: tuple[int, ...]
    one_thread: bool


def blocked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` with each row's bits those of a block of exactly :data:`ROW_BLOCK` rows.

    Whole blocks run as they are; a remainder runs padded with zero rows to the smallest of
    :func:`short_blocks` that holds it, or to a whole block.
    """
    import torch
    import torch.nn.functional as F

    features = x.shape[-1]
    rows = x.numel() // features if features else 0
    block = ROW_BLOCK
    if rows == 0:
        return F.linear(x, weight, bias)
    probe = _probe_for(weight, bias)
    with _one_thread() if probe.one_thread else contextlib.nullcontext():
        if rows == block:
            return F.linear(x, weight, bias)
        flat = x.reshape(rows, features)
        whole = rows - rows % block
        parts = [F.linear(flat[start:start + block], weight, bias) for start in range(0, whole, block)]
        if rows > whole:
            tail = rows - whole
            size = min((s for s in probe.short if s >= tail), default=block)
            padded = torch.cat([flat[whole:], flat.new_zeros(size - tail, features)]) if size > tail \
                else flat[whole:].clone()
            parts.append(F.linear(padded, weight, bias))
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out[:rows].reshape(*x.shape[:-1], weight.shape[0])


def short_blocks(weight: torch.Tensor, bias: torch.Tensor | None = None, *, linear=None) -> tuple[int, ...]:
    """The sizes in :data:`SHORT_BLOCKS` at which every row gets the bits of a :data:`ROW_BLOCK`-row block.

    Probed once per weight shape, dtype, bias and torch thread count (the things that choose the
    kernel), on random data: each candidate block is run at every offset of a full block, twice,
    and qualifies only if every row matches bit for bit. ``linear`` (default ``F.linear``) is for tests.
    """
    return _probe_for(weight, bias, linear).short


def runs_on_one_thread(weight: torch.Tensor, bias: torch.Tensor | None = None, *, linear=None) -> bool:
    """Whether this product's whole blocks change bits with the thread count, so it runs on one thread.

    Probed with :func:`short_blocks` (one probe per weight shape, dtype, bias and thread count).
    """
    return _probe_for(weight, bias, linear).one_thread


def _probe_for(weight, bias, linear=None) -> _Probe:
    import torch
    import torch.nn.functional as F

    if not weight.is_contiguous() or weight.device.type != "cpu":
        return _Probe((), False)
    key = (tuple(weight.shape), weight.dtype, bias is not None, torch.get_num_threads(), ROW_BLOCK, linear)
    if key not in _probed:
        _probed[key] = _probe(weight.shape, weight.dtype, bias is not None, linear or F.linear)
    return _probed[key]


def _probe(shape, dtype, has_bias: bool, linear) -> _Probe:
    import torch

    gen = torch.Generator().manual_seed(20261203)
    out_features, in_features = shape
    draws = []
    for _ in range(_PROBE_DRAWS):
        weight = torch.randn(out_features, in_features, generator=gen).to(dtype)
        bias = torch.randn(out_features, generator=gen).to(dtype) if has_bias else None
        draws.append((torch.randn(ROW_BLOCK, in_features, generator=gen).to(dtype), weight, bias))
    one_thread = False
    if torch.get_num_threads() > 1:
        full = [linear(*draw) for draw in draws]
        with _one_thread():
            one_thread = not all(torch.equal(linear(*draw), out) for draw, out in zip(draws, full))
    passed = set(s for s in SHORT_BLOCKS if s < ROW_BLOCK and ROW_BLOCK % s == 0)
    with _one_thread() if one_thread else contextlib.nullcontext():  # short blocks as the product will run
        for x, weight, bias in draws:
            full = linear(x, weight, bias)
            for size in sorted(passed):
                if not all(torch.equal(linear(x[at:at + size].clone(), weight, bias), full[at:at + size])
                           for at in range(0, ROW_BLOCK, size)):
                    passed.discard(size)
    return _Probe(tuple(sorted(passed)), one_thread)


@contextlib.contextmanager
def _one_thread():
    """Run the body on one torch thread, then restore the count (the thread governor reads it back)."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _blocked_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return blocked_linear(x, self.weight, self.bias)


def block_half_precision_linears(model: torch.nn.Module) -> int:
    """Row-block every plain CPU ``nn.Linear`` of a half-precision model; returns how many were new.

    The model's half-precision linears and, beside them, its float32 ones (a LoRA adapter's A/B
    matrices, which peft keeps in float32); a float32 model is left alone. Idempotent: call it
    again after attaching adapters (their LoRA layers are new modules).
    """
    import torch

    half = (torch.bfloat16, torch.float16)
    plain = [module for module in model.modules()
             if type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
             and module.weight.dtype.is_floating_point]
    if not any(module.weight.dtype in half for module in plain):
        return 0
    count = 0
    for module in plain:
        if not getattr(module, _MARK, False):
            module.forward = types.MethodType(_blocked_forward, module)
            setattr(module, _MARK, True)
            count += 1
    return count
