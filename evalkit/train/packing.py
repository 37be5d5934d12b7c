"""Padding-free batches: a batch's rows concatenated into one sequence, each row attending only to itself.

:class:`PackedCollator` turns tokenized rows into one ``(1, total_tokens)``
sequence with ``position_ids`` restarting at 0 for every row and the row
boundaries as ``cu_seq_lens`` (cumulative lengths, the varlen convention of
flash attention). No position is padding, so no step computes padding.

:data:`VARLEN_ATTENTION` names an attention implementation registered with
transformers' ``AttentionInterface`` that runs causal SDPA on each row's slice
separately: the cost is the sum of the rows' squared lengths, not the square of
the batch's total. Called without ``cu_seq_lens`` (a padded batch, generation)
it is transformers' own SDPA with the mask transformers built, so a model set
to it behaves like ``sdpa`` everywhere else.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

from evalkit.models.unwrap import causal_lm

VARLEN_ATTENTION = "evalkit_varlen"
IGNORE = -100
# On a CPU, rows shorter than this attend in float32 even in a bfloat16 step: torch's CPU flash kernel
# is slow on short bfloat16 rows. Forward + backward of the demo's 8 rows (118-157 tokens), one
# thread: 24 ms in float32 (casts included) vs 35 ms in bfloat16; 40-token rows 2.9 vs 9.5 ms; the
# two break even near 220 tokens and bfloat16 wins from 256 (27 vs 28 ms) on.
CPU_FLOAT32_ROWS_BELOW = 224


@dataclass
class PackedCollator:
    """Collate rows (``input_ids``, ``labels`` with -100 on prompt tokens) into one padding-free sequence.

    Rows longer than ``max_length`` are cut to it (the answer comes last, so
    that cuts the answer, as the truncation warning says). The first label of
    every row is masked: in the concatenated sequence it would be predicted
    from the previous row's last token. ``attention_mask`` (all ones) is only
    there for the trainer's count of non-padding tokens; the loss drops it
    before the forward pass, since the row boundaries come from ``cu_seq_lens``.
    """

    max_length: int

    def __call__(self, rows: list[dict]) -> dict:
        """The batch: ``input_ids``, ``labels``, ``position_ids``, ``attention_mask`` and ``cu_seq_lens``."""
        import torch

        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        bounds = [0]
        for row in rows:
            row_ids = list(row["input_ids"][: self.max_length])
            row_labels = list(row["labels"][: self.max_length])
            if not row_ids:
                continue
            row_labels[0] = IGNORE
            ids += row_ids
            labels += row_labels
            positions += range(len(row_ids))
            bounds.append(bounds[-1] + len(row_ids))
        if not ids:
            raise ValueError("a training batch with no tokens")
        cu = torch.tensor(bounds, dtype=torch.int32)
        return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                "position_ids": torch.tensor([positions]), "attention_mask": torch.ones(1, len(ids),
                                                                                        dtype=torch.long),
                "cu_seq_lens": cu, "max_length": int((cu[1:] - cu[:-1]).max())}


def varlen_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                             scaling: float | None = None, **kwargs):
    """Causal SDPA per packed row when ``cu_seq_lens_q`` is given, else transformers' SDPA unchanged.

    ``query``/``key``/``value`` are ``(batch, heads, seq, head_dim)`` with
    batch 1 in the packed case; returns ``(batch, seq, heads, head_dim)`` and
    no attention weights, as transformers' attention functions do.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = kwargs.pop("cu_seq_lens_q", None)
    kwargs.pop("cu_seq_lens_k", None)
    kwargs.pop("max_length_q", None)
    kwargs.pop("max_length_k", None)
    if bounds is None or query.shape[0] != 1 or len(bounds) <= 2:
        if bounds is not None:  # one row: plain causal attention over it
            attention_mask = None
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    edges = bounds.tolist()
    autocast = query.device.type == "cpu" and torch.is_autocast_enabled("cpu")
    dtype = torch.get_autocast_dtype("cpu") if autocast else query.dtype  # what SDPA would return
    widen = query.device.type == "cpu" and dtype in (torch.bfloat16, torch.float16)
    outputs = []
    for start, end in zip(edges[:-1], edges[1:]):
        q, k, v = query[:, :, start:end], key[:, :, start:end], value[:, :, start:end]
        short = widen and end - start < CPU_FLOAT32_ROWS_BELOW
        with torch.autocast("cpu", enabled=False) if short else nullcontext():
            if short:
                q, k, v = q.float(), k.float(), v.float()
            out, _ = sdpa_attention_forward(module, q, k, v, None, dropout=dropout, scaling=scaling,
                                            is_causal=True, **kwargs)
        outputs.append(out.to(dtype))
    return torch.cat(outputs, dim=1), None


def register_varlen_attention() -> str:
    """Register :data:`VARLEN_ATTENTION` (and SDPA's mask builder under its name); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(VARLEN_ATTENTION, sdpa_mask)
    return VARLEN_ATTENTION


def use_varlen_attention(model) -> None:
    """Switch ``model`` (a transformers model, or a peft model around one) to per-row packed attention."""
    name = register_varlen_attention()
    causal_lm(model).set_attn_implementation(name)
