"""Slot KV storage and a batch-invariant attention function for the generation engine.

The engine runs the model's own forward (so PEFT adapters, RoPE variants and
norms all apply) with ``use_cache=False`` and this module's attention function
installed as the model's attention implementation. The function writes each
step's keys/values into a :class:`KVStore` (one row per batch slot, every
token at its own position, nothing shifted by padding) and attends over it.

Why not SDPA: results must not depend on the batch a sample ran in. On CPU,
SDPA's flash kernel partitions work by thread count and batch size, and
BLAS matmuls change their reduction blocking with the matrix shape. Here every
reduction has a fixed shape per token: query rows are grouped per sample (a
decode step always has one row per query head, a prefill at least
``MIN_QUERY_ROWS``), keys are reduced in chunks that start at fixed
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
from dataclasses import dataclass

import torch

from evalkit.models import decode_kernel

ATTN_NAME = "evalkit_exact"
BLOCK = 128  # probabilities x values are reduced in key chunks of (at most) this size
ALIGN = 32  # attended key spans and slot capacities are multiples of this
MIN_ROWS = 12  # below this, forwards are padded to 4, 8 or 12+ token rows (padding rows are discarded)
MIN_QUERY_ROWS = 4  # attention matmuls get at least this many query rows per key/value head
SUPPORTED_TYPES = {"llama", "mistral", "qwen2", "qwen3"}
# Keys, values and the attention matmuls are float32, except in a bfloat16 arm with the compiled decode
# attention (evalkit.models.decode_kernel, see kv_dtype): keys and values are bfloat16 numbers there
# anyway, stored as such, and every attention still computes in float32.
KV_DTYPE = torch.float32

_PLAN: ContextVar[object | None] = ContextVar("evalkit_attention_plan", default=None)


def kv_dtype(model) -> torch.dtype:
    """The dtype of a model's KV store: bfloat16 where the compiled decode attention serves a bfloat16
    model (the keys and values come out of bfloat16 linears, so nothing is rounded), else float32."""
    if next(model.parameters()).dtype == torch.bfloat16 and decode_kernel.available():
        return torch.bfloat16
    return KV_DTYPE


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
    """Per-layer keys and values, ``[rows, kv_heads, capacity, head_dim]``, token t of a row at index t.

    A bfloat16 store (the compiled decode attention's, see :func:`kv_dtype`) holds its keys transposed,
    ``[rows, kv_heads, head_dim, capacity]``: the kernel reads 16 consecutive keys per vector.
    :meth:`put` and :meth:`span` hide the difference.
    """

    def __init__(self, layers: int, rows: int, kv_heads: int, capacity: int, head_dim: int, dtype):
        shape = (rows, kv_heads, round_up(capacity), head_dim)
        self.transposed = dtype == torch.bfloat16
        key_shape = (rows, kv_heads, head_dim, shape[2]) if self.transposed else shape
        # Zeros, not garbage: masked keys get a -inf bias added (NaN + -inf is NaN) and masked
        # values are multiplied by 0 (0 * NaN is NaN).
        self.keys = [torch.zeros(key_shape, dtype=dtype) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype) for _ in range(layers)]
        self.rows, self.capacity = rows, shape[2]

    @staticmethod
    def bytes_per_row(layers: int, kv_heads: int, capacity: int, head_dim: int, itemsize: int) -> int:
        """Memory one slot of ``capacity`` tokens takes."""
        return 2 * layers * kv_heads * round_up(capacity) * head_dim * itemsize

    def copy_row(self, src_store: KVStore, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` positions of ``src_store`` row ``src`` into row ``dst``."""
        for mine, theirs in zip(self.keys, src_store.keys):
            if self.transposed:
                mine[dst, :, :, :length] = theirs[src, :, :, :length]
            else:
                mine[dst, :, :length] = theirs[src, :, :length]
        for mine, theirs in zip(self.values, src_store.values):
            mine[dst, :, :length] = theirs[src, :, :length]

    def put(self, layer: int, rows, positions, keys, values) -> None:
        """Store ``keys``/``values`` ``[tokens, kv_heads, head_dim]`` at (``rows[i]``, ``positions[i]``)."""
        store_keys, store_values = self.keys[layer], self.values[layer]
        if self.transposed:
            store_keys[rows, :, :, positions] = keys.to(store_keys.dtype)
        else:
            store_keys[rows, :, positions] = keys.to(store_keys.dtype)
        store_values[rows, :, positions] = values.to(store_values.dtype)

    def span(self, layer: int, rows, span: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``rows`` up to ``span``, float32, ``[len(rows) * kv_heads, span, head_dim]``."""
        keys = self.keys[layer][rows, :, :, :span] if self.transposed else self.keys[layer][rows, :, :span]
        keys = keys.flatten(0, 1).to(torch.float32)  # a bfloat16 store widens exactly
        if self.transposed:
            keys = keys.transpose(1, 2)
        return keys, self.values[layer][rows, :, :span].flatten(0, 1).to(torch.float32)


@dataclass
class DecodePlan:
    """One decode step: rows ``0..active-1`` each add one token at ``positions[row]``."""

    store: KVStore
    positions: torch.Tensor  # [active] long
    groups: int  # query heads per key/value head

    def __post_init__(self):
        active = int(self.positions.shape[0])
        self.rows = torch.arange(active)
        self.span = min(self.store.capacity, round_up(int(self.positions.max()) + 1))
        self.bias = None
        if not self.store.transposed:  # the compiled kernel masks nothing
            masked = torch.arange(self.span) > self.positions[:, None]
            self.bias = _bias(masked.unsqueeze(1), self.store.values[0].shape[1], self.groups)

    def attend(self, layer: int, query, key, value, scaling: float):
        """Store this step's keys/values and attend each row over its own prefix."""
        active, span = self.rows.shape[0], self.span
        self.store.put(layer, self.rows, self.positions, key[:active, :, 0], value[:active, :, 0])
        if self.store.transposed:
            return self._compiled(query, self.store.keys[layer], self.store.values[layer], scaling)
        head_dim = query.shape[3]
        q = (query[:active, :, 0].to(torch.float32) * scaling).reshape(-1, self.groups, head_dim)
        out = _attend(q, *self.store.span(layer, slice(0, active), span), self.bias)
        out = out.reshape(active, 1, -1, head_dim).to(query.dtype)
        if query.shape[0] > active:  # padding rows: zeros, never read back
            out = torch.cat([out, out.new_zeros((query.shape[0] - active, *out.shape[1:]))])
        return out

    def _compiled(self, query, keys, values, scaling: float):
        """The compiled kernel over a bfloat16 store: each row attends to exactly its own keys."""
        active, heads, head_dim = self.rows.shape[0], query.shape[1], query.shape[3]
        q = (query[:active, :, 0].to(torch.float32) * scaling).contiguous()
        out = torch.zeros((query.shape[0], heads, head_dim), dtype=torch.float32)  # padding rows stay 0
        decode_kernel.decode_attention(q, keys, values, self.positions, out[:active], groups=self.groups,
                                       threads=torch.get_num_threads())
        return out.unsqueeze(1).to(query.dtype)


@dataclass
class Segment:
    """``length`` prompt tokens of store row ``row`` at positions ``start..``, packed at ``offset``."""

    row: int
    start: int
    length: int
    offset: int


class PrefillPlan:
    """A packed prefill: several samples' new tokens in one row, each attending only to its own KV row.

    The segments' queries are laid out as a padded ``[segments, rows]`` grid
    (padding repeats a segment's last query, whose result is dropped) so one
    batched attention serves them all.
    """

    def __init__(self, store: KVStore, segments: list[Segment], groups: int):
        self.store, self.segments = store, segments
        lengths = torch.tensor([s.length for s in segments])
        self.width = max(int(lengths.max()), math.ceil(MIN_QUERY_ROWS / groups))
        clamp = torch.minimum(torch.arange(self.width)[None, :], lengths[:, None] - 1)
        self.source = (torch.tensor([s.offset for s in segments])[:, None] + clamp).flatten()
        positions = torch.tensor([s.start for s in segments])[:, None] + clamp
        self.span = round_up(max(s.start + s.length for s in segments))
        self.bias = _bias(torch.arange(self.span) > positions[..., None], store.values[0].shape[1], groups)
        self.write_rows = torch.cat([torch.full((s.length,), s.row) for s in segments])
        self.write_positions = torch.cat([torch.arange(s.start, s.start + s.length) for s in segments])
        self.tokens = int(lengths.sum())
        self.valid = torch.cat([i * self.width + torch.arange(s.length) for i, s in enumerate(segments)])
        rows = [s.row for s in segments]
        contiguous = rows == list(range(rows[0], rows[0] + len(rows)))
        self.rows = slice(rows[0], rows[0] + len(rows)) if contiguous else torch.tensor(rows)

    def attend(self, layer: int, query, key, value, scaling: float):
        """Store the segments' keys/values and attend causally within each segment's row."""
        kv_heads, head_dim = key.shape[1], query.shape[3]
        heads, count = query.shape[1], len(self.segments)
        new_keys, new_values = (t[0, :, : self.tokens].transpose(0, 1) for t in (key, value))
        self.store.put(layer, self.write_rows, self.write_positions, new_keys, new_values)
        q = query[0][:, self.source].to(torch.float32) * scaling
        q = q.view(heads, count, self.width, head_dim).transpose(0, 1)
        q = q.reshape(count * kv_heads, -1, head_dim)
        out = _attend(q, *self.store.span(layer, self.rows, self.span), self.bias)
        out = out.view(count, heads, self.width, head_dim).transpose(1, 2).reshape(-1, heads, head_dim)
        out = out[self.valid].to(query.dtype)
        if query.shape[2] > self.tokens:  # padding tokens: zeros, never read back
            out = torch.cat([out, out.new_zeros((query.shape[2] - self.tokens, heads, head_dim))])
        return out.unsqueeze(0)


def _bias(masked: torch.Tensor, kv_heads: int, groups: int) -> torch.Tensor:
    """The 0/-inf bias ``[rows * kv_heads, groups * width, span]`` of a ``[rows, width, span]`` mask."""
    rows, width, span = masked.shape
    bias = torch.zeros(masked.shape).masked_fill_(masked, float("-inf"))
    return bias[:, None, None].expand(rows, kv_heads, groups, width, span).reshape(-1, groups * width, span)


def _attend(q, keys, values, bias):
    """Softmax attention whose key axis is reduced in chunks starting at multiples of BLOCK.

    ``q`` [n, m, d] (already scaled; the query heads of one key/value head, then
    positions), ``keys``/``values`` [n, span, d], ``bias`` [n, m, span].
    """
    probs = torch.softmax(torch.baddbmm(bias, q, keys.transpose(1, 2)), dim=-1)
    out = torch.bmm(probs[..., :BLOCK], values[:, :BLOCK])
    for start in range(BLOCK, probs.shape[-1], BLOCK):
        out += torch.bmm(probs[..., start : start + BLOCK], values[:, start : start + BLOCK])
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
