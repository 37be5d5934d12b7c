"""Log-likelihoods that compute the requests' shared prompt prefix once.

lm-eval's ``HFLM`` runs every (context, continuation) row through the whole
model. When every row starts with the same long prefix (a system prompt, a
chat-template header, few-shot examples), that prefix is recomputed for every
row: with a 300-token system prompt and 40-token questions, nine tenths of the
work. :class:`SharedPrefixHFLM` finds the prefix all rows of a call have in
common, runs it once, and starts every batch from its key/value cache.

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

from evalkit.lmeval.grouped_contexts import cache_keyword, can_group, grouped_loglikelihoods
from evalkit.lmeval.quiet import QuietHFLM
from evalkit.models.unwrap import causal_lm

MIN_SHARED_TOKENS = 16  # below this the saving is smaller than the bookkeeping


class SharedPrefixHFLM(QuietHFLM):
    """``HFLM`` whose log-likelihood rows start from one computed copy of their common token prefix."""

    shared_tokens: int = 0  # prefix tokens not recomputed, summed over rows (for tests and benchmarks)
    _prefix: list[int] = []
    _prefix_kv: list | None = None

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        """Score requests as ``HFLM`` does, after finding the prefix every row may share."""
        self._prefix = shareable_prefix([(ctx, cont) for _, ctx, cont in requests], self.max_length)
        self._prefix_kv = None
        try:
            if self.backend == "causal" and can_group(self.model, requests, self.max_length):
                return self._grouped(requests)
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        finally:
            self._prefix, self._prefix_kv = [], None

    def _grouped(self, requests) -> list[tuple[float, bool]]:
        """Score multiple-choice rows with each context computed once (evalkit.lmeval.grouped_contexts)."""
        import torch

        prefix = self._prefix if len(self._prefix) >= MIN_SHARED_TOKENS else []
        layers = None
        if prefix:
            from transformers import DynamicCache

            decoder = causal_lm(self.model).get_decoder()
            cache = DynamicCache(config=getattr(self.model, "config", None))
            with torch.no_grad():
                ids = torch.tensor([prefix], device=self.device)
                decoder(input_ids=ids, **{cache_keyword(decoder): cache}, use_cache=True)
            layers = [(layer.keys, layer.values) for layer in cache.layers]
            self.shared_tokens += len(prefix) * (len(requests) - 1)
        batch = self.batch_size if isinstance(self.batch_size, int) else 8
        results = grouped_loglikelihoods(self.model, requests, prefix=prefix, prefix_kv=layers,
                                         batch_size=batch)
        for (request_str, _, _), answer in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", request_str, answer)
        return results

    def _model_call(self, inps, attn_mask=None, labels=None):
        """Logits for ``inps`` from the end of the shared prefix on (all positions when nothing is shared)."""
        import torch

        shared = len(self._prefix)
        plain = attn_mask is not None or labels is not None  # seq2seq: nothing to share
        if plain or shared < MIN_SHARED_TOKENS or inps.shape[1] <= shared:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        prefix = torch.tensor(self._prefix, dtype=inps.dtype, device=inps.device)
        if not bool((inps[:, :shared] == prefix).all()):
            return super()._model_call(inps)
        import warnings

        from transformers import DynamicCache

        with torch.no_grad(), warnings.catch_warnings():
            # transformers 5.x renames the argument (removal due in 5.40, above the pinned range); the
            # user can do nothing about it, and it would print once per arm in every compare
            warnings.filterwarnings("ignore", message=".*past_key_values.*deprecated", category=FutureWarning)
            if self._prefix_kv is None:
                cache = self.model(input_ids=prefix[None], use_cache=True).past_key_values
                self._prefix_kv = [(layer.keys, layer.values) for layer in cache.layers]
                self.shared_tokens -= shared  # the one row that does compute it
            rows = len(inps)
            cache = DynamicCache(ddp_cache_data=[(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                                                 for k, v in self._prefix_kv],
                                 config=getattr(self.model, "config", None))
            logits = self.model(input_ids=inps[:, shared:], past_key_values=cache, use_cache=True).logits
        self.shared_tokens += shared * rows
        return logits


def shareable_prefix(pairs: list[tuple[list[int], list[int]]], max_length: int) -> list[int]:
    """The leading tokens all ``HFLM`` rows of these (context, continuation) pairs share before scored logits.

    ``HFLM`` feeds ``(context + continuation)[-(max_length + 1):][:-1]`` and
    reads the logits of its last ``len(continuation)`` positions, so the
    prefix stops at the first of those positions over all rows.
    """
    if not pairs:
        return []
    rows = [(ctx + cont)[-(max_length + 1):][:-1] for ctx, cont in pairs]
    limit = min(first_needed_position(ctx, cont, max_length) for ctx, cont in pairs)
    first = rows[0]
    length = min(limit, len(first))
    for row in rows[1:]:
        length = min(length, len(row))
        for i in range(length):
            if row[i] != first[i]:
                length = i
                break
    return first[:length]


def first_needed_position(context: list[int], continuation: list[int], max_length: int) -> int:
    """The first input position whose logits score ``continuation``, as ``HFLM`` builds the row."""
    row_length = len((context + continuation)[-(max_length + 1):][:-1])
    return max(0, row_length - len(continuation))
