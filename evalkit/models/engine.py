"""The generation engine: shared-prefix prefill, packed prompts, continuous batching, early exit.

For one call (one arm, many prompts) it

1. tokenizes every prompt and prefills the prefix they all share once
   (cached across calls in a :class:`PrefixCache`);
2. keeps up to ``batch_size`` sequences in KV slots; free slots are refilled
   from the pending prompts with one *packed* prefill (the prompts' unshared
   tokens side by side in a single row, no padding);
3. decodes all slots one token per step and retires a sequence the moment it
   emits EOS, completes a stop string or reaches ``max_new_tokens``; its slot
   goes to the next prompt, so no step is spent on finished or padded rows.

Greedy results are token-for-token those of decoding each prompt alone (see
:mod:`evalkit.models.kv_attention` for why they are bitwise batch-invariant).
Sampling draws from a per-prompt generator seeded by (seed, prompt), so it is
deterministic and independent of the batch too; ``seeds`` gives each prompt its
own run seed (repeated draws of one item, see :mod:`evalkit.models.draws`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from evalkit.models.decoding import ResultFlusher, choose_tokens, fit_batch_size, prompt_seed
from evalkit.models.kv_attention import (
    DecodePlan,
    KVStore,
    PrefillPlan,
    Segment,
    gemm_rows,
    installed,
    kv_dtype,
    model_geometry,
    planned,
)
from evalkit.models.prefix_cache import PrefixCache, shared_prefix_length
from evalkit.models.spec import GenerationConfig
from evalkit.models.stop_strings import cut_at_stop
from evalkit.models.threads import GOVERNOR, ThreadGovernor
from evalkit.types import Generation

PREFILL_TOKENS = 1024  # most prompt tokens packed into one prefill forward (longer prompts are chunked)
STATS = ("shared_prefix", "prefix_tokens", "prefill_tokens", "decode_steps", "decode_rows")


@dataclass
class _Seq:
    """One prompt in flight: its tokens, what it generated, and its sampling generator."""

    index: int
    sample_id: str
    prompt: list[int]
    generator: torch.Generator | None = None
    new: list[int] = field(default_factory=list)

    @property
    def position(self) -> int:
        """Where the latest generated token goes in the KV slot."""
        return len(self.prompt) + len(self.new) - 1


class Engine:
    """Greedy/sampled generation on one loaded model (with whatever adapter is active)."""

    def __init__(self, model, tokenizer, eos_ids: set[int], prefix_cache: PrefixCache | None = None,
                 governor: ThreadGovernor | None = None):
        self.model = model
        self.tok = tokenizer
        self.eos = set(eos_ids)
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache()
        self.geometry = model_geometry(model)
        self.groups = model.config.num_attention_heads // self.geometry[1]
        self.kv_dtype = kv_dtype(model)
        self.governor = governor if governor is not None else GOVERNOR
        # shared_prefix: tokens every prompt shares; prefix_tokens: of those, prefilled now (not cached);
        # prefill_tokens: the prompts' other tokens; decode_rows: sequence-steps decoded.
        self.stats: dict = dict.fromkeys(STATS, 0)
        self.stats["dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.stats["kv_dtype"] = str(self.kv_dtype).removeprefix("torch.")

    def generate(
        self,
        prompts: list[tuple[str, str]],
        config: GenerationConfig,
        batch_size: int | None,
        adapter_key: str | None = None,
        on_batch: Callable[[list[Generation]], None] | None = None,
        seeds: list[int] | None = None,
    ) -> list[Generation]:
        """Generate for (sample_id, prompt) pairs; results in input order.

        ``seeds`` (one per prompt) replaces ``config.seed`` as each prompt's run seed when sampling.
        """
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        encoded = [self.tok(text, add_special_tokens=False)["input_ids"] for _, text in prompts]
        results: dict[int, Generation] = {}
        live = [i for i, ids in enumerate(encoded) if ids]
        capacity = max((len(encoded[i]) for i in live), default=0) + config.max_new_tokens
        batch = min(fit_batch_size(self.model, capacity, batch_size), max(1, len(live)))
        self.stats["batch"] = batch  # KV slots: decode_rows / (decode_steps * batch) is how full they ran
        flusher = ResultFlusher(on_batch, batch, results)
        for i, ids in enumerate(encoded):
            if not ids:
                flusher.add(i, Generation(prompts[i][0], "", error="the prompt encodes to no tokens"))
        if live:
            self._run(prompts, encoded, live, config, batch, capacity, adapter_key, flusher, seeds)
        flusher.flush()
        return [results[i] for i in range(len(prompts))]

    def _run(self, prompts, encoded, live, config, batch, capacity, adapter_key, flusher, seeds) -> None:
        shared = shared_prefix_length([encoded[i] for i in live])
        self.stats["shared_prefix"] = shared
        seqs = deque()
        for i in sorted(live, key=lambda i: -len(encoded[i])):
            gen = None
            if config.temperature > 0:
                seed = config.seed if seeds is None else seeds[i]
                gen = torch.Generator().manual_seed(prompt_seed(seed, encoded[i]))
            seqs.append(_Seq(i, prompts[i][0], encoded[i], gen))
        with torch.inference_mode(), installed(self.model):
            prefix = None
            if shared:
                prefix = self.prefix_cache.get(adapter_key, encoded[live[0]][:shared], self._prefill_prefix)
            store = KVStore(*self._layout(batch, capacity))
            active: list[_Seq] = []
            refill_at = max(1, batch // 4)
            while seqs or active:
                free = batch - len(active)
                if seqs and free and (gemm_rows(len(active)) > len(active) or free >= refill_at):
                    self._threads()  # between batches: follow the machine's load (cheap, rate-limited)
                    self._admit(seqs, free, active, store, prefix, shared, config, flusher)
                if active:
                    self._decode_step(active, store, config, flusher)

    def _threads(self) -> None:
        choice = self.governor.update()
        self.stats["threads"] = choice.threads
        self.stats["threads_reason"] = choice.reason

    def _layout(self, rows: int, capacity: int) -> tuple:
        layers, kv_heads, head_dim = self.geometry
        return layers, rows, kv_heads, capacity, head_dim, self.kv_dtype

    def _prefill_prefix(self, tokens: list[int]) -> KVStore:
        store = KVStore(*self._layout(1, len(tokens)))
        self._prefill(store, [(0, 0, tokens)])
        self.stats["prefix_tokens"] += len(tokens)
        return store

    def _admit(self, seqs, free, active, store, prefix, shared, config, flusher) -> None:
        """Move up to ``free`` pending prompts into slots, prefill them packed, handle their first token."""
        chosen = [seqs.popleft() for _ in range(min(free, len(seqs)))]
        rows = list(range(len(active), len(active) + len(chosen)))
        if shared:
            for row in rows:
                store.copy_row(prefix, 0, row, shared)
        parts = [(row, shared, seq.prompt[shared:]) for row, seq in zip(rows, chosen)]
        self.stats["prefill_tokens"] += sum(len(tokens) for _, _, tokens in parts)
        logits = self._prefill(store, parts)
        active.extend(chosen)
        self._advance(active, rows, logits, store, config, flusher)

    def _prefill(self, store: KVStore, parts: list[tuple[int, int, list[int]]]) -> torch.Tensor:
        """Prefill (row, start, tokens) parts in packed forwards of at most PREFILL_TOKENS tokens.

        A long part is split into chunks over several forwards (its later chunks
        attend to the earlier ones' keys in the store); returns the logits after
        each part's last token.
        """
        queue = deque((index, row, start, tokens) for index, (row, start, tokens) in enumerate(parts))
        logits: list[torch.Tensor | None] = [None] * len(parts)
        batch, budget = [], PREFILL_TOKENS
        while queue:
            index, row, start, tokens = queue.popleft()
            take = min(len(tokens), budget)
            batch.append((index, row, start, tokens[:take]))
            if take < len(tokens):
                queue.appendleft((index, row, start + take, tokens[take:]))
            budget -= take
            if budget == 0 or not queue:
                out = self._forward_prefill(store, [(row, start, chunk) for _, row, start, chunk in batch])
                for (index, _, start, chunk), row_logits in zip(batch, out):
                    if start + len(chunk) == parts[index][1] + len(parts[index][2]):
                        logits[index] = row_logits
                batch, budget = [], PREFILL_TOKENS
        return torch.stack(logits)

    def _forward_prefill(self, store: KVStore, parts: list[tuple[int, int, list[int]]]):
        """One packed forward of (row, start, tokens) parts; returns the logits after each part."""
        ids, positions, segments, offset = [], [], [], 0
        for row, start, tokens in parts:
            segments.append(Segment(row=row, start=start, length=len(tokens), offset=offset))
            ids.extend(tokens)
            positions.extend(range(start, start + len(tokens)))
            offset += len(tokens)
        pad = gemm_rows(offset) - offset
        ids.extend([0] * pad)
        positions.extend([0] * pad)
        last = [s.offset + s.length - 1 for s in segments]
        keep = last + [last[-1]] * (gemm_rows(len(last)) - len(last))
        with planned(PrefillPlan(store, segments, self.groups)):
            out = self.model(
                input_ids=torch.tensor([ids]),
                position_ids=torch.tensor([positions]),
                use_cache=False,
                logits_to_keep=torch.tensor(keep),
            )
        return out.logits[0, : len(segments)]

    def _decode_step(self, active: list[_Seq], store: KVStore, config, flusher) -> None:
        count = len(active)
        pad = gemm_rows(count)
        ids = torch.zeros((pad, 1), dtype=torch.long)
        positions = torch.zeros((pad, 1), dtype=torch.long)
        ids[:count, 0] = torch.tensor([s.new[-1] for s in active])
        positions[:count, 0] = torch.tensor([s.position for s in active])
        with planned(DecodePlan(store, positions[:count, 0].clone(), self.groups)):
            out = self.model(input_ids=ids, position_ids=positions, use_cache=False, logits_to_keep=1)
        self.stats["decode_steps"] += 1
        self.stats["decode_rows"] += count
        self._advance(active, list(range(count)), out.logits[:count, -1], store, config, flusher)

    def _advance(self, active, rows, logits, store, config, flusher) -> None:
        """Pick each row's next token, retire finished rows and compact the slots."""
        tokens = choose_tokens(logits, [active[r].generator for r in rows], config)
        finished = []
        for row, token in zip(rows, tokens):
            if self._push(active[row], token, config):
                finished.append(row)
        for row in sorted(finished, reverse=True):
            seq = active[row]
            flusher.add(seq.index, self._result(seq, config))
            last = len(active) - 1
            if row != last:  # move the last slot into the hole so active rows stay 0..n-1
                store.copy_row(store, last, row, active[last].position)
                active[row] = active[last]
            active.pop()

    def _push(self, seq: _Seq, token: int, config: GenerationConfig) -> bool:
        """Record one token; True when the sequence is finished."""
        if token in self.eos:
            return True
        seq.new.append(token)
        if len(seq.new) >= config.max_new_tokens:
            return True
        if config.stop:
            text = self.tok.decode(seq.new, skip_special_tokens=True)
            return any(stop and stop in text for stop in config.stop)
        return False

    def _result(self, seq: _Seq, config: GenerationConfig) -> Generation:
        text, _ = cut_at_stop(self.tok.decode(seq.new, skip_special_tokens=True), config.stop)
        return Generation(
            sample_id=seq.sample_id, text=text, prompt_tokens=len(seq.prompt), new_tokens=len(seq.new)
        )


