"""Shared-prefix detection and a small LRU of prefilled prefix KV states.

Every sample of an arm usually starts with the same tokens: the chat template
header, the system prompt, a suite's prompt template head, few-shot examples.
The engine prefills that prefix once, keeps its keys/values here, and copies
them into each sample's KV slot instead of recomputing them per sample.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kv_attention imports torch: not needed to build the backend of a fully cached run
    from evalkit.models.kv_attention import KVStore


def common_prefix_length(token_lists: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every list (0 for an empty input)."""
    if not token_lists:
        return 0
    first, last = min(token_lists), max(token_lists)  # lexicographic extremes bound every pair
    length = 0
    for a, b in zip(first, last):
        if a != b:
            break
        length += 1
    return length


def shared_prefix_length(token_lists: Sequence[Sequence[int]]) -> int:
    """How many leading tokens to prefill once: the common prefix, leaving each prompt at least one token."""
    if not token_lists:
        return 0
    shortest = min(len(ids) for ids in token_lists)
    return max(0, min(common_prefix_length(token_lists), shortest - 1))


class PrefixCache:
    """Least-recently-used prefix KV states, keyed by (adapter, token ids)."""

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._items: OrderedDict[tuple, KVStore] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(
        self, adapter: str | None, tokens: Sequence[int], build: Callable[[list[int]], KVStore]
    ) -> KVStore:
        """The prefilled KV of ``tokens`` under ``adapter``, built with ``build(tokens)`` on a miss."""
        key = (adapter, tuple(tokens))
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        store = build(list(tokens))
        self._items[key] = store
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return store

    def clear(self) -> None:
        """Forget every stored prefix."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
