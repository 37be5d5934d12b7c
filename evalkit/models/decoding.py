"""Decoding helpers of the engine: token choice, per-prompt sampling seeds, batch sizing, result hand-off."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import torch

from evalkit.models.kv_attention import KVStore, kv_dtype, model_geometry
from evalkit.models.row_blocks import ROW_BLOCK
from evalkit.models.spec import GenerationConfig
from evalkit.types import Generation

MAX_AUTO_BATCH = 64  # float32: beyond this a CPU decode step gets no cheaper per token
# bfloat16/float16 GEMMs run on ROW_BLOCK-row blocks: a decode step of one full block costs about what
# half a block does, so the automatic batch fills one (1.5x the tokens/s of 64 rows on 32-row blocks)
MAX_AUTO_BATCH_HALF = ROW_BLOCK
AUTO_MEMORY_SHARE = 0.25  # of available memory, for the KV slots of an automatic batch size
MAX_MEMORY_SHARE = 0.5  # of available memory, for the KV slots of an explicit batch size


def fit_batch_size(model, capacity: int, wanted: int | None) -> int:
    """The batch size: ``wanted`` (or up to the automatic maximum) as far as its KV slots fit in memory.

    The automatic maximum is :data:`MAX_AUTO_BATCH` in float32 and :data:`MAX_AUTO_BATCH_HALF` for
    half-precision weights.

    Results do not depend on the batch size, so shrinking it to fit (say, for
    a huge ``max_new_tokens``) changes the speed only.
    """
    import psutil

    layers, kv_heads, head_dim = model_geometry(model)
    itemsize = next(model.parameters()).element_size()
    per_row = KVStore.bytes_per_row(layers, kv_heads, capacity, head_dim, kv_dtype(model).itemsize)
    per_row += 64 * model.config.hidden_size * itemsize  # activations of one decode row, generously
    share = AUTO_MEMORY_SHARE if wanted is None else MAX_MEMORY_SHARE
    fits = int(psutil.virtual_memory().available * share // per_row)
    automatic = MAX_AUTO_BATCH_HALF if next(model.parameters()).dtype in (torch.bfloat16, torch.float16) \
        else MAX_AUTO_BATCH
    return max(1, min(wanted or automatic, fits))


def prompt_seed(seed: int, prompt_ids: list[int]) -> int:
    """The sampling seed of one prompt: a function of the run's seed and the prompt only."""
    digest = hashlib.sha256(f"{seed}:{','.join(map(str, prompt_ids))}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def choose_tokens(logits: torch.Tensor, generators: list, config: GenerationConfig) -> list[int]:
    """Greedy argmax, or temperature/top-p sampling from each sequence's own generator."""
    if config.temperature <= 0:
        # argmax over bfloat16 is not vectorised on CPU (60 ms for 32 x 49k logits); float32 picks the same
        return logits.float().argmax(dim=-1).tolist()
    probs = torch.softmax(logits.float() / config.temperature, dim=-1)
    if config.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        drop = sorted_probs.cumsum(-1) - sorted_probs > config.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return [int(torch.multinomial(p, 1, generator=g)) for p, g in zip(probs, generators)]


class ResultFlusher:
    """Hands finished generations to ``on_batch`` in groups, with each group's share of the time."""

    def __init__(self, on_batch, size: int, results: dict[int, Generation]):
        self.on_batch, self.size, self.results = on_batch, size, results
        self.pending: list[tuple[int, Generation]] = []
        self.since = time.perf_counter()

    def add(self, index: int, generation: Generation) -> None:
        """Collect one finished generation; flush when a batch-size group is complete."""
        self.pending.append((index, generation))
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Stamp the pending generations with their share of the elapsed time and hand them over."""
        if not self.pending:
            return
        now = time.perf_counter()
        share = round((now - self.since) / len(self.pending), 6)
        group = []
        for index, gen in self.pending:
            self.results[index] = replace(gen, latency_s=share)
            group.append(self.results[index])
        if self.on_batch is not None:
            self.on_batch(group)
        self.pending, self.since = [], now
