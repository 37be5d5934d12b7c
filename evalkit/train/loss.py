"""Completion-only cross-entropy without the full logits: the LM head runs on answer positions only.

A causal LM's plain loss computes ``batch x sequence x vocabulary`` float32
logits (49,152 entries per position for SmolLM2), then a float32 log-softmax
and its gradient of the same size, although only answer tokens carry a label.
:func:`completion_loss` gathers the final hidden states at the positions whose
*next* token is labelled and runs the head on those alone, in chunks that are
recomputed in the backward pass, so at most one chunk of logits exists at a
time. :func:`decoder_hidden_states` obtains those hidden states from an
ordinary forward call (so DDP, peft and autocast wrappers stay in charge) while
asking the model for a single position of logits.
"""

from __future__ import annotations

from contextlib import contextmanager

from evalkit.models.unwrap import causal_lm

IGNORE = -100
CHUNK_ELEMENTS = 1 << 22  # logits per chunk: 4M floats = 16 MB (85 positions of a 49k vocabulary)


def label_targets(labels):
    """(flat hidden-state index, target token) of every labelled next token of ``labels`` (batch, seq)."""
    import torch

    seq = labels.shape[-1]
    shifted = labels[:, 1:]
    rows, cols = torch.nonzero(shifted != IGNORE, as_tuple=True)
    return rows * seq + cols, shifted[rows, cols]


def _chunk_loss(hidden, weight, targets):
    import torch
    import torch.nn.functional as F

    with torch.autocast(hidden.device.type, enabled=False):
        logits = F.linear(hidden, weight).float()
        return F.cross_entropy(logits, targets, reduction="sum")


def head_dtype(device_type: str):
    """The LM head's matmul dtype: the ambient autocast dtype (as the model's own head would run), else
    float32. The log-softmax and the cross-entropy are float32 either way."""
    import torch

    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return torch.float32


def completion_loss(hidden, weight, labels, *, chunk_elements: int = CHUNK_ELEMENTS):
    """(sum of the cross-entropy over labelled tokens, their count) from final hidden states.

    ``hidden`` is ``(batch, seq, dim)``, ``weight`` the LM head's ``(vocab,
    dim)`` matrix and ``labels`` ``(batch, seq)`` with -100 where nothing is
    learnt; position ``t`` is scored on ``labels[t + 1]``, as in transformers'
    causal-LM loss. The head's matmul runs in :func:`head_dtype` (bfloat16
    under a bfloat16 autocast: 3.1x faster than float32 for the demo's chunks
    on one CPU core, and what the model's own head computes there), its logits
    are widened to float32 for the cross-entropy, one chunk of at most
    ``chunk_elements`` entries at a time.
    """
    from torch.utils.checkpoint import checkpoint

    index, targets = label_targets(labels)
    count = int(targets.numel())
    if count == 0:
        return hidden.sum() * 0.0, 0  # keeps the graph (and DDP's gradient hooks) connected
    dtype = head_dtype(hidden.device.type)
    picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, index).to(dtype)
    weight = weight.to(dtype)  # once per call, not once per chunk
    size = max(1, chunk_elements // weight.shape[0])
    total = None
    for start in range(0, count, size):
        part = checkpoint(_chunk_loss, picked[start:start + size], weight, targets[start:start + size],
                          use_reentrant=False)
        total = part if total is None else total + part
    return total, count


def head_weight(model):
    """The LM head's weight matrix of a (peft- or DDP-wrapped) causal LM."""
    return causal_lm(model).get_output_embeddings().weight


@contextmanager
def decoder_hidden_states(model):
    """Capture the final hidden states of the decoder during a forward call of ``model``.

    Yields a list that holds, after the forward pass, the decoder's
    ``last_hidden_state`` (after the final norm: what the LM head reads).
    """
    decoder = causal_lm(model).get_decoder()
    captured: list = []

    def hook(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output.last_hidden_state)

    handle = decoder.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def forward_completion_loss(model, inputs: dict, num_items_in_batch=None):
    """The completion-only loss of one batch, through ``model``'s own forward call.

    ``inputs`` holds ``input_ids`` and ``labels`` and either ``position_ids``
    with ``cu_seq_lens`` (a packed batch from
    :class:`evalkit.train.packing.PackedCollator`) or an ``attention_mask``.
    The loss is the summed token loss divided by ``num_items_in_batch`` (the
    trainer's count over all accumulated micro-batches and processes) when
    given, else by this batch's labelled-token count. Returns ``(loss, count)``.
    """
    labels = inputs["labels"]
    kwargs = {"input_ids": inputs["input_ids"]}
    if "cu_seq_lens" in inputs:
        bounds = inputs["cu_seq_lens"]
        kwargs.update(position_ids=inputs["position_ids"], cu_seq_lens_q=bounds, cu_seq_lens_k=bounds,
                      max_length_q=inputs["max_length"], max_length_k=inputs["max_length"])
    elif "attention_mask" in inputs:
        kwargs["attention_mask"] = inputs["attention_mask"]
    with decoder_hidden_states(model) as captured:
        model(**kwargs, logits_to_keep=1, use_cache=False)
    total, count = completion_loss(captured[-1], head_weight(model), labels)
    divisor = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
    return total / divisor, count
