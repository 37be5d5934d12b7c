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

float32 layers are left alone (MKL's float32 GEMMs are already invariant for the engine's padded
row counts, see :mod:`evalkit.models.kv_attention`), as are quantized layers (bitsandbytes'
``Linear4bit``/``Linear8bitLt`` subclass ``nn.Linear``; only exact ``nn.Linear`` modules,
which include peft's LoRA A/B matrices, are blocked) and layers off the CPU.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["ROW_BLOCK", "block_half_precision_linears", "blocked_linear"]

ROW_BLOCK = 128  # part of a half-precision arm's fingerprint (evalkit.models.fingerprint); torch loads lazily
_MARK = "_evalkit_row_blocked"


def blocked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` computed on row blocks of exactly :data:`ROW_BLOCK` rows."""
    import torch
    import torch.nn.functional as F

    features = x.shape[-1]
    rows = x.numel() // features if features else 0
    if rows == ROW_BLOCK or rows == 0:
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, features)
    pad = -rows % ROW_BLOCK
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad, features)])
    out = torch.cat([F.linear(flat[start:start + ROW_BLOCK], weight, bias)
                     for start in range(0, flat.shape[0], ROW_BLOCK)])
    return out[:rows].reshape(*x.shape[:-1], weight.shape[0])


def _blocked_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return blocked_linear(x, self.weight, self.bias)


def block_half_precision_linears(model: torch.nn.Module) -> int:
    """Make every plain half-precision CPU ``nn.Linear`` of ``model`` row-blocked; returns how many were new.

    Idempotent: call it again after attaching adapters (their LoRA layers are new modules).
    """
    import torch

    half = (torch.bfloat16, torch.float16)
    count = 0
    for module in model.modules():
        if (type(module) is torch.nn.Linear and not getattr(module, _MARK, False)
                and module.weight.dtype in half and module.weight.device.type == "cpu"):
            module.forward = types.MethodType(_blocked_forward, module)
            setattr(module, _MARK, True)
            count += 1
    return count
