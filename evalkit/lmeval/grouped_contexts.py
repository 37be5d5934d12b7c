"""Multiple-choice log-likelihoods that run each context once for all of its choices.

lm-eval's ``HFLM`` scores a four-option question as four rows, each the whole
context followed by one choice, and computes the LM head and a float32
log-softmax over the vocabulary at every position of every row. Here a batch
of distinct contexts runs once (right-padded, from the call's shared prefix
when there is one); the log-probabilities of each choice's first token come
from its context's last position, and the rest of every choice runs as a short
row on a copy of its context's keys and values (padding masked, positions
continuing from the context's own length). The LM head runs only at the
positions that score a token, in float32 (see :func:`float32_head`).

The scores are those of ``HFLM`` up to float rounding (other matmul shapes);
suites that need ``lm_eval --model hf``'s digits exactly set
``lm_eval.share_prefix: false``, which turns this off with the prefix sharing.
Only plain causal models with full attention are grouped (the architectures the
evalkit engine runs, whose logits are the LM head of the last hidden state),
and only calls where no row needs lm-eval's left truncation.
"""

from __future__ import annotations

from evalkit.models.kv_attention import supports
from evalkit.models.unwrap import causal_lm

Request = tuple[tuple[str, str], list[int], list[int]]

MIN_CHOICES = 2.0  # mean rows per distinct context below which lm-eval's one-row path is cheaper


def can_group(model, requests: list[Request], max_length: int) -> bool:
    """Whether these requests are worth scoring grouped by context, and can be."""
    if not requests or not supports(model):
        return False
    if any(len(ctx) + len(cont) > max_length + 1 or not ctx or not cont for _, ctx, cont in requests):
        return False
    contexts = {tuple(ctx) for _, ctx, _ in requests}
    return len(requests) >= MIN_CHOICES * len(contexts)


def grouped_loglikelihoods(
    model, requests: list[Request], *, prefix: list[int], prefix_kv: list | None, batch_size: int,
) -> list[tuple[float, bool]]:
    """(log-likelihood, greedy) of every request, in order, each context computed once.

    ``prefix`` is a token prefix every context starts with and that ends before its last token
    (see :func:`~evalkit.lmeval.shared_prefix.shareable_prefix`), with its keys and values
    ``prefix_kv`` (a list of per-layer ``(keys, values)`` of one row), or ``[]`` and None.
    ``batch_size`` contexts run at a time.
    """
    import torch

    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (_, ctx, _) in enumerate(requests):
        groups.setdefault(tuple(ctx), []).append(index)
    order = sorted(groups, key=len, reverse=True)  # similar lengths together: little padding
    results: list[tuple[float, bool] | None] = [None] * len(requests)
    base = causal_lm(model)
    decoder, head = base.get_decoder(), float32_head(base.get_output_embeddings())
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(order), max(1, batch_size)):
            contexts = order[start:start + max(1, batch_size)]
            _score_batch(model, decoder, head, device, contexts, groups, requests, prefix, prefix_kv, results)
    return results  # type: ignore[return-value]


def float32_head(head):
    """The LM head as a float32 function of hidden states.

    In a bfloat16 model lm-eval's logits are bfloat16 (about 0.1 apart at a logit of 20, so a
    five-token choice's log-likelihood can move by half a nat); here the few positions that score
    a token get float32 logits from the same weights.
    """
    import torch

    if type(head) is not torch.nn.Linear or head.weight.dtype == torch.float32:
        return lambda hidden: head(hidden).float()
    weight = head.weight.float()
    bias = None if head.bias is None else head.bias.float()
    return lambda hidden: torch.nn.functional.linear(hidden.float(), weight, bias)


def cache_keyword(module) -> str:
    """The name a decoder's forward takes its key/value cache by (``cache`` in newer transformers)."""
    import inspect

    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def _cache(model, layers: list | None, rows: int | None = None, pick=None):
    from transformers import DynamicCache

    config = getattr(model, "config", None)
    if not layers:
        return DynamicCache(config=config)
    if pick is not None:
        data = [(k.index_select(0, pick), v.index_select(0, pick)) for k, v in layers]
    else:
        data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers]
    return DynamicCache(ddp_cache_data=data, config=config)


def _score_batch(model, decoder, head, device, contexts, groups, requests, prefix, prefix_kv,
                 results) -> None:
    import torch

    shared = len(prefix)
    tails = [list(ctx[shared:]) for ctx in contexts]
    width = max(len(t) for t in tails)
    ids = torch.tensor([t + [t[-1]] * (width - len(t)) for t in tails], device=device)
    cache = _cache(model, prefix_kv, rows=len(contexts))
    # right padding: a real token never attends to the pads after it, so no mask is needed here
    hidden = decoder(input_ids=ids, **{cache_keyword(decoder): cache}, use_cache=True).last_hidden_state
    lengths = torch.tensor([len(t) for t in tails], device=device)
    last = hidden[torch.arange(len(contexts), device=device), lengths - 1]
    first = torch.log_softmax(head(last), dim=-1)  # scores each choice's first token
    pairs = [(row, index) for row, ctx in enumerate(contexts) for index in groups[ctx]]
    totals = {index: float(first[row, requests[index][2][0]]) for row, index in pairs}
    greedy = {index: int(first[row].argmax()) == requests[index][2][0] for row, index in pairs}
    longer = [(row, index) for row, index in pairs if len(requests[index][2]) > 1]
    if longer:
        _score_rest(model, decoder, head, device, cache, shared, width, tails, longer, requests, totals,
                    greedy)
    for _, index in pairs:
        results[index] = (totals[index], greedy[index])


def _score_rest(model, decoder, head, device, cache, shared, width, tails, longer, requests, totals,
                greedy) -> None:
    """Run every choice's tokens after its first on a copy of its context's cache, masking the pads."""
    import torch

    rows = [row for row, _ in longer]
    conts = [requests[index][2] for _, index in longer]
    span = max(len(c) - 1 for c in conts)
    ids = torch.tensor([c[:-1] + [c[-2]] * (span - len(c) + 1) for c in conts], device=device)
    past = shared + width
    mask = torch.zeros(len(longer), past + span, dtype=torch.long, device=device)
    positions = torch.empty(len(longer), span, dtype=torch.long, device=device)
    for r, row in enumerate(rows):
        start = shared + len(tails[row])
        mask[r, :start] = 1
        mask[r, past:] = 1
        positions[r] = torch.arange(start, start + span, device=device)
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    copy = _cache(model, layers, pick=torch.tensor(rows, device=device))
    hidden = decoder(input_ids=ids, **{cache_keyword(decoder): copy}, attention_mask=mask,
                     position_ids=positions, use_cache=True).last_hidden_state
    keep = [(r, j) for r, c in enumerate(conts) for j in range(len(c) - 1)]
    picked = hidden[torch.tensor([r for r, _ in keep], device=device), torch.tensor([j for _, j in keep],
                                                                                     device=device)]
    logp = torch.log_softmax(head(picked), dim=-1)
    targets = torch.tensor([conts[r][j + 1] for r, j in keep], device=device)
    token_logp = logp.gather(1, targets[:, None]).squeeze(1).tolist()
    hits = (logp.argmax(dim=-1) == targets).tolist()
    for (r, _), value, hit in zip(keep, token_logp, hits, strict=True):
        index = longer[r][1]
        totals[index] += value
        greedy[index] = greedy[index] and bool(hit)
