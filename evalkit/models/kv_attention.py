"""Slot KV storage and a batch-invariant attention function for the generation engine.

The engine runs the model's own forward (so PEFT adapters, RoPE variants and
norms all apply) with ``use_cache=False`` and this module's attention function
installed as the model's attention implementation. The function writes each
step's keys/values into a :class:`KVStore` (one row per batch slot, every
token at its own position, nothing shifted by padding) and attends over it.

Why not SDPA: results must not depend on the batch a sample ran in. On CPU,
SDPA's flash kernel partitions work by thread count and batch size, and
BLAS matmuls change their reduction blocking with the matrix shape. Here every
reduction has a fixed shape per token: query rows are grouped per sample (at
least ``MIN_QUERY_ROWS`` rows), keys are reduced in chunks that start at fixed
multiples of ``BLOCK`` (a longer span only appends masked keys, i.e. exact
zeros, to the last chunk or adds all-zero chunks), and the engine pads every
forward to :func:`gemm_rows` token rows (MKL's kernels for 1-3 rows, and for
odd row counts split over two threads, round differently from its main path).
So a token's logits are bitwise the same at batch 1, 8 or 32, whatever else is
in the batch and wherever the shared prefix was split off.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch

ATTN_NAME = "evalkit_exact"
BLOCK = 128  # probabilities x values are reduced in key chunks of (at most) this size
ALIGN = 32  # attended key spans and slot capacities are multiples of this
MIN_ROWS = 12  # below this, forwards are padded to 4, 8 or 12+ token rows (padding rows are discarded)
MIN_QUERY_ROWS = 4  # attention matmuls get at least this many query rows per key/value head
SUPPORTED_TYPES = {"llama", "mistral", "qwen2", "qwen3"}

_PLAN: ContextVar[object | None] = ContextVar("evalkit_attention_plan", default=None)


def gemm_rows(rows: int) -> int:
    """How many rows to run a forward with so every GEMM row rounds as in a large batch."""
    if rows <= 4:
        return 4
    if rows <= 8:
        return 8
    return max(rows, MIN_ROWS)


def round_up(value: int, multiple: int = ALIGN) -> int:
    """``value`` rounded up to a multiple of ``multiple`` (at least one multiple)."""
    return max(multiple, -(-value // multiple) * multiple)


class KVStore:
    """Per-layer keys and values, ``[rows, kv_heads, capacity, head_dim]``, token t of a row at index t."""

    def __init__(self, layers: int, rows: int, kv_heads: int, capacity: int, head_dim: int, dtype):
        shape = (rows, kv_heads, round_up(capacity), head_dim)
        # Masked scores are overwritten with -inf, so keys may start as garbage; values may not
        # (0 * NaN is NaN), so they start as zeros.
        self.keys = [torch.empty(shape, dtype=dtype) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype) for _ in range(layers)]
        self.rows, self.capacity = rows, shape[2]

    @staticmethod
    def bytes_per_row(layers: int, kv_heads: int, capacity: int, head_dim: int, itemsize: int) -> int:
        """Memory one slot of ``capacity`` tokens takes."""
        return 2 * layers * kv_heads * round_up(capacity) * head_dim * itemsize

    def copy_row(self, src_store: KVStore, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` positions of ``src_store`` row ``src`` into row ``dst``."""
        for mine, theirs in zip(self.keys + self.values, src_store.keys + src_store.values):
            mine[dst, :, :length] = theirs[src, :, :length]


@dataclass
class DecodePlan:
    """One decode step: rows ``0..active-1`` each add one token at ``positions[row]``."""

    store: KVStore
    positions: torch.Tensor  # [active] long
    span: int = 0  # keys attended (a multiple of ALIGN covering every row)
    mask: torch.Tensor | None = None

    def __post_init__(self):
        active = int(self.positions.shape[0])
        self.rows = torch.arange(active)
        self.span = min(self.store.capacity, round_up(int(self.positions.max()) + 1))
        self.mask = (torch.arange(self.span)[None, :] > self.positions[:, None]).view(active, 1, 1, self.span)

    def attend(self, layer: int, query, key, value, scaling: float):
        """Store this step's keys/values and attend each row over its own prefix."""
        active = self.rows.shape[0]
        keys, values = self.store.keys[layer], self.store.values[layer]
        keys[self.rows, :, self.positions] = key[:active, :, 0]
        values[self.rows, :, self.positions] = value[:active, :, 0]
        kv_heads, head_dim = keys.shape[1], keys.shape[3]
        q = query[:active, :, 0].reshape(active, kv_heads, -1, head_dim)
        out = _attend(q, keys[:active, :, : self.span], values[:active, :, : self.span], self.mask, scaling)
        out = out.reshape(active, 1, -1, head_dim)
        if query.shape[0] > active:  # padding rows: zeros, never read back
            pad = out.new_zeros((query.shape[0] - active, *out.shape[1:]))
            out = torch.cat([out, pad])
        return out


@dataclass
class Segment:
    """``length`` prompt tokens of store row ``row`` at positions ``start..``, packed at ``offset``."""

    row: int
    start: int
    length: int
    offset: int


@dataclass
class PrefillPlan:
    """A packed prefill: several samples' new tokens in one row, each attending only to its own row."""

    store: KVStore
    segments: list[Segment] = field(default_factory=list)

    def attend(self, layer: int, query, key, value, scaling: float):
        """Store each segment's keys/values and attend causally within its row."""
        keys, values = self.store.keys[layer], self.store.values[layer]
        kv_heads, head_dim = keys.shape[1], keys.shape[3]
        groups = query.shape[1] // kv_heads
        out = query.new_zeros((query.shape[2], query.shape[1], head_dim))
        for seg in self.segments:
            stop = seg.start + seg.length
            keys[seg.row, :, seg.start : stop] = key[0, :, seg.offset : seg.offset + seg.length]
            values[seg.row, :, seg.start : stop] = value[0, :, seg.offset : seg.offset + seg.length]
            span = round_up(stop)
            q = query[0, :, seg.offset : seg.offset + seg.length]  # [heads, n, dim]
            n = seg.length
            pad = max(0, math.ceil(MIN_QUERY_ROWS / groups) - n)
            if pad:  # repeat the last query row so the matmuls keep their large-M path
                q = torch.cat([q, q[:, -1:].expand(-1, pad, -1)], dim=1)
            rows = q.shape[1]
            positions = torch.arange(seg.start, seg.start + rows).clamp(max=stop - 1)
            mask = (torch.arange(span)[None, :] > positions[:, None]).view(1, 1, rows, span)
            q = q.reshape(kv_heads, groups, rows, head_dim)
            res = _attend(q, keys[seg.row, :, :span], values[seg.row, :, :span], mask, scaling, prefill=True)
            out[seg.offset : seg.offset + n] = res.reshape(-1, rows, head_dim)[:, :n].transpose(0, 1)
        return out.unsqueeze(0)


def _attend(q, keys, values, mask, scaling: float, prefill: bool = False):
    """Softmax attention with the key axis reduced in fixed BLOCK chunks (shape-independent rounding).

    Decode: ``q`` [rows, kv, groups, d], keys [rows, kv, span, d], mask [rows, 1, 1, span].
    Prefill: ``q`` [kv, groups, n, d], keys [kv, span, d], mask [1, 1, n, span].
    """
    if prefill:
        kv, groups, n, dim = q.shape
        scores = torch.matmul(q.reshape(kv, groups * n, dim), keys.transpose(-1, -2)) * scaling
        scores = scores.view(kv, groups, n, -1).masked_fill_(mask[0], float("-inf")).view(kv, groups * n, -1)
    else:
        scores = torch.matmul(q, keys.transpose(-1, -2)) * scaling
        scores.masked_fill_(mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    span = probs.shape[-1]
    out = torch.matmul(probs[..., :BLOCK], values[..., :BLOCK, :])
    for start in range(BLOCK, span, BLOCK):
        out += torch.matmul(probs[..., start : start + BLOCK], values[..., start : start + BLOCK, :])
    return out


def exact_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The attention implementation the engine installs; needs an active plan (see :func:`planned`)."""
    plan = _PLAN.get()
    if plan is None:
        raise RuntimeError("evalkit attention called outside the generation engine")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return plan.attend(module.layer_idx, query, key, value, scale), None


@contextmanager
def planned(plan):
    """Make ``plan`` the one the attention function uses during a forward."""
    token = _PLAN.set(plan)
    try:
        yield
    finally:
        _PLAN.reset(token)


def supports(model) -> bool:
    """Whether the engine's attention can stand in for this model's (plain causal, full attention)."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in SUPPORTED_TYPES:
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    return all(kind == "full_attention" for kind in layer_types)


@contextmanager
def installed(model):
    """Temporarily switch the model to the engine's attention implementation."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, exact_attention)
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTN_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous


def model_geometry(model) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of a decoder-only model's attention."""
    config = model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return config.num_hidden_layers, kv_heads, head_dim
