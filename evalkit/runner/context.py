"""Prompts longer than the model's context window: counted before generating, and said loudly.

A prompt that (with the tokens to generate) does not fit the model's context
is truncated, fails or yields garbage depending on the model, so its score
means little. :func:`context_warnings` counts such samples for backends that
know their tokenizer and context (the HF backend); the runner prints the
warning and records it in ``metrics.json`` (``warnings``), and comparisons
show it among the report's notices.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.notices import notify

_CONFIG_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
_NO_LIMIT = 10**7  # tokenizers say 1e30 when they do not know


def context_limit(backend) -> int | None:
    """The model's context length in tokens, from its config.json (and tokenizer); None if unknown."""
    base_dir = getattr(backend, "base_dir", None)  # backends with local weights (HF) have one
    if not base_dir:
        return None
    limits = []
    try:
        config = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    for key in _CONFIG_KEYS:
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    tokenizer_limit = getattr(getattr(backend, "tokenizer", None), "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < _NO_LIMIT:
        limits.append(tokenizer_limit)
    return min(limits) if limits else None


def context_warnings(backend, prompts: dict[str, str], max_new_tokens: int, suite: str) -> list[str]:
    """One warning naming how many prompts overflow the context (with ``max_new_tokens``), or none."""
    limit = context_limit(backend)
    if limit is None or not prompts:
        return []
    tokenizer = backend.tokenizer
    lengths = {sid: prompt_tokens(tokenizer, text) for sid, text in prompts.items()}
    return overflow_warnings(lengths, limit, max_new_tokens, suite)


def prompt_tokens(tokenizer, text: str) -> int:
    """How many tokens a rendered prompt is (no special tokens added: the template has them)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def overflow_warnings(lengths: dict[str, int], limit: int | None, max_new_tokens: int,
                      suite: str) -> list[str]:
    """The warning of :func:`context_warnings` from prompt lengths already counted (e.g. cached ones)."""
    if limit is None or not lengths:
        return []
    over = [sid for sid, n in lengths.items() if n + max_new_tokens > limit]
    over.sort(key=lambda sid: -lengths[sid])
    if not over:
        return []
    longest = lengths[over[0]]
    return [
        f"{len(over)} of {len(lengths)} sample(s) of {suite!r} do not fit the model's context of {limit} "
        f"tokens (prompt + max_new_tokens {max_new_tokens}; the longest prompt is {longest} tokens, e.g. "
        f"sample {over[0]!r}): their outputs are unreliable; shorten the inputs or lower max_new_tokens"
    ]


def announce(warnings: list[str]) -> None:
    """Hand each warning to the notice listener (:func:`evalkit.notices.notify`; the CLI prints them)."""
    for warning in warnings:
        notify(warning, "warning")


def run_warnings(runs: dict) -> list[str]:
    """``suite · arm: warning`` for every warning recorded in a comparison's runs (``runs[suite][arm]``)."""
    return [f"{suite} · {arm}: {warning}" for suite, by_arm in runs.items() for arm, run in by_arm.items()
            for warning in run.metrics.get("warnings") or []]


def recorded_warnings(run_dir: str | Path) -> list[str]:
    """The warnings an earlier scoring of ``run_dir`` recorded (kept when it is re-scored)."""
    try:
        previous = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = previous.get("warnings") if isinstance(previous, dict) else None
    return [w for w in found if isinstance(w, str)] if isinstance(found, list) else []
