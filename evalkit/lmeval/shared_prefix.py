"""Log-likelihoods that compute a batch's shared prompt prefix once.

lm-eval's ``HFLM`` runs every (context, continuation) row through the whole
model. When every row starts with the same long prefix (a system prompt, a
chat-template header, few-shot examples), that prefix is recomputed for every
row: with a 300-token system prompt and 40-token questions, nine tenths of the
work. :class:`SharedPrefixHFLM` runs the batch's common prefix once on one
row, repeats its key/value cache across the batch and runs only the rest.

The logits it returns cover the positions after the prefix; lm-eval's own
"virtual tokens" offset (``ctx_len = inplen + logits_len - padded_len``)
then picks each continuation's logits correctly. A prefix is only shared when
it ends before the first logit any request of the call needs, so every
returned score is computed from the full context. Results equal plain
``HFLM``'s up to float rounding (the matmuls have other shapes); suites that
need ``lm_eval --model hf``'s numbers to the last digit set
``lm_eval.share_prefix: false``.
"""

from __future__ import annotations

from evalkit.lmeval.quiet import QuietHFLM

MIN_SHARED_TOKENS = 16  # below this the saving is smaller than the extra forward call


class SharedPrefixHFLM(QuietHFLM):
    """``HFLM`` whose log-likelihood batches compute their common token prefix once (bar-less)."""

    prefix_cap: int = 0
    shared_tokens: int = 0  # prefix tokens not recomputed, summed over rows (for run records and tests)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        """Score requests as ``HFLM`` does, first bounding how much of each row may be shared."""
        needed = (first_needed_position(ctx, cont, self.max_length) for _, ctx, cont in requests)
        self.prefix_cap = min(needed, default=0)
        try:
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        finally:
            self.prefix_cap = 0

    def _model_call(self, inps, attn_mask=None, labels=None):
        """Logits for ``inps`` from the shared prefix's position on (all positions when nothing is shared)."""
        if attn_mask is not None or labels is not None or len(inps) < 2:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        shared = min(common_prefix_length(inps), self.prefix_cap)
        if shared < MIN_SHARED_TOKENS:
            return super()._model_call(inps)
        import torch

        with torch.no_grad():
            prefix = self.model(input_ids=inps[:1, :shared], use_cache=True)
            cache = prefix.past_key_values
            cache.batch_repeat_interleave(len(inps))
            logits = self.model(input_ids=inps[:, shared:], past_key_values=cache, use_cache=True).logits
        self.shared_tokens += shared * (len(inps) - 1)
        return logits


def first_needed_position(context: list[int], continuation: list[int], max_length: int) -> int:
    """The first input position whose logits score ``continuation``, as ``HFLM`` builds the row.

    ``HFLM`` feeds ``(context + continuation)[-(max_length + 1):][:-1]`` and
    reads the logits of its last ``len(continuation)`` positions.
    """
    row_length = len((context + continuation)[-(max_length + 1):][:-1])
    return max(0, row_length - len(continuation))


def common_prefix_length(rows) -> int:
    """How many leading tokens every row of a [batch, length] tensor has in common."""
    same = (rows == rows[:1]).all(dim=0)
    differing = (~same).nonzero()
    return int(differing[0]) if len(differing) else rows.shape[1]
