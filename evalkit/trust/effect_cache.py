"""Remembered adapter-effect measurements, so a fully cached comparison does not load the model to probe it.

Keyed by everything the measurement depends on: the arm's fingerprint parts
(base weights, adapter files, dtype, quantisation, chat template, system
prompt; not decoding) and the exact rendered probe prompts. Stored as one JSON
file under ``$EVALKIT_HOME``; an unreadable file is treated as empty.
"""

from __future__ import annotations

import json
import sqlite3

from evalkit.cache import GenerationCache
from evalkit.home import cache_db_path, evalkit_home
from evalkit.models.fingerprint import combine
from evalkit.models.prompting import sha256_text
from evalkit.runner.render_cache import render_texts
from evalkit.runner.store import write_json_atomic
from evalkit.trust.adapter_effect import PROBE_POSITIONS, measure_adapter_effect

EFFECTS_FILE = "adapter-effects.json"
FORMAT = 1


def effect_key(arm, inputs: list, renders=None) -> str:
    """The cache key of one arm's measurement on these probe inputs.

    ``renders`` (the generation cache) supplies the rendered probe prompts it
    holds, so a known measurement is found without loading a tokenizer.
    """
    parts = {k: v for k, v in arm.fingerprint_parts.items() if k != "generation"}
    prompts = [sha256_text(text) for text in render_texts(arm.backend, inputs, renders, arm.fingerprint)]
    return combine({"format": FORMAT, "arm": parts, "prompts": prompts, "positions": PROBE_POSITIONS})


def adapter_effect(arm, inputs: list, *, use_cache: bool = True) -> dict:
    """:func:`measure_adapter_effect`, answered from the cache when this exact measurement was made before."""
    if not use_cache:
        return measure_adapter_effect(arm, inputs)
    path = evalkit_home() / EFFECTS_FILE
    try:
        known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        known = {}
    known = known if isinstance(known, dict) else {}
    key = _key_with_cached_renders(arm, inputs)
    if isinstance(known.get(key), dict):
        return {**known[key], "cached": True}
    effect = measure_adapter_effect(arm, inputs)
    known[key] = effect
    try:
        write_json_atomic(path, known)
    except OSError:  # a read-only home only costs the next run a re-measurement
        pass
    return effect


def _key_with_cached_renders(arm, inputs: list) -> str:
    """:func:`effect_key` with the probe renders of the generation cache (rendered afresh without one)."""
    try:
        renders = GenerationCache(cache_db_path())
    except (OSError, sqlite3.Error):  # an unwritable home: render the probes, as without a cache
        return effect_key(arm, inputs)
    try:
        return effect_key(arm, inputs, renders)
    finally:
        renders.close()
