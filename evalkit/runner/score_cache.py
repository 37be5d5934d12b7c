"""Per-sample scores kept in the cache, so a warm re-run imports no scorer library.

Some native scorers are slow to start (``ifeval`` imports lm-eval's IFEval
checkers, which import lm-eval and NLTK: seconds). A scorer opts in by giving
its scoring function a ``cache_identity``: a JSON-able dict naming everything
its result depends on besides the sample and the output (its name, options,
a version of its own logic and the versions of the libraries it calls). Each
score is then stored (table ``scores`` of the generation cache) under a key of
that identity, the sample's content (input, target, metadata; not its id) and
the output text. Scorers without an identity (the cheap built-ins, and LLM
judges, which have their own judge cache and record per-row usage) are always
computed. Failed scores are never stored, so a transient failure is retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from evalkit.runner.store import utf8_safe
from evalkit.types import Generation, Sample, Score

TABLE = "scores"
SCORE_FORMAT = 1  # bump when the key or the stored value changes shape or meaning


def identity(fn: Callable) -> dict | None:
    """The scorer's ``cache_identity`` (None when its scores are not cached)."""
    found = getattr(fn, "cache_identity", None)
    return found if isinstance(found, dict) else None


def score_key(scorer_identity: dict, sample: Sample, generation: Generation) -> str:
    """The cache key of one score: the scorer's identity, the sample's content and the output text."""
    parts = {
        "format": SCORE_FORMAT,
        "scorer": scorer_identity,
        "sample": {"input": sample.input, "target": sample.target, "metadata": sample.metadata},
        "output": generation.text,
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def lookup(cache, keys: list[str]) -> dict[str, Score]:
    """The cached scores among ``keys`` (nothing without a cache)."""
    if cache is None or not keys:
        return {}
    return {key: Score(**value) for key, value in cache.get_values(TABLE, keys).items()}


def store(cache, scorer_name: str, items: list[tuple[str, Score]]) -> None:
    """Keep successful scores under their keys (failed ones are computed again next time)."""
    rows = [(key, score.fields()) for key, score in items if score.error is None]
    rows = [(key, value) for key, value in rows if utf8_safe(json.dumps(value, ensure_ascii=False))]
    if cache is not None and rows:
        cache.put_values(TABLE, scorer_name, rows)
